//! The lexer of OVN's logical-flow language (`ovn-sb(5)`, "Logical_Flow" match and actions).
//!
//! Numbers come in every form the language allows, all kept as 128-bit values so that IPv6 addresses and
//! `xxreg` constants fit: decimal, `0x` hex, dotted-quad IPv4, IPv6, and colon-separated Ethernet
//! addresses, each optionally followed by `/mask` (a mask in the same form, or for IP addresses a prefix
//! length). Every token carries its byte offset, so errors can say where they are.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// How a number was written (so it can be printed back the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumFormat {
    Decimal,
    Hex,
    Ipv4,
    Ipv6,
    Mac,
}

/// A constant: a value, an optional mask, and how it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Num {
    pub value: u128,
    pub mask: Option<u128>,
    pub format: NumFormat,
}

impl Num {
    pub fn plain(value: u128) -> Num {
        Num { value, mask: None, format: NumFormat::Decimal }
    }
}

fn fmt_value(v: u128, f: NumFormat, out: &mut fmt::Formatter<'_>) -> fmt::Result {
    match f {
        NumFormat::Decimal => write!(out, "{v}"),
        NumFormat::Hex => write!(out, "{v:#x}"),
        NumFormat::Ipv4 => write!(out, "{}", Ipv4Addr::from(v as u32)),
        NumFormat::Ipv6 => write!(out, "{}", Ipv6Addr::from(v)),
        NumFormat::Mac => {
            let b = (v as u64).to_be_bytes();
            write!(out, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[2], b[3], b[4], b[5], b[6], b[7])
        }
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_value(self.value, self.format, f)?;
        if let Some(m) = self.mask {
            f.write_str("/")?;
            let bits: u32 = match self.format {
                NumFormat::Ipv4 => 32,
                NumFormat::Ipv6 => 128,
                _ => 0,
            };
            // An IP mask that is a prefix prints as its length, as people write it.
            let prefix = if bits > 0 {
                let full = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
                let ones = m.count_ones();
                let want = if ones == 0 { 0 } else { (full >> (bits - ones)) << (bits - ones) & full };
                (m == want).then_some(ones)
            } else {
                None
            };
            match prefix {
                Some(p) => write!(f, "{p}")?,
                None => fmt_value(m, if self.format == NumFormat::Decimal { NumFormat::Hex } else { self.format }, f)?,
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An identifier: letters, digits, `_`, `.` (e.g. `eth.src`, `reg0`, `ct_next`).
    Id(String),
    /// A JSON-style quoted string.
    Str(String),
    Num(Num),
    /// `$name`: an address set.
    AddrSet(String),
    /// `@name`: a port group.
    PortGroup(String),
    LParen,
    RParen,
    LCurly,
    RCurly,
    LSquare,
    RSquare,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Not,
    And,
    Or,
    Ellipsis,
    Comma,
    Semicolon,
    Assign,
    Exchange,
    Decrement,
    Arrow,
    Minus,
    Plus,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Id(s) => write!(f, "{s}"),
            Tok::Str(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
            Tok::Num(n) => write!(f, "{n}"),
            Tok::AddrSet(s) => write!(f, "${s}"),
            Tok::PortGroup(s) => write!(f, "@{s}"),
            other => f.write_str(match other {
                Tok::LParen => "(",
                Tok::RParen => ")",
                Tok::LCurly => "{",
                Tok::RCurly => "}",
                Tok::LSquare => "[",
                Tok::RSquare => "]",
                Tok::Eq => "==",
                Tok::Ne => "!=",
                Tok::Lt => "<",
                Tok::Le => "<=",
                Tok::Gt => ">",
                Tok::Ge => ">=",
                Tok::Not => "!",
                Tok::And => "&&",
                Tok::Or => "||",
                Tok::Ellipsis => "..",
                Tok::Comma => ",",
                Tok::Semicolon => ";",
                Tok::Assign => "=",
                Tok::Exchange => "<->",
                Tok::Decrement => "--",
                Tok::Arrow => "->",
                Tok::Minus => "-",
                Tok::Plus => "+",
                _ => "?",
            }),
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// A syntax error and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error at column {}: {msg}", pos + 1)]
pub struct SyntaxError {
    pub pos: usize,
    pub msg: String,
}

fn err<T>(pos: usize, msg: impl Into<String>) -> Result<T, SyntaxError> {
    Err(SyntaxError { pos, msg: msg.into() })
}

fn is_id_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Splits a whole input into tokens.
pub fn lex(input: &str) -> Result<Vec<Token>, SyntaxError> {
    let b = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if input[i..].starts_with("//") {
            i = input[i..].find('\n').map_or(b.len(), |n| i + n);
            continue;
        }
        if input[i..].starts_with("/*") {
            match input[i + 2..].find("*/") {
                Some(n) => i = i + 2 + n + 2,
                None => return err(i, "unterminated comment"),
            }
            continue;
        }
        let start = i;
        let two = input.get(i..i + 2).unwrap_or("");
        let three = input.get(i..i + 3).unwrap_or("");
        let (tok, len) = if three == "<->" {
            (Tok::Exchange, 3)
        } else {
            match two {
                "==" => (Tok::Eq, 2),
                "!=" => (Tok::Ne, 2),
                "<=" => (Tok::Le, 2),
                ">=" => (Tok::Ge, 2),
                "&&" => (Tok::And, 2),
                "||" => (Tok::Or, 2),
                ".." => (Tok::Ellipsis, 2),
                "--" => (Tok::Decrement, 2),
                "->" => (Tok::Arrow, 2),
                _ => match c {
                    '(' => (Tok::LParen, 1),
                    ')' => (Tok::RParen, 1),
                    '{' => (Tok::LCurly, 1),
                    '}' => (Tok::RCurly, 1),
                    '[' => (Tok::LSquare, 1),
                    ']' => (Tok::RSquare, 1),
                    '<' => (Tok::Lt, 1),
                    '>' => (Tok::Gt, 1),
                    '!' => (Tok::Not, 1),
                    ',' => (Tok::Comma, 1),
                    ';' => (Tok::Semicolon, 1),
                    '=' => (Tok::Assign, 1),
                    '-' => (Tok::Minus, 1),
                    '+' => (Tok::Plus, 1),
                    '"' => {
                        let (s, len) = lex_string(input, i)?;
                        (Tok::Str(s), len)
                    }
                    '$' | '@' => {
                        let n = input[i + 1..]
                            .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '.' || ch == '-'))
                            .map_or(b.len() - i - 1, |n| n);
                        if n == 0 {
                            return err(i, format!("`{c}` must be followed by a name"));
                        }
                        let name = input[i + 1..i + 1 + n].to_string();
                        (if c == '$' { Tok::AddrSet(name) } else { Tok::PortGroup(name) }, n + 1)
                    }
                    _ if c.is_ascii_digit() || (c.is_ascii_hexdigit() && looks_like_address(&input[i..])) => {
                        let (num, len) = lex_number(input, i)?;
                        (Tok::Num(num), len)
                    }
                    _ if is_id_start(c) => {
                        let n = input[i..].find(|ch: char| !is_id_char(ch)).unwrap_or(b.len() - i);
                        // `reg0[0..15]`: the `..` belongs to the slice, not the identifier.
                        let mut word = &input[i..i + n];
                        if let Some(dots) = word.find("..") {
                            word = &word[..dots];
                        }
                        let word = word.trim_end_matches('.');
                        (Tok::Id(word.to_string()), word.len())
                    }
                    ':' if input[i..].starts_with("::") => {
                        let (num, len) = lex_number(input, i)?;
                        (Tok::Num(num), len)
                    }
                    _ => return err(i, format!("unexpected character {c:?}")),
                },
            }
        };
        out.push(Token { tok, pos: start });
        i += len;
    }
    Ok(out)
}

/// True when a token starting with a hex letter is an address (`fe80::1`, `aa:bb:cc:dd:ee:ff`), not a name.
fn looks_like_address(s: &str) -> bool {
    let word: &str = s.split(|c: char| !(c.is_ascii_hexdigit() || c == ':' || c == '.')).next().unwrap_or("");
    word.contains(':') && word.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
}

fn lex_string(input: &str, start: usize) -> Result<(String, usize), SyntaxError> {
    let b = input.as_bytes();
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => {
                let text = &input[start..=i];
                let s: String = serde_json::from_str(text).map_err(|e| SyntaxError { pos: start, msg: format!("bad string: {e}") })?;
                return Ok((s, i + 1 - start));
            }
            _ => i += 1,
        }
    }
    err(start, "unterminated string")
}

