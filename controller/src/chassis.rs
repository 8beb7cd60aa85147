//! Our own `Chassis`, `Encap` and `Chassis_Private` rows in the Southbound: how the rest of the system learns
//! that this node exists and how to tunnel to it.
//!
//! ```text
//!   LocalConfig ──▶ desired: Chassis {name=system-id, hostname, encaps, other_config, transport_zones}
//!                            Encap {type, ip, chassis_name, options:csum}
//!                            Chassis_Private {name, chassis, nb_cfg}
//!   SB replica ───▶ current rows with our name ──▶ diff ──▶ one Transaction (empty when equal)
//! ```
//!
//! Only our keys of `other_config` are written; keys someone else put there stay. `Encap` rows are not root
//! rows: the one we stop referencing is garbage-collected by the server, so changing the encapsulation type
//! needs no delete. An `Encap` of the same type is updated in place (its `(type, ip)` index then never sees a
//! transient duplicate).
//!
//! The other chassis are read through the same typed view ([`ChassisView`]): `vswitch` makes a tunnel to
//! each, `binding` decides which of them is alive.

use std::collections::{BTreeMap, BTreeSet};

use model::ovsdb::transact::{Condition, RowData, Transaction};
use model::ovsdb::{Atom, Datum, Replica, Row, Uuid};

use crate::config::{EncapType, LocalConfig};
use crate::tables::{map_datum, sb, string_map};

/// One `Encap` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncapView {
    pub uuid: Uuid,
    /// None for a type this schema allows but we do not know (never, with today's schema).
    pub encap_type: Option<EncapType>,
    pub ip: String,
    pub chassis_name: String,
    pub options: BTreeMap<String, String>,
}

impl EncapView {
    fn from_row(row: &Row) -> EncapView {
        EncapView {
            uuid: row.uuid,
            encap_type: row.str("type").parse().ok(),
            ip: row.str("ip").to_string(),
            chassis_name: row.str("chassis_name").to_string(),
            options: string_map(row, "options"),
        }
    }
}

/// One `Chassis` row with its encapsulations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChassisView {
    pub uuid: Uuid,
    pub name: String,
    pub hostname: String,
    pub encaps: Vec<EncapView>,
    pub other_config: BTreeMap<String, String>,
    pub transport_zones: BTreeSet<String>,
}

impl ChassisView {
    pub fn from_row(sb_db: &Replica, row: &Row) -> ChassisView {
        ChassisView {
            uuid: row.uuid,
            name: row.str("name").to_string(),
            hostname: row.str("hostname").to_string(),
            encaps: row.get("encaps").uuids().filter_map(|u| sb_db.row(sb::ENCAP, u)).map(EncapView::from_row).collect(),
            other_config: string_map(row, "other_config"),
            transport_zones: row.get("transport_zones").strings().map(str::to_string).collect(),
        }
    }

