//! Differential: the Southbound that OVN's own ovn-northd writes for the seed topology, compiled by our
//! `flowgen compile`: every logical flow compiles, and a real Open vSwitch bridge accepts every printed
//! flow (`ovs-ofctl -O OpenFlow15 add-flows`).

use std::path::Path;

use tests::{fixture, require, run, Daemon, OvsdbServer, Vswitch};

#[test]
fn ovn_northd_seed_compiles_and_ovs_accepts_every_flow() {
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
        Some(&nb.dir().join("ovn-northd.out")),
    );
    let nbctl = format!("{} --db={}", require("ovn-nbctl").display(), nb.remote());
    run(Path::new("/bin/bash"), &[fixture("seed/topology.sh").to_str().unwrap_or_default()], &[("NBCTL", &nbctl)]).ok();
    nb.ovn_nbctl(&["--wait=sb", "--timeout=30", "sync"]).ok();
    let lflows = sb.ovn_sbctl(&["--bare", "--columns=_uuid", "list", "Logical_Flow"]).ok().stdout.lines().filter(|l| !l.is_empty()).count();
    // 371 flows for the seed; datapath groups share rows between switches.
    assert!(lflows > 200, "ovn-northd wrote only {lflows} logical flow rows");

    let out = run(Path::new(env!("CARGO_BIN_EXE_flowgen")), &["compile", &format!("--sb-db={}", sb.remote()), "--chassis=n1"], &[]);
    assert_eq!(out.code, 0, "some logical flows failed:\n{}", out.stderr);
    assert!(!out.stderr.contains("lflow "), "{}", out.stderr);
    let flows: Vec<&str> = out.stdout.lines().collect();
    assert!(flows.len() > lflows, "{} OpenFlow flows from {lflows} logical flows", flows.len());

    let sw = Vswitch::start("br-int");
    let file = sw.dir().join("flows.txt");
    std::fs::write(&file, &out.stdout).expect("write flows");
    sw.ofctl("del-flows", &[]).ok();
    let added = sw.ofctl("add-flows", &[file.to_str().unwrap_or_default()]);
    assert_eq!(added.code, 0, "ovs-ofctl refused a flow: {}", added.stderr);
    let installed = sw.flows();
    // Identical match+priority+table would replace each other: every printed flow is distinct.
    assert_eq!(installed.len(), flows.len(), "installed {} of {} flows", installed.len(), flows.len());
}
