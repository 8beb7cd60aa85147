//! A router's error answers with real packets, on our whole stack (our nbctl, northd and controller):
//! `fixtures/two-switches-router` (router lr0 with 10.1.0.1 on sw1 and 10.2.0.1 on sw2, no gateway port),
//! vm1 (10.1.0.10) on node n2 and vm2 (10.2.0.10) on n3, and from vm1, as a user would check it:
//!
//! - `ping -t 1 vm2` gets "Time to live exceeded" from 10.1.0.1 (the router's `icmp4 { icmp4.type = 11; ... }`);
//! - a TCP connect to either router address is refused at once (`tcp_reset { ... }`);
//! - a UDP datagram to a router address gets "port unreachable" from it (`icmp4 { ... icmp4.code = 3; ... }`),
//!   which the sending socket reports as "Connection refused";
//! - an SCTP INIT to a router address gets an ABORT carrying the INIT's tag (`sctp_abort { ... }`).
//!
//! All three are built by the controller of n2 (pinctrl) from the packet-in and sent back into the
//! pipeline; nothing answers them without it. The kernel of vm1 checks what they carry: it hands an ICMP
//! error to `ping` or to the UDP socket only when the quoted header and first 8 bytes match the probe, and
//! it takes a RST only with a valid checksum and the acknowledgment number its SYN asks for. The same checks run with OVN's `ovn-controller` on the
//! same Southbound as the reference, and vm1 must receive the same answers from both.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tests::cluster::{Cluster, ClusterBuilder, Controller, Northd, Site};

const VM1: &str = "vm1";
const VM2_IP: &str = "10.2.0.10";
const ROUTER_SW1_IP: &str = "10.1.0.1";
const ROUTER_SW2_IP: &str = "10.2.0.1";

/// Our northd and the given controller on every node, the topology, vm1 on n2 and vm2 on n3, and vm1
/// reaching vm2 through the router.
fn start(controller: Controller) -> Cluster {
    let nbctl = tests::workspace_bin("nbctl");
    let northd = Northd::Program { path: tests::workspace_bin("northd"), args: vec![] };
    let mut c = ClusterBuilder::new().northd(northd).controller(controller).build();
    let script = tests::fixture("two-switches-router/topology.sh");
    let cmd = format!("{} --db={}", nbctl.display(), c.nb_remote());
    let r = tests::run(&tests::cluster::tool("bash"), &[script.to_str().expect("utf-8 path")], &[("NBCTL", &cmd)]);
    assert_eq!(r.code, 0, "{} failed:\n{}{}", script.display(), r.stdout, r.stderr);
    c.add_vif("n2", VM1, "00:00:00:00:00:01", "10.1.0.10/24", ROUTER_SW1_IP);
    c.add_vif("n3", "vm2", "00:00:00:00:00:02", "10.2.0.10/24", ROUTER_SW2_IP);
    for lsp in [VM1, "vm2"] {
        c.wait_port_up(lsp, Duration::from_secs(60));
    }
    let p = c.wait_ping(Site::Workload(VM1), VM2_IP, Duration::from_secs(20));
    assert!(p.all_received(), "vm1 does not reach vm2 through the router:\n{}", p.output);
    c
}

/// Runs a bash script in vm1's namespace with arguments `$1`..., after checking that `program` (from
/// Debian package `package`) is there; returns its output (stdout and stderr) and how long it took.
fn in_vm1(c: &Cluster, (program, package): (&str, &str), script: &str, args: &[&str]) -> (String, Duration) {
    let guard = format!("command -v {program} >/dev/null || {{ echo '{program} is not installed (Debian package {package})'; exit 127; }}");
    let script = format!("{guard}; {script}");
    let argv: Vec<&str> = ["bash", "-c", &script, "probe"].into_iter().chain(args.iter().copied()).collect();
    let t0 = Instant::now();
    let r = c.exec(Site::Workload(VM1), &argv);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(r.code != 127, "{out}");
    (out, t0.elapsed())
}

/// Sends one SCTP INIT (Initiate Tag 01020304) from port 5000 to `$1`:9 over a raw socket (the kernel
/// here has no SCTP) and prints the answer's ports, tag, chunk type and flags, and whether its CRC32c is
/// right. Bounded: 3 s.
const SCTP_INIT_PROBE: &str = r#"
import socket, struct, sys, time
def crc32c(b):
    c = 0xffffffff
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82f63b78 if c & 1 else c >> 1
    return c ^ 0xffffffff
dst = sys.argv[1]
init = struct.pack('!BBHIIHHI', 1, 0, 20, 0x01020304, 65536, 1, 1, 1)
common = struct.pack('!HHI', 5000, 9, 0)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)
s.settimeout(1)
s.sendto(common + struct.pack('<I', crc32c(common + bytes(4) + init)) + init, (dst, 0))
deadline = time.time() + 3
while time.time() < deadline:
    try:
        data, (src, _) = s.recvfrom(2048)
    except socket.timeout:
        continue
    sp = data[(data[0] & 15) * 4:]
    if src != dst or len(sp) < 16:
        continue
    sport, dport, tag = struct.unpack('!HHI', sp[:8])
    crc = 'ok' if crc32c(sp[:8] + bytes(4) + sp[12:]) == struct.unpack('<I', sp[8:12])[0] else 'BAD'
    print(f'from {src}: ports {sport}->{dport} tag={tag:08x} chunk={sp[12]} flags={sp[13]} crc={crc}')
    sys.exit(0)
print('no answer')
"#;

