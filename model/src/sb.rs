//! Typed views of the OVN Southbound rows, each table declared once: its name, the columns the views read
//! and each column's type.
//!
//! A view borrows its replica row and reads a column when asked (`PortBinding::of(row).logical_port()`):
//! nothing is copied or allocated, so the hot paths (every `Logical_Flow` row of a 100x100 network, 50,000
//! of them, is hashed by northd's index) cost what the untyped reads cost, and a column the reader never
//! asks for is never looked up.

use std::collections::BTreeMap;

use crate::ovsdb::{Atom, Datum, Replica, Row, Uuid};

pub const DB_NAME: &str = "OVN_Southbound";

/// A typed view of one Southbound table, declared once with [`sb_tables!`].
pub trait SbView<'a>: Copy {
    const TABLE: &'static str;
    /// The columns the view reads.
    const COLUMNS: &'static [&'static str];
    fn of(row: &'a Row) -> Self;
    fn row(&self) -> &'a Row;
}

/// The rows of a view's table.
pub fn rows<'a, V: SbView<'a> + 'a>(sb: &'a Replica) -> impl Iterator<Item = V> + 'a {
    sb.table(V::TABLE).map(V::of)
}

/// One row of a view's table.
pub fn row<'a, V: SbView<'a>>(sb: &'a Replica, uuid: Uuid) -> Option<V> {
    sb.row(V::TABLE, uuid).map(V::of)
}

/// A column's value as the type a view declares for it.
pub trait Column<'a> {
    fn read(d: &'a Datum) -> Self;
}

impl<'a> Column<'a> for &'a str {
    /// "" when empty.
    fn read(d: &'a Datum) -> Self {
        d.as_str().unwrap_or("")
    }
}

impl<'a> Column<'a> for Option<&'a str> {
    fn read(d: &'a Datum) -> Self {
        d.as_str()
    }
}

impl<'a> Column<'a> for Option<i64> {
    fn read(d: &'a Datum) -> Self {
        d.as_i64()
    }
}

impl<'a> Column<'a> for Option<bool> {
    fn read(d: &'a Datum) -> Self {
        d.as_bool()
    }
}

impl<'a> Column<'a> for Option<Uuid> {
    fn read(d: &'a Datum) -> Self {
        d.as_uuid()
    }
}

impl<'a> Column<'a> for StrMap<'a> {
    fn read(d: &'a Datum) -> Self {
        StrMap(d)
    }
}

impl<'a> Column<'a> for Set<'a> {
    fn read(d: &'a Datum) -> Self {
        Set(d)
    }
}

/// A string-to-string map column, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct StrMap<'a>(pub &'a Datum);

impl<'a> StrMap<'a> {
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.0.get(key).and_then(Atom::as_str)
    }

    pub fn pairs(&self) -> Vec<(&'a str, &'a str)> {
        self.0.string_pairs()
    }

    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.pairs().into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }
}

/// A set column (of strings or of references), borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Set<'a>(pub &'a Datum);

impl<'a> Set<'a> {
    pub fn uuids(&self) -> impl Iterator<Item = Uuid> + 'a {
        self.0.uuids()
    }

    pub fn strings(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.0.strings()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Declares each table: its name constant in [`table`], its view (a borrowed row) with one typed getter
/// per column, and the [`SbView`] that lists those columns.
macro_rules! sb_tables {
    ($($(#[$m:meta])* $view:ident = $konst:ident($name:literal) {
        $($(#[$fm:meta])* $field:ident: $ty:ty = $col:literal),* $(,)?
    })*) => {
        /// Table names, one place for each.
        pub mod table {
            $(pub const $konst: &str = $name;)*
            /// Every table declared here.
            pub const ALL: &[&str] = &[$($konst),*];
        }

        $(
            $(#[$m])*
            #[derive(Debug, Clone, Copy)]
            pub struct $view<'a>(pub &'a Row);

            impl<'a> $view<'a> {
                pub fn uuid(&self) -> Uuid {
                    self.0.uuid
                }
                $($(#[$fm])* pub fn $field(&self) -> $ty {
                    Column::read(self.0.get($col))
                })*
            }

            impl<'a> SbView<'a> for $view<'a> {
                const TABLE: &'static str = table::$konst;
                const COLUMNS: &'static [&'static str] = &[$($col),*];
                fn of(row: &'a Row) -> Self {
                    $view(row)
                }
                fn row(&self) -> &'a Row {
                    self.0
                }
            }
        )*

        /// Each table's columns, as [`SbView::COLUMNS`] lists them.
        pub const COLUMNS: &[(&str, &[&str])] = &[$((table::$konst, <$view as SbView>::COLUMNS)),*];
    };
}

