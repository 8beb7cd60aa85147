//! Building `transact` requests (RFC 7047 section 5.2) and reading their results.
//!
//! A [`Transaction`] is a list of operations the server runs atomically: all of them or none. Rows the same
//! transaction inserts are referred to by name ([`Transaction::insert`] returns the `named-uuid` atom to put
//! into other rows), and a `wait` operation makes the whole transaction fail if a row changed since it was
//! read, which is how a client that read, decided and wrote stays correct when another client wrote between.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

use super::datum::{Atom, Datum};
use super::uuid::Uuid;

/// A column name in a [`RowData`]: shared, immutable text that reads like a `&str`.
///
/// A transaction that writes a whole Southbound names the same few columns tens of thousands of times;
/// each name is allocated once (per thread) and shared by every row that uses it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ColumnName(Arc<str>);

/// Names interned per thread; past this many (never, with the schemas we know) names are not shared.
const MAX_INTERNED: usize = 4096;

thread_local! {
    static NAMES: RefCell<HashSet<Arc<str>>> = RefCell::new(HashSet::new());
}

impl ColumnName {
    pub fn new(name: &str) -> ColumnName {
        NAMES.with(|names| {
            let mut names = names.borrow_mut();
            if let Some(n) = names.get(name) {
                return ColumnName(Arc::clone(n));
            }
            let n: Arc<str> = Arc::from(name);
            if names.len() < MAX_INTERNED {
                names.insert(Arc::clone(&n));
            }
            ColumnName(n)
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for ColumnName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ColumnName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for ColumnName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ColumnName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ColumnName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for ColumnName {
    fn from(s: &str) -> Self {
        ColumnName::new(s)
    }
}

impl From<String> for ColumnName {
    fn from(s: String) -> Self {
        ColumnName::new(&s)
    }
}

impl From<&String> for ColumnName {
    fn from(s: &String) -> Self {
        ColumnName::new(s)
    }
}

impl From<ColumnName> for String {
    fn from(c: ColumnName) -> String {
        c.0.to_string()
    }
}

impl PartialEq<str> for ColumnName {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for ColumnName {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for ColumnName {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl Serialize for ColumnName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// The columns of a row to write: column name to value, in name order, with the `BTreeMap` methods
/// callers use. A sorted vector of shared names ([`ColumnName`]): a transaction that writes a whole
/// Southbound holds tens of thousands of these, and a B-tree node and a `String` per column cost several
/// times the few values they hold.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct RowData(Vec<(ColumnName, Datum)>);

impl RowData {
    pub const fn new() -> RowData {
        RowData(Vec::new())
    }

    fn find(&self, column: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(c, _)| c.as_str().cmp(column))
    }

    /// Sets a column named by a shared name, returning the value it replaced.
    pub fn insert_name(&mut self, column: ColumnName, value: Datum) -> Option<Datum> {
        match self.find(&column) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (column, value));
                None
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, column: &str) -> Option<&Datum> {
        self.find(column).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, column: &str) -> Option<&mut Datum> {
        self.find(column).ok().map(|i| &mut self.0[i].1)
    }

    pub fn contains_key(&self, column: &str) -> bool {
        self.find(column).is_ok()
    }

    /// Sets a column, returning the value it replaced.
    pub fn insert(&mut self, column: String, value: Datum) -> Option<Datum> {
        match self.find(&column) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (ColumnName::new(&column), value));
                None
            }
        }
    }

    pub fn remove(&mut self, column: &str) -> Option<Datum> {
        self.find(column).ok().map(|i| self.0.remove(i).1)
    }

    pub fn retain(&mut self, mut f: impl FnMut(&ColumnName, &mut Datum) -> bool) {
        self.0.retain_mut(|(c, d)| f(c, d));
    }

    /// Columns and values, in name order.
    pub fn iter(&self) -> RowDataIter<'_> {
        RowDataIter(self.0.iter())
    }

    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = (&ColumnName, &mut Datum)> + ExactSizeIterator + '_ {
        self.0.iter_mut().map(|(c, d)| (&*c, d))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &ColumnName> + ExactSizeIterator + '_ {
        self.0.iter().map(|(c, _)| c)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Datum> + ExactSizeIterator + '_ {
        self.0.iter().map(|(_, d)| d)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut Datum> + ExactSizeIterator + '_ {
        self.0.iter_mut().map(|(_, d)| d)
    }
}

