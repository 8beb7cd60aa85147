//! The `northd` loop: follow the Northbound and the Southbound, translate, write the difference.
//!
//! ```text
//!   NB session ─┐ (change)                      ┌─▶ SB transact (only the difference)
//!               ├─▶ NB index ─▶ engine ────▶ plan ┤      └─▶ wait until the SB replica shows it
//!   SB session ─┘                                └─▶ NB_Global.sb_cfg / hv_cfg (for `--wait=sb|hv`)
//! ```
//! Work is incremental: the NB index re-reads only the rows the replica says changed and says which of
//! the builders' recorded reads they touch, the [`Engine`] recomputes only the units that made those
//! reads, and the sync writes only the flows that appeared or disappeared and the rows of recomputed
//! units ([`reconcile`]). A full pass (fresh engine,
//! every SB row compared) runs at start, after the Southbound reconnects, after a failed write, and every
//! round with `--recompute-always`. A database that goes away is reconnected by its [`Session`]; bad
//! Northbound rows are logged once, skipped, and everything else keeps being served.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use model::nb::{self, NbSnapshot};
use model::ovsdb::session::{Session, SessionConfig};
use model::ovsdb::transact::{Condition, Operation, RowData, Transaction};
use model::ovsdb::{Datum, Uuid, UuidGen};

use crate::reconcile::{self, SbIndex};
use crate::sync::{self, Extras};
use crate::translate::engine::Engine;
use crate::translate::index::{Dep, NbIndex};
use model::sb::table;

#[derive(Debug, Clone)]
pub struct Config {
    pub nb_remote: String,
    pub sb_remote: String,
    /// Run a full translation and compare every SB row each round (slow; for checking the engine).
    pub recompute_always: bool,
}

/// What northd keeps between rounds.
#[derive(Default)]
struct State {
    /// The Northbound as the builders read it; kept across Southbound reconnects.
    index: Option<NbIndex>,
    /// The builders' reads that Northbound changes touched since the engine last ran.
    changed: Vec<Dep>,
    /// The engine and the SB index, valid for one SB connection (`sb_syncs`).
    engine: Option<(Engine, SbIndex, u64)>,
    /// `changed` is not empty: something the builders read changed since the engine last ran.
    nb_dirty: bool,
    /// The switch ports whose `up` may need copying to the Northbound.
    stale_ports: sync::StalePorts,
    /// The last round left the port state for the next one (see the end of [`round`]).
    port_copy_deferred: bool,
    logged: BTreeSet<String>,
    /// UUIDs for rows that later batches of one write refer to.
    ids: UuidGen,
    /// Rows of each table northd does not translate yet ([`UNTRANSLATED`]), as last logged.
    untranslated: std::collections::BTreeMap<&'static str, usize>,
}

/// The Southbound inserts written in batches after the rest of a big write, in this order (each refers
/// only to rows of the ones before): see [`model::ovsdb::batch`].
const SB_BATCHED: [&str; 3] = [table::PORT_BINDING, table::MULTICAST_GROUP, table::LOGICAL_FLOW];
/// Rows per Southbound batch: ovsdb-server commits 50,000 flows with the least CPU in batches of
/// 100-250 rows (and with 2.5x as much as one transaction). At the low end its cost also grows least with
/// the network: a whole first sync cost it 0.10 -> 1.14 s (10x100 -> 100x100) in batches of 200 and
/// 0.10 -> 1.02 s in batches of 100 (medians of 8; 75 and 50 no better, 4 batches in flight best).
const SB_ROWS_PER_BATCH: usize = 100;
/// Batches on the wire at once.
const PIPELINE: usize = 4;
/// `Logical_Switch_Port.up` updates per Northbound transaction.
const NB_ROWS_PER_BATCH: usize = 500;

/// The options northd owns in `SB_Global.options`.
fn sb_options() -> std::collections::BTreeMap<String, String> {
    // Geneve carries 24 bits of datapath key, minus OVN's reserved range.
    std::collections::BTreeMap::from([("max_tunid".to_string(), "16711680".to_string())])
}

