//! The match-expression parser: tokens in, [`Expr`] out, with OVN's precedence rules (`&&` and `||` may
//! not be mixed without parentheses, `!` applies to a parenthesized expression or a bare symbol).

use super::ast::{Expr, FieldRef, RelOp, Value};
use super::lexer::{lex, Num, NumFormat, SyntaxError, Tok, Token};

/// A cursor over tokens, shared with the actions parser.
pub struct Parser {
    toks: Vec<Token>,
    i: usize,
    end: usize,
}

impl Parser {
    pub fn new(input: &str) -> Result<Parser, SyntaxError> {
        Ok(Parser { toks: lex(input)?, i: 0, end: input.len() })
    }

    pub fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    pub fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.i + n).map(|t| &t.tok)
    }

    /// Where the next token starts (or the end of input).
    pub fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |t| t.pos)
    }

    pub fn advance(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).map(|t| t.tok.clone());
        self.i += 1;
        t
    }

    pub fn at_end(&self) -> bool {
        self.i >= self.toks.len()
    }

    pub fn error<T>(&self, msg: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError { pos: self.pos(), msg: msg.into() })
    }

    /// Consumes `t` if it is next.
    pub fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, t: &Tok) -> Result<(), SyntaxError> {
        if self.eat(t) {
            Ok(())
        } else {
            let found = self.peek().map_or("end of input".to_string(), |f| format!("`{f}`"));
            self.error(format!("expected `{t}`, found {found}"))
        }
    }

    pub fn expect_id(&mut self) -> Result<String, SyntaxError> {
        match self.peek() {
            Some(Tok::Id(s)) => {
                let s = s.clone();
                self.i += 1;
                Ok(s)
            }
            _ => self.error("expected a name"),
        }
    }

    pub fn expect_str(&mut self) -> Result<String, SyntaxError> {
        match self.peek() {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.i += 1;
                Ok(s)
            }
            _ => self.error("expected a quoted string"),
        }
    }

    pub fn expect_int(&mut self) -> Result<u128, SyntaxError> {
        match self.peek() {
            Some(Tok::Num(n)) if n.mask.is_none() => {
                let v = n.value;
                self.i += 1;
                Ok(v)
            }
            _ => self.error("expected an integer"),
        }
    }

    /// `name` or `name[lo]` or `name[lo..hi]`.
    pub fn field(&mut self) -> Result<FieldRef, SyntaxError> {
        let name = self.expect_id()?;
        let mut range = None;
        if self.eat(&Tok::LSquare) {
            let lo = self.expect_int()?;
            let hi = if self.eat(&Tok::Ellipsis) { self.expect_int()? } else { lo };
            self.expect(&Tok::RSquare)?;
            if lo > hi || hi > 127 {
                return self.error(format!("bad bit range [{lo}..{hi}]"));
            }
            range = Some((lo as u16, hi as u16));
        }
        Ok(FieldRef { name, range })
    }

    /// One constant, or a `{...}` set of them (returns whether it was a set).
    pub fn values(&mut self) -> Result<(Vec<Value>, bool), SyntaxError> {
        if self.eat(&Tok::LCurly) {
            let mut v = Vec::new();
            while !self.eat(&Tok::RCurly) {
                if self.at_end() {
                    return self.error("unterminated `{` set");
                }
                v.push(self.value()?);
                self.eat(&Tok::Comma);
            }
            if v.is_empty() {
                return self.error("empty set");
            }
            return Ok((v, true));
        }
        Ok((vec![self.value()?], false))
    }

    pub fn value(&mut self) -> Result<Value, SyntaxError> {
        let v = match self.peek() {
            Some(Tok::Num(n)) => Value::Num(*n),
            Some(Tok::Str(s)) => Value::Str(s.clone()),
            Some(Tok::AddrSet(s)) => Value::AddrSet(s.clone()),
            Some(Tok::PortGroup(s)) => Value::PortGroup(s.clone()),
            _ => return self.error("expected a constant"),
        };
        self.i += 1;
        Ok(v)
    }
}

fn relop(t: Option<&Tok>) -> Option<RelOp> {
    Some(match t? {
        Tok::Eq => RelOp::Eq,
        Tok::Ne => RelOp::Ne,
        Tok::Lt => RelOp::Lt,
        Tok::Le => RelOp::Le,
        Tok::Gt => RelOp::Gt,
        Tok::Ge => RelOp::Ge,
        _ => return None,
    })
}

/// Parses a whole match expression.
pub fn parse(input: &str) -> Result<Expr, SyntaxError> {
    let mut p = Parser::new(input)?;
    let e = expr(&mut p)?;
    if !p.at_end() {
        return p.error(format!("unexpected `{}` after the expression", p.peek().map(|t| t.to_string()).unwrap_or_default()));
    }
    Ok(e)
}

