//! The northd benchmark: one size, one implementation, from an empty Southbound.
//!
//! 1. fresh NB and SB servers; `nbgen` writes the network into the NB (one transaction);
//! 2. the northd starts; the clock runs from its start until `ovn-nbctl --wait=sb sync` returns: the
//!    first full NB -> SB translation, including connecting and reading the NB (steps 1 and 2 run
//!    `--our-first-syncs` times for ours and `--first-syncs` for OVN's, from fresh databases each time,
//!    the earlier ones in rounds over every size and both northds so that a machine that slows down
//!    meanwhile weighs on all alike; the table shows the medians);
//! 3. the Southbound's `Logical_Flow` rows are counted;
//! 4. N times: one new VIF (`lsp-add` + `lsp-set-addresses`) and one new FIP (`lr-nat-add
//!    dnat_and_snat` on a VIF without one), each timed around `ovn-nbctl --wait=sb` (which returns once
//!    the northd has written the change to the SB); also the same `ovn-nbctl` commands as no-ops without
//!    waiting, to show what the tool itself costs of those times;
//! 5. the daemon's peak resident memory (VmHWM, over the whole run) and CPU time.
//!
//! The big switch (`bench --big-switch`, issue 14: Kube-OVN puts every pod of its default subnet in one
//! switch) is the same run at 1 x P with [`Changes::PortsOnly`]: one first sync to set it up, then step 4's
//! ports alone.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use northd::gen;
use serde_json::{json, Value};

use super::db::Db;
use super::exec::exec_ok;
use super::{cpu_seconds, log_tail, median, memory, note, CpuWatch, Env, Impl, Size};
use crate::{Daemon, OvsdbServer};

/// What one northd run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct NorthdRun {
    /// The network's VIFs (S x P), to show costs per VIF.
    pub vifs: u32,
    /// From starting the daemon until `ovn-nbctl --wait=sb sync` returned, seconds.
    pub first_sync_s: f64,
    /// CPU seconds the daemon used until then.
    pub first_sync_cpu_s: f64,
    /// CPU seconds the Southbound's ovsdb-server used meanwhile (committing what the northd wrote).
    pub first_sync_sb_cpu_s: f64,
    /// `Logical_Flow` rows in the Southbound after the first sync.
    pub lflows: usize,
    /// Peak resident memory over the run, and resident memory at its end.
    pub peak_mib: f64,
    pub rss_mib: f64,
    /// `ovn-nbctl --wait=sb lsp-add …`, ms, one per sample.
    pub port_ms: Vec<f64>,
    /// `ovn-nbctl --wait=sb lr-nat-add …`, ms, one per sample.
    pub fip_ms: Vec<f64>,
    /// The same changes committed by our own client, from the commit to `sb_cfg` catching up, ms.
    pub direct_port_ms: Vec<f64>,
    pub direct_fip_ms: Vec<f64>,
    /// The same commands as no-ops without `--wait`: the tool's own share, ms.
    pub nbctl_port_ms: Vec<f64>,
    pub nbctl_fip_ms: Vec<f64>,
}

/// What step 4 adds, `samples` times each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changes {
    /// A VIF and a FIP: the rows of every size of `--sizes`.
    PortsAndFips,
    /// VIFs alone: the big switch's row is about a port added to a switch of many.
    PortsOnly,
}

/// The switch the new ports go to: `sw5` as in the issue, or the last one of a smaller network.
fn latency_switch(size: Size) -> u32 {
    5.min(size.switches - 1)
}

/// The IPs of `n` VIFs that have no FIP: `nbgen` gives FIP `f` to VIF `f / S` of switch `f % S`, so
/// these are taken from the last ports of each switch.
pub fn vifs_without_fip(size: Size, fips: u32, n: usize) -> Result<Vec<String>> {
    let mut ips = Vec::new();
    'outer: for p in (0..size.ports).rev() {
        for s in 0..size.switches {
            if u64::from(p) * u64::from(size.switches) + u64::from(s) >= u64::from(fips) {
                ips.push(gen::vif(s, p).2);
                if ips.len() == n {
                    break 'outer;
                }
            }
        }
    }
    if ips.len() < n {
        bail!("{size} with {fips} FIPs has fewer than {n} VIFs without a FIP to give one");
    }
    Ok(ips)
}

