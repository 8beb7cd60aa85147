//! The logical-flow cache gives what a fresh compile gives.
//!
//! A real Southbound `ovsdb-server` is seeded by our northd with the seed network (then northd stops, so it
//! does not repair what the test breaks). Random sequences of `ovn-sbctl` changes — logical flows edited,
//! added (on a datapath or a datapath group) and removed, port and multicast tunnel keys, ports bound here
//! or not, our chassis appearing and going, datapath keys, datapath groups, address sets, port groups,
//! SB_Global's svc_monitor_mac — hit it. A [`Session`] follows it as the controller's does, and after every
//! step the cache, fed only the replica's change sets, must equal `compile_all` over the whole replica:
//! - the incrementally kept `SbView` equals one read from scratch,
//! - the same OpenFlow flows (conjunction ids blanked: they are allocated per entry in the cache),
//! - the same failures,
//! - and no conjunction id owned by two entries, every conjunction flow using only its entry's ids.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use flowgen::cache::LflowCache;
use flowgen::ofp::{Action, Field, Flow};
use flowgen::sbview::{compile_all, SbView, TABLES};
use model::ovsdb::session::{Session, SessionConfig};
use model::ovsdb::{Replica, Uuid};
use proptest::prelude::*;
use tests::{fixture, run, workspace_bin, Daemon, OvsdbServer};

const CHASSIS: &str = "n1";

#[derive(Debug, Clone)]
enum Op {
    /// Sets a logical flow's match to one of a few interesting ones.
    EditMatch {
        flow: u16,
        variant: u8,
    },
    EditActions {
        flow: u16,
        variant: u8,
    },
    AddFlow {
        dp: u8,
        variant: u8,
    },
    AddGroupFlow {
        dps: u8,
        variant: u8,
    },
    EditGroup {
        group: u8,
        dps: u8,
    },
    DelFlow(u16),
    PortKey {
        port: u8,
        key: u8,
    },
    Bind {
        port: u8,
        here: bool,
    },
    AddPort(u8),
    DelPort(u8),
    McKey {
        group: u8,
        key: u8,
    },
    DpKey {
        dp: u8,
        key: u8,
    },
    ToggleChassis,
    /// Renames our chassis away or back (its bindings keep pointing at the row).
    RenameChassis,
    AddressSet {
        n: u8,
        members: u8,
    },
    DelAddressSet(u8),
    PortGroup {
        n: u8,
        members: u8,
        per_dp: bool,
    },
    DelPortGroup(u8),
    SvcMonitorMac(Option<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let b = any::<u8>();
    prop_oneof![
        3 => (any::<u16>(), b).prop_map(|(flow, variant)| Op::EditMatch { flow, variant }),
        1 => (any::<u16>(), b).prop_map(|(flow, variant)| Op::EditActions { flow, variant }),
        2 => (b, b).prop_map(|(dp, variant)| Op::AddFlow { dp, variant }),
        1 => (b, b).prop_map(|(dps, variant)| Op::AddGroupFlow { dps, variant }),
        1 => (b, b).prop_map(|(group, dps)| Op::EditGroup { group, dps }),
        1 => any::<u16>().prop_map(Op::DelFlow),
        2 => (b, b).prop_map(|(port, key)| Op::PortKey { port, key }),
        2 => (b, any::<bool>()).prop_map(|(port, here)| Op::Bind { port, here }),
        1 => (0u8..6).prop_map(Op::AddPort),
        1 => b.prop_map(Op::DelPort),
        1 => (b, b).prop_map(|(group, key)| Op::McKey { group, key }),
        1 => (b, b).prop_map(|(dp, key)| Op::DpKey { dp, key }),
        1 => Just(Op::ToggleChassis),
        2 => Just(Op::RenameChassis),
        2 => (0u8..3, b).prop_map(|(n, members)| Op::AddressSet { n, members }),
        1 => (0u8..3).prop_map(Op::DelAddressSet),
        2 => (0u8..3, b, any::<bool>()).prop_map(|(n, members, per_dp)| Op::PortGroup { n, members, per_dp }),
        1 => (0u8..3).prop_map(Op::DelPortGroup),
        1 => proptest::option::of(b).prop_map(Op::SvcMonitorMac),
    ]
}

/// What the ops pick from, read from the replica before each step.
struct Names {
    flows: Vec<Uuid>,
    ports: Vec<(Uuid, String)>,
    groups: Vec<Uuid>,
    mcs: Vec<Uuid>,
    dps: Vec<Uuid>,
    chassis: Option<Uuid>,
    renamed: Option<Uuid>,
    address_sets: BTreeMap<String, Uuid>,
    port_groups: BTreeMap<String, Uuid>,
}

impl Names {
    fn read(r: &Replica) -> Names {
        let uuids = |t: &str| r.table(t).map(|x| x.uuid).collect::<Vec<_>>();
        Names {
            flows: uuids("Logical_Flow"),
            ports: r.table("Port_Binding").map(|p| (p.uuid, p.str("logical_port").to_string())).collect(),
            groups: uuids("Logical_DP_Group"),
            mcs: uuids("Multicast_Group"),
            dps: uuids("Datapath_Binding"),
            chassis: r.table("Chassis").find(|c| c.str("name") == CHASSIS).map(|c| c.uuid),
            renamed: r.table("Chassis").find(|c| c.str("name") == "elsewhere").map(|c| c.uuid),
            address_sets: r.table("Address_Set").map(|a| (a.str("name").to_string(), a.uuid)).collect(),
            port_groups: r.table("Port_Group").map(|a| (a.str("name").to_string(), a.uuid)).collect(),
        }
    }

