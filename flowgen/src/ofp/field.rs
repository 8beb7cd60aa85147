//! The field table: every match and set-field field OVN's flows use, in ONE place.
//!
//! Each row of [`FIELDS`] says, for one field (or one family of numbered fields such as `reg0`..`reg15`):
//! its names (the canonical name `set_field` prints, the name a match prints, the aliases `ovs-ofctl` also
//! accepts, the NXM/OXM name a subfield prints), its wire code points (standard OXM and/or Nicira NXM, see
//! below), its width and its value syntax. Everything else — the text printer and parser, the wire encoder,
//! the match normalisation — reads this table; nothing else lists fields.
//!
//! The ROW ORDER IS THE PRINT ORDER: `ovs-ofctl dump-flows` prints a match's fields in a fixed order that has
//! nothing to do with the order they were written in (`priority`, `pkt_mark`, ..., `ct_*`, then the protocol
//! shorthand such as `tcp`, then `reg*`, tunnel fields, `metadata`, `in_port`, VLAN, Ethernet, IP, ARP, L4,
//! ND). The table lists the rows in that order, measured against `ovs-ofctl` 3.1, so that printing a match is
//! "sort by row". The protocol shorthand is printed just before the first register row
//! ([`SHORTHAND_BEFORE`]).
//!
//! # OXM versus NXM
//!
//! A match field travels as a TLV whose 32-bit header is `class:16 | field:7 | hasmask:1 | length:8`,
//! followed by the value and, when `hasmask`, a mask of the same length (so `length` is twice the value
//! length). OpenFlow 1.2+ calls these OXM and reserves class `0x8000` (`OFPXMC_OPENFLOW_BASIC`) for the
//! standard fields and `0x8001` (`OFPXMC_PACKET_REGS`) for the OpenFlow 1.5 packet registers (Open vSwitch's
//! `xreg0`..`xreg7`). Before OXM existed Open vSwitch had the very same TLV layout under the name NXM, with
//! class `0x0000` (`NXM_OF_*`, the OpenFlow 1.0 fields) and class `0x0001` (`NXM_NX_*`, Nicira's own: the
//! 32-bit registers, conntrack state, tunnel metadata, ...). Open vSwitch accepts both classes inside an
//! OpenFlow 1.5 `ofp_match` and inside `OFPAT_SET_FIELD`, so we send the standard OXM code where one exists
//! (the field's `oxm`), and the NXM code otherwise (`nxm`). Fields only defined as experimenter OXMs
//! (class `0xffff`, 8-byte header) are not needed: every field here has an NXM code.
//!
//! Subfield syntax (`NXM_NX_REG13[0..15]`, used by `move`, `output:`, `ct(zone=...)`, ...) prints the NXM
//! name when the field has one, else its OXM name (`OXM_OF_PKT_REG4`, `OXM_OF_METADATA`), exactly as
//! `ovs-ofctl` does.

use std::collections::HashMap;
use std::fmt;
use std::mem::{discriminant, Discriminant};
use std::sync::OnceLock;

/// NXM class of the OpenFlow 1.0 fields (`NXM_OF_*`).
pub const NXM_OF: u16 = 0x0000;
/// NXM class of Nicira's extension fields (`NXM_NX_*`).
pub const NXM_NX: u16 = 0x0001;
/// OXM class of the standard OpenFlow fields (`OXM_OF_*`).
pub const OXM_BASIC: u16 = 0x8000;
/// OXM class of the OpenFlow 1.5 packet registers (`OXM_OF_PKT_REG*`, Open vSwitch's `xreg*`).
pub const OXM_PKT_REGS: u16 = 0x8001;

