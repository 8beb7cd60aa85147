//! The Southbound reconciler: one transaction that makes the Southbound hold what the engine wants,
//! touching only the rows that differ, for the full sync and the incremental one alike.
//!
//! ```text
//!   SB replica ──changed rows──▶ SbIndex (identity -> row) ──▶ Touched ─┐
//!                                                                        ├─▶ identities to check ─▶ plan
//!   Engine ─────────────────────────────────────────────────▶ Delta ────┘      per table, in order:
//!                                                                              want? row?  insert / update / delete
//!
//!   full sync = a fresh engine (Delta: every desired identity) and an index learnt from empty (Touched:
//!               every Southbound row), so every identity on either side is checked once
//! ```
//! Each table northd writes is declared once ([`Table`]): how a Southbound row's identity is read (through
//! the index, for identities that name another row: a multicast group's datapath), which desired row an
//! identity has, the columns northd owns (built with their references resolved through [`Refs`]: rows
//! inserted earlier in the same transaction, else the rows the index knows) and the columns it only
//! initialises. Tables are planned in reference order (datapaths first). Logical_Flow rows are matched by
//! their content's hash and never updated: their arm only inserts and deletes, and returns the keys of its
//! inserts in datapath order (see [`in_datapath_order`]). Columns that `ovn-controller` owns
//! (`Port_Binding.chassis`, `up` once set, ...) are never written; rows of ours that no identity claims (a
//! flow on a datapath that is not ours, a second row of one identity) are deleted. The tables of
//! [`crate::named_rows`] are declared with `named_table!`. `MAC_Binding` is not northd's, but its rows on
//! ports or datapaths that are gone are deleted with them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;

use model::ovsdb::transact::{ColumnName, Condition, Mutation, RowData, Transaction};
use model::ovsdb::{Atom, Datum, MixHash, Replica, Row, Uuid, UuidGen, UuidMap, UuidSet};
use model::sb::table::*;
use model::sb::{
    self, Chassis, DatapathBinding, HaChassis, HaChassisGroup, LogicalFlow, MacBinding, MulticastGroup, PortBinding, SbGlobal, SbView,
};

use crate::desired::{self, flow_key_hash, Lflow};
use crate::named_rows::{self, NamedTable};
use crate::sync::{string_map, Counts, Extras};
use crate::translate::engine::{Delta, Engine};

/// What the engine wants, by identity (the [`Engine`]; tests give a plain [`desired::DesiredSb`]).
pub trait Desired {
    fn datapath(&self, nb: &Uuid) -> Option<&desired::Datapath>;
    fn port(&self, name: &str) -> Option<&desired::PortBinding>;
    fn mc_group(&self, key: &(Uuid, String)) -> Option<&desired::MulticastGroup>;
    fn ha_group(&self, name: &str) -> Option<&desired::HaChassisGroup>;
    fn ha_names(&self) -> Vec<&str>;
    fn named(&self, key: &named_rows::Key) -> Option<&named_rows::Values>;
    /// The flow with this [`Lflow::key_hash`].
    fn flow(&self, key: u64) -> Option<&Lflow>;
}

impl Desired for Engine {
    fn datapath(&self, nb: &Uuid) -> Option<&desired::Datapath> {
        self.desired_dp(nb)
    }
    fn port(&self, name: &str) -> Option<&desired::PortBinding> {
        self.desired_port(name)
    }
    fn mc_group(&self, key: &(Uuid, String)) -> Option<&desired::MulticastGroup> {
        self.desired_mc(key)
    }
    fn ha_group(&self, name: &str) -> Option<&desired::HaChassisGroup> {
        self.desired_ha(name)
    }
    fn ha_names(&self) -> Vec<&str> {
        Engine::ha_names(self).collect()
    }
    fn named(&self, key: &named_rows::Key) -> Option<&named_rows::Values> {
        self.desired_named(key)
    }
    fn flow(&self, key: u64) -> Option<&Lflow> {
        Engine::flow(self, key)
    }
}

/// Rows of one table by identity, and back.
#[derive(Debug, Clone)]
pub struct Rows<Id> {
    row: HashMap<Id, Uuid>,
    id: UuidMap<Id>,
}

impl<Id> Default for Rows<Id> {
    fn default() -> Self {
        Rows { row: HashMap::new(), id: UuidMap::default() }
    }
}

impl<Id: Clone + Eq + Hash> Rows<Id> {
    pub fn get(&self, id: &Id) -> Option<Uuid> {
        self.row.get(id).copied()
    }

    /// Forgets row `u`; returns the identity it had.
    fn forget(&mut self, u: Uuid) -> Option<Id> {
        let id = self.id.remove(&u)?;
        self.row.remove(&id);
        Some(id)
    }

    /// Learns that row `u` has identity `id`; false when another row has it already (`u` is a duplicate).
    fn learn(&mut self, id: Id, u: Uuid) -> bool {
        if self.row.get(&id).is_some_and(|r| *r != u) {
            return false;
        }
        self.row.insert(id.clone(), u);
        self.id.insert(u, id);
        true
    }
}

/// How a table's inserts are named in the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// A UUID chosen here: rows of later batches of a split write refer to it (every flow of a new datapath).
    Chosen,
    /// A named UUID, for references within the transaction.
    Named,
    /// No name: nothing refers to the row.
    Unreferenced,
}

/// One Southbound table northd writes, declared once.
trait Table {
    const TABLE: &'static str;
    const NAMING: Naming;
    type Id: Clone + Eq + Hash + Ord + std::fmt::Debug;
    type Want;
    /// The identity of a Southbound row, `None` for a row of this table that is not one of ours.
    fn identity(row: &Row, ix: &SbIndex) -> Option<Self::Id>;
    fn want<'e>(d: &'e impl Desired, id: &Self::Id) -> Option<&'e Self::Want>;
    /// The columns northd owns, references resolved; `None` while a row it must refer to does not exist.
    /// `existing` is the row as it is, for tables whose columns are rows of their own (HA groups).
    fn columns(cx: &mut Cx<'_>, id: &Self::Id, want: &Self::Want, existing: Option<&Row>) -> Option<RowData>;
    /// Columns written on insert and whenever empty, and owned by someone else once set.
    fn initial() -> RowData {
        RowData::new()
    }
    fn rows(ix: &SbIndex) -> &Rows<Self::Id>;
    fn rows_mut(ix: &mut SbIndex) -> &mut Rows<Self::Id>;
    fn touched(t: &mut Touched) -> &mut BTreeSet<Self::Id>;
    /// Where later tables find this table's inserts.
    fn inserted(_refs: &mut Refs<'_>, _id: &Self::Id, _row: Atom) {}
    /// Brings an existing row in line some cheaper way than writing [`Table::columns`] whole; false
    /// when the table has none (the default).
    fn mutate(_cx: &mut Cx<'_>, _want: &Self::Want, _row: &Row) -> bool {
        false
    }
}

/// A table's fields: its rows in [`SbIndex`] and [`Touched`], and (for a table other rows refer to) its
/// inserts in [`Refs`], each named after the table.
macro_rules! fields {
    ($f:ident) => {
        fn rows(ix: &SbIndex) -> &Rows<Self::Id> {
            &ix.$f
        }
        fn rows_mut(ix: &mut SbIndex) -> &mut Rows<Self::Id> {
            &mut ix.$f
        }
        fn touched(t: &mut Touched) -> &mut BTreeSet<Self::Id> {
            &mut t.$f
        }
    };
    ($f:ident, referenced) => {
        fields!($f);
        fn inserted(refs: &mut Refs<'_>, id: &Self::Id, row: Atom) {
            refs.$f.insert(id.clone(), row);
        }
    };
}

struct Datapaths;
struct Ports;
struct McGroups;
struct HaGroups;

impl Table for Datapaths {
    const TABLE: &'static str = DATAPATH_BINDING;
    const NAMING: Naming = Naming::Chosen;
    type Id = Uuid;
    type Want = desired::Datapath;
    fn identity(row: &Row, _: &SbIndex) -> Option<Uuid> {
        DatapathBinding::of(row).nb_identity()
    }
    fn want<'e>(d: &'e impl Desired, id: &Uuid) -> Option<&'e desired::Datapath> {
        d.datapath(id)
    }
    fn columns(_: &mut Cx<'_>, _: &Uuid, want: &desired::Datapath, _: Option<&Row>) -> Option<RowData> {
        Some(RowData::from([
            ("tunnel_key".into(), Datum::atom(want.tunnel_key)),
            ("external_ids".into(), string_map(&want.external_ids())),
        ]))
    }
    fields!(datapaths, referenced);
}

