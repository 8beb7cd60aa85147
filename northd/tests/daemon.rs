//! The northd daemon's life: `--wait=sb`, survival of database restarts, stable tunnel keys, and writing
//! only what changed.

use std::path::Path;

use tests::{fixture, run, Daemon, OvsdbServer, Ran};

struct Setup {
    nb: OvsdbServer,
    sb: OvsdbServer,
}

impl Setup {
    fn new() -> Setup {
        Setup { nb: OvsdbServer::nb(), sb: OvsdbServer::southbound() }
    }

    fn northd(&self, log_name: &str) -> Daemon {
        Daemon::start(
            Path::new(env!("CARGO_BIN_EXE_northd")),
            &[&format!("--nb-db={}", self.nb.remote()), &format!("--sb-db={}", self.sb.remote())],
            Some(&self.nb.dir().join(log_name)),
        )
    }

    /// Our nbctl, waiting for northd.
    fn nbctl_wait(&self, args: &[&str]) -> Ran {
        let db = format!("--db={}", self.nb.remote());
        let all: Vec<&str> = [db.as_str(), "--wait=sb", "--timeout=20"].into_iter().chain(args.iter().copied()).collect();
        run(Path::new(env!("CARGO_BIN_EXE_nbctl")), &all, &[])
    }

    fn seed(&self) {
        let nbctl = format!("{} --db={}", env!("CARGO_BIN_EXE_nbctl"), self.nb.remote());
        run(Path::new("/bin/bash"), &[fixture("seed/topology.sh").to_str().unwrap_or_default()], &[("NBCTL", &nbctl)]).ok();
    }

    /// logical_port -> tunnel_key, sorted.
    fn port_keys(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .sb
            .ovn_sbctl(&["--format=csv", "--data=bare", "--no-headings", "--columns=logical_port,tunnel_key", "list", "Port_Binding"])
            .ok()
            .stdout
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }
}

#[test]
fn wait_sb_round_trips_nb_cfg_and_ovn_nbctl_waits_too() {
    let s = Setup::new();
    let _northd = s.northd("northd.log");
    s.seed();
    s.nbctl_wait(&["sync"]).ok();
    let global = s.nb.ovn_nbctl(&["get", "NB_Global", ".", "nb_cfg", "sb_cfg", "hv_cfg"]).ok().stdout;
    let v: Vec<&str> = global.lines().collect();
    assert!(v.len() == 3 && v[0] == v[1] && v[0] != "0", "nb_cfg reaches sb_cfg: {global}");
    // No chassis: hv_cfg follows nb_cfg too.
    assert_eq!(v[0], v[2]);
    assert_eq!(s.sb.ovn_sbctl(&["get", "SB_Global", ".", "nb_cfg"]).ok().stdout.trim(), v[0]);
    // OVN's own tool waits on us the same way.
    run(&tests::require("ovn-nbctl"), &[&format!("--db={}", s.nb.remote()), "--wait=sb", "--timeout=20", "ls-add", "x"], &[]).ok();
    assert!(s.sb.ovn_sbctl(&["lflow-list", "x"]).ok().stdout.contains("Datapath: \"x\""));
}

#[test]
fn survives_restarts_of_both_databases_and_of_itself() {
    let mut s = Setup::new();
    let northd = s.northd("northd-1.log");
    s.seed();
    s.nbctl_wait(&["sync"]).ok();
    let keys_before = s.port_keys();

    // The Southbound goes away; the Northbound changes meanwhile; the Southbound comes back.
    s.sb.stop();
    let db = format!("--db={}", s.nb.remote());
    run(Path::new(env!("CARGO_BIN_EXE_nbctl")), &[&db, "lsp-add", "ovn-default", "pod3.default"], &[]).ok();
    s.sb.start();
    s.nbctl_wait(&["sync"]).ok();
    assert!(s.port_keys().iter().any(|k| k.starts_with("pod3.default,")), "the change made while the SB was down arrives");

    // The Northbound restarts.
    s.nb.stop();
    s.nb.start();
    s.nbctl_wait(&["lsp-add", "ovn-default", "pod4.default"]).ok();
    assert!(s.port_keys().iter().any(|k| k.starts_with("pod4.default,")));

    // northd restarts: every key it handed out before stays.
    drop(northd);
    run(Path::new(env!("CARGO_BIN_EXE_nbctl")), &[&db, "lsp-add", "join", "node-new"], &[]).ok();
    let _northd = s.northd("northd-2.log");
    s.nbctl_wait(&["sync"]).ok();
    let keys_after = s.port_keys();
    for k in &keys_before {
        assert!(keys_after.contains(k), "key changed across restarts: {k} not in {keys_after:?}");
    }
    assert!(keys_after.iter().any(|k| k.starts_with("node-new,")));
}

