//! NAT commands: floating IPs (`dnat_and_snat`), port forwarding (`dnat`), source NAT (`snat`).

use ipnet::IpNet;
use model::addr;
use model::nb::table::{LOGICAL_ROUTER as LR, LOGICAL_ROUTER_PORT as LRP, NAT};
use model::nb::NatType;
use model::ovsdb::{Atom, Datum, Row, Uuid};

use super::super::db::Db;
use super::{lookup, Ctx};

/// How OVN writes an address or prefix: a host prefix as the bare address, a network as `net/len`.
pub fn canonical(net: IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.trunc().to_string()
    }
}

fn parse_type(s: &str) -> Result<NatType, String> {
    NatType::parse(s).ok_or_else(|| format!("{s}: unknown NAT type (must be one of \"dnat\", \"snat\" and \"dnat_and_snat\")"))
}

/// Same address or prefix, however written.
fn same(a: &str, b: &str) -> bool {
    match (addr::parse_ip_or_network(a), addr::parse_ip_or_network(b)) {
        (Ok(x), Ok(y)) => canonical(x) == canonical(y),
        _ => a == b,
    }
}

fn nats_of(ctx: &Ctx, lr: Uuid) -> Vec<Row> {
    let Some(r) = ctx.db.get(LR, lr) else { return Vec::new() };
    r.get("nat").uuids().filter_map(|u| ctx.db.get(NAT, u)).cloned().collect()
}

pub fn lr_nat_add(ctx: &mut Ctx) -> Result<(), String> {
    let a = ctx.cmd.args.clone();
    let lr = lookup::router(ctx.db, &a[0])?;
    let kind = parse_type(&a[1])?;
    let ext = addr::parse_ip(&a[2]).map_err(|_| format!("{}: EXTERNAL_IP is not a valid IPv4 or IPv6 address", a[2]))?;
    let logical = match kind {
        NatType::Snat => {
            addr::parse_ip_or_network(&a[3]).map_err(|_| format!("{}: LOGICAL_IP is not a valid IP address or network", a[3]))?
        }
        _ => {
            let ip =
                addr::parse_ip(&a[3]).map_err(|_| format!("{}: LOGICAL_IP of a {kind} NAT must be one IP address, not a network", a[3]))?;
            IpNet::from(ip)
        }
    };
    if ext.is_ipv4() != logical.addr().is_ipv4() {
        return Err(format!("{}, {}: EXTERNAL_IP and LOGICAL_IP must be of one IP family", a[2], a[3]));
    }
    let (logical_port, external_mac) = match a.len() {
        4 => (None, None),
        5 => return Err("lr-nat-add with LOGICAL_PORT must also specify EXTERNAL_MAC".into()),
        6 => {
            if kind != NatType::DnatAndSnat {
                return Err(format!("{kind}: LOGICAL_PORT and EXTERNAL_MAC are only valid for dnat_and_snat"));
            }
            lookup::lsp(ctx.db, &a[4])?;
            addr::parse_mac(&a[5]).map_err(|e| e.to_string())?;
            (Some(a[4].clone()), Some(a[5].clone()))
        }
        _ => return Err("lr-nat-add takes ROUTER TYPE EXTERNAL_IP LOGICAL_IP [LOGICAL_PORT EXTERNAL_MAC]".into()),
    };
    if ctx.cmd.has("stateless") && kind != NatType::DnatAndSnat {
        return Err("--stateless applies only to dnat_and_snat".into());
    }
    let gateway_port = match ctx.cmd.value("gateway-port").or(ctx.cmd.value("gateway_port")) {
        None => None,
        Some(gp) => {
            let port = lookup::lrp(ctx.db, gp)?;
            if lookup::owner(ctx.db, LR, "ports", port) != Some(lr) {
                return Err(format!("{gp}: not a port of router {}", a[0]));
            }
            Some(port)
        }
    };
    let (ext_s, log_s) = (ext.to_string(), canonical(logical));
    for n in nats_of(ctx, lr) {
        let same_type = n.str("type") == kind.as_str();
        let same_ext = same(n.str("external_ip"), &ext_s);
        let same_log = same(n.str("logical_ip"), &log_s);
        if same_type && same_ext && same_log {
            if !ctx.cmd.has("may-exist") {
                return Err(format!("{ext_s}, {log_s}: a NAT with this type, external_ip and logical_ip already exists"));
            }
            if logical_port.is_some() {
                ctx.db.set(NAT, n.uuid, "logical_port", Datum::optional(logical_port.as_deref()));
                ctx.db.set(NAT, n.uuid, "external_mac", Datum::optional(external_mac.as_deref()));
            }
            return Ok(());
        }
        if same_type && kind != NatType::Snat && same_ext {
            return Err(format!("{ext_s}: a {kind} NAT with this external_ip already exists (logical_ip {})", n.str("logical_ip")));
        }
        if same_type && kind == NatType::Snat && same_log {
            return Err(format!("{log_s}: a snat NAT with this logical_ip already exists (external_ip {})", n.str("external_ip")));
        }
    }
    let mut cols = vec![
        ("type", Datum::atom(kind.as_str())),
        ("external_ip", Datum::atom(ext_s)),
        ("logical_ip", Datum::atom(log_s)),
        ("logical_port", Datum::optional(logical_port)),
        ("external_mac", Datum::optional(external_mac)),
        ("gateway_port", Datum::optional(gateway_port)),
    ];
    if ctx.cmd.has("stateless") {
        cols.push(("options", Datum::map([("stateless", "true")])));
    }
    let nat = ctx.db.insert(NAT, cols);
    ctx.db.add_to_set(LR, lr, "nat", Atom::Uuid(nat));
    ctx.nat_routers.insert(lr);
    Ok(())
}

