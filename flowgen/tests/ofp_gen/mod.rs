//! Random flows for the OpenFlow tests: broad, but only what Open vSwitch accepts (prerequisites respected,
//! `set_field` only on fields the match guarantees, `ct` only on IP, `conjunction` alone), so the same
//! flows serve the text round trip and the install-and-dump round trip against a real switch.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use flowgen::ofp::{Action, Controller, Ct, CtZone, Field, Flow, Match, Nat, NatKind, Port, Proto, Reason, Subfield};
use proptest::prelude::*;
use proptest::sample::select;

fn ones(bits: u16) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// A value of `field`'s width.
fn value(field: Field) -> impl Strategy<Value = u128> {
    // OVS keeps the ARP opcode in 8 bits.
    let full = if field == Field::ArpOp { 0xff } else { ones(field.bits().min(128)) };
    prop_oneof![Just(0u128), Just(1u128), any::<u128>().prop_map(move |v| v & full), Just(full)]
}

/// A mask: exact, a prefix, or arbitrary.
fn mask(field: Field) -> impl Strategy<Value = u128> {
    let bits = field.bits().min(128);
    let full = ones(bits);
    prop_oneof![Just(full), (1..=bits).prop_map(move |n| full & !ones(bits - n)), any::<u128>().prop_map(move |m| (m & full).max(1)),]
}

/// (field, value, mask) for a maskable field, exact otherwise.
fn entry(field: Field) -> BoxedStrategy<(Field, u128, u128)> {
    let full = field.full_mask();
    if field.def().maskable {
        (value(field), mask(field)).prop_map(move |(v, m)| (field, v & m, m)).boxed()
    } else {
        value(field).prop_map(move |v| (field, v, full)).boxed()
    }
}