    fn port(&self, i: u8) -> String {
        if self.ports.is_empty() {
            return "nothing".to_string();
        }
        self.ports[usize::from(i) % self.ports.len()].1.clone()
    }

    fn pick<T: Copy>(v: &[T], i: usize) -> Option<T> {
        if v.is_empty() {
            None
        } else {
            Some(v[i % v.len()])
        }
    }

    /// A subset of the datapaths, as an OVSDB set.
    fn dp_set(&self, mask: u8) -> String {
        let chosen: Vec<String> =
            self.dps.iter().enumerate().filter(|(i, _)| mask & (1 << (i % 8)) != 0).map(|(_, d)| d.to_string()).collect();
        format!("[{}]", chosen.join(","))
    }

    /// Matches that exercise every kind of lookup (and one that does not compile).
    fn match_(&self, v: u8) -> String {
        let p = self.port(v / 8);
        match v % 8 {
            0 => format!("inport == \"{p}\""),
            1 => format!("outport == \"{p}\" && is_chassis_resident(\"{}\")", self.port(v / 8 + 1)),
            2 => format!("ip4.src == $as{}", v / 8 % 3),
            3 => format!("inport == @pg{} && ip4", v / 8 % 3),
            4 => "ip4.src == {10.0.0.1, 10.0.0.2} && tcp.dst == {80, 443}".to_string(),
            5 => format!("ip4.src == $as{} && tcp.dst == {{22, 80}} && outport == \"_MC_flood\"", v / 8 % 3),
            6 => format!("is_chassis_resident(\"newp{}\")", v / 8 % 6),
            _ => "this is not a match".to_string(),
        }
    }

    fn actions(&self, v: u8) -> String {
        match v % 5 {
            0 => "next;".to_string(),
            1 => format!("outport = \"{}\"; output;", self.port(v / 5)),
            2 => "outport = \"_MC_flood\"; output;".to_string(),
            3 => "drop;".to_string(),
            _ => "no such action;".to_string(),
        }
    }