impl fmt::Debug for RowData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<ColumnName>> FromIterator<(K, Datum)> for RowData {
    /// Of two entries for one column the later wins (as with `BTreeMap`).
    fn from_iter<I: IntoIterator<Item = (K, Datum)>>(iter: I) -> Self {
        let mut v: Vec<(ColumnName, Datum)> = iter.into_iter().map(|(k, d)| (k.into(), d)).collect();
        if !v.windows(2).all(|w| w[0].0 < w[1].0) {
            // Stable, so entries for one column stay in order and the last can win.
            v.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out: Vec<(ColumnName, Datum)> = Vec::with_capacity(v.len());
            for (c, d) in v {
                match out.last_mut() {
                    Some(last) if last.0 == c => last.1 = d,
                    _ => out.push((c, d)),
                }
            }
            v = out;
        }
        RowData(v)
    }
}

impl<K: Into<ColumnName>> Extend<(K, Datum)> for RowData {
    fn extend<I: IntoIterator<Item = (K, Datum)>>(&mut self, iter: I) {
        let old = std::mem::take(&mut self.0);
        *self = old.into_iter().chain(iter.into_iter().map(|(k, d)| (k.into(), d))).collect();
    }
}

impl<const N: usize> From<[(String, Datum); N]> for RowData {
    fn from(a: [(String, Datum); N]) -> Self {
        a.into_iter().collect()
    }
}

impl std::ops::Index<&str> for RowData {
    type Output = Datum;
    /// The value of a column; panics if the row lacks it (as `BTreeMap` does).
    fn index(&self, column: &str) -> &Datum {
        match self.get(column) {
            Some(d) => d,
            None => panic!("no column {column} in this row"),
        }
    }
}

/// The columns of a [`RowData`] as `(&name, &value)`, in name order.
#[derive(Clone)]
pub struct RowDataIter<'a>(std::slice::Iter<'a, (ColumnName, Datum)>);

impl<'a> Iterator for RowDataIter<'a> {
    type Item = (&'a ColumnName, &'a Datum);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(c, d)| (c, d))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}
impl DoubleEndedIterator for RowDataIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(c, d)| (c, d))
    }
}
impl ExactSizeIterator for RowDataIter<'_> {}

impl<'a> IntoIterator for &'a RowData {
    type Item = (&'a ColumnName, &'a Datum);
    type IntoIter = RowDataIter<'a>;
    fn into_iter(self) -> RowDataIter<'a> {
        self.iter()
    }
}

impl IntoIterator for RowData {
    type Item = (ColumnName, Datum);
    type IntoIter = std::vec::IntoIter<(ColumnName, Datum)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Serialize for RowData {
    /// A JSON object, columns in name order.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (c, d) in &self.0 {
            m.serialize_entry(c, d)?;
        }
        m.end()
    }
}

/// `[column, function, value]`: which rows an operation applies to.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub column: String,
    pub function: &'static str,
    pub value: Datum,
}

impl Condition {
    pub fn eq(column: &str, value: impl Into<Datum>) -> Condition {
        Condition { column: column.to_string(), function: "==", value: value.into() }
    }

    /// The row with this UUID.
    pub fn uuid(u: Uuid) -> Condition {
        Condition::eq("_uuid", Datum::atom(u))
    }

    pub fn to_json(&self) -> Value {
        json!([self.column, self.function, self.value.to_json()])
    }
}

/// `[column, mutator, value]`, e.g. `["ports", "insert", ["set", [...]]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    pub column: String,
    pub mutator: &'static str,
    pub value: Datum,
}

impl Mutation {
    pub fn insert(column: &str, value: impl Into<Datum>) -> Mutation {
        Mutation { column: column.to_string(), mutator: "insert", value: value.into() }
    }

    pub fn delete(column: &str, value: impl Into<Datum>) -> Mutation {
        Mutation { column: column.to_string(), mutator: "delete", value: value.into() }
    }

    pub fn to_json(&self) -> Value {
        json!([self.column, self.mutator, self.value.to_json()])
    }
}

impl Serialize for Condition {
    /// `[column, function, value]`, as [`Condition::to_json`] builds it.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.column, self.function, &self.value).serialize(s)
    }
}

impl Serialize for Mutation {
    /// `[column, mutator, value]`, as [`Mutation::to_json`] builds it.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.column, self.mutator, &self.value).serialize(s)
    }
}

