//! The controller's loop: follow the local Open_vSwitch database and the Southbound, and keep the
//! chassis registered, `br-int` wired (tunnels, localnet patch ports), ports bound, and flows installed.
//!
//! ```text
//!   OVS session ──▶ LocalConfig (system-id, ovn-remote, encap, bridge mappings)
//!                      │
//!   SB session ────────┴─▶ round(): chassis ─▶ bridge & tunnels ─▶ bindings ─▶ flows + conntrack zones
//!                                                                                  │
//!        br-int external_ids ct-zone-<user>=<zone> ◀── recorded first (ct_zones) ──┤
//!                                                                                  ▼
//!   br-int (OpenFlow) ◀── ofctrl: flush zones that changed hands, then one bundle ◀┘
//!        └──▶ packet-ins (pinctrl: put_arp -> MAC_Binding; arp {}, icmp4 {}, tcp_reset {}, sctp_abort {} -> packet-outs)
//!   every second: retry what failed; gratuitous ARPs for the addresses a gateway hosts here
//! ```
//! Flows are incremental (see `update_flows`): the Southbound replica's change sets feed
//! `flowgen::cache::LflowCache`, which recompiles only the logical flows a change can affect, and ofctrl's
//! desired table takes only the resulting difference; everything is recomputed on start, after a
//! Southbound resync and, for debugging, every round with `--recompute-always`.
//!
//! Every round plans each database change from the replicas, applies only non-empty plans, and waits
//! (briefly) until the replica shows its own write before planning again, so the loop settles. Flows are
//! only marked installed (Port_Binding.up, ovn-installed) after the bundle carrying them committed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use flowgen::cache::LflowCache;
use flowgen::ofp::{wire, Action, Field, Flow, Match, Port};
use flowgen::sbview::FlowFailure;
use model::ovsdb::session::{Session, SessionConfig};
use model::ovsdb::transact::{Condition, RowData, Transaction};
use model::ovsdb::{Atom, Datum, Replica, Uuid};
use model::sb::{self as sbv, DatapathBinding, PortBinding};

use crate::binding::{alive_if_registered, plan_bindings_indexed, LocalBindings, PortIndex};
use crate::chassis::plan_chassis;
use crate::config::LocalConfig;
use crate::ct_zones::{plan_ct_zones, CtZones};
use crate::flows::{mac_bindings, physical_input, zone_users, PhysicalOvs};
use crate::ofctrl::{Ofctrl, LOGICAL, MAC_BINDINGS, PHYSICAL};
use crate::physical::{
    fixed_flows, group_flows, mac_binding_flows, port_flows, tunnel_flow, zone_map, GroupFlows, MacBinding, PhysicalInput, PortFlows,
    ZoneMap,
};
use crate::pinctrl;
use crate::port_security::PortSecurityState;
use crate::tables::{ovs, sb};
use crate::vswitch::{plan_ovs_local, OvsView};

/// Southbound tables the controller follows (its own and the flow compiler's).
fn sb_tables() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = sb::ALL.to_vec();
    for t in flowgen::sbview::TABLES {
        if !v.contains(&t) {
            v.push(t);
        }
    }
    v
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The local Open_vSwitch database.
    pub ovs_remote: String,
    /// Where the bridges' management sockets are (`$OVS_RUNDIR`).
    pub rundir: PathBuf,
    /// Recompile every logical flow every round instead of only what changed (debugging).
    pub recompute_always: bool,
}

/// What the loop remembers between rounds.
#[derive(Default)]
struct State {
    local: LocalBindings,
    /// Logical ports whose flows are in the switch.
    installed: BTreeSet<String>,
    /// SB_Global.nb_cfg as of the last installed flows.
    nb_cfg_seen: i64,
    /// Messages logged once while they hold.
    logged: BTreeSet<String>,
    last_garp: Option<Instant>,
    garps: Vec<(u16, [u8; 6], Ipv4Addr)>,
    /// Chassis whose BFD session was up at least once, and when we first had a tunnel to each.
    bfd_was_up: BTreeSet<String>,
    tunnel_since: BTreeMap<String, Instant>,
    flows: FlowState,
    /// The Southbound's ports for binding passes, and the change sets taken from the replica for it that
    /// the flow computation has not consumed yet (both follow the replica through [`pull_changes`]).
    ports: PortIndex,
    pending: BTreeMap<String, BTreeSet<Uuid>>,
}

