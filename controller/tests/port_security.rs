//! Port security on real Open vSwitch. OVN 23.03's own `ovn-northd` writes the Southbound (its
//! `reg0[15] = check_in_port_sec()` / `check_out_port_sec()` flows, so this does not depend on our northd),
//! our controller hosts every VIF on one chassis, and `ovs-appctl ofproto/trace` follows packets through
//! `br-int`:
//!
//! - vm1 (`port_security="00:00:00:00:00:01 10.0.0.11"`) reaches vm2 from its own address, ARPs as itself
//!   and asks DHCP from 0.0.0.0; a spoofed IPv4 source, a spoofed MAC and a spoofed ARP sender address are
//!   dropped (by table 73/74's verdict);
//! - vm2 (no port security) reaches vm1's address, but not another address behind vm1's MAC (table 75);
//! - adding 10.0.0.99 to vm1's port security lets that source through and changes no other port's flows.
//!
//! Then OVN's own `ovn-controller` takes over the same chassis, and its tables 73-75 for the same
//! Southbound (ports with MAC-only, IPv4, network, several-entry and IPv6 port security) are compared with
//! ours flow by flow. One known difference is mapped, not ignored: OVN 23.03.1 writes `nw_ttl=225` in its
//! neighbour discovery flows where the ND hop limit is 255 (see `controller/src/port_security.rs`).

use std::path::Path;
use std::time::{Duration, Instant};

use tests::{require, Daemon, OvsdbServer, Vswitch};

/// (logical port, MAC, IP, port_security entries).
const PORTS: &[(&str, &str, &str, &[&str])] = &[
    ("vm1", "00:00:00:00:00:01", "10.0.0.11", &["00:00:00:00:00:01 10.0.0.11"]),
    ("vm2", "00:00:00:00:00:02", "10.0.0.12", &[]),
    ("vm3", "00:00:00:00:00:03", "10.0.0.13", &["00:00:00:00:00:03"]),
    ("vm4", "00:00:00:00:00:04", "10.0.1.4", &["00:00:00:00:00:04 10.0.1.0/24 10.0.2.5", "00:00:00:00:00:44 10.0.0.44"]),
    ("vm5", "00:00:00:00:00:05", "10.0.0.15", &["00:00:00:00:00:05 10.0.0.15 fd00::5 fd01::/64"]),
    ("vm6", "00:00:00:00:00:06", "10.0.0.16", &["00:00:00:00:00:06 10.0.0.16/24 fd02::6/64"]),
    ("vm7", "00:00:00:00:00:07", "10.0.0.17", &["00:00:00:00:00:07 fd00::7"]),
];
const VM1_MAC: &str = "00:00:00:00:00:01";
const VM2_MAC: &str = "00:00:00:00:00:02";

