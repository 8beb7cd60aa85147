//! `ovs-ofctl` text: flows printed exactly as `ovs-ofctl -O OpenFlow15 dump-flows --no-stats` prints them.
//!
//! The printed form of a flow is
//!
//! ```text
//! [cookie=0x<hex>, ][table=<n>, ][priority=<p>][,<match>...][ ]actions=<actions>
//! ```
//!
//! where `cookie` is omitted when zero, `table` when zero, `priority` when it is the default 32768, and the
//! space before `actions=` only appears when something was printed before it on that side of the `, `
//! (`table=2, actions=drop`, `ip actions=drop`, `actions=output:1`). An empty action list prints `drop`.
//!
//! Field values follow the field's [`Format`], and `ovs-ofctl` has two slightly different printers: the
//! match printer writes a masked decimal field in hex (`tp_dst=0x100/0xff00`) and a zero hex value as `0`
//! (`ct_mark=0/0x1`), while `set_field` writes a masked decimal field as `1/0x3`. Both are reproduced.
//! The parser for this text (and for `add-flows` input) is in `parse.rs`.

use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::action::{Action, Controller, Ct, CtZone, Nat, NatKind, Port, Reason, Subfield};
use super::field::{ones, Field, Format, SHORTHAND_BEFORE};
use super::matching::{Masked, Match, VLAN_CFI};
use super::Flow;

/// The priority `ovs-ofctl` omits when printing (`OFP_DEFAULT_PRIORITY`).
pub const DEFAULT_PRIORITY: u16 = 0x8000;

/// Connection-tracking state flags, in bit order.
pub const CT_STATE_FLAGS: &[(&str, u32)] =
    &[("new", 0x01), ("est", 0x02), ("rel", 0x04), ("rpl", 0x08), ("inv", 0x10), ("trk", 0x20), ("snat", 0x40), ("dnat", 0x80)];
/// TCP flags, in bit order.
pub const TCP_FLAGS: &[(&str, u32)] = &[
    ("fin", 0x001),
    ("syn", 0x002),
    ("rst", 0x004),
    ("psh", 0x008),
    ("ack", 0x010),
    ("urg", 0x020),
    ("ece", 0x040),
    ("cwr", 0x080),
    ("ns", 0x100),
];
/// Tunnel flags.
pub const TUN_FLAGS: &[(&str, u32)] = &[("oam", 0x1)];
/// `ip_frag` names as (value, mask).
pub const FRAG_NAMES: &[(&str, u8, u8)] = &[("no", 0, 1), ("yes", 1, 1), ("first", 1, 3), ("later", 3, 3), ("not_later", 0, 2)];
/// `ct(alg=...)` names.
pub const ALG_NAMES: &[(&str, u16)] = &[("ftp", 21), ("tftp", 69)];

fn flags_of(field: Field) -> &'static [(&'static str, u32)] {
    match field {
        Field::CtState => CT_STATE_FLAGS,
        Field::TcpFlags => TCP_FLAGS,
        _ => TUN_FLAGS,
    }
}

/// `0x1f`, or `0` for zero.
pub(crate) fn hex0(v: u128) -> String {
    if v == 0 {
        "0".to_string()
    } else {
        format!("{v:#x}")
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub(crate) fn mac(v: u128) -> String {
    let b = (v as u64).to_be_bytes();
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[2], b[3], b[4], b[5], b[6], b[7])
}

/// Dotted hex bytes: `00.01.0a`.
pub(crate) fn hex_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(".")
}

/// The prefix length of a contiguous mask of `bits` bits.
fn prefix_len(mask: u128, bits: u16) -> Option<u16> {
    let n = (mask.count_ones()) as u16;
    let full = ones(bits);
    (n <= bits && mask == full & !(ones(bits - n))).then_some(n)
}

fn ip_text(v: u128, bits: u16) -> String {
    if bits == 32 {
        Ipv4Addr::from(v as u32).to_string()
    } else {
        Ipv6Addr::from(v).to_string()
    }
}

