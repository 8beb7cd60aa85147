//! Golden files in the shape OVN's own tests use: an input line, then indented lines saying how it
//! formats, what it compiles to, or the error it gives (fixtures/flowgen/*.txt). The inputs are the
//! unindented lines; everything indented is regenerated and compared. `UPDATE_GOLDEN=1` rewrites them.
//! Every input that parses must format to text that parses back to the same tree.

use flowgen::actions::encode::{encode, ActionContext};
use flowgen::expr::compile::Lookup;
use flowgen::expr::Num;
use flowgen::layout::Pipeline;
use flowgen::lflow::{compile_lflow, LogicalFlow};

/// Ports "p1".."p99" have keys 1..99; "p1" and "cr-gw" are on this chassis.
struct Fixture;

impl Lookup for Fixture {
    fn port_key(&self, name: &str) -> Option<u32> {
        match name {
            "_MC_flood" => Some(32768),
            "_MC_unknown" => Some(32769),
            "cr-gw" => Some(100),
            _ => name.strip_prefix('p').and_then(|n| n.parse().ok()),
        }
    }
    fn is_chassis_resident(&self, port: &str) -> bool {
        port == "p1" || port == "cr-gw"
    }
    fn address_set(&self, name: &str) -> Option<Vec<Num>> {
        let ip = |s: &str| {
            flowgen::expr::lexer::lex(s).ok().and_then(|t| match t.first().map(|t| t.tok.clone()) {
                Some(flowgen::expr::lexer::Tok::Num(n)) => Some(n),
                _ => None,
            })
        };
        (name == "as1").then(|| ["10.0.0.1", "10.0.0.2", "10.1.0.0/16"].iter().filter_map(|s| ip(s)).collect())
    }
    fn port_group(&self, name: &str) -> Option<Vec<String>> {
        (name == "pg1").then(|| vec!["p1".to_string(), "p2".to_string()])
    }
}

fn expr_case(input: &str) -> Vec<String> {
    let e = match flowgen::expr::parse(input) {
        Ok(e) => e,
        Err(err) => return vec![format!("error: {err}")],
    };
    let text = e.to_string();
    assert_eq!(flowgen::expr::parse(&text).as_ref(), Ok(&e), "{input}: formatting is not stable ({text})");
    let mut out = vec![format!("formats as {text}")];
    let lf = LogicalFlow {
        uuid: 0,
        pipeline: Pipeline::Ingress,
        table_id: 0,
        priority: 100,
        match_: input,
        actions: "next;",
        datapath_key: 1,
        is_router: false,
    };
    let mut id = 0;
    match compile_lflow(&lf, &Fixture, &mut || {
        id += 1;
        id
    }) {
        Err(err) => out.push(format!("error: {err}")),
        Ok(flows) if flows.is_empty() => out.push("(never matches)".to_string()),
        Ok(flows) => {
            for f in flows {
                let acts = f.actions.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",");
                let tail = if acts.starts_with("conjunction") { format!(" -> {acts}") } else { String::new() };
                out.push(format!("{}{tail}", f.matches));
            }
        }
    }
    out
}

fn action_case(input: &str) -> Vec<String> {
    let a = match flowgen::actions::parse(input) {
        Ok(a) => a,
        Err(err) => return vec![format!("error: {err}")],
    };
    let text = a.to_string();
    assert_eq!(flowgen::actions::parse(&text).as_ref(), Ok(&a), "{input}: formatting is not stable ({text})");
    let mut out = vec![format!("formats as {text}")];
    let ctx = ActionContext {
        lookup: &Fixture,
        pipeline: Pipeline::Ingress,
        table_id: 10,
        is_router: input.contains("ct_snat") || input.contains("ct_dnat"),
    };
    match encode(&a, &ctx) {
        Err(err) => out.push(format!("error: {err}")),
        Ok(enc) => {
            let acts: Vec<String> = enc.actions.iter().map(|a| a.to_string()).collect();
            out.push(format!("encodes as {}", if acts.is_empty() { "drop".to_string() } else { acts.join(",") }));
            if !enc.prereqs.is_empty() {
                out.push(format!("has prereqs {}", enc.prereqs.join(" && ")));
            }
        }
    }
    out
}

fn check(rel: &str, case: fn(&str) -> Vec<String>) {
    let path = tests::fixture(rel);
    let old = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut new = String::new();
    for line in old.lines() {
        if line.starts_with(' ') {
            continue;
        }
        new.push_str(line);
        new.push('\n');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        for l in case(line) {
            new.push_str("    ");
            new.push_str(&l);
            new.push('\n');
        }
    }
    tests::golden(rel, &new);
}

#[test]
fn expressions() {
    check("flowgen/expr.txt", expr_case);
}

#[test]
fn actions() {
    check("flowgen/actions.txt", action_case);
}
