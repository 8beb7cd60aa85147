//! The OVSDB client and replica against a real `ovsdb-server` holding OVN's Northbound schema.

use std::collections::BTreeMap;
use std::time::Duration;

use model::nb::{self, table, NbSnapshot};
use model::ovsdb::client::{Client, ClientError};
use model::ovsdb::session::{Session, SessionConfig};
use model::ovsdb::transact::{Condition, Mutation, RowData, Transaction};
use model::ovsdb::{Atom, Datum};
use serde_json::json;
use tests::OvsdbServer;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn row(cols: &[(&str, Datum)]) -> RowData {
    cols.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Waits (up to 10 s) until `check` holds for the session's replica.
async fn until(session: &Session, what: &str, check: impl Fn(&model::ovsdb::Replica) -> bool) {
    let mut rx = session.watch();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if session.replica().as_ref().is_some_and(&check) {
            return;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "timed out waiting for: {what}");
        let _ = tokio::time::timeout(left, rx.changed()).await;
    }
}

fn switch_names(r: &model::ovsdb::Replica) -> Vec<String> {
    let mut v: Vec<String> = r.table(table::LOGICAL_SWITCH).map(|s| s.str("name").to_string()).collect();
    v.sort();
    v
}

#[test]
fn basic_calls_and_transaction_errors() {
    let nb = OvsdbServer::nb();
    rt().block_on(async {
        let client = Client::connect(&nb.remote()).await.expect("connect");
        assert!(client.list_dbs().await.expect("list_dbs").contains(&nb::DB_NAME.to_string()));
        let schema = client.get_schema(nb::DB_NAME).await.expect("schema");
        assert!(schema.table("Logical_Switch_Port").is_some_and(|t| t.indexes == vec![vec!["name".to_string()]]));
        assert_eq!(client.echo(vec![json!("hi")]).await.expect("echo"), json!(["hi"]));

        // insert with a named UUID referenced by another row of the same transaction
        let mut t = Transaction::new();
        let port = t.insert(table::LOGICAL_SWITCH_PORT, row(&[("name", Datum::atom("p1"))]));
        t.insert(table::LOGICAL_SWITCH, row(&[("name", Datum::atom("sw")), ("ports", Datum::atom(port))]));
        t.comment("test insert");
        client.transact(nb::DB_NAME, &t).await.expect("insert");

        // mutate, then select it back
        let mut t = Transaction::new();
        t.mutate(
            table::LOGICAL_SWITCH,
            vec![Condition::eq("name", Datum::atom("sw"))],
            vec![Mutation::insert("other_config", Datum::map([("k", "v")]))],
        );
        t.select(table::LOGICAL_SWITCH, vec![Condition::eq("name", Datum::atom("sw"))], Some(vec!["other_config".into()]));
        let res = client.transact(nb::DB_NAME, &t).await.expect("mutate");
        assert_eq!(res[1]["rows"][0]["other_config"], json!(["map", [["k", "v"]]]));

        // a failing operation names itself, and nothing of the transaction is applied
        let mut t = Transaction::new();
        t.insert(table::LOGICAL_SWITCH, row(&[("name", Datum::atom("never"))]));
        t.insert(table::GATEWAY_CHASSIS, row(&[("name", Datum::atom("gc")), ("priority", Datum::atom(99999))]));
        match client.transact(nb::DB_NAME, &t).await {
            Err(ClientError::Transaction(e)) => {
                assert_eq!(e.index, Some(1), "{e}");
                assert!(e.to_string().contains("insert into Gateway_Chassis"), "{e}");
            }
            other => panic!("expected a transaction error, got {other:?}"),
        }
        // a wait on a value that is not there fails as "timed out", which callers read as "stale"
        let mut t = Transaction::new();
        t.wait_equal(
            table::LOGICAL_SWITCH,
            vec![Condition::eq("name", Datum::atom("sw"))],
            vec!["name".into()],
            vec![row(&[("name", Datum::atom("other"))])],
        );
        match client.transact(nb::DB_NAME, &t).await {
            Err(ClientError::Transaction(e)) => assert!(e.is_stale(), "{e}"),
            other => panic!("expected a failed wait, got {other:?}"),
        }
        let mut t = Transaction::new();
        t.select(table::LOGICAL_SWITCH, vec![Condition::eq("name", Datum::atom("never"))], None);
        let res = client.transact(nb::DB_NAME, &t).await.expect("select");
        assert_eq!(res[0]["rows"], json!([]));

        let e = client.call("no_such_method", vec![]).await.expect_err("an unknown method fails");
        assert!(matches!(e, ClientError::Rpc { .. }), "{e:?}");
        let e = Client::connect("unix:/nonexistent/x.sock").await.err().expect("connect must fail");
        assert!(e.to_string().contains("/nonexistent/x.sock"), "{e}");
    });
}