/// Reads one number (any form) and an optional `/mask`.
fn lex_number(input: &str, start: usize) -> Result<(Num, usize), SyntaxError> {
    let (value, format, len) = lex_plain_number(input, start)?;
    let mut total = len;
    let mut mask = None;
    if input[start + len..].starts_with('/') {
        let mstart = start + len + 1;
        let (m, mformat, mlen) = lex_plain_number(input, mstart)?;
        total += 1 + mlen;
        mask = Some(match (format, mformat) {
            (NumFormat::Ipv4, NumFormat::Decimal) if m <= 32 => prefix_mask(m as u32, 32),
            (NumFormat::Ipv6, NumFormat::Decimal) if m <= 128 => prefix_mask(m as u32, 128),
            (NumFormat::Ipv4 | NumFormat::Ipv6, NumFormat::Decimal) => return err(mstart, format!("prefix length {m} is too long")),
            _ => m,
        });
    }
    Ok((Num { value, mask, format }, total))
}

/// A mask of `len` leading ones in a field of `bits` bits.
pub fn prefix_mask(len: u32, bits: u32) -> u128 {
    if len == 0 {
        return 0;
    }
    let full = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
    (full >> (bits - len)) << (bits - len) & full
}

fn lex_plain_number(input: &str, start: usize) -> Result<(u128, NumFormat, usize), SyntaxError> {
    let rest = &input[start..];
    let word_len = rest.find(|c: char| !(c.is_ascii_hexdigit() || c == ':' || c == '.' || c == 'x' || c == 'X')).unwrap_or(rest.len());
    let mut word = &rest[..word_len];
    // "1..5": a range, not a number "1.".
    if let Some(d) = word.find("..") {
        word = &word[..d];
    }
    if word.is_empty() {
        return err(start, "expected a number");
    }
    if word.contains(':') {
        if let Ok(v6) = word.parse::<Ipv6Addr>() {
            return Ok((u128::from(v6), NumFormat::Ipv6, word.len()));
        }
        let parts: Vec<&str> = word.split(':').collect();
        if parts.len() == 6 && parts.iter().all(|p| (1..=2).contains(&p.len())) {
            let mut v: u128 = 0;
            for p in parts {
                v = (v << 8)
                    | u128::from(
                        u8::from_str_radix(p, 16).map_err(|_| SyntaxError { pos: start, msg: format!("bad Ethernet address {word}") })?,
                    );
            }
            return Ok((v, NumFormat::Mac, word.len()));
        }
        return err(start, format!("{word:?} is not an IPv6 or Ethernet address"));
    }
    if word.contains('.') {
        return match word.parse::<Ipv4Addr>() {
            Ok(v4) => Ok((u128::from(u32::from(v4)), NumFormat::Ipv4, word.len())),
            Err(_) => err(start, format!("{word:?} is not an IPv4 address")),
        };
    }
    if let Some(hex) = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        return match u128::from_str_radix(hex, 16) {
            Ok(v) if !hex.is_empty() => Ok((v, NumFormat::Hex, word.len())),
            _ => err(start, format!("{word:?} is not a hexadecimal number")),
        };
    }
    let digits = word.find(|c: char| !c.is_ascii_digit()).unwrap_or(word.len());
    if digits == 0 {
        return err(start, format!("{word:?} is not a number"));
    }
    match word[..digits].parse::<u128>() {
        Ok(v) => Ok((v, NumFormat::Decimal, digits)),
        Err(_) => err(start, format!("{} is too large", &word[..digits])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers_in_every_form() {
        assert_eq!(toks("10")[0], Tok::Num(Num { value: 10, mask: None, format: NumFormat::Decimal }));
        assert_eq!(toks("0x800")[0], Tok::Num(Num { value: 0x800, mask: None, format: NumFormat::Hex }));
        let Tok::Num(n) = &toks("192.168.0.0/16")[0] else { panic!() };
        assert_eq!((n.value, n.mask), (0xc0a8_0000, Some(0xffff_0000)));
        assert_eq!(n.to_string(), "192.168.0.0/16");
        let Tok::Num(n) = &toks("fe80::1")[0] else { panic!() };
        assert_eq!(n.format, NumFormat::Ipv6);
        let Tok::Num(n) = &toks("ff:ff:ff:ff:ff:ff")[0] else { panic!() };
        assert_eq!((n.value, n.format), (0xffff_ffff_ffff, NumFormat::Mac));
        let Tok::Num(n) = &toks("00:00:00:00:00:00/01:00:00:00:00:00")[0] else { panic!() };
        assert_eq!(n.mask, Some(0x0100_0000_0000));
        let Tok::Num(n) = &toks("::")[0] else { panic!() };
        assert_eq!(n.value, 0);
    }

    #[test]
    fn fields_slices_and_operators() {
        assert_eq!(
            toks("reg0[0..15] == 1 && eth.src != {a, b}"),
            vec![
                Tok::Id("reg0".into()),
                Tok::LSquare,
                Tok::Num(Num::plain(0)),
                Tok::Ellipsis,
                Tok::Num(Num::plain(15)),
                Tok::RSquare,
                Tok::Eq,
                Tok::Num(Num::plain(1)),
                Tok::And,
                Tok::Id("eth.src".into()),
                Tok::Ne,
                Tok::LCurly,
                Tok::Id("a".into()),
                Tok::Comma,
                Tok::Id("b".into()),
                Tok::RCurly
            ]
        );
        assert_eq!(toks("arp.tpa <-> arp.spa; ip.ttl--;")[1], Tok::Exchange);
        assert_eq!(toks("\"a\\\"b\"")[0], Tok::Str("a\"b".into()));
        assert_eq!(toks("$set1 @pg")[..], [Tok::AddrSet("set1".into()), Tok::PortGroup("pg".into())]);
        assert_eq!(toks("a /* c */ b // d"), vec![Tok::Id("a".into()), Tok::Id("b".into())]);
    }

    #[test]
    fn errors_name_the_position() {
        let e = lex("ip4.dst == 1.2.3.4.5").unwrap_err();
        assert_eq!(e.pos, 11);
        assert!(lex("\"open").is_err());
        assert!(lex("a # b").unwrap_err().to_string().contains("column 3"));
        assert!(lex("10.0.0.0/33").is_err());
    }
}
