//! Parsing `ovs-ofctl` flow text: `add-flows` input (`table=8,priority=50,reg14=0x2 actions=resubmit(,9)`)
//! and `dump-flows` output (`cookie=0x5, table=8, priority=50,reg14=0x2 actions=...`, statistics ignored).
//!
//! Several names depend on the protocol being matched, which may be written after them: `tp_src` is
//! `tcp_src`, `udp_src` or `sctp_src`; `icmp_type` is `icmpv6_type` under `icmp6`; `nw_src` / `nw_dst` /
//! `nw_proto` are `arp_spa` / `arp_tpa` / `arp_op` under `arp`. So the match is first read into a list of
//! (name, value) pairs and resolved once the whole match is known, the way `ovs-ofctl` does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::action::{Action, Controller, Ct, CtZone, Nat, NatKind, Port, Reason, Subfield};
use super::field::{ones, Field, Format};
use super::matching::{Match, Proto, ETH_ARP, ETH_IPV6, ETH_RARP, VLAN_CFI};
use super::text::{ALG_NAMES, CT_STATE_FLAGS, DEFAULT_PRIORITY, FRAG_NAMES, TCP_FLAGS, TUN_FLAGS};
use super::{Error, Flow};

fn err(text: &str, msg: impl Into<String>) -> Error {
    Error::Parse { text: text.to_string(), msg: msg.into() }
}

/// Splits at `sep` characters that are not inside `()` or `[]`.
fn split_top(s: &str, is_sep: impl Fn(char) -> bool) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            c if depth == 0 && is_sep(c) => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().map(str::trim).filter(|t| !t.is_empty()).collect()
}

/// An unsigned integer: decimal or `0x` hexadecimal.
pub(crate) fn parse_uint(s: &str) -> Result<u128, Error> {
    let s = s.trim();
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u128::from_str_radix(h, 16),
        None => s.parse::<u128>(),
    };
    r.map_err(|_| err(s, "not a number"))
}

fn parse_num<T: TryFrom<u128>>(s: &str) -> Result<T, Error> {
    T::try_from(parse_uint(s)?).map_err(|_| err(s, "number out of range"))
}

fn parse_mac(s: &str) -> Result<u128, Error> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(err(s, "not an Ethernet address"));
    }
    let mut v = 0u128;
    for p in parts {
        let b = u8::from_str_radix(p, 16).map_err(|_| err(s, "not an Ethernet address"))?;
        v = (v << 8) | u128::from(b);
    }
    Ok(v)
}

fn parse_ip(s: &str, bits: u16) -> Result<u128, Error> {
    if bits == 32 {
        Ipv4Addr::from_str(s).map(|a| u128::from(u32::from(a))).map_err(|_| err(s, "not an IPv4 address"))
    } else {
        Ipv6Addr::from_str(s).map(u128::from).map_err(|_| err(s, "not an IPv6 address"))
    }
}

/// `addr`, `addr/len` or `addr/mask`.
fn parse_ip_masked(s: &str, bits: u16) -> Result<(u128, u128), Error> {
    let full = ones(bits);
    match s.split_once('/') {
        None => Ok((parse_ip(s, bits)?, full)),
        Some((a, m)) => {
            let v = parse_ip(a, bits)?;
            let mask = match m.parse::<u16>() {
                Ok(n) if n <= bits => full & !ones(bits - n),
                Ok(_) => return Err(err(s, "prefix too long")),
                Err(_) => parse_ip(m, bits)?,
            };
            Ok((v, mask))
        }
    }
}

/// Dotted (or plain) hex bytes: `00.00.00.01`, `0a0b`.
pub(crate) fn parse_hex_bytes(s: &str) -> Result<Vec<u8>, Error> {
    let digits: String = s.chars().filter(|c| *c != '.').collect();
    if !digits.len().is_multiple_of(2) || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(err(s, "not hex bytes"));
    }
    (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| err(s, "not hex bytes"))).collect()
}

fn parse_port(s: &str) -> Result<Port, Error> {
    if let Some(p) = Port::from_name(s) {
        return Ok(p);
    }
    parse_num::<u16>(s).map(Port)
}

