//! Shared test fixtures: real `ovsdb-server`s in temp dirs, the programs the tests need, and the paths of
//! the scenario files in `fixtures/`.
//!
//! A missing program is a failure that names the program and the Debian package that has it, never a skip.

pub mod bench;
pub mod cluster;
pub mod ovsdb_server;
pub mod process;
pub mod vswitch;

use std::path::{Path, PathBuf};
use std::process::Command;

pub use ovsdb_server::OvsdbServer;
pub use process::Daemon;
pub use vswitch::Vswitch;

/// Which Debian package provides a program the tests run.
fn package_of(program: &str) -> &'static str {
    match program {
        "ovn-nbctl" | "ovn-sbctl" | "ovn-trace" => "ovn-common",
        "ovn-northd" => "ovn-central",
        "ovn-controller" => "ovn-host",
        "unshare" => "util-linux",
        "ovs-appctl" | "ovs-ofctl" => "openvswitch-common",
        _ => "openvswitch-switch",
    }
}

/// The full path of a program on PATH; panics with what to install when it is missing.
pub fn require(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")]) {
        let p = dir.join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!("required program `{program}` is not installed: run scripts/install-deps.sh (Debian package {})", package_of(program));
}

/// One of the workspace's own programs (`northd`, `nbctl`, `controller`, `flowgen`), from the target
/// directory this test runs from. `cargo test --workspace` builds them all; a test run of one package
/// alone may not, and then this says so.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    let p = dir.join(name);
    assert!(p.is_file(), "{} is not built: run `cargo build --bins` (or the whole `cargo test --workspace`)", p.display());
    p
}

/// The workspace root (where `fixtures/` is).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A file under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    workspace_root().join("fixtures").join(rel)
}

/// The result of running a program.
#[derive(Debug, Clone)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Panics with the program's output unless it exited 0.
    pub fn ok(self) -> Ran {
        assert_eq!(self.code, 0, "command failed:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

/// Runs a program with arguments (and extra environment), capturing its output.
pub fn run(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Splits `ovn-nbctl show` text into its top-level blocks (one per switch or router), sorted, so two
/// outputs can be compared without depending on the order in which the tool walked its tables.
pub fn show_blocks(text: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for line in text.lines() {
        if !line.starts_with(' ') || blocks.is_empty() {
            blocks.push(String::new());
        }
        if let Some(b) = blocks.last_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    blocks.sort();
    blocks
}

/// Compares `actual` with the golden file `fixtures/<rel>`; with `UPDATE_GOLDEN=1` in the environment,
/// writes `actual` there instead (read the diff before committing it).
pub fn golden(rel: &str, actual: &str) {
    let path = fixture(rel);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("golden file {} is missing ({e}); run with UPDATE_GOLDEN=1 to create it", path.display()));
    if expected != actual {
        let diff: Vec<String> = diff_lines(&expected, actual);
        panic!("{} differs from the output (run with UPDATE_GOLDEN=1 to accept):\n{}", path.display(), diff.join("\n"));
    }
}

/// The lines only in one of two texts, marked - (expected) and + (actual).
pub fn diff_lines(expected: &str, actual: &str) -> Vec<String> {
    let e: std::collections::BTreeSet<&str> = expected.lines().collect();
    let a: std::collections::BTreeSet<&str> = actual.lines().collect();
    e.difference(&a).map(|l| format!("- {l}")).chain(a.difference(&e).map(|l| format!("+ {l}"))).collect()
}

/// An OpenFlow flow's text with its conjunction ids blanked (`conjunction(N,...)`, `conj_id=N`): they depend
/// on the order flows were compiled in, so comparisons of two computations ignore them.
pub fn blank_conj_ids(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("conjunction(").or_else(|| rest.find("conj_id=")) {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let keep = if tail.starts_with("conj_id=") { "conj_id=" } else { "conjunction(" };
        out.push_str(keep);
        out.push('N');
        rest = tail[keep.len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}
