//! The OVSDB client: one connection, many concurrent requests.
//!
//! ```text
//!   Client::call ──Command──▶ I/O task ──bytes──▶ server
//!        ▲                       │  ◀──bytes──
//!        └──oneshot reply────────┤  reply matched by id
//!   notifications() ◀────────────┤  update2 / locked / stolen
//!   monitor updates ◀────────────┤  update2 of a typed monitor, read straight into rows
//!                                └──▶ echo answered here, never seen by callers
//! ```
//!
//! The I/O task splits the stream into messages ([`JsonStreamDecoder::next_message`]) and reads only
//! their envelope ([`Envelope`]: `id`, `method`, and the rest left as text). Each part is then read by
//! what knows its type: a reply's `result` as a `Value` for [`Client::call`], the `result` of
//! [`Client::monitor_cond_updates`] and the `update2`s of that monitor by an [`UpdateDecoder`] straight
//! into replica rows. Big transactions go the other way without a `Value` either
//! ([`Client::transact`] serializes the operations straight to bytes). So the biggest messages, the first
//! contents of a large database and the transaction that writes it, never exist as `Value` trees.
//!
//! When the server goes away every pending call fails with [`ClientError::Disconnected`] and the
//! notification and update channels close, which is how a [`Session`](super::session::Session) learns to
//! reconnect.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::framing::JsonStreamDecoder;
use super::jsonrpc::{parse_value, Envelope, Request};
use super::remote::{self, Remote, RemoteParseError};
use super::schema::{DatabaseSchema, SchemaError};
use super::transact::{TransactError, Transaction};
use super::update::{TableUpdates, UpdateDecoder};

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

/// The `update2`s of a monitor started with [`Client::monitor_cond_updates`], already read into rows.
pub type Updates = mpsc::UnboundedReceiver<TableUpdates>;

type ValueReply = oneshot::Sender<Result<Value, ClientError>>;
/// A reply's `result` as its JSON text, for the caller to read (or only check).
type TextReply = oneshot::Sender<Result<String, ClientError>>;

enum Command {
    Call {
        request: Request,
        reply: ValueReply,
    },
    /// A request serialized piece by piece by the caller (see [`Client::transact`]); its reply's `result`
    /// read as a `Value`.
    Stream {
        id: u64,
        method: &'static str,
        chunks: mpsc::Receiver<Chunk>,
        reply: TextReply,
    },
    /// `monitor_cond` with its initial contents and later `update2`s read by `decoder`.
    Monitor {
        request: Request,
        key: String,
        decoder: UpdateDecoder,
        initial: oneshot::Sender<Result<TableUpdates, ClientError>>,
        updates: mpsc::UnboundedSender<TableUpdates>,
    },
}

/// A piece of a streamed request; the request is complete once the `last` piece is written.
struct Chunk {
    bytes: Vec<u8>,
    last: bool,
}

