//! One simulated hypervisor: a network namespace with its own `ovsdb-server` (Open_vSwitch schema),
//! `ovs-vswitchd` on the userspace datapath, and a controller.
//!
//! ```text
//!   node namespace nK                                  underlay namespace
//!   ┌────────────────────────────────────────────┐     ┌──────────────┐
//!   │ br-int (netdev)  ◀─ controller programs it │     │  br0 (Linux) │
//!   │   VIF internal ports → workload namespaces │     │   nK ◀───────┼── veth
//!   │   ovn-<chassis>-0 Geneve ports             │     └──────────────┘
//!   │ br-phy (netdev): eth0 ─────────────────────┼──────────▲
//!   │   tunnel IP 172.31.0.K/24 on br-phy        │
//!   │ br-external (netdev, gateway nodes only):  │     outside namespace
//!   │   enp8s0 ──────────────────────────────────┼───▶ br0 (Linux) 192.168.100.1/24
//!   └────────────────────────────────────────────┘
//! ```
//!
//! The userspace datapath (`--disable-system`, bridges with `datapath_type=netdev`) keeps every node
//! independent of the kernel's openvswitch module: each `ovs-vswitchd` reads and writes its ports with
//! AF_PACKET / tap file descriptors and does Geneve, conntrack and NAT itself. Tunnel packets leave through
//! `br-phy` because that is where the tunnel IP's route points (OVS's "native tunneling").

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::daemon::{wait_for, Daemon};
use super::netns::{veth, Netns};
use super::{tool, Controller};
use crate::{require, run, Ran};

/// What the cluster tells a node when it starts it.
pub(crate) struct NodeSpec<'a> {
    pub name: String,
    /// Tunnel (Geneve encap) IP, without prefix length.
    pub tunnel_ip: String,
    /// `unix:PATH` of the Southbound database.
    pub sb_remote: String,
    pub controller: Controller,
    /// Connect this node to the outside network (`br-external` + `ovn-bridge-mappings=external:br-external`).
    pub external: Option<&'a Netns>,
    pub underlay: &'a Netns,
    pub netns_name: String,
    pub dir: PathBuf,
}

/// A running node. Dropping it stops its controller, `ovs-vswitchd` and `ovsdb-server` (in that order: the
/// field order) and then deletes its namespace.
pub struct Node {
    name: String,
    tunnel_ip: String,
    dir: PathBuf,
    controller: Option<Daemon>,
    vswitchd: Daemon,
    ovsdb: Daemon,
    ns: Netns,
}

