//! The controller benchmark: one chassis hosting H VIFs of a generated network, one implementation.
//!
//! 1. fresh NB and SB; `nbgen` writes the network, plus N spare VIFs `sw0-new<k>` for the latency samples;
//!    our northd writes the Southbound and is stopped (nothing else changes the SB during the run, so both
//!    controllers see the same SB);
//! 2. a fresh Open vSwitch (its own ovsdb-server and ovs-vswitchd in a network namespace) with br-int
//!    configured as OVN's docs say, the chassis' `external_ids`, and H internal ports whose `iface-id`s are
//!    the first H VIFs (sw0-p0, sw0-p1, …);
//! 3. the controller starts; every 100 ms we read how many of this chassis' Port_Bindings are `up`,
//!    br-int's flow count (`ovs-ofctl dump-aggregate`) and the controller's CPU time. Done when all H are
//!    up and the flow count has not changed for 1 s (`--settle-ms`) while the controller sat idle (or for
//!    ten times that, idle or not: OVN's controller installs a first batch of flows, marks the ports up,
//!    then works for seconds before installing the rest). The time reported is when the last of those
//!    things happened (the last flow count change or all ports up), from the controller's start;
//! 4. N times: wait until br-int's flow count is steady and the controller idle, add one internal port for `sw0-new<k>` (one
//!    transaction on the local database), and time until its Port_Binding is `up` (an OVSDB `wait` on the
//!    SB: both controllers set `up` only once the port's flows are installed);
//! 5. flow count (`ovs-ofctl dump-flows`), the controller's VmHWM and CPU time.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use northd::gen;
use serde_json::{json, Value};

use super::db::Db;
use super::exec::exec_ok;
use super::{log_tail, memory, note, CpuWatch, Env, Impl, Size, IDLE};
use crate::{Daemon, OvsdbServer, Vswitch};

/// The chassis the benchmark's controller registers.
pub const CHASSIS: &str = "bench-hv";

/// What one controller run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerRun {
    /// From the controller's start until br-int was completely programmed, seconds.
    pub first_s: f64,
    /// CPU seconds the controller used until then.
    pub first_cpu_s: f64,
    /// OpenFlow flows in br-int after the latency samples.
    pub flows: usize,
    /// Peak resident memory over the run, and at its end.
    pub peak_mib: f64,
    pub rss_mib: f64,
    /// From adding one VIF to the local switch until its Port_Binding was up, ms, one per sample.
    pub bind_ms: Vec<f64>,
}

/// The logical ports of the `hosted` VIFs this chassis hosts: all ports of sw0, then of sw1, ….
pub fn hosted_ports(size: Size, hosted: u32) -> Result<Vec<String>> {
    if hosted > size.vifs() {
        bail!("{size} has only {} VIFs, cannot host {hosted}", size.vifs());
    }
    Ok((0..hosted).map(|i| gen::vif(i / size.ports, i % size.ports).0).collect())
}

/// br-int's flow count, from `ovs-ofctl dump-aggregate` (cheap: one reply, no flow text).
fn flow_count(env: &Env, sw: &Vswitch) -> Result<usize> {
    let out = exec_ok(&env.ovs_ofctl, &["-O", "OpenFlow15", "dump-aggregate", &sw.ofctl_target()], env.step_timeout)?;
    out.stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("flow_count="))
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("dump-aggregate printed {:?}", out.stdout))
}

/// br-int's flows as `ovs-ofctl dump-flows` lists them (without the reply headers).
fn dumped_flows(env: &Env, sw: &Vswitch) -> Result<usize> {
    let out = exec_ok(&env.ovs_ofctl, &["-O", "OpenFlow15", "dump-flows", &sw.ofctl_target()], env.step_timeout)?;
    Ok(out.stdout.lines().filter(|l| !l.trim().is_empty() && !l.contains(" reply")).count())
}

