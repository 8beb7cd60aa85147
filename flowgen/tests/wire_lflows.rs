//! Wire round trip on real data: every OpenFlow flow `flowgen` compiles from the Southbound that OVN's
//! ovn-northd writes for the seed topology, sent by OUR OpenFlow encoder (one atomic bundle) to a real
//! ovs-vswitchd, comes back from `ovs-ofctl dump-flows` as exactly the text we print.

use std::path::Path;
use std::sync::Arc;

use flowgen::ofp::Connection;
use flowgen::sbview::{compile_all, SbView, TABLES};
use model::ovsdb::{Client, Replica};
use tests::{fixture, require, run, Daemon, OvsdbServer, Vswitch};

#[test]
fn compiled_seed_flows_round_trip_through_ovs() {
    let nb = OvsdbServer::nb();
    let sb = OvsdbServer::southbound();
    let _northd = Daemon::start(
        &require("ovn-northd"),
        &[
            &format!("--ovnnb-db={}", nb.remote()),
            &format!("--ovnsb-db={}", sb.remote()),
            "--no-chdir",
            "-vconsole:off",
            &format!("--log-file={}", nb.dir().join("ovn-northd.log").display()),
            &format!("--unixctl={}", nb.dir().join("ovn-northd.ctl").display()),
        ],
        None,
    );
    let nbctl = format!("{} --db={}", require("ovn-nbctl").display(), nb.remote());
    run(Path::new("/bin/bash"), &[fixture("seed/topology.sh").to_str().unwrap_or_default()], &[("NBCTL", &nbctl)]).ok();
    nb.ovn_nbctl(&["--wait=sb", "--timeout=30", "sync"]).ok();

    let sw = Vswitch::start("br-int");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let ours: Vec<String> = rt.block_on(async {
        let client = Client::connect(&sb.remote()).await.expect("connect SB");
        let schema = Arc::new(client.get_schema("OVN_Southbound").await.expect("schema"));
        let mut r = Replica::new(schema);
        let initial = client.monitor_cond("OVN_Southbound", serde_json::json!("t"), r.monitor_requests(&TABLES)).await.expect("monitor");
        r.apply_update2(&initial).expect("apply");
        let (flows, failures) = compile_all(&r, &SbView::from_replica(&r, "n1"));
        assert!(failures.is_empty(), "{failures:?}");
        let mut conn = Connection::connect(&sw.ofctl_target()).await.expect("connect br-int");
        conn.delete_all_flows().await.expect("clear");
        conn.add_flows(&flows).await.expect("the switch takes every flow");
        let mut text: Vec<String> = flows.iter().map(|f| f.to_string()).collect();
        text.sort();
        text
    });
    let theirs = sw.flows();
    assert_eq!(theirs.len(), ours.len());
    let diff = tests::diff_lines(&ours.join("\n"), &theirs.join("\n"));
    assert!(diff.is_empty(), "dump-flows differs from what we print:\n{}", diff.join("\n"));
}
