//! Views the builders walk, resolved through a [`Reader`] (so every row and relation they come from is a
//! recorded read): a router port with its router and gateway chassis, a router with its ports, a switch
//! port's router port, a router port's switch port, and the NAT rules a router can use.
//!
//! Anything that cannot be resolved (a `router-port` naming no router port, a port listed by two switches,
//! a NAT on a router without a gateway port, a route whose next hop is on no router port) gives a warning
//! naming the row, from the unit of that row, and is left out; the rest of the network still translates.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use model::addr::LspAddress;
use model::nb::{LogicalRouter, LogicalRouterPort, LogicalSwitchPort, Nat};
use model::ovsdb::Uuid;

use super::index::{List, Reader};

/// A router port that has gateway chassis: its chassisredirect port and where it may run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gateway {
    /// `cr-<lrp>`.
    pub cr_port: String,
    /// chassis name -> priority.
    pub chassis: BTreeMap<String, i64>,
}

#[derive(Debug, Clone)]
pub struct RouterPort<'a> {
    pub lrp: &'a LogicalRouterPort,
    pub gateway: Option<Gateway>,
    /// The router this port belongs to.
    pub router: Uuid,
}

impl<'a> RouterPort<'a> {
    /// The router port `u` of the router that lists it first (a second router listing it ignores it).
    pub fn read(r: &mut Reader<'a>, u: Uuid) -> Option<RouterPort<'a>> {
        let lrp = r.router_port(u)?;
        let router = r.owner(u)?;
        let gateway = (!lrp.gateway_chassis.is_empty()).then(|| Gateway {
            cr_port: format!("cr-{}", lrp.name),
            chassis: lrp
                .gateway_chassis
                .iter()
                .filter_map(|g| r.gateway_chassis(*g))
                .map(|g| (g.chassis_name.clone(), g.priority))
                .collect(),
        });
        Some(RouterPort { lrp, gateway, router })
    }

    /// The router port named `name`, when a router lists it.
    pub fn named(r: &mut Reader<'a>, name: &str) -> Option<RouterPort<'a>> {
        let u = r.router_port_named(name)?;
        RouterPort::read(r, u)
    }

    pub fn name(&self) -> &'a str {
        &self.lrp.name
    }

    /// The port's MAC in OVN's lowercase text form.
    pub fn mac(&self) -> String {
        mac_text(&self.lrp.mac)
    }

    /// The port's IPv4 networks, host address kept (`192.168.100.254/24`).
    pub fn ipv4(&self) -> impl Iterator<Item = Ipv4Net> + 'a {
        self.lrp.networks.iter().filter_map(|n| match n {
            IpNet::V4(v4) => Some(*v4),
            IpNet::V6(_) => None,
        })
    }

    /// `is_chassis_resident("cr-<port>")` for a gateway port.
    pub fn resident(&self) -> Option<String> {
        self.gateway.as_ref().map(|g| format!("is_chassis_resident(\"{}\")", g.cr_port))
    }

    /// The switch port that attaches this router port (the first `router` port naming it that a switch
    /// lists), and its switch.
    pub fn peer(&self, r: &mut Reader<'a>) -> Option<(&'a str, Uuid)> {
        r.peers(self.name()).into_iter().find_map(|u| {
            let ls = r.owner(u)?;
            Some((r.switch_port(u)?.name.as_str(), ls))
        })
    }
}

/// The router port a `router` switch port attaches, if it names one that a router lists; `None` with a
/// warning when it names none.
pub fn switch_port_peer<'a>(r: &mut Reader<'a>, lsp: &LogicalSwitchPort, warnings: &mut Vec<String>) -> Option<RouterPort<'a>> {
    if lsp.kind != "router" {
        return None;
    }
    let found = lsp.router_port().and_then(|name| RouterPort::named(r, name));
    if found.is_none() {
        warnings.push(format!(
            "Logical_Switch_Port {}: router-port {:?} is not a logical router port; port left unattached",
            lsp.name,
            lsp.router_port().unwrap_or("")
        ));
    }
    found
}

#[derive(Debug, Clone)]
pub struct Router<'a> {
    pub lr: &'a LogicalRouter,
    /// Its ports ([`Router::read`]), or only its gateway ports ([`Router::with_gateways`]).
    pub ports: Vec<RouterPort<'a>>,
}

impl<'a> Router<'a> {
    /// Router `u` with the ports it owns.
    pub fn read(r: &mut Reader<'a>, u: Uuid) -> Option<Router<'a>> {
        let lr = r.router(u)?;
        let ports = r.router_list(u, List::Ports).iter().filter_map(|p| RouterPort::read(r, *p)).filter(|p| p.router == u).collect();
        Some(Router { lr, ports })
    }

    /// Router `u` with only its gateway ports: all that NAT and the gateway's neighbours need, read
    /// without reading every port of the router.
    pub fn with_gateways(r: &mut Reader<'a>, u: Uuid) -> Option<Router<'a>> {
        let lr = r.router(u)?;
        let ports = r.gateways_of(u).into_iter().filter_map(|p| RouterPort::read(r, p)).filter(|p| p.router == u).collect();
        Some(Router { lr, ports })
    }

    /// The router's (first) gateway port, where centralized NAT happens.
    pub fn gateway_port(&self) -> Option<&RouterPort<'a>> {
        self.ports.iter().find(|p| p.gateway.is_some())
    }

    /// The router port whose network holds `ip`.
    pub fn port_for(&self, ip: Ipv4Addr) -> Option<(&RouterPort<'a>, Ipv4Net)> {
        self.ports.iter().find_map(|p| p.ipv4().find(|n| n.contains(&ip)).map(|n| (p, n)))
    }

    /// Whether NAT can run on this router: it has a gateway port, or is a gateway router.
    pub fn has_gateway(&self) -> bool {
        self.gateway_port().is_some() || self.lr.options.contains_key("chassis")
    }

    /// Why a NAT rule of this router cannot be used, if it cannot.
    pub fn nat_problem(&self, n: &Nat) -> Option<String> {
        if !self.has_gateway() {
            return Some(format!("NAT {} on router {}: the router has no gateway port; NAT rule ignored", n.external_ip, self.lr.name));
        }
        if !n.external_ip.is_ipv4() {
            return Some(format!("NAT {} on router {}: IPv6 NAT is not supported yet; ignored", n.external_ip, self.lr.name));
        }
        None
    }

    /// The NAT rules this router can use (the others are reported by their own units).
    pub fn nats(&self, r: &mut Reader<'a>) -> Vec<&'a Nat> {
        let list = r.router_list(self.lr.uuid, List::Nat);
        list.iter().filter_map(|u| r.nat(*u)).filter(|n| self.nat_problem(n).is_none()).collect()
    }
}

/// A MAC in lowercase colon form, as OVN writes MACs in flows.
pub fn mac_text(m: &macaddr::MacAddr6) -> String {
    let b = m.as_bytes();
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
}

/// The static (MAC, IPv4s) entries of a switch port's addresses.
pub fn static_addresses(lsp: &LogicalSwitchPort) -> Vec<(String, Vec<Ipv4Addr>)> {
    lsp.addresses
        .iter()
        .filter_map(|a| match a {
            LspAddress::Static { mac, ips } => Some((
                mac_text(mac),
                ips.iter()
                    .filter_map(|ip| match ip {
                        IpAddr::V4(v4) => Some(*v4),
                        IpAddr::V6(_) => None,
                    })
                    .collect(),
            )),
            _ => None,
        })
        .collect()
}

pub use super::index::has_unknown;