fn parse_flags(field: Field, s: &str) -> Result<(u128, u128), Error> {
    let table: &[(&str, u32)] = match field {
        Field::CtState => CT_STATE_FLAGS,
        Field::TcpFlags => TCP_FLAGS,
        _ => TUN_FLAGS,
    };
    let full = field.full_mask();
    let lookup = |name: &str| table.iter().find(|(n, _)| *n == name).map(|(_, b)| u128::from(*b)).ok_or_else(|| err(s, "unknown flag"));
    if s.starts_with('+') || s.starts_with('-') {
        let (mut v, mut m) = (0u128, 0u128);
        let mut rest = s;
        while !rest.is_empty() {
            let sign = rest.as_bytes()[0];
            let body = &rest[1..];
            let end = body.find(['+', '-']).unwrap_or(body.len());
            let bit = lookup(&body[..end])?;
            m |= bit;
            if sign == b'+' {
                v |= bit;
            } else {
                v &= !bit;
            }
            rest = &body[end..];
        }
        return Ok((v, m));
    }
    if s.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return match s.split_once('/') {
            Some((v, m)) => Ok((parse_uint(v)?, parse_uint(m)?)),
            None => Ok((parse_uint(s)?, full)),
        };
    }
    let mut v = 0u128;
    for name in s.split('|') {
        v |= lookup(name)?;
    }
    Ok((v, full))
}

/// Parses a field value (with optional `/mask`) in the field's syntax. Returns (value, mask).
pub fn parse_field_value(field: Field, s: &str) -> Result<(u128, u128), Error> {
    let full = field.full_mask();
    let int_masked = |s: &str| -> Result<(u128, u128), Error> {
        match s.split_once('/') {
            Some((v, m)) => Ok((parse_uint(v)?, parse_uint(m)?)),
            None => Ok((parse_uint(s)?, full)),
        }
    };
    match field.def().format {
        Format::Hex | Format::Decimal | Format::FlowLabel | Format::VlanTci => int_masked(s),
        Format::Ethernet => match s.split_once('/') {
            Some((v, m)) => Ok((parse_mac(v)?, parse_mac(m)?)),
            None => Ok((parse_mac(s)?, full)),
        },
        Format::Ipv4 => parse_ip_masked(s, 32),
        Format::Ipv6 => parse_ip_masked(s, 128),
        Format::Port => Ok((u128::from(parse_port(s)?.0), full)),
        Format::CtState | Format::TcpFlags | Format::TunFlags => parse_flags(field, s),
        Format::Frag => match FRAG_NAMES.iter().find(|(n, _, _)| *n == s) {
            Some((_, v, m)) => Ok((u128::from(*v), u128::from(*m))),
            None => int_masked(s),
        },
    }
}

/// `NXM_NX_REG13[0..15]`, `reg0[5]`, `NXM_NX_REG15[]`, or a bare field name (the whole field).
pub fn parse_subfield(s: &str) -> Result<Subfield, Error> {
    let s = s.trim();
    let (name, range) = match s.split_once('[') {
        Some((n, r)) => (n, Some(r.strip_suffix(']').ok_or_else(|| err(s, "missing ]"))?)),
        None => (s, None),
    };
    let field = Field::from_name(name).ok_or_else(|| Error::UnknownField(name.to_string()))?;
    let sf = match range {
        None | Some("") => Subfield::whole(field),
        Some(r) => match r.split_once("..") {
            Some((a, b)) => Subfield::range(field, parse_num(a)?, parse_num(b)?)?,
            None => {
                let bit: u16 = parse_num(r)?;
                Subfield::range(field, bit, bit)?
            }
        },
    };
    sf.check()?;
    Ok(sf)
}

/// Match entries as written, before protocol-dependent names are resolved.
struct Pending<'a> {
    name: &'a str,
    value: &'a str,
}

impl FromStr for Flow {
    type Err = Error;

