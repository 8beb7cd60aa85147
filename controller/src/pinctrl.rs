//! Packet-ins: what the switch hands the controller, and what the controller sends back.
//!
//! A logical `controller` action carries `userdata` = opcode (4 bytes), 4 zero bytes, then OpenFlow actions
//! (see `flowgen::actions::encode`). Here:
//! - `put_arp`: the packet-in's `reg14` (logical input port), `reg0` (IP) and the packet's Ethernet source
//!   become a Southbound `MAC_Binding` (written by the daemon);
//! - `arp { ... }`: the IPv4 packet is turned into an ARP request for its destination and sent back into
//!   the pipeline with the packet-in's metadata and the nested actions (a packet-out);
//! - `icmp4 { ... }` / `icmp4_error { ... }`, `tcp_reset { ... }`, `sctp_abort { ... }`: the packet is
//!   answered with an ICMPv4 destination unreachable quoting it, a TCP RST or an SCTP ABORT ([`reply`]),
//!   sent back into the pipeline the same way; the nested actions then turn the defaults built here into
//!   the router's answer (swap the addresses, set the ICMP type and code, choose the output port);
//! - gratuitous ARPs announce the addresses a gateway hosts ([`garp`]).
//!
//! Everything here is pure byte work on packets and messages; the daemon owns the connection.

use std::net::Ipv4Addr;

use flowgen::actions::encode::Opcode;
use flowgen::ofp::wire::{self, PacketIn};
use flowgen::ofp::{Error as OfpError, Field, Match};

pub const ETH_ARP: u16 = 0x0806;
/// OpenFlow message type of a packet-out.
const OFPT_PACKET_OUT: u8 = 13;
pub const ETH_IP: u16 = 0x0800;

/// A decoded controller action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub opcode: Opcode,
    /// The nested actions, still in wire form (they go into a packet-out as they are).
    pub actions: Vec<u8>,
}

/// Reads the opcode and nested actions of a packet-in's userdata.
pub fn request(pi: &PacketIn) -> Option<Request> {
    let u = pi.userdata.as_ref()?;
    if u.len() < 8 {
        return None;
    }
    let opcode = Opcode::from_u32(u32::from_be_bytes([u[0], u[1], u[2], u[3]]))?;
    Some(Request { opcode, actions: u[8..].to_vec() })
}

/// A field of the packet-in's metadata.
pub fn meta(pi: &PacketIn, name: &str) -> Option<u128> {
    let f = Field::from_name(name)?;
    pi.metadata.exact(f).or_else(|| pi.metadata.get(f).map(|m| m.value))
}

fn mac_at(p: &[u8], at: usize) -> Option<[u8; 6]> {
    p.get(at..at + 6)?.try_into().ok()
}

/// Ethernet source of a packet.
pub fn eth_src(p: &[u8]) -> Option<[u8; 6]> {
    mac_at(p, 6)
}

/// The MAC as text, lowercase.
pub fn mac_text(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn ethertype(p: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*p.get(12)?, *p.get(13)?]))
}

/// An ARP packet (Ethernet + ARP for IPv4).
pub fn arp_packet(eth_dst: [u8; 6], eth_src: [u8; 6], op: u16, sha: [u8; 6], spa: Ipv4Addr, tha: [u8; 6], tpa: Ipv4Addr) -> Vec<u8> {
    let mut b = Vec::with_capacity(42);
    b.extend(eth_dst);
    b.extend(eth_src);
    b.extend(ETH_ARP.to_be_bytes());
    b.extend([0, 1, 8, 0, 6, 4]);
    b.extend(op.to_be_bytes());
    b.extend(sha);
    b.extend(spa.octets());
    b.extend(tha);
    b.extend(tpa.octets());
    b
}

/// `arp { ... }`: the ARP request an IPv4 packet turns into (before the nested actions adjust it): same
/// Ethernet addresses, sender = the packet's source, target = its destination.
pub fn arp_from_ipv4(p: &[u8]) -> Option<Vec<u8>> {
    if ethertype(p)? != ETH_IP {
        return None;
    }
    let ip = p.get(14..34)?;
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let (edst, esrc) = (mac_at(p, 0)?, mac_at(p, 6)?);
    Some(arp_packet(edst, esrc, 1, esrc, src, [0; 6], dst))
}

/// A gratuitous ARP announcing `ip` at `mac`.
pub fn garp(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    arp_packet([0xff; 6], mac, 1, mac, ip, [0; 6], ip)
}

