//! Tests of the match compiler: known expansions, refusals, and a property test that a random expression
//! holds for a random packet exactly when some compiled flow matches it (conjunctions counted properly).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::ast::{Expr, RelOp, Value};
use super::compile::{compile, compile_str, Compiled, Conj, Lookup};
use super::lexer::Num;
use super::parse::parse;
use super::symtab::{self, Kind};

struct Ports;

impl Lookup for Ports {
    fn port_key(&self, name: &str) -> Option<u32> {
        match name {
            "p1" => Some(1),
            "p2" => Some(2),
            "_MC_flood" => Some(32768),
            _ => None,
        }
    }
    fn is_chassis_resident(&self, port: &str) -> bool {
        port == "here"
    }
    fn address_set(&self, name: &str) -> Option<Vec<Num>> {
        (name == "svc_monitor_mac").then(|| vec![Num { value: 0x0a00_0000_0001, mask: None, format: super::lexer::NumFormat::Mac }])
    }
    fn port_group(&self, name: &str) -> Option<Vec<String>> {
        (name == "pg").then(|| vec!["p1".into(), "p2".into(), "gone".into()])
    }
}

fn c(s: &str) -> Compiled {
    compile_str(s, &Ports).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn conj(items: &[(&'static str, u128, u128)]) -> Conj {
    items.iter().map(|(f, v, m)| (*f, (*v, *m))).collect()
}

#[test]
fn known_expansions() {
    assert_eq!(c("1").matches, vec![Conj::new()]);
    assert!(c("0").is_never());
    assert_eq!(c("ip4.dst == 10.0.0.0/8").matches, vec![conj(&[("eth_type", 0x800, 0xffff), ("ip_dst", 0x0a00_0000, 0xff00_0000)])]);
    assert_eq!(c("eth.mcast").matches, vec![conj(&[("eth_dst", 1 << 40, 1 << 40)])]);
    assert_eq!(c("reg0[15] == 1").matches, vec![conj(&[("reg0", 0x8000, 0x8000)])]);
    assert_eq!(
        c("xxreg0 == 1").matches,
        vec![conj(&[("reg0", 0, 0xffff_ffff), ("reg1", 0, 0xffff_ffff), ("reg2", 0, 0xffff_ffff), ("reg3", 1, 0xffff_ffff)])]
    );
    assert_eq!(c("xreg0[0..47] == 00:00:00:00:00:01").matches, vec![conj(&[("reg0", 0, 0xffff), ("reg1", 1, 0xffff_ffff)])]);
    assert_eq!(c("inport == \"p2\"").matches, vec![conj(&[("reg14", 2, 0xffff_ffff)])]);
    assert!(c("inport == \"nope\"").is_never(), "an unknown port never matches");
    assert_eq!(c("outport == @pg").matches.len(), 2, "port group members that exist");
    assert_eq!(c("is_chassis_resident(\"here\") && ip4").matches, vec![conj(&[("eth_type", 0x800, 0xffff)])]);
    assert!(c("is_chassis_resident(\"there\") && ip4").is_never());
    assert_eq!(c("eth.dst == $svc_monitor_mac").matches, vec![conj(&[("eth_dst", 0x0a00_0000_0001, 0xffff_ffff_ffff)])]);
    // ip = ip4 || ip6: two flows.
    assert_eq!(c("ip").matches.len(), 2);
    // A prerequisite is not negated: !(tcp.src == 80) only matches TCP.
    for m in c("!(tcp.src == 80)").matches {
        assert_eq!(m.get("nw_proto"), Some(&(6, 0xff)), "{m:?}");
    }
    // != on an ordinal field: one test per bit.
    assert_eq!(c("arp.op != 1").matches.len(), 16);
    // Contradictions vanish.
    assert!(c("ip4 && ip6").is_never());
    assert!(c("reg0 == 1 && reg0 == 2").is_never());
}

#[test]
fn cross_products_become_conjunctions() {
    let r = c("ip4.src == {1.1.1.1, 2.2.2.2, 3.3.3.3} && tcp.dst == {80, 443, 8080}");
    let conj = r.conjunction.expect("a conjunction");
    assert_eq!(conj.clauses.len(), 2);
    assert_eq!(conj.clauses.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3]);
    // Small products stay plain flows.
    let r = c("ip4.src == {1.1.1.1, 2.2.2.2} && tcp.dst == {80, 443}");
    assert!(r.conjunction.is_none());
    assert_eq!(r.matches.len(), 4);
}

#[test]
fn refusals_say_what_is_wrong() {
    for (bad, says) in [
        ("eth.type != 0x800", "nominal"),
        ("tcp.src", "16-bit"),
        ("foo == 1", "unknown field"),
        ("reg0 == 0x100000000", "does not fit"),
        ("ip4.dst < 10.0.0.0/8", "masked"),
        ("inport < 3", "nominal"),
        ("eth.src == \"x\"", "string"),
        ("ip4 == 2", "0 or 1"),
        ("eth.dst == $nope", "unknown address set"),
        ("frob(\"x\")", "unknown function"),
        ("reg0[40] == 1", "beyond"),
    ] {
        let e = compile_str(bad, &Ports).unwrap_err().to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

// ---- Property: expression truth == "some generated flow matches" ----

type Packet = BTreeMap<&'static str, u128>;

/// The value of a resolved field in a packet.
fn read(p: &Packet, name: &str, range: Option<(u16, u16)>) -> Option<(u128, u16, bool)> {
    let sym = symtab::lookup(name)?;
    let (of, mut lo, mut width, ordinal) = match &sym.kind {
        Kind::Field { of, width, ordinal } => (*of, 0u16, *width, *ordinal),
        Kind::Subfield { parent, lo, hi } => {
            let (v, plo, _, _) = read_raw(p, parent)?;
            let _ = v;
            (field_of(parent)?, plo + lo, hi - lo + 1, true)
        }
        _ => return None,
    };
    if let Some((rlo, rhi)) = range {
        lo += rlo;
        width = rhi - rlo + 1;
    }
    let raw = p.get(of).copied().unwrap_or(0);
    let mask = if width >= 128 { u128::MAX } else { (1u128 << width) - 1 };
    Some(((raw >> lo) & mask, width, ordinal))
}

fn field_of(name: &str) -> Option<&'static str> {
    match &symtab::lookup(name)?.kind {
        Kind::Field { of, .. } => Some(of),
        Kind::Subfield { parent, .. } => field_of(parent),
        _ => None,
    }
}

fn read_raw(p: &Packet, name: &str) -> Option<(u128, u16, u16, bool)> {
    match &symtab::lookup(name)?.kind {
        Kind::Field { of, width, .. } => Some((p.get(of).copied().unwrap_or(0), 0, *width, true)),
        Kind::Subfield { parent, lo, .. } => read_raw(p, parent).map(|(v, plo, w, o)| (v, plo + lo, w, o)),
        _ => None,
    }
}

fn prereqs_of(name: &str) -> Vec<&'static str> {
    let Some(sym) = symtab::lookup(name) else { return Vec::new() };
    let mut v: Vec<&'static str> = match &sym.kind {
        Kind::Subfield { parent, .. } => prereqs_of(parent),
        _ => Vec::new(),
    };
    v.extend(sym.prereq);
    v
}

/// The meaning of an expression for one packet, straight from the definitions (prerequisites hold
/// positively around every comparison).
fn eval(e: &Expr, p: &Packet, negate: bool) -> bool {
    match e {
        Expr::Bool(b) => *b != negate,
        Expr::Not(i) => eval(i, p, !negate),
        Expr::And(es) => {
            if negate {
                es.iter().any(|x| eval(x, p, true))
            } else {
                es.iter().all(|x| eval(x, p, false))
            }
        }
        Expr::Or(es) => {
            if negate {
                es.iter().all(|x| eval(x, p, true))
            } else {
                es.iter().any(|x| eval(x, p, false))
            }
        }
        Expr::Func { .. } => negate,
        Expr::Bare(fr) => match symtab::lookup(&fr.name).map(|s| &s.kind) {
            Some(Kind::Predicate { expansion }) => eval(&parse(expansion).expect("predicate"), p, negate),
            _ => eval(&Expr::Cmp { field: fr.clone(), op: RelOp::Eq, values: vec![Value::Num(Num::plain(1))], set: false }, p, negate),
        },
        Expr::Cmp { field, op, values, .. } => {
            let op = if negate { op.invert() } else { *op };
            let pre = prereqs_of(&field.name).iter().all(|q| eval(&parse(q).expect("prereq"), p, false));
            let (x, _, _) = read(p, &field.name, field.range).expect("field");
            let test = |v: &Value| {
                let Value::Num(n) = v else { return false };
                let m = n.mask.unwrap_or(u128::MAX);
                match op {
                    RelOp::Eq => x & m == n.value & m,
                    RelOp::Ne => x & m != n.value & m,
                    RelOp::Lt => x < n.value,
                    RelOp::Le => x <= n.value,
                    RelOp::Gt => x > n.value,
                    RelOp::Ge => x >= n.value,
                }
            };
            let hit = if op == RelOp::Ne { values.iter().all(test) } else { values.iter().any(test) };
            pre && hit
        }
    }
}

fn matches(c: &Conj, p: &Packet) -> bool {
    c.iter().all(|(f, (v, m))| p.get(f).copied().unwrap_or(0) & m == *v)
}

fn flows_match(r: &Compiled, p: &Packet) -> bool {
    r.matches.iter().any(|m| matches(m, p))
        || r.conjunction.as_ref().is_some_and(|cj| cj.clauses.iter().all(|cl| cl.iter().any(|m| matches(m, p))))
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..8).prop_map(|v| format!("reg0[0..2] == {v}")),
        (0u32..8, prop_oneof![Just("<"), Just("<="), Just(">"), Just(">="), Just("!=")]).prop_map(|(v, o)| format!("reg1[0..2] {o} {v}")),
        (0u32..4).prop_map(|v| format!("reg0[4..5] != {v}")),
        prop_oneof![Just("ip4"), Just("ip6"), Just("arp"), Just("ip"), Just("tcp"), Just("udp")].prop_map(str::to_string),
        (0u32..4).prop_map(|v| format!("tcp.dst == {{{v}, {}}}", v + 1)),
        (0u32..4).prop_map(|v| format!("reg1[4..5] == {{{v}, {}}}", (v + 1) % 4)),
        prop_oneof![Just("ct.est"), Just("ct.new"), Just("ct.trk")].prop_map(str::to_string),
        (0u32..4).prop_map(|v| format!("udp.src == {v}")),
        // Three-member sets, so ANDs of them become conjunctive matches.
        (0u32..6).prop_map(|v| format!("reg0[0..2] == {{{v}, {}, {}}}", (v + 1) % 8, (v + 3) % 8)),
        (0u32..6).prop_map(|v| format!("reg1[0..2] == {{{v}, {}, {}}}", (v + 2) % 8, (v + 5) % 8)),
    ]
}

