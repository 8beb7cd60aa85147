//! Logical switch and logical switch port commands.

use std::collections::BTreeMap;

use model::addr::LspAddress;
use model::nb::table::{LOGICAL_SWITCH as LS, LOGICAL_SWITCH_PORT as LSP};
use model::ovsdb::{Atom, Datum};

use super::{lookup, Ctx};

/// The `Logical_Switch_Port.type` values `ovn-nb(5)` defines.
pub const LSP_TYPES: &[&str] = &["", "router", "localnet", "localport", "l2gateway", "vtep", "external", "virtual", "remote"];

pub fn lsp_add(ctx: &mut Ctx) -> Result<(), String> {
    let a = &ctx.cmd.args;
    let (sw_id, port) = (&a[0], &a[1]);
    let (parent, tag) = match a.len() {
        2 => (None, None),
        4 => {
            let tag: i64 = a[3]
                .parse()
                .ok()
                .filter(|t| (0..=4095).contains(t))
                .ok_or_else(|| format!("{}: invalid tag (must be in range 0 to 4095)", a[3]))?;
            (Some(a[2].clone()), Some(tag))
        }
        _ => return Err("lsp-add takes 2 or 4 arguments: SWITCH PORT [PARENT TAG]".into()),
    };
    let sw = lookup::switch(ctx.db, sw_id)?;
    if let Some(existing) = lookup::find(ctx.db, LSP, port)? {
        if !ctx.cmd.has("may-exist") {
            return Err(format!("{port}: a port with this name already exists"));
        }
        let owner = lookup::owner(ctx.db, LS, "ports", existing);
        if owner != Some(sw) {
            let other = owner.map(|o| lookup::name_of(ctx.db, LS, o)).unwrap_or_default();
            return Err(format!("{port}: port already exists but in switch {other}"));
        }
        let row = ctx.db.get(LSP, existing).ok_or("port vanished")?;
        let (have_parent, have_tag) = (row.get("parent_name").as_str().map(str::to_string), row.get("tag_request").as_i64());
        match (&parent, have_parent) {
            (None, Some(p)) => return Err(format!("{port}: port already exists but has parent {p}")),
            (Some(_), None) => return Err(format!("{port}: port already exists but has no parent")),
            (Some(p), Some(h)) if *p != h => return Err(format!("{port}: port already exists with different parent {h}")),
            _ => {}
        }
        if tag.is_some() && tag != have_tag {
            return Err(format!(
                "{port}: port already exists with different tag_request {}",
                have_tag.map_or("none".into(), |t| t.to_string())
            ));
        }
        return Ok(());
    }
    let uuid = ctx.db.insert(
        LSP,
        vec![("name", Datum::atom(port.as_str())), ("parent_name", Datum::optional(parent)), ("tag_request", Datum::optional(tag))],
    );
    ctx.db.add_to_set(LS, sw, "ports", Atom::Uuid(uuid));
    Ok(())
}

pub fn lsp_set_addresses(ctx: &mut Ctx) -> Result<(), String> {
    let port = lookup::lsp(ctx.db, &ctx.cmd.args[0])?;
    let entries = &ctx.cmd.args[1..];
    let mut parsed = Vec::new();
    for e in entries {
        parsed.push(LspAddress::parse(e).map_err(|err| err.to_string())?);
    }
    // Two ports of one switch may not claim the same IP.
    if let Some(sw) = lookup::owner(ctx.db, LS, "ports", port) {
        let sw_row = ctx.db.get(LS, sw).ok_or("switch vanished")?;
        let sw_name = sw_row.str("name").to_string();
        let mut others: BTreeMap<std::net::IpAddr, String> = BTreeMap::new();
        for other in sw_row.get("ports").uuids().filter(|u| *u != port) {
            let Some(r) = ctx.db.get(LSP, other) else { continue };
            for a in r.get("addresses").strings().filter_map(|s| LspAddress::parse(s).ok()) {
                for ip in a.ips() {
                    others.insert(*ip, r.str("name").to_string());
                }
            }
        }
        for ip in parsed.iter().flat_map(LspAddress::ips) {
            if let Some(owner) = others.get(ip) {
                let fam = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
                return Err(format!("Error on switch {sw_name}: duplicate {fam} address '{ip}' found on logical switch port '{owner}'"));
            }
        }
    }
    ctx.db.set(LSP, port, "addresses", Datum::set(entries.iter().map(String::as_str)));
    Ok(())
}

