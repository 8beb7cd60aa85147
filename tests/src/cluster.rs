//! End-to-end clusters: the seed scenario's three hypervisors, its underlay and its outside network, each a
//! network namespace on this machine, running REAL Open vSwitch and a choice of northd and controller.
//!
//! ```text
//!   NB ovsdb-server ──▶ northd (OVN's ovn-northd, or ours) ──▶ SB ovsdb-server    plain child processes of
//!                                                                ▲                the test; the SB's unix
//!          ┌────────────────────────────┬────────────────────────┘                socket is a file, reached
//!          │                            │                          │              from every namespace
//!   ns n1 (gateway chassis)      ns n2                      ns n3
//!   ovsdb-server, ovs-vswitchd   ovsdb-server, ovs-vswitchd ovsdb-server, ovs-vswitchd
//!   controller                   controller                 controller
//!   br-int br-phy br-external    br-int br-phy              br-int br-phy (br-external: distributed NAT)
//!                                  └ pod2 (ns of its own)     └ testvm (ns of its own)
//!   eth0 ──────────────────────── eth0 ─────────────────────── eth0    ns underlay: Linux bridge,
//!                                                                      Geneve over 172.31.0.0/24
//!   enp8s0 ─────────────────────────────────────────────────── enp8s0  ns outside: Linux bridge br0,
//!                                                                      192.168.100.1/24
//! ```
//!
//! Why this shape: a test must see what a user sees (ping works, the packet crossed that NIC with that
//! address), so everything runs for real — but many tests run at once on one machine, so each cluster lives
//! in namespaces and temp dirs of its own, named `ovne2e-<pid>-<n>-…`, and [`Cluster`] tears everything down
//! on drop, also when the test panics (and prints [`Cluster::diagnostics`] first).
//!
//! Which northd computes the Southbound ([`Northd`]) and which controller runs on each node ([`Controller`])
//! are choices of the [`ClusterBuilder`], so the same scenario checks OVN's daemons (the reference) and ours.
//!
//! ```no_run
//! use std::time::Duration;
//! use tests::cluster::{seed, ClusterBuilder, NatMode, Northd, Site};
//! let mut c = ClusterBuilder::new().northd(Northd::Ovn).nat_mode(NatMode::Distributed).build();
//! c.load_seed_topology(&tests::require("ovn-nbctl"));
//! c.add_seed_workloads();
//! c.wait_port_up(seed::TESTVM.lsp, Duration::from_secs(30));
//! assert!(c.wait_ping(Site::Outside, seed::FIP, Duration::from_secs(20)).all_received());
//! ```

mod capture;
mod daemon;
mod netns;
mod node;
pub mod scenario;
mod stale;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use capture::{Capture, Packets};
pub use daemon::Daemon;
pub use netns::Netns;
pub use node::Node;

use daemon::wait_for;
use netns::PREFIX;
use node::{os_args, NodeSpec};

use crate::{fixture, require, run, OvsdbServer, Ran};

/// Which program turns the Northbound into the Southbound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Northd {
    /// OVN's `ovn-northd` (Debian package ovn-central), the reference.
    Ovn,
    /// Another program, started as `PATH --nb-db=unix:NB --sb-db=unix:SB ARGS…` (our `northd`). Its
    /// stdout and stderr are its log. It inherits the test's environment (e.g. `RUST_LOG`).
    Program { path: PathBuf, args: Vec<String> },
}

/// Which program runs on a node as its controller (chassis agent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Controller {
    /// OVN's `ovn-controller` (Debian package ovn-host).
    Ovn,
    /// Another program, started inside the node's namespace like `ovn-controller`: `PATH unix:OVSDB ARGS…`,
    /// where OVSDB is the node's Open_vSwitch database. Like `ovn-controller` it finds everything else in
    /// that database's `Open_vSwitch` row: `external_ids:system-id`, `ovn-remote` (the SB),
    /// `ovn-encap-type`/`ovn-encap-ip`, `ovn-bridge-mappings`, `ovn-bridge-datapath-type=netdev`. `br-int`
    /// already exists (netdev, `fail_mode=secure`); its OpenFlow socket is `$OVS_RUNDIR/br-int.mgmt`, and
    /// `OVS_RUNDIR` (like `OVN_RUNDIR` and the log/db dirs) is the node's dir. Stdout and stderr are its log.
    Program { path: PathBuf, args: Vec<String> },
}

