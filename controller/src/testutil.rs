//! Hand-built replicas for unit tests: rows of the real schemas (read from the installed schema files, so a
//! test row that breaks the schema fails the test), with deterministic UUIDs.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use model::ovsdb::{DatabaseSchema, Replica, Uuid};
use serde_json::{json, Map, Value};

use crate::tables::{ovs, sb};

pub const VSWITCH_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";
pub const SB_SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";

fn schema(path: &str, package: &str) -> Arc<DatabaseSchema> {
    let p = Path::new(path);
    assert!(p.is_file(), "schema {path} is missing: install the Debian package {package}");
    Arc::new(DatabaseSchema::from_file(p).unwrap())
}

/// An empty replica of the `Open_vSwitch` schema.
pub fn ovs_replica() -> Replica {
    Replica::new(schema(VSWITCH_SCHEMA, "openvswitch-common"))
}

/// An empty replica of the Southbound schema.
pub fn sb_replica() -> Replica {
    Replica::new(schema(SB_SCHEMA, "ovn-common"))
}

/// `["map", [[k, v], ...]]`.
pub fn jmap(pairs: &[(&str, &str)]) -> Value {
    json!(["map", pairs.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()])
}

/// `["uuid", "..."]`.
pub fn juuid(u: Uuid) -> Value {
    json!(["uuid", u.to_string()])
}

/// `["set", [["uuid", ...], ...]]`.
pub fn juuids(us: &[Uuid]) -> Value {
    json!(["set", us.iter().map(|u| juuid(*u)).collect::<Vec<_>>()])
}

/// Rows to load into a replica in one `update2`.
pub struct DbBuilder {
    rows: BTreeMap<String, BTreeMap<Uuid, Map<String, Value>>>,
    next: u128,
    base: u128,
}

impl DbBuilder {
    fn new(base: u128) -> DbBuilder {
        DbBuilder { rows: BTreeMap::new(), next: 1, base }
    }

    pub fn insert(&mut self, table: &str, cols: Value) -> Uuid {
        let u = Uuid(self.base + self.next);
        self.next += 1;
        let cols = cols.as_object().cloned().unwrap_or_default();
        self.rows.entry(table.to_string()).or_default().insert(u, cols);
        u
    }

    pub fn set(&mut self, table: &str, uuid: Uuid, column: &str, value: Value) {
        self.rows.get_mut(table).and_then(|t| t.get_mut(&uuid)).unwrap().insert(column.to_string(), value);
    }

    fn load(&self, mut r: Replica) -> Replica {
        let mut upd = Map::new();
        for (t, rows) in &self.rows {
            let m: Map<String, Value> = rows.iter().map(|(u, c)| (u.to_string(), json!({"initial": c}))).collect();
            upd.insert(t.clone(), Value::Object(m));
        }
        let stats = r.apply_update2(&Value::Object(upd)).unwrap();
        assert_eq!(stats.rejected, 0, "a test row breaks the schema (see the log)");
        r
    }
}

/// A local `Open_vSwitch` database: the root row, bridges, ports with one interface each.
pub struct OvsBuilder {
    db: DbBuilder,
    root: Option<Uuid>,
    bridges: BTreeMap<String, (Uuid, Vec<Uuid>)>,
}

impl Default for OvsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl OvsBuilder {
    pub fn new() -> OvsBuilder {
        OvsBuilder { db: DbBuilder::new(0x1000_0000_0000), root: None, bridges: BTreeMap::new() }
    }

    pub fn open_vswitch(&mut self, ids: &[(&str, &str)]) -> Uuid {
        let u = self.db.insert(ovs::OPEN_VSWITCH, json!({"external_ids": jmap(ids)}));
        self.root = Some(u);
        u
    }

