//! A daemon started for a test, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Daemon {
    child: Child,
    name: String,
    log: Option<PathBuf>,
}

impl Daemon {
    /// Starts `program args...`; stdout and stderr go to `log` when given.
    pub fn start(program: &Path, args: &[&str], log: Option<&Path>) -> Daemon {
        Self::start_with_env(program, args, &[], log)
    }

    /// [`Daemon::start`] with extra environment variables.
    pub fn start_with_env(program: &Path, args: &[&str], env: &[(&str, &str)], log: Option<&Path>) -> Daemon {
        let mut cmd = Command::new(program);
        cmd.envs(env.iter().copied());
        cmd.args(args).stdin(Stdio::null());
        match log {
            Some(p) => {
                let f = std::fs::File::create(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                let f2 = f.try_clone().unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                cmd.stdout(f).stderr(f2);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Daemon { child, name: program.display().to_string(), log: log.map(Path::to_path_buf) }
    }

    /// OVN's own `ovn-northd` translating the Northbound at `nb` into the Southbound at `sb` (remotes), with
    /// its log (`ovn-northd.log`), control socket and console output (`ovn-northd.out`) in `dir`.
    pub fn ovn_northd(nb: &str, sb: &str, dir: &Path) -> Daemon {
        let file = |name: &str| dir.join(name).display().to_string();
        let args = [
            format!("--ovnnb-db={nb}"),
            format!("--ovnsb-db={sb}"),
            format!("--log-file={}", file("ovn-northd.log")),
            format!("--unixctl={}", file("ovn-northd.ctl")),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).chain(["--no-chdir", "-vconsole:off"]).collect();
        Daemon::start(&crate::require("ovn-northd"), &args, Some(&dir.join("ovn-northd.out")))
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The log's text so far (empty without a log).
    pub fn log_text(&self) -> String {
        self.log.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id (of the program itself: it is spawned directly, not through a shell).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
