//! Logical actions to OpenFlow actions.
//!
//! Most actions map one to one (`next` is a resubmit to the next table, `ip.ttl--` is `dec_ttl`,
//! assignments are loads and moves, `a <-> b` goes through the action stack). Three kinds need the rest of
//! the switch:
//! - connection tracking (`ct_next`, `ct_commit`, `ct_dnat`, `ct_snat`, ...) uses the zones the controller
//!   loads into registers: a switch's in `reg13`, a router's DNAT and SNAT zones in `reg11` and `reg12`;
//!   the actions that recirculate continue in the next logical table, and nothing after them runs;
//! - lookups (`get_arp`, `lookup_arp`, `get_fdb`, `check_in_port_sec`, ...) resubmit to tables the controller
//!   fills ([`crate::layout`]) after moving their arguments into the registers those tables match, and
//!   restore the registers afterwards;
//! - actions that build packets or learn things (`arp { ... }`, `put_arp`, `icmp4 { ... }`, ...) send the
//!   packet to the controller with `userdata` = an [`Opcode`] (4 bytes, big-endian), 4 zero bytes, and the
//!   nested actions in OpenFlow 1.5 wire form for the controller to run on the packet it builds.

use crate::actions::{Action, Actions, Arg, Rhs};
use crate::expr::ast::{FieldRef, Value};
use crate::expr::compile::{field_bits, CompileError, Lookup};
use crate::expr::symtab::{flag, REG_CT_ZONE, REG_DNAT_ZONE, REG_FLAGS, REG_INPORT, REG_OUTPORT, REG_SNAT_ZONE};
use crate::layout::{self, Pipeline};
use crate::ofp::{self, Action as Of, Controller, Ct, CtZone, Field, Nat, NatKind, Subfield};

/// What the controller is asked to do by a packet-in from a controller action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Opcode {
    Arp = 1,
    PutArp = 2,
    PutNd = 3,
    NdNs = 4,
    NdNa = 5,
    NdNaRouter = 6,
    Icmp4 = 7,
    Icmp6 = 8,
    Icmp4Error = 9,
    Icmp6Error = 10,
    TcpReset = 11,
    PutFdb = 12,
    HandleSvcCheck = 13,
    HandleDhcpv6Reply = 14,
    SctpAbort = 15,
}

impl Opcode {
    pub fn from_u32(v: u32) -> Option<Opcode> {
        use Opcode::*;
        [
            Arp,
            PutArp,
            PutNd,
            NdNs,
            NdNa,
            NdNaRouter,
            Icmp4,
            Icmp6,
            Icmp4Error,
            Icmp6Error,
            TcpReset,
            PutFdb,
            HandleSvcCheck,
            HandleDhcpv6Reply,
            SctpAbort,
        ]
        .into_iter()
        .find(|o| *o as u32 == v)
    }