#[test]
fn a_one_port_change_writes_only_that_port() {
    let s = Setup::new();
    let northd = s.northd("northd.log");
    s.seed();
    s.nbctl_wait(&["sync"]).ok();
    s.nbctl_wait(&["lsp-add", "ovn-default", "pod9.default", "--", "lsp-set-addresses", "pod9.default", "00:00:00:00:09:09 100.0.0.99"])
        .ok();
    let log = northd.log_text();
    let last = log.lines().rfind(|l| l.contains("southbound updated")).unwrap_or_default().to_string();
    let field = |name: &str| -> usize {
        last.split_whitespace().find_map(|w| w.strip_prefix(&format!("{name}="))).and_then(|v| v.parse().ok()).unwrap_or(usize::MAX)
    };
    // One Port_Binding, its flows (ARP responder x2, L2 lookup, ARP resolve on the router), the flood group.
    assert!(field("inserted") <= 6, "{last}");
    assert!(field("updated") <= 3, "{last}");
    assert_eq!(field("deleted"), 0, "{last}");
}

/// Rows northd owns that someone else changes are put back, and rows it does not want are removed (the
/// incremental sync checks every Southbound row that changed against what the engine wants).
#[test]
fn southbound_rows_changed_by_hand_are_repaired() {
    let s = Setup::new();
    let northd = s.northd("northd.log");
    s.seed();
    s.nbctl_wait(&["sync"]).ok();
    let flows = |s: &Setup| s.sb.ovn_sbctl(&["--bare", "--columns=_uuid", "find", "Logical_Flow", "priority=50"]).ok().stdout;
    let before = flows(&s);
    let victim = before.lines().find(|l| !l.is_empty()).expect("a priority-50 flow").to_string();
    let dp = s.sb.ovn_sbctl(&["--bare", "--columns=logical_datapath", "list", "Logical_Flow", &victim]).ok().stdout.trim().to_string();
    s.sb.ovn_sbctl(&["destroy", "Logical_Flow", &victim]).ok();
    s.sb.ovn_sbctl(&[
        "--",
        "--id=@f",
        "create",
        "Logical_Flow",
        &format!("logical_datapath={dp}"),
        "pipeline=ingress",
        "table_id=0",
        "priority=7",
        "match=\"bogus\"",
        "actions=\"drop;\"",
    ])
    .ok();
    s.sb.ovn_sbctl(&["set", "Port_Binding", "testvm.default", "tunnel_key=999"]).ok();
    // Any NB change makes a round; the SB changes alone do too, so just wait for things to settle.
    s.nbctl_wait(&["sync"]).ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let bogus = s.sb.ovn_sbctl(&["--bare", "--columns=_uuid", "find", "Logical_Flow", "priority=7"]).ok().stdout;
        let key = s.sb.ovn_sbctl(&["get", "Port_Binding", "testvm.default", "tunnel_key"]).ok().stdout;
        if bogus.trim().is_empty() && key.trim() != "999" && flows(&s).lines().count() == before.lines().count() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not repaired: bogus={bogus:?} key={key:?}\n{}", northd.log_text());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `Logical_Switch_Port.up` follows `Port_Binding.up` (set by the controller that bound the port), port by
/// port, and a value written by hand into the Northbound is put back: `up` is northd's to write.
#[test]
fn switch_port_up_follows_its_binding() {
    let s = Setup::new();
    let northd = s.northd("northd.log");
    s.nbctl_wait(&["ls-add", "s1", "--", "lsp-add", "s1", "a", "--", "lsp-add", "s1", "b", "--", "lsp-add", "s1", "c"]).ok();
    let states = |s: &Setup| -> Vec<String> {
        ["a", "b", "c"].iter().map(|p| s.nb.ovn_nbctl(&["get", "Logical_Switch_Port", p, "up"]).ok().stdout.trim().to_string()).collect()
    };
    let expect = |s: &Setup, want: [&str; 3], what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let now = states(s);
            if now == want {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: ports a, b, c are {now:?}, not {want:?}\n{}", northd.log_text());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    expect(&s, ["false", "false", "false"], "new ports, not bound");
    s.sb.ovn_sbctl(&["set", "Port_Binding", "b", "up=true"]).ok();
    expect(&s, ["false", "true", "false"], "b's binding came up");
    // By hand, in the Northbound: put back.
    s.nb.ovn_nbctl(&["set", "Logical_Switch_Port", "c", "up=true"]).ok();
    expect(&s, ["false", "true", "false"], "c set up by hand");
    s.sb.ovn_sbctl(&["set", "Port_Binding", "b", "up=false", "--", "set", "Port_Binding", "a", "up=true"]).ok();
    expect(&s, ["true", "false", "false"], "b went down, a came up");
    // A port added later starts down (`up` written, not left empty), and the others keep their state.
    s.nbctl_wait(&["lsp-add", "s1", "d"]).ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.nb.ovn_nbctl(&["get", "Logical_Switch_Port", "d", "up"]).ok().stdout.trim() != "false" {
        assert!(std::time::Instant::now() < deadline, "d's state was never written\n{}", northd.log_text());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    expect(&s, ["true", "false", "false"], "after adding d");
}

/// A switch's flood group holds exactly its ports as they come and go (written as a change of the members,
/// not the whole set), and a member removed by hand is put back.
#[test]
fn flood_group_follows_ports_and_is_repaired() {
    let s = Setup::new();
    let northd = s.northd("northd.log");
    s.seed();
    s.nbctl_wait(&["sync"]).ok();
    // ovn-default's flood group row.
    let flood = |s: &Setup| -> String {
        let dp = s.sb.ovn_sbctl(&["--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=ovn-default"]).ok().stdout;
        let group = format!("datapath={}", dp.trim());
        s.sb.ovn_sbctl(&["--bare", "--columns=_uuid", "find", "Multicast_Group", "name=_MC_flood", &group]).ok().stdout.trim().to_string()
    };
    let members = |s: &Setup| -> Vec<String> {
        let out = s.sb.ovn_sbctl(&["--bare", "--columns=ports", "list", "Multicast_Group", &flood(s)]).ok().stdout;
        let mut names: Vec<String> = out
            .split_whitespace()
            .map(|u| s.sb.ovn_sbctl(&["get", "Port_Binding", u, "logical_port"]).ok().stdout.trim().trim_matches('"').to_string())
            .collect();
        names.sort();
        names
    };
    let ports = |s: &Setup| -> Vec<String> {
        let mut v: Vec<String> =
            s.nb.ovn_nbctl(&["lsp-list", "ovn-default"])
                .ok()
                .stdout
                .lines()
                .filter_map(|l| l.split_once(" (").map(|(_, n)| n.trim_end_matches(')').to_string()))
                .collect();
        v.sort();
        v
    };
    s.nbctl_wait(&["lsp-add", "ovn-default", "pod9.default", "--", "lsp-set-addresses", "pod9.default", "00:00:00:00:09:09 100.0.0.99"])
        .ok();
    s.nbctl_wait(&["lsp-del", "pod2.default"]).ok();
    assert!(ports(&s).contains(&"pod9.default".to_string()));
    assert_eq!(members(&s), ports(&s));

    let pb = s.sb.ovn_sbctl(&["--bare", "--columns=_uuid", "find", "Port_Binding", "logical_port=pod9.default"]).ok().stdout;
    s.sb.ovn_sbctl(&["remove", "Multicast_Group", &flood(&s), "ports", pb.trim()]).ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while members(&s) != ports(&s) {
        assert!(std::time::Instant::now() < deadline, "not repaired: {:?}\n{}", members(&s), northd.log_text());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
