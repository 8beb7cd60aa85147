//! Logical router flows: admission, neighbour learning, IP input, routing, ARP resolution, gateway
//! redirect, ARP requests and delivery (`ovn-northd(8)`, "Logical Router Datapaths"). NAT lives in
//! [`super::nat`].

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use model::nb::{NatType, NextHop, RoutePolicy};

use super::topology::{static_addresses, Router, RouterPort, Topology};
use crate::desired::DesiredSb;
use crate::stage::Stage;

/// The actions of a router answering an ARP request with the MAC it was addressed to (`xreg0[0..47]`, set by
/// admission).
pub const ARP_REPLY_FROM_ROUTER: &str = "eth.dst = eth.src; eth.src = xreg0[0..47]; arp.op = 2; /* ARP reply */ \
     arp.tha = arp.sha; arp.sha = xreg0[0..47]; arp.tpa <-> arp.spa; outport = inport; flags.loopback = 1; output;";

/// "and only on the gateway chassis", for a match on a gateway port.
fn and_resident(p: &RouterPort) -> String {
    p.resident().map(|r| format!(" && {r}")).unwrap_or_default()
}

/// The routing decision: next hop into `reg0`, our address on the way out into `reg1`, then on.
fn route_action(nexthop: &str, out: &RouterPort, out_ip: Ipv4Addr) -> String {
    format!(
        "ip.ttl--; reg8[0..15] = 0; reg0 = {nexthop}; reg1 = {out_ip}; eth.src = {}; outport = \"{}\"; flags.loopback = 1; next;",
        out.mac(),
        out.name()
    )
}