const ETH_VLAN: u16 = 0x8100;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_SCTP: u8 = 132;
/// IPv4 "don't fragment", in the flags/fragment offset word.
const IP_DF: u16 = 0x4000;
/// ICMPv4 destination unreachable, and its codes.
pub const ICMP4_DST_UNREACH: u8 = 3;
pub const ICMP4_HOST_UNREACH: u8 = 1;
pub const ICMP4_PORT_UNREACH: u8 = 3;
/// An ICMP error and everything before it must fit in 576 bytes (RFC 1812 4.3.2.3), counting the Ethernet
/// header as ovn-controller does: what is left after our headers is how much of the packet is quoted.
const ICMP4_ERROR_MAX: usize = 576;
/// TTL of the resets and aborts (ovn-controller's; the nested actions of `icmp4` set their own).
const RESET_TTL: u8 = 63;
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;
const SCTP_INIT: u8 = 1;
const SCTP_ABORT: u8 = 6;
/// ABORT's T bit: the verification tag is the one of the packet answered, reflected (RFC 4960 8.5.1).
const SCTP_ABORT_T: u8 = 0x01;

/// Why a packet-in got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoReply {
    #[error("not an IPv4 packet (or a truncated one)")]
    NotIpv4,
    #[error("the IPv4 packet's protocol is {0}, not the one this action answers")]
    WrongProtocol(u8),
    #[error("truncated transport header")]
    Truncated,
    #[error("an SCTP ABORT is never answered")]
    Abort,
    #[error("the controller does not handle this action yet")]
    Unsupported,
}

/// An IPv4 frame as the answers read it: Ethernet addresses, an 802.1Q tag if any, and the IP datagram
/// (header and payload, cut at the header's total length so Ethernet padding is not quoted).
#[derive(Debug, Clone, Copy)]
struct Ipv4Frame<'a> {
    dst: [u8; 6],
    src: [u8; 6],
    vlan: Option<[u8; 4]>,
    ip: &'a [u8],
    header_len: usize,
}

impl<'a> Ipv4Frame<'a> {
    fn parse(p: &'a [u8]) -> Result<Self, NoReply> {
        let (dst, src) = (mac_at(p, 0).ok_or(NoReply::NotIpv4)?, mac_at(p, 6).ok_or(NoReply::NotIpv4)?);
        let (vlan, at) = match ethertype(p).ok_or(NoReply::NotIpv4)? {
            ETH_VLAN => (Some(p.get(12..16).and_then(|t| t.try_into().ok()).ok_or(NoReply::NotIpv4)?), 16),
            _ => (None, 12),
        };
        let ether = p.get(at..at + 2).ok_or(NoReply::NotIpv4)?;
        if u16::from_be_bytes([ether[0], ether[1]]) != ETH_IP {
            return Err(NoReply::NotIpv4);
        }
        let ip = p.get(at + 2..).ok_or(NoReply::NotIpv4)?;
        let first = *ip.first().ok_or(NoReply::NotIpv4)?;
        let header_len = usize::from(first & 0x0f) * 4;
        if first >> 4 != 4 || header_len < 20 || ip.len() < header_len {
            return Err(NoReply::NotIpv4);
        }
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        if total < header_len {
            return Err(NoReply::NotIpv4);
        }
        // A packet-in may carry less than the total length (a truncated capture): quote what there is.
        let ip = &ip[..total.min(ip.len())];
        Ok(Ipv4Frame { dst, src, vlan, ip, header_len })
    }

    fn proto(&self) -> u8 {
        self.ip[9]
    }

    fn src_ip(&self) -> &'a [u8] {
        &self.ip[12..16]
    }

    fn dst_ip(&self) -> &'a [u8] {
        &self.ip[16..20]
    }

    /// The transport header and payload, if the protocol is `proto` and at least `min` bytes are there.
    fn l4(&self, proto: u8, min: usize) -> Result<&'a [u8], NoReply> {
        if self.proto() != proto {
            return Err(NoReply::WrongProtocol(self.proto()));
        }
        let l4 = &self.ip[self.header_len..];
        if l4.len() < min {
            return Err(NoReply::Truncated);
        }
        Ok(l4)
    }

    /// A new frame with this one's Ethernet addresses and tag and a fresh 20-byte IPv4 header with this
    /// one's addresses and TOS: the nested actions swap what needs swapping, as in ovn-controller.
    fn answer(&self, proto: u8, ttl: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(38 + payload.len());
        b.extend(self.dst);
        b.extend(self.src);
        if let Some(tag) = self.vlan {
            b.extend(tag);
        }
        b.extend(ETH_IP.to_be_bytes());
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[1] = self.ip[1];
        ip[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        ip[6..8].copy_from_slice(&IP_DF.to_be_bytes());
        ip[8] = ttl;
        ip[9] = proto;
        ip[12..16].copy_from_slice(self.src_ip());
        ip[16..20].copy_from_slice(self.dst_ip());
        let sum = checksum(&[&ip]);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        b.extend(ip);
        b.extend_from_slice(payload);
        b
    }
}