/// `ovs-vsctl` on the switch's database, bounded.
fn vsctl(env: &Env, sw: &Vswitch, args: &[&str]) -> Result<()> {
    let db = format!("--db={}", sw.db_remote());
    let limit = env.tool_timeout_arg();
    let all: Vec<&str> = [db.as_str(), limit.as_str()].into_iter().chain(args.iter().copied()).collect();
    exec_ok(&env.ovs_vsctl, &all, env.step_timeout)?;
    Ok(())
}

/// The Southbound for the controllers: the network plus `spares` unbound VIFs on sw0, written by our
/// northd, which is stopped before this returns.
fn southbound(env: &Env, size: Size, fips: u32, spares: usize) -> Result<(OvsdbServer, OvsdbServer)> {
    let nb = OvsdbServer::nb();
    let sb = OvsdbServer::southbound();
    let (s, p, f) = (size.switches.to_string(), size.ports.to_string(), fips.to_string());
    exec_ok(&env.nbgen, &[&format!("--db={}", nb.remote()), "-s", &s, "-p", &p, "-f", &f], env.step_timeout)?;
    let mut args: Vec<String> = vec![];
    for k in 0..spares {
        let (_, mac, ip) = gen::vif(0, size.ports + k as u32);
        let name = format!("sw0-new{k}");
        args.extend([
            "--".into(),
            "lsp-add".into(),
            "sw0".into(),
            name.clone(),
            "--".into(),
            "lsp-set-addresses".into(),
            name,
            format!("{mac} {ip}"),
        ]);
    }
    if !args.is_empty() {
        let a: Vec<&str> = std::iter::once("--no-wait").chain(args.iter().skip(1).map(String::as_str)).collect();
        env.ovn_nbctl(&nb.remote(), &a)?;
    }
    let log = nb.dir().join("northd.log");
    let northd = Daemon::start(&env.northd, &[&format!("--nb-db={}", nb.remote()), &format!("--sb-db={}", sb.remote())], Some(&log));
    env.ovn_nbctl(&nb.remote(), &["--wait=sb", &env.tool_timeout_arg(), "sync"])
        .with_context(|| format!("our northd did not write the Southbound\n{}", log_tail(&log, 20)))?;
    drop(northd);
    Ok((nb, sb))
}

/// Adds internal port `name` with `iface-id` `name` to br-int, in one transaction on the local database.
fn add_vif(ovs: &Db, name: &str) -> Result<()> {
    ovs.transact(
        vec![
            json!({"op": "insert", "table": "Interface", "uuid-name": "iface",
                   "row": {"name": name, "type": "internal", "external_ids": ["map", [["iface-id", name]]]}}),
            json!({"op": "insert", "table": "Port", "uuid-name": "port", "row": {"name": name, "interfaces": ["named-uuid", "iface"]}}),
            json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", "br-int"]],
                   "mutations": [["ports", "insert", ["set", [["named-uuid", "port"]]]]]}),
        ],
        Duration::ZERO,
    )?;
    Ok(())
}

fn start_controller(env: &Env, which: Impl, sw: &Vswitch) -> (Daemon, std::path::PathBuf) {
    let dir = sw.dir().display().to_string();
    let vars = ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVN_RUNDIR", "OVN_LOGDIR", "OVN_DBDIR"];
    let vars: Vec<(&str, &str)> = vars.iter().map(|k| (*k, dir.as_str())).collect();
    let ovs = sw.db_remote();
    match which {
        Impl::Ours => {
            let log = sw.dir().join("controller.log");
            (Daemon::start_with_env(&env.controller, &[&ovs], &vars, Some(&log)), log)
        }
        Impl::Ovn => {
            let log = sw.dir().join("ovn-controller.log");
            let d = Daemon::start_with_env(
                &env.ovn_controller,
                &[
                    &ovs,
                    "--no-chdir",
                    "-vconsole:off",
                    &format!("--log-file={}", log.display()),
                    &format!("--pidfile={dir}/ovn-controller.pid"),
                ],
                &vars,
                Some(&sw.dir().join("ovn-controller.out")),
            );
            (d, log)
        }
    }
}

