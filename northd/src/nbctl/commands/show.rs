//! `show`: the overview of switches and routers, in `ovn-nbctl show`'s shape.
//!
//! Within a switch or router, ports and NAT rules come in the order of the column's set, which OVSDB keeps
//! sorted by UUID, exactly as `ovn-nbctl` prints them. The switches and routers themselves are printed sorted
//! by name: `ovn-nbctl` prints them in the order of its in-memory hash table, which is not an order a person
//! can use.

use model::nb::table::{
    GATEWAY_CHASSIS as GC, LOGICAL_ROUTER as LR, LOGICAL_ROUTER_PORT as LRP, LOGICAL_SWITCH as LS, LOGICAL_SWITCH_PORT as LSP, NAT,
};
use model::ovsdb::{Row, Uuid};

use super::{lookup, Ctx};

/// A string in double quotes, escaped as JSON escapes it.
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn quoted_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    format!("[{}]", items.map(quoted).collect::<Vec<_>>().join(", "))
}

fn by_name<'a>(rows: impl Iterator<Item = &'a Row>) -> Vec<&'a Row> {
    let mut v: Vec<&Row> = rows.collect();
    v.sort_by(|a, b| (a.str("name"), a.uuid).cmp(&(b.str("name"), b.uuid)));
    v
}

pub fn show(ctx: &mut Ctx) -> Result<(), String> {
    let mut out = String::new();
    match ctx.cmd.args.first() {
        None => {
            for sw in by_name(ctx.db.rows(LS)) {
                print_switch(ctx, sw, &mut out);
            }
            for lr in by_name(ctx.db.rows(LR)) {
                print_router(ctx, lr, &mut out);
            }
        }
        Some(id) => {
            if let Some(sw) = lookup::find(ctx.db, LS, id)? {
                let row = ctx.db.get(LS, sw).ok_or("switch vanished")?;
                print_switch(ctx, row, &mut out);
            } else if let Some(lr) = lookup::find(ctx.db, LR, id)? {
                let row = ctx.db.get(LR, lr).ok_or("router vanished")?;
                print_router(ctx, row, &mut out);
            } else {
                return Err(format!("{id}: switch or router name not found"));
            }
        }
    }
    ctx.out.push_str(&out);
    Ok(())
}

fn print_switch(ctx: &Ctx, sw: &Row, out: &mut String) {
    out.push_str(&format!("switch {} ({})\n", sw.uuid, sw.str("name")));
    for p in sw.get("ports").uuids().filter_map(|u| ctx.db.get(LSP, u)) {
        out.push_str(&format!("    port {}\n", p.str("name")));
        if let Some(parent) = p.get("parent_name").as_str() {
            out.push_str(&format!("        parent: {parent}\n"));
        }
        if let Some(tag) = p.get("tag").as_i64() {
            out.push_str(&format!("        tag: {tag}\n"));
        }
        if !p.str("type").is_empty() {
            out.push_str(&format!("        type: {}\n", p.str("type")));
        }
        if let Some(rp) = p.get("options").get("router-port").and_then(|a| a.as_str()) {
            out.push_str(&format!("        router-port: {rp}\n"));
        }
        // A port whose only address is "router" shows none: the router port's addresses are printed there.
        let addrs = p.get("addresses");
        if !addrs.is_empty() && addrs.strings().ne(["router"]) {
            out.push_str(&format!("        addresses: {}\n", quoted_list(addrs.strings())));
        }
    }
}

fn print_router(ctx: &Ctx, lr: &Row, out: &mut String) {
    out.push_str(&format!("router {} ({})\n", lr.uuid, lr.str("name")));
    for p in lr.get("ports").uuids().filter_map(|u| ctx.db.get(LRP, u)) {
        out.push_str(&format!("    port {}\n", p.str("name")));
        out.push_str(&format!("        mac: {}\n", quoted(p.str("mac"))));
        out.push_str(&format!("        networks: {}\n", quoted_list(p.get("networks").strings())));
        let gcs: Vec<&str> = p.get("gateway_chassis").uuids().filter_map(|u| ctx.db.get(GC, u)).map(|g| g.str("chassis_name")).collect();
        if !gcs.is_empty() {
            out.push_str(&format!("        gateway chassis: [{}]\n", gcs.join(" ")));
        }
    }
    let nats: Vec<(Uuid, &Row)> = lr.get("nat").uuids().filter_map(|u| ctx.db.get(NAT, u).map(|r| (u, r))).collect();
    for (u, n) in nats {
        out.push_str(&format!("    nat {u}\n"));
        out.push_str(&format!("        external ip: {}\n", quoted(n.str("external_ip"))));
        out.push_str(&format!("        logical ip: {}\n", quoted(n.str("logical_ip"))));
        out.push_str(&format!("        type: {}\n", quoted(n.str("type"))));
    }
}
