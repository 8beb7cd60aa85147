//! The Northbound resolved into a graph the flow builders can walk: each switch with its ports, each router
//! with its ports, the switch port that attaches each router port, the gateway port and its chassis, and
//! the NAT rules and routes that can be used.
//!
//! Anything that cannot be resolved (a `router-port` naming no router port, a port listed by two switches, a
//! NAT on a router without a gateway port, a route whose next hop is on no router port) gives a warning
//! naming the row and is left out; the rest of the network still translates.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use model::addr::LspAddress;
use model::nb::{LogicalRouter, LogicalRouterPort, LogicalSwitch, LogicalSwitchPort, Nat, NbSnapshot, StaticRoute};
use model::ovsdb::Uuid;

/// A router port that has gateway chassis: its chassisredirect port and where it may run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gateway {
    /// `cr-<lrp>`.
    pub cr_port: String,
    /// chassis name -> priority.
    pub chassis: BTreeMap<String, i64>,
}

#[derive(Debug, Clone)]
pub struct SwitchPort<'a> {
    pub lsp: &'a LogicalSwitchPort,
    /// For a `router` port: the router port it attaches (name) and that port's router.
    pub peer: Option<(&'a str, Uuid)>,
}

#[derive(Debug, Clone)]
pub struct Switch<'a> {
    pub ls: &'a LogicalSwitch,
    pub ports: Vec<SwitchPort<'a>>,
}

#[derive(Debug, Clone)]
pub struct RouterPort<'a> {
    pub lrp: &'a LogicalRouterPort,
    /// The switch port that attaches this router port, and its switch.
    pub peer: Option<(&'a str, Uuid)>,
    pub gateway: Option<Gateway>,
    /// The router this port belongs to.
    pub router: Uuid,
}

impl RouterPort<'_> {
    pub fn name(&self) -> &str {
        &self.lrp.name
    }

    /// The port's MAC in OVN's lowercase text form.
    pub fn mac(&self) -> String {
        mac_text(&self.lrp.mac)
    }

    /// The port's IPv4 networks, host address kept (`192.168.100.254/24`).
    pub fn ipv4(&self) -> impl Iterator<Item = Ipv4Net> + '_ {
        self.lrp.networks.iter().filter_map(|n| match n {
            IpNet::V4(v4) => Some(*v4),
            IpNet::V6(_) => None,
        })
    }

    /// `is_chassis_resident("cr-<port>")` for a gateway port.
    pub fn resident(&self) -> Option<String> {
        self.gateway.as_ref().map(|g| format!("is_chassis_resident(\"{}\")", g.cr_port))
    }
}

#[derive(Debug, Clone)]
pub struct Router<'a> {
    pub lr: &'a LogicalRouter,
    pub ports: Vec<RouterPort<'a>>,
    pub nats: Vec<&'a Nat>,
    pub routes: Vec<&'a StaticRoute>,
}

impl Router<'_> {
    /// The router's (first) gateway port, where centralized NAT happens.
    pub fn gateway_port(&self) -> Option<&RouterPort<'_>> {
        self.ports.iter().find(|p| p.gateway.is_some())
    }

    /// The router port whose network holds `ip`.
    pub fn port_for(&self, ip: Ipv4Addr) -> Option<(&RouterPort<'_>, Ipv4Net)> {
        self.ports.iter().find_map(|p| p.ipv4().find(|n| n.contains(&ip)).map(|n| (p, n)))
    }
}

#[derive(Debug, Clone)]
pub struct Topology<'a> {
    pub switches: Vec<Switch<'a>>,
    pub routers: Vec<Router<'a>>,
    /// Router port name -> (router UUID, index in that router's `ports`).
    pub router_ports: HashMap<&'a str, (Uuid, usize)>,
    /// Logical switch port name -> its switch.
    pub switch_of_port: HashMap<&'a str, Uuid>,
}

/// A MAC in lowercase colon form, as OVN writes MACs in flows.
pub fn mac_text(m: &macaddr::MacAddr6) -> String {
    let b = m.as_bytes();
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
}

