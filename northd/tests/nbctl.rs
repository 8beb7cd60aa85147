//! `nbctl` against a real `ovsdb-server` with OVN's Northbound schema, checked with OVN's own `ovn-nbctl`.

use std::path::Path;

use tests::{fixture, require, run, show_blocks, OvsdbServer, Ran};

fn nbctl_path() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nbctl"))
}

fn nbctl(nb: &OvsdbServer, args: &[&str]) -> Ran {
    let db = format!("--db={}", nb.remote());
    let all: Vec<&str> = std::iter::once(db.as_str()).chain(args.iter().copied()).collect();
    run(nbctl_path(), &all, &[])
}

/// Builds the seed topology with the given tool ("ours" or OVN's).
fn build_seed(nb: &OvsdbServer, ovn: bool, nat_mode: &str) {
    let tool = if ovn { require("ovn-nbctl").display().to_string() } else { nbctl_path().display().to_string() };
    let cmd = format!("{tool} --db={}", nb.remote());
    run(Path::new("/bin/bash"), &[fixture("seed/topology.sh").to_str().unwrap_or_default()], &[("NBCTL", &cmd), ("NAT_MODE", nat_mode)])
        .ok();
}

#[test]
fn seed_made_by_nbctl_reads_back_in_ovn_nbctl() {
    let nb = OvsdbServer::nb();
    build_seed(&nb, false, "centralized");
    let theirs = nb.ovn_nbctl(&["show"]).ok().stdout;
    for needle in [
        "(ovn-default)",
        "(join)",
        "(external)",
        "router ",
        "(ovn-cluster)",
        "gateway chassis: [n1]",
        "external ip: \"192.168.100.101\"",
        "logical ip: \"100.0.0.14\"",
        "type: \"dnat_and_snat\"",
        "addresses: [\"00:00:00:F3:5D:F1 100.0.0.14\"]",
        "type: localnet",
        "router-port: ovn-cluster-external",
    ] {
        assert!(theirs.contains(needle), "ovn-nbctl show lacks {needle:?}:\n{theirs}");
    }
    assert_eq!(theirs.lines().filter(|l| l.starts_with("switch ")).count(), 3, "{theirs}");
    let ours = nbctl(&nb, &["show"]).ok().stdout;
    assert_eq!(show_blocks(&ours), show_blocks(&theirs));

    let nat = nbctl(&nb, &["lr-nat-list", "ovn-cluster"]).ok().stdout;
    assert_eq!(nat, nb.ovn_nbctl(&["lr-nat-list", "ovn-cluster"]).ok().stdout);
    let fip: Vec<&str> = nat.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(fip, ["dnat_and_snat", "192.168.100.101", "100.0.0.14"]);
}

