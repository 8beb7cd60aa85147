//! Desired vs current Southbound: the one transaction that makes the Southbound hold what the translation
//! wants, touching only the rows that differ.
//!
//! ```text
//!   Wanted ────┐ (the engine's rows, borrowed; flows with their keys)
//!              ├─▶ per table: match rows by their NB identity ─▶ insert missing / update changed /
//!   SB replica ┘                                                 delete stale  ─▶ Transaction
//! ```
//! Rows are matched by stable identities: datapaths by `external_ids:logical-switch|logical-router`, ports
//! by `logical_port`, multicast groups by (datapath, name), HA groups by name, logical flows by their whole
//! content. Columns that `ovn-controller` owns (`Port_Binding.chassis`, `up`, ...) are never written.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use model::ovsdb::transact::{ColumnName, Condition, RowData, Transaction};
use model::ovsdb::{Atom, Datum, MixHash, Replica, Row, Uuid, UuidGen};

use crate::translate::Keys;

use model::sb::table::*;
use model::sb::{DatapathBinding, PortBinding, SbView};

/// Every Southbound table northd reads.
pub const TABLES_READ: [&str; 12] = [
    SB_GLOBAL,
    DATAPATH_BINDING,
    PORT_BINDING,
    MULTICAST_GROUP,
    LOGICAL_FLOW,
    HA_CHASSIS_GROUP,
    HA_CHASSIS,
    CHASSIS,
    CHASSIS_PRIVATE,
    MAC_BINDING,
    ADDRESS_SET,
    PORT_GROUP,
];

/// How many rows of each kind one sync writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub inserted: usize,
    pub updated: usize,
    pub deleted: usize,
}

impl Counts {
    pub fn is_empty(&self) -> bool {
        self.inserted + self.updated + self.deleted == 0
    }
}

pub(crate) fn string_map(m: &BTreeMap<String, String>) -> Datum {
    Datum::map(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn strings(v: &[String]) -> Datum {
    Datum::set(v.iter().map(String::as_str))
}

/// The tunnel keys the Southbound already uses (the translation keeps them).
pub fn current_keys(sb: &Replica) -> Keys {
    let mut keys = Keys::default();
    let mut dp_of_row: BTreeMap<Uuid, Uuid> = BTreeMap::new();
    for dp in model::sb::rows::<DatapathBinding>(sb) {
        if let (Some(nb), Some(k)) = (dp.nb_identity(), dp.tunnel_key()) {
            keys.datapaths.insert(nb, k);
            dp_of_row.insert(dp.uuid(), nb);
        }
    }
    for pb in model::sb::rows::<PortBinding>(sb) {
        if let (Some(dp), Some(k)) = (pb.datapath().and_then(|d| dp_of_row.get(&d)), pb.tunnel_key()) {
            keys.ports.entry(*dp).or_default().insert(pb.logical_port().to_string(), k);
        }
    }
    keys
}

/// Collects operations and counts while comparing.
struct Plan<'a> {
    txn: Transaction,
    counts: Counts,
    /// The daemon's generator of client-chosen UUIDs (the one that also names the rows of a split write).
    ids: &'a mut UuidGen,
}

impl Plan<'_> {
    fn insert(&mut self, table: &str, row: RowData) -> Atom {
        self.counts.inserted += 1;
        self.txn.insert(table, row)
    }

    /// An insert with a UUID chosen here, for a row that rows of later batches refer to (every flow of a
    /// new datapath names it): see [`Transaction::insert_with_uuid`].
    fn insert_with_uuid(&mut self, table: &str, row: RowData) -> Atom {
        self.counts.inserted += 1;
        let uuid = self.ids.generate();
        self.txn.insert_with_uuid(table, row, uuid)
    }

    /// An insert nothing in the transaction refers to (see [`Transaction::insert_unnamed`]).
    fn insert_unnamed(&mut self, table: &str, row: RowData) {
        self.counts.inserted += 1;
        self.txn.insert_unnamed(table, row);
    }

    /// Updates the columns of `row` that differ from `want`.
    fn update(&mut self, table: &str, row: &Row, want: RowData) {
        let changed: RowData = want.into_iter().filter(|(c, d)| row.get(c) != d).collect();
        if !changed.is_empty() {
            self.counts.updated += 1;
            self.txn.update(table, vec![Condition::uuid(row.uuid)], changed);
        }
    }

    fn delete(&mut self, table: &str, uuid: Uuid) {
        self.counts.deleted += 1;
        self.txn.delete(table, vec![Condition::uuid(uuid)]);
    }
}

