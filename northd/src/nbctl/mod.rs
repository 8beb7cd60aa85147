//! `nbctl`: an `ovn-nbctl`-compatible tool for the Northbound database.
//!
//! One run = read the tables once, run the whole command chain against a working copy, write the result
//! in ONE transaction (see [`db`] for how it stays correct when another client writes at the same time).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use model::nb::{self, table};
use model::ovsdb::client::{Client, ClientError};
use model::ovsdb::transact::Mutation;
use model::ovsdb::{Datum, Replica};
use serde_json::{json, Value};

pub mod cli;
pub mod commands;
pub mod db;

use cli::CommandLine;
use commands::Ctx;
use db::Db;

#[derive(Debug, thiserror::Error)]
pub enum NbctlError {
    /// A command refused its input; nothing was written.
    #[error("{0}")]
    Command(String),
    #[error("{0}")]
    Database(#[from] ClientError),
    #[error("timed out after {0} seconds")]
    Timeout(u64),
}

/// What `--wait` waits for after the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    None,
    /// Until northd has written the change to the Southbound database (`NB_Global.sb_cfg`).
    Sb,
    /// Until every chassis has installed it (`NB_Global.hv_cfg`).
    Hv,
}

impl Wait {
    pub fn parse(s: &str) -> Result<Wait, String> {
        match s {
            "none" => Ok(Wait::None),
            "sb" => Ok(Wait::Sb),
            "hv" => Ok(Wait::Hv),
            _ => Err(format!("{s}: --wait must be \"none\", \"sb\" or \"hv\"")),
        }
    }
}

/// The remote `nbctl` uses when `--db` is not given.
pub fn default_db() -> String {
    if let Ok(db) = std::env::var("OVN_NB_DB") {
        return db;
    }
    let rundir = std::env::var("OVN_RUNDIR").unwrap_or_else(|_| "/var/run/ovn".to_string());
    format!("unix:{rundir}/ovnnb_db.sock")
}

/// Checks every command of the chain (known name, argument count, options) without touching the database.
pub fn check_chain(cmds: &[CommandLine]) -> Result<(), NbctlError> {
    for c in cmds {
        let spec =
            commands::find(&c.name).ok_or_else(|| NbctlError::Command(format!("unknown command '{}'; use --help for help", c.name)))?;
        commands::check(spec, c).map_err(NbctlError::Command)?;
    }
    Ok(())
}

/// How many times a chain is rerun when another client changed the rows it read.
const MAX_ATTEMPTS: usize = 20;

/// Runs a command chain against the database at `remote`; returns what the commands printed.
pub async fn run(remote: &str, cmds: &[CommandLine], wait: Wait, timeout: Option<Duration>) -> Result<String, NbctlError> {
    let work = run_inner(remote, cmds, wait);
    match timeout {
        Some(t) => tokio::time::timeout(t, work).await.map_err(|_| NbctlError::Timeout(t.as_secs()))?,
        None => work.await,
    }
}

