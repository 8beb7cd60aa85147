//! Incremental sync: where each desired row is in the Southbound (an index kept current from the
//! replica's change sets), and the transaction for one engine [`Delta`]: only the rows of the units that
//! were recomputed, only the flows that appeared or disappeared.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use model::ovsdb::transact::{Condition, RowData, Transaction};
use model::ovsdb::{Atom, Datum, MixHash, Replica, Row, Uuid, UuidMap, UuidSet};

use crate::desired::flow_key_hash;
use crate::named_rows::SbNamed;
use crate::sync::{dp_columns, flow_columns, ha_members, mc_columns, port_columns, Counts, Extras};
use crate::translate::engine::{Delta, Engine};
use model::sb::table::*;
use model::sb::{DatapathBinding, LogicalFlow, SbView};

/// The tables [`SbIndex`] follows, in the order it reads their changes (datapaths first: the rest refer
/// to them).
const INDEXED: [&str; 5] = [DATAPATH_BINDING, PORT_BINDING, MULTICAST_GROUP, HA_CHASSIS_GROUP, LOGICAL_FLOW];

/// Southbound rows by their Northbound identity.
#[derive(Debug, Clone, Default)]
pub struct SbIndex {
    dp_row: UuidMap<Uuid>,
    dp_nb: UuidMap<Uuid>,
    port_row: HashMap<String, Uuid>,
    port_name: UuidMap<String>,
    mc_row: HashMap<(Uuid, String), Uuid>,
    mc_key: UuidMap<(Uuid, String)>,
    ha_row: HashMap<String, Uuid>,
    ha_name: UuidMap<String>,
    /// Logical_Flow rows by [`crate::desired::Lflow::key_hash`] (normally one row per key).
    flows: HashMap<u64, Vec<Uuid>, MixHash>,
    flow_of: UuidMap<u64>,
    /// Rows northd inserted (outside Logical_Flow) whose echo has not been followed yet ([`SbIndex::expect_own`]).
    own: UuidSet,
    /// The rows of the tables of [`crate::named_rows`].
    named: SbNamed,
}

impl SbIndex {
    pub fn build(sb: &Replica) -> SbIndex {
        let mut ix = SbIndex::default();
        let all: BTreeMap<String, BTreeSet<Uuid>> =
            INDEXED.iter().copied().chain(SbNamed::tables()).map(|t| (t.to_string(), sb.table(t).map(|r| r.uuid).collect())).collect();
        ix.apply(sb, &all, &BTreeMap::new());
        ix
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
        let mut touched =
            Touched { ha_groups: [HA_CHASSIS_GROUP, HA_CHASSIS, CHASSIS].iter().any(|t| changes.contains_key(*t)), ..Touched::default() };
        let mut unchecked = Touched::default();
        for t in INDEXED {
            let Some(uuids) = changes.get(t) else { continue };
            let only_inserted = inserted.get(t);
            for u in uuids {
                let as_written = self.own.remove(u) && only_inserted.is_some_and(|i| i.contains(u));
                let sink = if as_written { &mut unchecked } else { &mut touched };
                self.forget(t, *u, sink);
                if let Some(row) = sb.row(t, *u) {
                    self.learn(t, row, sink);
                }
            }
        }
        // Named rows are small and few: every change is checked (northd's own echo costs a comparison).
        for t in SbNamed::tables() {
            for u in changes.get(t).into_iter().flatten() {
                touched.named.extend(self.named.apply(t, *u, sb));
            }
        }
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
        self.port_row.get(name).copied()
    }

    /// Learns Logical_Flow rows northd inserted itself, by the keys it planned them with: they are
    /// recorded in the replica without being reported as changes (see `model::ovsdb::own_rows`).
    pub fn learn_own_flows(&mut self, flows: impl IntoIterator<Item = (Uuid, u64)>) {
        for (u, k) in flows {
            self.flows.entry(k).or_default().push(u);
            self.flow_of.insert(u, k);
        }
    }

    fn forget(&mut self, t: &str, u: Uuid, touched: &mut Touched) {
        match t {
            DATAPATH_BINDING => {
                if let Some(nb) = self.dp_nb.remove(&u) {
                    self.dp_row.remove(&nb);
                    touched.datapaths.insert(nb);
                }
            }
            PORT_BINDING => {
                if let Some(n) = self.port_name.remove(&u) {
                    self.port_row.remove(&n);
                    touched.ports.insert(n);
                }
            }
            MULTICAST_GROUP => {
                if let Some(k) = self.mc_key.remove(&u) {
                    self.mc_row.remove(&k);
                    touched.mc_groups.insert(k);
                }
            }
            HA_CHASSIS_GROUP => {
                if let Some(n) = self.ha_name.remove(&u) {
                    self.ha_row.remove(&n);
                }
            }
            _ => {
                if let Some(k) = self.flow_of.remove(&u) {
                    if let Some(v) = self.flows.get_mut(&k) {
                        v.retain(|x| *x != u);
                        if v.is_empty() {
                            self.flows.remove(&k);
                        }
                    }
                    touched.flows.insert(k);
                }
            }
        }
    }

