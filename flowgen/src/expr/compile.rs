//! From a parsed match expression to OpenFlow matches, in OVN's passes:
//!
//! ```text
//!   Expr ──annotate──▶ Node   symbols resolved against the symbol table: predicates expanded, subfields
//!                             turned into bit ranges of Open vSwitch fields, prerequisites AND-ed in,
//!                             negations pushed down to single comparisons, port names and
//!                             is_chassis_resident() resolved through a [`Lookup`]
//!        ──simplify──▶ Node   constants folded, nested ANDs/ORs flattened
//!        ──normalize─▶ DNF    an OR of ANDs of (field, value, mask) tests, tests on the same field merged
//!        ──matches───▶ Compiled: one OpenFlow match per conjunct, or, when an AND of several sets would
//!                             multiply out (`ip4.src == {a,b,c} && tcp.dst == {1,2,3}`), OpenFlow
//!                             `conjunction` clauses plus one flow on `conj_id`.
//! ```
//!
//! A comparison's prerequisites are never negated: `!(tcp.src == 80)` means "a TCP packet whose source port
//! is not 80", as in OVN. Inequalities of ordinal fields become one test per bit; `<`, `>` become one test per
//! prefix; nominal fields (`eth.type`, `ip.proto`, ports) may only be tested for equality.

use std::collections::BTreeMap;

use super::ast::{Expr, FieldRef, RelOp, Value};
use super::lexer::{Num, SyntaxError};
use super::parse::parse;
use super::symtab::{self, Kind};

/// What the compiler needs to know about the world outside the expression.
pub trait Lookup {
    /// The tunnel key of a logical port or multicast group of the datapath being compiled.
    fn port_key(&self, name: &str) -> Option<u32>;
    /// Whether a logical port is bound to the chassis being compiled for.
    fn is_chassis_resident(&self, port: &str) -> bool;
    /// The members of an address set (`$name`).
    fn address_set(&self, name: &str) -> Option<Vec<Num>>;
    /// The member port names of a port group (`@name`).
    fn port_group(&self, name: &str) -> Option<Vec<String>>;
}

/// A [`Lookup`] that knows nothing (every port unknown, nothing resident).
pub struct NoLookup;

impl Lookup for NoLookup {
    fn port_key(&self, _: &str) -> Option<u32> {
        None
    }
    fn is_chassis_resident(&self, _: &str) -> bool {
        false
    }
    fn address_set(&self, _: &str) -> Option<Vec<Num>> {
        None
    }
    fn port_group(&self, _: &str) -> Option<Vec<String>> {
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    #[error("{0}")]
    Semantic(String),
}

fn sem<T>(msg: impl Into<String>) -> Result<T, CompileError> {
    Err(CompileError::Semantic(msg.into()))
}

/// One test of an Open vSwitch field: `field & mask == value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term {
    pub field: &'static str,
    pub value: u128,
    pub mask: u128,
}

/// A conjunction of tests, at most one per field.
pub type Conj = BTreeMap<&'static str, (u128, u128)>;

/// Adds a test to a conjunction; false if it contradicts one already there.
fn add_term(c: &mut Conj, t: Term) -> bool {
    match c.get_mut(t.field) {
        None => {
            c.insert(t.field, (t.value & t.mask, t.mask));
            true
        }
        Some((v, m)) => {
            if (*v ^ t.value) & *m & t.mask != 0 {
                return false;
            }
            *v = (*v & *m) | (t.value & t.mask);
            *m |= t.mask;
            true
        }
    }
}

/// Merges two conjunctions; None if they contradict.
pub fn merge(a: &Conj, b: &Conj) -> Option<Conj> {
    let mut out = a.clone();
    for (f, (v, m)) in b {
        if !add_term(&mut out, Term { field: f, value: *v, mask: *m }) {
            return None;
        }
    }
    Some(out)
}

/// The lowered expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Const(bool),
    Term(Term),
    And(Vec<Node>),
    Or(Vec<Node>),
}

/// A symbol resolved to bits of an Open vSwitch field.
#[derive(Debug, Clone)]
struct Resolved {
    of: &'static str,
    lo: u16,
    width: u16,
    ordinal: bool,
    port: bool,
    prereqs: Vec<&'static str>,
}

fn ones(width: u16) -> u128 {
    if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    }
}

