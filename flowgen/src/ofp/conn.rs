//! A small async OpenFlow 1.5 connection to an Open vSwitch bridge.
//!
//! Open vSwitch listens on `$OVS_RUNDIR/<bridge>.mgmt` (a Unix socket, the one `ovs-ofctl` uses) on every
//! bridge. [`Connection::connect`] opens it, exchanges HELLOs (we offer OpenFlow 1.5 only, so the bridge
//! must list `OpenFlow15` in its `protocols`), answers the switch's ECHO_REQUESTs whenever it reads, and
//! asks for the features. Messages nobody waited for (packet-ins, port status) are queued for
//! [`Connection::recv`].
//!
//! # Flow batches are bundles
//!
//! [`Connection::install`] sends a batch of flow mods inside one OpenFlow bundle, so the switch applies all
//! of them or none, and never shows a half-updated pipeline to packets:
//!
//! ```text
//!  us                                                   ovs-vswitchd
//!  BUNDLE_CONTROL open (id, ATOMIC|ORDERED)  ─────────▶
//!                                            ◀─────────  BUNDLE_CONTROL open reply (or ERROR)
//!  BUNDLE_ADD_MESSAGE (id, FLOW_MOD xid=a)   ─────────▶  decoded and checked now; ERROR xid=a if bad
//!  BUNDLE_ADD_MESSAGE (id, FLOW_MOD xid=b)   ─────────▶
//!  BARRIER_REQUEST                           ─────────▶
//!                                            ◀─────────  BARRIER_REPLY: every add-time error is in
//!  (any error so far: BUNDLE_CONTROL discard, report the flow; nothing was installed)
//!  BUNDLE_CONTROL commit                     ─────────▶  all applied at once, or none
//!                                            ◀─────────  ERROR xid=b (the flow that failed, e.g. a missing group)
//!                                            ◀─────────  BUNDLE_CONTROL commit reply, or ERROR (OFPBFC_MSG_FAILED)
//! ```
//!
//! Why the barrier: a message the switch cannot even decode is refused when it is ADDED, and is then simply
//! not part of the bundle — committing would install the rest. So we learn about add-time errors first
//! (the barrier reply comes after every error for what was sent before it) and discard the bundle if there
//! were any. Each flow mod gets its own xid, and the BUNDLE_ADD_MESSAGE wrapping it carries the same xid,
//! so an error naming that xid (or carrying the failed message in its data) names the flow.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::wire::{self, BundleCtrl, Command, Features, Header, Message, OfError, BUNDLE_ATOMIC, BUNDLE_ORDERED};
use super::{Error, Flow};

/// Flow mods per write of [`Connection::install`] (about 150 kB: a socket buffer's worth).
const SEND_CHUNK: usize = 1000;

/// A byte stream an OpenFlow connection can run over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An OpenFlow 1.5 connection.
pub struct Connection {
    stream: Box<dyn Io>,
    rbuf: Vec<u8>,
    next_xid: u32,
    next_bundle: u32,
    queue: VecDeque<(Header, Message)>,
    features: Option<Features>,
    timeout: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("features", &self.features).field("queued", &self.queue.len()).finish()
    }
}

impl Connection {
    /// Connects to `unix:PATH` (or a bare path) or `tcp:HOST:PORT`, and does the handshake.
    pub async fn connect(target: &str) -> Result<Connection, Error> {
        if let Some(addr) = target.strip_prefix("tcp:") {
            let s = tokio::net::TcpStream::connect(addr).await?;
            return Connection::handshake(s).await;
        }
        let path = target.strip_prefix("unix:").unwrap_or(target);
        let s = tokio::net::UnixStream::connect(path).await?;
        Connection::handshake(s).await
    }

