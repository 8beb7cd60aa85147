//! OpenFlow goldens: for each scenario of `fixtures/`, what our controller installs in `br-int` of one
//! chassis (our nbctl -> our northd -> our controller, real ovsdb-servers and a real ovs-vswitchd), as
//! `ovs-ofctl dump-flows --no-stats` prints it, sorted, with cookies (derived from random logical-flow
//! UUIDs) and conjunction ids taken out. `UPDATE_GOLDEN=1` rewrites them; read the diff.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tests::{fixture, golden, run, workspace_bin, Daemon, OvsdbServer, Vswitch};

struct Scenario {
    golden: &'static str,
    script: &'static str,
    env: &'static [(&'static str, &'static str)],
    chassis: &'static str,
    /// VIFs plugged into br-int (their iface-id), in ofport order.
    vifs: &'static [&'static str],
    /// Physical networks mapped on this chassis (network name -> bridge).
    mappings: &'static [(&'static str, &'static str)],
}

fn normalize(dump: &str) -> String {
    let mut lines: Vec<String> = dump
        .lines()
        .filter(|l| !l.contains("reply"))
        .map(|l| {
            let l = l.trim();
            let l = match l.strip_prefix("cookie=") {
                Some(rest) => rest.split_once(", ").map_or(l, |(_, r)| r),
                None => l,
            };
            tests::blank_conj_ids(l)
        })
        .collect();
    lines.sort();
    lines.join("\n") + "\n"
}

/// Everything a scenario runs; dropping it stops it all.
struct Running {
    nb: OvsdbServer,
    sb: OvsdbServer,
    _northd: Daemon,
    sw: Vswitch,
    controller: Daemon,
}

fn scenario(s: &Scenario) {
    let r = start(s);
    golden(s.golden, &settle(&r, s));
}

fn start(s: &Scenario) -> Running {
    let nb = OvsdbServer::nb();
    let sb = OvsdbServer::southbound();
    let nbctl = format!("{} --db={}", workspace_bin("nbctl").display(), nb.remote());
    let mut env = vec![("NBCTL", nbctl.as_str())];
    env.extend_from_slice(s.env);
    run(Path::new("/bin/bash"), &[fixture(s.script).to_str().unwrap_or_default()], &env).ok();
    let northd = Daemon::start(
        &workspace_bin("northd"),
        &[&format!("--nb-db={}", nb.remote()), &format!("--sb-db={}", sb.remote())],
        Some(&nb.dir().join("northd.log")),
    );
    // The whole Southbound before the controller starts: its conntrack zones are numbered in the order
    // their users appear, and a half-written Southbound would make that order (so the golden) a race.
    run(&workspace_bin("nbctl"), &[&format!("--db={}", nb.remote()), "--wait=sb", "sync"], &[]).ok();

    // The chassis: br-int with the VIFs first (so ofports are the same every run), then the agent.
    let sw = Vswitch::start("br-int");
    for vif in s.vifs {
        sw.vsctl(&["add-port", "br-int", vif, "--", "set", "Interface", vif, "type=internal", &format!("external_ids:iface-id={vif}")])
            .ok();
    }
    let mappings: Vec<String> = s.mappings.iter().map(|(n, b)| format!("{n}:{b}")).collect();
    for (_, b) in s.mappings {
        sw.vsctl(&["add-br", b, "--", "set", "bridge", b, "datapath_type=netdev"]).ok();
    }
    let mut ids = vec![
        format!("external_ids:system-id={}", s.chassis),
        format!("external_ids:ovn-remote={}", sb.remote()),
        "external_ids:ovn-encap-type=geneve".to_string(),
        "external_ids:ovn-encap-ip=127.0.0.1".to_string(),
        "external_ids:hostname=golden".to_string(),
    ];
    if !mappings.is_empty() {
        ids.push(format!("external_ids:ovn-bridge-mappings={}", mappings.join(",")));
    }
    let args: Vec<&str> = ["set", "Open_vSwitch", "."].into_iter().chain(ids.iter().map(String::as_str)).collect();
    sw.vsctl(&args).ok();
    let controller = start_controller(&sw, &[], "controller.log");
    Running { nb, sb, _northd: northd, sw, controller }
}

/// Our controller on the switch's database, logging to `log` in the switch's directory.
fn start_controller(sw: &Vswitch, extra: &[&str], log: &str) -> Daemon {
    let rundir = sw.dir().display().to_string();
    let db = sw.db_remote();
    let args: Vec<&str> = std::iter::once(db.as_str()).chain(extra.iter().copied()).collect();
    Daemon::start_with_env(Path::new(env!("CARGO_BIN_EXE_controller")), &args, &[("OVS_RUNDIR", &rundir)], Some(&sw.dir().join(log)))
}