fn entries(fields: Vec<Field>, max: usize) -> BoxedStrategy<Vec<(Field, u128, u128)>> {
    if fields.is_empty() {
        return Just(Vec::new()).boxed();
    }
    proptest::collection::vec(select(fields).prop_flat_map(entry), 0..=max).boxed()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum L3 {
    None,
    Ip,
    Ipv6,
    Arp,
}

fn l3_of(p: Option<Proto>) -> L3 {
    match p {
        None => L3::None,
        Some(Proto::Arp | Proto::Rarp) => L3::Arp,
        Some(Proto::Ipv6 | Proto::Icmp6 | Proto::Tcp6 | Proto::Udp6 | Proto::Sctp6) => L3::Ipv6,
        Some(_) => L3::Ip,
    }
}

/// A match plus the protocol it guarantees (which decides what actions may write).
fn matches() -> impl Strategy<Value = (Option<Proto>, Match)> {
    let protos = vec![
        None,
        Some(Proto::Ip),
        Some(Proto::Ipv6),
        Some(Proto::Tcp),
        Some(Proto::Tcp6),
        Some(Proto::Udp),
        Some(Proto::Udp6),
        Some(Proto::Sctp),
        Some(Proto::Icmp),
        Some(Proto::Icmp6),
        Some(Proto::Arp),
    ];
    select(protos).prop_flat_map(|proto| {
        let common = vec![
            Field::Metadata,
            Field::Reg(0),
            Field::Reg(7),
            Field::Reg(13),
            Field::Reg(14),
            Field::Reg(15),
            Field::Xreg(3),
            Field::Xxreg(2),
            Field::PktMark,
            Field::CtMark,
            Field::CtLabel,
            Field::CtZone,
            Field::ConjId,
            Field::TunId,
            Field::TunSrc,
            Field::TunDst,
            Field::TunIpv6Src,
            Field::EthSrc,
            Field::EthDst,
            Field::VlanTci,
        ];
        let mut l3 = match l3_of(proto) {
            L3::None => vec![],
            L3::Ip => vec![Field::IpSrc, Field::IpDst, Field::IpDscp, Field::IpEcn, Field::IpTtl],
            L3::Ipv6 => vec![Field::Ipv6Src, Field::Ipv6Dst, Field::Ipv6Label, Field::IpDscp, Field::IpEcn, Field::IpTtl],
            L3::Arp => vec![Field::ArpOp, Field::ArpSpa, Field::ArpTpa, Field::ArpSha, Field::ArpTha],
        };
        l3.extend(match proto {
            Some(Proto::Tcp | Proto::Tcp6) => vec![Field::TcpSrc, Field::TcpDst],
            Some(Proto::Udp | Proto::Udp6) => vec![Field::UdpSrc, Field::UdpDst],
            Some(Proto::Sctp) => vec![Field::SctpSrc, Field::SctpDst],
            Some(Proto::Icmp) => vec![Field::IcmpType, Field::IcmpCode],
            Some(Proto::Icmp6) => vec![Field::Icmpv6Code],
            _ => vec![],
        });
        let is_ip = matches!(l3_of(proto), L3::Ip | L3::Ipv6);
        let is_tcp = matches!(proto, Some(Proto::Tcp | Proto::Tcp6));
        let frag = if is_ip && !matches!(proto, Some(Proto::Ip | Proto::Ipv6)) {
            Just(None).boxed()
        } else if is_ip {
            proptest::option::of(select(vec![(0u128, 1u128), (1, 1), (1, 3), (3, 3), (0, 2)])).boxed()
        } else {
            Just(None).boxed()
        };
        let ct_state = proptest::option::of((0u128..=0xff, 1u128..=0xff)).prop_map(|o| o.map(|(v, m)| (v & m, m)));
        let tcp_flags = if is_tcp {
            proptest::option::of((0u128..=0x1ff, prop_oneof![1u128..=0x1ff, Just(0xfff)])).prop_map(|o| o.map(|(v, m)| (v & m, m))).boxed()
        } else {
            Just(None).boxed()
        };
        let nd = if proto == Some(Proto::Icmp6) {
            proptest::option::of((select(vec![135u128, 136]), any::<u128>(), any::<u64>())).boxed()
        } else {
            Just(None).boxed()
        };
        let in_port = proptest::option::of(prop_oneof![0u128..0xff00, Just(0xfffe)]);
        (entries(common, 6), entries(l3, 4), frag, ct_state, tcp_flags, nd, in_port).prop_map(
            move |(common, l3, frag, ct_state, tcp_flags, nd, in_port)| {
                let mut m = Match::new();
                if let Some(p) = proto {
                    m.set_proto(p);
                }
                for (f, v, mk) in common.into_iter().chain(l3) {
                    m.set_masked(f, v, mk).expect("generated value fits");
                }
                if let Some((v, mk)) = frag {
                    m.set_masked(Field::IpFrag, v, mk).expect("frag");
                }
                if let Some((v, mk)) = ct_state {
                    m.set_masked(Field::CtState, v, mk).expect("ct_state");
                }
                if let Some((v, mk)) = tcp_flags {
                    m.set_masked(Field::TcpFlags, v, mk).expect("tcp_flags");
                }
                if let Some((ty, target, ll)) = nd {
                    m.set(Field::Icmpv6Type, ty).expect("icmpv6_type");
                    m.set(Field::Icmpv6Code, 0).expect("ND needs code 0");
                    m.set(Field::NdTarget, target).expect("nd_target");
                    m.set(if ty == 135 { Field::NdSll } else { Field::NdTll }, u128::from(ll & 0xffff_ffff_ffff)).expect("nd ll");
                }
                if let Some(p) = in_port {
                    m.set(Field::InPort, p).expect("in_port");
                }
                (proto, m)
            },
        )
    })
}

fn reg_subfield() -> impl Strategy<Value = Subfield> {
    (
        select(vec![Field::Reg(0), Field::Reg(5), Field::Reg(14), Field::Reg(15), Field::Xreg(2), Field::Xxreg(1), Field::Metadata]),
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(|(f, a, b)| {
            let bits = f.bits();
            let ofs = a % bits;
            let n = 1 + b % (bits - ofs);
            Subfield { field: f, ofs, n_bits: n }
        })
}

/// Two subfields of the same width.
fn move_pair() -> impl Strategy<Value = (Subfield, Subfield)> {
    (reg_subfield(), reg_subfield()).prop_map(|(a, b)| {
        let n = a.n_bits.min(b.n_bits);
        (Subfield { n_bits: n, ..a }, Subfield { n_bits: n, ..b })
    })
}

/// A `set_field` the match allows.
fn set_field(proto: Option<Proto>) -> BoxedStrategy<Action> {
    let mut fields = vec![
        Field::Reg(1),
        Field::Reg(15),
        Field::Xreg(1),
        Field::Xxreg(0),
        Field::Metadata,
        Field::PktMark,
        Field::TunId,
        Field::TunDst,
        Field::EthSrc,
        Field::EthDst,
    ];
    match l3_of(proto) {
        L3::Ip => fields.extend([Field::IpSrc, Field::IpDst, Field::IpDscp, Field::IpTtl, Field::IpEcn]),
        L3::Ipv6 => fields.extend([Field::Ipv6Src, Field::Ipv6Dst, Field::Ipv6Label, Field::IpTtl]),
        L3::Arp => fields.extend([Field::ArpOp, Field::ArpSpa, Field::ArpTpa, Field::ArpSha, Field::ArpTha]),
        L3::None => {}
    }
    match proto {
        Some(Proto::Tcp | Proto::Tcp6) => fields.extend([Field::TcpSrc, Field::TcpDst]),
        Some(Proto::Udp | Proto::Udp6) => fields.extend([Field::UdpSrc, Field::UdpDst]),
        Some(Proto::Icmp) => fields.extend([Field::IcmpType, Field::IcmpCode]),
        _ => {}
    }
    select(fields)
        .prop_flat_map(|f| {
            let maskable = f.def().maskable && !matches!(f.def().format, flowgen::ofp::Format::Decimal);
            (Just(f), value(f), if maskable { proptest::option::of(mask(f)).boxed() } else { Just(None).boxed() })
        })
        .prop_map(|(field, v, m)| {
            let full = field.full_mask();
            let m = m.filter(|m| *m != full);
            Action::SetField { field, value: v & m.unwrap_or(full), mask: m }
        })
        .boxed()
}

fn nat(proto: Option<Proto>) -> BoxedStrategy<Nat> {
    let v6 = l3_of(proto) == L3::Ipv6;
    let l4 = matches!(proto, Some(Proto::Tcp | Proto::Tcp6 | Proto::Udp | Proto::Udp6));
    let addr = move || -> BoxedStrategy<IpAddr> {
        if v6 {
            any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))).boxed()
        } else {
            any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))).boxed()
        }
    };
    let ports = if l4 { proptest::option::of((1u16.., proptest::option::of(any::<u16>()))).boxed() } else { Just(None).boxed() };
    (select(vec![NatKind::Src, NatKind::Dst]), addr(), proptest::option::of(addr()), ports, 0u8..4)
        .prop_map(|(kind, a, b, ports, flags)| {
            let (a, b) = match b {
                Some(b) if b > a => (a, Some(b)),
                Some(b) if b < a => (b, Some(a)),
                _ => (a, None),
            };
            let ports = ports.map(|(p, q)| match q {
                Some(q) if q > p => (p, Some(q)),
                _ => (p, None),
            });
            Nat { kind: Some(kind), addrs: Some((a, b)), ports, persistent: flags & 1 != 0, hash: flags == 2, random: flags == 3 }
        })
        .boxed()
}

