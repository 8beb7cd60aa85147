//! NAT flows (`ovn-northd(8)`: UNSNAT, DNAT, CHK_DNAT_LOCAL, UNDNAT, SNAT, EGR_LOOP, and the ARP/redirect
//! rules floating IPs need).
//!
//! Centralized NAT runs where the router's gateway port is (`is_chassis_resident("cr-<port>")`). A
//! distributed floating IP (a `dnat_and_snat` with `logical_port` and `external_mac`) runs on the chassis
//! where its logical port is (`is_chassis_resident("<port>")`), answers ARP with its own MAC there, and its
//! traffic leaves from that chassis instead of being redirected to the gateway.
//!
//! Connection tracking, as on any router with a gateway port: DNAT and SNAT share one zone (the "common"
//! zone, `ct_dnat_in_czone` / `ct_snat_in_czone`: one conntrack entry holds both translations of a
//! connection), except for hairpinned traffic, which is SNATed in the separate SNAT zone (`ct_snat`).
//!
//! ```text
//!   in from outside:  unsnat (reverse an SNAT)  ->  dnat (to the logical IP)  ->  routing
//!   out to outside:   routing -> gw redirect -> [gateway] chk_dnat_local -> undnat (reverse a DNAT) -> snat
//!                     -> egr_loop
//! ```
//!
//! Hairpin: a workload behind the router that addresses one of the router's external IPs (its own FIP,
//! another workload's DNAT address) is routed towards the gateway port like outside traffic. ARP
//! resolution gives it the external MAC the address lives at, and on the chassis where the NAT rule runs
//! `lr_out_egr_loop` sends a copy back into the router's ingress as if it had arrived on the gateway port,
//! where unsnat and dnat treat it like traffic from outside. On the way out such traffic is marked
//! (`reg9[4]`, by chk_dnat_local, as is anything DNATed already). A marked packet that an SNAT rule matches
//! is SNATed in the separate SNAT zone, its mark cleared, so that its SNAT and the DNAT its looped copy
//! gets in the common zone are entries of two zones. A marked packet that was not SNATed (a reply
//! on its way back to a hairpinned client) loops back with `flags.use_snat_zone`, and unsnat reverses the
//! earlier SNAT in the SNAT zone.

use std::net::IpAddr;

use ipnet::IpNet;
use model::nb::{Nat, NatType};
use model::ovsdb::Uuid;

use super::engine::Out;
use super::index::Reader;
use super::router::ARP_REPLY_FROM_ROUTER;
use super::topology::{mac_text, Router, RouterPort};
use crate::stage::Stage;

/// The register bit chk_dnat_local sets for packets to one of this router's external IPs, or DNATed
/// already: their SNAT goes to the SNAT zone, and the egress loop passes the bit on as
/// `flags.use_snat_zone`.
const DST_NAT_IP_LOCAL: &str = "reg9[4]";

/// One NAT rule with what its flows are made of, resolved against the router's gateway port.
struct NatRule<'a> {
    dp: Uuid,
    nat: &'a Nat,
    /// The gateway port's name and MAC.
    port: &'a str,
    port_mac: String,
    /// `is_chassis_resident(...)` of the chassis the rule runs on.
    resident: String,
    /// `" && is_chassis_resident(cr-port)"` for a centralized rule, empty for a distributed one: the
    /// stages before routing and undnat need not say where a distributed FIP's traffic is, as it reaches
    /// the gateway port only on the FIP's chassis.
    central: String,
    /// A distributed FIP's own MAC.
    fip_mac: Option<String>,
    ext: IpAddr,
    /// The logical IP as a match operand: a host address, or a network.
    logical: String,
}

