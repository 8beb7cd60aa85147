//! Real databases (and a real `ovs-vswitchd`) for the controller's database tests.
//!
//! - [`Switch`]: an `ovsdb-server` with the `Open_vSwitch` schema, initialised like `ovs-vsctl init`, and
//!   optionally an `ovs-vswitchd` serving it, so interfaces get real OpenFlow port numbers.
//! - [`snapshot`] reads a whole database into a [`Replica`] (one `monitor_cond`, then cancel), [`apply`]
//!   runs a planned transaction.
//!
//! `ovs-vswitchd` runs with `--enable-dummy=override`: every datapath is OVS's in-process dummy one, so no
//! kernel module, no tap device and no network namespace is needed, and tests (ours and other people's,
//! running on the same machine) do not fight over the single `ovs-netdev` tap device the userspace datapath
//! creates. Port numbers, patch-port links and tunnel configuration are handled by the same bridge code.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controller::config::LocalConfig;
use controller::tables::{ovs, sb};
use model::ovsdb::{Client, Replica, Transaction};
use serde_json::json;
use tests::{require, run, OvsdbServer, Ran};

pub const VSWITCH_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Reads every table of `db` at `remote` into a replica.
pub fn snapshot(remote: &str, db: &str) -> Replica {
    rt().block_on(async {
        let client = Client::connect(remote).await.expect("connect");
        let schema = Arc::new(client.get_schema(db).await.expect("schema"));
        let mut r = Replica::new(Arc::clone(&schema));
        let tables: Vec<&str> = schema.tables.keys().map(String::as_str).collect();
        let initial = client.monitor_cond(db, json!("snapshot"), r.monitor_requests(&tables)).await.expect("monitor_cond");
        let stats = r.apply_update2(&initial).expect("initial contents");
        assert_eq!(stats.rejected, 0, "rows of {db} broke its schema");
        let _ = client.monitor_cancel(json!("snapshot")).await;
        r
    })
}

/// Runs a planned transaction, panicking with the server's error.
pub fn apply(remote: &str, db: &str, txn: &Transaction) {
    if txn.is_empty() {
        return;
    }
    rt().block_on(async {
        let client = Client::connect(remote).await.expect("connect");
        client.transact(db, txn).await.unwrap_or_else(|e| panic!("transaction on {db} failed: {e}\n{:#?}", txn.ops));
    })
}

/// Polls `check` every 50 ms for up to 10 s.
pub fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A program run as a child process with the switch's directories in its environment, killed on drop.
pub struct Proc {
    child: Child,
    pub log: std::path::PathBuf,
}

impl Proc {
    pub fn start(program: &str, args: &[String], dir: &Path, log: &Path) -> Proc {
        let child = Command::new(require(program))
            .args(args)
            .envs([("OVS_RUNDIR", dir), ("OVS_LOGDIR", dir), ("OVS_DBDIR", dir), ("OVN_RUNDIR", dir), ("OVN_LOGDIR", dir)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        Proc { child, log: log.to_path_buf() }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A local Open vSwitch: its database and, optionally, `ovs-vswitchd`.
pub struct Switch {
    // Field order: the daemon goes before its database.
    pub vswitchd: Option<Proc>,
    pub db: OvsdbServer,
}

impl Switch {
    /// A database only (no ports get OpenFlow numbers).
    pub fn db_only() -> Switch {
        let s = Switch { vswitchd: None, db: OvsdbServer::with_schema(Path::new(VSWITCH_SCHEMA), false) };
        s.vsctl(&["--no-wait", "init"]).ok();
        s
    }

    /// A database served by a running `ovs-vswitchd`.
    pub fn with_vswitchd() -> Switch {
        let mut s = Switch::db_only();
        let d = s.db.dir().to_path_buf();
        let p = |name: &str| d.join(name).display().to_string();
        let log = d.join("ovs-vswitchd.log");
        let mut proc = Proc::start(
            "ovs-vswitchd",
            &[
                "--enable-dummy=override".to_string(),
                "--disable-system".to_string(),
                format!("--pidfile={}", p("ovs-vswitchd.pid")),
                format!("--unixctl={}", p("ovs-vswitchd.ctl")),
                format!("--log-file={}", log.display()),
                "-vconsole:off".to_string(),
                "--no-chdir".to_string(),
                s.db.remote(),
            ],
            &d,
            &log,
        );
        // ovs-vsctl (without --no-wait) returns once ovs-vswitchd has applied the configuration.
        let r = s.vsctl(&["--timeout=20", "set", "open", ".", "external_ids:test=1"]);
        assert!(proc.is_running() && r.code == 0, "ovs-vswitchd did not come up: {r:?}\n{}", proc.log_text());
        s.vswitchd = Some(proc);
        s
    }

    pub fn remote(&self) -> String {
        self.db.remote()
    }

    pub fn dir(&self) -> &Path {
        self.db.dir()
    }

    /// `ovs-vsctl --db=... ARGS` (waits for ovs-vswitchd when one runs and `--no-wait` is not given).
    pub fn vsctl(&self, args: &[&str]) -> Ran {
        let db = format!("--db={}", self.db.remote());
        let mut all: Vec<&str> = vec![db.as_str()];
        if self.vswitchd.is_none() && !args.contains(&"--no-wait") {
            all.push("--no-wait");
        }
        all.extend_from_slice(args);
        run(&require("ovs-vsctl"), &all, &[])
    }

    /// Sets `Open_vSwitch` external_ids.
    pub fn configure(&self, ids: &[(&str, &str)]) {
        let kv: Vec<String> = ids.iter().map(|(k, v)| format!("external_ids:{k}=\"{v}\"")).collect();
        let mut args = vec!["set", "open", "."];
        args.extend(kv.iter().map(String::as_str));
        self.vsctl(&args).ok();
    }

    pub fn snapshot(&self) -> Replica {
        snapshot(&self.remote(), ovs::DB_NAME)
    }

    pub fn config(&self) -> LocalConfig {
        LocalConfig::from_ovs(&self.snapshot()).expect("local configuration")
    }

    pub fn apply(&self, txn: &Transaction) {
        apply(&self.remote(), ovs::DB_NAME, txn);
    }

    /// The OpenFlow port of interface `name`, once ovs-vswitchd assigned one.
    pub fn wait_ofport(&self, name: &str) -> i64 {
        let mut port = -1;
        wait_for(&format!("an ofport for {name}"), || {
            port = self.vsctl(&["--no-wait", "get", "interface", name, "ofport"]).stdout.trim().parse().unwrap_or(-1);
            port > 0
        });
        port
    }
}

/// The Southbound side.
pub struct Southbound {
    pub db: OvsdbServer,
}

impl Southbound {
    pub fn new() -> Southbound {
        Southbound { db: OvsdbServer::southbound() }
    }

    pub fn remote(&self) -> String {
        self.db.remote()
    }

    pub fn snapshot(&self) -> Replica {
        snapshot(&self.remote(), sb::DB_NAME)
    }

    pub fn apply(&self, txn: &Transaction) {
        apply(&self.remote(), sb::DB_NAME, txn);
    }

    /// `ovn-sbctl ARGS`, which must succeed; its stdout.
    pub fn sbctl(&self, args: &[&str]) -> String {
        self.db.ovn_sbctl(args).ok().stdout
    }

    /// One column of one row, `--bare`.
    pub fn get(&self, table: &str, record: &str, column: &str) -> String {
        self.sbctl(&["--bare", &format!("--columns={column}"), "list", table, record]).trim().to_string()
    }
}

impl Default for Southbound {
    fn default() -> Self {
        Self::new()
    }
}