    /// A bridge with extra columns (`datapath_type`, `fail_mode`, `other_config`, ...).
    pub fn bridge(&mut self, name: &str, cols: &[(&str, Value)]) -> Uuid {
        let mut c = json!({"name": name});
        for (k, v) in cols {
            c[*k] = v.clone();
        }
        let u = self.db.insert(ovs::BRIDGE, c);
        self.bridges.insert(name.to_string(), (u, Vec::new()));
        u
    }

    /// A port of one interface on `bridge` (which must exist). Returns (port, interface).
    pub fn port(&mut self, bridge: &str, name: &str, iface: Value, port_ids: &[(&str, &str)]) -> (Uuid, Uuid) {
        let mut ic = json!({"name": name});
        if let Some(o) = iface.as_object() {
            for (k, v) in o {
                ic[k] = v.clone();
            }
        }
        let i = self.db.insert(ovs::INTERFACE, ic);
        let p = self.db.insert(ovs::PORT, json!({"name": name, "interfaces": juuid(i), "external_ids": jmap(port_ids)}));
        self.bridges.get_mut(bridge).unwrap().1.push(p);
        (p, i)
    }

    pub fn build(mut self) -> Replica {
        let bridges: Vec<Uuid> = self.bridges.values().map(|(u, _)| *u).collect();
        for (u, ports) in self.bridges.values() {
            self.db.set(ovs::BRIDGE, *u, "ports", juuids(ports));
        }
        if let Some(root) = self.root {
            self.db.set(ovs::OPEN_VSWITCH, root, "bridges", juuids(&bridges));
        }
        self.db.load(ovs_replica())
    }
}

/// A Southbound database.
pub struct SbBuilder {
    db: DbBuilder,
}

impl Default for SbBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SbBuilder {
    pub fn new() -> SbBuilder {
        SbBuilder { db: DbBuilder::new(0x2000_0000_0000) }
    }

    /// A chassis with one Encap per (type, ip).
    pub fn chassis(&mut self, name: &str, encaps: &[(&str, &str)]) -> Uuid {
        let e: Vec<Uuid> = encaps
            .iter()
            .map(|(t, ip)| {
                self.db.insert(sb::ENCAP, json!({"type": t, "ip": ip, "chassis_name": name, "options": jmap(&[("csum", "true")])}))
            })
            .collect();
        self.db.insert(sb::CHASSIS, json!({"name": name, "hostname": name, "encaps": juuids(&e)}))
    }

    pub fn datapath(&mut self, key: i64) -> Uuid {
        self.db.insert(sb::DATAPATH_BINDING, json!({"tunnel_key": key}))
    }

    /// A Port_Binding of `kind` ("" for a VIF) with options and extra columns.
    pub fn port(&mut self, name: &str, dp: Uuid, key: i64, kind: &str, options: &[(&str, &str)], cols: &[(&str, Value)]) -> Uuid {
        let mut c = json!({"logical_port": name, "datapath": juuid(dp), "tunnel_key": key, "type": kind, "options": jmap(options)});
        for (k, v) in cols {
            c[*k] = v.clone();
        }
        self.db.insert(sb::PORT_BINDING, c)
    }

    /// An HA_Chassis_Group of (chassis, priority) members.
    pub fn ha_group(&mut self, name: &str, members: &[(Uuid, i64)]) -> Uuid {
        let hc: Vec<Uuid> =
            members.iter().map(|(c, p)| self.db.insert(sb::HA_CHASSIS, json!({"chassis": juuid(*c), "priority": p}))).collect();
        self.db.insert(sb::HA_CHASSIS_GROUP, json!({"name": name, "ha_chassis": juuids(&hc)}))
    }

    pub fn insert(&mut self, table: &str, cols: Value) -> Uuid {
        self.db.insert(table, cols)
    }

    pub fn set(&mut self, table: &str, uuid: Uuid, column: &str, value: Value) {
        self.db.set(table, uuid, column, value);
    }

    pub fn build(self) -> Replica {
        self.db.load(sb_replica())
    }
}
