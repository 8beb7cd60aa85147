//! Logical switch flows: port security, the ARP responder, and L2 lookup (`ovn-northd(8)`, "Logical
//! Switch Datapaths").

use std::net::Ipv4Addr;

use super::topology::{has_unknown, static_addresses, Switch, Topology};
use crate::desired::{DesiredSb, MC_FLOOD, MC_UNKNOWN};
use crate::stage::Stage;

/// The actions that turn an ARP request for `ip` into the reply "`ip` is at `mac`", sent back out the port
/// it came in on.
pub fn arp_reply(mac: &str, ip: Ipv4Addr) -> String {
    format!(
        "eth.dst = eth.src; eth.src = {mac}; arp.op = 2; /* ARP reply */ arp.tha = arp.sha; arp.sha = {mac}; \
         arp.tpa = arp.spa; arp.spa = {ip}; outport = inport; flags.loopback = 1; output;"
    )
}

/// The register bit the port security stages pass their verdict in (1: drop).
const PORT_SEC_DROP: &str = "reg0[15]";

pub fn build(topo: &Topology, sw: &Switch, sb: &mut DesiredSb) {
    let dp = sw.ls.uuid;
    port_security(sw, sb);

    // ARP responder: the switch answers for the addresses it knows, except to the owner itself and except
    // for requests from the physical network (the owner of an address there answers for itself).
    for p in &sw.ports {
        let name = &p.lsp.name;
        if p.lsp.kind == "localnet" {
            sb.flow(dp, Stage::LsInArpRsp, 100, format!("inport == \"{name}\""), "next;");
            continue;
        }
        let mut entries = static_addresses(p.lsp);
        if let Some(rp) = p.peer.and_then(|(lrp, _)| topo.router_port(lrp)) {
            entries.push((rp.mac(), rp.ipv4().map(|n| n.addr()).collect()));
        }
        for (mac, ips) in entries {
            for ip in ips {
                sb.flow(dp, Stage::LsInArpRsp, 100, format!("arp.tpa == {ip} && arp.op == 1 && inport == \"{name}\""), "next;");
                sb.flow(dp, Stage::LsInArpRsp, 50, format!("arp.tpa == {ip} && arp.op == 1"), arp_reply(&mac, ip));
            }
        }
    }

    // L2 lookup: broadcast and multicast flood; known MACs go to their port; the rest to the ports that take
    // unknown MACs.
    sb.flow(dp, Stage::LsInL2Lkup, 70, "eth.mcast", format!("outport = \"{}\"; output;", MC_FLOOD.0));
    for p in &sw.ports {
        let name = &p.lsp.name;
        for (mac, _) in static_addresses(p.lsp) {
            sb.flow(dp, Stage::LsInL2Lkup, 50, format!("eth.dst == {mac}"), format!("outport = \"{name}\"; output;"));
        }
        let Some(rp) = p.peer.and_then(|(lrp, _)| topo.router_port(lrp)) else { continue };
        // A gateway port's MAC lives only where its chassisredirect port is.
        let m = match rp.resident() {
            Some(res) => format!("eth.dst == {} && {res}", rp.mac()),
            None => format!("eth.dst == {}", rp.mac()),
        };
        sb.flow(dp, Stage::LsInL2Lkup, 50, m, format!("outport = \"{name}\"; output;"));
        // A distributed floating IP's MAC lives where its logical port is.
        if let Some(lr) = topo.router(rp.router).filter(|_| rp.gateway.is_some()) {
            for n in lr.nats.iter().filter(|n| n.is_distributed()) {
                if let (Some(mac), Some(lp)) = (n.external_mac, &n.logical_port) {
                    sb.flow(
                        dp,
                        Stage::LsInL2Lkup,
                        50,
                        format!("eth.dst == {} && is_chassis_resident(\"{lp}\")", super::topology::mac_text(&mac)),
                        format!("outport = \"{name}\"; output;"),
                    );
                }
            }
        }
    }
    let unknown = sw.ports.iter().any(|p| has_unknown(p.lsp));
    let default = if unknown { format!("outport = \"{}\"; output;", MC_UNKNOWN.0) } else { "drop;".to_string() };
    sb.flow(dp, Stage::LsInL2Lkup, 0, "1", default);
}

/// Port security and admin state. The addresses a port may use are not spelled out in flows: the check
/// stages ask the chassis (`check_in_port_sec()` / `check_out_port_sec()`), which compares the packet with
/// the port's `Port_Binding.port_security` (its MACs, and its IPs when listed: `ip4.src` and `arp.spa` on the
/// way in, `ip4.dst` on the way out), and the apply stages drop what failed. Frames from a multicast source
/// MAC or with a VLAN tag never enter; multicast and broadcast frames always leave.
fn port_security(sw: &Switch, sb: &mut DesiredSb) {
    let dp = sw.ls.uuid;
    sb.flow(dp, Stage::LsInCheckPortSec, 100, "eth.src[40]", "drop;");
    sb.flow(dp, Stage::LsInCheckPortSec, 100, "vlan.present", "drop;");
    sb.flow(dp, Stage::LsInCheckPortSec, 50, "1", format!("{PORT_SEC_DROP} = check_in_port_sec(); next;"));
    sb.flow(dp, Stage::LsInApplyPortSec, 50, format!("{PORT_SEC_DROP} == 1"), "drop;");
    sb.flow(dp, Stage::LsOutCheckPortSec, 100, "eth.mcast", format!("{PORT_SEC_DROP} = 0; next;"));
    sb.flow(dp, Stage::LsOutCheckPortSec, 0, "1", format!("{PORT_SEC_DROP} = check_out_port_sec(); next;"));
    sb.flow(dp, Stage::LsOutApplyPortSec, 50, format!("{PORT_SEC_DROP} == 1"), "drop;");
    for p in sw.ports.iter().filter(|p| p.lsp.enabled == Some(false)) {
        let name = &p.lsp.name;
        sb.flow(dp, Stage::LsInCheckPortSec, 100, format!("inport == \"{name}\""), format!("{PORT_SEC_DROP} = 1; next;"));
        sb.flow(dp, Stage::LsOutApplyPortSec, 100, format!("outport == \"{name}\""), "drop;");
    }
}
