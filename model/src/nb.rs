//! Typed views of the OVN Northbound rows this project uses, with addresses parsed once into
//! `ipnet`/`macaddr` types.
//!
//! A view is built from a replica [`Row`]; a row whose data does not parse (a bad MAC, a bad prefix, an
//! unknown NAT type) gives an [`NbError`] naming the row and the value, so a daemon can log it and skip just
//! that row. [`NbSnapshot`] builds every view of a replica at once and keeps the errors beside them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use macaddr::MacAddr6;

use crate::addr::{self, LspAddress};
use crate::ovsdb::{Replica, Row, Uuid};

pub const DB_NAME: &str = "OVN_Northbound";

/// Table names, one place for each.
pub mod table {
    pub const NB_GLOBAL: &str = "NB_Global";
    pub const LOGICAL_SWITCH: &str = "Logical_Switch";
    pub const LOGICAL_SWITCH_PORT: &str = "Logical_Switch_Port";
    pub const LOGICAL_ROUTER: &str = "Logical_Router";
    pub const LOGICAL_ROUTER_PORT: &str = "Logical_Router_Port";
    pub const GATEWAY_CHASSIS: &str = "Gateway_Chassis";
    pub const NAT: &str = "NAT";
    pub const STATIC_ROUTE: &str = "Logical_Router_Static_Route";
    pub const PORT_GROUP: &str = "Port_Group";
    pub const ADDRESS_SET: &str = "Address_Set";

    /// Every table the typed views read, NB_Global first.
    pub const ALL: &[&str] = super::TABLES;

    /// The columns the typed views read, per table of [`ALL`] (and `Logical_Switch_Port.up`, which northd
    /// reads from its replica). A client that builds only these views monitors only these: ovsdb-server
    /// sends every monitored column of every row, defaults included, and at 10,000 ports composing the
    /// initial `Logical_Switch_Port` contents costs it 60-70 ms of CPU with these columns against 102-108
    /// ms with all of them. The test `nb::tests::views_read_only_their_columns` keeps this list honest.
    pub const COLUMNS: &[(&str, &[&str])] = super::COLUMNS;
}

/// A Northbound row that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{table} {name}: {msg}")]
pub struct NbError {
    pub table: &'static str,
    /// The row's name, or its UUID for unnamed rows.
    pub name: String,
    pub msg: String,
}