#[test]
fn replica_follows_another_client_and_survives_a_restart() {
    let mut nb = OvsdbServer::nb();
    let rt = rt();
    let remote = nb.remote();
    let mut config = SessionConfig::new(&remote, nb::DB_NAME, table::ALL);
    config.backoff_max = Duration::from_millis(200);
    let session = rt.block_on(async { Session::start(config) });
    rt.block_on(async {
        session.wait_synced(1).await;
        let other = Client::connect(&remote).await.expect("connect");
        let mut t = Transaction::new();
        let gc = t.insert(
            table::GATEWAY_CHASSIS,
            row(&[("name", Datum::atom("lrp-n1")), ("chassis_name", Datum::atom("n1")), ("priority", Datum::atom(100))]),
        );
        let lrp = t.insert(
            table::LOGICAL_ROUTER_PORT,
            row(&[
                ("name", Datum::atom("lrp")),
                ("mac", Datum::atom("16:52:f3:13:6a:25")),
                ("networks", Datum::set(["192.168.100.254/24"])),
                ("gateway_chassis", Datum::atom(gc)),
            ]),
        );
        t.insert(table::LOGICAL_ROUTER, row(&[("name", Datum::atom("r")), ("ports", Datum::atom(lrp))]));
        t.insert(table::LOGICAL_SWITCH, row(&[("name", Datum::atom("a"))]));
        other.transact(nb::DB_NAME, &t).await.expect("insert");
        until(&session, "switch a and router r", |r| switch_names(r) == ["a"] && r.len(table::LOGICAL_ROUTER) == 1).await;
        {
            let guard = session.replica();
            let snap = NbSnapshot::from_replica(guard.as_ref().expect("synced"));
            let port = snap.router_ports.values().next().expect("router port");
            assert_eq!(port.networks[0].to_string(), "192.168.100.254/24");
            assert_eq!(port.mac.to_string(), "16:52:F3:13:6A:25");
            assert_eq!(snap.gateway_chassis[&port.gateway_chassis[0]].priority, 100);
        }

        // a modify (map column) and a delete
        let mut t = Transaction::new();
        t.update(
            table::LOGICAL_SWITCH,
            vec![Condition::eq("name", Datum::atom("a"))],
            row(&[("other_config", Datum::map([("subnet", "10.0.0.0/8")]))]),
        );
        t.delete(table::LOGICAL_ROUTER, vec![Condition::eq("name", Datum::atom("r"))]);
        other.transact(nb::DB_NAME, &t).await.expect("update");
        until(&session, "modify and delete", |r| {
            r.len(table::LOGICAL_ROUTER) == 0
                && r.len(table::LOGICAL_ROUTER_PORT) == 0
                && r.table(table::LOGICAL_SWITCH).any(|s| s.get("other_config").get("subnet") == Some(&Atom::string("10.0.0.0/8")))
        })
        .await;
    });

    // The server goes away and comes back; meanwhile the data changes under the replica's feet.
    nb.stop();
    rt.block_on(async {
        let mut rx = session.watch();
        let _ = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|s| !s.connected)).await;
        assert!(!session.status().connected, "the session noticed the server is gone");
    });
    nb.start();
    rt.block_on(async {
        let other = Client::connect(&remote).await.expect("connect again");
        let mut t = Transaction::new();
        t.insert(table::LOGICAL_SWITCH, row(&[("name", Datum::atom("b"))]));
        t.delete(table::LOGICAL_SWITCH, vec![Condition::eq("name", Datum::atom("a"))]);
        other.transact(nb::DB_NAME, &t).await.expect("insert after restart");
        tokio::time::timeout(Duration::from_secs(10), session.wait_synced(2)).await.expect("resynced after the restart");
        until(&session, "switch b only", |r| switch_names(r) == ["b"]).await;
        let counts: BTreeMap<&str, usize> = table::ALL.iter().map(|t| (*t, session.replica().as_ref().map_or(0, |r| r.len(t)))).collect();
        assert_eq!(counts[table::LOGICAL_SWITCH], 1);
    });
}

