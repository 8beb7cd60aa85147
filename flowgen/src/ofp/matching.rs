//! A flow's match: a set of (field, value, mask), kept in the one normal form `ovs-ofctl` prints.
//!
//! Open vSwitch does not store a match as the list of TLVs it was given: it stores a packet header struct
//! plus a wildcard mask, and prints THAT back. So several inputs collapse into one printed form, and to
//! print exactly what `ovs-ofctl dump-flows` prints we normalise the same way when a field is inserted:
//!
//! * the value is ANDed with the mask (`arp_tpa=10.0.0.2/24` prints `10.0.0.0/24`), an all-ones mask is
//!   "exact" and a zero mask removes the field;
//! * `xregN` / `xxregN` are stored as the 32-bit registers they overlay (OVS prints `xxreg0=0x1` as
//!   `reg0=0,reg1=0,reg2=0,reg3=0x1`);
//! * `vlan_vid` / `vlan_pcp` are folded into `vlan_tci`, and `vlan_tci` is reduced to what OpenFlow 1.2+'s
//!   OXM `VLAN_VID` + `VLAN_PCP` can say (the switch answers `dump-flows` in OXM, so an exact `vlan_tci=0`
//!   comes back as `vlan_tci=0x0000/0x1fff`);
//! * flag fields keep only the bits that exist (`tcp_flags` 12 bits, `tun_flags` the `oam` bit), and a
//!   `ct_state` mask that covers every defined flag becomes an exact match (printed `est|trk`);
//! * `tun_metadataN` has no fixed width on the wire: the TLV is as long as the value (or mask) needs, and a
//!   mask of all ones over that length is exact (OVS prints `tun_metadata0=0x10/0xff` as `0x10`).
//!
//! Protocol shorthands (`ip`, `tcp6`, `arp`, ...) are nothing but exact `eth_type` (+ `nw_proto`) entries;
//! [`Proto`] names them.

use super::field::{ones, Field};
use super::Error;

/// A value and its mask. For an exact match the mask is the field's full mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Masked {
    /// The value (already ANDed with the mask).
    pub value: u128,
    /// The mask; all ones over the field's width means exact.
    pub mask: u128,
}

/// A flow match. Build it with [`Match::set`] / [`Match::set_masked`] / [`Match::with_proto`].
///
/// The entries are a vector sorted by field, not a map: a controller keeps several copies of each of its
/// tens of thousands of flows' matches (the compiled flow, the desired and the installed key), and a
/// B-tree leaf has room for eleven entries whatever a match holds (typically three to six). A clone is
/// exactly as long as the match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Match {
    entries: Vec<(Field, Masked)>,
}

/// The protocol shorthands `ovs-ofctl` prints instead of `dl_type=...` (and `nw_proto=...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// `ip`: IPv4.
    Ip,
    /// `ipv6`.
    Ipv6,
    /// `icmp`: IPv4 + ICMP.
    Icmp,
    /// `icmp6`: IPv6 + ICMPv6.
    Icmp6,
    /// `tcp`.
    Tcp,
    /// `tcp6`.
    Tcp6,
    /// `udp`.
    Udp,
    /// `udp6`.
    Udp6,
    /// `sctp`.
    Sctp,
    /// `sctp6`.
    Sctp6,
    /// `arp`.
    Arp,
    /// `rarp`.
    Rarp,
}

/// Ethernet types of the shorthands.
pub const ETH_IP: u16 = 0x0800;
/// IPv6 Ethernet type.
pub const ETH_IPV6: u16 = 0x86dd;
/// ARP Ethernet type.
pub const ETH_ARP: u16 = 0x0806;
/// RARP Ethernet type.
pub const ETH_RARP: u16 = 0x8035;

