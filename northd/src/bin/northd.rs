//! `northd`: translates the OVN Northbound database into the Southbound database, and keeps doing so.

/// See the workspace Cargo.toml: northd's per-row costs stay flat as the network grows.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;
use northd::daemon::{self, Config};

#[derive(Parser, Debug)]
#[command(name = "northd", version, about = "Translates the OVN Northbound database into the Southbound database")]
struct Args {
    /// Northbound database: unix:PATH or tcp:IP:PORT, several separated by commas
    /// (default: $OVN_NB_DB, else unix:$OVN_RUNDIR/ovnnb_db.sock)
    #[arg(long, alias = "ovnnb-db", value_name = "DATABASE")]
    nb_db: Option<String>,
    /// Southbound database (default: $OVN_SB_DB, else unix:$OVN_RUNDIR/ovnsb_db.sock)
    #[arg(long, alias = "ovnsb-db", value_name = "DATABASE")]
    sb_db: Option<String>,
    /// Write logs to this file instead of stderr
    #[arg(long, value_name = "PATH")]
    log_file: Option<std::path::PathBuf>,
    /// Recompute everything every round instead of only what changed (slow; for checking the
    /// incremental engine against a full translation)
    #[arg(long)]
    recompute_always: bool,
    /// Log level filter (also RUST_LOG), e.g. info, debug, northd=debug
    #[arg(short, long, default_value = "info")]
    verbose: String,
}

fn default_remote(env: &str, sock: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| {
        let rundir = std::env::var("OVN_RUNDIR").unwrap_or_else(|_| "/var/run/ovn".to_string());
        format!("unix:{rundir}/{sock}")
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = model::logging::init(&args.verbose, args.log_file.as_deref()) {
        eprintln!("northd: {e}");
        return ExitCode::from(1);
    }
    let config = Config {
        nb_remote: args.nb_db.unwrap_or_else(|| default_remote("OVN_NB_DB", "ovnnb_db.sock")),
        sb_remote: args.sb_db.unwrap_or_else(|| default_remote("OVN_SB_DB", "ovnsb_db.sock")),
        recompute_always: args.recompute_always,
    };
    for r in [&config.nb_remote, &config.sb_remote] {
        if let Err(e) = model::ovsdb::remote::parse_list(r) {
            eprintln!("northd: {e}");
            return ExitCode::from(1);
        }
    }
    tracing::info!(nb = %config.nb_remote, sb = %config.sb_remote, "northd starting");
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("northd: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(daemon::run(config));
    ExitCode::SUCCESS
}