fn string_map(row: &Row, col: &str) -> BTreeMap<String, String> {
    row.get(col).string_pairs().into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn opt_string(row: &Row, col: &str) -> Option<String> {
    row.get(col).as_str().map(str::to_string)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NbGlobal {
    pub uuid: Uuid,
    pub nb_cfg: i64,
    pub sb_cfg: i64,
    pub hv_cfg: i64,
    pub options: BTreeMap<String, String>,
}

impl NbGlobal {
    pub fn from_row(row: &Row) -> NbGlobal {
        NbGlobal {
            uuid: row.uuid,
            nb_cfg: row.get("nb_cfg").as_i64().unwrap_or(0),
            sb_cfg: row.get("sb_cfg").as_i64().unwrap_or(0),
            hv_cfg: row.get("hv_cfg").as_i64().unwrap_or(0),
            options: string_map(row, "options"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogicalSwitch {
    pub uuid: Uuid,
    pub name: String,
    pub ports: Vec<Uuid>,
    pub other_config: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

impl LogicalSwitch {
    pub fn from_row(row: &Row) -> LogicalSwitch {
        LogicalSwitch {
            uuid: row.uuid,
            name: row.str("name").to_string(),
            ports: row.get("ports").uuids().collect(),
            other_config: string_map(row, "other_config"),
            external_ids: string_map(row, "external_ids"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogicalSwitchPort {
    pub uuid: Uuid,
    pub name: String,
    /// "" (a VIF), "router", "localnet", "localport", ...
    pub kind: String,
    pub options: BTreeMap<String, String>,
    pub addresses: Vec<LspAddress>,
    /// `addresses` as written, for copying into the Southbound unchanged.
    pub raw_addresses: Vec<String>,
    pub port_security: Vec<String>,
    pub parent_name: Option<String>,
    pub tag: Option<i64>,
    pub tag_request: Option<i64>,
    // Not `up`: northd writes it, and reads it from the replica (it is a quiet column there, whose echo
    // must not make the snapshot read 10,000 ports again).
    pub enabled: Option<bool>,
    pub external_ids: BTreeMap<String, String>,
}

impl LogicalSwitchPort {
    pub fn from_row(row: &Row) -> Result<LogicalSwitchPort, NbError> {
        let name = row.str("name").to_string();
        let addresses = row.get("addresses").strings().map(LspAddress::parse).collect::<Result<_, _>>().map_err(|e| NbError {
            table: table::LOGICAL_SWITCH_PORT,
            name: name.clone(),
            msg: e.to_string(),
        })?;
        Ok(LogicalSwitchPort {
            uuid: row.uuid,
            kind: row.str("type").to_string(),
            options: string_map(row, "options"),
            addresses,
            raw_addresses: row.get("addresses").strings().map(str::to_string).collect(),
            port_security: row.get("port_security").strings().map(str::to_string).collect(),
            parent_name: opt_string(row, "parent_name"),
            tag: row.get("tag").as_i64(),
            tag_request: row.get("tag_request").as_i64(),
            enabled: row.get("enabled").as_bool(),
            external_ids: string_map(row, "external_ids"),
            name,
        })
    }

    /// For a `router` port: the router port it attaches to.
    pub fn router_port(&self) -> Option<&str> {
        self.options.get("router-port").map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogicalRouter {
    pub uuid: Uuid,
    pub name: String,
    pub ports: Vec<Uuid>,
    pub static_routes: Vec<Uuid>,
    pub nat: Vec<Uuid>,
    pub enabled: Option<bool>,
    pub options: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

impl LogicalRouter {
    pub fn from_row(row: &Row) -> LogicalRouter {
        LogicalRouter {
            uuid: row.uuid,
            name: row.str("name").to_string(),
            ports: row.get("ports").uuids().collect(),
            static_routes: row.get("static_routes").uuids().collect(),
            nat: row.get("nat").uuids().collect(),
            enabled: row.get("enabled").as_bool(),
            options: string_map(row, "options"),
            external_ids: string_map(row, "external_ids"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogicalRouterPort {
    pub uuid: Uuid,
    pub name: String,
    pub mac: MacAddr6,
    /// Address and prefix length, e.g. 192.168.100.254/24.
    pub networks: Vec<IpNet>,
    pub gateway_chassis: Vec<Uuid>,
    pub peer: Option<String>,
    pub enabled: Option<bool>,
    pub options: BTreeMap<String, String>,
}

impl LogicalRouterPort {
    pub fn from_row(row: &Row) -> Result<LogicalRouterPort, NbError> {
        let name = row.str("name").to_string();
        let err = |e: addr::AddrError| NbError { table: table::LOGICAL_ROUTER_PORT, name: name.clone(), msg: e.to_string() };
        let mac = addr::parse_mac(row.str("mac")).map_err(err)?;
        let networks = row.get("networks").strings().map(addr::parse_network).collect::<Result<_, _>>().map_err(err)?;
        Ok(LogicalRouterPort {
            uuid: row.uuid,
            mac,
            networks,
            gateway_chassis: row.get("gateway_chassis").uuids().collect(),
            peer: opt_string(row, "peer"),
            enabled: row.get("enabled").as_bool(),
            options: string_map(row, "options"),
            name,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GatewayChassis {
    pub uuid: Uuid,
    pub name: String,
    pub chassis_name: String,
    pub priority: i64,
}

impl GatewayChassis {
    pub fn from_row(row: &Row) -> GatewayChassis {
        GatewayChassis {
            uuid: row.uuid,
            name: row.str("name").to_string(),
            chassis_name: row.str("chassis_name").to_string(),
            priority: row.get("priority").as_i64().unwrap_or(0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NatType {
    Snat,
    Dnat,
    DnatAndSnat,
}

impl NatType {
    pub fn parse(s: &str) -> Option<NatType> {
        match s {
            "snat" => Some(NatType::Snat),
            "dnat" => Some(NatType::Dnat),
            "dnat_and_snat" => Some(NatType::DnatAndSnat),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NatType::Snat => "snat",
            NatType::Dnat => "dnat",
            NatType::DnatAndSnat => "dnat_and_snat",
        }
    }
}

impl fmt::Display for NatType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nat {
    pub uuid: Uuid,
    pub kind: NatType,
    pub external_ip: IpAddr,
    pub external_mac: Option<MacAddr6>,
    /// A host address for dnat / dnat_and_snat, a network for snat.
    pub logical_ip: IpNet,
    pub logical_port: Option<String>,
    pub gateway_port: Option<Uuid>,
    pub external_port_range: String,
}

impl Nat {
    pub fn from_row(row: &Row) -> Result<Nat, NbError> {
        let name = format!("{} ({} {} -> {})", row.uuid, row.str("type"), row.str("external_ip"), row.str("logical_ip"));
        let err = |msg: String| NbError { table: table::NAT, name: name.clone(), msg };
        let kind = NatType::parse(row.str("type")).ok_or_else(|| err(format!("unknown NAT type {:?}", row.str("type"))))?;
        let external_ip = addr::parse_ip(row.str("external_ip")).map_err(|e| err(e.to_string()))?;
        let logical_ip = addr::parse_ip_or_network(row.str("logical_ip")).map_err(|e| err(e.to_string()))?;
        if kind != NatType::Snat && logical_ip.prefix_len() != logical_ip.max_prefix_len() {
            return Err(err(format!("{} NAT needs a host address as logical_ip, not {logical_ip}", kind)));
        }
        let external_mac = row.get("external_mac").as_str().map(addr::parse_mac).transpose().map_err(|e| err(e.to_string()))?;
        Ok(Nat {
            uuid: row.uuid,
            kind,
            external_ip,
            external_mac,
            logical_ip,
            logical_port: opt_string(row, "logical_port"),
            gateway_port: row.get("gateway_port").as_uuid(),
            external_port_range: row.str("external_port_range").to_string(),
        })
    }

    /// A distributed FIP: handled on the chassis where `logical_port` lives.
    pub fn is_distributed(&self) -> bool {
        self.kind == NatType::DnatAndSnat && self.logical_port.is_some() && self.external_mac.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoutePolicy {
    DstIp,
    SrcIp,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NextHop {
    Ip(IpAddr),
    Discard,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StaticRoute {
    pub uuid: Uuid,
    pub ip_prefix: IpNet,
    pub nexthop: NextHop,
    pub policy: RoutePolicy,
    pub output_port: Option<String>,
    pub route_table: String,
}

impl StaticRoute {
    pub fn from_row(row: &Row) -> Result<StaticRoute, NbError> {
        let name = format!("{} ({} via {})", row.uuid, row.str("ip_prefix"), row.str("nexthop"));
        let err = |e: addr::AddrError| NbError { table: table::STATIC_ROUTE, name: name.clone(), msg: e.to_string() };
        let ip_prefix = addr::parse_ip_or_network(row.str("ip_prefix")).map_err(err)?.trunc();
        let nexthop = match row.str("nexthop") {
            "discard" => NextHop::Discard,
            s => NextHop::Ip(addr::parse_ip(s).map_err(err)?),
        };
        let policy = match row.get("policy").as_str() {
            Some("src-ip") => RoutePolicy::SrcIp,
            _ => RoutePolicy::DstIp,
        };
        Ok(StaticRoute {
            uuid: row.uuid,
            ip_prefix,
            nexthop,
            policy,
            output_port: opt_string(row, "output_port"),
            route_table: row.str("route_table").to_string(),
        })
    }
}

/// A group of switch ports (across switches), named in matches as `@name`; its ports' addresses form the
/// implicit address sets `$name_ip4` and `$name_ip6`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortGroup {
    pub uuid: Uuid,
    pub name: String,
    pub ports: Vec<Uuid>,
}

impl PortGroup {
    pub fn from_row(row: &Row) -> PortGroup {
        PortGroup { uuid: row.uuid, name: row.str("name").to_string(), ports: row.get("ports").uuids().collect() }
    }
}

/// A named set of addresses, used in matches as `$name`. Entries are kept as written (IPs, networks or
/// MACs); a bad entry is the reader's to report, as ovn-northd copies them unchecked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddressSet {
    pub uuid: Uuid,
    pub name: String,
    pub addresses: Vec<String>,
}

impl AddressSet {
    pub fn from_row(row: &Row) -> AddressSet {
        AddressSet {
            uuid: row.uuid,
            name: row.str("name").to_string(),
            addresses: row.get("addresses").strings().map(str::to_string).collect(),
        }
    }
}

/// A typed view of one Northbound table, declared once: its table, the columns it reads (the only ones
/// a client that builds the views monitors), and how a row is read.
pub trait NbView: Sized {
    const TABLE: &'static str;
    const COLUMNS: &'static [&'static str];
    fn read(row: &Row) -> Result<Self, NbError>;
}

/// Implements [`NbView`] for a view with its table and columns.
macro_rules! view {
    ($view:ty, $table:expr, [$($col:literal),* $(,)?], infallible) => {
        view!($view, $table, [$($col),*], |row| Ok(<$view>::from_row(row)));
    };
    ($view:ty, $table:expr, [$($col:literal),* $(,)?], fallible) => {
        view!($view, $table, [$($col),*], <$view>::from_row);
    };
    ($view:ty, $table:expr, [$($col:literal),* $(,)?], $read:expr) => {
        impl NbView for $view {
            const TABLE: &'static str = $table;
            const COLUMNS: &'static [&'static str] = &[$($col),*];
            fn read(row: &Row) -> Result<Self, NbError> {
                ($read)(row)
            }
        }
    };
}

view!(NbGlobal, table::NB_GLOBAL, ["hv_cfg", "nb_cfg", "options", "sb_cfg"], infallible);
view!(LogicalSwitch, table::LOGICAL_SWITCH, ["external_ids", "name", "other_config", "ports"], infallible);
view!(
    LogicalSwitchPort,
    table::LOGICAL_SWITCH_PORT,
    ["addresses", "enabled", "external_ids", "name", "options", "parent_name", "port_security", "tag", "tag_request", "type", "up"],
    fallible
);
view!(LogicalRouter, table::LOGICAL_ROUTER, ["enabled", "external_ids", "name", "nat", "options", "ports", "static_routes"], infallible);
view!(
    LogicalRouterPort,
    table::LOGICAL_ROUTER_PORT,
    ["enabled", "gateway_chassis", "mac", "name", "networks", "options", "peer"],
    fallible
);
view!(GatewayChassis, table::GATEWAY_CHASSIS, ["chassis_name", "name", "priority"], infallible);
view!(
    Nat,
    table::NAT,
    ["external_ip", "external_mac", "external_port_range", "gateway_port", "logical_ip", "logical_port", "type"],
    fallible
);
view!(StaticRoute, table::STATIC_ROUTE, ["ip_prefix", "nexthop", "output_port", "policy", "route_table"], fallible);
view!(PortGroup, table::PORT_GROUP, ["name", "ports"], infallible);
view!(AddressSet, table::ADDRESS_SET, ["addresses", "name"], infallible);

/// The snapshot's tables, declared once: each line is a field of [`NbSnapshot`] (rows by UUID) and its
/// view. Everything that lists tables (`table::ALL`, `table::COLUMNS`, reading and forgetting rows,
/// listing a table's UUIDs) is generated from this list.
macro_rules! snapshot_tables {
    ($($field:ident: $view:ty),* $(,)?) => {
        const TABLES: &[&str] = &[table::NB_GLOBAL, $(<$view as NbView>::TABLE),*];
        const COLUMNS: &[(&str, &[&str])] = &[(table::NB_GLOBAL, NbGlobal::COLUMNS), $((<$view as NbView>::TABLE, <$view as NbView>::COLUMNS)),*];

        /// Every typed row of a Northbound replica, keyed by UUID, with the rows that could not be read.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct NbSnapshot {
            pub global: Option<NbGlobal>,
            $(pub $field: BTreeMap<Uuid, $view>,)*
            /// `switch_ports` by name (the schema keeps names unique).
            port_names: HashMap<String, Uuid>,
            /// The rows that could not be read, in row order.
            pub errors: Vec<NbError>,
            row_errors: BTreeMap<Uuid, NbError>,
        }

        impl NbSnapshot {
            /// The UUIDs of the rows of table `t` that were read.
            pub fn uuids(&self, t: &str) -> Vec<Uuid> {
                $(if t == <$view as NbView>::TABLE {
                    return self.$field.keys().copied().collect();
                })*
                Vec::new()
            }

            fn forget_view(&mut self, t: &str, u: Uuid) {
                $(if t == <$view as NbView>::TABLE {
                    self.$field.remove(&u);
                })*
            }

            fn read_view(&mut self, t: &str, row: &Row) {
                $(if t == <$view as NbView>::TABLE {
                    match <$view as NbView>::read(row) {
                        Ok(v) => drop(self.$field.insert(row.uuid, v)),
                        Err(e) => drop(self.row_errors.insert(row.uuid, e)),
                    }
                })*
            }

            /// The typed view of `row` as table `t`, for tests: its debug text, or the error.
            #[cfg(test)]
            fn view_text(t: &str, row: &Row) -> Option<Result<String, NbError>> {
                if t == table::NB_GLOBAL {
                    return Some(NbGlobal::read(row).map(|v| format!("{v:?}")));
                }
                $(if t == <$view as NbView>::TABLE {
                    return Some(<$view as NbView>::read(row).map(|v| format!("{v:?}")));
                })*
                None
            }
        }
    };
}

snapshot_tables! {
    switches: LogicalSwitch,
    switch_ports: LogicalSwitchPort,
    routers: LogicalRouter,
    router_ports: LogicalRouterPort,
    gateway_chassis: GatewayChassis,
    nats: Nat,
    static_routes: StaticRoute,
    port_groups: PortGroup,
    address_sets: AddressSet,
}

impl NbSnapshot {
    pub fn from_replica(r: &Replica) -> NbSnapshot {
        let mut s = NbSnapshot::default();
        for t in table::ALL {
            for row in r.table(t) {
                s.read_row(t, row);
            }
        }
        s.errors = s.row_errors.values().cloned().collect();
        s
    }

    /// Follows the replica's changes (`Replica::take_changes`): only the changed rows are read again, so
    /// a one-port change costs one row, not the network.
    pub fn apply_changes(&mut self, r: &Replica, changes: &BTreeMap<String, std::collections::BTreeSet<Uuid>>) {
        for (t, uuids) in changes {
            let Some(t) = table::ALL.iter().copied().find(|x| x == t) else { continue };
            for u in uuids {
                self.forget(t, *u);
                if let Some(row) = r.row(t, *u) {
                    self.read_row(t, row);
                }
            }
        }
        self.errors = self.row_errors.values().cloned().collect();
    }

    /// The switch port named `name`.
    pub fn port_named(&self, name: &str) -> Option<Uuid> {
        self.port_names.get(name).copied()
    }

    fn forget(&mut self, t: &str, u: Uuid) {
        self.row_errors.remove(&u);
        if t == table::NB_GLOBAL && self.global.as_ref().is_some_and(|g| g.uuid == u) {
            self.global = None;
        }
        if t == table::LOGICAL_SWITCH_PORT {
            if let Some(old) = self.switch_ports.get(&u) {
                if self.port_names.get(&old.name) == Some(&u) {
                    self.port_names.remove(&old.name);
                }
            }
        }
        self.forget_view(t, u);
    }

    fn read_row(&mut self, t: &str, row: &Row) {
        if t == table::NB_GLOBAL {
            if self.global.is_none() {
                self.global = Some(NbGlobal::from_row(row));
            }
            return;
        }
        self.read_view(t, row);
        if t == table::LOGICAL_SWITCH_PORT {
            if let Some(p) = self.switch_ports.get(&row.uuid) {
                self.port_names.insert(p.name.clone(), row.uuid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::{Atom, AtomicType, BaseType, ColumnType, DatabaseSchema, Datum};

    const SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";

    /// A valid value of type `t` that is not its default.
    fn not_default(t: &ColumnType) -> Datum {
        fn atom(b: &BaseType) -> Atom {
            if let Some(last) = b.enumeration.as_ref().and_then(|e| e.iter().last()) {
                return last.clone();
            }
            match b.atomic {
                AtomicType::Integer => Atom::Integer(1i64.clamp(b.min_integer.unwrap_or(i64::MIN), b.max_integer.unwrap_or(i64::MAX))),
                AtomicType::Real => Atom::Real(1.5f64.clamp(b.min_real.unwrap_or(f64::MIN), b.max_real.unwrap_or(f64::MAX))),
                AtomicType::Boolean => Atom::Boolean(true),
                AtomicType::String => Atom::String("unlisted".into()),
                AtomicType::Uuid => Atom::Uuid(Uuid(0x1234)),
            }
        }
        match &t.value {
            Some(v) => Datum::Map([(atom(&t.key), atom(v))].into_iter().collect()),
            None => Datum::Set([atom(&t.key)].into_iter().collect()),
        }
    }

    /// Values of the listed columns that the views accept, so that each view reads every column it reads.
    fn valid(t: &str) -> Vec<(&'static str, Datum)> {
        let s = |v: &str| Datum::atom(v);
        match t {
            table::LOGICAL_SWITCH => vec![("name", s("ls"))],
            table::LOGICAL_SWITCH_PORT => vec![("name", s("p1")), ("addresses", Datum::set(["00:00:00:00:00:01 10.0.0.2"]))],
            table::LOGICAL_ROUTER => vec![("name", s("lr"))],
            table::LOGICAL_ROUTER_PORT => {
                vec![("name", s("lrp")), ("mac", s("00:00:00:00:00:02")), ("networks", Datum::set(["10.0.0.1/24"]))]
            }
            table::GATEWAY_CHASSIS => vec![("name", s("gc")), ("chassis_name", s("ch1"))],
            table::NAT => vec![("type", s("dnat_and_snat")), ("external_ip", s("172.16.0.10")), ("logical_ip", s("10.0.0.2"))],
            table::STATIC_ROUTE => vec![("ip_prefix", s("0.0.0.0/0")), ("nexthop", s("172.16.0.1"))],
            table::PORT_GROUP => vec![("name", s("pg"))],
            table::ADDRESS_SET => vec![("name", s("as"))],
            _ => Vec::new(),
        }
    }

    /// The typed view of `row` as table `t`, and whether it was read without error.
    fn view(t: &str, row: &Row) -> (String, bool) {
        match NbSnapshot::view_text(t, row) {
            Some(Ok(v)) => (v, true),
            Some(Err(e)) => (format!("{e:?}"), false),
            None => panic!("no view for {t}"),
        }
    }

    /// Every column a typed view reads is in `table::COLUMNS`: a row whose other columns all hold
    /// non-default values reads the same as one where they are missing.
    #[test]
    fn views_read_only_their_columns() {
        let text = std::fs::read_to_string(SCHEMA)
            .unwrap_or_else(|e| panic!("{SCHEMA}: {e} (OVN's schemas come with ovn-common: scripts/install-deps.sh)"));
        let schema = DatabaseSchema::from_json(&serde_json::from_str(&text).expect("schema JSON")).expect("NB schema");
        assert_eq!(table::COLUMNS.iter().map(|(t, _)| *t).collect::<Vec<_>>(), table::ALL);
        for &(t, listed) in table::COLUMNS {
            let ts = schema.table(t).unwrap_or_else(|| panic!("{t} is not in the NB schema"));
            for c in listed {
                assert!(ts.column(c).is_some(), "{t}.{c} is not in the NB schema");
            }
            let mut only_listed = Row::new(Uuid(7));
            for (c, d) in valid(t) {
                only_listed.columns.insert(c.to_string(), d);
            }
            let mut every = only_listed.clone();
            for (name, col) in ts.columns.iter().filter(|(n, _)| !listed.contains(&n.as_str())) {
                every.columns.insert(name.clone(), not_default(&col.ctype));
            }
            let (a, ok) = view(t, &only_listed);
            assert!(ok, "{t}: the test's sample row does not read: {a}");
            assert_eq!(a, view(t, &every).0, "{t}: a typed view reads a column that table::COLUMNS does not list");
        }
    }
}
