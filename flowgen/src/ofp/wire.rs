//! OpenFlow 1.5 on the wire, with the Nicira extensions Open vSwitch (and OVN) rely on.
//!
//! Every message starts with the 8-byte `ofp_header`: version (6 = OpenFlow 1.5), type, total length, xid.
//! Multi-byte integers are big-endian; every variable-length structure (match, action, property) is padded
//! with zeros to a multiple of 8 bytes.
//!
//! A flow becomes an `OFPT_FLOW_MOD`:
//!
//! ```text
//! ofp_header | cookie | cookie_mask | table | command | idle | hard | priority | buffer_id | out_port |
//! out_group | flags | importance | ofp_match{type=OXM, length, TLV...}+pad | instructions...
//! ```
//!
//! The match is a list of OXM/NXM TLVs (see `field.rs` for the two header classes); the instructions are one
//! `OFPIT_APPLY_ACTIONS` holding the action list. Actions are standard OpenFlow 1.5 actions where one exists
//! (`OFPAT_OUTPUT`, `OFPAT_SET_FIELD` — masked in 1.5, so it also carries Nicira's `load` —,
//! `OFPAT_COPY_FIELD` for `move`, `OFPAT_GROUP`, `OFPAT_PUSH_VLAN`, `OFPAT_POP_VLAN`, `OFPAT_DEC_NW_TTL`), and
//! Nicira "experimenter" actions otherwise:
//! type `0xffff`, length, experimenter id `0x00002320`, a 16-bit `NXAST_*` subtype, then the body. Field
//! references inside Nicira actions (`move`, `output:reg`, `ct(zone=reg)`, ...) are bare NXM headers (the TLV
//! header with no value) plus bit offsets.
//!
//! Decoding covers what a controller receives: HELLO, ERROR, ECHO, FEATURES_REPLY, BARRIER_REPLY,
//! BUNDLE_CONTROL replies, OFPT_PACKET_IN and Nicira's NXT_PACKET_IN2 (with the controller action's userdata).

use std::fmt;
use std::net::IpAddr;

use super::action::{Action, Controller, Ct, CtZone, Nat, NatKind, Port, Reason, Subfield};
use super::field::{Code, Field, OXM_BASIC};
use super::matching::{bytes_needed, Match};
use super::{Error, Flow};

/// OpenFlow 1.5's version number.
pub const OFP15_VERSION: u8 = 6;

/// Message types (`OFPT_*`) used here.
pub mod msg {
    /// `OFPT_HELLO`.
    pub const HELLO: u8 = 0;
    /// `OFPT_ERROR`.
    pub const ERROR: u8 = 1;
    /// `OFPT_ECHO_REQUEST`.
    pub const ECHO_REQUEST: u8 = 2;
    /// `OFPT_ECHO_REPLY`.
    pub const ECHO_REPLY: u8 = 3;
    /// `OFPT_EXPERIMENTER`.
    pub const EXPERIMENTER: u8 = 4;
    /// `OFPT_FEATURES_REQUEST`.
    pub const FEATURES_REQUEST: u8 = 5;
    /// `OFPT_FEATURES_REPLY`.
    pub const FEATURES_REPLY: u8 = 6;
    /// `OFPT_SET_CONFIG`.
    pub const SET_CONFIG: u8 = 9;
    /// `OFPT_PACKET_IN`.
    pub const PACKET_IN: u8 = 10;
    /// `OFPT_FLOW_MOD`.
    pub const FLOW_MOD: u8 = 14;
    /// `OFPT_BARRIER_REQUEST`.
    pub const BARRIER_REQUEST: u8 = 20;
    /// `OFPT_BARRIER_REPLY`.
    pub const BARRIER_REPLY: u8 = 21;
    /// `OFPT_BUNDLE_CONTROL`.
    pub const BUNDLE_CONTROL: u8 = 33;
    /// `OFPT_BUNDLE_ADD_MESSAGE`.
    pub const BUNDLE_ADD_MESSAGE: u8 = 34;
}

/// Nicira's experimenter id.
pub const NX_VENDOR_ID: u32 = 0x0000_2320;

/// Nicira action subtypes (`NXAST_*`) we emit.
mod nxast {
    pub const RESUBMIT: u16 = 1;
    pub const NOTE: u16 = 8;
    pub const RESUBMIT_TABLE: u16 = 14;
    pub const OUTPUT_REG: u16 = 15;
    pub const EXIT: u16 = 17;
    pub const STACK_PUSH: u16 = 27;
    pub const STACK_POP: u16 = 28;
    pub const CONJUNCTION: u16 = 34;
    pub const CT: u16 = 35;
    pub const NAT: u16 = 36;
    pub const CONTROLLER2: u16 = 37;
    pub const CLONE: u16 = 42;
    pub const CT_CLEAR: u16 = 43;
    pub const CHECK_PKT_LARGER: u16 = 49;
}

/// Standard action types (`OFPAT_*`).
mod ofpat {
    pub const OUTPUT: u16 = 0;
    pub const PUSH_VLAN: u16 = 17;
    pub const POP_VLAN: u16 = 18;
    pub const GROUP: u16 = 22;
    pub const DEC_NW_TTL: u16 = 24;
    pub const SET_FIELD: u16 = 25;
    pub const COPY_FIELD: u16 = 28;
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// The 8-byte header of every message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Protocol version.
    pub version: u8,
    /// Message type (`OFPT_*`).
    pub kind: u8,
    /// Total length including the header.
    pub length: u16,
    /// Transaction id.
    pub xid: u32,
}