fn ct(proto: Option<Proto>) -> BoxedStrategy<Action> {
    let zone = prop_oneof![
        any::<u16>().prop_map(CtZone::Imm),
        select(vec![Field::Reg(11), Field::Reg(12), Field::Reg(13)]).prop_map(|f| CtZone::Field(Subfield { field: f, ofs: 0, n_bits: 16 })),
    ];
    let exec = proptest::collection::vec(
        prop_oneof![
            (any::<u32>(), any::<u32>()).prop_map(|(v, m)| {
                let m = u128::from(m.max(1));
                Action::SetField { field: Field::CtMark, value: u128::from(v) & m, mask: (m != 0xffff_ffff).then_some(m) }
            }),
            (any::<u128>(), any::<u128>()).prop_map(|(v, m)| {
                let m = m.max(1);
                Action::SetField { field: Field::CtLabel, value: v & m, mask: (m != u128::MAX).then_some(m) }
            }),
        ],
        0..3,
    );
    let committed =
        (any::<bool>(), proptest::option::of(zone.clone()), proptest::option::of(0u8..=254), proptest::option::of(nat(proto)), exec)
            .prop_map(|(force, zone, table, nat, exec)| {
                let mut actions: Vec<Action> = nat.into_iter().map(Action::Nat).collect();
                actions.extend(exec);
                Action::Ct(Ct { commit: true, force, table, zone, alg: None, actions })
            });
    let lookup = (proptest::option::of(zone), proptest::option::of(0u8..=254), any::<bool>()).prop_map(|(zone, table, nat)| {
        Action::Ct(Ct {
            commit: false,
            force: false,
            table,
            zone,
            alg: None,
            actions: if nat { vec![Action::Nat(Nat::default())] } else { vec![] },
        })
    });
    prop_oneof![committed, lookup].boxed()
}