    /// The nested-action form of the opcode (`arp { ... }`).
    fn nested(name: &str) -> Option<Opcode> {
        Some(match name {
            "arp" => Opcode::Arp,
            "nd_ns" => Opcode::NdNs,
            "nd_na" => Opcode::NdNa,
            "nd_na_router" => Opcode::NdNaRouter,
            "icmp4" => Opcode::Icmp4,
            "icmp6" => Opcode::Icmp6,
            "icmp4_error" => Opcode::Icmp4Error,
            "icmp6_error" => Opcode::Icmp6Error,
            "tcp_reset" => Opcode::TcpReset,
            "sctp_abort" => Opcode::SctpAbort,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EncodeError(pub String);

fn bad<T>(msg: impl Into<String>) -> Result<T, EncodeError> {
    Err(EncodeError(msg.into()))
}

impl From<CompileError> for EncodeError {
    fn from(e: CompileError) -> Self {
        EncodeError(e.to_string())
    }
}

impl From<ofp::Error> for EncodeError {
    fn from(e: ofp::Error) -> Self {
        EncodeError(e.to_string())
    }
}

/// Where the actions run.
pub struct ActionContext<'a> {
    pub lookup: &'a dyn Lookup,
    pub pipeline: Pipeline,
    /// The logical table of the flow.
    pub table_id: u8,
    /// Router datapaths use the DNAT/SNAT zones; switches their port's zone.
    pub is_router: bool,
}

/// Encoded actions, and what they need the packet to be: `ip.ttl--` needs `ip`, `arp.op = 2` needs `arp`,
/// `ct_next` needs `ip`. The flow's match is AND-ed with these, as Open vSwitch refuses, say, a `ct` on a
/// flow that may match non-IP packets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encoded {
    pub actions: Vec<Of>,
    pub prereqs: Vec<&'static str>,
}

fn field(name: &str) -> Result<Field, EncodeError> {
    Field::from_name(name).ok_or_else(|| EncodeError(format!("{name}: no such OpenFlow field")))
}

fn reg(name: &'static str) -> Result<Subfield, EncodeError> {
    Ok(Subfield::whole(field(name)?))
}

fn zone16(name: &'static str) -> Result<CtZone, EncodeError> {
    Ok(CtZone::Field(Subfield::range(field(name)?, 0, 15)?))
}

fn flag_bit(bit: u16) -> Result<Subfield, EncodeError> {
    Ok(Subfield::range(field(REG_FLAGS)?, bit, bit)?)
}

/// A field reference as OpenFlow bits; its prerequisites are recorded.
fn subfield(fr: &FieldRef, pre: &mut Vec<&'static str>) -> Result<(Subfield, bool), EncodeError> {
    let b = field_bits(fr)?;
    let f = field(b.of)?;
    pre.extend(b.prereqs);
    Ok((Subfield { field: f, ofs: b.lo, n_bits: b.width }, b.port))
}

/// Encodes an action list.
pub fn encode(actions: &Actions, ctx: &ActionContext) -> Result<Encoded, EncodeError> {
    let mut e = Encoded::default();
    for a in &actions.0 {
        if encode_one(a, ctx, &mut e)? == Flow::Stop {
            break;
        }
    }
    e.prereqs.sort_unstable();
    e.prereqs.dedup();
    Ok(e)
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    /// Nothing after this action runs (drop, or a ct that recirculates).
    Stop,
}

/// Nested actions (their prerequisites concern the packet they build, not this flow's match).
fn encode_list(list: &[Action], ctx: &ActionContext) -> Result<Vec<Of>, EncodeError> {
    Ok(encode(&Actions(list.to_vec()), ctx)?.actions)
}

fn next_table(ctx: &ActionContext) -> u8 {
    ctx.pipeline.table(ctx.table_id + 1)
}

fn load_value(dst: &FieldRef, v: &Value, ctx: &ActionContext, pre: &mut Vec<&'static str>) -> Result<Of, EncodeError> {
    let (sf, port) = subfield(dst, pre)?;
    let value = match v {
        Value::Num(n) => {
            if n.mask.is_some() {
                return bad(format!("{dst}: cannot assign a masked value"));
            }
            n.value
        }
        Value::Str(s) if port => {
            if s.is_empty() {
                0
            } else {
                u128::from(ctx.lookup.port_key(s).ok_or_else(|| EncodeError(format!("{s:?}: unknown logical port")))?)
            }
        }
        other => return bad(format!("{dst}: cannot assign {other}")),
    };
    Ok(Of::load(value, sf)?)
}

fn controller(op: Opcode, nested: &[Of], pause: bool) -> Result<Of, EncodeError> {
    let mut userdata = (op as u32).to_be_bytes().to_vec();
    userdata.extend([0u8; 4]);
    ofp::wire::encode_actions(nested, &mut userdata)?;
    Ok(Of::Controller(Controller { userdata, pause, ..Controller::default() }))
}

/// The field an argument names (only fields are accepted as lookup arguments).
fn arg_field(a: &Arg, what: &str) -> Result<FieldRef, EncodeError> {
    match a {
        Arg::Field(fr) => Ok(fr.clone()),
        Arg::Word(w) => Ok(FieldRef { name: w.clone(), range: None }),
        other => bad(format!("{what}: expected a field, found {other}")),
    }
}

/// Moves each (argument, register) pair's argument into the register, saving the registers first; returns
/// the actions to run before and after the lookup.
fn with_args(pairs: &[(FieldRef, &'static str)], pre: &mut Vec<&'static str>) -> Result<(Vec<Of>, Vec<Of>), EncodeError> {
    let mut before = Vec::new();
    let mut after = Vec::new();
    for (arg, target) in pairs {
        let (src, _) = subfield(arg, pre)?;
        let dst = reg(target)?;
        if src.field == dst.field && src.is_whole() {
            continue;
        }
        let dst = Subfield { n_bits: src.n_bits, ..dst };
        before.push(Of::Push(dst));
        before.push(Of::Move { src, dst });
        after.insert(0, Of::Pop(dst));
    }
    Ok((before, after))
}

fn encode_one(a: &Action, ctx: &ActionContext, e: &mut Encoded) -> Result<Flow, EncodeError> {
    let (out, pre) = (&mut e.actions, &mut e.prereqs);
    match a {
        Action::Assign { dst, rhs: Rhs::Value(v) } => out.push(load_value(dst, v, ctx, pre)?),
        Action::Assign { dst, rhs: Rhs::Field(src) } => {
            let (d, _) = subfield(dst, pre)?;
            let (s, _) = subfield(src, pre)?;
            if d.n_bits != s.n_bits {
                return bad(format!("{dst} = {src}: {} bits cannot take {} bits", d.n_bits, s.n_bits));
            }
            out.push(Of::Move { src: s, dst: d });
        }
        Action::Assign { dst, rhs: Rhs::Call { name, args } } => encode_call(dst, name, args, ctx, out, pre)?,
        Action::Exchange { a, b } => {
            let (x, _) = subfield(a, pre)?;
            let (y, _) = subfield(b, pre)?;
            if x.n_bits != y.n_bits {
                return bad(format!("{a} <-> {b}: fields of different widths"));
            }
            out.extend([Of::Push(x), Of::Push(y), Of::Pop(x), Of::Pop(y)]);
        }
        Action::Decrement(fr) if fr.name == "ip.ttl" && fr.range.is_none() => {
            pre.push("ip");
            out.push(Of::DecTtl)
        }
        Action::Decrement(fr) => return bad(format!("{fr}--: only ip.ttl can be decremented")),
        Action::Named { name, args, body } => return encode_named(name, args.as_deref(), body.as_deref(), ctx, out, pre),
    }
    Ok(Flow::Continue)
}

/// `dst = function(args)`.
fn encode_call(
    dst: &FieldRef,
    name: &str,
    args: &[Arg],
    ctx: &ActionContext,
    out: &mut Vec<Of>,
    pre: &mut Vec<&'static str>,
) -> Result<(), EncodeError> {
    let (d, _) = subfield(dst, pre)?;
    // The result bit of a lookup table, copied into dst.
    let lookup_bit = |bit: u16,
                      table: u8,
                      pairs: Vec<(FieldRef, &'static str)>,
                      out: &mut Vec<Of>,
                      pre: &mut Vec<&'static str>|
     -> Result<(), EncodeError> {
        if d.n_bits != 1 {
            return bad(format!("{dst} = {name}(...): the result is one bit"));
        }
        let (before, after) = with_args(&pairs, pre)?;
        let flag = flag_bit(bit)?;
        out.extend(before);
        out.push(Of::load(0, flag)?);
        out.push(Of::resubmit(table));
        out.extend(after);
        out.push(Of::Move { src: flag, dst: d });
        Ok(())
    };
    match (name, args) {
        ("lookup_arp", [port, ip, mac]) => lookup_bit(
            flag::LOOKUP_MAC,
            layout::MAC_LOOKUP,
            vec![(arg_field(port, name)?, REG_INPORT), (arg_field(ip, name)?, "reg0"), (arg_field(mac, name)?, "eth_src")],
            out,
            pre,
        ),
        ("lookup_nd", [port, ip, mac]) => lookup_bit(
            flag::LOOKUP_MAC,
            layout::MAC_LOOKUP,
            vec![(arg_field(port, name)?, REG_INPORT), (arg_field(ip, name)?, "xxreg0"), (arg_field(mac, name)?, "eth_src")],
            out,
            pre,
        ),
        ("lookup_arp_ip", [port, ip]) => lookup_bit(
            flag::LOOKUP_MAC,
            layout::MAC_LOOKUP_IP,
            vec![(arg_field(port, name)?, REG_INPORT), (arg_field(ip, name)?, "reg0")],
            out,
            pre,
        ),
        ("lookup_fdb", [port, mac]) => lookup_bit(
            flag::LOOKUP_FDB,
            layout::LOOKUP_FDB,
            vec![(arg_field(port, name)?, REG_INPORT), (arg_field(mac, name)?, "eth_src")],
            out,
            pre,
        ),
        ("check_in_port_sec", []) => lookup_bit(flag::CHECK_PORT_SEC, layout::CHK_IN_PORT_SEC, vec![], out, pre),
        ("check_out_port_sec", []) => lookup_bit(flag::CHECK_PORT_SEC, layout::CHK_OUT_PORT_SEC, vec![], out, pre),
        ("get_fdb", [mac]) => {
            if d.field != field(REG_OUTPORT)? || !d.is_whole() {
                return bad(format!("{dst} = get_fdb(...): only outport can take the result"));
            }
            let (before, after) = with_args(&[(arg_field(mac, name)?, "eth_dst")], pre)?;
            out.extend(before);
            out.push(Of::load(0, d)?);
            out.push(Of::resubmit(layout::GET_FDB));
            out.extend(after);
            Ok(())
        }
        _ => {
            let _ = ctx;
            bad(format!("{name}({}): not a known function or wrong arguments", args.len()))
        }
    }
}

fn encode_named(
    name: &str,
    args: Option<&[Arg]>,
    body: Option<&[Action]>,
    ctx: &ActionContext,
    out: &mut Vec<Of>,
    pre: &mut Vec<&'static str>,
) -> Result<Flow, EncodeError> {
    let no_args = args.is_none_or(|a| a.is_empty());
    let zone_dnat = zone16(if ctx.is_router { REG_DNAT_ZONE } else { REG_CT_ZONE })?;
    match name {
        "next" => {
            let (mut pipeline, mut table) = (ctx.pipeline, ctx.table_id + 1);
            for a in args.unwrap_or(&[]) {
                match a {
                    Arg::Value(Value::Num(n)) => table = n.value as u8,
                    Arg::Named(k, v) if k == "table" => match &**v {
                        Arg::Value(Value::Num(n)) => table = n.value as u8,
                        other => return bad(format!("next: bad table {other}")),
                    },
                    Arg::Named(k, v) if k == "pipeline" => match &**v {
                        Arg::Word(w) | Arg::Field(FieldRef { name: w, .. }) => {
                            pipeline = Pipeline::parse(w).ok_or_else(|| EncodeError(format!("next: unknown pipeline {w}")))?
                        }
                        other => return bad(format!("next: bad pipeline {other}")),
                    },
                    other => return bad(format!("next: unexpected argument {other}")),
                }
            }
            if table >= pipeline.max_tables() {
                return bad(format!("next: table {table} is beyond the pipeline"));
            }
            out.push(Of::resubmit(pipeline.table(table)));
        }
        "output" => out.push(Of::resubmit(match ctx.pipeline {
            Pipeline::Ingress => layout::REMOTE_OUTPUT,
            Pipeline::Egress => layout::SAVE_INPORT,
        })),
        "drop" => return Ok(Flow::Stop),
        "ct_next" => {
            pre.push("ip");
            out.push(Of::Ct(Ct { table: Some(next_table(ctx)), zone: Some(zone_dnat), ..Ct::default() }));
            return Ok(Flow::Stop);
        }
        "ct_clear" => out.push(Of::CtClear),
        "ct_commit" => {
            pre.push("ip");
            let nested = match body {
                Some(b) => encode_list(b, ctx)?,
                None => Vec::new(),
            };
            let ct_field = |f: &Field| matches!(f, Field::CtMark | Field::CtLabel);
            if nested.iter().any(|a| match a {
                Of::SetField { field, .. } => !ct_field(field),
                Of::Move { dst, .. } => !ct_field(&dst.field),
                _ => true,
            }) {
                return bad("ct_commit { ... } may only set ct_mark and ct_label");
            }
            out.push(Of::Ct(Ct { commit: true, zone: Some(zone_dnat), actions: nested, ..Ct::default() }));
        }
        "ct_dnat" | "ct_snat" | "ct_dnat_in_czone" | "ct_snat_in_czone" | "ct_lb_mark" => {
            if name == "ct_lb_mark" && !no_args {
                return bad("ct_lb_mark with backends is not supported yet");
            }
            pre.push("ip");
            let snat = name.starts_with("ct_snat");
            // A router's common NAT zone (`_in_czone`) is its DNAT zone, as ovn-controller makes it: the
            // SNAT zone stays apart for hairpinned traffic, whose SNAT must not meet the DNAT of the same
            // packet in one zone.
            let zone = if !ctx.is_router {
                zone16(REG_CT_ZONE)?
            } else if snat && !name.ends_with("_in_czone") {
                zone16(REG_SNAT_ZONE)?
            } else {
                zone16(REG_DNAT_ZONE)?
            };
            let mut nat = Nat::default();
            let mut commit = false;
            if let Some([Arg::Value(Value::Num(n)), ..]) = args {
                let ip = match n.format {
                    crate::expr::NumFormat::Ipv6 => std::net::IpAddr::V6(std::net::Ipv6Addr::from(n.value)),
                    _ => std::net::IpAddr::V4(std::net::Ipv4Addr::from(n.value as u32)),
                };
                nat.kind = Some(if snat { NatKind::Src } else { NatKind::Dst });
                nat.addrs = Some((ip, None));
                commit = true;
            } else if !no_args {
                return bad(format!("{name}: expected an IP address"));
            }
            out.push(Of::Ct(Ct { commit, table: Some(next_table(ctx)), zone: Some(zone), actions: vec![Of::Nat(nat)], ..Ct::default() }));
            return Ok(Flow::Stop);
        }
        "clone" => out.push(Of::Clone(encode_list(body.unwrap_or(&[]), ctx)?)),
        "put_arp" | "put_nd" => {
            let [port, ip, mac] = args.unwrap_or(&[]) else { return bad(format!("{name}: expected (port, ip, mac)")) };
            let ip_reg = if name == "put_arp" { "reg0" } else { "xxreg0" };
            let op = if name == "put_arp" { Opcode::PutArp } else { Opcode::PutNd };
            let (before, after) = with_args(
                &[(arg_field(port, name)?, REG_INPORT), (arg_field(ip, name)?, ip_reg), (arg_field(mac, name)?, "eth_src")],
                pre,
            )?;
            out.extend(before);
            out.push(controller(op, &[], false)?);
            out.extend(after);
        }
        "get_arp" | "get_nd" => {
            let [port, ip] = args.unwrap_or(&[]) else { return bad(format!("{name}: expected (port, ip)")) };
            let ip_reg = if name == "get_arp" { "reg0" } else { "xxreg0" };
            let (before, after) = with_args(&[(arg_field(port, name)?, REG_OUTPORT), (arg_field(ip, name)?, ip_reg)], pre)?;
            out.extend(before);
            out.push(Of::load(0, reg("eth_dst")?)?);
            out.push(Of::resubmit(layout::MAC_BINDING));
            out.extend(after);
        }
        "put_fdb" => {
            let [port, mac] = args.unwrap_or(&[]) else { return bad("put_fdb: expected (port, mac)") };
            let (before, after) = with_args(&[(arg_field(port, name)?, REG_INPORT), (arg_field(mac, name)?, "eth_src")], pre)?;
            out.extend(before);
            out.push(controller(Opcode::PutFdb, &[], false)?);
            out.extend(after);
        }
        "handle_svc_check" => out.push(controller(Opcode::HandleSvcCheck, &[], false)?),
        "handle_dhcpv6_reply" => out.push(controller(Opcode::HandleDhcpv6Reply, &[], false)?),
        _ => match Opcode::nested(name) {
            Some(op) => {
                pre.push(match op {
                    Opcode::Arp | Opcode::Icmp4 | Opcode::Icmp4Error => "ip4",
                    Opcode::NdNs | Opcode::Icmp6 | Opcode::Icmp6Error => "ip6",
                    Opcode::NdNa | Opcode::NdNaRouter => "nd_ns",
                    Opcode::TcpReset => "tcp",
                    Opcode::SctpAbort => "sctp",
                    _ => "1",
                });
                if !no_args {
                    return bad(format!("{name}: takes no arguments"));
                }
                let nested = encode_list(body.unwrap_or(&[]), ctx)?;
                out.push(controller(op, &nested, false)?);
            }
            None => return bad(format!("{name}: unknown action")),
        },
    }
    Ok(Flow::Continue)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The controller reads the opcode back from the packet-in: every nested action's opcode must.
    #[test]
    fn nested_action_opcodes_read_back() {
        for name in ["arp", "nd_ns", "nd_na", "nd_na_router", "icmp4", "icmp6", "icmp4_error", "icmp6_error", "tcp_reset", "sctp_abort"] {
            let op = Opcode::nested(name).unwrap_or_else(|| panic!("{name}: no opcode"));
            assert_eq!(Opcode::from_u32(op as u32), Some(op), "{name}");
        }
    }
}