impl Header {
    /// Reads the header at the start of `b`.
    pub fn parse(b: &[u8]) -> Result<Header, Error> {
        if b.len() < 8 {
            return Err(Error::Decode("short header".into()));
        }
        Ok(Header {
            version: b[0],
            kind: b[1],
            length: u16::from_be_bytes([b[2], b[3]]),
            xid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

/// Flow-mod commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// `OFPFC_ADD`: add, replacing an identical match+priority.
    Add,
    /// `OFPFC_MODIFY_STRICT`: change the actions of the flow with this exact match+priority.
    ModifyStrict,
    /// `OFPFC_DELETE`: delete every flow the match covers (in the table, or every table for 255).
    Delete,
    /// `OFPFC_DELETE_STRICT`: delete the flow with this exact match+priority.
    DeleteStrict,
}

impl Command {
    fn code(self) -> u8 {
        match self {
            Command::Add => 0,
            Command::ModifyStrict => 2,
            Command::Delete => 3,
            Command::DeleteStrict => 4,
        }
    }
}

/// `OFPT_BUNDLE_CONTROL` types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleCtrl {
    /// `OFPBCT_OPEN_REQUEST`.
    OpenRequest = 0,
    /// `OFPBCT_OPEN_REPLY`.
    OpenReply = 1,
    /// `OFPBCT_CLOSE_REQUEST`.
    CloseRequest = 2,
    /// `OFPBCT_CLOSE_REPLY`.
    CloseReply = 3,
    /// `OFPBCT_COMMIT_REQUEST`.
    CommitRequest = 4,
    /// `OFPBCT_COMMIT_REPLY`.
    CommitReply = 5,
    /// `OFPBCT_DISCARD_REQUEST`.
    DiscardRequest = 6,
    /// `OFPBCT_DISCARD_REPLY`.
    DiscardReply = 7,
}

impl BundleCtrl {
    fn from_u16(v: u16) -> Option<BundleCtrl> {
        use BundleCtrl::*;
        [OpenRequest, OpenReply, CloseRequest, CloseReply, CommitRequest, CommitReply, DiscardRequest, DiscardReply]
            .into_iter()
            .find(|b| *b as u16 == v)
    }
}

/// Bundle flag: apply all messages or none.
pub const BUNDLE_ATOMIC: u16 = 1;
/// Bundle flag: apply in the order added.
pub const BUNDLE_ORDERED: u16 = 2;

// ---------------------------------------------------------------------------------------------------------
// Writing.

fn put_u16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn put_u64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn pad8(b: &mut Vec<u8>, start: usize) {
    while !(b.len() - start).is_multiple_of(8) {
        b.push(0);
    }
}
/// Writes the 16-bit length of the structure that began at `start`, at `start + at`.
fn patch_len(b: &mut [u8], start: usize, at: usize) -> Result<(), Error> {
    let len = u16::try_from(b.len() - start).map_err(|_| Error::Encode("structure longer than 65535 bytes".into()))?;
    b[start + at..start + at + 2].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

fn header(kind: u8, xid: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    b.extend_from_slice(&[OFP15_VERSION, kind, 0, 0]);
    put_u32(&mut b, xid);
    b
}

fn finish(mut b: Vec<u8>) -> Result<Vec<u8>, Error> {
    patch_len(&mut b, 0, 2)?;
    Ok(b)
}

/// `OFPT_HELLO` offering only OpenFlow 1.5 (a version-bitmap element with bit 6 set).
pub fn hello(xid: u32) -> Vec<u8> {
    let mut b = header(msg::HELLO, xid);
    put_u16(&mut b, 1); // OFPHET_VERSIONBITMAP
    put_u16(&mut b, 8);
    put_u32(&mut b, 1 << OFP15_VERSION);
    b[3] = b.len() as u8;
    b
}

fn simple(kind: u8, xid: u32, body: &[u8]) -> Result<Vec<u8>, Error> {
    let mut b = header(kind, xid);
    b.extend_from_slice(body);
    finish(b)
}

/// `OFPT_ECHO_REQUEST` carrying `data`.
pub fn echo_request(xid: u32, data: &[u8]) -> Result<Vec<u8>, Error> {
    simple(msg::ECHO_REQUEST, xid, data)
}

/// `OFPT_ECHO_REPLY` carrying `data` back.
pub fn echo_reply(xid: u32, data: &[u8]) -> Result<Vec<u8>, Error> {
    simple(msg::ECHO_REPLY, xid, data)
}

/// `OFPT_FEATURES_REQUEST`.
pub fn features_request(xid: u32) -> Vec<u8> {
    let mut b = header(msg::FEATURES_REQUEST, xid);
    b[3] = 8;
    b
}

/// `OFPT_BARRIER_REQUEST`.
pub fn barrier_request(xid: u32) -> Vec<u8> {
    let mut b = header(msg::BARRIER_REQUEST, xid);
    b[3] = 8;
    b
}

/// `OFPT_BUNDLE_CONTROL`.
pub fn bundle_control(xid: u32, bundle_id: u32, kind: BundleCtrl, flags: u16) -> Vec<u8> {
    let mut b = header(msg::BUNDLE_CONTROL, xid);
    put_u32(&mut b, bundle_id);
    put_u16(&mut b, kind as u16);
    put_u16(&mut b, flags);
    b[3] = b.len() as u8;
    b
}

/// `OFPT_BUNDLE_ADD_MESSAGE` wrapping `inner` (a complete message). The wrapper takes the inner message's
/// xid, so an error about either names the same transaction.
pub fn bundle_add(bundle_id: u32, flags: u16, inner: &[u8]) -> Result<Vec<u8>, Error> {
    let xid = Header::parse(inner)?.xid;
    let mut b = header(msg::BUNDLE_ADD_MESSAGE, xid);
    put_u32(&mut b, bundle_id);
    put_u16(&mut b, 0);
    put_u16(&mut b, flags);
    b.extend_from_slice(inner);
    finish(b)
}

/// Nicira `NXT_TLV_TABLE_MOD` (add): maps the tunnel option (`class`, `option_type`, `len` bytes) to the
/// field `tun_metadata<index>`, so flows can match and set it. Geneve options are invisible to flows
/// until mapped; a switch that already has the same mapping answers with an "already mapped" error.
pub fn tlv_table_add(xid: u32, class: u16, option_type: u8, len: u8, index: u16) -> Vec<u8> {
    let mut b = header(msg::EXPERIMENTER, xid);
    put_u32(&mut b, NX_VENDOR_ID);
    put_u32(&mut b, 24); // NXT_TLV_TABLE_MOD
    put_u16(&mut b, 0); // NXTTMC_ADD
    b.extend_from_slice(&[0; 6]);
    put_u16(&mut b, class);
    b.extend_from_slice(&[option_type, len]);
    put_u16(&mut b, index);
    b.extend_from_slice(&[0; 2]);
    let n = b.len() as u16;
    b[2..4].copy_from_slice(&n.to_be_bytes());
    b
}

/// Nicira `NXT_SET_PACKET_IN_FORMAT`: 0 = standard `OFPT_PACKET_IN`, 2 = `NXT_PACKET_IN2` (needed for the
/// userdata and continuation of `controller(...)` actions).
pub fn set_packet_in_format(xid: u32, format: u32) -> Vec<u8> {
    let mut b = header(msg::EXPERIMENTER, xid);
    put_u32(&mut b, NX_VENDOR_ID);
    put_u32(&mut b, 16); // NXT_SET_PACKET_IN_FORMAT
    put_u32(&mut b, format);
    b[3] = b.len() as u8;
    b
}

/// Nicira `NXT_CT_FLUSH_ZONE`: drops every connection-tracking entry of `zone`.
pub fn ct_flush_zone(xid: u32, zone: u16) -> Vec<u8> {
    let mut b = header(msg::EXPERIMENTER, xid);
    put_u32(&mut b, NX_VENDOR_ID);
    put_u32(&mut b, 29); // NXT_CT_FLUSH_ZONE
    b.extend_from_slice(&[0; 6]);
    put_u16(&mut b, zone);
    b[3] = b.len() as u8;
    b
}

/// `OFPT_SET_CONFIG`: fragment handling flags (0 = normal) and `miss_send_len`, the bytes of a packet sent
/// with a table-miss packet-in. Open vSwitch also uses a non-zero `miss_send_len` as a service connection's
/// (e.g. `br0.mgmt`'s) request for asynchronous messages: without it, packet-ins go only to configured
/// controllers.
pub fn set_config(xid: u32, flags: u16, miss_send_len: u16) -> Vec<u8> {
    let mut b = header(msg::SET_CONFIG, xid);
    put_u16(&mut b, flags);
    put_u16(&mut b, miss_send_len);
    b[3] = b.len() as u8;
    b
}

/// `OFPT_FLOW_MOD` for `flow`.
///
/// Add and modify carry the actions; deletes carry none. `Delete` of table 255 deletes in every table.
pub fn flow_mod(xid: u32, command: Command, flow: &Flow) -> Result<Vec<u8>, Error> {
    let mut b = header(msg::FLOW_MOD, xid);
    put_u64(&mut b, flow.cookie);
    put_u64(&mut b, 0); // cookie_mask: deletes do not filter on the cookie
    b.push(flow.table);
    b.push(command.code());
    put_u16(&mut b, 0); // idle_timeout
    put_u16(&mut b, 0); // hard_timeout
    put_u16(&mut b, flow.priority);
    put_u32(&mut b, 0xffff_ffff); // buffer_id: none
    put_u32(&mut b, 0xffff_ffff); // out_port: any
    put_u32(&mut b, 0xffff_ffff); // out_group: any
    put_u16(&mut b, 0); // flags
    put_u16(&mut b, 0); // importance
    encode_match(&flow.matches, &mut b)?;
    if matches!(command, Command::Add | Command::ModifyStrict) && !flow.actions.is_empty() {
        let start = b.len();
        put_u16(&mut b, 4); // OFPIT_APPLY_ACTIONS
        put_u16(&mut b, 0);
        put_u32(&mut b, 0);
        encode_actions(&flow.actions, &mut b)?;
        patch_len(&mut b, start, 2)?;
    }
    finish(b)
}

/// Writes the last `n` bytes of `v`, big-endian (zero-extended beyond 16 bytes).
fn put_value(b: &mut Vec<u8>, v: u128, n: usize) {
    let bytes = v.to_be_bytes();
    if n <= 16 {
        b.extend_from_slice(&bytes[16 - n..]);
    } else {
        b.extend(std::iter::repeat_n(0u8, n - 16));
        b.extend_from_slice(&bytes);
    }
}

/// The TLV header: `class:16 | field:7 | hasmask:1 | length:8`.
fn tlv_header(code: Code, hasmask: bool, len: usize) -> Result<u32, Error> {
    let len = u8::try_from(len).map_err(|_| Error::Encode("OXM payload longer than 255 bytes".into()))?;
    Ok((u32::from(code.class) << 16) | (u32::from(code.field) << 9) | (u32::from(hasmask) << 8) | u32::from(len))
}

/// Value width on the wire for a field; `tun_metadataN` is as long as its value (and mask) need.
fn wire_bytes(field: Field, value: u128, mask: Option<u128>) -> usize {
    match field.def().bytes {
        0 => usize::from(bytes_needed(value).max(mask.map(bytes_needed).unwrap_or(0)).max(1)),
        n => usize::from(n),
    }
}

/// One OXM/NXM TLV: header, value, optional mask.
fn put_oxm(b: &mut Vec<u8>, field: Field, value: u128, mask: Option<u128>) -> Result<(), Error> {
    let code = field.code().ok_or_else(|| Error::Encode(format!("{field} has no code point")))?;
    let n = wire_bytes(field, value, mask);
    put_u32(b, tlv_header(code, mask.is_some(), if mask.is_some() { 2 * n } else { n })?);
    put_value(b, value, n);
    if let Some(m) = mask {
        put_value(b, m, n);
    }
    Ok(())
}

/// Appends an `ofp_match` (type `OFPMT_OXM`) with its padding.
///
/// Prerequisites first (`eth_type`, then `nw_proto`), then the rest in table order, so that every field's
/// prerequisites precede it as OXM asks.
pub fn encode_match(m: &Match, b: &mut Vec<u8>) -> Result<(), Error> {
    let start = b.len();
    put_u16(b, 1); // OFPMT_OXM
    put_u16(b, 0);
    let mut entries: Vec<(Field, super::Masked)> = m.iter().collect();
    entries.sort_by_key(|(f, _)| match f {
        Field::EthType => (0, f.rank()),
        Field::IpProto => (1, f.rank()),
        _ => (2, f.rank()),
    });
    for (field, mv) in entries {
        if !field.is_valid() {
            return Err(Error::BadField(format!("{field:?}")));
        }
        let mask = (!m.is_exact(field, &mv)).then_some(mv.mask);
        put_oxm(b, field, mv.value, mask)?;
    }
    patch_len(b, start, 2)?;
    pad8(b, start);
    Ok(())
}

/// Appends an action list.
pub fn encode_actions(actions: &[Action], b: &mut Vec<u8>) -> Result<(), Error> {
    for a in actions {
        encode_action(a, b)?;
    }
    Ok(())
}

/// The bare NXM header naming a field in a Nicira action (no value follows).
fn nxm_ref(field: Field) -> Result<u32, Error> {
    let code = field.nxm_code().ok_or_else(|| Error::Encode(format!("{field} has no code point")))?;
    let n = match field.def().bytes {
        0 => 124,
        n => usize::from(n),
    };
    tlv_header(code, false, n)
}

/// `ofs << 6 | (n_bits - 1)`, Nicira's packed subfield position.
fn ofs_nbits(sf: &Subfield) -> Result<u16, Error> {
    sf.check()?;
    if sf.ofs >= 1024 || sf.n_bits > 64 {
        return Err(Error::Encode(format!("{sf} cannot be encoded in ofs_nbits")));
    }
    Ok((sf.ofs << 6) | (sf.n_bits - 1))
}

/// Starts a Nicira action; returns its start offset (finish with [`end_action`]).
fn nx_action(b: &mut Vec<u8>, subtype: u16) -> usize {
    let start = b.len();
    put_u16(b, ofpat::EXPERIMENTER);
    put_u16(b, 0);
    put_u32(b, NX_VENDOR_ID);
    put_u16(b, subtype);
    start
}

fn std_action(b: &mut Vec<u8>, kind: u16) -> usize {
    let start = b.len();
    put_u16(b, kind);
    put_u16(b, 0);
    start
}

/// Pads an action to 8 bytes and writes its length.
fn end_action(b: &mut Vec<u8>, start: usize) -> Result<(), Error> {
    pad8(b, start);
    patch_len(b, start, 2)
}

fn encode_action(a: &Action, b: &mut Vec<u8>) -> Result<(), Error> {
    match a {
        Action::Output(p) => {
            let s = std_action(b, ofpat::OUTPUT);
            put_u32(b, p.to_of11());
            put_u16(b, u16::MAX); // max_len: only meaningful for CONTROLLER
            end_action(b, s)
        }
        Action::OutputReg(sf) => {
            let s = nx_action(b, nxast::OUTPUT_REG);
            put_u16(b, ofs_nbits(sf)?);
            put_u32(b, nxm_ref(sf.field)?);
            put_u16(b, u16::MAX);
            end_action(b, s)
        }
        Action::Controller(c) if c.is_plain() => {
            let s = std_action(b, ofpat::OUTPUT);
            put_u32(b, Port::CONTROLLER.to_of11());
            put_u16(b, c.max_len);
            end_action(b, s)
        }
        Action::Controller(c) => encode_controller(c, b),
        Action::Resubmit { port, table } => {
            let port = port.unwrap_or(Port::IN_PORT);
            match table {
                None => {
                    let s = nx_action(b, nxast::RESUBMIT);
                    put_u16(b, port.0);
                    end_action(b, s)
                }
                Some(t) => {
                    let s = nx_action(b, nxast::RESUBMIT_TABLE);
                    put_u16(b, port.0);
                    b.push(*t);
                    end_action(b, s)
                }
            }
        }
        Action::SetField { field, value, mask } => {
            let s = std_action(b, ofpat::SET_FIELD);
            put_oxm(b, *field, *value, *mask)?;
            end_action(b, s)
        }
        Action::Move { src, dst } => {
            src.check()?;
            dst.check()?;
            if src.n_bits != dst.n_bits {
                return Err(Error::Encode(format!("move:{src}->{dst}: widths differ")));
            }
            // OpenFlow 1.5's OFPAT_COPY_FIELD: n_bits, src_offset, dst_offset, 2 pad bytes, the two field
            // headers. (Open vSwitch refuses Nicira's NXAST_REG_MOVE in 1.5 with OFPBAC_BAD_EXP_TYPE.)
            let s = std_action(b, ofpat::COPY_FIELD);
            put_u16(b, src.n_bits);
            put_u16(b, src.ofs);
            put_u16(b, dst.ofs);
            put_u16(b, 0);
            put_u32(b, nxm_ref(src.field)?);
            put_u32(b, nxm_ref(dst.field)?);
            end_action(b, s)
        }
        Action::Push(sf) | Action::Pop(sf) => {
            sf.check()?;
            let s = nx_action(b, if matches!(a, Action::Push(_)) { nxast::STACK_PUSH } else { nxast::STACK_POP });
            put_u16(b, sf.ofs);
            put_u32(b, nxm_ref(sf.field)?);
            put_u16(b, sf.n_bits);
            end_action(b, s)
        }
        Action::Ct(ct) => encode_ct(ct, b),
        Action::Nat(nat) => encode_nat(nat, b),
        Action::CtClear => {
            let s = nx_action(b, nxast::CT_CLEAR);
            end_action(b, s)
        }
        Action::Conjunction { id, clause, n_clauses } => {
            if *clause == 0 || clause > n_clauses {
                return Err(Error::Encode(format!("conjunction clause {clause}/{n_clauses}")));
            }
            let s = nx_action(b, nxast::CONJUNCTION);
            b.push(clause - 1);
            b.push(*n_clauses);
            put_u32(b, *id);
            end_action(b, s)
        }
        Action::Clone(inner) => {
            let s = nx_action(b, nxast::CLONE);
            b.extend_from_slice(&[0; 6]);
            encode_actions(inner, b)?;
            end_action(b, s)
        }
        Action::DecTtl => {
            let s = std_action(b, ofpat::DEC_NW_TTL);
            end_action(b, s)
        }
        Action::Note(bytes) => {
            let s = nx_action(b, nxast::NOTE);
            b.extend_from_slice(bytes);
            if b.len() - s < 16 {
                b.resize(s + 16, 0);
            }
            end_action(b, s)
        }
        Action::Group(g) => {
            let s = std_action(b, ofpat::GROUP);
            put_u32(b, *g);
            end_action(b, s)
        }
        Action::PushVlan(tpid) => {
            let s = std_action(b, ofpat::PUSH_VLAN);
            put_u16(b, *tpid);
            end_action(b, s)
        }
        Action::PopVlan => {
            let s = std_action(b, ofpat::POP_VLAN);
            put_u32(b, 0);
            end_action(b, s)
        }
        Action::CheckPktLarger { len, dst } => {
            dst.check()?;
            let s = nx_action(b, nxast::CHECK_PKT_LARGER);
            put_u16(b, *len);
            put_u16(b, dst.ofs);
            put_u32(b, nxm_ref(dst.field)?);
            end_action(b, s)
        }
        Action::Exit => {
            let s = nx_action(b, nxast::EXIT);
            end_action(b, s)
        }
    }
}

/// `NXAST_CONTROLLER2`: 6 bytes of padding, then properties (type, length, value, padded to 8).
fn encode_controller(c: &Controller, b: &mut Vec<u8>) -> Result<(), Error> {
    let s = nx_action(b, nxast::CONTROLLER2);
    b.extend_from_slice(&[0; 6]);
    let prop = |b: &mut Vec<u8>, kind: u16, value: &[u8]| -> Result<(), Error> {
        let ps = b.len();
        put_u16(b, kind);
        put_u16(b, 0);
        b.extend_from_slice(value);
        patch_len(b, ps, 2)?;
        pad8(b, ps);
        Ok(())
    };
    if c.max_len != u16::MAX {
        prop(b, 0, &c.max_len.to_be_bytes())?;
    }
    if c.id != 0 {
        prop(b, 1, &c.id.to_be_bytes())?;
    }
    if c.reason != Reason::Action {
        prop(b, 2, &[c.reason.code()])?;
    }
    if !c.userdata.is_empty() {
        prop(b, 3, &c.userdata)?;
    }
    if c.pause {
        prop(b, 4, &[])?;
    }
    if let Some(m) = c.meter_id {
        prop(b, 5, &m.to_be_bytes())?;
    }
    end_action(b, s)
}

/// `NXAST_CT`: flags, zone source (NXM header or 0), zone (immediate or ofs_nbits), recirculation table,
/// 3 pad bytes, ALG port, then the nested actions (`nat`, `exec` ones).
fn encode_ct(ct: &Ct, b: &mut Vec<u8>) -> Result<(), Error> {
    let s = nx_action(b, nxast::CT);
    put_u16(b, u16::from(ct.commit) | (u16::from(ct.force) << 1));
    match &ct.zone {
        None => {
            put_u32(b, 0);
            put_u16(b, 0);
        }
        Some(CtZone::Imm(z)) => {
            put_u32(b, 0);
            put_u16(b, *z);
        }
        Some(CtZone::Field(sf)) => {
            put_u32(b, nxm_ref(sf.field)?);
            put_u16(b, ofs_nbits(sf)?);
        }
    }
    b.push(ct.table.unwrap_or(0xff));
    b.extend_from_slice(&[0; 3]);
    put_u16(b, ct.alg.unwrap_or(0));
    encode_actions(&ct.actions, b)?;
    end_action(b, s)
}

/// `NXAST_NAT`: 2 pad bytes, flags, which range parts are present, then the present parts in the order
/// IPv4 min, IPv4 max, IPv6 min, IPv6 max, port min, port max.
fn encode_nat(n: &Nat, b: &mut Vec<u8>) -> Result<(), Error> {
    let s = nx_action(b, nxast::NAT);
    put_u16(b, 0);
    let mut flags = 0u16;
    match n.kind {
        Some(NatKind::Src) => flags |= 0x01,
        Some(NatKind::Dst) => flags |= 0x02,
        None => {}
    }
    if n.persistent {
        flags |= 0x04;
    }
    if n.hash {
        flags |= 0x08;
    }
    if n.random {
        flags |= 0x10;
    }
    put_u16(b, flags);
    let mut present = 0u16;
    let mut body = Vec::new();
    if let Some((min, max)) = n.addrs {
        let (bit_min, bit_max) = if min.is_ipv4() { (0x01, 0x02) } else { (0x04, 0x08) };
        for (i, a) in [Some(min), max].into_iter().enumerate() {
            let Some(a) = a else { continue };
            present |= if i == 0 { bit_min } else { bit_max };
            match a {
                IpAddr::V4(v4) => body.extend_from_slice(&v4.octets()),
                IpAddr::V6(v6) => body.extend_from_slice(&v6.octets()),
            }
        }
    }
    if let Some((min, max)) = n.ports {
        present |= 0x10;
        body.extend_from_slice(&min.to_be_bytes());
        if let Some(max) = max {
            present |= 0x20;
            body.extend_from_slice(&max.to_be_bytes());
        }
    }
    put_u16(b, present);
    b.extend_from_slice(&body);
    end_action(b, s)
}

// ---------------------------------------------------------------------------------------------------------
// Reading.

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b, pos: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.b.len()).ok_or_else(|| Error::Decode("truncated message".into()))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Error> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, Error> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, Error> {
        Ok((u64::from(self.u32()?) << 32) | u64::from(self.u32()?))
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = &self.b[self.pos.min(self.b.len())..];
        self.pos = self.b.len();
        s
    }
    fn remaining(&self) -> usize {
        self.b.len().saturating_sub(self.pos)
    }
}

/// An `OFPT_ERROR` from the switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfError {
    /// `OFPET_*` (0xffff = experimenter).
    pub kind: u16,
    /// The code within the type (the experimenter's code for experimenter errors).
    pub code: u16,
    /// Experimenter id for experimenter errors (Nicira = 0x2320).
    pub experimenter: Option<u32>,
    /// The start of the failing request (at least its header).
    pub data: Vec<u8>,
}

