//! A replica that stays connected: connect, `monitor_cond` the chosen tables, follow `update2`, and when the
//! connection drops, reconnect with backoff and resync from scratch.
//!
//! ```text
//!   ┌─▶ connect (each remote in turn) ──fail──▶ sleep(backoff; doubles up to max) ─┐
//!   │        │ ok                                                                   │
//!   │   get_schema, monitor_cond ──▶ clear replica, apply "initial" rows            │
//!   │        │  (read from the reply's bytes straight into rows: see UpdateDecoder)  │
//!   │        │                                                                      │
//!   │   apply every update2 ◀── notifications ── until the connection closes ───────┘
//!   └──────────────────────────────────────────────────────────────────────────────┘
//! ```
//! A full resync (clear, then the whole initial contents) after every reconnect is the simple, always
//! correct choice: the server may have restarted with other contents, and OVSDB's monitor_cond_since is not
//! needed for correctness.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{watch, Notify, RwLock};
use tokio::task::JoinHandle;

use super::client::{Client, ClientError};
use super::own_rows::{monitor_requests, MonitoredColumns, OwnInserts};
use super::replica::Replica;
use super::transact::{RowData, Transaction};
use super::update::UpdateDecoder;
use super::uuid::Uuid;

#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Comma-separated remotes.
    pub remotes: String,
    pub db: String,
    pub tables: Vec<String>,
    /// Tables whose inserts this client makes itself, monitored without the inserts' contents (see
    /// [`super::own_rows`]): the client records its inserts with [`Session::record_inserts`].
    pub own_inserts: OwnInserts,
    /// Per table, columns whose changes alone are reported apart (see [`Replica::set_quiet`]).
    pub quiet: BTreeMap<String, Vec<String>>,
    /// Tables monitored by these columns only (the rest of a row keeps its default in the replica).
    pub columns: MonitoredColumns,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl SessionConfig {
    pub fn new(remotes: &str, db: &str, tables: &[&str]) -> SessionConfig {
        SessionConfig {
            remotes: remotes.to_string(),
            db: db.to_string(),
            tables: tables.iter().map(|t| t.to_string()).collect(),
            own_inserts: OwnInserts::new(),
            quiet: BTreeMap::new(),
            columns: MonitoredColumns::new(),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(8),
        }
    }

    /// Monitors `table`'s inserts by `key_column` only: this client inserts its rows itself and records
    /// them (see [`super::own_rows`]).
    pub fn own_inserts(mut self, table: &str, key_column: &str) -> SessionConfig {
        self.own_inserts.insert(table.to_string(), key_column.to_string());
        self
    }

    /// Monitors `table` by `columns` only: the others stay at their defaults in the replica, so only a
    /// client that reads nothing else may ask for this (see `model::nb::table::COLUMNS`).
    pub fn only_columns(mut self, table: &str, columns: &[&str]) -> SessionConfig {
        self.columns.insert(table.to_string(), columns.iter().map(|c| c.to_string()).collect());
        self
    }

    /// Reports modifies of `table` that touch only `columns` apart ([`Replica::set_quiet`]).
    pub fn quiet_columns(mut self, table: &str, columns: &[&str]) -> SessionConfig {
        self.quiet.entry(table.to_string()).or_default().extend(columns.iter().map(|c| c.to_string()));
        self
    }
}

/// What the session is doing, published on every change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStatus {
    pub connected: bool,
    /// The replica's sequence number (bumped by every change it applied).
    pub seqno: u64,
    /// How many times the replica was loaded from scratch (1 after the first connect).
    pub syncs: u64,
}

pub struct Session {
    replica: Arc<Mutex<Option<Replica>>>,
    /// Wakes the connection's task to drop the connection and load everything again.
    resync: Arc<Notify>,
    client: Arc<RwLock<Option<Arc<Client>>>>,
    status: watch::Receiver<SessionStatus>,
    db: String,
    task: JoinHandle<()>,
}

const MONITOR_ID: &str = "replica";

impl Session {
    /// Starts following the database in the background.
    pub fn start(config: SessionConfig) -> Session {
        let replica = Arc::new(Mutex::new(None));
        let client = Arc::new(RwLock::new(None));
        let (tx, rx) = watch::channel(SessionStatus::default());
        let db = config.db.clone();
        let resync = Arc::new(Notify::new());
        let task = tokio::spawn(run(config, Arc::clone(&replica), Arc::clone(&client), tx, Arc::clone(&resync)));
        Session { replica, resync, client, status: rx, db, task }
    }

