//! The desired contents of `br-int`: logical flows compiled by `flowgen` for this chassis, plus the
//! physical flows ([`crate::physical`]) built from where every logical port is.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use flowgen::ofp::Flow;
use flowgen::sbview::{compile_all, FlowFailure, SbView};
use model::ovsdb::{Atom, Replica, Row, Uuid};
use model::sb::{DatapathBinding, PortBinding};

use crate::binding::LocalBindings;
use crate::ct_zones::{dnat_user, snat_user, CtZones};
use crate::physical::{physical_flows, DatapathZones, GroupFlows, Location, MacBinding, PhysicalInput, PortFlows};
use crate::tables::sb;
use crate::vswitch::OvsView;

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

/// How a logical port is attached to the integration bridge here, if it is: a VIF's (or a container's
/// parent's) interface, or a localnet port's patch port. These are the ports whose flows load a
/// conntrack zone of their own.
enum Attachment {
    Vif(u16),
    Localnet(u16),
}

/// Port_Binding types a VIF (or a container on one) implements.
const VIF_TYPES: [&str; 3] = ["", "virtual", "external"];

fn attachment(pb: &Row, ovs: &PhysicalOvs, local: &LocalBindings) -> Option<Attachment> {
    let name = pb.str("logical_port");
    match pb.str("type") {
        t if VIF_TYPES.contains(&t) => local.ofport(name).map(Attachment::Vif),
        "localnet" => ovs.localnet_ofport(name).map(Attachment::Localnet),
        _ => None,
    }
}

fn is_router(dp: &Row) -> bool {
    dp.get("external_ids").get("logical-router").is_some()
}

fn tunnel_key(row: &Row) -> u32 {
    row.get("tunnel_key").as_i64().unwrap_or(0) as u32
}

/// Who needs a conntrack zone on this chassis (see [`crate::ct_zones`]), in allocation order: the
/// attached ports by name, then each local router's DNAT and SNAT zones, routers by tunnel key. The order
/// is what makes a fresh chassis number its zones the same way every time.
///
/// A localnet port counts from the moment its patch port is on the bridge, before `ovs-vswitchd` has given
/// it an OpenFlow port: the controller makes that patch port itself during its first round, and whether
/// the number arrives before that round's flows are computed is a race that must not decide the zones.
pub fn zone_users(sb_db: &Replica, ovs: &PhysicalOvs, local: &LocalBindings) -> Vec<String> {
    let ports: BTreeSet<&str> = sb_db
        .table(sb::PORT_BINDING)
        .filter(|pb| {
            let name = pb.str("logical_port");
            match pb.str("type") {
                t if VIF_TYPES.contains(&t) => local.ofport(name).is_some(),
                "localnet" => ovs.localnets.iter().any(|(l, _)| l == name),
                _ => false,
            }
        })
        .map(|pb| pb.str("logical_port"))
        .collect();
    let routers: BTreeSet<(u32, Uuid)> = sb_db
        .table(sb::DATAPATH_BINDING)
        .filter(|d| local.is_local_datapath(d.uuid) && is_router(d))
        .map(|d| (tunnel_key(d), d.uuid))
        .collect();
    let mut users: Vec<String> = ports.into_iter().map(str::to_string).collect();
    for (_, dp) in routers {
        users.push(dnat_user(dp));
        users.push(snat_user(dp));
    }
    users
}

