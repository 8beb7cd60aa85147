//! The OVSDB client: one connection, many concurrent requests.
//!
//! ```text
//!   Client::call ──Command──▶ I/O task ──bytes──▶ server
//!        ▲                       │  ◀──bytes──
//!        └──oneshot reply────────┤  reply matched by id
//!   notifications() ◀────────────┤  update2 / locked / stolen
//!                                └──▶ echo answered here, never seen by callers
//! ```
//!
//! The I/O task owns the socket. When the server goes away every pending call fails with
//! [`ClientError::Disconnected`] and the notification channel closes, which is how a
//! [`Session`](super::session::Session) learns to reconnect.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::framing::JsonStreamDecoder;
use super::jsonrpc::{Incoming, Reply, Request};
use super::remote::{self, Remote, RemoteParseError};
use super::schema::{DatabaseSchema, SchemaError};
use super::transact::{TransactError, Transaction};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Remote(#[from] RemoteParseError),
    #[error("{remote}: connection failed ({source})")]
    Connect { remote: String, source: std::io::Error },
    #[error("connection to the database closed")]
    Disconnected,
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("{method} failed: {error}")]
    Rpc { method: String, error: String },
    #[error(transparent)]
    Transaction(#[from] TransactError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// A notification from the server: `update2`, `update`, `locked`, `stolen`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub method: String,
    pub params: Value,
}

enum Command {
    Call { request: Request, reply: oneshot::Sender<Result<Value, ClientError>> },
}

/// A connection to one OVSDB server.
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    notifications: Option<mpsc::UnboundedReceiver<Notification>>,
    next_id: AtomicU64,
    remote: Remote,
}

impl Client {
    /// Connects to the first reachable remote of a comma-separated list.
    pub async fn connect(remotes: &str) -> Result<Client, ClientError> {
        let list = remote::parse_list(remotes)?;
        let mut last = None;
        for r in list {
            match r.connect().await {
                Ok(conn) => return Ok(Self::start(conn, r)),
                Err(e) => {
                    tracing::debug!(remote = %r, error = %e, "connect failed");
                    last = Some(ClientError::Connect { remote: r.to_string(), source: e });
                }
            }
        }
        Err(last.unwrap_or(ClientError::Disconnected))
    }

    fn start(conn: Box<dyn remote::Conn>, remote: Remote) -> Client {
        let (ctx, crx) = mpsc::unbounded_channel();
        let (ntx, nrx) = mpsc::unbounded_channel();
        tokio::spawn(io_task(conn, crx, ntx));
        Client { commands: ctx, notifications: Some(nrx), next_id: AtomicU64::new(1), remote }
    }

    /// The remote this client is connected to.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// Takes the stream of notifications (once). It ends when the connection closes.
    pub fn take_notifications(&mut self) -> Option<mpsc::UnboundedReceiver<Notification>> {
        self.notifications.take()
    }

    /// Sends one request and waits for its reply's `result`.
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let request = Request::new(method, params, id);
        self.commands.send(Command::Call { request, reply: tx }).map_err(|_| ClientError::Disconnected)?;
        let res = rx.await.map_err(|_| ClientError::Disconnected)??;
        Ok(res)
    }

    pub async fn list_dbs(&self) -> Result<Vec<String>, ClientError> {
        let v = self.call("list_dbs", vec![]).await?;
        serde_json::from_value(v).map_err(|e| ClientError::Protocol(format!("list_dbs: {e}")))
    }

    pub async fn get_schema(&self, db: &str) -> Result<DatabaseSchema, ClientError> {
        let v = self.call("get_schema", vec![json!(db)]).await?;
        Ok(DatabaseSchema::from_json(&v)?)
    }

    /// Runs a transaction; fails with the first failed operation (none took effect then).
    pub async fn transact(&self, db: &str, txn: &Transaction) -> Result<Vec<Value>, ClientError> {
        let v = self.call("transact", txn.to_params(db)).await?;
        Ok(txn.check_result(&v)?)
    }

    /// `monitor_cond`: returns the initial contents (a `table-updates2` object); later changes arrive as
    /// `update2` notifications tagged with `monitor_id`.
    pub async fn monitor_cond(&self, db: &str, monitor_id: Value, requests: Value) -> Result<Value, ClientError> {
        self.call("monitor_cond", vec![json!(db), monitor_id, requests]).await
    }

    pub async fn monitor_cancel(&self, monitor_id: Value) -> Result<(), ClientError> {
        self.call("monitor_cancel", vec![monitor_id]).await.map(|_| ())
    }

    pub async fn echo(&self, payload: Vec<Value>) -> Result<Value, ClientError> {
        self.call("echo", payload).await
    }

    /// Asks for a named lock: true if granted now (otherwise a `locked` notification comes later).
    pub async fn lock(&self, id: &str) -> Result<bool, ClientError> {
        let v = self.call("lock", vec![json!(id)]).await?;
        Ok(v.get("locked").and_then(Value::as_bool).unwrap_or(false))
    }

    pub async fn unlock(&self, id: &str) -> Result<(), ClientError> {
        self.call("unlock", vec![json!(id)]).await.map(|_| ())
    }
}

