//! A daemon never dies on data: bad Northbound rows (written with OVN's own ovn-nbctl, which accepts them)
//! are logged once each, left out, and everything else is still translated.

use std::path::Path;

use tests::{run, Daemon, OvsdbServer};

/// Our northd on `nb` and `sb`, and a function that runs our nbctl's `--wait=sb` with a command (`sync`
/// when none is given).
fn start_northd<'a>(nb: &'a OvsdbServer, sb: &OvsdbServer) -> (Daemon, impl Fn(&[&str]) + 'a) {
    let log = nb.dir().join("northd.log");
    let northd = Daemon::start(
        Path::new(env!("CARGO_BIN_EXE_northd")),
        &[&format!("--nb-db={}", nb.remote()), &format!("--sb-db={}", sb.remote())],
        Some(&log),
    );
    let sync = move |cmd: &[&str]| {
        let db = format!("--db={}", nb.remote());
        let cmd = if cmd.is_empty() { &["sync"][..] } else { cmd };
        let args: Vec<&str> = [db.as_str(), "--wait=sb", "--timeout=20"].into_iter().chain(cmd.iter().copied()).collect();
        run(Path::new(env!("CARGO_BIN_EXE_nbctl")), &args, &[]).ok();
    };
    (northd, sync)
}

#[test]
fn bad_rows_are_logged_once_and_skipped() {
    let nb = OvsdbServer::nb();
    let sb = OvsdbServer::southbound();
    let ok = |args: &[&str]| {
        nb.ovn_nbctl(args).ok();
    };
    ok(&["ls-add", "good", "--", "lsp-add", "good", "vm1", "--", "lsp-set-addresses", "vm1", "00:00:00:00:00:01 10.0.0.1"]);
    // ovn-nbctl takes an IPv4 address with an octet over 255.
    ok(&["lsp-add", "good", "vm-bad", "--", "lsp-set-addresses", "vm-bad", "00:00:00:00:00:02 100.0.0.300"]);
    ok(&["lr-add", "r", "--", "lrp-add", "r", "r-good", "00:00:00:00:ff:01", "10.0.0.254/24"]);
    // A router port with a malformed MAC, written around ovn-nbctl's own checks.
    ok(&[
        "--id=@p",
        "create",
        "Logical_Router_Port",
        "name=r-badmac",
        "mac=\"zz:00:00:00:00:01\"",
        "networks=\"10.9.0.1/24\"",
        "--",
        "add",
        "Logical_Router",
        "r",
        "ports",
        "@p",
    ]);
    // NAT on a router with no gateway port, and a switch port pointing at a router port that does not exist.
    ok(&["lr-nat-add", "r", "dnat_and_snat", "172.16.0.5", "10.0.0.1"]);
    ok(&[
        "lsp-add",
        "good",
        "to-nowhere",
        "--",
        "lsp-set-type",
        "to-nowhere",
        "router",
        "--",
        "lsp-set-options",
        "to-nowhere",
        "router-port=nope",
    ]);

    let (mut northd, sync) = start_northd(&nb, &sb);
    sync(&[]);
    // More changes make northd recompute; the same bad rows must not be logged again.
    sync(&["ls-add", "another"]);
    sync(&["lsp-add", "another", "vm3"]);
    assert!(northd.is_running(), "northd died:\n{}", northd.log_text());

    let text = northd.log_text();
    for needle in ["vm-bad", "100.0.0.300", "r-badmac", "zz:00:00:00:00:01", "172.16.0.5", "no gateway port", "to-nowhere", "nope"] {
        assert!(text.contains(needle), "northd log lacks {needle:?}:\n{text}");
    }
    for row in ["vm-bad", "r-badmac", "to-nowhere", "172.16.0.5"] {
        let n = text.lines().filter(|l| l.contains("WARN") && l.contains(row)).count();
        assert_eq!(n, 1, "{row} logged {n} times:\n{text}");
    }

    // Everything else is there: the good switch's port, the router's good port, the new switch.
    let flows = sb.ovn_sbctl(&["lflow-list"]).ok().stdout;
    assert!(flows.contains("eth.dst == 00:00:00:00:00:01"), "vm1 has its L2 flow");
    assert!(flows.contains("ip4.dst == 10.0.0.0/24"), "the router routes its good port's network");
    assert!(flows.contains("Datapath: \"another\""), "later changes are still served");
    assert!(!flows.contains("172.16.0.5"), "the NAT without a gateway port is left out");
    let ports = sb.ovn_sbctl(&["--bare", "--columns=logical_port", "list", "Port_Binding"]).ok().stdout;
    assert!(ports.contains("vm1") && ports.contains("vm3") && !ports.contains("vm-bad") && !ports.contains("r-badmac"), "{ports}");
}

/// What northd does not translate yet is said, with a count per table, once each time the counts change:
/// never skipped silently.
#[test]
fn untranslated_tables_are_counted_in_the_log() {
    let nb = OvsdbServer::nb();
    let sb = OvsdbServer::southbound();
    nb.ovn_nbctl(&["ls-add", "sw", "--", "acl-add", "sw", "to-lport", "1000", "ip4", "drop"]).ok();
    nb.ovn_nbctl(&["acl-add", "sw", "from-lport", "1001", "ip4", "allow"]).ok();
    let (mut northd, sync) = start_northd(&nb, &sb);
    sync(&[]);
    nb.ovn_nbctl(&["lb-add", "svc", "10.96.0.1:443", "10.16.0.5:6443"]).ok();
    sync(&[]);
    // A change elsewhere does not repeat the line.
    sync(&["ls-add", "other"]);
    assert!(northd.is_running(), "northd died:\n{}", northd.log_text());
    let text = northd.log_text();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("not translated yet")).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].ends_with("ACL: 2 rows"), "{}", lines[0]);
    assert!(lines[1].ends_with("ACL: 2 rows, Load_Balancer: 1 rows"), "{}", lines[1]);
}
