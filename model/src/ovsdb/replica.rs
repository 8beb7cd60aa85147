//! An in-memory copy of (part of) a database, kept current by `update2` notifications.
//!
//! Every value that enters the replica is checked against the schema; a row with a bad value is logged and
//! left out rather than poisoning the copy (a daemon never dies on data). The replica also records which
//! rows changed since the caller last asked ([`Replica::take_changes`]), the seed of incremental processing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::datum::Datum;
use super::schema::{DatabaseSchema, TableSchema};
use super::uuid::Uuid;

/// One row: every column of its table, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub uuid: Uuid,
    pub columns: BTreeMap<String, Datum>,
}

static EMPTY: Datum = Datum::Set(BTreeSet::new());

impl Row {
    /// A column's value (the empty set for a column the row does not have).
    pub fn get(&self, column: &str) -> &Datum {
        self.columns.get(column).unwrap_or(&EMPTY)
    }

    /// A string column's value, or "" when empty.
    pub fn str(&self, column: &str) -> &str {
        self.get(column).as_str().unwrap_or("")
    }

    /// A row of `table` holding every column's default value.
    pub fn with_defaults(uuid: Uuid, table: &TableSchema) -> Row {
        let columns = table.columns.values().map(|c| (c.name.clone(), Datum::default_of(&c.ctype))).collect();
        Row { uuid, columns }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableData {
    pub rows: BTreeMap<Uuid, Row>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("update for unknown table {0}")]
    UnknownTable(String),
    #[error("{table} row {uuid}: {msg}")]
    BadRow { table: String, uuid: String, msg: String },
    #[error("malformed update: {0}")]
    Malformed(String),
}

/// What one update did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateStats {
    pub inserted: usize,
    pub modified: usize,
    pub deleted: usize,
    /// Row updates refused (logged) because a value broke the schema.
    pub rejected: usize,
}

#[derive(Debug, Clone)]
pub struct Replica {
    schema: Arc<DatabaseSchema>,
    tables: BTreeMap<String, TableData>,
    changes: BTreeMap<String, BTreeSet<Uuid>>,
    seqno: u64,
}

impl Replica {
    pub fn new(schema: Arc<DatabaseSchema>) -> Replica {
        Replica { schema, tables: BTreeMap::new(), changes: BTreeMap::new(), seqno: 0 }
    }

    pub fn schema(&self) -> &Arc<DatabaseSchema> {
        &self.schema
    }

    /// Bumped by every update that changed something.
    pub fn seqno(&self) -> u64 {
        self.seqno
    }

    /// Forgets every row (before a full resync).
    pub fn clear(&mut self) {
        for (name, t) in std::mem::take(&mut self.tables) {
            self.changes.entry(name).or_default().extend(t.rows.into_keys());
        }
        self.seqno += 1;
    }

    pub fn table(&self, name: &str) -> impl Iterator<Item = &Row> {
        self.tables.get(name).into_iter().flat_map(|t| t.rows.values())
    }

    pub fn row(&self, table: &str, uuid: Uuid) -> Option<&Row> {
        self.tables.get(table)?.rows.get(&uuid)
    }