    fn learn(&mut self, t: &str, row: &Row, touched: &mut Touched) {
        match t {
            DATAPATH_BINDING => {
                if let Some(nb) = DatapathBinding::of(row).nb_identity() {
                    self.dp_row.insert(nb, row.uuid);
                    self.dp_nb.insert(row.uuid, nb);
                    touched.datapaths.insert(nb);
                }
            }
            PORT_BINDING => {
                self.port_row.insert(row.str("logical_port").to_string(), row.uuid);
                self.port_name.insert(row.uuid, row.str("logical_port").to_string());
                touched.ports.insert(row.str("logical_port").to_string());
            }
            MULTICAST_GROUP => {
                if let Some(nb) = row.get("datapath").as_uuid().and_then(|d| self.dp_nb.get(&d)) {
                    let k = (*nb, row.str("name").to_string());
                    self.mc_row.insert(k.clone(), row.uuid);
                    self.mc_key.insert(row.uuid, k.clone());
                    touched.mc_groups.insert(k);
                }
            }
            HA_CHASSIS_GROUP => {
                self.ha_row.insert(row.str("name").to_string(), row.uuid);
                self.ha_name.insert(row.uuid, row.str("name").to_string());
            }
            _ => {
                // Ours always name one of our datapaths; anyone else's row goes.
                let f = LogicalFlow::of(row);
                let Some(nb) = f.logical_datapath().and_then(|d| self.dp_nb.get(&d)) else {
                    touched.stray_flows.insert(row.uuid);
                    return;
                };
                let k = flow_key_hash(*nb, f.is_egress(), f.table_id().unwrap_or(-1), f.priority().unwrap_or(-1), f.match_(), f.actions());
                self.flows.entry(k).or_default().push(row.uuid);
                self.flow_of.insert(row.uuid, k);
                touched.flows.insert(k);
            }
        }
    }
}

/// Southbound identities whose rows changed since the last round.
#[derive(Debug, Clone, Default)]
pub struct Touched {
    pub datapaths: BTreeSet<Uuid>,
    pub ports: BTreeSet<String>,
    pub mc_groups: BTreeSet<(Uuid, String)>,
    /// Logical flows by key hash.
    pub flows: BTreeSet<u64>,
    /// Logical_Flow rows on no datapath of ours (inserted by someone else, or with a datapath that is
    /// gone): deleted.
    pub stray_flows: BTreeSet<Uuid>,
    /// Chassis or HA rows changed: every HA group is checked.
    pub ha_groups: bool,
    /// Rows of the tables of [`crate::named_rows`].
    pub named: BTreeSet<crate::named_rows::Key>,
}

