//! The `northd` loop: follow the Northbound and the Southbound, translate, write the difference.
//!
//! ```text
//!   NB session ─┐ (change)                      ┌─▶ SB transact (only the difference)
//!               ├─▶ snapshot ─▶ translate ─▶ plan ┤      └─▶ wait until the SB replica shows it
//!   SB session ─┘                                └─▶ NB_Global.sb_cfg / hv_cfg (for `--wait=sb|hv`)
//! ```
//! Every round recomputes the whole translation (the incremental engine is a later step); the SB write
//! is still only what changed. A database that goes away is reconnected by its [`Session`] and fully
//! resynced; bad Northbound rows are logged once, skipped, and everything else keeps being served.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use model::nb::{self, NbSnapshot};
use model::ovsdb::session::{Session, SessionConfig};
use model::ovsdb::transact::{Condition, Operation, RowData, Transaction};
use model::ovsdb::{Datum, Uuid};
use serde_json::Value;

use crate::sync::{self, Extras, SB_DB_NAME};
use crate::translate;

#[derive(Debug, Clone)]
pub struct Config {
    pub nb_remote: String,
    pub sb_remote: String,
}

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

/// Runs forever.
pub async fn run(config: Config) {
    let nb = Session::start(SessionConfig::new(&config.nb_remote, nb::DB_NAME, &nb::table::ALL));
    let sb = Session::start(SessionConfig::new(&config.sb_remote, SB_DB_NAME, &sync::table::ALL));
    let (mut nb_rx, mut sb_rx) = (nb.watch(), sb.watch());
    let mut logged: BTreeSet<String> = BTreeSet::new();
    let defaults = sb_defaults();
    loop {
        if nb.status().connected && sb.status().connected {
            if let Err(e) = round(&nb, &sb, &mut logged, &defaults).await {
                tracing::warn!(error = %e, "sync failed; retrying");
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

/// One recompute and write.
async fn round(
    nb: &Session,
    sb: &Session,
    logged: &mut BTreeSet<String>,
    defaults: &std::collections::BTreeMap<String, String>,
) -> Result<(), model::ovsdb::ClientError> {
    let started = Instant::now();
    let Some((snapshot, nb_global)) = nb.replica().as_ref().map(|r| {
        let snap = NbSnapshot::from_replica(r);
        let global = snap.global.clone();
        (snap, global)
    }) else {
        return Ok(());
    };
    let nb_cfg = nb_global.as_ref().map_or(0, |g| g.nb_cfg);
    let extras = Extras { nb_cfg, options: sb_options(), defaults: defaults.clone() };
    let snapshot_ms = started.elapsed().as_millis() as u64;
    let planned = sb.replica().as_ref().map(|r| {
        let keys = sync::current_keys(r);
        let t = Instant::now();
        let out = translate::translate(&snapshot, &keys);
        let translate_ms = t.elapsed().as_millis() as u64;
        let t = Instant::now();
        let (txn, counts) = sync::plan(&out.sb, r, &extras);
        tracing::debug!(snapshot_ms, translate_ms, plan_ms = t.elapsed().as_millis() as u64, "computed");
        let hv_cfg = {
            let cfgs: Vec<i64> = r.table(sync::table::CHASSIS_PRIVATE).filter_map(|c| c.get("nb_cfg").as_i64()).collect();
            cfgs.iter().min().copied().unwrap_or(nb_cfg)
        };
        (out, txn, counts, r.seqno(), hv_cfg)
    });
    let Some((out, txn, counts, seqno, hv_cfg)) = planned else { return Ok(()) };

    // Each bad row is logged once while it stays bad.
    let now: BTreeSet<String> = out.warnings.iter().cloned().collect();
    for w in now.difference(logged) {
        tracing::warn!("{w}");
    }
    *logged = now;

    if !txn.is_empty() {
        let t = Instant::now();
        let results = sb.transact(&txn).await?;
        let transact_ms = t.elapsed().as_millis() as u64;
        let t = Instant::now();
        wait_applied(sb, &txn, &results, seqno).await;
        tracing::debug!(transact_ms, wait_ms = t.elapsed().as_millis() as u64, "written");
        tracing::info!(
            flows = out.sb.lflows.len(),
            ports = out.sb.ports.len(),
            inserted = counts.inserted,
            updated = counts.updated,
            deleted = counts.deleted,
            ms = started.elapsed().as_millis() as u64,
            "southbound updated"
        );
    }

    // Port state back to the Northbound.
    let ups = match (nb.replica().as_ref(), sb.replica().as_ref()) {
        (Some(n), Some(s)) => sync::nb_port_up(n, s),
        _ => Vec::new(),
    };
    if !ups.is_empty() {
        let mut t = Transaction::new();
        for (lsp, up) in ups {
            t.update(nb::table::LOGICAL_SWITCH_PORT, vec![Condition::uuid(lsp)], RowData::from([("up".to_string(), Datum::atom(up))]));
        }
        nb.transact(&t).await?;
    }

    // Tell `--wait=sb|hv` callers how far things got.
    if let Some(g) = nb_global {
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
    }
    Ok(())
}

/// Waits (briefly) until the Southbound replica shows our own transaction, so the next round does not plan
/// the same inserts again.
async fn wait_applied(sb: &Session, txn: &Transaction, results: &[Value], seqno_before: u64) {
    let inserted: Vec<(String, Uuid)> = txn
        .ops
        .iter()
        .zip(results)
        .filter_map(|(op, r)| match op {
            Operation::Insert { table, .. } => {
                let u = r.get("uuid")?.get(1)?.as_str()?.parse().ok()?;
                Some((table.clone(), u))
            }
            _ => None,
        })
        .collect();
    let mut rx = sb.watch();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let done = sb.replica().as_ref().is_some_and(|r| r.seqno() > seqno_before && inserted.iter().all(|(t, u)| r.row(t, *u).is_some()));
        if done || tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
            return;
        }
    }
}