/// Options generated once and then kept: the MAC prefix for dynamic addresses and the source MAC of
/// service monitors, locally administered and random (as OVN's northd makes them).
fn sb_defaults() -> std::collections::BTreeMap<String, String> {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
        ^ u128::from(std::process::id());
    let b = |i: u32| ((seed >> (8 * i)) & 0xff) as u8;
    let prefix = format!("{:02x}:{:02x}:{:02x}", (b(0) & 0xfe) | 0x02, b(1), b(2));
    let svc = format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", (b(3) & 0xfe) | 0x02, b(4), b(5), b(6), b(7), b(8));
    std::collections::BTreeMap::from([("mac_prefix".to_string(), prefix), ("svc_monitor_mac".to_string(), svc)])
}

/// Northbound tables northd does not translate yet, each with one small column to follow them by: their
/// rows are counted, and the count is logged whenever it changes, so that nothing is ignored silently.
const UNTRANSLATED: [(&str, &str); 14] = [
    ("ACL", "priority"),
    ("BFD", "logical_port"),
    ("Chassis_Template_Var", "chassis"),
    ("Copp", "name"),
    ("DHCP_Options", "cidr"),
    ("DNS", "options"),
    ("Forwarding_Group", "name"),
    ("HA_Chassis_Group", "name"),
    ("Load_Balancer", "name"),
    ("Load_Balancer_Group", "name"),
    ("Logical_Router_Policy", "priority"),
    ("Meter", "name"),
    ("QoS", "priority"),
    ("Static_MAC_Binding", "mac"),
];

/// "ACL: 12 rows, Load_Balancer: 6 rows" for the untranslated tables that have rows.
fn untranslated_text(counts: &std::collections::BTreeMap<&'static str, usize>) -> String {
    counts.iter().filter(|(_, n)| **n > 0).map(|(t, n)| format!("{t}: {n} rows")).collect::<Vec<_>>().join(", ")
}