/// The shorthand table: name, Ethernet type, IP protocol.
const PROTOS: &[(Proto, &str, u16, Option<u8>)] = &[
    (Proto::Ip, "ip", ETH_IP, None),
    (Proto::Ipv6, "ipv6", ETH_IPV6, None),
    (Proto::Icmp, "icmp", ETH_IP, Some(1)),
    (Proto::Icmp6, "icmp6", ETH_IPV6, Some(58)),
    (Proto::Tcp, "tcp", ETH_IP, Some(6)),
    (Proto::Tcp6, "tcp6", ETH_IPV6, Some(6)),
    (Proto::Udp, "udp", ETH_IP, Some(17)),
    (Proto::Udp6, "udp6", ETH_IPV6, Some(17)),
    (Proto::Sctp, "sctp", ETH_IP, Some(132)),
    (Proto::Sctp6, "sctp6", ETH_IPV6, Some(132)),
    (Proto::Arp, "arp", ETH_ARP, None),
    (Proto::Rarp, "rarp", ETH_RARP, None),
];

impl Proto {
    fn row(self) -> (Proto, &'static str, u16, Option<u8>) {
        PROTOS.iter().copied().find(|r| r.0 == self).unwrap_or(PROTOS[0])
    }
    /// The `ovs-ofctl` keyword.
    pub fn name(self) -> &'static str {
        self.row().1
    }
    /// Its Ethernet type.
    pub fn eth_type(self) -> u16 {
        self.row().2
    }
    /// Its IP protocol, if it names one.
    pub fn ip_proto(self) -> Option<u8> {
        self.row().3
    }
    /// Looks a keyword up.
    pub fn from_name(name: &str) -> Option<Proto> {
        PROTOS.iter().find(|r| r.1 == name).map(|r| r.0)
    }
    /// The shorthand for an Ethernet type and optional IP protocol, if there is one.
    pub fn from_parts(eth_type: u16, ip_proto: Option<u8>) -> Option<Proto> {
        PROTOS.iter().find(|r| r.2 == eth_type && r.3 == ip_proto).map(|r| r.0)
    }
}

/// The `vlan_tci` bit saying a VLAN header is present (the CFI bit in OpenFlow 1.0 terms).
pub const VLAN_CFI: u16 = 0x1000;

impl Match {
    /// The empty match (matches every packet).
    pub fn new() -> Match {
        Match::default()
    }

    /// A match on a protocol shorthand.
    pub fn proto(p: Proto) -> Match {
        Match::new().with_proto(p)
    }

    /// Adds the `eth_type` (and `nw_proto`) of a protocol shorthand.
    pub fn with_proto(mut self, p: Proto) -> Match {
        self.set_proto(p);
        self
    }

    /// Sets the `eth_type` (and `nw_proto`) of a protocol shorthand.
    pub fn set_proto(&mut self, p: Proto) {
        self.put(Field::EthType, p.eth_type().into(), Field::EthType.full_mask());
        if let Some(n) = p.ip_proto() {
            self.put(Field::IpProto, n.into(), Field::IpProto.full_mask());
        }
    }

    /// Builder form of [`Match::set`]. Panics on a value wider than the field: for literals in code;
    /// use [`Match::set`] for data.
    pub fn with(mut self, field: Field, value: u128) -> Match {
        self.set(field, value).expect("value fits the field");
        self
    }

    /// Builder form of [`Match::set_masked`] (panics on a too-wide value, like [`Match::with`]).
    pub fn with_masked(mut self, field: Field, value: u128, mask: u128) -> Match {
        self.set_masked(field, value, mask).expect("value fits the field");
        self
    }

    /// Matches `field` exactly.
    pub fn set(&mut self, field: Field, value: u128) -> Result<(), Error> {
        self.set_masked(field, value, field.full_mask())
    }