#[test]
fn topology_made_by_ovn_nbctl_prints_the_same_in_nbctl() {
    let nb = OvsdbServer::nb();
    build_seed(&nb, true, "distributed");
    // More than the seed: several gateway chassis, routes of every shape, snat, a child port, IPv6.
    let extra: &[&[&str]] = &[
        &["lrp-set-gateway-chassis", "ovn-cluster-external", "n2", "50"],
        &["lrp-set-gateway-chassis", "ovn-cluster-external", "n3", "75"],
        &["lr-nat-add", "ovn-cluster", "snat", "192.168.100.254", "100.0.0.0/16"],
        &["lr-nat-add", "ovn-cluster", "dnat", "192.168.100.200", "100.0.0.15"],
        &["lr-route-add", "ovn-cluster", "10.0.0.0/8", "100.64.0.2", "ovn-cluster-join"],
        &["--policy=src-ip", "lr-route-add", "ovn-cluster", "100.0.0.0/24", "100.64.0.5"],
        &["--ecmp", "lr-route-add", "ovn-cluster", "10.0.0.0/8", "100.64.0.6", "ovn-cluster-join"],
        &["lr-route-add", "ovn-cluster", "fd00:1::/64", "fd00::2"],
        &["lr-route-add", "ovn-cluster", "10.9.0.0/16", "discard"],
        &["lrp-add", "ovn-cluster", "lrp6", "00:00:00:00:00:66", "10.9.0.1/24", "fd00::1/64"],
        &["lsp-add", "join", "child", "node-ubuntu-kube-1", "7"],
        &["lsp-set-addresses", "pod2.default", "00:00:00:F3:5D:F2 100.0.0.15", "unknown"],
    ];
    for args in extra {
        nb.ovn_nbctl(args).ok();
    }
    let theirs = nb.ovn_nbctl(&["show"]).ok().stdout;
    let ours = nbctl(&nb, &["show"]).ok().stdout;
    assert_eq!(show_blocks(&ours), show_blocks(&theirs), "ours:\n{ours}\ntheirs:\n{theirs}");
    for args in [
        &["show", "ovn-cluster"][..],
        &["show", "join"],
        &["lr-nat-list", "ovn-cluster"],
        &["lr-route-list", "ovn-cluster"],
        &["lrp-get-gateway-chassis", "ovn-cluster-external"],
        &["ls-list"],
        &["lr-list"],
        &["lsp-list", "ovn-default"],
        &["lrp-list", "ovn-cluster"],
        &["lsp-get-addresses", "pod2.default"],
        &["lsp-get-type", "localnet.external"],
        &["lsp-get-options", "localnet.external"],
        &["lsp-get-parent", "child"],
    ] {
        assert_eq!(nbctl(&nb, args).ok().stdout, nb.ovn_nbctl(args).ok().stdout, "nbctl {args:?}");
    }
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let nb = OvsdbServer::nb();
    build_seed(&nb, false, "centralized");
    let before = nb.dump();
    // (arguments, the bad value the one-line error must name)
    let cases: &[(&[&str], &str)] = &[
        (&["lsp-set-addresses", "testvm.default", "00:00:00:F3:5D:ZZ 100.0.0.14"], "00:00:00:F3:5D:ZZ"),
        (&["lrp-add", "ovn-cluster", "p9", "00:00:00:00:00:0g", "10.9.0.1/24"], "00:00:00:00:00:0g"),
        (&["lsp-set-addresses", "testvm.default", "00:00:00:F3:5D:F1 100.0.0.300"], "100.0.0.300"),
        (&["lrp-add", "ovn-cluster", "p9", "00:00:00:00:00:09", "10.9.0.1/33"], "10.9.0.1/33"),
        (&["lr-route-add", "ovn-cluster", "10.1.0.0/33", "100.64.0.2"], "10.1.0.0/33"),
        (&["lr-nat-add", "ovn-cluster", "snat", "192.168.100.254", "100.0.0.0/40"], "100.0.0.0/40"),
        (&["lr-nat-add", "ovn-cluster", "bogus", "192.168.100.102", "100.0.0.15"], "bogus"),
        (&["lr-nat-add", "ovn-cluster", "dnat_and_snat", "192.168.100", "100.0.0.15"], "192.168.100"),
        (&["lr-nat-add", "ovn-cluster", "dnat_and_snat", "192.168.100.102", "100.0.0.0/24"], "100.0.0.0/24"),
        (&["lr-nat-add", "ovn-cluster", "dnat", "192.168.100.102", "100.0.0.0/16"], "100.0.0.0/16"),
        (&["lsp-add", "no-such-switch", "p1"], "no-such-switch"),
        (&["lr-nat-add", "no-such-router", "snat", "1.2.3.4", "10.0.0.0/8"], "no-such-router"),
        (&["ls-add", "join"], "join"),
        (&["lr-add", "ovn-cluster"], "ovn-cluster"),
        (&["lsp-add", "join", "node-ubuntu-kube-1"], "node-ubuntu-kube-1"),
        (&["lr-route-add", "ovn-cluster", "10.1.0.0/16", "100.64.0"], "100.64.0"),
        (&["lr-route-add", "ovn-cluster", "10.1.0.0/16", "fd00::1"], "fd00::1"),
        (&["lsp-add", "join", "node-9", "--", "lsp-add", "join", "node-9"], "node-9"),
        // A chain is one transaction: the good commands before the bad one are not written either.
        (&["ls-add", "new-switch", "--", "lsp-add", "new-switch", "p1", "--", "lsp-set-addresses", "p1", "zz"], "zz"),
        (&["lrp-set-gateway-chassis", "ovn-cluster-external", "n2", "40000"], "40000"),
        (&["lsp-set-type", "testvm.default", "bogus"], "bogus"),
        (&["lsp-set-port-security", "testvm.default", "00:00:00:F3:5D:F1 100.0.0.300"], "100.0.0.300"),
        (&["lsp-set-port-security", "testvm.default", "nomac 100.0.0.14"], "nomac"),
        (&["lr-add", "r2", "--", "lr-nat-add", "r2", "snat", "1.1.1.1", "10.0.0.0/8"], "r2"),
        (&["no-such-command"], "no-such-command"),
        (&["lsp-add", "join"], "lsp-add"),
    ];
    for (args, bad) in cases {
        let r = nbctl(&nb, args);
        assert_eq!(r.code, 1, "nbctl {args:?} should fail; stdout: {}", r.stdout);
        assert_eq!(r.stderr.lines().count(), 1, "nbctl {args:?}: one line expected, got:\n{}", r.stderr);
        assert!(r.stderr.starts_with("nbctl: ") && r.stderr.contains(bad), "nbctl {args:?}: error must name {bad:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "nbctl {args:?} printed {}", r.stdout);
    }
    assert_eq!(nb.dump(), before, "a refused command changed the database");
}

#[test]
fn options_may_exist_and_if_exists() {
    let nb = OvsdbServer::nb();
    nbctl(&nb, &["ls-add", "sw", "--", "lsp-add", "sw", "p1"]).ok();
    nbctl(&nb, &["--may-exist", "ls-add", "sw"]).ok();
    nbctl(&nb, &["--may-exist", "lsp-add", "sw", "p1"]).ok();
    nbctl(&nb, &["--if-exists", "lsp-del", "nope", "--", "--if-exists", "ls-del", "nope"]).ok();
    assert_eq!(nb.ovn_nbctl(&["ls-list"]).ok().stdout.lines().count(), 1);
    nbctl(&nb, &["ls-add", "other"]).ok();
    let r = nbctl(&nb, &["--may-exist", "lsp-add", "other", "p1"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("p1: port already exists but in switch sw"), "{}", r.stderr);
    // Deleting a switch takes its ports with it; the name is free for a new port in the same chain.
    nbctl(&nb, &["ls-del", "sw", "--", "lsp-add", "other", "p1"]).ok();
    assert_eq!(nb.ovn_nbctl(&["lsp-list", "other"]).ok().stdout.lines().count(), 1);
    assert!(nb.ovn_nbctl(&["list", "Logical_Switch_Port"]).ok().stdout.matches("name                : p1").count() == 1);
}

#[test]
fn nat_route_and_gateway_chassis_edits() {
    let nb = OvsdbServer::nb();
    build_seed(&nb, false, "centralized");
    nbctl(&nb, &["lrp-set-gateway-chassis", "ovn-cluster-external", "n2", "50"]).ok();
    nbctl(&nb, &["lrp-set-gateway-chassis", "ovn-cluster-external", "n1", "10"]).ok();
    assert_eq!(
        nbctl(&nb, &["lrp-get-gateway-chassis", "ovn-cluster-external"]).ok().stdout,
        "ovn-cluster-external-n2    50\novn-cluster-external-n1    10\n"
    );
    nbctl(&nb, &["lrp-del-gateway-chassis", "ovn-cluster-external", "n2"]).ok();
    assert_eq!(nb.ovn_nbctl(&["lrp-get-gateway-chassis", "ovn-cluster-external"]).ok().stdout, "ovn-cluster-external-n1    10\n");
    assert_eq!(nb.ovn_nbctl(&["list", "Gateway_Chassis"]).ok().stdout.matches("chassis_name").count(), 1, "the removed row is gone");

    nbctl(&nb, &["lr-nat-add", "ovn-cluster", "dnat_and_snat", "192.168.100.102", "100.0.0.15", "pod2.default", "0a:00:00:00:01:02"]).ok();
    let nat = nb.ovn_nbctl(&["lr-nat-list", "ovn-cluster"]).ok().stdout;
    assert!(nat.contains("0a:00:00:00:01:02    pod2.default"), "{nat}");
    nbctl(&nb, &["lr-nat-del", "ovn-cluster", "dnat_and_snat", "192.168.100.101"]).ok();
    let nat = nb.ovn_nbctl(&["lr-nat-list", "ovn-cluster"]).ok().stdout;
    assert!(!nat.contains("192.168.100.101"), "{nat}");

    nbctl(&nb, &["--may-exist", "lr-route-add", "ovn-cluster", "0.0.0.0/0", "192.168.100.2"]).ok();
    nbctl(&nb, &["lr-route-add", "ovn-cluster", "10.0.0.1/8", "100.64.0.2"]).ok();
    let routes = nb.ovn_nbctl(&["lr-route-list", "ovn-cluster"]).ok().stdout;
    assert!(routes.contains("10.0.0.0/8                100.64.0.2 dst-ip"), "prefix is stored normalized:\n{routes}");
    assert!(routes.contains("0.0.0.0/0             192.168.100.2 dst-ip"), "--may-exist updates the next hop:\n{routes}");
    nbctl(&nb, &["lr-route-del", "ovn-cluster", "10.0.0.0/8"]).ok();
    let r = nbctl(&nb, &["lr-route-del", "ovn-cluster", "10.0.0.0/8"]);
    assert_eq!(r.code, 1, "deleting a route that is not there is an error");
    nbctl(&nb, &["--if-exists", "lr-route-del", "ovn-cluster", "10.0.0.0/8"]).ok();
}

#[test]
fn db_from_environment_and_remote_lists() {
    let nb = OvsdbServer::nb_with_tcp();
    let tcp = nb.tcp_remote().unwrap_or_default();
    // The first remote of the list is down: the next one is used.
    let list = format!("unix:{}/nope.sock,{tcp}", nb.dir().display());
    run(nbctl_path(), &["ls-add", "via-env"], &[("OVN_NB_DB", &list)]).ok();
    assert!(nb.ovn_nbctl(&["ls-list"]).ok().stdout.contains("(via-env)"));
    let r = run(nbctl_path(), &["--db=unix:/nonexistent/nb.sock", "ls-list"], &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("/nonexistent/nb.sock"), "{}", r.stderr);
    let help = run(nbctl_path(), &["--help"], &[]).ok().stdout;
    for cmd in ["lr-nat-add", "lrp-set-gateway-chassis", "lsp-set-addresses", "--db"] {
        assert!(help.contains(cmd), "--help lacks {cmd}");
    }
}
