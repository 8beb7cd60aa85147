//! An in-memory copy of (part of) a database, kept current by `update2` notifications.
//!
//! Every value that enters the replica is checked against the schema; a row with a bad value is logged and
//! left out rather than poisoning the copy (a daemon never dies on data). The replica also records which
//! rows changed since the caller last asked ([`Replica::take_changes`]), the seed of incremental processing.
//!
//! Updates are read by an [`UpdateDecoder`] straight into rows (from the bytes of a message, or from a
//! `Value` for callers that hold one); rows store their columns in their table's shared [`Layout`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use super::datum::Datum;
use super::schema::DatabaseSchema;
use super::update::{DecodeError, RowChange, TableUpdate, TableUpdates, UpdateDecoder};
use super::uuid::{Uuid, UuidSet};

pub use super::row::{Columns, Entry, Layout, Row};

/// The `monitor_cond` requests for whole tables (all columns) of `schema`.
pub fn monitor_requests(schema: &DatabaseSchema, tables: &[&str]) -> Value {
    super::own_rows::monitor_requests(schema, tables, &Default::default(), &Default::default())
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableData {
    pub rows: BTreeMap<Uuid, Row>,
}

impl TableData {
    /// Adds (or replaces) rows: into an empty or small table in one merge; into a big one one by one,
    /// since a merge rebuilds the whole tree (a write of many small transactions would cost the square of
    /// the table's size).
    fn add(&mut self, rows: Vec<(Uuid, Row)>) {
        if rows.len() >= self.rows.len() {
            // Sorted and built in bulk (a later duplicate UUID wins, as one by one).
            let mut m: BTreeMap<Uuid, Row> = rows.into_iter().collect();
            self.rows.append(&mut m);
        } else {
            self.rows.extend(rows);
        }
    }
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

impl From<DecodeError> for ReplicaError {
    fn from(e: DecodeError) -> Self {
        ReplicaError::Malformed(e.0)
    }
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
    decoder: UpdateDecoder,
    tables: BTreeMap<String, TableData>,
    changes: BTreeMap<String, BTreeSet<Uuid>>,
    seqno: u64,
    /// Tables this client records its own inserts into (see [`Replica::record_inserts`]).
    recorded: BTreeSet<String>,
    /// Rows of those tables this client is inserting ([`Replica::expect_inserts`]) whose echo has not come
    /// back yet: it is skipped, the client records them whole. One set per call (per transaction), oldest
    /// first: a transaction's echo comes back in one update, in the order written, so the set to look in is
    /// nearly always the first, small one. (One set of a first sync's 53,000 rows missed the caches at
    /// every lookup.)
    expected: VecDeque<UuidSet>,
    /// Per table, the columns whose changes alone are reported apart ([`Replica::set_quiet`]).
    quiet: BTreeMap<String, BTreeSet<String>>,
    /// Rows whose only changes were to quiet columns, per table ([`Replica::take_quiet_changes`]).
    quiet_changes: BTreeMap<String, BTreeSet<Uuid>>,
    /// The rows of `changes` whose one change is their insert ([`Replica::take_changes_and_inserts`]).
    inserted: BTreeMap<String, BTreeSet<Uuid>>,
}

impl Replica {
    pub fn new(schema: Arc<DatabaseSchema>) -> Replica {
        Replica::with_decoder(UpdateDecoder::new(schema))
    }

    /// A replica whose rows share the layouts of `decoder` (the one reading its updates).
    pub fn with_decoder(decoder: UpdateDecoder) -> Replica {
        Replica {
            schema: Arc::clone(decoder.schema()),
            decoder,
            tables: BTreeMap::new(),
            changes: BTreeMap::new(),
            seqno: 0,
            recorded: BTreeSet::new(),
            expected: VecDeque::new(),
            quiet: BTreeMap::new(),
            quiet_changes: BTreeMap::new(),
            inserted: BTreeMap::new(),
        }
    }

    /// Makes changes to `columns` of `table` quiet: a modify that touches nothing else is applied as usual
    /// but reported by [`Replica::take_quiet_changes`] instead of [`Replica::take_changes`]. For columns
    /// the client reads apart from the rest (and often writes itself: northd's copy of
    /// `Logical_Switch_Port.up` comes back as 10,000 modifies at start), so that their echo does not make
    /// it read whole rows again.
    pub fn set_quiet(&mut self, table: &str, columns: impl IntoIterator<Item = impl Into<String>>) {
        self.quiet.entry(table.to_string()).or_default().extend(columns.into_iter().map(Into::into));
    }

    pub fn schema(&self) -> &Arc<DatabaseSchema> {
        &self.schema
    }

    /// The reader of updates for this replica's schema (its rows share the replica's layouts).
    pub fn decoder(&self) -> &UpdateDecoder {
        &self.decoder
    }

    /// Bumped by every update that changed something.
    pub fn seqno(&self) -> u64 {
        self.seqno
    }

    /// Forgets every row (before a full resync).
    pub fn clear(&mut self) {
        // A full load brings every row whole, whoever wrote it.
        self.expected.clear();
        self.quiet_changes.clear();
        self.inserted.clear();
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

    /// Inserts (or replaces) whole rows of `table` that the caller knows already, so they are not reported
    /// as changes (and no longer are, if their echo was): one sequence number for all. From then on, an
    /// echoed insert into `table` of a row that is there changes nothing.
    pub(crate) fn put_rows(&mut self, table: &str, rows: impl IntoIterator<Item = Row>) {
        self.recorded.insert(table.to_string());
        let data = self.tables.entry(table.to_string()).or_default();
        let mut changes = self.changes.remove(table).unwrap_or_default();
        let put: Vec<(Uuid, Row)> = rows
            .into_iter()
            .map(|row| {
                changes.remove(&row.uuid);
                if let Some(i) = self.inserted.get_mut(table) {
                    i.remove(&row.uuid);
                }
                (row.uuid, row)
            })
            .collect();
        data.add(put);
        if !changes.is_empty() {
            self.changes.insert(table.to_string(), changes);
        }
        self.seqno += 1;
    }

    /// Says that this client is inserting these rows into `table` and will record them itself
    /// ([`Replica::record_inserts`]): their echo is not applied. Call it once per transaction (see
    /// `expected`). A full reload forgets the expectation.
    pub fn expect_inserts(&mut self, table: &str, uuids: impl IntoIterator<Item = Uuid>) {
        self.recorded.insert(table.to_string());
        let set: UuidSet = uuids.into_iter().collect();
        if !set.is_empty() {
            self.expected.push_back(set);
        }
    }

    /// The rows changed (inserted, modified or deleted) since the last call, per table; not those whose
    /// only changes were to quiet columns ([`Replica::set_quiet`]).
    pub fn take_changes(&mut self) -> BTreeMap<String, BTreeSet<Uuid>> {
        self.take_changes_and_inserts().0
    }

    /// [`Replica::take_changes`], and of those rows the ones whose one change was their insert (not
    /// modified or deleted after it, not seen before it since the last call): a writer can tell the echo
    /// of its own inserts, exactly as written, from rows someone else changed meanwhile.
    pub fn take_changes_and_inserts(&mut self) -> (BTreeMap<String, BTreeSet<Uuid>>, BTreeMap<String, BTreeSet<Uuid>>) {
        (std::mem::take(&mut self.changes), std::mem::take(&mut self.inserted))
    }

    /// The rows modified since the last call in quiet columns only, per table (a row may also be in
    /// [`Replica::take_changes`] when it changed otherwise too).
    pub fn take_quiet_changes(&mut self) -> BTreeMap<String, BTreeSet<Uuid>> {
        std::mem::take(&mut self.quiet_changes)
    }

    /// The `monitor_cond` requests for whole tables (all columns).
    pub fn monitor_requests(&self, tables: &[&str]) -> Value {
        monitor_requests(&self.schema, tables)
    }

    /// Applies a `table-updates2` object (the reply of `monitor_cond` or the params of `update2`).
    pub fn apply_update2(&mut self, updates: &Value) -> Result<UpdateStats, ReplicaError> {
        if !updates.is_object() {
            return Err(ReplicaError::Malformed(updates.to_string()));
        }
        let decoded = self.decoder.decode_value(updates)?;
        self.apply(decoded)
    }

    /// Applies a `table-updates2` object from its JSON text, without building a `Value` of it.
    pub fn apply_update2_slice(&mut self, updates: &[u8]) -> Result<UpdateStats, ReplicaError> {
        let decoded = self.decoder.decode_slice(updates)?;
        self.apply(decoded)
    }

    /// Applies decoded updates (see [`UpdateDecoder`]), in order. A row update that breaks the schema is
    /// logged, counted as rejected and skipped; an update for a table the schema lacks ends the update
    /// with an error (what came before it stays applied).
    pub fn apply(&mut self, updates: TableUpdates) -> Result<UpdateStats, ReplicaError> {
        let mut stats = UpdateStats::default();
        let mut result = Ok(());
        for t in updates.tables {
            let (codec, mut inserts, rows) = match t {
                TableUpdate::Rows { table, inserts, rows } => (table, inserts, rows),
                TableUpdate::Unknown(name) => {
                    result = Err(ReplicaError::UnknownTable(name));
                    break;
                }
            };
            let table = self.tables.entry(codec.name.clone()).or_default();
            let changes = self.changes.entry(codec.name.clone()).or_default();
            let quiet = self.quiet.get(&codec.name);
            let inserted = self.inserted.entry(codec.name.clone()).or_default();
            let mut quiet_changed = Vec::new();
            if self.recorded.contains(&codec.name) {
                // The echo of rows this client is inserting or has recorded in full already (see
                // `record_inserts`): it carries a key column only and changes nothing (a UUID is
                // inserted only once).
                let expected = &mut self.expected;
                inserts.retain(|(u, _)| !take_expected(expected, u) && !table.rows.contains_key(u));
            }
            stats.inserted += inserts.len();
            for (u, _) in &inserts {
                if changes.insert(*u) {
                    inserted.insert(*u);
                }
            }
            table.add(inserts);
            for u in rows {
                let bad = |uuid: String, msg: String| ReplicaError::BadRow { table: codec.name.clone(), uuid, msg };
                let is_insert = matches!(u.change, RowChange::Insert(_));
                let outcome = match u.change {
                    RowChange::Insert(row) => {
                        table.rows.insert(u.uuid, row);
                        stats.inserted += 1;
                        Ok(())
                    }
                    RowChange::Modify(diff) => match table.rows.get_mut(&u.uuid) {
                        None => Err(bad(u.uuid.to_string(), "modify of a row we do not have".into())),
                        Some(row) => {
                            let only_quiet =
                                quiet.is_some_and(|q| diff.iter().all(|(i, _)| codec.layout.name(*i).is_some_and(|n| q.contains(n))));
                            // On a clone, so a bad column leaves the row as it was.
                            let mut new = row.columns.clone();
                            let same_layout = Arc::ptr_eq(new.layout(), &codec.layout);
                            let mut failed = None;
                            for (i, d) in diff {
                                let (Some(ctype), Some(name)) = (codec.column_type(i), codec.layout.name(i)) else { continue };
                                if !same_layout && new.get(name).is_none() {
                                    new.insert(name.to_string(), Datum::default_of(ctype));
                                }
                                let Some(cur) = (if same_layout { new.at_mut(i) } else { new.get_mut(name) }) else { continue };
                                cur.apply_diff(d, ctype);
                                if let Err(e) = cur.check(ctype) {
                                    failed = Some(format!("column {name}: {e}"));
                                    break;
                                }
                            }
                            match failed {
                                Some(msg) => Err(bad(u.uuid.to_string(), msg)),
                                None => {
                                    row.columns = new;
                                    stats.modified += 1;
                                    if only_quiet {
                                        inserted.remove(&u.uuid);
                                        quiet_changed.push(u.uuid);
                                        continue;
                                    }
                                    Ok(())
                                }
                            }
                        }
                    },
                    RowChange::Delete => {
                        if table.rows.remove(&u.uuid).is_some() {
                            stats.deleted += 1;
                        }
                        Ok(())
                    }
                    RowChange::Bad { uuid, msg } => Err(bad(uuid, msg)),
                };
                match outcome {
                    Ok(()) => {
                        if changes.insert(u.uuid) && is_insert {
                            inserted.insert(u.uuid);
                        } else {
                            inserted.remove(&u.uuid);
                        }
                    }
                    Err(e) => {
                        stats.rejected += 1;
                        tracing::warn!(error = %e, "skipping row update");
                    }
                }
            }
            if !quiet_changed.is_empty() {
                self.quiet_changes.entry(codec.name.clone()).or_default().extend(quiet_changed);
            }
        }
        if stats.inserted + stats.modified + stats.deleted > 0 {
            self.seqno += 1;
        }
        result.map(|()| stats)
    }
}

/// Whether `u` is an expected insert, forgotten as such once its echo is seen (a row is inserted once).
/// Sets emptied at the front go.
fn take_expected(expected: &mut VecDeque<UuidSet>, u: &Uuid) -> bool {
    let found = expected.iter_mut().any(|s| s.remove(u));
    while expected.front().is_some_and(UuidSet::is_empty) {
        expected.pop_front();
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    const U3: &str = "33333333-3333-3333-3333-333333333333";

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
    fn quiet_columns_are_reported_apart() {
        let mut r = Replica::new(schema());
        r.set_quiet("A", ["prio"]);
        r.apply_update2(&json!({"A": {U1: {"initial": {"name": "a"}}, U2: {"initial": {"name": "b"}}}})).unwrap();
        assert_eq!(r.take_changes()["A"].len(), 2, "inserts are changes");
        assert!(r.take_quiet_changes().is_empty());

        // U1: the quiet column alone; U2: the quiet column and another.
        r.apply_update2(&json!({"A": {U1: {"modify": {"prio": 3}}, U2: {"modify": {"prio": 4, "name": "c"}}}})).unwrap();
        assert_eq!(r.row("A", U1.parse().unwrap()).unwrap().get("prio"), &Datum::atom(3), "quiet changes are applied");
        let changes = r.take_changes();
        assert_eq!(changes["A"], BTreeSet::from([U2.parse().unwrap()]));
        assert_eq!(r.take_quiet_changes()["A"], BTreeSet::from([U1.parse().unwrap()]));

        // A bad value in a quiet column is refused like any other.
        let s = r.apply_update2(&json!({"A": {U1: {"modify": {"prio": 99}}}})).unwrap();
        assert_eq!(s.rejected, 1);
        assert!(r.take_quiet_changes().is_empty());
        assert_eq!(r.row("A", U1.parse().unwrap()).unwrap().get("prio"), &Datum::atom(3));
        // Deletes are changes, whatever was quiet before.
        r.apply_update2(&json!({"A": {U1: {"delete": null}}})).unwrap();
        assert_eq!(r.take_changes()["A"], BTreeSet::from([U1.parse().unwrap()]));
    }

    #[test]
    fn tells_rows_only_inserted_from_rows_changed_after() {
        let (u1, u2): (Uuid, Uuid) = (U1.parse().unwrap(), U2.parse().unwrap());
        let u3: Uuid = U3.parse().unwrap();
        let mut r = Replica::new(schema());
        r.set_quiet("A", ["prio"]);
        r.apply_update2(&json!({"A": {U1: {"insert": {"name": "a"}}, U2: {"insert": {"name": "b"}}}})).unwrap();
        // U2 modified after its insert, before anyone looked: not as inserted any more.
        r.apply_update2(&json!({"A": {U2: {"modify": {"name": "c"}}}})).unwrap();
        let (changes, inserted) = r.take_changes_and_inserts();
        assert_eq!(changes["A"], BTreeSet::from([u1, u2]));
        assert_eq!(inserted["A"], BTreeSet::from([u1]));

        // A later modify is a change and no insert; so are an insert deleted at once and a quiet modify.
        r.apply_update2(&json!({"A": {U1: {"modify": {"name": "d"}}}})).unwrap();
        r.apply_update2(&json!({"A": {U3: {"insert": {"name": "e"}}}})).unwrap();
        r.apply_update2(&json!({"A": {U3: {"delete": null}}})).unwrap();
        let (changes, inserted) = r.take_changes_and_inserts();
        assert_eq!(changes["A"], BTreeSet::from([u1, u3]));
        assert!(inserted.values().all(BTreeSet::is_empty), "{inserted:?}");
        r.apply_update2(&json!({"A": {U3: {"insert": {"name": "f"}}}})).unwrap();
        r.apply_update2(&json!({"A": {U3: {"modify": {"prio": 2}}}})).unwrap();
        let (changes, inserted) = r.take_changes_and_inserts();
        assert_eq!(changes["A"], BTreeSet::from([u3]));
        assert!(inserted.values().all(BTreeSet::is_empty), "{inserted:?}");
    }

    /// Expected inserts are skipped whichever transaction's echo comes first; anyone else's are applied, and
    /// nothing is left expected once every echo came back.
    #[test]
    fn expected_inserts_are_skipped_in_any_order() {
        let (u1, u2, u3): (Uuid, Uuid, Uuid) = (U1.parse().unwrap(), U2.parse().unwrap(), U3.parse().unwrap());
        let mut r = Replica::new(schema());
        r.expect_inserts("A", [u1]);
        r.expect_inserts("A", [u2]);
        r.apply_update2(&json!({"A": {U2: {"insert": {"name": "second"}}}})).unwrap();
        r.apply_update2(&json!({"A": {U3: {"insert": {"name": "theirs"}}, U1: {"insert": {"name": "first"}}}})).unwrap();
        assert_eq!(r.len("A"), 1);
        assert_eq!(r.row("A", u3).map(|x| x.str("name").to_string()), Some("theirs".to_string()));
        assert_eq!(r.take_changes()["A"], BTreeSet::from([u3]));
        assert!(r.expected.is_empty(), "{:?}", r.expected);
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

    #[test]
    fn reads_the_bytes_of_an_update() {
        let mut r = Replica::new(schema());
        let text = format!(
            r#"{{"A": {{"{U1}": {{"initial": {{"name": "a\u00e9\n", "opts": ["map", [["k", "v"]]], "zzz": [1, {{}}]}}}},
                                        "{U2}": {{"insert": {{"prio": "high"}}}}}}}}"#
        );
        let s = r.apply_update2_slice(text.as_bytes()).unwrap();
        assert_eq!((s.inserted, s.rejected), (1, 1));
        let row = r.row("A", U1.parse().unwrap()).unwrap();
        assert_eq!(row.str("name"), "a\u{e9}\n");
        assert_eq!(row.get("opts"), &Datum::map([("k", "v")]));
        assert!(Arc::ptr_eq(row.columns.layout(), &r.decoder().table("A").unwrap().layout), "rows share their table's layout");
        assert!(r.apply_update2_slice(b"{\"A\": 5}").is_err());
        assert!(r.apply_update2_slice(b"[]").is_err());
    }

    // The replica as it was before rows had layouts and updates were decoded by serde visitors: the
    // reference the new one must agree with, row for row.
    type RefTables = BTreeMap<String, BTreeMap<Uuid, BTreeMap<String, Datum>>>;

    fn reference_apply(schema: &DatabaseSchema, tables: &mut RefTables, updates: &Value) -> Result<UpdateStats, String> {
        let tables_json = updates.as_object().ok_or("malformed")?;
        let mut stats = UpdateStats::default();
        for (tname, rows) in tables_json {
            let ts = schema.table(tname).ok_or("unknown table")?;
            let rows = rows.as_object().ok_or("malformed")?;
            for (uuid_s, upd) in rows {
                let r: Result<(), String> = (|| {
                    let uuid: Uuid = uuid_s.parse().map_err(|e: crate::ovsdb::uuid::UuidParseError| e.to_string())?;
                    let table = tables.entry(ts.name.clone()).or_default();
                    let obj = upd.as_object().ok_or("not a row update")?;
                    if let Some(new) = obj.get("initial").or_else(|| obj.get("insert")) {
                        let mut row: BTreeMap<String, Datum> =
                            ts.columns.values().map(|c| (c.name.clone(), Datum::default_of(&c.ctype))).collect();
                        for (col, v) in new.as_object().ok_or("not a row")? {
                            let Some(cs) = ts.column(col) else { continue };
                            row.insert(col.clone(), Datum::from_json(v, &cs.ctype).map_err(|e| e.to_string())?);
                        }
                        table.insert(uuid, row);
                        stats.inserted += 1;
                    } else if let Some(diff) = obj.get("modify") {
                        let diff = diff.as_object().ok_or("not a row diff")?;
                        let mut row = table.get(&uuid).ok_or("modify of a row we do not have")?.clone();
                        for (col, v) in diff {
                            let Some(cs) = ts.column(col) else { continue };
                            let d = Datum::from_json_unchecked(v, &cs.ctype).map_err(|e| e.to_string())?;
                            let cur = row.entry(col.clone()).or_insert_with(|| Datum::default_of(&cs.ctype));
                            cur.apply_diff(d, &cs.ctype);
                            cur.check(&cs.ctype).map_err(|e| e.to_string())?;
                        }
                        table.insert(uuid, row);
                        stats.modified += 1;
                    } else if obj.contains_key("delete") {
                        if table.remove(&uuid).is_some() {
                            stats.deleted += 1;
                        }
                    } else {
                        return Err("unknown row update".into());
                    }
                    Ok(())
                })();
                if r.is_err() {
                    stats.rejected += 1;
                }
            }
        }
        Ok(stats)
    }

    fn contents(r: &Replica) -> RefTables {
        r.tables
            .iter()
            .filter(|(_, t)| !t.rows.is_empty())
            .map(|(name, t)| {
                let rows = t.rows.iter().map(|(u, row)| (*u, row.columns.iter().map(|(k, v)| (k.clone(), v.clone())).collect())).collect();
                (name.clone(), rows)
            })
            .collect()
    }

    fn wide_schema() -> Arc<DatabaseSchema> {
        Arc::new(
            DatabaseSchema::from_json(&json!({"name": "T", "version": "1", "tables": {
                "A": {"columns": {
                    "name": {"type": "string"},
                    "tags": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
                    "opts": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                    "prio": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 10}}},
                    "peer": {"type": {"key": {"type": "uuid", "refTable": "B"}, "min": 0, "max": 1}},
                    "on": {"type": {"key": "boolean", "min": 0, "max": 1}},
                    "w": {"type": "real"},
                    "kind": {"type": {"key": {"type": "string", "enum": ["set", ["x", "y"]]}}},
                    "two": {"type": {"key": "integer", "min": 0, "max": 2}}
                }},
                "B": {"columns": {
                    "refs": {"type": {"key": "integer", "value": {"type": "uuid", "refTable": "A"}, "min": 0, "max": "unlimited"}}
                }}
            }}))
            .unwrap(),
        )
    }

    mod gen {
        use proptest::prelude::*;
        use serde_json::{json, Value};

        pub const UUIDS: [&str; 4] = [
            "00000000-0000-0000-0000-000000000001",
            "00000000-0000-0000-0000-000000000002",
            "7f2c51db-c310-4b0a-ac50-737675814e6a",
            "9ee09288-9e0b-445c-b0f2-da7354270d71",
        ];

        fn junk() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(json!(null)),
                Just(json!({"a": 1})),
                Just(json!(["set", [1, "a"]])),
                Just(json!(["map", [["k"]]])),
                Just(json!(["uuid", "nope"])),
                Just(json!(1.5)),
                Just(json!(99)),
                Just(json!("z")),
                Just(json!(["set", [1, 2, 3]])),
            ]
        }

        fn string() -> impl Strategy<Value = Value> {
            prop_oneof![Just(json!("x")), Just(json!("y")), Just(json!("")), "[a-c\"\\\\\u{e9}]{0,3}".prop_map(Value::String)]
        }

        fn uuid() -> impl Strategy<Value = Value> {
            proptest::sample::select(UUIDS.to_vec()).prop_map(|u| json!(["uuid", u]))
        }

        fn set_of(s: BoxedStrategy<Value>, n: usize) -> impl Strategy<Value = Value> {
            prop_oneof![s.clone(), proptest::collection::vec(s, 0..n).prop_map(|v| json!(["set", v]))]
        }

        fn pairs(k: BoxedStrategy<Value>, v: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
            proptest::collection::vec((k, v), 0..3)
                .prop_map(|v| json!(["map", v.into_iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()]))
        }

        /// Mostly values of the column's type (now and then a count or range the column refuses), rarely junk.
        fn column_value(col: &'static str) -> BoxedStrategy<Value> {
            let valid = match col {
                "name" => string().boxed(),
                "kind" => prop_oneof![15 => prop_oneof![Just(json!("x")), Just(json!("y"))], 1 => string()].boxed(),
                "tags" => set_of(string().boxed(), 4).boxed(),
                "opts" => pairs(string().boxed(), string().boxed()).boxed(),
                "prio" => prop_oneof![15 => (0i64..=10).prop_map(|i| json!(i)), 1 => set_of((-1i64..12).prop_map(|i| json!(i)).boxed(), 3)]
                    .boxed(),
                "two" => set_of((0i64..4).prop_map(|i| json!(i)).boxed(), 3).boxed(),
                "peer" => set_of(uuid().boxed(), 2).boxed(),
                "on" => set_of(any::<bool>().prop_map(|b| json!(b)).boxed(), 2).boxed(),
                "w" => prop_oneof![(-3i64..3).prop_map(|i| json!(i)), (-2.0f64..2.0).prop_map(|r| json!(r))].boxed(),
                "refs" => pairs((0i64..3).prop_map(|i| json!(i)).boxed(), uuid().boxed()).boxed(),
                _ => junk().boxed(),
            };
            prop_oneof![60 => valid, 1 => junk()].boxed()
        }

        fn row(cols: &'static [&'static str]) -> impl Strategy<Value = Value> {
            proptest::sample::subsequence(cols.to_vec(), 0..=cols.len())
                .prop_flat_map(|cs| cs.into_iter().map(|c| column_value(c).prop_map(move |v| (c.to_string(), v))).collect::<Vec<_>>())
                .prop_map(|kv| Value::Object(kv.into_iter().collect()))
        }

        fn row_update(cols: &'static [&'static str]) -> impl Strategy<Value = Value> {
            prop_oneof![
                4 => row(cols).prop_map(|r| json!({"initial": r})),
                4 => row(cols).prop_map(|r| json!({"insert": r})),
                6 => row(cols).prop_map(|r| json!({"modify": r})),
                2 => Just(json!({"delete": null})),
                1 => prop_oneof![
                    junk().prop_map(|j| json!({"insert": j})),
                    junk().prop_map(|j| json!({"modify": j})),
                    Just(json!({"what": {}})),
                    junk(),
                ],
            ]
        }

        const A: &[&str] = &["name", "tags", "opts", "prio", "peer", "on", "w", "kind", "two", "zzz"];
        const B: &[&str] = &["refs", "zzz"];

        fn table_rows(cols: &'static [&'static str]) -> impl Strategy<Value = Value> {
            proptest::collection::vec(
                (prop_oneof![10 => proptest::sample::select(UUIDS.to_vec()), 1 => Just("not-a-uuid")], row_update(cols)),
                0..4,
            )
            .prop_map(|v| Value::Object(v.into_iter().map(|(u, r)| (u.to_string(), r)).collect()))
        }

        /// A random `table-updates2` for `wide_schema`.
        pub fn update() -> impl Strategy<Value = Value> {
            (proptest::option::of(table_rows(A)), proptest::option::of(table_rows(B)), proptest::bool::weighted(0.05)).prop_map(
                |(a, b, unknown)| {
                    let mut m = serde_json::Map::new();
                    if let Some(a) = a {
                        m.insert("A".into(), a);
                    }
                    if unknown {
                        m.insert("Nope".into(), json!({}));
                    }
                    if let Some(b) = b {
                        m.insert("B".into(), b);
                    }
                    Value::Object(m)
                },
            )
        }
    }

    proptest::proptest! {
        /// Random updates (good and bad values, modifies of absent rows, unknown columns and tables) leave the
        /// same rows, counted alike, whether read the old way, from a `Value`, or from the bytes.
        #[test]
        fn typed_decoding_matches_the_old_replica(updates in proptest::collection::vec(gen::update(), 1..10)) {
            let schema = wide_schema();
            let mut reference = RefTables::new();
            let mut from_value = Replica::new(Arc::clone(&schema));
            let mut from_bytes = Replica::new(Arc::clone(&schema));
            for u in &updates {
                let want = reference_apply(&schema, &mut reference, u);
                let got_value = from_value.apply_update2(u);
                let got_bytes = from_bytes.apply_update2_slice(&serde_json::to_vec(u).unwrap());
                proptest::prop_assert_eq!(want.as_ref().ok(), got_value.as_ref().ok(), "{}", u);
                proptest::prop_assert_eq!(want.as_ref().ok(), got_bytes.as_ref().ok(), "{}", u);
                reference.retain(|_, t| !t.is_empty());
                proptest::prop_assert_eq!(&contents(&from_value), &reference, "{}", u);
                proptest::prop_assert_eq!(&contents(&from_bytes), &reference, "{}", u);
            }
        }
    }
}
