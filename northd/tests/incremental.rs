//! The incremental path gives the same answer as a full translation.
//!
//! A real Northbound `ovsdb-server` starts with the seed network; random sequences of `nbctl` commands
//! (ports, addresses, NATs, routes, gateway chassis, whole switches, port groups and address sets, added
//! and removed) change it. A
//! [`Session`] follows the database as northd does. After every step:
//! - the snapshot kept current with `NbSnapshot::apply_changes` equals one read from scratch, and
//! - the engine that only recomputed the units whose recorded reads changed wants exactly what a fresh
//!   engine (with the same tunnel keys) wants: the same flows, bindings, groups and warnings.
//!
//! `a_hidden_read_is_caught` shows the comparison fails when a builder's read escapes the recorder.

use std::path::Path;
use std::time::{Duration, Instant};

use model::nb::NbSnapshot;
use model::ovsdb::session::{Session, SessionConfig};
use northd::translate::engine::Engine;
use northd::translate::index::{Dep, NbIndex, Tab};
use proptest::prelude::*;
use tests::{fixture, run, OvsdbServer};

fn nbctl() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nbctl"))
}

/// One change a user might make (commands that fail, e.g. deleting a port twice, are part of the test).
#[derive(Debug, Clone)]
enum Op {
    AddPod(u8),
    DelPod(u8),
    SetVmAddress(u8),
    AddFip {
        n: u8,
        distributed: bool,
    },
    DelFip(u8),
    AddSnat(u8),
    DelSnat(u8),
    EditSeedFip {
        snat_router_ip: bool,
    },
    SetGateway {
        chassis: u8,
        priority: u8,
    },
    DelGateway(u8),
    AddRoute(u8),
    DelRoute(u8),
    AddSwitch(u8),
    DelSwitch(u8),
    /// A port group of some pods (`pg-add`, or `pg-set-ports` when it exists).
    SetPortGroup {
        n: u8,
        pods: Vec<u8>,
    },
    DelPortGroup(u8),
    /// An address set, written with OVN's ovn-nbctl (`create`, a generic command).
    SetAddressSet {
        n: u8,
        addresses: Vec<u8>,
    },
}

