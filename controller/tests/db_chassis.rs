//! Chassis registration against a real Southbound `ovsdb-server`, checked with OVN's own `ovn-sbctl`.

mod db_harness;

use controller::chassis::{plan_chassis, remove_chassis};
use db_harness::{Southbound, Switch};

fn node(ids: &[(&str, &str)]) -> Switch {
    let s = Switch::db_only();
    s.configure(ids);
    s
}

#[test]
fn db_chassis_registers_with_its_encap_and_private_row() {
    let sw = node(&[
        ("system-id", "chassis-a"),
        ("hostname", "node-a"),
        ("ovn-encap-type", "geneve"),
        ("ovn-encap-ip", "192.0.2.1"),
        ("ovn-bridge-mappings", "physnet:br-phys"),
        ("ovn-bridge-datapath-type", "netdev"),
    ]);
    let sbdb = Southbound::new();
    let cfg = sw.config();
    sbdb.apply(&plan_chassis(&cfg, &sbdb.snapshot(), 0));

    let show = sbdb.sbctl(&["show"]);
    for want in ["Chassis chassis-a", "hostname: node-a", "Encap geneve", "ip: \"192.0.2.1\"", "options: {csum=\"true\"}"] {
        assert!(show.contains(want), "ovn-sbctl show lacks {want:?}:\n{show}");
    }
    let oc = sbdb.get("Chassis", "chassis-a", "other_config");
    for want in ["datapath-type=netdev", "ovn-bridge-mappings=physnet:br-phys", "port-up-notif=true", "iface-types="] {
        assert!(oc.contains(want), "other_config lacks {want:?}: {oc}");
    }
    assert_eq!(sbdb.sbctl(&["--bare", "--columns=chassis_name", "list", "Encap"]).trim(), "chassis-a");
    let chassis_uuid = sbdb.get("Chassis", "chassis-a", "_uuid");
    assert_eq!(sbdb.get("Chassis_Private", "chassis-a", "chassis"), chassis_uuid);
    assert_eq!(sbdb.get("Chassis_Private", "chassis-a", "nb_cfg"), "0");

    // Planning again after applying: nothing to do.
    assert!(plan_chassis(&cfg, &sbdb.snapshot(), 0).is_empty());

    // nb_cfg moves: only Chassis_Private changes.
    let t = plan_chassis(&cfg, &sbdb.snapshot(), 5);
    assert_eq!(t.ops.iter().filter(|o| o.describe() == "update of Chassis_Private").count(), 1, "{t:?}");
    assert_eq!(t.ops.len(), 2, "one update and its comment: {t:?}");
    sbdb.apply(&t);
    assert_eq!(sbdb.get("Chassis_Private", "chassis-a", "nb_cfg"), "5");
    assert!(plan_chassis(&cfg, &sbdb.snapshot(), 5).is_empty());
}

#[test]
fn db_chassis_follows_configuration_changes() {
    let sw = node(&[("system-id", "chassis-a"), ("hostname", "node-a"), ("ovn-encap-ip", "192.0.2.1")]);
    let sbdb = Southbound::new();
    sbdb.apply(&plan_chassis(&sw.config(), &sbdb.snapshot(), 0));
    let uuid = sbdb.get("Chassis", "chassis-a", "_uuid");

    // A new IP: the same chassis row, its encap updated.
    sw.configure(&[("ovn-encap-ip", "192.0.2.9"), ("hostname", "node-a2")]);
    let cfg = sw.config();
    sbdb.apply(&plan_chassis(&cfg, &sbdb.snapshot(), 0));
    let show = sbdb.sbctl(&["show"]);
    assert!(show.contains("ip: \"192.0.2.9\"") && show.contains("hostname: node-a2"), "{show}");
    assert_eq!(sbdb.get("Chassis", "chassis-a", "_uuid"), uuid, "the chassis row is kept");
    assert!(plan_chassis(&cfg, &sbdb.snapshot(), 0).is_empty());

    // Another encapsulation: the old Encap row is collected, the new one referenced.
    sw.configure(&[("ovn-encap-type", "vxlan")]);
    let cfg = sw.config();
    sbdb.apply(&plan_chassis(&cfg, &sbdb.snapshot(), 0));
    let show = sbdb.sbctl(&["show"]);
    assert!(show.contains("Encap vxlan") && !show.contains("Encap geneve"), "{show}");
    assert_eq!(sbdb.sbctl(&["--bare", "--columns=type", "list", "Encap"]).trim(), "vxlan", "exactly one Encap row");
    assert!(plan_chassis(&cfg, &sbdb.snapshot(), 0).is_empty());
}

#[test]
fn db_chassis_removal_leaves_nothing_behind() {
    let sw = node(&[("system-id", "chassis-a"), ("ovn-encap-ip", "192.0.2.1")]);
    let sbdb = Southbound::new();
    let cfg = sw.config();
    sbdb.apply(&plan_chassis(&cfg, &sbdb.snapshot(), 0));
    let dp = sbdb.sbctl(&["create", "Datapath_Binding", "tunnel_key=1"]);
    let me = sbdb.get("Chassis", "chassis-a", "_uuid");
    sbdb.sbctl(&[
        "create",
        "Port_Binding",
        &format!("datapath={}", dp.trim()),
        "logical_port=vm1",
        "tunnel_key=1",
        &format!("chassis={me}"),
        "up=true",
    ]);

    sbdb.apply(&remove_chassis(&cfg, &sbdb.snapshot()));
    let show = sbdb.sbctl(&["show"]);
    assert!(!show.contains("chassis-a"), "{show}");
    assert_eq!(sbdb.sbctl(&["--bare", "--columns=_uuid", "list", "Encap"]).trim(), "", "the encap went with the chassis");
    assert_eq!(sbdb.sbctl(&["--bare", "--columns=_uuid", "list", "Chassis_Private"]).trim(), "");
    assert_eq!(sbdb.get("Port_Binding", "vm1", "chassis"), "");
    assert_eq!(sbdb.get("Port_Binding", "vm1", "up"), "false");
    assert!(remove_chassis(&cfg, &sbdb.snapshot()).is_empty());
}

#[test]
fn db_chassis_missing_system_id_is_a_clear_error() {
    let sw = node(&[("ovn-encap-ip", "192.0.2.1")]);
    let err = controller::config::LocalConfig::from_ovs(&sw.snapshot()).unwrap_err();
    assert!(err.to_string().contains("external_ids:system-id is not set"), "{err}");
}
