//! Semantic differential (issue 14): OVN's `ovn-trace` walks the same microflows through the Southbound
//! that OVN's own `ovn-northd` writes and through the one our `northd` writes, for one Northbound, and
//! what comes out must match: the ports a packet leaves by (or that it is dropped), the fields rewritten on
//! the way, and the conntrack actions (NAT) applied to it.
//!
//! ```text
//!                               ┌─▶ ovn-northd ─▶ SB "theirs" ─▶ ovn-trace --minimal ─┐
//!   topology.sh ─▶ NB ──────────┤                                                    ├─▶ canonical text: equal?
//!   (ovn-nbctl)                 └─▶ our northd ─▶ SB "ours"   ─▶ ovn-trace --minimal ─┘
//!                                  + the table's mac-binding lines in both SBs
//! ```
//!
//! Each fixture's microflows are in `fixtures/<fixture>/microflows.txt`, one a line, each under a `#` comment
//! saying what it checks (the format is at the top of each file and in [`parse_table`]). Traces that differ
//! fail the test unless a `differs:` note under the microflow gives the reason; a note whose microflow no
//! longer differs fails it too, so a fix also removes its note. Every feature adds its microflows there.
//! `TRACE_DIFF_SHOW=1` prints every microflow's two traces, not just the failing ones.
//!
//! What `ovn-trace` (23.03) assumes, and why the comparisons still mean something:
//! - `is_chassis_resident()` is true for every port that exists in the Southbound, whatever its chassis
//!   (23.03's `ovntrace_is_chassis_resident()`; there are no chassis here anyway: nothing is bound). The
//!   flows for a gateway port's chassis and those for a distributed FIP's own chassis therefore all apply at
//!   once and priorities decide, the same way for both Southbounds. An `ovn-trace` that consulted
//!   `Port_Binding.chassis` would see none in either Southbound and skip those flows in both.
//! - Ports are down (no `ovn-controller` claims them). ovn-northd 23.03 ignores that for its ARP responder
//!   (`NB_Global.options:ignore_lsp_down` defaults to true), and so do we.
//! - `ct_next` reports `trk,est` (no `--ct` given); no fixture has ACLs or load balancers, so no flow here
//!   depends on it. `ct_dnat(IP)`/`ct_snat(IP)` fork: the trace follows the branch that translates, and
//!   `ct_dnat;`/`ct_snat;` (un-NAT) the branch that finds no entry, both printed as such.
//! - `get_arp` answers from `MAC_Binding`: a `mac-binding` line of the table writes the row that
//!   `ovn-controller` would write once a neighbour answers, so routed traffic to it gets past ARP.
//!
//! The canonical text compared is `ovn-trace --minimal`, the form ovn-trace(8) recommends for regression
//! tests (packet rewrites with their values resolved, conntrack and other packet transformations as blocks,
//! deliveries as `output("port")`), with these normalizations, each for a reason:
//! - the first line, the microflow in OpenFlow syntax, is dropped: it carries the ports' tunnel keys, which
//!   each northd allocates;
//! - `ct_snatin_czone`, as 23.03 prints `ct_snat_in_czone`, is spelled as the action is;
//! - a value `ovn-trace` prints in hex because it came from a register (`eth.src = 0xcddbba;`) is printed in
//!   the field's notation (`00:00:00:cd:db:ba`), as it is when the flow wrote a constant;
//! - `clone { ... }` is unwrapped: `--minimal` flattens a multicast group's copies into one sequence, so OVN's
//!   "clone the ARP request to the router port, then flood the rest" and a flood that includes the router
//!   port print the same once the clone is flattened the same way;
//! - a write of the value a field already holds is left out (OVN's distributed NAT writes the FIP's MAC as
//!   `eth.src` in three stages in a row);
//! - what happens after the last delivery is left out (a TTL decremented or a ct action applied to a packet
//!   that is then dropped changes nothing that leaves), so a trace with no delivery reads `drop`;
//! - `ovn-trace`'s warnings are kept, without their timestamps.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tests::{fixture, require, run, workspace_bin, Daemon, OvsdbServer};

