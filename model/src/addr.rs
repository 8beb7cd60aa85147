//! The address grammar of OVN's Northbound columns, parsed once at the edge into `ipnet`/`macaddr` types.
//!
//! Stricter than `ovn-nbctl` on purpose: an IPv4 address is exactly four decimal octets of at most 255
//! (`100.0.0.300` is refused), a prefix length fits its family, and a MAC is six hex octets.

use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use ipnet::IpNet;
use macaddr::MacAddr6;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    #[error("{0}: invalid MAC address")]
    Mac(String),
    #[error("{0}: invalid IP address")]
    Ip(String),
    #[error("{0}: invalid IPv4 address")]
    Ipv4(String),
    #[error("{0}: invalid network (expected IP/PREFIXLEN)")]
    Network(String),
    #[error("{0}: invalid address: expected \"MAC [IP...]\", \"router\", \"unknown\" or \"dynamic\" (see ovn-nb(5))")]
    LspAddress(String),
    #[error("{0}: invalid port security entry (expected \"MAC [IP[/PREFIX]...]\")")]
    PortSecurity(String),
    #[error("{word}: invalid IP address in {entry:?}")]
    LspIp { entry: String, word: String },
}

/// A MAC written as six colon-separated hex octets (`00:00:00:F3:5D:F1`).
pub fn parse_mac(s: &str) -> Result<MacAddr6, AddrError> {
    let parts: Vec<&str> = s.split(':').collect();
    let ok = parts.len() == 6 && parts.iter().all(|p| (1..=2).contains(&p.len()) && p.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok {
        return Err(AddrError::Mac(s.to_string()));
    }
    MacAddr6::from_str(&parts.iter().map(|p| format!("{p:0>2}")).collect::<Vec<_>>().join(":")).map_err(|_| AddrError::Mac(s.to_string()))
}

/// An IPv4 or IPv6 address.
pub fn parse_ip(s: &str) -> Result<IpAddr, AddrError> {
    s.parse::<IpAddr>().map_err(|_| AddrError::Ip(s.to_string()))
}

pub fn parse_ipv4(s: &str) -> Result<Ipv4Addr, AddrError> {
    s.parse::<Ipv4Addr>().map_err(|_| AddrError::Ipv4(s.to_string()))
}

/// `IP/LEN` (host bits may be set, as in a router port's `192.168.100.254/24`).
pub fn parse_network(s: &str) -> Result<IpNet, AddrError> {
    s.parse::<IpNet>().map_err(|_| AddrError::Network(s.to_string()))
}

/// An IP address or a prefix: `10.0.0.1` or `10.0.0.0/8` (a bare address is a host prefix).
pub fn parse_ip_or_network(s: &str) -> Result<IpNet, AddrError> {
    if s.contains('/') {
        parse_network(s)
    } else {
        parse_ip(s).map(IpNet::from)
    }
}

/// One entry of `Logical_Switch_Port.addresses`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LspAddress {
    /// `MAC [IP...]`
    Static { mac: MacAddr6, ips: Vec<IpAddr> },
    /// `router`: the addresses of the connected router port.
    Router,
    /// `unknown`: the port accepts packets for unknown MACs.
    Unknown,
    /// `dynamic`, optionally with a fixed MAC and/or IP.
    Dynamic(String),
}

impl LspAddress {
    pub fn parse(s: &str) -> Result<LspAddress, AddrError> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let bad = || AddrError::LspAddress(s.to_string());
        let bad_ip = |w: &str| AddrError::LspIp { entry: s.to_string(), word: w.to_string() };
        match words.as_slice() {
            ["router"] => Ok(LspAddress::Router),
            ["unknown"] => Ok(LspAddress::Unknown),
            // "dynamic", "MAC dynamic", "dynamic IP...": northd fills in what is not given.
            ws if ws.contains(&"dynamic") => {
                for (i, w) in ws.iter().enumerate() {
                    let ok = *w == "dynamic" || (i == 0 && parse_mac(w).is_ok()) || parse_ip(w).is_ok();
                    if !ok {
                        return Err(if i == 0 { bad() } else { bad_ip(w) });
                    }
                }
                Ok(LspAddress::Dynamic(s.to_string()))
            }
            [mac, ips @ ..] => {
                let mac = parse_mac(mac).map_err(|_| bad())?;
                let ips = ips.iter().map(|i| parse_ip(i).map_err(|_| bad_ip(i))).collect::<Result<_, _>>()?;
                Ok(LspAddress::Static { mac, ips })
            }
            [] => Err(bad()),
        }
    }

    /// The IP addresses a static entry lists.
    pub fn ips(&self) -> &[IpAddr] {
        match self {
            LspAddress::Static { ips, .. } => ips,
            _ => &[],
        }
    }
}

