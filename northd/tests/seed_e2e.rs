//! The seed scenario end to end with OUR nbctl and northd, and OVN's ovn-controller on three namespaced
//! nodes with real Open vSwitch: every check of `tests::cluster::scenario`, in both NAT modes.

use std::path::{Path, PathBuf};

use tests::cluster::scenario::seed_scenario;
use tests::cluster::{NatMode, Northd};

fn ours() -> Northd {
    Northd::Program { path: PathBuf::from(env!("CARGO_BIN_EXE_northd")), args: vec![] }
}

#[test]
fn seed_centralized_nat_with_our_northd() {
    seed_scenario(ours(), Path::new(env!("CARGO_BIN_EXE_nbctl")), NatMode::Centralized);
}

#[test]
fn seed_distributed_nat_with_our_northd() {
    seed_scenario(ours(), Path::new(env!("CARGO_BIN_EXE_nbctl")), NatMode::Distributed);
}
