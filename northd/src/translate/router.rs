//! Logical router flows: admission, neighbour learning, IP input, routing, ARP resolution, gateway
//! redirect, ARP requests and delivery (`ovn-northd(8)`, "Logical Router Datapaths"). NAT lives in
//! [`super::nat`]; the ARP entries for the addresses behind a router port are built with each switch
//! port ([`super::switch`]).
//!
//! Three units: the router (its datapath and the flows that name no port), each router port (its
//! bindings and the flows that name it or its networks), and each static route.

use std::net::{IpAddr, Ipv4Addr};

use model::nb::{NextHop, RoutePolicy};
use model::ovsdb::Uuid;

use super::bindings;
use super::engine::Out;
use super::index::Reader;
use super::topology::{Router, RouterPort};
use crate::desired::Datapath;
use crate::stage::{DpKind, Stage};

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

/// The router's datapath and the flows that name no port.
pub fn router_unit(r: &mut Reader<'_>, u: Uuid, sb: &mut Out) {
    let Some(lr) = r.router(u) else { return };
    let dp = u;
    sb.datapaths.push(Datapath { nb_uuid: dp, kind: DpKind::Router, name: lr.name.clone(), tunnel_key: 0 });

    // Admission: what no port admits (see `port_unit`) is dropped.
    sb.flow(dp, Stage::LrInAdmission, 100, "vlan.present || eth.src[40]", "drop;");
    sb.flow(dp, Stage::LrInAdmission, 0, "1", "drop;");

    // Neighbour learning: ARP replies, and requests from our own subnets (see `port_unit`), are learned
    // unless known.
    sb.flow(dp, Stage::LrInLookupNeighbor, 100, "arp.op == 2", LOOKUP_ARP);
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
    sb.flow(dp, Stage::LrInIpInput, 85, "arp || nd", "drop;");
    sb.flow(dp, Stage::LrInIpInput, 82, "ip4.mcast || ip6.mcast", "drop;");
    sb.flow(dp, Stage::LrInIpInput, 50, "eth.bcast", "drop;");
    sb.flow(dp, Stage::LrInIpInput, 30, "ip.ttl == {0, 1}", "drop;");
    // Multicast with TTL 1 is meant to stay on its link: dropped without an ICMP error (`ttl_exceeded`).
    sb.flow(dp, Stage::LrInIpInput, 32, "ip.ttl == {0, 1} && !ip.later_frag && (ip4.mcast || ip6.mcast)", "drop;");

    // Routing: connected networks (see `port_unit`) and static routes (`route_unit`); what matches
    // none is dropped.
    sb.flow(dp, Stage::LrInIpRoutingPre, 0, "1", "reg7 = 0; next;");
    sb.flow(dp, Stage::LrInIpRouting, 0, "1", "drop;");
    sb.flow(dp, Stage::LrInIpRoutingEcmp, 150, "reg8[0..15] == 0", "next;");
    sb.flow(dp, Stage::LrInIpRoutingEcmp, 0, "1", "drop;");
    sb.flow(dp, Stage::LrInPolicy, 0, "1", "reg8[0..15] = 0; next;");
    sb.flow(dp, Stage::LrInPolicyEcmp, 150, "reg8[0..15] == 0", "next;");
    sb.flow(dp, Stage::LrInPolicyEcmp, 0, "1", "drop;");

    // ARP resolution: addresses known from the switches behind each port are resolved statically (built
    // with each switch port); the rest from learned MAC bindings. An unresolved next hop leaves eth.dst
    // zero, which triggers an ARP request.
    sb.flow(dp, Stage::LrInArpResolve, 500, "ip4.mcast || ip6.mcast", "next;");
    sb.flow(dp, Stage::LrInArpResolve, 1, "ip4", "get_arp(outport, reg0); next;");
    sb.flow(dp, Stage::LrInArpResolve, 0, "1", "drop;");

    sb.flow(
        dp,
        Stage::LrInArpRequest,
        100,
        "eth.dst == 00:00:00:00:00:00 && ip4",
        "arp { eth.dst = ff:ff:ff:ff:ff:ff; arp.spa = reg1; arp.tpa = reg0; arp.op = 1; output; };",
    );
    sb.flow(dp, Stage::LrInArpRequest, 0, "1", "output;");
    // Nothing is an external IP of this router until a NAT rule says so (`super::nat`).
    sb.flow(dp, Stage::LrOutChkDnatLocal, 0, "1", "reg9[4] = 0; next;");
    sb.flow(dp, Stage::LrOutDelivery, 0, "1", "drop;");
    sb.stage_defaults(dp, DpKind::Router);
}

