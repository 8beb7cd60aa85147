//! `bench`: the scale benchmarks of issue 6. Runs our `northd` and OVN's `ovn-northd` on the same generated
//! networks (S x P VIFs, F% of them with a floating IP), and our `controller` and OVN's `ovn-controller` on
//! one chassis of such a network, one after the other in this run, and prints a table with both and their
//! ratio, then which of the acceptance targets hold.
//!
//! Build first (`cargo build --release --bins`, or `scripts/bench.sh`, which does both); needs root (the
//! switch runs in its own network namespace) and the Debian packages of `scripts/install-deps.sh`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use tests::bench::northd::{Changes, FirstSync};
use tests::bench::report::{self, ControllerCase, NorthdCase, Results};
use tests::bench::{self, catch, controller, note, Env, Impl, Size};

#[derive(Parser, Debug)]
#[command(name = "bench", about = "Our northd and controller against OVN's, side by side, at several network sizes")]
struct Args {
    /// Network sizes for the northd benchmark, SWITCHESxPORTS, comma-separated
    #[arg(long, value_delimiter = ',', default_value = "10x100,50x100,100x100")]
    sizes: Vec<Size>,
    /// Floating IPs as a percentage of the VIFs
    #[arg(long, default_value_t = 10)]
    fips_percent: u32,
    /// Ports of the big switch: one switch holding them all, as Kube-OVN's `ovn-default` holds every pod of
    /// its default subnet (issue 14). Both northds sync it once, then only adding a port is measured
    #[arg(long, value_name = "PORTS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=60_000))]
    big_switch: u32,
    /// Leave the big switch out (it costs the run about a minute, most of it ovn-northd's)
    #[arg(long)]
    no_big_switch: bool,
    /// Only the northd benchmark
    #[arg(long, conflicts_with = "controller_only")]
    northd_only: bool,
    /// Only the controller benchmark
    #[arg(long)]
    controller_only: bool,
    /// The network of the controller benchmark (default: the largest of --sizes)
    #[arg(long)]
    controller_size: Option<Size>,
    /// VIFs on the controller's chassis (sw0's ports first)
    #[arg(long, default_value_t = 100)]
    hosted: u32,
    /// The first programming is complete when every local port is up and br-int's flow count has not
    /// changed for this long (ms)
    #[arg(long, default_value_t = 1000)]
    settle_ms: u64,
    /// Latency samples per kind (the table shows their median)
    #[arg(long, default_value_t = 5)]
    samples: usize,
    /// OVN's first syncs per size, each from fresh databases, all but the last in rounds over every size
    /// (the table shows their median)
    #[arg(long, default_value_t = 5)]
    first_syncs: usize,
    /// Our first syncs per size, likewise. More than OVN's: ours take a second or two, and the growth
    /// verdict divides the medians of two sizes, whose samples spread by a third on a shared host
    /// (10x100: 0.20-0.30 s in one run)
    #[arg(long, default_value_t = 11)]
    our_first_syncs: usize,
    /// Only our daemons, for quick iterations on them (OVN's columns stay empty and no verdict that needs
    /// them is given)
    #[arg(long)]
    ours_only: bool,
    /// Give up on any one step (a sync, a latency sample, the first programming) after this many seconds
    #[arg(long, default_value_t = 300)]
    step_timeout: u64,
}

/// Our binaries sit next to this one (`target/<profile>/`).
fn sibling(name: &str) -> PathBuf {
    let here = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_default();
    here.join(name)
}

fn first_line(program: &Path, arg: &str) -> String {
    bench::exec::exec(program, &[arg], Duration::from_secs(10))
        .map(|o| o.stdout.lines().next().unwrap_or_default().to_string())
        .unwrap_or_else(|e| format!("({e})"))
}

