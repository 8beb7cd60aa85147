//! `nbctl`: define logical switches, routers, NAT and routes in the OVN Northbound database, with
//! `ovn-nbctl`'s commands and output.

use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Parser};
use northd::nbctl::{self, cli, commands, Wait};

/// Global options (clap). The command chain after them is split by `nbctl::cli`.
#[derive(Parser, Debug)]
#[command(
    name = "nbctl",
    about = "OVN Northbound DB management utility",
    override_usage = "nbctl [OPTIONS] COMMAND [ARG...] [-- [OPTIONS] COMMAND [ARG...]]...",
    disable_help_flag = true,
    disable_version_flag = true
)]
struct Global {
    /// Database to contact: unix:PATH or tcp:IP:PORT, several separated by commas (default: $OVN_NB_DB,
    /// else unix:$OVN_RUNDIR/ovnnb_db.sock)
    #[arg(long, value_name = "DATABASE")]
    db: Option<String>,
    /// Give up after SECS seconds (0: never)
    #[arg(short = 't', long, value_name = "SECS", default_value_t = 0)]
    timeout: u64,
    /// After committing, wait until northd (sb) or every chassis (hv) has caught up
    #[arg(long, value_name = "none|sb|hv", default_value = "none")]
    wait: String,
    /// Do not wait for northd (the default)
    #[arg(long)]
    no_wait: bool,
    /// Accepted for compatibility: a clustered database's followers are used as they are
    #[arg(long)]
    no_leader_only: bool,
    /// Accepted for compatibility
    #[arg(long)]
    leader_only: bool,
    /// Log what is sent and received (to stderr)
    #[arg(short = 'v', long, action = ArgAction::SetTrue)]
    verbose: bool,
    /// Print this help
    #[arg(short = 'h', long, action = ArgAction::SetTrue)]
    help: bool,
    /// Print the version
    #[arg(short = 'V', long, action = ArgAction::SetTrue)]
    version: bool,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("nbctl: {msg}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let inv = match cli::split(&args) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    let global = match Global::try_parse_from(std::iter::once("nbctl".to_string()).chain(inv.global.iter().cloned())) {
        Ok(g) => g,
        Err(e) => return fail(e.to_string().lines().next().unwrap_or("bad option").trim_start_matches("error: ")),
    };
    if global.help {
        let mut cmd = <Global as clap::CommandFactory>::command();
        println!("{}", cmd.render_help());
        println!("Commands (chain several with --; all of them commit as one transaction):{}", commands::help());
        return ExitCode::SUCCESS;
    }
    if global.version {
        println!("nbctl {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let filter = if global.verbose { "debug" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    if inv.commands.is_empty() {
        return fail("missing command name (use --help for help)");
    }
    let wait = if global.no_wait {
        Wait::None
    } else {
        match Wait::parse(&global.wait) {
            Ok(w) => w,
            Err(e) => return fail(e),
        }
    };
    let remote = global.db.unwrap_or_else(nbctl::default_db);
    let timeout = (global.timeout > 0).then(|| Duration::from_secs(global.timeout));
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    match rt.block_on(nbctl::run(&remote, &inv.commands, wait, timeout)) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
