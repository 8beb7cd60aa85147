//! Our controller on the Southbound that OVN's own ovn-northd writes (the seed topology, centralized NAT):
//! the seed scenario's connectivity checks. OVN's northd also uses features our controller leaves empty
//! (FDB learning, load balancing), which these checks do not need.

use std::path::PathBuf;
use std::time::Duration;

use tests::cluster::scenario::build_seed_cluster;
use tests::cluster::{seed, ClusterBuilder, Controller, NatMode, Northd, Site};

#[test]
fn our_controller_on_ovn_northd() {
    let controller = Controller::Program { path: PathBuf::from(env!("CARGO_BIN_EXE_controller")), args: vec![] };
    let c = build_seed_cluster(
        ClusterBuilder::new().northd(Northd::Ovn).controller(controller).nat_mode(NatMode::Centralized),
        &tests::require("ovn-nbctl"),
    );
    let checks = [
        ("pod2 -> testvm", Site::Workload(seed::POD2.lsp), seed::TESTVM.ip),
        ("outside -> router", Site::Outside, seed::ROUTER_EXTERNAL_IP),
        ("outside -> FIP", Site::Outside, seed::FIP),
        ("testvm -> outside", Site::Workload(seed::TESTVM.lsp), seed::OUTSIDE_IP),
    ];
    let mut failed = Vec::new();
    for (what, from, dst) in checks {
        let p = c.wait_ping(from, dst, Duration::from_secs(10));
        println!("{what}: {}", if p.all_received() { "passes" } else { "FAILS" });
        if !p.all_received() {
            failed.push(what);
        }
    }
    assert!(failed.is_empty(), "failed: {failed:?}");
}