/// A match or set-field field. Numbered families carry their index (`Reg(14)` is `reg14`).
///
/// Overlapping views of one storage are separate fields here because they have separate code points and
/// names (`xreg0` overlays `reg0`+`reg1`, `vlan_vid` is part of `vlan_tci`), but a [`Match`](super::Match)
/// stores only one view of each, the one `ovs-ofctl` prints (see `matching.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `pkt_mark`: the packet's skb mark.
    PktMark,
    /// `recirc_id`: Open vSwitch's recirculation id (switch-internal; OVS refuses it from controllers).
    RecircId,
    /// `dp_hash`: datapath hash (switch-internal; OVS refuses it in flow matches from controllers).
    DpHash,
    /// `conj_id`: the id of the `conjunction` that matched.
    ConjId,
    /// `ct_state`: connection-tracking state flags (`+trk+est`, `new|trk`).
    CtState,
    /// `ct_zone`: conntrack zone of the last `ct`.
    CtZone,
    /// `ct_mark`: the connection's mark.
    CtMark,
    /// `ct_label`: the connection's 128-bit label.
    CtLabel,
    /// `ct_nw_src`: the connection's original IPv4 source.
    CtNwSrc,
    /// `ct_nw_dst`: the connection's original IPv4 destination.
    CtNwDst,
    /// `ct_ipv6_src`: the connection's original IPv6 source.
    CtIpv6Src,
    /// `ct_ipv6_dst`: the connection's original IPv6 destination.
    CtIpv6Dst,
    /// `ct_nw_proto`: the connection's IP protocol.
    CtNwProto,
    /// `ct_tp_src`: the connection's original L4 source port.
    CtTpSrc,
    /// `ct_tp_dst`: the connection's original L4 destination port.
    CtTpDst,
    /// `reg0`..`reg15`: 32-bit registers.
    Reg(u8),
    /// `xreg0`..`xreg7`: 64-bit registers, `xregN` = `reg(2N)` (high) : `reg(2N+1)` (low).
    Xreg(u8),
    /// `xxreg0`..`xxreg3`: 128-bit registers, `xxregN` = `reg(4N)` (high) .. `reg(4N+3)` (low).
    Xxreg(u8),
    /// `tun_id` (`tunnel_id`): tunnel key, the Geneve VNI.
    TunId,
    /// `tun_src`: tunnel IPv4 source.
    TunSrc,
    /// `tun_dst`: tunnel IPv4 destination.
    TunDst,
    /// `tun_ipv6_src`: tunnel IPv6 source.
    TunIpv6Src,
    /// `tun_ipv6_dst`: tunnel IPv6 destination.
    TunIpv6Dst,
    /// `tun_flags`: tunnel flags (`+oam`).
    TunFlags,
    /// `tun_metadata0`..`tun_metadata63`: Geneve options, mapped with `ovs-ofctl add-tlv-map`.
    TunMetadata(u8),
    /// `metadata`: the OpenFlow metadata register (OVN: the logical datapath).
    Metadata,
    /// `in_port`: ingress port (OpenFlow 1.0 16-bit numbering).
    InPort,
    /// `vlan_tci`: the 802.1Q TCI (matches print it as `dl_vlan`/`dl_vlan_pcp` when they can).
    VlanTci,
    /// `vlan_vid`: 12-bit VLAN id plus the `0x1000` "VLAN present" bit (OXM form).
    VlanVid,
    /// `vlan_pcp`: 3-bit VLAN priority.
    VlanPcp,
    /// `eth_src` (`dl_src`).
    EthSrc,
    /// `eth_dst` (`dl_dst`).
    EthDst,
    /// `eth_type` (`dl_type`).
    EthType,
    /// `ipv6_src`.
    Ipv6Src,
    /// `ipv6_dst`.
    Ipv6Dst,
    /// `ipv6_label`: 20-bit flow label.
    Ipv6Label,
    /// `ip_src` (`nw_src`).
    IpSrc,
    /// `ip_dst` (`nw_dst`).
    IpDst,
    /// `arp_spa`: ARP sender protocol address.
    ArpSpa,
    /// `arp_tpa`: ARP target protocol address.
    ArpTpa,
    /// `nw_proto` (`ip_proto`): IP protocol.
    IpProto,
    /// `arp_op`: ARP opcode.
    ArpOp,
    /// `ip_dscp`: the 6 DSCP bits. Matches print it as `nw_tos` (shifted left by 2), as `ovs-ofctl` does.
    IpDscp,
    /// `nw_ecn` (`ip_ecn`): the 2 ECN bits.
    IpEcn,
    /// `nw_ttl`: IP TTL / hop limit.
    IpTtl,
    /// `ip_frag` (`nw_frag`): fragment state (`no`, `yes`, `first`, `later`, `not_later`).
    IpFrag,
    /// `arp_sha`: ARP sender hardware address.
    ArpSha,
    /// `arp_tha`: ARP target hardware address.
    ArpTha,
    /// `tcp_src` (`tp_src` under `tcp`).
    TcpSrc,
    /// `tcp_dst` (`tp_dst` under `tcp`).
    TcpDst,
    /// `udp_src` (`tp_src` under `udp`).
    UdpSrc,
    /// `udp_dst` (`tp_dst` under `udp`).
    UdpDst,
    /// `sctp_src` (`tp_src` under `sctp`).
    SctpSrc,
    /// `sctp_dst` (`tp_dst` under `sctp`).
    SctpDst,
    /// `icmp_type` (ICMPv4).
    IcmpType,
    /// `icmp_code` (ICMPv4).
    IcmpCode,
    /// `icmpv6_type` (matches print `icmp_type` under `icmp6`).
    Icmpv6Type,
    /// `icmpv6_code` (matches print `icmp_code` under `icmp6`).
    Icmpv6Code,
    /// `tcp_flags`: TCP flags (`+syn-ack`, `syn|ack`).
    TcpFlags,
    /// `nd_target`: IPv6 neighbor discovery target.
    NdTarget,
    /// `nd_sll`: ND source link-layer address.
    NdSll,
    /// `nd_tll`: ND target link-layer address.
    NdTll,
}

