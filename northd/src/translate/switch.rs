//! Logical switch flows: port security, the ARP responder, and L2 lookup (`ovn-northd(8)`, "Logical
//! Switch Datapaths").
//!
//! Two units: the switch itself (its datapath, its multicast groups and the flows that do not name a
//! port) and each of its ports (the port's binding, its group memberships, and every flow that names the
//! port or its addresses, including the routers' ARP entries for it). So a port added to a switch of
//! 10,000 ports computes one port.

use std::net::Ipv4Addr;

use model::nb::LogicalSwitchPort;
use model::ovsdb::Uuid;

use super::bindings;
use super::engine::Out;
use super::index::Reader;
use super::topology::{mac_text, static_addresses, RouterPort};
use crate::desired::{Datapath, MC_FLOOD, MC_UNKNOWN};
use crate::stage::{DpKind, Stage};

/// The actions that turn an ARP request for `ip` into the reply "`ip` is at `mac`", sent back out the port
/// it came in on.
pub fn arp_reply(mac: &str, ip: Ipv4Addr) -> String {
    format!(
        "eth.dst = eth.src; eth.src = {mac}; arp.op = 2; /* ARP reply */ arp.tha = arp.sha; arp.sha = {mac}; \
         arp.tpa = arp.spa; arp.spa = {ip}; outport = inport; flags.loopback = 1; output;"
    )
}

/// The switch's datapath, multicast groups and port-independent flows.
pub fn switch_unit(r: &mut Reader<'_>, ls: Uuid, sb: &mut Out) {
    let Some(sw) = r.switch(ls) else { return };
    sb.datapaths.push(Datapath { nb_uuid: ls, kind: DpKind::Switch, name: sw.name.clone(), tunnel_key: 0 });
    for (name, key) in [MC_FLOOD, MC_UNKNOWN] {
        sb.mc_groups.push((ls, name, key));
    }

    port_security(ls, sb);

    // L2 lookup: broadcast and multicast flood; the rest, when no port's MAC matched, to the ports that
    // take unknown MACs.
    sb.flow(ls, Stage::LsInL2Lkup, 70, "eth.mcast", format!("outport = \"{}\"; output;", MC_FLOOD.0));
    let default = if r.has_unknown(ls) { format!("outport = \"{}\"; output;", MC_UNKNOWN.0) } else { "drop;".to_string() };
    sb.flow(ls, Stage::LsInL2Lkup, 0, "1", default);
    sb.stage_defaults(ls, DpKind::Switch);
}

/// One switch port: its binding and group memberships, and the flows that name it.
pub fn port_unit(r: &mut Reader<'_>, u: Uuid, sb: &mut Out) {
    let Some(lsp) = r.switch_port(u) else { return };
    let owners = r.owners(u);
    let Some((&ls, others)) = owners.split_first() else { return };
    for other in others {
        let name = r.switch(*other).map_or_else(|| other.to_string(), |s| s.name.clone());
        sb.warnings.push(format!("Logical_Switch_Port {}: listed by two switches; ignored in switch {name}", lsp.name));
    }
    let peer = super::topology::switch_port_peer(r, lsp, &mut sb.warnings);
    bindings::switch_port_rows(r, ls, lsp, peer.as_ref(), sb);
    admin_state(ls, lsp, sb);
    arp_responder(ls, lsp, peer.as_ref(), sb);
    l2_lookup(r, ls, lsp, peer.as_ref(), sb);
    router_arp_entries(r, ls, lsp, peer.as_ref(), sb);
}

/// The register bit the port security stages pass their verdict in (1: drop).
const PORT_SEC_DROP: &str = "reg0[15]";

/// Port security. The addresses a port may use are not spelled out in flows: the check stages ask the
/// chassis (`check_in_port_sec()` / `check_out_port_sec()`), which compares the packet with the port's
/// `Port_Binding.port_security` (its MACs, and its IPs when listed: `ip4.src` and `arp.spa` on the way in,
/// `ip4.dst` on the way out), and the apply stages drop what failed. Frames from a multicast source MAC or
/// with a VLAN tag never enter; multicast and broadcast frames always leave.
fn port_security(ls: Uuid, sb: &mut Out) {
    sb.flow(ls, Stage::LsInCheckPortSec, 100, "eth.src[40]", "drop;");
    sb.flow(ls, Stage::LsInCheckPortSec, 100, "vlan.present", "drop;");
    sb.flow(ls, Stage::LsInCheckPortSec, 50, "1", format!("{PORT_SEC_DROP} = check_in_port_sec(); next;"));
    sb.flow(ls, Stage::LsInApplyPortSec, 50, format!("{PORT_SEC_DROP} == 1"), "drop;");
    sb.flow(ls, Stage::LsOutCheckPortSec, 100, "eth.mcast", format!("{PORT_SEC_DROP} = 0; next;"));
    sb.flow(ls, Stage::LsOutCheckPortSec, 0, "1", format!("{PORT_SEC_DROP} = check_out_port_sec(); next;"));
    sb.flow(ls, Stage::LsOutApplyPortSec, 50, format!("{PORT_SEC_DROP} == 1"), "drop;");
}