fn resolve(fr: &FieldRef) -> Result<Resolved, CompileError> {
    let Some(sym) = symtab::lookup(&fr.name) else { return sem(format!("{}: unknown field", fr.name)) };
    let mut r = match &sym.kind {
        Kind::Field { of, width, ordinal } => Resolved { of, lo: 0, width: *width, ordinal: *ordinal, port: false, prereqs: Vec::new() },
        Kind::Port { of } => Resolved { of, lo: 0, width: 32, ordinal: false, port: true, prereqs: Vec::new() },
        Kind::Subfield { parent, lo, hi } => {
            let p = resolve(&FieldRef { name: parent.to_string(), range: None })?;
            Resolved { of: p.of, lo: p.lo + lo, width: hi - lo + 1, ordinal: true, port: false, prereqs: p.prereqs }
        }
        Kind::Predicate { .. } => return sem(format!("{}: a predicate cannot be used as a field", fr.name)),
    };
    r.prereqs.extend(sym.prereq);
    if let Some((lo, hi)) = fr.range {
        if !r.ordinal {
            return sem(format!("{}: cannot take bits of a nominal field", fr.name));
        }
        if hi >= r.width {
            return sem(format!("{fr}: bit {hi} is beyond the field's {} bits", r.width));
        }
        r.lo += lo;
        r.width = hi - lo + 1;
    }
    Ok(r)
}

/// A field reference resolved to bits of an Open vSwitch field, for the action encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldBits {
    /// The Open vSwitch field's name (`eth_src`, `reg14`, `xxreg0`).
    pub of: &'static str,
    /// First bit.
    pub lo: u16,
    /// Number of bits.
    pub width: u16,
    /// A logical port (`inport`, `outport`): takes port names.
    pub port: bool,
    /// What using the field implies (`arp.op` implies `arp`).
    pub prereqs: Vec<&'static str>,
}

/// Resolves `name[lo..hi]` for the action encoder (predicates are refused).
pub fn field_bits(fr: &FieldRef) -> Result<FieldBits, CompileError> {
    let r = resolve(fr)?;
    Ok(FieldBits { of: r.of, lo: r.lo, width: r.width, port: r.port, prereqs: r.prereqs })
}

/// Tests of `of` (split across the 32-bit registers a logical register overlay covers).
fn terms(of: &'static str, value: u128, mask: u128) -> Node {
    match symtab::reg_overlay(of) {
        Some(regs) => {
            let n = regs.len();
            let parts: Vec<Node> = regs
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    let shift = 32 * (n - 1 - i) as u32;
                    let m = (mask >> shift) & 0xffff_ffff;
                    (m != 0).then(|| Node::Term(Term { field: r, value: (value >> shift) & m, mask: m }))
                })
                .collect();
            match parts.len() {
                0 => Node::Const(true),
                1 => parts.into_iter().next().unwrap_or(Node::Const(true)),
                _ => Node::And(parts),
            }
        }
        None => Node::Term(Term { field: of, value: value & mask, mask }),
    }
}

struct Lowerer<'a> {
    lookup: &'a dyn Lookup,
    depth: usize,
}

