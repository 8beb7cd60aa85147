//! `flowgen`: OVN's logical-flow language, compiled to OpenFlow for people and tests.
//!
//! - `flowgen expr 'MATCH'`: the OpenFlow matches of one expression;
//! - `flowgen action 'ACTIONS'`: the OpenFlow actions of an action list;
//! - `flowgen compile --sb-db=REMOTE --chassis=NAME`: every logical flow of a live Southbound, compiled
//!   for one chassis, printed in `ovs-ofctl add-flows` syntax; a flow that fails prints one line
//!   `lflow <uuid>: <error>` on stderr and the rest still compile.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use flowgen::actions::encode::{encode, ActionContext};
use flowgen::expr::compile::{compile_str, Lookup, NoLookup};
use flowgen::layout::Pipeline;
use flowgen::lflow::{compile_lflow, LogicalFlow};
use flowgen::sbview::{compile_all, SbView, TABLES};
use model::ovsdb::{Client, Replica};

#[derive(Parser, Debug)]
#[command(name = "flowgen", version, about = "Compiles OVN logical flows to OpenFlow")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print the OpenFlow matches of a match expression.
    Expr {
        /// The expression, e.g. 'ip4.dst == 10.0.0.0/8 && tcp.dst == {80, 443}'.
        expr: String,
        /// Logical table of the flow (for printing).
        #[arg(long, default_value_t = 0)]
        table: u8,
    },
    /// Print the OpenFlow actions of an action list.
    Action {
        /// The actions, e.g. 'ip.ttl--; outport = "p1"; next;'.
        actions: String,
        /// Logical table the actions run in (next goes to the one after).
        #[arg(long, default_value_t = 0)]
        table: u8,
        /// Pipeline: ingress or egress.
        #[arg(long, default_value = "ingress")]
        pipeline: String,
        /// Compile as on a router datapath (conntrack zones).
        #[arg(long)]
        router: bool,
    },
    /// Compile every logical flow of a Southbound database for one chassis.
    Compile {
        /// Southbound database: unix:PATH or tcp:IP:PORT (default: $OVN_SB_DB).
        #[arg(long)]
        sb_db: Option<String>,
        /// The chassis to compile for (its bound ports make is_chassis_resident() true).
        #[arg(long)]
        chassis: String,
    },
}

/// A lookup for one-off expressions: a port named "pN" has key N.
struct CliLookup;

impl Lookup for CliLookup {
    fn port_key(&self, name: &str) -> Option<u32> {
        name.strip_prefix('p').and_then(|n| n.parse().ok())
    }
    fn is_chassis_resident(&self, _: &str) -> bool {
        true
    }
    fn address_set(&self, n: &str) -> Option<Vec<flowgen::expr::Num>> {
        NoLookup.address_set(n)
    }
    fn port_group(&self, n: &str) -> Option<Vec<String>> {
        NoLookup.port_group(n)
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("flowgen: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> Result<ExitCode> {
    match args.cmd {
        Cmd::Expr { expr, table } => {
            let lf = LogicalFlow {
                uuid: 0,
                pipeline: Pipeline::Ingress,
                table_id: table,
                priority: 100,
                match_: &expr,
                actions: "drop;",
                datapath_key: 1,
                is_router: false,
            };
            compile_str(&expr, &CliLookup)?;
            let mut id = 0;
            for f in compile_lflow(&lf, &CliLookup, &mut || {
                id += 1;
                id
            })? {
                println!("{f}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Action { actions, table, pipeline, router } => {
            let pipeline = Pipeline::parse(&pipeline).context("--pipeline must be ingress or egress")?;
            let parsed = flowgen::actions::parse(&actions)?;
            let encoded = encode(&parsed, &ActionContext { lookup: &CliLookup, pipeline, table_id: table, is_router: router })?;
            if !encoded.prereqs.is_empty() {
                eprintln!("(the flow's match must also hold: {})", encoded.prereqs.join(" && "));
            }
            let ofacts = encoded.actions;
            let text: Vec<String> = ofacts.iter().map(|a| a.to_string()).collect();
            println!("{}", if text.is_empty() { "drop".to_string() } else { text.join(",") });
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Compile { sb_db, chassis } => {
            let remote = sb_db.or_else(|| std::env::var("OVN_SB_DB").ok()).context("no --sb-db given and OVN_SB_DB is not set")?;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let replica = rt.block_on(async {
                let client = Client::connect(&remote).await?;
                let schema = Arc::new(client.get_schema("OVN_Southbound").await?);
                let mut r = Replica::new(schema);
                let initial = client.monitor_cond("OVN_Southbound", serde_json::json!("flowgen"), r.monitor_requests(&TABLES)).await?;
                r.apply_update2(&initial)?;
                anyhow::Ok(r)
            })?;
            let view = SbView::from_replica(&replica, &chassis);
            let (flows, failures) = compile_all(&replica, &view);
            for f in &flows {
                println!("{f}");
            }
            for f in &failures {
                eprintln!("lflow {}: {}", f.lflow, f.error);
            }
            eprintln!(
                "flowgen: {} OpenFlow flows from {} logical flows, {} failed",
                flows.len(),
                replica.len("Logical_Flow"),
                failures.len()
            );
            Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}
