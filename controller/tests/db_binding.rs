//! Port binding against a real Southbound and a real switch (`ovs-vswitchd` assigns the OpenFlow ports),
//! checked with `ovn-sbctl` and `ovs-vsctl`.

mod db_harness;

use controller::binding::{alive_if_registered, plan_bindings, BindingPlan, PortKind};
use controller::chassis::plan_chassis;
use controller::config::LocalConfig;
use controller::vswitch::plan_ovs;
use db_harness::{Southbound, Switch};

/// One binding pass: plan, apply both transactions, and check that planning again is a no-op.
fn bind(sw: &Switch, sbdb: &Southbound, cfg: &LocalConfig, installed: &dyn Fn(&str) -> bool) -> BindingPlan {
    let sb_now = sbdb.snapshot();
    let plan = plan_bindings(cfg, &sw.snapshot(), &sb_now, installed, &alive_if_registered(&sb_now));
    sbdb.apply(&plan.sb);
    sw.apply(&plan.ovs);
    let sb_now = sbdb.snapshot();
    let again = plan_bindings(cfg, &sw.snapshot(), &sb_now, installed, &alive_if_registered(&sb_now));
    assert!(again.sb.is_empty(), "SB plan not idempotent:\n{:#?}", again.sb.ops);
    assert!(again.ovs.is_empty(), "OVS plan not idempotent:\n{:#?}", again.ovs.ops);
    assert_eq!(again.local, plan.local);
    plan
}