/// Runs forever.
pub async fn run(config: Config) {
    // `Logical_Switch_Port.up` is northd's to write (from the bindings) and nothing else reads it: a change
    // to it alone (above all the echo of northd's own copy, 10,000 ports at start) is quiet, so the
    // snapshot does not read those ports again; it only marks their state to be checked.
    // Only the columns the snapshot reads are monitored (nb::table::COLUMNS).
    let tables: Vec<&str> = nb::table::ALL.iter().copied().chain(UNTRANSLATED.iter().map(|(t, _)| *t)).collect();
    let nb_config = nb::table::COLUMNS.iter().copied().chain(UNTRANSLATED.iter().map(|(t, c)| (*t, std::slice::from_ref(c)))).fold(
        SessionConfig::new(&config.nb_remote, nb::DB_NAME, &tables).quiet_columns(nb::table::LOGICAL_SWITCH_PORT, &["up"]),
        |c, (table, columns)| c.only_columns(table, columns),
    );
    let nb = Session::start(nb_config);
    // Logical_Flow is most of what northd writes: its inserts come back as their `priority` alone, and
    // northd records its own rows in the replica itself (model::ovsdb::own_rows).
    let sb = Session::start(
        SessionConfig::new(&config.sb_remote, model::sb::DB_NAME, &sync::TABLES_READ).own_inserts(table::LOGICAL_FLOW, "priority"),
    );
    let (mut nb_rx, mut sb_rx) = (nb.watch(), sb.watch());
    let mut state = State::default();
    let defaults = sb_defaults();
    loop {
        if nb.status().connected && sb.status().connected {
            if let Err(e) = round(&nb, &sb, &mut state, &defaults, config.recompute_always).await {
                tracing::warn!(error = %e, "sync failed; retrying with a full pass");
                state.engine = None;
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        }
        tokio::select! {
            r = nb_rx.changed() => if r.is_err() { return },
            r = sb_rx.changed() => if r.is_err() { return },
        }
    }
}

/// One round: follow both replicas, recompute what changed, write the difference.
async fn round(
    nb: &Session,
    sb: &Session,
    state: &mut State,
    defaults: &std::collections::BTreeMap<String, String>,
    recompute_always: bool,
) -> Result<(), model::ovsdb::ClientError> {
    let started = Instant::now();
    let nb_global = {
        let mut guard = nb.replica();
        let Some(r) = guard.as_mut() else { return Ok(()) };
        let changes = r.take_changes();
        // `up` alone (northd's own copy, normally) is a quiet column: see `run`.
        let up_only = r.take_quiet_changes();
        if UNTRANSLATED.iter().any(|(t, _)| changes.contains_key(*t)) {
            let counts: std::collections::BTreeMap<&'static str, usize> = UNTRANSLATED.iter().map(|(t, _)| (*t, r.len(t))).collect();
            if counts != state.untranslated {
                let text = untranslated_text(&counts);
                if !text.is_empty() {
                    tracing::warn!("not translated yet, ignored: {text}");
                }
                state.untranslated = counts;
            }
        }
        let lsps: Vec<Uuid> = changes.get(nb::table::LOGICAL_SWITCH_PORT).into_iter().flatten().copied().collect();
        let up_only = up_only.get(nb::table::LOGICAL_SWITCH_PORT).into_iter().flatten();
        state.stale_ports.add_rows(r, nb::table::LOGICAL_SWITCH_PORT, "name", lsps.iter().chain(up_only));
        // The index says which of the builders' reads the changes touched (a change of NB_Global, e.g.
        // our own `sb_cfg` write, or of a column no builder reads, touches none).
        match state.index.as_mut() {
            Some(ix) if !recompute_always => state.changed.extend(ix.apply_changes(r, &changes)),
            _ => {
                let (ix, deps) = NbIndex::new(NbSnapshot::from_replica(r));
                state.index = Some(ix);
                state.changed = deps;
            }
        }
        state.nb_dirty = !state.changed.is_empty();
        state.index.as_ref().and_then(|ix| ix.snapshot().global.clone())
    };
    let Some(index) = state.index.as_ref() else { return Ok(()) };
    let nb_cfg = nb_global.as_ref().map_or(0, |g| g.nb_cfg);
    let extras = Extras { nb_cfg, options: sb_options(), defaults: defaults.clone() };
    let snapshot_ms = started.elapsed().as_millis() as u64;
    let sb_syncs = sb.status().syncs;
    // Nothing the translation reads changed and the Southbound holds the last write: the Southbound
    // already reflects this `nb_cfg`, so say so before the Southbound's own changes (the echo of that
    // write, repairs) are looked at.
    let early_hv_cfg = if !state.nb_dirty && !recompute_always && state.engine.as_ref().is_some_and(|(_, _, n)| *n == sb_syncs) {
        sb.replica().as_ref().filter(|r| r.table(table::SB_GLOBAL).next().is_some()).map(|r| hv_cfg(r, nb_cfg))
    } else {
        None
    };
    let reported = early_hv_cfg.is_some();
    if let Some(hv) = early_hv_cfg {
        report_cfg(nb, nb_global.as_ref(), nb_cfg, hv).await?;
    }
    let planned = {
        let mut guard = sb.replica();
        let Some(r) = guard.as_mut() else { return Ok(()) };
        let (changes, inserted) = r.take_changes_and_inserts();
        let bindings = changes.get(table::PORT_BINDING).into_iter().flatten();
        state.stale_ports.add_rows(r, table::PORT_BINDING, "logical_port", bindings);
        let fresh = recompute_always
            || r.table(table::SB_GLOBAL).next().is_none()
            || state.engine.as_ref().is_none_or(|(_, _, syncs)| *syncs != sb_syncs);
        let t = Instant::now();
        let (txn, counts, flow_keys, recomputed) = if fresh {
            let mut engine = Engine::with_keys(sync::current_keys(r));
            let delta = engine.run_full(index);
            let engine_ms = t.elapsed().as_millis() as u64;
            // The incremental sync from empty: every identity on either side is checked.
            let (ix, touched) = SbIndex::build(r);
            let (txn, counts, flow_keys) = reconcile::plan(&engine, &delta, &touched, r, &ix, &extras, &mut state.ids);
            let plan_ms = t.elapsed().as_millis() as u64 - engine_ms;
            state.engine = Some((engine, ix, sb_syncs));
            tracing::debug!(engine_ms, plan_ms, "full pass");
            state.nb_dirty = false;
            state.stale_ports = sync::StalePorts::All;
            state.changed.clear();
            (txn, counts, flow_keys, delta.recomputed)
        } else {
            let Some((engine, ix, _)) = state.engine.as_mut() else { return Ok(()) };
            let touched = ix.apply(r, &changes, &inserted);
            let index_us = t.elapsed().as_micros() as u64;
            let delta = if std::mem::take(&mut state.nb_dirty) {
                let mut changed = std::mem::take(&mut state.changed);
                changed.sort_unstable();
                changed.dedup();
                engine.run_changes(index, &changed)
            } else {
                Default::default()
            };
            let engine_us = t.elapsed().as_micros() as u64 - index_us;
            let (txn, counts, flow_keys) = reconcile::plan(engine, &delta, &touched, r, ix, &extras, &mut state.ids);
            tracing::trace!(index_us, engine_us, "incremental round");
            (txn, counts, flow_keys, delta.recomputed)
        };
        tracing::debug!(fresh, recomputed, snapshot_ms, compute_ms = t.elapsed().as_millis() as u64, "computed");
        (txn, counts, flow_keys, r.seqno(), hv_cfg(r, nb_cfg))
    };
    let (txn, counts, flow_keys, seqno, hv_cfg) = planned;
    let Some((engine, _, _)) = state.engine.as_ref() else { return Ok(()) };
    let warnings = engine.warnings().to_vec();
    let logged = &mut state.logged;

    // Each bad row is logged once while it stays bad.
    let now: BTreeSet<String> = warnings.into_iter().collect();
    for w in now.difference(logged) {
        tracing::warn!("{w}");
    }
    *logged = now;

    let own_flows = write_sb(sb, txn, flow_keys, &mut state.ids, seqno).await?;
    if let Some((_, ix, _)) = state.engine.as_mut() {
        ix.expect_own(own_flows.other_inserts());
    }
    if !counts.is_empty() {
        tracing::info!(
            inserted = counts.inserted,
            updated = counts.updated,
            deleted = counts.deleted,
            ms = started.elapsed().as_millis() as u64,
            "southbound updated"
        );
    }
    // `--wait=sb` callers are told as soon as the Southbound holds the change; recording our flows in
    // the replica (tens of milliseconds for a whole network) and the port state follow. The flows are
    // recorded even when telling fails: their echo was skipped, and the next round plans from the replica.
    let told = if reported { Ok(()) } else { report_cfg(nb, nb_global.as_ref(), nb_cfg, hv_cfg).await };
    match (state.engine.as_mut(), own_flows.record(sb)) {
        (Some((_, ix, _)), Some(flows)) => ix.learn_own_flows(flows),
        // Not recorded (the Southbound was reloaded meanwhile) or not matched with their keys: the next
        // round starts from the replica.
        (_, None) => state.engine = None,
        (None, Some(_)) => {}
    }
    told?;
    // `--wait=sb` callers come first: when a newer `nb_cfg` arrived while this round wrote (the bump of an
    // `ovn-nbctl --wait=sb` that started with northd, say), the next round answers it before the port
    // state is copied (at start, one update per switch port, which that caller's client must also read
    // first). The copy waits one round at most.
    let newer_cfg = nb
        .replica()
        .as_ref()
        .and_then(|r| r.table(nb::table::NB_GLOBAL).next().map(nb::NbGlobal::from_row))
        .is_some_and(|g| g.nb_cfg != nb_cfg);
    if !state.stale_ports.is_empty() && newer_cfg && !std::mem::take(&mut state.port_copy_deferred) {
        state.port_copy_deferred = true;
        return Ok(());
    }
    state.port_copy_deferred = false;
    let stale = std::mem::take(&mut state.stale_ports);
    let ups = match (nb.replica().as_ref(), sb.replica().as_ref(), state.index.as_ref(), state.engine.as_ref()) {
        (Some(n), Some(s), Some(nbix), Some((_, ix, _))) => {
            sync::nb_port_up(n, s, &stale, |p| nbix.snapshot().port_named(p), |p| ix.port_row(p))
        }
        // No index to find single ports by: look at all of them.
        (Some(n), Some(s), _, _) if !stale.is_empty() => sync::nb_port_up(n, s, &sync::StalePorts::All, |_| None, |_| None),
        _ => Vec::new(),
    };
    copy_port_state(nb, &ups).await?;
    Ok(())
}

/// The Logical_Flow rows a write inserted, to record in the replica (their echo carries only their
/// priority): see [`OwnFlows::record`].
struct OwnFlows {
    /// The batches written (the flows are taken out of them only when recorded, after `--wait=sb` callers
    /// were told).
    batches: Vec<Transaction>,
    /// The planned key of each insert, in order.
    keys: Vec<u64>,
    /// The Southbound session's sync count when the write began.
    syncs: u64,
}

impl OwnFlows {
    /// The rows the write inserted outside Logical_Flow (their echo comes back whole), with their tables.
    fn other_inserts(&self) -> impl Iterator<Item = (&str, Uuid)> + '_ {
        self.batches.iter().flat_map(|b| &b.ops).filter_map(|op| match op {
            Operation::Insert { table, uuid: Some(u), .. } if !is_flow_insert(op) => Some((table.as_str(), *u)),
            _ => None,
        })
    }

    /// Records the rows in the Southbound replica. Returns their UUIDs with their keys, or `None` when they
    /// could not be recorded (the Southbound was reloaded since the write began) or matched with their keys.
    fn record(self, sb: &Session) -> Option<Vec<(Uuid, u64)>> {
        let t = Instant::now();
        let rows: Vec<_> = self.batches.into_iter().flat_map(|b| b.take_inserts(table::LOGICAL_FLOW)).collect();
        let keyed = (rows.len() == self.keys.len()).then(|| rows.iter().map(|(u, _)| *u).zip(self.keys).collect::<Vec<_>>());
        if keyed.is_none() {
            tracing::warn!(flows = rows.len(), "logical flow inserts and their keys do not match; recomputing");
        }
        let recorded = sb.record_inserts(table::LOGICAL_FLOW, rows, self.syncs);
        tracing::debug!(recorded, ms = t.elapsed().as_millis() as u64, "own flows recorded");
        keyed.filter(|k| recorded == k.len())
    }
}