/// Where the floating IP's NAT happens (the seed topology's `NAT_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatMode {
    /// On the gateway chassis n1: only n1 has a NIC on the outside network.
    Centralized,
    /// On the chassis of the VM (n3), with the FIP's own MAC: n3 gets a NIC on the outside network and
    /// `ovn-bridge-mappings` too.
    Distributed,
}

impl NatMode {
    /// The value of `NAT_MODE` for `fixtures/seed/topology.sh`.
    pub fn as_str(self) -> &'static str {
        match self {
            NatMode::Centralized => "centralized",
            NatMode::Distributed => "distributed",
        }
    }
}

/// A namespace of the cluster, to run commands or captures in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site<'a> {
    /// A node (hypervisor) by chassis name: `n1`, `n2`, `n3`. Its NICs are [`UNDERLAY_NIC`] and, on nodes
    /// connected to the outside, [`EXTERNAL_NIC`].
    Node(&'a str),
    /// The workload (VM/pod) bound to this logical switch port, see [`Cluster::add_vif`].
    Workload(&'a str),
    /// The outside network's host (192.168.100.1 on [`OUTSIDE_IFACE`]).
    Outside,
    /// The underlay's switch (a Linux bridge `br0` with one port per node, named after the node).
    Underlay,
}

impl fmt::Display for Site<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Site::Node(n) => write!(f, "node {n}"),
            Site::Workload(lsp) => write!(f, "workload {lsp}"),
            Site::Outside => f.write_str("outside"),
            Site::Underlay => f.write_str("underlay"),
        }
    }
}

/// A node's NIC to the underlay (a port of its `br-phy`).
pub const UNDERLAY_NIC: &str = "eth0";
/// A node's NIC to the outside network (a port of its `br-external`).
pub const EXTERNAL_NIC: &str = "enp8s0";
/// The outside host's interface: a Linux bridge joining the gateway nodes' NICs, holding 192.168.100.1/24.
pub const OUTSIDE_IFACE: &str = "br0";
/// MTU of the workloads' interfaces: below the underlay's 1500 by more than Geneve's overhead.
pub const WORKLOAD_MTU: &str = "1400";

/// The seed scenario (`fixtures/seed/topology.sh`): its addresses and where its workloads run.
pub mod seed {
    /// A workload: the logical switch port it binds and how its interface is configured.
    #[derive(Debug, Clone, Copy)]
    pub struct Vif {
        pub lsp: &'static str,
        /// The chassis it runs on.
        pub node: &'static str,
        pub mac: &'static str,
        pub ip: &'static str,
        pub cidr: &'static str,
        pub gateway: &'static str,
    }
    /// The VM of the scenario, target of the floating IP.
    pub const TESTVM: Vif =
        Vif { lsp: "testvm.default", node: "n3", mac: "00:00:00:F3:5D:F1", ip: "100.0.0.14", cidr: "100.0.0.14/16", gateway: "100.0.0.1" };
    /// A pod on another node.
    pub const POD2: Vif =
        Vif { lsp: "pod2.default", node: "n2", mac: "00:00:00:F3:5D:F2", ip: "100.0.0.15", cidr: "100.0.0.15/16", gateway: "100.0.0.1" };
    /// The nodes, in order; node `nK` has tunnel IP `172.31.0.K`.
    pub const NODES: [&str; 3] = ["n1", "n2", "n3"];
    /// The chassis of the router's gateway port.
    pub const GATEWAY_CHASSIS: &str = "n1";
    /// The router's gateway port `ovn-cluster-external`.
    pub const ROUTER_EXTERNAL_IP: &str = "192.168.100.254";
    pub const ROUTER_EXTERNAL_MAC: &str = "16:52:f3:13:6a:25";
    /// The floating IP of testvm, and the MAC it uses when the NAT is distributed.
    pub const FIP: &str = "192.168.100.101";
    pub const FIP_EXTERNAL_MAC: &str = "0a:00:00:00:01:01";
    /// The outside host (the router's default route points at it).
    pub const OUTSIDE_IP: &str = "192.168.100.1";
    pub const OUTSIDE_CIDR: &str = "192.168.100.1/24";
}

