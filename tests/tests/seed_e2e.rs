//! The seed scenario end to end with OVN's own northd and ovn-controller: the reference our daemons are
//! held to (see `tests::cluster::scenario` for the checks).

use tests::cluster::scenario::seed_scenario;
use tests::cluster::{NatMode, Northd};

#[test]
fn seed_centralized_nat_with_ovn_northd() {
    seed_scenario(Northd::Ovn, &tests::require("ovn-nbctl"), NatMode::Centralized);
}

#[test]
fn seed_distributed_nat_with_ovn_northd() {
    seed_scenario(Northd::Ovn, &tests::require("ovn-nbctl"), NatMode::Distributed);
}