/// Waits until every VIF is up and the flow table has settled; returns it normalized.
fn settle(r: &Running, s: &Scenario) -> String {
    let (sb, sw, controller) = (&r.sb, &r.sw, &r.controller);
    // Installed: every VIF up, and the flow table settled.
    let t0 = Instant::now();
    let mut last = String::new();
    let mut stable_since = Instant::now();
    loop {
        let up = s.vifs.iter().all(|v| {
            sb.ovn_sbctl(&["--bare", "--columns=up", "find", "Port_Binding", &format!("logical_port={v}")]).stdout.trim() == "true"
        });
        let dump = sw.ofctl("dump-flows", &["--no-stats"]).stdout;
        if dump != last {
            last = dump;
            stable_since = Instant::now();
        }
        if up && stable_since.elapsed() > Duration::from_millis(700) && last.lines().count() > 20 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "br-int did not settle:\n{}", controller.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    normalize(&last)
}

#[test]
fn seed_centralized_on_the_gateway() {
    scenario(&Scenario {
        golden: "seed/centralized/openflow-n1.txt",
        script: "seed/topology.sh",
        env: &[("NAT_MODE", "centralized")],
        chassis: "n1",
        vifs: &["node-ubuntu-kube-1"],
        mappings: &[("external", "br-external")],
    });
}

#[test]
fn seed_distributed_on_the_vm_node() {
    scenario(&Scenario {
        golden: "seed/distributed/openflow-n3.txt",
        script: "seed/topology.sh",
        env: &[("NAT_MODE", "distributed")],
        chassis: "n3",
        vifs: &["testvm.default", "node-ubuntu-kube-3"],
        mappings: &[("external", "br-external")],
    });
}

#[test]
fn two_vifs() {
    scenario(&Scenario {
        golden: "two-vifs/openflow-hv1.txt",
        script: "two-vifs/topology.sh",
        env: &[],
        chassis: "hv1",
        vifs: &["vm1", "vm2"],
        mappings: &[],
    });
}

#[test]
fn two_switches_router() {
    scenario(&Scenario {
        golden: "two-switches-router/openflow-hv1.txt",
        script: "two-switches-router/topology.sh",
        env: &[],
        chassis: "hv1",
        vifs: &["vm1", "vm2"],
        mappings: &[],
    });
}

#[test]
fn snat_on_the_gateway() {
    scenario(&Scenario {
        golden: "snat/openflow-hv1.txt",
        script: "snat/topology.sh",
        env: &[],
        chassis: "hv1",
        vifs: &["web"],
        mappings: &[("physnet", "br-phys")],
    });
}

#[test]
fn static_routes() {
    // A router alone has no port to bind: the chassis holds the flows of nothing local but still the
    // physical defaults; bind nothing and expect the logical flows of every datapath.
    scenario(&Scenario {
        golden: "static-routes/openflow-hv1.txt",
        script: "static-routes/topology.sh",
        env: &[],
        chassis: "hv1",
        vifs: &[],
        mappings: &[],
    });
}

/// After ovs-vswitchd restarts (empty flow tables), the controller reprograms br-int completely.
#[test]
fn reprograms_a_restarted_switch() {
    let s = Scenario { golden: "", script: "two-vifs/topology.sh", env: &[], chassis: "hv1", vifs: &["vm1", "vm2"], mappings: &[] };
    let mut r = start(&s);
    let before = settle(&r, &s);
    r.sw.restart_vswitchd();
    let t0 = Instant::now();
    loop {
        let now = normalize(&r.sw.ofctl("dump-flows", &["--no-stats"]).stdout);
        if now == before {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "br-int not reprogrammed after the restart:\n{}", r.controller.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = r.controller.log_text();
    assert_eq!(log.lines().filter(|l| l.contains("full=true")).count(), 2, "one full programming at start, one after the restart:\n{log}");
    println!("reprogrammed {} flows {:.2}s after the restart", before.lines().count(), t0.elapsed().as_secs_f64());
}

/// Changes made after the start reach br-int incrementally (only the affected logical flows recompiled,
/// only the difference sent); a fresh controller that recompiles everything every round
/// (`--recompute-always`) then finds exactly the same table.
#[test]
fn incremental_updates_match_a_fresh_start() {
    let s =
        Scenario { golden: "", script: "two-switches-router/topology.sh", env: &[], chassis: "hv1", vifs: &["vm1", "vm2"], mappings: &[] };
    let mut r = start(&s);
    settle(&r, &s);
    let nbctl = workspace_bin("nbctl");
    let db = format!("--db={}", r.nb.remote());
    let nb = |args: &[&str]| {
        let all: Vec<&str> = [db.as_str(), "--wait=sb"].into_iter().chain(args.iter().copied()).collect();
        run(&nbctl, &all, &[]).ok();
    };
    nb(&["lsp-set-addresses", "vm1", "00:00:00:00:00:11 10.1.0.11"]);
    nb(&["lsp-add", "sw2", "vm3", "--", "lsp-set-addresses", "vm3", "00:00:00:00:00:03 10.2.0.30"]);
    nb(&["lrp-add", "lr0", "lr0-sw3", "00:00:00:00:ff:03", "10.3.0.1/24"]);
    let dp = r.sb.ovn_sbctl(&["--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=lr0"]).ok().stdout;
    r.sb.ovn_sbctl(&[
        "create",
        "MAC_Binding",
        "logical_port=lr0-sw1",
        "ip=10.1.0.99",
        "mac=\"00:00:00:00:00:99\"",
        &format!("datapath={}", dp.trim()),
    ])
    .ok();
    nb(&["lsp-del", "vm3"]);
    let incremental = settle(&r, &s);
    let log = r.controller.log_text();
    // With RUST_LOG=controller=debug the per-round recompilation counts show too.
    for l in
        log.lines().filter(|l| l.contains("br-int updated") || (l.contains("logical flows recompiled") && !l.contains("recompiled=0 ")))
    {
        println!("{l}");
    }
    assert!(incremental.contains("10.1.0.99") || incremental.contains("0xa010063"), "the MAC binding's flows are missing");

    // A fresh controller: its first sync reprograms everything (full=true), then the table settles.
    r.controller = start_controller(&r.sw, &["--recompute-always"], "controller-fresh.log");
    let t0 = Instant::now();
    while !r.controller.log_text().contains("full=true") {
        assert!(t0.elapsed() < Duration::from_secs(15), "the fresh controller never programmed br-int:\n{}", r.controller.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let fresh = settle(&r, &s);
    let diff = tests::diff_lines(&fresh, &incremental);
    assert!(
        diff.is_empty(),
        "incrementally maintained br-int differs from a fresh computation (- fresh, + incremental):\n{}",
        diff.join("\n")
    );
}

/// The conntrack zones br-int's `external_ids` records (`ct-zone-<user>=<zone>`).
fn recorded_zones(sw: &Vswitch) -> BTreeMap<String, u16> {
    let ids = sw.vsctl(&["get", "bridge", "br-int", "external_ids"]).ok().stdout;
    ids.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(", ")
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            let user = k.trim_matches('"').strip_prefix("ct-zone-")?;
            Some((user.to_string(), v.trim_matches('"').parse().ok()?))
        })
        .collect()
}

fn wait_for_zones(r: &Running, want: &BTreeMap<String, u16>) {
    let t0 = Instant::now();
    while recorded_zones(&r.sw) != *want {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "br-int records {:?}, not {want:?}:\n{}",
            recorded_zones(&r.sw),
            r.controller.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops the controller the way a crash would, runs `meanwhile` (on the switch, with no controller), and
/// starts a fresh one.
fn restart_controller(r: Running, log: &str, meanwhile: impl FnOnce(&Vswitch)) -> Running {
    let Running { nb, sb, _northd, sw, controller } = r;
    drop(controller);
    meanwhile(&sw);
    let controller = start_controller(&sw, &[], log);
    Running { nb, sb, _northd, sw, controller }
}

/// Conntrack zones: every local port and both zones of every local router distinct, recorded in br-int's
/// `external_ids`, loaded into reg13 (port) and reg11 / reg12 (router DNAT / SNAT), and the same after a
/// restart, so the same flows: vm2 comes first and vm1 and a second router later, an order a fresh
/// allocation would not give, so only what br-int records can give the zones back. A zone pinned by hand
/// while the controller is stopped is honoured; a port that leaves frees its zone and its key.
#[test]
fn conntrack_zones_are_unique_recorded_and_kept_across_restarts() {
    let s = Scenario { golden: "", script: "two-switches-router/topology.sh", env: &[], chassis: "hv1", vifs: &["vm2"], mappings: &[] };
    let both = Scenario { vifs: &["vm1", "vm2"], ..s };
    let r = start(&s);
    settle(&r, &s);
    let dp = |r: &Running, name: &str| {
        let found = r.sb.ovn_sbctl(&["--bare", "--columns=_uuid", "find", "Datapath_Binding", &format!("external_ids:name={name}")]);
        found.ok().stdout.trim().to_string()
    };
    let lr0 = dp(&r, "lr0");
    let zones = |pairs: &[(&str, u16)]| -> BTreeMap<String, u16> { pairs.iter().map(|(u, z)| (u.to_string(), *z)).collect() };
    let (lr0_dnat, lr0_snat) = (format!("{lr0}_dnat"), format!("{lr0}_snat"));
    wait_for_zones(&r, &zones(&[("vm2", 1), (&lr0_dnat, 2), (&lr0_snat, 3)]));

    // A second router on sw1 (local: sw1 is reached from vm2 through lr0), then vm1 on sw1.
    let nbctl = workspace_bin("nbctl");
    let db = format!("--db={}", r.nb.remote());
    let lsp =
        ["--", "lsp-add", "sw1", "sw1-lr1", "--", "lsp-set-type", "sw1-lr1", "router", "--", "lsp-set-addresses", "sw1-lr1", "router"];
    let mut args = vec![db.as_str(), "--wait=sb", "lr-add", "lr1", "--", "lrp-add", "lr1", "lr1-sw1", "00:00:00:00:ff:11", "10.1.0.254/24"];
    args.extend(lsp);
    args.extend(["--", "lsp-set-options", "sw1-lr1", "router-port=lr1-sw1"]);
    run(&nbctl, &args, &[]).ok();
    let lr1 = dp(&r, "lr1");
    let (lr1_dnat, lr1_snat) = (format!("{lr1}_dnat"), format!("{lr1}_snat"));
    wait_for_zones(&r, &zones(&[("vm2", 1), (&lr0_dnat, 2), (&lr0_snat, 3), (&lr1_dnat, 4), (&lr1_snat, 5)]));
    r.sw.vsctl(&["add-port", "br-int", "vm1", "--", "set", "Interface", "vm1", "type=internal", "external_ids:iface-id=vm1"]).ok();
    let all = zones(&[("vm1", 6), ("vm2", 1), (&lr0_dnat, 2), (&lr0_snat, 3), (&lr1_dnat, 4), (&lr1_snat, 5)]);
    wait_for_zones(&r, &all);
    let before = settle(&r, &both);
    // vm2 is ofport 1, vm1 ofport 2: each enters the pipeline in its own zone; the routers' zones are loaded
    // where their pipelines begin (a patch port from a switch).
    for want in [
        "priority=100,in_port=1 actions=set_field:0x3->metadata,set_field:0x2->reg14,set_field:0x1/0xffff->reg13,resubmit(,8)",
        "priority=100,in_port=2 actions=set_field:0x2->metadata,set_field:0x2->reg14,set_field:0x6/0xffff->reg13,resubmit(,8)",
        "set_field:0x2/0xffff->reg11,set_field:0x3/0xffff->reg12",
        "set_field:0x4/0xffff->reg11,set_field:0x5/0xffff->reg12",
    ] {
        assert!(before.contains(want), "no {want:?} in br-int:\n{before}");
    }
    let log = r.controller.log_text();
    assert!(log.contains("conntrack zones flushed") && !log.contains("refused"), "new zones are flushed, and the switch agrees:\n{log}");

    // A restart, with a key left over for a port that is gone: the same zones, the same flows, and no zone
    // flushed (the connections in them are kept); the stale key goes.
    let r = restart_controller(r, "controller-restarted.log", |sw| {
        sw.vsctl(&["set", "bridge", "br-int", "external_ids:ct-zone-gone=7"]).ok();
    });
    let after = settle(&r, &both);
    let diff = tests::diff_lines(&before, &after);
    assert!(diff.is_empty(), "br-int changed across the restart (- before, + after):\n{}", diff.join("\n"));
    wait_for_zones(&r, &all);
    let log = r.controller.log_text();
    assert!(!log.contains("conntrack zones flushed"), "restored zones must keep their connections:\n{log}");

    // vm1's zone pinned by hand while the controller is stopped.
    let r = restart_controller(r, "controller-pinned.log", |sw| {
        sw.vsctl(&["set", "bridge", "br-int", "external_ids:ct-zone-vm1=500"]).ok();
    });
    let mut pinned = all.clone();
    pinned.insert("vm1".to_string(), 500);
    wait_for_zones(&r, &pinned);
    let after = settle(&r, &both);
    assert!(after.contains("in_port=2 actions=set_field:0x2->metadata,set_field:0x2->reg14,set_field:0x1f4/0xffff->reg13"), "{after}");
    assert!(!after.contains("0x6/0xffff->reg13"), "vm1's old zone is still in use:\n{after}");

    // vm1 leaves: its zone and its key go.
    r.sw.vsctl(&["del-port", "br-int", "vm1"]).ok();
    pinned.remove("vm1");
    wait_for_zones(&r, &pinned);
}