fn ip_masked(v: u128, mask: u128, bits: u16) -> String {
    if mask == ones(bits) {
        return ip_text(v, bits);
    }
    match prefix_len(mask, bits) {
        Some(n) => format!("{}/{n}", ip_text(v, bits)),
        None => format!("{}/{}", ip_text(v, bits), ip_text(mask, bits)),
    }
}

fn flags_text(field: Field, v: u128, mask: u128, exact: bool) -> String {
    let flags = flags_of(field);
    if exact {
        let set: Vec<&str> = flags.iter().filter(|(_, b)| v & u128::from(*b) != 0).map(|(n, _)| *n).collect();
        if set.is_empty() {
            "0".to_string()
        } else {
            set.join("|")
        }
    } else {
        let mut s = String::new();
        for (n, b) in flags {
            let b = u128::from(*b);
            if mask & b != 0 {
                s.push(if v & b != 0 { '+' } else { '-' });
                s.push_str(n);
            }
        }
        s
    }
}

fn port_text(p: Port) -> String {
    match p.name() {
        Some(n) => n.to_string(),
        None => p.0.to_string(),
    }
}

/// A field value as a match prints it (`mask` = `None` for exact).
pub fn match_value(field: Field, v: u128, mask: Option<u128>) -> String {
    let def = field.def();
    match (def.format, mask) {
        (Format::Hex, None) => hex0(v),
        (Format::Hex, Some(m)) => format!("{}/{m:#x}", hex0(v)),
        (Format::Decimal, None) => v.to_string(),
        (Format::Decimal, Some(m)) => format!("{v:#x}/{m:#x}"),
        (Format::Ethernet, None) => mac(v),
        (Format::Ethernet, Some(m)) => format!("{}/{}", mac(v), mac(m)),
        (Format::Ipv4, m) => ip_masked(v, m.unwrap_or(ones(32)), 32),
        (Format::Ipv6, m) => ip_masked(v, m.unwrap_or(u128::MAX), 128),
        (Format::Port, _) => port_text(Port(v as u16)),
        (Format::CtState | Format::TcpFlags, m) => flags_text(field, v, m.unwrap_or(u128::MAX), m.is_none()),
        (Format::TunFlags, m) => flags_text(field, v, m.unwrap_or(1), false),
        (Format::Frag, m) => {
            let m = m.unwrap_or(0xff) as u8 & 3;
            match FRAG_NAMES.iter().find(|(_, fv, fm)| *fv == v as u8 && *fm == m) {
                Some((n, _, _)) => n.to_string(),
                None => format!("{v:#x}/{m:#x}"),
            }
        }
        (Format::FlowLabel, None) => format!("0x{v:05x}"),
        (Format::FlowLabel, Some(m)) => format!("0x{v:05x}/0x{m:05x}"),
        (Format::VlanTci, None) => format!("0x{v:04x}"),
        (Format::VlanTci, Some(m)) => format!("0x{v:04x}/0x{m:04x}"),
    }
}

/// A field value as `set_field` prints it (`mask` = `None` for the whole field).
pub fn set_field_value(field: Field, v: u128, mask: Option<u128>) -> String {
    let def = field.def();
    match def.format {
        Format::Decimal => match mask {
            None => v.to_string(),
            Some(m) => format!("{v}/{m:#x}"),
        },
        Format::Ethernet | Format::Ipv4 | Format::Ipv6 => match_value(field, v, mask),
        Format::Port if mask.is_none() => port_text(Port(v as u16)),
        _ => match mask {
            None => hex0(v),
            Some(m) => format!("{}/{m:#x}", hex0(v)),
        },
    }
}

/// The `name=value` items of a match, in print order, shorthand included.
pub fn match_items(m: &Match) -> Vec<String> {
    let shorthand = m.shorthand();
    let mut items = Vec::new();
    let mut shorthand_done = shorthand.is_none();
    for (field, mv) in m.iter() {
        if !shorthand_done && field.rank() >= SHORTHAND_BEFORE.rank() {
            items.push(shorthand.map(|p| p.name()).unwrap_or_default().to_string());
            shorthand_done = true;
        }
        if let Some(p) = shorthand {
            if field == Field::EthType || (field == Field::IpProto && p.ip_proto().is_some()) {
                continue;
            }
        }
        items.extend(match_item(m, field, mv));
    }
    if !shorthand_done {
        items.push(shorthand.map(|p| p.name()).unwrap_or_default().to_string());
    }
    items
}

