//! Golden files: each scenario of `fixtures/` built with our nbctl, translated by our northd into a real
//! Southbound `ovsdb-server`, and read back with OVN's own `ovn-sbctl`. The text `ovn-sbctl lflow-list`
//! prints must equal both the golden file and our own rendering of the flows we meant to write.
//! `UPDATE_GOLDEN=1 cargo test -p northd --test golden` rewrites the goldens.

use std::path::Path;
use std::sync::Arc;

use model::nb::NbSnapshot;
use model::ovsdb::{Client, Replica};
use tests::{fixture, golden, run, Daemon, OvsdbServer};

fn bin(name: &str) -> &'static Path {
    match name {
        "nbctl" => Path::new(env!("CARGO_BIN_EXE_nbctl")),
        _ => Path::new(env!("CARGO_BIN_EXE_northd")),
    }
}

/// Replaces every UUID in `ovn-sbctl lflow-list` headers by `<uuid>`.
fn normalize_lflow_list(text: &str) -> String {
    text.lines()
        .map(|l| match (l.starts_with("Datapath:"), l.find(" ("), l.find(")  Pipeline")) {
            (true, Some(a), Some(b)) => format!("{} (<uuid>{}", &l[..a], &l[b..]),
            _ => l.to_string(),
        })
        .map(|l| l + "\n")
        .collect()
}

/// Our translation of the NB as it is now, rendered like `ovn-sbctl lflow-list`.
fn our_rendering(nb: &OvsdbServer) -> (String, Vec<String>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let client = Client::connect(&nb.remote()).await.expect("connect NB");
        let schema = Arc::new(client.get_schema(model::nb::DB_NAME).await.expect("schema"));
        let mut r = Replica::new(schema);
        let initial = client
            .monitor_cond(model::nb::DB_NAME, serde_json::json!("golden"), r.monitor_requests(model::nb::table::ALL))
            .await
            .expect("monitor");
        r.apply_update2(&initial).expect("apply");
        let out = northd::translate::translate(&NbSnapshot::from_replica(&r), &Default::default());
        (out.sb.lflow_list_text(), out.warnings)
    })
}

fn scenario(name: &str, script: &str, env: &[(&str, &str)]) -> Vec<String> {
    let nb = OvsdbServer::nb();
    let sb = OvsdbServer::southbound();
    let log = nb.dir().join("northd.log");
    let nb_db = format!("--nb-db={}", nb.remote());
    let sb_db = format!("--sb-db={}", sb.remote());
    let nbctl = format!("{} --db={}", bin("nbctl").display(), nb.remote());
    let mut all_env = vec![("NBCTL", nbctl.as_str())];
    all_env.extend_from_slice(env);
    run(Path::new("/bin/bash"), &[fixture(script).to_str().unwrap_or_default()], &all_env).ok();
    // northd starts on the finished network, so it hands out tunnel keys in one go (in name order) and the
    // goldens do not depend on how the script's steps were batched.
    let mut northd = Daemon::start(bin("northd"), &[&nb_db, &sb_db], Some(&log));
    let db = format!("--db={}", nb.remote());
    let synced = run(bin("nbctl"), &[&db, "--wait=sb", "--timeout=20", "sync"], &[]);
    assert_eq!(synced.code, 0, "northd did not catch up: {}\nnorthd log:\n{}", synced.stderr, northd.log_text());
    assert!(northd.is_running(), "northd exited:\n{}", northd.log_text());

    let theirs = normalize_lflow_list(&sb.ovn_sbctl(&["lflow-list"]).ok().stdout);
    let (ours, warnings) = our_rendering(&nb);
    assert_eq!(
        theirs,
        ours,
        "ovn-sbctl lflow-list does not read back what we meant to write:\n{}",
        tests::diff_lines(&ours, &theirs).join("\n")
    );
    golden(&format!("{name}/lflows.txt"), &theirs);
    // Every flow says which builder made it, as a file and line of northd's builders.
    let ids = sb.ovn_sbctl(&["--bare", "--columns=external_ids", "list", "Logical_Flow"]).ok().stdout;
    let rows: Vec<&str> = ids.lines().filter(|l| !l.is_empty()).collect();
    assert!(!rows.is_empty());
    for r in &rows {
        let source = r.split_whitespace().find_map(|kv| kv.strip_prefix("source=")).unwrap_or_default();
        let (file, line) = source.rsplit_once(':').unwrap_or_default();
        assert!(file.starts_with("northd/src/translate/") && line.parse::<u32>().is_ok(), "external_ids {r}");
    }

    let mut bindings: Vec<String> = sb
        .ovn_sbctl(&[
            "--format=csv",
            "--data=bare",
            "--no-headings",
            "--columns=logical_port,type,tunnel_key,options,mac,port_security,nat_addresses",
            "list",
            "Port_Binding",
        ])
        .ok()
        .stdout
        .lines()
        .map(str::to_string)
        .collect();
    bindings.sort();
    golden(&format!("{name}/port-bindings.txt"), &(bindings.join("\n") + "\n"));
    warnings
}

#[test]
fn seed_centralized() {
    let w = scenario("seed/centralized", "seed/topology.sh", &[("NAT_MODE", "centralized")]);
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn seed_distributed() {
    let w = scenario("seed/distributed", "seed/topology.sh", &[("NAT_MODE", "distributed")]);
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn two_vifs() {
    assert!(scenario("two-vifs", "two-vifs/topology.sh", &[]).is_empty());
}

#[test]
fn two_switches_router() {
    assert!(scenario("two-switches-router", "two-switches-router/topology.sh", &[]).is_empty());
}

#[test]
fn snat() {
    assert!(scenario("snat", "snat/topology.sh", &[]).is_empty());
}

#[test]
fn static_routes() {
    let w = scenario("static-routes", "static-routes/topology.sh", &[]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("172.31.0.0/16") && w[0].contains("no router port reaches the next hop"), "{w:?}");
}
