//! The desired contents of `br-int`: logical flows compiled by `flowgen` for this chassis, plus the
//! physical flows ([`crate::physical`]) built from where every logical port is.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use flowgen::ofp::Flow;
use flowgen::sbview::{compile_all, FlowFailure, SbView};
use model::ovsdb::{Atom, Replica, Uuid};

use crate::binding::LocalBindings;
use crate::physical::{physical_flows, DatapathZones, GroupFlows, Location, MacBinding, PhysicalInput, PortFlows};
use crate::tables::sb;
use crate::vswitch::OvsView;

/// Conntrack zone of a local port: unique per (datapath, port) on this chassis for up to 128 datapaths of
/// 256 ports; router zones live in the upper half of the 16-bit space.
pub fn port_zone(datapath: u32, port: u32) -> u16 {
    1 + ((((datapath & 0x7f) << 8) | (port & 0xff)) as u16 & 0x7ffe)
}

/// A router's DNAT and SNAT zones.
pub fn router_zones(datapath: u32) -> (u16, u16) {
    let base = 0x8000 | (((datapath & 0x3fff) as u16) << 1);
    (base, base + 1)
}

fn parse_mac(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    parts.iter().try_fold(0u64, |acc, p| u8::from_str_radix(p, 16).ok().map(|b| (acc << 8) | u64::from(b)))
}

/// What the physical flows read from the local switch: the tunnel ports (remote chassis -> ofport) and
/// the localnet patch ports (localnet logical port -> ofport) on the integration bridge. Most local
/// database changes (a VIF's interface appearing, its status columns, `ovn-installed`) change neither, so
/// comparing this small summary tells the daemon when the physical input needs no recomputation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhysicalOvs {
    tunnels: BTreeMap<String, u16>,
    /// In the bridge's port order; the first usable one of a logical port counts.
    localnets: Vec<(String, Option<u16>)>,
}

impl PhysicalOvs {
    pub fn of(ovs: &OvsView, bridge: &str) -> PhysicalOvs {
        PhysicalOvs {
            tunnels: ovs.tunnels(bridge).into_iter().filter_map(|t| Some((t.chassis, t.ofport?))).collect(),
            localnets: ovs.localnet_ports(bridge).map(|(lport, ofport)| (lport.to_string(), ofport)).collect(),
        }
    }

    fn localnet_ofport(&self, lport: &str) -> Option<u16> {
        self.localnets.iter().filter(|(l, _)| l == lport).find_map(|(_, ofport)| *ofport)
    }
}

