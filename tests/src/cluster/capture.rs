//! Packet captures with `tcpdump` inside a namespace, started before an action and stopped after it, so a
//! test can say which interface carried which packets.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::tool;

/// A running `tcpdump -n -e -l -i IFACE FILTER` in a namespace; [`Capture::stop`] ends it and returns what
/// it saw. Dropping it without stopping kills tcpdump too.
pub struct Capture {
    what: String,
    child: Option<Child>,
    stdout: Option<JoinHandle<Vec<String>>>,
    stderr: Option<JoinHandle<Vec<String>>>,
}

/// How long to wait for tcpdump to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to keep capturing after the action, for packets still in flight (replies, retransmissions).
const SETTLE: Duration = Duration::from_millis(300);

impl Capture {
    /// Starts tcpdump and returns once it is listening (it says so on stderr), so nothing the caller does
    /// afterwards is missed. `-e` prints the Ethernet addresses too, `-l` flushes every line at once.
    pub(crate) fn start(netns: &str, iface: &str, filter: &str) -> Capture {
        let tcpdump = tool("tcpdump");
        let what = format!("tcpdump -i {iface} '{filter}' in {netns}");
        let mut cmd = Command::new(tool("ip"));
        cmd.args(["netns", "exec", netns]).arg(&tcpdump).args(["-n", "-e", "-l", "-i", iface]);
        if !filter.is_empty() {
            cmd.arg(filter);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let (ready_tx, ready_rx) = mpsc::channel();
        let stderr = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = ready_tx.send(());
                }
                lines.push(line);
            }
            lines
        });
        let stdout = std::thread::spawn(move || BufReader::new(out).lines().map_while(Result::ok).collect::<Vec<_>>());
        let mut cap = Capture { what, child: Some(child), stdout: Some(stdout), stderr: Some(stderr) };
        if ready_rx.recv_timeout(READY_TIMEOUT).is_err() {
            cap.kill();
            let errs = cap.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
            panic!("{} did not start listening:\n{}", cap.what, errs.join("\n"));
        }
        cap
    }

    /// Waits a moment for packets in flight, stops tcpdump and returns the packets it printed.
    pub fn stop(mut self) -> Packets {
        std::thread::sleep(SETTLE);
        self.kill();
        let lines = self.stdout.take().and_then(|h| h.join().ok()).unwrap_or_default();
        let _ = self.stderr.take().map(JoinHandle::join);
        Packets { what: std::mem::take(&mut self.what), lines }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The packets a capture printed, one `tcpdump -n -e` line each, e.g.
/// `… 0a:00:00:00:01:01 > 5e:…, ethertype IPv4 (0x0800), length 98: 192.168.100.101 > 192.168.100.1: ICMP echo request, …`
#[derive(Debug, Clone)]
pub struct Packets {
    /// The tcpdump command and namespace, for messages.
    pub what: String,
    pub lines: Vec<String>,
}

impl Packets {
    /// The lines that contain every one of `needles`.
    pub fn matching(&self, needles: &[&str]) -> Vec<&str> {
        self.lines.iter().map(String::as_str).filter(|l| needles.iter().all(|n| l.contains(n))).collect()
    }

    /// Whether some line contains every one of `needles`.
    pub fn any(&self, needles: &[&str]) -> bool {
        !self.matching(needles).is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

impl fmt::Display for Packets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} saw {} packets:", self.what, self.lines.len())?;
        for l in &self.lines {
            writeln!(f, "  {l}")?;
        }
        Ok(())
    }
}