    fn from_str(s: &str) -> Result<Flow, Error> {
        let s = s.trim();
        let pos = find_actions(s).ok_or_else(|| err(s, "no actions="))?;
        let (head, acts) = (&s[..pos], &s[pos + "actions=".len()..]);
        let mut flow = Flow { table: 0, priority: DEFAULT_PRIORITY, cookie: 0, matches: Match::new(), actions: Vec::new() };
        let mut pending = Vec::new();
        let mut protos = Vec::new();
        for tok in split_top(head, |c| c == ',' || c.is_whitespace()) {
            match tok.split_once('=') {
                Some(("cookie", v)) => flow.cookie = parse_num(v.split('/').next().unwrap_or(v))?,
                Some(("table", v)) => flow.table = parse_num(v)?,
                Some(("priority", v)) => flow.priority = parse_num(v)?,
                Some(("duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" | "packet_count" | "byte_count", _)) => {}
                Some((name, value)) => pending.push(Pending { name, value }),
                None => match Proto::from_name(tok) {
                    Some(p) => protos.push(p),
                    None if tok == "eth" => {}
                    None => return Err(err(tok, "unknown keyword")),
                },
            }
        }
        flow.matches = resolve_match(&protos, &pending)?;
        flow.actions = parse_actions_in(acts, &flow.matches)?;
        Ok(flow)
    }
}

