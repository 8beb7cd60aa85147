//! The local switch plan against a real `ovsdb-server` + `ovs-vswitchd` and a real Southbound, checked with
//! `ovs-vsctl` as an operator would.

mod db_harness;

use controller::chassis::plan_chassis;
use controller::vswitch::{plan_ovs, OvsView};
use db_harness::{Southbound, Switch};

/// Plans and applies until the switch is settled; returns how many non-empty transactions it took (a
/// correct plan settles in one: the second must be empty).
fn settle(sw: &Switch, sbdb: &Southbound) -> usize {
    let cfg = sw.config();
    let t = plan_ovs(&cfg, &sw.snapshot(), &sbdb.snapshot());
    if t.is_empty() {
        return 0;
    }
    sw.apply(&t);
    let again = plan_ovs(&sw.config(), &sw.snapshot(), &sbdb.snapshot());
    assert!(again.is_empty(), "planning twice in a row is not idempotent:\n{:#?}", again.ops);
    1
}

fn me(sw: &Switch, sbdb: &Southbound, extra: &[(&str, &str)]) {
    let mut ids = vec![("system-id", "chassis-me"), ("ovn-encap-ip", "192.0.2.1")];
    ids.extend_from_slice(extra);
    sw.configure(&ids);
    sbdb.apply(&plan_chassis(&sw.config(), &sbdb.snapshot(), 0));
}

#[test]
fn db_vswitch_integration_bridge_and_tunnels_follow_the_chassis_table() {
    let sw = Switch::with_vswitchd();
    let sbdb = Southbound::new();
    me(&sw, &sbdb, &[]);
    sbdb.sbctl(&["chassis-add", "chassis-beta", "geneve", "192.0.2.2"]);
    sbdb.sbctl(&["chassis-add", "chassis-gamma", "geneve", "192.0.2.3"]);
    sbdb.sbctl(&["chassis-add", "vx", "vxlan", "192.0.2.4"]);

    assert_eq!(settle(&sw, &sbdb), 1);
    let show = sw.vsctl(&["show"]).ok().stdout;
    for want in [
        "Bridge br-int",
        "fail_mode: secure",
        "Port ovn-chassi-0",
        "Port ovn-chassi-1",
        "type: geneve",
        "options: {csum=\"true\", key=flow, remote_ip=\"192.0.2.2\"}",
        "options: {csum=\"true\", key=flow, remote_ip=\"192.0.2.3\"}",
    ] {
        assert!(show.contains(want), "ovs-vsctl show lacks {want:?}:\n{show}");
    }
    assert!(!show.contains("192.0.2.4"), "no common encapsulation with a vxlan-only chassis:\n{show}");
    assert!(!show.contains("192.0.2.1"), "no tunnel to ourselves:\n{show}");
    assert_eq!(sw.vsctl(&["get", "bridge", "br-int", "other_config:disable-in-band"]).ok().stdout.trim(), "\"true\"");
    let ids = sw.vsctl(&["--bare", "--columns=external_ids", "find", "port", "name=ovn-chassi-0"]).ok().stdout;
    assert!(ids.contains("ovn-chassis-id=\"chassis-beta@192.0.2.2\"") || ids.contains("ovn-chassis-id=chassis-beta@192.0.2.2"), "{ids}");
    // ovs-vswitchd took the tunnel ports.
    sw.wait_ofport("ovn-chassi-0");
    sw.wait_ofport("ovn-chassi-1");
    let tunnels = OvsView::from_replica(&sw.snapshot()).tunnels("br-int");
    assert_eq!(tunnels.iter().map(|t| t.chassis.as_str()).collect::<Vec<_>>(), ["chassis-beta", "chassis-gamma"]);
    assert!(tunnels.iter().all(|t| t.ofport.is_some()), "{tunnels:?}");

    // A port someone else made is left alone; a chassis that leaves loses its tunnel.
    sw.vsctl(&["add-port", "br-int", "foo", "--", "set", "interface", "foo", "type=internal"]).ok();
    assert_eq!(settle(&sw, &sbdb), 0);
    sbdb.sbctl(&["chassis-del", "chassis-beta"]);
    assert_eq!(settle(&sw, &sbdb), 1);
    let show = sw.vsctl(&["show"]).ok().stdout;
    assert!(!show.contains("192.0.2.2") && !show.contains("Port ovn-chassi-0"), "{show}");
    assert!(show.contains("Port ovn-chassi-1") && show.contains("Port foo"), "{show}");

    // A new chassis with the same name prefix takes the free number.
    sbdb.sbctl(&["chassis-add", "chassis-delta", "geneve", "192.0.2.5"]);
    assert_eq!(settle(&sw, &sbdb), 1);
    let ids = sw.vsctl(&["--bare", "--columns=external_ids", "find", "port", "name=ovn-chassi-0"]).ok().stdout;
    assert!(ids.contains("chassis-delta@192.0.2.5"), "{ids}");

    // A chassis whose encap moves gets a fresh port.
    sbdb.sbctl(&["set", "Encap", sbdb.get("Chassis", "chassis-gamma", "encaps").as_str(), "ip=192.0.2.33"]);
    assert_eq!(settle(&sw, &sbdb), 1);
    let show = sw.vsctl(&["show"]).ok().stdout;
    assert!(show.contains("remote_ip=\"192.0.2.33\"") && !show.contains("remote_ip=\"192.0.2.3\""), "{show}");
}

