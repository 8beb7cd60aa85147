//! Static route commands.

use std::net::IpAddr;

use ipnet::IpNet;
use model::addr;
use model::nb::table::{LOGICAL_ROUTER as LR, STATIC_ROUTE as SR};
use model::ovsdb::{Atom, Datum, Row, Uuid};

use super::nat::canonical;
use super::{lookup, Ctx};

fn policy_of(ctx: &Ctx) -> Result<Option<&'static str>, String> {
    match ctx.cmd.value("policy") {
        None => Ok(None),
        Some("dst-ip") => Ok(Some("dst-ip")),
        Some("src-ip") => Ok(Some("src-ip")),
        Some(p) => Err(format!("{p}: bad policy (must be \"dst-ip\" or \"src-ip\")")),
    }
}

fn parse_prefix(s: &str) -> Result<IpNet, String> {
    addr::parse_ip_or_network(s).map_err(|_| format!("{s}: bad prefix argument (expected IP or IP/PREFIXLEN)"))
}

/// `discard` or an address of the prefix's family.
fn parse_nexthop(s: &str, prefix: &IpNet) -> Result<Option<IpAddr>, String> {
    if s == "discard" {
        return Ok(None);
    }
    let fam = if prefix.addr().is_ipv4() { "IPv4" } else { "IPv6" };
    match addr::parse_ip(s) {
        Ok(ip) if ip.is_ipv4() == prefix.addr().is_ipv4() => Ok(Some(ip)),
        _ => Err(format!("{s}: bad {fam} nexthop argument")),
    }
}

fn routes_of(ctx: &Ctx, lr: Uuid) -> Vec<Row> {
    let Some(r) = ctx.db.get(LR, lr) else { return Vec::new() };
    r.get("static_routes").uuids().filter_map(|u| ctx.db.get(SR, u)).cloned().collect()
}

fn route_policy(r: &Row) -> &str {
    r.get("policy").as_str().unwrap_or("dst-ip")
}

fn same_prefix(r: &Row, prefix: &str) -> bool {
    addr::parse_ip_or_network(r.str("ip_prefix")).map(canonical).ok().as_deref() == Some(prefix)
}

pub fn lr_route_add(ctx: &mut Ctx) -> Result<(), String> {
    let a = ctx.cmd.args.clone();
    let lr = lookup::router(ctx.db, &a[0])?;
    let policy = policy_of(ctx)?;
    let prefix_net = parse_prefix(&a[1])?;
    let prefix = canonical(prefix_net);
    parse_nexthop(&a[2], &prefix_net)?;
    let nexthop = a[2].clone();
    let port = a.get(3).cloned();
    if let Some(p) = &port {
        lookup::lrp(ctx.db, p)?;
    }
    let table = ctx.cmd.value("route-table").unwrap_or("").to_string();
    let ecmp = ctx.cmd.has("ecmp") || ctx.cmd.has("ecmp-symmetric-reply");
    let pol = policy.unwrap_or("dst-ip");
    let clash: Vec<Row> = routes_of(ctx, lr)
        .into_iter()
        .filter(|r| same_prefix(r, &prefix) && route_policy(r) == pol && r.str("route_table") == table)
        .collect();
    if let Some(existing) = clash.first() {
        if ecmp {
            if clash.iter().any(|r| r.str("nexthop") == nexthop && r.get("output_port").as_str() == port.as_deref()) {
                return Err(format!("{prefix} via {nexthop}: this ECMP route already exists"));
            }
        } else if ctx.cmd.has("may-exist") {
            ctx.db.set(SR, existing.uuid, "nexthop", Datum::atom(nexthop.as_str()));
            ctx.db.set(SR, existing.uuid, "output_port", Datum::optional(port));
            return Ok(());
        } else {
            return Err(format!("{prefix}: duplicate prefix (policy: {pol}); use --ecmp to add an ECMP route"));
        }
    }
    let mut cols = vec![
        ("ip_prefix", Datum::atom(prefix)),
        ("nexthop", Datum::atom(nexthop)),
        ("output_port", Datum::optional(port)),
        ("policy", Datum::optional(policy)),
        ("route_table", Datum::atom(table)),
    ];
    if ctx.cmd.has("ecmp-symmetric-reply") {
        cols.push(("options", Datum::map([("ecmp_symmetric_reply", "true")])));
    }
    let route = ctx.db.insert(SR, cols);
    ctx.db.add_to_set(LR, lr, "static_routes", Atom::Uuid(route));
    Ok(())
}