impl NatRule<'_> {
    fn snats(&self) -> bool {
        matches!(self.nat.kind, NatType::Snat | NatType::DnatAndSnat)
    }

    fn dnats(&self) -> bool {
        matches!(self.nat.kind, NatType::Dnat | NatType::DnatAndSnat)
    }

    /// `eth.src = <FIP MAC>; ` for a distributed FIP: its traffic leaves with its own MAC.
    fn set_fip_mac(&self) -> String {
        self.fip_mac.as_ref().map(|m| format!("eth.src = {m}; ")).unwrap_or_default()
    }
}

fn host_or_network(n: &IpNet) -> String {
    if n.prefix_len() == n.max_prefix_len() {
        n.addr().to_string()
    } else {
        n.trunc().to_string()
    }
}

fn rule<'a>(lr: &Router, gw: &'a RouterPort, nat: &'a Nat) -> Option<NatRule<'a>> {
    let on_gateway = format!("is_chassis_resident(\"{}\")", gw.gateway.as_ref()?.cr_port);
    let (resident, central, fip_mac) = match (&nat.logical_port, nat.external_mac, nat.is_distributed()) {
        (Some(lp), Some(mac), true) => (format!("is_chassis_resident(\"{lp}\")"), String::new(), Some(mac_text(&mac))),
        _ => (on_gateway.clone(), format!(" && {on_gateway}"), None),
    };
    Some(NatRule {
        dp: lr.lr.uuid,
        nat,
        port: gw.name(),
        port_mac: gw.mac(),
        resident,
        central,
        fip_mac,
        ext: nat.external_ip,
        logical: host_or_network(&nat.logical_ip),
    })
}

/// One NAT rule, on each router that lists it (a rule its router cannot run is reported and left out).
pub fn nat_unit(r: &mut Reader<'_>, u: Uuid, sb: &mut Out) {
    let Some(nat) = r.nat(u) else { return };
    for lr in r.owners(u) {
        let Some(lr) = Router::with_gateways(r, lr) else { continue };
        match lr.nat_problem(nat) {
            Some(problem) => sb.warnings.push(problem),
            None => build_one(&lr, nat, sb),
        }
    }
}

/// The flows of one NAT rule (nothing when its router has no gateway port).
fn build_one(lr: &Router, nat: &Nat, sb: &mut Out) {
    let Some(gw) = lr.gateway_port() else { return };
    let Some(r) = rule(lr, gw, nat) else { return };
    unsnat(&r, sb);
    dnat(&r, sb);
    chk_dnat_local(&r, sb);
    snat(&r, sb);
    egress_loop(&r, sb);
    arp_resolve_external(&r, sb);
    external_arp_replies(&r, sb);
    snat_source_allowed(&r, sb);
    if let Some(mac) = &r.fip_mac {
        distributed_fip(r.dp, r.port, &r.port_mac, nat, mac, &r.resident, sb);
    }
}

/// Traffic to the external IP arriving on the gateway port: reverse an SNAT. A looped packet that was not
/// SNATed on its way out (`flags.use_snat_zone`) has an earlier hairpin SNAT reversed in the SNAT zone.
fn unsnat(r: &NatRule, sb: &mut Out) {
    if !r.snats() {
        return;
    }
    let m = format!("ip && ip4.dst == {} && inport == \"{}\"", r.ext, r.port);
    sb.flow(r.dp, Stage::LrInUnsnat, 100, format!("{m} && flags.loopback == 0{}", r.central), "ct_snat_in_czone;");
    sb.flow(r.dp, Stage::LrInUnsnat, 100, format!("{m} && flags.loopback == 1 && flags.use_snat_zone == 1{}", r.central), "ct_snat;");
}

/// Marks packets for the external IP, and packets DNATed already (see [`DST_NAT_IP_LOCAL`]).
fn chk_dnat_local(r: &NatRule, sb: &mut Out) {
    let set = format!("{DST_NAT_IP_LOCAL} = 1; next;");
    // The same for every rule of the router: one flow, whatever the number of rules that ask for it.
    sb.flow(r.dp, Stage::LrOutChkDnatLocal, 50, "ip && ct_mark.natted == 1", set.clone());
    sb.flow(r.dp, Stage::LrOutChkDnatLocal, 50, format!("ip && ip4.dst == {} && {}", r.ext, r.resident), set);
}

