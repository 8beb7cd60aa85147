//! A long-running program of the cluster (a database server, `ovs-vswitchd`, a northd, a controller), run as
//! a child of the test so that it dies with the test's [`Daemon`] value, never outliving the run.
//!
//! Daemons are started without `--detach`: the child we spawn *is* the daemon (`ip netns exec` enters the
//! namespace and then execs the program, keeping the pid), so killing the child kills the daemon, and a
//! daemon that exits early is noticed with its exit status instead of a stale pidfile.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::require;

/// The environment every OVS/OVN program of one daemon gets: all its default paths point into `dir`
/// (the packaged defaults under `/var/run/openvswitch` do not exist and would be shared).
pub(crate) fn dir_env(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVN_RUNDIR", "OVN_LOGDIR", "OVN_DBDIR"].into_iter().map(|k| (k, dir.to_path_buf())).collect()
}

/// A child process killed (and reaped) on drop.
pub struct Daemon {
    name: String,
    child: Mutex<Option<Child>>,
    /// The daemon's own log file (`--log-file`), if it writes one.
    log: Option<PathBuf>,
    /// Where its stdout and stderr go.
    output: PathBuf,
}

impl Daemon {
    /// Starts `program args` (inside network namespace `netns`, when given) with every OVS/OVN directory
    /// variable pointing at `dir`. `log` is the daemon's `--log-file`, shown by [`Daemon::log_tail`]; its
    /// stdout and stderr go to `dir/<name>.out`.
    pub(crate) fn start(name: &str, netns: Option<&str>, program: &Path, args: Vec<OsString>, dir: &Path, log: Option<PathBuf>) -> Daemon {
        let output = dir.join(format!("{name}.out"));
        let out = File::create(&output).unwrap_or_else(|e| panic!("create {}: {e}", output.display()));
        let err = out.try_clone().expect("clone file handle");
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new(require("ip"));
                c.args(["netns", "exec", ns]).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.args(&args).envs(dir_env(dir)).stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
        Daemon { name: name.to_string(), child: Mutex::new(Some(child)), log, output }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `None` while it runs, else a description of how it ended.
    pub fn exited(&self) -> Option<String> {
        let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut().map(|c| c.try_wait()) {
            None => Some("stopped".to_string()),
            Some(Ok(None)) => None,
            Some(Ok(Some(status))) => Some(format!("exited: {status}")),
            Some(Err(e)) => Some(format!("cannot query: {e}")),
        }
    }

    /// Panics, with the end of its log, when it ended by itself (one [`Daemon::stop`]ped on purpose is fine).
    pub fn assert_running(&self) {
        if let Some(how) = self.exited().filter(|h| h != "stopped") {
            panic!("{} {how}\n{}", self.name, self.log_tail(30));
        }
    }

    /// The last `n` lines of the daemon's log file and of its stdout/stderr.
    pub fn log_tail(&self, n: usize) -> String {
        let mut s = String::new();
        for p in self.log.iter().chain(std::iter::once(&self.output)) {
            let lines = tail(p, n);
            if !lines.is_empty() {
                s.push_str(&format!("--- {} (last {n} lines)\n{lines}", p.display()));
            }
        }
        s
    }

    /// The last `n` warnings and errors of the daemon's log file (OVS/OVN log lines tagged `|WARN|`,
    /// `|ERR|` or `|EMER|`; ours tagged ` WARN ` or ` ERROR `), prefixed with the daemon's name.
    pub fn log_problems(&self, n: usize) -> String {
        let Some(log) = &self.log else { return String::new() };
        let Ok(f) = File::open(log) else { return String::new() };
        let marks = ["|WARN|", "|ERR|", "|EMER|", " WARN ", " ERROR "];
        let bad: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).filter(|l| marks.iter().any(|m| l.contains(m))).collect();
        bad[bad.len().saturating_sub(n)..].iter().map(|l| format!("{}: {l}\n", self.name)).collect()
    }

    /// Kills the daemon and waits for it to end.
    pub fn stop(&self) {
        let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mut c) = guard.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `n` lines of a text file ("" if it cannot be read).
pub(crate) fn tail(path: &Path, n: usize) -> String {
    let Ok(f) = File::open(path) else { return String::new() };
    let lines: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).collect();
    let mut s = String::new();
    for l in &lines[lines.len().saturating_sub(n)..] {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// Polls `check` every 50 ms until it holds; `Err` with `what` after `timeout`.
pub(crate) fn wait_for(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
