//! Building `transact` requests (RFC 7047 section 5.2) and reading their results.
//!
//! A [`Transaction`] is a list of operations the server runs atomically: all of them or none. Rows the same
//! transaction inserts are referred to by name ([`Transaction::insert`] returns the `named-uuid` atom to put
//! into other rows), and a `wait` operation makes the whole transaction fail if a row changed since it was
//! read, which is how a client that read, decided and wrote stays correct when another client wrote between.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Map, Value};

use super::datum::{Atom, Datum};
use super::uuid::Uuid;

pub type RowData = BTreeMap<String, Datum>;

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

impl From<Atom> for Datum {
    fn from(a: Atom) -> Datum {
        Datum::atom(a)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    Insert { table: String, row: RowData, uuid_name: Option<String> },
    Update { table: String, conditions: Vec<Condition>, row: RowData },
    Mutate { table: String, conditions: Vec<Condition>, mutations: Vec<Mutation> },
    Delete { table: String, conditions: Vec<Condition> },
    Select { table: String, conditions: Vec<Condition>, columns: Option<Vec<String>> },
    Wait { table: String, conditions: Vec<Condition>, columns: Vec<String>, equal: bool, rows: Vec<RowData>, timeout_ms: u64 },
    Comment(String),
}

fn row_json(row: &RowData) -> Value {
    Value::Object(row.iter().map(|(k, v)| (k.clone(), v.to_json())).collect::<Map<_, _>>())
}

fn conds_json(c: &[Condition]) -> Value {
    Value::Array(c.iter().map(Condition::to_json).collect())
}

impl Operation {
    pub fn to_json(&self) -> Value {
        match self {
            Operation::Insert { table, row, uuid_name } => {
                let mut o = json!({"op": "insert", "table": table, "row": row_json(row)});
                if let Some(n) = uuid_name {
                    o["uuid-name"] = json!(n);
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
        self.ops.push(Operation::Insert { table: table.to_string(), row, uuid_name: Some(name.clone()) });
        Atom::NamedUuid(name)
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

    /// Reads the server's result array: the per-operation results, or the first failure.
    pub fn check_result(&self, result: &Value) -> Result<Vec<Value>, TransactError> {
        let results = result.as_array().ok_or_else(|| TransactError {
            index: None,
            op: String::new(),
            error: "reply is not an array".into(),
            details: result.to_string(),
        })?;
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
            return Err(TransactError { index: None, op: String::new(), error: "short reply".into(), details: result.to_string() });
        }
        Ok(results.clone())
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
}