/// The full path of a program the harness runs; panics naming the Debian package when it is missing.
pub fn tool(program: &str) -> PathBuf {
    let package = match program {
        "ip" => "iproute2",
        "ping" => "iputils-ping",
        "tcpdump" => "tcpdump",
        "kill" => "procps",
        "bash" => "bash",
        _ => return require(program),
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin"), PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("required program `{program}` is not installed: run scripts/install-deps.sh (Debian package {package})"))
}

/// Configures and starts a [`Cluster`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    northd: Northd,
    nat_mode: NatMode,
    controller: Controller,
    node_controllers: Vec<(String, Controller)>,
    /// Nodes given a NIC on the outside network besides the ones the NAT mode implies.
    nics: Vec<String>,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ClusterBuilder {
    /// OVN's northd and controllers, centralized NAT.
    pub fn new() -> ClusterBuilder {
        ClusterBuilder {
            northd: Northd::Ovn,
            nat_mode: NatMode::Centralized,
            controller: Controller::Ovn,
            node_controllers: Vec::new(),
            nics: Vec::new(),
        }
    }

    pub fn northd(mut self, northd: Northd) -> Self {
        self.northd = northd;
        self
    }

    /// Decides which nodes get a NIC on the outside network (n1, plus n3 when distributed), and the
    /// `NAT_MODE` of [`Cluster::load_seed_topology`].
    pub fn nat_mode(mut self, mode: NatMode) -> Self {
        self.nat_mode = mode;
        self
    }

    /// The controller of every node without its own choice.
    pub fn controller(mut self, controller: Controller) -> Self {
        self.controller = controller;
        self
    }

    /// Gives `node` a NIC on the outside network too (e.g. a second gateway chassis).
    pub fn nic(mut self, node: &str) -> Self {
        assert!(seed::NODES.contains(&node), "no node {node}: the nodes are {:?}", seed::NODES);
        self.nics.push(node.to_string());
        self
    }

    /// The controller of one node (e.g. ours on n3 and OVN's elsewhere, sharing one overlay).
    pub fn node_controller(mut self, node: &str, controller: Controller) -> Self {
        assert!(seed::NODES.contains(&node), "no node {node}: the nodes are {:?}", seed::NODES);
        self.node_controllers.push((node.to_string(), controller));
        self
    }

    /// Starts NB and SB, the northd, the underlay and outside networks and the three nodes, and waits until
    /// every node's chassis is registered in the SB. The Northbound is empty: see
    /// [`Cluster::load_seed_topology`].
    pub fn build(self) -> Cluster {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        stale::remove_stale();
        let name = format!("{PREFIX}{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let dir = tempfile::Builder::new().prefix(&format!("{name}-")).tempdir().expect("temp dir");
        // Unix socket paths are limited to 107 bytes; `<dir>/n1/br-int.mgmt` must fit.
        assert!(dir.path().as_os_str().len() < 80, "temp dir path {} is too long for unix sockets: set TMPDIR=/tmp", dir.path().display());
        let started = Instant::now();
        let say = |msg: &str| eprintln!("[{:6.2}s {name}] {msg}", started.elapsed().as_secs_f64());

        let nb = OvsdbServer::with_schema(Path::new("/usr/share/ovn/ovn-nb.ovsschema"), false);
        let sb = OvsdbServer::with_schema(Path::new("/usr/share/ovn/ovn-sb.ovsschema"), false);
        stale::record(dir.path(), &[nb.dir(), sb.dir()]);
        let northd = start_northd(&self.northd, dir.path(), &nb.remote(), &sb.remote());
        say(&format!("NB {}, SB {}, northd {:?}", nb.remote(), sb.remote(), self.northd));
        // Controllers start against a Southbound northd has initialised (SB_Global), as in a deployment
        // where the central services come up first.
        let sbctl = require("ovn-sbctl");
        let sbdb = format!("--db={}", sb.remote());
        wait_for(Duration::from_secs(10), "SB_Global written by northd", || {
            !run(&sbctl, &[&sbdb, "--bare", "--columns=_uuid", "list", "SB_Global"], &[]).stdout.trim().is_empty()
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));

        let underlay = Netns::new(&format!("{name}-underlay"));
        underlay.ip(&["link", "add", "br0", "type", "bridge"]).ok();
        underlay.ip(&["link", "set", "br0", "up"]).ok();
        let outside = Netns::new(&format!("{name}-outside"));
        outside.ip(&["link", "add", OUTSIDE_IFACE, "type", "bridge"]).ok();
        outside.ip(&["addr", "add", seed::OUTSIDE_CIDR, "dev", OUTSIDE_IFACE]).ok();
        outside.ip(&["link", "set", OUTSIDE_IFACE, "up"]).ok();

        let mut nodes = Vec::new();
        for (i, node) in seed::NODES.iter().enumerate() {
            let external = *node == seed::GATEWAY_CHASSIS
                || (self.nat_mode == NatMode::Distributed && *node == seed::TESTVM.node)
                || self.nics.iter().any(|n| n == node);
            let controller = self
                .node_controllers
                .iter()
                .rev()
                .find(|(n, _)| n == node)
                .map(|(_, c)| c.clone())
                .unwrap_or_else(|| self.controller.clone());
            nodes.push(Node::start(NodeSpec {
                name: node.to_string(),
                tunnel_ip: format!("172.31.0.{}", i + 1),
                sb_remote: sb.remote(),
                controller,
                external: external.then_some(&outside),
                underlay: &underlay,
                netns_name: format!("{name}-{node}"),
                dir: dir.path().join(node),
            }));
            say(&format!("node {node} up{}", if external { " (with a NIC on the outside network)" } else { "" }));
        }

        let cluster = Cluster {
            name,
            started,
            nat_mode: self.nat_mode,
            nodes,
            workloads: Vec::new(),
            northd,
            outside,
            underlay,
            sb,
            nb,
            dir: Some(dir),
        };
        let names = seed::NODES;
        cluster.wait(Duration::from_secs(30), "every chassis in the SB", || {
            let r = cluster.ovn_sbctl(&["--bare", "--columns=name", "list", "Chassis"]);
            names.iter().all(|n| r.stdout.lines().any(|l| l.trim() == *n))
        });
        cluster.say("all chassis registered");
        cluster
    }
}

fn start_northd(northd: &Northd, cluster_dir: &Path, nb: &str, sb: &str) -> Daemon {
    let dir = cluster_dir.join("northd");
    std::fs::create_dir_all(&dir).expect("northd dir");
    let d = dir.display().to_string();
    let daemon = match northd {
        Northd::Ovn => Daemon::start(
            "ovn-northd",
            None,
            &require("ovn-northd"),
            os_args(&[
                &format!("--ovnnb-db={nb}"),
                &format!("--ovnsb-db={sb}"),
                &format!("--pidfile={d}/ovn-northd.pid"),
                &format!("--unixctl={d}/ovn-northd.ctl"),
                &format!("--log-file={d}/ovn-northd.log"),
                "-vconsole:off",
                "--no-chdir",
            ]),
            &dir,
            Some(dir.join("ovn-northd.log")),
        ),
        Northd::Program { path, args } => {
            assert!(path.is_file(), "northd program {} does not exist (build it first)", path.display());
            let mut a = os_args(&[&format!("--nb-db={nb}"), &format!("--sb-db={sb}")]);
            a.extend(args.iter().map(Into::into));
            Daemon::start("northd", None, path, a, &dir, None)
        }
    };
    std::thread::sleep(Duration::from_millis(50));
    daemon.assert_running();
    daemon
}

/// A workload: a VIF (internal port of br-int) moved into a namespace of its own.
struct Workload {
    lsp: String,
    node: String,
    port: String,
    ns: Netns,
}

/// A running cluster (see the module documentation). Everything stops and is deleted when it is dropped;
/// if the thread is panicking (a failed assertion), [`Cluster::diagnostics`] is printed first. Set
/// `OVN_E2E_KEEP=1` to keep the temp dir (databases, logs) for a post-mortem.
pub struct Cluster {
    name: String,
    started: Instant,
    nat_mode: NatMode,
    nodes: Vec<Node>,
    workloads: Vec<Workload>,
    northd: Daemon,
    outside: Netns,
    underlay: Netns,
    sb: OvsdbServer,
    nb: OvsdbServer,
    dir: Option<tempfile::TempDir>,
}

impl Cluster {
    /// The run-unique name, prefix of every namespace of the cluster.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn nat_mode(&self) -> NatMode {
        self.nat_mode
    }

    /// The cluster's temp dir: `northd/`, `n1/`… with each daemon's sockets and logs.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().map(tempfile::TempDir::path).unwrap_or(Path::new("/nonexistent"))
    }

    /// Prints a progress line with the time since the cluster started (visible with `--nocapture`).
    pub fn say(&self, msg: &str) {
        eprintln!("[{:6.2}s {}] {msg}", self.started.elapsed().as_secs_f64(), self.name);
    }

    /// `unix:PATH` of the Northbound database.
    pub fn nb_remote(&self) -> String {
        self.nb.remote()
    }

    /// `unix:PATH` of the Southbound database.
    pub fn sb_remote(&self) -> String {
        self.sb.remote()
    }

    /// The Northbound database server (e.g. for [`OvsdbServer::dump`]).
    pub fn nb(&self) -> &OvsdbServer {
        &self.nb
    }

    /// The Southbound database server.
    pub fn sb(&self) -> &OvsdbServer {
        &self.sb
    }

    /// OVN's `ovn-nbctl --db=<NB> ARGS…`
    pub fn ovn_nbctl(&self, args: &[&str]) -> Ran {
        self.nb.ovn_nbctl(args)
    }

    /// OVN's `ovn-sbctl --db=<SB> ARGS…`
    pub fn ovn_sbctl(&self, args: &[&str]) -> Ran {
        let db = format!("--db={}", self.sb.remote());
        let all: Vec<&str> = std::iter::once(db.as_str()).chain(args.iter().copied()).collect();
        run(&require("ovn-sbctl"), &all, &[])
    }

    /// Writes the seed topology into the NB with `fixtures/seed/topology.sh`, using `nbctl` (OVN's
    /// `ovn-nbctl` or our `nbctl`) and the cluster's NAT mode.
    pub fn load_seed_topology(&self, nbctl: &Path) {
        let cmd = format!("{} --db={}", nbctl.display(), self.nb.remote());
        let script = fixture("seed/topology.sh");
        let r = run(&tool("bash"), &[script.to_str().expect("utf-8 path")], &[("NBCTL", &cmd), ("NAT_MODE", self.nat_mode.as_str())]);
        assert_eq!(r.code, 0, "{} failed:\n{}{}", script.display(), r.stdout, r.stderr);
        self.say(&format!("seed topology loaded ({} NAT, with {})", self.nat_mode.as_str(), nbctl.display()));
    }

    /// The seed's workloads: testvm.default on n3 and pod2.default on n2.
    pub fn add_seed_workloads(&mut self) {
        for v in [seed::TESTVM, seed::POD2] {
            self.add_vif(v.node, v.lsp, v.mac, v.cidr, v.gateway);
        }
    }

    /// Plugs a workload for logical switch port `lsp` into `node`: an internal port of br-int with
    /// `external_ids:iface-id=<lsp>` (what the controller binds), moved into a namespace of its own and
    /// configured with `mac`, `ip_cidr` (e.g. `100.0.0.14/16`), a default route via `gateway` and MTU
    /// [`WORKLOAD_MTU`]. The interface is named after the port (`testvm.default` -> `testvm`). Returns the
    /// namespace's name; [`Site::Workload`]`(lsp)` refers to it.
    pub fn add_vif(&mut self, node: &str, lsp: &str, mac: &str, ip_cidr: &str, gateway: &str) -> String {
        let port: String =
            lsp.split('.').next().unwrap_or(lsp).chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(15).collect();
        assert!(!port.is_empty(), "cannot name an interface after {lsp}");
        assert!(!self.workloads.iter().any(|w| w.port == port || w.lsp == lsp), "a workload named {port} ({lsp}) already exists");
        let n = self.node(node);
        let iface_id = format!("external_ids:iface-id={lsp}");
        n.vsctl(&["add-port", "br-int", &port, "--", "set", "interface", &port, "type=internal", &iface_id]).ok();
        let ns = Netns::new(&format!("{}-w-{port}", self.name));
        n.netns().ip(&["link", "set", &port, "netns", ns.name()]).ok();
        ns.ip(&["link", "set", &port, "address", mac, "mtu", WORKLOAD_MTU, "up"]).ok();
        ns.ip(&["addr", "add", ip_cidr, "dev", &port]).ok();
        ns.ip(&["route", "add", "default", "via", gateway]).ok();
        let name = ns.name().to_string();
        self.say(&format!("workload {lsp} on {node}: {port} {mac} {ip_cidr} via {gateway}"));
        self.workloads.push(Workload { lsp: lsp.to_string(), node: node.to_string(), port, ns });
        name
    }

    /// The node named `name` (`n1`…); panics if there is none.
    pub fn node(&self, name: &str) -> &Node {
        self.nodes.iter().find(|n| n.name() == name).unwrap_or_else(|| panic!("no node {name}"))
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The northd daemon.
    pub fn northd(&self) -> &Daemon {
        &self.northd
    }

    /// The namespace name of a site.
    pub fn netns(&self, site: Site<'_>) -> &str {
        match site {
            Site::Node(n) => self.node(n).netns().name(),
            Site::Workload(lsp) => {
                self.workloads.iter().find(|w| w.lsp == lsp).map(|w| w.ns.name()).unwrap_or_else(|| panic!("no workload for {lsp}"))
            }
            Site::Outside => self.outside.name(),
            Site::Underlay => self.underlay.name(),
        }
    }

    /// The name of the interface of the workload bound to `lsp`.
    pub fn workload_iface(&self, lsp: &str) -> &str {
        self.workloads.iter().find(|w| w.lsp == lsp).map(|w| w.port.as_str()).unwrap_or_else(|| panic!("no workload for {lsp}"))
    }

    /// Runs a command inside a site's namespace: `ip netns exec NS ARGS…`.
    pub fn exec(&self, site: Site<'_>, args: &[&str]) -> Ran {
        if let Some(p) = args.first() {
            tool(p);
        }
        netns::exec_in(self.netns(site), args)
    }

    /// `ping -c COUNT -W 1 -i 0.2 DST` from a site: bounded, about COUNT/5 + 1 seconds at most.
    pub fn ping(&self, from: Site<'_>, dst: &str, count: u32) -> Ping {
        let c = count.to_string();
        let r = self.exec(from, &["ping", "-n", "-c", &c, "-W", "1", "-i", "0.2", dst]);
        let (transmitted, received) = parse_ping(&r.stdout);
        Ping { from: from.to_string(), dst: dst.to_string(), transmitted, received, output: format!("{}{}", r.stdout, r.stderr) }
    }

    /// Pings once at a time until one ping is answered or `timeout` passes (the network converges a few
    /// seconds after the ports are up: flows, ARP, MAC learning); returns the last attempt.
    pub fn wait_ping(&self, from: Site<'_>, dst: &str, timeout: Duration) -> Ping {
        let t0 = Instant::now();
        loop {
            let attempt = Instant::now();
            let p = self.ping(from, dst, 1);
            if p.all_received() || t0.elapsed() >= timeout {
                self.say(&format!(
                    "{from} -> {dst}: {} after {:.1}s",
                    if p.all_received() { "answered" } else { "NO ANSWER" },
                    t0.elapsed().as_secs_f64()
                ));
                return p;
            }
            self.assert_daemons_running();
            // An immediate failure (no route, no ARP answer yet) must not spin.
            std::thread::sleep(Duration::from_millis(200).saturating_sub(attempt.elapsed()));
        }
    }

    /// Starts `tcpdump -n -e -l -i IFACE FILTER` in a site's namespace; returns once it is listening.
    pub fn start_capture(&self, site: Site<'_>, iface: &str, filter: &str) -> Capture {
        Capture::start(self.netns(site), iface, filter)
    }

    /// Captures on `iface` of `site` while `action` runs: tcpdump starts listening before it and stops a
    /// moment after it. Returns what the action returned and the packets seen. Nest calls to capture on
    /// several interfaces at once.
    pub fn capture<T>(&self, site: Site<'_>, iface: &str, filter: &str, action: impl FnOnce() -> T) -> (T, Packets) {
        let cap = self.start_capture(site, iface, filter);
        let out = action();
        (out, cap.stop())
    }

    /// Waits until the SB says the port is up (`Port_Binding.up`, set by the controller that bound it once
    /// its flows are installed); panics after `timeout`.
    pub fn wait_port_up(&self, lsp: &str, timeout: Duration) {
        let t0 = Instant::now();
        self.wait(timeout, &format!("Port_Binding {lsp} up"), || {
            let r = self.ovn_sbctl(&["--bare", "--columns=up", "find", "Port_Binding", &format!("logical_port={lsp}")]);
            r.stdout.trim() == "true"
        });
        self.say(&format!("{lsp} is up after {:.1}s", t0.elapsed().as_secs_f64()));
    }

    /// Polls `check` until it holds; panics after `timeout`, or at once when a daemon has died.
    pub fn wait(&self, timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
        let r = wait_for(timeout, what, || {
            self.assert_daemons_running();
            check()
        });
        if let Err(e) = r {
            panic!("{}: {e}", self.name);
        }
    }

    /// Every daemon of the cluster.
    pub fn daemons(&self) -> impl Iterator<Item = &Daemon> {
        std::iter::once(&self.northd).chain(self.nodes.iter().flat_map(Node::daemons))
    }

    /// Panics naming the first daemon that is no longer running.
    pub fn assert_daemons_running(&self) {
        for d in self.daemons() {
            d.assert_running();
        }
    }

    /// The first things to read when a check fails (a failure report may be cut short): which chassis
    /// each bound port is on (by name), the outside's neighbour table, and per node its flow count,
    /// tunnel neighbours and latest warnings.
    fn summary(&self) -> String {
        let chassis = self.ovn_sbctl(&["--bare", "--columns=_uuid,name", "--format=csv", "--no-headings", "list", "Chassis"]);
        let names: Vec<(String, String)> =
            chassis.stdout.lines().filter_map(|l| l.split_once(',')).map(|(u, n)| (u.trim().to_string(), n.trim().to_string())).collect();
        let bound = self.ovn_sbctl(&[
            "--bare",
            "--columns=logical_port,chassis,up",
            "--format=csv",
            "--no-headings",
            "find",
            "Port_Binding",
            "chassis!=[]",
        ]);
        let mut s = String::from("===== first look: bound ports (port, chassis, up)\n");
        for line in bound.stdout.lines() {
            let named = names.iter().fold(line.to_string(), |l, (u, n)| l.replace(u, n));
            s.push_str(&format!("{named}\n"));
        }
        let neigh = netns::exec_in(self.outside.name(), &["ip", "neigh"]);
        s.push_str(&format!("--- outside's neighbours\n{}", neigh.stdout));
        for n in &self.nodes {
            s.push_str(&n.summary());
        }
        s
    }

    /// What to look at when a check fails: the SB as `ovn-sbctl show` sees it, the port bindings, the
    /// northd's log, and per node the bridges, the number of flows in br-int and the controller's log; the
    /// outside and the workloads' addresses and neighbour tables.
    pub fn diagnostics(&self) -> String {
        let mut s = format!(
            "########## diagnostics of {} ({} NAT) after {:.1}s, dir {}\n",
            self.name,
            self.nat_mode.as_str(),
            self.started.elapsed().as_secs_f64(),
            self.dir().display()
        );
        for d in self.daemons() {
            if let Some(how) = d.exited() {
                s.push_str(&format!("!!! {} {how}\n", d.name()));
            }
        }
        s.push_str(&self.summary());
        let sb = self.ovn_sbctl(&["show"]);
        s.push_str(&format!("===== ovn-sbctl show\n{}{}", sb.stdout, sb.stderr));
        let pb = self.ovn_sbctl(&["--columns=logical_port,type,chassis,up", "--format=table", "list", "Port_Binding"]);
        s.push_str(&format!("===== SB Port_Binding\n{}{}", pb.stdout, pb.stderr));
        let lflows = self.ovn_sbctl(&["--bare", "--columns=_uuid", "list", "Logical_Flow"]);
        s.push_str(&format!("===== SB logical flows: {}\n", lflows.stdout.lines().filter(|l| !l.trim().is_empty()).count()));
        let nb = self.ovn_nbctl(&["show"]);
        s.push_str(&format!("===== ovn-nbctl show\n{}{}", nb.stdout, nb.stderr));
        s.push_str(&format!("===== northd\n{}", self.northd.log_tail(20)));
        for n in &self.nodes {
            s.push_str(&n.diagnostics());
        }
        let mut sites = vec![("outside".to_string(), self.outside.name())];
        sites.extend(self.workloads.iter().map(|w| (format!("workload {} on {}", w.lsp, w.node), w.ns.name())));
        for (what, ns) in sites {
            let a = netns::exec_in(ns, &["ip", "-br", "addr"]);
            let r = netns::exec_in(ns, &["ip", "route"]);
            let n = netns::exec_in(ns, &["ip", "neigh"]);
            s.push_str(&format!("===== {what} ({ns})\n{}{}--- neighbours\n{}", a.stdout, r.stdout, n.stdout));
        }
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.diagnostics());
        }
        // Daemons first (ovs-vswitchd's end removes the workloads' tap devices), then the namespaces.
        self.nodes.clear();
        self.workloads.clear();
        self.northd.stop();
        if std::env::var_os("OVN_E2E_KEEP").is_some() {
            if let Some(d) = self.dir.take() {
                let _ = std::fs::write(d.path().join(stale::KEPT), "");
                eprintln!("{}: kept {}", self.name, d.keep().display());
            }
        }
    }
}