fn start_daemon(env: &Env, which: Impl, nb: &OvsdbServer, sb: &OvsdbServer, dir: &Path) -> (Daemon, std::path::PathBuf) {
    match which {
        Impl::Ours => {
            let log = dir.join("northd.log");
            let d = Daemon::start(&env.northd, &[&format!("--nb-db={}", nb.remote()), &format!("--sb-db={}", sb.remote())], Some(&log));
            (d, log)
        }
        Impl::Ovn => {
            let log = dir.join("ovn-northd.log");
            let d = Daemon::start(
                &env.ovn_northd,
                &[
                    &format!("--ovnnb-db={}", nb.remote()),
                    &format!("--ovnsb-db={}", sb.remote()),
                    "--no-chdir",
                    "-vconsole:off",
                    &format!("--log-file={}", log.display()),
                    &format!("--unixctl={}", dir.join("ovn-northd.ctl").display()),
                ],
                Some(&dir.join("ovn-northd.out")),
            );
            (d, log)
        }
    }
}

/// Lets the daemon finish what it does after answering (both northds read back what they wrote) before
/// the next sample: until it has used under 10% of a CPU for 200 ms, at most 5 s.
fn settle(cpu: &mut CpuWatch) -> Result<()> {
    cpu.wait_idle(Duration::from_millis(200), Duration::from_secs(5))?;
    Ok(())
}