/// What the numbers were measured on.
fn machine(env: &Env) -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo.lines().find_map(|l| l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).to_string()));
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|r| r.trim().trim_end_matches(" kB").parse::<f64>().unwrap_or(0.0) / 1024.0 / 1024.0))
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    vec![
        format!("machine: {} x {}, {mem:.1} GiB RAM, Linux {}", cpus, cpu.unwrap_or_else(|| "unknown CPU".into()), kernel.trim()),
        format!(
            "OVN: {}; Open vSwitch: {}",
            first_line(&env.ovn_northd, "--version"),
            first_line(&tests::require("ovs-vswitchd"), "--version")
        ),
        format!("ours: {} (release build)", env.northd.parent().map(|p| p.display().to_string()).unwrap_or_default()),
    ]
}

/// The 1-minute load average: the numbers mean little if something else was running.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split_whitespace().next().map(str::to_string)).unwrap_or_default()
}

/// Runs every program once, so the first measurement does not pay for reading it from disk.
fn warm_up(env: &Env) {
    for p in
        [&env.northd, &env.controller, &env.nbgen, &env.ovn_northd, &env.ovn_controller, &env.ovn_nbctl, &env.ovs_vsctl, &env.ovs_ofctl]
    {
        let _ = bench::exec::exec(p, &["--version"], Duration::from_secs(10));
    }
}

