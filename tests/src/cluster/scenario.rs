//! The seed scenario's checks, what a user of the KubeVirt + Kube-OVN setup checks with `ping` and
//! `tcpdump`:
//!
//! 1. pod2 (n2) reaches testvm (n3) through a Geneve tunnel;
//! 2. the outside reaches the router's external IP 192.168.100.254;
//! 3. the outside reaches testvm through its floating IP 192.168.100.101, and testvm reaches the outside;
//! 4. the outside sees testvm's traffic coming from the floating IP;
//! 5. centralized NAT: the FIP traffic crosses the gateway n1's NIC; distributed NAT: it crosses n3's own
//!    NIC (with the FIP's MAC), not n1's;
//! 6. hairpin: testvm reaches its own floating IP (the router sends the traffic back in from its gateway
//!    port, SNATed to the FIP and DNATed to testvm).
//!
//! They live in the library so the same checks run with OVN's daemons (tests/tests/seed_e2e.rs, the
//! reference) and with ours (northd/tests/seed_e2e.rs).

use std::path::Path;
use std::time::Duration;

use super::{seed, Capture, Cluster, ClusterBuilder, NatMode, Northd, Packets, Site, EXTERNAL_NIC, OUTSIDE_IFACE, UNDERLAY_NIC};

/// How long the network may take to converge after the ports are up.
const CONVERGE: Duration = Duration::from_secs(20);
/// Echo requests per checked ping.
const COUNT: u32 = 5;

/// Runs every check of the seed scenario with the given northd, the topology made by `nbctl` (our nbctl
/// or OVN's `ovn-nbctl`), in one NAT mode. Panics with diagnostics on the first failed check.
pub fn seed_scenario(northd: Northd, nbctl: &Path, mode: NatMode) {
    let c = build_seed_cluster(ClusterBuilder::new().northd(northd).nat_mode(mode), nbctl);
    run_seed_checks(&c);
}

/// Starts the cluster, loads the seed topology with `nbctl`, plugs the workloads and waits for them.
pub fn build_seed_cluster(builder: ClusterBuilder, nbctl: &Path) -> Cluster {
    let mut c = builder.build();
    c.load_seed_topology(nbctl);
    c.add_seed_workloads();
    c.wait_port_up(seed::TESTVM.lsp, Duration::from_secs(30));
    c.wait_port_up(seed::POD2.lsp, Duration::from_secs(30));
    c
}

/// Every check of the seed scenario, for the cluster's NAT mode.
pub fn run_seed_checks(c: &Cluster) {
    pod_to_pod_over_geneve(c);
    outside_to_router(c);
    floating_ip(c);
    match c.nat_mode() {
        NatMode::Centralized => fip_crosses_gateway_nic(c),
        NatMode::Distributed => fip_crosses_vm_node_nic(c),
    }
    hairpin_to_own_fip(c);
    c.say("all checks passed");
}

/// Asserts a converged, loss-free ping: first until one echo is answered, then COUNT in a row.
fn assert_ping(c: &Cluster, from: Site<'_>, dst: &str) {
    let first = c.wait_ping(from, dst, CONVERGE);
    assert!(first.all_received(), "{first}");
    let p = c.ping(from, dst, COUNT);
    assert!(p.all_received(), "{p}");
}

/// 1. pod2 on n2 pings testvm on n3; n2's underlay NIC carries the echo requests inside Geneve from n2's
///    tunnel IP to n3's, and the replies back.
fn pod_to_pod_over_geneve(c: &Cluster) {
    let (pod2, testvm) = (Site::Workload(seed::POD2.lsp), seed::TESTVM.ip);
    assert_ping(c, pod2, testvm);
    let (p, pkts) = c.capture(Site::Node("n2"), UNDERLAY_NIC, "udp port 6081", || c.ping(pod2, testvm, COUNT));
    assert!(p.all_received(), "{p}");
    let (n2, n3) = (c.node("n2").tunnel_ip(), c.node("n3").tunnel_ip());
    let requests = pkts.matching(&[&format!("{n2}."), &format!("> {n3}.6081: Geneve"), "100.0.0.15 > 100.0.0.14: ICMP echo request"]);
    let replies = pkts.matching(&[&format!("{n3}."), &format!("> {n2}.6081: Geneve"), "100.0.0.14 > 100.0.0.15: ICMP echo reply"]);
    assert!(
        requests.len() >= COUNT as usize && replies.len() >= COUNT as usize,
        "expected {COUNT} Geneve-encapsulated requests and replies\n{pkts}"
    );
    c.say(&format!(
        "1. pod2 -> testvm over Geneve: {}/{} answered, {} requests and {} replies on n2's {UNDERLAY_NIC}",
        p.received,
        p.transmitted,
        requests.len(),
        replies.len()
    ));
}