/// Which switch ports' `Logical_Switch_Port.up` may differ from what their binding says: every port after a
/// full pass, else those whose switch port or binding changed (a port coming up costs one port, not the
/// network).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StalePorts {
    #[default]
    None,
    All,
    Named(BTreeSet<String>),
}

impl StalePorts {
    pub fn is_empty(&self) -> bool {
        matches!(self, StalePorts::None)
    }

    pub fn add(&mut self, name: &str) {
        match self {
            StalePorts::None => *self = StalePorts::Named(BTreeSet::from([name.to_string()])),
            StalePorts::All => {}
            StalePorts::Named(names) => drop(names.insert(name.to_string())),
        }
    }

    /// Adds the ports named in column `name_column` of the rows `uuids` of `table` that still exist.
    pub fn add_rows<'a>(&mut self, r: &Replica, table: &str, name_column: &str, uuids: impl IntoIterator<Item = &'a Uuid>) {
        for u in uuids {
            if let Some(row) = r.row(table, *u) {
                self.add(row.str(name_column));
            }
        }
    }
}

/// The `Logical_Switch_Port.up` values the Northbound should show, for the `stale` ports whose value is
/// not that already: a port is up when its binding is (`ovn-controller` sets `Port_Binding.up` once the
/// port's flows are installed). `lsp_named` and `pb_named` find a port's rows by name.
pub fn nb_port_up(
    nb: &Replica,
    sb: &Replica,
    stale: &StalePorts,
    lsp_named: impl Fn(&str) -> Option<Uuid>,
    pb_named: impl Fn(&str) -> Option<Uuid>,
) -> Vec<(Uuid, bool)> {
    let is_up = |pb: &Row| pb.get("up").as_bool() == Some(true);
    let differs = |lsp: &Row, want: bool| (lsp.get("up").as_bool() != Some(want)).then_some((lsp.uuid, want));
    match stale {
        StalePorts::None => Vec::new(),
        StalePorts::All => {
            let up: HashMap<&str, bool> = sb.table(PORT_BINDING).map(|r| (r.str("logical_port"), is_up(r))).collect();
            nb.table(model::nb::table::LOGICAL_SWITCH_PORT).filter_map(|lsp| differs(lsp, *up.get(lsp.str("name"))?)).collect()
        }
        StalePorts::Named(names) => names
            .iter()
            .filter_map(|name| {
                let lsp = nb.row(model::nb::table::LOGICAL_SWITCH_PORT, lsp_named(name)?).filter(|r| r.str("name") == name)?;
                let pb = sb.row(PORT_BINDING, pb_named(name)?).filter(|r| r.str("logical_port") == name)?;
                differs(lsp, is_up(pb))
            })
            .collect(),
    }
}

/// What a sync should also write besides the translation's output.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// `NB_Global.nb_cfg`, copied to `SB_Global.nb_cfg`.
    pub nb_cfg: i64,
    /// `SB_Global.options` northd owns.
    pub options: BTreeMap<String, String>,
    /// `SB_Global.options` set only when absent (generated values that must stay stable).
    pub defaults: BTreeMap<String, String>,
}

/// What [`plan`] compares the Southbound with: the engine's rows, borrowed, and its flows with their keys
/// (a first sync's 50,000 flows are neither copied nor sorted nor hashed again).
pub struct Wanted<'a> {
    pub datapaths: &'a BTreeMap<Uuid, crate::desired::Datapath>,
    pub ports: &'a BTreeMap<String, crate::desired::PortBinding>,
    pub mc_groups: &'a BTreeMap<(Uuid, String), crate::desired::MulticastGroup>,
    pub ha_groups: &'a BTreeMap<String, crate::desired::HaChassisGroup>,
    pub named: &'a BTreeMap<crate::named_rows::Key, crate::named_rows::Values>,
    /// Each flow with its [`crate::desired::Lflow::key_hash`], once.
    pub lflows: Vec<(u64, &'a crate::desired::Lflow)>,
}

