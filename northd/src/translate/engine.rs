//! The incremental translation engine.
//!
//! The Southbound content is the union of units, each the output of one builder run on one Northbound row:
//!
//! ```text
//!   Switch(ls)          datapath, multicast groups, switch-wide flows        (switch::switch_unit)
//!   SwitchPort(lsp)     port binding, group membership, the port's flows,    (switch::port_unit)
//!                       the routers' ARP entries for its addresses
//!   Router(lr)          datapath, router-wide flows                          (router::router_unit)
//!   RouterPort(lrp)     port bindings (+ chassisredirect, HA group), flows   (router::port_unit)
//!   Route(route)        one static route's flow                              (router::route_unit)
//!   Nat(nat)            one NAT rule's flows                                 (nat::nat_unit)
//!   PortGroup(pg)       its Port_Group per datapath, its _ip4 / _ip6 sets     (groups::port_group_unit)
//!   AddressSet(as)      its Address_Set                                      (groups::address_set_unit)
//! ```
//! A builder reads the Northbound only through an [`index::Reader`], which records every read as a
//! [`Dep`]; the engine keeps, for each Dep, the units that read it. A round takes the Deps that the
//! Northbound's changes touched ([`NbIndex::apply_changes`]) and recomputes exactly the units that read
//! them (plus the units of new rows), replacing each unit's old output with the new one. Nothing is
//! fingerprinted by hand: a builder that reads something new depends on it by reading it.
//!
//! ```text
//!   changed Deps ──▶ readers[dep] ∪ new rows ──▶ sort (datapaths, ports, rules; by name)
//!        ──▶ for each: builder(Reader) ──▶ retract old output, assert new ──▶ Delta
//!                         └─ its Deps replace the old ones in `readers`
//! ```
//! Flows are counted (two units may produce the same flow, e.g. two ports' identical ARP entry), and the
//! round reports which flows appeared and disappeared and which Southbound rows may have changed, so the
//! sync touches only those. A full translation is the same engine started empty, so incremental and full
//! results are the same by construction, and a property test checks it anyway.
//!
//! Tunnel keys are the engine's state, not a builder's input: a unit's datapath and ports get their keys
//! when its output is asserted (kept while the row lives, else the smallest free one), so the builders
//! stay pure functions of the Northbound.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use model::nb::NbSnapshot;
use model::ovsdb::{MixHash, Uuid};

use super::index::{Dep, NbIndex, Reader, Tab};
use super::{groups, nat, router, switch, Keys};
use crate::desired::{Datapath, DesiredSb, HaChassisGroup, Lflow, MulticastGroup, PortBinding};
use crate::named_rows::{self, NamedTable};
use crate::stage::{DpKind, Stage};

/// One unit: the builder and the Northbound row it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnitId {
    Switch(Uuid),
    Router(Uuid),
    SwitchPort(Uuid),
    RouterPort(Uuid),
    Route(Uuid),
    Nat(Uuid),
    PortGroup(Uuid),
    AddressSet(Uuid),
}

impl UnitId {
    /// The unit of a row, for the tables that have one.
    fn of_row(t: Tab, u: Uuid) -> Option<UnitId> {
        Some(match t {
            Tab::Switch => UnitId::Switch(u),
            Tab::SwitchPort => UnitId::SwitchPort(u),
            Tab::Router => UnitId::Router(u),
            Tab::RouterPort => UnitId::RouterPort(u),
            Tab::Route => UnitId::Route(u),
            Tab::Nat => UnitId::Nat(u),
            Tab::PortGroup => UnitId::PortGroup(u),
            Tab::AddressSet => UnitId::AddressSet(u),
            Tab::GatewayChassis => return None,
        })
    }