/// Where the `actions=` key starts (at the start, or after a separator).
fn find_actions(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find("actions=") {
        let at = from + i;
        if at == 0 || s[..at].ends_with([',', ' ', '\t']) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn resolve_match(protos: &[Proto], pending: &[Pending<'_>]) -> Result<Match, Error> {
    // The protocol: shorthands, then explicit dl_type / nw_proto (last one written wins).
    let mut eth: Option<u16> = None;
    let mut ipp: Option<u8> = None;
    for p in protos {
        eth = Some(p.eth_type());
        if let Some(n) = p.ip_proto() {
            ipp = Some(n);
        }
    }
    for p in pending {
        match p.name {
            "dl_type" | "eth_type" => eth = Some(parse_num(p.value)?),
            "nw_proto" | "ip_proto" if !matches!(eth, Some(ETH_ARP | ETH_RARP)) => ipp = Some(parse_num(p.value)?),
            _ => {}
        }
    }
    let is_arp = matches!(eth, Some(ETH_ARP | ETH_RARP));
    let is_v6 = eth == Some(ETH_IPV6);
    let mut m = Match::new();
    for p in protos {
        m.set_proto(*p);
    }
    for p in pending {
        let field = match p.name {
            "tp_src" => match ipp {
                Some(17) => Field::UdpSrc,
                Some(132) => Field::SctpSrc,
                _ => Field::TcpSrc,
            },
            "tp_dst" => match ipp {
                Some(17) => Field::UdpDst,
                Some(132) => Field::SctpDst,
                _ => Field::TcpDst,
            },
            "icmp_type" if is_v6 => Field::Icmpv6Type,
            "icmp_code" if is_v6 => Field::Icmpv6Code,
            "nw_src" if is_arp => Field::ArpSpa,
            "nw_dst" if is_arp => Field::ArpTpa,
            "nw_proto" if is_arp => Field::ArpOp,
            "dl_vlan" => {
                let vid: u16 = parse_num(p.value)?;
                let (v, mk) = m.get(Field::VlanTci).map(|x| (x.value as u16, x.mask as u16)).unwrap_or((0, 0));
                m.set_masked(Field::VlanTci, u128::from((v & 0xe000) | VLAN_CFI | (vid & 0x0fff)), u128::from(mk | 0x1fff))?;
                continue;
            }
            "dl_vlan_pcp" => {
                m.set(Field::VlanPcp, parse_num(p.value)?)?;
                continue;
            }
            "nw_tos" => {
                let tos: u8 = parse_num(p.value)?;
                if tos & 3 != 0 {
                    return Err(err(p.value, "nw_tos must be a multiple of 4"));
                }
                m.set(Field::IpDscp, u128::from(tos >> 2))?;
                continue;
            }
            name => Field::from_name(name).ok_or_else(|| Error::UnknownField(name.to_string()))?,
        };
        let (v, mask) = parse_field_value(field, p.value)?;
        m.set_masked(field, v & mask, mask)?;
    }
    Ok(m)
}

/// Parses an action list (`drop` or comma-separated actions). `ctx` is the flow's match, which decides
/// the meaning of `mod_tp_src` and friends.
pub fn parse_actions_in(s: &str, ctx: &Match) -> Result<Vec<Action>, Error> {
    let mut out = Vec::new();
    for item in split_top(s, |c| c == ',') {
        if item == "drop" {
            continue;
        }
        out.push(parse_action(item, ctx)?);
    }
    Ok(out)
}

/// Parses an action list without a match context.
pub fn parse_actions(s: &str) -> Result<Vec<Action>, Error> {
    parse_actions_in(s, &Match::new())
}

/// `keyword(args)` -> args.
fn paren_args<'a>(s: &'a str, kw: &str) -> Option<&'a str> {
    s.strip_prefix(kw)?.strip_prefix('(')?.strip_suffix(')')
}

fn parse_action(s: &str, ctx: &Match) -> Result<Action, Error> {
    let kw_end = s.find([':', '(']).unwrap_or(s.len());
    let kw = &s[..kw_end];
    let arg = s.get(kw_end + 1..).unwrap_or("");
    let sep = s.as_bytes().get(kw_end).copied();
    let l4 = |src: bool| match (ctx.exact(Field::IpProto), src) {
        (Some(17), true) => Field::UdpSrc,
        (Some(17), false) => Field::UdpDst,
        (Some(132), true) => Field::SctpSrc,
        (Some(132), false) => Field::SctpDst,
        (_, true) => Field::TcpSrc,
        (_, false) => Field::TcpDst,
    };
    let set = |field: Field, text: &str| -> Result<Action, Error> {
        let (v, _) = parse_field_value(field, text)?;
        Ok(Action::set_field(field, v))
    };
    match (kw, sep) {
        ("output", Some(b':')) => {
            if arg.contains('[') {
                Ok(Action::OutputReg(parse_subfield(arg)?))
            } else {
                let p = parse_port(arg)?;
                Ok(if p == Port::CONTROLLER { Action::Controller(Controller::default()) } else { Action::Output(p) })
            }
        }
        ("controller" | "CONTROLLER", None) => Ok(Action::Controller(Controller::default())),
        ("controller" | "CONTROLLER", Some(b':')) => {
            Ok(Action::Controller(Controller { max_len: parse_num(arg)?, ..Controller::default() }))
        }
        ("controller", Some(b'(')) => parse_controller(paren_args(s, "controller").ok_or_else(|| err(s, "missing )"))?),
        ("resubmit", Some(b':')) => Ok(Action::Resubmit { port: Some(parse_port(arg)?), table: None }),
        ("resubmit", Some(b'(')) => {
            let args = paren_args(s, "resubmit").ok_or_else(|| err(s, "missing )"))?;
            let (p, t) = args.split_once(',').unwrap_or((args, ""));
            let port = match p.trim() {
                "" => None,
                p => Some(parse_port(p)?).filter(|p| *p != Port::IN_PORT),
            };
            let table = match t.trim() {
                "" => None,
                t => Some(parse_num(t)?),
            };
            if port.is_none() && table.is_none() {
                return Err(err(s, "resubmit needs a port or a table"));
            }
            Ok(Action::Resubmit { port, table })
        }
        ("set_field", Some(b':')) => {
            let (v, f) = arg.rsplit_once("->").ok_or_else(|| err(s, "missing ->"))?;
            let field = Field::from_name(f.trim()).ok_or_else(|| Error::UnknownField(f.to_string()))?;
            let (value, mask) = parse_field_value(field, v.trim())?;
            let full = field.full_mask();
            if value & !full != 0 || mask & !full != 0 {
                return Err(Error::TooWide { field: field.name(), bits: field.bits() });
            }
            Ok(Action::SetField { field, value: value & mask, mask: (mask != full).then_some(mask) })
        }
        ("load", Some(b':')) => {
            let (v, d) = arg.rsplit_once("->").ok_or_else(|| err(s, "missing ->"))?;
            Action::load(parse_uint(v)?, parse_subfield(d)?)
        }
        ("move", Some(b':')) => {
            let (a, b) = arg.split_once("->").ok_or_else(|| err(s, "missing ->"))?;
            let (src, dst) = (parse_subfield(a)?, parse_subfield(b)?);
            if src.n_bits != dst.n_bits {
                return Err(err(s, "source and destination widths differ"));
            }
            Ok(Action::Move { src, dst })
        }
        ("push", Some(b':')) => Ok(Action::Push(parse_subfield(arg)?)),
        ("pop", Some(b':')) => Ok(Action::Pop(parse_subfield(arg)?)),
        ("mod_dl_src", Some(b':')) => set(Field::EthSrc, arg),
        ("mod_dl_dst", Some(b':')) => set(Field::EthDst, arg),
        ("mod_nw_src", Some(b':')) => set(Field::IpSrc, arg),
        ("mod_nw_dst", Some(b':')) => set(Field::IpDst, arg),
        ("mod_tp_src", Some(b':')) => set(l4(true), arg),
        ("mod_tp_dst", Some(b':')) => set(l4(false), arg),
        ("mod_vlan_vid", Some(b':')) => Ok(Action::set_field(Field::VlanVid, u128::from(parse_num::<u16>(arg)? & 0x0fff) | 0x1000)),
        ("mod_vlan_pcp", Some(b':')) => set(Field::VlanPcp, arg),
        ("strip_vlan" | "pop_vlan", None) => Ok(Action::PopVlan),
        ("push_vlan", Some(b':')) => Ok(Action::PushVlan(parse_num(arg)?)),
        ("ct", None) => Ok(Action::Ct(Ct::default())),
        ("ct", Some(b'(')) => parse_ct(paren_args(s, "ct").ok_or_else(|| err(s, "missing )"))?, ctx),
        ("nat", None) => Ok(Action::Nat(Nat::default())),
        ("nat", Some(b'(')) => parse_nat(paren_args(s, "nat").ok_or_else(|| err(s, "missing )"))?),
        ("ct_clear", None) => Ok(Action::CtClear),
        ("conjunction", Some(b'(')) => {
            let args = paren_args(s, "conjunction").ok_or_else(|| err(s, "missing )"))?;
            let (id, rest) = args.split_once(',').ok_or_else(|| err(s, "conjunction(id,k/n)"))?;
            let (k, n) = rest.split_once('/').ok_or_else(|| err(s, "conjunction(id,k/n)"))?;
            let (clause, n_clauses): (u8, u8) = (parse_num(k)?, parse_num(n)?);
            if clause == 0 || clause > n_clauses || !(2..=64).contains(&n_clauses) {
                return Err(err(s, "clause must be 1..n, n 2..64"));
            }
            Ok(Action::Conjunction { id: parse_num(id)?, clause, n_clauses })
        }
        ("clone", Some(b'(')) => Ok(Action::Clone(parse_actions_in(paren_args(s, "clone").ok_or_else(|| err(s, "missing )"))?, ctx)?)),
        ("dec_ttl", None) => Ok(Action::DecTtl),
        ("note", Some(b':')) => Ok(Action::Note(parse_hex_bytes(arg)?)),
        ("group", Some(b':')) => Ok(Action::Group(parse_num(arg)?)),
        ("exit", None) => Ok(Action::Exit),
        ("check_pkt_larger", Some(b'(')) => {
            let (len, dst) = s.split_once(")->").ok_or_else(|| err(s, "check_pkt_larger(N)->DST"))?;
            let len = len.strip_prefix("check_pkt_larger(").ok_or_else(|| err(s, "check_pkt_larger(N)->DST"))?;
            let dst = parse_subfield(dst)?;
            if dst.n_bits != 1 {
                return Err(err(s, "destination must be 1 bit"));
            }
            Ok(Action::CheckPktLarger { len: parse_num(len)?, dst })
        }
        (name, None) => {
            if let Some(p) = Port::from_name(name) {
                return Ok(if p == Port::CONTROLLER { Action::Controller(Controller::default()) } else { Action::Output(p) });
            }
            if name.chars().all(|c| c.is_ascii_digit()) {
                return Ok(Action::Output(Port(parse_num(name)?)));
            }
            Err(err(s, "unknown action"))
        }
        _ => Err(err(s, "unknown action")),
    }
}

fn parse_controller(args: &str) -> Result<Action, Error> {
    let mut c = Controller::default();
    for item in split_top(args, |ch| ch == ',') {
        match item.split_once('=') {
            Some(("max_len", v)) => c.max_len = parse_num(v)?,
            Some(("id", v)) => c.id = parse_num(v)?,
            Some(("reason", v)) => c.reason = Reason::from_name(v).ok_or_else(|| err(v, "unknown reason"))?,
            Some(("userdata", v)) => c.userdata = parse_hex_bytes(v)?,
            Some(("meter_id", v)) => c.meter_id = Some(parse_num(v)?),
            None if item == "pause" => c.pause = true,
            _ => return Err(err(item, "unknown controller argument")),
        }
    }
    Ok(Action::Controller(c))
}

fn parse_ct(args: &str, ctx: &Match) -> Result<Action, Error> {
    let mut ct = Ct::default();
    for item in split_top(args, |ch| ch == ',') {
        match item.split_once('=') {
            _ if item == "commit" => ct.commit = true,
            _ if item == "force" => ct.force = true,
            _ if item == "nat" || item.starts_with("nat(") => ct.actions.push(parse_action(item, ctx)?),
            _ if item.starts_with("exec(") => {
                let inner = paren_args(item, "exec").ok_or_else(|| err(item, "missing )"))?;
                ct.actions.extend(parse_actions_in(inner, ctx)?);
            }
            Some(("table", v)) => ct.table = Some(parse_num(v)?),
            Some(("zone", v)) => {
                ct.zone = Some(if v.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                    CtZone::Imm(parse_num(v)?)
                } else {
                    let sf = parse_subfield(v)?;
                    if sf.n_bits != 16 {
                        return Err(err(v, "a zone subfield must be 16 bits"));
                    }
                    CtZone::Field(sf)
                })
            }
            Some(("alg", v)) => {
                ct.alg = Some(match ALG_NAMES.iter().find(|(n, _)| *n == v) {
                    Some((_, port)) => *port,
                    None => parse_num(v)?,
                })
            }
            _ => return Err(err(item, "unknown ct argument")),
        }
    }
    Ok(Action::Ct(ct))
}

