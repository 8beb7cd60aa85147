//! Replica rows: one value per column, the column names shared by every row of a table.
//!
//! ```text
//!   Layout (one per table, shared) : names    [actions, external_ids, logical_datapath, match, ...]
//!                                    defaults [""     , {}          , []              , ""   , ...]
//!   Row                            : uuid, Columns { layout ─┘, values [Datum; n] in the same order }
//! ```
//! A row stores no column names, and a column holding its default value costs its slot and nothing on the
//! heap (the default of an optional or map column is empty, of a scalar an inline atom). Reading a column
//! by name is a binary search in the shared, sorted name list.

use std::fmt;
use std::sync::Arc;

use super::datum::Datum;
use super::schema::TableSchema;
use super::uuid::Uuid;

/// The columns rows of one table store, sorted by name, with each one's default value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    names: Vec<String>,
    defaults: Vec<Datum>,
}

impl Layout {
    /// Every column of a table, with the defaults OVSDB gives them.
    pub fn of(table: &TableSchema) -> Layout {
        // `columns` is a BTreeMap, so the names come sorted.
        Layout {
            names: table.columns.keys().cloned().collect(),
            defaults: table.columns.values().map(|c| Datum::default_of(&c.ctype)).collect(),
        }
    }

    /// The position of a column.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.binary_search_by(|n| n.as_str().cmp(name)).ok()
    }

    /// The position of a column at or after `start`: for walking the layout alongside columns that come in
    /// name order too (a few comparisons per row instead of a search per column).
    pub fn index_from(&self, name: &str, start: usize) -> Option<usize> {
        let rest = self.names.get(start..)?;
        let i = rest.iter().position(|n| n.as_str() >= name)?;
        (rest[i] == name).then_some(start + i)
    }

    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.names.iter().map(String::as_str)
    }

    pub fn name(&self, i: usize) -> Option<&str> {
        self.names.get(i).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The default value of every column, in order.
    pub fn defaults(&self) -> &[Datum] {
        &self.defaults
    }
}

/// A row's columns: a map from column name to value with the `BTreeMap` methods callers use, stored as
/// one value per column of a shared [`Layout`]. Every column of the layout is present (holding its
/// default until set); inserting a column the layout lacks gives this row a layout of its own.
#[derive(Clone)]
pub struct Columns {
    layout: Arc<Layout>,
    values: Vec<Datum>,
}

impl Columns {
    /// No columns.
    pub fn new() -> Columns {
        Columns { layout: Arc::new(Layout::default()), values: Vec::new() }
    }

    /// Every column of `layout`, holding its default.
    pub fn with_layout(layout: &Arc<Layout>) -> Columns {
        Columns { layout: Arc::clone(layout), values: layout.defaults.clone() }
    }

    pub fn layout(&self) -> &Arc<Layout> {
        &self.layout
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.layout.index(name).is_some()
    }

    pub fn get(&self, name: &str) -> Option<&Datum> {
        self.layout.index(name).map(|i| &self.values[i])
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Datum> {
        self.layout.index(name).map(|i| &mut self.values[i])
    }

    /// The value at a layout position.
    pub fn at(&self, i: usize) -> Option<&Datum> {
        self.values.get(i)
    }

    pub fn at_mut(&mut self, i: usize) -> Option<&mut Datum> {
        self.values.get_mut(i)
    }

    /// Sets a column, returning the value it replaced (None for a column the layout lacked).
    pub fn insert(&mut self, name: String, value: Datum) -> Option<Datum> {
        match self.layout.names.binary_search_by(|n| n.as_str().cmp(&name)) {
            Ok(i) => Some(std::mem::replace(&mut self.values[i], value)),
            Err(i) => {
                let layout = Arc::make_mut(&mut self.layout);
                layout.names.insert(i, name);
                layout.defaults.insert(i, Datum::default());
                self.values.insert(i, value);
                None
            }
        }
    }

    /// A column, to read or insert (like `BTreeMap::entry`).
    pub fn entry(&mut self, name: String) -> Entry<'_> {
        Entry { columns: self, name }
    }

    /// Names and values, in name order.
    pub fn iter(&self) -> std::iter::Zip<std::slice::Iter<'_, String>, std::slice::Iter<'_, Datum>> {
        self.layout.names.iter().zip(self.values.iter())
    }

    pub fn iter_mut(&mut self) -> std::iter::Zip<std::slice::Iter<'_, String>, std::slice::IterMut<'_, Datum>> {
        self.layout.names.iter().zip(self.values.iter_mut())
    }

    pub fn keys(&self) -> std::slice::Iter<'_, String> {
        self.layout.names.iter()
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Datum> + ExactSizeIterator + '_ {
        self.values.iter()
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut Datum> + ExactSizeIterator + '_ {
        self.values.iter_mut()
    }
}

impl Default for Columns {
    fn default() -> Self {
        Columns::new()
    }
}

impl PartialEq for Columns {
    fn eq(&self, other: &Self) -> bool {
        (Arc::ptr_eq(&self.layout, &other.layout) || self.layout.names == other.layout.names) && self.values == other.values
    }
}