/// Takes the replica's change sets since the last call into the port index and the pending changes.
fn pull_changes(ports: &mut PortIndex, pending: &mut BTreeMap<String, BTreeSet<Uuid>>, sb_db: &mut Replica, syncs: u64) {
    let changes = sb_db.take_changes();
    ports.refresh(sb_db, syncs, &changes);
    for (table, rows) in changes {
        pending.entry(table).or_default().extend(rows);
    }
}

/// The incremental flow computation's memory (see [`update_flows`]).
#[derive(Default)]
struct FlowState {
    /// Compiled logical flows; None until the first round (and after a chassis name change).
    lflows: Option<LflowCache>,
    /// `Session::status().syncs` when `lflows` was built: a resync means a full recomputation.
    sb_syncs: u64,
    /// The physical flows as given to ofctrl; None until the first round (and after a full recomputation).
    physical: Option<PhysicalState>,
    mac_bindings: Option<Vec<MacBinding>>,
    mac_flows: Vec<Flow>,
    /// The conntrack zones: empty at first, so the first computation takes those the integration bridge
    /// records (a restart keeps every zone, and so every connection).
    zones: CtZones,
    port_security: PortSecurityState,
}

/// The physical flows given to ofctrl, in sections (fixed, tunnels, one per logical port, one per multicast
/// group), each with the input it was computed from. A new VIF changes one port's location, so only that
/// port's handful of flows (and its groups') go to ofctrl, not the tens of thousands a large network has;
/// ofctrl's dirty set, and so the next bundle, stay proportional to the change.
#[derive(Default)]
struct PhysicalState {
    /// What the input was computed from on the local side.
    ovs: PhysicalOvs,
    local: LocalBindings,
    /// The datapaths' zones the port flows were computed with.
    zones: ZoneMap,
    tunnels: Vec<u16>,
    tunnel_flows: Vec<Flow>,
    /// By (datapath key, port key, name): the port's ofctrl origin id, input and flows.
    ports: HashMap<PortId, (u128, PortFlows, Vec<Flow>)>,
    /// By (datapath key, group key).
    groups: HashMap<(u32, u32), (GroupFlows, Vec<Flow>)>,
    next_id: u128,
}

/// A logical port in the physical flows: (datapath key, port key, name).
type PortId = (u32, u32, String);

/// ofctrl origins of the physical sections: `(PHYSICAL, section, id)`.
const PHYS_FIXED: u128 = 0;
const PHYS_TUNNELS: u128 = 1;
const PHYS_PORT: u128 = 2;
const PHYS_GROUP: u128 = 3;

impl PhysicalState {
    /// Starts the sections with the fixed flows.
    fn new(of: &mut Ofctrl) -> PhysicalState {
        of.add((PHYSICAL, PHYS_FIXED, 0), &fixed_flows());
        PhysicalState::default()
    }

