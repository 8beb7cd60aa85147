//! Database schemas (RFC 7047 section 3.2), read from `get_schema` or a `.ovsschema` file.
//!
//! The replica checks every value it receives against these types, and `nbctl` checks every value it is
//! about to write, so a bad value is refused with a message naming the column before anything is sent.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use super::datum::{Atom, Datum, DatumError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema: {0}")]
pub struct SchemaError(pub String);

fn bad<T>(msg: impl Into<String>) -> Result<T, SchemaError> {
    Err(SchemaError(msg.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtomicType {
    Integer,
    Real,
    Boolean,
    String,
    Uuid,
}

impl AtomicType {
    fn parse(s: &str) -> Result<AtomicType, SchemaError> {
        Ok(match s {
            "integer" => AtomicType::Integer,
            "real" => AtomicType::Real,
            "boolean" => AtomicType::Boolean,
            "string" => AtomicType::String,
            "uuid" => AtomicType::Uuid,
            _ => return bad(format!("unknown atomic type {s:?}")),
        })
    }
}

impl fmt::Display for AtomicType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AtomicType::Integer => "integer",
            AtomicType::Real => "real",
            AtomicType::Boolean => "boolean",
            AtomicType::String => "string",
            AtomicType::Uuid => "uuid",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefType {
    Strong,
    Weak,
}

/// The type of the keys (or values) of a column, with its constraints.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseType {
    pub atomic: AtomicType,
    pub enumeration: Option<BTreeSet<Atom>>,
    pub min_integer: Option<i64>,
    pub max_integer: Option<i64>,
    pub min_real: Option<f64>,
    pub max_real: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub ref_table: Option<String>,
    pub ref_type: RefType,
}

impl BaseType {
    /// An unconstrained base type.
    pub fn of(atomic: AtomicType) -> BaseType {
        BaseType {
            atomic,
            enumeration: None,
            min_integer: None,
            max_integer: None,
            min_real: None,
            max_real: None,
            min_length: None,
            max_length: None,
            ref_table: None,
            ref_type: RefType::Strong,
        }
    }

    pub fn from_json(v: &Value) -> Result<BaseType, SchemaError> {
        let obj = match v {
            Value::String(s) => return Ok(BaseType::of(AtomicType::parse(s)?)),
            Value::Object(o) => o,
            _ => return bad(format!("{v} is not a base type")),
        };
        let atomic = match obj.get("type") {
            Some(Value::String(s)) => AtomicType::parse(s)?,
            _ => return bad(format!("base type {v} has no \"type\"")),
        };
        let mut b = BaseType::of(atomic);
        if let Some(e) = obj.get("enum") {
            let t = ColumnType { key: BaseType::of(atomic), value: None, min: 0, max: None };
            let d = Datum::from_json_unchecked(e, &t).map_err(|DatumError(m)| SchemaError(m))?;
            b.enumeration = Some(d.atoms().cloned().collect());
        }
        b.min_integer = obj.get("minInteger").and_then(Value::as_i64);
        b.max_integer = obj.get("maxInteger").and_then(Value::as_i64);
        b.min_real = obj.get("minReal").and_then(Value::as_f64);
        b.max_real = obj.get("maxReal").and_then(Value::as_f64);
        b.min_length = obj.get("minLength").and_then(Value::as_u64);
        b.max_length = obj.get("maxLength").and_then(Value::as_u64);
        b.ref_table = obj.get("refTable").and_then(Value::as_str).map(str::to_string);
        if obj.get("refType").and_then(Value::as_str) == Some("weak") {
            b.ref_type = RefType::Weak;
        }
        Ok(b)
    }
}

/// A column's type: key type, optional value type (a map), and how many members it may hold.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnType {
    pub key: BaseType,
    pub value: Option<BaseType>,
    pub min: usize,
    /// `None` is "unlimited".
    pub max: Option<usize>,
}

impl ColumnType {
    pub fn from_json(v: &Value) -> Result<ColumnType, SchemaError> {
        let obj = match v {
            Value::String(_) => return Ok(ColumnType { key: BaseType::from_json(v)?, value: None, min: 1, max: Some(1) }),
            Value::Object(o) => o,
            _ => return bad(format!("{v} is not a column type")),
        };
        let key = BaseType::from_json(obj.get("key").ok_or_else(|| SchemaError(format!("{v} has no key")))?)?;
        let value = obj.get("value").map(BaseType::from_json).transpose()?;
        let min = obj.get("min").and_then(Value::as_u64).unwrap_or(1) as usize;
        let max = match obj.get("max") {
            None => Some(1),
            Some(Value::String(s)) if s == "unlimited" => None,
            Some(m) => Some(m.as_u64().ok_or_else(|| SchemaError(format!("bad max {m}")))? as usize),
        };
        Ok(ColumnType { key, value, min, max })
    }

    /// True for a column that holds at most one atom and no map.
    pub fn is_optional_scalar(&self) -> bool {
        self.value.is_none() && self.max == Some(1)
    }

    pub fn is_map(&self) -> bool {
        self.value.is_some()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSchema {
    pub name: String,
    pub ctype: ColumnType,
    pub mutable: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    pub name: String,
    pub columns: BTreeMap<String, ColumnSchema>,
    pub is_root: bool,
    pub indexes: Vec<Vec<String>>,
}

impl TableSchema {
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.get(name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseSchema {
    pub name: String,
    pub version: String,
    pub tables: BTreeMap<String, TableSchema>,
}

impl DatabaseSchema {
    pub fn from_json(v: &Value) -> Result<DatabaseSchema, SchemaError> {
        let name = v.get("name").and_then(Value::as_str).ok_or_else(|| SchemaError("no name".into()))?;
        let version = v.get("version").and_then(Value::as_str).unwrap_or("").to_string();
        let tables_json = v.get("tables").and_then(Value::as_object).ok_or_else(|| SchemaError("no tables".into()))?;
        let mut tables = BTreeMap::new();
        for (tname, t) in tables_json {
            let cols = t.get("columns").and_then(Value::as_object).ok_or_else(|| SchemaError(format!("table {tname} has no columns")))?;
            let mut columns = BTreeMap::new();
            for (cname, c) in cols {
                let ctype = ColumnType::from_json(c.get("type").unwrap_or(&Value::Null))
                    .map_err(|e| SchemaError(format!("{tname}.{cname}: {}", e.0)))?;
                let mutable = c.get("mutable").and_then(Value::as_bool).unwrap_or(true);
                columns.insert(cname.clone(), ColumnSchema { name: cname.clone(), ctype, mutable });
            }
            let indexes = t
                .get("indexes")
                .and_then(Value::as_array)
                .map(|ix| {
                    ix.iter()
                        .filter_map(Value::as_array)
                        .map(|cols| cols.iter().filter_map(Value::as_str).map(str::to_string).collect())
                        .collect()
                })
                .unwrap_or_default();
            let is_root = t.get("isRoot").and_then(Value::as_bool).unwrap_or(false);
            tables.insert(tname.clone(), TableSchema { name: tname.clone(), columns, is_root, indexes });
        }
        Ok(DatabaseSchema { name: name.to_string(), version, tables })
    }

    /// Reads a `.ovsschema` file.
    pub fn from_file(path: &std::path::Path) -> Result<DatabaseSchema, SchemaError> {
        let text = std::fs::read_to_string(path).map_err(|e| SchemaError(format!("{}: {e}", path.display())))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| SchemaError(format!("{}: {e}", path.display())))?;
        Self::from_json(&v)
    }

    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.get(name)
    }

    /// The type of `table.column`, with an error naming both when either is unknown.
    pub fn column_type(&self, table: &str, column: &str) -> Result<&ColumnType, SchemaError> {
        let t = self.tables.get(table).ok_or_else(|| SchemaError(format!("no table {table}")))?;
        t.columns.get(column).map(|c| &c.ctype).ok_or_else(|| SchemaError(format!("table {table} has no column {column}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_schema_with_constraints() {
        let s = DatabaseSchema::from_json(&json!({
            "name": "T", "version": "1.0.0",
            "tables": {"A": {"isRoot": true, "indexes": [["name"]], "columns": {
                "name": {"type": "string"},
                "refs": {"type": {"key": {"type": "uuid", "refTable": "A", "refType": "weak"}, "min": 0, "max": "unlimited"}},
                "kind": {"type": {"key": {"type": "string", "enum": ["set", ["x", "y"]]}}}
            }}}
        }))
        .unwrap();
        let a = s.table("A").unwrap();
        assert!(a.is_root);
        assert_eq!(a.indexes, vec![vec!["name".to_string()]]);
        let refs = &a.column("refs").unwrap().ctype;
        assert_eq!(refs.key.ref_type, RefType::Weak);
        assert_eq!(refs.max, None);
        let kind = &a.column("kind").unwrap().ctype;
        assert_eq!(kind.key.enumeration.as_ref().map(|e| e.len()), Some(2));
        assert!(s.column_type("A", "nope").is_err());
    }
}
