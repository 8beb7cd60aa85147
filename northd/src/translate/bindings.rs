//! Datapath_Binding, Port_Binding, Multicast_Group and HA_Chassis_Group rows, with their tunnel keys.
//!
//! Tunnel keys already in the Southbound are kept (a port keeps its key as long as it stays on the same
//! datapath); new rows get the smallest free key, so keys stay small and stable across restarts.

use std::collections::{BTreeMap, BTreeSet};

use model::ovsdb::Uuid;

use super::topology::{has_unknown, Router, Switch, Topology};
use super::Keys;
use crate::desired::{Datapath, DesiredSb, HaChassisGroup, MulticastGroup, PortBinding, MC_FLOOD, MC_UNKNOWN};
use crate::stage::DpKind;

/// Hands out the smallest unused key at or above `first`.
struct KeyPool {
    used: BTreeSet<i64>,
    next: i64,
}

impl KeyPool {
    fn new(used: impl IntoIterator<Item = i64>, first: i64) -> KeyPool {
        KeyPool { used: used.into_iter().collect(), next: first }
    }

    fn take(&mut self) -> i64 {
        while self.used.contains(&self.next) {
            self.next += 1;
        }
        self.used.insert(self.next);
        self.next
    }
}

/// Gives every datapath of the topology a tunnel key: the one it has, or the smallest free one (new
/// datapaths in name order, so a network created in one go always gets the same keys). Keys of datapaths
/// that are gone are dropped.
pub fn datapath_keys(topo: &Topology, keys: &mut Keys) {
    let mut all: Vec<(&str, Uuid)> = topo.switches.iter().map(|s| (s.ls.name.as_str(), s.ls.uuid)).collect();
    all.extend(topo.routers.iter().map(|r| (r.lr.name.as_str(), r.lr.uuid)));
    all.sort();
    let live: BTreeSet<Uuid> = all.iter().map(|d| d.1).collect();
    keys.datapaths.retain(|u, _| live.contains(u));
    keys.ports.retain(|u, _| live.contains(u));
    let mut pool = KeyPool::new(keys.datapaths.values().copied(), 1);
    for (_, uuid) in all {
        keys.datapaths.entry(uuid).or_insert_with(|| pool.take());
    }
}

/// Gives the ports of one datapath their tunnel keys (kept while a port stays on the datapath, else the
/// smallest free one, in name order), and forgets the keys of the datapath's ports that are gone.
fn port_keys(dp: Uuid, ports: &mut [PortBinding], keys: &mut Keys) {
    let names: BTreeSet<&str> = ports.iter().map(|p| p.logical_port.as_str()).collect();
    let kept = keys.ports.entry(dp).or_default();
    kept.retain(|name, _| names.contains(name.as_str()));
    let mut pool = KeyPool::new(kept.values().copied(), 1);
    ports.sort_by(|a, b| a.logical_port.cmp(&b.logical_port));
    for p in ports.iter_mut() {
        p.tunnel_key = match kept.get(&p.logical_port) {
            Some(k) => *k,
            None => {
                let k = pool.take();
                kept.insert(p.logical_port.clone(), k);
                k
            }
        };
    }
}