impl OfError {
    /// The xid of the request that failed, from the copy of it in `data`.
    pub fn failed_xid(&self) -> Option<u32> {
        Header::parse(&self.data).ok().map(|h| h.xid)
    }

    /// The message type of the request that failed.
    pub fn failed_type(&self) -> Option<u8> {
        Header::parse(&self.data).ok().map(|h| h.kind)
    }

    /// `OFPBAC_BAD_OUT_GROUP`-style name, when known.
    pub fn name(&self) -> String {
        if let Some(e) = self.experimenter {
            return format!("experimenter {e:#x} error {}", self.code);
        }
        let Some((_, tname, prefix, codes)) = ERROR_NAMES.iter().find(|e| e.0 == self.kind) else {
            return format!("error type {} code {}", self.kind, self.code);
        };
        match codes.get(usize::from(self.code)) {
            Some(c) => format!("{prefix}_{c}"),
            None => format!("{tname} code {}", self.code),
        }
    }
}

impl fmt::Display for OfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (type {}, code {})", self.name(), self.kind, self.code)
    }
}

/// Error type numbers, names, code prefixes and codes (OpenFlow 1.5 section 7.5.4).
#[rustfmt::skip]
const ERROR_NAMES: &[(u16, &str, &str, &[&str])] = &[
    (0, "OFPET_HELLO_FAILED", "OFPHFC", &["INCOMPATIBLE", "EPERM"]),
    (1, "OFPET_BAD_REQUEST", "OFPBRC", &["BAD_VERSION", "BAD_TYPE", "BAD_MULTIPART", "BAD_EXPERIMENTER", "BAD_EXP_TYPE", "EPERM",
        "BAD_LEN", "BUFFER_EMPTY", "BUFFER_UNKNOWN", "BAD_TABLE_ID", "IS_SLAVE", "BAD_PORT", "BAD_PACKET", "MULTIPART_BUFFER_OVERFLOW",
        "MULTIPART_REQUEST_TIMEOUT", "MULTIPART_REPLY_TIMEOUT", "MULTIPART_BAD_SCHED", "MULTIPART_BAD_CONFIG", "MULTIPART_BAD_BUNDLE"]),
    (2, "OFPET_BAD_ACTION", "OFPBAC", &["BAD_TYPE", "BAD_LEN", "BAD_EXPERIMENTER", "BAD_EXP_TYPE", "BAD_OUT_PORT", "BAD_ARGUMENT",
        "EPERM", "TOO_MANY", "BAD_QUEUE", "BAD_OUT_GROUP", "MATCH_INCONSISTENT", "UNSUPPORTED_ORDER", "BAD_TAG", "BAD_SET_TYPE",
        "BAD_SET_LEN", "BAD_SET_ARGUMENT", "BAD_SET_MASK"]),
    (3, "OFPET_BAD_INSTRUCTION", "OFPBIC", &["UNKNOWN_INST", "UNSUP_INST", "BAD_TABLE_ID", "UNSUP_METADATA", "UNSUP_METADATA_MASK",
        "BAD_EXPERIMENTER", "BAD_EXP_TYPE", "BAD_LEN", "EPERM", "DUP_INST"]),
    (4, "OFPET_BAD_MATCH", "OFPBMC", &["BAD_TYPE", "BAD_LEN", "BAD_TAG", "BAD_DL_ADDR_MASK", "BAD_NW_ADDR_MASK", "BAD_WILDCARDS",
        "BAD_FIELD", "BAD_VALUE", "BAD_MASK", "BAD_PREREQ", "DUP_FIELD", "EPERM"]),
    (5, "OFPET_FLOW_MOD_FAILED", "OFPFMFC", &["UNKNOWN", "TABLE_FULL", "BAD_TABLE_ID", "OVERLAP", "EPERM", "BAD_TIMEOUT",
        "BAD_COMMAND", "BAD_FLAGS", "CANT_SYNC", "BAD_PRIORITY", "IS_SYNC"]),
    (6, "OFPET_GROUP_MOD_FAILED", "OFPGMFC", &[]),
    (7, "OFPET_PORT_MOD_FAILED", "OFPPMFC", &[]),
    (8, "OFPET_TABLE_MOD_FAILED", "OFPTMFC", &[]),
    (9, "OFPET_QUEUE_OP_FAILED", "OFPQOFC", &[]),
    (10, "OFPET_SWITCH_CONFIG_FAILED", "OFPSCFC", &[]),
    (11, "OFPET_ROLE_REQUEST_FAILED", "OFPRRFC", &[]),
    (12, "OFPET_METER_MOD_FAILED", "OFPMMFC", &[]),
    (13, "OFPET_TABLE_FEATURES_FAILED", "OFPTFFC", &[]),
    (14, "OFPET_BAD_PROPERTY", "OFPBPC", &[]),
    (15, "OFPET_ASYNC_CONFIG_FAILED", "OFPACFC", &[]),
    (16, "OFPET_FLOW_MONITOR_FAILED", "OFPMOFC", &[]),
    (17, "OFPET_BUNDLE_FAILED", "OFPBFC", &["UNKNOWN", "EPERM", "BAD_ID", "BUNDLE_EXIST", "BUNDLE_CLOSED", "OUT_OF_BUNDLES",
        "BAD_TYPE", "BAD_FLAGS", "MSG_BAD_LEN", "MSG_BAD_XID", "MSG_UNSUP", "MSG_CONFLICT", "MSG_TOO_MANY", "MSG_FAILED", "TIMEOUT",
        "BUNDLE_IN_PROGRESS"]),
];

