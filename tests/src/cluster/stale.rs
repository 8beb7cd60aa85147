//! Leftovers of runs that died before their destructors ran (a test binary killed by a timeout or by
//! hand): every run removes those of dead runs before it starts.
//!
//! A run is recognised by its name `ovne2e-<pid>-<n>`: when no process `<pid>` exists, it is dead. Its
//! namespaces carry the name, and every daemon it started has one of its dirs on its command line (the
//! cluster's temp dir, or the NB/SB servers' temp dirs, listed in the file [`OWNED_DIRS`] of the cluster's
//! temp dir). Only those processes are killed, by pid.

use std::path::{Path, PathBuf};

use super::netns::PREFIX;
use super::tool;
use crate::run;

/// The file, in a cluster's temp dir, listing the other temp dirs whose daemons belong to the cluster.
pub(crate) const OWNED_DIRS: &str = "owned-dirs";

/// The file that marks a cluster's temp dir as kept on purpose (`OVN_E2E_KEEP`): never removed.
pub(crate) const KEPT: &str = "kept";

/// Records the temp dirs (besides `cluster_dir` itself) whose daemons belong to the cluster.
pub(crate) fn record(cluster_dir: &Path, dirs: &[&Path]) {
    let text: String = dirs.iter().map(|d| format!("{}\n", d.display())).collect();
    let path = cluster_dir.join(OWNED_DIRS);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The pid of the run that named something `ovne2e-<pid>-…`, if it is no longer running.
fn dead_owner(name: &str) -> Option<u32> {
    let pid = name.strip_prefix(PREFIX)?.split('-').next()?.parse::<u32>().ok()?;
    let alive = pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists();
    (!alive).then_some(pid)
}

/// Removes what dead runs left: their processes, namespaces and temp dirs.
pub(crate) fn remove_stale() {
    let ip = tool("ip");
    let kill = |pid: &str| {
        let _ = run(&tool("kill"), &["-KILL", pid], &[]);
    };

    // Daemons, found by the dirs on their command lines.
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if dead_owner(&name).is_none() || e.path().join(KEPT).exists() {
                continue;
            }
            let owned = std::fs::read_to_string(e.path().join(OWNED_DIRS)).unwrap_or_default();
            dirs.extend(owned.lines().filter(|l| !l.is_empty()).map(PathBuf::from));
            dirs.push(e.path());
        }
    }
    if !dirs.is_empty() {
        let needles: Vec<String> = dirs.iter().map(|d| format!("{}/", d.display())).collect();
        if let Ok(procs) = std::fs::read_dir("/proc") {
            for p in procs.flatten() {
                let pid = p.file_name().to_string_lossy().into_owned();
                if !pid.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline);
                if needles.iter().any(|n| cmdline.contains(n.as_str())) {
                    kill(&pid);
                }
            }
        }
        for d in &dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    // Namespaces, with whatever still runs inside them.
    let listed = run(&ip, &["netns", "list"], &[]);
    for line in listed.stdout.lines() {
        let Some(name) = line.split_whitespace().next() else { continue };
        if dead_owner(name).is_none() {
            continue;
        }
        for pid in run(&ip, &["netns", "pids", name], &[]).stdout.split_whitespace() {
            kill(pid);
        }
        let _ = run(&ip, &["netns", "del", name], &[]);
    }
}