impl Node {
    pub(crate) fn start(spec: NodeSpec<'_>) -> Node {
        let NodeSpec { name, tunnel_ip, sb_remote, controller, external, underlay, netns_name, dir } = spec;
        std::fs::create_dir_all(&dir).expect("node dir");
        let ns = Netns::new(&netns_name);
        let d = dir.display().to_string();

        // The node's own Open_vSwitch database.
        let conf = format!("{d}/conf.db");
        run(&require("ovsdb-tool"), &["create", &conf, "/usr/share/openvswitch/vswitch.ovsschema"], &[]).ok();
        let sock = dir.join("db.sock");
        let ovsdb = Daemon::start(
            &format!("{name}-ovsdb-server"),
            Some(ns.name()),
            &require("ovsdb-server"),
            os_args(&[
                &format!("--remote=punix:{d}/db.sock"),
                &format!("--pidfile={d}/ovsdb-server.pid"),
                &format!("--unixctl={d}/ovsdb-server.ctl"),
                &format!("--log-file={d}/ovsdb-server.log"),
                "-vconsole:off",
                "--no-chdir",
                &conf,
            ]),
            &dir,
            Some(dir.join("ovsdb-server.log")),
        );
        if let Err(e) =
            wait_for(Duration::from_secs(10), "the node's ovsdb-server socket", || std::os::unix::net::UnixStream::connect(&sock).is_ok())
        {
            panic!("{name}: {e}\n{}", ovsdb.log_tail(20));
        }

        let mut node = Node {
            name: name.clone(),
            tunnel_ip: tunnel_ip.clone(),
            dir: dir.clone(),
            controller: None,
            vswitchd: Daemon::start(
                &format!("{name}-ovs-vswitchd"),
                Some(ns.name()),
                &require("ovs-vswitchd"),
                os_args(&[
                    "--disable-system",
                    &format!("--pidfile={d}/ovs-vswitchd.pid"),
                    &format!("--unixctl={d}/ovs-vswitchd.ctl"),
                    &format!("--log-file={d}/ovs-vswitchd.log"),
                    "-vconsole:off",
                    "--no-chdir",
                    &format!("unix:{d}/db.sock"),
                ]),
                &dir,
                Some(dir.join("ovs-vswitchd.log")),
            ),
            ovsdb,
            ns,
        };
        // `init` without waiting (ovs-vswitchd may not have connected yet); every later ovs-vsctl call waits
        // until ovs-vswitchd has applied it, so the bridges' tap devices exist when it returns.
        node.vsctl(&["--no-wait", "init"]).ok();

        // Underlay: eth0 in br-phy, the tunnel IP on br-phy's internal port.
        veth(&node.ns, "eth0", underlay, &name);
        underlay.ip(&["link", "set", &name, "master", "br0"]).ok();
        node.vsctl(&["add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev", "--", "add-port", "br-phy", "eth0"]).ok();
        node.ns.ip(&["addr", "add", &format!("{tunnel_ip}/24"), "dev", "br-phy"]).ok();
        node.ns.ip(&["link", "set", "br-phy", "up"]).ok();

        // br-int exists before the controller starts, so VIFs can be added at once and it is a netdev bridge
        // whoever creates it. fail_mode=secure: no NORMAL forwarding before the controller's flows arrive.
        node.vsctl(&[
            "add-br",
            "br-int",
            "--",
            "set",
            "bridge",
            "br-int",
            "datapath_type=netdev",
            "fail_mode=secure",
            "other_config:disable-in-band=true",
        ])
        .ok();

        let mut ids = vec![
            format!("external_ids:system-id={name}"),
            format!("external_ids:hostname={name}"),
            format!("external_ids:ovn-remote={sb_remote}"),
            "external_ids:ovn-encap-type=geneve".to_string(),
            format!("external_ids:ovn-encap-ip={tunnel_ip}"),
            "external_ids:ovn-bridge-datapath-type=netdev".to_string(),
        ];
        if let Some(outside) = external {
            veth(&node.ns, "enp8s0", outside, &name);
            outside.ip(&["link", "set", &name, "master", "br0"]).ok();
            node.vsctl(&[
                "add-br",
                "br-external",
                "--",
                "set",
                "bridge",
                "br-external",
                "datapath_type=netdev",
                "--",
                "add-port",
                "br-external",
                "enp8s0",
            ])
            .ok();
            node.ns.ip(&["link", "set", "br-external", "up"]).ok();
            ids.push("external_ids:ovn-bridge-mappings=external:br-external".to_string());
        }
        let mut set: Vec<&str> = vec!["set", "Open_vSwitch", "."];
        set.extend(ids.iter().map(String::as_str));
        node.vsctl(&set).ok();

        node.controller = Some(node.start_controller(&controller));
        node
    }

    fn start_controller(&self, controller: &Controller) -> Daemon {
        let d = self.dir.display().to_string();
        let ovs = format!("unix:{d}/db.sock");
        let (program, args, log) = match controller {
            Controller::Ovn => (
                require("ovn-controller"),
                // No --unixctl: OVN 23.03's ovn-controller lists it in --help but rejects it; its control
                // socket is $OVN_RUNDIR/ovn-controller.<pid>.ctl, inside the node's dir anyway.
                os_args(&[
                    &format!("--pidfile={d}/ovn-controller.pid"),
                    &format!("--log-file={d}/ovn-controller.log"),
                    "-vconsole:off",
                    "--no-chdir",
                    &ovs,
                ]),
                Some(self.dir.join("ovn-controller.log")),
            ),
            Controller::Program { path, args } => {
                let mut a = os_args(&[&ovs]);
                a.extend(args.iter().map(OsString::from));
                (path.clone(), a, None)
            }
        };
        let daemon = Daemon::start(&format!("{}-controller", self.name), Some(self.ns.name()), &program, args, &self.dir, log);
        std::thread::sleep(Duration::from_millis(50));
        daemon.assert_running();
        daemon
    }

    /// The chassis name (`external_ids:system-id`), e.g. `n1`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's network namespace.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// The node's Geneve endpoint address.
    pub fn tunnel_ip(&self) -> &str {
        &self.tunnel_ip
    }

