//! Desired vs installed flows: what `br-int` should hold, what we know it holds, and the one atomic
//! bundle that takes it from one to the other.
//!
//! ```text
//!   lflow cache delta ─┐  remove(origin, old) / add(origin, new)
//!   physical flows  ───┴─▶ desired: key -> {(origin, i) -> flow}      dirty: keys touched since the last commit
//!                                     │ effective flow of a key = the one with the greatest (origin, i)
//!   installed (last commit) ──────────┴─ for dirty keys only ─▶ delete-strict / add / modify-strict
//!                                                              ── one OpenFlow bundle (all or nothing)
//! ```
//! The key is (table, priority, match). Desired flows are kept as a map maintained from deltas, so a round
//! that changed one logical flow costs work proportional to that flow's OpenFlow flows, not a diff over the
//! whole table. Two desired flows with one key (say two logical flows compiling to the same match) both
//! stay in the map; the switch gets the one with the greatest origin (physical flows win over logical ones,
//! as the later flow in the old single list did), and when that one goes the other takes its place.
//!
//! `installed` only changes when a bundle commits, so a refused bundle leaves both sides as they were, the
//! dirty keys stay dirty and the next sync retries. A new connection (first start, or `ovs-vswitchd`
//! restarted, or the socket dropped) forgets `installed`: the first sync on it deletes every flow and adds
//! every desired one in one bundle, so a restarted switch is reprogrammed completely and stale flows from
//! an earlier run vanish.
//!
//! Conntrack zones that changed hands ([`crate::ct_zones`]) are flushed before the bundle, and confirmed by a
//! barrier of their own (so a switch that refuses a flush cannot make the bundle look refused): the flows
//! that put a new user's packets in a zone only go in once the zone holds nothing of its previous user.

use std::collections::{BTreeSet, HashMap, HashSet};

use flowgen::ofp::wire::{self, Command};
use flowgen::ofp::{Action, Connection, Error as OfpError, Flow, Match};

type Key = (u8, u16, Match);

/// A flow but for its key: what the desired and installed maps keep per flow (the key holds the rest, so
/// each match is kept once per map).
#[derive(Clone, Debug, PartialEq)]
struct Body {
    cookie: u64,
    actions: Vec<Action>,
}

impl Body {
    fn of(f: &Flow) -> Body {
        Body { cookie: f.cookie, actions: f.actions.clone() }
    }

    fn flow(&self, k: &Key) -> Flow {
        Flow { table: k.0, priority: k.1, cookie: self.cookie, matches: k.2.clone(), actions: self.actions.clone() }
    }
}

/// The flows wanted for one key, by (origin, index), sorted: the last one is the effective flow. Nearly
/// always one, so a vector of exactly that (a B-tree map would take a node with room for eleven).
type Wants = Vec<((Origin, u32), Body)>;

/// Who wants a desired flow: `(kind, a, b)`, e.g. `(LOGICAL, lflow uuid, datapath uuid)`. Ordered: among
/// desired flows with one key the greatest origin wins.
pub type Origin = (u8, u128, u128);
pub const LOGICAL: u8 = 0;
pub const PHYSICAL: u8 = 1;
pub const MAC_BINDINGS: u8 = 2;
pub const PORT_SECURITY: u8 = 3;

/// OVN's Geneve option carrying the logical input and output ports.
pub const GENEVE_CLASS: u16 = 0x0102;
pub const GENEVE_TYPE: u8 = 0x80;

/// What one sync changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub added: usize,
    pub modified: usize,
    pub deleted: usize,
    /// The sync replaced every flow (new connection).
    pub full: bool,
}

impl SyncStats {
    pub fn is_empty(&self) -> bool {
        self.added + self.modified + self.deleted == 0 && !self.full
    }
}

pub struct Ofctrl {
    target: String,
    conn: Option<Connection>,
    installed: HashMap<Key, Body>,
    desired: HashMap<Key, Wants>,
    /// Keys whose desired or installed flow may differ (touched since the last commit).
    dirty: HashSet<Key>,
    /// Conntrack zones to flush before the next bundle.
    flush: BTreeSet<u16>,
}

fn key(f: &Flow) -> Key {
    (f.table, f.priority, f.matches.clone())
}

impl Ofctrl {
    /// For the bridge whose management socket is `target` (`unix:$OVS_RUNDIR/br-int.mgmt`).
    pub fn new(target: &str) -> Ofctrl {
        Ofctrl {
            target: target.to_string(),
            conn: None,
            installed: HashMap::new(),
            desired: HashMap::new(),
            dirty: HashSet::new(),
            flush: BTreeSet::new(),
        }
    }