#[test]
fn two_vifs() {
    check("two-vifs", None);
}

#[test]
fn two_switches_router() {
    check("two-switches-router", None);
}

#[test]
fn static_routes() {
    check("static-routes", None);
}

#[test]
fn port_groups() {
    check("port-groups", None);
}

#[test]
fn snat() {
    check("snat", None);
}

#[test]
fn seed_centralized_fip() {
    check("seed", Some("centralized"));
}

#[test]
fn seed_distributed_fip() {
    check("seed", Some("distributed"));
}

/// The variants a fixture runs in, given to its `topology.sh` as `NAT_MODE` (the seed's FIP is
/// centralized or distributed); the other fixtures have one form.
fn variants(fixture: &str) -> &'static [&'static str] {
    match fixture {
        "seed" => &["centralized", "distributed"],
        _ => &[],
    }
}

/// How many microflows are traced at once: `ovn-trace` spends most of its time waiting for its database.
const TRACE_WORKERS: usize = 4;

/// How long the northds get to catch up with the Northbound.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

fn check(name: &str, variant: Option<&str>) {
    let started = Instant::now();
    let path = fixture(&format!("{name}/microflows.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let table = parse_table(&text, variants(name)).unwrap_or_else(|e| panic!("{}:{e}", path.display()));
    assert!(!table.flows.is_empty(), "{} has no microflows", path.display());

    let pair = Pair::start(name, variant);
    let (theirs, ours) = (groups(&pair.theirs), groups(&pair.ours));
    assert_eq!(theirs, ours, "[{name}] Port_Group / Address_Set rows of OVN's Southbound (left) and ours (right) differ");
    let group_rows = theirs.len();
    for b in &table.mac_bindings {
        pair.learn(b);
    }
    let traces = trace_all(&pair, &table.flows);

    let label = match variant {
        Some(v) => format!("{name} ({v})"),
        None => name.to_string(),
    };
    let show = std::env::var_os("TRACE_DIFF_SHOW").is_some_and(|v| v == "1");
    if show {
        println!("[{name}] groups:\n{}", theirs.join("\n"));
    }
    let mut failures = String::new();
    let (mut same, mut documented) = (0, 0);
    for (flow, (theirs, ours)) in table.flows.iter().zip(&traces) {
        let note = flow.notes.iter().find(|n| n.variant.is_none() || n.variant.as_deref() == variant);
        // A microflow that OVN's own Southbound cannot trace is a mistake in the table; one that ours
        // cannot is a difference like any other.
        let verdict = match (theirs, ours) {
            (Err(e), _) => Verdict::Failed(format!("ovn-trace cannot trace it through OVN's Southbound: {e}")),
            (Ok(t), Ok(o)) => judge(t, o, note),
            (Ok(t), Err(e)) => judge(t, &format!("ovn-trace error: {e}"), note),
        };
        let (theirs, ours) = (theirs.as_ref().unwrap_or_else(|e| e), ours.as_ref().unwrap_or_else(|e| e));
        let heading = format!("{}:{} {}\n    {} {}", path.display(), flow.line, flow.comment, flow.datapath, flow.expr);
        match &verdict {
            Verdict::Same => same += 1,
            Verdict::Documented => documented += 1,
            Verdict::Failed(why) => {
                let _ = write!(failures, "\n{heading}\n    {why}\n{}", side_by_side(theirs, ours));
            }
        }
        if show {
            let note = note.map(|n| format!("    documented: {}\n", n.reason)).unwrap_or_default();
            println!("\n[{label}] {heading}\n{note}{}", side_by_side(theirs, ours));
        }
    }
    println!(
        "[{label}] {group_rows} port group and address set rows the same; {} microflows: {same} the same, {documented} \
         documented differences, {} failed ({:.1} s)",
        table.flows.len(),
        table.flows.len() - same - documented,
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "[{label}] traces of OVN's Southbound (left) and ours (right) disagree:\n{failures}");
}

// ---------------------------------------------------------------------------------------------------------
// The microflow table.

/// A neighbour a router has learned: the `MAC_Binding` row `ovn-controller` writes after an ARP reply.
#[derive(Debug)]
struct MacBinding {
    port: String,
    ip: String,
    mac: String,
}

#[derive(Debug)]
struct Microflow {
    line: usize,
    comment: String,
    datapath: String,
    expr: String,
    notes: Vec<Note>,
}

/// A documented difference: `differs[ (VARIANT)][ only in ct zone]: REASON`.
#[derive(Debug)]
struct Note {
    /// Only in this variant of the fixture; in all of them when `None`.
    variant: Option<String>,
    /// The traces must be equal once the conntrack zone is ignored (`ct_dnat_in_czone` reads as
    /// `ct_dnat`), so that the rest of the trace is still compared.
    ct_zone_only: bool,
    reason: String,
}

#[derive(Debug, Default)]
struct Table {
    mac_bindings: Vec<MacBinding>,
    flows: Vec<Microflow>,
}

/// Reads a microflow table. Line by line:
/// - `# text`: a comment; the comment lines right above a microflow say what it checks (required);
/// - `mac-binding PORT IP MAC`: before tracing, both Southbounds learn that IP is at MAC on router port PORT;
/// - `DATAPATH EXPRESSION`: a microflow, traced from the named switch or router;
/// - `differs[ (VARIANT)][ only in ct zone]: REASON`, right under a microflow: its traces differ, and why;
/// - blank lines separate groups (a comment above a blank line belongs to no microflow).
fn parse_table(text: &str, variants: &[&str]) -> Result<Table, String> {
    let mut table = Table::default();
    let mut comment: Vec<&str> = Vec::new();
    // Whether a `differs` line here would belong to the last microflow (nothing else came in between).
    let mut after_flow = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            comment.clear();
            after_flow = false;
        } else if let Some(c) = line.strip_prefix('#') {
            comment.push(c.trim());
            after_flow = false;
        } else if let Some(rest) = line.strip_prefix("differs") {
            let flow =
                table.flows.last_mut().filter(|_| after_flow).ok_or(format!("{n}: a `differs` line goes right under its microflow"))?;
            let note = parse_note(rest, variants).map_err(|e| format!("{n}: {e}"))?;
            let clash = flow.notes.iter().any(|o| o.variant.is_none() || note.variant.is_none() || o.variant == note.variant);
            if clash {
                return Err(format!("{n}: two `differs` notes apply to one microflow in the same variant"));
            }
            flow.notes.push(note);
        } else if let Some(rest) = line.strip_prefix("mac-binding ") {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let [port, ip, mac] = f[..] else { return Err(format!("{n}: expected `mac-binding PORT IP MAC`")) };
            table.mac_bindings.push(MacBinding { port: port.into(), ip: ip.into(), mac: mac.into() });
            comment.clear();
            after_flow = false;
        } else {
            let (datapath, expr) = line.split_once(char::is_whitespace).ok_or(format!("{n}: expected `DATAPATH EXPRESSION`"))?;
            if comment.is_empty() {
                return Err(format!("{n}: a microflow needs a `#` comment right above it saying what it checks"));
            }
            let comment = std::mem::take(&mut comment).join(" ");
            table.flows.push(Microflow { line: n, comment, datapath: datapath.into(), expr: expr.trim().into(), notes: Vec::new() });
            after_flow = true;
        }
    }
    Ok(table)
}