impl From<Atom> for Datum {
    fn from(a: Atom) -> Datum {
        Datum::atom(a)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// `uuid` is the row's UUID chosen by the client (OVSDB 2.13 and later accept it), `uuid_name` its name
    /// within the transaction.
    Insert {
        table: String,
        row: RowData,
        uuid_name: Option<String>,
        uuid: Option<Uuid>,
    },
    Update {
        table: String,
        conditions: Vec<Condition>,
        row: RowData,
    },
    Mutate {
        table: String,
        conditions: Vec<Condition>,
        mutations: Vec<Mutation>,
    },
    Delete {
        table: String,
        conditions: Vec<Condition>,
    },
    Select {
        table: String,
        conditions: Vec<Condition>,
        columns: Option<Vec<String>>,
    },
    Wait {
        table: String,
        conditions: Vec<Condition>,
        columns: Vec<String>,
        equal: bool,
        rows: Vec<RowData>,
        timeout_ms: u64,
    },
    Comment(String),
}

fn row_json(row: &RowData) -> Value {
    Value::Object(row.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect::<Map<_, _>>())
}

fn conds_json(c: &[Condition]) -> Value {
    Value::Array(c.iter().map(Condition::to_json).collect())
}

impl Serialize for Operation {
    /// The JSON object of [`Operation::to_json`] (same members, same order), written straight to the
    /// serializer: a big transaction goes to bytes without a `Value` tree in between.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match self {
            Operation::Insert { table, row, uuid_name, uuid } => {
                m.serialize_entry("op", "insert")?;
                m.serialize_entry("table", table)?;
                m.serialize_entry("row", row)?;
                if let Some(n) = uuid_name {
                    m.serialize_entry("uuid-name", n)?;
                }
                if let Some(u) = uuid {
                    m.serialize_entry("uuid", u)?;
                }
            }
            Operation::Update { table, conditions, row } => {
                m.serialize_entry("op", "update")?;
                m.serialize_entry("table", table)?;
                m.serialize_entry("where", conditions)?;
                m.serialize_entry("row", row)?;
            }
            Operation::Mutate { table, conditions, mutations } => {
                m.serialize_entry("op", "mutate")?;
                m.serialize_entry("table", table)?;
                m.serialize_entry("where", conditions)?;
                m.serialize_entry("mutations", mutations)?;
            }
            Operation::Delete { table, conditions } => {
                m.serialize_entry("op", "delete")?;
                m.serialize_entry("table", table)?;
                m.serialize_entry("where", conditions)?;
            }
            Operation::Select { table, conditions, columns } => {
                m.serialize_entry("op", "select")?;
                m.serialize_entry("table", table)?;
                m.serialize_entry("where", conditions)?;
                if let Some(c) = columns {
                    m.serialize_entry("columns", c)?;
                }
            }
            Operation::Wait { table, conditions, columns, equal, rows, timeout_ms } => {
                m.serialize_entry("op", "wait")?;
                m.serialize_entry("table", table)?;
                m.serialize_entry("where", conditions)?;
                m.serialize_entry("columns", columns)?;
                m.serialize_entry("until", if *equal { "==" } else { "!=" })?;
                m.serialize_entry("rows", rows)?;
                m.serialize_entry("timeout", timeout_ms)?;
            }
            Operation::Comment(c) => {
                m.serialize_entry("op", "comment")?;
                m.serialize_entry("comment", c)?;
            }
        }
        m.end()
    }
}

/// The `params` of a `transact` request, `[db, op, ...]`, serialized without building them as values
/// (see [`Transaction::params`]).
pub struct TransactParams<'a> {
    db: &'a str,
    txn: &'a Transaction,
}

impl Serialize for TransactParams<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(1 + self.txn.ops.len()))?;
        seq.serialize_element(self.db)?;
        for op in &self.txn.ops {
            seq.serialize_element(op)?;
        }
        seq.end()
    }
}

impl Operation {
    pub fn to_json(&self) -> Value {
        match self {
            Operation::Insert { table, row, uuid_name, uuid } => {
                let mut o = json!({"op": "insert", "table": table, "row": row_json(row)});
                if let Some(n) = uuid_name {
                    o["uuid-name"] = json!(n);
                }
                if let Some(u) = uuid {
                    o["uuid"] = json!(u.to_string());
                }
                o
            }
            Operation::Update { table, conditions, row } => {
                json!({"op": "update", "table": table, "where": conds_json(conditions), "row": row_json(row)})
            }
            Operation::Mutate { table, conditions, mutations } => json!({
                "op": "mutate", "table": table, "where": conds_json(conditions),
                "mutations": mutations.iter().map(Mutation::to_json).collect::<Vec<_>>()
            }),
            Operation::Delete { table, conditions } => {
                json!({"op": "delete", "table": table, "where": conds_json(conditions)})
            }
            Operation::Select { table, conditions, columns } => {
                let mut o = json!({"op": "select", "table": table, "where": conds_json(conditions)});
                if let Some(c) = columns {
                    o["columns"] = json!(c);
                }
                o
            }
            Operation::Wait { table, conditions, columns, equal, rows, timeout_ms } => json!({
                "op": "wait", "table": table, "where": conds_json(conditions), "columns": columns,
                "until": if *equal { "==" } else { "!=" }, "rows": rows.iter().map(row_json).collect::<Vec<_>>(),
                "timeout": timeout_ms
            }),
            Operation::Comment(c) => json!({"op": "comment", "comment": c}),
        }
    }