    /// Queues conntrack zones to flush at the next sync, before its flows.
    pub fn flush_ct_zones(&mut self, zones: impl IntoIterator<Item = u16>) {
        self.flush.extend(zones);
    }

    /// Sends the queued zone flushes and waits for the switch to have done them. A flush the switch refuses
    /// is logged and not retried (it would be refused again); an I/O error keeps them queued.
    async fn send_flushes(&mut self) -> Result<(), OfpError> {
        if self.flush.is_empty() {
            return Ok(());
        }
        let Some(conn) = self.conn.as_mut() else { return Err(OfpError::Closed) };
        let mut bytes = Vec::new();
        for zone in &self.flush {
            let xid = conn.alloc_xid();
            bytes.extend_from_slice(&wire::ct_flush_zone(xid, *zone));
        }
        conn.send(&bytes).await?;
        for (_, e) in conn.barrier().await? {
            tracing::warn!(error = %e, "the switch refused to flush a conntrack zone");
        }
        tracing::info!(zones = self.flush.len(), "conntrack zones flushed");
        tracing::debug!(zones = ?self.flush, "the conntrack zones flushed");
        self.flush.clear();
        Ok(())
    }

    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// The connection, for packet-ins and packet-outs (None until the first sync connects).
    pub fn connection(&mut self) -> Option<&mut Connection> {
        self.conn.as_mut()
    }

    /// Forgets the connection (after an I/O error): the next sync reconnects and reprograms everything.
    pub fn disconnect(&mut self) {
        self.conn = None;
        self.installed.clear();
    }

    pub fn installed_len(&self) -> usize {
        self.installed.len()
    }

    /// The number of distinct desired flows (keys).
    pub fn desired_len(&self) -> usize {
        self.desired.len()
    }

    /// Forgets every desired flow (before adding a full recomputation's).
    pub fn clear_desired(&mut self) {
        self.dirty.extend(self.desired.drain().map(|(k, _)| k));
        self.dirty.extend(self.installed.keys().cloned());
    }

    /// Withdraws flows `origin` added earlier (the same list it added).
    pub fn remove(&mut self, origin: Origin, flows: &[Flow]) {
        for (i, f) in flows.iter().enumerate() {
            let k = key(f);
            if let Some(m) = self.desired.get_mut(&k) {
                m.retain(|(o, _)| *o != (origin, i as u32));
                if m.is_empty() {
                    self.desired.remove(&k);
                }
            }
            self.dirty.insert(k);
        }
    }

    /// Adds flows wanted by `origin`.
    pub fn add(&mut self, origin: Origin, flows: &[Flow]) {
        for (i, f) in flows.iter().enumerate() {
            let k = key(f);
            let body = Body::of(f);
            let m = self.desired.entry(k.clone()).or_insert_with(|| Vec::with_capacity(1));
            if m.iter().any(|(_, other)| other.actions != body.actions) {
                tracing::debug!(flow = %f, "two desired flows with one match and priority; the greatest origin wins");
            }
            let o = (origin, i as u32);
            match m.binary_search_by(|(x, _)| x.cmp(&o)) {
                Ok(j) => m[j].1 = body,
                Err(j) => m.insert(j, (o, body)),
            }
            self.dirty.insert(k);
        }
    }

    /// Replaces every desired flow with `desired` (one origin) and syncs: the old whole-table interface.
    pub async fn sync_all(&mut self, desired: &[Flow]) -> Result<SyncStats, OfpError> {
        self.clear_desired();
        self.add((PHYSICAL, 0, 0), desired);
        self.sync().await
    }