/// Traffic to the external IP arriving on the gateway port is DNATed to the logical IP, and the replies
/// leaving by the gateway port get their external source back.
fn dnat(r: &NatRule, sb: &mut Out) {
    if !r.dnats() {
        return;
    }
    let (ext, logical, port, central) = (r.ext, r.nat.logical_ip.addr(), r.port, &r.central);
    sb.flow(
        r.dp,
        Stage::LrInDnat,
        100,
        format!("ip && ip4.dst == {ext} && inport == \"{port}\"{central}"),
        format!("ct_dnat_in_czone({logical});"),
    );
    sb.flow(
        r.dp,
        Stage::LrOutUndnat,
        100,
        format!("ip && ip4.src == {logical} && outport == \"{port}\"{central}"),
        format!("{}ct_dnat_in_czone;", r.set_fip_mac()),
    );
}

/// Traffic from the logical side leaving by the gateway port: SNAT, more specific logical networks first;
/// a marked packet (a hairpin) in the SNAT zone, its mark cleared.
fn snat(r: &NatRule, sb: &mut Out) {
    if !r.snats() {
        return;
    }
    let priority = 129 + u16::from(r.nat.logical_ip.prefix_len());
    let m = format!("ip && ip4.src == {} && outport == \"{}\" && {}", r.logical, r.port, r.resident);
    sb.flow(r.dp, Stage::LrOutSnat, priority, m.clone(), format!("{}ct_snat_in_czone({});", r.set_fip_mac(), r.ext));
    sb.flow(
        r.dp,
        Stage::LrOutSnat,
        priority + 1,
        format!("{m} && {DST_NAT_IP_LOCAL} == 1"),
        format!("{}{DST_NAT_IP_LOCAL} = 0; ct_snat({});", r.set_fip_mac(), r.ext),
    );
}

/// Hairpin: a packet about to leave by the gateway port for one of the router's external IPs is sent back,
/// as a copy, into the router's ingress as if it came in on the gateway port, with everything but
/// `flags.use_snat_zone` reset; `reg9[0]` lets it through the check against our own source addresses.
fn egress_loop(r: &NatRule, sb: &mut Out) {
    // The logical registers reg0..reg9.
    let regs: String = (0..10).map(|i| format!("reg{i} = 0; ")).collect();
    sb.flow(
        r.dp,
        Stage::LrOutEgrLoop,
        100,
        format!("ip4.dst == {} && outport == \"{}\" && {}", r.ext, r.port, r.resident),
        format!(
            "clone {{ ct_clear; inport = outport; outport = \"\"; eth.dst <-> eth.src; flags = 0; flags.loopback = 1; \
             flags.use_snat_zone = {DST_NAT_IP_LOCAL}; {regs}reg9[0] = 1; next(pipeline=ingress, table={}); }};",
            Stage::LrInAdmission.table()
        ),
    );
}

/// The external IP is at the gateway port's MAC (a distributed FIP: at its own), so traffic from the
/// router's other networks gets there and loops back (see [`egress_loop`]). Traffic that came in by the
/// gateway port and would go out there again for the external IP was not translated: dropped, not looped.
fn arp_resolve_external(r: &NatRule, sb: &mut Out) {
    let (port, ext) = (r.port, r.ext);
    sb.flow(r.dp, Stage::LrInArpResolve, 150, format!("inport == \"{port}\" && outport == \"{port}\" && ip4.dst == {ext}"), "drop;");
    let mac = r.fip_mac.as_deref().unwrap_or(&r.port_mac);
    sb.flow(r.dp, Stage::LrInArpResolve, 100, format!("outport == \"{port}\" && reg0 == {ext}"), format!("eth.dst = {mac}; next;"));
}

