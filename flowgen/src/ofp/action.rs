//! OpenFlow actions, in the shape `ovs-ofctl -O OpenFlow15 dump-flows` prints them.
//!
//! Some spellings `ovs-ofctl` accepts have no variant of their own because the switch prints them as
//! something else (the parser maps them): `load:V->F[a..b]` and `mod_dl_src:M` etc. are
//! [`Action::SetField`] (OpenFlow 1.5 has masked `set_field`, which is a superset of Nicira's `load`),
//! `strip_vlan` is [`Action::PopVlan`], `resubmit(IN_PORT,T)` is `resubmit(,T)`, and `controller` with
//! nothing but a `max_len` is printed `CONTROLLER:N`.

use std::net::IpAddr;

use super::field::{ones, Field};
use super::Error;

/// An OpenFlow 1.0-style 16-bit port number, as matches (`in_port`) and `ovs-ofctl` use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Port(pub u16);

impl Port {
    /// The port a packet came in on (`IN_PORT`).
    pub const IN_PORT: Port = Port(0xfff8);
    /// Submit to the flow table (`TABLE`, packet-out only).
    pub const TABLE: Port = Port(0xfff9);
    /// The traditional switching pipeline (`NORMAL`).
    pub const NORMAL: Port = Port(0xfffa);
    /// All ports but the input port, subject to flooding rules (`FLOOD`).
    pub const FLOOD: Port = Port(0xfffb);
    /// All ports but the input port (`ALL`).
    pub const ALL: Port = Port(0xfffc);
    /// The controller (`CONTROLLER`).
    pub const CONTROLLER: Port = Port(0xfffd);
    /// The local bridge port (`LOCAL`).
    pub const LOCAL: Port = Port(0xfffe);
    /// No port (`ANY` / `NONE`).
    pub const NONE: Port = Port(0xffff);

    const NAMES: &'static [(Port, &'static str)] = &[
        (Port::IN_PORT, "IN_PORT"),
        (Port::TABLE, "TABLE"),
        (Port::NORMAL, "NORMAL"),
        (Port::FLOOD, "FLOOD"),
        (Port::ALL, "ALL"),
        (Port::CONTROLLER, "CONTROLLER"),
        (Port::LOCAL, "LOCAL"),
        (Port::NONE, "ANY"),
    ];

    /// The reserved name of this port, if it has one.
    pub fn name(self) -> Option<&'static str> {
        Port::NAMES.iter().find(|(p, _)| *p == self).map(|(_, n)| *n)
    }

    /// Looks a reserved port name up (case-insensitive, `NONE` accepted for `ANY`).
    pub fn from_name(name: &str) -> Option<Port> {
        if name.eq_ignore_ascii_case("NONE") {
            return Some(Port::NONE);
        }
        Port::NAMES.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)).map(|(p, _)| *p)
    }

    /// The OpenFlow 1.1+ 32-bit number: reserved ports `0xff00..` become `0xffffff00..`.
    pub fn to_of11(self) -> u32 {
        if self.0 >= 0xff00 {
            0xffff_0000 | u32::from(self.0)
        } else {
            u32::from(self.0)
        }
    }
}

/// Bits `ofs .. ofs+n_bits` of a field: `NXM_NX_REG13[0..15]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subfield {
    /// The field.
    pub field: Field,
    /// First bit (0 = least significant).
    pub ofs: u16,
    /// Number of bits (at least 1).
    pub n_bits: u16,
}

impl Subfield {
    /// The whole field: `NXM_NX_REG15[]`.
    pub fn whole(field: Field) -> Subfield {
        Subfield { field, ofs: 0, n_bits: field.bits() }
    }

    /// Bits `start..=end`, as written `[start..end]`.
    pub fn range(field: Field, start: u16, end: u16) -> Result<Subfield, Error> {
        let sf = Subfield { field, ofs: start, n_bits: end.wrapping_sub(start).wrapping_add(1) };
        sf.check()?;
        Ok(sf)
    }

    /// Checks that the bits exist in the field.
    pub fn check(&self) -> Result<(), Error> {
        if self.n_bits == 0 || u32::from(self.ofs) + u32::from(self.n_bits) > u32::from(self.field.bits()) || !self.field.is_valid() {
            return Err(Error::BadSubfield(format!("{}[{}..{}]", self.field.nxm_name(), self.ofs, self.ofs + self.n_bits)));
        }
        Ok(())
    }