impl Lowerer<'_> {
    fn lower(&mut self, e: &Expr, negate: bool) -> Result<Node, CompileError> {
        Ok(match e {
            Expr::Bool(b) => Node::Const(*b != negate),
            Expr::Not(inner) => self.lower(inner, !negate)?,
            Expr::And(es) | Expr::Or(es) => {
                let kids = es.iter().map(|x| self.lower(x, negate)).collect::<Result<Vec<_>, _>>()?;
                if matches!(e, Expr::And(_)) != negate {
                    Node::And(kids)
                } else {
                    Node::Or(kids)
                }
            }
            Expr::Func { name, args } => match (name.as_str(), args.as_slice()) {
                ("is_chassis_resident", [port]) => Node::Const(self.lookup.is_chassis_resident(port) != negate),
                _ => return sem(format!("{name}: unknown function (or wrong arguments)")),
            },
            Expr::Bare(fr) => {
                if let Some(Kind::Predicate { expansion }) = symtab::lookup(&fr.name).map(|s| &s.kind) {
                    if fr.range.is_some() {
                        return sem(format!("{fr}: cannot take bits of a predicate"));
                    }
                    return self.predicate(expansion, negate);
                }
                let r = resolve(fr)?;
                if r.width != 1 {
                    return sem(format!("{fr}: a {}-bit field must be compared with a value", r.width));
                }
                self.cmp_one(fr, &r, if negate { RelOp::Ne } else { RelOp::Eq }, &Num::plain(1))?
            }
            Expr::Cmp { field, op, values, .. } => {
                if let Some(Kind::Predicate { expansion }) = symtab::lookup(&field.name).map(|s| &s.kind) {
                    // `ip4 == 1`, `ip4 != 0`, `ip4 == 0`.
                    let truth = match (op, values.as_slice()) {
                        (RelOp::Eq, [Value::Num(n)]) if n.mask.is_none() && n.value <= 1 => n.value == 1,
                        (RelOp::Ne, [Value::Num(n)]) if n.mask.is_none() && n.value <= 1 => n.value == 0,
                        _ => return sem(format!("{}: a predicate may only be compared with 0 or 1", field.name)),
                    };
                    return self.predicate(expansion, negate == truth);
                }
                let r = resolve(field)?;
                let op = if negate { op.invert() } else { *op };
                // A set: `x == {a, b}` is a || b; `x != {a, b}` is !a && !b.
                let mut items = Vec::new();
                for v in values {
                    for n in self.expand_value(field, &r, v)? {
                        items.push(match n {
                            Expanded::Num(n) => self.cmp_one(field, &r, op, &n)?,
                            Expanded::Const(b) => Node::Const(b == (op == RelOp::Eq)),
                        });
                    }
                }
                if op == RelOp::Ne {
                    Node::And(items)
                } else {
                    Node::Or(items)
                }
            }
        })
    }

    fn predicate(&mut self, expansion: &str, negate: bool) -> Result<Node, CompileError> {
        self.depth += 1;
        if self.depth > 16 {
            return sem("predicates nest too deeply (a cycle in the symbol table?)");
        }
        let e = parse(expansion)?;
        let n = self.lower(&e, negate);
        self.depth -= 1;
        n
    }

    /// The constants a value stands for (an address set or port group stands for several; a port name for
    /// its key, or for "no such port").
    fn expand_value(&self, fr: &FieldRef, r: &Resolved, v: &Value) -> Result<Vec<Expanded>, CompileError> {
        Ok(match v {
            Value::Num(n) => vec![Expanded::Num(*n)],
            Value::Str(s) if r.port => match self.lookup.port_key(s) {
                Some(k) => vec![Expanded::Num(Num::plain(u128::from(k)))],
                None => vec![Expanded::Const(false)],
            },
            Value::Str(s) => return sem(format!("{fr}: cannot compare an integer field with the string {s:?}")),
            Value::AddrSet(name) => match self.lookup.address_set(name) {
                Some(members) => members.into_iter().map(Expanded::Num).collect(),
                None => return sem(format!("${name}: unknown address set")),
            },
            Value::PortGroup(name) if r.port => match self.lookup.port_group(name) {
                Some(ports) => ports
                    .iter()
                    .map(|p| self.lookup.port_key(p).map_or(Expanded::Const(false), |k| Expanded::Num(Num::plain(u128::from(k)))))
                    .collect(),
                None => return sem(format!("@{name}: unknown port group")),
            },
            Value::PortGroup(name) => return sem(format!("{fr}: @{name} is a port group; only inport and outport take one")),
        })
    }

    /// One comparison of a resolved field with one constant (prerequisites included).
    fn cmp_one(&mut self, fr: &FieldRef, r: &Resolved, op: RelOp, n: &Num) -> Result<Node, CompileError> {
        let full = ones(r.width);
        if n.value & !full != 0 {
            return sem(format!("{fr}: {n} does not fit in {} bits", r.width));
        }
        let mask = n.mask.unwrap_or(full);
        if mask & !full != 0 {
            return sem(format!("{fr}: mask of {n} does not fit in {} bits", r.width));
        }
        if n.value & !mask != 0 {
            return sem(format!("{fr}: {n} has bits outside its mask"));
        }
        let shift = |x: u128| if r.lo >= 128 { 0 } else { x << r.lo };
        let node = match op {
            RelOp::Eq => terms(r.of, shift(n.value), shift(mask)),
            RelOp::Ne => {
                if !r.ordinal && r.width > 1 {
                    return sem(format!("{fr}: a nominal field may only be tested for equality"));
                }
                let bits: Vec<Node> =
                    (0..r.width).filter(|b| mask >> b & 1 == 1).map(|b| terms(r.of, shift(!n.value & (1 << b)), shift(1 << b))).collect();
                Node::Or(bits)
            }
            RelOp::Lt | RelOp::Le | RelOp::Gt | RelOp::Ge => {
                if !r.ordinal {
                    return sem(format!("{fr}: a nominal field may only be tested for equality"));
                }
                if n.mask.is_some() {
                    return sem(format!("{fr}: {} cannot take a masked value", op.as_str()));
                }
                let greater = matches!(op, RelOp::Gt | RelOp::Ge);
                let mut alts = Vec::new();
                for b in (0..r.width).rev() {
                    let bit = 1u128 << b;
                    // Bits above b equal the constant's, bit b decides.
                    let above = full & !(ones(b + 1));
                    if greater && n.value & bit == 0 {
                        alts.push(terms(r.of, shift((n.value & above) | bit), shift(above | bit)));
                    }
                    if !greater && n.value & bit != 0 {
                        alts.push(terms(r.of, shift(n.value & above), shift(above | bit)));
                    }
                }
                if matches!(op, RelOp::Le | RelOp::Ge) {
                    alts.push(terms(r.of, shift(n.value), shift(full)));
                }
                Node::Or(alts)
            }
        };
        if r.prereqs.is_empty() {
            return Ok(node);
        }
        let mut all = vec![node];
        for p in &r.prereqs {
            all.push(self.predicate(p, false)?);
        }
        Ok(Node::And(all))
    }
}