/// An expression, as long as it goes (used by actions too, for `clone` guards and the like).
pub fn expr(p: &mut Parser) -> Result<Expr, SyntaxError> {
    let first = unary(p)?;
    let op = match p.peek() {
        Some(Tok::And) => Tok::And,
        Some(Tok::Or) => Tok::Or,
        _ => return Ok(first),
    };
    let mut items = vec![first];
    while p.eat(&op) {
        items.push(unary(p)?);
        let other = if op == Tok::And { Tok::Or } else { Tok::And };
        if p.peek() == Some(&other) {
            return p.error("`&&` and `||` must be separated by parentheses");
        }
    }
    Ok(if op == Tok::And { Expr::And(items) } else { Expr::Or(items) })
}

fn unary(p: &mut Parser) -> Result<Expr, SyntaxError> {
    if p.eat(&Tok::Not) {
        let inner = unary(p)?;
        if matches!(inner, Expr::Cmp { .. }) && !p.toks.get(p.i - 1).is_some_and(|t| t.tok == Tok::RParen) {
            return p.error("`!` must be followed by a parenthesized expression or a single symbol");
        }
        return Ok(Expr::Not(Box::new(inner)));
    }
    primary(p)
}

fn primary(p: &mut Parser) -> Result<Expr, SyntaxError> {
    if p.eat(&Tok::LParen) {
        let e = expr(p)?;
        p.expect(&Tok::RParen)?;
        return Ok(e);
    }
    match p.peek() {
        Some(Tok::Num(n)) if relop(p.peek_at(1)).is_none() => {
            let v = *n;
            if v.mask.is_none() && v.value <= 1 {
                p.advance();
                return Ok(Expr::Bool(v.value == 1));
            }
            p.error("a number must be compared with a field")
        }
        Some(Tok::Num(_)) | Some(Tok::Str(_)) => {
            // `80 == tcp.src`, or a range `1024 <= tcp.src <= 49151`.
            let v = p.value()?;
            let Some(op) = relop(p.peek()) else { return p.error("expected a comparison") };
            p.advance();
            let field = p.field()?;
            let first = Expr::Cmp { field: field.clone(), op: op.reverse(), values: vec![v], set: false };
            if let Some(op2) = relop(p.peek()) {
                p.advance();
                let (values, set) = p.values()?;
                return Ok(Expr::And(vec![first, Expr::Cmp { field, op: op2, values, set }]));
            }
            Ok(first)
        }
        Some(Tok::Id(_)) => {
            if p.peek_at(1) == Some(&Tok::LParen) {
                let name = p.expect_id()?;
                p.expect(&Tok::LParen)?;
                let mut args = Vec::new();
                while !p.eat(&Tok::RParen) {
                    args.push(p.expect_str()?);
                    if !p.eat(&Tok::Comma) {
                        p.expect(&Tok::RParen)?;
                        break;
                    }
                }
                return Ok(Expr::Func { name, args });
            }
            let field = p.field()?;
            match relop(p.peek()) {
                Some(op) => {
                    p.advance();
                    let (values, set) = p.values()?;
                    Ok(Expr::Cmp { field, op, values, set })
                }
                None => Ok(Expr::Bare(field)),
            }
        }
        Some(t) => p.error(format!("unexpected `{t}`")),
        None => p.error("unexpected end of expression"),
    }
}

/// Makes a decimal constant (for callers building expressions).
pub fn num(v: u128) -> Value {
    Value::Num(Num { value: v, mask: None, format: NumFormat::Decimal })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &str) -> String {
        let e = parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let text = e.to_string();
        assert_eq!(parse(&text).unwrap(), e, "reparse of {text}");
        text
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(round_trip("ip4.dst==10.0.0.0/8&&tcp.dst=={80,443}"), "ip4.dst == 10.0.0.0/8 && tcp.dst == {80, 443}");
        assert_eq!(round_trip("!(arp.op == 1) || eth.mcast"), "!(arp.op == 1) || eth.mcast");
        assert_eq!(round_trip("1"), "1");
        assert_eq!(round_trip("reg0[15] == 1 && inport == \"p1\""), "reg0[15] == 1 && inport == \"p1\"");
        assert_eq!(round_trip("1024 <= tcp.src <= 49151"), "tcp.src >= 1024 && tcp.src <= 49151");
        assert_eq!(round_trip("is_chassis_resident(\"cr-x\") && (ip4 || ip6)"), "is_chassis_resident(\"cr-x\") && (ip4 || ip6)");
        assert_eq!(round_trip("eth.dst == $svc_monitor_mac"), "eth.dst == $svc_monitor_mac");
    }

    #[test]
    fn refuses_what_ovn_refuses() {
        for bad in ["a && b || c", "!arp.op == 1", "ip4.dst ==", "(ip4", "tcp.src == {}", "5", "reg0[3..1] == 1", "x == 1 )"] {
            let e = parse(bad);
            assert!(e.is_err(), "{bad} parsed as {e:?}");
        }
        let e = parse("ip4.dst == 10.0.0.1 &&").unwrap_err();
        assert_eq!(e.pos, 22);
    }
}