async fn run_inner(remote: &str, cmds: &[CommandLine], wait: Wait) -> Result<String, NbctlError> {
    check_chain(cmds)?;
    let mut client = Client::connect(remote).await?;
    let mut notifications = client.take_notifications();
    let schema = Arc::new(client.get_schema(nb::DB_NAME).await?);
    for t in table::ALL {
        if schema.table(t).is_none() {
            return Err(NbctlError::Command(format!("{remote}: database has no {t} table (not an OVN Northbound database?)")));
        }
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut replica = Replica::new(Arc::clone(&schema));
        let id = json!(format!("nbctl-{attempt}"));
        let initial = client.monitor_cond(nb::DB_NAME, id.clone(), replica.monitor_requests(table::ALL)).await?;
        client.monitor_cancel(id).await?;
        replica.apply_update2(&initial).map_err(|e| NbctlError::Command(e.to_string()))?;
        let mut db = Db::from_replica(&replica, table::ALL);
        if db.rows(table::NB_GLOBAL).next().is_none() {
            db.insert(table::NB_GLOBAL, vec![]);
        }
        let out = execute(&mut db, cmds)?;
        let mut txn = db.to_transaction();
        if txn.is_empty() && wait == Wait::None {
            return Ok(out);
        }
        let bump = wait != Wait::None;
        if bump {
            txn.mutate(table::NB_GLOBAL, vec![], vec![Mutation { column: "nb_cfg".into(), mutator: "+=", value: Datum::atom(1) }]);
            txn.select(table::NB_GLOBAL, vec![], Some(vec!["nb_cfg".into()]));
        }
        txn.comment(&format!("nbctl: {}", describe(cmds)));
        match client.transact(nb::DB_NAME, &txn).await {
            Ok(results) => {
                if bump {
                    let target = nb_cfg_from(&results).ok_or_else(|| NbctlError::Command("could not read NB_Global.nb_cfg back".into()))?;
                    wait_for_cfg(&client, notifications.as_mut(), wait, target).await?;
                }
                return Ok(out);
            }
            Err(ClientError::Transaction(e)) if e.is_stale() && attempt < MAX_ATTEMPTS => {
                tracing::debug!(attempt, "database changed while the chain ran; running it again");
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn describe(cmds: &[CommandLine]) -> String {
    cmds.iter()
        .map(|c| std::iter::once(c.name.as_str()).chain(c.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(" -- ")
}

/// The new `nb_cfg`, from the result of the `select` that ends the transaction.
fn nb_cfg_from(results: &[Value]) -> Option<i64> {
    results.iter().rev().find_map(|r| r.get("rows")?.get(0)?.get("nb_cfg")?.as_i64())
}

/// Waits until `NB_Global.sb_cfg` (or `hv_cfg`) reaches `target`.
async fn wait_for_cfg(
    client: &Client,
    notifications: Option<&mut tokio::sync::mpsc::UnboundedReceiver<model::ovsdb::client::Notification>>,
    wait: Wait,
    target: i64,
) -> Result<(), NbctlError> {
    let column = if wait == Wait::Hv { "hv_cfg" } else { "sb_cfg" };
    let notifications = notifications.ok_or(NbctlError::Database(ClientError::Disconnected))?;
    let id = json!("nbctl-wait");
    let req = json!({table::NB_GLOBAL: [{"columns": [column]}]});
    let initial = client.monitor_cond(nb::DB_NAME, id, req).await?;
    let reached = |v: &Value| -> bool {
        v.get(table::NB_GLOBAL).and_then(Value::as_object).is_some_and(|rows| {
            rows.values().any(|r| {
                ["initial", "insert", "modify"]
                    .iter()
                    .any(|k| r.get(k).and_then(|x| x.get(column)).and_then(Value::as_i64).is_some_and(|c| c >= target))
            })
        })
    };
    if reached(&initial) {
        return Ok(());
    }
    while let Some(n) = notifications.recv().await {
        if n.method == "update2" && n.params.get(0) == Some(&json!("nbctl-wait")) && n.params.get(1).is_some_and(reached) {
            return Ok(());
        }
    }
    Err(NbctlError::Database(ClientError::Disconnected))
}

/// Runs the chain against the working copy and checks the result; the copy then holds what to write.
pub fn execute(db: &mut Db, cmds: &[CommandLine]) -> Result<String, NbctlError> {
    let mut out = String::new();
    let mut nat_routers = BTreeSet::new();
    for c in cmds {
        let spec = commands::find(&c.name).ok_or_else(|| NbctlError::Command(format!("unknown command '{}'", c.name)))?;
        let mut ctx = Ctx { db: &mut *db, out: &mut out, cmd: c, nat_routers: &mut nat_routers };
        (spec.run)(&mut ctx).map_err(NbctlError::Command)?;
    }
    for lr in &nat_routers {
        commands::nat::check_gateway(db, *lr).map_err(NbctlError::Command)?;
    }
    db.check().map_err(NbctlError::Command)?;
    Ok(out)
}