/// How a field's value is written in `ovs-ofctl` syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `0x1f` (zero prints as `0`).
    Hex,
    /// `31`; masked matches print both parts in hex (`0x100/0xff00`).
    Decimal,
    /// `00:11:22:33:44:55`.
    Ethernet,
    /// `10.0.0.1`, masks as a prefix length when contiguous.
    Ipv4,
    /// `fe80::1`, masks as a prefix length when contiguous.
    Ipv6,
    /// An OpenFlow 1.0 port: a number or `LOCAL`, `CONTROLLER`, ...
    Port,
    /// Conntrack state flags.
    CtState,
    /// TCP flags.
    TcpFlags,
    /// Tunnel flags.
    TunFlags,
    /// Fragment state names.
    Frag,
    /// `0x%05x`, the IPv6 flow label.
    FlowLabel,
    /// Hexadecimal with 4 digits, and the `dl_vlan`/`dl_vlan_pcp` forms in matches.
    VlanTci,
}

/// An NXM/OXM code point: class and field number (the header's top 23 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Code {
    /// `NXM_OF`, `NXM_NX`, `OXM_BASIC` or `OXM_PKT_REGS`.
    pub class: u16,
    /// The 7-bit field number.
    pub field: u8,
}

const fn oxm(field: u8) -> Option<Code> {
    Some(Code { class: OXM_BASIC, field })
}
const fn nx(field: u8) -> Option<Code> {
    Some(Code { class: NXM_NX, field })
}
const fn of(field: u8) -> Option<Code> {
    Some(Code { class: NXM_OF, field })
}

/// One row of the field table (one field, or one numbered family).
#[derive(Debug)]
pub struct FieldDef {
    /// The field (index 0 of a family).
    pub proto: Field,
    /// Number of members of the family (1 for a plain field).
    pub count: u8,
    /// Canonical name (`set_field` prints it); a family appends the index.
    pub name: &'static str,
    /// Name a printed match uses (`dl_src` for `eth_src`); a family appends the index.
    pub match_name: &'static str,
    /// Other names `ovs-ofctl` accepts.
    pub aliases: &'static [&'static str],
    /// NXM or OXM name used in subfields (`NXM_NX_REG13[0..15]`); a family appends the index.
    pub nxm_name: &'static str,
    /// Standard OXM code point, preferred on the wire.
    pub oxm: Option<Code>,
    /// Nicira NXM code point.
    pub nxm: Option<Code>,
    /// Width in bits.
    pub bits: u16,
    /// Width of the value on the wire in bytes (0 = variable, `tun_metadata`).
    pub bytes: u8,
    /// Value syntax.
    pub format: Format,
    /// Whether matches may carry an arbitrary bitwise mask.
    pub maskable: bool,
    /// Whether `set_field` may write it.
    pub writable: bool,
}