    /// The node's temp dir: databases, sockets (`<bridge>.mgmt`) and logs of its daemons.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `unix:PATH` of the node's Open_vSwitch database.
    pub fn ovs_remote(&self) -> String {
        format!("unix:{}", self.dir.join("db.sock").display())
    }

    /// `ovs-vsctl` against this node's database (waits for `ovs-vswitchd` unless `--no-wait` is passed;
    /// gives up after 20 s rather than hanging the test).
    pub fn vsctl(&self, args: &[&str]) -> Ran {
        let db = format!("--db={}", self.ovs_remote());
        let all: Vec<&str> = [db.as_str(), "--timeout=20"].into_iter().chain(args.iter().copied()).collect();
        run(&require("ovs-vsctl"), &all, &[])
    }

    /// `ovs-ofctl -O OpenFlow15 CMD unix:<dir>/<bridge>.mgmt ARGS…` (the bridge's OpenFlow management socket).
    pub fn ofctl(&self, cmd: &str, bridge: &str, args: &[&str]) -> Ran {
        let target = format!("unix:{}", self.dir.join(format!("{bridge}.mgmt")).display());
        let all: Vec<&str> = ["-O", "OpenFlow15", cmd, target.as_str()].into_iter().chain(args.iter().copied()).collect();
        run(&require("ovs-ofctl"), &all, &[])
    }

    /// `ovs-appctl -t <ovs-vswitchd control socket> ARGS…`, e.g. `ofproto/trace`, `dpctl/dump-flows`.
    pub fn vswitchd_appctl(&self, args: &[&str]) -> Ran {
        let target = self.dir.join("ovs-vswitchd.ctl").display().to_string();
        let all: Vec<&str> = ["-t", target.as_str()].into_iter().chain(args.iter().copied()).collect();
        run(&require("ovs-appctl"), &all, &[])
    }

    /// `ip netns exec <node namespace> ARGS…`
    pub fn exec(&self, args: &[&str]) -> Ran {
        if let Some(p) = args.first() {
            tool(p);
        }
        self.ns.exec(args)
    }

    /// Kills the node's controller and ovs-vswitchd, as a crashed or powered-off gateway: its tunnels and
    /// NIC go silent, its database rows stay.
    pub fn kill_switch_and_controller(&self) {
        if let Some(c) = &self.controller {
            c.stop();
        }
        self.vswitchd.stop();
    }

    /// The node's daemons, controller first.
    pub fn daemons(&self) -> impl Iterator<Item = &Daemon> {
        self.controller.iter().chain([&self.vswitchd, &self.ovsdb])
    }

    /// A few lines that explain most failures, for the top of a failure report: br-int's flow count, the
    /// tunnel neighbours ovs-vswitchd has resolved, and its daemons' latest warnings and errors.
    pub fn summary(&self) -> String {
        let flows = self.ofctl("dump-flows", "br-int", &[]);
        let neigh = self.vswitchd_appctl(&["tnl/neigh/show"]);
        let mut s = format!(
            "--- {}: {} flows in br-int {}; tunnel neighbours:\n{}",
            self.name,
            flows.stdout.lines().count(),
            flows.stderr.trim(),
            neigh.stdout
        );
        for d in self.daemons() {
            s.push_str(&d.log_problems(6));
        }
        s
    }

    /// The node's state for a failure report: bridges and ports, number of OpenFlow flows in br-int, and the
    /// end of each daemon's log.
    pub fn diagnostics(&self) -> String {
        let mut s = format!("===== node {} (namespace {}, dir {})\n", self.name, self.ns.name(), self.dir.display());
        for d in self.daemons() {
            if let Some(how) = d.exited() {
                s.push_str(&format!("!!! {} {how}\n", d.name()));
            }
        }
        let show = self.vsctl(&["--no-wait", "show"]);
        s.push_str(&format!("--- ovs-vsctl show\n{}{}", show.stdout, show.stderr));
        let flows = self.ofctl("dump-flows", "br-int", &[]);
        s.push_str(&format!("--- ovs-ofctl dump-flows br-int | wc -l: {} {}\n", flows.stdout.lines().count(), flows.stderr.trim()));
        let addrs = self.ns.ip(&["-br", "addr"]);
        s.push_str(&format!("--- ip -br addr\n{}", addrs.stdout));
        for d in self.daemons() {
            s.push_str(&d.log_tail(if d.name().ends_with("controller") { 40 } else { 15 }));
        }
        s
    }
}

pub(crate) fn os_args(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}