    fn commands(&self, op: &Op) -> Vec<Vec<String>> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let one = |v: &[&str]| vec![s(v)];
        match op {
            Op::EditMatch { flow, variant } => match Self::pick(&self.flows, usize::from(*flow)) {
                Some(f) => one(&["set", "Logical_Flow", &f.to_string(), &format!("match={:?}", self.match_(*variant))]),
                None => vec![],
            },
            Op::EditActions { flow, variant } => match Self::pick(&self.flows, usize::from(*flow)) {
                Some(f) => one(&["set", "Logical_Flow", &f.to_string(), &format!("actions={:?}", self.actions(*variant))]),
                None => vec![],
            },
            Op::AddFlow { dp, variant } => match Self::pick(&self.dps, usize::from(*dp)) {
                Some(d) => one(&[
                    "create",
                    "Logical_Flow",
                    &format!("logical_datapath={d}"),
                    "pipeline=ingress",
                    &format!("table_id={}", variant % 20),
                    &format!("priority={}", 1000 + u16::from(*variant)),
                    &format!("match={:?}", self.match_(*variant)),
                    &format!("actions={:?}", self.actions(variant / 3)),
                ]),
                None => vec![],
            },
            Op::AddGroupFlow { dps, variant } => one(&[
                "--",
                "--id=@g",
                "create",
                "Logical_DP_Group",
                &format!("datapaths={}", self.dp_set(*dps)),
                "--",
                "create",
                "Logical_Flow",
                "logical_dp_group=@g",
                "pipeline=egress",
                &format!("table_id={}", variant % 10),
                &format!("priority={}", 2000 + u16::from(*variant)),
                &format!("match={:?}", self.match_(*variant)),
                "actions=\"next;\"",
            ]),
            Op::EditGroup { group, dps } => match Self::pick(&self.groups, usize::from(*group)) {
                Some(g) => one(&["set", "Logical_DP_Group", &g.to_string(), &format!("datapaths={}", self.dp_set(*dps))]),
                None => vec![],
            },
            Op::DelFlow(f) => match Self::pick(&self.flows, usize::from(*f)) {
                Some(f) => one(&["destroy", "Logical_Flow", &f.to_string()]),
                None => vec![],
            },
            Op::PortKey { port, key } => {
                one(&["set", "Port_Binding", &self.port(*port), &format!("tunnel_key={}", 100 + u16::from(key % 50))])
            }
            Op::Bind { port, here } => {
                // Half the time one of the ports the probes ask about.
                let p = if port % 2 == 0 {
                    RESIDENT_PROBED[usize::from(port / 2) % RESIDENT_PROBED.len()].to_string()
                } else {
                    self.port(*port)
                };
                match (here, self.chassis) {
                    (true, Some(c)) => one(&["set", "Port_Binding", &p, &format!("chassis={c}")]),
                    _ => one(&["clear", "Port_Binding", &p, "chassis"]),
                }
            }
            Op::AddPort(n) => match self.dps.first() {
                Some(d) => one(&[
                    "create",
                    "Port_Binding",
                    &format!("datapath={d}"),
                    &format!("logical_port=newp{n}"),
                    &format!("tunnel_key={}", 200 + u16::from(*n)),
                ]),
                None => vec![],
            },
            Op::DelPort(p) => one(&["destroy", "Port_Binding", &self.port(*p)]),
            Op::McKey { group, key } => match Self::pick(&self.mcs, usize::from(*group)) {
                Some(m) => one(&["set", "Multicast_Group", &m.to_string(), &format!("tunnel_key={}", 32768 + u16::from(key % 20))]),
                None => vec![],
            },
            Op::DpKey { dp, key } => match Self::pick(&self.dps, usize::from(*dp)) {
                Some(d) => one(&["set", "Datapath_Binding", &d.to_string(), &format!("tunnel_key={}", 50 + u16::from(key % 30))]),
                None => vec![],
            },
            Op::ToggleChassis => match self.chassis {
                Some(_) => one(&["chassis-del", CHASSIS]),
                None => one(&["chassis-add", CHASSIS, "geneve", "127.0.0.1"]),
            },
            Op::RenameChassis => match (self.chassis, self.renamed) {
                (Some(c), _) => one(&["set", "Chassis", &c.to_string(), "name=elsewhere"]),
                (None, Some(c)) => one(&["set", "Chassis", &c.to_string(), &format!("name={CHASSIS}")]),
                (None, None) => vec![],
            },
            Op::AddressSet { n, members } => {
                let name = format!("as{n}");
                let addrs: Vec<String> = (0..8).filter(|i| members & (1 << i) != 0).map(|i| format!("\"10.0.{n}.{i}\"")).collect();
                let addrs = format!("addresses=[{}]", addrs.join(","));
                match self.address_sets.get(&name) {
                    Some(u) => one(&["set", "Address_Set", &u.to_string(), &addrs]),
                    None => one(&["create", "Address_Set", &format!("name={name}"), &addrs]),
                }
            }
            Op::DelAddressSet(n) => match self.address_sets.get(&format!("as{n}")) {
                Some(u) => one(&["destroy", "Address_Set", &u.to_string()]),
                None => vec![],
            },
            Op::PortGroup { n, members, per_dp } => {
                let name = if *per_dp { format!("1_pg{n}") } else { format!("pg{n}") };
                let ports: BTreeSet<String> =
                    (0..8).filter(|i| members & (1 << i) != 0).map(|i| format!("{:?}", self.port(i * 7))).collect();
                let ports: Vec<String> = ports.into_iter().collect();
                let ports = format!("ports=[{}]", ports.join(","));
                match self.port_groups.get(&name) {
                    Some(u) => one(&["set", "Port_Group", &u.to_string(), &ports]),
                    None => one(&["create", "Port_Group", &format!("name={name}"), &ports]),
                }
            }
            Op::DelPortGroup(n) => {
                let mut v = vec![];
                for name in [format!("pg{n}"), format!("1_pg{n}")] {
                    if let Some(u) = self.port_groups.get(&name) {
                        v.push(s(&["destroy", "Port_Group", &u.to_string()]));
                    }
                }
                v
            }
            Op::SvcMonitorMac(Some(m)) => one(&["set", "SB_Global", ".", &format!("options:svc_monitor_mac=\"0a:00:00:00:00:{m:02x}\"")]),
            Op::SvcMonitorMac(None) => one(&["remove", "SB_Global", ".", "options", "svc_monitor_mac"]),
        }
    }
}