macro_rules! row {
    ($proto:expr, $count:expr, $name:expr, $mname:expr, [$($alias:expr),*], $nxm_name:expr, $oxm:expr, $nxm:expr,
     $bits:expr, $bytes:expr, $format:ident, $maskable:expr, $writable:expr) => {
        FieldDef {
            proto: $proto,
            count: $count,
            name: $name,
            match_name: $mname,
            aliases: &[$($alias),*],
            nxm_name: $nxm_name,
            oxm: $oxm,
            nxm: $nxm,
            bits: $bits,
            bytes: $bytes,
            format: Format::$format,
            maskable: $maskable,
            writable: $writable,
        }
    };
}

use Field as F;

/// The field table, in `ovs-ofctl dump-flows` print order. See the module documentation.
#[rustfmt::skip]
pub static FIELDS: &[FieldDef] = &[
    //   field            n   name             match name     aliases                    NXM/OXM name              OXM       NXM      bits bytes format     mask  write
    row!(F::PktMark,      1, "pkt_mark",      "pkt_mark",     [],                        "NXM_NX_PKT_MARK",        None,     nx(33),   32, 4, Hex,       true,  true),
    row!(F::RecircId,     1, "recirc_id",     "recirc_id",    [],                        "NXM_NX_RECIRC_ID",       None,     nx(36),   32, 4, Hex,       false, false),
    row!(F::DpHash,       1, "dp_hash",       "dp_hash",      [],                        "NXM_NX_DP_HASH",         None,     nx(35),   32, 4, Hex,       true,  false),
    row!(F::ConjId,       1, "conj_id",       "conj_id",      [],                        "NXM_NX_CONJ_ID",         None,     nx(37),   32, 4, Decimal,   false, false),
    row!(F::CtState,      1, "ct_state",      "ct_state",     [],                        "NXM_NX_CT_STATE",        None,     nx(105),  32, 4, CtState,   true,  false),
    row!(F::CtZone,       1, "ct_zone",       "ct_zone",      [],                        "NXM_NX_CT_ZONE",         None,     nx(106),  16, 2, Decimal,   false, false),
    row!(F::CtMark,       1, "ct_mark",       "ct_mark",      [],                        "NXM_NX_CT_MARK",         None,     nx(107),  32, 4, Hex,       true,  true),
    row!(F::CtLabel,      1, "ct_label",      "ct_label",     [],                        "NXM_NX_CT_LABEL",        None,     nx(108), 128, 16, Hex,      true,  true),
    row!(F::CtNwSrc,      1, "ct_nw_src",     "ct_nw_src",    [],                        "NXM_NX_CT_NW_SRC",       None,     nx(120),  32, 4, Ipv4,      true,  false),
    row!(F::CtNwDst,      1, "ct_nw_dst",     "ct_nw_dst",    [],                        "NXM_NX_CT_NW_DST",       None,     nx(121),  32, 4, Ipv4,      true,  false),
    row!(F::CtIpv6Src,    1, "ct_ipv6_src",   "ct_ipv6_src",  [],                        "NXM_NX_CT_IPV6_SRC",     None,     nx(122), 128, 16, Ipv6,     true,  false),
    row!(F::CtIpv6Dst,    1, "ct_ipv6_dst",   "ct_ipv6_dst",  [],                        "NXM_NX_CT_IPV6_DST",     None,     nx(123), 128, 16, Ipv6,     true,  false),
    row!(F::CtNwProto,    1, "ct_nw_proto",   "ct_nw_proto",  [],                        "NXM_NX_CT_NW_PROTO",     None,     nx(119),   8, 1, Decimal,   false, false),
    row!(F::CtTpSrc,      1, "ct_tp_src",     "ct_tp_src",    [],                        "NXM_NX_CT_TP_SRC",       None,     nx(124),  16, 2, Decimal,   true,  false),
    row!(F::CtTpDst,      1, "ct_tp_dst",     "ct_tp_dst",    [],                        "NXM_NX_CT_TP_DST",       None,     nx(125),  16, 2, Decimal,   true,  false),
    row!(F::Reg(0),      16, "reg",           "reg",          [],                        "NXM_NX_REG",             None,     nx(0),    32, 4, Hex,       true,  true),
    row!(F::Xreg(0),      8, "xreg",          "xreg",         [],                        "OXM_OF_PKT_REG",         Some(Code { class: OXM_PKT_REGS, field: 0 }), None, 64, 8, Hex, true, true),
    row!(F::Xxreg(0),     4, "xxreg",         "xxreg",        [],                        "NXM_NX_XXREG",           None,     nx(111), 128, 16, Hex,      true,  true),
    row!(F::TunId,        1, "tun_id",        "tun_id",       ["tunnel_id"],             "NXM_NX_TUN_ID",          oxm(38),  nx(16),   64, 8, Hex,       true,  true),
    row!(F::TunSrc,       1, "tun_src",       "tun_src",      ["tun_ipv4_src"],          "NXM_NX_TUN_IPV4_SRC",    None,     nx(31),   32, 4, Ipv4,      true,  true),
    row!(F::TunDst,       1, "tun_dst",       "tun_dst",      ["tun_ipv4_dst"],          "NXM_NX_TUN_IPV4_DST",    None,     nx(32),   32, 4, Ipv4,      true,  true),
    row!(F::TunIpv6Src,   1, "tun_ipv6_src",  "tun_ipv6_src", [],                        "NXM_NX_TUN_IPV6_SRC",    None,     nx(109), 128, 16, Ipv6,     true,  true),
    row!(F::TunIpv6Dst,   1, "tun_ipv6_dst",  "tun_ipv6_dst", [],                        "NXM_NX_TUN_IPV6_DST",    None,     nx(110), 128, 16, Ipv6,     true,  true),
    row!(F::TunFlags,     1, "tun_flags",     "tun_flags",    [],                        "NXM_NX_TUN_FLAGS",       None,     nx(104),  16, 2, TunFlags,  true,  true),
    row!(F::TunMetadata(0), 64, "tun_metadata", "tun_metadata", [],                      "NXM_NX_TUN_METADATA",    None,     nx(40),  992, 0, Hex,       true,  true),
    row!(F::Metadata,     1, "metadata",      "metadata",     [],                        "OXM_OF_METADATA",        oxm(2),   None,     64, 8, Hex,       true,  true),
    row!(F::InPort,       1, "in_port",       "in_port",      [],                        "NXM_OF_IN_PORT",         None,     of(0),    16, 2, Port,      false, true),
    row!(F::VlanTci,      1, "vlan_tci",      "vlan_tci",     [],                        "NXM_OF_VLAN_TCI",        None,     of(4),    16, 2, VlanTci,   true,  true),
    row!(F::VlanVid,      1, "vlan_vid",      "vlan_vid",     [],                        "OXM_OF_VLAN_VID",        oxm(6),   None,     13, 2, Decimal,   true,  true),
    row!(F::VlanPcp,      1, "vlan_pcp",      "vlan_pcp",     [],                        "OXM_OF_VLAN_PCP",        oxm(7),   None,      3, 1, Decimal,   false, true),
    row!(F::EthSrc,       1, "eth_src",       "dl_src",       [],                        "NXM_OF_ETH_SRC",         oxm(4),   of(2),    48, 6, Ethernet,  true,  true),
    row!(F::EthDst,       1, "eth_dst",       "dl_dst",       [],                        "NXM_OF_ETH_DST",         oxm(3),   of(1),    48, 6, Ethernet,  true,  true),
    row!(F::EthType,      1, "eth_type",      "dl_type",      [],                        "NXM_OF_ETH_TYPE",        oxm(5),   of(3),    16, 2, Hex,       false, false),
    row!(F::Ipv6Src,      1, "ipv6_src",      "ipv6_src",     [],                        "NXM_NX_IPV6_SRC",        oxm(26),  nx(19),  128, 16, Ipv6,     true,  true),
    row!(F::Ipv6Dst,      1, "ipv6_dst",      "ipv6_dst",     [],                        "NXM_NX_IPV6_DST",        oxm(27),  nx(20),  128, 16, Ipv6,     true,  true),
    row!(F::Ipv6Label,    1, "ipv6_label",    "ipv6_label",   [],                        "NXM_NX_IPV6_LABEL",      oxm(28),  nx(27),   20, 4, FlowLabel, true,  true),
    row!(F::IpSrc,        1, "ip_src",        "nw_src",       [],                        "NXM_OF_IP_SRC",          oxm(11),  of(7),    32, 4, Ipv4,      true,  true),
    row!(F::IpDst,        1, "ip_dst",        "nw_dst",       [],                        "NXM_OF_IP_DST",          oxm(12),  of(8),    32, 4, Ipv4,      true,  true),
    row!(F::ArpSpa,       1, "arp_spa",       "arp_spa",      [],                        "NXM_OF_ARP_SPA",         oxm(22),  of(16),   32, 4, Ipv4,      true,  true),
    row!(F::ArpTpa,       1, "arp_tpa",       "arp_tpa",      [],                        "NXM_OF_ARP_TPA",         oxm(23),  of(17),   32, 4, Ipv4,      true,  true),
    row!(F::IpProto,      1, "nw_proto",      "nw_proto",     ["ip_proto"],              "NXM_OF_IP_PROTO",        oxm(10),  of(6),     8, 1, Decimal,   false, false),
    row!(F::ArpOp,        1, "arp_op",        "arp_op",       [],                        "NXM_OF_ARP_OP",          oxm(21),  of(15),   16, 2, Decimal,   false, true),
    row!(F::IpDscp,       1, "ip_dscp",       "nw_tos",       [],                        "OXM_OF_IP_DSCP",         oxm(8),   None,      6, 1, Decimal,   false, true),
    row!(F::IpEcn,        1, "nw_ecn",        "nw_ecn",       ["ip_ecn"],                "NXM_NX_IP_ECN",          oxm(9),   nx(28),    2, 1, Decimal,   false, true),
    row!(F::IpTtl,        1, "nw_ttl",        "nw_ttl",       [],                        "NXM_NX_IP_TTL",          None,     nx(29),    8, 1, Decimal,   false, true),
    row!(F::IpFrag,       1, "ip_frag",       "nw_frag",      [],                        "NXM_NX_IP_FRAG",         None,     nx(26),    8, 1, Frag,      true,  false),
    row!(F::ArpSha,       1, "arp_sha",       "arp_sha",      [],                        "NXM_NX_ARP_SHA",         oxm(24),  nx(17),   48, 6, Ethernet,  true,  true),
    row!(F::ArpTha,       1, "arp_tha",       "arp_tha",      [],                        "NXM_NX_ARP_THA",         oxm(25),  nx(18),   48, 6, Ethernet,  true,  true),
    row!(F::TcpSrc,       1, "tcp_src",       "tp_src",       [],                        "NXM_OF_TCP_SRC",         oxm(13),  of(9),    16, 2, Decimal,   true,  true),
    row!(F::TcpDst,       1, "tcp_dst",       "tp_dst",       [],                        "NXM_OF_TCP_DST",         oxm(14),  of(10),   16, 2, Decimal,   true,  true),
    row!(F::UdpSrc,       1, "udp_src",       "tp_src",       [],                        "NXM_OF_UDP_SRC",         oxm(15),  of(11),   16, 2, Decimal,   true,  true),
    row!(F::UdpDst,       1, "udp_dst",       "tp_dst",       [],                        "NXM_OF_UDP_DST",         oxm(16),  of(12),   16, 2, Decimal,   true,  true),
    row!(F::SctpSrc,      1, "sctp_src",      "tp_src",       [],                        "OXM_OF_SCTP_SRC",        oxm(17),  None,     16, 2, Decimal,   true,  true),
    row!(F::SctpDst,      1, "sctp_dst",      "tp_dst",       [],                        "OXM_OF_SCTP_DST",        oxm(18),  None,     16, 2, Decimal,   true,  true),
    row!(F::IcmpType,     1, "icmp_type",     "icmp_type",    [],                        "NXM_OF_ICMP_TYPE",       oxm(19),  of(13),    8, 1, Decimal,   false, true),
    row!(F::IcmpCode,     1, "icmp_code",     "icmp_code",    [],                        "NXM_OF_ICMP_CODE",       oxm(20),  of(14),    8, 1, Decimal,   false, true),
    row!(F::Icmpv6Type,   1, "icmpv6_type",   "icmp_type",    [],                        "NXM_NX_ICMPV6_TYPE",     oxm(29),  nx(21),    8, 1, Decimal,   false, true),
    row!(F::Icmpv6Code,   1, "icmpv6_code",   "icmp_code",    [],                        "NXM_NX_ICMPV6_CODE",     oxm(30),  nx(22),    8, 1, Decimal,   false, true),
    row!(F::TcpFlags,     1, "tcp_flags",     "tcp_flags",    [],                        "NXM_NX_TCP_FLAGS",       None,     nx(34),   16, 2, TcpFlags,  true,  false),
    row!(F::NdTarget,     1, "nd_target",     "nd_target",    [],                        "NXM_NX_ND_TARGET",       oxm(31),  nx(23),  128, 16, Ipv6,     true,  true),
    row!(F::NdSll,        1, "nd_sll",        "nd_sll",       [],                        "NXM_NX_ND_SLL",          oxm(32),  nx(24),   48, 6, Ethernet,  true,  true),
    row!(F::NdTll,        1, "nd_tll",        "nd_tll",       [],                        "NXM_NX_ND_TLL",          oxm(33),  nx(25),   48, 6, Ethernet,  true,  true),
];