sb_tables! {
    SbGlobal = SB_GLOBAL("SB_Global") {
        nb_cfg: Option<i64> = "nb_cfg",
        options: StrMap<'a> = "options",
    }
    Chassis = CHASSIS("Chassis") {
        name: &'a str = "name",
        hostname: &'a str = "hostname",
        encaps: Set<'a> = "encaps",
        other_config: StrMap<'a> = "other_config",
        external_ids: StrMap<'a> = "external_ids",
    }
    ChassisPrivate = CHASSIS_PRIVATE("Chassis_Private") {
        name: &'a str = "name",
        chassis: Option<Uuid> = "chassis",
        nb_cfg: Option<i64> = "nb_cfg",
    }
    Encap = ENCAP("Encap") {
        chassis_name: &'a str = "chassis_name",
        kind: &'a str = "type",
        ip: &'a str = "ip",
        options: StrMap<'a> = "options",
    }
    DatapathBinding = DATAPATH_BINDING("Datapath_Binding") {
        tunnel_key: Option<i64> = "tunnel_key",
        external_ids: StrMap<'a> = "external_ids",
    }
    PortBinding = PORT_BINDING("Port_Binding") {
        logical_port: &'a str = "logical_port",
        datapath: Option<Uuid> = "datapath",
        tunnel_key: Option<i64> = "tunnel_key",
        kind: &'a str = "type",
        options: StrMap<'a> = "options",
        mac: Set<'a> = "mac",
        chassis: Option<Uuid> = "chassis",
        /// Set by `ovn-controller` once the port's flows are installed; empty until northd initialises it.
        up: Option<bool> = "up",
        ha_chassis_group: Option<Uuid> = "ha_chassis_group",
        parent_port: Option<&'a str> = "parent_port",
        tag: Option<i64> = "tag",
        encap: Option<Uuid> = "encap",
        requested_chassis: Option<Uuid> = "requested_chassis",
    }
    MulticastGroup = MULTICAST_GROUP("Multicast_Group") {
        datapath: Option<Uuid> = "datapath",
        name: &'a str = "name",
        tunnel_key: Option<i64> = "tunnel_key",
        ports: Set<'a> = "ports",
    }
    HaChassisGroup = HA_CHASSIS_GROUP("HA_Chassis_Group") {
        name: &'a str = "name",
        ha_chassis: Set<'a> = "ha_chassis",
    }
    HaChassis = HA_CHASSIS("HA_Chassis") {
        chassis: Option<Uuid> = "chassis",
        priority: Option<i64> = "priority",
        external_ids: StrMap<'a> = "external_ids",
    }
    LogicalFlow = LOGICAL_FLOW("Logical_Flow") {
        logical_datapath: Option<Uuid> = "logical_datapath",
        pipeline: &'a str = "pipeline",
        table_id: Option<i64> = "table_id",
        priority: Option<i64> = "priority",
        match_: &'a str = "match",
        actions: &'a str = "actions",
    }
    LogicalDpGroup = LOGICAL_DP_GROUP("Logical_DP_Group") {
        datapaths: Set<'a> = "datapaths",
    }
    MacBinding = MAC_BINDING("MAC_Binding") {
        logical_port: &'a str = "logical_port",
        ip: &'a str = "ip",
        mac: &'a str = "mac",
        datapath: Option<Uuid> = "datapath",
    }
    AddressSet = ADDRESS_SET("Address_Set") {
        name: &'a str = "name",
        addresses: Set<'a> = "addresses",
    }
    PortGroup = PORT_GROUP("Port_Group") {
        name: &'a str = "name",
        ports: Set<'a> = "ports",
    }
}

impl DatapathBinding<'_> {
    /// The Northbound switch or router the row stands for (`external_ids:logical-switch|logical-router`).
    pub fn nb_identity(&self) -> Option<Uuid> {
        let ids = self.external_ids();
        ids.get("logical-switch").or_else(|| ids.get("logical-router")).and_then(|s| s.parse().ok())
    }
}

impl LogicalFlow<'_> {
    pub fn is_egress(&self) -> bool {
        self.pipeline() == "egress"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::DatabaseSchema;

    const SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";

    #[test]
    fn views_name_tables_and_columns_of_the_schema() {
        let text = std::fs::read_to_string(SCHEMA)
            .unwrap_or_else(|e| panic!("{SCHEMA}: {e} (OVN's schemas come with ovn-common: scripts/install-deps.sh)"));
        let schema = DatabaseSchema::from_json(&serde_json::from_str(&text).expect("schema JSON")).expect("SB schema");
        assert_eq!(schema.name, DB_NAME);
        for &(t, columns) in COLUMNS {
            let ts = schema.table(t).unwrap_or_else(|| panic!("{t} is not in the SB schema"));
            for c in columns {
                assert!(ts.column(c).is_some(), "{t}.{c} is not in the SB schema");
            }
        }
        assert_eq!(COLUMNS.iter().map(|(t, _)| *t).collect::<Vec<_>>(), table::ALL);
    }

    #[test]
    fn a_view_reads_its_row() {
        let mut row = Row::new(Uuid(1));
        row.columns.insert("external_ids".into(), Datum::map([("logical-router", "11111111-1111-4111-8111-111111111111")]));
        row.columns.insert("tunnel_key".into(), Datum::atom(7));
        let dp = DatapathBinding::of(&row);
        assert_eq!(dp.tunnel_key(), Some(7));
        assert_eq!(dp.nb_identity(), "11111111-1111-4111-8111-111111111111".parse().ok());
        assert_eq!(PortBinding::of(&row).logical_port(), "", "a column the row lacks reads as its empty value");
    }
}