    /// Matches the bits of `field` selected by `mask`. Normalises as described in the module docs.
    pub fn set_masked(&mut self, field: Field, value: u128, mask: u128) -> Result<(), Error> {
        if !field.is_valid() {
            return Err(Error::BadField(format!("{field:?}")));
        }
        let full = field.full_mask();
        if value & !full != 0 || mask & !full != 0 {
            return Err(Error::TooWide { field: field.name(), bits: field.bits() });
        }
        if mask != full && !field.def().maskable {
            return Err(Error::NotMaskable(field.name()));
        }
        match field {
            Field::Xreg(n) => {
                let (v, m) = (value as u64, mask as u64);
                self.put(Field::Reg(2 * n), u128::from(v >> 32), u128::from(m >> 32));
                self.put(Field::Reg(2 * n + 1), u128::from(v & 0xffff_ffff), u128::from(m & 0xffff_ffff));
            }
            Field::Xxreg(n) => {
                for i in 0..4u8 {
                    let shift = 96 - 32 * u32::from(i);
                    self.put(Field::Reg(4 * n + i), (value >> shift) & 0xffff_ffff, (mask >> shift) & 0xffff_ffff);
                }
            }
            Field::VlanVid => {
                let (v, m) = self.vlan_tci();
                let (v, m) = ((v & !0x1fff) | (value as u16 & 0x1fff), (m & !0x1fff) | (mask as u16 & 0x1fff));
                self.put_vlan_tci(v, m);
            }
            Field::VlanPcp => {
                let (v, m) = self.vlan_tci();
                let (v, m) = ((v & 0x0fff) | ((value as u16) << 13) | VLAN_CFI, (m & 0x0fff) | 0xf000);
                self.put_vlan_tci(v, m);
            }
            Field::VlanTci => self.put_vlan_tci(value as u16, mask as u16),
            Field::CtState => {
                // The eight defined flags (new est rel rpl inv trk snat dnat): covering all is exact.
                let mask = if mask & 0xff == 0xff { full } else { mask };
                self.put(field, value, mask);
            }
            Field::TcpFlags => self.put(field, value & 0x0fff, mask & 0x0fff),
            Field::TunFlags => self.put(field, value & 1, mask & 1),
            Field::IpFrag => self.put(field, value & 3, mask & 3),
            Field::TunMetadata(_) => {
                let len = bytes_needed(value).max(bytes_needed(mask)).max(1);
                let mask = if mask == ones(len * 8) { full } else { mask };
                self.put(field, value, mask);
            }
            _ => self.put(field, value, mask),
        }
        Ok(())
    }

    fn vlan_tci(&self) -> (u16, u16) {
        self.get(Field::VlanTci).map(|m| (m.value as u16, m.mask as u16)).unwrap_or((0, 0))
    }

    /// Where `field` is in the sorted entries, or where it would go.
    fn position(&self, field: Field) -> Result<usize, usize> {
        self.entries.binary_search_by(|(f, _)| f.cmp(&field))
    }

    /// Keeps what OXM VLAN_VID (vid + present bit, maskable) and VLAN_PCP (exact, only with a VLAN) say.
    fn put_vlan_tci(&mut self, value: u16, mask: u16) {
        let mut m = mask & 0x1fff;
        if mask & 0xe000 == 0xe000 && mask & VLAN_CFI != 0 && value & VLAN_CFI != 0 {
            m |= 0xe000;
        }
        self.put(Field::VlanTci, u128::from(value & m), u128::from(m));
    }

    /// Stores an already normalised entry; a zero mask removes the field.
    fn put(&mut self, field: Field, value: u128, mask: u128) {
        if mask == 0 {
            self.remove(field);
            return;
        }
        let m = Masked { value: value & mask, mask };
        match self.position(field) {
            Ok(i) => self.entries[i].1 = m,
            Err(i) => self.entries.insert(i, (field, m)),
        }
    }

    /// Forgets `field`.
    pub fn remove(&mut self, field: Field) {
        if let Ok(i) = self.position(field) {
            self.entries.remove(i);
        }
    }

    /// The entry for `field`, if matched.
    pub fn get(&self, field: Field) -> Option<Masked> {
        self.position(field).ok().map(|i| self.entries[i].1)
    }