    /// Whether this covers the whole field.
    pub fn is_whole(&self) -> bool {
        self.ofs == 0 && self.n_bits == self.field.bits()
    }
}

/// The conntrack zone of a `ct` action: an immediate or 16 bits of a field.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CtZone {
    /// `zone=5`.
    Imm(u16),
    /// `zone=NXM_NX_REG13[0..15]`.
    Field(Subfield),
}

/// The `ct` action.
///
/// `actions` is the nested action list: OVS prints a leading [`Action::Nat`] as `nat(...)` and the rest as
/// `exec(...)`, so `ct(commit,nat(src=1.1.1.1),exec(set_field:...))` has `actions = [Nat, SetField]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ct {
    /// `commit`: commit the connection.
    pub commit: bool,
    /// `force`: commit in this direction even if the connection exists in the other.
    pub force: bool,
    /// `table=N`: recirculate to table N.
    pub table: Option<u8>,
    /// `zone=...`.
    pub zone: Option<CtZone>,
    /// `alg=N` (21 prints `ftp`, 69 `tftp`).
    pub alg: Option<u16>,
    /// Nested actions (`nat`, then `exec` actions).
    pub actions: Vec<Action>,
}

/// Which side a `nat` translates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NatKind {
    /// `src`.
    Src,
    /// `dst`.
    Dst,
}

/// The `nat` action nested in `ct`: `nat`, `nat(src)`, `nat(dst=10.0.0.1-10.0.0.9:80-90,random)`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Nat {
    /// Source or destination NAT; `None` is plain `nat` (apply the connection's existing NAT).
    pub kind: Option<NatKind>,
    /// Address range (minimum, optional maximum); both of one family.
    pub addrs: Option<(IpAddr, Option<IpAddr>)>,
    /// Port range (minimum, optional maximum).
    pub ports: Option<(u16, Option<u16>)>,
    /// `persistent`.
    pub persistent: bool,
    /// `hash`.
    pub hash: bool,
    /// `random`.
    pub random: bool,
}

/// Why a packet goes to the controller (`controller(reason=...)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `no_match`.
    NoMatch,
    /// `action` (the default, not printed).
    Action,
    /// `invalid_ttl`.
    InvalidTtl,
    /// `action_set`.
    ActionSet,
    /// `group`.
    Group,
    /// `packet_out`.
    PacketOut,
}

impl Reason {
    const NAMES: &'static [(Reason, &'static str, u8)] = &[
        (Reason::NoMatch, "no_match", 0),
        (Reason::Action, "action", 1),
        (Reason::InvalidTtl, "invalid_ttl", 2),
        (Reason::ActionSet, "action_set", 3),
        (Reason::Group, "group", 4),
        (Reason::PacketOut, "packet_out", 5),
    ];
    /// Keyword.
    pub fn name(self) -> &'static str {
        Reason::NAMES.iter().find(|r| r.0 == self).map(|r| r.1).unwrap_or("action")
    }
    /// OpenFlow `OFPR_*` code.
    pub fn code(self) -> u8 {
        Reason::NAMES.iter().find(|r| r.0 == self).map(|r| r.2).unwrap_or(1)
    }
    /// From a keyword.
    pub fn from_name(s: &str) -> Option<Reason> {
        Reason::NAMES.iter().find(|r| r.1 == s).map(|r| r.0)
    }
    /// From an `OFPR_*` code.
    pub fn from_code(c: u8) -> Option<Reason> {
        Reason::NAMES.iter().find(|r| r.2 == c).map(|r| r.0)
    }
}

/// Sending the packet to the controller: `controller(userdata=...,pause,meter_id=...)`, `CONTROLLER:65535`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Controller {
    /// Bytes of the packet to send (65535 = all).
    pub max_len: u16,
    /// Controller connection id (0 = all).
    pub id: u16,
    /// Reason reported in the packet-in.
    pub reason: Reason,
    /// Opaque bytes handed back in the packet-in (`userdata=00.00.00.01`).
    pub userdata: Vec<u8>,
    /// Freeze the pipeline so the controller can resume it (`pause`).
    pub pause: bool,
    /// Meter for the packet-ins.
    pub meter_id: Option<u32>,
}