impl Table for HaGroups {
    const TABLE: &'static str = HA_CHASSIS_GROUP;
    const NAMING: Naming = Naming::Named;
    type Id = String;
    type Want = desired::HaChassisGroup;
    fn identity(row: &Row, _: &SbIndex) -> Option<String> {
        Some(HaChassisGroup::of(row).name().to_string())
    }
    fn want<'e>(d: &'e impl Desired, id: &String) -> Option<&'e desired::HaChassisGroup> {
        d.ha_group(id)
    }
    /// The group's `HA_Chassis` rows are replaced whole when anything in them changes.
    fn columns(cx: &mut Cx<'_>, id: &String, want: &desired::HaChassisGroup, existing: Option<&Row>) -> Option<RowData> {
        let mut cols = RowData::from([("name".into(), Datum::atom(id.as_str()))]);
        if let Some(members) = cx.ha_members(want, existing) {
            cols.insert("ha_chassis".into(), members);
        }
        Some(cols)
    }
    fields!(ha_groups, referenced);
}

impl Table for Ports {
    const TABLE: &'static str = PORT_BINDING;
    const NAMING: Naming = Naming::Named;
    type Id = String;
    type Want = desired::PortBinding;
    fn identity(row: &Row, _: &SbIndex) -> Option<String> {
        Some(PortBinding::of(row).logical_port().to_string())
    }
    fn want<'e>(d: &'e impl Desired, id: &String) -> Option<&'e desired::PortBinding> {
        d.port(id)
    }
    fn columns(cx: &mut Cx<'_>, id: &String, want: &desired::PortBinding, _: Option<&Row>) -> Option<RowData> {
        let datapath = cx.refs.datapath(&want.datapath)?;
        let ha = want.ha_chassis_group.as_deref().and_then(|g| cx.refs.ha_group(g));
        Some(RowData::from([
            ("logical_port".into(), Datum::atom(id.as_str())),
            ("datapath".into(), Datum::atom(datapath)),
            ("type".into(), Datum::atom(want.kind.as_str())),
            ("tunnel_key".into(), Datum::atom(want.tunnel_key)),
            ("options".into(), string_map(&want.options)),
            ("mac".into(), strings(&want.mac)),
            ("port_security".into(), strings(&want.port_security)),
            ("nat_addresses".into(), strings(&want.nat_addresses)),
            ("parent_port".into(), Datum::optional(want.parent_port.as_deref())),
            ("tag".into(), Datum::optional(want.tag)),
            ("ha_chassis_group".into(), Datum::optional(ha)),
        ]))
    }
    /// `up` belongs to ovn-controller once set; it only acts on a binding whose `up` has a value.
    fn initial() -> RowData {
        RowData::from([("up".into(), Datum::atom(false))])
    }
    fields!(ports, referenced);
}

impl Table for McGroups {
    const TABLE: &'static str = MULTICAST_GROUP;
    const NAMING: Naming = Naming::Named;
    type Id = (Uuid, String);
    type Want = desired::MulticastGroup;
    fn identity(row: &Row, ix: &SbIndex) -> Option<(Uuid, String)> {
        let mc = MulticastGroup::of(row);
        Some((ix.datapaths.id.get(&mc.datapath()?).copied()?, mc.name().to_string()))
    }
    fn want<'e>(d: &'e impl Desired, id: &(Uuid, String)) -> Option<&'e desired::MulticastGroup> {
        d.mc_group(id)
    }
    fn columns(cx: &mut Cx<'_>, _: &(Uuid, String), want: &desired::MulticastGroup, _: Option<&Row>) -> Option<RowData> {
        let datapath = cx.refs.datapath(&want.datapath)?;
        Some(RowData::from([
            ("datapath".into(), Datum::atom(datapath)),
            ("name".into(), Datum::atom(want.name.as_str())),
            ("tunnel_key".into(), Datum::atom(want.tunnel_key)),
            ("ports".into(), Datum::Set(want.ports.iter().filter_map(|p| cx.refs.port(p)).collect())),
        ]))
    }
    /// An existing group's `ports` are mutated by the members that differ, not rewritten: a switch's
    /// `_MC_flood` has a member per port, a pod added to a big switch changes one, and the Southbound
    /// server's cost of an update grows with the whole set while a mutate's grows with the change (the
    /// README's benchmark section has the numbers). The comparison here is a hash lookup per member and
    /// builds nothing when the group is as wanted, e.g. at the echo of our own write.
    fn mutate(cx: &mut Cx<'_>, want: &desired::MulticastGroup, row: &Row) -> bool {
        let have = row.get("ports");
        let mut wanted = model::ovsdb::UuidSet::default();
        let mut added: Vec<Atom> = Vec::new();
        for p in &want.ports {
            match cx.refs.port(p) {
                Some(Atom::Uuid(u)) => {
                    wanted.insert(u);
                    if !have.contains(&Atom::Uuid(u)) {
                        added.push(Atom::Uuid(u));
                    }
                }
                // A binding inserted by this very transaction.
                Some(a) => added.push(a),
                None => {}
            }
        }
        let removed: Vec<Atom> = have.uuids().filter(|u| !wanted.contains(u)).map(Atom::Uuid).collect();
        let mut mutations = Vec::new();
        if !removed.is_empty() {
            mutations.push(Mutation::delete("ports", Datum::Set(removed.into_iter().collect())));
        }
        if !added.is_empty() {
            mutations.push(Mutation::insert("ports", Datum::Set(added.into_iter().collect())));
        }
        if !mutations.is_empty() {
            cx.counts.updated += 1;
            cx.txn.mutate(MULTICAST_GROUP, vec![Condition::uuid(row.uuid)], mutations);
        }
        if let Some(datapath) = cx.refs.datapath(&want.datapath) {
            let cols = RowData::from([
                ("datapath".into(), Datum::atom(datapath)),
                ("name".into(), Datum::atom(want.name.as_str())),
                ("tunnel_key".into(), Datum::atom(want.tunnel_key)),
            ]);
            cx.update(MULTICAST_GROUP, row, cols);
        }
        true
    }
    fields!(mc_groups);
}

