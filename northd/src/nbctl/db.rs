//! The working copy `nbctl` runs its commands against.
//!
//! `nbctl` reads the tables it needs once, runs every command of the chain against this in-memory copy (so
//! `ls-add sw -- lsp-add sw p1` sees the switch the first command made), and only then turns the difference
//! between the copy and what it read into ONE transaction:
//!
//! ```text
//!   read (monitor_cond) ──▶ base ──clone──▶ cur ──commands mutate──▶ cur
//!                                      diff(base, cur) ──▶ insert / update+wait / delete ──▶ transact
//! ```
//! Every changed row is guarded by a `wait` on the columns it changes, holding the values that were read: if
//! another client changed them in between, the server refuses the whole transaction and `nbctl` reads again
//! and reruns the chain. A refused command never reaches this step, so nothing is half-written.
//!
//! Rows the chain creates get placeholder UUIDs here and become `named-uuid`s in the transaction. Rows of
//! non-root tables (ports, NATs, routes, gateway chassis) that nothing references any more are dropped from
//! the copy right away, as the server's garbage collection will drop them, so later commands do not see them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use model::ovsdb::datum::{Atom, Datum};
use model::ovsdb::schema::{DatabaseSchema, RefType};
use model::ovsdb::transact::{Condition, RowData, Transaction};
use model::ovsdb::{Replica, Row, Uuid};

/// Placeholder UUIDs of rows created by this run start with these bits, then count up.
const NEW_ROW_BASE: u128 = 0xffff_ffff_ffff_4fff_bfff_0000_0000_0000;

#[derive(Debug, Clone)]
pub struct Db {
    schema: Arc<DatabaseSchema>,
    base: BTreeMap<String, BTreeMap<Uuid, Row>>,
    cur: BTreeMap<String, BTreeMap<Uuid, Row>>,
    new_rows: BTreeSet<Uuid>,
}

impl Db {
    pub fn from_replica(replica: &Replica, tables: &[&str]) -> Db {
        let base: BTreeMap<String, BTreeMap<Uuid, Row>> =
            tables.iter().map(|t| (t.to_string(), replica.table(t).map(|r| (r.uuid, r.clone())).collect())).collect();
        Db { schema: Arc::clone(replica.schema()), cur: base.clone(), base, new_rows: BTreeSet::new() }
    }

    pub fn schema(&self) -> &DatabaseSchema {
        &self.schema
    }

    /// The rows of a table, as staged, in UUID order.
    pub fn rows(&self, table: &str) -> impl Iterator<Item = &Row> {
        self.cur.get(table).into_iter().flat_map(|t| t.values())
    }

    pub fn get(&self, table: &str, uuid: Uuid) -> Option<&Row> {
        self.cur.get(table)?.get(&uuid)
    }

    /// True for a row this run created.
    pub fn is_new(&self, uuid: Uuid) -> bool {
        self.new_rows.contains(&uuid)
    }

    /// Creates a row with these columns and defaults for the rest.
    pub fn insert(&mut self, table: &str, columns: Vec<(&str, Datum)>) -> Uuid {
        let uuid = Uuid(NEW_ROW_BASE + self.new_rows.len() as u128);
        self.new_rows.insert(uuid);
        let mut row = match self.schema.table(table) {
            Some(ts) => Row::with_defaults(uuid, ts),
            None => Row::new(uuid),
        };
        for (c, d) in columns {
            row.columns.insert(c.to_string(), d);
        }
        self.cur.entry(table.to_string()).or_default().insert(uuid, row);
        uuid
    }

    /// Sets one column of a row.
    pub fn set(&mut self, table: &str, uuid: Uuid, column: &str, value: Datum) {
        if let Some(row) = self.cur.get_mut(table).and_then(|t| t.get_mut(&uuid)) {
            row.columns.insert(column.to_string(), value);
        }
    }

    /// Adds one member to a set column.
    pub fn add_to_set(&mut self, table: &str, uuid: Uuid, column: &str, atom: Atom) {
        if let Some(row) = self.cur.get_mut(table).and_then(|t| t.get_mut(&uuid)) {
            if let Datum::Set(s) = row.columns.entry(column.to_string()).or_default() {
                s.insert(atom);
            }
        }
    }

    /// Removes one member from a set column.
    pub fn remove_from_set(&mut self, table: &str, uuid: Uuid, column: &str, atom: &Atom) {
        if let Some(Datum::Set(s)) = self.cur.get_mut(table).and_then(|t| t.get_mut(&uuid)).and_then(|r| r.columns.get_mut(column)) {
            s.remove(atom);
        }
        self.collect_garbage();
    }

    /// Deletes a row of a root table (rows of other tables go when nothing references them).
    pub fn delete(&mut self, table: &str, uuid: Uuid) {
        if let Some(t) = self.cur.get_mut(table) {
            t.remove(&uuid);
        }
        self.collect_garbage();
    }