/// Flows sorted by datapath (then key, so the order is the same every run). Each insert into Logical_Flow
/// adds a reference to its Datapath_Binding row, and ovsdb-server copies and re-checks every referenced row
/// a transaction touches: batches of flows drawn from the whole network touch most datapaths each (75 of
/// 102 per batch of 200 at 100 switches, cost growing with switches x batches), batches in datapath order
/// one or two.
pub fn in_datapath_order(mut flows: Vec<(u64, &crate::desired::Lflow)>) -> Vec<(u64, &crate::desired::Lflow)> {
    flows.sort_unstable_by(|(ka, a), (kb, b)| a.datapath.cmp(&b.datapath).then(ka.cmp(kb)));
    flows
}

/// The transaction that turns `sb` into `desired` (empty when they agree), and the key of each
/// Logical_Flow it inserts, in order. New datapaths get their UUIDs from `ids`.
pub fn plan(desired: &Wanted<'_>, sb: &Replica, extras: &Extras, ids: &mut UuidGen) -> (Transaction, Counts, Vec<u64>) {
    let mut p = Plan { txn: Transaction::new(), counts: Counts::default(), ids };

    // SB_Global.
    match sb.table(SB_GLOBAL).next() {
        None => {
            let mut options = extras.defaults.clone();
            options.extend(extras.options.clone());
            let row = RowData::from([("options".into(), string_map(&options)), ("nb_cfg".into(), Datum::atom(extras.nb_cfg))]);
            p.insert(SB_GLOBAL, row);
        }
        Some(g) => {
            let mut options: BTreeMap<String, String> =
                g.get("options").string_pairs().into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            options.extend(extras.options.clone());
            p.update(
                SB_GLOBAL,
                g,
                RowData::from([("options".into(), string_map(&options)), ("nb_cfg".into(), Datum::atom(extras.nb_cfg))]),
            );
        }
    }

    // Datapath_Binding: NB UUID -> reference to the SB row (existing UUID or the name of the new row).
    let mut dp_ref: BTreeMap<Uuid, Atom> = BTreeMap::new();
    let mut dp_nb_of_row: BTreeMap<Uuid, Uuid> = BTreeMap::new();
    let mut stale_dps = BTreeSet::new();
    for row in sb.table(DATAPATH_BINDING) {
        match DatapathBinding::of(row).nb_identity().filter(|nb| desired.datapaths.contains_key(nb) && !dp_ref.contains_key(nb)) {
            Some(nb) => {
                let want = &desired.datapaths[&nb];
                p.update(DATAPATH_BINDING, row, dp_columns(want));
                dp_ref.insert(nb, Atom::Uuid(row.uuid));
                dp_nb_of_row.insert(row.uuid, nb);
            }
            None => {
                stale_dps.insert(row.uuid);
                p.delete(DATAPATH_BINDING, row.uuid);
            }
        }
    }
    for (nb, dp) in desired.datapaths {
        if !dp_ref.contains_key(nb) {
            let a = p.insert_with_uuid(DATAPATH_BINDING, dp_columns(dp));
            dp_ref.insert(*nb, a);
        }
    }

    // HA_Chassis_Group (with its HA_Chassis rows, replaced whole when anything in them changes).
    let chassis_uuid: BTreeMap<&str, Uuid> = sb.table(CHASSIS).map(|c| (c.str("name"), c.uuid)).collect();
    let mut ha_ref: BTreeMap<&str, Atom> = BTreeMap::new();
    let existing_ha: BTreeMap<&str, &Row> = sb.table(HA_CHASSIS_GROUP).map(|r| (r.str("name"), r)).collect();
    for (name, g) in desired.ha_groups {
        let row = existing_ha.get(name.as_str()).copied();
        let (members, n) = ha_members(&mut p.txn, g, &chassis_uuid, row.map(|r| (r, sb)));
        p.counts.inserted += n;
        match row {
            Some(row) => {
                if let Some(m) = members {
                    p.update(HA_CHASSIS_GROUP, row, RowData::from([("ha_chassis".into(), m)]));
                }
                ha_ref.insert(name.as_str(), Atom::Uuid(row.uuid));
            }
            None => {
                let m = members.unwrap_or_default();
                let a = p.insert(HA_CHASSIS_GROUP, RowData::from([("name".into(), Datum::atom(name.as_str())), ("ha_chassis".into(), m)]));
                ha_ref.insert(name.as_str(), a);
            }
        }
    }

    // Port_Binding.
    let mut pb_ref: BTreeMap<&str, Atom> = BTreeMap::new();
    let mut seen_ports = BTreeSet::new();
    for row in sb.table(PORT_BINDING) {
        let name = row.str("logical_port");
        let Some(want) = desired.ports.get(name).filter(|_| seen_ports.insert(name)) else {
            p.delete(PORT_BINDING, row.uuid);
            continue;
        };
        let mut cols = port_columns(want, &dp_ref, &ha_ref);
        // `up` belongs to ovn-controller once set; it only acts on a binding whose `up` has a value.
        if row.get("up").is_empty() {
            cols.insert("up".into(), Datum::atom(false));
        }
        p.update(PORT_BINDING, row, cols);
        pb_ref.insert(name, Atom::Uuid(row.uuid));
    }
    for (name, want) in desired.ports {
        if !pb_ref.contains_key(name.as_str()) {
            let mut row = port_columns(want, &dp_ref, &ha_ref);
            row.insert("logical_port".into(), Datum::atom(name.as_str()));
            row.insert("up".into(), Datum::atom(false));
            let a = p.insert(PORT_BINDING, row);
            pb_ref.insert(name.as_str(), a);
        }
    }

    // Multicast_Group.
    let mut seen_mc = BTreeSet::new();
    for row in sb.table(MULTICAST_GROUP) {
        let key = row.get("datapath").as_uuid().and_then(|d| dp_nb_of_row.get(&d)).map(|nb| (*nb, row.str("name").to_string()));
        match key.filter(|k| desired.mc_groups.contains_key(k) && seen_mc.insert(k.clone())) {
            Some(k) => {
                let want = &desired.mc_groups[&k];
                p.update(MULTICAST_GROUP, row, mc_columns(want, &pb_ref));
            }
            None => p.delete(MULTICAST_GROUP, row.uuid),
        }
    }
    for (k, want) in desired.mc_groups {
        if !seen_mc.contains(k) {
            let mut row = mc_columns(want, &pb_ref);
            row.insert("datapath".into(), Datum::atom(dp_ref[&want.datapath].clone()));
            row.insert("name".into(), Datum::atom(want.name.as_str()));
            p.insert(MULTICAST_GROUP, row);
        }
    }

    // Logical_Flow, matched by content (its key hash); inserted in `desired.lflows`' order, datapath by
    // datapath (see [`in_datapath_order`]).
    // (An empty Southbound, as at a first sync, has nothing to match: no set of 50,000 keys to build.)
    let want_flows: HashSet<u64, MixHash> =
        if sb.len(LOGICAL_FLOW) == 0 { HashSet::default() } else { desired.lflows.iter().map(|(k, _)| *k).collect() };
    let mut have_flows: HashSet<u64, MixHash> = HashSet::default();
    for row in sb.table(LOGICAL_FLOW) {
        let key = row.get("logical_datapath").as_uuid().and_then(|d| dp_nb_of_row.get(&d)).map(|nb| {
            crate::desired::flow_key_hash(
                *nb,
                row.str("pipeline") == "egress",
                row.get("table_id").as_i64().unwrap_or(-1),
                row.get("priority").as_i64().unwrap_or(-1),
                row.str("match"),
                row.str("actions"),
            )
        });
        match key.filter(|k| want_flows.contains(k) && !have_flows.contains(k)) {
            Some(k) => {
                have_flows.insert(k);
            }
            None => p.delete(LOGICAL_FLOW, row.uuid),
        }
    }
    let mut flow_keys = Vec::new();
    for &(k, f) in &desired.lflows {
        if !have_flows.contains(&k) {
            flow_keys.push(k);
            p.insert_unnamed(LOGICAL_FLOW, flow_columns(f, dp_ref[&f.datapath].clone()));
        }
    }

    crate::named_rows::plan_full(desired.named, sb, &mut p.txn, &mut p.counts);

    // MAC bindings learned on ports or datapaths that are gone.
    for row in sb.table(MAC_BINDING) {
        let dp_gone = row.get("datapath").as_uuid().is_some_and(|d| stale_dps.contains(&d));
        if dp_gone || !desired.ports.contains_key(row.str("logical_port")) {
            p.delete(MAC_BINDING, row.uuid);
        }
    }

    (p.txn, p.counts, flow_keys)
}

