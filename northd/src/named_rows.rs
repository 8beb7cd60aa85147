//! Southbound tables whose rows northd owns whole and identifies by their `name` column, each declared
//! once here. The engine keeps the desired rows by (table, name), and [`plan_changed`] writes them for
//! the Southbound reconciler ([`crate::reconcile`]), so a new table of this kind is a declaration plus the
//! builder that fills it.
//!
//! ```text
//!   builders ──(table, name, values)──▶ Engine::named ──▶ plan_changed ──▶ insert / update / delete
//!   SB replica ──▶ SbIndex (table, name) -> row ───────────────┘
//! ```

use std::collections::BTreeMap;

use model::ovsdb::transact::{ColumnName, Condition, RowData, Transaction};
use model::ovsdb::{Datum, Replica, Row, Uuid};

use crate::sync::Counts;

/// One Southbound table of rows keyed by `name`: the columns northd writes besides the name.
#[derive(Debug, PartialEq, Eq)]
pub struct NamedTable {
    pub table: &'static str,
    pub columns: &'static [&'static str],
}

/// `Address_Set`: the Northbound's address sets, and each port group's `<pg>_ip4` / `<pg>_ip6`.
pub const ADDRESS_SET: NamedTable = NamedTable { table: "Address_Set", columns: &["addresses"] };
/// `Port_Group`: one row per port group and datapath, `<datapath key>_<pg>`, with the group's ports there.
pub const PORT_GROUP: NamedTable = NamedTable { table: "Port_Group", columns: &["ports"] };

/// Every table of this kind.
pub const TABLES: [&NamedTable; 2] = [&ADDRESS_SET, &PORT_GROUP];

/// A desired row's identity.
pub type Key = (&'static str, String);

/// A desired row: the values of its table's `columns`, in order.
pub type Values = Vec<Datum>;

impl NamedTable {
    fn row(&self, values: &Values) -> RowData {
        self.columns.iter().zip(values).map(|(c, v)| (ColumnName::new(c), v.clone())).collect()
    }

    fn insert(&self, txn: &mut Transaction, name: &str, values: &Values, c: &mut Counts) {
        let mut row = self.row(values);
        row.insert("name".into(), Datum::atom(name));
        c.inserted += 1;
        txn.insert_unnamed(self.table, row);
    }

    fn update(&self, txn: &mut Transaction, row: &Row, values: &Values, c: &mut Counts) {
        let changed: RowData = self.row(values).into_iter().filter(|(k, d)| row.get(k) != d).collect();
        if !changed.is_empty() {
            c.updated += 1;
            txn.update(self.table, vec![Condition::uuid(row.uuid)], changed);
        }
    }
}

fn delete(txn: &mut Transaction, table: &str, uuid: Uuid, c: &mut Counts) {
    c.deleted += 1;
    txn.delete(table, vec![Condition::uuid(uuid)]);
}

fn declared(table: &str) -> Option<&'static NamedTable> {
    TABLES.into_iter().find(|t| t.table == table)
}

/// Brings the rows of `keys` in line with `want` (`None`: the row should not exist), given where each
/// is in the Southbound now.
pub fn plan_changed<'a>(
    keys: impl IntoIterator<Item = &'a Key>,
    want: impl Fn(&Key) -> Option<&'a Values>,
    rows: &SbNamed,
    sb: &Replica,
    txn: &mut Transaction,
    c: &mut Counts,
) {
    for key in keys {
        let Some(t) = declared(key.0) else { continue };
        let row = rows.row.get(key).and_then(|u| sb.row(t.table, *u));
        match (want(key), row) {
            (Some(values), Some(row)) => t.update(txn, row, values, c),
            (Some(values), None) => t.insert(txn, &key.1, values, c),
            (None, Some(row)) => delete(txn, t.table, row.uuid, c),
            (None, None) => {}
        }
    }
}

/// Where each declared table's rows are in the Southbound, by name, kept current from the replica's
/// changes.
#[derive(Debug, Clone, Default)]
pub struct SbNamed {
    row: BTreeMap<Key, Uuid>,
    key: BTreeMap<Uuid, Key>,
}

impl SbNamed {
    /// Follows one changed row of `table` (gone from the replica or not); returns the identities it
    /// touched, which the next sync checks (a row someone else changed or deleted is repaired).
    pub fn apply(&mut self, table: &str, u: Uuid, sb: &Replica) -> Vec<Key> {
        let Some(t) = declared(table) else { return Vec::new() };
        let mut touched = Vec::new();
        if let Some(k) = self.key.remove(&u) {
            if self.row.get(&k) == Some(&u) {
                self.row.remove(&k);
            }
            touched.push(k);
        }
        if let Some(r) = sb.row(t.table, u) {
            let k = (t.table, r.str("name").to_string());
            self.row.insert(k.clone(), u);
            self.key.insert(u, k.clone());
            touched.push(k);
        }
        touched
    }

    /// The declared tables' names, for the tables an index follows.
    pub fn tables() -> impl Iterator<Item = &'static str> {
        TABLES.into_iter().map(|t| t.table)
    }
}
