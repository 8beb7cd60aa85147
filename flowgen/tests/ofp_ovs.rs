//! The OpenFlow layer against a real `ovs-vswitchd`.
//!
//! Each test starts its own `ovsdb-server` + `ovs-vswitchd --disable-system` in a temp dir (children of the
//! test, killed when it ends), creates `br0` (userspace datapath, OpenFlow 1.0/1.3/1.5), and talks to
//! `$OVS_RUNDIR/br0.mgmt` with our [`Connection`]. The key check: every flow of `fixtures/ofp/corpus.txt`,
//! parsed by us and sent over our wire encoding, comes back from `ovs-ofctl -O OpenFlow15 dump-flows
//! --no-stats` exactly as our `Display` prints it — and so does the corpus installed by `ovs-ofctl
//! add-flows` itself, which shows our parser reads the text as OVS does.
//!
//! A missing Open vSwitch program is a test failure naming the Debian package, never a skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowgen::ofp::wire::{self, Message};
use flowgen::ofp::{Action, Command as FlowCommand, Connection, Error, Field, Flow, Match};

/// Which Debian package has a program.
fn package_of(program: &str) -> &'static str {
    match program {
        "ovsdb-tool" | "ovs-vsctl" | "ovs-ofctl" | "ovs-appctl" => "openvswitch-common (pulled in by openvswitch-switch)",
        "unshare" => "util-linux",
        _ => "openvswitch-switch",
    }
}

/// The path of a program, or a panic saying which Debian package to install.
fn require(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin"), PathBuf::from("/usr/bin")]) {
        let p = dir.join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "required program `{program}` is not installed: install the Debian package {} (scripts/install-deps.sh does)",
        package_of(program)
    );
}

fn corpus_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/ofp/corpus.txt")
}

/// The corpus lines (comments and blank lines dropped).
fn corpus_lines() -> Vec<String> {
    let text = std::fs::read_to_string(corpus_path()).expect("fixtures/ofp/corpus.txt");
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect()
}