/// Waits until br-int's flow count has not changed for `quiet`; returns it.
fn wait_steady(env: &Env, sw: &Vswitch, quiet: Duration) -> Result<usize> {
    let deadline = Instant::now() + env.step_timeout;
    let mut last = flow_count(env, sw)?;
    let mut since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let n = flow_count(env, sw)?;
        if n != last {
            (last, since) = (n, Instant::now());
        } else if since.elapsed() >= quiet {
            return Ok(n);
        }
        if Instant::now() > deadline {
            bail!("br-int's flow count kept changing for {} s", env.step_timeout.as_secs());
        }
    }
}

fn uuid_cond(column: &str, uuid: &str) -> Value {
    json!([column, "==", ["uuid", uuid]])
}

/// Runs the controller benchmark of one implementation: a chassis hosting `hosted` VIFs of a network of
/// `size` with `fips` FIPs, and `samples` single-port latency samples.
pub fn run(env: &Env, which: Impl, size: Size, fips: u32, hosted: u32, samples: usize, settle: Duration) -> Result<ControllerRun> {
    let tag = format!("controller {} {size}/{hosted}", which.label());
    let ports = hosted_ports(size, hosted)?;
    let (_nb, sb) = southbound(env, size, fips, samples)?;

    let sw = Vswitch::start("br-int");
    vsctl(env, &sw, &["set", "Bridge", "br-int", "fail_mode=secure", "other_config:disable-in-band=true"])?;
    let sb_remote = sb.remote();
    vsctl(
        env,
        &sw,
        &[
            "set",
            "Open_vSwitch",
            ".",
            &format!("external_ids:system-id={CHASSIS}"),
            &format!("external_ids:hostname={CHASSIS}"),
            &format!("external_ids:ovn-remote={sb_remote}"),
            "external_ids:ovn-encap-type=geneve",
            "external_ids:ovn-encap-ip=192.0.2.1",
            "external_ids:ovn-bridge-datapath-type=netdev",
        ],
    )?;
    let mut add: Vec<String> = vec![];
    for p in &ports {
        add.extend(["--", "add-port", "br-int", p, "--", "set", "Interface", p, "type=internal"].map(String::from));
        add.push(format!("external_ids:iface-id={p}"));
    }
    let add: Vec<&str> = add.iter().skip(1).map(String::as_str).collect();
    vsctl(env, &sw, &add)?;
    let sbdb = Db::connect(&sb_remote, "OVN_Southbound", env.step_timeout)?;
    let ovsdb = Db::connect(&sw.db_remote(), "Open_vSwitch", env.step_timeout)?;

    // The first full programming.
    let started = Instant::now();
    let (mut daemon, log) = start_controller(env, which, &sw);
    let pid = daemon.pid();
    let deadline = started + env.step_timeout;
    let mut chassis: Option<String> = None;
    let mut cpu = CpuWatch::new(pid, env.clk_tck);
    let (mut flows, mut changed, mut cpu_at_change) = (0usize, started, 0.0);
    let mut all_up: Option<(Instant, f64)> = None;
    let mut up = 0;
    // (seconds since the start, flows, ports up) at every change, for the progress line.
    let mut timeline: Vec<(f64, usize, usize)> = vec![];
    let (first, first_cpu_s, busy) = loop {
        std::thread::sleep(Duration::from_millis(100));
        if !daemon.is_running() {
            bail!("the controller exited\n{}", log_tail(&log, 20));
        }
        let now = Instant::now();
        if now > deadline {
            bail!(
                "not programmed after {} s: {up} of {hosted} ports up, {flows} flows\n{}",
                env.step_timeout.as_secs(),
                log_tail(&log, 20)
            );
        }
        let used = cpu.sample()?;
        if chassis.is_none() {
            chassis = sbdb.uuids("Chassis", json!([["name", "==", CHASSIS]]))?.into_iter().next();
        }
        let Some(ch) = &chassis else { continue };
        up = sbdb.count("Port_Binding", json!([uuid_cond("chassis", ch), ["up", "==", true]]))?;
        let n = flow_count(env, &sw)?;
        if n != flows || timeline.last().is_some_and(|t| t.2 != up) {
            timeline.push((now.duration_since(started).as_secs_f64(), n, up));
        }
        if n != flows {
            (flows, changed, cpu_at_change) = (n, now, used);
        }
        if all_up.is_none() && up >= ports.len() {
            all_up = Some((now, used));
        }
        // Done when every port is up and the flows have stopped changing: for `settle`, with the controller
        // idle meanwhile (OVN's pauses for seconds between its first flows and the rest, busy), or for ten
        // times that whatever the controller does.
        if let Some((at, cpu_at_up)) = all_up {
            let stable = now.duration_since(changed);
            let busy = cpu.busy_over(settle);
            if flows > 0 && stable >= settle && (busy.is_some_and(|b| b < IDLE) || stable >= settle * 10) {
                let (end, end_cpu) = if at > changed { (at, cpu_at_up) } else { (changed, cpu_at_change) };
                break (end.duration_since(started), end_cpu, busy.unwrap_or(0.0));
            }
        }
    };
    note(format_args!(
        "{tag}: first full programming {:.2} s ({first_cpu_s:.2} s CPU), {flows} flows; then {:.0}% CPU while they stayed unchanged",
        first.as_secs_f64(),
        busy * 100.0
    ));
    let steps: Vec<String> = timeline.iter().map(|(t, n, u)| format!("{t:.1}s {n}/{u}")).collect();
    note(format_args!("{tag}: flows/ports up at each change: {}", steps.join(", ")));

    // One more VIF at a time.
    let mut bind_ms = vec![];
    for k in 0..samples {
        wait_steady(env, &sw, Duration::from_millis(500))?;
        if !cpu.wait_idle(Duration::from_millis(500), Duration::from_secs(10))? {
            note(format_args!("{tag}: the controller did not go idle within 10 s; measuring anyway"));
        }
        let name = format!("sw0-new{k}");
        let t0 = Instant::now();
        add_vif(&ovsdb, &name)?;
        sbdb.wait_until("Port_Binding", json!([["logical_port", "==", name]]), &["up"], json!([{"up": true}]))
            .with_context(|| format!("port {name}\n{}", log_tail(&log, 20)))?;
        bind_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        let bound = sbdb
            .uuids("Port_Binding", json!([["logical_port", "==", name], uuid_cond("chassis", chassis.as_deref().unwrap_or_default())]))?;
        if bound.is_empty() {
            bail!("{name} is up but not bound to {CHASSIS}");
        }
    }
    note(format_args!("{tag}: port bound -> up {} ms", bind_ms.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(" ")));
    wait_steady(env, &sw, Duration::from_millis(500))?;
    let flows = dumped_flows(env, &sw)?;
    if !daemon.is_running() {
        bail!("the controller exited\n{}", log_tail(&log, 20));
    }
    let mem = memory(pid)?;
    note(format_args!("{tag}: {flows} flows at the end, VmHWM {:.1} MiB, VmRSS {:.1} MiB", mem.peak_mib, mem.rss_mib));
    drop(daemon);
    Ok(ControllerRun { first_s: first.as_secs_f64(), first_cpu_s, flows, peak_mib: mem.peak_mib, rss_mib: mem.rss_mib, bind_ms })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn hosted_ports_fill_switches_in_order() {
        let size = Size { switches: 3, ports: 2 };
        assert_eq!(hosted_ports(size, 5).expect("5 of 6"), ["sw0-p0", "sw0-p1", "sw1-p0", "sw1-p1", "sw2-p0"]);
        assert!(hosted_ports(size, 7).is_err());
    }
}