fn match_item(m: &Match, field: Field, mv: Masked) -> Vec<String> {
    let exact = m.is_exact(field, &mv);
    let mask = (!exact).then_some(mv.mask);
    match field {
        Field::IpDscp => vec![format!("nw_tos={}", mv.value << 2)],
        Field::VlanTci => vlan_items(mv.value as u16, mv.mask as u16),
        _ => vec![format!("{}={}", field.match_name(), match_value(field, mv.value, mask))],
    }
}

/// `dl_vlan=5`, `dl_vlan_pcp=3`, or `vlan_tci=0x0000/0x1fff` when neither says it.
fn vlan_items(v: u16, m: u16) -> Vec<String> {
    let vid_full = m & 0x0fff == 0x0fff;
    let pcp_full = m & 0xe000 == 0xe000;
    let vid_ok = vid_full || m & 0x0fff == 0;
    let pcp_ok = pcp_full || m & 0xe000 == 0;
    if v & VLAN_CFI != 0 && m & VLAN_CFI != 0 && vid_ok && pcp_ok && (vid_full || pcp_full) {
        let mut items = Vec::new();
        if vid_full {
            items.push(format!("dl_vlan={}", v & 0x0fff));
        }
        if pcp_full {
            items.push(format!("dl_vlan_pcp={}", v >> 13));
        }
        items
    } else if m == 0xffff {
        vec![format!("vlan_tci=0x{v:04x}")]
    } else {
        vec![format!("vlan_tci=0x{v:04x}/0x{m:04x}")]
    }
}

impl fmt::Display for Match {
    /// The match alone, comma-separated (no priority).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&match_items(self).join(","))
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.cookie != 0 {
            write!(f, "cookie={:#x}, ", self.cookie)?;
        }
        if self.table != 0 {
            write!(f, "table={}, ", self.table)?;
        }
        let mut items = Vec::new();
        if self.priority != DEFAULT_PRIORITY {
            items.push(format!("priority={}", self.priority));
        }
        items.extend(match_items(&self.matches));
        f.write_str(&items.join(","))?;
        if !items.is_empty() {
            f.write_char(' ')?;
        }
        write!(f, "actions={}", ActionList(&self.actions))
    }
}

/// Formats an action list the way `ovs-ofctl` does: comma-separated, `drop` when empty.
pub struct ActionList<'a>(pub &'a [Action]);

impl fmt::Display for ActionList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("drop");
        }
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Subfield {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.field.nxm_name();
        if self.is_whole() {
            write!(f, "{name}[]")
        } else if self.n_bits == 1 {
            write!(f, "{name}[{}]", self.ofs)
        } else {
            write!(f, "{name}[{}..{}]", self.ofs, self.ofs + self.n_bits - 1)
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&port_text(*self))
    }
}

fn controller_text(c: &Controller) -> String {
    if c.is_plain() {
        return format!("CONTROLLER:{}", c.max_len);
    }
    let mut items = Vec::new();
    if c.reason != Reason::Action {
        items.push(format!("reason={}", c.reason.name()));
    }
    if c.max_len != u16::MAX {
        items.push(format!("max_len={}", c.max_len));
    }
    if c.id != 0 {
        items.push(format!("id={}", c.id));
    }
    if !c.userdata.is_empty() {
        items.push(format!("userdata={}", hex_bytes(&c.userdata)));
    }
    if c.pause {
        items.push("pause".to_string());
    }
    if let Some(m) = c.meter_id {
        items.push(format!("meter_id={m}"));
    }
    format!("controller({})", items.join(","))
}