pub fn lr_route_del(ctx: &mut Ctx) -> Result<(), String> {
    let a = ctx.cmd.args.clone();
    let lr = lookup::router(ctx.db, &a[0])?;
    let policy = policy_of(ctx)?;
    let prefix = a.get(1).map(|p| parse_prefix(p)).transpose()?;
    if let (Some(nh), Some(p)) = (a.get(2), &prefix) {
        parse_nexthop(nh, p)?;
    }
    let prefix_s = prefix.map(canonical);
    let mut matched = 0;
    for r in routes_of(ctx, lr) {
        let hit = policy.is_none_or(|p| route_policy(&r) == p)
            && prefix_s.as_deref().is_none_or(|p| same_prefix(&r, p))
            && a.get(2).is_none_or(|nh| r.str("nexthop") == nh || addr::parse_ip(nh).ok() == addr::parse_ip(r.str("nexthop")).ok())
            && a.get(3).is_none_or(|port| r.get("output_port").as_str() == Some(port));
        if hit {
            matched += 1;
            ctx.db.remove_from_set(LR, lr, "static_routes", &Atom::Uuid(r.uuid));
        }
    }
    if matched == 0 && prefix.is_some() && !ctx.cmd.has("if-exists") {
        return Err(format!(
            "no matching route: policy '{}', prefix '{}', nexthop '{}', output_port '{}'",
            policy.unwrap_or("any"),
            a[1],
            a.get(2).map_or("any", String::as_str),
            a.get(3).map_or("any", String::as_str)
        ));
    }
    Ok(())
}

pub fn lr_route_list(ctx: &mut Ctx) -> Result<(), String> {
    let lr = lookup::router(ctx.db, &ctx.cmd.args[0])?;
    let routes = routes_of(ctx, lr);
    struct Entry {
        table: String,
        v4: bool,
        plen: u8,
        prefix: IpNet,
        row: Row,
    }
    let mut entries: Vec<Entry> = routes
        .into_iter()
        .filter_map(|row| {
            let prefix = addr::parse_ip_or_network(row.str("ip_prefix")).ok()?;
            Some(Entry { table: row.str("route_table").to_string(), v4: prefix.addr().is_ipv4(), plen: prefix.prefix_len(), prefix, row })
        })
        .collect();
    entries.sort_by(|a, b| {
        (!a.v4, &a.table, std::cmp::Reverse(a.plen), a.prefix.addr(), route_policy(&a.row), a.row.str("nexthop")).cmp(&(
            !b.v4,
            &b.table,
            std::cmp::Reverse(b.plen),
            b.prefix.addr(),
            route_policy(&b.row),
            b.row.str("nexthop"),
        ))
    });
    let mut out = String::new();
    for v4 in [true, false] {
        let fam: Vec<&Entry> = entries.iter().filter(|e| e.v4 == v4).collect();
        if fam.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(if v4 { "IPv4 Routes\n" } else { "IPv6 Routes\n" });
        let mut current_table = None;
        for e in &fam {
            if current_table != Some(&e.table) {
                current_table = Some(&e.table);
                let label = if e.table.is_empty() { "<main>" } else { e.table.as_str() };
                out.push_str(&format!("Route Table {label}:\n"));
            }
            let siblings =
                fam.iter().filter(|o| o.table == e.table && o.prefix == e.prefix && route_policy(&o.row) == route_policy(&e.row)).count();
            let mut line = format!("{:>25} {:>25} {}", e.row.str("ip_prefix"), e.row.str("nexthop"), route_policy(&e.row));
            if let Some(p) = e.row.get("output_port").as_str() {
                line.push(' ');
                line.push_str(p);
            }
            if siblings > 1 {
                line.push_str(" ecmp");
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    ctx.out.push_str(&out);
    Ok(())
}
