//! Desired vs installed flows: what `br-int` should hold, what we know it holds, and the one atomic
//! bundle that takes it from one to the other.
//!
//! ```text
//!   desired (recomputed)  ──┐
//!                           ├─ diff by (table, priority, match) ─▶ delete-strict / add / modify-strict
//!   installed (last commit) ┘                                     ── one OpenFlow bundle (all or nothing)
//! ```
//! `installed` only changes when a bundle commits, so a refused bundle leaves both sides as they were and
//! the next sync retries. A new connection (first start, or `ovs-vswitchd` restarted, or the socket dropped)
//! forgets `installed`: the first sync on it deletes every flow and adds the desired ones in one bundle,
//! so a restarted switch is reprogrammed completely and stale flows from an earlier run vanish.

use std::collections::HashMap;

use flowgen::ofp::{wire::Command, Connection, Error as OfpError, Flow, Match};

type Key = (u8, u16, Match);

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
    installed: HashMap<Key, Flow>,
}

fn key(f: &Flow) -> Key {
    (f.table, f.priority, f.matches.clone())
}

impl Ofctrl {
    /// For the bridge whose management socket is `target` (`unix:$OVS_RUNDIR/br-int.mgmt`).
    pub fn new(target: &str) -> Ofctrl {
        Ofctrl { target: target.to_string(), conn: None, installed: HashMap::new() }
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

    /// Makes the switch hold exactly `desired`.
    pub async fn sync(&mut self, desired: &[Flow]) -> Result<SyncStats, OfpError> {
        let mut want: HashMap<Key, &Flow> = HashMap::with_capacity(desired.len());
        for f in desired {
            if let Some(prev) = want.insert(key(f), f) {
                if prev.actions != f.actions {
                    tracing::debug!(flow = %f, "two desired flows with one match and priority; keeping the last");
                }
            }
        }
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
        let mut mods: Vec<(Command, &Flow)> = Vec::new();
        let delete_all = Flow::new(0xff, 0);
        if stats.full {
            mods.push((Command::Delete, &delete_all));
            mods.extend(want.values().map(|f| (Command::Add, *f)));
            stats.added = want.len();
        } else {
            for (k, f) in &self.installed {
                if !want.contains_key(k) {
                    mods.push((Command::DeleteStrict, f));
                    stats.deleted += 1;
                }
            }
            for (k, f) in &want {
                match self.installed.get(k) {
                    None => {
                        mods.push((Command::Add, *f));
                        stats.added += 1;
                    }
                    Some(old) if old.actions != f.actions || old.cookie != f.cookie => {
                        mods.push((Command::ModifyStrict, *f));
                        stats.modified += 1;
                    }
                    Some(_) => {}
                }
            }
        }
        if mods.is_empty() {
            return Ok(stats);
        }
        let Some(conn) = self.conn.as_mut() else { return Err(OfpError::Closed) };
        match conn.install(&mods).await {
            Ok(()) => {
                self.installed = want.into_iter().map(|(k, f)| (k, f.clone())).collect();
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