    /// Brings ofctrl's physical flows to `input`, touching only the sections whose input changed.
    fn update(&mut self, of: &mut Ofctrl, input: PhysicalInput) {
        if input.tunnels != self.tunnels {
            let flows: Vec<Flow> = input.tunnels.iter().map(|t| tunnel_flow(*t)).collect();
            of.remove((PHYSICAL, PHYS_TUNNELS, 0), &self.tunnel_flows);
            of.add((PHYSICAL, PHYS_TUNNELS, 0), &flows);
            self.tunnel_flows = flows;
            self.tunnels = input.tunnels;
        }
        // A port's flows load the zones of its datapath and of a patch peer's (its own zone is part of its
        // input): a datapath whose zones changed recomputes the ports that read them, and only those.
        let zones = zone_map(&input.datapaths);
        let rezoned: HashSet<u32> = zones
            .iter()
            .filter(|(k, z)| self.zones.get(k) != Some(z))
            .chain(self.zones.iter().filter(|(k, _)| !zones.contains_key(k)))
            .map(|(k, _)| *k)
            .collect();
        self.zones = zones;
        let mut old = std::mem::take(&mut self.ports);
        for p in input.ports {
            let k = (p.datapath, p.key, p.name.clone());
            if self.ports.contains_key(&k) {
                continue; // the same port twice: the first stands
            }
            let id = match old.remove(&k) {
                Some(e) if e.1 == p && !p.zone_datapaths().any(|d| rezoned.contains(&d)) => {
                    self.ports.insert(k, e);
                    continue;
                }
                Some((id, _, flows)) => {
                    of.remove((PHYSICAL, PHYS_PORT, id), &flows);
                    id
                }
                None => {
                    self.next_id += 1;
                    self.next_id
                }
            };
            let flows = port_flows(&p, &self.zones);
            of.add((PHYSICAL, PHYS_PORT, id), &flows);
            self.ports.insert(k, (id, p, flows));
        }
        for (id, _, flows) in old.into_values() {
            of.remove((PHYSICAL, PHYS_PORT, id), &flows);
        }
        let mut old = std::mem::take(&mut self.groups);
        for g in input.groups {
            let k = (g.datapath, g.key);
            if self.groups.contains_key(&k) {
                continue;
            }
            let origin = (PHYSICAL, PHYS_GROUP, (u128::from(g.datapath) << 32) | u128::from(g.key));
            match old.remove(&k) {
                Some(e) if e.0 == g => {
                    self.groups.insert(k, e);
                    continue;
                }
                Some((_, flows)) => of.remove(origin, &flows),
                None => {}
            }
            let flows = group_flows(&g);
            of.add(origin, &flows);
            self.groups.insert(k, (g, flows));
        }
        for ((dp, key), (_, flows)) in old {
            of.remove((PHYSICAL, PHYS_GROUP, (u128::from(dp) << 32) | u128::from(key)), &flows);
        }
    }
}

/// What one [`update_flows`] did.
struct FlowWork {
    full: bool,
    recompiled: usize,
    lflows: usize,
    failures: Vec<FlowFailure>,
}

/// Southbound tables the physical flows (apart from MAC bindings) read.
const PHYSICAL_TABLES: [&str; 5] = [sb::PORT_BINDING, sb::CHASSIS, sb::ENCAP, sb::DATAPATH_BINDING, sb::MULTICAST_GROUP];