pub(crate) fn port_columns(want: &crate::desired::PortBinding, dp_ref: &BTreeMap<Uuid, Atom>, ha_ref: &BTreeMap<&str, Atom>) -> RowData {
    RowData::from([
        ("datapath".into(), Datum::atom(dp_ref[&want.datapath].clone())),
        ("type".into(), Datum::atom(want.kind.as_str())),
        ("tunnel_key".into(), Datum::atom(want.tunnel_key)),
        ("options".into(), string_map(&want.options)),
        ("mac".into(), strings(&want.mac)),
        ("port_security".into(), strings(&want.port_security)),
        ("nat_addresses".into(), strings(&want.nat_addresses)),
        ("parent_port".into(), Datum::optional(want.parent_port.as_deref())),
        ("tag".into(), Datum::optional(want.tag)),
        ("ha_chassis_group".into(), Datum::optional(want.ha_chassis_group.as_deref().and_then(|g| ha_ref.get(g).cloned()))),
    ])
}

pub(crate) fn mc_columns(want: &crate::desired::MulticastGroup, pb_ref: &BTreeMap<&str, Atom>) -> RowData {
    RowData::from([
        ("tunnel_key".into(), Datum::atom(want.tunnel_key)),
        ("ports".into(), Datum::Set(want.ports.iter().filter_map(|p| pb_ref.get(p.as_str()).cloned()).collect())),
    ])
}

