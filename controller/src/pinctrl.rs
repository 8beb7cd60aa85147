//! Packet-ins: what the switch hands the controller, and what the controller sends back.
//!
//! A logical `controller` action carries `userdata` = opcode (4 bytes), 4 zero bytes, then OpenFlow actions
//! (see `flowgen::actions::encode`). Here:
//! - `put_arp`: the packet-in's `reg14` (logical input port), `reg0` (IP) and the packet's Ethernet source
//!   become a Southbound `MAC_Binding` (written by the daemon);
//! - `arp { ... }`: the IPv4 packet is turned into an ARP request for its destination and sent back into
//!   the pipeline with the packet-in's metadata and the nested actions (a packet-out);
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
}
