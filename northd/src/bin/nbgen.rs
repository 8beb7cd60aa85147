//! `nbgen`: writes a Kube-OVN-like network of a chosen size into an (empty) Northbound database, in one
//! transaction: S switches of P VIF ports behind one cluster router, one SNAT per switch, an external
//! switch with a localnet port, a gateway port on three gateway chassis, a default route, F floating IPs.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use model::ovsdb::Client;
use northd::gen::{network, Size};

#[derive(Parser, Debug)]
#[command(name = "nbgen", version, about = "Writes a Kube-OVN-like network of any size into the Northbound database")]
struct Args {
    /// Northbound database (default: $OVN_NB_DB)
    #[arg(long)]
    db: Option<String>,
    /// Number of switches (S), each with its own /16
    #[arg(long, short = 's', default_value_t = 10)]
    switches: u32,
    /// VIF ports per switch (P)
    #[arg(long, short = 'p', default_value_t = 100)]
    ports: u32,
    /// dnat_and_snat floating IPs (F); default 10% of the ports
    #[arg(long, short = 'f')]
    fips: Option<u32>,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let Some(db) = a.db.or_else(|| std::env::var("OVN_NB_DB").ok()) else {
        eprintln!("nbgen: no --db given and OVN_NB_DB is not set");
        return ExitCode::from(1);
    };
    let size = Size { switches: a.switches, ports: a.ports, fips: a.fips.unwrap_or(a.switches * a.ports / 10) };
    let txn = match network(size) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("nbgen: {e}");
            return ExitCode::from(1);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nbgen: {e}");
            return ExitCode::from(1);
        }
    };
    let started = Instant::now();
    let r = rt.block_on(async {
        let c = Client::connect(&db).await?;
        c.transact(model::nb::DB_NAME, &txn).await
    });
    match r {
        Ok(_) => {
            println!(
                "nbgen: {} switches x {} ports, {} FIPs written in {:.2}s",
                size.switches,
                size.ports,
                size.fips,
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nbgen: {e}");
            ExitCode::from(1)
        }
    }
}
