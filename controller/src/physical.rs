//! Physical flows: how packets get from OpenFlow ports into logical datapaths and back out, around the
//! logical pipelines that `flowgen` compiles (table numbers in [`flowgen::layout`]).
//!
//! ```text
//!  VIF / localnet patch ──table 0: metadata=datapath, reg14=inport, zone──▶ logical ingress (8..)
//!  tunnel (Geneve)      ──table 0: metadata=VNI, reg14/reg15 from the option──▶ table 38 (local output)
//!  ingress `output` ──▶ 37 remote output: outport on another chassis -> tunnel (VNI = datapath key,
//!                        option = inport<<16 | outport); multicast: local copies + one copy per chassis;
//!                        chassisredirect here -> outport becomes the distributed port
//!                   ──▶ 38 local output: zones of the outport's datapath; multicast fan-out
//!                   ──▶ 39 loopback check, clear logical registers ──▶ logical egress (40..)
//!  egress `output` ──▶ 64 (allow hairpin when flags.loopback) ──▶ 65: VIF -> output:ofport;
//!                        logical patch port -> the peer datapath's ingress (registers cleared)
//!  66/67: MAC bindings for get_arp / lookup_arp.
//! ```
//! The Geneve option is OVN's (class 0x0102, type 0x80, 32 bits: 15 bits of logical input port, then 16
//! of logical output port), so our chassis and OVN's can share an overlay.

use std::collections::HashMap;
use std::net::IpAddr;

use flowgen::expr::symtab::{flag, REG_CT_ZONE, REG_DNAT_ZONE, REG_FLAGS, REG_INPORT, REG_OUTPORT, REG_SNAT_ZONE};
use flowgen::layout;
use flowgen::ofp::{Action, Field, Flow, Match, Port, Subfield};

/// Where a logical port is, as seen from this chassis. `ct_zone` is the port's conntrack zone from
/// [`crate::ct_zones`] (0, the switch's shared default zone, only when every zone is taken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A VIF (or a container on one) on this chassis' integration bridge.
    Local { ofport: u16, ct_zone: u16 },
    /// A localnet port: the patch port to the bridge of its physical network.
    Localnet { ofport: u16, ct_zone: u16 },
    /// On another chassis, reached through this tunnel port.
    Remote { tunnel: u16 },
    /// One end of a logical patch: delivery enters the peer datapath.
    Patch { peer_datapath: u32, peer_key: u32 },
    /// A chassisredirect port: here (its distributed port's key), or on another chassis.
    Redirect { distributed_key: u32, tunnel: Option<u16> },
    /// Not reachable from here (unbound, or on a chassis with no tunnel yet).
    Nowhere,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortFlows {
    pub name: String,
    pub datapath: u32,
    pub key: u32,
    pub location: Location,
}