fn parse_addr(s: &str) -> Result<IpAddr, Error> {
    let s = s.trim_start_matches('[').trim_end_matches(']');
    IpAddr::from_str(s).map_err(|_| err(s, "not an IP address"))
}

fn parse_port_range(s: &str) -> Result<(u16, Option<u16>), Error> {
    match s.split_once('-') {
        Some((a, b)) => Ok((parse_num(a)?, Some(parse_num(b)?))),
        None => Ok((parse_num(s)?, None)),
    }
}

fn parse_nat(args: &str) -> Result<Action, Error> {
    let mut nat = Nat::default();
    for item in split_top(args, |ch| ch == ',') {
        let (kw, range) = match item.split_once('=') {
            Some((k, r)) => (k, Some(r)),
            None => (item, None),
        };
        match kw {
            "src" | "dst" => {
                nat.kind = Some(if kw == "src" { NatKind::Src } else { NatKind::Dst });
                let Some(r) = range else { continue };
                let (addrs, ports) = if r.starts_with('[') {
                    // [a]-[b]:p-q
                    let close = r.rfind(']').ok_or_else(|| err(r, "missing ]"))?;
                    let ports = r[close + 1..].strip_prefix(':');
                    (&r[..=close], ports)
                } else if r.matches(':').count() > 1 {
                    (r, None)
                } else {
                    match r.split_once(':') {
                        Some((a, p)) => (a, Some(p)),
                        None => (r, None),
                    }
                };
                let (min, max) = match addrs.split_once("]-[").map(|(a, b)| (a, Some(b))).or_else(|| {
                    if addrs.starts_with('[') {
                        None
                    } else {
                        addrs.split_once('-').map(|(a, b)| (a, Some(b)))
                    }
                }) {
                    Some((a, b)) => (parse_addr(a)?, b.map(parse_addr).transpose()?),
                    None => (parse_addr(addrs)?, None),
                };
                if let Some(max) = max {
                    if max.is_ipv4() != min.is_ipv4() {
                        return Err(err(r, "address range mixes families"));
                    }
                }
                nat.addrs = Some((min, max));
                nat.ports = ports.map(parse_port_range).transpose()?;
            }
            "persistent" => nat.persistent = true,
            "hash" => nat.hash = true,
            "random" => nat.random = true,
            _ => return Err(err(item, "unknown nat argument")),
        }
    }
    Ok(Action::Nat(nat))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(s: &str) -> String {
        let f: Flow = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        let out = f.to_string();
        let again: Flow = out.parse().unwrap_or_else(|e| panic!("{out}: {e}"));
        assert_eq!(again, f, "{s} -> {out}");
        out
    }

    #[test]
    fn prints_like_ovs_ofctl() {
        assert_eq!(
            rt("table=8, priority=50, metadata=0x1, reg14=0x2, dl_src=00:00:00:00:00:01 actions=resubmit(,9)"),
            "table=8, priority=50,reg14=0x2,metadata=0x1,dl_src=00:00:00:00:00:01 actions=resubmit(,9)"
        );
        assert_eq!(rt("actions=output:1"), "actions=output:1");
        assert_eq!(rt("ip actions=drop"), "ip actions=drop");
        assert_eq!(rt("table=2 actions=drop"), "table=2, actions=drop");
        assert_eq!(rt("priority=0 actions=NORMAL"), "priority=0 actions=NORMAL");
        assert_eq!(
            rt("cookie=0x1234,table=11,priority=1,xxreg0=0x1 actions=load:0x1->NXM_NX_XXREG0[0..31]"),
            "cookie=0x1234, table=11, priority=1,reg0=0,reg1=0,reg2=0,reg3=0x1 actions=set_field:0x1/0xffffffff->xxreg0"
        );
        assert_eq!(rt("priority=1,ip,nw_proto=17 actions=drop"), "priority=1,udp actions=drop");
        assert_eq!(rt("priority=1,udp,udp_src=68,udp_dst=67 actions=drop"), "priority=1,udp,tp_src=68,tp_dst=67 actions=drop");
        assert_eq!(
            rt("priority=3,icmp,icmp_type=8,icmp_code=0,nw_dst=10.0.0.1 actions=drop"),
            "priority=3,icmp,nw_dst=10.0.0.1,icmp_type=8,icmp_code=0 actions=drop"
        );
        assert_eq!(
            rt("priority=2,arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.2/24,reg3=0x1 actions=drop"),
            "priority=2,arp,reg3=0x1,arp_spa=10.0.0.1,arp_tpa=10.0.0.0/24,arp_op=1 actions=drop"
        );
        assert_eq!(
            rt("priority=1,ct_state=-new+est-rel+rpl-inv+trk+snat-dnat actions=drop"),
            "priority=1,ct_state=est|rpl|trk|snat actions=drop"
        );
        assert_eq!(rt("priority=1,ct_state=+trk-inv actions=drop"), "priority=1,ct_state=-inv+trk actions=drop");
        assert_eq!(rt("priority=1,tcp6,tcp_flags=0x12 actions=drop"), "priority=1,tcp6,tcp_flags=syn|ack actions=drop");
        assert_eq!(rt("priority=1,tcp,tp_dst=0/0xff00 actions=drop"), "priority=1,tcp,tp_dst=0x0/0xff00 actions=drop");
        assert_eq!(rt("priority=1,vlan_tci=0 actions=drop"), "priority=1,vlan_tci=0x0000/0x1fff actions=drop");
        assert_eq!(rt("priority=1,dl_vlan=5,dl_vlan_pcp=3 actions=drop"), "priority=1,dl_vlan=5,dl_vlan_pcp=3 actions=drop");
        assert_eq!(rt("priority=1,ipv6,ipv6_label=0xabcde/0xf actions=drop"), "priority=1,ipv6,ipv6_label=0x0000e/0x0000f actions=drop");
        assert_eq!(rt("priority=1,ip,ip_dscp=8,ip_frag=later actions=drop"), "priority=1,ip,nw_tos=32,nw_frag=later actions=drop");
    }

    #[test]
    fn actions_print_like_ovs_ofctl() {
        let cases = [
            (
                "ct(commit,zone=NXM_NX_REG13[0..15],nat(src=192.168.100.101)),output:1",
                "ct(commit,zone=NXM_NX_REG13[0..15],nat(src=192.168.100.101)),output:1",
            ),
            ("ct(commit,zone=5,table=10)", "ct(commit,table=10,zone=5)"),
            ("ct(commit,exec(set_field:0x1->ct_mark),nat(src=1.1.1.1))", "ct(commit,exec(set_field:0x1->ct_mark,nat(src=1.1.1.1)))"),
            ("ct", "ct()"),
            ("ct(commit,nat(src=10.0.0.1-10.0.0.9:1000-2000,random))", "ct(commit,nat(src=10.0.0.1-10.0.0.9:1000-2000,random))"),
            ("ct(commit,nat(dst=[fe80::1]-[fe80::2]:5))", "ct(commit,nat(dst=[fe80::1]-[fe80::2]:5))"),
            ("ct(commit,nat(src=fe80::1-fe80::5))", "ct(commit,nat(src=fe80::1-fe80::5))"),
            ("ct(commit,alg=ftp,exec(load:0x1->NXM_NX_CT_LABEL[1]))", "ct(commit,exec(set_field:0x2/0x2->ct_label),alg=ftp)"),
            (
                "load:0x1->NXM_NX_REG0[3],load:0x5->NXM_NX_REG1[0..15],load:0x7->NXM_NX_REG2[]",
                "set_field:0x8/0x8->reg0,set_field:0x5/0xffff->reg1,set_field:0x7->reg2",
            ),
            (
                "mod_dl_src:00:11:22:33:44:55,load:0x001122334455->eth_dst",
                "set_field:00:11:22:33:44:55->eth_src,set_field:00:11:22:33:44:55->eth_dst",
            ),
            (
                "resubmit(1,9),resubmit:3,resubmit(IN_PORT,9),in_port,CONTROLLER,NORMAL",
                "resubmit(1,9),resubmit:3,resubmit(,9),IN_PORT,CONTROLLER:65535,NORMAL",
            ),
            (
                "controller(userdata=00.00.00.01.00.00.00.00,pause,meter_id=3)",
                "controller(userdata=00.00.00.01.00.00.00.00,pause,meter_id=3)",
            ),
            (
                "controller(userdata=00.00.00.0a,max_len=100,reason=invalid_ttl)",
                "controller(reason=invalid_ttl,max_len=100,userdata=00.00.00.0a)",
            ),
            ("controller(max_len=0)", "CONTROLLER:0"),
            (
                "move:NXM_NX_XXREG0[0..63]->xreg4,move:reg0[0..5]->reg1[26..31]",
                "move:NXM_NX_XXREG0[0..63]->OXM_OF_PKT_REG4[],move:NXM_NX_REG0[0..5]->NXM_NX_REG1[26..31]",
            ),
            ("check_pkt_larger(1500)->NXM_NX_REG0[0]", "check_pkt_larger(1500)->NXM_NX_REG0[0]"),
            ("set_field:1.1.1.0/255.255.255.0->ip_src", "set_field:1.1.1.0/24->ip_src"),
            (
                "clone(set_field:0x1->reg0,resubmit(,2)),group:1,push_vlan:0x8100,strip_vlan",
                "clone(set_field:0x1->reg0,resubmit(,2)),group:1,push_vlan:0x8100,pop_vlan",
            ),
            ("conjunction(1,2/2),note:01.02.03.04.05.06", "conjunction(1,2/2),note:01.02.03.04.05.06"),
            (
                "output:NXM_NX_REG15[],push:NXM_OF_IN_PORT[],pop:NXM_OF_IN_PORT[]",
                "output:NXM_NX_REG15[],push:NXM_OF_IN_PORT[],pop:NXM_OF_IN_PORT[]",
            ),
        ];
        for (input, want) in cases {
            let acts = parse_actions(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            let got = super::super::text::ActionList(&acts).to_string();
            assert_eq!(got, want, "{input}");
            assert_eq!(parse_actions(&got).unwrap_or_else(|e| panic!("{got}: {e}")), acts, "{got}");
        }
    }

    #[test]
    fn loads_beyond_128_bits_are_refused_not_panics() {
        assert!(parse_actions("load:1->NXM_NX_TUN_METADATA0[200..210]").is_err());
        assert!(parse_actions("load:0x10->NXM_NX_REG0[0..3]").is_err());
        assert!(parse_actions("move:NXM_NX_REG0[0..3]->NXM_NX_REG1[0..4]").is_err());
        assert!(parse_actions("set_field:0x100000000->reg0").is_err());
        assert!(parse_actions("conjunction(1,3/2)").is_err());
        assert!(parse_actions("resubmit(,)").is_err());
    }

    #[test]
    fn mod_tp_follows_the_match() {
        let f: Flow = "udp actions=mod_tp_dst:5".parse().unwrap();
        assert_eq!(f.actions, vec![Action::set_field(Field::UdpDst, 5)]);
        assert!("tcp actions=bogus".parse::<Flow>().is_err());
        assert!("tcp".parse::<Flow>().is_err());
        assert!("reg99=1 actions=drop".parse::<Flow>().is_err());
    }
}