/// The flows as text with conjunction ids blanked, sorted.
fn normalized<'a>(flows: impl Iterator<Item = &'a Flow>) -> Vec<String> {
    let mut v: Vec<String> = flows.map(|f| tests::blank_conj_ids(&f.to_string())).collect();
    v.sort();
    v
}

/// Conjunction ids: owned by one entry each, and each entry's flows use only its own.
fn check_conj_ids(cache: &LflowCache) {
    let mut owner: BTreeMap<u32, (Uuid, Uuid)> = BTreeMap::new();
    for (k, ids) in cache.conj_ids() {
        for id in ids {
            if let Some(other) = owner.insert(*id, k) {
                panic!("conjunction id {id} owned by {other:?} and {k:?}");
            }
        }
    }
    for (k, flows) in cache.entries() {
        for f in flows {
            let mut used: Vec<u32> = f
                .actions
                .iter()
                .filter_map(|a| match a {
                    Action::Conjunction { id, .. } => Some(*id),
                    _ => None,
                })
                .collect();
            used.extend(f.matches.exact(Field::ConjId).map(|v| v as u32));
            for id in used {
                assert_eq!(owner.get(&id), Some(&k), "{f} uses conjunction id {id} it does not own");
            }
        }
    }
}

async fn barrier(session: &Session, step: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = session.replica().as_ref().is_some_and(|r| {
            r.table("SB_Global").any(|g| g.get("external_ids").get("step").and_then(|a| a.as_str()) == Some(&*step.to_string()))
        });
        if seen {
            return;
        }
        assert!(Instant::now() < deadline, "the SB session never showed step {step}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A Southbound with the seed network as our northd writes it (northd stopped afterwards).
fn seeded_southbound() -> OvsdbServer {
    southbound_of(|nb| {
        let nbctl = format!("{} --db={}", workspace_bin("nbctl").display(), nb.remote());
        run(Path::new("/bin/bash"), &[fixture("seed/topology.sh").to_str().unwrap_or_default()], &[("NBCTL", &nbctl)]).ok();
    })
}

/// A Southbound with the network `write_nb` puts into a fresh Northbound, as our northd writes it (northd
/// stopped afterwards).
fn southbound_of(write_nb: impl FnOnce(&OvsdbServer)) -> OvsdbServer {
    let nb = OvsdbServer::nb();
    let sb = OvsdbServer::southbound();
    write_nb(&nb);
    let northd = Daemon::start(
        &workspace_bin("northd"),
        &[&format!("--nb-db={}", nb.remote()), &format!("--sb-db={}", sb.remote())],
        Some(&nb.dir().join("northd.log")),
    );
    let t0 = Instant::now();
    let mut last = 0;
    let mut stable = 0;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let n = sb.ovn_sbctl(&["--bare", "--columns=_uuid", "list", "Logical_Flow"]).stdout.lines().filter(|l| !l.is_empty()).count();
        stable = if n == last && n > 50 { stable + 1 } else { 0 };
        last = n;
        if stable >= 3 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "northd did not fill the Southbound:\n{}", northd.log_text());
    }
    drop(northd);
    sb.ovn_sbctl(&["init"]);
    sb
}