impl Op {
    fn commands(&self) -> Vec<Vec<String>> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        match self {
            Op::AddPod(n) => vec![s(&[
                "lsp-add",
                "ovn-default",
                &format!("pod{n}"),
                "--",
                "lsp-set-addresses",
                &format!("pod{n}"),
                &format!("0a:00:00:00:01:{n:02x} 100.0.1.{n}"),
            ])],
            Op::DelPod(n) => vec![s(&["lsp-del", &format!("pod{n}")])],
            Op::SetVmAddress(n) => vec![s(&["lsp-set-addresses", "testvm.default", &format!("00:00:00:F3:5D:{n:02x} 100.0.0.14")])],
            Op::AddFip { n, distributed } => {
                let mut c = s(&["lr-nat-add", "ovn-cluster", "dnat_and_snat", &format!("192.168.100.{}", 150 + n % 50), "100.0.0.15"]);
                if *distributed {
                    c.extend(s(&["pod2.default", &format!("0a:00:00:00:02:{n:02x}")]));
                }
                vec![c]
            }
            Op::DelFip(n) => vec![s(&["lr-nat-del", "ovn-cluster", "dnat_and_snat", &format!("192.168.100.{}", 150 + n % 50)])],
            // SNAT of a pod network to the gateway port's own address (odd n) or to an address of its own:
            // a router address that is an SNAT address changes the router's own flows.
            Op::AddSnat(n) => {
                let external = if n % 2 == 1 { "192.168.100.254".to_string() } else { format!("192.168.100.{}", 200 + n % 50) };
                vec![s(&["lr-nat-add", "ovn-cluster", "snat", &external, &format!("100.0.{}.0/24", 100 + n)])]
            }
            Op::DelSnat(n) => vec![s(&["lr-nat-del", "ovn-cluster", "snat", &format!("100.0.{}.0/24", 100 + n)])],
            Op::EditSeedFip { .. } => vec![],
            Op::SetGateway { chassis, priority } => {
                vec![s(&["lrp-set-gateway-chassis", "ovn-cluster-external", &format!("n{}", chassis % 3 + 1), &priority.to_string()])]
            }
            Op::DelGateway(c) => vec![s(&["lrp-del-gateway-chassis", "ovn-cluster-external", &format!("n{}", c % 3 + 1)])],
            Op::AddRoute(n) => vec![s(&["lr-route-add", "ovn-cluster", &format!("10.{n}.0.0/16"), "100.64.0.2"])],
            Op::DelRoute(n) => vec![s(&["lr-route-del", "ovn-cluster", &format!("10.{n}.0.0/16")])],
            Op::AddSwitch(n) => {
                let n = n % 4;
                let (ls, lrp, lsp) = (format!("net{n}"), format!("ovn-cluster-net{n}"), format!("net{n}-ovn-cluster"));
                vec![
                    s(&["ls-add", &ls]),
                    s(&["lrp-add", "ovn-cluster", &lrp, &format!("00:00:00:00:aa:{n:02x}"), &format!("10.20{n}.0.1/24")]),
                    s(&[
                        "lsp-add",
                        &ls,
                        &lsp,
                        "--",
                        "lsp-set-type",
                        &lsp,
                        "router",
                        "--",
                        "lsp-set-addresses",
                        &lsp,
                        "router",
                        "--",
                        "lsp-set-options",
                        &lsp,
                        &format!("router-port={lrp}"),
                    ]),
                    s(&[
                        "lsp-add",
                        &ls,
                        &format!("vm{n}"),
                        "--",
                        "lsp-set-addresses",
                        &format!("vm{n}"),
                        &format!("0a:00:00:00:03:{n:02x} 10.20{n}.0.5"),
                    ]),
                ]
            }
            Op::DelSwitch(n) => vec![s(&["ls-del", &format!("net{}", n % 4)]), s(&["lrp-del", &format!("ovn-cluster-net{}", n % 4)])],
            Op::SetPortGroup { n, pods } => {
                // Pods that do not exist make the command fail, as a user's typo would; the VM always exists.
                let mut ports: Vec<String> = pods.iter().map(|p| format!("pod{p}")).collect();
                ports.push("testvm.default".to_string());
                let pg = format!("pg{}", n % 3);
                let mut set = s(&["pg-set-ports", &pg]);
                set.extend(ports.iter().cloned());
                let mut add = s(&["pg-add", &pg]);
                add.extend(ports);
                vec![add, set]
            }
            Op::DelPortGroup(n) => vec![s(&["pg-del", &format!("pg{}", n % 3)])],
            Op::SetAddressSet { n, addresses } => {
                let name = format!("name=as{}", n % 2);
                let list: Vec<String> = addresses.iter().map(|a| format!("\"10.99.0.{a}\"")).collect();
                vec![
                    s(&["ovn-nbctl", "--if-exists", "destroy", "Address_Set", &format!("as{}", n % 2)]),
                    s(&["ovn-nbctl", "create", "Address_Set", &name, &format!("addresses=[{}]", list.join(","))]),
                ]
            }
        }
    }
}