/// Writes `txn` to the Southbound (in batches when it is big) and waits until the replica shows it, but
/// for the Logical_Flow rows it inserted: those are returned, with their `flow_keys`, to be recorded.
async fn write_sb(
    sb: &Session,
    txn: Transaction,
    flow_keys: Vec<u64>,
    ids: &mut UuidGen,
    seqno: u64,
) -> Result<OwnFlows, model::ovsdb::ClientError> {
    let syncs = sb.status().syncs;
    if txn.is_empty() {
        return Ok(OwnFlows { batches: Vec::new(), keys: Vec::new(), syncs });
    }
    let t = Instant::now();
    let mut batches = txn.into_batches(&SB_BATCHED, SB_ROWS_PER_BATCH, ids);
    for b in &mut batches {
        b.choose_uuids(ids);
    }
    // Our flows' echo carries nothing we do not know: skipped, and the rows recorded by the caller.
    for b in &batches {
        sb.expect_inserts(table::LOGICAL_FLOW, b.insert_uuids(table::LOGICAL_FLOW));
    }
    if let Err(e) = sb.write_all(&batches, PIPELINE).await {
        // Some batches may have committed, unseen: the Southbound is read again whole.
        sb.resync();
        return Err(e);
    }
    let transact_ms = t.elapsed().as_millis() as u64;
    let t = Instant::now();
    let n = batches.len();
    // Everything else comes back; the last row inserted outside Logical_Flow, if any, arrives last.
    let echoed = batches.iter().flat_map(|b| &b.ops).any(|op| !is_flow_insert(op));
    if echoed {
        wait_applied(sb, last_echoed_insert(&batches), seqno).await;
    }
    tracing::debug!(transact_ms, batches = n, wait_ms = t.elapsed().as_millis() as u64, "written");
    Ok(OwnFlows { batches, keys: flow_keys, syncs })
}