/// Brings ofctrl's desired flows up to date with the Southbound changes since the last call.
///
/// ```text
///   SB changes ──▶ LflowCache::update ──▶ per (lflow, datapath): ofctrl.remove(old) + ofctrl.add(new)
///   SB ports/chassis/encaps, OVS tunnels/localnet ports, local bindings changed? ──▶ physical input
///       recomputed; only the ports and groups whose input differs get new flows
///   MAC_Binding changed? ──▶ only the MAC-binding flows recomputed, replaced if different
///   a local port's Port_Binding or binding changed? ──▶ only its port-security flows (crate::port_security)
/// ```
/// Everything is recomputed from scratch on the first call, after the Southbound session resynced (a
/// reconnect), when the chassis name changed, and every time with `--recompute-always`.
#[allow(clippy::too_many_arguments)]
fn update_flows(
    fs: &mut FlowState,
    of: &mut Ofctrl,
    sb_db: &Replica,
    changes: &BTreeMap<String, BTreeSet<Uuid>>,
    sb_syncs: u64,
    ovs: &OvsView,
    cfg: &LocalConfig,
    local: &LocalBindings,
    recompute_always: bool,
) -> FlowWork {
    let chassis = cfg.system_id.as_str();
    let cache = fs.lflows.as_mut().filter(|c| !recompute_always && sb_syncs == fs.sb_syncs && c.chassis() == chassis);
    let work = if let Some(cache) = cache {
        let delta = cache.update(sb_db, changes);
        for ((lf, dp), old, new) in &delta.changes {
            of.remove((LOGICAL, lf.0, dp.0), old);
            of.add((LOGICAL, lf.0, dp.0), new);
        }
        FlowWork { full: false, recompiled: delta.recompiled, lflows: cache.len(), failures: delta.failures }
    } else {
        let started = Instant::now();
        let cache = LflowCache::full(sb_db, chassis);
        let compiled = started.elapsed();
        of.clear_desired();
        for ((lf, dp), flows) in cache.entries() {
            of.add((LOGICAL, lf.0, dp.0), flows);
        }
        tracing::debug!(
            compile_us = compiled.as_micros() as u64,
            desired_us = (started.elapsed() - compiled).as_micros() as u64,
            "full recomputation"
        );
        let work = FlowWork { full: true, recompiled: cache.len(), lflows: cache.len(), failures: cache.failures() };
        fs.lflows = Some(cache);
        fs.sb_syncs = sb_syncs;
        fs.physical = None;
        fs.mac_bindings = None;
        fs.mac_flows.clear();
        fs.port_security.forget();
        work
    };

    let phys_ovs = PhysicalOvs::of(ovs, &cfg.integration_bridge);
    let ports_changed = fs.physical.as_ref().is_none_or(|p| p.ovs != phys_ovs || p.local != *local)
        || PHYSICAL_TABLES.iter().any(|t| changes.get(*t).is_some_and(|c| !c.is_empty()));
    let mut macs = None;
    if ports_changed {
        // The zone users follow from the same inputs as the ports' locations, so they can only change here.
        let none = BTreeMap::new();
        let stored = ovs.bridge(&cfg.integration_bridge).map_or(&none, |b| &b.external_ids);
        if fs.zones.update(&zone_users(sb_db, &phys_ovs, local), stored) {
            tracing::info!(zones = fs.zones.len(), "conntrack zones updated");
        }
        of.flush_ct_zones(fs.zones.take_flushes());
        let mut input = physical_input(sb_db, &phys_ovs, chassis, local, &fs.zones);
        macs = Some(std::mem::take(&mut input.mac_bindings));
        let ps = fs.physical.get_or_insert_with(|| PhysicalState::new(of));
        ps.update(of, input);
        ps.ovs = phys_ovs;
        ps.local = local.clone();
    } else if fs.mac_bindings.is_none() || changes.get(sb::MAC_BINDING).is_some_and(|c| !c.is_empty()) {
        macs = Some(mac_bindings(sb_db));
    }
    if let Some(macs) = macs {
        if fs.mac_bindings.as_ref() != Some(&macs) {
            let flows = mac_binding_flows(&macs);
            of.remove((MAC_BINDINGS, 0, 0), &fs.mac_flows);
            of.add((MAC_BINDINGS, 0, 0), &flows);
            fs.mac_flows = flows;
            fs.mac_bindings = Some(macs);
        }
    }
    let recomputed = fs.port_security.update(of, sb_db, local, changes.get(sb::PORT_BINDING));
    if !recomputed.is_empty() {
        tracing::debug!(ports = ?recomputed, "port security recomputed");
    }
    work
}

/// How long a new BFD session may take to come up before its chassis counts as dead.
const BFD_GRACE: Duration = Duration::from_secs(10);

/// Which chassis are alive, as gateway HA sees it: over a tunnel with BFD, what BFD says (a session that
/// never came up counts as alive for a grace period, so a restart does not steal gateways); without BFD,
/// being registered.
fn liveness(state: &mut State, ovs: &OvsView, bridge: &str, sb_db: &Replica) -> impl Fn(&str) -> bool {
    let registered = alive_if_registered(sb_db);
    let mut verdict: BTreeMap<String, bool> = BTreeMap::new();
    for t in ovs.tunnels(bridge) {
        let since = *state.tunnel_since.entry(t.chassis.clone()).or_insert_with(Instant::now);
        let alive = match t.bfd_forwarding {
            Some(true) => {
                state.bfd_was_up.insert(t.chassis.clone());
                true
            }
            Some(false) => !state.bfd_was_up.contains(&t.chassis) && since.elapsed() < BFD_GRACE,
            None => registered(&t.chassis),
        };
        verdict.insert(t.chassis, alive);
    }
    move |c: &str| verdict.get(c).copied().unwrap_or_else(|| registered(c))
}