/// Declares a table of [`named_rows`]: rows keyed by `name`, owned whole, referring to nothing.
macro_rules! named_table {
    ($ty:ident, $decl:path, $field:ident) => {
        struct $ty;

        impl Table for $ty {
            const TABLE: &'static str = $decl.table;
            const NAMING: Naming = Naming::Unreferenced;
            type Id = String;
            type Want = named_rows::Values;
            fn identity(row: &Row, _: &SbIndex) -> Option<String> {
                row.get("name").as_str().map(str::to_string)
            }
            fn want<'e>(d: &'e impl Desired, id: &String) -> Option<&'e named_rows::Values> {
                d.named(&($decl.table, id.clone()))
            }
            fn columns(_: &mut Cx<'_>, id: &String, want: &named_rows::Values, _: Option<&Row>) -> Option<RowData> {
                const DECL: &NamedTable = &$decl;
                let mut row = DECL.row(want);
                row.insert("name".into(), Datum::atom(id.as_str()));
                Some(row)
            }
            fields!($field);
        }
    };
}

named_table!(AddressSets, named_rows::ADDRESS_SET, address_sets);
named_table!(PortGroups, named_rows::PORT_GROUP, port_groups);

/// The names of table `T`'s rows in `delta` or `touched`.
fn named_ids<'a, T: Table<Id = String>>(delta: &'a Delta, touched: &'a BTreeSet<String>) -> BTreeSet<&'a String> {
    let rows = delta.named.range((T::TABLE, String::new())..).take_while(|(t, _)| *t == T::TABLE).map(|(_, n)| n);
    rows.chain(touched).collect()
}

fn strings(v: &[String]) -> Datum {
    Datum::set(v.iter().map(String::as_str))
}

/// References to rows of other tables: those inserted earlier in this transaction, else those the index
/// knows.
pub struct Refs<'a> {
    ix: &'a SbIndex,
    datapaths: HashMap<Uuid, Atom>,
    ports: HashMap<String, Atom>,
    ha_groups: HashMap<String, Atom>,
}

impl Refs<'_> {
    fn datapath(&self, nb: &Uuid) -> Option<Atom> {
        self.datapaths.get(nb).cloned().or_else(|| self.ix.datapaths.get(nb).map(Atom::Uuid))
    }
    fn port(&self, name: &str) -> Option<Atom> {
        self.ports.get(name).cloned().or_else(|| self.ix.ports.row.get(name).map(|u| Atom::Uuid(*u)))
    }
    fn ha_group(&self, name: &str) -> Option<Atom> {
        self.ha_groups.get(name).cloned().or_else(|| self.ix.ha_groups.row.get(name).map(|u| Atom::Uuid(*u)))
    }
}

/// What planning a table works with: the transaction being built, the replica, the references.
struct Cx<'a> {
    txn: Transaction,
    counts: Counts,
    /// The daemon's generator of client-chosen UUIDs (the one that also names the rows of a split write).
    ids: &'a mut UuidGen,
    sb: &'a Replica,
    refs: Refs<'a>,
    /// Chassis rows by name, read once a round when an HA group is checked.
    chassis: Option<BTreeMap<&'a str, Uuid>>,
}

impl Cx<'_> {
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

    /// The `ha_chassis` column a group should have, its new `HA_Chassis` rows inserted; `None` when
    /// `existing` has exactly these members already.
    fn ha_members(&mut self, g: &desired::HaChassisGroup, existing: Option<&Row>) -> Option<Datum> {
        let sb = self.sb;
        let chassis = self.chassis.get_or_insert_with(|| sb::rows::<Chassis>(sb).map(|c| (c.name(), c.uuid())).collect());
        // (chassis-name, priority, chassis row) as the rows should be.
        let want: BTreeSet<(&str, i64, Option<Uuid>)> =
            g.chassis.iter().map(|(c, prio)| (c.as_str(), *prio, chassis.get(c.as_str()).copied())).collect();
        if let Some(row) = existing {
            let have: BTreeSet<(&str, i64, Option<Uuid>)> = HaChassisGroup::of(row)
                .ha_chassis()
                .uuids()
                .filter_map(|u| sb::row::<HaChassis>(sb, u))
                .map(|h| (h.external_ids().get("chassis-name").unwrap_or(""), h.priority().unwrap_or(0), h.chassis()))
                .collect();
            if have == want {
                return None;
            }
        }
        let members: Vec<Atom> = want
            .iter()
            .map(|(c, prio, ch)| {
                self.counts.inserted += 1;
                self.txn.insert(
                    HA_CHASSIS,
                    RowData::from([
                        ("chassis".into(), Datum::optional(*ch)),
                        ("priority".into(), Datum::atom(*prio)),
                        ("external_ids".into(), Datum::map([("chassis-name", *c)])),
                    ]),
                )
            })
            .collect();
        Some(Datum::set(members))
    }

    /// Brings the rows of `ids` of table `T` in line with `d`; returns the identities whose rows it deleted.
    fn reconcile<'i, T: Table + 'i>(&mut self, d: &impl Desired, ids: impl IntoIterator<Item = &'i T::Id>) -> Vec<&'i T::Id> {
        let mut deleted = Vec::new();
        let sb = self.sb;
        for id in ids {
            let row = T::rows(self.refs.ix).get(id).and_then(|u| sb.row(T::TABLE, u));
            match (T::want(d, id), row) {
                (Some(want), Some(row)) if T::mutate(self, want, row) => {}
                (Some(want), row) => {
                    let Some(mut cols) = T::columns(self, id, want, row) else { continue };
                    match row {
                        Some(row) => {
                            cols.extend(T::initial().into_iter().filter(|(c, _)| row.get(c).is_empty()));
                            self.update(T::TABLE, row, cols);
                        }
                        None => {
                            cols.extend(T::initial());
                            self.counts.inserted += 1;
                            let a = match T::NAMING {
                                Naming::Chosen => {
                                    let uuid = self.ids.generate();
                                    self.txn.insert_with_uuid(T::TABLE, cols, uuid)
                                }
                                Naming::Named => self.txn.insert(T::TABLE, cols),
                                Naming::Unreferenced => {
                                    self.txn.insert_unnamed(T::TABLE, cols);
                                    continue;
                                }
                            };
                            T::inserted(&mut self.refs, id, a);
                        }
                    }
                }
                (None, Some(row)) => {
                    self.delete(T::TABLE, row.uuid);
                    deleted.push(id);
                }
                (None, None) => {}
            }
        }
        deleted
    }
}

