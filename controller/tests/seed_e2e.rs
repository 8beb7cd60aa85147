//! The seed scenario end to end on OUR stack alone: our nbctl makes the topology, our northd writes the
//! Southbound, and our controller runs on every node (three namespaced nodes with real Open vSwitch).
//! Every check of `tests::cluster::scenario`, in both NAT modes.

use std::path::PathBuf;

use tests::cluster::scenario::{build_seed_cluster, run_seed_checks};
use tests::cluster::{ClusterBuilder, Controller, NatMode, Northd};

fn our_stack(mode: NatMode) {
    let northd = Northd::Program { path: tests::workspace_bin("northd"), args: vec![] };
    let controller = Controller::Program { path: PathBuf::from(env!("CARGO_BIN_EXE_controller")), args: vec![] };
    let c = build_seed_cluster(ClusterBuilder::new().northd(northd).controller(controller).nat_mode(mode), &tests::workspace_bin("nbctl"));
    run_seed_checks(&c);
}

#[test]
fn seed_centralized_nat_on_our_stack() {
    our_stack(NatMode::Centralized);
}

#[test]
fn seed_distributed_nat_on_our_stack() {
    our_stack(NatMode::Distributed);
}

/// Gateway failover on our stack; the same scenario with OVN's daemons is the reference
/// (tests/tests/failover.rs), and both outages are printed.
#[test]
fn gateway_failover_on_our_stack() {
    let northd = Northd::Program { path: tests::workspace_bin("northd"), args: vec![] };
    let controller = Controller::Program { path: PathBuf::from(env!("CARGO_BIN_EXE_controller")), args: vec![] };
    let outage =
        tests::cluster::scenario::failover(ClusterBuilder::new().northd(northd).controller(controller), &tests::workspace_bin("nbctl"));
    println!("gateway failover outage, our stack: {:.2}s", outage.as_secs_f64());
    assert!(outage.as_secs_f64() < 10.0, "outage {outage:?}");
}