/// Prints the members of a string-set column of a port, one per line.
fn print_strings(ctx: &mut Ctx, column: &str) -> Result<(), String> {
    let port = lookup::lsp(ctx.db, &ctx.cmd.args[0])?;
    let row = ctx.db.get(LSP, port).ok_or("port vanished")?;
    for s in row.get(column).strings() {
        ctx.out.push_str(s);
        ctx.out.push('\n');
    }
    Ok(())
}

pub fn lsp_get_addresses(ctx: &mut Ctx) -> Result<(), String> {
    print_strings(ctx, "addresses")
}

pub fn lsp_set_port_security(ctx: &mut Ctx) -> Result<(), String> {
    let port = lookup::lsp(ctx.db, &ctx.cmd.args[0])?;
    for e in &ctx.cmd.args[1..] {
        // The one message for any bad word, naming the entry (the controller parses entries the same way).
        if model::addr::PortSecurity::parse(e).is_err() {
            return Err(model::addr::AddrError::PortSecurity(e.to_string()).to_string());
        }
    }
    ctx.db.set(LSP, port, "port_security", Datum::set(ctx.cmd.args[1..].iter().map(String::as_str)));
    Ok(())
}

pub fn lsp_get_port_security(ctx: &mut Ctx) -> Result<(), String> {
    print_strings(ctx, "port_security")
}

pub fn lsp_set_type(ctx: &mut Ctx) -> Result<(), String> {
    let port = lookup::lsp(ctx.db, &ctx.cmd.args[0])?;
    let ty = &ctx.cmd.args[1];
    if !LSP_TYPES.contains(&ty.as_str()) {
        return Err(format!("{ty}: unknown logical switch port type (expected one of: \"\", {})", LSP_TYPES[1..].join(", ")));
    }
    ctx.db.set(LSP, port, "type", Datum::atom(ty.as_str()));
    Ok(())
}

/// Prints one optional scalar column of a port (nothing when unset).
fn print_scalar(ctx: &mut Ctx, column: &str) -> Result<(), String> {
    let port = lookup::lsp(ctx.db, &ctx.cmd.args[0])?;
    let row = ctx.db.get(LSP, port).ok_or("port vanished")?;
    if let Some(a) = row.get(column).as_atom() {
        match a {
            Atom::String(s) => ctx.out.push_str(s),
            other => ctx.out.push_str(&other.to_string()),
        }
        ctx.out.push('\n');
    }
    Ok(())
}

pub fn lsp_get_type(ctx: &mut Ctx) -> Result<(), String> {
    print_scalar(ctx, "type")
}

pub fn lsp_get_parent(ctx: &mut Ctx) -> Result<(), String> {
    print_scalar(ctx, "parent_name")
}

pub fn lsp_get_tag(ctx: &mut Ctx) -> Result<(), String> {
    print_scalar(ctx, "tag")
}

/// Parses `KEY=VALUE` arguments.
pub fn key_values(args: &[String]) -> Result<Datum, String> {
    let mut pairs = Vec::new();
    for a in args {
        match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => pairs.push((k.to_string(), v.to_string())),
            _ => return Err(format!("{a}: options must be given as KEY=VALUE")),
        }
    }
    Ok(Datum::map(pairs))
}

pub fn lsp_set_options(ctx: &mut Ctx) -> Result<(), String> {
    let port = lookup::lsp(ctx.db, &ctx.cmd.args[0])?;
    let opts = key_values(&ctx.cmd.args[1..])?;
    ctx.db.set(LSP, port, "options", opts);
    Ok(())
}

pub fn lsp_get_options(ctx: &mut Ctx) -> Result<(), String> {
    let port = lookup::lsp(ctx.db, &ctx.cmd.args[0])?;
    let row = ctx.db.get(LSP, port).ok_or("port vanished")?;
    for (k, v) in row.get("options").string_pairs() {
        ctx.out.push_str(&format!("{k}={v}\n"));
    }
    Ok(())
}

pub fn lsp_get_up(ctx: &mut Ctx) -> Result<(), String> {
    let port = lookup::lsp(ctx.db, &ctx.cmd.args[0])?;
    let up = ctx.db.get(LSP, port).and_then(|r| r.get("up").as_bool()).unwrap_or(false);
    ctx.out.push_str(if up { "up\n" } else { "down\n" });
    Ok(())
}