/// A one-worker runtime, a Southbound session on it that has synced with `sb`, and a cache built from
/// that first read (its change sets taken, so the next ones are the test's own).
fn cache_of(sb: &OvsdbServer) -> (tokio::runtime::Runtime, Session, LflowCache) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let session = rt.block_on(async {
        let session = Session::start(SessionConfig::new(&sb.remote(), "OVN_Southbound", &TABLES));
        session.wait_synced(1).await;
        session
    });
    let cache = {
        let mut guard = session.replica();
        let r = guard.as_mut().expect("replica");
        r.take_changes();
        LflowCache::full(r, CHASSIS)
    };
    (rt, session, cache)
}

fn compare(r: &Replica, cache: &LflowCache, what: &str) {
    let view = SbView::from_replica(r, CHASSIS);
    assert_eq!(cache.view(), &view, "{what}: the incrementally kept view differs from a fresh read");
    let (flows, failures) = compile_all(r, &view);
    let (want, got) = (normalized(flows.iter()), normalized(cache.flows()));
    if want != got {
        let diff = tests::diff_lines(&want.join("\n"), &got.join("\n"));
        panic!("{what}: cached flows differ from a fresh compile (- fresh, + cached):\n{}", diff.join("\n"));
    }
    let f = |v: Vec<flowgen::sbview::FlowFailure>| v.into_iter().map(|f| (f.lflow, f.error.to_string())).collect::<BTreeSet<_>>();
    assert_eq!(f(failures), f(cache.failures()), "{what}: failures differ");
    check_conj_ids(cache);
}

/// The ports whose residency [`PROBES`] ask about.
const RESIDENT_PROBED: [&str; 5] = ["cr-ovn-cluster-external", "newp1", "node-ubuntu-kube-1", "testvm.default", "node-ubuntu-kube-3"];

