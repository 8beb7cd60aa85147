//! `seed`: the seed scenario end to end on this machine. Three namespaced nodes with real Open vSwitch,
//! the topology made by our `nbctl`, translated by our `northd`, carried by our `controller` on each node; then
//! what a user checks: pings between pods over Geneve, to the router, to and from the floating IP, and
//! which NIC the FIP traffic crosses. Everything it starts is cleaned up when it ends.
//!
//! Needs root (network namespaces) and the Debian packages of `scripts/install-deps.sh`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use tests::cluster::scenario::{build_seed_cluster, run_seed_checks};
use tests::cluster::{seed, Cluster, ClusterBuilder, Controller, NatMode, Northd};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Centralized,
    Distributed,
}

#[derive(Parser, Debug)]
#[command(name = "seed", about = "Runs the seed scenario end to end on three namespaced nodes")]
struct Args {
    /// Where the floating IP's NAT happens: on the gateway chassis, or on the VM's own node.
    #[arg(long, value_enum, default_value = "centralized")]
    nat: Mode,
}

/// Our binaries sit next to this one (`target/<profile>/`).
fn sibling(name: &str) -> PathBuf {
    let here = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_default();
    here.join(name)
}

/// `ovs-ofctl dump-flows br-int` of a node, counted per table.
fn table_sizes(c: &Cluster, node: &str) -> BTreeMap<u32, usize> {
    let dump = c.node(node).ofctl("dump-flows", "br-int", &[]);
    let mut sizes = BTreeMap::new();
    for line in dump.stdout.lines() {
        if let Some(t) =
            line.split("table=").nth(1).and_then(|r| r.split(|ch: char| !ch.is_ascii_digit()).next()).and_then(|t| t.parse().ok())
        {
            *sizes.entry(t).or_insert(0) += 1;
        }
    }
    sizes
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (northd, nbctl, controller) = (sibling("northd"), sibling("nbctl"), sibling("controller"));
    for p in [&northd, &nbctl, &controller] {
        if !p.is_file() {
            eprintln!("seed: {} is missing: build it first (cargo build --release --bins)", p.display());
            return ExitCode::from(1);
        }
    }
    let mode = match args.nat {
        Mode::Centralized => NatMode::Centralized,
        Mode::Distributed => NatMode::Distributed,
    };
    let result = std::panic::catch_unwind(|| {
        let builder = ClusterBuilder::new()
            .northd(Northd::Program { path: northd.clone(), args: vec![] })
            .controller(Controller::Program { path: controller.clone(), args: vec![] })
            .nat_mode(mode);
        let c = build_seed_cluster(builder, &nbctl);
        let db = format!("--db={}", c.nb_remote());
        println!("$ nbctl show");
        print!("{}", tests::run(&nbctl, &[&db, "show"], &[]).stdout);
        println!("\n$ nbctl lr-nat-list ovn-cluster");
        print!("{}", tests::run(&nbctl, &[&db, "lr-nat-list", "ovn-cluster"], &[]).stdout);
        let flows = c.ovn_sbctl(&["lflow-list"]).stdout.lines().filter(|l| l.trim_start().starts_with("table=")).count();
        println!("\nnorthd wrote {flows} logical flows.");
        let gw = seed::GATEWAY_CHASSIS;
        let sizes = table_sizes(&c, gw);
        let total: usize = sizes.values().sum();
        println!("\nOpenFlow tables of br-int on the gateway {gw} ({total} flows):");
        for (t, n) in &sizes {
            println!("  table {t:>3}: {n:>4} flows");
        }
        println!();
        run_seed_checks(&c);
    });
    match result {
        Ok(()) => {
            println!("seed: every check passed ({:?} NAT)", args.nat);
            ExitCode::SUCCESS
        }
        Err(_) => {
            eprintln!("seed: a check failed (diagnostics above)");
            ExitCode::from(1)
        }
    }
}