impl State {
    fn once(&mut self, msg: String) {
        if self.logged.insert(msg.clone()) {
            tracing::warn!("{msg}");
        }
    }
}

/// Applies a non-empty plan and waits until the session's replica shows a change after it.
async fn apply(session: &Session, txn: &Transaction, what: &str) -> bool {
    if txn.is_empty() {
        return false;
    }
    let before = session.status().seqno;
    match session.transact(txn).await {
        Ok(_) => {
            let mut rx = session.watch();
            let _ = tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|s| s.seqno > before)).await;
            tracing::debug!(%what, "applied");
            true
        }
        Err(e) => {
            tracing::warn!(%what, error = %e, "transaction failed; will retry");
            false
        }
    }
}

pub async fn run(config: Config) {
    let ovs_session = Session::start(SessionConfig::new(&config.ovs_remote, ovs::DB_NAME, &ovs::ALL));
    let mut sb_session: Option<(String, Session)> = None;
    // Kept across iterations: a fresh receiver would report the session's state as new every time.
    let mut sb_rx: Option<tokio::sync::watch::Receiver<model::ovsdb::session::SessionStatus>> = None;
    let mut ofctrl: Option<(String, Ofctrl)> = None;
    let mut state = State::default();
    let mut ovs_rx = ovs_session.watch();
    // The once-a-second work (retries, gratuitous ARPs) runs on a fixed schedule, however busy the loop is.
    let mut next_tick = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let cfg = ovs_session.replica().as_ref().map(LocalConfig::from_ovs);
        match cfg {
            Some(Ok(cfg)) => {
                match cfg.remote.as_deref() {
                    Some(remote) if sb_session.as_ref().is_none_or(|(r, _)| r != remote) => {
                        tracing::info!(%remote, chassis = %cfg.system_id, "connecting to the Southbound");
                        let tables = sb_tables();
                        let session = Session::start(SessionConfig::new(remote, sb::DB_NAME, &tables));
                        sb_rx = Some(session.watch());
                        sb_session = Some((remote.to_string(), session));
                    }
                    Some(_) => {}
                    None => state.once("no external_ids:ovn-remote in the Open_vSwitch table yet".to_string()),
                }
                let target = format!("unix:{}/{}.mgmt", config.rundir.display(), cfg.integration_bridge);
                if ofctrl.as_ref().is_none_or(|(t, _)| *t != target) {
                    ofctrl = Some((target.clone(), Ofctrl::new(&target)));
                    // A new Ofctrl starts with no desired flows: recompute them all.
                    state.flows = FlowState::default();
                }
                if let (Some((_, sbs)), Some((_, of))) = (sb_session.as_ref(), ofctrl.as_mut()) {
                    if sbs.status().connected && ovs_session.status().connected {
                        round(&cfg, &ovs_session, sbs, of, &mut state, config.recompute_always).await;
                    }
                }
            }
            Some(Err(e)) => state.once(format!("local configuration: {e}")),
            None => {}
        }
        let tick = tokio::time::sleep_until(next_tick);
        tokio::pin!(tick);
        let conn = ofctrl.as_mut().and_then(|(_, o)| o.connection());
        tokio::select! {
            r = ovs_rx.changed() => if r.is_err() { return },
            _ = async { match sb_rx.as_mut() { Some(rx) => { let _ = rx.changed().await; } None => std::future::pending().await } } => {}
            msg = async { match conn { Some(c) => c.recv().await, None => std::future::pending().await } } => {
                match msg {
                    Ok((_, wire::Message::PacketIn(pi))) => {
                        if let (Some((_, sbs)), Some((_, of))) = (sb_session.as_ref(), ofctrl.as_mut()) {
                            packet_in(&pi, sbs, of, &mut state).await;
                        }
                    }
                    Ok((h, wire::Message::Error(e))) => tracing::warn!(xid = h.xid, error = %e, "the switch refused a message"),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::info!(error = %e, "OpenFlow connection lost; reprogramming on reconnect");
                        if let Some((_, of)) = ofctrl.as_mut() { of.disconnect(); }
                    }
                }
            }
            _ = &mut tick => {
                next_tick = tokio::time::Instant::now() + Duration::from_secs(1);
                if let Some((_, of)) = ofctrl.as_mut() { send_garps(of, &mut state).await; }
            }
        }
    }
}