    /// A short description for error messages: "insert into Logical_Switch".
    pub fn describe(&self) -> String {
        match self {
            Operation::Insert { table, .. } => format!("insert into {table}"),
            Operation::Update { table, .. } => format!("update of {table}"),
            Operation::Mutate { table, .. } => format!("mutate of {table}"),
            Operation::Delete { table, .. } => format!("delete from {table}"),
            Operation::Select { table, .. } => format!("select from {table}"),
            Operation::Wait { table, .. } => format!("wait on {table}"),
            Operation::Comment(_) => "comment".to_string(),
        }
    }
}

/// A list of operations for one `transact` request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transaction {
    pub ops: Vec<Operation>,
    next_name: usize,
}

impl Transaction {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.iter().all(|o| matches!(o, Operation::Comment(_)))
    }

    /// Inserts a row; the returned atom names it within this transaction.
    pub fn insert(&mut self, table: &str, row: RowData) -> Atom {
        let name = format!("row{}", self.next_name);
        self.next_name += 1;
        self.ops.push(Operation::Insert { table: table.to_string(), row, uuid_name: Some(name.clone()), uuid: None });
        Atom::NamedUuid(name)
    }

    /// Inserts a row with a UUID the caller chose ([`crate::ovsdb::UuidGen`]), which other rows refer to as
    /// it: no name to resolve when the transaction is split ([`Transaction::into_batches`]).
    pub fn insert_with_uuid(&mut self, table: &str, row: RowData, uuid: Uuid) -> Atom {
        self.ops.push(Operation::Insert { table: table.to_string(), row, uuid_name: None, uuid: Some(uuid) });
        Atom::Uuid(uuid)
    }

    /// Inserts a row nothing in this transaction refers to: no name to make, carry, or look up (a first
    /// sync inserts 50,000 logical flows, which nothing references).
    pub fn insert_unnamed(&mut self, table: &str, row: RowData) {
        self.ops.push(Operation::Insert { table: table.to_string(), row, uuid_name: None, uuid: None });
    }

    pub fn update(&mut self, table: &str, conditions: Vec<Condition>, row: RowData) {
        self.ops.push(Operation::Update { table: table.to_string(), conditions, row });
    }

    pub fn mutate(&mut self, table: &str, conditions: Vec<Condition>, mutations: Vec<Mutation>) {
        self.ops.push(Operation::Mutate { table: table.to_string(), conditions, mutations });
    }

    pub fn delete(&mut self, table: &str, conditions: Vec<Condition>) {
        self.ops.push(Operation::Delete { table: table.to_string(), conditions });
    }

    pub fn select(&mut self, table: &str, conditions: Vec<Condition>, columns: Option<Vec<String>>) {
        self.ops.push(Operation::Select { table: table.to_string(), conditions, columns });
    }

    /// Fails the transaction unless the rows matching `conditions` have exactly `rows` in `columns`
    /// (checked at once: timeout 0).
    pub fn wait_equal(&mut self, table: &str, conditions: Vec<Condition>, columns: Vec<String>, rows: Vec<RowData>) {
        self.ops.push(Operation::Wait { table: table.to_string(), conditions, columns, equal: true, rows, timeout_ms: 0 });
    }

    pub fn comment(&mut self, text: &str) {
        self.ops.push(Operation::Comment(text.to_string()));
    }

    /// The `params` of the `transact` request.
    pub fn to_params(&self, db: &str) -> Vec<Value> {
        std::iter::once(json!(db)).chain(self.ops.iter().map(Operation::to_json)).collect()
    }

    /// The `params` of the `transact` request, to serialize straight to bytes (the same JSON as
    /// [`Transaction::to_params`]).
    pub fn params<'a>(&'a self, db: &'a str) -> TransactParams<'a> {
        TransactParams { db, txn: self }
    }

    /// Reads the server's result array: the per-operation results, or the first failure.
    pub fn check_result(&self, result: &Value) -> Result<Vec<Value>, TransactError> {
        self.check_result_owned(result.clone())
    }

    /// [`Transaction::check_result`], taking the result (no copy of a big reply).
    pub fn check_result_owned(&self, result: Value) -> Result<Vec<Value>, TransactError> {
        let results = match result {
            Value::Array(a) => a,
            other => {
                return Err(TransactError {
                    index: None,
                    op: String::new(),
                    error: "reply is not an array".into(),
                    details: other.to_string(),
                })
            }
        };
        for (i, r) in results.iter().enumerate() {
            if let Some(e) = r.get("error") {
                return Err(TransactError {
                    index: (i < self.ops.len()).then_some(i),
                    op: self.ops.get(i).map(Operation::describe).unwrap_or_else(|| "commit".into()),
                    error: e.as_str().unwrap_or("error").to_string(),
                    details: r.get("details").and_then(Value::as_str).unwrap_or("").to_string(),
                });
            }
        }
        if results.len() < self.ops.len() {
            return Err(TransactError {
                index: None,
                op: String::new(),
                error: "short reply".into(),
                details: Value::Array(results).to_string(),
            });
        }
        Ok(results)
    }
}