    /// Locks the replica (None until the first sync). Hold the guard briefly: updates wait for it.
    pub fn replica(&self) -> MutexGuard<'_, Option<Replica>> {
        lock(&self.replica)
    }

    pub fn status(&self) -> SessionStatus {
        *self.status.borrow()
    }

    /// A receiver that wakes on every status change from now on (the current status counts as seen).
    pub fn watch(&self) -> watch::Receiver<SessionStatus> {
        let mut rx = self.status.clone();
        rx.mark_unchanged();
        rx
    }

    /// Waits until the session is connected and synced with at least `syncs` full loads behind it.
    pub async fn wait_synced(&self, syncs: u64) {
        let mut rx = self.status.clone();
        let _ = rx.wait_for(|s| s.connected && s.syncs >= syncs).await;
    }

    /// Says which rows this client is about to insert into `table` (one of its
    /// [`SessionConfig::own_inserts`]): their echo is skipped ([`Replica::expect_inserts`]); record them
    /// with [`Session::record_inserts`] once written, or [`Session::resync`] when the write failed.
    pub fn expect_inserts(&self, table: &str, uuids: impl IntoIterator<Item = Uuid>) {
        if let Some(r) = lock(&self.replica).as_mut() {
            r.expect_inserts(table, uuids);
        }
    }

    /// Drops the connection and loads the database again from scratch: after a write of which some
    /// transactions may have committed unseen (see [`Session::expect_inserts`]).
    pub fn resync(&self) {
        self.resync.notify_one();
    }

    /// Records rows this client inserted into `table` (one of its [`SessionConfig::own_inserts`]) in the
    /// replica, in full (see [`Replica::record_inserts`]), unless the replica was reloaded since the
    /// client's status said `syncs` (then it has them from the server, or they are not there).
    pub fn record_inserts(&self, table: &str, rows: Vec<(Uuid, RowData)>, syncs: u64) -> usize {
        let mut guard = lock(&self.replica);
        match guard.as_mut() {
            Some(r) if self.status().syncs == syncs => r.record_inserts(table, rows),
            _ => 0,
        }
    }

    /// Runs a transaction on the current connection.
    pub async fn transact(&self, txn: &Transaction) -> Result<Vec<Value>, ClientError> {
        let client = self.client.read().await.clone().ok_or(ClientError::Disconnected)?;
        client.transact(&self.db, txn).await
    }

    /// Runs transactions in order on the current connection, pipelined (see [`Client::transact_all`]).
    pub async fn transact_all(&self, txns: &[Transaction], window: usize) -> Result<Vec<Vec<Value>>, ClientError> {
        let client = self.client.read().await.clone().ok_or(ClientError::Disconnected)?;
        client.transact_all(&self.db, txns, window).await
    }

    /// Runs transactions in order on the current connection, pipelined; returns the last one's results
    /// (see [`Client::write_all`]).
    pub async fn write_all(&self, txns: &[Transaction], window: usize) -> Result<Vec<Value>, ClientError> {
        let client = self.client.read().await.clone().ok_or(ClientError::Disconnected)?;
        client.write_all(&self.db, txns, window).await
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(m: &Mutex<Option<Replica>>) -> MutexGuard<'_, Option<Replica>> {
    // A panic elsewhere while holding the lock leaves consistent data here (every update is applied to a
    // clone of the row first), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn run(
    config: SessionConfig,
    replica: Arc<Mutex<Option<Replica>>>,
    client_slot: Arc<RwLock<Option<Arc<Client>>>>,
    status: watch::Sender<SessionStatus>,
    resync: Arc<Notify>,
) {
    let mut backoff = config.backoff_min;
    loop {
        match follow(&config, &replica, &client_slot, &status, &resync).await {
            Ok(()) => backoff = config.backoff_min,
            Err(e) => tracing::info!(db = %config.db, remotes = %config.remotes, error = %e, "database session"),
        }
        *client_slot.write().await = None;
        status.send_modify(|s| s.connected = false);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(config.backoff_max);
    }
}

/// One connection's life: sync, then follow until it closes. Ok(()) means it was up and then went away.
async fn follow(
    config: &SessionConfig,
    replica: &Arc<Mutex<Option<Replica>>>,
    client_slot: &Arc<RwLock<Option<Arc<Client>>>>,
    status: &watch::Sender<SessionStatus>,
    resync: &Notify,
) -> Result<(), ClientError> {
    let started = std::time::Instant::now();
    let mut client = Client::connect(&config.remotes).await?;
    // Only our monitor's updates matter here, and they come on their own stream.
    drop(client.take_notifications());
    let schema = Arc::new(client.get_schema(&config.db).await?);
    let tables: Vec<&str> = config.tables.iter().map(String::as_str).collect();
    let requests = monitor_requests(&schema, &tables, &config.own_inserts, &config.columns);
    // The replica's own decoder when it stays, so every row shares the replica's layouts.
    let decoder = match lock(replica).as_ref() {
        Some(r) if **r.schema() == *schema => r.decoder().clone(),
        _ => UpdateDecoder::new(Arc::clone(&schema)),
    };
    let (initial, mut updates) = client.monitor_cond_updates(&config.db, json!(MONITOR_ID), requests, decoder.clone()).await?;
    // The client is in place before the status says synced: a caller that waited for that may transact at once.
    let remote = client.remote().to_string();
    *client_slot.write().await = Some(Arc::new(client));
    {
        let mut guard = lock(replica);
        let r = match guard.as_mut() {
            Some(r) if **r.schema() == *schema => r,
            _ => guard.insert(Replica::with_decoder(decoder)),
        };
        for (table, columns) in &config.quiet {
            r.set_quiet(table, columns);
        }
        r.clear();
        let stats = r.apply(initial).map_err(|e| ClientError::Protocol(e.to_string()))?;
        tracing::info!(db = %config.db, %remote, rows = stats.inserted, ms = started.elapsed().as_millis() as u64, "synced");
        let seqno = r.seqno();
        status.send_modify(|s| {
            s.connected = true;
            s.seqno = seqno;
            s.syncs += 1;
        });
    }
    loop {
        let u = tokio::select! {
            u = updates.recv() => match u {
                Some(u) => u,
                None => break,
            },
            () = resync.notified() => {
                tracing::info!(db = %config.db, "reloading the whole database");
                break;
            }
        };
        let mut guard = lock(replica);
        if let Some(r) = guard.as_mut() {
            if let Err(e) = r.apply(u) {
                tracing::warn!(error = %e, "bad update2");
            }
            let seqno = r.seqno();
            status.send_modify(|s| s.seqno = seqno);
        }
    }
    Ok(())
}