impl<'a> Topology<'a> {
    pub fn build(nb: &'a NbSnapshot, warnings: &mut Vec<String>) -> Topology<'a> {
        let mut topo = Topology { switches: Vec::new(), routers: Vec::new(), router_ports: HashMap::new(), switch_of_port: HashMap::new() };

        // Routers first: switch ports look their router ports up by name.
        let mut owner_of_lrp: HashMap<Uuid, Uuid> = HashMap::new();
        for lr in nb.routers.values() {
            let mut ports = Vec::new();
            for u in &lr.ports {
                let Some(lrp) = nb.router_ports.get(u) else { continue };
                if let Some(other) = owner_of_lrp.insert(*u, lr.uuid) {
                    warnings.push(format!(
                        "Logical_Router_Port {}: listed by two routers ({other} and {}); ignored in the second",
                        lrp.name, lr.uuid
                    ));
                    continue;
                }
                let gateway = (!lrp.gateway_chassis.is_empty()).then(|| Gateway {
                    cr_port: format!("cr-{}", lrp.name),
                    chassis: lrp
                        .gateway_chassis
                        .iter()
                        .filter_map(|g| nb.gateway_chassis.get(g))
                        .map(|g| (g.chassis_name.clone(), g.priority))
                        .collect(),
                });
                topo.router_ports.insert(lrp.name.as_str(), (lr.uuid, ports.len()));
                ports.push(RouterPort { lrp, peer: None, gateway, router: lr.uuid });
            }
            let has_gateway = ports.iter().any(|p| p.gateway.is_some()) || lr.options.contains_key("chassis");
            let mut nats = Vec::new();
            for u in &lr.nat {
                let Some(n) = nb.nats.get(u) else { continue };
                if !has_gateway {
                    warnings.push(format!("NAT {} on router {}: the router has no gateway port; NAT rule ignored", n.external_ip, lr.name));
                    continue;
                }
                if !n.external_ip.is_ipv4() {
                    warnings.push(format!("NAT {} on router {}: IPv6 NAT is not supported yet; ignored", n.external_ip, lr.name));
                    continue;
                }
                nats.push(n);
            }
            let routes = lr.static_routes.iter().filter_map(|u| nb.static_routes.get(u)).collect();
            topo.routers.push(Router { lr, ports, nats, routes });
        }

        for ls in nb.switches.values() {
            let mut ports = Vec::new();
            for u in &ls.ports {
                let Some(lsp) = nb.switch_ports.get(u) else { continue };
                if topo.switch_of_port.insert(lsp.name.as_str(), ls.uuid).is_some() {
                    warnings.push(format!("Logical_Switch_Port {}: listed by two switches; ignored in switch {}", lsp.name, ls.name));
                    continue;
                }
                let mut peer = None;
                if lsp.kind == "router" {
                    match lsp.router_port().and_then(|rp| topo.router_ports.get(rp).map(|loc| (rp, *loc))) {
                        Some((rp, (lr, idx))) => {
                            peer = Some((rp, lr));
                            if let Some(r) = topo.routers.iter_mut().find(|r| r.lr.uuid == lr) {
                                r.ports[idx].peer = Some((lsp.name.as_str(), ls.uuid));
                            }
                        }
                        None => warnings.push(format!(
                            "Logical_Switch_Port {}: router-port {:?} is not a logical router port; port left unattached",
                            lsp.name,
                            lsp.router_port().unwrap_or("")
                        )),
                    }
                }
                ports.push(SwitchPort { lsp, peer });
            }
            topo.switches.push(Switch { ls, ports });
        }
        topo
    }

    pub fn router(&self, uuid: Uuid) -> Option<&Router<'a>> {
        self.routers.iter().find(|r| r.lr.uuid == uuid)
    }

    pub fn switch(&self, uuid: Uuid) -> Option<&Switch<'a>> {
        self.switches.iter().find(|s| s.ls.uuid == uuid)
    }

    /// The router port a switch port attaches to.
    pub fn router_port(&self, name: &str) -> Option<&RouterPort<'a>> {
        let (lr, idx) = self.router_ports.get(name)?;
        self.router(*lr)?.ports.get(*idx)
    }
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

/// True if the port accepts packets for unknown MACs.
pub fn has_unknown(lsp: &LogicalSwitchPort) -> bool {
    lsp.addresses.iter().any(|a| matches!(a, LspAddress::Unknown))
}