    /// Every chassis in the Southbound, in name order.
    pub fn all(sb_db: &Replica) -> Vec<ChassisView> {
        let mut v: Vec<ChassisView> = sb_db.table(sb::CHASSIS).map(|r| ChassisView::from_row(sb_db, r)).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The chassis named `name` (`Chassis.name` is unique).
    pub fn find(sb_db: &Replica, name: &str) -> Option<ChassisView> {
        sb_db.table(sb::CHASSIS).find(|r| r.str("name") == name).map(|r| ChassisView::from_row(sb_db, r))
    }

    /// The encapsulation to use towards this chassis from one that supports `ours`: the most preferred type
    /// both have ([`EncapType::PREFERENCE`]), None when they share none.
    pub fn best_encap(&self, ours: &[EncapType]) -> Option<(EncapType, &EncapView)> {
        EncapType::PREFERENCE
            .iter()
            .filter(|t| ours.contains(t))
            .find_map(|t| self.encaps.iter().find(|e| e.encap_type == Some(*t)).map(|e| (*t, e)))
    }

    /// Whether a tunnel between this chassis and one in `zones` should exist: both in the default zone (no
    /// zones at all), or sharing one (`ovn-controller(8)`, `ovn-transport-zones`).
    pub fn shares_transport_zone(&self, zones: &BTreeSet<String>) -> bool {
        if zones.is_empty() && self.transport_zones.is_empty() {
            return true;
        }
        !zones.is_disjoint(&self.transport_zones)
    }
}

/// Feature flags we report in `Chassis.other_config`. `port-up-notif`: we set `Port_Binding.up` once a
/// port's flows are in, so `ovn-northd` may trust it for `Logical_Switch_Port.up`. The other flags
/// `ovn-controller` reports (`ct-no-masked-label`, `mac-binding-timestamp`, `ovn-ct-lb-related`) promise
/// OpenFlow translations; add them here when the flow code implements them, since `ovn-northd` changes the
/// logical flows it writes for every chassis once all of them claim a feature.
pub const FEATURES: [(&str, &str); 1] = [("port-up-notif", "true")];

/// The `Chassis.other_config` keys we own and their values (the same keys `ovn-controller` writes for the
/// configuration it reports).
pub fn other_config(cfg: &LocalConfig) -> BTreeMap<String, String> {
    let b = |v: bool| if v { "true" } else { "false" }.to_string();
    let mut m = BTreeMap::from([
        ("datapath-type".to_string(), cfg.datapath_type().to_string()),
        ("iface-types".to_string(), cfg.iface_types.join(",")),
        ("ovn-bridge-mappings".to_string(), cfg.bridge_mappings_text.clone()),
        ("ovn-chassis-mac-mappings".to_string(), cfg.chassis_mac_mappings.clone()),
        ("ovn-cms-options".to_string(), cfg.cms_options.clone()),
        ("ovn-monitor-all".to_string(), b(cfg.monitor_all)),
        ("is-interconn".to_string(), b(cfg.is_interconn)),
    ]);
    m.extend(FEATURES.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    m
}

/// The columns of our `Encap` row.
fn encap_row(cfg: &LocalConfig) -> RowData {
    let csum = if cfg.encap_csum { "true" } else { "false" };
    RowData::from([
        ("type".to_string(), Datum::atom(cfg.encap_type().as_str())),
        ("ip".to_string(), Datum::atom(cfg.encap_ip.as_str())),
        ("chassis_name".to_string(), Datum::atom(cfg.system_id.as_str())),
        ("options".to_string(), Datum::map([("csum", csum)])),
    ])
}

/// The columns of `row` in `want` whose values differ.
fn changed(row: &Row, want: RowData) -> RowData {
    want.into_iter().filter(|(c, d)| row.get(c) != d).collect()
}

fn zones(cfg: &LocalConfig) -> Datum {
    Datum::set(cfg.transport_zones.iter().map(String::as_str))
}

/// The transaction that registers this chassis (or brings its rows up to date): `Chassis` with one `Encap`,
/// and `Chassis_Private` with `nb_cfg = nb_cfg_seen` (the `SB_Global.nb_cfg` whose flows are installed).
/// Empty when the Southbound already says all of it.
pub fn plan_chassis(cfg: &LocalConfig, sb_db: &Replica, nb_cfg_seen: i64) -> Transaction {
    let mut txn = Transaction::new();
    let ours = other_config(cfg);
    let row = sb_db.table(sb::CHASSIS).find(|r| r.str("name") == cfg.system_id);
    let chassis_ref = match row {
        None => {
            let e = txn.insert(sb::ENCAP, encap_row(cfg));
            txn.insert(
                sb::CHASSIS,
                RowData::from([
                    ("name".to_string(), Datum::atom(cfg.system_id.as_str())),
                    ("hostname".to_string(), Datum::atom(cfg.hostname.as_str())),
                    ("encaps".to_string(), Datum::atom(e)),
                    ("other_config".to_string(), map_datum(&ours)),
                    ("transport_zones".to_string(), zones(cfg)),
                ]),
            )
        }
        Some(row) => {
            let view = ChassisView::from_row(sb_db, row);
            let mut want =
                RowData::from([("hostname".to_string(), Datum::atom(cfg.hostname.as_str())), ("transport_zones".to_string(), zones(cfg))]);
            let mut oc = view.other_config.clone();
            oc.extend(ours);
            want.insert("other_config".to_string(), map_datum(&oc));

            // Keep the Encap of our type (updated in place), drop the others.
            match view.encaps.iter().find(|e| e.encap_type == Some(cfg.encap_type())) {
                Some(e) => {
                    if let Some(erow) = sb_db.row(sb::ENCAP, e.uuid) {
                        let diff = changed(erow, encap_row(cfg));
                        if !diff.is_empty() {
                            txn.update(sb::ENCAP, vec![Condition::uuid(e.uuid)], diff);
                        }
                    }
                    want.insert("encaps".to_string(), Datum::atom(e.uuid));
                }
                None => {
                    let e = txn.insert(sb::ENCAP, encap_row(cfg));
                    want.insert("encaps".to_string(), Datum::atom(e));
                }
            }
            let diff = changed(row, want);
            if !diff.is_empty() {
                txn.update(sb::CHASSIS, vec![Condition::uuid(row.uuid)], diff);
            }
            Atom::Uuid(row.uuid)
        }
    };

    let want_private = RowData::from([("chassis".to_string(), Datum::atom(chassis_ref)), ("nb_cfg".to_string(), Datum::atom(nb_cfg_seen))]);
    match sb_db.table(sb::CHASSIS_PRIVATE).find(|r| r.str("name") == cfg.system_id) {
        None => {
            let mut r = want_private;
            r.insert("name".to_string(), Datum::atom(cfg.system_id.as_str()));
            txn.insert(sb::CHASSIS_PRIVATE, r);
        }
        Some(p) => {
            let diff = changed(p, want_private);
            if !diff.is_empty() {
                txn.update(sb::CHASSIS_PRIVATE, vec![Condition::uuid(p.uuid)], diff);
            }
        }
    }
    if !txn.is_empty() {
        txn.comment(&format!("controller: chassis {}", cfg.system_id));
    }
    txn
}

/// The transaction for a clean exit: release the ports bound to us (`up=false`, so the Northbound shows
/// them down at once) and delete our `Chassis` and `Chassis_Private` rows (our `Encap` goes with the
/// chassis; the server clears the weak references to it). Empty when we are not registered.
pub fn remove_chassis(cfg: &LocalConfig, sb_db: &Replica) -> Transaction {
    let mut txn = Transaction::new();
    if let Some(ch) = sb_db.table(sb::CHASSIS).find(|r| r.str("name") == cfg.system_id) {
        for pb in sb_db.table(sb::PORT_BINDING).filter(|pb| pb.get("chassis").as_uuid() == Some(ch.uuid)) {
            let mut cols = RowData::from([("chassis".to_string(), Datum::empty_set())]);
            if pb.get("up").as_bool() == Some(true) {
                cols.insert("up".to_string(), Datum::atom(false));
            }
            txn.update(sb::PORT_BINDING, vec![Condition::uuid(pb.uuid), Condition::eq("chassis", Datum::atom(ch.uuid))], cols);
        }
        txn.delete(sb::CHASSIS, vec![Condition::uuid(ch.uuid)]);
    }
    if let Some(p) = sb_db.table(sb::CHASSIS_PRIVATE).find(|r| r.str("name") == cfg.system_id) {
        txn.delete(sb::CHASSIS_PRIVATE, vec![Condition::uuid(p.uuid)]);
    }
    if !txn.is_empty() {
        txn.comment(&format!("controller: chassis {} leaves", cfg.system_id));
    }
    txn
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::testutil::{jmap, juuid, OvsBuilder, SbBuilder};
    use model::ovsdb::Operation;
    use serde_json::json;

    pub fn cfg(ids: &[(&str, &str)]) -> LocalConfig {
        let mut b = OvsBuilder::new();
        let mut all = vec![("system-id", "me"), ("ovn-encap-ip", "10.0.0.1"), ("hostname", "host-me")];
        all.extend_from_slice(ids);
        b.open_vswitch(&all);
        LocalConfig::from_ovs_with_hostname(&b.build(), "h").unwrap()
    }

    fn tables(t: &Transaction) -> Vec<String> {
        t.ops.iter().filter(|o| !matches!(o, Operation::Comment(_))).map(Operation::describe).collect()
    }

    /// The SB a replica would show after registering `cfg` (as the server would store it).
    fn registered(cfg: &LocalConfig) -> (SbBuilder, Uuid) {
        let mut b = SbBuilder::new();
        let ch = b.chassis(&cfg.system_id, &[("geneve", &cfg.encap_ip)]);
        let oc: Vec<(String, String)> = other_config(cfg).into_iter().collect();
        let oc: Vec<(&str, &str)> = oc.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        b.set(sb::CHASSIS, ch, "other_config", jmap(&oc));
        b.set(sb::CHASSIS, ch, "hostname", json!(cfg.hostname));
        b.insert(sb::CHASSIS_PRIVATE, json!({"name": cfg.system_id, "chassis": juuid(ch), "nb_cfg": 0}));
        (b, ch)
    }

    #[test]
    fn registers_a_new_chassis_with_its_encap_and_private_row() {
        let c = cfg(&[("ovn-bridge-mappings", "physnet:br-phys"), ("ovn-bridge-datapath-type", "netdev")]);
        let t = plan_chassis(&c, &SbBuilder::new().build(), 0);
        assert_eq!(tables(&t), ["insert into Encap", "insert into Chassis", "insert into Chassis_Private"]);
        let Operation::Insert { row, .. } = &t.ops[1] else { panic!() };
        assert_eq!(row["name"], Datum::atom("me"));
        assert_eq!(row["hostname"], Datum::atom("host-me"));
        assert_eq!(row["other_config"].get("ovn-bridge-mappings"), Some(&Atom::from("physnet:br-phys")));
        assert_eq!(row["other_config"].get("datapath-type"), Some(&Atom::from("netdev")));
        assert_eq!(row["other_config"].get("port-up-notif"), Some(&Atom::from("true")));
        let Operation::Insert { row, .. } = &t.ops[0] else { panic!() };
        assert_eq!(row["options"], Datum::map([("csum", "true")]));
        assert_eq!(row["chassis_name"], Datum::atom("me"));
    }

    #[test]
    fn an_unchanged_chassis_gives_an_empty_transaction() {
        let c = cfg(&[]);
        let (b, _) = registered(&c);
        let t = plan_chassis(&c, &b.build(), 0);
        assert!(t.is_empty(), "{t:?}");
    }

    #[test]
    fn only_differences_are_written() {
        let c = cfg(&[]);
        let (mut b, ch) = registered(&c);
        // Someone else's key in other_config stays; nb_cfg moved on; the hostname is stale.
        b.set(sb::CHASSIS, ch, "hostname", json!("old"));
        let sb_db = b.build();
        let t = plan_chassis(&c, &sb_db, 7);
        assert_eq!(tables(&t), ["update of Chassis", "update of Chassis_Private"]);
        let Operation::Update { row, .. } = &t.ops[0] else { panic!() };
        assert_eq!(row.keys().collect::<Vec<_>>(), ["hostname"]);
        let Operation::Update { row, .. } = &t.ops[1] else { panic!() };
        assert_eq!(row.keys().collect::<Vec<_>>(), ["nb_cfg"]);
    }

    #[test]
    fn keeps_foreign_other_config_keys() {
        let c = cfg(&[]);
        let (mut b, ch) = registered(&c);
        b.set(sb::CHASSIS, ch, "other_config", jmap(&[("foo", "bar"), ("ovn-monitor-all", "true")]));
        let t = plan_chassis(&c, &b.build(), 0);
        let Operation::Update { row, .. } = &t.ops[0] else { panic!() };
        assert_eq!(row["other_config"].get("foo"), Some(&Atom::from("bar")));
        assert_eq!(row["other_config"].get("ovn-monitor-all"), Some(&Atom::from("false")));
    }

    #[test]
    fn a_new_encap_ip_updates_the_encap_in_place_and_a_new_type_replaces_it() {
        let c = cfg(&[]);
        let (b, _) = registered(&c);
        let sb_db = b.build();
        let moved = cfg(&[("ovn-encap-ip", "10.0.0.9")]);
        let t = plan_chassis(&moved, &sb_db, 0);
        assert_eq!(tables(&t), ["update of Encap"]);
        let vx = cfg(&[("ovn-encap-type", "vxlan")]);
        let t = plan_chassis(&vx, &sb_db, 0);
        assert_eq!(tables(&t), ["insert into Encap", "update of Chassis"]);
    }

    #[test]
    fn private_row_follows_a_recreated_chassis() {
        let c = cfg(&[]);
        let mut b = SbBuilder::new();
        b.insert(sb::CHASSIS_PRIVATE, json!({"name": "me"}));
        let t = plan_chassis(&c, &b.build(), 0);
        assert_eq!(tables(&t), ["insert into Encap", "insert into Chassis", "update of Chassis_Private"]);
        let Operation::Update { row, .. } = &t.ops[2] else { panic!() };
        assert!(matches!(row["chassis"].as_atom(), Some(Atom::NamedUuid(_))));
    }

    #[test]
    fn removal_releases_ports_and_deletes_our_rows() {
        let c = cfg(&[]);
        let (mut b, ch) = registered(&c);
        let dp = b.datapath(1);
        b.port("vm1", dp, 1, "", &[], &[("chassis", juuid(ch)), ("up", json!(true))]);
        b.port("vm2", dp, 2, "", &[], &[]);
        let sb_db = b.build();
        let t = remove_chassis(&c, &sb_db);
        assert_eq!(tables(&t), ["update of Port_Binding", "delete from Chassis", "delete from Chassis_Private"]);
        assert!(remove_chassis(&cfg(&[("system-id", "other")]), &sb_db).is_empty());
    }

    #[test]
    fn picks_the_preferred_shared_encap_and_checks_zones() {
        let mut b = SbBuilder::new();
        b.chassis("r", &[("vxlan", "10.0.0.2"), ("geneve", "10.0.0.3")]);
        let sb_db = b.build();
        let r = ChassisView::find(&sb_db, "r").unwrap();
        let (t, e) = r.best_encap(&[EncapType::Vxlan, EncapType::Geneve]).unwrap();
        assert_eq!((t, e.ip.as_str()), (EncapType::Geneve, "10.0.0.3"));
        assert_eq!(r.best_encap(&[EncapType::Vxlan]).map(|(t, _)| t), Some(EncapType::Vxlan));
        assert!(r.best_encap(&[EncapType::Stt]).is_none());
        assert!(r.shares_transport_zone(&BTreeSet::new()));
        assert!(!r.shares_transport_zone(&BTreeSet::from(["tz1".to_string()])));
    }
}