/// The outcome of one `ping` run.
#[derive(Debug, Clone)]
pub struct Ping {
    pub from: String,
    pub dst: String,
    pub transmitted: u32,
    pub received: u32,
    /// ping's stdout and stderr.
    pub output: String,
}

impl Ping {
    /// Every echo request was answered.
    pub fn all_received(&self) -> bool {
        self.transmitted > 0 && self.received == self.transmitted
    }
}

impl fmt::Display for Ping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ping from {} to {}: {}/{} answered\n{}", self.from, self.dst, self.received, self.transmitted, self.output)
    }
}

/// `(transmitted, received)` from ping's summary line "3 packets transmitted, 2 received, …".
fn parse_ping(out: &str) -> (u32, u32) {
    let Some(line) = out.lines().find(|l| l.contains("packets transmitted")) else { return (0, 0) };
    let mut nums = line.split(',').map(|part| part.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0));
    (nums.next().unwrap_or(0), nums.next().unwrap_or(0))
}

#[cfg(test)]
mod unit {
    use super::parse_ping;

    #[test]
    fn ping_summary() {
        assert_eq!(parse_ping("--- x ping statistics ---\n3 packets transmitted, 2 received, 33% packet loss, time 401ms\n"), (3, 2));
        assert_eq!(parse_ping("1 packets transmitted, 0 received, +1 errors, 100% packet loss"), (1, 0));
        assert_eq!(parse_ping("connect: Network is unreachable"), (0, 0));
    }
}