/// The part of a `differs` line after the word `differs`.
fn parse_note(rest: &str, variants: &[&str]) -> Result<Note, String> {
    let (head, reason) = rest.split_once(':').ok_or("expected `differs: REASON`")?;
    let mut head = head.trim();
    let mut variant = None;
    if let Some(h) = head.strip_prefix('(') {
        let (v, after) = h.split_once(')').ok_or("unclosed `(` in a `differs` line")?;
        if !variants.contains(&v) {
            return Err(format!("`{v}` is not a variant of this fixture (it has: {variants:?})"));
        }
        variant = Some(v.to_string());
        head = after.trim();
    }
    let ct_zone_only = match head {
        "" => false,
        "only in ct zone" => true,
        other => return Err(format!("`differs {other}`: expected `differs`, `differs (VARIANT)` and/or `only in ct zone`")),
    };
    let reason = reason.trim();
    if reason.is_empty() {
        return Err("a `differs` line must say why".into());
    }
    Ok(Note { variant, ct_zone_only, reason: reason.into() })
}

// ---------------------------------------------------------------------------------------------------------
// One Northbound, two northds, two Southbounds.

struct Pair {
    // Fields drop in order: the daemons go before the databases they talk to.
    ovn_northd: Daemon,
    northd: Daemon,
    nb: OvsdbServer,
    theirs: OvsdbServer,
    ours: OvsdbServer,
}