pub fn build(_topo: &Topology, lr: &Router, sb: &mut DesiredSb, warnings: &mut Vec<String>) {
    let dp = lr.lr.uuid;

    // Admission: a frame enters when addressed to the port's MAC (a gateway port only on its chassis) or
    // broadcast; the MAC it was addressed to is kept in xreg0[0..47].
    sb.flow(dp, Stage::LrInAdmission, 100, "vlan.present || eth.src[40]", "drop;");
    for p in &lr.ports {
        let (name, mac) = (p.name(), p.mac());
        sb.flow(dp, Stage::LrInAdmission, 50, format!("eth.mcast && inport == \"{name}\""), format!("xreg0[0..47] = {mac}; next;"));
        sb.flow(
            dp,
            Stage::LrInAdmission,
            50,
            format!("eth.dst == {mac} && inport == \"{name}\"{}", and_resident(p)),
            format!("xreg0[0..47] = {mac}; next;"),
        );
    }
    sb.flow(dp, Stage::LrInAdmission, 0, "1", "drop;");

    // Neighbour learning: ARP replies, and requests from our own subnets, are learned unless known.
    let lookup = "reg9[2] = lookup_arp(inport, arp.spa, arp.sha); next;";
    sb.flow(dp, Stage::LrInLookupNeighbor, 100, "arp.op == 2", lookup);
    for p in &lr.ports {
        for n in p.ipv4() {
            sb.flow(
                dp,
                Stage::LrInLookupNeighbor,
                100,
                format!("inport == \"{}\" && arp.spa == {} && arp.op == 1{}", p.name(), n.trunc(), and_resident(p)),
                lookup,
            );
        }
    }
    sb.flow(dp, Stage::LrInLookupNeighbor, 0, "1", "reg9[2] = 1; next;");
    sb.flow(dp, Stage::LrInLearnNeighbor, 100, "reg9[2] == 1", "next;");
    sb.flow(dp, Stage::LrInLearnNeighbor, 90, "arp", "put_arp(inport, arp.spa, arp.sha); next;");
    sb.flow(dp, Stage::LrInLearnNeighbor, 0, "1", "drop;");

    // IP input.
    sb.flow(
        dp,
        Stage::LrInIpInput,
        100,
        "ip4.src_mcast || ip4.src == 255.255.255.255 || ip4.src == 127.0.0.0/8 || ip4.dst == 127.0.0.0/8 || \
         ip4.src == 0.0.0.0/8 || ip4.dst == 0.0.0.0/8",
        "drop;",
    );
    for p in &lr.ports {
        for n in p.ipv4() {
            let ip = n.addr();
            // Nobody else may use our address or our subnet's broadcast as a source.
            sb.flow(dp, Stage::LrInIpInput, 100, format!("ip4.src == {{{ip}, {}}} && reg9[0] == 0", n.broadcast()), "drop;");
            sb.flow(
                dp,
                Stage::LrInIpInput,
                90,
                format!("inport == \"{}\" && arp.op == 1 && arp.tpa == {ip} && arp.spa == {}{}", p.name(), n.trunc(), and_resident(p)),
                ARP_REPLY_FROM_ROUTER,
            );
            sb.flow(
                dp,
                Stage::LrInIpInput,
                90,
                format!("ip4.dst == {ip} && icmp4.type == 8 && icmp4.code == 0"),
                "ip4.dst <-> ip4.src; ip.ttl = 255; icmp4.type = 0; flags.loopback = 1; next; ",
            );
        }
    }
    own_address_drops(lr, sb);
    sb.flow(dp, Stage::LrInIpInput, 85, "arp || nd", "drop;");
    sb.flow(dp, Stage::LrInIpInput, 82, "ip4.mcast || ip6.mcast", "drop;");
    sb.flow(dp, Stage::LrInIpInput, 50, "eth.bcast", "drop;");
    sb.flow(dp, Stage::LrInIpInput, 30, "ip.ttl == {0, 1}", "drop;");
    icmp_errors(lr, sb);

    // Routing: connected networks first (by prefix length), then static routes.
    sb.flow(dp, Stage::LrInIpRoutingPre, 0, "1", "reg7 = 0; next;");
    for p in &lr.ports {
        for n in p.ipv4() {
            let plen = u16::from(n.prefix_len());
            sb.flow(dp, Stage::LrInIpRouting, plen * 3 + 2, format!("ip4.dst == {}", n.trunc()), route_action("ip4.dst", p, n.addr()));
        }
    }
    for r in &lr.routes {
        let ipnet::IpNet::V4(prefix) = r.ip_prefix else {
            warnings.push(format!("static route {} on router {}: IPv6 routes are not supported yet; ignored", r.ip_prefix, lr.lr.name));
            continue;
        };
        let plen = u16::from(prefix.prefix_len());
        let (field, priority) = match r.policy {
            RoutePolicy::DstIp => ("ip4.dst", plen * 3 + 1),
            RoutePolicy::SrcIp => ("ip4.src", plen * 3),
        };
        let m = format!("reg7 == 0 && {field} == {prefix}");
        match &r.nexthop {
            NextHop::Discard => sb.flow(dp, Stage::LrInIpRouting, priority, m, "drop;"),
            NextHop::Ip(std::net::IpAddr::V4(nh)) => {
                let out = match &r.output_port {
                    Some(name) => lr.ports.iter().find(|p| p.name() == name).and_then(|p| p.ipv4().next().map(|n| (p, n))),
                    None => lr.port_for(*nh),
                };
                match out {
                    Some((p, n)) => sb.flow(dp, Stage::LrInIpRouting, priority, m, route_action(&nh.to_string(), p, n.addr())),
                    None => warnings.push(format!(
                        "static route {prefix} via {nh} on router {}: no router port reaches the next hop; ignored",
                        lr.lr.name
                    )),
                }
            }
            NextHop::Ip(nh) => {
                warnings.push(format!("static route {prefix} via {nh} on router {}: next hop is not IPv4; ignored", lr.lr.name))
            }
        }
    }
    sb.flow(dp, Stage::LrInIpRouting, 0, "1", "drop;");
    sb.flow(dp, Stage::LrInIpRoutingEcmp, 150, "reg8[0..15] == 0", "next;");
    sb.flow(dp, Stage::LrInIpRoutingEcmp, 0, "1", "drop;");
    sb.flow(dp, Stage::LrInPolicy, 0, "1", "reg8[0..15] = 0; next;");
    sb.flow(dp, Stage::LrInPolicyEcmp, 150, "reg8[0..15] == 0", "next;");
    sb.flow(dp, Stage::LrInPolicyEcmp, 0, "1", "drop;");

    // ARP resolution: addresses known from the switches behind each port are resolved statically; the rest
    // from learned MAC bindings. An unresolved next hop leaves eth.dst zero, which triggers an ARP request.
    sb.flow(dp, Stage::LrInArpResolve, 500, "ip4.mcast || ip6.mcast", "next;");
    sb.flow(dp, Stage::LrInArpResolve, 1, "ip4", "get_arp(outport, reg0); next;");
    sb.flow(dp, Stage::LrInArpResolve, 0, "1", "drop;");

    // Gateway redirect: what leaves by a gateway port goes to the chassis that hosts it.
    for p in &lr.ports {
        if let Some(gw) = &p.gateway {
            sb.flow(dp, Stage::LrInGwRedirect, 50, format!("outport == \"{}\"", p.name()), format!("outport = \"{}\"; next;", gw.cr_port));
        }
    }

    sb.flow(
        dp,
        Stage::LrInArpRequest,
        100,
        "eth.dst == 00:00:00:00:00:00 && ip4",
        "arp { eth.dst = ff:ff:ff:ff:ff:ff; arp.spa = reg1; arp.tpa = reg0; arp.op = 1; output; };",
    );
    sb.flow(dp, Stage::LrInArpRequest, 0, "1", "output;");

    // Nothing is a DNAT address of this router until a NAT rule says so (`super::nat`).
    sb.flow(dp, Stage::LrOutChkDnatLocal, 0, "1", "reg9[4] = 0; next;");

    for p in &lr.ports {
        sb.flow(dp, Stage::LrOutDelivery, 100, format!("outport == \"{}\"", p.name()), "output;");
    }
    sb.flow(dp, Stage::LrOutDelivery, 0, "1", "drop;");
}