    /// The exact value of `field`, if matched exactly.
    pub fn exact(&self, field: Field) -> Option<u128> {
        self.get(field).filter(|m| self.is_exact(field, m)).map(|m| m.value)
    }

    /// Whether an entry is an exact match of its field.
    pub fn is_exact(&self, field: Field, m: &Masked) -> bool {
        match field {
            Field::TcpFlags => m.mask == 0x0fff,
            Field::TunFlags => m.mask == 1,
            _ => m.mask == field.full_mask(),
        }
    }

    /// Whether nothing is matched.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in print order.
    pub fn iter(&self) -> impl Iterator<Item = (Field, Masked)> + '_ {
        let mut v: Vec<(Field, Masked)> = self.entries.clone();
        v.sort_by_key(|(f, _)| f.rank());
        v.into_iter()
    }

    /// The protocol shorthand this match prints, if any: `eth_type` exact, plus `nw_proto` when the
    /// shorthand covers it.
    pub fn shorthand(&self) -> Option<Proto> {
        let eth = u16::try_from(self.exact(Field::EthType)?).ok()?;
        let proto = self.exact(Field::IpProto).and_then(|p| u8::try_from(p).ok());
        if proto.is_some() {
            if let Some(p) = Proto::from_parts(eth, proto) {
                return Some(p);
            }
        }
        Proto::from_parts(eth, None)
    }
}

/// How many bytes a value needs (0 for zero).
pub(crate) fn bytes_needed(v: u128) -> u16 {
    (128 - v.leading_zeros()).div_ceil(8) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxreg_splits_into_registers() {
        let m = Match::new().with(Field::Xxreg(1), 1);
        let regs: Vec<_> = m.iter().collect();
        assert_eq!(regs.len(), 4);
        assert_eq!(m.get(Field::Reg(7)), Some(Masked { value: 1, mask: 0xffff_ffff }));
        assert_eq!(m.get(Field::Reg(4)), Some(Masked { value: 0, mask: 0xffff_ffff }));
        let m = Match::new().with_masked(Field::Xreg(0), 1 << 32, 1 << 32);
        assert_eq!(m.iter().count(), 1);
        assert_eq!(m.get(Field::Reg(0)), Some(Masked { value: 1, mask: 1 }));
    }

    #[test]
    fn values_are_masked_and_zero_masks_vanish() {
        let m = Match::new().with_masked(Field::ArpTpa, 0x0a000002, 0xffffff00);
        assert_eq!(m.get(Field::ArpTpa), Some(Masked { value: 0x0a000000, mask: 0xffffff00 }));
        assert!(Match::new().with_masked(Field::IpSrc, 0, 0).is_empty());
        assert!(Match::new().set(Field::Reg(0), 1 << 40).is_err());
        assert!(Match::new().set_masked(Field::IpProto, 6, 0xf).is_err());
    }

    #[test]
    fn vlan_tci_keeps_what_oxm_can_say() {
        let m = Match::new().with(Field::VlanTci, 0);
        assert_eq!(m.get(Field::VlanTci), Some(Masked { value: 0, mask: 0x1fff }));
        let m = Match::new().with(Field::VlanTci, 0x1234);
        assert_eq!(m.get(Field::VlanTci), Some(Masked { value: 0x1234, mask: 0xffff }));
        let m = Match::new().with(Field::VlanPcp, 3);
        assert_eq!(m.get(Field::VlanTci), Some(Masked { value: 0x7000, mask: 0xf000 }));
    }

    #[test]
    fn shorthands() {
        assert_eq!(Match::proto(Proto::Tcp6).shorthand(), Some(Proto::Tcp6));
        let m = Match::proto(Proto::Ip).with(Field::IpProto, 47);
        assert_eq!(m.shorthand(), Some(Proto::Ip));
        assert_eq!(Match::new().with(Field::EthType, 0x1234).shorthand(), None);
    }
}