impl PortFlows {
    /// The datapaths (tunnel keys) whose zones [`port_flows`] loads for this port: its own, and a patch
    /// peer's. When those zones change, these flows must be recomputed.
    pub fn zone_datapaths(&self) -> impl Iterator<Item = u32> {
        let peer = match self.location {
            Location::Patch { peer_datapath, .. } => Some(peer_datapath),
            _ => None,
        };
        std::iter::once(self.datapath).chain(peer)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFlows {
    pub datapath: u32,
    pub key: u32,
    /// Port keys of VIF members on this chassis.
    pub local: Vec<u32>,
    /// Port keys of members present on every chassis (logical patch ports, localnet ports): they get a
    /// copy only on the chassis where the packet entered, never again from a tunnel.
    pub everywhere: Vec<u32>,
    /// Tunnels to chassis that host members.
    pub tunnels: Vec<u16>,
}

/// A datapath's conntrack zones: a router's DNAT and SNAT zones from [`crate::ct_zones`] (0 for a router
/// with none: not local to this chassis, or every zone taken); a switch's are not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatapathZones {
    pub key: u32,
    pub is_router: bool,
    pub dnat: u16,
    pub snat: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacBinding {
    pub datapath: u32,
    pub port: u32,
    pub ip: IpAddr,
    pub mac: u64,
}

/// Everything the physical flows depend on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhysicalInput {
    pub ports: Vec<PortFlows>,
    pub groups: Vec<GroupFlows>,
    pub datapaths: Vec<DatapathZones>,
    /// Tunnel ports (ofport), for decapsulation.
    pub tunnels: Vec<u16>,
    pub mac_bindings: Vec<MacBinding>,
}

/// Flags bit: the packet arrived through a tunnel.
const FROM_TUNNEL: u16 = flag::RCV_FROM_RAMP;

fn f(name: &str) -> Field {
    Field::from_name(name).unwrap_or(Field::Metadata)
}

fn sf(name: &str, lo: u16, hi: u16) -> Subfield {
    Subfield { field: f(name), ofs: lo, n_bits: hi - lo + 1 }
}

fn set(name: &str, v: u128) -> Action {
    Action::SetField { field: f(name), value: v, mask: None }
}

fn load(name: &str, lo: u16, hi: u16, v: u128) -> Action {
    let width = hi - lo + 1;
    let mask = if width >= 128 { u128::MAX } else { ((1u128 << width) - 1) << lo };
    Action::SetField { field: f(name), value: v << lo, mask: Some(mask) }
}

fn m(pairs: &[(&str, u128)]) -> Match {
    let mut mm = Match::new();
    for (n, v) in pairs {
        let _ = mm.set(f(n), *v);
    }
    mm
}

fn flow(table: u8, priority: u16, matches: Match, actions: Vec<Action>) -> Flow {
    Flow { table, priority, cookie: 0, matches, actions }
}

/// Loads the zones a datapath's pipelines use.
fn zone_loads(dp: Option<&DatapathZones>, port_zone: Option<u16>) -> Vec<Action> {
    let mut v = Vec::new();
    if let Some(z) = port_zone {
        v.push(load(REG_CT_ZONE, 0, 15, u128::from(z)));
    }
    if let Some(d) = dp.filter(|d| d.is_router) {
        v.push(load(REG_DNAT_ZONE, 0, 15, u128::from(d.dnat)));
        v.push(load(REG_SNAT_ZONE, 0, 15, u128::from(d.snat)));
    }
    v
}

/// Clears the logical registers (reg0..reg9 and the flags) between pipelines or datapaths.
fn clear_logical_regs() -> Vec<Action> {
    (0..10).map(|i| set(&format!("reg{i}"), 0)).chain([set(REG_FLAGS, 0)]).collect()
}

/// The datapaths' zones by tunnel key, as the port flows look them up (the last of a duplicated key wins).
pub type ZoneMap = HashMap<u32, DatapathZones>;

pub fn zone_map(datapaths: &[DatapathZones]) -> ZoneMap {
    datapaths.iter().map(|d| (d.key, *d)).collect()
}

/// Every physical flow: the fixed ones, then each tunnel's, port's and multicast group's, then the MAC
/// bindings'. The sections are independent (no two produce the same match), which is what lets the
/// daemon recompute only the ports and groups that changed.
pub fn physical_flows(input: &PhysicalInput) -> Vec<Flow> {
    let zones = zone_map(&input.datapaths);
    let mut out = fixed_flows();
    out.extend(input.tunnels.iter().map(|t| tunnel_flow(*t)));
    for p in &input.ports {
        out.extend(port_flows(p, &zones));
    }
    for g in &input.groups {
        out.extend(group_flows(g));
    }
    out.extend(mac_binding_flows(&input.mac_bindings));
    out
}

/// The table-miss and hairpin flows that do not depend on any port.
pub fn fixed_flows() -> Vec<Flow> {
    let mut out = vec![flow(layout::REMOTE_OUTPUT, 0, Match::new(), vec![Action::resubmit(layout::LOCAL_OUTPUT)])];

    // Table 39: no packet goes back out its own port unless flags.loopback says so (the per-port flows);
    // then egress.
    let mut to_egress: Vec<Action> = (0..10).map(|i| set(&format!("reg{i}"), 0)).collect();
    to_egress.push(Action::resubmit(layout::LOG_EGRESS));
    out.push(flow(layout::CHECK_LOOPBACK, 0, Match::new(), to_egress));

    // Table 64: a packet allowed to loop back may leave by its in_port.
    let mut lb = Match::new();
    let _ = lb.set_masked(f(REG_FLAGS), 1 << flag::ALLOW_LOOPBACK, 1 << flag::ALLOW_LOOPBACK);
    out.push(flow(
        layout::SAVE_INPORT,
        100,
        lb,
        vec![
            Action::Push(Subfield::whole(f("in_port"))),
            set("in_port", 0),
            Action::resubmit(layout::LOG_TO_PHY),
            Action::Pop(Subfield::whole(f("in_port"))),
        ],
    ));
    out.push(flow(layout::SAVE_INPORT, 0, Match::new(), vec![Action::resubmit(layout::LOG_TO_PHY)]));
    out
}

/// Table 0 for a tunnel port: decapsulate into the datapath and ports the Geneve header names.
pub fn tunnel_flow(t: u16) -> Flow {
    flow(
        layout::PHY_TO_LOG,
        100,
        m(&[("in_port", u128::from(t))]),
        vec![
            Action::Move { src: sf("tun_id", 0, 23), dst: sf("metadata", 0, 23) },
            Action::Move { src: sf("tun_metadata0", 16, 30), dst: sf(REG_INPORT, 0, 14) },
            Action::Move { src: sf("tun_metadata0", 0, 15), dst: sf(REG_OUTPORT, 0, 15) },
            // Delivered here only: never back out a tunnel, nor to ports every chassis has.
            load(REG_FLAGS, flag::LOCAL_ONLY, flag::LOCAL_ONLY, 1),
            load(REG_FLAGS, FROM_TUNNEL, FROM_TUNNEL, 1),
            Action::resubmit(layout::LOCAL_OUTPUT),
        ],
    )
}

/// Table 37's output through a tunnel to the chassis that has the port (or group member).
fn to_tunnel(dp: u32, key: u32, tunnel: u16) -> Vec<Action> {
    vec![
        set("tun_id", u128::from(dp)),
        Action::Move { src: sf(REG_INPORT, 0, 14), dst: sf("tun_metadata0", 16, 30) },
        load("tun_metadata0", 0, 15, u128::from(key)),
        Action::Output(Port(tunnel)),
    ]
}

/// One logical port's flows in every physical table (0, 37, 38, 39, 65): they depend only on the port
/// and on the zones of its datapath (and of a patch peer's).
pub fn port_flows(p: &PortFlows, zones: &ZoneMap) -> Vec<Flow> {
    let mut out = Vec::new();
    let dp_of = |key: u32| zones.get(&key);
    let ingress = Action::resubmit(layout::LOG_INGRESS);
    let here = || m(&[("metadata", u128::from(p.datapath)), (REG_OUTPORT, u128::from(p.key))]);

    // Table 0: into the pipeline.
    if let Location::Local { ofport, ct_zone } | Location::Localnet { ofport, ct_zone } = p.location {
        let mut acts = vec![set("metadata", u128::from(p.datapath)), set(REG_INPORT, u128::from(p.key))];
        acts.extend(zone_loads(dp_of(p.datapath), Some(ct_zone)));
        if matches!(p.location, Location::Localnet { .. }) {
            // What came from the physical network is not sent to other chassis: they have it too.
            acts.push(load(REG_FLAGS, flag::LOCAL_ONLY, flag::LOCAL_ONLY, 1));
        }
        acts.push(ingress.clone());
        out.push(flow(layout::PHY_TO_LOG, 100, m(&[("in_port", u128::from(ofport))]), acts));
    }

    // Table 37: remote output.
    match &p.location {
        Location::Remote { tunnel } => out.push(flow(layout::REMOTE_OUTPUT, 100, here(), to_tunnel(p.datapath, p.key, *tunnel))),
        Location::Redirect { distributed_key, tunnel: None } => out.push(flow(
            layout::REMOTE_OUTPUT,
            100,
            here(),
            vec![set(REG_OUTPORT, u128::from(*distributed_key)), Action::resubmit(layout::LOCAL_OUTPUT)],
        )),
        Location::Redirect { tunnel: Some(t), .. } => out.push(flow(layout::REMOTE_OUTPUT, 100, here(), to_tunnel(p.datapath, p.key, *t))),
        _ => {}
    }

    // Table 38: local output, with the zones of the output datapath.
    if let Location::Redirect { distributed_key, tunnel: None } = p.location {
        // A packet for the gateway that came through a tunnel: it leaves by the distributed port here.
        out.push(flow(
            layout::LOCAL_OUTPUT,
            100,
            here(),
            vec![set(REG_OUTPORT, u128::from(distributed_key)), Action::resubmit(layout::LOCAL_OUTPUT)],
        ));
    } else {
        let zone = match p.location {
            Location::Local { ct_zone, .. } | Location::Localnet { ct_zone, .. } => Some(Some(ct_zone)),
            Location::Patch { .. } => Some(None),
            _ => None,
        };
        if let Some(zone) = zone {
            let mut acts = zone_loads(dp_of(p.datapath), zone);
            acts.push(Action::resubmit(layout::CHECK_LOOPBACK));
            out.push(flow(layout::LOCAL_OUTPUT, 100, here(), acts));
        }
    }

    // Table 39: no packet goes back out its own port unless flags.loopback says so.
    if matches!(p.location, Location::Local { .. } | Location::Localnet { .. } | Location::Patch { .. }) {
        let mut mm = m(&[("metadata", u128::from(p.datapath)), (REG_INPORT, u128::from(p.key)), (REG_OUTPORT, u128::from(p.key))]);
        let _ = mm.set_masked(f(REG_FLAGS), 0, 1 << flag::ALLOW_LOOPBACK);
        out.push(flow(layout::CHECK_LOOPBACK, 100, mm, vec![]));
    }

    // Table 65: out of the pipeline.
    match p.location {
        Location::Local { ofport, .. } | Location::Localnet { ofport, .. } => {
            out.push(flow(layout::LOG_TO_PHY, 100, here(), vec![Action::Output(Port(ofport))]))
        }
        Location::Patch { peer_datapath, peer_key } => {
            let mut inner = vec![Action::CtClear];
            inner.extend(clear_logical_regs());
            inner.extend([set("metadata", u128::from(peer_datapath)), set(REG_INPORT, u128::from(peer_key)), set(REG_OUTPORT, 0)]);
            inner.extend(zone_loads(dp_of(peer_datapath), None));
            inner.push(set("in_port", 0));
            inner.push(ingress);
            out.push(flow(layout::LOG_TO_PHY, 100, here(), vec![Action::Clone(inner)]));
        }
        _ => {}
    }
    out
}

/// One multicast group's flows in tables 37 and 38.
pub fn group_flows(g: &GroupFlows) -> Vec<Flow> {
    let mut out = Vec::new();
    let here = m(&[("metadata", u128::from(g.datapath)), (REG_OUTPORT, u128::from(g.key))]);

    // Table 37: local copies only for what must stay here; otherwise one copy per chassis with members too.
    let local_only = vec![Action::resubmit(layout::LOCAL_OUTPUT)];
    let mut everywhere = local_only.clone();
    for t in &g.tunnels {
        everywhere.extend(to_tunnel(g.datapath, g.key, *t));
    }
    let mut lm = here.clone();
    let _ = lm.set_masked(f(REG_FLAGS), 1 << flag::LOCAL_ONLY, 1 << flag::LOCAL_ONLY);
    out.push(flow(layout::REMOTE_OUTPUT, 110, lm, local_only));
    out.push(flow(layout::REMOTE_OUTPUT, 100, here.clone(), everywhere));

    // Table 38: the fan-out to the local members.
    let copy = |k: &u32| Action::Clone(vec![set(REG_OUTPORT, u128::from(*k)), Action::resubmit(layout::LOCAL_OUTPUT)]);
    let vifs: Vec<Action> = g.local.iter().map(copy).collect();
    let mut from_tunnel = here.clone();
    let _ = from_tunnel.set_masked(f(REG_FLAGS), 1 << FROM_TUNNEL, 1 << FROM_TUNNEL);
    out.push(flow(layout::LOCAL_OUTPUT, 110, from_tunnel, vifs.clone()));
    let mut all = vifs;
    all.extend(g.everywhere.iter().map(copy));
    out.push(flow(layout::LOCAL_OUTPUT, 100, here, all));
    out
}

/// Tables 66/67: learned MAC bindings (apart, so a MAC_Binding change touches only these flows).
pub fn mac_binding_flows(bindings: &[MacBinding]) -> Vec<Flow> {
    let mut out = Vec::new();
    for b in bindings {
        let (ipf, ipv) = match b.ip {
            IpAddr::V4(v4) => ("reg0", u128::from(u32::from(v4))),
            IpAddr::V6(v6) => ("xxreg0", u128::from(v6)),
        };
        let base = [("metadata", u128::from(b.datapath))];
        let mut get = m(&base);
        let _ = get.set(f(REG_OUTPORT), u128::from(b.port));
        let _ = get.set(f(ipf), ipv);
        out.push(flow(layout::MAC_BINDING, 100, get, vec![set("eth_dst", u128::from(b.mac))]));
        let mut look = m(&base);
        let _ = look.set(f(REG_INPORT), u128::from(b.port));
        let _ = look.set(f(ipf), ipv);
        let _ = look.set(f("eth_src"), u128::from(b.mac));
        out.push(flow(layout::MAC_LOOKUP, 100, look, vec![load(REG_FLAGS, flag::LOOKUP_MAC, flag::LOOKUP_MAC, 1)]));
        let mut look_ip = m(&base);
        let _ = look_ip.set(f(REG_INPORT), u128::from(b.port));
        let _ = look_ip.set(f(ipf), ipv);
        out.push(flow(layout::MAC_LOOKUP_IP, 100, look_ip, vec![load(REG_FLAGS, flag::LOOKUP_MAC, flag::LOOKUP_MAC, 1)]));
    }
    out
}