/// ovsdb-server sends the new value of a column holding at most one atom (not a difference); the replica
/// must end with what the server has, through every kind of change.
#[test]
fn replica_follows_optional_columns() {
    let nb = OvsdbServer::nb();
    let rt = rt();
    let remote = nb.remote();
    let session = rt.block_on(async { Session::start(SessionConfig::new(&remote, nb::DB_NAME, table::ALL)) });
    rt.block_on(async { session.wait_synced(1).await });
    let enabled = |s: &Session| -> Option<Datum> {
        s.replica().as_ref().and_then(|r| r.table(table::LOGICAL_SWITCH_PORT).next().map(|p| p.get("enabled").clone()))
    };
    nb.ovn_nbctl(&["ls-add", "s", "--", "lsp-add", "s", "p", "--", "set", "Logical_Switch_Port", "p", "enabled=false"]).ok();
    for (cmd, want) in [
        (vec!["set", "Logical_Switch_Port", "p", "enabled=true"], Datum::atom(true)),
        (vec!["set", "Logical_Switch_Port", "p", "enabled=false"], Datum::atom(false)),
        (vec!["clear", "Logical_Switch_Port", "p", "enabled"], Datum::empty_set()),
        (vec!["set", "Logical_Switch_Port", "p", "enabled=true"], Datum::atom(true)),
    ] {
        nb.ovn_nbctl(&cmd).ok();
        rt.block_on(until(&session, &format!("enabled = {want}"), |r| {
            r.table(table::LOGICAL_SWITCH_PORT).next().is_some_and(|p| p.get("enabled") == &want)
        }));
        assert_eq!(enabled(&session), Some(want));
    }
}

/// A whole-Southbound-sized write split into batches and pipelined, while the writer's own monitor
/// receives every row back (the server stops reading a client whose updates it cannot send: a client
/// that did not read while writing would hang here). Every reference across batches must land.
#[test]
fn a_big_write_goes_out_in_pipelined_batches_with_its_references_intact() {
    const SB: &str = "OVN_Southbound";
    let (dps, ports, flows) = (20usize, 100usize, 1000usize);
    let sb = OvsdbServer::southbound();
    let rt = rt();
    let tables = ["Datapath_Binding", "Port_Binding", "Multicast_Group", "Logical_Flow"];
    let session = rt.block_on(async { Session::start(SessionConfig::new(&sb.remote(), SB, &tables)) });
    rt.block_on(session.wait_synced(1));

    let mut t = Transaction::new();
    for d in 0..dps {
        let dp = t.insert("Datapath_Binding", row(&[("tunnel_key", Datum::atom(d as i64 + 1))]));
        let pbs: Vec<Atom> = (0..ports)
            .map(|p| {
                let name = format!("dp{d}-p{p}");
                let cols = [
                    ("datapath", Datum::atom(dp.clone())),
                    ("logical_port", Datum::atom(name.as_str())),
                    ("tunnel_key", Datum::atom(p as i64 + 1)),
                ];
                t.insert("Port_Binding", row(&cols))
            })
            .collect();
        let mc = [
            ("datapath", Datum::atom(dp.clone())),
            ("name", Datum::atom("_MC_flood")),
            ("tunnel_key", Datum::atom(32768)),
            ("ports", Datum::set(pbs)),
        ];
        t.insert("Multicast_Group", row(&mc));
        for f in 0..flows {
            let m = format!("inport == \"dp{d}-p{}\" && reg0 == {f}", f % ports);
            let cols = [
                ("logical_datapath", Datum::atom(dp.clone())),
                ("pipeline", Datum::atom("ingress")),
                ("table_id", Datum::atom((f % 20) as i64)),
                ("priority", Datum::atom(100)),
                ("match", Datum::atom(m.as_str())),
                ("actions", Datum::atom("next;")),
            ];
            t.insert("Logical_Flow", row(&cols));
        }
    }
    let batches = t.into_batches(&["Port_Binding", "Multicast_Group", "Logical_Flow"], 200, &mut model::ovsdb::UuidGen::new());
    assert!(batches.len() > 100, "{} batches", batches.len());
    let results = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), session.transact_all(&batches, 4)).await.expect("the pipelined write hung")
    });
    let results = results.expect("every batch commits");
    assert_eq!(results.len(), batches.len());

    let total = dps * (1 + ports + 1 + flows);
    rt.block_on(until(&session, "every row echoed", |r| tables.iter().map(|t| r.len(t)).sum::<usize>() == total));
    let guard = session.replica();
    let r = guard.as_ref().expect("replica");
    let dp_key = |u: model::ovsdb::Uuid| r.row("Datapath_Binding", u).and_then(|d| d.get("tunnel_key").as_i64());
    for pb in r.table("Port_Binding") {
        let d = dp_key(pb.get("datapath").as_uuid().expect("datapath")).expect("datapath row");
        assert!(pb.str("logical_port").starts_with(&format!("dp{}-", d - 1)), "{} on datapath {d}", pb.str("logical_port"));
    }
    for mc in r.table("Multicast_Group") {
        let d = dp_key(mc.get("datapath").as_uuid().expect("datapath")).expect("datapath row");
        let members: Vec<&str> = mc.get("ports").uuids().filter_map(|u| r.row("Port_Binding", u)).map(|p| p.str("logical_port")).collect();
        assert_eq!(members.len(), ports, "group of datapath {d}");
        assert!(members.iter().all(|p| p.starts_with(&format!("dp{}-", d - 1))), "group of datapath {d}: {members:?}");
    }
    for lf in r.table("Logical_Flow") {
        let d = dp_key(lf.get("logical_datapath").as_uuid().expect("datapath")).expect("datapath row");
        assert!(lf.str("match").contains(&format!("\"dp{}-", d - 1)), "{} on datapath {d}", lf.str("match"));
    }
}