    pub fn len(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, |t| t.rows.len())
    }

    pub fn is_empty(&self) -> bool {
        self.tables.values().all(|t| t.rows.is_empty())
    }

    /// The rows changed (inserted, modified or deleted) since the last call, per table.
    pub fn take_changes(&mut self) -> BTreeMap<String, BTreeSet<Uuid>> {
        std::mem::take(&mut self.changes)
    }

    /// The `monitor_cond` requests for whole tables (all columns).
    pub fn monitor_requests(&self, tables: &[&str]) -> Value {
        let mut m = Map::new();
        for t in tables {
            if let Some(ts) = self.schema.table(t) {
                let cols: Vec<&String> = ts.columns.keys().collect();
                m.insert(t.to_string(), json!([{"columns": cols}]));
            }
        }
        Value::Object(m)
    }

    /// Applies a `table-updates2` object (the reply of `monitor_cond` or the params of `update2`).
    pub fn apply_update2(&mut self, updates: &Value) -> Result<UpdateStats, ReplicaError> {
        let tables = updates.as_object().ok_or_else(|| ReplicaError::Malformed(updates.to_string()))?;
        let mut stats = UpdateStats::default();
        let schema = Arc::clone(&self.schema);
        for (tname, rows) in tables {
            let ts = schema.table(tname).ok_or_else(|| ReplicaError::UnknownTable(tname.clone()))?;
            let rows = rows.as_object().ok_or_else(|| ReplicaError::Malformed(rows.to_string()))?;
            for (uuid_s, upd) in rows {
                match self.apply_row(ts, uuid_s, upd, &mut stats) {
                    Ok(()) => {}
                    Err(e) => {
                        stats.rejected += 1;
                        tracing::warn!(error = %e, "skipping row update");
                    }
                }
            }
        }
        if stats.inserted + stats.modified + stats.deleted > 0 {
            self.seqno += 1;
        }
        Ok(stats)
    }

    fn apply_row(&mut self, ts: &TableSchema, uuid_s: &str, upd: &Value, stats: &mut UpdateStats) -> Result<(), ReplicaError> {
        let bad = |msg: String| ReplicaError::BadRow { table: ts.name.clone(), uuid: uuid_s.to_string(), msg };
        let uuid: Uuid = uuid_s.parse().map_err(|e: super::uuid::UuidParseError| bad(e.to_string()))?;
        let table = self.tables.entry(ts.name.clone()).or_default();
        let obj = upd.as_object().ok_or_else(|| bad(format!("not a row update: {upd}")))?;
        if let Some(new) = obj.get("initial").or_else(|| obj.get("insert")) {
            let mut row = Row::with_defaults(uuid, ts);
            for (col, v) in new.as_object().ok_or_else(|| bad(format!("not a row: {new}")))? {
                let Some(cs) = ts.column(col) else { continue };
                let d = Datum::from_json(v, &cs.ctype).map_err(|e| bad(format!("column {col}: {e}")))?;
                row.columns.insert(col.clone(), d);
            }
            table.rows.insert(uuid, row);
            stats.inserted += 1;
        } else if let Some(diff) = obj.get("modify") {
            let diff = diff.as_object().ok_or_else(|| bad(format!("not a row diff: {diff}")))?;
            let old = table.rows.get(&uuid).ok_or_else(|| bad("modify of a row we do not have".into()))?;
            let mut row = old.clone();
            for (col, v) in diff {
                let Some(cs) = ts.column(col) else { continue };
                let d = Datum::from_json_unchecked(v, &cs.ctype).map_err(|e| bad(format!("column {col}: {e}")))?;
                let cur = row.columns.entry(col.clone()).or_insert_with(|| Datum::default_of(&cs.ctype));
                cur.apply_diff(d, &cs.ctype);
                cur.check(&cs.ctype).map_err(|e| bad(format!("column {col}: {e}")))?;
            }
            table.rows.insert(uuid, row);
            stats.modified += 1;
        } else if obj.contains_key("delete") {
            if table.rows.remove(&uuid).is_some() {
                stats.deleted += 1;
            }
        } else {
            return Err(bad(format!("unknown row update {upd}")));
        }
        self.changes.entry(ts.name.clone()).or_default().insert(uuid);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Arc<DatabaseSchema> {
        Arc::new(
            DatabaseSchema::from_json(&json!({"name": "T", "version": "1", "tables": {"A": {"columns": {
                "name": {"type": "string"},
                "tags": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
                "opts": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                "prio": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 10}}}
            }}}}))
            .unwrap(),
        )
    }

    const U1: &str = "11111111-1111-1111-1111-111111111111";
    const U2: &str = "22222222-2222-2222-2222-222222222222";

    #[test]
    fn follows_initial_modify_delete() {
        let mut r = Replica::new(schema());
        r.apply_update2(&json!({"A": {U1: {"initial": {"name": "a", "tags": ["set", ["x", "y"]]}}}})).unwrap();
        let row = r.row("A", U1.parse().unwrap()).unwrap();
        assert_eq!(row.str("name"), "a");
        assert_eq!(row.get("prio"), &Datum::atom(0), "defaults are filled in");
        r.apply_update2(&json!({"A": {U1: {"modify": {"name": "b", "tags": "x", "opts": ["map", [["k", "v"]]]}}}})).unwrap();
        let row = r.row("A", U1.parse().unwrap()).unwrap();
        assert_eq!(row.str("name"), "b");
        assert_eq!(row.get("tags"), &Datum::set(["y"]));
        assert_eq!(row.get("opts"), &Datum::map([("k", "v")]));
        let changes = r.take_changes();
        assert_eq!(changes["A"].len(), 1);
        r.apply_update2(&json!({"A": {U1: {"delete": null}}})).unwrap();
        assert_eq!(r.len("A"), 0);
    }

    #[test]
    fn skips_rows_that_break_the_schema() {
        let mut r = Replica::new(schema());
        let s = r.apply_update2(&json!({"A": {U1: {"insert": {"name": "a", "prio": 99}}, U2: {"insert": {"name": "b"}}}})).unwrap();
        assert_eq!(s.rejected, 1);
        assert_eq!(s.inserted, 1);
        assert!(r.row("A", U2.parse().unwrap()).is_some());
        assert!(r.row("A", U1.parse().unwrap()).is_none());
        assert!(r.apply_update2(&json!({"Nope": {}})).is_err());
    }
}