/// Flows that look up every kind of name the ops change, on every datapath (through one datapath group),
/// so that address set, port group, residency and port changes always have users.
const PROBES: [&str; 12] = [
    "ip4.src == $as0 && tcp.dst == {22, 80}",
    "ip4.src == $as1",
    "ip4.dst == $as2 && udp",
    "eth.src == $svc_monitor_mac",
    "inport == @pg0",
    "outport == @pg1 && ip4",
    "inport == @pg2 && tcp.dst == {1, 2} && ip4.src == {10.1.1.1, 10.1.1.2}",
    "is_chassis_resident(\"cr-ovn-cluster-external\")",
    "is_chassis_resident(\"newp1\") && is_chassis_resident(\"node-ubuntu-kube-1\")",
    "is_chassis_resident(\"testvm.default\") || is_chassis_resident(\"node-ubuntu-kube-3\")",
    "inport == \"newp0\" || outport == \"newp2\"",
    "outport == \"node-ubuntu-kube-2\" || inport == \"ovn-cluster-external\"",
];

fn add_probes(sb: &OvsdbServer) {
    let dps = sb.ovn_sbctl(&["--bare", "--columns=_uuid", "list", "Datapath_Binding"]).ok().stdout;
    let dps: Vec<&str> = dps.split_whitespace().collect();
    let mut args: Vec<String> =
        vec!["--".into(), "--id=@g".into(), "create".into(), "Logical_DP_Group".into(), format!("datapaths=[{}]", dps.join(","))];
    for (i, m) in PROBES.iter().enumerate() {
        args.extend(
            [
                "--",
                "create",
                "Logical_Flow",
                "logical_dp_group=@g",
                "pipeline=ingress",
                "table_id=7",
                &format!("priority={}", 3000 + i),
                &format!("match={m:?}"),
                "actions=\"next;\"",
            ]
            .map(str::to_string),
        );
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    sb.ovn_sbctl(&a).ok();
    sb.ovn_sbctl(&["chassis-add", CHASSIS, "geneve", "127.0.0.1"]).ok();
}

fn check(ops: &[Op]) {
    let sb = seeded_southbound();
    add_probes(&sb);
    let (rt, session, mut cache) = cache_of(&sb);
    compare(session.replica().as_ref().expect("replica"), &cache, "initial");
    rt.block_on(async {
        for (step, op) in ops.iter().enumerate() {
            let names = Names::read(session.replica().as_ref().expect("replica"));
            for c in names.commands(op) {
                let args: Vec<&str> = c.iter().map(String::as_str).collect();
                let ran = sb.ovn_sbctl(&args);
                if std::env::var("LFLOW_CACHE_DEBUG").is_ok() {
                    eprintln!("{args:?}: {}", ran.stderr.trim());
                }
            }
            sb.ovn_sbctl(&["set", "SB_Global", ".", &format!("external_ids:step={step}")]).ok();
            barrier(&session, step).await;
            let mut guard = session.replica();
            let r = guard.as_mut().expect("replica");
            let changes = r.take_changes();
            let delta = cache.update(r, &changes);
            if std::env::var("LFLOW_CACHE_DEBUG").is_ok() {
                eprintln!("step {step}: {} recompiled, {} changed, {} entries", delta.recompiled, delta.changes.len(), cache.len());
            }
            assert!(delta.recompiled <= cache.len() + changes.get("Logical_Flow").map_or(0, |c| c.len()));
            compare(r, &cache, &format!("step {step} ({op:?})"));
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn cache_equals_fresh_compile_after_random_sb_changes(ops in prop::collection::vec(op(), 1..25)) {
        check(&ops);
    }
}

/// Applies one `ovn-sbctl` command, waits for the session to show it, updates the cache and checks it.
async fn step(sb: &OvsdbServer, session: &Session, cache: &mut LflowCache, n: usize, args: &[&str]) -> flowgen::cache::Delta {
    sb.ovn_sbctl(args).ok();
    sb.ovn_sbctl(&["set", "SB_Global", ".", &format!("external_ids:step={n}")]).ok();
    barrier(session, n).await;
    let mut guard = session.replica();
    let r = guard.as_mut().expect("replica");
    let changes = r.take_changes();
    let d = cache.update(r, &changes);
    compare(r, cache, &format!("{args:?}"));
    d
}

/// Binding the gateway port here recompiles only the flows that ask whether it is resident; an unrelated
/// column (`up`) recompiles nothing; one changed logical flow recompiles its entry alone.
#[test]
fn small_changes_recompile_little() {
    let sb = seeded_southbound();
    sb.ovn_sbctl(&["chassis-add", CHASSIS, "geneve", "127.0.0.1"]).ok();
    let (rt, session, mut cache) = cache_of(&sb);
    rt.block_on(async {
        let total = cache.len();
        let c = sb.ovn_sbctl(&["--bare", "--columns=_uuid", "find", "Chassis", &format!("name={CHASSIS}")]).stdout.trim().to_string();
        let cr = "cr-ovn-cluster-external";
        let d = step(&sb, &session, &mut cache, 1, &["set", "Port_Binding", cr, &format!("chassis={c}")]).await;
        println!("binding {cr} here: {} of {total} entries recompiled, {} changed", d.recompiled, d.changes.len());
        assert!(d.recompiled > 0 && d.recompiled < total / 10, "{} of {total}", d.recompiled);
        let d = step(&sb, &session, &mut cache, 2, &["set", "Port_Binding", cr, "up=true"]).await;
        assert_eq!(d.recompiled, 0, "an unrelated column recompiled flows");
        let lf = sb.ovn_sbctl(&["--bare", "--columns=_uuid", "find", "Logical_Flow", "priority=0"]).stdout;
        let lf = lf.split_whitespace().next().unwrap_or_default().to_string();
        let d = step(&sb, &session, &mut cache, 3, &["set", "Logical_Flow", &lf, "priority=1"]).await;
        println!("one logical flow changed: {} entries recompiled, {} changed", d.recompiled, d.changes.len());
        assert_eq!(d.recompiled, 1);
        let d = step(&sb, &session, &mut cache, 4, &["set", "Port_Binding", cr, "tunnel_key=77"]).await;
        println!("a port's tunnel key changed: {} of {total} entries recompiled, {} changed", d.recompiled, d.changes.len());
        assert!(d.recompiled > 0 && d.recompiled < total / 10, "{} of {total}", d.recompiled);
        // Our chassis renamed away and back: the bindings pointing at its row stop and start being resident.
        let d = step(&sb, &session, &mut cache, 5, &["set", "Chassis", &c, "name=elsewhere"]).await;
        assert!(d.recompiled > 0, "renaming the chassis away recompiled nothing");
        let d = step(&sb, &session, &mut cache, 6, &["set", "Chassis", &c, &format!("name={CHASSIS}")]).await;
        assert!(d.recompiled > 0, "renaming the chassis back recompiled nothing");
    });
}

/// A start compiles thousands of logical flows, on every core (`LflowCache` precompiles big updates in
/// parallel, leaving flows with conjunctions to its sequential pass): the result must be exactly the
/// sequential `compile_all`'s, conjunction ids included.
#[test]
fn a_big_first_compile_equals_the_sequential_one() {
    let sb = southbound_of(|nb| {
        let gen = workspace_bin("nbgen");
        run(&gen, &[&format!("--db={}", nb.remote()), "-s", "6", "-p", "30", "-f", "20"], &[]).ok();
    });
    sb.ovn_sbctl(&["chassis-add", CHASSIS, "geneve", "127.0.0.1"]).ok();
    let (_rt, session, cache) = cache_of(&sb);
    let guard = session.replica();
    let r = guard.as_ref().expect("replica");
    let lflows = r.len("Logical_Flow");
    assert!(lflows > 1000, "only {lflows} logical flows: too few to compile in parallel");
    compare(r, &cache, "a first compile of a 6x30 network");
}