/// One operation of a transaction failed, so none took effect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TransactError {
    /// Which operation (None: the commit itself).
    pub index: Option<usize>,
    pub op: String,
    /// RFC 7047's error name, e.g. "constraint violation", "timed out" (a failed `wait`).
    pub error: String,
    pub details: String,
}

impl TransactError {
    /// A `wait` found the rows changed: reading again and retrying is the answer.
    pub fn is_stale(&self) -> bool {
        self.error == "timed out"
    }
}

impl fmt::Display for TransactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "transaction failed at operation {i} ({}): {}", self.op, self.error)?,
            None => write!(f, "transaction failed: {}", self.error)?,
        }
        if !self.details.is_empty() {
            write!(f, ": {}", self.details)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_named_inserts_and_reads_failures() {
        let mut t = Transaction::new();
        let ls = t.insert("Logical_Switch", RowData::from([("name".to_string(), Datum::atom("sw"))]));
        t.mutate("NB_Global", vec![], vec![Mutation::insert("x", Datum::atom(ls.clone()))]);
        let p = t.to_params("OVN_Northbound");
        assert_eq!(p[0], json!("OVN_Northbound"));
        assert_eq!(p[1]["uuid-name"], json!("row0"));
        assert_eq!(p[2]["mutations"][0][2], json!(["named-uuid", "row0"]));
        let e = t
            .check_result(
                &json!([{"uuid": ["uuid", "00000000-0000-0000-0000-000000000000"]}, {"error": "constraint violation", "details": "bad"}]),
            )
            .unwrap_err();
        assert_eq!(e.index, Some(1));
        assert_eq!(e.to_string(), "transaction failed at operation 1 (mutate of NB_Global): constraint violation: bad");
        let commit = t.check_result(&json!([{}, {"count": 1}, {"error": "referential integrity violation"}])).unwrap_err();
        assert_eq!(commit.op, "commit");
    }

    /// Every kind of operation serializes straight to the same JSON `to_params` builds.
    #[test]
    fn serializes_like_to_params() {
        let mut t = Transaction::new();
        let row = RowData::from([
            ("name".to_string(), Datum::atom("sw \"1\"")),
            ("ports".to_string(), Datum::set([Atom::Uuid(Uuid(7)), Atom::NamedUuid("row9".into())])),
            ("options".to_string(), Datum::map([("k", "v"), ("a", "b")])),
            ("w".to_string(), Datum::atom(Atom::Real(0.5))),
            ("on".to_string(), Datum::atom(true)),
            ("none".to_string(), Datum::empty_set()),
        ]);
        let a = t.insert("A", row.clone());
        t.update("A", vec![Condition::uuid(Uuid(1))], row.clone());
        t.mutate(
            "A",
            vec![Condition::eq("name", Datum::atom("x"))],
            vec![Mutation::insert("ports", Datum::atom(a)), Mutation::delete("n", Datum::atom(2))],
        );
        t.delete("A", vec![Condition::uuid(Uuid(2))]);
        t.select("A", vec![], Some(vec!["name".into()]));
        t.select("A", vec![], None);
        t.wait_equal("A", vec![Condition::uuid(Uuid(3))], vec!["name".into()], vec![row]);
        t.comment("hello");
        let direct = serde_json::to_string(&t.params("DB")).unwrap();
        assert_eq!(direct, serde_json::to_string(&t.to_params("DB")).unwrap());
    }
}