    /// Makes the switch hold exactly the desired flows.
    pub async fn sync(&mut self) -> Result<SyncStats, OfpError> {
        let effective = |k: &Key, m: &Wants| m.last().map(|(_, b)| b.flow(k));
        let mut stats = SyncStats::default();
        if self.conn.is_none() {
            let mut c = Connection::connect(&self.target).await?;
            c.enable_packet_ins().await?;
            // OVN's Geneve option (logical in/out ports) as tun_metadata0, before any flow uses it. A switch
            // that already maps it (an earlier run) answers "already mapped", which is fine.
            let xid = c.alloc_xid();
            c.send(&flowgen::ofp::wire::tlv_table_add(xid, GENEVE_CLASS, GENEVE_TYPE, 4, 0)).await?;
            for (_, e) in c.barrier().await? {
                tracing::debug!(error = %e, "Geneve option map");
            }
            self.conn = Some(c);
            self.installed.clear();
            stats.full = true;
        }
        if let Err(e) = self.send_flushes().await {
            if matches!(e, OfpError::Io(_) | OfpError::Closed) {
                self.disconnect();
            }
            return Err(e);
        }
        // The new installed state of every key this bundle touches (None: deleted).
        let mut next: Vec<(Key, Option<Flow>)> = Vec::new();
        let mut deletes: Vec<(Command, Flow)> = Vec::new();
        // Adds and modifications, as indexes into `next` (which owns the flow): one copy per flow.
        let mut puts: Vec<(Command, usize)> = Vec::new();
        let delete_all = Flow::new(0xff, 0);
        if stats.full {
            deletes.push((Command::Delete, delete_all));
            for (k, m) in &self.desired {
                if let Some(f) = effective(k, m) {
                    puts.push((Command::Add, next.len()));
                    next.push((k.clone(), Some(f)));
                }
            }
            stats.added = puts.len();
        } else {
            for k in &self.dirty {
                let want = self.desired.get(k).and_then(|m| effective(k, m));
                match (self.installed.get(k), want) {
                    (None, None) => {}
                    (Some(old), None) => {
                        deletes.push((Command::DeleteStrict, old.flow(k)));
                        next.push((k.clone(), None));
                        stats.deleted += 1;
                    }
                    (None, Some(f)) => {
                        puts.push((Command::Add, next.len()));
                        next.push((k.clone(), Some(f)));
                        stats.added += 1;
                    }
                    (Some(old), Some(f)) if old.actions != f.actions || old.cookie != f.cookie => {
                        puts.push((Command::ModifyStrict, next.len()));
                        next.push((k.clone(), Some(f)));
                        stats.modified += 1;
                    }
                    (Some(_), Some(_)) => {}
                }
            }
        }
        if deletes.is_empty() && puts.is_empty() {
            self.dirty.clear();
            return Ok(stats);
        }
        let mods: Vec<(Command, &Flow)> =
            deletes.iter().map(|(c, f)| (*c, f)).chain(puts.iter().filter_map(|(c, i)| next[*i].1.as_ref().map(|f| (*c, f)))).collect();
        let Some(conn) = self.conn.as_mut() else { return Err(OfpError::Closed) };
        match conn.install(&mods).await {
            Ok(()) => {
                for (k, f) in next {
                    match f {
                        Some(f) => self.installed.insert(k, Body { cookie: f.cookie, actions: f.actions }),
                        None => self.installed.remove(&k),
                    };
                }
                self.dirty.clear();
                Ok(stats)
            }
            Err(e) => {
                if matches!(e, OfpError::Io(_) | OfpError::Closed) {
                    self.disconnect();
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowgen::ofp::{Action, Port};

    fn flow(port: u16) -> Flow {
        Flow::new(10, 100).with_actions(vec![Action::Output(Port(port))])
    }

    fn effective(o: &Ofctrl, f: &Flow) -> Option<Flow> {
        let k = key(f);
        o.desired.get(&k).and_then(|m| m.last().map(|(_, b)| b.flow(&k)))
    }

    /// Two origins wanting one (table, priority, match): the greater wins while it wants it, then the other.
    #[test]
    fn duplicate_keys_keep_both_and_the_greatest_origin_wins() {
        let mut o = Ofctrl::new("unix:/nonexistent");
        let (logical, physical) = (flow(1), flow(2));
        o.add((LOGICAL, 7, 1), std::slice::from_ref(&logical));
        o.add((PHYSICAL, 0, 0), std::slice::from_ref(&physical));
        assert_eq!(o.desired_len(), 1);
        assert_eq!(effective(&o, &logical), Some(physical.clone()));
        o.remove((PHYSICAL, 0, 0), std::slice::from_ref(&physical));
        assert_eq!(effective(&o, &logical), Some(logical.clone()));
        o.remove((LOGICAL, 7, 1), std::slice::from_ref(&logical));
        assert_eq!(o.desired_len(), 0);
        assert!(o.dirty.contains(&key(&logical)), "a removed key stays dirty until a commit");
    }

    /// A full recomputation marks what is installed dirty too, so flows nobody wants any more go.
    #[test]
    fn clear_desired_marks_installed_keys() {
        let mut o = Ofctrl::new("unix:/nonexistent");
        let f = flow(3);
        o.installed.insert(key(&f), Body::of(&f));
        o.clear_desired();
        assert!(o.dirty.contains(&key(&f)));
    }
}
