//! The symbol table: every name a logical flow's match may use, what it means in OpenFlow terms, and what
//! it implies (its prerequisites). This is the one place these facts live.
//!
//! Three kinds of symbols (`ovn-sb(5)`, "Symbols"):
//! - fields: a packet header or metadata field, mapped onto an Open vSwitch field (`eth.src` is `eth_src`,
//!   `inport` is the logical input port register `reg14`), with a width and whether its bits can be tested
//!   one by one (ordinal) or only for equality (nominal);
//! - subfields: a bit range of another symbol (`vlan.vid` is `vlan.tci[0..11]`, `ct.est` is `ct_state[1]`);
//! - predicates: a name for an expression (`ip4` is `eth.type == 0x800`).
//!
//! The logical registers sit in Open vSwitch registers the same way `ovn-controller` places them, so a
//! chassis running our controller and one running OVN's agree on what the bits mean.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Open vSwitch register holding the logical input port (`inport`).
pub const REG_INPORT: &str = "reg14";
/// Open vSwitch register holding the logical output port (`outport`).
pub const REG_OUTPORT: &str = "reg15";
/// Open vSwitch register holding the logical flags (`flags`).
pub const REG_FLAGS: &str = "reg10";
/// Open vSwitch registers holding a router's DNAT and SNAT conntrack zones, and a port's zone.
pub const REG_DNAT_ZONE: &str = "reg11";
pub const REG_SNAT_ZONE: &str = "reg12";
pub const REG_CT_ZONE: &str = "reg13";