fn ct_text(ct: &Ct) -> String {
    let mut items = Vec::new();
    if ct.commit {
        items.push("commit".to_string());
    }
    if ct.force {
        items.push("force".to_string());
    }
    if let Some(t) = ct.table {
        items.push(format!("table={t}"));
    }
    match &ct.zone {
        Some(CtZone::Imm(z)) => items.push(format!("zone={z}")),
        Some(CtZone::Field(sf)) => items.push(format!("zone={sf}")),
        None => {}
    }
    let mut rest: &[Action] = &ct.actions;
    if let Some((first @ Action::Nat(_), tail)) = rest.split_first() {
        items.push(first.to_string());
        rest = tail;
    }
    if !rest.is_empty() {
        items.push(format!("exec({})", ActionList(rest)));
    }
    if let Some(alg) = ct.alg {
        match ALG_NAMES.iter().find(|(_, n)| *n == alg) {
            Some((name, _)) => items.push(format!("alg={name}")),
            None => items.push(format!("alg={alg}")),
        }
    }
    format!("ct({})", items.join(","))
}

fn nat_text(n: &Nat) -> String {
    let Some(kind) = n.kind else {
        return "nat".to_string();
    };
    let mut s = String::from(match kind {
        NatKind::Src => "nat(src",
        NatKind::Dst => "nat(dst",
    });
    if let Some((min, max)) = n.addrs {
        s.push('=');
        let bracket = min.is_ipv6() && n.ports.is_some();
        let addr = |a: std::net::IpAddr| if bracket { format!("[{a}]") } else { a.to_string() };
        s.push_str(&addr(min));
        if let Some(max) = max {
            s.push('-');
            s.push_str(&addr(max));
        }
        if let Some((pmin, pmax)) = n.ports {
            let _ = write!(s, ":{pmin}");
            if let Some(pmax) = pmax {
                let _ = write!(s, "-{pmax}");
            }
        }
    }
    if n.persistent {
        s.push_str(",persistent");
    }
    if n.hash {
        s.push_str(",hash");
    }
    if n.random {
        s.push_str(",random");
    }
    s.push(')');
    s
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Output(p) if *p == Port::CONTROLLER => write!(f, "CONTROLLER:{}", u16::MAX),
            Action::Output(p) => match p.name() {
                Some(n) => f.write_str(n),
                None => write!(f, "output:{}", p.0),
            },
            Action::OutputReg(sf) => write!(f, "output:{sf}"),
            Action::Controller(c) => f.write_str(&controller_text(c)),
            Action::Resubmit { port, table } => match (port, table) {
                (Some(p), None) => write!(f, "resubmit:{p}"),
                (p, t) => {
                    let p = p.map(|p| p.to_string()).unwrap_or_default();
                    let t = t.map(|t| t.to_string()).unwrap_or_default();
                    write!(f, "resubmit({p},{t})")
                }
            },
            Action::SetField { field, value, mask } => {
                write!(f, "set_field:{}->{}", set_field_value(*field, *value, *mask), field.name())
            }
            Action::Move { src, dst } => write!(f, "move:{src}->{dst}"),
            Action::Push(sf) => write!(f, "push:{sf}"),
            Action::Pop(sf) => write!(f, "pop:{sf}"),
            Action::Ct(ct) => f.write_str(&ct_text(ct)),
            Action::Nat(n) => f.write_str(&nat_text(n)),
            Action::CtClear => f.write_str("ct_clear"),
            Action::Conjunction { id, clause, n_clauses } => write!(f, "conjunction({id},{clause}/{n_clauses})"),
            Action::Clone(acts) => write!(f, "clone({})", ActionList(acts)),
            Action::DecTtl => f.write_str("dec_ttl"),
            Action::Note(b) => write!(f, "note:{}", hex_bytes(b)),
            Action::Group(g) => write!(f, "group:{g}"),
            Action::PushVlan(t) => write!(f, "push_vlan:{t:#x}"),
            Action::PopVlan => f.write_str("pop_vlan"),
            Action::CheckPktLarger { len, dst } => write!(f, "check_pkt_larger({len})->{dst}"),
            Action::Exit => f.write_str("exit"),
        }
    }
}