/// Sets `Logical_Switch_Port.up` as `ups` says.
async fn copy_port_state(nb: &Session, ups: &[(Uuid, bool)]) -> Result<(), model::ovsdb::ClientError> {
    if ups.is_empty() {
        return Ok(());
    }
    let batches: Vec<Transaction> = ups
        .chunks(NB_ROWS_PER_BATCH)
        .map(|chunk| {
            let mut t = Transaction::new();
            for &(lsp, up) in chunk {
                let row = RowData::from([("up".to_string(), Datum::atom(up))]);
                t.update(nb::table::LOGICAL_SWITCH_PORT, vec![Condition::uuid(lsp)], row);
            }
            t
        })
        .collect();
    let t = Instant::now();
    nb.write_all(&batches, PIPELINE).await?;
    tracing::debug!(ports = ups.len(), ms = t.elapsed().as_millis() as u64, "port state copied to the northbound");
    Ok(())
}

/// The smallest `nb_cfg` the chassis have caught up with (`NB_Global.hv_cfg`), `nb_cfg` with none.
fn hv_cfg(sb: &model::ovsdb::Replica, nb_cfg: i64) -> i64 {
    model::sb::rows::<model::sb::ChassisPrivate>(sb).filter_map(|c| c.nb_cfg()).min().unwrap_or(nb_cfg)
}

