//! The logical-flow cache: compiled OpenFlow flows per (Logical_Flow, datapath), kept current from the
//! Southbound replica's change sets so that a changed logical flow, port binding, address set, ... only
//! recompiles the logical flows it can affect.
//!
//! ```text
//!   Replica::take_changes() ─▶ LflowCache::update
//!      │  1. keep the SbView current row by row (datapaths, ports, residency, address sets, port groups),
//!      │     noting every *effective* lookup value that changed:  Dep::Port(dp, name), Dep::Resident(name),
//!      │     Dep::AddressSet(name), Dep::PortGroup(name)
//!      │  2. dirty = changed Logical_Flows + flows naming a changed Datapath_Binding / Logical_DP_Group
//!      │            + the entries that looked up a changed Dep (reverse index `users`)
//!      │  3. recompile only the dirty entries, each through a Lookup that records what it looked up
//!      ▼
//!   Delta { (lflow, datapath): old flows -> new flows }  ─▶ ofctrl's desired table
//! ```
//!
//! Why record lookups rather than parse matches for names: the compiler is the only authority on what a
//! flow reads (`inport == "p"`, `outport = "_MC_flood"`, `is_chassis_resident("cr-p")`, `$as`, `@pg`,
//! names inside actions), so wrapping its [`Lookup`] gives exact dependencies for free. A row change that
//! does not change what a lookup answers (the controller writing `Port_Binding.up`, say) dirties nothing.
//!
//! Conjunction ids: a fresh [`compile_all`](crate::sbview::compile_all) numbers conjunctions in the order of
//! every flow, so recompiling one flow would renumber all later ones. Here each entry owns the ids it was
//! given; removing an entry returns them to a free list (LIFO), and a new id comes from the free list or,
//! when it is empty, from a monotonic counter. Recompiling an entry returns its id first, so an unchanged
//! recompilation gets its old id back and produces byte-identical flows (no OpenFlow churn). Ids stay
//! unique among the entries alive at any time, which is all OpenFlow needs: the old and new flows of one
//! update go to the switch in one atomic bundle.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use model::ovsdb::{Atom, Replica, Row, Uuid};

use crate::expr::compile::Lookup;
use crate::expr::lexer::Num;
use crate::layout::Pipeline;
use crate::lflow::{compile_lflow, LflowError, LogicalFlow};
use crate::ofp::Flow;
use crate::sbview::{constant, DatapathInfo, FlowFailure, SbView};

/// One cached compilation: a Logical_Flow on one of its datapaths.
pub type EntryKey = (Uuid, Uuid);

/// A lookup answer a compiled flow depended on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Dep {
    /// A port or multicast group name on a datapath.
    Port(Uuid, String),
    /// `is_chassis_resident(name)`.
    Resident(String),
    AddressSet(String),
    PortGroup(String),
}

#[derive(Debug, Default)]
struct Entry {
    flows: Vec<Flow>,
    failure: Option<LflowError>,
    conj_ids: Vec<u32>,
    deps: BTreeSet<Dep>,
}

/// Conjunction ids: a free list over a monotonic counter (see the module comment).
#[derive(Debug, Default)]
struct ConjIds {
    last: u32,
    free: Vec<u32>,
}

impl ConjIds {
    fn alloc(&mut self) -> u32 {
        self.free.pop().unwrap_or_else(|| {
            self.last += 1;
            self.last
        })
    }
    fn release(&mut self, ids: &[u32]) {
        // Reversed so that the next allocations hand them out in the original order.
        self.free.extend(ids.iter().rev());
    }
}

/// A [`Lookup`] that records what it was asked.
struct Recording<'a> {
    view: &'a SbView,
    datapath: Uuid,
    deps: RefCell<BTreeSet<Dep>>,
}

