//! Every `nbctl` command, in one table: name, arguments, options, help, and the function that runs it.
//!
//! A command reads and changes the working copy ([`Db`]) and appends what it prints to `out`; it returns an
//! error message (without the "nbctl: " prefix) to refuse. Nothing reaches the database until every
//! command of the chain has succeeded.

use std::collections::BTreeSet;

use model::nb::table::{LOGICAL_ROUTER as LR, LOGICAL_ROUTER_PORT as LRP, LOGICAL_SWITCH as LS, LOGICAL_SWITCH_PORT as LSP};
use model::ovsdb::{Datum, Uuid};

use super::cli::CommandLine;
use super::db::Db;

pub mod lookup;
pub mod nat;
pub mod port_group;
pub mod route;
pub mod router;
pub mod show;
pub mod switch;

/// What a running command can see and do.
pub struct Ctx<'a> {
    pub db: &'a mut Db,
    pub out: &'a mut String,
    pub cmd: &'a CommandLine,
    /// Routers that got NAT rules in this run: checked for a gateway port once the chain is done.
    pub nat_routers: &'a mut BTreeSet<Uuid>,
}

pub type Run = fn(&mut Ctx) -> Result<(), String>;

/// One command.
pub struct Spec {
    pub name: &'static str,
    /// The arguments, for usage lines: "SWITCH PORT [PARENT TAG]".
    pub args: &'static str,
    pub min_args: usize,
    /// `usize::MAX` for "any number".
    pub max_args: usize,
    pub options: &'static [&'static str],
    pub help: &'static str,
    pub section: &'static str,
    pub run: Run,
}

const ANY: usize = usize::MAX;

macro_rules! spec {
    ($section:expr, $name:expr, $args:expr, $min:expr, $max:expr, $opts:expr, $help:expr, $run:expr) => {
        Spec { section: $section, name: $name, args: $args, min_args: $min, max_args: $max, options: $opts, help: $help, run: $run }
    };
}

const GENERAL: &str = "General commands";
const SWITCH: &str = "Logical switch commands";
const LSP_S: &str = "Logical switch port commands";
const ROUTER: &str = "Logical router commands";
const LRP_S: &str = "Logical router port commands";
const ROUTE: &str = "Route commands";
const NAT_S: &str = "NAT commands";
const PG_S: &str = "Port group commands";