/// `OFPT_FEATURES_REPLY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// Datapath id.
    pub datapath_id: u64,
    /// Packets the switch can buffer.
    pub n_buffers: u32,
    /// Number of flow tables.
    pub n_tables: u8,
    /// `OFPC_*` capability bits.
    pub capabilities: u32,
}

/// A packet sent to the controller (`OFPT_PACKET_IN` or Nicira `NXT_PACKET_IN2`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PacketIn {
    /// The packet (possibly truncated to the action's `max_len`).
    pub packet: Vec<u8>,
    /// Length of the whole packet, when it was truncated.
    pub full_len: Option<u32>,
    /// Buffer id, if the switch buffered it.
    pub buffer_id: Option<u32>,
    /// Table of the flow that sent it.
    pub table_id: Option<u8>,
    /// Cookie of the flow that sent it.
    pub cookie: Option<u64>,
    /// Why (`OFPR_*`).
    pub reason: Option<Reason>,
    /// Pipeline metadata (in_port, registers, ...), as a match.
    pub metadata: Match,
    /// The `controller(userdata=...)` bytes.
    pub userdata: Option<Vec<u8>>,
    /// Opaque continuation of a paused pipeline (`controller(pause)`), to send back to resume it.
    pub continuation: Option<Vec<u8>>,
}