/// Polls `check` every 200 ms until it holds; panics naming `what` after `timeout`.
fn wait(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !check() {
        assert!(t0.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Tables 73-75 as `ovs-ofctl dump-flows --no-stats` prints them, without cookies, sorted.
fn port_security_tables(sw: &Vswitch) -> Vec<String> {
    let mut lines: Vec<String> = ["73", "74", "75"]
        .iter()
        .flat_map(|t| {
            sw.ofctl("dump-flows", &["--no-stats", &format!("table={t}")]).ok().stdout.lines().map(str::to_string).collect::<Vec<_>>()
        })
        .filter(|l| !l.contains("reply"))
        .map(|l| {
            let l = l.trim();
            l.strip_prefix("cookie=").and_then(|rest| rest.split_once(", ")).map_or(l, |(_, r)| r).to_string()
        })
        .collect();
    lines.sort();
    lines
}

/// Waits until `read` gives the same non-empty answer for a second.
fn settled(what: &str, mut read: impl FnMut() -> Vec<String>) -> Vec<String> {
    let mut last = Vec::new();
    let mut since = Instant::now();
    wait(Duration::from_secs(90), what, || {
        let now = read();
        if now != last {
            last = now;
            since = Instant::now();
        }
        !last.is_empty() && since.elapsed() > Duration::from_secs(1)
    });
    last
}

/// Where `ofproto/trace` says a packet ends up.
#[derive(Debug)]
struct Trace {
    text: String,
}

impl Trace {
    fn dropped(&self) -> bool {
        self.text.lines().any(|l| l.trim() == "Datapath actions: drop")
    }

    /// Whether the trace outputs to OpenFlow port `ofport` (the VIF's).
    fn outputs_to(&self, ofport: &str) -> bool {
        self.text.lines().any(|l| l.trim() == format!("output:{ofport}"))
    }

    /// Whether a flow of table `t` took part (`73. reg14=0x1,...`).
    fn visits(&self, t: u8) -> bool {
        self.text.lines().any(|l| l.trim_start().starts_with(&format!("{t}. ")))
    }
}

struct Chassis {
    nb: OvsdbServer,
    sb: OvsdbServer,
    _northd: Daemon,
    sw: Vswitch,
}

impl Chassis {
    fn nbctl(&self, args: &[&str]) {
        self.nb.ovn_nbctl(args).ok();
    }

    fn ofport(&self, iface: &str) -> String {
        self.sw.vsctl(&["get", "Interface", iface, "ofport"]).ok().stdout.trim().to_string()
    }

    fn tunnel_key(&self, lport: &str) -> String {
        let key =
            self.sb.ovn_sbctl(&["--bare", "--columns=tunnel_key", "find", "Port_Binding", &format!("logical_port={lport}")]).ok().stdout;
        format!("{:#x}", key.trim().parse::<u32>().unwrap_or_else(|e| panic!("tunnel key of {lport}: {key:?}: {e}")))
    }

    fn trace(&self, from: &str, packet: &str) -> Trace {
        let flow = format!("in_port={},{packet}", self.ofport(from));
        Trace { text: self.sw.appctl(&["ofproto/trace", "br-int", &flow]).ok().stdout }
    }

    fn all_up(&self) -> bool {
        let up = self.sb.ovn_sbctl(&["--bare", "--columns=up", "list", "Port_Binding"]).ok().stdout;
        up.split_whitespace().filter(|w| *w == "true").count() == PORTS.len()
    }

    /// Tables 73-75 once every port is up and they stopped changing.
    fn settled_tables(&self, who: &str) -> Vec<String> {
        wait(Duration::from_secs(90), &format!("every port up under {who}"), || self.all_up());
        settled(&format!("tables 73-75 under {who}"), || port_security_tables(&self.sw))
    }
}

/// NB and SB servers, OVN's ovn-northd, and br-int with one internal port per VIF (ofports in `PORTS`
/// order), configured as chassis `hv1`.
fn start() -> Chassis {
    let nb = OvsdbServer::nb();
    let sb = OvsdbServer::southbound();
    let d = nb.dir().display().to_string();
    let northd = Daemon::start_with_env(
        &require("ovn-northd"),
        &[
            &format!("--ovnnb-db={}", nb.remote()),
            &format!("--ovnsb-db={}", sb.remote()),
            &format!("--pidfile={d}/ovn-northd.pid"),
            &format!("--unixctl={d}/ovn-northd.ctl"),
            &format!("--log-file={d}/ovn-northd.log"),
            "-vconsole:off",
            "--no-chdir",
        ],
        &[("OVN_RUNDIR", &d)],
        None,
    );
    let mut args = vec!["ls-add".to_string(), "sw".to_string()];
    for (lsp, mac, ip, ps) in PORTS {
        args.extend(["--", "lsp-add", "sw", lsp, "--", "lsp-set-addresses", lsp, &format!("{mac} {ip}")].map(String::from));
        if !ps.is_empty() {
            args.extend(["--", "lsp-set-port-security", lsp].map(String::from));
            args.extend(ps.iter().map(|e| e.to_string()));
        }
    }
    let c = Chassis { sw: Vswitch::start("br-int"), nb, sb, _northd: northd };
    c.nbctl(&args.iter().map(String::as_str).collect::<Vec<_>>());
    for (lsp, ..) in PORTS {
        c.sw.vsctl(&["add-port", "br-int", lsp, "--", "set", "Interface", lsp, "type=internal", &format!("external_ids:iface-id={lsp}")])
            .ok();
    }
    c.sw.vsctl(&[
        "set",
        "Open_vSwitch",
        ".",
        "external_ids:system-id=hv1",
        &format!("external_ids:ovn-remote={}", c.sb.remote()),
        "external_ids:ovn-encap-type=geneve",
        "external_ids:ovn-encap-ip=127.0.0.1",
    ])
    .ok();
    c
}

fn start_ours(c: &Chassis) -> Daemon {
    let rundir = c.sw.dir().display().to_string();
    Daemon::start_with_env(
        Path::new(env!("CARGO_BIN_EXE_controller")),
        &[&c.sw.db_remote()],
        &[("OVS_RUNDIR", &rundir)],
        Some(&c.sw.dir().join("controller.log")),
    )
}

fn start_ovn(c: &Chassis) -> Daemon {
    let d = c.sw.dir().display().to_string();
    // No --unixctl: OVN 23.03's ovn-controller rejects it; its control socket goes to $OVN_RUNDIR.
    Daemon::start_with_env(
        &require("ovn-controller"),
        &[
            &c.sw.db_remote(),
            &format!("--pidfile={d}/ovn-controller.pid"),
            &format!("--log-file={d}/ovn-controller.log"),
            "-vconsole:off",
            "--no-chdir",
        ],
        &[("OVS_RUNDIR", &d), ("OVN_RUNDIR", &d)],
        None,
    )
}

/// An IPv4 packet (ICMP echo) at L2.
fn ip4(src_mac: &str, dst_mac: &str, src: &str, dst: &str) -> String {
    format!("dl_src={src_mac},dl_dst={dst_mac},icmp,nw_src={src},nw_dst={dst},nw_ttl=64,icmp_type=8,icmp_code=0")
}

/// A broadcast ARP request.
fn arp(sha: &str, spa: &str, tpa: &str) -> String {
    format!("dl_src={sha},dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_op=1,arp_sha={sha},arp_spa={spa},arp_tpa={tpa},arp_tha=00:00:00:00:00:00")
}

#[test]
fn port_security_drops_spoofed_traffic_and_matches_ovn_controller() {
    let c = start();
    let ours = start_ours(&c);
    let before = c.settled_tables("our controller");
    let (vm1, vm2) = (c.ofport("vm1"), c.ofport("vm2"));
    let key1 = c.tunnel_key("vm1");

    let mut failed = Vec::new();
    let mut check = |what: &str, ok: bool, t: &Trace| {
        println!("{what}: {}", if ok { "ok" } else { "WRONG" });
        if !ok {
            failed.push(format!("{what}\n{}", t.text));
        }
    };
    let t = c.trace("vm1", &ip4(VM1_MAC, VM2_MAC, "10.0.0.11", "10.0.0.12"));
    check("vm1 -> vm2 from its own address is delivered", t.outputs_to(&vm2), &t);
    let t = c.trace("vm1", &ip4(VM1_MAC, VM2_MAC, "10.0.0.99", "10.0.0.12"));
    check("vm1 -> vm2 from a spoofed ip4.src is dropped by table 73", t.dropped() && t.visits(73) && !t.outputs_to(&vm2), &t);
    let t = c.trace("vm1", &ip4("00:00:00:00:00:99", VM2_MAC, "10.0.0.11", "10.0.0.12"));
    check("vm1 -> vm2 from a spoofed eth.src is dropped", t.dropped() && t.visits(73), &t);
    let t = c.trace("vm1", &arp(VM1_MAC, "10.0.0.11", "10.0.0.12"));
    check("vm1's ARP request as itself is answered or flooded", !t.dropped() && t.visits(74), &t);
    let t = c.trace("vm1", &arp(VM1_MAC, "10.0.0.99", "10.0.0.12"));
    check("vm1's ARP with a spoofed arp.spa is dropped by table 74", t.dropped() && t.visits(74), &t);
    let dhcp =
        format!("dl_src={VM1_MAC},dl_dst=ff:ff:ff:ff:ff:ff,udp,nw_src=0.0.0.0,nw_dst=255.255.255.255,nw_ttl=64,udp_src=68,udp_dst=67");
    let t = c.trace("vm1", &dhcp);
    check("vm1's DHCP discover from 0.0.0.0 passes", !t.dropped(), &t);
    let t = c.trace("vm2", &ip4(VM2_MAC, VM1_MAC, "10.0.0.12", "10.0.0.11"));
    check("vm2 -> vm1's address is delivered", t.outputs_to(&vm1), &t);
    let t = c.trace("vm2", &ip4(VM2_MAC, VM1_MAC, "10.0.0.12", "10.0.0.99"));
    check("vm2 -> an address vm1 does not own is dropped by table 75", t.dropped() && t.visits(75) && !t.outputs_to(&vm1), &t);

    // One port's change: its flows follow, no other port's move.
    c.nbctl(&["lsp-set-port-security", "vm1", "00:00:00:00:00:01 10.0.0.11 10.0.0.99"]);
    let after = settled("vm1's new port security", || {
        let t = port_security_tables(&c.sw);
        if t.iter().any(|l| l.contains("nw_src=10.0.0.99")) {
            t
        } else {
            Vec::new()
        }
    });
    let others = |lines: &[String]| -> Vec<String> {
        lines.iter().filter(|l| !l.contains(&format!("reg14={key1},")) && !l.contains(&format!("reg15={key1},"))).cloned().collect()
    };
    let unchanged = others(&before) == others(&after);
    let t = c.trace("vm1", &ip4(VM1_MAC, VM2_MAC, "10.0.0.99", "10.0.0.12"));
    check("after adding 10.0.0.99 to vm1, that source is delivered", t.outputs_to(&vm2), &t);
    println!("other ports' flows unchanged by vm1's change: {unchanged}");
    assert!(failed.is_empty(), "failed:\n{}\ncontroller log:\n{}", failed.join("\n\n"), ours.log_text());
    assert!(unchanged, "vm1's change touched other ports' flows:\nbefore {before:#?}\nafter {after:#?}");

    // The same chassis under OVN's ovn-controller: it reprograms br-int from scratch.
    drop(ours);
    c.sw.ofctl("del-flows", &[]).ok();
    let _ovn = start_ovn(&c);
    let raw = c.settled_tables("ovn-controller");
    let mapped = raw.iter().filter(|l| l.contains("nw_ttl=225,")).count();
    let theirs: Vec<String> = raw.iter().map(|l| l.replace("nw_ttl=225,", "nw_ttl=255,")).collect();
    let diff = tests::diff_lines(&theirs.join("\n"), &after.join("\n"));
    assert!(diff.is_empty(), "tables 73-75 differ (- ovn-controller, + ours):\n{}", diff.join("\n"));
    println!("tables 73-75: {} flows, the same as ovn-controller's ({mapped} of its ND flows with nw_ttl=225 read as 255)", after.len());
}