/// 2. The outside pings the router's gateway port.
fn outside_to_router(c: &Cluster) {
    assert_ping(c, Site::Outside, seed::ROUTER_EXTERNAL_IP);
    c.say(&format!("2. outside -> router {}: answered", seed::ROUTER_EXTERNAL_IP));
}

/// 3. and 4. The outside pings the FIP and the echo requests reach testvm (DNAT to 100.0.0.14); testvm pings
///    the outside, which sees them coming from the FIP (SNAT), never from 100.0.0.14.
fn floating_ip(c: &Cluster) {
    let testvm = Site::Workload(seed::TESTVM.lsp);
    assert_ping(c, Site::Outside, seed::FIP);
    let (p, at_vm) = c.capture(testvm, c.workload_iface(seed::TESTVM.lsp), "icmp", || c.ping(Site::Outside, seed::FIP, COUNT));
    assert!(p.all_received(), "{p}");
    let arrived = at_vm.matching(&[&format!("{} > {}: ICMP echo request", seed::OUTSIDE_IP, seed::TESTVM.ip)]);
    assert!(
        arrived.len() >= COUNT as usize,
        "the pings to the FIP should reach testvm as {} > {}\n{at_vm}",
        seed::OUTSIDE_IP,
        seed::TESTVM.ip
    );
    c.say(&format!(
        "3. outside -> FIP {}: {}/{} answered; testvm got {} requests for {}",
        seed::FIP,
        p.received,
        p.transmitted,
        arrived.len(),
        seed::TESTVM.ip
    ));

    assert_ping(c, testvm, seed::OUTSIDE_IP);
    let (p, outside) = c.capture(Site::Outside, OUTSIDE_IFACE, "icmp", || c.ping(testvm, seed::OUTSIDE_IP, COUNT));
    assert!(p.all_received(), "{p}");
    let from_fip = outside.matching(&[&format!("{} > {}: ICMP echo request", seed::FIP, seed::OUTSIDE_IP)]);
    assert!(from_fip.len() >= COUNT as usize, "the outside should see testvm's pings coming from the FIP {}\n{outside}", seed::FIP);
    assert!(!outside.any(&[seed::TESTVM.ip]), "testvm's own address {} must not reach the outside\n{outside}", seed::TESTVM.ip);
    c.say(&format!(
        "3./4. testvm -> outside: {}/{} answered; the outside saw {} requests from {}",
        p.received,
        p.transmitted,
        from_fip.len(),
        seed::FIP
    ));
}

/// The outside pings the FIP while tcpdump listens on the NICs of n1 (and n3 when it has one).
fn capture_fip_on_nics(c: &Cluster, nodes: &[&str]) -> Vec<Packets> {
    let filter = format!("icmp and host {}", seed::FIP);
    let caps: Vec<_> = nodes.iter().map(|n| c.start_capture(Site::Node(n), EXTERNAL_NIC, &filter)).collect();
    let p = c.ping(Site::Outside, seed::FIP, COUNT);
    let pkts = caps.into_iter().map(Capture::stop).collect();
    assert!(p.all_received(), "{p}");
    pkts
}

/// 5. Centralized: the gateway chassis n1 does the NAT; its NIC carries the requests to the FIP and the
///    replies from it, sent with the router port's MAC.
fn fip_crosses_gateway_nic(c: &Cluster) {
    let n1 = capture_fip_on_nics(c, &["n1"]).remove(0);
    let requests = n1.matching(&[&format!("{} > {}: ICMP echo request", seed::OUTSIDE_IP, seed::FIP)]);
    let replies = n1.matching(&[seed::ROUTER_EXTERNAL_MAC, &format!("{} > {}: ICMP echo reply", seed::FIP, seed::OUTSIDE_IP)]);
    assert!(requests.len() >= COUNT as usize && replies.len() >= COUNT as usize, "n1's {EXTERNAL_NIC} should carry the FIP traffic\n{n1}");
    c.say(&format!("5. centralized: n1's {EXTERNAL_NIC} carried {} requests and {} replies of the FIP", requests.len(), replies.len()));
}

