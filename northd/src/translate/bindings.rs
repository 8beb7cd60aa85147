//! Datapath_Binding, Port_Binding, Multicast_Group and HA_Chassis_Group rows, with their tunnel keys.
//!
//! Tunnel keys already in the Southbound are kept (a port keeps its key as long as it stays on the same
//! datapath); new rows get the smallest free key, so keys stay small and stable across restarts.

use std::collections::{BTreeMap, BTreeSet};

use model::ovsdb::Uuid;

use super::topology::{has_unknown, Topology};
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

pub fn build(topo: &Topology, keys: &Keys, sb: &mut DesiredSb) {
    // Datapaths: keep known keys, then allocate for the new ones.
    let mut all: Vec<(Uuid, DpKind, String)> = topo.switches.iter().map(|s| (s.ls.uuid, DpKind::Switch, s.ls.name.clone())).collect();
    all.extend(topo.routers.iter().map(|r| (r.lr.uuid, DpKind::Router, r.lr.name.clone())));
    // New keys go out in name order, so a network created in one go always gets the same keys.
    all.sort_by(|a, b| (&a.2, a.0).cmp(&(&b.2, b.0)));
    let live: BTreeSet<Uuid> = all.iter().map(|d| d.0).collect();
    let mut pool = KeyPool::new(keys.datapaths.iter().filter(|(u, _)| live.contains(u)).map(|(_, k)| *k), 1);
    for (uuid, kind, name) in all {
        let tunnel_key = keys.datapaths.get(&uuid).copied().unwrap_or_else(|| pool.take());
        sb.datapaths.insert(uuid, Datapath { nb_uuid: uuid, kind, name, tunnel_key });
    }

    // Ports, per datapath.
    let mut ports: Vec<PortBinding> = Vec::new();
    for sw in &topo.switches {
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
                            nat_addresses.push(format!(
                                "{} {} is_chassis_resident(\"{lp}\")",
                                super::topology::mac_text(&mac),
                                n.external_ip
                            ));
                        }
                    }
                }
            }
            ports.push(PortBinding {
                logical_port: lsp.name.clone(),
                datapath: sw.ls.uuid,
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
    }
    for lr in &topo.routers {
        let distributed_nat = lr.nats.iter().any(|n| n.is_distributed());
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
                    datapath: lr.lr.uuid,
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
                datapath: lr.lr.uuid,
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
    }
    let mut pools: BTreeMap<Uuid, KeyPool> = BTreeMap::new();
    for dp in sb.datapaths.keys() {
        let used = keys
            .ports
            .iter()
            .filter(|(name, (d, _))| d == dp && ports.iter().any(|p| p.logical_port == **name && p.datapath == *dp))
            .map(|(_, (_, k))| *k);
        pools.insert(*dp, KeyPool::new(used, 1));
    }
    ports.sort_by(|a, b| a.logical_port.cmp(&b.logical_port));
    for mut p in ports {
        p.tunnel_key = match keys.ports.get(&p.logical_port) {
            Some((dp, k)) if *dp == p.datapath => *k,
            _ => pools.get_mut(&p.datapath).map_or(1, KeyPool::take),
        };
        sb.ports.insert(p.logical_port.clone(), p);
    }

    // Multicast groups of each switch.
    for sw in &topo.switches {
        let flood: BTreeSet<String> = sw.ports.iter().map(|p| p.lsp.name.clone()).collect();
        let unknown: BTreeSet<String> = sw.ports.iter().filter(|p| has_unknown(p.lsp)).map(|p| p.lsp.name.clone()).collect();
        for ((name, key), members) in [(MC_FLOOD, flood), (MC_UNKNOWN, unknown)] {
            sb.mc_groups.insert(
                (sw.ls.uuid, name.to_string()),
                MulticastGroup { datapath: sw.ls.uuid, name: name.to_string(), tunnel_key: key, ports: members },
            );
        }
    }
}
