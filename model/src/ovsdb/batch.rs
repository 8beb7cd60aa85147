//! One big transaction written as several small ones.
//!
//! `ovsdb-server`'s cost per committed row grows with the size of the transaction: measured on this
//! project's machines (Open vSwitch 3.1), 50,000 `Logical_Flow` inserts cost the server 2.3-2.6 s of CPU
//! as one transaction and 0.9-1.0 s as 200-500 transactions of 100-250 rows. A first sync writes a whole
//! Southbound (63,000 rows at 10,000 ports), so northd writes it in batches.
//!
//! ```text
//!   ops ─▶ head: every op that is not an insert into a batched table (deletes, updates, other inserts)
//!        ─▶ then the inserts of each batched table, in the order the tables are given, N rows at a time
//! ```
//! Rows are referred to across batches by UUIDs the client chooses (an insert may carry its row's
//! `uuid`); named UUIDs used within one batch stay names. Each batch leaves the database consistent:
//! the head holds all deletes and updates, and every later batch only adds rows whose references point to
//! rows that exist already. Only inserts are moved, so with unique indexes each intermediate state is a
//! subset of the final one. A transaction whose references do not allow that order (a head operation
//! naming a row inserted later, a batched row naming one of its own table) is left whole.

use std::collections::{HashMap, HashSet};

use super::datum::{Atom, Datum};
use super::transact::{Operation, RowData, Transaction};
use super::uuid::{Uuid, UuidGen};
use crate::ovsdb::atomset::{AtomMap, AtomSet};

impl Transaction {
    /// Splits the transaction as the module documentation describes: the head, then the inserts into
    /// `tables` (in that order), `rows_per_batch` at a time. Returns the transaction whole when it has no
    /// more batched rows than that or when its references forbid the split. `tables` must be root tables
    /// (a non-root row has to be referenced from its own transaction).
    pub fn into_batches(self, tables: &[&str], rows_per_batch: usize, ids: &mut UuidGen) -> Vec<Transaction> {
        let phases: Vec<usize> = self
            .ops
            .iter()
            .map(|op| match op {
                Operation::Insert { table, .. } => tables.iter().position(|t| t == table).map_or(0, |i| i + 1),
                _ => 0,
            })
            .collect();
        let batched = phases.iter().filter(|p| **p > 0).count();
        if batched <= rows_per_batch.max(1) {
            return vec![self];
        }
        let Some(crossing) = crossing_names(&self.ops, &phases) else { return vec![self] };
        let uuids: HashMap<String, Uuid> = crossing.into_iter().map(|n| (n, ids.generate())).collect();

        let mut head = Transaction::new();
        let mut by_phase: Vec<Vec<Operation>> =
            (0..tables.len()).map(|i| Vec::with_capacity(phases.iter().filter(|p| **p == i + 1).count())).collect();
        for (mut op, p) in self.ops.into_iter().zip(phases) {
            resolve_op(&mut op, &uuids);
            match p {
                0 => head.ops.push(op),
                p => by_phase[p - 1].push(op),
            }
        }
        let mut out = Vec::new();
        if !head.ops.is_empty() {
            out.push(head);
        }
        for ops in by_phase {
            let mut ops = ops.into_iter().peekable();
            while ops.peek().is_some() {
                let mut t = Transaction::new();
                t.ops.extend(ops.by_ref().take(rows_per_batch.max(1)));
                out.push(t);
            }
        }
        out
    }
}

/// The names referred to from another phase than their row's (they need a UUID), or `None` when a
/// reference points to a later phase or to its own batched phase (allowed only within the head).
/// `phases[i]` is the phase of `ops[i]` (0: the head).
fn crossing_names(ops: &[Operation], phases: &[usize]) -> Option<HashSet<String>> {
    let mut name_phase: HashMap<&str, usize> = HashMap::with_capacity(ops.len());
    for (op, p) in ops.iter().zip(phases) {
        if let Operation::Insert { uuid_name: Some(n), .. } = op {
            name_phase.insert(n, *p);
        }
    }
    let mut crossing = HashSet::new();
    for (op, &p) in ops.iter().zip(phases) {
        for name in named_refs(op) {
            match name_phase.get(name) {
                Some(&q) if q == p && p == 0 => {}
                Some(&q) if q < p && !crossing.contains(name) => {
                    crossing.insert(name.to_string());
                }
                Some(&q) if q < p => {}
                Some(_) => return None,
                None => {}
            }
        }
    }
    Some(crossing)
}