/// Tells `--wait=sb|hv` callers how far things got: `sb_cfg` = the `nb_cfg` the Southbound now reflects.
async fn report_cfg(nb: &Session, global: Option<&nb::NbGlobal>, nb_cfg: i64, hv_cfg: i64) -> Result<(), model::ovsdb::ClientError> {
    let Some(g) = global else { return Ok(()) };
    let mut row = RowData::new();
    if g.sb_cfg != nb_cfg {
        row.insert("sb_cfg".into(), Datum::atom(nb_cfg));
    }
    let hv = hv_cfg.min(nb_cfg);
    if g.hv_cfg != hv {
        row.insert("hv_cfg".into(), Datum::atom(hv));
    }
    if !row.is_empty() {
        let mut t = Transaction::new();
        t.update(nb::table::NB_GLOBAL, vec![Condition::uuid(g.uuid)], row);
        nb.transact(&t).await?;
    }
    Ok(())
}

fn is_flow_insert(op: &Operation) -> bool {
    matches!(op, Operation::Insert { table, .. } if table == table::LOGICAL_FLOW)
}

/// The table and UUID (chosen by us) of the last row the batches insert outside Logical_Flow. ovsdb-server
/// reports a committed transaction in one update, which the replica applies whole, and the batches that
/// follow it insert only flows, so when it is there every echo we wait for is.
fn last_echoed_insert(batches: &[Transaction]) -> Option<(String, Uuid)> {
    batches.iter().rev().flat_map(|b| b.ops.iter().rev()).find_map(|op| match op {
        Operation::Insert { table, uuid: Some(u), .. } if !is_flow_insert(op) => Some((table.clone(), *u)),
        _ => None,
    })
}

/// Waits (briefly) until the Southbound replica shows our own transaction (its sequence number moved past
/// `seqno_before` and, when it inserted rows, `marker` is there), so the next round does not plan the same
/// inserts again.
async fn wait_applied(sb: &Session, marker: Option<(String, Uuid)>, seqno_before: u64) {
    let mut rx = sb.watch();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let done =
            sb.replica().as_ref().is_some_and(|r| r.seqno() > seqno_before && marker.as_ref().is_none_or(|(t, u)| r.row(t, *u).is_some()));
        if done || tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
            return;
        }
    }
}