/// The transaction for one round: the engine's delta, plus a check of every Southbound identity in
/// `touched` against what the engine wants.
pub fn plan_delta(
    engine: &Engine,
    delta: &Delta,
    touched: &Touched,
    sb: &Replica,
    ix: &SbIndex,
    extras: &Extras,
) -> (Transaction, Counts, Vec<u64>) {
    let mut delta = delta.clone();
    delta.datapaths.extend(touched.datapaths.iter().copied());
    delta.ports.extend(touched.ports.iter().cloned());
    delta.mc_groups.extend(touched.mc_groups.iter().cloned());
    if touched.ha_groups {
        delta.ha_groups.extend(engine.ha_names().map(str::to_string));
    }
    let mut removed: BTreeSet<u64> = delta.removed.iter().copied().collect();
    let mut added: BTreeSet<u64> = delta.added.iter().copied().collect();
    for k in &touched.flows {
        match (engine.flow(*k).is_some(), ix.flows.contains_key(k)) {
            (true, false) => drop(added.insert(*k)),
            (false, true) => drop(removed.insert(*k)),
            _ => {}
        }
    }
    let delta = &delta;
    let mut txn = Transaction::new();
    let mut c = Counts::default();
    let update = |txn: &mut Transaction, c: &mut Counts, table: &str, row: &Row, want: RowData| {
        let changed: RowData = want.into_iter().filter(|(k, d)| row.get(k) != d).collect();
        if !changed.is_empty() {
            c.updated += 1;
            txn.update(table, vec![Condition::uuid(row.uuid)], changed);
        }
    };

    if let Some(g) = sb.table(SB_GLOBAL).next() {
        if g.get("nb_cfg").as_i64() != Some(extras.nb_cfg) {
            update(&mut txn, &mut c, SB_GLOBAL, g, RowData::from([("nb_cfg".into(), Datum::atom(extras.nb_cfg))]));
        }
    }

    // Datapaths: references for everything below.
    let mut dp_ref: HashMap<Uuid, Atom> = HashMap::new();
    for nb in &delta.datapaths {
        let row = ix.dp_row.get(nb).and_then(|u| sb.row(DATAPATH_BINDING, *u));
        match (engine.desired_dp(nb), row) {
            (Some(want), Some(row)) => {
                update(&mut txn, &mut c, DATAPATH_BINDING, row, dp_columns(want));
                dp_ref.insert(*nb, Atom::Uuid(row.uuid));
            }
            (Some(want), None) => {
                c.inserted += 1;
                dp_ref.insert(*nb, txn.insert(DATAPATH_BINDING, dp_columns(want)));
            }
            (None, Some(row)) => {
                c.deleted += 1;
                txn.delete(DATAPATH_BINDING, vec![Condition::uuid(row.uuid)]);
            }
            (None, None) => {}
        }
    }
    let dp = |nb: &Uuid, dp_ref: &HashMap<Uuid, Atom>| dp_ref.get(nb).cloned().or_else(|| ix.dp_row.get(nb).map(|u| Atom::Uuid(*u)));

    // HA chassis groups.
    let chassis_uuid: BTreeMap<&str, Uuid> = sb.table(CHASSIS).map(|r| (r.str("name"), r.uuid)).collect();
    let mut ha_ref: BTreeMap<String, Atom> = BTreeMap::new();
    for name in &delta.ha_groups {
        let row = ix.ha_row.get(name).and_then(|u| sb.row(HA_CHASSIS_GROUP, *u));
        match (engine.desired_ha(name), row) {
            (Some(g), row) => {
                let (members, n) = ha_members(&mut txn, g, &chassis_uuid, row.map(|r| (r, sb)));
                c.inserted += n;
                match row {
                    Some(r) => {
                        if let Some(m) = members {
                            c.updated += 1;
                            txn.update(HA_CHASSIS_GROUP, vec![Condition::uuid(r.uuid)], RowData::from([("ha_chassis".into(), m)]));
                        }
                        ha_ref.insert(name.clone(), Atom::Uuid(r.uuid));
                    }
                    None => {
                        c.inserted += 1;
                        let m = members.unwrap_or_default();
                        let a = txn.insert(
                            HA_CHASSIS_GROUP,
                            RowData::from([("name".into(), Datum::atom(name.as_str())), ("ha_chassis".into(), m)]),
                        );
                        ha_ref.insert(name.clone(), a);
                    }
                }
            }
            (None, Some(r)) => {
                c.deleted += 1;
                txn.delete(HA_CHASSIS_GROUP, vec![Condition::uuid(r.uuid)]);
            }
            (None, None) => {}
        }
    }
    let ha_refs: BTreeMap<&str, Atom> = engine
        .ha_names()
        .filter_map(|n| ha_ref.get(n).cloned().or_else(|| ix.ha_row.get(n).map(|u| Atom::Uuid(*u))).map(|a| (n, a)))
        .collect();

    // Port bindings.
    let mut pb_ref: BTreeMap<String, Atom> = BTreeMap::new();
    let mut gone_ports: BTreeSet<&str> = BTreeSet::new();
    for name in &delta.ports {
        let row = ix.port_row.get(name).and_then(|u| sb.row(PORT_BINDING, *u));
        match (engine.desired_port(name), row) {
            (Some(want), row) => {
                let Some(dpa) = dp(&want.datapath, &dp_ref) else { continue };
                let mut cols = port_columns(want, &BTreeMap::from([(want.datapath, dpa)]), &ha_refs);
                match row {
                    Some(row) => {
                        if row.get("up").is_empty() {
                            cols.insert("up".into(), Datum::atom(false));
                        }
                        update(&mut txn, &mut c, PORT_BINDING, row, cols);
                        pb_ref.insert(name.clone(), Atom::Uuid(row.uuid));
                    }
                    None => {
                        cols.insert("logical_port".into(), Datum::atom(name.as_str()));
                        cols.insert("up".into(), Datum::atom(false));
                        c.inserted += 1;
                        pb_ref.insert(name.clone(), txn.insert(PORT_BINDING, cols));
                    }
                }
            }
            (None, Some(row)) => {
                c.deleted += 1;
                gone_ports.insert(name.as_str());
                txn.delete(PORT_BINDING, vec![Condition::uuid(row.uuid)]);
            }
            (None, None) => {}
        }
    }

    // Multicast groups (their members may include ports inserted just now).
    for key in &delta.mc_groups {
        let row = ix.mc_row.get(key).and_then(|u| sb.row(MULTICAST_GROUP, *u));
        match (engine.desired_mc(key), row) {
            (Some(want), row) => {
                let refs: BTreeMap<&str, Atom> = want
                    .ports
                    .iter()
                    .filter_map(|p| pb_ref.get(p).cloned().or_else(|| ix.port_row.get(p).map(|u| Atom::Uuid(*u))).map(|a| (p.as_str(), a)))
                    .collect();
                let cols = mc_columns(want, &refs);
                match row {
                    Some(row) => update(&mut txn, &mut c, MULTICAST_GROUP, row, cols),
                    None => {
                        let Some(dpa) = dp(&want.datapath, &dp_ref) else { continue };
                        let mut cols = cols;
                        cols.insert("datapath".into(), Datum::atom(dpa));
                        cols.insert("name".into(), Datum::atom(want.name.as_str()));
                        c.inserted += 1;
                        txn.insert(MULTICAST_GROUP, cols);
                    }
                }
            }
            (None, Some(row)) => {
                c.deleted += 1;
                txn.delete(MULTICAST_GROUP, vec![Condition::uuid(row.uuid)]);
            }
            (None, None) => {}
        }
    }

    // Flows.
    for u in &touched.stray_flows {
        c.deleted += 1;
        txn.delete(LOGICAL_FLOW, vec![Condition::uuid(*u)]);
    }
    for k in &removed {
        for u in ix.flows.get(k).into_iter().flatten() {
            c.deleted += 1;
            txn.delete(LOGICAL_FLOW, vec![Condition::uuid(*u)]);
        }
    }
    let mut flow_keys = Vec::new();
    let new_flows = added.iter().filter(|k| !ix.flows.contains_key(k)).filter_map(|k| Some((*k, engine.flow(*k)?))).collect();
    for (k, f) in crate::sync::in_datapath_order(new_flows) {
        let Some(dpa) = dp(&f.datapath, &dp_ref) else { continue };
        c.inserted += 1;
        flow_keys.push(k);
        txn.insert_unnamed(LOGICAL_FLOW, flow_columns(f, dpa));
    }

    let named = delta.named.iter().chain(&touched.named);
    crate::named_rows::plan_changed(named, |k| engine.desired_named(k), &ix.named, sb, &mut txn, &mut c);

    // MAC bindings learned on ports that are gone.
    if !gone_ports.is_empty() {
        for row in sb.table(MAC_BINDING).filter(|r| gone_ports.contains(r.str("logical_port"))) {
            c.deleted += 1;
            txn.delete(MAC_BINDING, vec![Condition::uuid(row.uuid)]);
        }
    }
    (txn, c, flow_keys)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use model::ovsdb::DatabaseSchema;
    use serde_json::json;

    use super::*;

    const P1: &str = "11111111-1111-4111-8111-111111111111";
    const P2: &str = "22222222-2222-4222-8222-222222222222";
    const P3: &str = "33333333-3333-4333-8333-333333333333";

    /// The echo of northd's own insert is learnt unchecked; anything else (another client's insert, or
    /// northd's own row changed before the round that follows the echo) is checked.
    #[test]
    fn own_inserts_as_written_are_not_checked_again() {
        let schema = DatabaseSchema::from_json(&json!({"name": "OVN_Southbound", "version": "1", "tables": {
            PORT_BINDING: {"columns": {"logical_port": {"type": "string"}, "options": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}}}
        }}))
        .expect("schema");
        let mut sb = Replica::new(Arc::new(schema));
        let mut ix = SbIndex::default();
        ix.expect_own([P1, P2].map(|u| (PORT_BINDING, u.parse().expect("uuid"))));
        sb.apply_update2(&json!({PORT_BINDING: {
            P1: {"insert": {"logical_port": "ours"}},
            P2: {"insert": {"logical_port": "ours-changed"}},
            P3: {"insert": {"logical_port": "theirs"}},
        }}))
        .expect("insert");
        sb.apply_update2(&json!({PORT_BINDING: {P2: {"modify": {"options": ["map", [["k", "v"]]]}}}})).expect("modify");
        let (changes, inserted) = sb.take_changes_and_inserts();
        let touched = ix.apply(&sb, &changes, &inserted);
        assert_eq!(touched.ports, BTreeSet::from(["ours-changed".to_string(), "theirs".to_string()]));
        assert_eq!(ix.port_row("ours"), Some(P1.parse().expect("uuid")), "learnt all the same");

        // Only the echo is taken for northd's: a later change to the row is checked.
        sb.apply_update2(&json!({PORT_BINDING: {P1: {"modify": {"options": ["map", [["k", "v"]]]}}}})).expect("modify");
        let (changes, inserted) = sb.take_changes_and_inserts();
        assert_eq!(ix.apply(&sb, &changes, &inserted).ports, BTreeSet::from(["ours".to_string()]));
    }
}