/// A switch's Datapath_Binding, Port_Bindings and multicast groups.
pub fn switch_rows(topo: &Topology, sw: &Switch, keys: &mut Keys, sb: &mut DesiredSb) {
    let dp = sw.ls.uuid;
    let tunnel_key = keys.datapaths.get(&dp).copied().unwrap_or(0);
    sb.datapaths.insert(dp, Datapath { nb_uuid: dp, kind: DpKind::Switch, name: sw.ls.name.clone(), tunnel_key });
    let mut ports: Vec<PortBinding> = Vec::new();
    for p in &sw.ports {
        let lsp = p.lsp;
        let (kind, options, mac) = match (lsp.kind.as_str(), p.peer) {
            ("router", Some((lrp, _))) => {
                ("patch".to_string(), BTreeMap::from([("peer".to_string(), lrp.to_string())]), vec!["router".to_string()])
            }
            ("router", None) => ("patch".to_string(), BTreeMap::new(), vec!["router".to_string()]),
            (k, _) => (k.to_string(), lsp.options.clone(), lsp.raw_addresses.clone()),
        };
        // What the gateway announces with gratuitous ARPs: its own addresses and the external IPs of
        // centralized NAT from wherever it runs, and each distributed FIP from its port's chassis.
        let mut nat_addresses = Vec::new();
        if let Some(rp) = p.peer.and_then(|(lrp, _)| topo.router_port(lrp)) {
            if let Some(res) = rp.resident() {
                let lr = topo.router(rp.router);
                let mut ips: Vec<String> = rp.ipv4().map(|n| n.addr().to_string()).collect();
                for n in lr.iter().flat_map(|r| r.nats.iter()).filter(|n| !n.is_distributed()) {
                    let ip = n.external_ip.to_string();
                    if !ips.contains(&ip) {
                        ips.push(ip);
                    }
                }
                nat_addresses.push(format!("{} {} {res}", rp.mac(), ips.join(" ")));
                for n in lr.iter().flat_map(|r| r.nats.iter()).filter(|n| n.is_distributed()) {
                    if let (Some(mac), Some(lp)) = (n.external_mac, &n.logical_port) {
                        nat_addresses.push(format!("{} {} is_chassis_resident(\"{lp}\")", super::topology::mac_text(&mac), n.external_ip));
                    }
                }
            }
        }
        ports.push(PortBinding {
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
    }
    port_keys(dp, &mut ports, keys);
    for p in ports {
        sb.ports.insert(p.logical_port.clone(), p);
    }
    let flood: BTreeSet<String> = sw.ports.iter().map(|p| p.lsp.name.clone()).collect();
    let unknown: BTreeSet<String> = sw.ports.iter().filter(|p| has_unknown(p.lsp)).map(|p| p.lsp.name.clone()).collect();
    for ((name, key), members) in [(MC_FLOOD, flood), (MC_UNKNOWN, unknown)] {
        sb.mc_groups
            .insert((dp, name.to_string()), MulticastGroup { datapath: dp, name: name.to_string(), tunnel_key: key, ports: members });
    }
}

/// A router's Datapath_Binding, Port_Bindings (with chassisredirect ports) and HA chassis groups.
pub fn router_rows(lr: &Router, keys: &mut Keys, sb: &mut DesiredSb) {
    let dp = lr.lr.uuid;
    let tunnel_key = keys.datapaths.get(&dp).copied().unwrap_or(0);
    sb.datapaths.insert(dp, Datapath { nb_uuid: dp, kind: DpKind::Router, name: lr.lr.name.clone(), tunnel_key });
    let distributed_nat = lr.nats.iter().any(|n| n.is_distributed());
    let mut ports: Vec<PortBinding> = Vec::new();
    for p in &lr.ports {
        let mac: Vec<String> =
            vec![std::iter::once(p.mac()).chain(p.lrp.networks.iter().map(|n| n.to_string())).collect::<Vec<_>>().join(" ")];
        let mut options = BTreeMap::new();
        if let Some((lsp, _)) = p.peer {
            options.insert("peer".to_string(), lsp.to_string());
        }
        if let Some(gw) = &p.gateway {
            options.insert("chassis-redirect-port".to_string(), gw.cr_port.clone());
            let mut cr_options = BTreeMap::from([("distributed-port".to_string(), p.name().to_string())]);
            if !distributed_nat {
                cr_options.insert("always-redirect".to_string(), "true".to_string());
            }
            ports.push(PortBinding {
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
            sb.ha_groups.insert(p.name().to_string(), HaChassisGroup { name: p.name().to_string(), chassis: gw.chassis.clone() });
        }
        ports.push(PortBinding {
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
    port_keys(dp, &mut ports, keys);
    for p in ports {
        sb.ports.insert(p.logical_port.clone(), p);
    }
}
