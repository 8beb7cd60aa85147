//! The incremental translation engine.
//!
//! The Southbound content is the union of independent units, each a pure function of a small part of the
//! Northbound:
//!
//! ```text
//!   Switch(ls)        datapath, port bindings, multicast groups, switch flows   <- ls, its ports, their peers
//!   Router(lr)        datapath, port bindings, HA groups, router flows          <- lr, its ports, routes, NATs
//!   RouterArp(lr,lrp) ARP resolution for the switch behind one router port      <- lrp, that switch's ports
//!   Nat(lr,nat)       the flows of one NAT rule                                 <- nat, the gateway port
//! ```
//! Each round, every unit's inputs are hashed (cheap: no strings are formatted); only units whose hash
//! changed are computed again, and their old output is replaced by the new one. Flows are counted (two
//! units may produce the same flow), and the round reports which flows appeared and disappeared and which
//! Southbound rows may have changed, so the sync touches only those. A full translation is the same engine
//! started empty, so incremental and full results are the same by construction, and a property test checks
//! it anyway.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use model::nb::NbSnapshot;
use model::ovsdb::{MixHash, Uuid};

use super::topology::{Router, RouterPort, Switch, Topology};
use super::{bindings, nat, router, switch, Keys};
use crate::desired::{Datapath, DesiredSb, HaChassisGroup, Lflow, MulticastGroup, PortBinding};
use crate::stage::{DpKind, Stage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnitId {
    Switch(Uuid),
    Router(Uuid),
    RouterArp(Uuid, Uuid),
    Nat(Uuid, Uuid),
}

/// What one unit contributes. Its flows are handed to the engine's flow table when the unit is stored;
/// the unit keeps only their identities (`flow_ids`), so each flow's text is held once.
#[derive(Debug, Clone, Default, PartialEq)]
struct UnitOut {
    flows: Vec<Lflow>,
    flow_ids: Vec<u64>,
    datapaths: Vec<Datapath>,
    ports: Vec<PortBinding>,
    mc_groups: Vec<MulticastGroup>,
    ha_groups: Vec<HaChassisGroup>,
    warnings: Vec<String>,
}

impl UnitOut {
    fn from_sb(sb: DesiredSb, warnings: Vec<String>) -> UnitOut {
        UnitOut {
            flows: sb.lflows.into_iter().collect(),
            flow_ids: Vec::new(),
            datapaths: sb.datapaths.into_values().collect(),
            ports: sb.ports.into_values().collect(),
            mc_groups: sb.mc_groups.into_values().collect(),
            ha_groups: sb.ha_groups.into_values().collect(),
            warnings,
        }
    }
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
    /// Units computed in this round (for logs and tests).
    pub recomputed: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Engine {
    keys: Keys,
    units: HashMap<UnitId, (u64, UnitOut)>,
    /// Every desired flow by its key hash, with the number of units that produce it.
    flow_refs: HashMap<u64, (Lflow, u32), MixHash>,
    lsp_hashes: LspHashes,
    datapaths: BTreeMap<Uuid, Datapath>,
    ports: BTreeMap<String, PortBinding>,
    mc_groups: BTreeMap<(Uuid, String), MulticastGroup>,
    ha_groups: BTreeMap<String, HaChassisGroup>,
    warnings: Vec<String>,
}

fn hash_of<T: Hash + ?Sized>(v: &T) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// Hashes what a router port contributes to its neighbours' units.
fn hash_router_port(p: &RouterPort, h: &mut DefaultHasher) {
    p.lrp.hash(h);
    p.gateway.hash(h);
    p.peer.hash(h);
    p.router.hash(h);
}

/// Hashes a switch port without `up`: ovn-controller flips it (through northd) as ports come and go, and
/// no flow depends on it. Destructured whole, so a new column must be placed on one side or the other.
fn hash_lsp(lsp: &model::nb::LogicalSwitchPort) -> u64 {
    let mut h = DefaultHasher::new();
    let h = &mut h;
    let model::nb::LogicalSwitchPort {
        uuid,
        name,
        kind,
        options,
        addresses,
        raw_addresses,
        port_security,
        parent_name,
        tag,
        tag_request,
        enabled,
        external_ids,
    } = lsp;
    (uuid, name, kind, options, addresses, raw_addresses, port_security).hash(h);
    (parent_name, tag, tag_request, enabled, external_ids).hash(h);
    h.finish()
}

/// Switch-port hashes, kept between rounds: a round given the changed ports re-hashes only those (the
/// switches' fingerprints then combine 8-byte values instead of hashing every port's strings).
#[derive(Debug, Clone, Default)]
struct LspHashes(HashMap<Uuid, u64>);

impl LspHashes {
    fn get(&mut self, lsp: &model::nb::LogicalSwitchPort) -> u64 {
        *self.0.entry(lsp.uuid).or_insert_with(|| hash_lsp(lsp))
    }
}

/// Everything a switch unit reads.
fn switch_fingerprint(topo: &Topology, sw: &Switch, lsps: &mut LspHashes) -> u64 {
    let mut h = DefaultHasher::new();
    sw.ls.hash(&mut h);
    for p in &sw.ports {
        lsps.get(p.lsp).hash(&mut h);
        p.peer.hash(&mut h);
        if let Some(rp) = p.peer.and_then(|(lrp, _)| topo.router_port(lrp)) {
            hash_router_port(rp, &mut h);
            if rp.gateway.is_some() {
                for n in topo.router(rp.router).iter().flat_map(|r| r.nats.iter()) {
                    n.hash(&mut h);
                }
            }
        }
    }
    h.finish()
}

/// Everything a router unit reads (of its NAT rules: whether one is distributed, and the SNAT addresses).
fn router_fingerprint(lr: &Router) -> u64 {
    let mut h = DefaultHasher::new();
    lr.lr.hash(&mut h);
    for p in &lr.ports {
        hash_router_port(p, &mut h);
    }
    for r in &lr.routes {
        r.hash(&mut h);
    }
    lr.nats.iter().any(|n| n.is_distributed()).hash(&mut h);
    for ip in router::snat_ips(lr) {
        ip.hash(&mut h);
    }
    h.finish()
}

/// Everything an ARP-resolution unit reads: the router port and the switch behind it.
fn arp_fingerprint(topo: &Topology, p: &RouterPort) -> u64 {
    let mut h = DefaultHasher::new();
    hash_router_port(p, &mut h);
    if let Some(sw) = p.peer.and_then(|(_, ls)| topo.switch(ls)) {
        for sp in &sw.ports {
            sp.lsp.addresses.hash(&mut h);
            if let Some(o) = sp.peer.and_then(|(lrp, _)| topo.router_port(lrp)) {
                o.lrp.name.hash(&mut h);
                o.lrp.mac.hash(&mut h);
                o.lrp.networks.hash(&mut h);
            }
        }
    }
    h.finish()
}

/// Everything a NAT unit reads: the rule and the router's gateway port (its name, MAC, networks and
/// chassis).
fn nat_fingerprint(lr: &Router, n: &model::nb::Nat) -> u64 {
    let mut h = DefaultHasher::new();
    n.hash(&mut h);
    lr.lr.uuid.hash(&mut h);
    if let Some(gw) = lr.gateway_port() {
        hash_router_port(gw, &mut h);
    }
    h.finish()
}

/// Priority-0 flows for the stages of `dp` that have none in `sb` (see `translate::default_flows`).
fn defaults(dp: Uuid, kind: DpKind, sb: &mut DesiredSb) {
    let have: BTreeSet<Stage> =
        sb.lflows.iter().filter(|f| f.datapath == dp && f.priority == 0 && f.match_ == "1").map(|f| f.stage).collect();
    let stages: Vec<Stage> = Stage::of(kind).collect();
    for s in &stages {
        if have.contains(s) {
            continue;
        }
        let last = !stages.iter().any(|o| o.pipeline() == s.pipeline() && o.table() > s.table());
        sb.flow(dp, *s, 0, "1", if last { "output;" } else { "next;" });
    }
}

impl Engine {
    /// An empty engine that keeps the tunnel keys in `keys` (those the Southbound already uses).
    pub fn with_keys(keys: Keys) -> Engine {
        Engine { keys, ..Engine::default() }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The whole desired Southbound (for a full sync, goldens and tests).
    pub fn desired(&self) -> DesiredSb {
        DesiredSb {
            datapaths: self.datapaths.clone(),
            ports: self.ports.clone(),
            mc_groups: self.mc_groups.clone(),
            ha_groups: self.ha_groups.clone(),
            lflows: self.flow_refs.values().map(|(f, _)| f.clone()).collect(),
        }
    }

    /// The same, borrowed, for [`crate::sync::plan`].
    pub fn wanted(&self) -> crate::sync::Wanted<'_> {
        crate::sync::Wanted {
            datapaths: &self.datapaths,
            ports: &self.ports,
            mc_groups: &self.mc_groups,
            ha_groups: &self.ha_groups,
            lflows: crate::sync::in_datapath_order(self.flow_refs.iter().map(|(k, (f, _))| (*k, f)).collect()),
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

    /// The desired flow with this [`Lflow::key_hash`].
    pub fn flow(&self, key: u64) -> Option<&Lflow> {
        self.flow_refs.get(&key).map(|(f, _)| f)
    }

    /// How many flows are desired.
    pub fn flow_count(&self) -> usize {
        self.flow_refs.len()
    }

    /// Names of every desired HA chassis group.
    pub fn ha_names(&self) -> impl Iterator<Item = &str> {
        self.ha_groups.keys().map(String::as_str)
    }

    /// True unless `lsp` (the row `uuid` now, `None` when deleted) reads the same as when the engine last
    /// ran: the columns the translation ignores (`up`, which northd itself writes) do not count.
    pub fn lsp_changed(&self, uuid: Uuid, lsp: Option<&model::nb::LogicalSwitchPort>) -> bool {
        match (self.lsp_hashes.0.get(&uuid), lsp) {
            (Some(h), Some(lsp)) => *h != hash_lsp(lsp),
            (None, None) => false,
            _ => true,
        }
    }

    /// Brings the desired Southbound up to date with `nb`, recomputing only what changed (every input is
    /// hashed again).
    pub fn run(&mut self, nb: &NbSnapshot) -> Delta {
        self.lsp_hashes.0.clear();
        self.run_changed(nb, &BTreeSet::new())
    }

    /// [`Engine::run`] for a caller that knows which `Logical_Switch_Port` rows changed since the last run
    /// (inserted, modified or deleted, as `Replica::take_changes` reports them): only those are hashed again.
    pub fn run_changed(&mut self, nb: &NbSnapshot, changed_ports: &BTreeSet<Uuid>) -> Delta {
        for u in changed_ports {
            self.lsp_hashes.0.remove(u);
        }
        if self.lsp_hashes.0.len() > 2 * nb.switch_ports.len() + 1024 {
            self.lsp_hashes.0.retain(|u, _| nb.switch_ports.contains_key(u));
        }
        let mut warnings: Vec<String> = nb.errors.iter().map(|e| e.to_string()).collect();
        let started = std::time::Instant::now();
        let topo = Topology::build(nb, &mut warnings);
        bindings::datapath_keys(&topo, &mut self.keys);
        tracing::trace!(us = started.elapsed().as_micros() as u64, "topology built");
        let mut delta = Delta::default();
        let mut live: BTreeSet<UnitId> = BTreeSet::new();

        // Units in a fixed order (switches, then routers, by name) so new keys go out deterministically.
        let mut switches: Vec<&Switch> = topo.switches.iter().collect();
        switches.sort_by(|a, b| (&a.ls.name, a.ls.uuid).cmp(&(&b.ls.name, b.ls.uuid)));
        for sw in switches {
            let id = UnitId::Switch(sw.ls.uuid);
            live.insert(id);
            let fp = switch_fingerprint(&topo, sw, &mut self.lsp_hashes) ^ hash_of(&self.keys.datapaths.get(&sw.ls.uuid));
            self.refresh(id, fp, &mut delta, |keys| {
                let mut sb = DesiredSb::default();
                bindings::switch_rows(&topo, sw, keys, &mut sb);
                switch::build(&topo, sw, &mut sb);
                defaults(sw.ls.uuid, DpKind::Switch, &mut sb);
                UnitOut::from_sb(sb, Vec::new())
            });
        }
        let mut routers: Vec<&Router> = topo.routers.iter().collect();
        routers.sort_by(|a, b| (&a.lr.name, a.lr.uuid).cmp(&(&b.lr.name, b.lr.uuid)));
        for lr in routers {
            let id = UnitId::Router(lr.lr.uuid);
            live.insert(id);
            let fp = router_fingerprint(lr) ^ hash_of(&self.keys.datapaths.get(&lr.lr.uuid));
            self.refresh(id, fp, &mut delta, |keys| {
                let mut sb = DesiredSb::default();
                let mut w = Vec::new();
                bindings::router_rows(lr, keys, &mut sb);
                router::build(&topo, lr, &mut sb, &mut w);
                defaults(lr.lr.uuid, DpKind::Router, &mut sb);
                UnitOut::from_sb(sb, w)
            });
            for p in &lr.ports {
                let id = UnitId::RouterArp(lr.lr.uuid, p.lrp.uuid);
                live.insert(id);
                self.refresh(id, arp_fingerprint(&topo, p), &mut delta, |_| {
                    let mut sb = DesiredSb::default();
                    router::arp_resolve(&topo, lr, p, &mut sb);
                    UnitOut::from_sb(sb, Vec::new())
                });
            }
            for n in &lr.nats {
                let id = UnitId::Nat(lr.lr.uuid, n.uuid);
                live.insert(id);
                self.refresh(id, nat_fingerprint(lr, n), &mut delta, |_| {
                    let mut sb = DesiredSb::default();
                    nat::build_one(lr, n, &mut sb);
                    UnitOut::from_sb(sb, Vec::new())
                });
            }
        }
        let gone: Vec<UnitId> = self.units.keys().filter(|id| !live.contains(id)).copied().collect();
        for id in gone {
            if let Some((_, old)) = self.units.remove(&id) {
                self.retract(&old, &mut delta);
            }
        }
        for (_, out) in self.units.values() {
            warnings.extend(out.warnings.iter().cloned());
        }
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

    /// Recomputes a unit when its fingerprint changed.
    fn refresh(&mut self, id: UnitId, fp: u64, delta: &mut Delta, compute: impl FnOnce(&mut Keys) -> UnitOut) {
        if self.units.get(&id).is_some_and(|(old, _)| *old == fp) {
            return;
        }
        let started = std::time::Instant::now();
        let mut new = compute(&mut self.keys);
        tracing::trace!(unit = ?id, flows = new.flows.len(), us = started.elapsed().as_micros() as u64, "unit recomputed");
        delta.recomputed += 1;
        if let Some((_, old)) = self.units.remove(&id) {
            self.retract(&old, delta);
        }
        self.assert(&mut new, delta);
        self.units.insert(id, (fp, new));
    }

    fn assert(&mut self, out: &mut UnitOut, delta: &mut Delta) {
        for f in std::mem::take(&mut out.flows) {
            let key = f.key_hash();
            out.flow_ids.push(key);
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
        for d in &out.datapaths {
            delta.datapaths.insert(d.nb_uuid);
            self.datapaths.insert(d.nb_uuid, d.clone());
        }
        for p in &out.ports {
            delta.ports.insert(p.logical_port.clone());
            self.ports.insert(p.logical_port.clone(), p.clone());
        }
        for m in &out.mc_groups {
            delta.mc_groups.insert((m.datapath, m.name.clone()));
            self.mc_groups.insert((m.datapath, m.name.clone()), m.clone());
        }
        for g in &out.ha_groups {
            delta.ha_groups.insert(g.name.clone());
            self.ha_groups.insert(g.name.clone(), g.clone());
        }
    }

    fn retract(&mut self, out: &UnitOut, delta: &mut Delta) {
        for key in &out.flow_ids {
            if let Some((_, n)) = self.flow_refs.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    self.flow_refs.remove(key);
                    delta.removed.push(*key);
                }
            }
        }
        for d in &out.datapaths {
            delta.datapaths.insert(d.nb_uuid);
            self.datapaths.remove(&d.nb_uuid);
        }
        for p in &out.ports {
            delta.ports.insert(p.logical_port.clone());
            self.ports.remove(&p.logical_port);
        }
        for m in &out.mc_groups {
            delta.mc_groups.insert((m.datapath, m.name.clone()));
            self.mc_groups.remove(&(m.datapath, m.name.clone()));
        }
        for g in &out.ha_groups {
            delta.ha_groups.insert(g.name.clone());
            self.ha_groups.remove(&g.name);
        }
    }
}