    fn exists(self, nb: &NbSnapshot) -> bool {
        match self {
            UnitId::Switch(u) => nb.switches.contains_key(&u),
            UnitId::Router(u) => nb.routers.contains_key(&u),
            UnitId::SwitchPort(u) => nb.switch_ports.contains_key(&u),
            UnitId::RouterPort(u) => nb.router_ports.contains_key(&u),
            UnitId::Route(u) => nb.static_routes.contains_key(&u),
            UnitId::Nat(u) => nb.nats.contains_key(&u),
            UnitId::PortGroup(u) => nb.port_groups.contains_key(&u),
            UnitId::AddressSet(u) => nb.address_sets.contains_key(&u),
        }
    }

    /// The order units are computed in: datapaths first, then ports, then rules, by name within each, so
    /// that new tunnel keys go out in name order (a network created in one go always gets the same keys).
    fn order(self, nb: &NbSnapshot) -> (u8, &str, UnitId) {
        let name = match self {
            UnitId::Switch(u) => nb.switches.get(&u).map(|s| s.name.as_str()),
            UnitId::Router(u) => nb.routers.get(&u).map(|r| r.name.as_str()),
            UnitId::SwitchPort(u) => nb.switch_ports.get(&u).map(|p| p.name.as_str()),
            UnitId::RouterPort(u) => nb.router_ports.get(&u).map(|p| p.name.as_str()),
            UnitId::PortGroup(u) => nb.port_groups.get(&u).map(|p| p.name.as_str()),
            UnitId::AddressSet(u) => nb.address_sets.get(&u).map(|a| a.name.as_str()),
            UnitId::Route(_) | UnitId::Nat(_) => None,
        };
        // Port groups name their datapaths by tunnel key: after the datapaths.
        let rank = match self {
            UnitId::Switch(_) | UnitId::Router(_) => 0,
            UnitId::SwitchPort(_) | UnitId::RouterPort(_) => 1,
            UnitId::Route(_) | UnitId::Nat(_) | UnitId::PortGroup(_) | UnitId::AddressSet(_) => 2,
        };
        (rank, name.unwrap_or(""), self)
    }

    fn run(self, r: &mut Reader<'_>, out: &mut Out) {
        match self {
            UnitId::Switch(u) => switch::switch_unit(r, u, out),
            UnitId::SwitchPort(u) => switch::port_unit(r, u, out),
            UnitId::Router(u) => router::router_unit(r, u, out),
            UnitId::RouterPort(u) => router::port_unit(r, u, out),
            UnitId::Route(u) => router::route_unit(r, u, out),
            UnitId::Nat(u) => nat::nat_unit(r, u, out),
            UnitId::PortGroup(u) => groups::port_group_unit(r, u, out),
            UnitId::AddressSet(u) => groups::address_set_unit(r, u, out),
        }
    }
}