/// Streamed requests are cut into pieces of about this size.
const CHUNK: usize = 64 * 1024;

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

    /// Takes the stream of notifications (once). It ends when the connection closes. The `update2`s of
    /// monitors started with [`Client::monitor_cond_updates`] go to their own stream instead.
    pub fn take_notifications(&mut self) -> Option<mpsc::UnboundedReceiver<Notification>> {
        self.notifications.take()
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends one request and waits for its reply's `result`.
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, ClientError> {
        let (tx, rx) = oneshot::channel();
        let request = Request::new(method, params, self.id());
        self.commands.send(Command::Call { request, reply: tx }).map_err(|_| ClientError::Disconnected)?;
        rx.await.map_err(|_| ClientError::Disconnected)?
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
        self.write_all(db, std::slice::from_ref(txn), 1).await
    }

    /// Runs transactions one after another, pipelined: up to `window` are on the wire before the oldest
    /// reply is awaited, so the server never waits for this client between them (the server runs a
    /// connection's requests in order). Stops at the first failure: the transactions before it took
    /// effect, the ones already sent after it may have, the rest were not sent.
    ///
    /// Each request is serialized straight from the operations, one piece of about 64 KiB at a time while
    /// the I/O task writes the previous ones: a transaction that writes a whole Southbound is tens of
    /// megabytes of JSON, and it never exists in memory whole (nor as a `Value`).
    pub async fn transact_all(&self, db: &str, txns: &[Transaction], window: usize) -> Result<Vec<Vec<Value>>, ClientError> {
        self.pipelined(db, txns, window, true).await
    }

    /// [`Client::transact_all`] for a writer that needs only the last transaction's results: the replies
    /// before it are only checked for errors, not read (a whole-Southbound write gets tens of thousands of
    /// insert results back).
    pub async fn write_all(&self, db: &str, txns: &[Transaction], window: usize) -> Result<Vec<Value>, ClientError> {
        Ok(self.pipelined(db, txns, window, false).await?.pop().unwrap_or_default())
    }

    async fn pipelined(&self, db: &str, txns: &[Transaction], window: usize, read_all: bool) -> Result<Vec<Vec<Value>>, ClientError> {
        let mut sent = std::collections::VecDeque::new();
        let mut out = Vec::with_capacity(txns.len());
        let last = txns.len().saturating_sub(1);
        for (i, txn) in txns.iter().enumerate() {
            if sent.len() >= window.max(1) {
                if let Some((t, reply, read)) = sent.pop_front() {
                    out.push(Self::transact_reply(t, reply, read).await?);
                }
            }
            sent.push_back((txn, self.send_transact(db, txn).await?, read_all || i == last));
        }
        while let Some((t, reply, read)) = sent.pop_front() {
            out.push(Self::transact_reply(t, reply, read).await?);
        }
        Ok(out)
    }

    async fn send_transact(&self, db: &str, txn: &Transaction) -> Result<oneshot::Receiver<Result<String, ClientError>>, ClientError> {
        let id = self.id();
        let (ctx, crx) = mpsc::channel(2);
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Stream { id, method: "transact", chunks: crx, reply: tx }).map_err(|_| ClientError::Disconnected)?;
        let bad = |e: serde_json::Error| ClientError::Protocol(e.to_string());
        let mut buf = Vec::with_capacity(CHUNK + CHUNK / 4);
        buf.extend_from_slice(format!(r#"{{"id":{id},"method":"transact","params":["#).as_bytes());
        serde_json::to_writer(&mut buf, db).map_err(bad)?;
        for op in &txn.ops {
            buf.push(b',');
            serde_json::to_writer(&mut buf, op).map_err(bad)?;
            if buf.len() >= CHUNK {
                let bytes = std::mem::replace(&mut buf, Vec::with_capacity(CHUNK + CHUNK / 4));
                ctx.send(Chunk { bytes, last: false }).await.map_err(|_| ClientError::Disconnected)?;
            }
        }
        buf.extend_from_slice(b"]}");
        ctx.send(Chunk { bytes: buf, last: true }).await.map_err(|_| ClientError::Disconnected)?;
        Ok(rx)
    }

    /// The per-operation results of a transaction, or its first failure. With `read` false a reply
    /// without any error is not read, and the results are empty.
    async fn transact_reply(
        txn: &Transaction,
        reply: oneshot::Receiver<Result<String, ClientError>>,
        read: bool,
    ) -> Result<Vec<Value>, ClientError> {
        let text = reply.await.map_err(|_| ClientError::Disconnected)??;
        if !read && !text.contains("\"error\"") {
            return Ok(Vec::new());
        }
        let v = parse_value(&text).map_err(|e| ClientError::Protocol(format!("transact reply: {e}")))?;
        Ok(txn.check_result_owned(v)?)
    }

    /// `monitor_cond`: returns the initial contents (a `table-updates2` object); later changes arrive as
    /// `update2` notifications tagged with `monitor_id`.
    pub async fn monitor_cond(&self, db: &str, monitor_id: Value, requests: Value) -> Result<Value, ClientError> {
        self.call("monitor_cond", vec![json!(db), monitor_id, requests]).await
    }

    /// `monitor_cond`, read by `decoder` straight into rows: the initial contents, and the stream of the
    /// monitor's later `update2`s (it ends when the connection closes or the monitor is cancelled).
    pub async fn monitor_cond_updates(
        &self,
        db: &str,
        monitor_id: Value,
        requests: Value,
        decoder: UpdateDecoder,
    ) -> Result<(TableUpdates, Updates), ClientError> {
        let key = monitor_id.to_string();
        let request = Request::new("monitor_cond", vec![json!(db), monitor_id, requests], self.id());
        let (itx, irx) = oneshot::channel();
        let (utx, urx) = mpsc::unbounded_channel();
        let cmd = Command::Monitor { request, key, decoder, initial: itx, updates: utx };
        self.commands.send(cmd).map_err(|_| ClientError::Disconnected)?;
        let initial = irx.await.map_err(|_| ClientError::Disconnected)??;
        Ok((initial, urx))
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

/// A request waiting for its reply.
enum Pending {
    Value { method: String, reply: ValueReply },
    Text { method: String, reply: TextReply },
    Monitor { key: String, decoder: UpdateDecoder, reply: oneshot::Sender<Result<TableUpdates, ClientError>> },
}

/// A typed monitor: where its `update2`s go, and how to read them.
struct Monitor {
    decoder: UpdateDecoder,
    updates: mpsc::UnboundedSender<TableUpdates>,
}

/// The I/O task's state besides the socket.
struct State {
    pending: HashMap<u64, Pending>,
    /// Typed monitors by the JSON text of their monitor id.
    monitors: HashMap<String, Monitor>,
    notifications: mpsc::UnboundedSender<Notification>,
}

/// Bytes waiting to be written, whole messages in order. A streamed request is appended piece by piece;
/// until its last piece is in, other messages (new requests, answers to the server's echoes) wait in
/// `held` so nothing is written into the middle of it.
#[derive(Default)]
struct Outbox {
    bytes: Vec<u8>,
    written: usize,
    stream: Option<mpsc::Receiver<Chunk>>,
    held: Vec<u8>,
}

impl Outbox {
    /// Queues a whole message.
    fn message(&mut self, msg: &[u8]) {
        if self.stream.is_some() {
            self.held.extend_from_slice(msg);
        } else {
            self.bytes.extend_from_slice(msg);
        }
    }

    /// Appends a piece of the streamed request; after the last one, the messages held meanwhile.
    fn piece(&mut self, chunk: Option<Chunk>) -> Result<(), &'static str> {
        match chunk {
            Some(c) => {
                self.bytes.extend_from_slice(&c.bytes);
                if c.last {
                    self.stream = None;
                    let held = std::mem::take(&mut self.held);
                    self.bytes.extend_from_slice(&held);
                }
                Ok(())
            }
            // Its caller gave up half way: the stream holds half a message now.
            None => Err("request abandoned half written; closing the connection"),
        }
    }

    fn unwritten(&self) -> &[u8] {
        &self.bytes[self.written..]
    }

    fn wrote(&mut self, n: usize) {
        self.written += n;
        if self.written == self.bytes.len() {
            self.bytes.clear();
            self.written = 0;
        } else if self.written >= CHUNK {
            // Keep the buffer from growing with a long stream that is never fully caught up.
            self.bytes.drain(..self.written);
            self.written = 0;
        }
    }

    /// True while more of the streamed request is wanted (a bounded amount is kept unwritten).
    fn wants_piece(&self) -> bool {
        self.stream.is_some() && self.bytes.len() - self.written < 2 * CHUNK
    }
}

async fn next_piece(stream: &mut Option<mpsc::Receiver<Chunk>>) -> Option<Chunk> {
    match stream {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Reads and writes at the same time: the server stops reading a connection whose replies it cannot
/// send, so a client that only wrote while sending a long request (or several pipelined ones) would
/// deadlock with it.
async fn io_task(
    conn: Box<dyn remote::Conn>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    notifications: mpsc::UnboundedSender<Notification>,
) {
    let (mut rd, mut wr) = tokio::io::split(conn);
    let mut decoder = JsonStreamDecoder::new();
    let mut st = State { pending: HashMap::new(), monitors: HashMap::new(), notifications };
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Outbox::default();
    loop {
        let writing = !out.unwritten().is_empty();
        let wants_piece = out.wants_piece();
        let taking_commands = out.stream.is_none();
        tokio::select! {
            cmd = commands.recv(), if taking_commands => {
                let Some(cmd) = cmd else { break };
                match st.command(cmd) {
                    Outgoing::Nothing => {}
                    Outgoing::Bytes(bytes) => out.message(&bytes),
                    Outgoing::Stream(chunks) => out.stream = Some(chunks),
                }
            }
            piece = next_piece(&mut out.stream), if wants_piece => {
                if let Err(e) = out.piece(piece) {
                    tracing::warn!("{e}");
                    break;
                }
            }
            n = wr.write(&out.bytes[out.written..]), if writing => {
                match n {
                    Ok(0) | Err(_) => {
                        tracing::debug!(result = ?n, "write failed");
                        break;
                    }
                    Ok(n) => out.wrote(n),
                }
            }
            n = rd.read(&mut buf) => {
                let n = match n { Ok(0) | Err(_) => break, Ok(n) => n };
                decoder.feed(&buf[..n]);
                loop {
                    let msg = match decoder.next_message() {
                        Ok(Some(m)) => m,
                        Ok(None) => break,
                        Err(e) => { tracing::warn!(error = %e, "bad data from server"); continue; }
                    };
                    if let Some(answer) = st.incoming(msg) {
                        out.message(answer.as_bytes());
                    }
                }
            }
        }
    }
    for (_, p) in st.pending.drain() {
        match p {
            Pending::Value { reply, .. } => {
                let _ = reply.send(Err(ClientError::Disconnected));
            }
            Pending::Text { reply, .. } => {
                let _ = reply.send(Err(ClientError::Disconnected));
            }
            Pending::Monitor { reply, .. } => {
                let _ = reply.send(Err(ClientError::Disconnected));
            }
        }
    }
}

/// What a command asks the I/O task to write.
enum Outgoing {
    Nothing,
    Bytes(Vec<u8>),
    Stream(mpsc::Receiver<Chunk>),
}

impl State {
    /// Registers a command's reply; returns what to send.
    fn command(&mut self, cmd: Command) -> Outgoing {
        match cmd {
            Command::Call { request, reply } => {
                let bytes = match serde_json::to_vec(&request) {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = reply.send(Err(ClientError::Protocol(e.to_string())));
                        return Outgoing::Nothing;
                    }
                };
                if request.method == "monitor_cancel" {
                    if let jsonrpc_core::Params::Array(p) = &request.params {
                        if let Some(id) = p.first() {
                            self.monitors.remove(&id.to_string());
                        }
                    }
                }
                if let jsonrpc_core::Id::Num(id) = request.id {
                    self.pending.insert(id, Pending::Value { method: request.method.clone(), reply });
                }
                Outgoing::Bytes(bytes)
            }
            Command::Stream { id, method, chunks, reply } => {
                self.pending.insert(id, Pending::Text { method: method.to_string(), reply });
                Outgoing::Stream(chunks)
            }
            Command::Monitor { request, key, decoder, initial, updates } => {
                let bytes = match serde_json::to_vec(&request) {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = initial.send(Err(ClientError::Protocol(e.to_string())));
                        return Outgoing::Nothing;
                    }
                };
                if let jsonrpc_core::Id::Num(id) = request.id {
                    self.pending.insert(id, Pending::Monitor { key: key.clone(), decoder: decoder.clone(), reply: initial });
                }
                // Registered before the request leaves, so no update of the monitor can be missed.
                self.monitors.insert(key, Monitor { decoder, updates });
                Outgoing::Bytes(bytes)
            }
        }
    }

    /// Handles one message from the server; returns the answer to send back (to an `echo`), if any.
    fn incoming(&mut self, msg: &[u8]) -> Option<String> {
        let env = match Envelope::parse(msg) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "bad message from server");
                return None;
            }
        };
        match (env.method, env.id) {
            (Some(method), None) => {
                self.notification(method, env.params);
                None
            }
            (Some(method), Some(id)) if method == "echo" => {
                Some(format!(r#"{{"id":{},"result":{},"error":null}}"#, id.get(), env.params.map_or("null", RawValue::get)))
            }
            (Some(method), Some(_)) => {
                tracing::debug!(%method, "ignoring request from server");
                None
            }
            (None, id) => {
                match id.and_then(|i| i.get().parse::<u64>().ok()) {
                    Some(id) => self.reply(id, env.result, env.error),
                    None => tracing::warn!(id = id.map_or("null", RawValue::get), "reply with an id we never sent"),
                }
                None
            }
        }
    }

    fn reply(&mut self, id: u64, result: Option<&RawValue>, error: Option<&RawValue>) {
        let Some(p) = self.pending.remove(&id) else { return };
        let error = error.map(|e| match serde_json::from_str::<Value>(e.get()) {
            Ok(Value::String(s)) => s,
            Ok(other) => other.get("error").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| other.to_string()),
            Err(_) => e.get().to_string(),
        });
        let result = result.map_or("null", RawValue::get);
        match p {
            Pending::Value { method, reply } => {
                let r = match error {
                    Some(error) => Err(ClientError::Rpc { method, error }),
                    None => parse_value(result).map_err(|e| ClientError::Protocol(format!("{method} reply: {e}"))),
                };
                let _ = reply.send(r);
            }
            Pending::Text { method, reply } => {
                let _ = reply.send(match error {
                    Some(error) => Err(ClientError::Rpc { method, error }),
                    None => Ok(result.to_string()),
                });
            }
            Pending::Monitor { key, decoder, reply } => {
                let r = match error {
                    Some(error) => Err(ClientError::Rpc { method: "monitor_cond".into(), error }),
                    None => decoder.decode_slice(result.as_bytes()).map_err(|e| ClientError::Protocol(format!("monitor_cond reply: {e}"))),
                };
                if r.is_err() {
                    self.monitors.remove(&key);
                }
                let _ = reply.send(r);
            }
        }
    }

    fn notification(&mut self, method: String, params: Option<&RawValue>) {
        let params_text = params.map_or("null", RawValue::get);
        if method == "update2" && !self.monitors.is_empty() && params_text.trim_start().starts_with('[') {
            let mut de = serde_json::Deserializer::from_str(params_text);
            match UpdateParams(&self.monitors).deserialize(&mut de) {
                Ok(Update2::Typed(key, updates)) => {
                    if let Some(m) = self.monitors.get(&key) {
                        if m.updates.send(updates).is_err() {
                            // Nobody follows that monitor any more.
                            self.monitors.remove(&key);
                        }
                    }
                }
                Ok(Update2::Other(params)) => {
                    let _ = self.notifications.send(Notification { method, params });
                }
                Err(e) => tracing::warn!(error = %e, "bad update2"),
            }
            return;
        }
        match parse_value(params_text) {
            Ok(params) => {
                let _ = self.notifications.send(Notification { method, params });
            }
            Err(e) => tracing::warn!(error = %e, %method, "bad notification"),
        }
    }
}