/// A table monitored with `own_inserts` (northd's Logical_Flow): the writer's inserts come back as their
/// key column only, recording them fills them in exactly as a full monitor sees them, and everyone
/// else's inserts, changes and deletions still arrive.
#[test]
fn own_inserts_come_back_by_their_key_and_are_recorded_whole() {
    const SB: &str = "OVN_Southbound";
    let sb = OvsdbServer::southbound();
    let rt = rt();
    let tables = ["Datapath_Binding", "Logical_Flow"];
    let (own, full) = rt.block_on(async {
        let own = Session::start(SessionConfig::new(&sb.remote(), SB, &tables).own_inserts("Logical_Flow", "priority"));
        (own, Session::start(SessionConfig::new(&sb.remote(), SB, &tables)))
    });
    rt.block_on(own.wait_synced(1));
    rt.block_on(full.wait_synced(1));
    let flow = |dp: &Atom, prio: i64, m: &str| {
        row(&[
            ("logical_datapath", Datum::atom(dp.clone())),
            ("pipeline", Datum::atom("ingress")),
            ("table_id", Datum::atom(3)),
            ("priority", Datum::atom(prio)),
            ("match", Datum::atom(m)),
            ("actions", Datum::atom("next;")),
            ("external_ids", Datum::map([("stage-name", "ls_in_acl")])),
        ])
    };

    // The datapath and its flows in one transaction, the flows naming it by its uuid-name.
    let mut t = Transaction::new();
    let dp = t.insert("Datapath_Binding", row(&[("tunnel_key", Datum::atom(7))]));
    for p in 1..=3 {
        t.insert("Logical_Flow", flow(&dp, p * 10, &format!("reg0 == {p}")));
    }
    let mut ids = model::ovsdb::UuidGen::new();
    t.choose_uuids(&mut ids);
    rt.block_on(own.transact(&t)).expect("commit");
    rt.block_on(until(&own, "the echo of three flows", |r| r.len("Logical_Flow") == 3));
    {
        let guard = own.replica();
        let r = guard.as_ref().expect("replica");
        let mut prios: Vec<i64> = r.table("Logical_Flow").filter_map(|f| f.get("priority").as_i64()).collect();
        prios.sort();
        assert_eq!(prios, [10, 20, 30], "the echo carries the key column");
        assert!(
            r.table("Logical_Flow").all(|f| f.str("match").is_empty() && f.get("logical_datapath").as_uuid().is_none()),
            "and nothing else"
        );
    }
    assert_eq!(own.record_inserts("Logical_Flow", t.clone().take_inserts("Logical_Flow"), 2), 0, "a stale sync count records nothing");
    assert_eq!(own.record_inserts("Logical_Flow", t.take_inserts("Logical_Flow"), 1), 3);
    let changed = own.replica().as_mut().expect("replica").take_changes();
    assert!(changed.get("Logical_Flow").is_none_or(|c| c.is_empty()), "recorded rows are known, not changes: {changed:?}");

    // Inserts said in advance: their echo is not applied at all; the datapath beside them is.
    let mut t2 = Transaction::new();
    let dp2 = t2.insert("Datapath_Binding", row(&[("tunnel_key", Datum::atom(8))]));
    for p in 4..=5 {
        t2.insert("Logical_Flow", flow(&dp2, p * 10, &format!("reg0 == {p}")));
    }
    t2.choose_uuids(&mut ids);
    own.expect_inserts("Logical_Flow", t2.insert_uuids("Logical_Flow").collect::<Vec<_>>());
    rt.block_on(own.transact(&t2)).expect("commit");
    rt.block_on(until(&own, "the second datapath", |r| r.len("Datapath_Binding") == 2));
    assert_eq!(own.replica().as_ref().expect("replica").len("Logical_Flow"), 3, "an expected insert's echo is skipped");
    assert_eq!(own.record_inserts("Logical_Flow", t2.take_inserts("Logical_Flow"), 1), 2);
    rt.block_on(until(&full, "five flows", |r| r.len("Logical_Flow") == 5));

    // Someone else inserts a flow and changes one of ours.
    let ours: Vec<model::ovsdb::Uuid> = own.replica().as_ref().expect("replica").table("Logical_Flow").map(|f| f.uuid).collect();
    let dp_uuid = own.replica().as_ref().expect("replica").table("Datapath_Binding").next().expect("datapath").uuid;
    let mut other = Transaction::new();
    other.insert("Logical_Flow", flow(&Atom::Uuid(dp_uuid), 99, "reg0 == 99"));
    other.update("Logical_Flow", vec![Condition::uuid(ours[0])], row(&[("actions", Datum::atom("drop;"))]));
    rt.block_on(full.transact(&other)).expect("commit");
    rt.block_on(until(&full, "six flows", |r| r.len("Logical_Flow") == 6));
    rt.block_on(until(&own, "six flows and the change", |r| {
        r.len("Logical_Flow") == 6 && r.row("Logical_Flow", ours[0]).is_some_and(|f| f.str("actions") == "drop;")
    }));

    let (g_own, g_full) = (own.replica(), full.replica());
    let (a, b) = (g_own.as_ref().expect("replica"), g_full.as_ref().expect("replica"));
    for u in &ours {
        let (x, y) = (a.row("Logical_Flow", *u).expect("recorded"), b.row("Logical_Flow", *u).expect("monitored"));
        for col in ["logical_datapath", "pipeline", "table_id", "priority", "match", "actions", "external_ids"] {
            assert_eq!(x.get(col), y.get(col), "column {col} of {u}");
        }
    }
    let foreign = a.table("Logical_Flow").find(|f| !ours.contains(&f.uuid)).expect("the other client's flow");
    assert_eq!(foreign.get("priority").as_i64(), Some(99));
    assert!(foreign.get("logical_datapath").as_uuid().is_none(), "someone else's insert arrives by its key column only");
    drop((g_own, g_full));

    // A write whose rows were expected but never recorded (as after a failed pipelined write): a resync
    // loads them whole.
    let mut t3 = Transaction::new();
    t3.insert("Logical_Flow", flow(&Atom::Uuid(dp_uuid), 77, "reg0 == 77"));
    t3.choose_uuids(&mut ids);
    let lost: Vec<model::ovsdb::Uuid> = t3.insert_uuids("Logical_Flow").collect();
    own.expect_inserts("Logical_Flow", lost.clone());
    rt.block_on(own.transact(&t3)).expect("commit");
    own.resync();
    rt.block_on(own.wait_synced(2));
    let guard = own.replica();
    let r = guard.as_ref().expect("replica");
    assert_eq!(r.len("Logical_Flow"), 7);
    assert_eq!(r.row("Logical_Flow", lost[0]).map(|f| f.str("match").to_string()), Some("reg0 == 77".to_string()), "reloaded whole");
    assert_eq!(r.row("Logical_Flow", ours[1]).map(|f| f.str("actions").to_string()), Some("next;".to_string()));
}