type Pending = HashMap<u64, (String, oneshot::Sender<Result<Value, ClientError>>)>;

async fn io_task(
    conn: Box<dyn remote::Conn>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    notifications: mpsc::UnboundedSender<Notification>,
) {
    let (mut rd, mut wr) = tokio::io::split(conn);
    let mut decoder = JsonStreamDecoder::new();
    let mut pending: Pending = HashMap::new();
    let mut buf = vec![0u8; 64 * 1024];
    'io: loop {
        tokio::select! {
            cmd = commands.recv() => {
                let Some(Command::Call { request, reply }) = cmd else { break };
                let bytes = match serde_json::to_vec(&request) {
                    Ok(b) => b,
                    Err(e) => { let _ = reply.send(Err(ClientError::Protocol(e.to_string()))); continue; }
                };
                if let jsonrpc_core::Id::Num(id) = request.id {
                    pending.insert(id, (request.method.clone(), reply));
                }
                if let Err(e) = wr.write_all(&bytes).await {
                    tracing::debug!(error = %e, "write failed");
                    break;
                }
            }
            n = rd.read(&mut buf) => {
                let n = match n { Ok(0) | Err(_) => break, Ok(n) => n };
                decoder.feed(&buf[..n]);
                loop {
                    let value = match decoder.next_value() {
                        Ok(Some(v)) => v,
                        Ok(None) => break,
                        Err(e) => { tracing::warn!(error = %e, "bad data from server"); continue; }
                    };
                    match Incoming::from_json(value) {
                        Ok(Incoming::Response { id, result, error }) => {
                            if let Some((method, reply)) = pending.remove(&id) {
                                let r = if error.is_null() {
                                    Ok(result)
                                } else {
                                    let error = match &error {
                                        Value::String(s) => s.clone(),
                                        other => other.get("error").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| other.to_string()),
                                    };
                                    Err(ClientError::Rpc { method, error })
                                };
                                let _ = reply.send(r);
                            }
                        }
                        Ok(Incoming::Request { method, params, id }) => {
                            if method == "echo" {
                                let reply = Reply { result: params, error: Value::Null, id };
                                if let Ok(bytes) = serde_json::to_vec(&reply) {
                                    if wr.write_all(&bytes).await.is_err() { break 'io; }
                                }
                            } else {
                                tracing::debug!(%method, "ignoring request from server");
                            }
                        }
                        Ok(Incoming::Notification { method, params }) => {
                            let _ = notifications.send(Notification { method, params });
                        }
                        Err(e) => tracing::warn!(error = %e, "bad message from server"),
                    }
                }
            }
        }
    }
    for (_, (_, reply)) in pending.drain() {
        let _ = reply.send(Err(ClientError::Disconnected));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's `echo` (its inactivity probe) is answered by the I/O task, and calls keep working.
    #[tokio::test]
    async fn answers_the_servers_echo() {
        let dir = std::env::temp_dir().join(format!("echo-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let listener = tokio::net::UnixListener::bind(&dir).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(br#"{"id":"echo","method":"echo","params":["probe"]}"#).await.unwrap();
            let mut dec = JsonStreamDecoder::new();
            let mut buf = [0u8; 4096];
            let mut seen = Vec::new();
            while seen.len() < 2 {
                let n = s.read(&mut buf).await.unwrap();
                dec.feed(&buf[..n]);
                while let Some(v) = dec.next_value().unwrap() {
                    seen.push(v);
                }
            }
            // Reply to the client's own request so its call completes.
            let req = seen.iter().find(|v| v.get("method").is_some()).cloned().unwrap();
            let reply = json!({"id": req["id"], "result": ["DB"], "error": null});
            s.write_all(reply.to_string().as_bytes()).await.unwrap();
            seen
        });
        let client = Client::connect(&format!("unix:{}", dir.display())).await.unwrap();
        assert_eq!(client.list_dbs().await.unwrap(), vec!["DB".to_string()]);
        let seen = server.await.unwrap();
        assert!(seen.contains(&json!({"id": "echo", "result": ["probe"], "error": null})), "{seen:?}");
        let _ = std::fs::remove_file(&dir);
    }
}
