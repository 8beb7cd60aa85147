//! Running a command-line tool with a time limit, and timing it.
//!
//! The tool's stdout and stderr are read by two threads; the caller waits for stdout to close (the tool
//! exiting closes it), so the measured time ends when the tool does, not at the next tick of a polling loop.
//! A tool still running at the deadline is killed and the step fails with a message naming it.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// What a tool printed, how it exited and how long it ran.
#[derive(Debug, Clone)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// From just before the process was spawned until it was reaped.
    pub elapsed: Duration,
}

/// `program args…` as one line for messages (long argument lists shortened).
pub fn describe(program: &Path, args: &[&str]) -> String {
    let name = program.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut s = std::iter::once(name).chain(args.iter().map(|a| a.to_string())).collect::<Vec<_>>().join(" ");
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Runs `program args…`; kills it and fails if it is still running after `timeout`.
pub fn exec(program: &Path, args: &[&str], timeout: Duration) -> Result<Output> {
    let what = describe(program, args);
    let started = Instant::now();
    let deadline = started + timeout;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{what}`"))?;
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut buf);
        }
        let _ = done_tx.send(());
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut buf);
        }
        buf
    });
    let timed_out = matches!(done_rx.recv_timeout(timeout), Err(mpsc::RecvTimeoutError::Timeout));
    let status = loop {
        if timed_out || Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let _ = out_reader.join();
            let _ = err_reader.join();
            bail!("`{what}` did not finish within {} s: gave up", timeout.as_secs());
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(Duration::from_micros(200)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("`{what}`: wait failed: {e}");
            }
        }
    };
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    Ok(Output { code: status.code(), stdout, stderr, elapsed })
}

/// [`exec`], failing unless the tool exits 0.
pub fn exec_ok(program: &Path, args: &[&str], timeout: Duration) -> Result<Output> {
    let out = exec(program, args, timeout)?;
    if out.code != Some(0) {
        let how = out.code.map_or("killed by a signal".to_string(), |c| format!("exit {c}"));
        let printed = [out.stderr.trim(), out.stdout.trim()].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" / ");
        bail!("`{}` failed ({how}): {printed}", describe(program, args));
    }
    Ok(out)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn captures_output_and_exit_code() {
        let out = exec(Path::new("/bin/sh"), &["-c", "echo hi; echo oops >&2; exit 3"], Duration::from_secs(10)).expect("runs");
        assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (Some(3), "hi\n", "oops\n"));
        assert!(exec_ok(Path::new("/bin/sh"), &["-c", "exit 1"], Duration::from_secs(10)).is_err());
    }

    #[test]
    fn kills_a_tool_past_its_deadline() {
        let started = Instant::now();
        let e = exec(Path::new("/bin/sleep"), &["30"], Duration::from_millis(200)).expect_err("times out");
        assert!(e.to_string().contains("did not finish"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