/// Where every logical port of the Southbound is, from this chassis.
pub fn physical_input(sb_db: &Replica, ovs: &PhysicalOvs, chassis: &str, local: &LocalBindings) -> PhysicalInput {
    let mut input = PhysicalInput::default();
    let dp_key: BTreeMap<Uuid, u32> =
        sb_db.table(sb::DATAPATH_BINDING).map(|d| (d.uuid, d.get("tunnel_key").as_i64().unwrap_or(0) as u32)).collect();
    for d in sb_db.table(sb::DATAPATH_BINDING) {
        let key = dp_key[&d.uuid];
        let is_router = d.get("external_ids").get("logical-router").is_some();
        let (dnat, snat) = router_zones(key);
        input.datapaths.push(DatapathZones { key, is_router, dnat, snat });
    }
    let chassis_name: BTreeMap<Uuid, String> = sb_db.table(sb::CHASSIS).map(|c| (c.uuid, c.str("name").to_string())).collect();
    let tunnels = &ovs.tunnels;
    input.tunnels = tunnels.values().copied().collect();
    let by_name: BTreeMap<&str, &model::ovsdb::Row> = sb_db.table(sb::PORT_BINDING).map(|p| (p.str("logical_port"), p)).collect();
    let mut location_of: BTreeMap<Uuid, (u32, u32, Location)> = BTreeMap::new();
    for pb in sb_db.table(sb::PORT_BINDING) {
        let Some(dp) = pb.get("datapath").as_uuid().and_then(|d| dp_key.get(&d)).copied() else { continue };
        let key = pb.get("tunnel_key").as_i64().unwrap_or(0) as u32;
        let name = pb.str("logical_port");
        let bound = pb.get("chassis").as_uuid().and_then(|c| chassis_name.get(&c));
        let remote = |b: Option<&String>| b.filter(|c| *c != chassis).and_then(|c| tunnels.get(c)).copied();
        let location = match pb.str("type") {
            "" | "virtual" | "external" => match local.ports.get(name).and_then(|p| p.ofport) {
                Some(ofport) => Location::Local { ofport, ct_zone: port_zone(dp, key) },
                None => remote(bound).map_or(Location::Nowhere, |tunnel| Location::Remote { tunnel }),
            },
            "patch" => match pb.get("options").get("peer").and_then(Atom::as_str).and_then(|p| by_name.get(p)) {
                Some(peer) => Location::Patch {
                    peer_datapath: peer.get("datapath").as_uuid().and_then(|d| dp_key.get(&d)).copied().unwrap_or(0),
                    peer_key: peer.get("tunnel_key").as_i64().unwrap_or(0) as u32,
                },
                None => Location::Nowhere,
            },
            "localnet" => match ovs.localnet_ofport(name) {
                Some(ofport) => Location::Localnet { ofport, ct_zone: port_zone(dp, key) },
                None => Location::Nowhere,
            },
            "chassisredirect" => {
                let distributed_key = pb
                    .get("options")
                    .get("distributed-port")
                    .and_then(Atom::as_str)
                    .and_then(|d| by_name.get(d))
                    .and_then(|d| d.get("tunnel_key").as_i64())
                    .unwrap_or(0) as u32;
                match bound {
                    Some(c) if c == chassis => Location::Redirect { distributed_key, tunnel: None },
                    b => remote(b).map_or(Location::Nowhere, |t| Location::Redirect { distributed_key, tunnel: Some(t) }),
                }
            }
            _ => Location::Nowhere,
        };
        location_of.insert(pb.uuid, (dp, key, location.clone()));
        input.ports.push(PortFlows { name: name.to_string(), datapath: dp, key, location });
    }
    for mc in sb_db.table("Multicast_Group") {
        let Some(dp) = mc.get("datapath").as_uuid().and_then(|d| dp_key.get(&d)).copied() else { continue };
        let mut g = GroupFlows {
            datapath: dp,
            key: mc.get("tunnel_key").as_i64().unwrap_or(0) as u32,
            local: vec![],
            everywhere: vec![],
            tunnels: vec![],
        };
        let mut tset = BTreeSet::new();
        for member in mc.get("ports").uuids() {
            match location_of.get(&member) {
                Some((_, k, Location::Local { .. })) => g.local.push(*k),
                Some((_, k, Location::Localnet { .. } | Location::Patch { .. })) => g.everywhere.push(*k),
                Some((_, _, Location::Remote { tunnel })) => {
                    tset.insert(*tunnel);
                }
                _ => {}
            }
        }
        g.tunnels = tset.into_iter().collect();
        // Port key order, so the same group always gives the same flow.
        g.local.sort_unstable();
        g.everywhere.sort_unstable();
        input.groups.push(g);
    }
    input.mac_bindings = mac_bindings(sb_db);
    input
}

/// The learned MAC bindings of the Southbound (datapath and port as tunnel keys).
pub fn mac_bindings(sb_db: &Replica) -> Vec<MacBinding> {
    let mut out = Vec::new();
    let mut dp_key: BTreeMap<Uuid, u32> = BTreeMap::new();
    let mut port_key: BTreeMap<&str, u32> = BTreeMap::new();
    if sb_db.len("MAC_Binding") > 0 {
        dp_key = sb_db.table(sb::DATAPATH_BINDING).map(|d| (d.uuid, d.get("tunnel_key").as_i64().unwrap_or(0) as u32)).collect();
        // The last binding of a name wins, as in the port flows.
        for p in sb_db.table(sb::PORT_BINDING) {
            port_key.insert(p.str("logical_port"), p.get("tunnel_key").as_i64().unwrap_or(0) as u32);
        }
    }
    for mb in sb_db.table("MAC_Binding") {
        let (Some(dp), Some(port), Ok(ip), Some(mac)) = (
            mb.get("datapath").as_uuid().and_then(|d| dp_key.get(&d)).copied(),
            port_key.get(mb.str("logical_port")).copied(),
            mb.str("ip").parse::<IpAddr>(),
            parse_mac(mb.str("mac")),
        ) else {
            continue;
        };
        out.push(MacBinding { datapath: dp, port, ip, mac });
    }
    out
}

/// Every flow `br-int` should hold, and the logical flows that failed to compile, computed from scratch
/// (the reference the daemon's incremental path, `daemon::update_flows`, must agree with).
pub fn desired_flows(sb_db: &Replica, ovs: &OvsView, bridge: &str, chassis: &str, local: &LocalBindings) -> (Vec<Flow>, Vec<FlowFailure>) {
    let view = SbView::from_replica(sb_db, chassis);
    let (mut flows, failures) = compile_all(sb_db, &view);
    flows.extend(physical_flows(&physical_input(sb_db, &PhysicalOvs::of(ovs, bridge), chassis, local)));
    (flows, failures)
}