/// The Internet checksum (RFC 1071) of the concatenation of `parts`; every part but the last must have
/// an even length (they are headers).
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut words = part.chunks_exact(2);
        for w in &mut words {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [last] = words.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// CRC32c (Castagnoli, reflected), the SCTP checksum (RFC 4960 appendix B).
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    !crc
}

/// What a packet-building action sends back into the pipeline for packet `p`, before its nested actions
/// run; `Err` says why nothing is sent.
pub fn reply(op: Opcode, p: &[u8]) -> Result<Vec<u8>, NoReply> {
    match op {
        Opcode::Arp => arp_from_ipv4(p).ok_or(NoReply::NotIpv4),
        Opcode::Icmp4 => icmp4_unreachable(p, false),
        Opcode::Icmp4Error => icmp4_unreachable(p, true),
        Opcode::TcpReset => tcp_reset(p),
        Opcode::SctpAbort => sctp_abort(p),
        _ => Err(NoReply::Unsupported),
    }
}

/// `icmp4 { ... }` and `icmp4_error { ... }`: an ICMPv4 destination unreachable (code 1, host unreachable,
/// as ovn-sb(5) documents; `icmp4_error` says port unreachable for UDP) with TTL 255, quoting the original
/// datagram from its IP header on, at least its first 8 payload bytes (RFC 792) and as much more as fits
/// in 576 bytes (RFC 1812), as ovn-controller does for both.
pub fn icmp4_unreachable(p: &[u8], error: bool) -> Result<Vec<u8>, NoReply> {
    let f = Ipv4Frame::parse(p)?;
    let code = if error && f.proto() == IPPROTO_UDP { ICMP4_PORT_UNREACH } else { ICMP4_HOST_UNREACH };
    let quoted = &f.ip[..f.ip.len().min(ICMP4_ERROR_MAX - 14 - 20 - 8)];
    let mut icmp = vec![ICMP4_DST_UNREACH, code, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(quoted);
    let sum = checksum(&[&icmp]);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    Ok(f.answer(IPPROTO_ICMP, 255, &icmp))
}

/// `tcp_reset { ... }`: the RST that refuses segment `p` (RFC 793, "Reset Generation"), from its
/// destination port to its source port. A segment without ACK (a SYN above all) gets
/// `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`, which is what ovn-controller sends for a SYN; a segment with
/// an ACK gets `<SEQ=SEG.ACK><CTL=RST>`, the only RST its sender accepts (ovn-controller answers every
/// segment as if it were a SYN, which a peer in a synchronized state ignores).
pub fn tcp_reset(p: &[u8]) -> Result<Vec<u8>, NoReply> {
    let f = Ipv4Frame::parse(p)?;
    let seg = f.l4(IPPROTO_TCP, 20)?;
    let data_offset = usize::from(seg[12] >> 4) * 4;
    if data_offset < 20 || data_offset > seg.len() {
        return Err(NoReply::Truncated);
    }
    let flags = seg[13];
    let seq_in = u32::from_be_bytes([seg[4], seg[5], seg[6], seg[7]]);
    let ack_in = u32::from_be_bytes([seg[8], seg[9], seg[10], seg[11]]);
    let mut th = [0u8; 20];
    th[0..2].copy_from_slice(&seg[2..4]);
    th[2..4].copy_from_slice(&seg[0..2]);
    if flags & TCP_ACK != 0 {
        th[4..8].copy_from_slice(&ack_in.to_be_bytes());
        th[13] = TCP_RST;
    } else {
        // SEG.LEN counts the data and the SYN and FIN flags.
        let len = (seg.len() - data_offset) as u32 + u32::from(flags & TCP_SYN != 0) + u32::from(flags & TCP_FIN != 0);
        th[8..12].copy_from_slice(&seq_in.wrapping_add(len).to_be_bytes());
        th[13] = TCP_RST | TCP_ACK;
    }
    th[12] = 5 << 4;
    let pseudo = pseudo_header(&f, IPPROTO_TCP, th.len());
    let sum = checksum(&[&pseudo, &th]);
    th[16..18].copy_from_slice(&sum.to_be_bytes());
    Ok(f.answer(IPPROTO_TCP, RESET_TTL, &th))
}

/// The IPv4 pseudo-header of a transport checksum, for an answer to `f` (same addresses, swapped or not
/// later by set-field actions, which OVS follows in the checksum).
fn pseudo_header(f: &Ipv4Frame<'_>, proto: u8, len: usize) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[0..4].copy_from_slice(f.src_ip());
    h[4..8].copy_from_slice(f.dst_ip());
    h[9] = proto;
    h[10..12].copy_from_slice(&(len as u16).to_be_bytes());
    h
}

/// `sctp_abort { ... }`: an SCTP packet with one ABORT chunk, from the destination port to the source
/// port (RFC 4960 8.4). An INIT (whose verification tag is 0) is answered with its Initiate Tag and the T
/// bit clear (item 3); anything else with its own tag reflected and the T bit set (item 8), as
/// ovn-controller does. An ABORT is never answered.
pub fn sctp_abort(p: &[u8]) -> Result<Vec<u8>, NoReply> {
    let f = Ipv4Frame::parse(p)?;
    let sp = f.l4(IPPROTO_SCTP, 16)?;
    let chunk_type = sp[12];
    if chunk_type == SCTP_ABORT {
        return Err(NoReply::Abort);
    }
    let tag_in = [sp[4], sp[5], sp[6], sp[7]];
    let (tag, t_bit) = if tag_in == [0; 4] && chunk_type == SCTP_INIT {
        // The INIT chunk: type, flags, length, then the Initiate Tag.
        (sp.get(16..20).and_then(|t| <[u8; 4]>::try_from(t).ok()).ok_or(NoReply::Truncated)?, 0)
    } else {
        (tag_in, SCTP_ABORT_T)
    };
    let mut sh = [0u8; 16];
    sh[0..2].copy_from_slice(&sp[2..4]);
    sh[2..4].copy_from_slice(&sp[0..2]);
    sh[4..8].copy_from_slice(&tag);
    sh[12..16].copy_from_slice(&[SCTP_ABORT, t_bit, 0, 4]);
    // The CRC goes on the wire least significant byte first (RFC 4960 appendix B, as Linux stores it).
    let crc = crc32c(&sh);
    sh[8..12].copy_from_slice(&crc.to_le_bytes());
    Ok(f.answer(IPPROTO_SCTP, RESET_TTL, &sh))
}

/// An OpenFlow 1.5 `OFPT_PACKET_OUT`: `packet`, with pipeline metadata `fields` (in_port, metadata,
/// registers), running `actions` (already in wire form).
pub fn packet_out(xid: u32, fields: &Match, actions: &[u8], packet: &[u8]) -> Result<Vec<u8>, OfpError> {
    let mut b = vec![6u8, OFPT_PACKET_OUT, 0, 0];
    b.extend(xid.to_be_bytes());
    b.extend(0xffff_ffffu32.to_be_bytes()); // no buffer
    b.extend((actions.len() as u16).to_be_bytes());
    b.extend([0, 0]);
    wire::encode_match(fields, &mut b)?;
    b.extend_from_slice(actions);
    b.extend_from_slice(packet);
    let len = b.len() as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    Ok(b)
}

/// The pipeline fields of a packet-in worth restoring on a packet-out (logical metadata and registers).
pub fn pipeline_fields(pi: &PacketIn) -> Match {
    let mut m = Match::new();
    for (f, v) in pi.metadata.iter() {
        let keep = matches!(f, Field::InPort | Field::Metadata | Field::Reg(_) | Field::Xreg(_) | Field::Xxreg(_));
        if keep {
            let _ = m.set_masked(f, v.value, v.mask);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_arp_from_an_ip_packet() {
        let mut ip = vec![0u8; 34];
        ip[0..6].copy_from_slice(&[0, 0, 0, 0, 0, 0]);
        ip[6..12].copy_from_slice(&[0x16, 0x52, 0xf3, 0x13, 0x6a, 0x25]);
        ip[12..14].copy_from_slice(&ETH_IP.to_be_bytes());
        ip[26..30].copy_from_slice(&[100, 0, 0, 14]);
        ip[30..34].copy_from_slice(&[192, 168, 100, 1]);
        let arp = arp_from_ipv4(&ip).unwrap();
        assert_eq!(arp.len(), 42);
        assert_eq!(&arp[12..14], &ETH_ARP.to_be_bytes());
        assert_eq!(&arp[22..28], &[0x16, 0x52, 0xf3, 0x13, 0x6a, 0x25], "sender is the packet's source MAC");
        assert_eq!(&arp[38..42], &[192, 168, 100, 1], "target is the packet's destination");
        let g = garp([1, 2, 3, 4, 5, 6], Ipv4Addr::new(192, 168, 100, 101));
        assert_eq!(&g[0..6], &[0xff; 6]);
        assert_eq!(&g[28..32], &g[38..42], "sender and target IP are the same");
        assert_eq!(mac_text([0x0a, 0, 0, 0, 1, 1]), "0a:00:00:00:01:01");
    }

    const VM_MAC: [u8; 6] = [0, 0, 0, 0, 0, 1];
    const ROUTER_MAC: [u8; 6] = [0, 0, 0, 0, 0xff, 1];
    const VM_IP: [u8; 4] = [10, 1, 0, 10];
    const ROUTER_IP: [u8; 4] = [10, 1, 0, 1];

    /// A frame from the VM to the router's MAC: IPv4 (TTL 1, TOS 0x10, id 0x1234) carrying `l4` to `dst`.
    fn frame(proto: u8, dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(ROUTER_MAC);
        b.extend(VM_MAC);
        b.extend(ETH_IP.to_be_bytes());
        let mut ip = [0x45, 0x10, 0, 0, 0x12, 0x34, 0, 0, 1, proto, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        ip[12..16].copy_from_slice(&VM_IP);
        ip[16..20].copy_from_slice(&dst);
        let sum = checksum(&[&ip]);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        b.extend(ip);
        b.extend_from_slice(l4);
        b
    }

    /// A UDP datagram 40000 -> 33434 with `n` bytes of payload (its checksum is not checked by anyone here).
    fn udp(n: usize) -> Vec<u8> {
        let mut u = vec![0x9c, 0x40, 0x82, 0x9a, 0, 0, 0, 0];
        u[4..6].copy_from_slice(&((8 + n) as u16).to_be_bytes());
        u.extend((0..n).map(|i| i as u8));
        u
    }

    /// A TCP segment 40000 -> 80 with `flags`, sequence and acknowledgment numbers and `data`.
    fn tcp(flags: u8, seq: u32, ack: u32, data: &[u8]) -> Vec<u8> {
        let mut t = vec![0x9c, 0x40, 0, 80];
        t.extend(seq.to_be_bytes());
        t.extend(ack.to_be_bytes());
        t.extend([5 << 4, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
        t.extend_from_slice(data);
        t
    }

    /// Checks the IPv4 header of an answer (header checksum, total length, TTL, protocol, addresses as in
    /// the original) and returns its payload.
    fn ip_payload(out: &[u8], proto: u8, ttl: u8) -> &[u8] {
        assert_eq!(&out[0..6], &ROUTER_MAC, "Ethernet addresses as received: the nested actions swap them");
        assert_eq!(&out[6..12], &VM_MAC);
        assert_eq!(&out[12..14], &ETH_IP.to_be_bytes());
        let ip = &out[14..34];
        assert_eq!(checksum(&[ip]), 0, "IPv4 header checksum");
        assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), out.len() - 14, "IPv4 total length");
        assert_eq!((ip[8], ip[9]), (ttl, proto), "TTL and protocol");
        assert_eq!((&ip[12..16], &ip[16..20]), (&VM_IP[..], &ROUTER_IP[..]), "addresses as received");
        &out[34..]
    }

    fn tcp_checksum_ok(out: &[u8]) -> bool {
        let seg = &out[34..];
        let mut pseudo = Vec::from(&out[26..34]);
        pseudo.extend([0, IPPROTO_TCP]);
        pseudo.extend((seg.len() as u16).to_be_bytes());
        checksum(&[&pseudo, seg]) == 0
    }

    #[test]
    fn icmp4_quotes_the_ip_header_and_8_bytes_with_checksums_right() {
        let original = frame(IPPROTO_UDP, ROUTER_IP, &udp(12));
        for (op, code) in [(Opcode::Icmp4Error, ICMP4_PORT_UNREACH), (Opcode::Icmp4, ICMP4_HOST_UNREACH)] {
            let out = reply(op, &original).unwrap();
            let icmp = ip_payload(&out, IPPROTO_ICMP, 255);
            assert_eq!((icmp[0], icmp[1]), (ICMP4_DST_UNREACH, code), "{op:?}: type and code");
            assert_eq!(checksum(&[icmp]), 0, "{op:?}: ICMP checksum");
            assert_eq!(&icmp[8..36], &original[14..42], "{op:?}: the original IP header and first 8 bytes are quoted");
        }
        // icmp4_error says port unreachable for UDP only.
        let tcp_syn = frame(IPPROTO_TCP, ROUTER_IP, &tcp(TCP_SYN, 7, 0, &[]));
        let out = icmp4_unreachable(&tcp_syn, true).unwrap();
        assert_eq!(out[35], ICMP4_HOST_UNREACH);
        // An odd-length quote still checksums right.
        let out = icmp4_unreachable(&frame(IPPROTO_UDP, ROUTER_IP, &udp(3)), false).unwrap();
        assert_eq!(checksum(&[&out[34..]]), 0);
        assert_eq!(out.len(), 14 + 20 + 8 + 20 + 8 + 3, "the whole short datagram is quoted");
    }

    #[test]
    fn icmp4_answer_fits_576_bytes_and_ignores_ethernet_padding() {
        let out = icmp4_unreachable(&frame(IPPROTO_UDP, ROUTER_IP, &udp(1400)), true).unwrap();
        assert_eq!(out.len(), 576, "quoted as much as fits in 576 bytes");
        assert_eq!(checksum(&[&out[34..]]), 0);
        // A 60-byte minimum frame: the padding after the datagram is not part of it.
        let mut padded = frame(IPPROTO_UDP, ROUTER_IP, &udp(2));
        padded.resize(60, 0xee);
        let out = icmp4_unreachable(&padded, true).unwrap();
        assert_eq!(out.len(), 14 + 20 + 8 + 30);
    }

    #[test]
    fn tcp_reset_answers_a_syn_with_rst_ack_of_its_sequence_plus_one() {
        let out = reply(Opcode::TcpReset, &frame(IPPROTO_TCP, ROUTER_IP, &tcp(TCP_SYN, 0xffff_ffff, 0, &[]))).unwrap();
        let th = ip_payload(&out, IPPROTO_TCP, RESET_TTL);
        assert_eq!(th.len(), 20);
        assert_eq!((&th[0..2], &th[2..4]), (&[0, 80][..], &[0x9c, 0x40][..]), "ports swapped");
        assert_eq!(&th[4..8], &[0, 0, 0, 0], "SEQ=0");
        assert_eq!(&th[8..12], &[0, 0, 0, 0], "ACK=SEG.SEQ+1, wrapping");
        assert_eq!(th[13], TCP_RST | TCP_ACK);
        assert!(tcp_checksum_ok(&out), "TCP checksum");
    }

    #[test]
    fn tcp_reset_answers_data_per_rfc_793() {
        // With an ACK: the RST carries SEQ=SEG.ACK and no ACK.
        let out = tcp_reset(&frame(IPPROTO_TCP, ROUTER_IP, &tcp(TCP_ACK | 0x08, 1000, 5000, b"hello"))).unwrap();
        let th = ip_payload(&out, IPPROTO_TCP, RESET_TTL);
        assert_eq!(&th[4..8], &5000u32.to_be_bytes(), "SEQ=SEG.ACK");
        assert_eq!(th[13], TCP_RST);
        assert!(tcp_checksum_ok(&out));
        // Without one: ACK=SEG.SEQ+SEG.LEN, counting the data and a FIN.
        let out = tcp_reset(&frame(IPPROTO_TCP, ROUTER_IP, &tcp(TCP_FIN, 1000, 0, b"hello"))).unwrap();
        let th = &out[34..];
        assert_eq!((&th[4..8], &th[8..12]), (&[0u8; 4][..], &1006u32.to_be_bytes()[..]));
        assert_eq!(th[13], TCP_RST | TCP_ACK);
        assert!(tcp_checksum_ok(&out));
    }

    #[test]
    fn sctp_abort_takes_the_init_tag_or_reflects_the_packets() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283, "CRC32c check value");
        // INIT: tag 0, chunk type 1, flags, length 20, Initiate Tag 0xdeadbeef, ...
        let mut init = vec![0x9c, 0x40, 0x0b, 0x59, 0, 0, 0, 0, 0, 0, 0, 0, SCTP_INIT, 0, 0, 20];
        init.extend([0xde, 0xad, 0xbe, 0xef, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1]);
        let out = reply(Opcode::SctpAbort, &frame(IPPROTO_SCTP, ROUTER_IP, &init)).unwrap();
        let sh = ip_payload(&out, IPPROTO_SCTP, RESET_TTL);
        assert_eq!((&sh[0..2], &sh[2..4]), (&[0x0b, 0x59][..], &[0x9c, 0x40][..]), "ports swapped");
        assert_eq!(&sh[4..8], &[0xde, 0xad, 0xbe, 0xef], "the INIT's Initiate Tag");
        assert_eq!(&sh[12..16], &[SCTP_ABORT, 0, 0, 4], "ABORT, T bit clear");
        let mut zeroed = sh.to_vec();
        zeroed[8..12].fill(0);
        assert_eq!(&sh[8..12], &crc32c(&zeroed).to_le_bytes(), "CRC32c");
        // Anything else (a DATA chunk here): its own tag, reflected.
        let data = [0x9c, 0x40, 0x0b, 0x59, 1, 2, 3, 4, 0, 0, 0, 0, 0, 3, 0, 16, 0, 0, 0, 0];
        let out = sctp_abort(&frame(IPPROTO_SCTP, ROUTER_IP, &data)).unwrap();
        assert_eq!((&out[38..42], &out[46..50]), (&[1, 2, 3, 4][..], &[SCTP_ABORT, SCTP_ABORT_T, 0, 4][..]));
        // An ABORT is not answered.
        let abort = [0x9c, 0x40, 0x0b, 0x59, 1, 2, 3, 4, 0, 0, 0, 0, SCTP_ABORT, 0, 0, 4];
        assert_eq!(sctp_abort(&frame(IPPROTO_SCTP, ROUTER_IP, &abort)), Err(NoReply::Abort));
    }

    #[test]
    fn a_vlan_tag_is_kept() {
        let mut tagged = frame(IPPROTO_TCP, ROUTER_IP, &tcp(TCP_SYN, 41, 0, &[]));
        tagged.splice(12..12, [0x81, 0x00, 0x00, 0x64]);
        let out = tcp_reset(&tagged).unwrap();
        assert_eq!(&out[12..18], &[0x81, 0x00, 0x00, 0x64, 0x08, 0x00], "the 802.1Q tag (VLAN 100), then IPv4");
        let untagged: Vec<u8> = out[..12].iter().chain(&out[16..]).copied().collect();
        assert!(tcp_checksum_ok(&untagged));
        assert_eq!(&untagged[42..46], &42u32.to_be_bytes(), "ACK=SEG.SEQ+1");
    }

    #[test]
    fn malformed_packets_get_no_answer() {
        let syn = frame(IPPROTO_TCP, ROUTER_IP, &tcp(TCP_SYN, 1, 0, &[]));
        assert_eq!(tcp_reset(&frame(IPPROTO_UDP, ROUTER_IP, &udp(4))), Err(NoReply::WrongProtocol(IPPROTO_UDP)));
        assert_eq!(tcp_reset(&syn[..40]), Err(NoReply::Truncated), "TCP header cut");
        assert_eq!(icmp4_unreachable(&syn[..30], false), Err(NoReply::NotIpv4), "IP header cut");
        assert_eq!(reply(Opcode::Icmp6, &syn), Err(NoReply::Unsupported));
        let mut bad_len = syn.clone();
        bad_len[16..18].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(icmp4_unreachable(&bad_len, false), Err(NoReply::NotIpv4), "total length below the header's");
    }

    proptest::proptest! {
        /// No byte string makes an answer builder panic.
        #[test]
        fn builders_never_panic(p in proptest::collection::vec(proptest::num::u8::ANY, 0..120)) {
            for op in [Opcode::Arp, Opcode::Icmp4, Opcode::Icmp4Error, Opcode::TcpReset, Opcode::SctpAbort] {
                let _ = reply(op, &p);
                for proto in [IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP] {
                    let _ = reply(op, &frame(proto, ROUTER_IP, &p));
                }
            }
        }
    }
}