/// Bits of the logical flags register.
pub mod flag {
    pub const ALLOW_LOOPBACK: u16 = 0;
    pub const RCV_FROM_RAMP: u16 = 1;
    pub const FORCE_SNAT_FOR_DNAT: u16 = 2;
    pub const FORCE_SNAT_FOR_LB: u16 = 3;
    pub const LOCAL_ONLY: u16 = 4;
    pub const NESTED_CONTAINER: u16 = 5;
    pub const LOOKUP_MAC: u16 = 6;
    pub const LOOKUP_LB_HAIRPIN: u16 = 7;
    pub const LOOKUP_FDB: u16 = 8;
    pub const SKIP_SNAT_FOR_LB: u16 = 9;
    pub const LOCALPORT: u16 = 10;
    pub const USE_SNAT_ZONE: u16 = 11;
    pub const CHECK_PORT_SEC: u16 = 12;
    pub const LOOKUP_COMMIT_ECMP_NH: u16 = 13;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A field: the Open vSwitch field it is, its width, and whether its bits can be tested one by one.
    Field { of: &'static str, width: u16, ordinal: bool },
    /// A field holding a logical port name (`inport`, `outport`), carried in a 32-bit register as the
    /// port's tunnel key.
    Port { of: &'static str },
    /// Bits `lo..=hi` of another symbol.
    Subfield { parent: &'static str, lo: u16, hi: u16 },
    /// An expression with a name.
    Predicate { expansion: &'static str },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub name: &'static str,
    pub kind: Kind,
    /// An expression that must also hold wherever the symbol is used.
    pub prereq: Option<&'static str>,
}

fn field(name: &'static str, of: &'static str, width: u16, ordinal: bool, prereq: Option<&'static str>) -> Symbol {
    Symbol { name, kind: Kind::Field { of, width, ordinal }, prereq }
}

fn sub(name: &'static str, parent: &'static str, lo: u16, hi: u16, prereq: Option<&'static str>) -> Symbol {
    Symbol { name, kind: Kind::Subfield { parent, lo, hi }, prereq }
}

fn pred(name: &'static str, expansion: &'static str) -> Symbol {
    Symbol { name, kind: Kind::Predicate { expansion }, prereq: None }
}

const REG_NAMES: [&str; 10] = ["reg0", "reg1", "reg2", "reg3", "reg4", "reg5", "reg6", "reg7", "reg8", "reg9"];
const XREG_NAMES: [&str; 5] = ["xreg0", "xreg1", "xreg2", "xreg3", "xreg4"];
const XXREG_NAMES: [&str; 2] = ["xxreg0", "xxreg1"];

fn build() -> HashMap<&'static str, Symbol> {
    let mut v: Vec<Symbol> = Vec::new();
    // Logical registers: reg0..9 are OVS reg0..9; xregN overlays reg(2N),reg(2N+1); xxregN overlays
    // reg(4N)..reg(4N+3), the lower-numbered register holding the more significant bits.
    for r in REG_NAMES {
        v.push(field(r, r, 32, true, None));
    }
    for r in XREG_NAMES {
        v.push(field(r, r, 64, true, None));
    }
    for r in XXREG_NAMES {
        v.push(field(r, r, 128, true, None));
    }
    v.push(Symbol { name: "inport", kind: Kind::Port { of: REG_INPORT }, prereq: None });
    v.push(Symbol { name: "outport", kind: Kind::Port { of: REG_OUTPORT }, prereq: None });
    v.push(field("flags", REG_FLAGS, 32, true, None));
    for (name, bit) in [
        ("flags.loopback", flag::ALLOW_LOOPBACK),
        ("flags.force_snat_for_dnat", flag::FORCE_SNAT_FOR_DNAT),
        ("flags.force_snat_for_lb", flag::FORCE_SNAT_FOR_LB),
        ("flags.skip_snat_for_lb", flag::SKIP_SNAT_FOR_LB),
        ("flags.localport", flag::LOCALPORT),
        ("flags.use_snat_zone", flag::USE_SNAT_ZONE),
    ] {
        v.push(sub(name, "flags", bit, bit, None));
    }
    v.push(field("pkt.mark", "pkt_mark", 32, true, None));

    // Connection tracking.
    v.push(field("ct_mark", "ct_mark", 32, true, None));
    v.push(sub("ct_mark.blocked", "ct_mark", 0, 0, None));
    v.push(sub("ct_mark.natted", "ct_mark", 1, 1, None));
    v.push(sub("ct_mark.ecmp_reply_port", "ct_mark", 16, 31, None));
    v.push(sub("ct_mark.skip_snat", "ct_mark", 2, 2, None));
    v.push(field("ct_label", "ct_label", 128, true, None));
    v.push(sub("ct_label.blocked", "ct_label", 0, 0, None));
    v.push(sub("ct_label.natted", "ct_label", 1, 1, None));
    v.push(sub("ct_label.ecmp_reply_eth", "ct_label", 32, 79, None));
    v.push(sub("ct_label.ecmp_reply_port", "ct_label", 80, 95, None));
    v.push(sub("ct_label.label", "ct_label", 96, 127, None));
    v.push(field("ct_state", "ct_state", 32, true, None));
    v.push(sub("ct.trk", "ct_state", 5, 5, None));
    for (name, bit) in [("ct.new", 0), ("ct.est", 1), ("ct.rel", 2), ("ct.rpl", 3), ("ct.inv", 4), ("ct.snat", 6), ("ct.dnat", 7)] {
        v.push(sub(name, "ct_state", bit, bit, Some("ct.trk")));
    }

    // Ethernet and VLAN.
    v.push(field("eth.src", "eth_src", 48, true, None));
    v.push(field("eth.dst", "eth_dst", 48, true, None));
    v.push(field("eth.type", "eth_type", 16, false, None));
    v.push(pred("eth.bcast", "eth.dst == ff:ff:ff:ff:ff:ff"));
    v.push(pred("eth.mcast", "eth.dst[40]"));
    v.push(field("vlan.tci", "vlan_tci", 16, true, None));
    v.push(sub("vlan.present", "vlan.tci", 12, 12, None));
    v.push(sub("vlan.vid", "vlan.tci", 0, 11, Some("vlan.present")));
    v.push(sub("vlan.pcp", "vlan.tci", 13, 15, Some("vlan.present")));

    // IP.
    v.push(pred("ip4", "eth.type == 0x800"));
    v.push(pred("ip6", "eth.type == 0x86dd"));
    v.push(pred("ip", "ip4 || ip6"));
    v.push(field("ip.proto", "nw_proto", 8, false, Some("ip")));
    v.push(field("ip.dscp", "ip_dscp", 6, true, Some("ip")));
    v.push(field("ip.ecn", "nw_ecn", 2, true, Some("ip")));
    v.push(field("ip.ttl", "nw_ttl", 8, true, Some("ip")));
    v.push(field("ip.frag", "ip_frag", 2, true, Some("ip")));
    v.push(sub("ip.is_frag", "ip.frag", 0, 0, None));
    v.push(sub("ip.later_frag", "ip.frag", 1, 1, None));
    v.push(pred("ip.first_frag", "ip.is_frag && !ip.later_frag"));
    v.push(field("ip4.src", "ip_src", 32, true, Some("ip4")));
    v.push(field("ip4.dst", "ip_dst", 32, true, Some("ip4")));
    v.push(pred("ip4.src_mcast", "ip4.src[28..31] == 0xe"));
    v.push(pred("ip4.mcast", "ip4.dst[28..31] == 0xe"));
    v.push(field("ip6.src", "ipv6_src", 128, true, Some("ip6")));
    v.push(field("ip6.dst", "ipv6_dst", 128, true, Some("ip6")));
    v.push(field("ip6.label", "ipv6_label", 20, true, Some("ip6")));
    v.push(pred("ip6.mcast", "ip6.dst[120..127] == 0xff"));
    v.push(pred("ip6.mcast_rsvd", "ip6.dst[116..127] == 0xff0 && ip6.dst[0..111] == 0x0"));
    v.push(pred("ip6.mcast_all_nodes", "ip6.dst == ff01::1 || ip6.dst == ff02::1"));
    v.push(pred("ip6.mcast_all_rtrs", "ip6.dst == ff01::2 || ip6.dst == ff02::2 || ip6.dst == ff05::2"));
    v.push(pred("ip6.mcast_sol_node", "ip6.dst == ff02::1:ff00:0000/104"));
    v.push(pred("ip6.mcast_flood", "eth.mcast && (ip6.mcast_rsvd || ip6.mcast_all_nodes || ip6.mcast_all_rtrs || ip6.mcast_sol_node)"));

    // ICMP, IGMP, MLD.
    v.push(pred("icmp4", "ip4 && ip.proto == 1"));
    v.push(field("icmp4.type", "icmp_type", 8, true, Some("icmp4")));
    v.push(field("icmp4.code", "icmp_code", 8, true, Some("icmp4")));
    v.push(pred("icmp6", "ip6 && ip.proto == 58"));
    v.push(field("icmp6.type", "icmpv6_type", 8, true, Some("icmp6")));
    v.push(field("icmp6.code", "icmpv6_code", 8, true, Some("icmp6")));
    v.push(pred("icmp", "icmp4 || icmp6"));
    v.push(pred("igmp", "ip4 && ip.proto == 2"));
    v.push(pred("mldv1", "ip6.src == fe80::/10 && icmp6.type == {130, 131, 132}"));
    v.push(pred("mldv2", "ip6.src == fe80::/10 && icmp6.type == 143"));

    // ARP and RARP.
    v.push(pred("arp", "eth.type == 0x806"));
    v.push(pred("rarp", "eth.type == 0x8035"));
    for (proto, p) in [("arp", "arp"), ("rarp", "rarp")] {
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        v.push(field(leak(format!("{proto}.op")), "arp_op", 16, true, Some(p)));
        v.push(field(leak(format!("{proto}.spa")), "arp_spa", 32, true, Some(p)));
        v.push(field(leak(format!("{proto}.tpa")), "arp_tpa", 32, true, Some(p)));
        v.push(field(leak(format!("{proto}.sha")), "arp_sha", 48, true, Some(p)));
        v.push(field(leak(format!("{proto}.tha")), "arp_tha", 48, true, Some(p)));
    }

    // Neighbour discovery.
    v.push(pred("nd", "icmp6.type == {135, 136} && icmp6.code == 0 && ip.ttl == 255"));
    v.push(pred("nd_ns", "icmp6.type == 135 && icmp6.code == 0 && ip.ttl == 255"));
    v.push(pred("nd_na", "icmp6.type == 136 && icmp6.code == 0 && ip.ttl == 255"));
    v.push(pred("nd_rs", "icmp6.type == 133 && icmp6.code == 0 && ip.ttl == 255"));
    v.push(pred("nd_ra", "icmp6.type == 134 && icmp6.code == 0 && ip.ttl == 255"));
    v.push(pred("nd_ns_mcast", "ip6.mcast && icmp6.type == 135 && icmp6.code == 0 && ip.ttl == 255"));
    v.push(field("nd.target", "nd_target", 128, true, Some("nd")));
    v.push(field("nd.sll", "nd_sll", 48, true, Some("nd_ns")));
    v.push(field("nd.tll", "nd_tll", 48, true, Some("nd_na")));

    // Transport.
    v.push(pred("tcp", "ip.proto == 6"));
    v.push(field("tcp.src", "tcp_src", 16, true, Some("tcp")));
    v.push(field("tcp.dst", "tcp_dst", 16, true, Some("tcp")));
    v.push(field("tcp.flags", "tcp_flags", 12, true, Some("tcp")));
    v.push(pred("udp", "ip.proto == 17"));
    v.push(field("udp.src", "udp_src", 16, true, Some("udp")));
    v.push(field("udp.dst", "udp_dst", 16, true, Some("udp")));
    v.push(pred("sctp", "ip.proto == 132"));
    v.push(field("sctp.src", "sctp_src", 16, true, Some("sctp")));
    v.push(field("sctp.dst", "sctp_dst", 16, true, Some("sctp")));
    v.push(pred("bfd", "ip4.dst[0..7] == 0 && udp.dst == 3784"));
    v.push(pred("dhcpv6", "udp.src == 546 && udp.dst == 547"));

    v.into_iter().map(|s| (s.name, s)).collect()
}

/// Looks a symbol up by name.
pub fn lookup(name: &str) -> Option<&'static Symbol> {
    static TABLE: OnceLock<HashMap<&'static str, Symbol>> = OnceLock::new();
    TABLE.get_or_init(build).get(name)
}

/// For a logical register overlay (`xregN`, `xxregN`): the 32-bit Open vSwitch registers it covers, most
/// significant first.
pub fn reg_overlay(of: &str) -> Option<Vec<&'static str>> {
    const REGS: [&str; 16] = [
        "reg0", "reg1", "reg2", "reg3", "reg4", "reg5", "reg6", "reg7", "reg8", "reg9", "reg10", "reg11", "reg12", "reg13", "reg14",
        "reg15",
    ];
    if let Some(n) = of.strip_prefix("xxreg").and_then(|n| n.parse::<usize>().ok()) {
        return REGS.get(4 * n..4 * n + 4).map(<[&str]>::to_vec);
    }
    if let Some(n) = of.strip_prefix("xreg").and_then(|n| n.parse::<usize>().ok()) {
        return REGS.get(2 * n..2 * n + 2).map(<[&str]>::to_vec);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_symbols_northd_writes() {
        for s in [
            "eth.src",
            "ip4.dst",
            "reg9",
            "xxreg1",
            "inport",
            "ct.est",
            "flags.loopback",
            "arp.tpa",
            "nd.target",
            "ip6.mcast_rsvd",
            "mldv2",
            "vlan.present",
        ] {
            assert!(lookup(s).is_some(), "{s}");
        }
        assert_eq!(reg_overlay("xxreg1"), Some(vec!["reg4", "reg5", "reg6", "reg7"]));
        assert_eq!(reg_overlay("xreg0"), Some(vec!["reg0", "reg1"]));
        assert!(lookup("eth.nope").is_none());
    }
}