#[test]
fn db_vswitch_existing_bridge_is_adopted_and_datapath_type_forced_only_when_configured() {
    let sw = Switch::with_vswitchd();
    let sbdb = Southbound::new();
    me(&sw, &sbdb, &[]);
    sw.vsctl(&["add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev", "other_config:foo=bar"]).ok();
    assert_eq!(settle(&sw, &sbdb), 1);
    assert_eq!(sw.vsctl(&["get", "bridge", "br-int", "datapath_type"]).ok().stdout.trim(), "netdev");
    assert_eq!(sw.vsctl(&["get", "bridge", "br-int", "fail_mode"]).ok().stdout.trim(), "secure");
    assert_eq!(sw.vsctl(&["get", "bridge", "br-int", "other_config:foo"]).ok().stdout.trim(), "bar", "other keys stay");

    sw.configure(&[("ovn-bridge-datapath-type", "system")]);
    assert_eq!(settle(&sw, &sbdb), 1);
    assert_eq!(sw.vsctl(&["get", "bridge", "br-int", "datapath_type"]).ok().stdout.trim(), "system");
}

#[test]
fn db_vswitch_localnet_patch_ports() {
    let sw = Switch::with_vswitchd();
    let sbdb = Southbound::new();
    sw.vsctl(&["add-br", "br-phys"]).ok();
    me(&sw, &sbdb, &[("ovn-bridge-mappings", "physnet:br-phys,unplugged:br-missing")]);
    let dp = sbdb.sbctl(&["create", "Datapath_Binding", "tunnel_key=7"]);
    let dp = dp.trim();
    sbdb.sbctl(&[
        "create",
        "Port_Binding",
        &format!("datapath={dp}"),
        "logical_port=ln-ext",
        "tunnel_key=1",
        "type=localnet",
        "options:network_name=physnet",
    ]);
    sbdb.sbctl(&[
        "create",
        "Port_Binding",
        &format!("datapath={dp}"),
        "logical_port=ln-nowhere",
        "tunnel_key=2",
        "type=localnet",
        "options:network_name=unplugged",
    ]);

    assert_eq!(settle(&sw, &sbdb), 1);
    let show = sw.vsctl(&["show"]).ok().stdout;
    for want in [
        "Port patch-br-int-to-ln-ext",
        "options: {peer=patch-ln-ext-to-br-int}",
        "Port patch-ln-ext-to-br-int",
        "options: {peer=patch-br-int-to-ln-ext}",
        "type: patch",
    ] {
        assert!(show.contains(want), "ovs-vsctl show lacks {want:?}:\n{show}");
    }
    assert!(!show.contains("ln-nowhere"), "the mapped bridge does not exist:\n{show}");
    assert_eq!(sw.vsctl(&["port-to-br", "patch-ln-ext-to-br-int"]).ok().stdout.trim(), "br-phys");
    assert_eq!(sw.vsctl(&["port-to-br", "patch-br-int-to-ln-ext"]).ok().stdout.trim(), "br-int");
    for p in ["patch-ln-ext-to-br-int", "patch-br-int-to-ln-ext"] {
        assert_eq!(sw.vsctl(&["get", "port", p, "external_ids:ovn-localnet-port"]).ok().stdout.trim(), "ln-ext");
        sw.wait_ofport(p);
    }
    assert!(OvsView::from_replica(&sw.snapshot()).localnet_ofport("br-int", "ln-ext").is_some());

    // The localnet port goes: so do its patch ports, on both bridges.
    sbdb.sbctl(&["destroy", "Port_Binding", "ln-ext"]);
    assert_eq!(settle(&sw, &sbdb), 1);
    let show = sw.vsctl(&["show"]).ok().stdout;
    assert!(!show.contains("patch-"), "{show}");
}