/// The named UUIDs an operation refers to (not the one it defines).
fn named_refs(op: &Operation) -> impl Iterator<Item = &str> {
    op_datums(op).flat_map(|d| d.atoms()).filter_map(|a| match a {
        Atom::NamedUuid(n) => Some(n.as_str()),
        _ => None,
    })
}

fn op_datums(op: &Operation) -> Box<dyn Iterator<Item = &Datum> + '_> {
    match op {
        Operation::Insert { row, .. } | Operation::Update { row, .. } => Box::new(row.values()),
        Operation::Mutate { conditions, mutations, .. } => {
            Box::new(conditions.iter().map(|c| &c.value).chain(mutations.iter().map(|m| &m.value)))
        }
        Operation::Delete { conditions, .. } | Operation::Select { conditions, .. } => Box::new(conditions.iter().map(|c| &c.value)),
        Operation::Wait { conditions, rows, .. } => {
            Box::new(conditions.iter().map(|c| &c.value).chain(rows.iter().flat_map(RowData::values)))
        }
        Operation::Comment(_) => Box::new(std::iter::empty()),
    }
}

/// Replaces the names in `uuids` by their UUIDs, in the op's values and, for an insert that defines one,
/// as the row's own UUID.
pub(super) fn resolve_op(op: &mut Operation, uuids: &HashMap<String, Uuid>) {
    if uuids.is_empty() {
        return;
    }
    let fix_row = |row: &mut RowData| row.values_mut().for_each(|d| resolve(d, uuids));
    match op {
        Operation::Insert { row, uuid_name, uuid, .. } => {
            if let Some(u) = uuid_name.as_ref().and_then(|n| uuids.get(n)) {
                *uuid = Some(*u);
                *uuid_name = None;
            }
            fix_row(row);
        }
        Operation::Update { row, conditions, .. } => {
            fix_row(row);
            conditions.iter_mut().for_each(|c| resolve(&mut c.value, uuids));
        }
        Operation::Mutate { conditions, mutations, .. } => {
            conditions.iter_mut().for_each(|c| resolve(&mut c.value, uuids));
            mutations.iter_mut().for_each(|m| resolve(&mut m.value, uuids));
        }
        Operation::Delete { conditions, .. } | Operation::Select { conditions, .. } => {
            conditions.iter_mut().for_each(|c| resolve(&mut c.value, uuids));
        }
        Operation::Wait { conditions, rows, .. } => {
            conditions.iter_mut().for_each(|c| resolve(&mut c.value, uuids));
            rows.iter_mut().for_each(fix_row);
        }
        Operation::Comment(_) => {}
    }
}