/// One entry of a port's `port_security` (`Logical_Switch_Port` in the Northbound, `Port_Binding` in the
/// Southbound): the MAC the port may use, and the IPv4/IPv6 addresses or networks it may use with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortSecurity {
    pub mac: MacAddr6,
    /// In the order written; a network keeps its host bits (`10.0.0.5/24` is not `10.0.0.0/24`: see
    /// `ovn-nb(5)`, the first allows the one address, the second the whole network).
    pub ips: Vec<IpNet>,
}

impl PortSecurity {
    /// `MAC [IP[/PREFIX]...]`. The whole entry is refused when any word is bad: a half-understood entry
    /// would allow more than was written (dropping a bad IP can leave "MAC only", which allows any IP).
    pub fn parse(s: &str) -> Result<PortSecurity, AddrError> {
        let mut words = s.split_whitespace();
        let mac = words
            .next()
            .ok_or_else(|| AddrError::PortSecurity(s.to_string()))
            .and_then(|m| parse_mac(m).map_err(|_| AddrError::PortSecurity(s.to_string())))?;
        let ips = words
            .map(|w| parse_ip_or_network(w).map_err(|_| AddrError::LspIp { entry: s.to_string(), word: w.to_string() }))
            .collect::<Result<_, _>>()?;
        Ok(PortSecurity { mac, ips })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_addresses() {
        assert!(parse_mac("00:00:00:F3:5D:F1").is_ok());
        assert!(parse_mac("00:00:00:F3:5D:ZZ").is_err());
        assert!(parse_mac("00:00:00:F3:5D").is_err());
        assert!(parse_ip("100.0.0.300").is_err());
        assert!(parse_network("10.0.0.1/33").is_err());
        assert!(parse_network("fd00::1/64").is_ok());
        assert_eq!(parse_ip_or_network("10.0.0.1").unwrap().prefix_len(), 32);
        assert!(matches!(LspAddress::parse("00:00:00:F3:5D:F1 100.0.0.14").unwrap(), LspAddress::Static { ref ips, .. } if ips.len() == 1));
        assert!(LspAddress::parse("00:00:00:F3:5D:F1 100.0.0.300").is_err());
        assert!(LspAddress::parse("100.0.0.3").is_err());
        assert_eq!(LspAddress::parse("unknown").unwrap(), LspAddress::Unknown);
        assert_eq!(LspAddress::parse("router").unwrap(), LspAddress::Router);
        assert!(LspAddress::parse("00:00:00:00:00:05 dynamic").is_ok());
        assert!(LspAddress::parse("dynamic 10.0.0.7").is_ok());
        assert!(LspAddress::parse("dynamic 10.0.0.700").is_err());
    }

    #[test]
    fn port_security_entries() {
        let e = PortSecurity::parse("00:00:00:00:00:01 10.0.0.5/24 fd00::1").unwrap();
        assert_eq!(e.mac, parse_mac("00:00:00:00:00:01").unwrap());
        assert_eq!(e.ips, vec![parse_network("10.0.0.5/24").unwrap(), parse_ip_or_network("fd00::1").unwrap()]);
        assert_eq!(PortSecurity::parse("00:00:00:00:00:01").unwrap().ips, vec![]);
        assert_eq!(PortSecurity::parse("nomac").unwrap_err(), AddrError::PortSecurity("nomac".to_string()));
        assert_eq!(PortSecurity::parse("").unwrap_err(), AddrError::PortSecurity(String::new()));
        let bad_ip = PortSecurity::parse("00:00:00:00:00:01 10.0.0.300").unwrap_err();
        assert_eq!(bad_ip.to_string(), "10.0.0.300: invalid IP address in \"00:00:00:00:00:01 10.0.0.300\"");
    }
}