    /// Runs the OpenFlow handshake on an open stream: HELLO both ways (version 1.5), then FEATURES.
    pub async fn handshake<S: Io + 'static>(stream: S) -> Result<Connection, Error> {
        let mut c = Connection {
            stream: Box::new(stream),
            rbuf: Vec::with_capacity(1 << 16),
            next_xid: 1,
            next_bundle: 1,
            queue: VecDeque::new(),
            features: None,
            timeout: Duration::from_secs(30),
        };
        let xid = c.alloc_xid();
        c.send(&wire::hello(xid)).await?;
        loop {
            let (h, m) = c.next_message("HELLO").await?;
            match m {
                Message::Hello { versions } => {
                    let ok = if versions != 0 { versions & (1 << wire::OFP15_VERSION) != 0 } else { h.version >= wire::OFP15_VERSION };
                    if !ok {
                        return Err(Error::Version(if versions != 0 { versions } else { 1 << h.version }));
                    }
                    break;
                }
                Message::Error(e) => return Err(Error::Switch(e)),
                other => c.queue.push_back((h, other)),
            }
        }
        let xid = c.alloc_xid();
        c.send(&wire::features_request(xid)).await?;
        loop {
            let (h, m) = c.next_message("FEATURES_REPLY").await?;
            match m {
                Message::FeaturesReply(f) if h.xid == xid => {
                    c.features = Some(f);
                    break;
                }
                Message::Error(e) if h.xid == xid => return Err(Error::Switch(e)),
                other => c.queue.push_back((h, other)),
            }
        }
        tracing::debug!(features = ?c.features, "OpenFlow 1.5 connection up");
        Ok(c)
    }

    /// What the switch said about itself in FEATURES_REPLY.
    pub fn features(&self) -> Option<Features> {
        self.features
    }

    /// How long to wait for any one reply (default 30 s).
    pub fn set_timeout(&mut self, t: Duration) {
        self.timeout = t;
    }

    /// A fresh transaction id.
    pub fn alloc_xid(&mut self) -> u32 {
        let x = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        x
    }

    /// Sends one or more complete, encoded messages.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        Ok(())
    }

    async fn read_raw(&mut self) -> Result<Vec<u8>, Error> {
        loop {
            if self.rbuf.len() >= 8 {
                let len = usize::from(u16::from_be_bytes([self.rbuf[2], self.rbuf[3]]));
                if len < 8 {
                    return Err(Error::Decode(format!("message length {len}")));
                }
                if self.rbuf.len() >= len {
                    return Ok(self.rbuf.drain(..len).collect());
                }
            }
            self.rbuf.reserve(1 << 16);
            let n = self.stream.read_buf(&mut self.rbuf).await?;
            if n == 0 {
                return Err(Error::Closed);
            }
        }
    }

    /// Reads the next message from the socket, answering echo requests on the way.
    async fn next_message(&mut self, waiting_for: &'static str) -> Result<(Header, Message), Error> {
        loop {
            let raw = match tokio::time::timeout(self.timeout, self.read_raw()).await {
                Ok(r) => r?,
                Err(_) => return Err(Error::Timeout(waiting_for)),
            };
            let (h, m) = wire::decode(&raw)?;
            tracing::trace!(kind = h.kind, xid = h.xid, "received");
            if let Message::EchoRequest(data) = &m {
                let reply = wire::echo_reply(h.xid, data)?;
                self.send(&reply).await?;
                continue;
            }
            return Ok((h, m));
        }
    }

    /// The next message nobody was waiting for (queued ones first): packet-ins, port status, ...
    pub async fn recv(&mut self) -> Result<(Header, Message), Error> {
        if let Some(m) = self.queue.pop_front() {
            return Ok(m);
        }
        self.next_message("a message").await
    }

    /// Sends ECHO_REQUEST and waits for its reply.
    pub async fn echo(&mut self) -> Result<(), Error> {
        let xid = self.alloc_xid();
        self.send(&wire::echo_request(xid, b"flowgen")?).await?;
        loop {
            let (h, m) = self.next_message("ECHO_REPLY").await?;
            match m {
                Message::EchoReply(_) if h.xid == xid => return Ok(()),
                other => self.queue.push_back((h, other)),
            }
        }
    }

    /// Sends a BARRIER_REQUEST and waits for its reply; returns the errors that arrived before it (every
    /// error about a message sent before the barrier).
    pub async fn barrier(&mut self) -> Result<Vec<(Header, OfError)>, Error> {
        let xid = self.alloc_xid();
        self.send(&wire::barrier_request(xid)).await?;
        let mut errors = Vec::new();
        loop {
            let (h, m) = self.next_message("BARRIER_REPLY").await?;
            match m {
                Message::BarrierReply if h.xid == xid => return Ok(errors),
                Message::Error(e) => errors.push((h, e)),
                other => self.queue.push_back((h, other)),
            }
        }
    }

    /// Asks for packet-ins, as `NXT_PACKET_IN2` (which carries `controller(userdata=...)` and the
    /// continuation of a paused pipeline). On a service connection such as `br0.mgmt` Open vSwitch sends
    /// asynchronous messages only after a SET_CONFIG with a non-zero `miss_send_len`, so send that too.
    pub async fn enable_packet_ins(&mut self) -> Result<(), Error> {
        let xid = self.alloc_xid();
        self.send(&wire::set_packet_in_format(xid, 2)).await?;
        let xid = self.alloc_xid();
        self.send(&wire::set_config(xid, 0, u16::MAX)).await?;
        match self.barrier().await?.into_iter().next() {
            Some((_, e)) => Err(Error::Switch(e)),
            None => Ok(()),
        }
    }

    /// Adds flows, atomically (see [`Connection::install`]).
    pub async fn add_flows(&mut self, flows: &[Flow]) -> Result<(), Error> {
        let mods: Vec<(Command, &Flow)> = flows.iter().map(|f| (Command::Add, f)).collect();
        self.install(&mods).await
    }

    /// Deletes every flow in every table (not in a bundle).
    pub async fn delete_all_flows(&mut self) -> Result<(), Error> {
        let xid = self.alloc_xid();
        let all = Flow::new(0xff, 0);
        self.send(&wire::flow_mod(xid, Command::Delete, &all)?).await?;
        match self.barrier().await?.into_iter().next() {
            Some((_, e)) => Err(Error::Switch(e)),
            None => Ok(()),
        }
    }

    /// Applies a batch of flow mods in one atomic bundle: all of them, or (on any error) none, in which case
    /// the error names the first flow the switch refused. See the module documentation for the exchange.
    pub async fn install(&mut self, mods: &[(Command, &Flow)]) -> Result<(), Error> {
        if mods.is_empty() {
            return Ok(());
        }
        let id = self.next_bundle;
        self.next_bundle = self.next_bundle.wrapping_add(1);
        let flags = BUNDLE_ATOMIC | BUNDLE_ORDERED;

        let open = self.alloc_xid();
        self.send(&wire::bundle_control(open, id, BundleCtrl::OpenRequest, flags)).await?;
        self.await_bundle(open, id, BundleCtrl::OpenReply).await?;

        // Encoded and sent in chunks, so that the switch decodes one chunk while we encode the next (for a
        // full programming, tens of thousands of flows, that overlaps most of the encoding with the switch's
        // work instead of adding to it). A flow we cannot encode discards the bundle: nothing is applied.
        let mut by_xid: HashMap<u32, usize> = HashMap::with_capacity(mods.len());
        let mut adds = Vec::new();
        for (n, part) in mods.chunks(SEND_CHUNK).enumerate() {
            adds.clear();
            for (j, (cmd, flow)) in part.iter().enumerate() {
                let i = n * SEND_CHUNK + j;
                let xid = self.alloc_xid();
                let encoded = wire::flow_mod(xid, *cmd, flow)
                    .map_err(|e| Error::Encode(format!("flow #{i} `{flow}`: {e}")))
                    .and_then(|fm| wire::bundle_add(id, flags, &fm));
                match encoded {
                    Ok(bytes) => adds.extend_from_slice(&bytes),
                    Err(e) => {
                        let discard = self.alloc_xid();
                        self.send(&wire::bundle_control(discard, id, BundleCtrl::DiscardRequest, flags)).await?;
                        let _ = self.await_bundle(discard, id, BundleCtrl::DiscardReply).await;
                        return Err(e);
                    }
                }
                by_xid.insert(xid, i);
            }
            self.send(&adds).await?;
        }
        let refused = |h: &Header, e: &OfError| -> Option<Error> {
            let i = by_xid.get(&h.xid).or_else(|| e.failed_xid().and_then(|x| by_xid.get(&x)))?;
            Some(Error::FlowRefused { index: *i, flow: mods[*i].1.to_string(), error: e.clone() })
        };
        let errors = self.barrier().await?;
        if !errors.is_empty() {
            let first = errors.iter().find_map(|(h, e)| refused(h, e));
            let discard = self.alloc_xid();
            self.send(&wire::bundle_control(discard, id, BundleCtrl::DiscardRequest, flags)).await?;
            let _ = self.await_bundle(discard, id, BundleCtrl::DiscardReply).await;
            return Err(first.unwrap_or_else(|| Error::Switch(errors[0].1.clone())));
        }

        let commit = self.alloc_xid();
        self.send(&wire::bundle_control(commit, id, BundleCtrl::CommitRequest, flags)).await?;
        let mut first: Option<Error> = None;
        loop {
            let (h, m) = self.next_message("bundle commit").await?;
            match m {
                Message::Error(e) => {
                    if let Some(err) = refused(&h, &e) {
                        first.get_or_insert(err);
                    } else if h.xid == commit {
                        return Err(first.unwrap_or(Error::Switch(e)));
                    } else {
                        self.queue.push_back((h, Message::Error(e)));
                    }
                }
                Message::BundleControl { bundle_id, kind: BundleCtrl::CommitReply, .. } if bundle_id == id => {
                    return match first {
                        Some(e) => Err(e),
                        None => Ok(()),
                    };
                }
                other => self.queue.push_back((h, other)),
            }
        }
    }

    /// Waits for a bundle control reply of `kind` to the request `xid`.
    async fn await_bundle(&mut self, xid: u32, id: u32, kind: BundleCtrl) -> Result<(), Error> {
        loop {
            let (h, m) = self.next_message("bundle reply").await?;
            match m {
                Message::BundleControl { bundle_id, kind: k, .. } if bundle_id == id && k == kind => return Ok(()),
                Message::Error(e) if h.xid == xid => return Err(Error::Switch(e)),
                other => self.queue.push_back((h, other)),
            }
        }
    }
}
