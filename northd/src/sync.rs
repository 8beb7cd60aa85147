//! What a sync writes besides the reconciled rows ([`crate::reconcile`]): its counts, `SB_Global`'s
//! values, the tunnel keys the Southbound already uses, and `Logical_Switch_Port.up` copied back to the
//! Northbound.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use model::ovsdb::{Datum, Replica, Row, Uuid};
use model::sb::table::*;
use model::sb::{DatapathBinding, PortBinding};

use crate::translate::Keys;

/// Every Southbound table northd reads.
pub const TABLES_READ: [&str; 12] = [
    SB_GLOBAL,
    DATAPATH_BINDING,
    PORT_BINDING,
    MULTICAST_GROUP,
    LOGICAL_FLOW,
    HA_CHASSIS_GROUP,
    HA_CHASSIS,
    CHASSIS,
    CHASSIS_PRIVATE,
    MAC_BINDING,
    ADDRESS_SET,
    PORT_GROUP,
];

/// How many rows of each kind one sync writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub inserted: usize,
    pub updated: usize,
    pub deleted: usize,
}

impl Counts {
    pub fn is_empty(&self) -> bool {
        self.inserted + self.updated + self.deleted == 0
    }
}

pub(crate) fn string_map(m: &BTreeMap<String, String>) -> Datum {
    Datum::map(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// The tunnel keys the Southbound already uses (the translation keeps them).
pub fn current_keys(sb: &Replica) -> Keys {
    let mut keys = Keys::default();
    let mut dp_of_row: BTreeMap<Uuid, Uuid> = BTreeMap::new();
    for dp in model::sb::rows::<DatapathBinding>(sb) {
        if let (Some(nb), Some(k)) = (dp.nb_identity(), dp.tunnel_key()) {
            keys.datapaths.insert(nb, k);
            dp_of_row.insert(dp.uuid(), nb);
        }
    }
    for pb in model::sb::rows::<PortBinding>(sb) {
        if let (Some(dp), Some(k)) = (pb.datapath().and_then(|d| dp_of_row.get(&d)), pb.tunnel_key()) {
            keys.ports.entry(*dp).or_default().insert(pb.logical_port().to_string(), k);
        }
    }
    keys
}

/// Which switch ports' `Logical_Switch_Port.up` may differ from what their binding says: every port after a
/// full pass, else those whose switch port or binding changed (a port coming up costs one port, not the
/// network).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StalePorts {
    #[default]
    None,
    All,
    Named(BTreeSet<String>),
}

impl StalePorts {
    pub fn is_empty(&self) -> bool {
        matches!(self, StalePorts::None)
    }

    pub fn add(&mut self, name: &str) {
        match self {
            StalePorts::None => *self = StalePorts::Named(BTreeSet::from([name.to_string()])),
            StalePorts::All => {}
            StalePorts::Named(names) => drop(names.insert(name.to_string())),
        }
    }

    /// Adds the ports named in column `name_column` of the rows `uuids` of `table` that still exist.
    pub fn add_rows<'a>(&mut self, r: &Replica, table: &str, name_column: &str, uuids: impl IntoIterator<Item = &'a Uuid>) {
        for u in uuids {
            if let Some(row) = r.row(table, *u) {
                self.add(row.str(name_column));
            }
        }
    }
}

/// The `Logical_Switch_Port.up` values the Northbound should show, for the `stale` ports whose value is
/// not that already: a port is up when its binding is (`ovn-controller` sets `Port_Binding.up` once the
/// port's flows are installed). `lsp_named` and `pb_named` find a port's rows by name.
pub fn nb_port_up(
    nb: &Replica,
    sb: &Replica,
    stale: &StalePorts,
    lsp_named: impl Fn(&str) -> Option<Uuid>,
    pb_named: impl Fn(&str) -> Option<Uuid>,
) -> Vec<(Uuid, bool)> {
    let is_up = |pb: PortBinding| pb.up() == Some(true);
    let differs = |lsp: &Row, want: bool| (lsp.get("up").as_bool() != Some(want)).then_some((lsp.uuid, want));
    match stale {
        StalePorts::None => Vec::new(),
        StalePorts::All => {
            let up: HashMap<&str, bool> = model::sb::rows::<PortBinding>(sb).map(|pb| (pb.logical_port(), is_up(pb))).collect();
            nb.table(model::nb::table::LOGICAL_SWITCH_PORT).filter_map(|lsp| differs(lsp, *up.get(lsp.str("name"))?)).collect()
        }
        StalePorts::Named(names) => names
            .iter()
            .filter_map(|name| {
                let lsp = nb.row(model::nb::table::LOGICAL_SWITCH_PORT, lsp_named(name)?).filter(|r| r.str("name") == name)?;
                let pb = model::sb::row::<PortBinding>(sb, pb_named(name)?).filter(|pb| pb.logical_port() == name)?;
                differs(lsp, is_up(pb))
            })
            .collect(),
    }
}

/// What a sync should also write besides the translation's output.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// `NB_Global.nb_cfg`, copied to `SB_Global.nb_cfg`.
    pub nb_cfg: i64,
    /// `SB_Global.options` northd owns.
    pub options: BTreeMap<String, String>,
    /// `SB_Global.options` set only when absent (generated values that must stay stable).
    pub defaults: BTreeMap<String, String>,
}