impl Lookup for Recording<'_> {
    fn port_key(&self, name: &str) -> Option<u32> {
        self.deps.borrow_mut().insert(Dep::Port(self.datapath, name.to_string()));
        self.view.lookup(self.datapath).port_key(name)
    }
    fn is_chassis_resident(&self, port: &str) -> bool {
        self.deps.borrow_mut().insert(Dep::Resident(port.to_string()));
        self.view.lookup(self.datapath).is_chassis_resident(port)
    }
    fn address_set(&self, name: &str) -> Option<Vec<Num>> {
        self.deps.borrow_mut().insert(Dep::AddressSet(name.to_string()));
        self.view.lookup(self.datapath).address_set(name)
    }
    fn port_group(&self, name: &str) -> Option<Vec<String>> {
        // The per-datapath name (`<key>_<name>`) is tried first, then the plain one: both are inputs.
        let key = self.view.datapaths.get(&self.datapath).map(|d| d.key).unwrap_or(0);
        let mut deps = self.deps.borrow_mut();
        deps.insert(Dep::PortGroup(format!("{key}_{name}")));
        deps.insert(Dep::PortGroup(name.to_string()));
        drop(deps);
        self.view.lookup(self.datapath).port_group(name)
    }
}

/// What a port-like row (Port_Binding or Multicast_Group) contributes to the view.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PortRow {
    datapath: Uuid,
    name: String,
    key: u32,
    resident: bool,
}

/// Rows by name, so that when several rows share a name the view keeps the one a fresh read keeps
/// (the last in UUID order; Multicast_Groups after Port_Bindings).
type ByName<K> = HashMap<K, BTreeSet<(u8, Uuid)>>;

/// What one [`LflowCache::update`] changed.
#[derive(Debug, Default)]
pub struct Delta {
    /// Per entry whose flows changed: the flows it had and the flows it has now (either may be empty).
    pub changes: Vec<(EntryKey, Vec<Flow>, Vec<Flow>)>,
    /// Entries compiled in this update (changed or not).
    pub recompiled: usize,
    /// Failures of the entries compiled in this update.
    pub failures: Vec<FlowFailure>,
    /// Set while building a cache from scratch, whose caller reads the entries instead of a delta: the
    /// changes are then not recorded (that would copy every compiled flow once more, only to drop it).
    skip_changes: bool,
}

/// The cache. Build it with [`LflowCache::full`], then feed it every change set of the same replica.
#[derive(Debug)]
pub struct LflowCache {
    chassis: String,
    view: SbView,
    entries: BTreeMap<EntryKey, Entry>,
    /// Dep -> the entries whose compilation looked it up.
    users: HashMap<Dep, BTreeSet<EntryKey>>,
    /// Logical_Flow -> (datapaths it names directly or through its group, the group).
    refs: HashMap<Uuid, (Vec<Uuid>, Option<Uuid>)>,
    /// Datapath_Binding / Logical_DP_Group -> Logical_Flows that name it (whether or not it exists yet).
    on_datapath: HashMap<Uuid, BTreeSet<Uuid>>,
    on_group: HashMap<Uuid, BTreeSet<Uuid>>,
    our_chassis: Option<Uuid>,
    port_rows: HashMap<Uuid, PortRow>,
    ports_by_name: ByName<(Uuid, String)>,
    resident_rows: HashMap<String, BTreeSet<Uuid>>,
    address_set_rows: HashMap<Uuid, String>,
    address_sets_by_name: ByName<String>,
    port_group_rows: HashMap<Uuid, String>,
    port_groups_by_name: ByName<String>,
    conj: ConjIds,
    /// Compilations done ahead, in parallel, by [`LflowCache::precompile`] for the current update; consumed
    /// by `recompile_entry` (always empty between updates).
    precompiled: HashMap<EntryKey, Precompiled>,
}

/// One entry compiled ahead of the sequential pass: its result and what it looked up.
type Precompiled = (Result<Vec<Flow>, LflowError>, BTreeSet<Dep>);

