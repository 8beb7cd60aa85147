//! The scale benchmarks of issue 6: our `northd` and `controller` against OVN's `ovn-northd` and
//! `ovn-controller`, on the same generated network (`nbgen`), one after the other in the same run, so the
//! two columns of every row were measured on the same machine under the same conditions.
//!
//! ```text
//!   northd, per size S x P (F = fips% of the VIFs):
//!     fresh NB + SB ─ nbgen ─▶ NB ─┬─ start northd ──────── ovn-nbctl --wait=sb sync ─▶  first sync (s)
//!                                  │                                                     lflow rows, VmHWM
//!                                  └─ ovn-nbctl --wait=sb lsp-add / lr-nat-add, ×N ─▶  latency (ms, median)
//!   northd, one switch of P VIFs (--big-switch, 1 x 10,000): one first sync, then lsp-add alone ×N
//!   controller, one size, H hosted VIFs:
//!     fresh NB + SB, our northd writes the SB, stops ─▶ fresh Open vSwitch, H internal ports on br-int
//!     start controller ─▶ all H Port_Bindings up on this chassis + br-int flow count stable 1 s
//!     one more VIF (its logical port already in the SB) ─▶ its Port_Binding up (ms, median of N)
//! ```
//!
//! Every step is bounded ([`Env::step_timeout`]); everything a run starts is a value whose drop kills the
//! process or removes the temp dir, so a failed or timed-out run leaves nothing behind.

pub mod controller;
pub mod db;
pub mod exec;
pub mod northd;
pub mod report;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// A network size: `switches` logical switches of `ports` VIFs each (`nbgen -s S -p P`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Size {
    pub switches: u32,
    pub ports: u32,
}

impl Size {
    /// The number of VIFs, S x P.
    pub fn vifs(self) -> u32 {
        self.switches * self.ports
    }

    /// The number of FIPs at `percent` % of the VIFs.
    pub fn fips(self, percent: u32) -> u32 {
        (u64::from(self.vifs()) * u64::from(percent) / 100) as u32
    }
}

impl FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Size, String> {
        let bad = || format!("{s:?}: expected SWITCHESxPORTS, e.g. 10x100");
        let (a, b) = s.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        let switches: u32 = a.parse().map_err(|_| bad())?;
        let ports: u32 = b.parse().map_err(|_| bad())?;
        if switches == 0 || switches > 250 || ports == 0 || ports > 60_000 {
            return Err(format!("{s:?}: between 1 and 250 switches of 1 to 60000 ports"));
        }
        Ok(Size { switches, ports })
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.switches, self.ports)
    }
}

/// Whose daemon a measurement ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Impl {
    Ours,
    Ovn,
}

impl Impl {
    pub fn label(self) -> &'static str {
        match self {
            Impl::Ours => "ours",
            Impl::Ovn => "OVN",
        }
    }
}

/// The programs the benchmarks run, and how long any one step may take.
pub struct Env {
    /// Our binaries (next to the `bench` binary).
    pub northd: PathBuf,
    pub controller: PathBuf,
    pub nbgen: PathBuf,
    /// OVN's and Open vSwitch's.
    pub ovn_northd: PathBuf,
    pub ovn_controller: PathBuf,
    pub ovn_nbctl: PathBuf,
    pub ovs_vsctl: PathBuf,
    pub ovs_ofctl: PathBuf,
    /// The longest any one step (a sync, a latency sample, the first programming) may take.
    pub step_timeout: Duration,
    /// Clock ticks per second of `/proc/<pid>/stat`'s CPU times.
    pub clk_tck: f64,
}

impl Env {
    /// `ovn-nbctl --db=<remote> ARGS…`, bounded by the step timeout; fails unless it exits 0. Returns how
    /// long it took (process start to exit).
    pub fn ovn_nbctl(&self, remote: &str, args: &[&str]) -> Result<Duration> {
        let db = format!("--db={remote}");
        let all: Vec<&str> = std::iter::once(db.as_str()).chain(args.iter().copied()).collect();
        Ok(exec::exec_ok(&self.ovn_nbctl, &all, self.step_timeout)?.elapsed)
    }

    /// `--timeout=SECS` for OVN's and OVS's command-line tools: a little under the step timeout, so the
    /// tool gives up (and says why) before we kill it.
    pub fn tool_timeout_arg(&self) -> String {
        format!("--timeout={}", self.step_timeout.as_secs().saturating_sub(5).max(5))
    }
}

/// Memory of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Memory {
    /// Peak resident set size (VmHWM), MiB.
    pub peak_mib: f64,
    /// Resident set size now (VmRSS), MiB.
    pub rss_mib: f64,
}

/// The peak and current resident memory of process `pid`.
pub fn memory(pid: u32) -> Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let kb = |key: &str| -> Result<f64> {
        let line = text.lines().find(|l| l.starts_with(key)).with_context(|| format!("{path}: no {key}"))?;
        let v: f64 = line[key.len()..].trim().trim_end_matches("kB").trim().parse().with_context(|| format!("{path}: {line}"))?;
        Ok(v / 1024.0)
    };
    Ok(Memory { peak_mib: kb("VmHWM:")?, rss_mib: kb("VmRSS:")? })
}