enum Expanded {
    Num(Num),
    Const(bool),
}

/// Folds constants and flattens nested ANDs and ORs.
pub fn simplify(n: Node) -> Node {
    match n {
        Node::And(kids) => {
            let mut out = Vec::new();
            for k in kids.into_iter().map(simplify) {
                match k {
                    Node::Const(true) => {}
                    Node::Const(false) => return Node::Const(false),
                    Node::And(inner) => out.extend(inner),
                    other => out.push(other),
                }
            }
            match out.len() {
                0 => Node::Const(true),
                1 => out.pop().unwrap_or(Node::Const(true)),
                _ => Node::And(out),
            }
        }
        Node::Or(kids) => {
            let mut out = Vec::new();
            for k in kids.into_iter().map(simplify) {
                match k {
                    Node::Const(false) => {}
                    Node::Const(true) => return Node::Const(true),
                    Node::Or(inner) => out.extend(inner),
                    other => out.push(other),
                }
            }
            match out.len() {
                0 => Node::Const(false),
                1 => out.pop().unwrap_or(Node::Const(false)),
                _ => Node::Or(out),
            }
        }
        other => other,
    }
}

/// Annotates and simplifies an expression.
pub fn annotate(e: &Expr, lookup: &dyn Lookup) -> Result<Node, CompileError> {
    let n = Lowerer { lookup, depth: 0 }.lower(e, false)?;
    Ok(simplify(n))
}

/// Most conjunctions one expression may expand to before it is refused as too complex.
const MAX_CONJUNCTS: usize = 50_000;

/// The disjunctive normal form: an OR of conjunctions (none: never true; one empty one: always true).
pub fn dnf(n: &Node) -> Result<Vec<Conj>, CompileError> {
    let out = match n {
        Node::Const(true) => vec![Conj::new()],
        Node::Const(false) => Vec::new(),
        Node::Term(t) => {
            let mut c = Conj::new();
            add_term(&mut c, *t);
            vec![c]
        }
        Node::Or(kids) => {
            let mut all = Vec::new();
            for k in kids {
                all.extend(dnf(k)?);
                if all.len() > MAX_CONJUNCTS {
                    return sem("expression is too complex (too many alternatives)");
                }
            }
            dedup(all)
        }
        Node::And(kids) => {
            let mut acc = vec![Conj::new()];
            for k in kids {
                let d = dnf(k)?;
                let mut next = Vec::new();
                for a in &acc {
                    for b in &d {
                        if let Some(m) = merge(a, b) {
                            next.push(m);
                        }
                    }
                }
                if next.len() > MAX_CONJUNCTS {
                    return sem("expression is too complex (too many alternatives)");
                }
                acc = dedup(next);
                if acc.is_empty() {
                    break;
                }
            }
            acc
        }
    };
    Ok(out)
}

/// Removes duplicate conjunctions and those implied by a broader one (a test that matches a superset).
fn dedup(mut v: Vec<Conj>) -> Vec<Conj> {
    v.sort();
    v.dedup();
    let subsumes = |broad: &Conj, narrow: &Conj| {
        broad.iter().all(|(f, (bv, bm))| narrow.get(f).is_some_and(|(nv, nm)| nm & bm == *bm && nv & bm == *bv))
    };
    let mut keep: Vec<Conj> = Vec::new();
    // Broader conjunctions have fewer tests; look at them first.
    v.sort_by_key(|c| c.len());
    for c in v {
        if !keep.iter().any(|k| subsumes(k, &c)) {
            keep.push(c);
        }
    }
    keep.sort();
    keep
}