/// The checks; returns the ones that failed, with what was seen.
fn check_errors(c: &Cluster) -> Vec<String> {
    let mut failed = Vec::new();
    let mut check = |what: &str, ok: bool, seen: &str| {
        println!("{what}: {}", if ok { "ok" } else { "WRONG" });
        if !ok {
            failed.push(format!("{what}:\n{seen}"));
        }
    };

    // Bounded: one probe, 2 s to answer.
    let (out, _) = in_vm1(c, ("ping", "iputils-ping"), "ping -n -c 1 -W 2 -t 1 \"$1\"", &[VM2_IP]);
    let ttl_exceeded = out.lines().any(|l| l.starts_with(&format!("From {ROUTER_SW1_IP} ")) && l.contains("Time to live exceeded"));
    check(&format!("ping -t 1 {VM2_IP}: time exceeded from {ROUTER_SW1_IP}"), ttl_exceeded, &out);

    for ip in [ROUTER_SW1_IP, ROUTER_SW2_IP] {
        // Without a reset the connect would wait for SYN retransmissions: `timeout` bounds it to 3 s.
        let (out, took) = in_vm1(c, ("timeout", "coreutils"), "timeout 3 bash -c \"exec 3<>/dev/tcp/$1/80\" 2>&1; echo exit=$?", &[ip]);
        let refused = out.contains("Connection refused") && took < Duration::from_secs(2);
        check(&format!("TCP connect to {ip}:80 refused at once ({:.2}s)", took.as_secs_f64()), refused, &out);
    }

    // A connected UDP socket learns of the ICMP port unreachable its first datagram gets: the second
    // send fails with ECONNREFUSED. The capture shows the ICMP itself.
    let iface = c.workload_iface(VM1).to_string();
    let probe = "exec 3<>\"/dev/udp/$1/33434\"; printf x >&3; sleep 1; printf x >&3; echo exit=$?";
    let ((out, _), packets) = c.capture(Site::Workload(VM1), &iface, "icmp", || in_vm1(c, ("sleep", "coreutils"), probe, &[ROUTER_SW1_IP]));
    let unreachable = packets.any(&[&format!("{ROUTER_SW1_IP} > 10.1.0.10"), "udp port 33434 unreachable"]);
    check(
        &format!("UDP to {ROUTER_SW1_IP}:33434: ICMP port unreachable from it, and the socket says Connection refused"),
        unreachable && out.contains("Connection refused"),
        &format!("{out}\n{packets}"),
    );

    // An INIT is aborted with its own Initiate Tag, the T bit clear (RFC 4960 8.4 item 3).
    let (out, _) = in_vm1(c, ("python3", "python3"), "python3 -c \"$2\" \"$1\"", &[ROUTER_SW1_IP, SCTP_INIT_PROBE]);
    let abort = format!("from {ROUTER_SW1_IP}: ports 9->5000 tag=01020304 chunk=6 flags=0 crc=ok");
    check(&format!("SCTP INIT to {ROUTER_SW1_IP}:9: ABORT with its tag"), out.trim() == abort, &out);
    failed
}

/// Starts a cluster with `controller` on every node, runs the checks while capturing what vm1 receives
/// from the router's addresses, and stops it. Returns the failed checks and the router's answers.
fn probe(controller: Controller) -> (Vec<String>, Vec<String>) {
    let c = start(controller);
    let iface = c.workload_iface(VM1).to_string();
    let filter = format!("ip and (src host {ROUTER_SW1_IP} or src host {ROUTER_SW2_IP})");
    let (failed, packets) = c.capture(Site::Workload(VM1), &iface, &filter, || check_errors(&c));
    (failed, packets.lines.iter().map(|l| answer_line(l)).collect())
}

/// A tcpdump line without its time, and for a RST without the probe's port and the acknowledgment number
/// (the kernel picks an ephemeral port and a random initial sequence number for each connect).
fn answer_line(line: &str) -> String {
    let line = line.split_once(' ').map_or(line, |(_, rest)| rest).to_string();
    if !line.contains("Flags [") {
        return line;
    }
    blank_number(&blank_number(&line, " > 10.1.0.10.", "PORT"), ", ack ", "N")
}

/// `line` with the number after the first `marker` replaced by `with`.
fn blank_number(line: &str, marker: &str, with: &str) -> String {
    match line.split_once(marker) {
        Some((head, tail)) => format!("{head}{marker}{with}{}", tail.trim_start_matches(|c: char| c.is_ascii_digit())),
        None => line.to_string(),
    }
}

fn ours() -> Controller {
    Controller::Program { path: PathBuf::from(env!("CARGO_BIN_EXE_controller")), args: vec![] }
}

#[test]
fn router_answers_ttl_exceeded_tcp_reset_and_port_unreachable_on_our_stack() {
    let (failed, answers) = probe(ours());
    println!("the router's answers, as vm1 received them:\n{}", answers.join("\n"));
    assert!(failed.is_empty(), "failed:\n{}", failed.join("\n\n"));
}

/// The reference: OVN's ovn-controller, on the Southbound our northd writes, passes the same checks, and
/// vm1 receives the same answers from it as from ours (headers, lengths, so as much of the probe quoted).
#[test]
fn router_answers_are_the_same_as_ovn_controller_s() {
    let (failed, theirs) = probe(Controller::Ovn);
    assert!(failed.is_empty(), "OVN's ovn-controller failed:\n{}", failed.join("\n\n"));
    let (failed, answers) = probe(ours());
    assert!(failed.is_empty(), "ours failed:\n{}", failed.join("\n\n"));
    let diff = tests::diff_lines(&theirs.join("\n"), &answers.join("\n"));
    assert!(diff.is_empty(), "the answers differ (- ovn-controller, + ours):\n{}", diff.join("\n"));
    println!("{} answers, the same as ovn-controller's", answers.len());
}