    /// Drops the rows of non-root tables that no strong reference reaches any more.
    fn collect_garbage(&mut self) {
        loop {
            let mut referenced: BTreeSet<Uuid> = BTreeSet::new();
            for (tname, rows) in &self.cur {
                let Some(ts) = self.schema.table(tname) else { continue };
                for cs in ts.columns.values() {
                    let strong = |b: &model::ovsdb::BaseType| b.ref_table.is_some() && b.ref_type == RefType::Strong;
                    let key_ref = strong(&cs.ctype.key);
                    let val_ref = cs.ctype.value.as_ref().is_some_and(strong);
                    if !key_ref && !val_ref {
                        continue;
                    }
                    for row in rows.values() {
                        match row.get(&cs.name) {
                            Datum::Set(s) if key_ref => referenced.extend(s.iter().filter_map(Atom::as_uuid)),
                            Datum::Map(m) => {
                                for (k, v) in m {
                                    if key_ref {
                                        referenced.extend(k.as_uuid());
                                    }
                                    if val_ref {
                                        referenced.extend(v.as_uuid());
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            let mut dropped = false;
            for (tname, rows) in self.cur.iter_mut() {
                if self.schema.table(tname).is_none_or(|ts| ts.is_root) {
                    continue;
                }
                let before = rows.len();
                rows.retain(|u, _| referenced.contains(u));
                dropped |= rows.len() != before;
            }
            if !dropped {
                return;
            }
        }
    }

    /// Checks every value this run wrote against the schema.
    pub fn check(&self) -> Result<(), String> {
        for (tname, rows) in &self.cur {
            let Some(ts) = self.schema.table(tname) else { continue };
            for row in rows.values() {
                let old = self.base.get(tname).and_then(|t| t.get(&row.uuid));
                for (col, d) in &row.columns {
                    if old.is_some_and(|o| o.get(col) == d) {
                        continue;
                    }
                    if let Some(cs) = ts.column(col) {
                        d.check(&cs.ctype).map_err(|e| format!("{tname}.{col}: {d}: {e}"))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The transaction that turns what was read into what is staged (empty if nothing changed).
    pub fn to_transaction(&self) -> Transaction {
        let mut txn = Transaction::new();
        let mut names: BTreeMap<Uuid, Atom> = BTreeMap::new();
        // Inserts first, so their names exist before anything refers to them.
        for (tname, rows) in &self.cur {
            for row in rows.values().filter(|r| self.new_rows.contains(&r.uuid)) {
                let data: RowData = self.non_default_columns(tname, row);
                let name = txn.insert(tname, data);
                names.insert(row.uuid, name);
            }
        }
        // The inserted rows' references to other new rows are patched now that every name is known.
        for op in txn.ops.iter_mut() {
            if let model::ovsdb::Operation::Insert { row, .. } = op {
                for d in row.values_mut() {
                    *d = rename(d, &names);
                }
            }
        }
        for (tname, rows) in &self.cur {
            let base = self.base.get(tname);
            for row in rows.values().filter(|r| !self.new_rows.contains(&r.uuid)) {
                let Some(old) = base.and_then(|b| b.get(&row.uuid)) else { continue };
                let changed: Vec<&String> = row.columns.keys().filter(|c| old.get(c) != row.get(c)).collect();
                if changed.is_empty() {
                    continue;
                }
                let cols: Vec<String> = changed.iter().map(|c| c.to_string()).collect();
                let expect: RowData = changed.iter().map(|c| (c.to_string(), old.get(c).clone())).collect();
                txn.wait_equal(tname, vec![Condition::uuid(row.uuid)], cols, vec![expect]);
                let new: RowData = changed.iter().map(|c| (c.to_string(), rename(row.get(c), &names))).collect();
                txn.update(tname, vec![Condition::uuid(row.uuid)], new);
            }
        }
        for (tname, rows) in &self.base {
            let root = self.schema.table(tname).is_some_and(|t| t.is_root);
            if !root {
                continue;
            }
            let cur = self.cur.get(tname);
            for uuid in rows.keys().filter(|u| !cur.is_some_and(|c| c.contains_key(u))) {
                txn.delete(tname, vec![Condition::uuid(*uuid)]);
            }
        }
        txn
    }

    fn non_default_columns(&self, table: &str, row: &Row) -> RowData {
        let ts = self.schema.table(table);
        row.columns
            .iter()
            .filter(|(c, d)| ts.and_then(|t| t.column(c)).is_none_or(|cs| Datum::default_of(&cs.ctype) != **d))
            .map(|(c, d)| (c.clone(), d.clone()))
            .collect()
    }
}

/// Replaces placeholder UUIDs of new rows by their `named-uuid` atoms.
fn rename(d: &Datum, names: &BTreeMap<Uuid, Atom>) -> Datum {
    let swap = |a: &Atom| match a {
        Atom::Uuid(u) => names.get(u).cloned().unwrap_or_else(|| a.clone()),
        _ => a.clone(),
    };
    match d {
        Datum::Set(s) => Datum::Set(s.iter().map(swap).collect()),
        Datum::Map(m) => Datum::Map(m.iter().map(|(k, v)| (swap(k), swap(v))).collect()),
    }
}