/// Flows sorted by datapath (then key, so the order is the same every run). Each insert into Logical_Flow
/// adds a reference to its Datapath_Binding row, and ovsdb-server copies and re-checks every referenced row
/// a transaction touches: batches of flows drawn from the whole network touch most datapaths each (75 of
/// 102 per batch of 200 at 100 switches, cost growing with switches x batches), batches in datapath order
/// one or two.
pub fn in_datapath_order(mut flows: Vec<(u64, &Lflow)>) -> Vec<(u64, &Lflow)> {
    flows.sort_unstable_by(|(ka, a), (kb, b)| a.datapath.cmp(&b.datapath).then(ka.cmp(kb)));
    flows
}

/// The columns of a `Logical_Flow` row, named once: a first sync writes tens of thousands of rows.
static FLOW_COLUMNS: std::sync::LazyLock<[ColumnName; 7]> = std::sync::LazyLock::new(|| {
    ["actions", "external_ids", "logical_datapath", "match", "pipeline", "priority", "table_id"].map(ColumnName::new)
});

/// A `Logical_Flow` row on the datapath row `dp`.
fn flow_columns(f: &Lflow, dp: Atom) -> RowData {
    let [actions, external_ids, datapath, match_, pipeline, priority, table_id] = FLOW_COLUMNS.clone();
    // In name order, so nothing needs sorting.
    RowData::from_iter([
        (actions, Datum::atom(f.actions.as_str())),
        (external_ids, Datum::map([("source", f.source_text().as_str()), ("stage-name", f.stage.name())])),
        (datapath, Datum::atom(dp)),
        (match_, Datum::atom(f.match_.as_str())),
        (pipeline, Datum::atom(f.stage.pipeline().as_str())),
        (priority, Datum::atom(i64::from(f.priority))),
        (table_id, Datum::atom(i64::from(f.stage.table()))),
    ])
}

/// The transaction for one round (empty when the Southbound agrees): every identity in `delta` (what the
/// engine recomputed) or `touched` (Southbound rows that changed) is checked against `d`. Returns it with
/// its counts and the key of each Logical_Flow it inserts, in order. New datapaths get their UUIDs from
/// `ids`.
pub fn plan(
    d: &impl Desired,
    delta: &Delta,
    touched: &Touched,
    sb: &Replica,
    ix: &SbIndex,
    extras: &Extras,
    ids: &mut UuidGen,
) -> (Transaction, Counts, Vec<u64>) {
    let refs = Refs { ix, datapaths: HashMap::new(), ports: HashMap::new(), ha_groups: HashMap::new() };
    let mut cx = Cx { txn: Transaction::new(), counts: Counts::default(), ids, sb, refs, chassis: None };

    // SB_Global: the options northd owns and `nb_cfg` (the other options are left as they are).
    let global = sb::rows::<SbGlobal>(sb).next();
    let mut options = global.map_or_else(|| extras.defaults.clone(), |g| g.options().to_map());
    options.extend(extras.options.clone());
    let row = RowData::from([("options".into(), string_map(&options)), ("nb_cfg".into(), Datum::atom(extras.nb_cfg))]);
    match global {
        Some(g) => cx.update(SB_GLOBAL, g.row(), row),
        None => {
            cx.counts.inserted += 1;
            cx.txn.insert_unnamed(SB_GLOBAL, row);
        }
    }

    for u in &touched.strays {
        cx.delete(u.0, u.1);
    }

    // In reference order: each table's rows may refer to rows the tables before it insert.
    let gone_dps = cx.reconcile::<Datapaths>(d, delta.datapaths.union(&touched.datapaths)).len();
    let ha_all: Vec<String> = if touched.ha_all {
        let mut names: BTreeSet<String> = d.ha_names().into_iter().map(str::to_string).collect();
        names.extend(ix.ha_groups.row.keys().cloned());
        names.into_iter().collect()
    } else {
        Vec::new()
    };
    cx.reconcile::<HaGroups>(d, delta.ha_groups.iter().chain(&touched.ha_groups).chain(&ha_all).collect::<BTreeSet<_>>());
    let gone_ports = cx.reconcile::<Ports>(d, delta.ports.union(&touched.ports));
    cx.reconcile::<McGroups>(d, delta.mc_groups.union(&touched.mc_groups));

    let flow_keys = plan_flows(&mut cx, d, delta, touched);

    cx.reconcile::<AddressSets>(d, named_ids::<AddressSets>(delta, &touched.address_sets));
    cx.reconcile::<PortGroups>(d, named_ids::<PortGroups>(delta, &touched.port_groups));

    // MAC bindings learned on ports that are gone or were never ours, or on datapaths that are gone.
    let mut stale_macs: BTreeSet<Uuid> = BTreeSet::new();
    for port in gone_ports {
        stale_macs.extend(ix.macs.get(port.as_str()).into_iter().flatten());
    }
    for u in &touched.mac_bindings {
        if sb::row::<MacBinding>(sb, *u).is_some_and(|m| d.port(m.logical_port()).is_none()) {
            stale_macs.insert(*u);
        }
    }
    if gone_dps > 0 || touched.strays.iter().any(|(t, _)| *t == DATAPATH_BINDING) {
        let dp_gone = |m: &MacBinding| m.datapath().is_none_or(|u| ix.datapaths.id.get(&u).is_none_or(|nb| d.datapath(nb).is_none()));
        stale_macs.extend(sb::rows::<MacBinding>(sb).filter(dp_gone).map(|m| m.uuid()));
    }
    for u in stale_macs {
        cx.delete(MAC_BINDING, u);
    }

    (cx.txn, cx.counts, flow_keys)
}

/// Logical_Flow, matched by content (its key hash): a flow the engine added or the Southbound changed is
/// inserted when missing, one no longer wanted is deleted. Inserts go in datapath order
/// ([`in_datapath_order`]); their keys are returned in that order.
fn plan_flows(cx: &mut Cx<'_>, d: &impl Desired, delta: &Delta, touched: &Touched) -> Vec<u64> {
    let ix = cx.refs.ix;
    let mut new_flows = Vec::with_capacity(delta.added.len());
    let mut deleted: HashSet<u64, MixHash> = HashSet::default();
    for &k in delta.added.iter().chain(&touched.flows).chain(&delta.removed) {
        match (d.flow(k), ix.flows.get(&k)) {
            (Some(f), None) => new_flows.push((k, f)),
            (None, Some(u)) if deleted.insert(k) => cx.delete(LOGICAL_FLOW, *u),
            _ => {}
        }
    }
    let mut new_flows = in_datapath_order(new_flows);
    // A key both added and touched is listed twice; sorted, the two are neighbours.
    new_flows.dedup_by_key(|(k, _)| *k);
    let mut keys = Vec::with_capacity(new_flows.len());
    for (k, f) in new_flows {
        let Some(dp) = cx.refs.datapath(&f.datapath) else { continue };
        cx.counts.inserted += 1;
        keys.push(k);
        cx.txn.insert_unnamed(LOGICAL_FLOW, flow_columns(f, dp));
    }
    keys
}