/// The params of an `update2`: `[monitor-id, table-updates2]`, read by the monitor's decoder when it is a
/// typed monitor, else as `Value`s.
struct UpdateParams<'a>(&'a HashMap<String, Monitor>);

enum Update2 {
    Typed(String, TableUpdates),
    Other(Value),
}

impl<'de> DeserializeSeed<'de> for UpdateParams<'_> {
    type Value = Update2;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Update2, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for UpdateParams<'_> {
    type Value = Update2;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the params of update2")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Update2, A::Error> {
        let Some(id) = seq.next_element::<Value>()? else { return Ok(Update2::Other(Value::Array(Vec::new()))) };
        let key = id.to_string();
        if let Some(m) = self.0.get(&key) {
            if let Some(updates) = seq.next_element_seed(m.decoder.seed())? {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(Update2::Typed(key, updates));
            }
        }
        let mut params = vec![id];
        while let Some(v) = seq.next_element::<Value>()? {
            params.push(v);
        }
        Ok(Update2::Other(Value::Array(params)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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

    /// Reads one message from a test peer.
    async fn next(s: &mut tokio::net::UnixStream, dec: &mut JsonStreamDecoder) -> Value {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(v) = dec.next_value().unwrap() {
                return v;
            }
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "client closed the connection");
            dec.feed(&buf[..n]);
        }
    }

    /// A typed monitor gets its initial contents and its `update2`s as rows (whatever the order of the
    /// members of the server's messages), other notifications still arrive as values, a big transaction
    /// goes out in pieces that add up to exactly `to_params`, and cancelling the monitor ends its stream.
    #[tokio::test]
    async fn typed_monitor_and_streamed_transaction() {
        use crate::ovsdb::replica::Replica;
        use crate::ovsdb::transact::RowData;
        use crate::ovsdb::{Datum, Uuid};
        const U1: &str = "11111111-1111-1111-1111-111111111111";
        let schema = Arc::new(
            DatabaseSchema::from_json(&json!({"name": "DB", "version": "1", "tables": {"A": {"columns": {
                "name": {"type": "string"}, "n": {"type": "integer"}
            }}}}))
            .unwrap(),
        );
        let dir = std::env::temp_dir().join(format!("typed-monitor-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let listener = tokio::net::UnixListener::bind(&dir).unwrap();
        let mut txn = Transaction::new();
        for i in 0..2000 {
            txn.insert(
                "A",
                RowData::from([
                    ("name".to_string(), Datum::atom(format!("row {i} {}", "x".repeat(40)))),
                    ("n".to_string(), Datum::atom(i)),
                ]),
            );
        }
        let want_params = Value::Array(txn.to_params("DB"));
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut dec = JsonStreamDecoder::new();
            let req = next(&mut s, &mut dec).await;
            assert_eq!(req["method"], "monitor_cond");
            let reply =
                format!(r#"{{"result": {{"A": {{"{U1}": {{"initial": {{"name": "a", "n": 1}}}}}}}}, "error": null, "id": {}}}"#, req["id"]);
            s.write_all(reply.as_bytes()).await.unwrap();
            let modify =
                format!(r#"{{"params": ["m1", {{"A": {{"{U1}": {{"modify": {{"name": "b"}}}}}}}}], "method": "update2", "id": null}}"#);
            s.write_all(modify.as_bytes()).await.unwrap();
            s.write_all(
                br#"{"id": null, "method": "update2", "params": ["other", {"A": {}}]}{"method": "locked", "params": ["l"], "id": null}"#,
            )
            .await
            .unwrap();
            let t = next(&mut s, &mut dec).await;
            assert_eq!(t["method"], "transact");
            let results: Vec<Value> = (0..2000).map(|i| json!({"uuid": ["uuid", Uuid(i).to_string()]})).collect();
            s.write_all(json!({"id": t["id"], "result": results, "error": null}).to_string().as_bytes()).await.unwrap();
            let cancel = next(&mut s, &mut dec).await;
            assert_eq!(cancel["method"], "monitor_cancel");
            s.write_all(json!({"id": cancel["id"], "result": {}, "error": null}).to_string().as_bytes()).await.unwrap();
            s.write_all(modify.as_bytes()).await.unwrap();
            t["params"].clone()
        });
        let mut client = Client::connect(&format!("unix:{}", dir.display())).await.unwrap();
        let mut notifications = client.take_notifications().unwrap();
        let mut replica = Replica::new(schema);
        let (initial, mut updates) = client.monitor_cond_updates("DB", json!("m1"), json!({}), replica.decoder().clone()).await.unwrap();
        replica.apply(initial).unwrap();
        let u1: Uuid = U1.parse().unwrap();
        assert_eq!(replica.row("A", u1).map(|r| (r.str("name").to_string(), r.get("n").as_i64())), Some(("a".into(), Some(1))));
        replica.apply(updates.recv().await.unwrap()).unwrap();
        assert_eq!(replica.row("A", u1).map(|r| r.str("name").to_string()), Some("b".into()));
        let n = notifications.recv().await.unwrap();
        assert_eq!((n.method.as_str(), &n.params), ("update2", &json!(["other", {"A": {}}])));
        assert_eq!(notifications.recv().await.unwrap(), Notification { method: "locked".into(), params: json!(["l"]) });
        let results = client.transact("DB", &txn).await.unwrap();
        assert_eq!(results.len(), 2000);
        assert_eq!(results[5], json!({"uuid": ["uuid", Uuid(5).to_string()]}));
        client.monitor_cancel(json!("m1")).await.unwrap();
        assert!(updates.recv().await.is_none(), "a cancelled monitor's stream ends");
        // The update that follows the cancel is an ordinary notification now.
        assert_eq!(notifications.recv().await.unwrap().method, "update2");
        assert_eq!(server.await.unwrap(), want_params);
        let _ = std::fs::remove_file(&dir);
    }
}
