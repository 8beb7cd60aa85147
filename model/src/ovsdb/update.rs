//! Reading `table-updates2` (the reply of `monitor_cond` and the params of `update2`, RFC 7047 + OVSDB's
//! `monitor_cond` extension) straight into replica rows.
//!
//! The first contents of a big Southbound are one message of tens of megabytes. Parsed into a
//! `serde_json::Value` first, every string, array and object of it becomes its own allocation before a
//! single row exists, several times the size of the rows themselves. [`UpdateDecoder`] instead runs serde
//! visitors over the message's bytes (or over a `Value`, for callers that have one) that know the schema:
//!
//! ```text
//!   bytes ─▶ table name ─▶ row UUID ─▶ "initial"/"insert" ─▶ column name ─▶ DatumSeed(column type) ─▶ Row
//!                                      "modify"             ─▶ column name ─▶ DatumSeed ─▶ (column, diff)
//!                                      "delete"
//! ```
//! Inserted rows come out complete (defaults for the columns the server omitted, as OVSDB omits columns
//! holding their default) in the shared [`Layout`] of their table, ready to be moved into the replica; a
//! value that breaks the schema marks its row update as bad (logged and skipped when applied) and decoding
//! goes on with the next row.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::datum::{Datum, DatumSeed};
use super::row::{Layout, Row};
use super::schema::{ColumnType, DatabaseSchema};
use super::uuid::Uuid;

/// One table as the decoder reads it: its row layout and the type of each column, in layout order.
#[derive(Debug)]
pub struct TableCodec {
    pub name: String,
    pub layout: Arc<Layout>,
    types: Vec<ColumnType>,
}

impl TableCodec {
    pub fn column_type(&self, i: usize) -> Option<&ColumnType> {
        self.types.get(i)
    }
}

/// Reads `table-updates2` for one database schema. Cheap to clone; every row it makes shares its table's
/// layout.
#[derive(Debug, Clone)]
pub struct UpdateDecoder {
    schema: Arc<DatabaseSchema>,
    tables: Arc<BTreeMap<String, Arc<TableCodec>>>,
}

/// Why a whole message could not be read (a bad row is not one: see [`RowChange::Bad`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed update: {0}")]
pub struct DecodeError(pub String);

/// A decoded `table-updates2`, in message order.
#[derive(Debug, Default)]
pub struct TableUpdates {
    pub tables: Vec<TableUpdate>,
}

#[derive(Debug)]
pub enum TableUpdate {
    Rows {
        table: Arc<TableCodec>,
        /// The rows inserted (`initial`, `insert`), already in the replica's own shape, in the order
        /// read: into a table that is empty (the first contents) they move in bulk. (A vector, not a map:
        /// most of a first sync's inserts are the echo of the client's own rows, dropped at once.)
        inserts: Vec<(Uuid, Row)>,
        /// Every other row update. A table's updates name each row once, so the two sets are
        /// independent.
        rows: Vec<RowUpdate>,
    },
    /// A table the schema does not have.
    Unknown(String),
}

#[derive(Debug)]
pub struct RowUpdate {
    pub uuid: Uuid,
    pub change: RowChange,
}

#[derive(Debug)]
pub enum RowChange {
    /// `initial` or `insert`: the whole new row (the decoder puts those in `TableUpdate::Rows::inserts`).
    Insert(Row),
    /// `modify`: (layout position, diff) per changed column.
    Modify(Vec<(usize, Datum)>),
    Delete,
    /// The update could not be read; `uuid` is the text the server sent.
    Bad {
        uuid: String,
        msg: String,
    },
}

impl TableUpdates {
    /// How many row updates it holds.
    pub fn rows(&self) -> usize {
        self.tables
            .iter()
            .map(|t| match t {
                TableUpdate::Rows { inserts, rows, .. } => inserts.len() + rows.len(),
                TableUpdate::Unknown(_) => 0,
            })
            .sum()
    }
}

impl UpdateDecoder {
    pub fn new(schema: Arc<DatabaseSchema>) -> UpdateDecoder {
        let tables = schema
            .tables
            .iter()
            .map(|(name, ts)| {
                let codec = TableCodec {
                    name: name.clone(),
                    layout: Arc::new(Layout::of(ts)),
                    types: ts.columns.values().map(|c| c.ctype.clone()).collect(),
                };
                (name.clone(), Arc::new(codec))
            })
            .collect();
        UpdateDecoder { schema, tables: Arc::new(tables) }
    }

    pub fn schema(&self) -> &Arc<DatabaseSchema> {
        &self.schema
    }

    pub fn table(&self, name: &str) -> Option<&Arc<TableCodec>> {
        self.tables.get(name)
    }

