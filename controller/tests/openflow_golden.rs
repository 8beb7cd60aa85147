//! OpenFlow goldens: for each scenario of `fixtures/`, what our controller installs in `br-int` of one
//! chassis (our nbctl -> our northd -> our controller, real ovsdb-servers and a real ovs-vswitchd), as
//! `ovs-ofctl dump-flows --no-stats` prints it, sorted, with cookies (derived from random logical-flow
//! UUIDs) and conjunction ids taken out. `UPDATE_GOLDEN=1` rewrites them; read the diff.

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