/// Where every logical port of the Southbound is, from this chassis, with the conntrack zones the
/// physical flows load (looked up in `zones`, which [`zone_users`] has brought up to date).
pub fn physical_input(sb_db: &Replica, ovs: &PhysicalOvs, chassis: &str, local: &LocalBindings, zones: &CtZones) -> PhysicalInput {
    let mut input = PhysicalInput::default();
    let dp_key: BTreeMap<Uuid, u32> = sb_db.table(sb::DATAPATH_BINDING).map(|d| (d.uuid, tunnel_key(d))).collect();
    let zone_of = |user: &str| zones.get(user).unwrap_or(0);
    for d in sb_db.table(sb::DATAPATH_BINDING) {
        let is_router = is_router(d);
        let (dnat, snat) = if is_router { (zone_of(&dnat_user(d.uuid)), zone_of(&snat_user(d.uuid))) } else { (0, 0) };
        input.datapaths.push(DatapathZones { key: tunnel_key(d), is_router, dnat, snat });
    }
    let chassis_name: BTreeMap<Uuid, String> = sb_db.table(sb::CHASSIS).map(|c| (c.uuid, c.str("name").to_string())).collect();
    let tunnels = &ovs.tunnels;
    input.tunnels = tunnels.values().copied().collect();
    let by_name: BTreeMap<&str, &model::ovsdb::Row> = sb_db.table(sb::PORT_BINDING).map(|p| (p.str("logical_port"), p)).collect();
    let mut location_of: BTreeMap<Uuid, (u32, u32, Location)> = BTreeMap::new();
    for pb in sb_db.table(sb::PORT_BINDING) {
        let Some(dp) = pb.get("datapath").as_uuid().and_then(|d| dp_key.get(&d)).copied() else { continue };
        let key = tunnel_key(pb);
        let name = pb.str("logical_port");
        let bound = pb.get("chassis").as_uuid().and_then(|c| chassis_name.get(&c));
        let remote = |b: Option<&String>| b.filter(|c| *c != chassis).and_then(|c| tunnels.get(c)).copied();
        let location = match (pb.str("type"), attachment(pb, ovs, local)) {
            (_, Some(Attachment::Vif(ofport))) => Location::Local { ofport, ct_zone: zone_of(name) },
            (_, Some(Attachment::Localnet(ofport))) => Location::Localnet { ofport, ct_zone: zone_of(name) },
            (t, None) if VIF_TYPES.contains(&t) => remote(bound).map_or(Location::Nowhere, |tunnel| Location::Remote { tunnel }),
            ("patch", _) => match pb.get("options").get("peer").and_then(Atom::as_str).and_then(|p| by_name.get(p)) {
                Some(peer) => Location::Patch {
                    peer_datapath: peer.get("datapath").as_uuid().and_then(|d| dp_key.get(&d)).copied().unwrap_or(0),
                    peer_key: peer.get("tunnel_key").as_i64().unwrap_or(0) as u32,
                },
                None => Location::Nowhere,
            },
            ("chassisredirect", _) => {
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
    for mc in model::sb::rows::<model::sb::MulticastGroup>(sb_db) {
        let Some(dp) = mc.datapath().and_then(|d| dp_key.get(&d)).copied() else { continue };
        let mut g =
            GroupFlows { datapath: dp, key: mc.tunnel_key().unwrap_or(0) as u32, local: vec![], everywhere: vec![], tunnels: vec![] };
        let mut tset = BTreeSet::new();
        for member in mc.ports().uuids() {
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
    if sb_db.len(sb::MAC_BINDING) > 0 {
        dp_key = model::sb::rows::<DatapathBinding>(sb_db).map(|d| (d.uuid(), d.tunnel_key().unwrap_or(0) as u32)).collect();
        // The last binding of a name wins, as in the port flows.
        for p in model::sb::rows::<PortBinding>(sb_db) {
            port_key.insert(p.logical_port(), p.tunnel_key().unwrap_or(0) as u32);
        }
    }
    for mb in model::sb::rows::<model::sb::MacBinding>(sb_db) {
        let (Some(dp), Some(port), Ok(ip), Some(mac)) = (
            mb.datapath().and_then(|d| dp_key.get(&d)).copied(),
            port_key.get(mb.logical_port()).copied(),
            mb.ip().parse::<IpAddr>(),
            parse_mac(mb.mac()),
        ) else {
            continue;
        };
        out.push(MacBinding { datapath: dp, port, ip, mac });
    }
    out
}

/// Every flow `br-int` should hold, and the logical flows that failed to compile, computed from scratch
/// (the reference the daemon's incremental path, `daemon::update_flows`, must agree with), with the
/// conntrack zones a controller starting now would use (those the bridge records, then fresh ones).
pub fn desired_flows(sb_db: &Replica, ovs: &OvsView, bridge: &str, chassis: &str, local: &LocalBindings) -> (Vec<Flow>, Vec<FlowFailure>) {
    let view = SbView::from_replica(sb_db, chassis);
    let (mut flows, failures) = compile_all(sb_db, &view);
    let phys = PhysicalOvs::of(ovs, bridge);
    let mut zones = CtZones::default();
    zones.update(&zone_users(sb_db, &phys, local), &ovs.bridge(bridge).map(|b| b.external_ids.clone()).unwrap_or_default());
    flows.extend(physical_flows(&physical_input(sb_db, &phys, chassis, local, &zones)));
    (flows, failures)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::binding::{LocalPort, PortKind};
    use crate::physical::physical_flows;
    use crate::testutil::{jmap, SbBuilder};

    /// The arithmetic this replaced gave port keys 2 and 3 of one datapath one zone, and port 2 of
    /// datapaths 1 and 129 one zone: every local port and router here gets its own.
    #[test]
    fn every_local_port_and_router_has_a_zone_of_its_own() {
        let mut s = SbBuilder::new();
        let sw1 = s.datapath(1);
        let sw129 = s.datapath(129);
        let router = |s: &mut SbBuilder, key: i64, name: &str| {
            let dp = s.datapath(key);
            s.set(sb::DATAPATH_BINDING, dp, "external_ids", jmap(&[("logical-router", name), ("name", name)]));
            dp
        };
        let lr_b = router(&mut s, 130, "lr-b");
        let lr_a = router(&mut s, 2, "lr-a");
        let far = router(&mut s, 7, "far");
        for (name, dp, key) in [("vm-a", sw1, 2), ("vm-b", sw1, 3), ("vm-c", sw129, 2)] {
            s.port(name, dp, key, "", &[], &[]);
        }
        s.port("ln", sw129, 1, "localnet", &[("network_name", "phys")], &[]);
        let sb_db = s.build();
        let mut local = LocalBindings::default();
        for (ofport, (name, dp, dp_key, key)) in [("vm-a", sw1, 1, 2), ("vm-b", sw1, 1, 3), ("vm-c", sw129, 129, 2)].into_iter().enumerate()
        {
            let port = LocalPort {
                kind: PortKind::Vif,
                ofport: Some(ofport as u16 + 1),
                binding: Uuid(u128::from(key as u64)),
                datapath: dp,
                datapath_key: dp_key,
                port_key: key,
            };
            local.ports.insert(name.to_string(), port);
        }
        local.datapaths = BTreeMap::from([(sw1, 1), (sw129, 129), (lr_a, 2), (lr_b, 130)]);

        // The localnet port's patch port is on the bridge, still without an OpenFlow port.
        let phys = PhysicalOvs { localnets: vec![("ln".to_string(), None)], ..PhysicalOvs::default() };
        let users = zone_users(&sb_db, &phys, &local);
        let (a, b) = (lr_a.to_string(), lr_b.to_string());
        let ports = ["ln", "vm-a", "vm-b", "vm-c"].map(str::to_string);
        let want: Vec<String> = ports.into_iter().chain([a.clone() + "_dnat", a + "_snat", b.clone() + "_dnat", b + "_snat"]).collect();
        assert_eq!(users, want, "ports by name, then local routers by tunnel key; `far` is not local");
        let mut zones = CtZones::default();
        zones.update(&users, &BTreeMap::new());

        let input = physical_input(&sb_db, &phys, "me", &local, &zones);
        let port_zones: Vec<(&str, u16)> = input
            .ports
            .iter()
            .filter_map(|p| match p.location {
                Location::Local { ct_zone, .. } => Some((p.name.as_str(), ct_zone)),
                _ => None,
            })
            .collect();
        assert_eq!(port_zones, [("vm-a", 2), ("vm-b", 3), ("vm-c", 4)]);
        let dp_zones: BTreeMap<u32, (u16, u16)> =
            input.datapaths.iter().filter(|d| d.is_router).map(|d| (d.key, (d.dnat, d.snat))).collect();
        assert_eq!(dp_zones, BTreeMap::from([(2, (5, 6)), (130, (7, 8)), (7, (0, 0))]), "a router not local here has none");
        assert!(zones.get(&dnat_user(far)).is_none());

        // Table 0 of vm-c (ofport 3) puts its packets in its own zone.
        let flows = physical_flows(&input);
        let t0 = flows.iter().find(|f| f.table == 0 && f.to_string().contains("in_port=3")).unwrap().to_string();
        assert!(t0.contains("set_field:0x4/0xffff->reg13"), "{t0}");
    }
}
