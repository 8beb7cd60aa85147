//! Gateway failover with OVN's own northd and ovn-controller: the reference for our stack's outage
//! (controller/tests/seed_e2e.rs runs the same scenario).

use tests::cluster::scenario::failover;
use tests::cluster::ClusterBuilder;

#[test]
fn gateway_failover_with_ovn() {
    let outage = failover(ClusterBuilder::new(), &tests::require("ovn-nbctl"));
    println!("gateway failover outage, OVN 23.03: {:.2}s", outage.as_secs_f64());
    assert!(outage.as_secs_f64() < 30.0, "outage {outage:?}");
}