impl Default for Controller {
    fn default() -> Controller {
        Controller { max_len: u16::MAX, id: 0, reason: Reason::Action, userdata: Vec::new(), pause: false, meter_id: None }
    }
}

impl Controller {
    /// Whether this is a plain output to the controller port (printed `CONTROLLER:N`).
    pub fn is_plain(&self) -> bool {
        self.id == 0 && self.reason == Reason::Action && self.userdata.is_empty() && !self.pause && self.meter_id.is_none()
    }
}

/// One action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `output:N`, or a reserved port by name (`LOCAL`, `IN_PORT`, `NORMAL`, `FLOOD`, `ALL`). Output to
    /// [`Port::CONTROLLER`] prints (and parses back) as [`Action::Controller`]: use that instead.
    Output(Port),
    /// `output:NXM_NX_REG15[]`: output to the port in a field.
    OutputReg(Subfield),
    /// `controller(...)` / `CONTROLLER:N`.
    Controller(Controller),
    /// `resubmit(port,table)`; `None` port is `IN_PORT` (printed empty), `None` table is "this table".
    Resubmit {
        /// In-port to pretend.
        port: Option<Port>,
        /// Table to search.
        table: Option<u8>,
    },
    /// `set_field:V[/M]->F` (and `load`, `mod_*`); `mask` is `None` for the whole field.
    SetField {
        /// Destination field.
        field: Field,
        /// Value (within the mask).
        value: u128,
        /// Bits written, or `None` for all.
        mask: Option<u128>,
    },
    /// `move:SRC->DST`.
    Move {
        /// Source bits.
        src: Subfield,
        /// Destination bits (same width).
        dst: Subfield,
    },
    /// `push:SF` (to the action stack).
    Push(Subfield),
    /// `pop:SF`.
    Pop(Subfield),
    /// `ct(...)`.
    Ct(Ct),
    /// `nat(...)`: only inside [`Ct::actions`].
    Nat(Nat),
    /// `ct_clear`.
    CtClear,
    /// `conjunction(id,clause/n_clauses)`; `clause` is 1-based as printed.
    Conjunction {
        /// Conjunction id (matched later as `conj_id`).
        id: u32,
        /// This flow's clause, 1-based.
        clause: u8,
        /// Number of clauses.
        n_clauses: u8,
    },
    /// `clone(...)`.
    Clone(Vec<Action>),
    /// `dec_ttl`.
    DecTtl,
    /// `note:XX.XX...`. The switch pads the bytes with zeros so the action fills a multiple of 8 bytes
    /// (6, 14, 22, ... bytes of note), and prints the padding back: use [`Action::note`] to get the form it prints.
    Note(Vec<u8>),
    /// `group:N`.
    Group(u32),
    /// `push_vlan:0x8100`.
    PushVlan(u16),
    /// `pop_vlan` (`strip_vlan`).
    PopVlan,
    /// `check_pkt_larger(N)->SF`: set the 1-bit subfield to whether the packet is longer than N.
    CheckPktLarger {
        /// Length threshold.
        len: u16,
        /// One-bit destination.
        dst: Subfield,
    },
    /// `exit`.
    Exit,
}

impl Action {
    /// `set_field:value->field` (whole field).
    pub fn set_field(field: Field, value: u128) -> Action {
        Action::SetField { field, value, mask: None }
    }

    /// `load:value->dst`, which the switch stores and prints as a masked `set_field`.
    pub fn load(value: u128, dst: Subfield) -> Result<Action, Error> {
        dst.check()?;
        if u32::from(dst.ofs) + u32::from(dst.n_bits) > 128 || (dst.n_bits < 128 && value >> dst.n_bits != 0) {
            return Err(Error::TooWide { field: dst.field.name(), bits: dst.n_bits });
        }
        let mask = ones(dst.n_bits) << dst.ofs;
        let value = value << dst.ofs;
        Ok(Action::SetField { field: dst.field, value, mask: if dst.is_whole() { None } else { Some(mask) } })
    }

    /// `note:` with the bytes padded the way the switch pads them.
    pub fn note(bytes: &[u8]) -> Action {
        let mut v = bytes.to_vec();
        while !(v.len() + 10).is_multiple_of(8) {
            v.push(0);
        }
        Action::Note(v)
    }

    /// `resubmit(,table)`.
    pub fn resubmit(table: u8) -> Action {
        Action::Resubmit { port: None, table: Some(table) }
    }
}