/// What a builder writes: Southbound rows (keys left 0: the engine assigns them), flows, warnings.
#[derive(Debug, Default)]
pub struct Out {
    pub flows: Vec<Lflow>,
    pub datapaths: Vec<Datapath>,
    pub ports: Vec<PortBinding>,
    /// Multicast groups this unit defines: (datapath, name, tunnel key).
    pub mc_groups: Vec<(Uuid, &'static str, i64)>,
    /// Ports this unit adds to multicast groups: (datapath, group name, port).
    pub mc_members: Vec<(Uuid, &'static str, String)>,
    pub ha_groups: Vec<HaChassisGroup>,
    /// Rows of the tables of [`named_rows`].
    pub named: Vec<(named_rows::Key, named_rows::Values)>,
    pub warnings: Vec<String>,
}

impl Out {
    /// Adds a row to a table of [`named_rows`]: its name and the values of the table's columns.
    pub fn named(&mut self, table: &'static NamedTable, name: String, values: named_rows::Values) {
        self.named.push(((table.table, name), values));
    }

    /// Adds a flow on a datapath; the caller's file and line become the flow's `source`.
    #[track_caller]
    pub fn flow(&mut self, datapath: Uuid, stage: Stage, priority: u16, match_: impl Into<String>, actions: impl Into<String>) {
        let source = std::panic::Location::caller();
        self.flows.push(Lflow { datapath, stage, priority, match_: match_.into(), actions: actions.into(), source });
    }

    /// Priority-0 flows for the stages of `dp` that have none among this unit's flows: a stage a
    /// feature does not use still passes packets on, and the last stage of a pipeline outputs.
    pub fn stage_defaults(&mut self, dp: Uuid, kind: DpKind) {
        let have: BTreeSet<Stage> =
            self.flows.iter().filter(|f| f.datapath == dp && f.priority == 0 && f.match_ == "1").map(|f| f.stage).collect();
        let stages: Vec<Stage> = Stage::of(kind).collect();
        for s in &stages {
            if have.contains(s) {
                continue;
            }
            let last = !stages.iter().any(|o| o.pipeline() == s.pipeline() && o.table() > s.table());
            self.flow(dp, *s, 0, "1", if last { "output;" } else { "next;" });
        }
    }
}

/// What a stored unit contributed (identities only: the rows themselves are in the engine's tables).
#[derive(Debug, Clone, Default)]
struct Unit {
    deps: Vec<Dep>,
    flow_ids: Vec<u64>,
    datapaths: Vec<Uuid>,
    /// (logical port, its datapath).
    ports: Vec<(String, Uuid)>,
    mc_groups: Vec<(Uuid, &'static str)>,
    mc_members: Vec<(Uuid, &'static str, String)>,
    ha_groups: Vec<String>,
    named: Vec<named_rows::Key>,
    warnings: Vec<String>,
}

/// What changed in one round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// Flows now desired that were not before, and flows no longer desired, by [`Lflow::key_hash`]
    /// (the added ones are in [`Engine::flow`]).
    pub added: Vec<u64>,
    pub removed: Vec<u64>,
    /// Row identities whose desired content may have changed (present or gone).
    pub datapaths: BTreeSet<Uuid>,
    pub ports: BTreeSet<String>,
    pub mc_groups: BTreeSet<(Uuid, String)>,
    pub ha_groups: BTreeSet<String>,
    pub named: BTreeSet<named_rows::Key>,
    /// Units computed in this round (for logs and tests).
    pub recomputed: usize,
}

/// Tunnel keys in use, with the free-key search state of each datapath's ports.
#[derive(Debug, Clone, Default)]
struct KeyState {
    keys: Keys,
    dp_used: BTreeSet<i64>,
    port_used: HashMap<Uuid, BTreeSet<i64>>,
}

impl KeyState {
    fn new(keys: Keys) -> KeyState {
        let dp_used = keys.datapaths.values().copied().collect();
        let port_used = keys.ports.iter().map(|(dp, p)| (*dp, p.values().copied().collect())).collect();
        KeyState { keys, dp_used, port_used }
    }

    fn smallest_free(used: &BTreeSet<i64>) -> i64 {
        let mut k = 1;
        for u in used.range(1..) {
            if *u != k {
                break;
            }
            k += 1;
        }
        k
    }

    fn datapath(&mut self, dp: Uuid) -> i64 {
        if let Some(k) = self.keys.datapaths.get(&dp) {
            return *k;
        }
        let k = Self::smallest_free(&self.dp_used);
        self.dp_used.insert(k);
        self.keys.datapaths.insert(dp, k);
        k
    }

    fn release_datapath(&mut self, dp: Uuid) {
        if let Some(k) = self.keys.datapaths.remove(&dp) {
            self.dp_used.remove(&k);
        }
        self.keys.ports.remove(&dp);
        self.port_used.remove(&dp);
    }

    fn port(&mut self, dp: Uuid, name: &str) -> i64 {
        let kept = self.keys.ports.entry(dp).or_default();
        if let Some(k) = kept.get(name) {
            return *k;
        }
        let used = self.port_used.entry(dp).or_default();
        let k = Self::smallest_free(used);
        used.insert(k);
        kept.insert(name.to_string(), k);
        k
    }

    fn release_port(&mut self, dp: Uuid, name: &str) {
        if let Some(k) = self.keys.ports.get_mut(&dp).and_then(|p| p.remove(name)) {
            if let Some(u) = self.port_used.get_mut(&dp) {
                u.remove(&k);
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Engine {
    keys: KeyState,
    units: HashMap<UnitId, Unit>,
    /// Each Dep -> the units that read it.
    readers: HashMap<Dep, Vec<UnitId>>,
    /// Every desired flow by its key hash, with the number of units that produce it.
    flow_refs: HashMap<u64, (Lflow, u32), MixHash>,
    datapaths: BTreeMap<Uuid, Datapath>,
    ports: BTreeMap<String, PortBinding>,
    mc_groups: BTreeMap<(Uuid, String), MulticastGroup>,
    /// Members of groups no unit defines (for a moment, while their switch goes away).
    mc_orphans: HashMap<(Uuid, String), BTreeSet<String>>,
    ha_groups: BTreeMap<String, HaChassisGroup>,
    /// Rows of the tables of [`named_rows`], with how many units want each (a name claimed twice: the
    /// later values win until one of them goes).
    named: BTreeMap<named_rows::Key, named_rows::Values>,
    named_refs: HashMap<named_rows::Key, u32>,
    unit_warnings: BTreeMap<String, u32>,
    warnings: Vec<String>,
    /// Reads left out of the records ([`Engine::hide_reads`]).
    hidden: Option<fn(&Dep) -> bool>,
}

/// Whether `d` is unit `id`'s own row or the owner of its own row: [`Engine::run_changes`] finds the unit
/// from such a Dep alone, so it is not recorded. Most distinct Deps are of this kind, and each would
/// otherwise need a reader list of its own.
fn own_read(id: UnitId, d: &Dep) -> bool {
    match d {
        Dep::Row(t, u) => UnitId::of_row(*t, *u) == Some(id),
        Dep::Owner(u) => matches!(id, UnitId::SwitchPort(x) | UnitId::RouterPort(x) | UnitId::Route(x) | UnitId::Nat(x) if x == *u),
        _ => false,
    }
}

impl Engine {
    /// An empty engine that keeps the tunnel keys in `keys` (those the Southbound already uses).
    pub fn with_keys(keys: Keys) -> Engine {
        Engine { keys: KeyState::new(keys), ..Engine::default() }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys.keys
    }

    /// One line per Northbound row that could not be used (it was left out; everything else was
    /// translated), sorted.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The whole desired Southbound (for goldens and tests).
    pub fn desired(&self) -> DesiredSb {
        DesiredSb {
            datapaths: self.datapaths.clone(),
            ports: self.ports.clone(),
            mc_groups: self.mc_groups.clone(),
            ha_groups: self.ha_groups.clone(),
            named: self.named.clone(),
            lflows: self.flow_refs.values().map(|(f, _)| f.clone()).collect(),
        }
    }

    pub fn desired_dp(&self, nb: &Uuid) -> Option<&Datapath> {
        self.datapaths.get(nb)
    }

    pub fn desired_port(&self, name: &str) -> Option<&PortBinding> {
        self.ports.get(name)
    }

    pub fn desired_mc(&self, key: &(Uuid, String)) -> Option<&MulticastGroup> {
        self.mc_groups.get(key)
    }

    pub fn desired_ha(&self, name: &str) -> Option<&HaChassisGroup> {
        self.ha_groups.get(name)
    }

    pub fn desired_named(&self, key: &named_rows::Key) -> Option<&named_rows::Values> {
        self.named.get(key)
    }

    /// The desired flow with this [`Lflow::key_hash`].
    pub fn flow(&self, key: u64) -> Option<&Lflow> {
        self.flow_refs.get(&key).map(|(f, _)| f)
    }

    /// Names of every desired HA chassis group.
    pub fn ha_names(&self) -> impl Iterator<Item = &str> {
        self.ha_groups.keys().map(String::as_str)
    }

    /// Leaves the reads `hide` matches out of the records, as if a builder had read them behind the
    /// recorder's back: for the test that shows the incremental-equals-full comparison catches that.
    #[doc(hidden)]
    pub fn hide_reads(&mut self, hide: fn(&Dep) -> bool) {
        self.hidden = Some(hide);
    }

    /// Computes every unit of `ix` (an engine started empty: a full translation). Tunnel keys given to
    /// [`Engine::with_keys`] that no row claims are dropped afterwards.
    pub fn run_full(&mut self, ix: &NbIndex) -> Delta {
        let nb = ix.snapshot();
        let mut ids: Vec<UnitId> = Vec::new();
        ids.extend(nb.switches.keys().map(|u| UnitId::Switch(*u)));
        ids.extend(nb.routers.keys().map(|u| UnitId::Router(*u)));
        ids.extend(nb.switch_ports.keys().map(|u| UnitId::SwitchPort(*u)));
        ids.extend(nb.router_ports.keys().map(|u| UnitId::RouterPort(*u)));
        ids.extend(nb.static_routes.keys().map(|u| UnitId::Route(*u)));
        ids.extend(nb.nats.keys().map(|u| UnitId::Nat(*u)));
        ids.extend(nb.port_groups.keys().map(|u| UnitId::PortGroup(*u)));
        ids.extend(nb.address_sets.keys().map(|u| UnitId::AddressSet(*u)));
        ids.extend(self.units.keys().copied());
        let delta = self.recompute(ix, ids);
        // Keys read from the Southbound for rows that are gone.
        let (dps, ports) = (&self.datapaths, &self.ports);
        let stale_dps: Vec<Uuid> = self.keys.keys.datapaths.keys().filter(|d| !dps.contains_key(d)).copied().collect();
        for d in stale_dps {
            self.keys.release_datapath(d);
        }
        let stale_ports: Vec<(Uuid, String)> = self
            .keys
            .keys
            .ports
            .iter()
            .flat_map(|(dp, names)| names.keys().map(move |n| (*dp, n)))
            .filter(|(dp, n)| ports.get(n.as_str()).is_none_or(|p| p.datapath != *dp))
            .map(|(dp, n)| (dp, n.clone()))
            .collect();
        for (dp, n) in stale_ports {
            self.keys.release_port(dp, &n);
        }
        tracing::debug!(
            units = self.units.len(),
            reads = self.units.values().map(|u| u.deps.len()).sum::<usize>(),
            deps = self.readers.len(),
            flows = self.flow_refs.len(),
            "full translation"
        );
        delta
    }

    /// Recomputes the units that read any of `changed` (as [`NbIndex::apply_changes`] reports them), adds
    /// the units of new rows and drops those of deleted rows.
    pub fn run_changes(&mut self, ix: &NbIndex, changed: &[Dep]) -> Delta {
        let mut ids: Vec<UnitId> = Vec::new();
        for d in changed {
            if let Some(readers) = self.readers.get(d) {
                ids.extend(readers.iter().copied());
            }
            // A unit's own row and its own owner are not in `readers` (see `own_read`).
            match d {
                Dep::Row(t, u) => ids.extend(UnitId::of_row(*t, *u)),
                Dep::Owner(u) => ids.extend([UnitId::SwitchPort(*u), UnitId::RouterPort(*u), UnitId::Route(*u), UnitId::Nat(*u)]),
                _ => {}
            }
        }
        self.recompute(ix, ids)
    }

    fn recompute(&mut self, ix: &NbIndex, mut ids: Vec<UnitId>) -> Delta {
        let nb = ix.snapshot();
        ids.sort_unstable();
        ids.dedup();
        let mut order: Vec<(u8, &str, UnitId)> = ids.into_iter().map(|id| id.order(nb)).collect();
        order.sort_unstable();
        let mut delta = Delta::default();
        for (_, _, id) in order {
            if !id.exists(nb) {
                if let Some(old) = self.units.remove(&id) {
                    self.unread(id, &old.deps);
                    self.retract(&old, &mut delta, &BTreeSet::new());
                    // A datapath keeps its key while its row lives (a recomputed switch keeps it).
                    for d in &old.datapaths {
                        self.keys.release_datapath(*d);
                    }
                }
                continue;
            }
            let mut reader = Reader::new(ix, &self.keys.keys);
            let mut out = Out::default();
            id.run(&mut reader, &mut out);
            delta.recomputed += 1;
            let mut deps = reader.into_deps();
            deps.retain(|d| !own_read(id, d));
            if let Some(hide) = self.hidden {
                deps.retain(|d| !hide(d));
            }
            let old = self.units.remove(&id).unwrap_or_default();
            if old.deps != deps {
                self.unread(id, &old.deps);
                for d in &deps {
                    self.readers.entry(*d).or_default().push(id);
                }
            }
            // Keys of ports the unit still has are kept through the retract.
            let kept: BTreeSet<(String, Uuid)> = out.ports.iter().map(|p| (p.logical_port.clone(), p.datapath)).collect();
            self.retract(&old, &mut delta, &kept);
            let unit = self.assert(out, deps, &mut delta);
            self.units.insert(id, unit);
        }
        let mut warnings: Vec<String> = nb.errors.iter().map(|e| e.to_string()).collect();
        warnings.extend(self.unit_warnings.keys().cloned());
        warnings.sort();
        warnings.dedup();
        self.warnings = warnings;
        // A flow both removed and added in one round (moved between units) is neither. With nothing
        // removed (a first pass, a new port), every flow added is new, once, and still wanted.
        if !delta.removed.is_empty() {
            let added: BTreeSet<u64> = delta.added.iter().copied().collect();
            let removed: BTreeSet<u64> = delta.removed.iter().copied().collect();
            let both: BTreeSet<u64> = added.intersection(&removed).copied().collect();
            delta.added.retain(|f| !both.contains(f) && self.flow_refs.contains_key(f));
            delta.removed.retain(|f| !both.contains(f) && !self.flow_refs.contains_key(f));
        }
        delta.added.sort_unstable();
        delta.added.dedup();
        delta.removed.sort_unstable();
        delta.removed.dedup();
        delta
    }

    fn unread(&mut self, id: UnitId, deps: &[Dep]) {
        for d in deps {
            if let Some(v) = self.readers.get_mut(d) {
                if let Some(i) = v.iter().position(|x| *x == id) {
                    v.swap_remove(i);
                }
                if v.is_empty() {
                    self.readers.remove(d);
                }
            }
        }
    }

    fn assert(&mut self, out: Out, deps: Vec<Dep>, delta: &mut Delta) -> Unit {
        let mut unit = Unit { deps, ..Unit::default() };
        for f in out.flows {
            let key = f.key_hash();
            unit.flow_ids.push(key);
            match self.flow_refs.entry(key) {
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    if e.get().0 != f {
                        tracing::error!(kept = ?e.get().0, lost = ?f, "two logical flows with one key hash");
                    }
                    e.get_mut().1 += 1;
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert((f, 1));
                    delta.added.push(key);
                }
            }
        }
        for mut d in out.datapaths {
            d.tunnel_key = self.keys.datapath(d.nb_uuid);
            delta.datapaths.insert(d.nb_uuid);
            unit.datapaths.push(d.nb_uuid);
            self.datapaths.insert(d.nb_uuid, d);
        }
        let mut ports = out.ports;
        ports.sort_by(|a, b| a.logical_port.cmp(&b.logical_port));
        for mut p in ports {
            p.tunnel_key = self.keys.port(p.datapath, &p.logical_port);
            delta.ports.insert(p.logical_port.clone());
            unit.ports.push((p.logical_port.clone(), p.datapath));
            self.ports.insert(p.logical_port.clone(), p);
        }
        for (dp, name, tunnel_key) in out.mc_groups {
            let key = (dp, name.to_string());
            delta.mc_groups.insert(key.clone());
            let ports = self.mc_orphans.remove(&key).unwrap_or_default();
            self.mc_groups.insert(key, MulticastGroup { datapath: dp, name: name.to_string(), tunnel_key, ports });
            unit.mc_groups.push((dp, name));
        }
        for (dp, name, port) in out.mc_members {
            let key = (dp, name.to_string());
            match self.mc_groups.get_mut(&key) {
                Some(g) => drop(g.ports.insert(port.clone())),
                None => drop(self.mc_orphans.entry(key.clone()).or_default().insert(port.clone())),
            }
            delta.mc_groups.insert(key);
            unit.mc_members.push((dp, name, port));
        }
        for g in out.ha_groups {
            delta.ha_groups.insert(g.name.clone());
            unit.ha_groups.push(g.name.clone());
            self.ha_groups.insert(g.name.clone(), g);
        }
        for (key, values) in out.named {
            delta.named.insert(key.clone());
            *self.named_refs.entry(key.clone()).or_default() += 1;
            self.named.insert(key.clone(), values);
            unit.named.push(key);
        }
        for w in out.warnings {
            *self.unit_warnings.entry(w.clone()).or_default() += 1;
            unit.warnings.push(w);
        }
        // Units live as long as their rows, one per row: no growth slack.
        unit.flow_ids.shrink_to_fit();
        unit.ports.shrink_to_fit();
        unit.mc_members.shrink_to_fit();
        unit
    }

    /// Takes a unit's output back out. Tunnel keys of the ports in `kept` (the unit's new output) stay.
    fn retract(&mut self, old: &Unit, delta: &mut Delta, kept: &BTreeSet<(String, Uuid)>) {
        for key in &old.flow_ids {
            if let Some((_, n)) = self.flow_refs.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    self.flow_refs.remove(key);
                    delta.removed.push(*key);
                }
            }
        }
        for d in &old.datapaths {
            delta.datapaths.insert(*d);
            self.datapaths.remove(d);
        }
        for (name, dp) in &old.ports {
            delta.ports.insert(name.clone());
            if self.ports.get(name).is_some_and(|p| p.datapath == *dp) {
                self.ports.remove(name);
            }
            if !kept.contains(&(name.clone(), *dp)) {
                self.keys.release_port(*dp, name);
            }
        }
        for (dp, name) in &old.mc_groups {
            let key = (*dp, name.to_string());
            delta.mc_groups.insert(key.clone());
            if let Some(g) = self.mc_groups.remove(&key) {
                if !g.ports.is_empty() {
                    self.mc_orphans.insert(key, g.ports);
                }
            }
        }
        for (dp, name, port) in &old.mc_members {
            let key = (*dp, name.to_string());
            match self.mc_groups.get_mut(&key) {
                Some(g) => drop(g.ports.remove(port)),
                None => {
                    if let Some(o) = self.mc_orphans.get_mut(&key) {
                        o.remove(port);
                        if o.is_empty() {
                            self.mc_orphans.remove(&key);
                        }
                    }
                }
            }
            delta.mc_groups.insert(key);
        }
        for g in &old.ha_groups {
            delta.ha_groups.insert(g.clone());
            self.ha_groups.remove(g);
        }
        for key in &old.named {
            delta.named.insert(key.clone());
            if let Some(n) = self.named_refs.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    self.named_refs.remove(key);
                    self.named.remove(key);
                }
            }
        }
        for w in &old.warnings {
            if let Some(n) = self.unit_warnings.get_mut(w) {
                *n -= 1;
                if *n == 0 {
                    self.unit_warnings.remove(w);
                }
            }
        }
    }
}
