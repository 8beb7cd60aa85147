//! Northbound -> desired Southbound, as a pure function: an [`NbSnapshot`] and the tunnel keys already in use
//! in, a [`DesiredSb`] and warnings out. No I/O happens here, so the whole translation is testable with
//! plain values, and the daemon decides when to run it.
//!
//! ```text
//!   NbSnapshot ─▶ topology (resolve names: which switch port attaches which router port, gateway ports,
//!                 NATs and routes per router; bad rows become warnings and are left out)
//!              ─▶ bindings  (Datapath_Binding, Port_Binding, Multicast_Group, HA_Chassis_Group, tunnel keys)
//!              ─▶ switch / router / nat flow builders ─▶ DesiredSb.lflows
//! ```

use std::collections::BTreeMap;

use model::nb::NbSnapshot;
use model::ovsdb::Uuid;

use crate::desired::DesiredSb;
use crate::stage::Stage;

pub mod bindings;
pub mod nat;
pub mod router;
pub mod switch;
pub mod topology;

pub use topology::Topology;

/// Tunnel keys the Southbound already uses, so that keys stay stable across restarts and recomputes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    /// NB datapath UUID -> datapath tunnel key.
    pub datapaths: BTreeMap<Uuid, i64>,
    /// Logical port name -> (NB datapath UUID, port tunnel key).
    pub ports: BTreeMap<String, (Uuid, i64)>,
}

#[derive(Debug, Clone, Default)]
pub struct Output {
    pub sb: DesiredSb,
    /// One line per NB row that could not be used (it was left out; everything else was translated).
    pub warnings: Vec<String>,
}

/// Translates the whole Northbound.
pub fn translate(nb: &NbSnapshot, keys: &Keys) -> Output {
    let mut warnings: Vec<String> = nb.errors.iter().map(|e| e.to_string()).collect();
    let topo = Topology::build(nb, &mut warnings);
    let mut sb = DesiredSb::default();
    bindings::build(&topo, keys, &mut sb);
    for sw in &topo.switches {
        switch::build(&topo, sw, &mut sb);
    }
    for lr in &topo.routers {
        router::build(&topo, lr, &mut sb, &mut warnings);
        nat::build(&topo, lr, &mut sb);
    }
    default_flows(&mut sb);
    Output { sb, warnings }
}

/// Every stage of every datapath passes packets on unless a flow says otherwise: a priority-0 `next;` for
/// each stage that has no priority-0 flow of its own (the last stage of a pipeline outputs instead).
fn default_flows(sb: &mut DesiredSb) {
    let mut have: std::collections::BTreeSet<(Uuid, Stage)> = std::collections::BTreeSet::new();
    for f in sb.lflows.iter().filter(|f| f.priority == 0 && f.match_ == "1") {
        have.insert((f.datapath, f.stage));
    }
    let dps: Vec<(Uuid, crate::stage::DpKind)> = sb.datapaths.values().map(|d| (d.nb_uuid, d.kind)).collect();
    for (dp, kind) in dps {
        let stages: Vec<Stage> = Stage::of(kind).collect();
        for s in &stages {
            if have.contains(&(dp, *s)) {
                continue;
            }
            let last = !stages.iter().any(|o| o.pipeline() == s.pipeline() && o.table() > s.table());
            let action = if last { "output;" } else { "next;" };
            sb.flow(dp, *s, 0, "1", action);
        }
    }
}
