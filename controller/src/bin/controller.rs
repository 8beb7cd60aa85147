//! `controller`: the per-node agent. Reads its configuration from the local Open_vSwitch database
//! (`external_ids`: system-id, ovn-remote, ovn-encap-type, ovn-encap-ip, ovn-bridge-mappings, hostname),
//! registers the chassis in the Southbound, and keeps `br-int` programmed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use controller::daemon::{self, Config};

#[derive(Parser, Debug)]
#[command(name = "controller", version, about = "The per-node agent: Southbound + local Open vSwitch in, br-int flows out")]
struct Args {
    /// The local Open_vSwitch database (default: unix:$OVS_RUNDIR/db.sock)
    #[arg(value_name = "OVS_DATABASE")]
    ovs_db_positional: Option<String>,
    /// The local Open_vSwitch database (same as the positional argument)
    #[arg(long = "ovs-db", value_name = "OVS_DATABASE")]
    ovs_db: Option<String>,
    /// Write logs to this file instead of stderr
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// Log level filter (also RUST_LOG)
    #[arg(short, long, default_value = "info")]
    verbose: String,
    /// Recompile every logical flow every round instead of only what changed (debugging)
    #[arg(long)]
    recompute_always: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = model::logging::init(&args.verbose, args.log_file.as_deref()) {
        eprintln!("controller: {e}");
        return ExitCode::from(1);
    }
    let rundir = PathBuf::from(std::env::var("OVS_RUNDIR").unwrap_or_else(|_| "/var/run/openvswitch".to_string()));
    let ovs_remote = args.ovs_db.or(args.ovs_db_positional).unwrap_or_else(|| format!("unix:{}/db.sock", rundir.display()));
    if let Err(e) = model::ovsdb::remote::parse_list(&ovs_remote) {
        eprintln!("controller: {e}");
        return ExitCode::from(1);
    }
    tracing::info!(ovs = %ovs_remote, rundir = %rundir.display(), "controller starting");
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("controller: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(daemon::run(Config { ovs_remote, rundir, recompute_always: args.recompute_always }));
    ExitCode::SUCCESS
}