/// ICMP errors the router sends (RFC 1812): "time exceeded" for a unicast packet whose TTL runs out here,
/// from the (first) address of the port it came in on, except that a gateway port swaps the packet's
/// addresses, so the error comes from the packet's own destination; and on a router without gateway
/// ports, "port unreachable" (UDP), a TCP reset, an SCTP abort, or "protocol unreachable" for anything
/// else sent to one of its addresses that nothing above answered.
fn icmp_errors(lr: &Router, sb: &mut DesiredSb) {
    let dp = lr.lr.uuid;
    // Multicast with TTL 1 is meant to stay on its link: dropped without a word.
    sb.flow(dp, Stage::LrInIpInput, 32, "ip.ttl == {0, 1} && !ip.later_frag && (ip4.mcast || ip6.mcast)", "drop;");
    for p in &lr.ports {
        let Some(addr) = p.ipv4().next().map(|n| n.addr()) else { continue };
        let name = p.name();
        let from = if p.gateway.is_some() { "ip4.dst <-> ip4.src".to_string() } else { format!("ip4.dst = ip4.src; ip4.src = {addr}") };
        sb.flow(
            dp,
            Stage::LrInIpInput,
            31,
            format!("inport == \"{name}\" && ip4 && ip.ttl == {{0, 1}} && !ip.later_frag"),
            format!(
                "icmp4 {{eth.dst <-> eth.src; icmp4.type = 11; /* Time exceeded */ icmp4.code = 0; /* TTL exceeded in transit */ \
                 {from} ; ip.ttl = 254; outport = \"{name}\"; flags.loopback = 1; output; }};"
            ),
        );
    }
    if lr.lr.options.contains_key("chassis") || lr.ports.iter().any(|p| p.gateway.is_some()) {
        return;
    }
    let unreachable = |code: u8| {
        format!("icmp4 {{eth.dst <-> eth.src; ip4.dst <-> ip4.src; ip.ttl = 255; icmp4.type = 3; icmp4.code = {code}; next; }};")
    };
    for ip in lr.ports.iter().flat_map(|p| p.ipv4()).map(|n| n.addr()) {
        let to_us = format!("ip4 && ip4.dst == {ip} && !ip.later_frag");
        sb.flow(dp, Stage::LrInIpInput, 80, format!("{to_us} && udp"), unreachable(3));
        sb.flow(dp, Stage::LrInIpInput, 80, format!("{to_us} && tcp"), "tcp_reset {eth.dst <-> eth.src; ip4.dst <-> ip4.src; next; };");
        sb.flow(dp, Stage::LrInIpInput, 80, format!("{to_us} && sctp"), "sctp_abort {eth.dst <-> eth.src; ip4.dst <-> ip4.src; next; };");
        sb.flow(dp, Stage::LrInIpInput, 70, to_us, unreachable(2));
    }
}

/// The external IPs of the router's SNAT rules.
pub fn snat_ips<'a>(lr: &'a Router) -> impl Iterator<Item = std::net::IpAddr> + 'a {
    lr.nats.iter().filter(|n| n.kind == NatType::Snat).map(|n| n.external_ip)
}

/// IP traffic for the router's own addresses that nothing above answered is dropped in IP input, except
/// for addresses that are also SNAT addresses: replies to SNATed connections must get to unsnat first, so
/// those are dropped only at ARP resolution, if unsnat did not translate them.
fn own_address_drops(lr: &Router, sb: &mut DesiredSb) {
    let dp = lr.lr.uuid;
    let snat: BTreeSet<std::net::IpAddr> = snat_ips(lr).collect();
    for p in &lr.ports {
        let (shared, own): (Vec<Ipv4Addr>, Vec<Ipv4Addr>) = p.ipv4().map(|n| n.addr()).partition(|ip| snat.contains(&(*ip).into()));
        for (stage, priority, ips) in [(Stage::LrInIpInput, 60, own), (Stage::LrInArpResolve, 2, shared)] {
            if !ips.is_empty() {
                let set = ips.iter().map(|ip| ip.to_string()).collect::<Vec<_>>().join(", ");
                sb.flow(dp, stage, priority, format!("ip4.dst == {{{set}}}"), "drop;");
            }
        }
    }
}

/// ARP resolution for the addresses known behind one router port: the VIFs of the switch it attaches, and
/// the other router ports on that switch. A unit of its own, so a port change on one switch does not
/// recompute the router's flows for every other switch.
pub fn arp_resolve(topo: &Topology, lr: &Router, p: &RouterPort, sb: &mut DesiredSb) {
    let dp = lr.lr.uuid;
    let Some(sw) = p.peer.and_then(|(_, ls)| topo.switch(ls)) else { return };
    for sp in &sw.ports {
        let mut entries = static_addresses(sp.lsp);
        if let Some(other) = sp.peer.and_then(|(lrp, _)| topo.router_port(lrp)).filter(|o| o.name() != p.name()) {
            entries.push((other.mac(), other.ipv4().map(|n| n.addr()).collect()));
        }
        for (mac, ips) in entries {
            for ip in ips.into_iter().filter(|ip| p.ipv4().any(|n: Ipv4Net| n.contains(ip))) {
                sb.flow(
                    dp,
                    Stage::LrInArpResolve,
                    100,
                    format!("outport == \"{}\" && reg0 == {ip}", p.name()),
                    format!("eth.dst = {mac}; next;"),
                );
            }
        }
    }
}