fn expression() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4).prop_map(|v| format!("({})", v.join(" && "))),
            proptest::collection::vec(inner.clone(), 2..4).prop_map(|v| format!("({})", v.join(" || "))),
            inner.prop_map(|e| format!("!({e})")),
        ]
    })
}

fn packet() -> impl Strategy<Value = Packet> {
    (
        prop_oneof![Just(0x800u128), Just(0x86dd), Just(0x806), Just(0x1234)],
        prop_oneof![Just(6u128), Just(17), Just(1)],
        0u128..64,
        0u128..64,
        0u128..6,
        0u128..6,
        0u128..256,
    )
        .prop_map(|(et, proto, r0, r1, tdst, usrc, ct)| {
            let ip = et == 0x800 || et == 0x86dd;
            let mut p = Packet::new();
            p.insert("eth_type", et);
            p.insert("reg0", r0);
            p.insert("reg1", r1);
            p.insert("ct_state", ct);
            if ip {
                p.insert("nw_proto", proto);
                if proto == 6 {
                    p.insert("tcp_dst", tdst);
                }
                if proto == 17 {
                    p.insert("udp_src", usrc);
                }
            }
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn truth_equals_some_flow_matching(text in expression(), packets in proptest::collection::vec(packet(), 8)) {
        let e = parse(&text).expect("generated expressions parse");
        let compiled = match compile(&e, &Ports) {
            Ok(c) => c,
            // Negating a nominal test (`!ip4`) is refused, as OVN refuses it.
            Err(err) => {
                prop_assert!(err.to_string().contains("nominal"), "{}: {}", text, err);
                return Err(TestCaseError::reject("negates a nominal test"));
            }
        };
        for p in &packets {
            prop_assert_eq!(eval(&e, p, false), flows_match(&compiled, p), "{} on {:?}: {:?}", text, p, compiled);
        }
    }

    /// The same property where conjunctive matches are certain to appear.
    #[test]
    fn conjunctions_count_properly(a in 0u32..6, b in 0u32..6, packets in proptest::collection::vec(packet(), 16)) {
        let text = format!("reg0[0..2] == {{{a}, {}, {}}} && reg1[0..2] == {{{b}, {}, {}}} && (tcp || udp)", (a + 1) % 8, (a + 3) % 8, (b + 2) % 8, (b + 5) % 8);
        let e = parse(&text).expect("parses");
        let compiled = compile(&e, &Ports).expect("compiles");
        prop_assert!(compiled.conjunction.is_some(), "{:?}", compiled);
        for p in &packets {
            prop_assert_eq!(eval(&e, p, false), flows_match(&compiled, p), "{} on {:?}", text, p);
        }
    }

    #[test]
    fn parser_never_panics(s in "[a-z0-9.=!&|(){}\\[\\]\" :/$@<>-]{0,40}") {
        let _ = parse(&s).map(|e| compile(&e, &Ports));
    }
}