pub const COMMANDS: &[Spec] = &[
    spec!(GENERAL, "init", "", 0, 0, &[], "initialize the database", |_| Ok(())),
    spec!(
        GENERAL,
        "sync",
        "",
        0,
        0,
        &[],
        "wait until earlier changes have reached northd (with --wait=sb) or every chassis (--wait=hv)",
        |_| Ok(())
    ),
    spec!(GENERAL, "show", "[SWITCH|ROUTER]", 0, 1, &[], "print overview of database contents (or of one switch or router)", show::show),
    spec!(SWITCH, "ls-add", "[SWITCH]", 0, 1, &["may-exist", "add-duplicate"], "create a logical switch named SWITCH", |c| add_named(
        c, LS
    )),
    spec!(SWITCH, "ls-del", "SWITCH", 1, 1, &["if-exists"], "delete SWITCH and all its ports", |c| del_named(c, LS)),
    spec!(SWITCH, "ls-list", "", 0, 0, &[], "print the names of all logical switches", |c| list_named(c, LS)),
    spec!(
        LSP_S,
        "lsp-add",
        "SWITCH PORT [PARENT TAG]",
        2,
        4,
        &["may-exist"],
        "add logical port PORT on SWITCH (a child of PARENT on VLAN TAG)",
        switch::lsp_add
    ),
    spec!(LSP_S, "lsp-del", "PORT", 1, 1, &["if-exists"], "delete PORT from its attached switch", |c| del_port(c, LS, LSP)),
    spec!(LSP_S, "lsp-list", "SWITCH", 1, 1, &[], "print the names of all logical ports on SWITCH", |c| list_children(c, LS, LSP)),
    spec!(LSP_S, "lsp-get-parent", "PORT", 1, 1, &[], "get the parent of PORT if set", switch::lsp_get_parent),
    spec!(LSP_S, "lsp-get-tag", "PORT", 1, 1, &[], "get the PORT's tag if set", switch::lsp_get_tag),
    spec!(LSP_S, "lsp-set-addresses", "PORT [ADDRESS]...", 1, ANY, &[], "set MAC or MAC+IP addresses for PORT", switch::lsp_set_addresses),
    spec!(LSP_S, "lsp-get-addresses", "PORT", 1, 1, &[], "get a list of MAC or MAC+IP addresses on PORT", switch::lsp_get_addresses),
    spec!(
        LSP_S,
        "lsp-set-port-security",
        "PORT [ADDRS]...",
        1,
        ANY,
        &[],
        "set port security addresses for PORT",
        switch::lsp_set_port_security
    ),
    spec!(LSP_S, "lsp-get-port-security", "PORT", 1, 1, &[], "get PORT's port security addresses", switch::lsp_get_port_security),
    spec!(LSP_S, "lsp-get-up", "PORT", 1, 1, &[], "get state of PORT ('up' or 'down')", switch::lsp_get_up),
    spec!(
        LSP_S,
        "lsp-set-enabled",
        "PORT STATE",
        2,
        2,
        &[],
        "set administrative state of PORT ('enabled' or 'disabled')",
        |c| set_enabled(c, LSP)
    ),
    spec!(LSP_S, "lsp-get-enabled", "PORT", 1, 1, &[], "get administrative state of PORT", |c| get_enabled(c, LSP)),
    spec!(LSP_S, "lsp-set-type", "PORT TYPE", 2, 2, &[], "set the type for PORT", switch::lsp_set_type),
    spec!(LSP_S, "lsp-get-type", "PORT", 1, 1, &[], "get the type for PORT", switch::lsp_get_type),
    spec!(LSP_S, "lsp-set-options", "PORT [KEY=VALUE]...", 1, ANY, &[], "set options related to the type of PORT", switch::lsp_set_options),
    spec!(LSP_S, "lsp-get-options", "PORT", 1, 1, &[], "get the type specific options for PORT", switch::lsp_get_options),
    spec!(ROUTER, "lr-add", "[ROUTER]", 0, 1, &["may-exist", "add-duplicate"], "create a logical router named ROUTER", |c| add_named(
        c, LR
    )),
    spec!(ROUTER, "lr-del", "ROUTER", 1, 1, &["if-exists"], "delete ROUTER and all its ports", |c| del_named(c, LR)),
    spec!(ROUTER, "lr-list", "", 0, 0, &[], "print the names of all logical routers", |c| list_named(c, LR)),
    spec!(
        LRP_S,
        "lrp-add",
        "ROUTER PORT MAC NETWORK... [peer=PEER]",
        4,
        ANY,
        &["may-exist"],
        "add logical port PORT on ROUTER",
        router::lrp_add
    ),
    spec!(LRP_S, "lrp-del", "PORT", 1, 1, &["if-exists"], "delete PORT from its attached router", |c| del_port(c, LR, LRP)),
    spec!(LRP_S, "lrp-list", "ROUTER", 1, 1, &[], "print the names of all ports on ROUTER", |c| list_children(c, LR, LRP)),
    spec!(
        LRP_S,
        "lrp-set-enabled",
        "PORT STATE",
        2,
        2,
        &[],
        "set administrative state of PORT ('enabled' or 'disabled')",
        |c| set_enabled(c, LRP)
    ),
    spec!(LRP_S, "lrp-get-enabled", "PORT", 1, 1, &[], "get administrative state of PORT", |c| get_enabled(c, LRP)),
    spec!(
        LRP_S,
        "lrp-set-gateway-chassis",
        "PORT CHASSIS [PRIORITY]",
        2,
        3,
        &[],
        "set gateway chassis for PORT (priority 0 to 32767)",
        router::lrp_set_gateway_chassis
    ),
    spec!(LRP_S, "lrp-del-gateway-chassis", "PORT CHASSIS", 2, 2, &[], "delete gateway chassis from PORT", router::lrp_del_gateway_chassis),
    spec!(
        LRP_S,
        "lrp-get-gateway-chassis",
        "PORT",
        1,
        1,
        &[],
        "print the names of all gateway chassis on PORT with their priorities",
        router::lrp_get_gateway_chassis
    ),
    spec!(
        ROUTE,
        "lr-route-add",
        "ROUTER PREFIX NEXTHOP [PORT]",
        3,
        4,
        &["may-exist", "policy", "ecmp", "ecmp-symmetric-reply", "route-table"],
        "add a route to ROUTER (NEXTHOP may be \"discard\")",
        route::lr_route_add
    ),
    spec!(
        ROUTE,
        "lr-route-del",
        "ROUTER [PREFIX [NEXTHOP [PORT]]]",
        1,
        4,
        &["if-exists", "policy"],
        "remove routes from ROUTER",
        route::lr_route_del
    ),
    spec!(ROUTE, "lr-route-list", "ROUTER", 1, 1, &[], "print routes for ROUTER", route::lr_route_list),
    spec!(
        NAT_S,
        "lr-nat-add",
        "ROUTER TYPE EXTERNAL_IP LOGICAL_IP [LOGICAL_PORT EXTERNAL_MAC]",
        4,
        6,
        &["may-exist", "stateless", "gateway-port", "gateway_port"],
        "add a NAT to ROUTER (TYPE: snat, dnat, dnat_and_snat)",
        nat::lr_nat_add
    ),
    spec!(NAT_S, "lr-nat-del", "ROUTER [TYPE [IP [GATEWAY_PORT]]]", 1, 4, &["if-exists"], "remove NATs from ROUTER", nat::lr_nat_del),
    spec!(NAT_S, "lr-nat-list", "ROUTER", 1, 1, &[], "print NATs for ROUTER", nat::lr_nat_list),
    spec!(PG_S, "pg-add", "PG [PORTS]", 1, ANY, &[], "Create port group PG with optional PORTS", port_group::pg_add),
    spec!(PG_S, "pg-set-ports", "PG PORTS", 2, ANY, &[], "Set PORTS on port group PG", port_group::pg_set_ports),
    spec!(PG_S, "pg-del", "PG", 1, 1, &[], "Delete port group PG", port_group::pg_del),
];

