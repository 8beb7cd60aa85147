//! Differential test against OVN's own `ovn-controller`: let it register its chassis, build br-int, its
//! tunnels and localnet patch ports and claim a VIF, stop it, and plan with our code on what it left. Every
//! plan must be empty: same names, same marks, same columns, so either agent adopts the other's work.

mod db_harness;

use controller::binding::{alive_if_registered, plan_bindings};
use controller::chassis::plan_chassis;
use controller::vswitch::{plan_ovs, plan_ovs_local};
use db_harness::{wait_for, Proc, Southbound, Switch};

#[test]
fn db_reference_our_plans_are_empty_on_what_ovn_controller_built() {
    let sw = Switch::with_vswitchd();
    let sbdb = Southbound::new();
    sw.vsctl(&["add-br", "br-phys"]).ok();
    // Two remote chassis whose names share the first six characters, and one we share no encap with.
    sbdb.sbctl(&["chassis-add", "chassis-beta-2", "geneve", "192.0.2.2"]);
    sbdb.sbctl(&["chassis-add", "chassis-gamma-3", "geneve", "192.0.2.3"]);
    sbdb.sbctl(&["chassis-add", "vx", "vxlan", "192.0.2.4"]);
    // One switch: a localnet port and a VIF.
    let dp = sbdb.sbctl(&["create", "Datapath_Binding", "tunnel_key=7"]).trim().to_string();
    let d = format!("datapath={dp}");
    sbdb.sbctl(&["create", "Port_Binding", &d, "logical_port=ln-ext", "tunnel_key=1", "type=localnet", "options:network_name=physnet"]);
    sbdb.sbctl(&["create", "Port_Binding", &d, "logical_port=vm1", "tunnel_key=2", "up=false", "mac=\"00:00:00:00:00:01 10.0.0.5\""]);
    sw.configure(&[
        ("system-id", "chassis-alpha-1"),
        ("ovn-remote", &sbdb.remote()),
        ("ovn-encap-type", "geneve"),
        ("ovn-encap-ip", "192.0.2.1"),
        ("ovn-bridge-mappings", "physnet:br-phys"),
    ]);

    let dir = sw.dir().to_path_buf();
    let log = dir.join("ovn-controller.log");
    let mut reference = Proc::start(
        "ovn-controller",
        &[
            format!("--pidfile={}", dir.join("ovn-controller.pid").display()),
            format!("--log-file={}", log.display()),
            "-vconsole:off".to_string(),
            "--no-chdir".to_string(),
            sw.remote(),
        ],
        &dir,
        &log,
    );
    let mut alive = |what: &str| {
        assert!(reference.is_running(), "ovn-controller died while waiting for {what}:\n{}", reference.log_text());
    };
    let sb_has = |what: &str| sbdb.sbctl(&["show"]).contains(what);
    wait_for("ovn-controller's chassis and its br-int", || {
        alive("its chassis");
        sb_has("Chassis chassis-alpha-1") && sw.vsctl(&["--no-wait", "br-exists", "br-int"]).code == 0
    });
    sw.vsctl(&["add-port", "br-int", "tap-vm1", "--", "set", "interface", "tap-vm1", "type=internal", "external_ids:iface-id=vm1"]).ok();
    wait_for("tunnels, patch ports and the VIF's binding", || {
        alive("its ports");
        let show = sw.vsctl(&["--no-wait", "show"]).stdout;
        show.matches("Port ovn-chassi-").count() == 2
            && show.contains("Port patch-br-int-to-ln-ext")
            && sbdb.get("Port_Binding", "vm1", "up") == "true"
            && sw.vsctl(&["--no-wait", "get", "interface", "tap-vm1", "external_ids:ovn-installed"]).stdout.trim() == "\"true\""
    });
    reference.stop(); // SIGKILL: it leaves everything in place.

    let cfg = sw.config();
    let ovs_db = sw.snapshot();
    let sb_db = sbdb.snapshot();
    let nb_cfg: i64 = sbdb.get("Chassis_Private", "chassis-alpha-1", "nb_cfg").parse().unwrap_or(0);
    let t = plan_chassis(&cfg, &sb_db, nb_cfg);
    assert!(t.is_empty(), "our chassis plan differs from ovn-controller's rows:\n{:#?}\n{}", t.ops, sbdb.sbctl(&["list", "Chassis"]));
    let t = plan_ovs(&cfg, &ovs_db, &sb_db);
    assert!(t.is_empty(), "our switch plan differs from ovn-controller's:\n{:#?}\n{}", t.ops, sw.vsctl(&["show"]).stdout);
    let plan = plan_bindings(&cfg, &ovs_db, &sb_db, &|_| true, &alive_if_registered(&sb_db));
    assert!(plan.sb.is_empty(), "our binding plan differs:\n{:#?}", plan.sb.ops);
    assert!(plan.ovs.is_empty(), "our ovn-installed plan differs:\n{:#?}", plan.ovs.ops);
    assert!(plan.local.ports.contains_key("vm1"));
    assert!(plan_ovs_local(&cfg, &ovs_db, &sb_db, &plan.local.datapath_rows()).is_empty());
}