/// Admin state: nothing enters from or leaves to a disabled port.
fn admin_state(dp: Uuid, lsp: &LogicalSwitchPort, sb: &mut Out) {
    if lsp.enabled == Some(false) {
        let name = &lsp.name;
        sb.flow(dp, Stage::LsInCheckPortSec, 100, format!("inport == \"{name}\""), format!("{PORT_SEC_DROP} = 1; next;"));
        sb.flow(dp, Stage::LsOutApplyPortSec, 100, format!("outport == \"{name}\""), "drop;");
    }
}

/// ARP responder: the switch answers for the addresses it knows, except to the owner itself and except
/// for requests from the physical network (the owner of an address there answers for itself).
fn arp_responder(dp: Uuid, lsp: &LogicalSwitchPort, peer: Option<&RouterPort<'_>>, sb: &mut Out) {
    let name = &lsp.name;
    if lsp.kind == "localnet" {
        sb.flow(dp, Stage::LsInArpRsp, 100, format!("inport == \"{name}\""), "next;");
        return;
    }
    let mut entries = static_addresses(lsp);
    if let Some(rp) = peer {
        entries.push((rp.mac(), rp.ipv4().map(|n| n.addr()).collect()));
    }
    for (mac, ips) in entries {
        for ip in ips {
            sb.flow(dp, Stage::LsInArpRsp, 100, format!("arp.tpa == {ip} && arp.op == 1 && inport == \"{name}\""), "next;");
            sb.flow(dp, Stage::LsInArpRsp, 50, format!("arp.tpa == {ip} && arp.op == 1"), arp_reply(&mac, ip));
        }
    }
}

/// L2 lookup: the port's known MACs go to it.
fn l2_lookup<'a>(r: &mut Reader<'a>, dp: Uuid, lsp: &LogicalSwitchPort, peer: Option<&RouterPort<'a>>, sb: &mut Out) {
    let name = &lsp.name;
    for (mac, _) in static_addresses(lsp) {
        sb.flow(dp, Stage::LsInL2Lkup, 50, format!("eth.dst == {mac}"), format!("outport = \"{name}\"; output;"));
    }
    let Some(rp) = peer else { return };
    // A gateway port's MAC lives only where its chassisredirect port is.
    let m = match rp.resident() {
        Some(res) => format!("eth.dst == {} && {res}", rp.mac()),
        None => format!("eth.dst == {}", rp.mac()),
    };
    sb.flow(dp, Stage::LsInL2Lkup, 50, m, format!("outport = \"{name}\"; output;"));
    // A distributed floating IP's MAC lives where its logical port is.
    if rp.gateway.is_none() {
        return;
    }
    let Some(lr) = super::topology::Router::with_gateways(r, rp.router) else { return };
    for n in lr.nats(r).into_iter().filter(|n| n.is_distributed()) {
        if let (Some(mac), Some(lp)) = (n.external_mac, &n.logical_port) {
            sb.flow(
                dp,
                Stage::LsInL2Lkup,
                50,
                format!("eth.dst == {} && is_chassis_resident(\"{lp}\")", mac_text(&mac)),
                format!("outport = \"{name}\"; output;"),
            );
        }
    }
}

/// ARP resolution on the routers attached to this port's switch: each router port resolves this port's
/// addresses in its networks statically (a router port's own peer excepted). Built with the switch port,
/// not the router, so that a new port adds its entries without recomputing the others.
fn router_arp_entries<'a>(r: &mut Reader<'a>, ls: Uuid, lsp: &LogicalSwitchPort, peer: Option<&RouterPort<'a>>, sb: &mut Out) {
    let mut entries = static_addresses(lsp);
    if let Some(o) = peer {
        entries.push((o.mac(), o.ipv4().map(|n| n.addr()).collect()));
    }
    if entries.iter().all(|(_, ips)| ips.is_empty()) {
        return;
    }
    for q in r.router_ports_of(ls) {
        let Some(q) = r.switch_port(q) else { continue };
        let Some(p) = q.router_port().and_then(|name| RouterPort::named(r, name)) else { continue };
        // Only the switch port the router port counts as its peer attaches it here.
        if p.peer(r) != Some((q.name.as_str(), ls)) {
            continue;
        }
        if peer.is_some_and(|o| o.name() == p.name()) {
            continue;
        }
        for (mac, ips) in &entries {
            for ip in ips.iter().filter(|ip| p.ipv4().any(|n| n.contains(*ip))) {
                sb.flow(
                    p.router,
                    Stage::LrInArpResolve,
                    100,
                    format!("outport == \"{}\" && reg0 == {ip}", p.name()),
                    format!("eth.dst = {mac}; next;"),
                );
            }
        }
    }
}
