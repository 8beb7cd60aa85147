//! Port_Binding, Multicast_Group membership and HA_Chassis_Group rows. Tunnel keys are left 0 here: the
//! engine gives them out when it stores a unit's rows (kept while the row lives, else the smallest free
//! one), so these stay pure functions of the Northbound.

use std::collections::BTreeMap;

use model::nb::LogicalSwitchPort;
use model::ovsdb::Uuid;

use super::engine::Out;
use super::index::Reader;
use super::topology::{has_unknown, mac_text, Router, RouterPort};
use crate::desired::{HaChassisGroup, PortBinding, MC_FLOOD, MC_UNKNOWN};

/// A switch port's Port_Binding and its multicast group memberships.
pub fn switch_port_rows<'a>(r: &mut Reader<'a>, dp: Uuid, lsp: &LogicalSwitchPort, peer: Option<&RouterPort<'a>>, sb: &mut Out) {
    let (kind, options, mac) = match (lsp.kind.as_str(), peer) {
        ("router", Some(rp)) => {
            ("patch".to_string(), BTreeMap::from([("peer".to_string(), rp.name().to_string())]), vec!["router".to_string()])
        }
        ("router", None) => ("patch".to_string(), BTreeMap::new(), vec!["router".to_string()]),
        (k, _) => (k.to_string(), lsp.options.clone(), lsp.raw_addresses.clone()),
    };
    // What the gateway announces with gratuitous ARPs: its own addresses and the external IPs of
    // centralized NAT from wherever it runs, and each distributed FIP from its port's chassis.
    let mut nat_addresses = Vec::new();
    if let Some((rp, res)) = peer.and_then(|rp| rp.resident().map(|res| (rp, res))) {
        let nats = Router::with_gateways(r, rp.router).map(|lr| lr.nats(r)).unwrap_or_default();
        let mut ips: Vec<String> = rp.ipv4().map(|n| n.addr().to_string()).collect();
        for n in nats.iter().filter(|n| !n.is_distributed()) {
            let ip = n.external_ip.to_string();
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        nat_addresses.push(format!("{} {} {res}", rp.mac(), ips.join(" ")));
        for n in nats.iter().filter(|n| n.is_distributed()) {
            if let (Some(mac), Some(lp)) = (n.external_mac, &n.logical_port) {
                nat_addresses.push(format!("{} {} is_chassis_resident(\"{lp}\")", mac_text(&mac), n.external_ip));
            }
        }
    }
    sb.ports.push(PortBinding {
        logical_port: lsp.name.clone(),
        datapath: dp,
        kind,
        tunnel_key: 0,
        options,
        mac,
        port_security: lsp.port_security.clone(),
        nat_addresses,
        parent_port: lsp.parent_name.clone(),
        tag: lsp.tag.or(lsp.tag_request.filter(|t| *t > 0)),
        ha_chassis_group: None,
    });
    sb.mc_members.push((dp, MC_FLOOD.0, lsp.name.clone()));
    if has_unknown(lsp) {
        sb.mc_members.push((dp, MC_UNKNOWN.0, lsp.name.clone()));
    }
}

/// A router port's Port_Binding, and for a gateway port its chassisredirect port and HA chassis group.
pub fn router_port_rows<'a>(r: &mut Reader<'a>, p: &RouterPort<'a>, sb: &mut Out) {
    let dp = p.router;
    let mac: Vec<String> = vec![std::iter::once(p.mac()).chain(p.lrp.networks.iter().map(|n| n.to_string())).collect::<Vec<_>>().join(" ")];
    let mut options = BTreeMap::new();
    if let Some((lsp, _)) = p.peer(r) {
        options.insert("peer".to_string(), lsp.to_string());
    }
    if let Some(gw) = &p.gateway {
        options.insert("chassis-redirect-port".to_string(), gw.cr_port.clone());
        let mut cr_options = BTreeMap::from([("distributed-port".to_string(), p.name().to_string())]);
        let distributed_nat = Router::with_gateways(r, dp).is_some_and(|lr| lr.nats(r).iter().any(|n| n.is_distributed()));
        if !distributed_nat {
            cr_options.insert("always-redirect".to_string(), "true".to_string());
        }
        sb.ports.push(PortBinding {
            logical_port: gw.cr_port.clone(),
            datapath: dp,
            kind: "chassisredirect".to_string(),
            tunnel_key: 0,
            options: cr_options,
            mac: mac.clone(),
            port_security: Vec::new(),
            nat_addresses: Vec::new(),
            parent_port: None,
            tag: None,
            ha_chassis_group: Some(p.name().to_string()),
        });
        sb.ha_groups.push(HaChassisGroup { name: p.name().to_string(), chassis: gw.chassis.clone() });
    }
    sb.ports.push(PortBinding {
        logical_port: p.name().to_string(),
        datapath: dp,
        kind: "patch".to_string(),
        tunnel_key: 0,
        options,
        mac,
        port_security: Vec::new(),
        nat_addresses: Vec::new(),
        parent_port: None,
        tag: None,
        ha_chassis_group: None,
    });
}