impl fmt::Debug for Columns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a Columns {
    type Item = (&'a String, &'a Datum);
    type IntoIter = std::iter::Zip<std::slice::Iter<'a, String>, std::slice::Iter<'a, Datum>>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A column of a row, present or not (see [`Columns::entry`]).
pub struct Entry<'a> {
    columns: &'a mut Columns,
    name: String,
}

impl<'a> Entry<'a> {
    /// The column's value, inserting `default` first if the row lacks the column.
    pub fn or_insert(self, default: Datum) -> &'a mut Datum {
        self.or_insert_with(|| default)
    }

    pub fn or_insert_with(self, default: impl FnOnce() -> Datum) -> &'a mut Datum {
        let Entry { columns, name } = self;
        let i = match columns.layout.names.binary_search(&name) {
            Ok(i) => i,
            Err(i) => {
                columns.insert(name, default());
                i
            }
        };
        &mut columns.values[i]
    }

    pub fn or_default(self) -> &'a mut Datum {
        self.or_insert_with(Datum::default)
    }

    pub fn key(&self) -> &str {
        &self.name
    }
}

impl<K: AsRef<str>> FromIterator<(K, Datum)> for Columns {
    fn from_iter<I: IntoIterator<Item = (K, Datum)>>(iter: I) -> Self {
        let mut c = Columns::new();
        for (k, v) in iter {
            c.insert(k.as_ref().to_string(), v);
        }
        c
    }
}

/// One row: its UUID and its columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub uuid: Uuid,
    pub columns: Columns,
}

static EMPTY: Datum = Datum::empty_set();

impl Row {
    /// A row with no columns.
    pub fn new(uuid: Uuid) -> Row {
        Row { uuid, columns: Columns::new() }
    }

    /// A row holding the default of every column of `layout`.
    pub fn with_layout(uuid: Uuid, layout: &Arc<Layout>) -> Row {
        Row { uuid, columns: Columns::with_layout(layout) }
    }

    /// A row of `table` holding every column's default value.
    pub fn with_defaults(uuid: Uuid, table: &TableSchema) -> Row {
        Row::with_layout(uuid, &Arc::new(Layout::of(table)))
    }

    /// A column's value (the empty set for a column the row does not have).
    pub fn get(&self, column: &str) -> &Datum {
        self.columns.get(column).unwrap_or(&EMPTY)
    }

    /// A string column's value, or "" when empty.
    pub fn str(&self, column: &str) -> &str {
        self.get(column).as_str().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::schema::DatabaseSchema;
    use serde_json::json;

    #[test]
    fn columns_act_like_a_map_over_a_shared_layout() {
        let s = DatabaseSchema::from_json(&json!({"name": "T", "version": "1", "tables": {"A": {"columns": {
            "name": {"type": "string"},
            "tags": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
            "prio": {"type": "integer"}
        }}}}))
        .unwrap();
        let layout = Arc::new(Layout::of(s.table("A").unwrap()));
        let mut r = Row::with_layout(Uuid(1), &layout);
        assert_eq!(r.get("prio"), &Datum::atom(0), "defaults are filled in");
        assert_eq!(r.get("nope"), &Datum::empty_set());
        assert_eq!(r.columns.keys().collect::<Vec<_>>(), ["name", "prio", "tags"]);
        assert_eq!(r.columns.insert("name".into(), Datum::atom("a")), Some(Datum::atom("")));
        assert_eq!(r.str("name"), "a");
        assert!(Arc::ptr_eq(r.columns.layout(), &layout), "setting a known column keeps the shared layout");
        // A column the layout lacks gives the row a layout of its own, in name order.
        assert_eq!(r.columns.insert("extra".to_string(), Datum::atom(1)), None);
        assert!(!Arc::ptr_eq(r.columns.layout(), &layout));
        assert_eq!(r.columns.keys().collect::<Vec<_>>(), ["extra", "name", "prio", "tags"]);
        assert_eq!(layout.len(), 3);
        // Searching forward finds what the search finds, and nothing behind the start or missing.
        for (i, name) in ["name", "prio", "tags"].into_iter().enumerate() {
            assert_eq!(layout.index(name), Some(i));
            assert_eq!(layout.index_from(name, 0), Some(i));
            assert_eq!(layout.index_from(name, i), Some(i));
            assert_eq!(layout.index_from(name, i + 1), None);
        }
        assert_eq!(layout.index_from("nope", 0), None);
        assert_eq!(layout.index_from("name", 9), None);
        if let Datum::Set(s) = r.columns.entry("more".to_string()).or_default() {
            s.insert("x".into());
        }
        assert_eq!(r.get("more"), &Datum::atom("x"));
        let same: Columns = r.columns.iter().map(|(k, v)| (k, v.clone())).collect();
        assert_eq!(r.columns.entry("prio".into()).or_insert(Datum::atom(9)), &Datum::atom(0));
        assert_eq!(same, r.columns);
        let mut empty = Row::new(Uuid(2));
        empty.columns.insert("b".into(), Datum::atom(2));
        empty.columns.insert("a".into(), Datum::atom(1));
        assert_eq!(empty.columns.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["a", "b"]);
    }
}