/// The tables [`SbIndex`] follows, in the order it reads their changes (datapaths first: the rest refer
/// to them).
const INDEXED: [&str; 8] =
    [DATAPATH_BINDING, PORT_BINDING, MULTICAST_GROUP, HA_CHASSIS_GROUP, LOGICAL_FLOW, MAC_BINDING, ADDRESS_SET, PORT_GROUP];

/// Southbound rows by their identity, kept current from the replica's change sets.
#[derive(Debug, Clone, Default)]
pub struct SbIndex {
    datapaths: Rows<Uuid>,
    ports: Rows<String>,
    mc_groups: Rows<(Uuid, String)>,
    ha_groups: Rows<String>,
    /// Logical_Flow rows by [`Lflow::key_hash`].
    flows: HashMap<u64, Uuid, MixHash>,
    flow_of: UuidMap<u64>,
    /// MAC_Binding rows by logical port.
    macs: HashMap<String, UuidSet>,
    mac_port: UuidMap<String>,
    /// Rows northd inserted (outside Logical_Flow) whose echo has not been followed yet ([`SbIndex::expect_own`]).
    own: UuidSet,
    address_sets: Rows<String>,
    port_groups: Rows<String>,
}

/// Southbound identities whose rows changed since the last round.
#[derive(Debug, Clone, Default)]
pub struct Touched {
    pub datapaths: BTreeSet<Uuid>,
    pub ports: BTreeSet<String>,
    pub mc_groups: BTreeSet<(Uuid, String)>,
    pub ha_groups: BTreeSet<String>,
    /// Logical flows by key hash.
    pub flows: BTreeSet<u64>,
    /// MAC_Binding rows inserted or changed.
    pub mac_bindings: BTreeSet<Uuid>,
    /// Rows of ours that no identity claims (a flow or group on a datapath that is not ours, a second row
    /// of one identity): deleted.
    pub strays: BTreeSet<(&'static str, Uuid)>,
    /// Chassis or HA rows changed: every HA group is checked.
    pub ha_all: bool,
    pub address_sets: BTreeSet<String>,
    pub port_groups: BTreeSet<String>,
}

impl SbIndex {
    /// An index of every row of `sb`, and those rows' identities: everything, for a full sync.
    pub fn build(sb: &Replica) -> (SbIndex, Touched) {
        let mut ix = SbIndex::default();
        let all: BTreeMap<String, BTreeSet<Uuid>> =
            INDEXED.iter().copied().chain([HA_CHASSIS, CHASSIS]).map(|t| (t.to_string(), sb.table(t).map(|r| r.uuid).collect())).collect();
        let touched = ix.apply(sb, &all, &BTreeMap::new());
        (ix, touched)
    }

    /// Follows the replica's changes (datapaths first: flows and groups refer to them), and says which
    /// identities they touched: the sync checks those again, which repairs rows someone else changed.
    /// The echo of a row northd inserted itself ([`SbIndex::expect_own`]) that is in `inserted` (its one
    /// change was that insert: [`Replica::take_changes_and_inserts`]) is the row as written, and is
    /// learnt without being checked: after a first sync, that check was every Port_Binding again (60 ms
    /// at 100x100).
    pub fn apply(
        &mut self,
        sb: &Replica,
        changes: &BTreeMap<String, BTreeSet<Uuid>>,
        inserted: &BTreeMap<String, BTreeSet<Uuid>>,
    ) -> Touched {
        let mut touched = Touched { ha_all: [HA_CHASSIS, CHASSIS].iter().any(|t| changes.contains_key(*t)), ..Touched::default() };
        let mut unchecked = Touched::default();
        for t in INDEXED {
            let Some(uuids) = changes.get(t) else { continue };
            let only_inserted = inserted.get(t);
            let written: UuidSet =
                uuids.iter().filter(|u| self.own.remove(u) && only_inserted.is_some_and(|i| i.contains(u))).copied().collect();
            // Every changed row is forgotten before any is learnt: a row that takes over the identity of a row
            // deleted in the same change is not a duplicate.
            for learn in [false, true] {
                for u in uuids {
                    let sink = if written.contains(u) { &mut unchecked } else { &mut touched };
                    let row = if learn { sb.row(t, *u) } else { None };
                    if learn && row.is_none() {
                        continue;
                    }
                    match t {
                        DATAPATH_BINDING => self.follow::<Datapaths>(*u, row, sink),
                        PORT_BINDING => self.follow::<Ports>(*u, row, sink),
                        MULTICAST_GROUP => self.follow::<McGroups>(*u, row, sink),
                        HA_CHASSIS_GROUP => self.follow::<HaGroups>(*u, row, sink),
                        LOGICAL_FLOW => self.follow_flow(*u, row, sink),
                        ADDRESS_SET => self.follow::<AddressSets>(*u, row, sink),
                        PORT_GROUP => self.follow::<PortGroups>(*u, row, sink),
                        _ => self.follow_mac(*u, row, sink),
                    }
                }
            }
        }
        touched.strays.extend(unchecked.strays);
        touched
    }