/// A conjunctive match: a packet matches when, for every clause, at least one of its matches does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conjunction {
    /// Each clause's matches (each already includes the tests common to all clauses).
    pub clauses: Vec<Vec<Conj>>,
}

/// The OpenFlow form of an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    /// Plain matches: the expression holds when any of them matches.
    pub matches: Vec<Conj>,
    /// Or, for a cross-product of sets, a conjunctive match.
    pub conjunction: Option<Conjunction>,
}

impl Compiled {
    /// True when no packet can match.
    pub fn is_never(&self) -> bool {
        self.matches.is_empty() && self.conjunction.is_none()
    }
}

/// Compiles a parsed expression.
pub fn compile(e: &Expr, lookup: &dyn Lookup) -> Result<Compiled, CompileError> {
    let node = annotate(e, lookup)?;
    // Conjunctive matching pays when an AND holds several multi-valued alternatives whose product is
    // bigger than their sum: then each alternative gets one flow instead of one per combination.
    if let Node::And(kids) = &node {
        let never = Compiled { matches: Vec::new(), conjunction: None };
        let mut singles = Conj::new();
        let mut sets: Vec<Vec<Conj>> = Vec::new();
        for k in kids {
            sets.push(dnf(k)?);
        }
        // Tests every alternative of a set shares hold for the whole AND: move them out, then drop the
        // alternatives that contradict them, until nothing changes.
        loop {
            let mut changed = false;
            let mut rest = Vec::new();
            for set in sets {
                if set.is_empty() {
                    return Ok(never);
                }
                let common: Conj =
                    set[0].iter().filter(|(f, vm)| set[1..].iter().all(|c| c.get(*f) == Some(*vm))).map(|(f, vm)| (*f, *vm)).collect();
                match merge(&singles, &common) {
                    Some(m) => {
                        changed |= m != singles;
                        singles = m;
                    }
                    None => return Ok(never),
                }
                if set.len() > 1 {
                    rest.push(set);
                }
            }
            let mut filtered = Vec::new();
            for set in rest {
                let before = set.len();
                let kept: Vec<Conj> = set.into_iter().filter(|c| merge(&singles, c).is_some()).collect();
                changed |= kept.len() != before;
                filtered.push(kept);
            }
            sets = filtered;
            if !changed {
                break;
            }
        }
        // Alternatives over the same fields (`tcp.src >= 1024 && tcp.src <= 1031`, or the `ip4 || ip6`
        // of two prerequisites) are one dimension, not two: multiply them out before deciding.
        let mut by_fields: BTreeMap<Vec<&'static str>, Vec<Conj>> = BTreeMap::new();
        for set in sets {
            let mut key: Vec<&'static str> = set.iter().flat_map(|c| c.keys().copied()).collect();
            key.sort_unstable();
            key.dedup();
            let merged = match by_fields.remove(&key) {
                None => set,
                Some(prev) => {
                    let mut out = Vec::new();
                    for a in &prev {
                        for b in &set {
                            if let Some(m) = merge(a, b).and_then(|m| merge(&singles, &m)) {
                                out.push(m);
                            }
                        }
                    }
                    dedup(out)
                }
            };
            if merged.is_empty() {
                return Ok(never);
            }
            by_fields.insert(key, merged);
        }
        let mut sets: Vec<Vec<Conj>> = Vec::new();
        for set in by_fields.into_values() {
            if set.len() == 1 {
                match merge(&singles, &set[0]) {
                    Some(m) => singles = m,
                    None => return Ok(never),
                }
            } else {
                sets.push(set);
            }
        }
        let product: usize = sets.iter().map(Vec::len).fold(1usize, |a, b| a.saturating_mul(b));
        let sum: usize = sets.iter().map(Vec::len).sum();
        // Two-way alternatives (`ip4 || ip6`) are cheap to multiply out; conjunctions are for real sets.
        if sets.len() >= 2 && sets.iter().all(|s| s.len() >= 3) && product > sum + 1 {
            let mut clauses = Vec::new();
            for set in sets {
                let merged: Vec<Conj> = dedup(set.iter().filter_map(|c| merge(&singles, c)).collect());
                if merged.is_empty() {
                    return Ok(never);
                }
                clauses.push(merged);
            }
            return Ok(Compiled { matches: Vec::new(), conjunction: Some(Conjunction { clauses }) });
        }
    }
    Ok(Compiled { matches: dnf(&node)?, conjunction: None })
}

/// Parses and compiles a match expression.
pub fn compile_str(s: &str, lookup: &dyn Lookup) -> Result<Compiled, CompileError> {
    compile(&parse(s)?, lookup)
}