/// Commits `ops` to the NB together with an `nb_cfg` increment, as `ovn-nbctl --wait=sb` does, then waits
/// (an OVSDB `wait` on NB_Global) until the northd has set `sb_cfg` to it, which it does once the SB
/// transaction with the change committed. Returns the time from sending the commit to that answer: the
/// NB -> SB latency without the command-line tool's own start-up and reading of the NB.
fn commit_and_wait(nbdb: &Db, mut ops: Vec<Value>) -> Result<Duration> {
    ops.push(json!({"op": "mutate", "table": "NB_Global", "where": [], "mutations": [["nb_cfg", "+=", 1]]}));
    ops.push(json!({"op": "select", "table": "NB_Global", "where": [], "columns": ["nb_cfg"]}));
    let started = Instant::now();
    let results = nbdb.transact(ops, Duration::ZERO)?;
    let cfg = results.last().and_then(|r| r["rows"][0]["nb_cfg"].as_i64()).context("no NB_Global.nb_cfg")?;
    nbdb.wait_until("NB_Global", json!([]), &["sb_cfg"], json!([{ "sb_cfg": cfg }]))?;
    Ok(started.elapsed())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What one first sync measured (see [`NorthdRun`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FirstSync {
    seconds: f64,
    cpu_s: f64,
    sb_cpu_s: f64,
}

/// Steps 1 and 2 alone: one first sync from fresh databases, everything stopped afterwards.
pub fn first_sync(env: &Env, which: Impl, size: Size, fips: u32) -> Result<FirstSync> {
    Ok(start_and_sync(env, which, size, fips)?.measured)
}

/// A northd that has just finished its first sync, with its databases.
struct Synced {
    nb: OvsdbServer,
    sb: OvsdbServer,
    daemon: Daemon,
    log: std::path::PathBuf,
    measured: FirstSync,
}

/// Steps 1 and 2: fresh databases with the generated network, the daemon started and timed until
/// `ovn-nbctl --wait=sb sync` returns.
fn start_and_sync(env: &Env, which: Impl, size: Size, fips: u32) -> Result<Synced> {
    let nb = OvsdbServer::nb();
    let sb = OvsdbServer::southbound();
    let dir = nb.dir().to_path_buf();
    let nb_remote = nb.remote();
    let (s, p, f) = (size.switches.to_string(), size.ports.to_string(), fips.to_string());
    exec_ok(&env.nbgen, &[&format!("--db={nb_remote}"), "-s", &s, "-p", &p, "-f", &f], env.step_timeout)?;

    let sb_pid = sb.pid().context("the Southbound's ovsdb-server is not running")?;
    let sb_cpu_before = cpu_seconds(sb_pid, env.clk_tck)?;
    let started = Instant::now();
    let (mut daemon, log) = start_daemon(env, which, &nb, &sb, &dir);
    let synced = env.ovn_nbctl(&nb_remote, &["--wait=sb", &env.tool_timeout_arg(), "sync"]);
    let seconds = started.elapsed().as_secs_f64();
    if let Err(e) = synced {
        bail!("first sync failed: {e:#}\n{}", log_tail(&log, 20));
    }
    if !daemon.is_running() {
        bail!("the daemon exited\n{}", log_tail(&log, 20));
    }
    // The CPU the first sync costs, its aftermath included (both northds read back what they wrote, a
    // little after answering or a little before): taken once the daemon is idle, so no size has part of
    // its work counted and another not.
    settle(&mut CpuWatch::new(daemon.pid(), env.clk_tck))?;
    let cpu_s = cpu_seconds(daemon.pid(), env.clk_tck)?;
    let sb_cpu_s = cpu_seconds(sb_pid, env.clk_tck)? - sb_cpu_before;
    Ok(Synced { nb, sb, daemon, log, measured: FirstSync { seconds, cpu_s, sb_cpu_s } })
}

/// Runs the northd benchmark of one implementation at one size with `fips` FIPs and `samples` latency
/// samples of each kind of `changes`. The first sync reported is the median of this run's and `earlier`
/// ones (see [`first_sync`]: one sync of a small network takes a few hundred milliseconds, and a single one
/// says little about how cost grows with size); the rest is measured after this run's.
pub fn run(env: &Env, which: Impl, size: Size, fips: u32, samples: usize, earlier: &[FirstSync], changes: Changes) -> Result<NorthdRun> {
    let tag = format!("northd {} {size}", which.label());
    let wait_limit = env.tool_timeout_arg();
    let with_fips = changes == Changes::PortsAndFips;
    // The VIFs that get the new FIPs, chosen before anything is timed.
    let fip_targets = if with_fips { vifs_without_fip(size, fips, 2 * samples)? } else { vec![] };
    let mut syncs_measured = earlier.to_vec();
    let Synced { nb, sb, mut daemon, log, measured } = start_and_sync(env, which, size, fips)?;
    syncs_measured.push(measured);
    let pid = daemon.pid();
    let nb_remote = nb.remote();
    let of = |f: fn(&FirstSync) -> f64| median(&syncs_measured.iter().map(f).collect::<Vec<_>>());
    let (first_sync_s, first_sync_cpu_s, first_sync_sb_cpu_s) = (of(|m| m.seconds), of(|m| m.cpu_s), of(|m| m.sb_cpu_s));
    let sbdb = Db::connect(&sb.remote(), "OVN_Southbound", env.step_timeout)?;
    let nbdb = Db::connect(&nb_remote, "OVN_Northbound", env.step_timeout)?;
    let lflows = sbdb.count("Logical_Flow", json!([]))?;
    let each = |f: fn(&FirstSync) -> f64| syncs_measured.iter().map(|m| format!("{:.2}", f(m))).collect::<Vec<_>>().join(" ");
    note(format_args!(
        "{tag}: first sync {first_sync_s:.2} s ({first_sync_cpu_s:.2} s CPU; SB ovsdb-server {first_sync_sb_cpu_s:.2} s), {lflows} logical \
         flows; medians of: {} s, CPU {} s, SB {} s",
        each(|m| m.seconds),
        each(|m| m.cpu_s),
        each(|m| m.sb_cpu_s)
    ));

    let sw = latency_switch(size);
    let switch = format!("sw{sw}");
    let (_, mac0, ip0) = gen::vif(sw, 0);
    let mut cpu = CpuWatch::new(pid, env.clk_tck);
    settle(&mut cpu)?;
    let mut r = NorthdRun {
        vifs: size.vifs(),
        first_sync_s,
        first_sync_cpu_s,
        first_sync_sb_cpu_s,
        lflows,
        peak_mib: 0.0,
        rss_mib: 0.0,
        port_ms: vec![],
        fip_ms: vec![],
        direct_port_ms: vec![],
        direct_fip_ms: vec![],
        nbctl_port_ms: vec![],
        nbctl_fip_ms: vec![],
    };
    for k in 0..samples {
        // The tool alone: a command that changes nothing (the port exists already).
        let p0 = format!("{switch}-p0");
        let addr0 = format!("{mac0} {ip0}");
        r.nbctl_port_ms.push(ms(
            env.ovn_nbctl(&nb_remote, &["--no-wait", "--may-exist", "lsp-add", &switch, &p0, "--", "lsp-set-addresses", &p0, &addr0])?
        ));

        let (_, mac, ip) = gen::vif(sw, size.ports + k as u32);
        let name = format!("{switch}-new{k}");
        let addr = format!("{mac} {ip}");
        let t = env
            .ovn_nbctl(&nb_remote, &["--wait=sb", &wait_limit, "lsp-add", &switch, &name, "--", "lsp-set-addresses", &name, &addr])
            .with_context(|| format!("adding port {name}\n{}", log_tail(&log, 10)))?;
        r.port_ms.push(ms(t));
        settle(&mut cpu)?;

        if with_fips {
            let ext = gen::fip_ip(fips + k as u32);
            let t = env
                .ovn_nbctl(&nb_remote, &["--wait=sb", &wait_limit, "lr-nat-add", "ovn-cluster", "dnat_and_snat", &ext, &fip_targets[k]])
                .with_context(|| format!("adding FIP {ext} -> {}\n{}", fip_targets[k], log_tail(&log, 10)))?;
            r.fip_ms.push(ms(t));
            // The tool alone, again as a no-op: the FIP just added. (Not one of nbgen's: OVN 23.03's ovn-nbctl
            // crashes on `--may-exist lr-nat-add` matching a NAT row without options:stateless, which it
            // always writes itself and nbgen does not.)
            r.nbctl_fip_ms.push(ms(env.ovn_nbctl(
                &nb_remote,
                &["--no-wait", "--may-exist", "lr-nat-add", "ovn-cluster", "dnat_and_snat", &ext, &fip_targets[k]],
            )?));
            settle(&mut cpu)?;
        }

        // The same changes without the tool: committed by our client, timed to sb_cfg catching up.
        let (_, mac, ip) = gen::vif(sw, size.ports + (samples + k) as u32);
        let name = format!("{switch}-direct{k}");
        let t = commit_and_wait(
            &nbdb,
            vec![
                json!({"op": "insert", "table": "Logical_Switch_Port", "uuid-name": "lsp", "row": {"name": name, "addresses": format!("{mac} {ip}")}}),
                json!({"op": "mutate", "table": "Logical_Switch", "where": [["name", "==", switch]],
                       "mutations": [["ports", "insert", ["set", [["named-uuid", "lsp"]]]]]}),
            ],
        )
        .with_context(|| format!("adding port {name} directly\n{}", log_tail(&log, 10)))?;
        r.direct_port_ms.push(ms(t));
        settle(&mut cpu)?;
        if with_fips {
            let (ext, target) = (gen::fip_ip(fips + (samples + k) as u32), &fip_targets[samples + k]);
            let t = commit_and_wait(
                &nbdb,
                vec![
                    json!({"op": "insert", "table": "NAT", "uuid-name": "nat",
                           "row": {"type": "dnat_and_snat", "external_ip": ext, "logical_ip": target, "options": ["map", [["stateless", "false"]]]}}),
                    json!({"op": "mutate", "table": "Logical_Router", "where": [["name", "==", "ovn-cluster"]],
                           "mutations": [["nat", "insert", ["set", [["named-uuid", "nat"]]]]]}),
                ],
            )
            .with_context(|| format!("adding FIP {ext} -> {target} directly\n{}", log_tail(&log, 10)))?;
            r.direct_fip_ms.push(ms(t));
            settle(&mut cpu)?;
        }
    }
    let show = |v: &[f64]| if v.is_empty() { "-".to_string() } else { v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(" ") };
    note(format_args!(
        "{tag}: add port {} ms (direct {}); add FIP {} ms (direct {}); ovn-nbctl alone {} / {} ms",
        show(&r.port_ms),
        show(&r.direct_port_ms),
        show(&r.fip_ms),
        show(&r.direct_fip_ms),
        show(&r.nbctl_port_ms),
        show(&r.nbctl_fip_ms)
    ));
    if !daemon.is_running() {
        bail!("the daemon exited\n{}", log_tail(&log, 20));
    }
    let mem = memory(pid)?;
    r.peak_mib = mem.peak_mib;
    r.rss_mib = mem.rss_mib;
    note(format_args!("{tag}: VmHWM {:.1} MiB, VmRSS {:.1} MiB", mem.peak_mib, mem.rss_mib));
    drop(daemon);
    Ok(r)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn fip_targets_have_no_fip() {
        let size = Size { switches: 10, ports: 100 };
        let ips = vifs_without_fip(size, 100, 5).expect("enough");
        assert_eq!(ips, ["10.0.0.101", "10.1.0.101", "10.2.0.101", "10.3.0.101", "10.4.0.101"]);
        // nbgen's FIPs: f -> VIF f / S of switch f % S; the last FIP of 100 is sw9-p9.
        let all = vifs_without_fip(size, 100, 900).expect("900 without");
        assert!(!all.contains(&gen::vif(9, 9).2) && all.contains(&gen::vif(0, 10).2));
        assert!(vifs_without_fip(size, 1000, 1).is_err());
    }

    /// `nbgen`'s addresses for one switch of 10,000 VIFs and the ports the samples add after them: distinct,
    /// and inside the switch's /16 without its router (.0.1) or broadcast address.
    #[test]
    fn a_big_switch_fits_its_subnet() {
        let (mut ips, mut macs) = (std::collections::HashSet::new(), std::collections::HashSet::new());
        for p in 0..10_000 + 2 * 5 {
            let (_, mac, ip) = gen::vif(0, p);
            let o: Vec<u32> = ip.split('.').map(|x| x.parse().expect("octet")).collect();
            assert!(o[..2] == [10, 0] && o[2] < 255 && (2..255).contains(&o[3]), "{ip}");
            assert!(ips.insert(ip) && macs.insert(mac));
        }
    }
}