/// A decoded message from the switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// `OFPT_HELLO` with the version bitmap it offered (0 when it sent none).
    Hello {
        /// Bit N set = version N offered.
        versions: u32,
    },
    /// `OFPT_ERROR`.
    Error(OfError),
    /// `OFPT_ECHO_REQUEST`.
    EchoRequest(Vec<u8>),
    /// `OFPT_ECHO_REPLY`.
    EchoReply(Vec<u8>),
    /// `OFPT_FEATURES_REPLY`.
    FeaturesReply(Features),
    /// `OFPT_BARRIER_REPLY`.
    BarrierReply,
    /// `OFPT_BUNDLE_CONTROL` (a reply).
    BundleControl {
        /// Bundle id.
        bundle_id: u32,
        /// What kind of reply.
        kind: BundleCtrl,
        /// Flags.
        flags: u16,
    },
    /// A packet for the controller.
    PacketIn(PacketIn),
    /// Anything else (port status, multipart replies, ...), by type.
    Other {
        /// `OFPT_*`.
        kind: u8,
    },
}

/// Decodes one complete message (header included).
pub fn decode(b: &[u8]) -> Result<(Header, Message), Error> {
    let h = Header::parse(b)?;
    if usize::from(h.length) != b.len() || h.length < 8 {
        return Err(Error::Decode(format!("length field {} but {} bytes", h.length, b.len())));
    }
    let mut r = Reader::new(&b[8..]);
    let m = match h.kind {
        msg::HELLO => {
            let mut versions = 0;
            while r.remaining() >= 4 {
                let (t, len) = (r.u16()?, r.u16()?);
                let body = r.take(usize::from(len.max(4)) - 4)?;
                if t == 1 && body.len() >= 4 {
                    versions = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                }
                let pad = (8 - usize::from(len) % 8) % 8;
                r.take(pad.min(r.remaining()))?;
            }
            Message::Hello { versions }
        }
        msg::ERROR => {
            let kind = r.u16()?;
            let code = r.u16()?;
            if kind == 0xffff {
                let experimenter = r.u32()?;
                Message::Error(OfError { kind, code, experimenter: Some(experimenter), data: r.rest().to_vec() })
            } else {
                Message::Error(OfError { kind, code, experimenter: None, data: r.rest().to_vec() })
            }
        }
        msg::ECHO_REQUEST => Message::EchoRequest(r.rest().to_vec()),
        msg::ECHO_REPLY => Message::EchoReply(r.rest().to_vec()),
        msg::FEATURES_REPLY => {
            let datapath_id = r.u64()?;
            let n_buffers = r.u32()?;
            let n_tables = r.u8()?;
            r.take(3)?; // auxiliary_id, pad
            let capabilities = r.u32()?;
            Message::FeaturesReply(Features { datapath_id, n_buffers, n_tables, capabilities })
        }
        msg::BARRIER_REPLY => Message::BarrierReply,
        msg::BUNDLE_CONTROL => {
            let bundle_id = r.u32()?;
            let kind = BundleCtrl::from_u16(r.u16()?).ok_or_else(|| Error::Decode("bad bundle control type".into()))?;
            let flags = r.u16()?;
            Message::BundleControl { bundle_id, kind, flags }
        }
        msg::PACKET_IN => Message::PacketIn(decode_packet_in(&mut r)?),
        msg::EXPERIMENTER => {
            let vendor = r.u32()?;
            let subtype = r.u32()?;
            if vendor == NX_VENDOR_ID && subtype == 30 {
                Message::PacketIn(decode_packet_in2(&mut r)?)
            } else {
                Message::Other { kind: h.kind }
            }
        }
        kind => Message::Other { kind },
    };
    Ok((h, m))
}

