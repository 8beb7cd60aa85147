//! Logical-flow actions (`ovn-sb(5)`, "actions"): parsing into a typed list and formatting back.
//!
//! The grammar is uniform, so the syntax tree is too: a statement is an assignment (`dst = value;`,
//! `dst = src;`, `dst = function(args);`), an exchange (`a <-> b;`), a decrement (`ip.ttl--;`), or a named
//! action that may take arguments and/or a nested action list (`next;`, `next(pipeline=egress, table=3);`,
//! `ct_snat(192.168.100.101);`, `arp { ... };`). Which names exist, and what they mean in OpenFlow, is the
//! encoder's business; the parser only checks the shape, so it also reads actions this project does not
//! encode yet and says so at encoding time, naming the action.

use std::fmt;

pub mod encode;

use crate::expr::ast::{FieldRef, Value};
use crate::expr::lexer::{SyntaxError, Tok};
use crate::expr::parse::Parser;

/// An argument of a named action: a value, a field, or `key=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Value(Value),
    Field(FieldRef),
    /// `name=value` (e.g. `pipeline=egress`, `table=3`, `backends=...`).
    Named(String, Box<Arg>),
    /// A bare word that is not a field (e.g. `ingress`).
    Word(String),
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Value(v) => write!(f, "{v}"),
            Arg::Field(fr) => write!(f, "{fr}"),
            Arg::Named(n, v) => write!(f, "{n}={v}"),
            Arg::Word(w) => f.write_str(w),
        }
    }
}

/// The right-hand side of an assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rhs {
    Value(Value),
    Field(FieldRef),
    /// `lookup_arp(inport, arp.spa, arp.sha)` and the like.
    Call {
        name: String,
        args: Vec<Arg>,
    },
}

impl fmt::Display for Rhs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rhs::Value(v) => write!(f, "{v}"),
            Rhs::Field(fr) => write!(f, "{fr}"),
            Rhs::Call { name, args } => write!(f, "{name}({})", join(args)),
        }
    }
}

fn join<T: fmt::Display>(v: &[T]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `dst = rhs;`
    Assign { dst: FieldRef, rhs: Rhs },
    /// `a <-> b;`
    Exchange { a: FieldRef, b: FieldRef },
    /// `field--;` (only `ip.ttl--` exists).
    Decrement(FieldRef),
    /// `name;`, `name(args);`, `name { actions };`, `name(args) { actions };`
    Named { name: String, args: Option<Vec<Arg>>, body: Option<Vec<Action>> },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Assign { dst, rhs } => write!(f, "{dst} = {rhs};"),
            Action::Exchange { a, b } => write!(f, "{a} <-> {b};"),
            Action::Decrement(fr) => write!(f, "{fr}--;"),
            Action::Named { name, args, body } => {
                f.write_str(name)?;
                if let Some(a) = args {
                    write!(f, "({})", join(a))?;
                }
                if let Some(b) = body {
                    write!(f, " {{ {} }}", Actions(b.clone()))?;
                }
                f.write_str(";")
            }
        }
    }
}

/// A whole action list, formatted as OVN writes it: statements separated by spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actions(pub Vec<Action>);

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|a| a.to_string()).collect();
        f.write_str(&parts.join(" "))
    }
}

/// Parses an action list.
pub fn parse(input: &str) -> Result<Actions, SyntaxError> {
    let mut p = Parser::new(input)?;
    let list = statements(&mut p, false)?;
    if !p.at_end() {
        return p.error("unexpected text after the actions");
    }
    Ok(Actions(list))
}

/// Statements until the end (or a `}` when nested).
fn statements(p: &mut Parser, nested: bool) -> Result<Vec<Action>, SyntaxError> {
    let mut out = Vec::new();
    loop {
        match p.peek() {
            None if nested => return p.error("expected `}` to close the nested actions"),
            None => return Ok(out),
            Some(Tok::RCurly) if nested => return Ok(out),
            Some(Tok::Semicolon) => {
                // An empty statement.
                p.advance();
                continue;
            }
            _ => {}
        }
        out.push(statement(p)?);
    }
}

