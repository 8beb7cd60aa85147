//! Southbound tables whose rows northd owns whole and identifies by their `name` column, each declared
//! once here. The engine keeps the desired rows by (table, name), and the Southbound reconciler
//! ([`crate::reconcile`], where each of these is a `named_table!`) writes them, so a new table of this kind
//! is a declaration plus the builder that fills it.
//!
//! ```text
//!   builders ──(table, name, values)──▶ Engine::named ──▶ reconcile ──▶ insert / update / delete
//!   SB replica ──▶ SbIndex name -> row ─────────────────────┘
//! ```

use model::ovsdb::transact::{ColumnName, RowData};
use model::ovsdb::Datum;
use model::sb::table;

/// One Southbound table of rows keyed by `name`: the columns northd writes besides the name.
#[derive(Debug, PartialEq, Eq)]
pub struct NamedTable {
    pub table: &'static str,
    pub columns: &'static [&'static str],
}

/// `Address_Set`: the Northbound's address sets, and each port group's `<pg>_ip4` / `<pg>_ip6`.
pub const ADDRESS_SET: NamedTable = NamedTable { table: table::ADDRESS_SET, columns: &["addresses"] };
/// `Port_Group`: one row per port group and datapath, `<datapath key>_<pg>`, with the group's ports there.
pub const PORT_GROUP: NamedTable = NamedTable { table: table::PORT_GROUP, columns: &["ports"] };

/// A desired row's identity.
pub type Key = (&'static str, String);

/// A desired row: the values of its table's `columns`, in order.
pub type Values = Vec<Datum>;

impl NamedTable {
    /// The columns of a desired row, but its name.
    pub(crate) fn row(&self, values: &Values) -> RowData {
        self.columns.iter().zip(values).map(|(c, v)| (ColumnName::new(c), v.clone())).collect()
    }
}
