//! Port group commands (`pg-add`, `pg-set-ports`, `pg-del`).

use model::nb::table::PORT_GROUP as PG;
use model::ovsdb::{Atom, Datum};

use super::{lookup, Ctx};

/// The ports named by `names` (each by name or UUID), as a set of references.
fn ports(ctx: &Ctx, names: &[String]) -> Result<Datum, String> {
    let mut set = Vec::new();
    for n in names {
        set.push(Atom::Uuid(lookup::lsp(ctx.db, n)?));
    }
    Ok(Datum::set(set))
}

pub fn pg_add(ctx: &mut Ctx) -> Result<(), String> {
    let name = &ctx.cmd.args[0];
    if lookup::find(ctx.db, PG, name)?.is_some() {
        return Err(format!("{name}: a port group with this name already exists"));
    }
    let ports = ports(ctx, &ctx.cmd.args[1..])?;
    ctx.db.insert(PG, vec![("name", Datum::atom(name.as_str())), ("ports", ports)]);
    Ok(())
}

pub fn pg_set_ports(ctx: &mut Ctx) -> Result<(), String> {
    let pg = lookup::get(ctx.db, PG, &ctx.cmd.args[0])?;
    let ports = ports(ctx, &ctx.cmd.args[1..])?;
    ctx.db.set(PG, pg, "ports", ports);
    Ok(())
}

pub fn pg_del(ctx: &mut Ctx) -> Result<(), String> {
    let pg = lookup::get(ctx.db, PG, &ctx.cmd.args[0])?;
    ctx.db.delete(PG, pg);
    Ok(())
}