/// ARP for the external IP. A gateway answers requests from the outside only where it runs, a distributed
/// FIP with its own MAC; requests from inside the router's other networks are answered anywhere, with the
/// MAC of the router port they came in on.
fn external_arp_replies(r: &NatRule, sb: &mut Out) {
    let (port, ext) = (r.port, r.ext);
    let outside_reply = match &r.fip_mac {
        Some(mac) => ARP_REPLY_FROM_ROUTER.replace("xreg0[0..47]", mac),
        None => ARP_REPLY_FROM_ROUTER.to_string(),
    };
    sb.flow(
        r.dp,
        Stage::LrInIpInput,
        92,
        format!("inport == \"{port}\" && arp.op == 1 && arp.tpa == {ext} && {}", r.resident),
        outside_reply,
    );
    sb.flow(r.dp, Stage::LrInIpInput, 91, format!("inport == \"{port}\" && arp.op == 1 && arp.tpa == {ext}"), "drop;");
    sb.flow(r.dp, Stage::LrInIpInput, 90, format!("arp.op == 1 && arp.tpa == {ext}"), ARP_REPLY_FROM_ROUTER);
}

/// Traffic this router SNATed can come back into it by the gateway port (to a distributed FIP on another
/// chassis, through the outside): an SNAT address as the source there is no spoof, even when it is the
/// router port's own address.
fn snat_source_allowed(r: &NatRule, sb: &mut Out) {
    if r.nat.kind == NatType::Snat {
        sb.flow(r.dp, Stage::LrInIpInput, 120, format!("inport == \"{}\" && ip4.src == {}", r.port, r.ext), "next;");
    }
}

