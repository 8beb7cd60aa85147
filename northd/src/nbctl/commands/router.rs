//! Logical router port and gateway chassis commands.

use model::addr;
use model::nb::table::{GATEWAY_CHASSIS as GC, LOGICAL_ROUTER as LR, LOGICAL_ROUTER_PORT as LRP};
use model::ovsdb::{Atom, Datum, Uuid};

use super::{lookup, Ctx};

pub fn lrp_add(ctx: &mut Ctx) -> Result<(), String> {
    let a = &ctx.cmd.args;
    let (lr_id, port, mac) = (&a[0], &a[1], &a[2]);
    let mut networks: Vec<&str> = a[3..].iter().map(String::as_str).collect();
    let mut peer = None;
    if let Some(last) = networks.last() {
        if let Some(p) = last.strip_prefix("peer=") {
            peer = Some(p.to_string());
            networks.pop();
        }
    }
    if networks.is_empty() {
        return Err(format!("{port}: a router port needs at least one network (IP/PREFIXLEN)"));
    }
    let lr = lookup::router(ctx.db, lr_id)?;
    addr::parse_mac(mac).map_err(|e| e.to_string())?;
    for n in &networks {
        addr::parse_network(n).map_err(|e| e.to_string())?;
    }
    if let Some(existing) = lookup::find(ctx.db, LRP, port)? {
        if !ctx.cmd.has("may-exist") {
            return Err(format!("{port}: a port with this name already exists"));
        }
        let owner = lookup::owner(ctx.db, LR, "ports", existing);
        if owner != Some(lr) {
            let other = owner.map(|o| lookup::name_of(ctx.db, LR, o)).unwrap_or_default();
            return Err(format!("{port}: port already exists but in router {other}"));
        }
        let row = ctx.db.get(LRP, existing).ok_or("port vanished")?;
        let have_mac = addr::parse_mac(row.str("mac")).ok();
        if have_mac != addr::parse_mac(mac).ok() {
            return Err(format!("{port}: port already exists with mac {}", row.str("mac")));
        }
        if row.get("networks") != &Datum::set(networks.iter().copied()) {
            return Err(format!("{port}: port already exists with different networks {}", row.get("networks")));
        }
        if row.get("peer").as_str().map(str::to_string) != peer {
            return Err(format!("{port}: port already exists with different peer"));
        }
        return Ok(());
    }
    let uuid = ctx.db.insert(
        LRP,
        vec![
            ("name", Datum::atom(port.as_str())),
            ("mac", Datum::atom(mac.as_str())),
            ("networks", Datum::set(networks.iter().copied())),
            ("peer", Datum::optional(peer)),
        ],
    );
    ctx.db.add_to_set(LR, lr, "ports", Atom::Uuid(uuid));
    Ok(())
}

/// The port's gateway chassis rows: (uuid, chassis_name, priority, row name).
fn gateway_chassis(ctx: &Ctx, port: Uuid) -> Vec<(Uuid, String, i64, String)> {
    let Some(row) = ctx.db.get(LRP, port) else { return Vec::new() };
    row.get("gateway_chassis")
        .uuids()
        .filter_map(|u| ctx.db.get(GC, u))
        .map(|g| (g.uuid, g.str("chassis_name").to_string(), g.get("priority").as_i64().unwrap_or(0), g.str("name").to_string()))
        .collect()
}

pub fn lrp_set_gateway_chassis(ctx: &mut Ctx) -> Result<(), String> {
    let a = &ctx.cmd.args;
    let port = lookup::lrp(ctx.db, &a[0])?;
    let chassis = &a[1];
    if chassis.is_empty() {
        return Err("gateway chassis name must not be empty".into());
    }
    let priority = match a.get(2) {
        None => 0,
        Some(p) => {
            p.parse::<i64>().ok().filter(|p| (0..=32767).contains(p)).ok_or_else(|| format!("{p}: priority must be in range 0 to 32767"))?
        }
    };
    if let Some((gc, ..)) = gateway_chassis(ctx, port).into_iter().find(|g| g.1 == *chassis) {
        ctx.db.set(GC, gc, "priority", Datum::atom(priority));
        return Ok(());
    }
    let port_name = lookup::name_of(ctx.db, LRP, port);
    let gc = ctx.db.insert(
        GC,
        vec![
            ("name", Datum::atom(format!("{port_name}-{chassis}"))),
            ("chassis_name", Datum::atom(chassis.as_str())),
            ("priority", Datum::atom(priority)),
        ],
    );
    ctx.db.add_to_set(LRP, port, "gateway_chassis", Atom::Uuid(gc));
    Ok(())
}

pub fn lrp_get_gateway_chassis(ctx: &mut Ctx) -> Result<(), String> {
    let port = lookup::lrp(ctx.db, &ctx.cmd.args[0])?;
    let mut gcs = gateway_chassis(ctx, port);
    gcs.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.3.cmp(&b.3)));
    for (_, _, prio, name) in gcs {
        ctx.out.push_str(&format!("{name} {prio:>5}\n"));
    }
    Ok(())
}

pub fn lrp_del_gateway_chassis(ctx: &mut Ctx) -> Result<(), String> {
    let port = lookup::lrp(ctx.db, &ctx.cmd.args[0])?;
    let chassis = &ctx.cmd.args[1];
    match gateway_chassis(ctx, port).into_iter().find(|g| g.1 == *chassis) {
        Some((gc, ..)) => {
            ctx.db.remove_from_set(LRP, port, "gateway_chassis", &Atom::Uuid(gc));
            Ok(())
        }
        None => Err(format!("{chassis}: not a gateway chassis of port {}", ctx.cmd.args[0])),
    }
}