impl Pair {
    /// Starts both northds on a fresh NB, writes the fixture's topology with OVN's `ovn-nbctl`, and returns
    /// once both Southbounds reflect all of it.
    fn start(name: &str, variant: Option<&str>) -> Pair {
        let nb = OvsdbServer::nb();
        let theirs = OvsdbServer::southbound();
        let ours = OvsdbServer::southbound();
        let ovn_northd = Daemon::ovn_northd(&nb.remote(), &theirs.remote(), theirs.dir());
        let northd = Daemon::start(
            &workspace_bin("northd"),
            &[&format!("--nb-db={}", nb.remote()), &format!("--sb-db={}", ours.remote())],
            Some(&ours.dir().join("northd.log")),
        );
        let mut pair = Pair { ovn_northd, northd, nb, theirs, ours };

        let nbctl = format!("{} --db={}", require("ovn-nbctl").display(), pair.nb.remote());
        let script = fixture(&format!("{name}/topology.sh"));
        let mut env = vec![("NBCTL", nbctl.as_str())];
        if let Some(v) = variant {
            env.push(("NAT_MODE", v));
        }
        run(Path::new("/bin/bash"), &[&script.display().to_string()], &env).ok();
        pair.wait_until_current();
        pair
    }

    /// Both Southbounds reflect the whole Northbound. `ovn-nbctl --wait=sb` returns when either northd has
    /// answered (both write `NB_Global.sb_cfg`), so each Southbound's own `SB_Global.nb_cfg` is waited for;
    /// and as our northd may write that row in the first of several batches of one round, the databases
    /// must then also stay unchanged for a moment.
    fn wait_until_current(&mut self) {
        let synced = self.nb.ovn_nbctl(&["--wait=sb", &format!("--timeout={}", SYNC_TIMEOUT.as_secs()), "sync"]);
        assert_eq!(synced.code, 0, "no northd answered `ovn-nbctl --wait=sb sync`: {}\n{}", synced.stderr, self.logs());
        let want = self.nb.ovn_nbctl(&["get", "NB_Global", ".", "nb_cfg"]).ok().stdout.trim().to_string();
        let want: i64 = want.parse().unwrap_or_else(|e| panic!("NB_Global.nb_cfg `{want}`: {e}"));
        let deadline = Instant::now() + SYNC_TIMEOUT;
        for sb in [&self.theirs, &self.ours] {
            loop {
                let got = sb.ovn_sbctl(&["get", "SB_Global", ".", "nb_cfg"]);
                if got.code == 0 && got.stdout.trim().parse::<i64>().is_ok_and(|n| n >= want) {
                    break;
                }
                assert!(Instant::now() < deadline, "a Southbound never reached nb_cfg {want}\n{}", self.logs());
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let mut before = (self.theirs.dump(), self.ours.dump());
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let now = (self.theirs.dump(), self.ours.dump());
            if now == before {
                break;
            }
            assert!(Instant::now() < deadline, "the Southbounds keep changing\n{}", self.logs());
            before = now;
        }
        assert!(self.ovn_northd.is_running() && self.northd.is_running(), "a northd exited\n{}", self.logs());
    }

    /// Writes the neighbour into both Southbounds, on the port's datapath.
    fn learn(&self, b: &MacBinding) {
        for sb in [&self.theirs, &self.ours] {
            let port = format!("logical_port={}", b.port);
            let dp = sb.ovn_sbctl(&["--bare", "--columns=datapath", "find", "Port_Binding", &port]).ok().stdout.trim().to_string();
            assert!(!dp.is_empty(), "mac-binding {}: no such port in the Southbound at {}", b.port, sb.remote());
            sb.ovn_sbctl(&[
                "create",
                "MAC_Binding",
                &port,
                &format!("ip=\"{}\"", b.ip),
                &format!("mac=\"{}\"", b.mac),
                &format!("datapath={dp}"),
            ])
            .ok();
        }
    }

    fn logs(&self) -> String {
        let ovn = std::fs::read_to_string(self.theirs.dir().join("ovn-northd.log")).unwrap_or_default();
        format!("ovn-northd log:\n{ovn}\nour northd log:\n{}", self.northd.log_text())
    }
}

/// The Southbound's port groups and address sets, one line each, sorted: a port group's
/// `<datapath key>_<group>` name has the datapath's name for its key (the two northds number datapaths
/// alike only by chance). `svc_monitor_mac`, the address set ovn-northd makes for service monitors, is
/// left out: we do not run service monitors yet.
fn groups(sb: &OvsdbServer) -> Vec<String> {
    let rows = |table: &str, columns: &str| -> Vec<Vec<String>> {
        let out = sb.ovn_sbctl(&["--format=csv", "--data=bare", "--no-headings", &format!("--columns={columns}"), "list", table]).ok();
        out.stdout.lines().map(|l| l.split(',').map(str::to_string).collect()).collect()
    };
    let dp_name: std::collections::BTreeMap<String, String> = rows("Datapath_Binding", "tunnel_key,external_ids")
        .into_iter()
        .filter_map(|r| {
            let name = r.get(1)?.split_whitespace().find_map(|kv| kv.strip_prefix("name="))?.to_string();
            Some((r.first()?.clone(), name))
        })
        .collect();
    let sorted = |v: &str| {
        let mut items: Vec<&str> = v.split_whitespace().collect();
        items.sort_unstable();
        items.join(" ")
    };
    let mut lines = Vec::new();
    for r in rows("Port_Group", "name,ports") {
        let name = match r[0].split_once('_') {
            Some((key, pg)) => format!("{}_{pg}", dp_name.get(key).map_or(key, String::as_str)),
            None => r[0].clone(),
        };
        lines.push(format!("Port_Group {name}: {}", sorted(r.get(1).map_or("", String::as_str))));
    }
    for r in rows("Address_Set", "name,addresses").into_iter().filter(|r| r[0] != "svc_monitor_mac") {
        lines.push(format!("Address_Set {}: {}", r[0], sorted(r.get(1).map_or("", String::as_str))));
    }
    lines.sort();
    lines
}

// ---------------------------------------------------------------------------------------------------------
// Tracing and comparing.

/// A canonical trace, or why `ovn-trace` could not trace the microflow.
type Traced = Result<String, String>;

/// Traces every microflow through both Southbounds, a few at a time; the results are in the flows' order.
fn trace_all(pair: &Pair, flows: &[Microflow]) -> Vec<(Traced, Traced)> {
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, (Traced, Traced))> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..TRACE_WORKERS)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(f) = flows.get(i) else { break out };
                        let theirs = trace(&pair.theirs, f);
                        let ours = trace(&pair.ours, f);
                        out.push((i, (theirs, ours)));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a trace worker panicked")).collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, t)| t).collect()
}

