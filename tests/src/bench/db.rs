//! A blocking OVSDB client for the benchmarks: raw JSON operations over the model crate's client, on one
//! shared runtime, each call bounded in time.
//!
//! The benchmarks use it where a command-line tool would distort the measurement: to count rows without
//! fetching them (`select` of `_uuid` only) and to learn the moment a row reaches a state (an OVSDB `wait`
//! operation with a timeout: the server answers when its condition holds, so there is no polling interval
//! in the measured time).

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use model::ovsdb::Client;
use serde_json::{json, Value};
use tokio::runtime::Runtime;

fn runtime() -> Result<&'static Runtime> {
    static RT: OnceLock<Runtime> = OnceLock::new();
    if let Some(rt) = RT.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().context("tokio runtime")?;
    Ok(RT.get_or_init(|| rt))
}

/// One connection to one database of an `ovsdb-server`.
pub struct Db {
    client: Client,
    db: String,
    timeout: Duration,
}

impl Db {
    /// Connects to `remote` (`unix:PATH`) for database `db` (e.g. `OVN_Southbound`).
    pub fn connect(remote: &str, db: &str, timeout: Duration) -> Result<Db> {
        let rt = runtime()?;
        let client = rt
            .block_on(async { tokio::time::timeout(timeout, Client::connect(remote)).await })
            .map_err(|_| anyhow!("{remote}: no connection within {} s", timeout.as_secs()))?
            .with_context(|| format!("connect to {remote}"))?;
        Ok(Db { client, db: db.to_string(), timeout })
    }

    /// Runs a transaction of raw operations; fails with the first operation's error. The call may take
    /// up to the step timeout plus `extra` (for a `wait` operation's own timeout).
    pub fn transact(&self, ops: Vec<Value>, extra: Duration) -> Result<Vec<Value>> {
        let rt = runtime()?;
        let params: Vec<Value> = std::iter::once(json!(self.db)).chain(ops).collect();
        let limit = self.timeout + extra;
        let v = rt
            .block_on(async { tokio::time::timeout(limit, self.client.call("transact", params)).await })
            .map_err(|_| anyhow!("{}: no answer to a transaction within {} s", self.db, limit.as_secs()))?
            .with_context(|| format!("{}: transact", self.db))?;
        let results = v.as_array().with_context(|| format!("{}: transact returned {v}", self.db))?;
        for r in results {
            if let Some(e) = r.get("error") {
                bail!("{}: {} ({})", self.db, e.as_str().unwrap_or("error"), r.get("details").and_then(Value::as_str).unwrap_or(""));
            }
        }
        Ok(results.clone())
    }

    /// The `_uuid`s of `table`'s rows matching `conditions` (`[[column, function, value], …]`).
    pub fn uuids(&self, table: &str, conditions: Value) -> Result<Vec<String>> {
        let r = self.transact(vec![json!({"op": "select", "table": table, "where": conditions, "columns": ["_uuid"]})], Duration::ZERO)?;
        let rows = r.first().and_then(|r| r.get("rows")).and_then(Value::as_array).with_context(|| format!("select {table}: no rows"))?;
        Ok(rows.iter().filter_map(|row| row.get("_uuid").and_then(|u| u.get(1)).and_then(Value::as_str).map(str::to_string)).collect())
    }

    /// How many rows of `table` match `conditions`.
    pub fn count(&self, table: &str, conditions: Value) -> Result<usize> {
        Ok(self.uuids(table, conditions)?.len())
    }

    /// Blocks until the rows of `table` matching `conditions` are exactly `rows` in `columns` (an OVSDB
    /// `wait` operation); fails after the step timeout.
    pub fn wait_until(&self, table: &str, conditions: Value, columns: &[&str], rows: Value) -> Result<()> {
        let ms = self.timeout.as_millis() as u64;
        let op = json!({"op": "wait", "timeout": ms, "table": table, "where": conditions, "columns": columns, "until": "==", "rows": rows});
        self.transact(vec![op], Duration::from_secs(5))
            .with_context(|| format!("waited {} s for {table} {conditions} to have {rows}", self.timeout.as_secs()))?;
        Ok(())
    }
}
