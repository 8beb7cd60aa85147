//! Rows a client inserts itself, known to it without their echo.
//!
//! A client that monitors a table it writes gets every row it inserts sent back in full. For northd's
//! `Logical_Flow` that echo is most of the Southbound server's work and a quarter of northd's own in a
//! first sync (tens of thousands of rows with long `match` and `actions` strings, all of which northd
//! just wrote). So such a table is monitored in two parts (see [`OwnInserts`]): every column for the
//! initial contents, modifications and deletions, but only one small key column for inserts. An insert
//! by anyone else still shows up (as a row holding just that column, which the client can recognise as
//! not its own); the client's own inserts are put into its replica in full from the transaction itself
//! ([`Transaction::choose_uuids`], [`Replica::expect_inserts`], [`Transaction::take_inserts`],
//! [`Replica::record_inserts`]).
//!
//! ```text
//!   choose_uuids ─▶ Replica::expect_inserts(T, uuids) ─▶ transact ─▶ (echo: uuid + key column: skipped)
//!   ─▶ take_inserts(T) ─▶ Replica::record_inserts(T, rows)
//!   (a failed write: some transactions may have committed unseen ─▶ reload the whole database)
//! ```

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use super::batch::resolve_op;
use super::replica::Replica;
use super::row::{Columns, Row};
use super::schema::DatabaseSchema;
use super::transact::{Operation, RowData, Transaction};
use super::uuid::{Uuid, UuidGen};

/// Tables whose inserts the client makes itself, each with the one column its inserts are monitored
/// by (the rest of an inserted row comes from [`Replica::record_inserts`]).
pub type OwnInserts = BTreeMap<String, String>;

/// Tables monitored by some of their columns only, with those columns (other tables: every column).
pub type MonitoredColumns = BTreeMap<String, Vec<String>>;

/// The `monitor_cond` requests for `tables`, all columns or those `only` lists for a table; a table in
/// `own` is asked for in two parts: the columns but its key column without inserts, and the key column with
/// them.
pub fn monitor_requests(schema: &DatabaseSchema, tables: &[&str], own: &OwnInserts, only: &MonitoredColumns) -> Value {
    let mut m = Map::new();
    for t in tables {
        let Some(ts) = schema.table(t) else { continue };
        let wanted = |c: &&String| only.get(*t).is_none_or(|cols| cols.iter().any(|x| x == *c));
        let cols: Vec<&String> = ts.columns.keys().filter(wanted).collect();
        let request = match own.get(*t).filter(|k| ts.columns.contains_key(k.as_str())) {
            Some(key) => {
                let rest: Vec<&String> = cols.into_iter().filter(|c| *c != key).collect();
                json!([
                    {"columns": rest, "select": {"initial": true, "insert": false, "delete": true, "modify": true}},
                    {"columns": [key]},
                ])
            }
            None => json!([{ "columns": cols }]),
        };
        m.insert(t.to_string(), request);
    }
    Value::Object(m)
}

impl Transaction {
    /// Gives every insert a UUID chosen here, with the names replaced by those UUIDs: once the transaction
    /// commits, the client knows each row it inserted exactly, references included
    /// ([`Transaction::take_inserts`]).
    pub fn choose_uuids(&mut self, ids: &mut UuidGen) {
        let mut names = HashMap::new();
        for op in &mut self.ops {
            if let Operation::Insert { uuid_name, uuid, .. } = op {
                if uuid.is_none() {
                    let u = ids.generate();
                    *uuid = Some(u);
                    if let Some(n) = uuid_name.clone() {
                        names.insert(n, u);
                    }
                }
            }
        }
        for op in &mut self.ops {
            resolve_op(op, &names);
        }
    }

    /// The UUIDs of the rows this transaction inserts into `table` that carry one (all of them after
    /// [`Transaction::choose_uuids`]).
    pub fn insert_uuids<'a>(&'a self, table: &'a str) -> impl Iterator<Item = Uuid> + 'a {
        self.ops.iter().filter_map(move |op| match op {
            Operation::Insert { table: t, uuid: Some(u), .. } if t == table => Some(*u),
            _ => None,
        })
    }

    /// The rows this transaction inserts into `table` that carry their UUID (all of them after
    /// [`Transaction::choose_uuids`]), taken out of it.
    pub fn take_inserts(self, table: &str) -> Vec<(Uuid, RowData)> {
        self.ops
            .into_iter()
            .filter_map(|op| match op {
                Operation::Insert { table: t, row, uuid: Some(u), .. } if t == table => Some((u, row)),
                _ => None,
            })
            .collect()
    }
}

impl Replica {
    /// Puts rows this client inserted into `table` into the replica in full (replacing the partial rows
    /// their echo brought, if it was not expected). They are not reported as changes
    /// ([`Replica::take_changes`]): the client knows them. Columns the schema lacks are skipped. Returns
    /// how many rows were recorded (none for a table the schema lacks).
    ///
    /// A change or deletion someone else makes to such a row in the moment between its commit and its
    /// recording is lost here (the replica has it right again after its next full load).
    pub fn record_inserts(&mut self, table: &str, rows: Vec<(Uuid, RowData)>) -> usize {
        let Some(codec) = self.decoder().table(table).cloned().filter(|_| !rows.is_empty()) else { return 0 };
        let n = rows.len();
        let built = rows.into_iter().map(|(uuid, data)| {
            let mut columns = Columns::with_layout(&codec.layout);
            // Both the row's columns and the layout are in name order.
            let mut next = 0;
            for (name, value) in data {
                if let Some(i) = codec.layout.index_from(name.as_str(), next) {
                    next = i + 1;
                    if let Some(slot) = columns.at_mut(i) {
                        *slot = value;
                    }
                }
            }
            Row { uuid, columns }
        });
        self.put_rows(table, built);
        n
    }
}