pub fn find(name: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Checks a command's argument count and options before anything runs.
pub fn check(spec: &Spec, cmd: &CommandLine) -> Result<(), String> {
    let n = cmd.args.len();
    if n < spec.min_args || n > spec.max_args {
        let want = match (spec.min_args, spec.max_args) {
            (a, b) if a == b => format!("{a}"),
            (a, ANY) => format!("at least {a}"),
            (a, b) => format!("{a} to {b}"),
        };
        return Err(format!("'{}' command requires {want} arguments, got {n} (usage: {} {})", spec.name, spec.name, spec.args));
    }
    for o in cmd.options.keys() {
        if !spec.options.contains(&o.as_str()) {
            return Err(format!("'{}' command has no '--{o}' option", spec.name));
        }
    }
    Ok(())
}

/// The commands part of `--help`.
pub fn help() -> String {
    let mut out = String::new();
    let mut section = "";
    for c in COMMANDS {
        if c.section != section {
            section = c.section;
            out.push_str(&format!("\n{section}:\n"));
        }
        let opts: String = c.options.iter().filter(|o| !o.contains('_')).map(|o| format!("[--{o}] ")).collect();
        let usage = format!("{opts}{} {}", c.name, c.args);
        if usage.len() <= 36 {
            out.push_str(&format!("  {usage:<36}{}\n", c.help));
        } else {
            out.push_str(&format!("  {usage}\n  {:<36}{}\n", "", c.help));
        }
    }
    out
}

fn noun(t: &str) -> &'static str {
    if t == LS {
        "switch"
    } else {
        "router"
    }
}

