//! NAT flows (`ovn-northd(8)`: UNSNAT, DNAT, UNDNAT, SNAT, and the ARP/redirect rules floating IPs need).
//!
//! Centralized NAT runs where the router's gateway port is (`is_chassis_resident("cr-<port>")`). A
//! distributed floating IP (a `dnat_and_snat` with `logical_port` and `external_mac`) runs on the chassis
//! where its logical port is (`is_chassis_resident("<port>")`), answers ARP with its own MAC there, and its
//! traffic leaves from that chassis instead of being redirected to the gateway.
//!
//! Connection tracking uses the router's two zones as `ovn-controller` assigns them: `ct_dnat` the DNAT zone
//! and `ct_snat` the SNAT zone.
//!
//! ```text
//!   in from outside:  unsnat (ct_snat: reverse an SNAT)  ->  dnat (ct_dnat(logical ip))  ->  routing
//!   out to outside:   routing -> gw redirect -> [gateway] undnat (ct_dnat: reverse a DNAT) -> snat (ct_snat(external ip))
//! ```

use model::nb::{Nat, NatType};
use model::ovsdb::Uuid;

use super::router::ARP_REPLY_FROM_ROUTER;
use super::topology::{mac_text, Router, Topology};
use crate::desired::DesiredSb;
use crate::stage::Stage;

/// Where a NAT rule applies: the chassis condition, and for a distributed FIP its MAC.
fn placement(nat: &Nat, cr_port: &str) -> (String, Option<String>) {
    match (&nat.logical_port, nat.external_mac, nat.is_distributed()) {
        (Some(lp), Some(mac), true) => (format!("is_chassis_resident(\"{lp}\")"), Some(mac_text(&mac))),
        _ => (format!("is_chassis_resident(\"{cr_port}\")"), None),
    }
}

pub fn build(_topo: &Topology, lr: &Router, sb: &mut DesiredSb) {
    for nat in &lr.nats {
        build_one(lr, nat, sb);
    }
}

/// The flows of one NAT rule (nothing when its router has no gateway port).
pub fn build_one(lr: &Router, nat: &Nat, sb: &mut DesiredSb) {
    let Some(gw) = lr.gateway_port() else { return };
    let Some(cr) = gw.gateway.as_ref().map(|g| g.cr_port.clone()) else { return };
    let dp = lr.lr.uuid;
    let port = gw.name();
    let (resident, dist_mac) = placement(nat, &cr);
    let ext = nat.external_ip;
    let logical = nat.logical_ip;
    let logical_match =
        if logical.prefix_len() == logical.max_prefix_len() { logical.addr().to_string() } else { logical.trunc().to_string() };

    // Traffic to the external IP: reverse an SNAT, or DNAT to the logical IP.
    if matches!(nat.kind, NatType::Snat | NatType::DnatAndSnat) {
        sb.flow(dp, Stage::LrInUnsnat, 100, format!("ip && ip4.dst == {ext} && inport == \"{port}\" && {resident}"), "ct_snat;");
    }
    if matches!(nat.kind, NatType::Dnat | NatType::DnatAndSnat) {
        sb.flow(
            dp,
            Stage::LrInDnat,
            100,
            format!("ip && ip4.dst == {ext} && inport == \"{port}\" && {resident}"),
            format!("ct_dnat({});", logical.addr()),
        );
        sb.flow(
            dp,
            Stage::LrOutUndnat,
            100,
            format!("ip && ip4.src == {} && outport == \"{port}\" && {resident}", logical.addr()),
            "ct_dnat;",
        );
    }
    // Traffic from the logical side: SNAT, more specific logical networks first.
    if matches!(nat.kind, NatType::Snat | NatType::DnatAndSnat) {
        let priority = 100 + u16::from(logical.prefix_len());
        sb.flow(
            dp,
            Stage::LrOutSnat,
            priority,
            format!("ip && ip4.src == {logical_match} && outport == \"{port}\" && {resident}"),
            format!("ct_snat({ext});"),
        );
    }

    // ARP for the external IP. A gateway answers requests from the outside only where it runs, a
    // distributed FIP with its own MAC; requests from inside the router's other networks are answered
    // anywhere, with the MAC of the router port they came in on.
    if nat.kind != NatType::Snat || gw.ipv4().all(|n| n.addr() != ext) {
        let outside_reply = match &dist_mac {
            Some(mac) => ARP_REPLY_FROM_ROUTER.replace("xreg0[0..47]", mac),
            None => ARP_REPLY_FROM_ROUTER.to_string(),
        };
        sb.flow(
            dp,
            Stage::LrInIpInput,
            92,
            format!("inport == \"{port}\" && arp.op == 1 && arp.tpa == {ext} && {resident}"),
            outside_reply,
        );
        sb.flow(dp, Stage::LrInIpInput, 91, format!("inport == \"{port}\" && arp.op == 1 && arp.tpa == {ext}"), "drop;");
        sb.flow(dp, Stage::LrInIpInput, 90, format!("arp.op == 1 && arp.tpa == {ext}"), ARP_REPLY_FROM_ROUTER);
    }

    if let Some(mac) = dist_mac {
        distributed_fip(dp, port, &gw.mac(), nat, &mac, &resident, sb);
        // Other chassis reach the FIP at its MAC.
        sb.flow(dp, Stage::LrInArpResolve, 100, format!("outport == \"{port}\" && reg0 == {ext}"), format!("eth.dst = {mac}; next;"));
    }
}

/// What a distributed FIP adds on its own chassis: frames to its MAC enter the gateway port there (and are
/// then the router port's own, so the router answers as the port, not as the FIP), and its traffic leaves
/// from there instead of via the gateway, from the FIP's MAC and, when the router has to ask for the next
/// hop's MAC, from the FIP's address.
fn distributed_fip(dp: Uuid, port: &str, port_mac: &str, nat: &Nat, mac: &str, resident: &str, sb: &mut DesiredSb) {
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