/// `OFPT_PACKET_IN`: buffer_id, total_len, reason, table_id, cookie, ofp_match (padded), 2 pad bytes, data.
fn decode_packet_in(r: &mut Reader<'_>) -> Result<PacketIn, Error> {
    let buffer_id = r.u32()?;
    let total_len = r.u16()?;
    let reason = r.u8()?;
    let table_id = r.u8()?;
    let cookie = r.u64()?;
    let _match_type = r.u16()?;
    let match_len = usize::from(r.u16()?);
    let tlvs = r.take(match_len.saturating_sub(4))?;
    let pad = (8 - match_len % 8) % 8;
    r.take(pad)?;
    r.take(2)?;
    Ok(PacketIn {
        packet: r.rest().to_vec(),
        full_len: Some(u32::from(total_len)),
        buffer_id: (buffer_id != 0xffff_ffff).then_some(buffer_id),
        table_id: Some(table_id),
        cookie: Some(cookie),
        reason: Reason::from_code(reason),
        metadata: decode_oxms(tlvs)?,
        userdata: None,
        continuation: None,
    })
}

/// `NXT_PACKET_IN2`: a list of properties (type, length, value, padded to 8).
fn decode_packet_in2(r: &mut Reader<'_>) -> Result<PacketIn, Error> {
    let mut p = PacketIn::default();
    while r.remaining() >= 4 {
        let kind = r.u16()?;
        let len = usize::from(r.u16()?);
        if len < 4 {
            return Err(Error::Decode("packet-in property shorter than its header".into()));
        }
        let body = r.take(len - 4)?;
        r.take(((8 - len % 8) % 8).min(r.remaining()))?;
        let be = |n: usize| -> Result<u64, Error> {
            // 64-bit properties carry 4 pad bytes before the value.
            let v = if n == 8 && body.len() == 12 { &body[4..] } else { body };
            if v.len() != n {
                return Err(Error::Decode(format!("packet-in property {kind} has length {len}")));
            }
            Ok(v.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
        };
        match kind {
            0 => p.packet = body.to_vec(),
            1 => p.full_len = Some(be(4)? as u32),
            2 => p.buffer_id = Some(be(4)? as u32),
            3 => p.table_id = Some(be(1)? as u8),
            4 => p.cookie = Some(be(8)?),
            5 => p.reason = Reason::from_code(be(1)? as u8),
            6 => p.metadata = decode_oxms(body)?,
            7 => p.userdata = Some(body.to_vec()),
            8 => p.continuation = Some(body.to_vec()),
            _ => {}
        }
    }
    Ok(p)
}

/// Reads OXM/NXM TLVs into a match. Fields outside our table are skipped; OpenFlow 1.1+'s 32-bit
/// `OXM_OF_IN_PORT` becomes `in_port`.
pub fn decode_oxms(b: &[u8]) -> Result<Match, Error> {
    let mut r = Reader::new(b);
    let mut m = Match::new();
    while r.remaining() >= 4 {
        let h = r.u32()?;
        let class = (h >> 16) as u16;
        let field = ((h >> 9) & 0x7f) as u8;
        let hasmask = h & 0x100 != 0;
        let len = (h & 0xff) as usize;
        if class == 0xffff {
            r.take(len)?; // experimenter OXM: id + payload; none of ours
            continue;
        }
        let payload = r.take(len)?;
        let n = if hasmask { len / 2 } else { len };
        let num = |s: &[u8]| s.iter().fold(0u128, |acc, x| (acc << 8) | u128::from(*x));
        if n > 16 {
            continue;
        }
        let value = num(&payload[..n]);
        let mask = hasmask.then(|| num(&payload[n..]));
        let code = Code { class, field };
        if class == OXM_BASIC && field == 0 {
            let port = value as u32;
            let port = if port >= 0xffff_ff00 { port & 0xffff } else { port };
            m.set(Field::InPort, u128::from(port as u16))?;
            continue;
        }
        let Some(f) = Field::from_code(code) else { continue };
        let full = f.full_mask();
        m.set_masked(f, value & full, mask.unwrap_or(full) & full)?;
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofp::matching::Proto;

    fn h(s: &str) -> Vec<u8> {
        // Hex digits, with `# comments` up to the end of a line.
        let s: String = s.lines().flat_map(|l| l.split('#').next().unwrap_or("").chars()).filter(|c| c.is_ascii_hexdigit()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn acts(s: &str) -> Vec<u8> {
        let mut b = Vec::new();
        encode_actions(&crate::ofp::parse::parse_actions(s).unwrap(), &mut b).unwrap();
        b
    }

    #[test]
    fn hello_offers_only_1_5() {
        assert_eq!(hello(1), h("06 00 0010 00000001  0001 0008 00000040"));
    }

    #[test]
    fn ct_flush_zone_layout() {
        // Experimenter header (Nicira, subtype 29), then six zero bytes and the zone (as `ovs-ofctl ofp-print`
        // decodes it: NXT_CT_FLUSH_ZONE zone_id=4660).
        assert_eq!(ct_flush_zone(9, 0x1234), h("06 04 0018 00000009  00002320 0000001d  000000000000 1234"));
    }

    #[test]
    fn flow_mod_layout() {
        // OpenFlow 1.5 flow mod: 48 fixed bytes (header included), then the match, then instructions.
        let flow: Flow = "table=3,priority=5,tun_metadata0=0x1/0xff00,reg3=0x5 actions=drop".parse().unwrap();
        let b = flow_mod(6, Command::Add, &flow).unwrap();
        assert_eq!(&b[..8], &h("06 0e 0048 00000006")[..]);
        assert_eq!(&b[8..48], &h("0000000000000000 0000000000000000 03 00 0000 0000 0005 ffffffff ffffffff ffffffff 0000 0000")[..]);
        // reg3 (NXM_NX_REG3 = class 1, field 3, 4 bytes) precedes tun_metadata0 (field 40) in table order;
        // tun_metadata0's TLV is as long as its value and mask need: 2 bytes each.
        assert_eq!(&b[48..], &h("0001 0014  00010604 00000005  00015104 0000 ff00  00000000")[..]);
    }

    #[test]
    fn matches_use_oxm_where_it_exists() {
        let m = Match::proto(Proto::Tcp).with(Field::TcpDst, 80).with(Field::EthSrc, 1).with(Field::Metadata, 1).with(Field::Reg(14), 2);
        let mut b = Vec::new();
        encode_match(&m, &mut b).unwrap();
        assert_eq!(
            b,
            h("0001 0033
               80000a02 0800                      # eth_type (prerequisite first)
               80001401 06                        # ip_proto
               00011c04 00000002                  # reg14 (NXM_NX: no OXM code)
               80000408 0000000000000001          # metadata (OXM)
               80000806 000000000001              # eth_src (OXM)
               80001c02 0050                      # tcp_dst (OXM)
               0000000000")
        );
    }

    #[test]
    fn nicira_actions_layout() {
        assert_eq!(acts("resubmit(,9)"), h("ffff 0010 00002320 000e fff8 09 000000"));
        assert_eq!(acts("resubmit:3"), h("ffff 0010 00002320 0001 0003 00000000"));
        assert_eq!(acts("conjunction(7,2/3)"), h("ffff 0010 00002320 0022 01 03 00000007"));
        assert_eq!(acts("ct_clear"), h("ffff 0010 00002320 002b 000000000000"));
        assert_eq!(
            acts("ct(commit,zone=NXM_NX_REG13[0..15],nat(src=192.168.100.101))"),
            h("ffff 0030 00002320 0023 0001 00011a04 000f ff 000000 0000
               ffff 0018 00002320 0024 0000 0001 0001 c0a86465 00000000")
        );
        assert_eq!(
            acts("ct(commit,nat(dst=10.0.0.1-10.0.0.5:80-90,random))"),
            h("ffff 0038 00002320 0023 0001 00000000 0000 ff 000000 0000
               ffff 0020 00002320 0024 0000 0012 0033 0a000001 0a000005 0050 005a 00000000")
        );
        assert_eq!(
            acts("controller(userdata=00.00.00.01,pause)"),
            h("ffff 0020 00002320 0025 000000000000  0003 0008 00000001  0004 0004 00000000")
        );
        assert_eq!(acts("note:01.02.03.04.05.06"), h("ffff 0010 00002320 0008 010203040506"));
        assert_eq!(acts("output:NXM_NX_REG15[]"), h("ffff 0018 00002320 000f 001f 00011e04 ffff 000000000000"));
    }

    #[test]
    fn standard_actions_layout() {
        assert_eq!(acts("output:1"), h("0000 0010 00000001 ffff 000000000000"));
        assert_eq!(acts("LOCAL"), h("0000 0010 fffffffe ffff 000000000000"));
        assert_eq!(acts("set_field:00:00:00:00:00:01->eth_src"), h("0019 0010 80000806 000000000001 0000"));
        assert_eq!(acts("load:1->NXM_NX_REG5[31]"), h("0019 0010 00010b08 80000000 80000000"));
        assert_eq!(acts("set_field:0x5->reg0"), h("0019 0010 00010004 00000005 00000000"));
        assert_eq!(acts("dec_ttl"), h("0018 0008 00000000"));
        // move is OpenFlow 1.5's OFPAT_COPY_FIELD: n_bits, src_offset, dst_offset, pad, two field headers, pad.
        assert_eq!(acts("move:NXM_NX_REG14[]->NXM_NX_REG15[]"), h("001c 0018 0020 0000 0000 0000 00011c04 00011e04 00000000"));
        assert_eq!(acts("group:1"), h("0016 0008 00000001"));
        assert_eq!(acts("push_vlan:0x8100,pop_vlan"), h("0011 0008 8100 0000 0012 0008 00000000"));
    }

    #[test]
    fn bundle_messages() {
        assert_eq!(
            bundle_control(7, 1, BundleCtrl::OpenRequest, BUNDLE_ATOMIC | BUNDLE_ORDERED),
            h("06 21 0010 00000007 00000001 0000 0003")
        );
        let inner = barrier_request(9);
        assert_eq!(bundle_add(1, 3, &inner).unwrap(), h("06 22 0018 00000009 00000001 0000 0003 06 14 0008 00000009"));
    }

    #[test]
    fn decodes_errors_and_replies() {
        let (hd, m) = decode(&h("06 01 0018 00000006 0002 0009 06 0e 0050 00000006 00000000")).unwrap();
        assert_eq!(hd.xid, 6);
        let Message::Error(e) = m else { panic!("{m:?}") };
        assert_eq!(e.name(), "OFPBAC_BAD_OUT_GROUP");
        assert_eq!(e.failed_xid(), Some(6));
        assert_eq!(e.failed_type(), Some(msg::FLOW_MOD));
        let (_, m) = decode(&h("06 00 0010 0000014a 0001 0008 00000052")).unwrap();
        assert_eq!(m, Message::Hello { versions: 0x52 });
        let (_, m) = decode(&h("06 21 0010 00000007 00000001 0005 0003")).unwrap();
        assert_eq!(m, Message::BundleControl { bundle_id: 1, kind: BundleCtrl::CommitReply, flags: 3 });
        assert!(decode(&h("06 00 0020 00000001")).is_err());
    }

    #[test]
    fn decodes_openflow_packet_in() {
        let b = h("06 0a 002e 00000000  ffffffff 0004 01 03 0000000000000005
                   0001 000c 80000004 fffffffe 00000000  0000  deadbeef");
        let (_, m) = decode(&b).unwrap();
        let Message::PacketIn(p) = m else { panic!("{m:?}") };
        assert_eq!(p.packet, vec![0xde, 0xad, 0xbe, 0xef]);
        assert_eq!((p.table_id, p.cookie, p.reason, p.buffer_id), (Some(3), Some(5), Some(Reason::Action), None));
        assert_eq!(p.metadata.exact(Field::InPort), Some(0xfffe), "OpenFlow 1.1 LOCAL maps to in_port=LOCAL");
    }

    #[test]
    fn decodes_packet_in2() {
        let b = h("06 04 0048 00000000 00002320 0000001e
                   0000 0008 01020304
                   0003 0005 07 000000
                   0006 000c 00011c04 00000002 00000000
                   0007 0006 0a0b 0000
                   0004 0010 00000000 0000000000000009");
        let (_, m) = decode(&b).unwrap();
        let Message::PacketIn(p) = m else { panic!("{m:?}") };
        assert_eq!(p.packet, vec![1, 2, 3, 4]);
        assert_eq!(p.table_id, Some(7));
        assert_eq!(p.userdata, Some(vec![10, 11]));
        assert_eq!(p.cookie, Some(9));
        assert_eq!(p.metadata.exact(Field::Reg(14)), Some(2));
    }
}