/// One pass over everything.
async fn round(
    cfg: &LocalConfig,
    ovs_session: &Session,
    sb_session: &Session,
    ofctrl: &mut Ofctrl,
    state: &mut State,
    recompute_always: bool,
) {
    let chassis_txn = sb_session.replica().as_ref().map(|s| plan_chassis(cfg, s, state.nb_cfg_seen)).unwrap_or_default();
    apply(sb_session, &chassis_txn, "chassis").await;

    let ovs_txn = match (ovs_session.replica().as_ref(), sb_session.replica().as_ref()) {
        (Some(o), Some(s)) => plan_ovs_local(cfg, o, s, &state.local.datapath_rows()),
        _ => return,
    };
    apply(ovs_session, &ovs_txn, "integration bridge").await;

    let plan = match (ovs_session.replica().as_ref(), sb_session.replica().as_mut()) {
        (Some(o), Some(s)) => {
            pull_changes(&mut state.ports, &mut state.pending, s, sb_session.status().syncs);
            let alive = liveness(state, &OvsView::from_replica(o), &cfg.integration_bridge, s);
            let installed = |p: &str| state.installed.contains(p);
            plan_bindings_indexed(cfg, o, s, &state.ports, &installed, &alive)
        }
        _ => return,
    };
    apply(sb_session, &plan.sb, "port bindings").await;
    apply(ovs_session, &plan.ovs, "ovn-installed").await;
    state.local = plan.local;

    let computed = {
        let ovs_guard = ovs_session.replica();
        let mut sb_guard = sb_session.replica();
        match (ovs_guard.as_ref(), sb_guard.as_mut()) {
            (Some(o), Some(s)) => {
                let started = Instant::now();
                let view = OvsView::from_replica(o);
                // The changes are taken under the same lock as the rows they describe.
                let syncs = sb_session.status().syncs;
                pull_changes(&mut state.ports, &mut state.pending, s, syncs);
                let changes = std::mem::take(&mut state.pending);
                let local = state.local.clone();
                let work = update_flows(&mut state.flows, ofctrl, s, &changes, syncs, &view, cfg, &local, recompute_always);
                tracing::debug!(
                    recompiled = work.recompiled,
                    entries = work.lflows,
                    full_recompute = work.full,
                    us = started.elapsed().as_micros() as u64,
                    "logical flows recompiled"
                );
                let nb_cfg = s.table(sb::SB_GLOBAL).next().and_then(|g| g.get("nb_cfg").as_i64()).unwrap_or(0);
                let garps = garp_targets(s, &view, &cfg.integration_bridge, &cfg.system_id);
                let zones_txn = plan_ct_zones(&state.flows.zones, &view, &cfg.integration_bridge);
                Some((work, nb_cfg, garps, zones_txn))
            }
            _ => None,
        }
    };
    let Some((work, nb_cfg, garps, zones_txn)) = computed else { return };
    for f in work.failures {
        state.once(format!("logical flow {} skipped: {}", f.lflow, f.error));
    }
    // The zones are on record before any flow uses them: a controller restarting at any point finds the
    // zones the switch's flows (and conntrack entries) use. A failed write is planned again next round.
    apply(ovs_session, &zones_txn, "conntrack zones").await;
    let started = Instant::now();
    match ofctrl.sync().await {
        Ok(stats) => {
            if !stats.is_empty() {
                tracing::info!(
                    flows = ofctrl.desired_len(),
                    recompiled = work.recompiled,
                    added = stats.added,
                    modified = stats.modified,
                    deleted = stats.deleted,
                    full = stats.full,
                    ms = started.elapsed().as_millis() as u64,
                    "br-int updated"
                );
            }
            let now: BTreeSet<String> = state.local.ports.keys().cloned().collect();
            let newly = now.difference(&state.installed).count() > 0;
            state.installed = now;
            state.nb_cfg_seen = nb_cfg;
            if garps != state.garps {
                state.garps = garps;
                state.last_garp = None;
            }
            if newly {
                // Ports just installed can now be reported up.
                let plan = match (ovs_session.replica().as_ref(), sb_session.replica().as_mut()) {
                    (Some(o), Some(s)) => {
                        pull_changes(&mut state.ports, &mut state.pending, s, sb_session.status().syncs);
                        let alive = liveness(state, &OvsView::from_replica(o), &cfg.integration_bridge, s);
                        let installed = |p: &str| state.installed.contains(p);
                        Some(plan_bindings_indexed(cfg, o, s, &state.ports, &installed, &alive))
                    }
                    _ => None,
                };
                if let Some(plan) = plan {
                    apply(sb_session, &plan.sb, "port up").await;
                    apply(ovs_session, &plan.ovs, "ovn-installed").await;
                }
            }
        }
        Err(e) => state.once(format!("installing flows on {}: {e}", cfg.integration_bridge)),
    }
}