fn statement(p: &mut Parser) -> Result<Action, SyntaxError> {
    let is_call = matches!(p.peek_at(1), Some(Tok::LParen) | Some(Tok::LCurly) | Some(Tok::Semicolon));
    if matches!(p.peek(), Some(Tok::Id(_))) && is_call {
        let name = p.expect_id()?;
        let args = if p.eat(&Tok::LParen) { Some(arguments(p)?) } else { None };
        let body = if p.eat(&Tok::LCurly) {
            let b = statements(p, true)?;
            p.expect(&Tok::RCurly)?;
            Some(b)
        } else {
            None
        };
        p.expect(&Tok::Semicolon)?;
        return Ok(Action::Named { name, args, body });
    }
    let dst = p.field()?;
    if !matches!(p.peek(), Some(Tok::Assign | Tok::Exchange | Tok::Decrement)) {
        return p.error(format!("expected `=`, `<->` or `--` after {dst}"));
    }
    let action = match p.advance() {
        Some(Tok::Assign) => {
            let rhs = match p.peek() {
                Some(Tok::Id(_)) if p.peek_at(1) == Some(&Tok::LParen) => {
                    let name = p.expect_id()?;
                    p.expect(&Tok::LParen)?;
                    Rhs::Call { name, args: arguments(p)? }
                }
                Some(Tok::Id(_)) => Rhs::Field(p.field()?),
                _ => Rhs::Value(p.value()?),
            };
            Action::Assign { dst, rhs }
        }
        Some(Tok::Exchange) => Action::Exchange { a: dst, b: p.field()? },
        Some(Tok::Decrement) => Action::Decrement(dst),
        _ => return p.error(format!("expected `=`, `<->` or `--` after {dst}")),
    };
    p.expect(&Tok::Semicolon)?;
    Ok(action)
}

/// Arguments up to the closing `)` (already past the `(`).
fn arguments(p: &mut Parser) -> Result<Vec<Arg>, SyntaxError> {
    let mut args = Vec::new();
    while !p.eat(&Tok::RParen) {
        args.push(argument(p)?);
        if !p.eat(&Tok::Comma) {
            p.expect(&Tok::RParen)?;
            break;
        }
    }
    Ok(args)
}

fn argument(p: &mut Parser) -> Result<Arg, SyntaxError> {
    match p.peek() {
        Some(Tok::Id(_)) if p.peek_at(1) == Some(&Tok::Assign) => {
            let name = p.expect_id()?;
            p.advance();
            Ok(Arg::Named(name, Box::new(argument(p)?)))
        }
        Some(Tok::Id(_)) => {
            let fr = p.field()?;
            if fr.range.is_none() && crate::expr::symtab::lookup(&fr.name).is_none() {
                Ok(Arg::Word(fr.name))
            } else {
                Ok(Arg::Field(fr))
            }
        }
        _ => Ok(Arg::Value(p.value()?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &str) -> String {
        let a = parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let text = a.to_string();
        assert_eq!(parse(&text).unwrap(), a, "reparse of {text}");
        text
    }

    #[test]
    fn reads_what_northd_writes() {
        for s in [
            "next;",
            "drop;",
            "output;",
            "next(pipeline=egress, table=3);",
            "xreg0[0..47] = 00:00:00:cd:db:ba; next;",
            "reg9[2] = lookup_arp(inport, arp.spa, arp.sha); next;",
            "put_arp(inport, arp.spa, arp.sha); next;",
            "eth.dst = eth.src; eth.src = xreg0[0..47]; arp.op = 2; arp.tha = arp.sha; arp.sha = xreg0[0..47]; arp.tpa <-> arp.spa; outport = inport; flags.loopback = 1; output;",
            "ip.ttl--; reg8[0..15] = 0; reg0 = ip4.dst; reg1 = 100.0.0.1; eth.src = 00:00:00:cd:db:ba; outport = \"ovn-cluster-ovn-default\"; flags.loopback = 1; next;",
            "arp { eth.dst = ff:ff:ff:ff:ff:ff; arp.spa = reg1; arp.tpa = reg0; arp.op = 1; output; };",
            "ct_snat(192.168.100.101);",
            "ct_dnat_in_czone(100.0.0.14);",
            "ct_commit { ct_mark.blocked = 0; ct_label.label = reg3; }; next;",
            "clone {outport = \"ovn-default-ovn-cluster\"; output; }; outport = \"_MC_flood_l2\"; output;",
            "reg0[15] = check_in_port_sec(); next;",
            "outport = get_fdb(eth.dst); next;",
            "handle_svc_check(inport);",
            "reg0 = 0; handle_dhcpv6_reply;",
            "ct_lb_mark;",
            "icmp4 {eth.dst <-> eth.src; icmp4.type = 11; /* Time exceeded */ icmp4.code = 0; ip4.dst <-> ip4.src ; ip.ttl = 254; outport = \"p\"; flags.loopback = 1; output; };",
        ] {
            round_trip(s);
        }
        assert_eq!(round_trip("next ;  output;"), "next; output;");
    }

    proptest::proptest! {
        /// Malformed actions give an error, never a panic.
        #[test]
        fn parser_never_panics(s in "[a-z0-9._=!&|(){}\\[\\]\" ;:/<>-]{0,48}") {
            let _ = parse(&s);
        }
    }

    #[test]
    fn bad_actions_say_where() {
        for bad in ["next", "ip.ttl = ;", "arp { output; ", "x y;", "reg0 = 1 output;", "next(;"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let e = parse("next; reg0 == 1;").unwrap_err();
        assert_eq!(e.pos, 11, "{e}");
    }
}