/// 5. Distributed: testvm's node n3 does the NAT; its own NIC carries the FIP traffic, the replies with the
///    FIP's MAC, and the gateway n1's NIC sees none of it.
fn fip_crosses_vm_node_nic(c: &Cluster) {
    let mut pkts = capture_fip_on_nics(c, &["n1", "n3"]);
    let (n1, n3) = (pkts.remove(0), pkts.remove(0));
    let requests = n3.matching(&[&format!("{} > {}: ICMP echo request", seed::OUTSIDE_IP, seed::FIP)]);
    let replies = n3.matching(&[seed::FIP_EXTERNAL_MAC, &format!("{} > {}: ICMP echo reply", seed::FIP, seed::OUTSIDE_IP)]);
    assert!(requests.len() >= COUNT as usize && replies.len() >= COUNT as usize, "n3's {EXTERNAL_NIC} should carry the FIP traffic\n{n3}");
    assert!(n1.is_empty(), "with distributed NAT the gateway n1 must not carry the FIP traffic\n{n1}");
    c.say(&format!(
        "5. distributed: n3's {EXTERNAL_NIC} carried {} requests and {} replies (from {}), n1's none",
        requests.len(),
        replies.len(),
        seed::FIP_EXTERNAL_MAC
    ));
}

/// 6. testvm pings its own FIP: the echo requests leave by the gateway port SNATed to the FIP and loop back
///    in, DNATed to testvm, which answers the FIP the same way round.
fn hairpin_to_own_fip(c: &Cluster) {
    assert_ping(c, Site::Workload(seed::TESTVM.lsp), seed::FIP);
    c.say(&format!("6. hairpin: testvm -> its own FIP {}: answered", seed::FIP));
}

/// Gateway failover: n1 (priority 100) and n2 (priority 50) are both gateway chassis with a NIC on the
/// outside; the outside pings the FIP; n1's ovs-vswitchd and controller are killed; the FIP answers again
/// through n2. Returns the outage: the longest gap between two answered pings (sent every 100 ms).
pub fn failover(builder: ClusterBuilder, nbctl: &Path) -> Duration {
    let mut c = builder.nic("n2").build();
    c.load_seed_topology(nbctl);
    let db = format!("--db={}", c.nb_remote());
    crate::run(nbctl, &[&db, "lrp-set-gateway-chassis", "ovn-cluster-external", "n2", "50"], &[]).ok();
    c.add_seed_workloads();
    c.wait_port_up(seed::TESTVM.lsp, Duration::from_secs(30));
    c.wait_port_up(seed::POD2.lsp, Duration::from_secs(30));
    let bound = |c: &Cluster| -> String {
        let r = c.ovn_sbctl(&["--bare", "--columns=chassis", "find", "Port_Binding", "logical_port=cr-ovn-cluster-external"]);
        let ch = r.stdout.trim().to_string();
        c.ovn_sbctl(&["--bare", "--columns=name", "list", "Chassis", &ch]).stdout.trim().to_string()
    };
    // Until the gateways see each other over BFD either may take the gateway port (seen with OVN's
    // ovn-controller: one echo in five lost right after the first answer), so the steady state is
    // checked once the highest-priority gateway has held it for two seconds.
    let deadline = std::time::Instant::now() + CONVERGE;
    let mut held_since = None;
    while std::time::Instant::now() < deadline {
        match (bound(&c) == "n1", held_since) {
            (false, _) => held_since = None,
            (true, None) => held_since = Some(std::time::Instant::now()),
            (true, Some(t)) if t.elapsed() >= Duration::from_secs(2) => break,
            (true, Some(_)) => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(bound(&c), "n1", "the highest-priority gateway hosts the gateway port first");
    assert_ping(&c, Site::Outside, seed::FIP);

    // Ping every 100 ms for 25 s with timestamps, and kill n1 two seconds in.
    let ping = std::process::Command::new(super::tool("ip"))
        .args(["netns", "exec", c.netns(Site::Outside), "ping", "-D", "-n", "-i", "0.1", "-W", "1", "-w", "25", seed::FIP])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start ping");
    std::thread::sleep(Duration::from_secs(2));
    c.node("n1").kill_switch_and_controller();
    c.say("n1's ovs-vswitchd and controller killed");
    let out = ping.wait_with_output().expect("ping output");
    let text = String::from_utf8_lossy(&out.stdout);
    let replies: Vec<f64> = text
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[').and_then(|r| r.split(']').next()).and_then(|t| t.parse().ok()))
        .collect();
    assert!(replies.len() > 20, "the FIP barely answered at all:\n{text}");
    let last = replies.last().copied().unwrap_or(0.0);
    let first = replies.first().copied().unwrap_or(0.0);
    assert!(last - first > 20.0, "the FIP stopped answering after the failover (last answer {:.1}s in)\n{text}", last - first);
    let outage = replies.windows(2).map(|w| w[1] - w[0]).fold(0.0f64, f64::max);
    let after = bound(&c);
    assert_eq!(after, "n2", "n2 took the gateway port over");
    c.say(&format!("failover: the FIP was unreachable for {outage:.2}s; the gateway port moved to {after}"));
    Duration::from_secs_f64(outage)
}