const LOOKUP_ARP: &str = "reg9[2] = lookup_arp(inport, arp.spa, arp.sha); next;";

/// One router port: its bindings and the flows that name it or its networks.
pub fn port_unit(r: &mut Reader<'_>, u: Uuid, sb: &mut Out) {
    let owners = r.owners(u);
    let Some(p) = RouterPort::read(r, u) else { return };
    for second in owners.iter().skip(1) {
        sb.warnings.push(format!(
            "Logical_Router_Port {}: listed by two routers ({} and {second}); ignored in the second",
            p.name(),
            p.router
        ));
    }
    bindings::router_port_rows(r, &p, sb);
    let dp = p.router;
    let (name, mac) = (p.name(), p.mac());

    // Admission: a frame enters when addressed to the port's MAC (a gateway port only on its chassis) or
    // broadcast; the MAC it was addressed to is kept in xreg0[0..47].
    sb.flow(dp, Stage::LrInAdmission, 50, format!("eth.mcast && inport == \"{name}\""), format!("xreg0[0..47] = {mac}; next;"));
    sb.flow(
        dp,
        Stage::LrInAdmission,
        50,
        format!("eth.dst == {mac} && inport == \"{name}\"{}", and_resident(&p)),
        format!("xreg0[0..47] = {mac}; next;"),
    );

    for n in p.ipv4() {
        let ip = n.addr();
        sb.flow(
            dp,
            Stage::LrInLookupNeighbor,
            100,
            format!("inport == \"{name}\" && arp.spa == {} && arp.op == 1{}", n.trunc(), and_resident(&p)),
            LOOKUP_ARP,
        );
        // Nobody else may use our address or our subnet's broadcast as a source.
        sb.flow(dp, Stage::LrInIpInput, 100, format!("ip4.src == {{{ip}, {}}} && reg9[0] == 0", n.broadcast()), "drop;");
        sb.flow(
            dp,
            Stage::LrInIpInput,
            90,
            format!("inport == \"{name}\" && arp.op == 1 && arp.tpa == {ip} && arp.spa == {}{}", n.trunc(), and_resident(&p)),
            ARP_REPLY_FROM_ROUTER,
        );
        sb.flow(
            dp,
            Stage::LrInIpInput,
            90,
            format!("ip4.dst == {ip} && icmp4.type == 8 && icmp4.code == 0"),
            "ip4.dst <-> ip4.src; ip.ttl = 255; icmp4.type = 0; flags.loopback = 1; next; ",
        );
        // The connected network, more specific first.
        let plen = u16::from(n.prefix_len());
        sb.flow(dp, Stage::LrInIpRouting, plen * 3 + 2, format!("ip4.dst == {}", n.trunc()), route_action("ip4.dst", &p, ip));
    }

    own_address_drops(r, &p, sb);
    ttl_exceeded(&p, sb);
    if Router::with_gateways(r, dp).is_some_and(|lr| !lr.has_gateway()) {
        unreachable(&p, sb);
    }

    // Gateway redirect: what leaves by a gateway port goes to the chassis that hosts it.
    if let Some(gw) = &p.gateway {
        sb.flow(dp, Stage::LrInGwRedirect, 50, format!("outport == \"{name}\""), format!("outport = \"{}\"; next;", gw.cr_port));
    }
    sb.flow(dp, Stage::LrOutDelivery, 100, format!("outport == \"{name}\""), "output;");
}

