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

use super::engine::Out;
use super::index::Reader;
use super::router::ARP_REPLY_FROM_ROUTER;
use super::topology::{mac_text, Router};
use crate::stage::Stage;

/// Where a NAT rule applies: the chassis condition, and for a distributed FIP its MAC.
fn placement(nat: &Nat, cr_port: &str) -> (String, Option<String>) {
    match (&nat.logical_port, nat.external_mac, nat.is_distributed()) {
        (Some(lp), Some(mac), true) => (format!("is_chassis_resident(\"{lp}\")"), Some(mac_text(&mac))),
        _ => (format!("is_chassis_resident(\"{cr_port}\")"), None),
    }
}

/// One NAT rule, on each router that lists it (a rule its router cannot run is reported and left out).
pub fn nat_unit(r: &mut Reader<'_>, u: Uuid, sb: &mut Out) {
    let Some(nat) = r.nat(u) else { return };
    for lr in r.owners(u) {
        let Some(lr) = Router::read(r, lr) else { continue };
        match lr.nat_problem(nat) {
            Some(problem) => sb.warnings.push(problem),
            None => build_one(&lr, nat, sb),
        }
    }
}

/// The flows of one NAT rule (nothing when its router has no gateway port).
fn build_one(lr: &Router, nat: &Nat, sb: &mut Out) {
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

    // ARP for the external IP. A gateway answers requests from the outside only where it runs; requests
    // from inside the router's other networks are answered anywhere.
    if nat.kind != NatType::Snat || gw.ipv4().all(|n| n.addr() != ext) {
        let reply = match &dist_mac {
            Some(mac) => ARP_REPLY_FROM_ROUTER.replace("xreg0[0..47]", mac),
            None => ARP_REPLY_FROM_ROUTER.to_string(),
        };
        sb.flow(
            dp,
            Stage::LrInIpInput,
            92,
            format!("inport == \"{port}\" && arp.op == 1 && arp.tpa == {ext} && {resident}"),
            reply.clone(),
        );
        sb.flow(dp, Stage::LrInIpInput, 91, format!("inport == \"{port}\" && arp.op == 1 && arp.tpa == {ext}"), "drop;");
        sb.flow(dp, Stage::LrInIpInput, 90, format!("arp.op == 1 && arp.tpa == {ext}"), reply);
    }

    if let Some(mac) = dist_mac {
        // Frames to the FIP's own MAC enter the gateway port on the FIP's chassis.
        sb.flow(
            dp,
            Stage::LrInAdmission,
            50,
            format!("eth.dst == {mac} && inport == \"{port}\" && {resident}"),
            format!("xreg0[0..47] = {mac}; next;"),
        );
        // Its traffic leaves from its own chassis, with its own MAC, instead of via the gateway.
        sb.flow(
            dp,
            Stage::LrInGwRedirect,
            100,
            format!("ip4.src == {} && outport == \"{port}\" && {resident}", logical.addr()),
            format!("eth.src = {mac}; next;"),
        );
        // Other chassis reach the FIP at its MAC.
        sb.flow(dp, Stage::LrInArpResolve, 100, format!("outport == \"{port}\" && reg0 == {ext}"), format!("eth.dst = {mac}; next;"));
    }
}