pub fn lr_nat_del(ctx: &mut Ctx) -> Result<(), String> {
    let a = ctx.cmd.args.clone();
    let lr = lookup::router(ctx.db, &a[0])?;
    let kind = a.get(1).map(|t| parse_type(t)).transpose()?;
    let ip = a.get(2);
    if let Some(ip) = ip {
        addr::parse_ip_or_network(ip).map_err(|e| e.to_string())?;
    }
    let gw = a.get(3).map(|g| lookup::lrp(ctx.db, g)).transpose()?;
    let mut matched = 0;
    for n in nats_of(ctx, lr) {
        let Some(k) = kind else {
            ctx.db.remove_from_set(LR, lr, "nat", &Atom::Uuid(n.uuid));
            continue;
        };
        if n.str("type") != k.as_str() {
            continue;
        }
        if let Some(ip) = ip {
            let col = if k == NatType::Snat { "logical_ip" } else { "external_ip" };
            if !same(n.str(col), ip) {
                continue;
            }
        }
        if gw.is_some() && n.get("gateway_port").as_uuid() != gw {
            continue;
        }
        matched += 1;
        ctx.db.remove_from_set(LR, lr, "nat", &Atom::Uuid(n.uuid));
    }
    if matched == 0 && ip.is_some() && gw.is_some() && !ctx.cmd.has("if-exists") {
        return Err(format!("no matching NAT with the type ({}), ip ({}) and gateway port ({})", a[1], a[2], a[3]));
    }
    Ok(())
}

pub fn lr_nat_list(ctx: &mut Ctx) -> Result<(), String> {
    let lr = lookup::router(ctx.db, &ctx.cmd.args[0])?;
    let mut nats = nats_of(ctx, lr);
    if nats.is_empty() {
        return Ok(());
    }
    nats.sort_by(|a, b| {
        (a.str("type"), a.str("external_ip"), a.str("logical_ip")).cmp(&(b.str("type"), b.str("external_ip"), b.str("logical_ip")))
    });
    let mut lines = vec![format!(
        "{:<17}{:<22}{:<19}{:<17}{:<20}{:<21}{}",
        "TYPE", "GATEWAY_PORT", "EXTERNAL_IP", "EXTERNAL_PORT", "LOGICAL_IP", "EXTERNAL_MAC", "LOGICAL_PORT"
    )];
    for n in &nats {
        let gw = n.get("gateway_port").as_uuid().map(|u| lookup::name_of(ctx.db, LRP, u)).unwrap_or_default();
        let line = format!(
            "{:<17}{:<22}{:<19}{:<17}{:<20}{:<21}{}",
            n.str("type"),
            gw,
            n.str("external_ip"),
            n.str("external_port_range"),
            n.str("logical_ip"),
            n.get("external_mac").as_str().unwrap_or(""),
            n.get("logical_port").as_str().unwrap_or("")
        );
        lines.push(line.trim_end().to_string());
    }
    for l in lines {
        ctx.out.push_str(&l);
        ctx.out.push('\n');
    }
    Ok(())
}

/// A router with NAT rules needs somewhere to apply them: a gateway port (a router port with gateway
/// chassis or an HA chassis group) or, for a gateway router, `options:chassis`.
pub fn check_gateway(db: &Db, lr: Uuid) -> Result<(), String> {
    let Some(r) = db.get(LR, lr) else { return Ok(()) };
    if r.get("nat").is_empty() || r.get("options").get("chassis").is_some() {
        return Ok(());
    }
    let has_gw = r
        .get("ports")
        .uuids()
        .filter_map(|p| db.get(LRP, p))
        .any(|p| !p.get("gateway_chassis").is_empty() || !p.get("ha_chassis_group").is_empty());
    if has_gw {
        return Ok(());
    }
    Err(format!(
        "{}: router has NAT rules but no gateway port (set one with lrp-set-gateway-chassis in the same command line or before)",
        r.str("name")
    ))
}