/// (localnet ofport, MAC, IP) for every address a gateway hosted on this chassis announces: the
/// `nat_addresses` of router ports whose `is_chassis_resident(...)` holds here.
fn garp_targets(sb_db: &Replica, ovs: &OvsView, bridge: &str, chassis: &str) -> Vec<(u16, [u8; 6], Ipv4Addr)> {
    let me = sb_db.table(sb::CHASSIS).find(|c| c.str("name") == chassis).map(|c| c.uuid);
    let resident = |port: &str| -> bool {
        sb_db.table(sb::PORT_BINDING).any(|p| p.str("logical_port") == port && me.is_some() && p.get("chassis").as_uuid() == me)
    };
    let mut out = Vec::new();
    for pb in sb_db.table(sb::PORT_BINDING) {
        let addrs: Vec<&str> = pb.get("nat_addresses").strings().collect();
        if addrs.is_empty() {
            continue;
        }
        let Some(dp) = pb.get("datapath").as_uuid() else { continue };
        let Some(ln) = sb_db.table(sb::PORT_BINDING).find(|p| p.get("datapath").as_uuid() == Some(dp) && p.str("type") == "localnet")
        else {
            continue;
        };
        let Some(ofport) = ovs.localnet_ofport(bridge, ln.str("logical_port")) else { continue };
        for entry in addrs {
            let words: Vec<&str> = entry.split_whitespace().collect();
            let cond = words.iter().find(|w| w.starts_with("is_chassis_resident("));
            let here = cond.is_none_or(|c| resident(c.trim_start_matches("is_chassis_resident(").trim_end_matches(')').trim_matches('"')));
            let Some(mac) = words.first().and_then(|m| parse_mac6(m)) else { continue };
            if !here {
                continue;
            }
            for ip in words.iter().skip(1).filter_map(|w| w.parse::<Ipv4Addr>().ok()) {
                out.push((ofport, mac, ip));
            }
        }
    }
    out.sort();
    out
}

fn parse_mac6(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s.split(':').map(|p| u8::from_str_radix(p, 16).ok()).collect::<Option<Vec<u8>>>()?;
    v.try_into().ok()
}

/// Gratuitous ARPs: three times, a second apart, when the set changes, then every 30 seconds.
async fn send_garps(of: &mut Ofctrl, state: &mut State) {
    let due = match state.last_garp {
        None => true,
        Some(t) => t.elapsed() >= Duration::from_secs(30),
    };
    if !due || state.garps.is_empty() {
        return;
    }
    let Some(conn) = of.connection() else { return };
    for (ofport, mac, ip) in state.garps.clone() {
        let mut fields = Match::new();
        let _ = fields.set(Field::InPort, 0xfffd);
        let mut actions = Vec::new();
        if wire::encode_actions(&[Action::Output(Port(ofport))], &mut actions).is_err() {
            continue;
        }
        let xid = conn.alloc_xid();
        if let Ok(bytes) = pinctrl::packet_out(xid, &fields, &actions, &pinctrl::garp(mac, ip)) {
            if let Err(e) = conn.send(&bytes).await {
                tracing::debug!(error = %e, "gratuitous ARP not sent");
                return;
            }
        }
    }
    tracing::info!(addresses = state.garps.len(), "sent gratuitous ARPs");
    state.last_garp = Some(Instant::now());
}