/// Matches print the protocol shorthand (`ip`, `tcp`, ...) just before this row.
pub const SHORTHAND_BEFORE: Field = Field::Reg(0);

impl Field {
    /// This field's row in [`FIELDS`] and its position there (the print rank).
    fn row(self) -> (usize, &'static FieldDef) {
        static INDEX: OnceLock<HashMap<Discriminant<Field>, usize>> = OnceLock::new();
        let index = INDEX.get_or_init(|| FIELDS.iter().enumerate().map(|(i, d)| (discriminant(&d.proto), i)).collect());
        let i = index.get(&discriminant(&self)).copied().unwrap_or(0);
        (i, &FIELDS[i])
    }

    /// The table row describing this field.
    pub fn def(self) -> &'static FieldDef {
        self.row().1
    }

    /// Print rank: row position, then family index.
    pub fn rank(self) -> (usize, u8) {
        (self.row().0, self.index())
    }

    /// Index within its family (0 for plain fields).
    pub fn index(self) -> u8 {
        match self {
            Field::Reg(i) | Field::Xreg(i) | Field::Xxreg(i) | Field::TunMetadata(i) => i,
            _ => 0,
        }
    }

    /// Whether a family index is in range (`reg16` does not exist).
    pub fn is_valid(self) -> bool {
        self.index() < self.def().count
    }

    fn with_index(self, name: &str) -> String {
        if self.def().count > 1 {
            format!("{name}{}", self.index())
        } else {
            name.to_string()
        }
    }

    /// Canonical name (`eth_src`, `reg14`), as `set_field` prints it.
    pub fn name(self) -> String {
        self.with_index(self.def().name)
    }

    /// Name in a printed match (`dl_src`, `reg14`, `tp_dst`).
    pub fn match_name(self) -> String {
        self.with_index(self.def().match_name)
    }

    /// NXM/OXM name, as subfields print it (`NXM_NX_REG14`, `OXM_OF_METADATA`).
    pub fn nxm_name(self) -> String {
        self.with_index(self.def().nxm_name)
    }

    /// Width in bits.
    pub fn bits(self) -> u16 {
        self.def().bits
    }

    /// The all-ones mask of this field's width (capped at 128 bits, the widest value we carry).
    pub fn full_mask(self) -> u128 {
        ones(self.bits())
    }

    /// The code point used on the wire: standard OXM when there is one, else NXM.
    pub fn code(self) -> Option<Code> {
        let d = self.def();
        d.oxm.or(d.nxm).map(|c| Code { class: c.class, field: c.field + self.index() })
    }

    /// The NXM code point (or, lacking one, the OXM one) as used in subfield headers of Nicira actions.
    pub fn nxm_code(self) -> Option<Code> {
        let d = self.def();
        d.nxm.or(d.oxm).map(|c| Code { class: c.class, field: c.field + self.index() })
    }

    /// Every field, families expanded, in print order.
    pub fn all() -> impl Iterator<Item = Field> {
        FIELDS.iter().flat_map(|d| (0..d.count).map(move |i| d.proto.nth(i)))
    }

    fn nth(self, i: u8) -> Field {
        match self {
            Field::Reg(_) => Field::Reg(i),
            Field::Xreg(_) => Field::Xreg(i),
            Field::Xxreg(_) => Field::Xxreg(i),
            Field::TunMetadata(_) => Field::TunMetadata(i),
            f => f,
        }
    }

    /// Looks a field up by any of its names: canonical, match name, alias or NXM/OXM name.
    ///
    /// The context-dependent names (`tp_src`, `icmp_type` under `icmp6`, `nw_src` under `arp`) resolve to
    /// their IPv4/TCP meaning here; the match parser re-resolves them once it knows the protocol.
    pub fn from_name(name: &str) -> Option<Field> {
        match name {
            "tp_src" => return Some(Field::TcpSrc),
            "tp_dst" => return Some(Field::TcpDst),
            _ => {}
        }
        for d in FIELDS {
            // `nw_tos` (ip_dscp's match name) is the DSCP shifted left by 2: only the match parser, which
            // shifts, may read it; `set_field:V->nw_tos` is not taken for `ip_dscp`.
            let match_name = if d.proto == Field::IpDscp { d.name } else { d.match_name };
            let names = [d.name, match_name, d.nxm_name].into_iter().chain(d.aliases.iter().copied());
            for n in names {
                if d.count == 1 {
                    if n == name {
                        return Some(d.proto);
                    }
                } else if let Some(rest) = name.strip_prefix(n) {
                    if let Ok(i) = rest.parse::<u8>() {
                        if i < d.count && !rest.starts_with('+') && (rest == "0" || !rest.starts_with('0')) {
                            return Some(d.proto.nth(i));
                        }
                    }
                }
            }
        }
        None
    }

    /// Looks a field up by its wire code point (OXM or NXM).
    pub fn from_code(code: Code) -> Option<Field> {
        for d in FIELDS {
            for c in [d.oxm, d.nxm].into_iter().flatten() {
                if c.class == code.class && code.field >= c.field && code.field - c.field < d.count {
                    return Some(d.proto.nth(code.field - c.field));
                }
            }
        }
        None
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The all-ones value of `bits` bits (capped at 128).
pub fn ones(bits: u16) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_both_ways() {
        for f in Field::all() {
            assert_eq!(Field::from_name(&f.name()), Some(f), "{f:?}");
            assert_eq!(Field::from_name(&f.nxm_name()), Some(f), "{f:?}");
            if let Some(code) = f.code() {
                assert_eq!(Field::from_code(code), Some(f), "{f:?}");
            }
        }
        assert_eq!(Field::from_name("reg16"), None);
        assert_eq!(Field::from_name("reg01"), None);
        assert_eq!(Field::from_name("dl_src"), Some(Field::EthSrc));
        assert_eq!(Field::from_name("NXM_NX_XXREG3"), Some(Field::Xxreg(3)));
        assert_eq!(Field::from_name("tunnel_id"), Some(Field::TunId));
    }

    #[test]
    fn every_variant_has_a_row() {
        let kinds: std::collections::HashSet<_> = FIELDS.iter().map(|d| discriminant(&d.proto)).collect();
        assert_eq!(kinds.len(), FIELDS.len(), "one row per field");
        for f in Field::all() {
            assert!(same_row(f.def().proto, f), "{f:?}");
        }
    }

    fn same_row(a: Field, b: Field) -> bool {
        discriminant(&a) == discriminant(&b)
    }

    #[test]
    fn families_have_consecutive_code_points() {
        assert_eq!(Field::Reg(14).code(), Some(Code { class: NXM_NX, field: 14 }));
        assert_eq!(Field::Xxreg(2).code(), Some(Code { class: NXM_NX, field: 113 }));
        assert_eq!(Field::Xreg(4).code(), Some(Code { class: OXM_PKT_REGS, field: 4 }));
        assert_eq!(Field::TunMetadata(1).code(), Some(Code { class: NXM_NX, field: 41 }));
        assert_eq!(Field::EthSrc.code(), Some(Code { class: OXM_BASIC, field: 4 }));
        assert_eq!(Field::EthSrc.nxm_code(), Some(Code { class: NXM_OF, field: 2 }));
    }
}
