//! Finding rows the way `ovn-nbctl` does: by UUID, or by name.

use model::nb::table;
use model::ovsdb::{Atom, Uuid};

use super::super::db::Db;

/// What a table's rows are called in messages: "switch", "router", "port".
fn noun(t: &str) -> &'static str {
    match t {
        table::LOGICAL_SWITCH => "switch",
        table::LOGICAL_ROUTER => "router",
        table::PORT_GROUP => "port group",
        _ => "port",
    }
}

/// A row of `table` named `id` (or with UUID `id`): Ok(None) when there is none, an error when the name is
/// shared by several rows.
pub fn find(db: &Db, t: &str, id: &str) -> Result<Option<Uuid>, String> {
    if let Ok(u) = id.parse::<Uuid>() {
        if db.get(t, u).is_some() {
            return Ok(Some(u));
        }
    }
    let mut found = db.rows(t).filter(|r| r.str("name") == id).map(|r| r.uuid);
    let first = found.next();
    if first.is_some() && found.next().is_some() {
        let plural = match t {
            table::LOGICAL_SWITCH => "logical switches",
            table::LOGICAL_ROUTER => "logical routers",
            table::PORT_GROUP => "port groups",
            _ => "ports",
        };
        return Err(format!("Multiple {plural} named '{id}'.  Use a UUID."));
    }
    Ok(first)
}

/// Like [`find`], but a missing row is an error: "NAME: switch name not found".
pub fn get(db: &Db, t: &str, id: &str) -> Result<Uuid, String> {
    find(db, t, id)?.ok_or_else(|| format!("{id}: {} name not found", noun(t)))
}

pub fn switch(db: &Db, id: &str) -> Result<Uuid, String> {
    get(db, table::LOGICAL_SWITCH, id)
}

pub fn router(db: &Db, id: &str) -> Result<Uuid, String> {
    get(db, table::LOGICAL_ROUTER, id)
}

pub fn lsp(db: &Db, id: &str) -> Result<Uuid, String> {
    get(db, table::LOGICAL_SWITCH_PORT, id)
}

pub fn lrp(db: &Db, id: &str) -> Result<Uuid, String> {
    get(db, table::LOGICAL_ROUTER_PORT, id)
}

/// The row of `parent_table` whose `column` set holds `child`.
pub fn owner(db: &Db, parent_table: &str, column: &str, child: Uuid) -> Option<Uuid> {
    let a = Atom::Uuid(child);
    db.rows(parent_table).find(|r| r.get(column).contains(&a)).map(|r| r.uuid)
}

/// The name of a row, or "" if it has none.
pub fn name_of(db: &Db, t: &str, u: Uuid) -> String {
    db.get(t, u).map(|r| r.str("name").to_string()).unwrap_or_default()
}