    /// Reads a `table-updates2` object from its JSON text.
    pub fn decode_slice(&self, bytes: &[u8]) -> Result<TableUpdates, DecodeError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let out = self.seed().deserialize(&mut de).map_err(|e| DecodeError(e.to_string()))?;
        de.end().map_err(|e| DecodeError(e.to_string()))?;
        Ok(out)
    }

    /// Reads a `table-updates2` object already parsed.
    pub fn decode_value(&self, v: &Value) -> Result<TableUpdates, DecodeError> {
        self.seed().deserialize(v).map_err(|e| DecodeError(format!("{e}: {v}")))
    }

    /// The serde seed, for reading a `table-updates2` inside a bigger message.
    pub fn seed(&self) -> UpdatesSeed<'_> {
        UpdatesSeed(self)
    }
}

/// Reads one `table-updates2` object (see [`UpdateDecoder::seed`]).
pub struct UpdatesSeed<'a>(&'a UpdateDecoder);

impl<'de> DeserializeSeed<'de> for UpdatesSeed<'_> {
    type Value = TableUpdates;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<TableUpdates, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for UpdatesSeed<'_> {
    type Value = TableUpdates;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table-updates2 object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TableUpdates, A::Error> {
        let mut out = TableUpdates::default();
        while let Some(table) = map.next_key_seed(TableKey(self.0))? {
            match table {
                Ok(codec) => {
                    let (inserts, rows) = map.next_value_seed(RowsSeed(&codec))?;
                    out.tables.push(TableUpdate::Rows { table: codec, inserts, rows });
                }
                Err(name) => {
                    map.next_value::<IgnoredAny>()?;
                    out.tables.push(TableUpdate::Unknown(name));
                }
            }
        }
        Ok(out)
    }
}

/// A key read without allocating (unless it must be kept for an error message).
macro_rules! str_key_seed {
    ($seed:ty, $value:ty, |$self_:ident, $s:ident| $body:expr) => {
        impl<'de> DeserializeSeed<'de> for $seed {
            type Value = $value;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<$value, D::Error> {
                d.deserialize_str(self)
            }
        }
        impl<'de> Visitor<'de> for $seed {
            type Value = $value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>($self_, $s: &str) -> Result<$value, E> {
                Ok($body)
            }
        }
    };
}

/// A table name: its codec, or the name of a table the schema lacks.
struct TableKey<'a>(&'a UpdateDecoder);
str_key_seed!(TableKey<'_>, Result<Arc<TableCodec>, String>, |self, s| self.0.table(s).cloned().ok_or_else(|| s.to_string()));

/// A row UUID, or its text when it is not one.
struct UuidKey;
str_key_seed!(UuidKey, Result<Uuid, String>, |self, s| s.parse::<Uuid>().map_err(|_| s.to_string()));

/// A column name: its layout position (None for a column the schema lacks, which is skipped).
struct ColumnKey<'a>(&'a Layout);
str_key_seed!(ColumnKey<'_>, Option<usize>, |self, s| self.0.index(s));

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Initial,
    Insert,
    Modify,
    Delete,
    Other,
}

struct KindKey;
str_key_seed!(KindKey, Kind, |self, s| match s {
    "initial" => Kind::Initial,
    "insert" => Kind::Insert,
    "modify" => Kind::Modify,
    "delete" => Kind::Delete,
    _ => Kind::Other,
});

/// `{uuid: row-update2, ...}` of one table.
struct RowsSeed<'a>(&'a TableCodec);

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = (Vec<(Uuid, Row)>, Vec<RowUpdate>);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = (Vec<(Uuid, Row)>, Vec<RowUpdate>);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the row updates of table {}", self.0.name)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut inserts = Vec::new();
        let mut rows = Vec::new();
        while let Some(uuid) = map.next_key_seed(UuidKey)? {
            match uuid {
                Ok(uuid) => match map.next_value_seed(RowUpdateSeed { table: self.0, uuid })? {
                    RowChange::Insert(row) => {
                        inserts.push((uuid, row));
                    }
                    change => rows.push(RowUpdate { uuid, change }),
                },
                Err(text) => {
                    map.next_value::<IgnoredAny>()?;
                    let msg = super::uuid::UuidParseError(text.clone()).to_string();
                    rows.push(RowUpdate { uuid: Uuid(0), change: RowChange::Bad { uuid: text, msg } });
                }
            }
        }
        Ok((inserts, rows))
    }
}

/// One `row-update2`: `{"initial": row}`, `{"insert": row}`, `{"modify": diff}` or `{"delete": null}`.
struct RowUpdateSeed<'a> {
    table: &'a TableCodec,
    uuid: Uuid,
}