/// A private ovsdb-server + ovs-vswitchd with bridge `br0`. Killed on drop.
struct Ovs {
    dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl Drop for Ovs {
    fn drop(&mut self) {
        // vswitchd first, then the database.
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_for(path: &Path, what: &str, ovs: &Ovs) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        if Instant::now() > deadline {
            let logs: Vec<String> = ["ovsdb-server.log", "ovs-vswitchd.log"]
                .iter()
                .map(|l| std::fs::read_to_string(ovs.dir.path().join(l)).unwrap_or_default())
                .collect();
            panic!("{what} did not appear at {}:\n{}", path.display(), logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Ovs {
    fn start() -> Ovs {
        let (tool, server, vsctl, vswitchd) =
            (require("ovsdb-tool"), require("ovsdb-server"), require("ovs-vsctl"), require("ovs-vswitchd"));
        require("ovs-ofctl");
        let dir = tempfile::Builder::new().prefix("ofp").tempdir().expect("temp dir");
        let mut ovs = Ovs { dir, children: Vec::new() };
        let d = ovs.dir.path().to_path_buf();
        let p = |name: &str| d.join(name).to_string_lossy().into_owned();
        let db = p("conf.db");
        ovs.run(&tool, &["create", &db, "/usr/share/openvswitch/vswitch.ovsschema"]);
        let sock = p("db.sock");
        ovs.spawn(
            &server,
            &[
                &db,
                &format!("--remote=punix:{sock}"),
                &format!("--pidfile={}", p("ovsdb-server.pid")),
                &format!("--unixctl={}", p("ovsdb-server.ctl")),
                &format!("--log-file={}", p("ovsdb-server.log")),
                "--no-chdir",
            ],
        );
        wait_for(Path::new(&sock), "the ovsdb-server socket", &ovs);
        let dbarg = format!("--db=unix:{sock}");
        ovs.run(&vsctl, &[&dbarg, "--no-wait", "init"]);
        // In a network namespace of its own: the userspace datapath creates tap devices (`ovs-netdev`, one
        // per bridge) whose names are global to a namespace, and other tests run switches too.
        let vswitchd = vswitchd.to_string_lossy().into_owned();
        ovs.spawn(
            &require("unshare"),
            &[
                "--net",
                "--",
                &vswitchd,
                "--disable-system",
                &format!("unix:{sock}"),
                &format!("--pidfile={}", p("ovs-vswitchd.pid")),
                &format!("--unixctl={}", p("ovs-vswitchd.ctl")),
                &format!("--log-file={}", p("ovs-vswitchd.log")),
                "--no-chdir",
            ],
        );
        ovs.run(
            &vsctl,
            &[
                &dbarg,
                "--timeout=30",
                "add-br",
                "br0",
                "--",
                "set",
                "bridge",
                "br0",
                "datapath_type=netdev",
                "protocols=OpenFlow10,OpenFlow13,OpenFlow15",
            ],
        );
        wait_for(&ovs.mgmt(), "br0.mgmt", &ovs);
        ovs
    }

    fn env(&self) -> Vec<(&'static str, PathBuf)> {
        let d = self.dir.path().to_path_buf();
        vec![("OVS_RUNDIR", d.clone()), ("OVS_LOGDIR", d.clone()), ("OVS_DBDIR", d)]
    }

    fn spawn(&mut self, program: &Path, args: &[&str]) {
        let child = Command::new(program)
            .args(args)
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        self.children.push(child);
    }

    /// Runs a program to completion; panics with its output unless it succeeds.
    fn run(&self, program: &Path, args: &[&str]) -> String {
        let out =
            Command::new(program).args(args).envs(self.env()).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{} {args:?} failed:\n{stdout}\n{stderr}", program.display());
        stdout.into_owned()
    }

    fn mgmt(&self) -> PathBuf {
        self.dir.path().join("br0.mgmt")
    }

    fn ofctl(&self, args: &[&str]) -> String {
        let target = format!("unix:{}", self.mgmt().display());
        let mut all: Vec<&str> = args.to_vec();
        // The bridge argument comes right after the command.
        all.insert(1.min(all.len()), &target);
        let mut v = vec!["-O", "OpenFlow15"];
        v.extend(all);
        self.run(&require("ovs-ofctl"), &v)
    }

    /// The bridge's flows as `dump-flows --no-stats` prints them, trimmed and sorted.
    fn dump(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.ofctl(&["dump-flows", "--no-stats"]).lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
        v.sort();
        v
    }

    /// Group 1 and the Geneve option mapping the corpus uses.
    fn prepare_for_corpus(&self) {
        self.ofctl(&["add-group", "group_id=1,type=all,bucket=output:1"]);
        let target = format!("unix:{}", self.mgmt().display());
        self.run(&require("ovs-ofctl"), &["add-tlv-map", &target, "{class=0x102,type=0x80,len=4}->tun_metadata0"]);
    }

    async fn connect(&self) -> Connection {
        Connection::connect(&format!("unix:{}", self.mgmt().display())).await.expect("OpenFlow connection to br0.mgmt")
    }
}

fn expected(flows: &[Flow]) -> Vec<String> {
    let mut v: Vec<String> = flows.iter().map(|f| f.to_string()).collect();
    v.sort();
    v
}

fn parse_corpus() -> Vec<Flow> {
    corpus_lines().iter().map(|l| l.parse::<Flow>().unwrap_or_else(|e| panic!("corpus line `{l}`: {e}"))).collect()
}

/// Compares two sorted line lists, naming every line in only one of them.
fn assert_same(what: &str, want: &[String], got: &[String]) {
    if want == got {
        return;
    }
    let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
    let extra: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
    let mut msg = format!("{what}: {} lines expected, {} dumped\n", want.len(), got.len());
    for l in missing {
        msg.push_str(&format!("- we print:  {l}\n"));
    }
    for l in extra {
        msg.push_str(&format!("+ OVS shows: {l}\n"));
    }
    panic!("{msg}");
}

#[tokio::test]
async fn corpus_installed_over_our_wire_dumps_as_we_print_it() {
    let ovs = Ovs::start();
    ovs.prepare_for_corpus();
    let flows = parse_corpus();
    let mut conn = ovs.connect().await;
    conn.delete_all_flows().await.expect("delete all");
    conn.add_flows(&flows).await.unwrap_or_else(|e| panic!("installing the corpus: {e}"));
    let want = expected(&flows);
    assert_same("corpus over our wire", &want, &ovs.dump());
    eprintln!("{} corpus flows round-trip through ovs-vswitchd", flows.len());
}

#[test]
fn corpus_installed_by_ovs_ofctl_dumps_as_we_print_it() {
    let ovs = Ovs::start();
    ovs.prepare_for_corpus();
    ovs.ofctl(&["del-flows"]);
    let path = corpus_path();
    ovs.ofctl(&["add-flows", &path.to_string_lossy()]);
    assert_same("corpus via ovs-ofctl add-flows", &expected(&parse_corpus()), &ovs.dump());
}

#[tokio::test]
async fn a_refused_flow_is_named_and_the_batch_is_not_installed() {
    let ovs = Ovs::start();
    let mut conn = ovs.connect().await;
    conn.delete_all_flows().await.expect("delete all");
    let flows: Vec<Flow> = ["table=1,priority=1 actions=drop", "table=1,priority=2 actions=group:99", "table=1,priority=3 actions=drop"]
        .iter()
        .map(|s| s.parse().expect("flow"))
        .collect();
    // Refused at commit time: the group does not exist.
    match conn.add_flows(&flows).await {
        Err(Error::FlowRefused { index, flow, error }) => {
            assert_eq!(index, 1);
            assert_eq!(flow, "table=1, priority=2 actions=group:99");
            assert_eq!(error.name(), "OFPBAC_BAD_OUT_GROUP", "{error}");
        }
        other => panic!("expected the group flow to be refused, got {other:?}"),
    }
    assert_eq!(ovs.dump(), Vec::<String>::new(), "a refused bundle installs nothing");

    // Refused when added (the switch cannot even decode it): `nat` with arguments needs `commit`.
    let bad: Flow = "table=2,priority=5,ip actions=ct(nat(src=1.1.1.1))".parse().expect("flow");
    let good: Flow = "table=2,priority=6 actions=drop".parse().expect("flow");
    match conn.add_flows(&[good.clone(), bad]).await {
        Err(Error::FlowRefused { index, error, .. }) => assert_eq!((index, error.name().as_str()), (1, "OFPBAC_BAD_ARGUMENT")),
        other => panic!("expected the ct flow to be refused, got {other:?}"),
    }
    assert_eq!(ovs.dump(), Vec::<String>::new(), "a refused bundle installs nothing");

    // Refused with a Nicira experimenter error: tun_metadata1 has no TLV mapping on this bridge.
    let unmapped: Flow = "table=2,priority=7,tun_metadata1=0x1 actions=drop".parse().expect("flow");
    match conn.add_flows(&[unmapped]).await {
        Err(Error::FlowRefused { index: 0, error, .. }) => assert_eq!(error.experimenter, Some(wire::NX_VENDOR_ID), "{error}"),
        other => panic!("expected the unmapped tun_metadata1 flow to be refused, got {other:?}"),
    }

    // The connection is still usable.
    conn.add_flows(&[good]).await.expect("good flow");
    assert_eq!(ovs.dump(), vec!["table=2, priority=6 actions=drop".to_string()]);
    conn.echo().await.expect("echo");
}

#[tokio::test]
async fn modify_and_delete_strict() {
    let ovs = Ovs::start();
    let mut conn = ovs.connect().await;
    conn.delete_all_flows().await.expect("delete all");
    let f: Flow = "table=3,priority=10,ip,reg14=0x1 actions=resubmit(,4)".parse().expect("flow");
    let other: Flow = "table=3,priority=11,ip,reg14=0x1 actions=drop".parse().expect("flow");
    conn.add_flows(&[f.clone(), other.clone()]).await.expect("add");
    let mut changed = f.clone();
    changed.actions = vec![Action::resubmit(5), Action::set_field(Field::Reg(15), 3)];
    conn.install(&[(FlowCommand::ModifyStrict, &changed)]).await.expect("modify");
    let mut want = vec![changed.to_string(), other.to_string()];
    want.sort();
    assert_eq!(ovs.dump(), want);
    conn.install(&[(FlowCommand::DeleteStrict, &other)]).await.expect("delete strict");
    assert_eq!(ovs.dump(), vec![changed.to_string()]);
    // A non-strict delete of table 3 with a wildcard match removes the rest.
    conn.install(&[(FlowCommand::Delete, &Flow::new(3, 0).with_match(Match::new()))]).await.expect("delete");
    assert_eq!(ovs.dump(), Vec::<String>::new());
}

#[tokio::test]
async fn packet_in2_carries_the_userdata() {
    let ovs = Ovs::start();
    let mut conn = ovs.connect().await;
    conn.enable_packet_ins().await.expect("packet-in format");
    conn.delete_all_flows().await.expect("delete all");
    let f: Flow =
        "table=0,priority=10,in_port=LOCAL actions=load:0x2a->NXM_NX_REG14[],controller(userdata=01.02.03.04)".parse().expect("flow");
    conn.add_flows(&[f]).await.expect("add");
    // Send a packet into the pipeline as if it came from LOCAL.
    let frame = "ffffffffffff0000000000010806000108000604000100000000000a0a0000010000000000000a000002";
    ovs.ofctl(&["packet-out", &format!("in_port=LOCAL packet={frame} actions=resubmit(,0)")]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no packet-in within 10 s");
        let (_, m) = conn.recv().await.expect("message");
        if let Message::PacketIn(p) = m {
            assert_eq!(p.userdata, Some(vec![1, 2, 3, 4]));
            assert_eq!(p.table_id, Some(0));
            assert_eq!(p.metadata.exact(Field::Reg(14)), Some(0x2a));
            assert_eq!(p.packet.len(), frame.len() / 2);
            break;
        }
    }
}

#[test]
fn a_missing_program_fails_naming_the_debian_package() {
    let r = std::panic::catch_unwind(|| require("ovs-vswitchd-that-does-not-exist"));
    let msg = r.err().and_then(|e| e.downcast_ref::<String>().cloned()).unwrap_or_default();
    assert!(msg.contains("openvswitch-switch"), "{msg}");
    // And the real one is here (this test fails, naming the package, on a machine without it).
    require("ovs-vswitchd");
}

mod ofp_gen;

/// Hundreds of generated flows (random masks, registers, VLAN, conntrack, NAT, nested actions) installed over
/// our wire encoding: each must come back exactly as we print it.
#[tokio::test]
async fn random_flows_round_trip_through_ovs_vswitchd() {
    use proptest::strategy::{Strategy, ValueTree};
    let ovs = Ovs::start();
    ovs.prepare_for_corpus();
    let mut conn = ovs.connect().await;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut total = 0;
    for round in 0..4 {
        conn.delete_all_flows().await.expect("delete all");
        let mut flows = proptest::collection::vec(ofp_gen::flow(), 250).new_tree(&mut runner).expect("generate").current();
        // Distinct priorities, so no flow replaces another.
        for (i, f) in flows.iter_mut().enumerate() {
            f.priority = 1000 + i as u16;
        }
        conn.add_flows(&flows).await.unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_same(&format!("random flows, round {round}"), &expected(&flows), &ovs.dump());
        total += flows.len();
    }
    eprintln!("{total} generated flows round-trip through ovs-vswitchd");
}
