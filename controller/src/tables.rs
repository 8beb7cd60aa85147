//! Table and database names of the two databases the agent works with, and small helpers to read and write
//! their string maps.
//!
//! The agent reads the local `Open_vSwitch` database (its configuration, and the switch it programs) and the
//! `OVN_Southbound` database (the other chassis, the port bindings). Both are plain [`Replica`]s; the
//! typed views in [`crate::vswitch`], [`crate::chassis`] and [`crate::binding`] read them through these names.
//!
//! [`Replica`]: model::ovsdb::Replica

use std::collections::BTreeMap;

use model::ovsdb::transact::Mutation;
use model::ovsdb::{Datum, Row};

/// The local switch's database (`ovs-vswitchd.conf.db(5)`).
pub mod ovs {
    pub const DB_NAME: &str = "Open_vSwitch";
    pub const OPEN_VSWITCH: &str = "Open_vSwitch";
    pub const BRIDGE: &str = "Bridge";
    pub const PORT: &str = "Port";
    pub const INTERFACE: &str = "Interface";
    /// Every table the agent monitors in the local database.
    pub const ALL: [&str; 4] = [OPEN_VSWITCH, BRIDGE, PORT, INTERFACE];
}

/// The Southbound database (`ovn-sb(5)`): its table names are declared with their typed views in
/// [`model::sb`].
pub mod sb {
    pub use model::sb::table::*;
    pub use model::sb::DB_NAME;
    /// Every table the database side of the agent reads (the flow code monitors more).
    pub const ALL: [&str; 8] = [SB_GLOBAL, CHASSIS, CHASSIS_PRIVATE, ENCAP, DATAPATH_BINDING, PORT_BINDING, HA_CHASSIS_GROUP, HA_CHASSIS];
}

/// A string-to-string map column as an owned map (empty when the column is not a map).
pub fn string_map(row: &Row, column: &str) -> BTreeMap<String, String> {
    row.get(column).string_pairs().into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A string map as a datum.
pub fn map_datum(m: &BTreeMap<String, String>) -> Datum {
    Datum::map(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Mutations that set `key=value` in a map column without touching its other keys: delete the key (whatever
/// its value) then insert the pair. A plain `insert` would leave an existing key's old value in place.
pub fn set_key(column: &str, key: &str, value: &str) -> Vec<Mutation> {
    vec![Mutation::delete(column, Datum::set([key])), Mutation::insert(column, Datum::map([(key, value)]))]
}

/// The mutation that removes keys from a map column, leaving the others.
pub fn remove_keys<'a>(column: &str, keys: impl IntoIterator<Item = &'a str>) -> Mutation {
    Mutation::delete(column, Datum::set(keys))
}