/// Below this many dirty logical flows an update compiles on the calling thread only (spawning threads
/// costs tens of microseconds; a few hundred logical flows take milliseconds to compile). Everyday
/// updates (a port, an address set) stay well below it.
const PARALLEL_MIN: usize = 256;

const PB: u8 = 0;
const MC: u8 = 1;

pub(crate) fn lflow_datapaths(sb: &Replica, lf: &Row) -> (Vec<Uuid>, Option<Uuid>) {
    let mut dps: Vec<Uuid> = lf.get("logical_datapath").uuids().collect();
    let group = lf.get("logical_dp_group").as_uuid();
    if let Some(g) = group.and_then(|g| sb.row(model::sb::table::LOGICAL_DP_GROUP, g)) {
        dps.extend(g.get("datapaths").uuids());
    }
    let mut seen = BTreeSet::new();
    dps.retain(|d| seen.insert(*d));
    (dps, group)
}

/// Compiles one logical flow on one datapath (shared with [`compile_all`](crate::sbview::compile_all)).
pub(crate) fn compile_on(
    lf: &Row,
    info: &DatapathInfo,
    lookup: &dyn Lookup,
    next_conj: &mut dyn FnMut() -> u32,
) -> Result<Vec<Flow>, LflowError> {
    let pipeline = if lf.str("pipeline") == "egress" { Pipeline::Egress } else { Pipeline::Ingress };
    let logical = LogicalFlow {
        uuid: lf.uuid.0,
        pipeline,
        table_id: lf.get("table_id").as_i64().unwrap_or(0) as u8,
        priority: lf.get("priority").as_i64().unwrap_or(0) as u16,
        match_: lf.str("match"),
        actions: lf.str("actions"),
        datapath_key: info.key,
        is_router: info.is_router,
    };
    compile_lflow(&logical, lookup, next_conj)
}

pub(crate) fn datapath_info(dp: &Row) -> DatapathInfo {
    let ids = dp.get("external_ids");
    let name = ids.get("name").and_then(Atom::as_str).unwrap_or("").to_string();
    let is_router = ids.get("logical-router").is_some();
    let key = dp.get("tunnel_key").as_i64().unwrap_or(0) as u32;
    DatapathInfo { key, is_router, name }
}

/// The last row of a name, as a fresh read (which inserts in UUID order, later rows overwriting) keeps it.
fn last_of<K: std::hash::Hash + Eq>(by_name: &ByName<K>, name: &K) -> Option<(u8, Uuid)> {
    by_name.get(name).and_then(|s| s.iter().next_back()).copied()
}

fn index_row<K: std::hash::Hash + Eq + Clone>(by_name: &mut ByName<K>, name: &K, row: (u8, Uuid), present: bool) {
    if present {
        by_name.entry(name.clone()).or_default().insert(row);
    } else if let Some(s) = by_name.get_mut(name) {
        s.remove(&row);
        if s.is_empty() {
            by_name.remove(name);
        }
    }
}

impl LflowCache {
    /// Compiles everything (every row of the replica counts as new).
    pub fn full(sb: &Replica, chassis: &str) -> LflowCache {
        let mut cache = LflowCache {
            chassis: chassis.to_string(),
            view: SbView::default(),
            entries: BTreeMap::new(),
            users: HashMap::new(),
            refs: HashMap::new(),
            on_datapath: HashMap::new(),
            on_group: HashMap::new(),
            our_chassis: None,
            port_rows: HashMap::new(),
            ports_by_name: HashMap::new(),
            resident_rows: HashMap::new(),
            address_set_rows: HashMap::new(),
            address_sets_by_name: HashMap::new(),
            port_group_rows: HashMap::new(),
            port_groups_by_name: HashMap::new(),
            conj: ConjIds::default(),
            precompiled: HashMap::new(),
        };
        let mut all: BTreeMap<String, BTreeSet<Uuid>> = BTreeMap::new();
        for t in crate::sbview::TABLES {
            all.insert(t.to_string(), sb.table(t).map(|r| r.uuid).collect());
        }
        cache.update_with(sb, &all, Delta { skip_changes: true, ..Delta::default() });
        cache
    }