/// Handles one packet-in.
async fn packet_in(pi: &wire::PacketIn, sb_session: &Session, of: &mut Ofctrl, state: &mut State) {
    let Some(req) = pinctrl::request(pi) else { return };
    match req.opcode {
        flowgen::actions::encode::Opcode::PutArp => {
            let (Some(dp), Some(port), Some(ip), Some(mac)) =
                (pinctrl::meta(pi, "metadata"), pinctrl::meta(pi, "reg14"), pinctrl::meta(pi, "reg0"), pinctrl::eth_src(&pi.packet))
            else {
                return;
            };
            let ip = Ipv4Addr::from(ip as u32).to_string();
            let mac = pinctrl::mac_text(mac);
            let txn = sb_session.replica().as_ref().and_then(|s| mac_binding_txn(s, dp as u32, port as u32, &ip, &mac));
            if let Some(t) = txn {
                if let Err(e) = sb_session.transact(&t).await {
                    tracing::debug!(error = %e, "MAC_Binding not written (will be learned again)");
                } else {
                    tracing::info!(%ip, %mac, "learned neighbour");
                }
            }
        }
        // The actions that build a packet from this one and run their nested actions on it.
        op => {
            let packet = match pinctrl::reply(op, &pi.packet) {
                Ok(p) => p,
                // Said once per action and reason, not per packet: a flow keeps sending them (the reasons
                // are a short list, so this stays small).
                Err(pinctrl::NoReply::Unsupported) => {
                    return state.once(format!("controller action {op:?}: not handled yet, packets dropped"))
                }
                Err(why) => return state.once(format!("controller action {op:?}: a packet-in was not answered: {why} (said once)")),
            };
            let Some(conn) = of.connection() else { return };
            let xid = conn.alloc_xid();
            match pinctrl::packet_out(xid, &pinctrl::pipeline_fields(pi), &req.actions, &packet) {
                Ok(bytes) => {
                    if let Err(e) = conn.send(&bytes).await {
                        tracing::debug!(opcode = ?op, error = %e, "packet-out not sent");
                    }
                }
                Err(e) => tracing::debug!(opcode = ?op, error = %e, "packet-out not built"),
            }
        }
    }
}

/// The MAC_Binding write for a learned (port, IP) -> MAC, or None when it is already known.
fn mac_binding_txn(sb_db: &Replica, dp_key: u32, port_key: u32, ip: &str, mac: &str) -> Option<Transaction> {
    let dp = sbv::rows::<DatapathBinding>(sb_db).find(|d| d.tunnel_key() == Some(i64::from(dp_key)))?;
    let pb = sbv::rows::<PortBinding>(sb_db).find(|p| p.datapath() == Some(dp.uuid()) && p.tunnel_key() == Some(i64::from(port_key)))?;
    let lport = pb.logical_port();
    let existing = sbv::rows::<sbv::MacBinding>(sb_db).find(|m| m.logical_port() == lport && m.ip() == ip);
    let mut t = Transaction::new();
    match existing {
        Some(m) if m.mac() == mac => return None,
        Some(m) => t.update(sb::MAC_BINDING, vec![Condition::uuid(m.uuid())], RowData::from([("mac".to_string(), Datum::atom(mac))])),
        None => {
            t.insert(
                sb::MAC_BINDING,
                RowData::from([
                    ("logical_port".to_string(), Datum::atom(lport)),
                    ("ip".to_string(), Datum::atom(ip)),
                    ("mac".to_string(), Datum::atom(mac)),
                    ("datapath".to_string(), Datum::atom(Atom::Uuid(dp.uuid()))),
                ]),
            );
        }
    }
    let _: (BTreeMap<u8, u8>, Uuid) = (BTreeMap::new(), Uuid(0));
    Some(t)
}