fn resolve(d: &mut Datum, uuids: &HashMap<String, Uuid>) {
    let fix = |a: Atom| match a {
        Atom::NamedUuid(n) => match uuids.get(&n) {
            Some(u) => Atom::Uuid(*u),
            None => Atom::NamedUuid(n),
        },
        a => a,
    };
    let named = |a: &Atom| matches!(a, Atom::NamedUuid(n) if uuids.contains_key(n));
    match d {
        Datum::Set(s) if s.iter().any(named) => {
            *s = AtomSet::from_vec(std::mem::take(s).into_vec().into_iter().map(fix).collect());
        }
        Datum::Map(m) if m.iter().any(|(k, v)| named(k) || named(v)) => {
            *m = AtomMap::from_vec(std::mem::take(m).into_vec().into_iter().map(|(k, v)| (fix(k), fix(v))).collect());
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::transact::Condition;

    fn row(cols: &[(&str, Datum)]) -> RowData {
        cols.iter().map(|(c, d)| (c.to_string(), d.clone())).collect()
    }

    /// A first-sync shaped transaction: a datapath, ports on it, a group of the ports, flows on it.
    fn first_sync(ports: usize, flows: usize) -> Transaction {
        let mut t = Transaction::new();
        t.delete("Logical_Flow", vec![Condition::uuid(Uuid(9))]);
        let dp = t.insert("Datapath_Binding", row(&[("tunnel_key", Datum::atom(1))]));
        let pbs: Vec<Atom> = (0..ports)
            .map(|i| {
                t.insert(
                    "Port_Binding",
                    row(&[("datapath", Datum::atom(dp.clone())), ("logical_port", Datum::atom(format!("p{i}").as_str()))]),
                )
            })
            .collect();
        t.insert("Multicast_Group", row(&[("datapath", Datum::atom(dp.clone())), ("ports", Datum::set(pbs))]));
        for i in 0..flows {
            t.insert("Logical_Flow", row(&[("logical_datapath", Datum::atom(dp.clone())), ("priority", Datum::atom(i as i64))]));
        }
        t
    }

    const ORDER: [&str; 3] = ["Port_Binding", "Multicast_Group", "Logical_Flow"];

    fn tables(t: &Transaction) -> Vec<&str> {
        t.ops
            .iter()
            .map(|op| match op {
                Operation::Insert { table, .. } | Operation::Delete { table, .. } | Operation::Update { table, .. } => table.as_str(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_first_sync_goes_head_then_tables_in_order_with_uuids_across_batches() {
        let batches = first_sync(5, 7).into_batches(&ORDER, 3, &mut UuidGen::new());
        let shape: Vec<Vec<&str>> = batches.iter().map(tables).collect();
        assert_eq!(
            shape,
            vec![
                vec!["Logical_Flow", "Datapath_Binding"],
                vec!["Port_Binding"; 3],
                vec!["Port_Binding"; 2],
                vec!["Multicast_Group"],
                vec!["Logical_Flow"; 3],
                vec!["Logical_Flow"; 3],
                vec!["Logical_Flow"],
            ]
        );
        // The datapath has a client-chosen UUID, and every later row refers to it by that UUID.
        let Operation::Insert { uuid: Some(dp), uuid_name: None, .. } = &batches[0].ops[1] else { panic!("{:?}", batches[0].ops[1]) };
        for b in &batches[1..] {
            for op in &b.ops {
                let Operation::Insert { row, .. } = op else { panic!() };
                let d = row.get("datapath").or_else(|| row.get("logical_datapath")).expect("datapath");
                assert_eq!(d.as_uuid(), Some(*dp));
            }
        }
        // The group names the ports by their UUIDs; nothing named is left across batches.
        let pb_uuids: Vec<Uuid> = batches[1..3]
            .iter()
            .flat_map(|b| &b.ops)
            .map(|op| match op {
                Operation::Insert { uuid: Some(u), .. } => *u,
                other => panic!("{other:?}"),
            })
            .collect();
        let Operation::Insert { row, .. } = &batches[3].ops[0] else { panic!() };
        let mut members: Vec<Uuid> = row.get("ports").expect("ports").uuids().collect();
        let mut want = pb_uuids.clone();
        members.sort();
        want.sort();
        assert_eq!(members, want);
        assert!(batches.iter().flat_map(|b| &b.ops).all(|op| named_refs(op).next().is_none()));
    }

    #[test]
    fn small_transactions_and_backward_references_stay_whole() {
        let small = first_sync(2, 2);
        assert_eq!(small.clone().into_batches(&ORDER, 10, &mut UuidGen::new()), vec![small]);

        // An update in the head that names a port inserted in a later batch: the split would break it.
        let mut t = first_sync(5, 7);
        let pb = t.ops.iter().find_map(|op| match op {
            Operation::Insert { table, uuid_name: Some(n), .. } if table == "Port_Binding" => Some(n.clone()),
            _ => None,
        });
        t.update("Multicast_Group", vec![Condition::uuid(Uuid(3))], row(&[("ports", Datum::atom(Atom::NamedUuid(pb.expect("pb"))))]));
        assert_eq!(t.clone().into_batches(&ORDER, 3, &mut UuidGen::new()), vec![t]);
    }
}