    /// The chassis this cache compiles for.
    pub fn chassis(&self) -> &str {
        &self.chassis
    }

    /// The Southbound view, kept current incrementally.
    pub fn view(&self) -> &SbView {
        &self.view
    }

    /// Every cached entry and its flows.
    pub fn entries(&self) -> impl Iterator<Item = (EntryKey, &[Flow])> {
        self.entries.iter().map(|(k, e)| (*k, e.flows.as_slice()))
    }

    /// Every flow, in entry order.
    pub fn flows(&self) -> impl Iterator<Item = &Flow> {
        self.entries.values().flat_map(|e| e.flows.iter())
    }

    /// Every logical flow that failed to compile, as a fresh compile reports them.
    pub fn failures(&self) -> Vec<FlowFailure> {
        self.entries.iter().filter_map(|((lf, _), e)| e.failure.clone().map(|error| FlowFailure { lflow: *lf, error })).collect()
    }

    /// The conjunction ids each entry owns (for tests: they must never be shared).
    pub fn conj_ids(&self) -> impl Iterator<Item = (EntryKey, &[u32])> {
        self.entries.iter().map(|(k, e)| (*k, e.conj_ids.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Brings the cache up to date with `sb`, given the rows changed since the last update (as
    /// [`Replica::take_changes`] returns them).
    pub fn update(&mut self, sb: &Replica, changes: &BTreeMap<String, BTreeSet<Uuid>>) -> Delta {
        self.update_with(sb, changes, Delta::default())
    }

    /// [`update`](Self::update), adding to `delta`.
    fn update_with(&mut self, sb: &Replica, changes: &BTreeMap<String, BTreeSet<Uuid>>, mut delta: Delta) -> Delta {
        let changed = |t: &str| changes.get(t).into_iter().flatten().copied();
        let mut dirty_lflows: BTreeSet<Uuid> = changed(model::sb::table::LOGICAL_FLOW).collect();
        let mut dirty_deps: BTreeSet<Dep> = BTreeSet::new();

        // Datapaths: a changed key or kind recompiles every flow naming the datapath.
        for dp in changed(model::sb::table::DATAPATH_BINDING) {
            let new = sb.row("Datapath_Binding", dp).map(datapath_info);
            let old = match &new {
                Some(info) => self.view.datapaths.insert(dp, info.clone()),
                None => self.view.datapaths.remove(&dp),
            };
            if old != new {
                dirty_lflows.extend(self.on_datapath.get(&dp).into_iter().flatten());
            }
        }
        for g in changed(model::sb::table::LOGICAL_DP_GROUP) {
            dirty_lflows.extend(self.on_group.get(&g).into_iter().flatten());
        }

        // Our chassis: when its row appears or goes, every binding's residency is re-read.
        let mut port_changes: BTreeSet<Uuid> = changed("Port_Binding").collect();
        if changed("Chassis").next().is_some() {
            let ours = sb.table("Chassis").find(|c| c.str("name") == self.chassis).map(|c| c.uuid);
            if ours != self.our_chassis {
                self.our_chassis = ours;
                port_changes.extend(sb.table("Port_Binding").map(|r| r.uuid));
                port_changes.extend(self.port_rows.iter().filter(|(_, r)| r.resident).map(|(u, _)| *u));
            }
        }
        let mut touched_ports: BTreeSet<(Uuid, String)> = BTreeSet::new();
        let mut touched_resident: BTreeSet<String> = BTreeSet::new();
        let rows = port_changes.into_iter().map(|u| (PB, u)).chain(changed("Multicast_Group").map(|u| (MC, u)));
        for (kind, u) in rows.collect::<Vec<_>>() {
            let table = if kind == PB { "Port_Binding" } else { "Multicast_Group" };
            let new = sb.row(table, u).and_then(|r| {
                let datapath = r.get("datapath").as_uuid()?;
                let key = r.get("tunnel_key").as_i64().unwrap_or(0) as u32;
                let name = if kind == PB { r.str("logical_port") } else { r.str("name") }.to_string();
                let resident = kind == PB && self.our_chassis.is_some() && r.get("chassis").as_uuid() == self.our_chassis;
                Some(PortRow { datapath, name, key, resident })
            });
            let old = match &new {
                Some(p) => self.port_rows.insert(u, p.clone()),
                None => self.port_rows.remove(&u),
            };
            if old == new {
                continue;
            }
            for (p, present) in [(&old, false), (&new, true)] {
                let Some(p) = p else { continue };
                let at = (p.datapath, p.name.clone());
                index_row(&mut self.ports_by_name, &at, (kind, u), present);
                touched_ports.insert(at);
                if p.resident {
                    let set = self.resident_rows.entry(p.name.clone()).or_default();
                    if present {
                        set.insert(u);
                    } else {
                        set.remove(&u);
                    }
                    if set.is_empty() {
                        self.resident_rows.remove(&p.name);
                    }
                    touched_resident.insert(p.name.clone());
                }
            }
        }
        for (dp, name) in touched_ports {
            let want = last_of(&self.ports_by_name, &(dp, name.clone())).and_then(|(_, u)| self.port_rows.get(&u)).map(|p| p.key);
            let have = self.view.ports.get(&dp).and_then(|m| m.get(&name)).copied();
            if want == have {
                continue;
            }
            match want {
                Some(k) => {
                    self.view.ports.entry(dp).or_default().insert(name.clone(), k);
                }
                None => {
                    if let Some(m) = self.view.ports.get_mut(&dp) {
                        m.remove(&name);
                        if m.is_empty() {
                            self.view.ports.remove(&dp);
                        }
                    }
                }
            }
            dirty_deps.insert(Dep::Port(dp, name));
        }
        for name in touched_resident {
            let want = self.resident_rows.contains_key(&name);
            if want != self.view.resident.contains(&name) {
                if want {
                    self.view.resident.insert(name.clone());
                } else {
                    self.view.resident.remove(&name);
                }
                dirty_deps.insert(Dep::Resident(name));
            }
        }

        // Address sets (and SB_Global's svc_monitor_mac, which a fresh read lets win over a set of that name).
        let mut touched_sets: BTreeSet<String> = BTreeSet::new();
        for u in changed("Address_Set") {
            let new = sb.row("Address_Set", u).map(|r| r.str("name").to_string());
            let old = match &new {
                Some(n) => self.address_set_rows.insert(u, n.clone()),
                None => self.address_set_rows.remove(&u),
            };
            for (n, present) in [(old, false), (new, true)] {
                if let Some(n) = n {
                    index_row(&mut self.address_sets_by_name, &n, (0, u), present);
                    touched_sets.insert(n);
                }
            }
        }
        if changed("SB_Global").next().is_some() {
            touched_sets.insert("svc_monitor_mac".to_string());
        }
        for name in touched_sets {
            let global = if name == "svc_monitor_mac" {
                sb.table("SB_Global").next().and_then(|g| g.get("options").get("svc_monitor_mac").and_then(Atom::as_str).and_then(constant))
            } else {
                None
            };
            let want: Option<Vec<Num>> = match global {
                Some(mac) => Some(vec![mac]),
                None => last_of(&self.address_sets_by_name, &name)
                    .and_then(|(_, u)| sb.row("Address_Set", u))
                    .map(|r| r.get("addresses").strings().filter_map(constant).collect()),
            };
            if self.view.address_sets.get(&name) != want.as_ref() {
                match want {
                    Some(v) => self.view.address_sets.insert(name.clone(), v),
                    None => self.view.address_sets.remove(&name),
                };
                dirty_deps.insert(Dep::AddressSet(name));
            }
        }

        let mut touched_groups: BTreeSet<String> = BTreeSet::new();
        for u in changed("Port_Group") {
            let new = sb.row("Port_Group", u).map(|r| r.str("name").to_string());
            let old = match &new {
                Some(n) => self.port_group_rows.insert(u, n.clone()),
                None => self.port_group_rows.remove(&u),
            };
            for (n, present) in [(old, false), (new, true)] {
                if let Some(n) = n {
                    index_row(&mut self.port_groups_by_name, &n, (0, u), present);
                    touched_groups.insert(n);
                }
            }
        }
        for name in touched_groups {
            let want: Option<Vec<String>> = last_of(&self.port_groups_by_name, &name)
                .and_then(|(_, u)| sb.row("Port_Group", u))
                .map(|r| r.get("ports").strings().map(str::to_string).collect());
            if self.view.port_groups.get(&name) != want.as_ref() {
                match want {
                    Some(v) => self.view.port_groups.insert(name.clone(), v),
                    None => self.view.port_groups.remove(&name),
                };
                dirty_deps.insert(Dep::PortGroup(name));
            }
        }

        // Recompile: whole logical flows first (their datapath set may have changed), then single entries.
        self.precompile(sb, &dirty_lflows);
        for lf in &dirty_lflows {
            self.recompile_lflow(sb, *lf, &mut delta);
        }
        let mut dirty_entries: BTreeSet<EntryKey> = BTreeSet::new();
        for d in &dirty_deps {
            dirty_entries.extend(self.users.get(d).into_iter().flatten().filter(|(lf, _)| !dirty_lflows.contains(lf)));
        }
        for (lf, dp) in dirty_entries {
            if let Some(row) = sb.row("Logical_Flow", lf) {
                self.recompile_entry(row, dp, &mut delta);
            }
        }
        self.precompiled.clear();
        delta
    }

    /// Compiles the entries of many dirty logical flows ahead, on every core, so that a start or a resync
    /// (tens of thousands of logical flows, the bulk of the controller's first programming) does not
    /// compile on one core while the others idle. Compiling an entry only reads the view (already current
    /// for this update) and the replica, so the results equal what the sequential pass would compute,
    /// with one exception: conjunction ids, which must be handed out in the sequential order to keep the
    /// numbering a fresh compile gives. An entry that asks for one is therefore left out here (its
    /// result is discarded) and compiled in the sequential pass as before;
    /// since only those entries allocate ids, the ids are exactly the sequential ones.
    fn precompile(&mut self, sb: &Replica, dirty_lflows: &BTreeSet<Uuid>) {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads < 2 || dirty_lflows.len() < PARALLEL_MIN {
            return;
        }
        let started = std::time::Instant::now();
        let mut work: Vec<(&Row, Uuid, &DatapathInfo)> = Vec::new();
        for lf in dirty_lflows {
            let Some(row) = sb.row("Logical_Flow", *lf) else { continue };
            for dp in lflow_datapaths(sb, row).0 {
                if let Some(info) = self.view.datapaths.get(&dp) {
                    work.push((row, dp, info));
                }
            }
        }
        let view = &self.view;
        let chunk = work.len().div_ceil(threads).max(1);
        let results: Vec<Vec<(EntryKey, Precompiled)>> = std::thread::scope(|s| {
            let handles: Vec<_> = work
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        let mut out = Vec::with_capacity(part.len());
                        for (row, dp, info) in part {
                            let rec = Recording { view, datapath: *dp, deps: RefCell::new(BTreeSet::new()) };
                            let mut wants_conj = false;
                            let result = compile_on(row, info, &rec, &mut || {
                                wants_conj = true;
                                0
                            });
                            if !wants_conj {
                                out.push(((row.uuid, *dp), (result, rec.deps.into_inner())));
                            }
                        }
                        out
                    })
                })
                .collect();
            // A panicking worker only loses its precompilations: the sequential pass compiles them.
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        self.precompiled = results.into_iter().flatten().collect();
        tracing::debug!(
            entries = work.len(),
            precompiled = self.precompiled.len(),
            threads,
            us = started.elapsed().as_micros() as u64,
            "logical flows compiled in parallel"
        );
    }

    /// Recompiles a logical flow on every datapath it names now, dropping it where it no longer applies.
    fn recompile_lflow(&mut self, sb: &Replica, lf: Uuid, delta: &mut Delta) {
        let (old_dps, old_group) = self.refs.remove(&lf).unwrap_or_default();
        for dp in &old_dps {
            if let Some(s) = self.on_datapath.get_mut(dp) {
                s.remove(&lf);
                if s.is_empty() {
                    self.on_datapath.remove(dp);
                }
            }
        }
        if let Some(g) = old_group {
            if let Some(s) = self.on_group.get_mut(&g) {
                s.remove(&lf);
                if s.is_empty() {
                    self.on_group.remove(&g);
                }
            }
        }
        let Some(row) = sb.row("Logical_Flow", lf) else {
            for dp in old_dps {
                self.drop_entry((lf, dp), delta);
            }
            return;
        };
        let (dps, group) = lflow_datapaths(sb, row);
        for dp in &dps {
            self.on_datapath.entry(*dp).or_default().insert(lf);
        }
        if let Some(g) = group {
            self.on_group.entry(g).or_default().insert(lf);
        }
        for dp in &old_dps {
            if !dps.contains(dp) || !self.view.datapaths.contains_key(dp) {
                self.drop_entry((lf, *dp), delta);
            }
        }
        for dp in &dps {
            if self.view.datapaths.contains_key(dp) {
                self.recompile_entry(row, *dp, delta);
            } else {
                self.drop_entry((lf, *dp), delta);
            }
        }
        self.refs.insert(lf, (dps, group));
    }

    /// Removes an entry and its index records; returns it.
    fn take_entry(&mut self, key: EntryKey) -> Option<Entry> {
        let e = self.entries.remove(&key)?;
        for d in &e.deps {
            if let Some(s) = self.users.get_mut(d) {
                s.remove(&key);
                if s.is_empty() {
                    self.users.remove(d);
                }
            }
        }
        self.conj.release(&e.conj_ids);
        Some(e)
    }

    fn drop_entry(&mut self, key: EntryKey, delta: &mut Delta) {
        if let Some(e) = self.take_entry(key) {
            if !e.flows.is_empty() && !delta.skip_changes {
                delta.changes.push((key, e.flows, Vec::new()));
            }
        }
    }

    fn recompile_entry(&mut self, row: &Row, dp: Uuid, delta: &mut Delta) {
        let key = (row.uuid, dp);
        let old = self.take_entry(key);
        let Some(info) = self.view.datapaths.get(&dp) else {
            if let Some(o) = old.filter(|o| !o.flows.is_empty()) {
                delta.changes.push((key, o.flows, Vec::new()));
            }
            return;
        };
        let mut conj_ids = Vec::new();
        let (result, deps) = match self.precompiled.remove(&key) {
            Some(done) => done,
            None => {
                let rec = Recording { view: &self.view, datapath: dp, deps: RefCell::new(BTreeSet::new()) };
                let conj = &mut self.conj;
                let result = compile_on(row, info, &rec, &mut || {
                    let id = conj.alloc();
                    conj_ids.push(id);
                    id
                });
                (result, rec.deps.into_inner())
            }
        };
        let (flows, failure) = match result {
            Ok(f) => (f, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        if let Some(error) = &failure {
            delta.failures.push(FlowFailure { lflow: row.uuid, error: error.clone() });
        }
        delta.recompiled += 1;
        for d in &deps {
            self.users.entry(d.clone()).or_default().insert(key);
        }
        let old_flows = old.map(|o| o.flows).unwrap_or_default();
        if !delta.skip_changes && old_flows != flows {
            delta.changes.push((key, old_flows, flows.clone()));
        }
        self.entries.insert(key, Entry { flows, failure, conj_ids, deps });
    }
}