/// `ovn-trace --minimal` of one microflow, in canonical form (see the module documentation), or why
/// `ovn-trace` could not trace it.
fn trace(sb: &OvsdbServer, flow: &Microflow) -> Traced {
    let out = Command::new(require("ovn-trace"))
        .args([&format!("--db={}", sb.remote()), "--minimal", &flow.datapath, &flow.expr])
        .output()
        .unwrap_or_else(|e| panic!("cannot run ovn-trace: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: String = stderr.lines().map(|l| format!("ovn-trace {}\n", strip_log_prefix(l))).collect();
    if !out.status.success() {
        return Err(format!("ovn-trace failed ({})\n{warnings}", out.status).trim_end().to_string());
    }
    // ovn-trace reports a bad datapath or microflow on stdout and exits 0; a trace starts with the
    // microflow in OpenFlow syntax.
    let Some(body) = stdout.strip_prefix("# ").and_then(|s| s.split_once('\n')).map(|(_, body)| body) else {
        return Err(format!("ovn-trace: {}\n{warnings}", stdout.trim()).trim_end().to_string());
    };
    Ok(canonical(body) + &warnings)
}

/// The canonical text of the statements `ovn-trace --minimal` prints after the microflow.
fn canonical(minimal: &str) -> String {
    let lines: Vec<&str> = minimal.lines().collect();
    let nodes = prune(drop_known_rewrites(flatten_clones(parse_blocks(&mut lines.iter())), &mut Known::new()));
    let mut text = String::new();
    render(&nodes, 0, &mut text);
    if text.is_empty() {
        text.push_str("drop\n");
    }
    text
}

/// `2026-01-01T00:00:00Z|00001|ovntrace|WARN|text` -> `WARN|text`.
fn strip_log_prefix(line: &str) -> &str {
    line.splitn(4, '|').nth(3).unwrap_or(line)
}

/// A statement of `ovn-trace --minimal` output, or a transformation (`clone`, `arp`, `icmp4`, a ct action)
/// with the statements that apply to the packet it makes.
#[derive(Debug)]
enum Node {
    Leaf(String),
    Block(String, Vec<Node>),
}

/// Reads the statements up to the end of the current block (`};`) or of the text.
fn parse_blocks(lines: &mut std::slice::Iter<'_, &str>) -> Vec<Node> {
    let mut nodes = Vec::new();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if line == "};" {
            break;
        }
        match line.strip_suffix('{') {
            Some(head) => nodes.push(Node::Block(normalize_statement(head.trim()), parse_blocks(lines))),
            None if !line.is_empty() => nodes.push(Node::Leaf(normalize_statement(line))),
            None => {}
        }
    }
    nodes
}

/// Replaces each `clone { ... }` by what it holds, and drops empty clones (see the module documentation).
fn flatten_clones(nodes: Vec<Node>) -> Vec<Node> {
    let mut out = Vec::new();
    for node in nodes {
        match node {
            Node::Block(head, body) if head == "clone" => out.extend(flatten_clones(body)),
            Node::Leaf(s) if s == "clone;" => {}
            Node::Block(head, body) => out.push(Node::Block(head, flatten_clones(body))),
            leaf => out.push(leaf),
        }
    }
    out
}

/// What a trace has written into fields since the packet was last delivered or remade.
type Known = BTreeMap<String, String>;

/// Leaves out writes of the value a field already holds, which change nothing: OVN's distributed NAT writes
/// the FIP's MAC as `eth.src` in three stages in a row. The knowledge is forgotten after every delivery
/// (what `--minimal` prints next may be another copy of the packet, a multicast group's next member) and
/// in a block that makes a new packet (`arp`, `icmp4`, ...); a conntrack block keeps the Ethernet fields,
/// which conntrack does not touch.
fn drop_known_rewrites(nodes: Vec<Node>, known: &mut Known) -> Vec<Node> {
    let mut out = Vec::new();
    for node in nodes {
        match node {
            Node::Leaf(s) => {
                match s.strip_suffix(';').and_then(|a| a.split_once(" = ")) {
                    Some((field, value)) if known.get(field).is_some_and(|v| v == value) => continue,
                    Some((field, value)) => {
                        known.insert(field.to_string(), value.to_string());
                    }
                    None => known.clear(),
                }
                out.push(Node::Leaf(s));
            }
            Node::Block(head, body) => {
                let mut inner: Known = if head.starts_with("ct_") {
                    known.iter().filter(|(f, _)| f.starts_with("eth.")).map(|(f, v)| (f.clone(), v.clone())).collect()
                } else {
                    Known::new()
                };
                out.push(Node::Block(head, drop_known_rewrites(body, &mut inner)));
                known.clear();
            }
        }
    }
    out
}

/// Leaves out what no delivery follows: blocks that deliver nothing, and the statements after a block's
/// last delivery.
fn prune(nodes: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = nodes
        .into_iter()
        .filter_map(|n| match n {
            Node::Block(head, body) => {
                let body = prune(body);
                (!body.is_empty()).then_some(Node::Block(head, body))
            }
            leaf => Some(leaf),
        })
        .collect();
    while let Some(Node::Leaf(s)) = out.last() {
        if s.starts_with("output(") {
            break;
        }
        out.pop();
    }
    out
}

fn render(nodes: &[Node], depth: usize, out: &mut String) {
    let pad = "    ".repeat(depth);
    for n in nodes {
        match n {
            Node::Leaf(s) => {
                let _ = writeln!(out, "{pad}{s}");
            }
            Node::Block(head, body) => {
                let _ = writeln!(out, "{pad}{head} {{");
                render(body, depth + 1, out);
                let _ = writeln!(out, "{pad}}};");
            }
        }
    }
}

/// Fields whose values are Ethernet addresses, and IPv4 addresses.
const MAC_FIELDS: &[&str] = &["eth.src", "eth.dst", "arp.sha", "arp.tha", "nd.sll", "nd.tll"];
const IP4_FIELDS: &[&str] = &["ip4.src", "ip4.dst", "arp.spa", "arp.tpa"];

/// One statement with ovn-trace's printing quirks undone (see the module documentation).
fn normalize_statement(s: &str) -> String {
    let s = s.replace("ct_snatin_czone", "ct_snat_in_czone").replace("ct_dnatin_czone", "ct_dnat_in_czone");
    let Some((field, value)) = s.strip_suffix(';').and_then(|a| a.split_once(" = ")) else { return s };
    let Some(v) = value.strip_prefix("0x").and_then(|h| u64::from_str_radix(h, 16).ok()) else { return s };
    if MAC_FIELDS.contains(&field) && v >> 48 == 0 {
        let b = v.to_be_bytes();
        format!("{field} = {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x};", b[2], b[3], b[4], b[5], b[6], b[7])
    } else if let (true, Ok(ip)) = (IP4_FIELDS.contains(&field), u32::try_from(v)) {
        format!("{field} = {};", Ipv4Addr::from(ip))
    } else {
        s
    }
}

enum Verdict {
    Same,
    Documented,
    Failed(String),
}

fn judge(theirs: &str, ours: &str, note: Option<&Note>) -> Verdict {
    let zone_blind = |t: &str| t.replace("_in_czone", "");
    match note {
        None if theirs == ours => Verdict::Same,
        None => Verdict::Failed("the traces differ and no `differs` line says why".into()),
        Some(n) if theirs == ours => {
            Verdict::Failed(format!("documented as different (\"{}\") but the traces are now the same: remove the note", n.reason))
        }
        Some(n) if n.ct_zone_only && zone_blind(theirs) != zone_blind(ours) => {
            Verdict::Failed(format!("documented as differing only in the conntrack zone (\"{}\"), but they differ in more", n.reason))
        }
        Some(_) => Verdict::Documented,
    }
}

/// Two traces in two columns, OVN's on the left; `|` marks lines that differ, `:` lines that agree.
fn side_by_side(theirs: &str, ours: &str) -> String {
    let left: Vec<&str> = theirs.lines().collect();
    let right: Vec<&str> = ours.lines().collect();
    let width = left.iter().map(|l| l.chars().count()).max().unwrap_or(0).max("ovn-northd".len());
    let mut out = format!("    {:width$}   our northd\n", "ovn-northd");
    for i in 0..left.len().max(right.len()) {
        let (l, r) = (left.get(i).copied().unwrap_or(""), right.get(i).copied().unwrap_or(""));
        let mark = if l == r { ':' } else { '|' };
        let _ = writeln!(out, "    {l:width$} {mark} {r}");
    }
    out
}

// ---------------------------------------------------------------------------------------------------------
// The machinery itself, without databases.

#[test]
fn canonical_form_undoes_ovn_trace_quirks() {
    // OVN's router answering an ARP request cloned to it, then the flood to the other port.
    let theirs = "clone {\n    eth.dst = 00:00:00:f3:5d:f2;\n    eth.src = 0xcddbba;\n    arp.spa = 0xc0a86465;\n    \
                  output(\"pod2\");\n};\noutput(\"testvm\");\n";
    let ours = "eth.dst = 00:00:00:f3:5d:f2;\neth.src = 00:00:00:cd:db:ba;\narp.spa = 192.168.100.101;\noutput(\"pod2\");\n\
                output(\"testvm\");\n";
    assert_eq!(canonical(theirs), canonical(ours));
    // `ct_snatin_czone` is ovn-trace 23.03's spelling of `ct_snat_in_czone`.
    assert_eq!(
        canonical("ct_snatin_czone(ip4.src=1.2.3.4) {\n    output(\"p\");\n};\n"),
        "ct_snat_in_czone(ip4.src=1.2.3.4) {\n    output(\"p\");\n};\n"
    );
    // What no delivery follows is left out: a decremented TTL, an empty clone, a NAT branch that drops.
    assert_eq!(canonical("ip.ttl--;\nclone;\nct_dnat(ip4.dst=10.0.0.5) {\n    eth.src = 00:00:00:00:00:01;\n};\n"), "drop\n");
    // A field written again with the value it holds is one write, also across a conntrack block ...
    let repeated = "eth.src = 0a:00:00:00:01:01;\neth.src = 0a:00:00:00:01:01;\nct_dnat {\n    eth.src = 0a:00:00:00:01:01;\n    \
                    output(\"p\");\n};\n";
    assert_eq!(canonical(repeated), "eth.src = 0a:00:00:00:01:01;\nct_dnat {\n    output(\"p\");\n};\n");
    // ... but not after a delivery (the next statement may be about another copy) or in a new packet.
    let again = "eth.src = 00:00:00:00:00:01;\noutput(\"a\");\neth.src = 00:00:00:00:00:01;\narp {\n    eth.src = 00:00:00:00:00:01;\n    \
                 output(\"b\");\n};\n";
    assert_eq!(canonical(again), again);
}

#[test]
fn documented_differences_must_still_differ() {
    let note = |ct_zone_only| Note { variant: None, ct_zone_only, reason: "why".into() };
    assert!(matches!(judge("a\n", "a\n", None), Verdict::Same));
    assert!(matches!(judge("a\n", "b\n", None), Verdict::Failed(_)));
    assert!(matches!(judge("a\n", "b\n", Some(&note(false))), Verdict::Documented));
    assert!(matches!(judge("a\n", "a\n", Some(&note(false))), Verdict::Failed(_)));
    assert!(matches!(judge("ct_dnat_in_czone;\n", "ct_dnat;\n", Some(&note(true))), Verdict::Documented));
    assert!(matches!(judge("ct_dnat_in_czone;\na\n", "ct_dnat;\nb\n", Some(&note(true))), Verdict::Failed(_)));
}

#[test]
fn microflow_tables_are_checked() {
    let ok =
        "# checks a\nsw inport == \"a\"\ndiffers (v1): why\ndiffers (v2) only in ct zone: why\nmac-binding p 1.2.3.4 00:00:00:00:00:01\n";
    let t = parse_table(ok, &["v1", "v2"]).expect("a valid table");
    assert_eq!((t.flows.len(), t.flows[0].notes.len(), t.mac_bindings.len()), (1, 2, 1));
    assert!(t.flows[0].notes[1].ct_zone_only);
    for (bad, why) in [
        ("sw inport == \"a\"\n", "no comment"),
        ("# c\n\nsw inport == \"a\"\n", "a comment cut off by a blank line"),
        ("# c\nsw x\n\ndiffers: why\n", "a note away from its microflow"),
        ("# c\nsw x\ndiffers:\n", "a note without a reason"),
        ("# c\nsw x\ndiffers (v3): why\n", "an unknown variant"),
        ("# c\nsw x\ndiffers: why\ndiffers (v1): why\n", "two notes for one variant"),
        ("# c\nsw x\ndiffers somehow: why\n", "an unknown qualifier"),
        ("mac-binding p 1.2.3.4\n", "a short mac-binding"),
    ] {
        assert!(parse_table(bad, &["v1", "v2"]).is_err(), "accepted {why}");
    }
}