/// IP traffic for the port's own addresses that nothing above answered is dropped in IP input, except for
/// addresses that are also SNAT addresses of the router: replies to SNATed connections must get to unsnat
/// first, so those are dropped only at ARP resolution, if unsnat did not translate them.
fn own_address_drops(r: &mut Reader<'_>, p: &RouterPort<'_>, sb: &mut Out) {
    let (shared, own): (Vec<Ipv4Addr>, Vec<Ipv4Addr>) = p.ipv4().map(|n| n.addr()).partition(|ip| r.is_snat_ip(p.router, IpAddr::V4(*ip)));
    for (stage, priority, ips) in [(Stage::LrInIpInput, 60, own), (Stage::LrInArpResolve, 2, shared)] {
        if !ips.is_empty() {
            let set = ips.iter().map(|ip| ip.to_string()).collect::<Vec<_>>().join(", ");
            sb.flow(p.router, stage, priority, format!("ip4.dst == {{{set}}}"), "drop;");
        }
    }
}

/// ICMP "time exceeded" (RFC 1812) for a unicast packet whose TTL runs out here, from the (first) address
/// of the port it came in on, except that a gateway port swaps the packet's addresses, so the error comes
/// from the packet's own destination.
fn ttl_exceeded(p: &RouterPort<'_>, sb: &mut Out) {
    let Some(addr) = p.ipv4().next().map(|n| n.addr()) else { return };
    let name = p.name();
    let from = if p.gateway.is_some() { "ip4.dst <-> ip4.src".to_string() } else { format!("ip4.dst = ip4.src; ip4.src = {addr}") };
    sb.flow(
        p.router,
        Stage::LrInIpInput,
        31,
        format!("inport == \"{name}\" && ip4 && ip.ttl == {{0, 1}} && !ip.later_frag"),
        format!(
            "icmp4 {{eth.dst <-> eth.src; icmp4.type = 11; /* Time exceeded */ icmp4.code = 0; /* TTL exceeded in transit */ \
             {from} ; ip.ttl = 254; outport = \"{name}\"; flags.loopback = 1; output; }};"
        ),
    );
}

/// On a router without gateway ports, what is sent to one of the port's addresses and nothing above
/// answered gets "port unreachable" (UDP), a TCP reset, an SCTP abort, or "protocol unreachable".
fn unreachable(p: &RouterPort<'_>, sb: &mut Out) {
    let icmp = |code: u8| {
        format!("icmp4 {{eth.dst <-> eth.src; ip4.dst <-> ip4.src; ip.ttl = 255; icmp4.type = 3; icmp4.code = {code}; next; }};")
    };
    for ip in p.ipv4().map(|n| n.addr()) {
        let to_us = format!("ip4 && ip4.dst == {ip} && !ip.later_frag");
        let dp = p.router;
        sb.flow(dp, Stage::LrInIpInput, 80, format!("{to_us} && udp"), icmp(3));
        sb.flow(dp, Stage::LrInIpInput, 80, format!("{to_us} && tcp"), "tcp_reset {eth.dst <-> eth.src; ip4.dst <-> ip4.src; next; };");
        sb.flow(dp, Stage::LrInIpInput, 80, format!("{to_us} && sctp"), "sctp_abort {eth.dst <-> eth.src; ip4.dst <-> ip4.src; next; };");
        sb.flow(dp, Stage::LrInIpInput, 70, to_us, icmp(2));
    }
}

/// One static route, on each router that lists it.
pub fn route_unit(r: &mut Reader<'_>, u: Uuid, sb: &mut Out) {
    let Some(route) = r.route(u) else { return };
    for lr in r.owners(u) {
        let Some(lr) = Router::read(r, lr) else { continue };
        static_route(&lr, route, sb);
    }
}

fn static_route(lr: &Router<'_>, r: &model::nb::StaticRoute, sb: &mut Out) {
    let dp = lr.lr.uuid;
    let ipnet::IpNet::V4(prefix) = r.ip_prefix else {
        sb.warnings.push(format!("static route {} on router {}: IPv6 routes are not supported yet; ignored", r.ip_prefix, lr.lr.name));
        return;
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
                None => sb
                    .warnings
                    .push(format!("static route {prefix} via {nh} on router {}: no router port reaches the next hop; ignored", lr.lr.name)),
            }
        }
        NextHop::Ip(nh) => {
            sb.warnings.push(format!("static route {prefix} via {nh} on router {}: next hop is not IPv4; ignored", lr.lr.name))
        }
    }
}