/// A switch `sw` (vm1, vm2) connected by a router to `ext`; returns the datapath UUIDs (sw, rtr, ext).
fn topology(sbdb: &Southbound) -> (String, String, String) {
    let dp = |key: &str| sbdb.sbctl(&["create", "Datapath_Binding", &format!("tunnel_key={key}")]).trim().to_string();
    let (sw, rtr, ext, lonely) = (dp("1"), dp("2"), dp("3"), dp("4"));
    let pb = |dp: &str, name: &str, key: &str, extra: &[&str]| {
        let mut args = vec![
            "create".to_string(),
            "Port_Binding".to_string(),
            format!("datapath={dp}"),
            format!("logical_port={name}"),
            format!("tunnel_key={key}"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sbdb.sbctl(&args);
    };
    pb(&sw, "vm1", "1", &["up=false"]);
    pb(&sw, "vm2", "2", &["up=false"]);
    pb(&sw, "sw-rtr", "3", &["type=patch", "options:peer=rtr-sw"]);
    pb(&rtr, "rtr-sw", "1", &["type=patch", "options:peer=sw-rtr"]);
    pb(&rtr, "rtr-ext", "2", &["type=patch", "options:peer=ext-rtr"]);
    pb(&ext, "ext-rtr", "1", &["type=patch", "options:peer=rtr-ext"]);
    pb(&lonely, "far", "1", &[]);
    (sw, rtr, ext)
}

#[test]
fn db_binding_vif_is_claimed_when_its_interface_appears_and_released_when_it_goes() {
    let sw = Switch::with_vswitchd();
    let sbdb = Southbound::new();
    sw.configure(&[("system-id", "chassis-me"), ("ovn-encap-ip", "192.0.2.1")]);
    let cfg = sw.config();
    sbdb.apply(&plan_chassis(&cfg, &sbdb.snapshot(), 0));
    sw.apply(&plan_ovs(&cfg, &sw.snapshot(), &sbdb.snapshot()));
    let (dp_sw, dp_rtr, dp_ext) = topology(&sbdb);

    // Nothing local yet.
    let plan = bind(&sw, &sbdb, &cfg, &|_| true);
    assert!(plan.local.ports.is_empty() && plan.local.datapaths.is_empty());

    // The VIF appears.
    sw.vsctl(&["add-port", "br-int", "tap-vm1", "--", "set", "interface", "tap-vm1", "type=internal", "external_ids:iface-id=vm1"]).ok();
    let ofport = sw.wait_ofport("tap-vm1");
    let plan = bind(&sw, &sbdb, &cfg, &|_| false);
    let show = sbdb.sbctl(&["show"]);
    assert!(show.contains("Chassis chassis-me") && show.contains("Port_Binding vm1"), "{show}");
    assert!(!show.contains("Port_Binding vm2"), "{show}");
    assert_eq!(sbdb.get("Port_Binding", "vm1", "up"), "false", "flows not installed yet");
    assert_eq!(sbdb.get("Port_Binding", "vm1", "encap"), "", "like ovn-controller: no encap unless the VIF asks");
    let lp = &plan.local.ports["vm1"];
    assert_eq!((lp.kind.clone(), lp.ofport, lp.datapath_key, lp.port_key), (PortKind::Vif, Some(ofport as u16), 1, 1));
    let dps: Vec<String> = plan.local.datapath_rows().iter().map(|u| u.to_string()).collect();
    let mut want = vec![dp_sw, dp_rtr, dp_ext];
    want.sort();
    assert_eq!(dps, want, "the VIF's switch, its router and the router's other switch; not the lonely one");

    // Its flows are in: up, and ovn-installed on the interface.
    bind(&sw, &sbdb, &cfg, &|lp| lp == "vm1");
    assert_eq!(sbdb.get("Port_Binding", "vm1", "up"), "true");
    assert_eq!(sw.vsctl(&["get", "interface", "tap-vm1", "external_ids:ovn-installed"]).ok().stdout.trim(), "\"true\"");

    // The VIF goes: released.
    sw.vsctl(&["del-port", "br-int", "tap-vm1"]).ok();
    let plan = bind(&sw, &sbdb, &cfg, &|_| true);
    assert!(plan.local.ports.is_empty());
    assert_eq!(sbdb.get("Port_Binding", "vm1", "chassis"), "");
    assert_eq!(sbdb.get("Port_Binding", "vm1", "up"), "false");
    let list = sbdb.sbctl(&["list", "Port_Binding", "vm1"]);
    assert!(list.contains("chassis             : []"), "{list}");
}

#[test]
fn db_binding_does_not_undo_another_chassis_claim() {
    let sw = Switch::with_vswitchd();
    let sbdb = Southbound::new();
    sw.configure(&[("system-id", "chassis-me"), ("ovn-encap-ip", "192.0.2.1")]);
    let cfg = sw.config();
    sbdb.apply(&plan_chassis(&cfg, &sbdb.snapshot(), 0));
    sw.apply(&plan_ovs(&cfg, &sw.snapshot(), &sbdb.snapshot()));
    topology(&sbdb);
    sw.vsctl(&["add-port", "br-int", "tap-vm1", "--", "set", "interface", "tap-vm1", "type=internal", "external_ids:iface-id=vm1"]).ok();
    sw.wait_ofport("tap-vm1");
    bind(&sw, &sbdb, &cfg, &|_| true);
    sw.vsctl(&["del-port", "br-int", "tap-vm1"]).ok();

    // Plan the release, but let another chassis claim the port (a migration) before it runs.
    let sb_now = sbdb.snapshot();
    let plan = plan_bindings(&cfg, &sw.snapshot(), &sb_now, &|_| true, &alive_if_registered(&sb_now));
    assert!(!plan.sb.is_empty());
    sbdb.sbctl(&["chassis-add", "chassis-other", "geneve", "192.0.2.2"]);
    let other = sbdb.get("Chassis", "chassis-other", "_uuid");
    sbdb.sbctl(&["set", "Port_Binding", "vm1", &format!("chassis={other}")]);
    sbdb.apply(&plan.sb);
    assert_eq!(sbdb.get("Port_Binding", "vm1", "chassis"), other, "the stale release touched nothing");
}

#[test]
fn db_binding_chassisredirect_is_claimed_only_on_the_highest_priority_chassis() {
    let sw = Switch::db_only();
    let sbdb = Southbound::new();
    // Two gateway chassis sharing one Southbound; each plans as itself.
    let cfg_of = |name: &str, ip: &str| {
        sw.configure(&[("system-id", name), ("ovn-encap-ip", ip)]);
        sw.config()
    };
    let gw_a = cfg_of("gw-a", "192.0.2.1");
    let gw_b = cfg_of("gw-b", "192.0.2.2");
    sbdb.apply(&plan_chassis(&gw_a, &sbdb.snapshot(), 0));
    sbdb.apply(&plan_chassis(&gw_b, &sbdb.snapshot(), 0));
    let (_, dp_rtr, dp_ext) = topology(&sbdb);
    let a = sbdb.get("Chassis", "gw-a", "_uuid");
    let b = sbdb.get("Chassis", "gw-b", "_uuid");
    let out = sbdb.sbctl(&[
        "--id=@ha",
        "create",
        "HA_Chassis",
        &format!("chassis={a}"),
        "priority=20",
        "--",
        "--id=@hb",
        "create",
        "HA_Chassis",
        &format!("chassis={b}"),
        "priority=10",
        "--",
        "create",
        "HA_Chassis_Group",
        "name=rtr-ext",
        "ha_chassis=@ha,@hb",
    ]);
    let group = out.lines().last().unwrap_or_default().trim().to_string();
    sbdb.sbctl(&[
        "create",
        "Port_Binding",
        &format!("datapath={dp_rtr}"),
        "logical_port=cr-rtr-ext",
        "tunnel_key=5",
        "type=chassisredirect",
        "options:distributed-port=rtr-ext",
        &format!("ha_chassis_group={group}"),
    ]);
    let bound_to = || {
        let show = sbdb.sbctl(&["show"]);
        // The chassis block that lists the port.
        let mut owner = None;
        let mut current = None;
        for line in show.lines() {
            if let Some(name) = line.strip_prefix("Chassis ") {
                current = Some(name.trim().trim_matches('"').to_string());
            }
            if line.trim() == "Port_Binding cr-rtr-ext" || line.trim() == "Port_Binding \"cr-rtr-ext\"" {
                owner = current.clone();
            }
        }
        owner
    };

    let pa = bind(&sw, &sbdb, &gw_a, &|_| true);
    let pb = bind(&sw, &sbdb, &gw_b, &|_| true);
    assert_eq!(bound_to().as_deref(), Some("gw-a"), "{}", sbdb.sbctl(&["show"]));
    assert_eq!(pa.local.ports["cr-rtr-ext"].kind, PortKind::ChassisRedirect);
    assert!(pb.local.ports.is_empty());
    let dps: Vec<String> = pa.local.datapath_rows().iter().map(|u| u.to_string()).collect();
    let mut want = vec![dp_rtr.clone(), dp_ext];
    want.extend([sbdb.get("Port_Binding", "vm1", "datapath")]);
    want.sort();
    assert_eq!(dps, want, "the gateway's router and every switch behind it");

    // Priorities swap: gw-a lets go, gw-b takes it.
    let ha_b = sbdb.sbctl(&["--bare", "--columns=_uuid", "find", "HA_Chassis", &format!("chassis={b}")]).trim().to_string();
    sbdb.sbctl(&["set", "HA_Chassis", &ha_b, "priority=30"]);
    bind(&sw, &sbdb, &gw_a, &|_| true);
    assert_eq!(bound_to(), None);
    bind(&sw, &sbdb, &gw_b, &|_| true);
    assert_eq!(bound_to().as_deref(), Some("gw-b"));

    // gw-b disappears: gw-a, the highest-priority chassis still alive, takes over.
    sbdb.sbctl(&["chassis-del", "gw-b"]);
    bind(&sw, &sbdb, &gw_a, &|_| true);
    assert_eq!(bound_to().as_deref(), Some("gw-a"));
}