impl<'de> DeserializeSeed<'de> for RowUpdateSeed<'_> {
    type Value = RowChange;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RowChange, D::Error> {
        d.deserialize_any(self)
    }
}

impl RowUpdateSeed<'_> {
    fn bad(&self, msg: impl Into<String>) -> RowChange {
        RowChange::Bad { uuid: self.uuid.to_string(), msg: msg.into() }
    }
}

impl<'de> Visitor<'de> for RowUpdateSeed<'_> {
    type Value = RowChange;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row update")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RowChange, A::Error> {
        // Like the `Value` reader before it: initial, else insert, else modify, else delete.
        let (mut initial, mut insert, mut modify, mut delete) = (None, None, None, false);
        while let Some(kind) = map.next_key_seed(KindKey)? {
            match kind {
                Kind::Initial => initial = Some(map.next_value_seed(RowSeed { table: self.table, uuid: self.uuid })?),
                Kind::Insert => insert = Some(map.next_value_seed(RowSeed { table: self.table, uuid: self.uuid })?),
                Kind::Modify => modify = Some(map.next_value_seed(DiffSeed(self.table))?),
                Kind::Delete => {
                    map.next_value::<IgnoredAny>()?;
                    delete = true;
                }
                Kind::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(match (initial.or(insert), modify) {
            (Some(Ok(row)), _) => RowChange::Insert(row),
            (Some(Err(msg)), _) => self.bad(msg),
            (None, Some(Ok(diff))) => RowChange::Modify(diff),
            (None, Some(Err(msg))) => self.bad(msg),
            (None, None) if delete => RowChange::Delete,
            (None, None) => self.bad("unknown row update"),
        })
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RowChange, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.bad("not a row update"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<RowChange, E> {
        Ok(self.bad("not a row update"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<RowChange, E> {
        Ok(self.bad("not a row update"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<RowChange, E> {
        Ok(self.bad("not a row update"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<RowChange, E> {
        Ok(self.bad("not a row update"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<RowChange, E> {
        Ok(self.bad("not a row update"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<RowChange, E> {
        Ok(self.bad("not a row update"))
    }
}

/// Consumes any non-object value and reports `$msg` (for visitors that want an object).
macro_rules! not_an_object {
    ($msg:expr) => {
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Err($msg.to_string()))
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Err($msg.to_string()))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Err($msg.to_string()))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Err($msg.to_string()))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Err($msg.to_string()))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Err($msg.to_string()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Err($msg.to_string()))
        }
    };
}

/// The columns of an inserted row, checked against their types, into a complete row.
struct RowSeed<'a> {
    table: &'a TableCodec,
    uuid: Uuid,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Result<Row, String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Result<Row, String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let t = self.table;
        let mut row = Row::with_layout(self.uuid, &t.layout);
        let mut error = None;
        while let Some(col) = map.next_key_seed(ColumnKey(&t.layout))? {
            match (col, &error) {
                (Some(i), None) => {
                    let ctype = &t.types[i];
                    let d = map.next_value_seed(DatumSeed(ctype))?.and_then(|d| d.check(ctype).map(|()| d));
                    match d {
                        Ok(d) => {
                            if let Some(slot) = row.columns.at_mut(i) {
                                *slot = d;
                            }
                        }
                        Err(e) => error = Some(format!("column {}: {e}", t.layout.name(i).unwrap_or("?"))),
                    }
                }
                // A column the schema lacks, or the rest of a row already refused.
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(match error {
            Some(e) => Err(e),
            None => Ok(row),
        })
    }
    not_an_object!("not a row");
}

/// The columns of a `modify`: (layout position, diff), unchecked (a diff is not a column value).
struct DiffSeed<'a>(&'a TableCodec);

impl<'de> DeserializeSeed<'de> for DiffSeed<'_> {
    type Value = Result<Vec<(usize, Datum)>, String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DiffSeed<'_> {
    type Value = Result<Vec<(usize, Datum)>, String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row diff")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let t = self.0;
        let mut out = Vec::new();
        let mut error = None;
        while let Some(col) = map.next_key_seed(ColumnKey(&t.layout))? {
            match (col, &error) {
                (Some(i), None) => match map.next_value_seed(DatumSeed(&t.types[i]))? {
                    Ok(d) => out.push((i, d)),
                    Err(e) => error = Some(format!("column {}: {e}", t.layout.name(i).unwrap_or("?"))),
                },
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(match error {
            Some(e) => Err(e),
            None => Ok(out),
        })
    }
    not_an_object!("not a row diff");
}