impl Op {
    /// Changes our nbctl has no command for, made with OVN's `ovn-nbctl set`: a NAT row edited in place
    /// changes no router row, so only the units' own reads of it can notice.
    fn edit_in_place(&self, nb: &OvsdbServer) {
        if let Op::EditSeedFip { snat_router_ip } = self {
            // The seed's FIP turned into an SNAT to the gateway port's own address, and back.
            let (kind, external) = if *snat_router_ip { ("snat", "192.168.100.254") } else { ("dnat_and_snat", "192.168.100.101") };
            let found = nb.ovn_nbctl(&["--bare", "--columns=_uuid", "find", "NAT", "logical_ip=\"100.0.0.14\""]).ok();
            for uuid in found.stdout.split_whitespace() {
                nb.ovn_nbctl(&["set", "NAT", uuid, &format!("type={kind}"), &format!("external_ip=\"{external}\"")]).ok();
            }
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0u8..12;
    prop_oneof![
        n.clone().prop_map(Op::AddPod),
        n.clone().prop_map(Op::DelPod),
        n.clone().prop_map(Op::SetVmAddress),
        (n.clone(), any::<bool>()).prop_map(|(n, distributed)| Op::AddFip { n, distributed }),
        n.clone().prop_map(Op::DelFip),
        n.clone().prop_map(Op::AddSnat),
        n.clone().prop_map(Op::DelSnat),
        any::<bool>().prop_map(|snat_router_ip| Op::EditSeedFip { snat_router_ip }),
        (0u8..3, 1u8..200).prop_map(|(chassis, priority)| Op::SetGateway { chassis, priority }),
        (0u8..3).prop_map(Op::DelGateway),
        n.clone().prop_map(Op::AddRoute),
        n.clone().prop_map(Op::DelRoute),
        n.clone().prop_map(Op::AddSwitch),
        n.clone().prop_map(Op::DelSwitch),
        (n.clone(), prop::collection::vec(0u8..12, 0..4)).prop_map(|(n, pods)| Op::SetPortGroup { n, pods }),
        n.clone().prop_map(Op::DelPortGroup),
        (n, prop::collection::vec(0u8..20, 0..4)).prop_map(|(n, addresses)| Op::SetAddressSet { n, addresses }),
    ]
}

/// Waits until the session's replica shows `NB_Global.external_ids:step=<step>` (set with `ovn-nbctl set`
/// after each step, so every earlier change has arrived too).
async fn barrier(session: &Session, step: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = session.replica().as_ref().is_some_and(|r| {
            r.table(model::nb::table::NB_GLOBAL)
                .any(|g| g.get("external_ids").get("step").and_then(|a| a.as_str()) == Some(&*step.to_string()))
        });
        if seen {
            return;
        }
        assert!(Instant::now() < deadline, "the NB session never showed step {step}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A Northbound holding the seed network, written by our nbctl.
fn seeded_nb() -> OvsdbServer {
    let nb = OvsdbServer::nb();
    let db = format!("--db={}", nb.remote());
    run(nbctl(), &[&db, "init"], &[]).ok();
    let cmd = format!("{} {db}", nbctl().display());
    run(Path::new("/bin/bash"), &[fixture("seed/topology.sh").to_str().unwrap_or_default()], &[("NBCTL", &cmd)]).ok();
    nb
}

/// Runs `ops` against a real Northbound and, after every step, compares the engine that followed the
/// changes with a fresh one. `hide` drops the reads it matches from the engine's records (a builder
/// whose read the recorder missed), to show the comparison catches it.
fn check(ops: &[Op], hide: Option<fn(&Dep) -> bool>) -> Result<northd::desired::DesiredSb, String> {
    let nb = seeded_nb();
    let db = format!("--db={}", nb.remote());

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    rt.block_on(async {
        let session = Session::start(SessionConfig::new(&nb.remote(), model::nb::DB_NAME, model::nb::table::ALL));
        session.wait_synced(1).await;
        let mut ix = {
            let mut guard = session.replica();
            let r = guard.as_mut().expect("replica");
            r.take_changes();
            NbIndex::new(NbSnapshot::from_replica(r)).0
        };
        let mut engine = Engine::default();
        if let Some(h) = hide {
            engine.hide_reads(h);
        }
        engine.run_full(&ix);

        for (step, op) in ops.iter().enumerate() {
            for c in op.commands() {
                match c.split_first() {
                    Some((tool, rest)) if tool == "ovn-nbctl" => drop(nb.ovn_nbctl(&rest.iter().map(String::as_str).collect::<Vec<_>>())),
                    _ => drop(run(nbctl(), &std::iter::once(db.as_str()).chain(c.iter().map(String::as_str)).collect::<Vec<_>>(), &[])),
                }
            }
            op.edit_in_place(&nb);
            nb.ovn_nbctl(&["set", "NB_Global", ".", &format!("external_ids:step={step}")]).ok();
            barrier(&session, step).await;

            let (full_snap, changed) = {
                let mut guard = session.replica();
                let r = guard.as_mut().expect("replica");
                let changes = r.take_changes();
                let changed = ix.apply_changes(r, &changes);
                (NbSnapshot::from_replica(r), changed)
            };
            assert_eq!(ix.snapshot(), &full_snap, "step {step} ({op:?}): the incrementally kept snapshot differs from a fresh read");

            // As the daemon runs it: only the units that read what changed are computed again.
            let delta = engine.run_changes(&ix, &changed);
            let mut fresh = Engine::with_keys(engine.keys().clone());
            let (full_ix, _) = NbIndex::new(full_snap);
            let full = fresh.run_full(&full_ix);
            assert!(delta.recomputed <= full.recomputed, "step {step}: recomputed more than a full pass");
            let (want, got) = (fresh.desired(), engine.desired());
            if want != got {
                let (w, g) = (want.lflow_list_text(), got.lflow_list_text());
                let diff = tests::diff_lines(&w, &g);
                return Err(format!(
                    "step {step} ({op:?}): incremental result differs from a full translation:\n{}\n{want:#?}\nvs\n{got:#?}",
                    diff.join("\n")
                ));
            }
            if fresh.warnings() != engine.warnings() {
                return Err(format!("step {step} ({op:?}): warnings differ: {:?} vs {:?}", fresh.warnings(), engine.warnings()));
            }
        }
        Ok(engine.desired())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn incremental_equals_full_after_random_nb_changes(ops in prop::collection::vec(op(), 1..14)) {
        if let Err(e) = check(&ops, None) {
            panic!("{e}");
        }
    }
}

/// The comparison above catches a read the recorder missed: with the gateway chassis rows hidden, a new
/// priority of the existing gateway chassis leaves the chassisredirect port's HA group stale.
#[test]
fn a_hidden_read_is_caught() {
    let ops = [Op::SetGateway { chassis: 0, priority: 7 }];
    assert!(check(&ops, None).is_ok());
    let hidden = check(&ops, Some(|d| matches!(d, Dep::Row(Tab::GatewayChassis, _))));
    assert!(hidden.as_ref().is_err_and(|e| e.contains("SetGateway")), "{hidden:?}");
}

/// Port groups and address sets follow their own changes and their ports' (a pod joins, a pod's address
/// changes, the pod goes), as rows of the Southbound's Port_Group and Address_Set.
#[test]
fn port_groups_and_address_sets_follow_changes() {
    let ops = [
        Op::AddPod(3),
        Op::SetPortGroup { n: 0, pods: vec![3] },
        Op::SetAddressSet { n: 1, addresses: vec![7, 8] },
        Op::AddPod(4),
        Op::SetPortGroup { n: 0, pods: vec![3, 4] },
        Op::DelPod(3),
        Op::SetAddressSet { n: 1, addresses: vec![9] },
    ];
    let sb = check(&ops, None).unwrap_or_else(|e| panic!("{e}"));
    let named: Vec<String> = sb.named.iter().map(|((t, n), v)| format!("{t} {n} {v:?}")).collect();
    let ip4 = sb.named.get(&("Address_Set", "pg0_ip4".to_string())).map(|v| format!("{v:?}")).unwrap_or_default();
    assert!(ip4.contains("100.0.1.4") && !ip4.contains("100.0.1.3") && ip4.contains("100.0.0.14"), "{ip4}");
    let pg = sb.named.iter().find(|((t, n), _)| *t == "Port_Group" && n.ends_with("_pg0")).map(|(_, v)| format!("{v:?}"));
    assert!(pg.as_ref().is_some_and(|v| v.contains("pod4") && v.contains("testvm.default") && !v.contains("pod3")), "{named:#?}");
    let as1 = sb.named.get(&("Address_Set", "as1".to_string())).map(|v| format!("{v:?}")).unwrap_or_default();
    assert!(as1.contains("10.99.0.9") && !as1.contains("10.99.0.7"), "{as1}");
}

/// A one-port change recomputes that port, not its switch: adding a pod to a switch computes the pod's
/// own unit, and the flows that appear are all about the pod.
#[test]
fn a_port_change_recomputes_only_that_port() {
    let nb = seeded_nb();
    let db = format!("--db={}", nb.remote());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    rt.block_on(async {
        let session = Session::start(SessionConfig::new(&nb.remote(), model::nb::DB_NAME, model::nb::table::ALL));
        session.wait_synced(1).await;
        let mut ix = {
            let mut guard = session.replica();
            let r = guard.as_mut().expect("replica");
            r.take_changes();
            NbIndex::new(NbSnapshot::from_replica(r)).0
        };
        let mut engine = Engine::default();
        let first = engine.run_full(&ix);
        assert!(first.recomputed > 5, "the first pass computes every unit: {first:?}");

        run(nbctl(), &[&db, "lsp-add", "ovn-default", "pod9", "--", "lsp-set-addresses", "pod9", "0a:00:00:00:00:09 100.0.0.99"], &[]).ok();
        nb.ovn_nbctl(&["set", "NB_Global", ".", "external_ids:step=0"]).ok();
        barrier(&session, 0).await;
        let changed = {
            let mut guard = session.replica();
            let r = guard.as_mut().expect("replica");
            let changes = r.take_changes();
            ix.apply_changes(r, &changes)
        };
        let delta = engine.run_changes(&ix, &changed);
        assert_eq!(delta.recomputed, 1, "{delta:?}");
        assert_eq!(delta.ports.iter().map(String::as_str).collect::<Vec<_>>(), ["pod9"]);
        assert!(delta.removed.is_empty(), "{:?}", delta.removed);
        let added: Vec<&northd::desired::Lflow> = delta.added.iter().filter_map(|k| engine.flow(*k)).collect();
        assert_eq!(added.len(), delta.added.len(), "every added flow is in the engine");
        let about_pod9 = |f: &&northd::desired::Lflow| {
            let text = format!("{} {}", f.match_, f.actions);
            text.contains("pod9") || text.contains("100.0.0.99") || text.contains("0a:00:00:00:00:09")
        };
        assert!(!added.is_empty() && added.iter().all(about_pod9), "{added:#?}");
        // Its router's ARP entry for it is among them.
        assert!(added.iter().any(|f| f.stage == northd::stage::Stage::LrInArpResolve), "{added:#?}");
    });
}