fn port() -> impl Strategy<Value = Port> {
    prop_oneof![(1u16..0xff00).prop_map(Port), select(vec![Port::LOCAL, Port::IN_PORT, Port::NORMAL, Port::FLOOD, Port::ALL])]
}

fn controller() -> impl Strategy<Value = Controller> {
    (
        prop_oneof![Just(u16::MAX), any::<u16>()],
        prop_oneof![Just(0u16), any::<u16>()],
        select(vec![Reason::Action, Reason::NoMatch, Reason::InvalidTtl]),
        proptest::collection::vec(any::<u8>(), 0..12),
        any::<bool>(),
        proptest::option::of(1u32..100),
    )
        .prop_map(|(max_len, id, reason, userdata, pause, meter_id)| Controller { max_len, id, reason, userdata, pause, meter_id })
}

/// One action the match allows (not `conjunction`, which must stand alone).
fn action(proto: Option<Proto>, depth: u32) -> BoxedStrategy<Action> {
    let is_ip = matches!(l3_of(proto), L3::Ip | L3::Ipv6);
    let mut options: Vec<BoxedStrategy<Action>> = vec![
        port().prop_map(Action::Output).boxed(),
        reg_subfield().prop_filter("output:reg is at most 32 bits", |s| s.n_bits <= 32).prop_map(Action::OutputReg).boxed(),
        controller().prop_map(Action::Controller).boxed(),
        (proptest::option::of((1u16..0xff00).prop_map(Port)), proptest::option::of(0u8..=254))
            .prop_filter("port or table", |(p, t)| p.is_some() || t.is_some())
            .prop_map(|(port, table)| Action::Resubmit { port, table })
            .boxed(),
        set_field(proto),
        move_pair().prop_map(|(src, dst)| Action::Move { src, dst }).boxed(),
        reg_subfield().prop_map(Action::Push).boxed(),
        reg_subfield().prop_map(Action::Pop).boxed(),
        Just(Action::CtClear).boxed(),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(|b| Action::note(&b)).boxed(),
        Just(Action::Group(1)).boxed(),
        (any::<u16>(), reg_subfield()).prop_map(|(len, sf)| Action::CheckPktLarger { len, dst: Subfield { n_bits: 1, ..sf } }).boxed(),
        Just(Action::Exit).boxed(),
    ];
    if is_ip {
        options.push(Just(Action::DecTtl).boxed());
        options.push(ct(proto));
    }
    if depth > 0 {
        options.push(proptest::collection::vec(action(proto, depth - 1), 0..3).prop_map(Action::Clone).boxed());
    }
    proptest::strategy::Union::new(options).boxed()
}

/// A flow Open vSwitch accepts, in `table` 0..=253 (OVS keeps 254 for itself) with any priority and cookie.
pub fn flow() -> impl Strategy<Value = Flow> {
    (0u8..=253, any::<u16>(), prop_oneof![Just(0u64), any::<u64>()], matches())
        .prop_flat_map(|(table, priority, cookie, (proto, m))| {
            let actions = prop_oneof![
                4 => proptest::collection::vec(action(proto, 1), 0..6),
                1 => (1u32.., 2u8..=8, 0u8..8).prop_map(|(id, n, k)| vec![Action::Conjunction { id, clause: 1 + k % n, n_clauses: n }]),
            ];
            actions.prop_map(move |actions| Flow { table, priority, cookie, matches: m.clone(), actions })
        })
        .prop_filter("OVS refuses ct(commit) on a flow that matches +inv", |f| {
            let inv = f.matches.get(Field::CtState).is_some_and(|s| s.value & 0x10 != 0);
            !(inv && commits(&f.actions))
        })
}

fn commits(actions: &[Action]) -> bool {
    actions.iter().any(|a| match a {
        Action::Ct(ct) => ct.commit,
        Action::Clone(inner) => commits(inner),
        _ => false,
    })
}
