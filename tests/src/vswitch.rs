//! A real Open vSwitch (ovsdb-server + ovs-vswitchd, userspace datapath) in a temp dir, with one bridge.
//!
//! ovs-vswitchd runs in a network namespace of its own (`unshare --net`): the userspace datapath creates
//! a tap device named `ovs-netdev`, and two switches in one namespace would fight over it. Its management
//! socket is a file, so OpenFlow tools reach it from anywhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{require, run, OvsdbServer, Ran};

pub struct Vswitch {
    db: OvsdbServer,
    child: Option<Child>,
    bridge: String,
}

fn spawn_vswitchd(db: &OvsdbServer) -> Child {
    let d = db.dir().to_path_buf();
    Command::new(require("unshare"))
        .arg("--net")
        .arg(require("ovs-vswitchd"))
        .arg("--disable-system")
        .arg(format!("--log-file={}", d.join("ovs-vswitchd.log").display()))
        .arg(format!("--unixctl={}", d.join("vswitchd.ctl").display()))
        .arg("--no-chdir")
        .arg("-vconsole:off")
        .arg(db.remote())
        .envs([("OVS_RUNDIR", &d), ("OVS_LOGDIR", &d), ("OVS_DBDIR", &d)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ovs-vswitchd")
}

impl Vswitch {
    /// Starts a switch with bridge `bridge` (datapath_type=netdev, OpenFlow 1.0, 1.3 and 1.5).
    pub fn start(bridge: &str) -> Vswitch {
        let db = OvsdbServer::with_schema(Path::new("/usr/share/openvswitch/vswitch.ovsschema"), false);
        let vsctl = require("ovs-vsctl");
        let dbarg = format!("--db={}", db.remote());
        run(&vsctl, &[&dbarg, "--no-wait", "init"], &[]).ok();
        let child = spawn_vswitchd(&db);
        let mut v = Vswitch { db, child: Some(child), bridge: bridge.to_string() };
        run(
            &vsctl,
            &[
                &dbarg,
                "add-br",
                bridge,
                "--",
                "set",
                "bridge",
                bridge,
                "datapath_type=netdev",
                "protocols=OpenFlow10,OpenFlow13,OpenFlow15",
            ],
            &[],
        )
        .ok();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !v.mgmt().exists() {
            assert!(Instant::now() < deadline, "ovs-vswitchd did not create {}", v.mgmt().display());
            std::thread::sleep(Duration::from_millis(20));
        }
        v.bridge = bridge.to_string();
        v
    }

    /// Kills ovs-vswitchd and starts it again on the same database (its flow tables start empty).
    pub fn restart_vswitchd(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.mgmt());
        self.child = Some(spawn_vswitchd(&self.db));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.mgmt().exists() {
            assert!(Instant::now() < deadline, "ovs-vswitchd did not come back");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The bridge's OpenFlow management socket.
    pub fn mgmt(&self) -> PathBuf {
        self.db.dir().join(format!("{}.mgmt", self.bridge))
    }

    /// `unix:<mgmt socket>`, for `ovs-ofctl`.
    pub fn ofctl_target(&self) -> String {
        format!("unix:{}", self.mgmt().display())
    }

    /// Runs `ovs-ofctl -O OpenFlow15 CMD <bridge> ARGS...`.
    pub fn ofctl(&self, cmd: &str, args: &[&str]) -> Ran {
        let target = self.ofctl_target();
        let all: Vec<&str> = ["-O", "OpenFlow15", cmd, target.as_str()].into_iter().chain(args.iter().copied()).collect();
        run(&require("ovs-ofctl"), &all, &[])
    }

    /// The bridge's flows as `ovs-ofctl dump-flows --no-stats` prints them, sorted, without the header.
    pub fn flows(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .ofctl("dump-flows", &["--no-stats"])
            .ok()
            .stdout
            .lines()
            .filter(|l| !l.contains("reply"))
            .map(|l| l.trim().to_string())
            .collect();
        v.sort();
        v
    }

    pub fn dir(&self) -> &Path {
        self.db.dir()
    }

    /// `unix:PATH` of the switch's database.
    pub fn db_remote(&self) -> String {
        self.db.remote()
    }

    /// Runs `ovs-appctl` against this `ovs-vswitchd` (`ofproto/trace br-int FLOW`, `dpctl/dump-flows`, ...).
    pub fn appctl(&self, args: &[&str]) -> Ran {
        let target = self.db.dir().join("vswitchd.ctl").display().to_string();
        let all: Vec<&str> = ["-t", target.as_str()].into_iter().chain(args.iter().copied()).collect();
        run(&require("ovs-appctl"), &all, &[])
    }

    /// Runs `ovs-vsctl` against the switch's database.
    pub fn vsctl(&self, args: &[&str]) -> Ran {
        let db = format!("--db={}", self.db.remote());
        let all: Vec<&str> = std::iter::once(db.as_str()).chain(args.iter().copied()).collect();
        run(&require("ovs-vsctl"), &all, &[])
    }
}

impl Drop for Vswitch {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