/// User + system CPU seconds process `pid` has used so far (all its threads): the sum of its threads'
/// run times in nanoseconds (`/proc/<pid>/task/*/schedstat`) when that accounts for the clock-tick total
/// of `/proc/<pid>/stat` (threads that have ended are only in the latter, which is then used). Ticks are
/// 10 ms: too coarse for a daemon that syncs a small network in 50 ms of CPU.
pub fn cpu_seconds(pid: u32, clk_tck: f64) -> Result<f64> {
    let ticks = cpu_ticks_seconds(pid, clk_tck)?;
    Ok(match threads_run_time(pid) {
        Some(ns) if ns + 0.05 >= ticks => ns,
        _ => ticks,
    })
}

/// The run time of the live threads of `pid`, seconds.
fn threads_run_time(pid: u32) -> Option<f64> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let text = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total as f64 / 1e9)
}

fn cpu_ticks_seconds(pid: u32, clk_tck: f64) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    // pid (comm) state ppid … : comm may hold spaces, so count fields after the last ')'.
    let rest = text.rsplit_once(')').map(|(_, r)| r).with_context(|| format!("{path}: {text}"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    if f.len() < 13 {
        bail!("{path}: too few fields: {text}");
    }
    let utime: f64 = f[11].parse().with_context(|| format!("{path}: utime {}", f[11]))?;
    let stime: f64 = f[12].parse().with_context(|| format!("{path}: stime {}", f[12]))?;
    Ok((utime + stime) / clk_tck)
}

/// A daemon's CPU time sampled over time, to tell when it has gone idle: a daemon that has answered
/// (`sb_cfg` caught up, a port up) may still be working on what it just did, and the next sample should not
/// be measured against that.
pub struct CpuWatch {
    pid: u32,
    clk_tck: f64,
    samples: std::collections::VecDeque<(std::time::Instant, f64)>,
}

/// Below this share of one CPU a daemon counts as idle.
pub const IDLE: f64 = 0.10;

impl CpuWatch {
    pub fn new(pid: u32, clk_tck: f64) -> CpuWatch {
        CpuWatch { pid, clk_tck, samples: Default::default() }
    }

    /// Reads the CPU seconds used so far and remembers them (the last minute of samples is kept).
    pub fn sample(&mut self) -> Result<f64> {
        let now = std::time::Instant::now();
        let cpu = cpu_seconds(self.pid, self.clk_tck)?;
        self.samples.push_back((now, cpu));
        while self.samples.front().is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(60)) {
            self.samples.pop_front();
        }
        Ok(cpu)
    }

    /// The share of one CPU used over (at least) the last `window`, or `None` before that much history.
    pub fn busy_over(&self, window: Duration) -> Option<f64> {
        let &(t1, c1) = self.samples.back()?;
        let &(t0, c0) = self.samples.iter().rev().find(|(t, _)| t1.duration_since(*t) >= window)?;
        Some((c1 - c0) / t1.duration_since(t0).as_secs_f64())
    }

    /// Waits until the daemon has used less than [`IDLE`] of a CPU over `window`, at most `max`; returns
    /// whether it went idle.
    pub fn wait_idle(&mut self, window: Duration, max: Duration) -> Result<bool> {
        let started = std::time::Instant::now();
        self.sample()?;
        loop {
            std::thread::sleep(Duration::from_millis(50));
            self.sample()?;
            if self.busy_over(window).is_some_and(|b| b < IDLE) {
                return Ok(true);
            }
            if started.elapsed() >= max {
                return Ok(false);
            }
        }
    }
}

/// The median of some samples (the mean of the middle two for an even count); NaN for none.
pub fn median(samples: &[f64]) -> f64 {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A progress line on stderr (the results table goes to stdout).
pub fn note(msg: impl fmt::Display) {
    eprintln!("bench: {msg}");
}

/// The last `n` lines of a log file, for an error message.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(n);
    format!("--- last lines of {}:\n{}", path.display(), lines[from..].join("\n"))
}

/// Runs `f`, turning a panic (the test fixtures panic when they cannot start a server) into an error, so
/// one failed measurement does not lose the others.
pub fn catch<T>(f: impl FnOnce() -> Result<T>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(p) => Err(p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".to_string())),
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn sizes_parse_and_print() {
        let s: Size = "100x100".parse().expect("size");
        assert_eq!(s, Size { switches: 100, ports: 100 });
        assert_eq!(s.to_string(), "100x100");
        assert_eq!(s.fips(10), 1000);
        assert!("100".parse::<Size>().is_err());
        assert!("0x5".parse::<Size>().is_err());
        assert!("ax5".parse::<Size>().is_err());
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn own_memory_and_cpu() {
        let m = memory(std::process::id()).expect("memory");
        assert!(m.peak_mib >= m.rss_mib && m.rss_mib > 0.0);
        assert!(cpu_seconds(std::process::id(), 100.0).expect("cpu") >= 0.0);
    }
}