/// What a distributed FIP adds on its own chassis: frames to its MAC enter the gateway port there (and are
/// then the router port's own, so the router answers as the port, not as the FIP), and its traffic leaves
/// from there instead of via the gateway, from the FIP's MAC and, when the router has to ask for the next
/// hop's MAC, from the FIP's address.
fn distributed_fip(dp: Uuid, port: &str, port_mac: &str, nat: &Nat, mac: &str, resident: &str, sb: &mut Out) {
    sb.flow(
        dp,
        Stage::LrInAdmission,
        50,
        format!("eth.dst == {mac} && inport == \"{port}\" && {resident}"),
        format!("xreg0[0..47] = {port_mac}; next;"),
    );
    sb.flow(
        dp,
        Stage::LrInGwRedirect,
        100,
        format!("ip4.src == {} && outport == \"{port}\" && {resident}", nat.logical_ip.addr()),
        format!("eth.src = {mac}; reg1 = {}; next;", nat.external_ip),
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use model::nb::{GatewayChassis, LogicalRouter, LogicalRouterPort, NbSnapshot};

    use super::*;
    use crate::desired::Lflow;
    use crate::translate::{translate, Keys};

    const LR: Uuid = Uuid(1);

    fn port(uuid: u128, name: &str, mac: &str, net: &str, gateway_chassis: Vec<Uuid>) -> LogicalRouterPort {
        LogicalRouterPort {
            uuid: Uuid(uuid),
            name: name.to_string(),
            mac: mac.parse().unwrap(),
            networks: vec![net.parse().unwrap()],
            gateway_chassis,
            peer: None,
            enabled: None,
            options: BTreeMap::new(),
        }
    }

    fn nat(uuid: u128, kind: NatType, external: &str, logical: &str, distributed: Option<(&str, &str)>) -> Nat {
        Nat {
            uuid: Uuid(uuid),
            kind,
            external_ip: external.parse().unwrap(),
            external_mac: distributed.map(|(_, mac)| mac.parse().unwrap()),
            logical_ip: model::addr::parse_ip_or_network(logical).unwrap(),
            logical_port: distributed.map(|(lp, _)| lp.to_string()),
            gateway_port: None,
            external_port_range: String::new(),
        }
    }

    /// The router `gw` with an inside port 10.10.0.1/16 and the gateway port `gw-out` 172.16.0.10/24 on
    /// chassis hv1, with `nats`; its flows.
    fn router_flows(nats: Vec<Nat>) -> Vec<Lflow> {
        let mut nb = NbSnapshot::default();
        nb.gateway_chassis
            .insert(Uuid(20), GatewayChassis { uuid: Uuid(20), name: "gw-out-hv1".into(), chassis_name: "hv1".into(), priority: 1 });
        for p in [
            port(10, "gw-in", "00:00:00:00:aa:01", "10.10.0.1/16", vec![]),
            port(11, "gw-out", "00:00:00:00:aa:02", "172.16.0.10/24", vec![Uuid(20)]),
        ] {
            nb.router_ports.insert(p.uuid, p);
        }
        let lr = LogicalRouter {
            uuid: LR,
            name: "gw".into(),
            ports: vec![Uuid(10), Uuid(11)],
            static_routes: vec![],
            nat: nats.iter().map(|n| n.uuid).collect(),
            enabled: None,
            options: BTreeMap::new(),
            external_ids: BTreeMap::new(),
        };
        nb.routers.insert(LR, lr);
        for n in nats {
            nb.nats.insert(n.uuid, n);
        }
        let out = translate(&nb, &Keys::default());
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        out.sb.lflows.into_iter().collect()
    }

    fn find<'a>(flows: &'a [Lflow], stage: Stage, priority: u16, match_: &str) -> Option<&'a str> {
        flows.iter().find(|f| f.stage == stage && f.priority == priority && f.match_ == match_).map(|f| f.actions.as_str())
    }

    #[test]
    fn centralized_external_ips_hairpin_on_the_gateway_chassis() {
        let flows = router_flows(vec![nat(30, NatType::Dnat, "172.16.0.20", "10.10.0.5", None)]);
        let cr = "is_chassis_resident(\"cr-gw-out\")";
        // Inside traffic for the DNAT address resolves to the gateway port and loops back there.
        assert_eq!(
            find(&flows, Stage::LrInArpResolve, 100, "outport == \"gw-out\" && reg0 == 172.16.0.20"),
            Some("eth.dst = 00:00:00:00:aa:02; next;")
        );
        assert_eq!(
            find(&flows, Stage::LrInArpResolve, 150, "inport == \"gw-out\" && outport == \"gw-out\" && ip4.dst == 172.16.0.20"),
            Some("drop;")
        );
        assert_eq!(
            find(&flows, Stage::LrOutChkDnatLocal, 50, &format!("ip && ip4.dst == 172.16.0.20 && {cr}")),
            Some("reg9[4] = 1; next;")
        );
        let lp = find(&flows, Stage::LrOutEgrLoop, 100, &format!("ip4.dst == 172.16.0.20 && outport == \"gw-out\" && {cr}")).unwrap();
        assert!(lp.starts_with("clone { ct_clear; inport = outport; outport = \"\"; eth.dst <-> eth.src;"), "{lp}");
        assert!(lp.ends_with("reg9 = 0; reg9[0] = 1; next(pipeline=ingress, table=0); };"), "{lp}");
        assert_eq!(
            find(&flows, Stage::LrInDnat, 100, &format!("ip && ip4.dst == 172.16.0.20 && inport == \"gw-out\" && {cr}")),
            Some("ct_dnat_in_czone(10.10.0.5);")
        );
        assert_eq!(find(&flows, Stage::LrOutChkDnatLocal, 0, "1"), Some("reg9[4] = 0; next;"));
    }

    #[test]
    fn snat_on_the_router_address_keeps_it_for_unsnat() {
        let flows = router_flows(vec![nat(30, NatType::Snat, "172.16.0.10", "10.10.0.0/16", None)]);
        let cr = "is_chassis_resident(\"cr-gw-out\")";
        // Replies to the SNAT address reach unsnat; what unsnat does not translate is dropped later.
        assert_eq!(find(&flows, Stage::LrInIpInput, 60, "ip4.dst == {172.16.0.10}"), None);
        assert_eq!(find(&flows, Stage::LrInIpInput, 60, "ip4.dst == {10.10.0.1}"), Some("drop;"));
        assert_eq!(find(&flows, Stage::LrInArpResolve, 2, "ip4.dst == {172.16.0.10}"), Some("drop;"));
        let m = format!("ip && ip4.dst == 172.16.0.10 && inport == \"gw-out\" && flags.loopback == 0 && {cr}");
        assert_eq!(find(&flows, Stage::LrInUnsnat, 100, &m), Some("ct_snat_in_czone;"));
        let m = format!("ip && ip4.dst == 172.16.0.10 && inport == \"gw-out\" && flags.loopback == 1 && flags.use_snat_zone == 1 && {cr}");
        assert_eq!(find(&flows, Stage::LrInUnsnat, 100, &m), Some("ct_snat;"));
        let m = format!("ip && ip4.src == 10.10.0.0/16 && outport == \"gw-out\" && {cr}");
        assert_eq!(find(&flows, Stage::LrOutSnat, 145, &m), Some("ct_snat_in_czone(172.16.0.10);"));
        assert_eq!(find(&flows, Stage::LrOutSnat, 146, &format!("{m} && reg9[4] == 1")), Some("reg9[4] = 0; ct_snat(172.16.0.10);"));
        assert_eq!(find(&flows, Stage::LrInIpInput, 120, "inport == \"gw-out\" && ip4.src == 172.16.0.10"), Some("next;"));
    }

    #[test]
    fn distributed_fip_is_the_router_port_on_its_chassis() {
        let fip = nat(30, NatType::DnatAndSnat, "172.16.0.30", "10.10.0.7", Some(("vm7", "0a:00:00:00:00:07")));
        let flows = router_flows(vec![fip]);
        let res = "is_chassis_resident(\"vm7\")";
        let admit = find(&flows, Stage::LrInAdmission, 50, &format!("eth.dst == 0a:00:00:00:00:07 && inport == \"gw-out\" && {res}"));
        assert_eq!(admit, Some("xreg0[0..47] = 00:00:00:00:aa:02; next;"));
        let redirect = find(&flows, Stage::LrInGwRedirect, 100, &format!("ip4.src == 10.10.0.7 && outport == \"gw-out\" && {res}"));
        assert_eq!(redirect, Some("eth.src = 0a:00:00:00:00:07; reg1 = 172.16.0.30; next;"));
        assert_eq!(find(&flows, Stage::LrInIpInput, 90, "arp.op == 1 && arp.tpa == 172.16.0.30"), Some(ARP_REPLY_FROM_ROUTER));
        assert_eq!(
            find(&flows, Stage::LrInArpResolve, 100, "outport == \"gw-out\" && reg0 == 172.16.0.30"),
            Some("eth.dst = 0a:00:00:00:00:07; next;")
        );
        assert!(find(&flows, Stage::LrOutEgrLoop, 100, &format!("ip4.dst == 172.16.0.30 && outport == \"gw-out\" && {res}")).is_some());
        // Its DNAT needs no chassis condition: its traffic reaches the gateway port only on its chassis.
        assert_eq!(
            find(&flows, Stage::LrInDnat, 100, "ip && ip4.dst == 172.16.0.30 && inport == \"gw-out\""),
            Some("ct_dnat_in_czone(10.10.0.7);")
        );
        let undnat = find(&flows, Stage::LrOutUndnat, 100, "ip && ip4.src == 10.10.0.7 && outport == \"gw-out\"");
        assert_eq!(undnat, Some("eth.src = 0a:00:00:00:00:07; ct_dnat_in_czone;"));
    }
}