fn clk_tck() -> f64 {
    bench::exec::exec(Path::new("/usr/bin/getconf"), &["CLK_TCK"], Duration::from_secs(5))
        .ok()
        .and_then(|o| o.stdout.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Both northds (OVN's unless `--ours-only`) at one size, each after the first syncs of `earlier`; a failure
/// is noted as it happens and kept in the case.
fn northd_case(env: &Env, args: &Args, size: Size, earlier: impl Fn(Impl) -> Vec<FirstSync>, changes: Changes) -> NorthdCase {
    let fips = size.fips(args.fips_percent);
    let what = match changes {
        Changes::PortsAndFips => format!("northd at {size}, {fips} FIPs"),
        Changes::PortsOnly => format!("northd at {size}, {fips} FIPs, adding ports alone"),
    };
    note(format_args!("{what}: ours"));
    let ours = catch(|| bench::northd::run(env, Impl::Ours, size, fips, args.samples, &earlier(Impl::Ours), changes));
    let ovn = if args.ours_only {
        Err(report::NOT_RUN.to_string())
    } else {
        note(format_args!("{what}: OVN's ovn-northd"));
        catch(|| bench::northd::run(env, Impl::Ovn, size, fips, args.samples, &earlier(Impl::Ovn), changes))
    };
    for (who, o) in [("ours", &ours), ("OVN", &ovn)] {
        match o {
            Err(e) if e != report::NOT_RUN => note(format_args!("northd {who} at {size} FAILED: {e}")),
            _ => {}
        }
    }
    NorthdCase { size, fips, ours, ovn }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut sizes = args.sizes.clone();
    sizes.dedup();
    if sizes.is_empty() {
        eprintln!("bench: no --sizes");
        return ExitCode::from(2);
    }
    let env = match catch(|| {
        let ours = [sibling("northd"), sibling("controller"), sibling("nbgen")];
        for p in &ours {
            anyhow::ensure!(p.is_file(), "{} is missing: build it first (cargo build --release --bins)", p.display());
        }
        let [northd, controller, nbgen] = ours;
        Ok(Env {
            northd,
            controller,
            nbgen,
            ovn_northd: tests::require("ovn-northd"),
            ovn_controller: tests::require("ovn-controller"),
            ovn_nbctl: tests::require("ovn-nbctl"),
            ovs_vsctl: tests::require("ovs-vsctl"),
            ovs_ofctl: tests::require("ovs-ofctl"),
            step_timeout: Duration::from_secs(args.step_timeout.max(10)),
            clk_tck: clk_tck(),
        })
    }) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(1);
        }
    };
    let started = Instant::now();
    let mut header = machine(&env);
    let load_before = load();
    header.push(format!("command: {}", std::env::args().collect::<Vec<_>>().join(" ")));
    for l in &header {
        note(l);
    }
    if load_before.parse::<f64>().is_ok_and(|l| l > 0.5) {
        note(format_args!("the load average is {load_before} before starting: something else is running, the times will be noisy"));
    }
    warm_up(&env);

    let mut results = Results { samples: args.samples, northd: vec![], big_switch: None, controller: None };
    let impls: &[Impl] = if args.ours_only { &[Impl::Ours] } else { &[Impl::Ours, Impl::Ovn] };
    if !args.controller_only {
        // All but the last first sync of each (size, northd), in rounds over all of them: the host's speed
        // drifts (other tenants), and sizes measured minutes apart would compare two machines.
        let mut earlier: BTreeMap<(Size, Impl), Vec<FirstSync>> = BTreeMap::new();
        let wanted = |which: Impl| match which {
            Impl::Ours => args.our_first_syncs,
            Impl::Ovn => args.first_syncs,
        };
        let rounds = impls.iter().map(|&w| wanted(w)).max().unwrap_or(1).max(1) - 1;
        for round in 1..=rounds {
            note(format_args!("northd first syncs, round {round} of {rounds}"));
            for &size in &sizes {
                for &which in impls.iter().filter(|&&w| round < wanted(w)) {
                    match bench::northd::first_sync(&env, which, size, size.fips(args.fips_percent)) {
                        Ok(m) => earlier.entry((size, which)).or_default().push(m),
                        Err(e) => note(format_args!("northd {} first sync at {size} FAILED: {e:#}", which.label())),
                    }
                }
            }
        }
        for &size in &sizes {
            let before = |which| earlier.get(&(size, which)).cloned().unwrap_or_default();
            results.northd.push(northd_case(&env, &args, size, before, Changes::PortsAndFips));
        }
        // The big switch's row is the added port's latency: one first sync of each northd sets it up, without
        // the rounds of the sizes (its first sync is not reported, and four more of ovn-northd's, 10-12 s
        // each, would lengthen the run for nothing shown).
        if !args.no_big_switch {
            let size = Size { switches: 1, ports: args.big_switch };
            results.big_switch = Some(northd_case(&env, &args, size, |_| vec![], Changes::PortsOnly));
        }
    }
    if !args.northd_only {
        let size =
            args.controller_size.or_else(|| sizes.iter().copied().max_by_key(|s| s.vifs())).unwrap_or(Size { switches: 100, ports: 100 });
        let fips = size.fips(args.fips_percent);
        note(format_args!("controller at {size}, {} VIFs on the chassis: ours", args.hosted));
        let ours =
            catch(|| controller::run(&env, Impl::Ours, size, fips, args.hosted, args.samples, Duration::from_millis(args.settle_ms)));
        if !args.ours_only {
            note(format_args!("controller at {size}, {} VIFs on the chassis: OVN's ovn-controller", args.hosted));
        }
        let ovn = if args.ours_only {
            Err(report::NOT_RUN.to_string())
        } else {
            catch(|| controller::run(&env, Impl::Ovn, size, fips, args.hosted, args.samples, Duration::from_millis(args.settle_ms)))
        };
        for (who, o) in [("ours", &ours), ("OVN", &ovn)] {
            match o {
                Err(e) if e != report::NOT_RUN => note(format_args!("controller {who} FAILED: {e}")),
                _ => {}
            }
        }
        results.controller = Some(ControllerCase { size, fips, hosted: args.hosted, ours, ovn });
    }

    println!();
    for l in &header {
        println!("{l}");
    }
    println!("ran in {:.0} s; load average {load_before} before, {} after\n", started.elapsed().as_secs_f64(), load());
    print!("{}", report::table(&results));
    println!();
    for v in report::acceptance(&results) {
        println!("{v}");
    }
    // What --ours-only left out is no failure.
    let failed: Vec<String> = report::failures(&results).into_iter().filter(|f| !f.ends_with(report::NOT_RUN)).collect();
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!();
        for f in &failed {
            println!("FAILED: {}", f.lines().next().unwrap_or_default());
        }
        ExitCode::from(1)
    }
}