pub(crate) fn dp_columns(want: &crate::desired::Datapath) -> RowData {
    RowData::from([("tunnel_key".into(), Datum::atom(want.tunnel_key)), ("external_ids".into(), string_map(&want.external_ids()))])
}

/// The columns of a `Logical_Flow` row, named once: a first sync writes tens of thousands of rows.
static FLOW_COLUMNS: std::sync::LazyLock<[ColumnName; 7]> = std::sync::LazyLock::new(|| {
    ["actions", "external_ids", "logical_datapath", "match", "pipeline", "priority", "table_id"].map(ColumnName::new)
});

/// A `Logical_Flow` row on the datapath row `dp`.
pub(crate) fn flow_columns(f: &crate::desired::Lflow, dp: Atom) -> RowData {
    let [actions, external_ids, datapath, match_, pipeline, priority, table_id] = FLOW_COLUMNS.clone();
    // In name order, so nothing needs sorting.
    RowData::from_iter([
        (actions, Datum::atom(f.actions.as_str())),
        (external_ids, Datum::map([("stage-name", f.stage.name())])),
        (datapath, Datum::atom(dp)),
        (match_, Datum::atom(f.match_.as_str())),
        (pipeline, Datum::atom(f.stage.pipeline().as_str())),
        (priority, Datum::atom(i64::from(f.priority))),
        (table_id, Datum::atom(i64::from(f.stage.table()))),
    ])
}

/// The `ha_chassis` column an HA group should have: `None` when `existing` (the group's row and the
/// replica it is in) already has exactly these members. New `HA_Chassis` rows are inserted into `txn`
/// (the group is replaced whole when anything in it changes); the count says how many.
pub(crate) fn ha_members(
    txn: &mut Transaction,
    g: &crate::desired::HaChassisGroup,
    chassis_uuid: &BTreeMap<&str, Uuid>,
    existing: Option<(&Row, &Replica)>,
) -> (Option<Datum>, usize) {
    // (chassis-name, priority, chassis row) as the rows should be.
    let want: BTreeSet<(String, i64, Option<Uuid>)> =
        g.chassis.iter().map(|(c, prio)| (c.clone(), *prio, chassis_uuid.get(c.as_str()).copied())).collect();
    if let Some((row, sb)) = existing {
        let have: BTreeSet<(String, i64, Option<Uuid>)> = row
            .get("ha_chassis")
            .uuids()
            .filter_map(|u| sb.row(HA_CHASSIS, u))
            .map(|h| {
                let cname = h.get("external_ids").get("chassis-name").and_then(Atom::as_str).unwrap_or("").to_string();
                (cname, h.get("priority").as_i64().unwrap_or(0), h.get("chassis").as_uuid())
            })
            .collect();
        if have == want {
            return (None, 0);
        }
    }
    let members: Vec<Atom> = want
        .iter()
        .map(|(c, prio, ch)| {
            txn.insert(
                HA_CHASSIS,
                RowData::from([
                    ("chassis".into(), Datum::optional(*ch)),
                    ("priority".into(), Datum::atom(*prio)),
                    ("external_ids".into(), Datum::map([("chassis-name", c.as_str())])),
                ]),
            )
        })
        .collect();
    (Some(Datum::set(members)), want.len())
}
