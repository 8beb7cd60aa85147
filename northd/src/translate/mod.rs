//! Northbound -> desired Southbound, as pure functions: an [`NbIndex`] and the tunnel keys already in use
//! in, a [`DesiredSb`] and warnings out. No I/O happens here, so the whole translation is testable with
//! plain values, and the daemon decides when to run it.
//!
//! ```text
//!   NbSnapshot ─▶ index (typed rows + relations, every read recorded)
//!              ─▶ engine: one unit per row (switch, switch port, router, router port, route, NAT),
//!                 each a builder: bindings + switch / router / nat flows ─▶ DesiredSb
//! ```

use std::collections::BTreeMap;

use model::nb::NbSnapshot;
use model::ovsdb::Uuid;

use crate::desired::DesiredSb;

pub mod bindings;
pub mod engine;
pub mod groups;
pub mod index;
pub mod nat;
pub mod router;
pub mod switch;
pub mod topology;

pub use index::NbIndex;

/// Tunnel keys the Southbound already uses, so that keys stay stable across restarts and recomputes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    /// NB datapath UUID -> datapath tunnel key.
    pub datapaths: BTreeMap<Uuid, i64>,
    /// NB datapath UUID -> logical port name -> port tunnel key (per datapath: port keys are handed out
    /// and checked one datapath at a time, which must not cost a scan of every port in the network).
    pub ports: BTreeMap<Uuid, BTreeMap<String, i64>>,
}

#[derive(Debug, Clone, Default)]
pub struct Output {
    pub sb: DesiredSb,
    /// One line per NB row that could not be used (it was left out; everything else was translated).
    pub warnings: Vec<String>,
}

/// Translates the whole Northbound (an [`engine::Engine`] started empty, run once).
pub fn translate(nb: &NbSnapshot, keys: &Keys) -> Output {
    let (ix, _) = NbIndex::new(nb.clone());
    let mut e = engine::Engine::with_keys(keys.clone());
    e.run_full(&ix);
    Output { sb: e.desired(), warnings: e.warnings().to_vec() }
}