    /// Says that northd inserted these rows: their echo, when nothing changed them after their insert,
    /// need not be checked against what the engine wants (see [`SbIndex::apply`]).
    /// Rows of tables the index does not follow are left out (they would never be taken back out).
    pub fn expect_own<'a>(&mut self, rows: impl IntoIterator<Item = (&'a str, Uuid)>) {
        self.own.extend(rows.into_iter().filter(|(t, _)| INDEXED.contains(t)).map(|(_, u)| u));
    }

    /// The Port_Binding row of logical port `name`.
    pub fn port_row(&self, name: &str) -> Option<Uuid> {
        self.ports.row.get(name).copied()
    }

    /// Learns Logical_Flow rows northd inserted itself, by the keys it planned them with: they are
    /// recorded in the replica without being reported as changes (see `model::ovsdb::own_rows`).
    pub fn learn_own_flows(&mut self, flows: impl IntoIterator<Item = (Uuid, u64)>) {
        for (u, k) in flows {
            self.flows.insert(k, u);
            self.flow_of.insert(u, k);
        }
    }

    /// Follows one changed row of a declared table: forgets it (`row` is `None`), or learns it as it is now.
    fn follow<T: Table>(&mut self, u: Uuid, row: Option<&Row>, touched: &mut Touched) {
        let Some(row) = row else {
            if let Some(id) = T::rows_mut(self).forget(u) {
                T::touched(touched).insert(id);
            }
            return;
        };
        match T::identity(row, self) {
            Some(id) if T::rows_mut(self).learn(id.clone(), u) => drop(T::touched(touched).insert(id)),
            _ => drop(touched.strays.insert((T::TABLE, u))),
        }
    }

    fn follow_flow(&mut self, u: Uuid, row: Option<&Row>, touched: &mut Touched) {
        let Some(row) = row else {
            if let Some(k) = self.flow_of.remove(&u) {
                self.flows.remove(&k);
                touched.flows.insert(k);
            }
            return;
        };
        let f = LogicalFlow::of(row);
        // Ours always name one of our datapaths; anyone else's row goes.
        let Some(nb) = f.logical_datapath().and_then(|d| self.datapaths.id.get(&d)) else {
            touched.strays.insert((LOGICAL_FLOW, u));
            return;
        };
        let k = flow_key_hash(*nb, f.is_egress(), f.table_id().unwrap_or(-1), f.priority().unwrap_or(-1), f.match_(), f.actions());
        if self.flows.get(&k).is_some_and(|r| *r != u) {
            touched.strays.insert((LOGICAL_FLOW, u));
            return;
        }
        self.flows.insert(k, u);
        self.flow_of.insert(u, k);
        touched.flows.insert(k);
    }

    fn follow_mac(&mut self, u: Uuid, row: Option<&Row>, touched: &mut Touched) {
        let Some(row) = row else {
            if let Some(port) = self.mac_port.remove(&u) {
                if let Some(set) = self.macs.get_mut(&port) {
                    set.remove(&u);
                    if set.is_empty() {
                        self.macs.remove(&port);
                    }
                }
            }
            return;
        };
        let port = MacBinding::of(row).logical_port();
        self.macs.entry(port.to_string()).or_default().insert(u);
        self.mac_port.insert(u, port.to_string());
        touched.mac_bindings.insert(u);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use model::ovsdb::transact::Operation;
    use model::ovsdb::DatabaseSchema;
    use serde_json::{json, Value};

    use super::*;
    use crate::desired::DesiredSb;
    use crate::stage::{DpKind, Stage};

    /// A desired Southbound as the reconciler reads it.
    struct Want(DesiredSb);

    impl Desired for Want {
        fn datapath(&self, nb: &Uuid) -> Option<&desired::Datapath> {
            self.0.datapaths.get(nb)
        }
        fn port(&self, name: &str) -> Option<&desired::PortBinding> {
            self.0.ports.get(name)
        }
        fn mc_group(&self, key: &(Uuid, String)) -> Option<&desired::MulticastGroup> {
            self.0.mc_groups.get(key)
        }
        fn ha_group(&self, name: &str) -> Option<&desired::HaChassisGroup> {
            self.0.ha_groups.get(name)
        }
        fn ha_names(&self) -> Vec<&str> {
            self.0.ha_groups.keys().map(String::as_str).collect()
        }
        fn named(&self, key: &named_rows::Key) -> Option<&named_rows::Values> {
            self.0.named.get(key)
        }
        fn flow(&self, key: u64) -> Option<&Lflow> {
            self.0.lflows.iter().find(|f| f.key_hash() == key)
        }
    }

    impl Want {
        /// Every desired identity: what a fresh engine reports.
        fn all(&self) -> Delta {
            Delta {
                added: self.0.lflows.iter().map(Lflow::key_hash).collect(),
                datapaths: self.0.datapaths.keys().copied().collect(),
                ports: self.0.ports.keys().cloned().collect(),
                mc_groups: self.0.mc_groups.keys().cloned().collect(),
                ha_groups: self.0.ha_groups.keys().cloned().collect(),
                named: self.0.named.keys().cloned().collect(),
                ..Delta::default()
            }
        }
    }

    const SW: Uuid = Uuid(0x5157);

    fn port(name: &str, key: i64) -> desired::PortBinding {
        desired::PortBinding {
            logical_port: name.to_string(),
            datapath: SW,
            kind: String::new(),
            tunnel_key: key,
            options: BTreeMap::new(),
            mac: vec![format!("00:00:00:00:00:0{key} 10.0.0.{key}")],
            port_security: Vec::new(),
            nat_addresses: Vec::new(),
            parent_port: None,
            tag: None,
            ha_chassis_group: None,
        }
    }

    /// A switch with ports p1 and p2 (p2 in HA group "g"), both in `_MC_flood`, a flow and an address set.
    fn network() -> Want {
        let mut d = DesiredSb::default();
        d.datapaths.insert(SW, desired::Datapath { nb_uuid: SW, kind: DpKind::Switch, name: "sw".into(), tunnel_key: 1 });
        d.ports.insert("p1".into(), port("p1", 1));
        d.ports.insert("p2".into(), desired::PortBinding { ha_chassis_group: Some("g".into()), ..port("p2", 2) });
        d.ha_groups.insert("g".into(), desired::HaChassisGroup { name: "g".into(), chassis: BTreeMap::from([("ch1".into(), 10)]) });
        let flood = desired::MulticastGroup {
            datapath: SW,
            name: "_MC_flood".into(),
            tunnel_key: 32768,
            ports: BTreeSet::from(["p1".into(), "p2".into()]),
        };
        d.mc_groups.insert((SW, "_MC_flood".into()), flood);
        d.flow(SW, Stage::ALL[0], 100, "1", "next;");
        d.named.insert((named_rows::ADDRESS_SET.table, "as1".into()), vec![Datum::set(["10.0.0.1"])]);
        Want(d)
    }

    fn replica() -> Replica {
        const SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";
        let text = std::fs::read_to_string(SCHEMA).unwrap_or_else(|e| panic!("{SCHEMA}: {e}"));
        Replica::new(Arc::new(DatabaseSchema::from_json(&serde_json::from_str(&text).expect("JSON")).expect("SB schema")))
    }

    /// Replaces `["named-uuid", n]` with the UUID the commit gave row `n`.
    fn resolve(v: &mut Value, names: &BTreeMap<String, Uuid>) {
        match v {
            Value::Array(a) if a.len() == 2 && a[0] == "named-uuid" => {
                let n = a[1].as_str().unwrap_or_default();
                *v = json!(["uuid", names[n].to_string()]);
            }
            Value::Array(a) => a.iter_mut().for_each(|x| resolve(x, names)),
            Value::Object(o) => o.values_mut().for_each(|x| resolve(x, names)),
            _ => {}
        }
    }

    fn where_uuid(op: &Value) -> Uuid {
        op["where"][0][2][1].as_str().and_then(|s| s.parse().ok()).expect("a condition on _uuid")
    }

    /// Commits `txn` to `sb` as ovsdb-server would (only what the reconciler writes: inserts, updates of
    /// whole columns, mutations of sets, deletes by UUID), and lets `ix` follow the change as the daemon
    /// does.
    fn commit(sb: &mut Replica, ix: &mut SbIndex, txn: &Transaction, ids: &mut UuidGen) -> Touched {
        let mut names = BTreeMap::new();
        let ops: Vec<Value> = txn.ops.iter().map(Operation::to_json).collect();
        let uuids: Vec<Uuid> =
            ops.iter().map(|op| op["uuid"].as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| ids.generate())).collect();
        for (op, u) in ops.iter().zip(&uuids) {
            if let Some(n) = op["uuid-name"].as_str() {
                names.insert(n.to_string(), *u);
            }
        }
        for (mut op, u) in ops.into_iter().zip(uuids) {
            resolve(&mut op, &names);
            let table = op["table"].as_str().unwrap_or_default().to_string();
            let update = match op["op"].as_str() {
                Some("insert") => json!({table: {u.to_string(): {"insert": op["row"]}}}),
                Some("delete") => json!({table: {where_uuid(&op).to_string(): {"delete": null}}}),
                Some("update") => {
                    // A whole-row replacement: `modify` would take set columns as differences.
                    let u = where_uuid(&op);
                    let mut row = serde_json::Map::new();
                    for (c, d) in sb.row(&table, u).expect("updated row").columns.iter() {
                        row.insert(c.clone(), d.to_json());
                    }
                    row.extend(op["row"].as_object().cloned().unwrap_or_default());
                    sb.apply_update2(&json!({&table: {u.to_string(): {"delete": null}}})).expect("delete");
                    json!({table: {u.to_string(): {"insert": row}}})
                }
                // The reconciler inserts only absent members and deletes only present ones, so each
                // mutation is update2's `modify` of a set: the elements that change.
                Some("mutate") => {
                    let mut modify = serde_json::Map::new();
                    for m in op["mutations"].as_array().cloned().unwrap_or_default() {
                        let elems = match &m[2] {
                            Value::Array(a) if a.first().is_some_and(|t| t == "set") => a[1].as_array().cloned().unwrap_or_default(),
                            atom => vec![atom.clone()],
                        };
                        let col = m[0].as_str().unwrap_or_default().to_string();
                        let entry = modify.entry(col).or_insert_with(|| json!(["set", []]));
                        if let Some(all) = entry[1].as_array_mut() {
                            all.extend(elems);
                        }
                    }
                    json!({table: {where_uuid(&op).to_string(): {"modify": modify}}})
                }
                other => panic!("unexpected op {other:?}"),
            };
            sb.apply_update2(&update).expect("commit");
        }
        let (changes, inserted) = sb.take_changes_and_inserts();
        ix.apply(sb, &changes, &inserted)
    }

    /// What the Southbound holds, without its UUIDs (references written as the referred row's identity).
    fn contents(sb: &Replica) -> Vec<String> {
        let dp = |u: Option<Uuid>| u.and_then(|u| sb::row::<DatapathBinding>(sb, u)).and_then(|d| d.nb_identity());
        let pb = |u: Uuid| sb::row::<PortBinding>(sb, u).map(|p| p.logical_port().to_string());
        let mut out: Vec<String> = Vec::new();
        out.extend(sb::rows::<DatapathBinding>(sb).map(|d| format!("dp {:?} {:?}", d.nb_identity(), d.tunnel_key())));
        out.extend(sb::rows::<PortBinding>(sb).map(|p| {
            let ha = p.ha_chassis_group().and_then(|u| sb::row::<HaChassisGroup>(sb, u)).map(|g| g.name().to_string());
            format!(
                "pb {} {:?} {:?} {:?} {:?} {:?}",
                p.logical_port(),
                dp(p.datapath()),
                p.tunnel_key(),
                p.mac().strings().collect::<Vec<_>>(),
                p.up(),
                ha
            )
        }));
        out.extend(sb::rows::<MulticastGroup>(sb).map(|m| {
            let ports: BTreeSet<Option<String>> = m.ports().uuids().map(pb).collect();
            format!("mc {:?} {} {:?} {ports:?}", dp(m.datapath()), m.name(), m.tunnel_key())
        }));
        out.extend(sb::rows::<HaChassisGroup>(sb).map(|g| {
            let members: BTreeSet<String> =
                g.ha_chassis().uuids().filter_map(|u| sb::row::<HaChassis>(sb, u)).map(|h| format!("{:?}", h.row().columns)).collect();
            format!("ha {} {members:?}", g.name())
        }));
        out.extend(
            sb::rows::<LogicalFlow>(sb)
                .map(|f| format!("flow {:?} {} {} {}", dp(f.logical_datapath()), f.pipeline(), f.match_(), f.actions())),
        );
        out.extend(sb::rows::<MacBinding>(sb).map(|m| format!("mac {} {}", m.logical_port(), m.ip())));
        out.extend(sb::rows::<sb::AddressSet>(sb).map(|a| format!("as {} {:?}", a.name(), a.addresses().strings().collect::<Vec<_>>())));
        out.sort();
        out
    }

    /// A full sync: every identity of `want` and of the Southbound checked, from an empty index.
    fn full_sync(want: &Want, sb: &mut Replica, ids: &mut UuidGen) -> (SbIndex, Counts) {
        let (mut ix, touched) = SbIndex::build(sb);
        let (txn, counts, _) = plan(want, &want.all(), &touched, sb, &ix, &Extras::default(), ids);
        commit(sb, &mut ix, &txn, ids);
        (ix, counts)
    }

    #[test]
    fn a_first_sync_inserts_rows_that_refer_to_rows_of_the_same_transaction() {
        let (want, mut sb, mut ids) = (network(), replica(), UuidGen::new());
        let (ix, touched) = SbIndex::build(&sb);
        let (txn, counts, keys) = plan(&want, &want.all(), &touched, &sb, &ix, &Extras::default(), &mut ids);
        // SB_Global, the datapath, HA group and its chassis, 2 ports, the group, the flow, the address set.
        assert_eq!(counts, Counts { inserted: 9, updated: 0, deleted: 0 });
        assert_eq!(keys, want.0.lflows.iter().map(Lflow::key_hash).collect::<Vec<_>>());
        let tables: Vec<String> = txn.ops.iter().map(Operation::describe).collect();
        let first = |t: &str| tables.iter().position(|d| d == &format!("insert into {t}"));
        assert!(first(DATAPATH_BINDING) < first(PORT_BINDING) && first(HA_CHASSIS_GROUP) < first(PORT_BINDING));
        assert!(first(PORT_BINDING) < first(MULTICAST_GROUP) && first(MULTICAST_GROUP) < first(LOGICAL_FLOW));
        let mut ix = ix;
        commit(&mut sb, &mut ix, &txn, &mut ids);
        let sw = format!("{:?}", Some(SW));
        assert_eq!(
            contents(&sb).iter().filter(|l| !l.starts_with("ha ")).cloned().collect::<Vec<_>>(),
            [
                "as as1 [\"10.0.0.1\"]".to_string(),
                format!("dp {sw} Some(1)"),
                format!("flow {sw} ingress 1 next;"),
                format!("mc {sw} _MC_flood Some(32768) {{Some(\"p1\"), Some(\"p2\")}}"),
                format!("pb p1 {sw} Some(1) [\"00:00:00:00:00:01 10.0.0.1\"] Some(false) None"),
                format!("pb p2 {sw} Some(2) [\"00:00:00:00:00:02 10.0.0.2\"] Some(false) Some(\"g\")"),
            ]
        );
        // Nothing left to do, whichever way it is asked.
        let (_, counts) = full_sync(&want, &mut sb, &mut ids);
        assert!(counts.is_empty(), "{counts:?}");
    }

    #[test]
    fn only_owned_columns_are_updated_and_only_when_they_differ() {
        let (want, mut sb, mut ids) = (network(), replica(), UuidGen::new());
        let (mut ix, _) = full_sync(&want, &mut sb, &mut ids);
        let p1 = ix.port_row("p1").expect("p1");
        // ovn-controller binds the port and says it is up; someone else changes its tunnel key.
        sb.apply_update2(
            &json!({PORT_BINDING: {p1.to_string(): {"modify": {"up": true, "tunnel_key": 9, "chassis": ["uuid", Uuid(77).to_string()]}}}}),
        )
        .expect("modify");
        let (changes, inserted) = sb.take_changes_and_inserts();
        let touched = ix.apply(&sb, &changes, &inserted);
        assert_eq!(touched.ports, BTreeSet::from(["p1".to_string()]));
        let (txn, counts, _) = plan(&want, &Delta::default(), &touched, &sb, &ix, &Extras::default(), &mut ids);
        assert_eq!(counts, Counts { inserted: 0, updated: 1, deleted: 0 });
        match &txn.ops[..] {
            [Operation::Update { table, row, .. }] => {
                assert_eq!(table, PORT_BINDING);
                assert_eq!(row.keys().map(ColumnName::as_str).collect::<Vec<_>>(), ["tunnel_key"], "not `up`, not `chassis`");
            }
            ops => panic!("{ops:?}"),
        }
    }

    #[test]
    fn stale_stray_and_duplicate_rows_are_deleted() {
        let (want, mut sb, mut ids) = (network(), replica(), UuidGen::new());
        let (mut ix, _) = full_sync(&want, &mut sb, &mut ids);
        let dp = ix.datapaths.get(&SW).expect("datapath").to_string();
        sb.apply_update2(&json!({
            PORT_BINDING: {
                Uuid(101).to_string(): {"insert": {"logical_port": "gone", "datapath": ["uuid", dp], "tunnel_key": 5}},
                Uuid(102).to_string(): {"insert": {"logical_port": "p1", "datapath": ["uuid", dp], "tunnel_key": 1}},
            },
            LOGICAL_FLOW: {
                Uuid(103).to_string(): {"insert": {"logical_datapath": ["uuid", dp], "pipeline": "ingress", "match": "0", "actions": "drop;"}},
            },
            MAC_BINDING: {
                Uuid(104).to_string(): {"insert": {"logical_port": "gone", "ip": "10.0.0.5", "mac": "00:00:00:00:00:05", "datapath": ["uuid", dp]}},
                Uuid(105).to_string(): {"insert": {"logical_port": "p1", "ip": "10.0.0.9", "mac": "00:00:00:00:00:09", "datapath": ["uuid", dp]}},
            },
        }))
        .expect("insert");
        let (changes, inserted) = sb.take_changes_and_inserts();
        let touched = ix.apply(&sb, &changes, &inserted);
        let (txn, counts, _) = plan(&want, &Delta::default(), &touched, &sb, &ix, &Extras::default(), &mut ids);
        let deleted: BTreeSet<Uuid> = txn
            .ops
            .iter()
            .filter_map(|op| match op {
                Operation::Delete { conditions, .. } => conditions[0].value.as_uuid(),
                _ => None,
            })
            .collect();
        assert_eq!(deleted, BTreeSet::from([Uuid(101), Uuid(102), Uuid(103), Uuid(104)]), "p1's MAC binding stays");
        assert_eq!(counts, Counts { inserted: 0, updated: 0, deleted: 4 });
    }

    #[test]
    fn a_row_that_replaces_a_deleted_one_is_not_a_duplicate() {
        let (want, mut sb, mut ids) = (network(), replica(), UuidGen::new());
        let (mut ix, _) = full_sync(&want, &mut sb, &mut ids);
        let (old, dp) = (ix.port_row("p1").expect("p1"), ix.datapaths.get(&SW).expect("datapath"));
        // The new row's UUID sorts before the old one's: it is learnt after the old one is forgotten all the same.
        sb.apply_update2(&json!({PORT_BINDING: {
            old.to_string(): {"delete": null},
            Uuid(200).to_string(): {"insert": {"logical_port": "p1", "datapath": ["uuid", dp.to_string()], "tunnel_key": 1}},
        }}))
        .expect("replace");
        let (changes, inserted) = sb.take_changes_and_inserts();
        let touched = ix.apply(&sb, &changes, &inserted);
        assert!(touched.strays.is_empty(), "{:?}", touched.strays);
        assert_eq!(ix.port_row("p1"), Some(Uuid(200)));
    }

    #[test]
    fn a_full_sync_is_the_incremental_one_from_empty() {
        // One Southbound follows a change incrementally, another from the same start with a full sync.
        let (before, mut ids) = (network(), UuidGen::new());
        let (mut incremental, mut full) = (replica(), replica());
        let (mut ix, _) = full_sync(&before, &mut incremental, &mut ids);
        full_sync(&before, &mut full, &mut ids);

        // p2 goes (with its HA group and its place in the flood group), p3 comes, the flow changes.
        let mut after = network();
        after.0.ports.remove("p2");
        after.0.ha_groups.clear();
        after.0.ports.insert("p3".into(), port("p3", 3));
        let flood = after.0.mc_groups.get_mut(&(SW, "_MC_flood".to_string())).expect("flood");
        flood.ports = BTreeSet::from(["p1".into(), "p3".into()]);
        let old_flow = after.0.lflows.pop_first().expect("flow").key_hash();
        after.0.flow(SW, Stage::ALL[0], 100, "1", "drop;");
        let as1 = (named_rows::ADDRESS_SET.table, "as1".to_string());
        after.0.named.insert(as1.clone(), vec![Datum::set(["10.0.0.1", "10.0.0.3"])]);
        let delta = Delta {
            added: after.0.lflows.iter().map(Lflow::key_hash).collect(),
            removed: vec![old_flow],
            ports: BTreeSet::from(["p2".into(), "p3".into()]),
            mc_groups: BTreeSet::from([(SW, "_MC_flood".into())]),
            ha_groups: BTreeSet::from(["g".into()]),
            named: BTreeSet::from([as1]),
            ..Delta::default()
        };
        let (txn, _, _) = plan(&after, &delta, &Touched::default(), &incremental, &ix, &Extras::default(), &mut ids);
        commit(&mut incremental, &mut ix, &txn, &mut ids);
        full_sync(&after, &mut full, &mut ids);
        assert_eq!(contents(&incremental), contents(&full));
        assert!(contents(&full).iter().any(|l| l.starts_with("pb p3")) && !contents(&full).iter().any(|l| l.starts_with("pb p2")));
        let (_, counts) = full_sync(&after, &mut incremental, &mut ids);
        assert!(counts.is_empty(), "a full sync after the incremental one finds nothing to do: {counts:?}");
    }
}