/// `ls-add` / `lr-add`.
fn add_named(ctx: &mut Ctx, t: &str) -> Result<(), String> {
    let (may_exist, dup) = (ctx.cmd.has("may-exist"), ctx.cmd.has("add-duplicate"));
    if may_exist && dup {
        return Err("--may-exist and --add-duplicate may not be used together".into());
    }
    let Some(name) = ctx.cmd.args.first() else {
        if may_exist || dup {
            return Err(format!("--may-exist and --add-duplicate require a {} name", noun(t)));
        }
        ctx.db.insert(t, vec![]);
        return Ok(());
    };
    if !dup && ctx.db.rows(t).any(|r| r.str("name") == name) {
        if may_exist {
            return Ok(());
        }
        return Err(format!("{name}: a {} with this name already exists", noun(t)));
    }
    ctx.db.insert(t, vec![("name", Datum::atom(name.as_str()))]);
    Ok(())
}

/// `ls-del` / `lr-del`.
fn del_named(ctx: &mut Ctx, t: &str) -> Result<(), String> {
    let id = &ctx.cmd.args[0];
    match lookup::find(ctx.db, t, id)? {
        Some(u) => {
            ctx.db.delete(t, u);
            Ok(())
        }
        None if ctx.cmd.has("if-exists") => Ok(()),
        None => Err(format!("{id}: {} name not found", noun(t))),
    }
}

fn print_uuid_names<'a>(out: &mut String, rows: impl Iterator<Item = &'a model::ovsdb::Row>) {
    let mut v: Vec<_> = rows.map(|r| (r.str("name").to_string(), r.uuid)).collect();
    v.sort();
    for (name, uuid) in v {
        out.push_str(&format!("{uuid} ({name})\n"));
    }
}

/// `ls-list` / `lr-list`.
fn list_named(ctx: &mut Ctx, t: &str) -> Result<(), String> {
    print_uuid_names(ctx.out, ctx.db.rows(t));
    Ok(())
}

/// `lsp-list` / `lrp-list`.
fn list_children(ctx: &mut Ctx, parent: &str, child: &str) -> Result<(), String> {
    let p = lookup::get(ctx.db, parent, &ctx.cmd.args[0])?;
    let Some(row) = ctx.db.get(parent, p) else { return Ok(()) };
    let kids: Vec<_> = row.get("ports").uuids().filter_map(|u| ctx.db.get(child, u)).collect();
    print_uuid_names(ctx.out, kids.into_iter());
    Ok(())
}

/// `lsp-del` / `lrp-del`: removing the port from its switch or router deletes it.
fn del_port(ctx: &mut Ctx, parent: &str, child: &str) -> Result<(), String> {
    let id = &ctx.cmd.args[0];
    let Some(port) = lookup::find(ctx.db, child, id)? else {
        return if ctx.cmd.has("if-exists") { Ok(()) } else { Err(format!("{id}: port name not found")) };
    };
    match lookup::owner(ctx.db, parent, "ports", port) {
        Some(p) => ctx.db.remove_from_set(parent, p, "ports", &model::ovsdb::Atom::Uuid(port)),
        None => return Err(format!("{id}: logical port is not part of any logical {}", noun(parent))),
    }
    Ok(())
}

/// `lsp-set-enabled` / `lrp-set-enabled`.
fn set_enabled(ctx: &mut Ctx, t: &str) -> Result<(), String> {
    let port = lookup::get(ctx.db, t, &ctx.cmd.args[0])?;
    let on = match ctx.cmd.args[1].as_str() {
        "enabled" => true,
        "disabled" => false,
        s => return Err(format!("{s}: state must be \"enabled\" or \"disabled\"")),
    };
    ctx.db.set(t, port, "enabled", Datum::atom(on));
    Ok(())
}

/// `lsp-get-enabled` / `lrp-get-enabled` (a port is enabled unless set otherwise).
fn get_enabled(ctx: &mut Ctx, t: &str) -> Result<(), String> {
    let port = lookup::get(ctx.db, t, &ctx.cmd.args[0])?;
    let on = ctx.db.get(t, port).and_then(|r| r.get("enabled").as_bool()).unwrap_or(true);
    ctx.out.push_str(if on { "enabled\n" } else { "disabled\n" });
    Ok(())
}
