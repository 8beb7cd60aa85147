//! The Northbound as the builders see it: typed rows plus the relations between them (which switch lists a
//! port, which router port a switch port attaches, ...), read only through a [`Reader`] that records every
//! read as a [`Dep`].
//!
//! ```text
//!   Replica changes ─▶ NbIndex::apply_changes ─▶ typed rows updated, relations updated
//!                                              └▶ the Deps whose answer may have changed
//!                                                         │
//!   Engine: unit ◀── reverse index (Dep -> units that read it) ◀┘   recompute exactly those units
//!     └─ builder(&mut Reader) ─▶ output + the Deps it read (stored, replacing the unit's old ones)
//! ```
//!
//! Why relations are Deps of their own, not reads of the rows they come from: a switch's `ports` column
//! changes with every port added to it. If each port's builder read the switch row to learn its datapath,
//! adding one pod to a 10,000-port switch would recompute 10,000 ports. Instead a port's builder reads
//! [`Dep::Owner`] of its own UUID, which changes only when that port joins or leaves a switch; the
//! switch row's [`Dep::Row`] covers its other columns, and each list column is a [`Dep::Children`].
//!
//! A Dep that is reported changed when its answer did not is harmless (a unit recomputed for nothing);
//! one that is not reported when its answer did change leaves stale Southbound rows. So every relation
//! is maintained here, in one place, next to the code that says which Deps its changes touch, and the
//! property test `northd/tests/incremental.rs` compares the result with a full translation.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use model::addr::LspAddress;
use model::nb::{
    self, AddressSet, GatewayChassis, LogicalRouter, LogicalRouterPort, LogicalSwitch, LogicalSwitchPort, Nat, NbSnapshot, PortGroup,
    StaticRoute,
};
use model::ovsdb::{Replica, Uuid};

use super::Keys;

/// The Northbound tables the builders read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tab {
    Switch,
    SwitchPort,
    Router,
    RouterPort,
    GatewayChassis,
    Nat,
    Route,
    PortGroup,
    AddressSet,
}

impl Tab {
    fn of(name: &str) -> Option<Tab> {
        Some(match name {
            nb::table::LOGICAL_SWITCH => Tab::Switch,
            nb::table::LOGICAL_SWITCH_PORT => Tab::SwitchPort,
            nb::table::LOGICAL_ROUTER => Tab::Router,
            nb::table::LOGICAL_ROUTER_PORT => Tab::RouterPort,
            nb::table::GATEWAY_CHASSIS => Tab::GatewayChassis,
            nb::table::NAT => Tab::Nat,
            nb::table::STATIC_ROUTE => Tab::Route,
            nb::table::PORT_GROUP => Tab::PortGroup,
            nb::table::ADDRESS_SET => Tab::AddressSet,
            _ => return None,
        })
    }
}

/// The list (UUID set) columns of switches and routers, whose members are children owned by the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum List {
    Ports,
    Nat,
    Routes,
}

/// One thing a builder read. See the module doc for why relations are separate from rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dep {
    /// A typed row, except the list columns of switches and routers.
    Row(Tab, Uuid),
    /// Which switch or router lists this child (port, NAT, route).
    Owner(Uuid),
    /// One list column of a switch or router.
    Children(Uuid, List),
    /// The router port with this name (hash of the name).
    RouterPortNamed(u64),
    /// The `router` switch ports whose `router-port` names this router port (hash of the name).
    Peer(u64),
    /// The `router` ports of a switch.
    RouterPortsOf(Uuid),
    /// Whether a switch has a port with `unknown` addresses.
    HasUnknown(Uuid),
    /// Whether a router has an SNAT rule with this external IP (a router port whose address is one lets
    /// replies reach unsnat): a relation, so that a FIP added to a router with 1,000 NAT rules does not
    /// recompute every router port that would otherwise read them all.
    /// (The address as a hash: an `IpAddr` would make every Dep 48 bytes instead of 32; two addresses
    /// with one hash only recompute a unit for nothing.)
    SnatIp(Uuid, u64),
    /// A router's gateway ports (those with gateway chassis): what its NAT rules need of its ports, so
    /// that a NAT rule's builder does not read every port of the router.
    GatewaysOf(Uuid),
}

fn ip_hash(ip: std::net::IpAddr) -> u64 {
    let mut h = DefaultHasher::new();
    ip.hash(&mut h);
    h.finish()
}

fn name_hash(name: &str) -> u64 {
    let mut h = DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

/// True if the port accepts packets for unknown MACs.
pub fn has_unknown(lsp: &LogicalSwitchPort) -> bool {
    lsp.addresses.iter().any(|a| matches!(a, LspAddress::Unknown))
}

/// The router port a `router` switch port names, if it is one.
fn router_port_name(lsp: &LogicalSwitchPort) -> Option<&str> {
    (lsp.kind == "router").then(|| lsp.router_port()).flatten()
}

/// Where one switch port was counted in the per-switch relations, to take it out again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Counted {
    switch: Uuid,
    router: bool,
    unknown: bool,
}

/// The typed Northbound and its relations. Built once from a snapshot, then kept current with
/// [`NbIndex::apply_changes`].
#[derive(Debug, Clone, Default)]
pub struct NbIndex {
    nb: NbSnapshot,
    /// child UUID -> the switches or routers listing it (normally one; more is a warning).
    /// (A sorted vector, not a set: nearly every child has one owner, and a set's node is ~200 bytes.)
    owners: HashMap<Uuid, Vec<Uuid>>,
    /// Router port name -> router ports with that name.
    lrp_named: HashMap<String, BTreeSet<Uuid>>,
    /// Router port name -> the `router` switch ports naming it.
    peers: HashMap<String, BTreeSet<Uuid>>,
    /// Switch -> its `router` ports, and its ports with `unknown` addresses (by the port's first owner).
    router_ports_of: HashMap<Uuid, BTreeSet<Uuid>>,
    unknown_of: HashMap<Uuid, BTreeSet<Uuid>>,
    counted: HashMap<Uuid, Counted>,
    /// (router, SNAT external IP) -> how many SNAT rules of the router have it; and each NAT rule's share.
    snat_ips: HashMap<(Uuid, std::net::IpAddr), u32>,
    snat_of: HashMap<Uuid, Vec<(Uuid, std::net::IpAddr)>>,
    /// Router -> its gateway ports; and the router each gateway port was counted in.
    gateways_of: HashMap<Uuid, BTreeSet<Uuid>>,
    gateway_counted: HashMap<Uuid, Uuid>,
}

/// The old state of the rows one batch of changes touches.
#[derive(Default)]
struct Old {
    switches: Vec<(Uuid, Option<LogicalSwitch>)>,
    switch_ports: Vec<(Uuid, Option<LogicalSwitchPort>)>,
    routers: Vec<(Uuid, Option<LogicalRouter>)>,
    router_ports: Vec<(Uuid, Option<LogicalRouterPort>)>,
    /// Rows read whole, whose old version nothing compares: any change is a change of the row.
    others: Vec<(Tab, Uuid)>,
}

impl NbIndex {
    /// Indexes a whole snapshot; also returns every Dep (all of them are new).
    pub fn new(nb: NbSnapshot) -> (NbIndex, Vec<Dep>) {
        let mut ix = NbIndex::default();
        let changes: BTreeMap<String, BTreeSet<Uuid>> =
            nb::table::ALL.iter().map(|t| (t.to_string(), nb.uuids(t).into_iter().collect())).collect();
        let deps = ix.update(&changes, |ix| ix.nb = nb);
        (ix, deps)
    }

    /// The typed rows.
    pub fn snapshot(&self) -> &NbSnapshot {
        &self.nb
    }

    /// Follows the replica's changes (`Replica::take_changes`) and returns the Deps they may have changed.
    pub fn apply_changes(&mut self, r: &Replica, changes: &BTreeMap<String, BTreeSet<Uuid>>) -> Vec<Dep> {
        self.update(changes, |ix| ix.nb.apply_changes(r, changes))
    }

    /// Keeps the old versions of the rows in `changes`, lets `apply` change the snapshot, then compares.
    fn update(&mut self, changes: &BTreeMap<String, BTreeSet<Uuid>>, apply: impl FnOnce(&mut NbIndex)) -> Vec<Dep> {
        let mut old = Old::default();
        for (t, uuids) in changes {
            let Some(tab) = Tab::of(t) else { continue };
            for u in uuids.iter().copied() {
                let n = &self.nb;
                match tab {
                    Tab::Switch => old.switches.push((u, n.switches.get(&u).cloned())),
                    Tab::SwitchPort => old.switch_ports.push((u, n.switch_ports.get(&u).cloned())),
                    Tab::Router => old.routers.push((u, n.routers.get(&u).cloned())),
                    Tab::RouterPort => old.router_ports.push((u, n.router_ports.get(&u).cloned())),
                    Tab::GatewayChassis | Tab::Nat | Tab::Route | Tab::PortGroup | Tab::AddressSet => old.others.push((tab, u)),
                }
            }
        }
        apply(self);
        self.diff(old)
    }

    fn diff(&mut self, old: Old) -> Vec<Dep> {
        let mut deps = Vec::new();
        // Switch ports whose per-switch relations must be looked at again, and NAT rules whose router's
        // SNAT addresses must.
        let mut recount: BTreeSet<Uuid> = BTreeSet::new();
        let mut renat: BTreeSet<Uuid> = BTreeSet::new();
        let mut regate: BTreeSet<Uuid> = BTreeSet::new();

        for (u, was) in old.switches {
            let now = self.nb.switches.get(&u).cloned();
            let key = |s: &LogicalSwitch| (s.name.clone(), s.other_config.clone(), s.external_ids.clone());
            if was.as_ref().map(key) != now.as_ref().map(key) {
                deps.push(Dep::Row(Tab::Switch, u));
            }
            let (a, b) = (was.map(|s| s.ports).unwrap_or_default(), now.map(|s| s.ports).unwrap_or_default());
            recount.extend(self.children(u, List::Ports, &a, &b, &mut deps));
        }
        for (u, was) in old.routers {
            let now = self.nb.routers.get(&u).cloned();
            let key = |r: &LogicalRouter| (r.name.clone(), r.enabled, r.options.clone(), r.external_ids.clone());
            if was.as_ref().map(key) != now.as_ref().map(key) {
                deps.push(Dep::Row(Tab::Router, u));
            }
            let (was, now) = (was.unwrap_or_default_router(), now.unwrap_or_default_router());
            regate.extend(self.children(u, List::Ports, &was.0, &now.0, &mut deps));
            renat.extend(self.children(u, List::Nat, &was.1, &now.1, &mut deps));
            self.children(u, List::Routes, &was.2, &now.2, &mut deps);
        }
        for (u, was) in old.switch_ports {
            let now = self.nb.switch_ports.get(&u);
            if was.as_ref() != now {
                deps.push(Dep::Row(Tab::SwitchPort, u));
                recount.insert(u);
            }
            let (a, b) = (was.as_ref().and_then(router_port_name).map(str::to_string), now.and_then(router_port_name).map(str::to_string));
            rename(&mut self.peers, a, b, u, Dep::Peer, &mut deps);
        }
        for (u, was) in old.router_ports {
            let now = self.nb.router_ports.get(&u);
            if was.as_ref() != now {
                deps.push(Dep::Row(Tab::RouterPort, u));
                regate.insert(u);
            }
            rename(&mut self.lrp_named, was.map(|p| p.name), now.map(|p| p.name.clone()), u, Dep::RouterPortNamed, &mut deps);
        }
        // Gateway chassis, NATs, routes, port groups and address sets are read whole; a change of any
        // column is a change of the row.
        for (tab, u) in old.others {
            deps.push(Dep::Row(tab, u));
            if tab == Tab::Nat {
                renat.insert(u);
            }
        }
        for u in renat {
            self.recount_snat(u, &mut deps);
        }
        for u in regate {
            let now = self
                .nb
                .router_ports
                .get(&u)
                .filter(|p| !p.gateway_chassis.is_empty())
                .and_then(|_| self.owners.get(&u).and_then(|o| o.first().copied()));
            let was = self.gateway_counted.get(&u).copied();
            if was == now {
                continue;
            }
            if let Some(lr) = was {
                remove_uuid(&mut self.gateways_of, &lr, u);
                deps.push(Dep::GatewaysOf(lr));
                self.gateway_counted.remove(&u);
            }
            if let Some(lr) = now {
                self.gateways_of.entry(lr).or_default().insert(u);
                deps.push(Dep::GatewaysOf(lr));
                self.gateway_counted.insert(u, lr);
            }
        }

        for u in recount {
            let now = self.nb.switch_ports.get(&u).and_then(|p| {
                let switch = self.owners.get(&u).and_then(|o| o.first().copied())?;
                Some(Counted { switch, router: p.kind == "router", unknown: has_unknown(p) })
            });
            let was = self.counted.get(&u).cloned();
            if was == now {
                continue;
            }
            if let Some(w) = &was {
                if w.router {
                    remove_uuid(&mut self.router_ports_of, &w.switch, u);
                    deps.push(Dep::RouterPortsOf(w.switch));
                }
                if w.unknown && remove_uuid(&mut self.unknown_of, &w.switch, u) {
                    deps.push(Dep::HasUnknown(w.switch));
                }
            }
            match now {
                Some(n) => {
                    if n.router {
                        self.router_ports_of.entry(n.switch).or_default().insert(u);
                        deps.push(Dep::RouterPortsOf(n.switch));
                    }
                    if n.unknown {
                        let set = self.unknown_of.entry(n.switch).or_default();
                        if set.is_empty() {
                            deps.push(Dep::HasUnknown(n.switch));
                        }
                        set.insert(u);
                    }
                    self.counted.insert(u, n);
                }
                None => drop(self.counted.remove(&u)),
            }
        }
        deps.sort_unstable();
        deps.dedup();
        deps
    }

    /// Takes NAT rule `u`'s share of its routers' SNAT addresses out and puts its current one in.
    fn recount_snat(&mut self, u: Uuid, deps: &mut Vec<Dep>) {
        for key in self.snat_of.remove(&u).unwrap_or_default() {
            if let Some(n) = self.snat_ips.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    self.snat_ips.remove(&key);
                    deps.push(Dep::SnatIp(key.0, ip_hash(key.1)));
                }
            }
        }
        let Some(nat) = self.nb.nats.get(&u).filter(|n| n.kind == nb::NatType::Snat) else { return };
        let share: Vec<(Uuid, std::net::IpAddr)> = self.owners.get(&u).into_iter().flatten().map(|lr| (*lr, nat.external_ip)).collect();
        for key in &share {
            let n = self.snat_ips.entry(*key).or_default();
            *n += 1;
            if *n == 1 {
                deps.push(Dep::SnatIp(key.0, ip_hash(key.1)));
            }
        }
        self.snat_of.insert(u, share);
    }

    /// Follows one list column of `parent` from `was` to `now`: owners of added and removed children.
    /// Returns the children whose owner changed.
    fn children(&mut self, parent: Uuid, list: List, was: &[Uuid], now: &[Uuid], deps: &mut Vec<Dep>) -> Vec<Uuid> {
        if was == now {
            return Vec::new();
        }
        deps.push(Dep::Children(parent, list));
        let (a, b): (BTreeSet<Uuid>, BTreeSet<Uuid>) = (was.iter().copied().collect(), now.iter().copied().collect());
        let mut moved = Vec::new();
        for c in a.difference(&b) {
            if let Some(o) = self.owners.get_mut(c) {
                o.retain(|p| *p != parent);
                if o.is_empty() {
                    self.owners.remove(c);
                }
            }
            deps.push(Dep::Owner(*c));
            moved.push(*c);
        }
        for c in b.difference(&a) {
            let o = self.owners.entry(*c).or_default();
            if let Err(i) = o.binary_search(&parent) {
                o.insert(i, parent);
            }
            deps.push(Dep::Owner(*c));
            moved.push(*c);
        }
        moved
    }
}

/// The list columns of a router, or empty ones.
trait RouterLists {
    fn unwrap_or_default_router(self) -> (Vec<Uuid>, Vec<Uuid>, Vec<Uuid>);
}

impl RouterLists for Option<LogicalRouter> {
    fn unwrap_or_default_router(self) -> (Vec<Uuid>, Vec<Uuid>, Vec<Uuid>) {
        self.map(|r| (r.ports, r.nat, r.static_routes)).unwrap_or_default()
    }
}

/// Removes `u` from the set at `key` (dropping the set when it empties); true if it was there.
fn remove_uuid<K: Hash + Eq + std::borrow::Borrow<Q>, Q: Hash + Eq + ?Sized>(
    map: &mut HashMap<K, BTreeSet<Uuid>>,
    key: &Q,
    u: Uuid,
) -> bool {
    let Some(set) = map.get_mut(key) else { return false };
    let had = set.remove(&u);
    if set.is_empty() {
        map.remove(key);
    }
    had
}

/// Moves `u` from the set named `was` to the set named `now` of a by-name relation, and reports both names
/// as changed (`dep` makes a name's Dep).
fn rename(
    map: &mut HashMap<String, BTreeSet<Uuid>>,
    was: Option<String>,
    now: Option<String>,
    u: Uuid,
    dep: fn(u64) -> Dep,
    deps: &mut Vec<Dep>,
) {
    if was == now {
        return;
    }
    if let Some(a) = was {
        remove_uuid(map, a.as_str(), u);
        deps.push(dep(name_hash(&a)));
    }
    if let Some(b) = now {
        deps.push(dep(name_hash(&b)));
        map.entry(b).or_default().insert(u);
    }
}

/// One reader per table: the typed row with UUID `u`, read as [`Dep::Row`].
macro_rules! row_readers {
    ($($f:ident: $view:ty = $tab:ident in $field:ident),* $(,)?) => {
        $(
            pub fn $f(&mut self, u: Uuid) -> Option<&'a $view> {
                self.read(Dep::Row(Tab::$tab, u));
                self.ix.nb.$field.get(&u)
            }
        )*
    };
}

/// The builders' only way into the Northbound: every answer is recorded as the [`Dep`] it came from.
pub struct Reader<'a> {
    ix: &'a NbIndex,
    keys: &'a Keys,
    deps: Vec<Dep>,
}

impl<'a> Reader<'a> {
    /// A reader of `ix` that also sees the datapaths' tunnel keys (`keys`).
    pub fn new(ix: &'a NbIndex, keys: &'a Keys) -> Reader<'a> {
        Reader { ix, keys, deps: Vec::new() }
    }

    /// What was read, sorted, each once.
    pub fn into_deps(mut self) -> Vec<Dep> {
        self.deps.sort_unstable();
        self.deps.dedup();
        // Kept for the unit's life, one unit per row.
        self.deps.shrink_to_fit();
        self.deps
    }

    fn read(&mut self, d: Dep) {
        self.deps.push(d);
    }

    row_readers! {
        switch: LogicalSwitch = Switch in switches,
        switch_port: LogicalSwitchPort = SwitchPort in switch_ports,
        router: LogicalRouter = Router in routers,
        router_port: LogicalRouterPort = RouterPort in router_ports,
        gateway_chassis: GatewayChassis = GatewayChassis in gateway_chassis,
        nat: Nat = Nat in nats,
        route: StaticRoute = Route in static_routes,
        port_group: PortGroup = PortGroup in port_groups,
        address_set: AddressSet = AddressSet in address_sets,
    }

    /// The tunnel key of datapath `dp` (a switch or router). Not a recorded read: a datapath keeps its
    /// key while it exists, and the engine computes datapaths before the units that name them.
    pub fn datapath_key(&self, dp: Uuid) -> Option<i64> {
        self.keys.datapaths.get(&dp).copied()
    }

    /// The switches or routers listing `child`, first (lowest UUID) first: the first one owns it; a
    /// second is a mistake in the Northbound that the builders report.
    pub fn owners(&mut self, child: Uuid) -> Vec<Uuid> {
        self.read(Dep::Owner(child));
        self.ix.owners.get(&child).cloned().unwrap_or_default()
    }

    /// The owner of `child`, when it has one.
    pub fn owner(&mut self, child: Uuid) -> Option<Uuid> {
        self.read(Dep::Owner(child));
        self.ix.owners.get(&child).and_then(|o| o.first().copied())
    }

    /// One list column of a router.
    pub fn router_list(&mut self, lr: Uuid, list: List) -> &'a [Uuid] {
        self.read(Dep::Children(lr, list));
        match (self.ix.nb.routers.get(&lr), list) {
            (Some(r), List::Ports) => &r.ports,
            (Some(r), List::Nat) => &r.nat,
            (Some(r), List::Routes) => &r.static_routes,
            (None, _) => &[],
        }
    }

    /// The router port named `name` (the first by UUID, if the Northbound has two).
    pub fn router_port_named(&mut self, name: &str) -> Option<Uuid> {
        self.read(Dep::RouterPortNamed(name_hash(name)));
        self.ix.lrp_named.get(name).and_then(|s| s.first().copied())
    }

    /// The `router` switch ports whose `router-port` option names the router port `name`.
    pub fn peers(&mut self, name: &str) -> Vec<Uuid> {
        self.read(Dep::Peer(name_hash(name)));
        self.ix.peers.get(name).map(|s| s.iter().copied().collect()).unwrap_or_default()
    }

    /// The `router` ports of switch `ls`.
    pub fn router_ports_of(&mut self, ls: Uuid) -> Vec<Uuid> {
        self.read(Dep::RouterPortsOf(ls));
        self.ix.router_ports_of.get(&ls).map(|s| s.iter().copied().collect()).unwrap_or_default()
    }

    /// Whether router `lr` has an SNAT rule whose external IP is `ip`.
    pub fn is_snat_ip(&mut self, lr: Uuid, ip: std::net::IpAddr) -> bool {
        self.read(Dep::SnatIp(lr, ip_hash(ip)));
        self.ix.snat_ips.contains_key(&(lr, ip))
    }

    /// The gateway ports of router `lr` (with gateway chassis; in UUID order, as the router lists them).
    pub fn gateways_of(&mut self, lr: Uuid) -> Vec<Uuid> {
        self.read(Dep::GatewaysOf(lr));
        self.ix.gateways_of.get(&lr).map(|s| s.iter().copied().collect()).unwrap_or_default()
    }

    /// Whether switch `ls` has a port that takes unknown MACs.
    pub fn has_unknown(&mut self, ls: Uuid) -> bool {
        self.read(Dep::HasUnknown(ls));
        self.ix.unknown_of.get(&ls).is_some_and(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lsp(u: u128, name: &str, kind: &str, addresses: &[&str], router_port: Option<&str>) -> LogicalSwitchPort {
        LogicalSwitchPort {
            uuid: Uuid(u),
            name: name.to_string(),
            kind: kind.to_string(),
            options: router_port.map(|p| [("router-port".to_string(), p.to_string())].into()).unwrap_or_default(),
            addresses: addresses.iter().map(|a| LspAddress::parse(a).expect("address")).collect(),
            raw_addresses: addresses.iter().map(|a| a.to_string()).collect(),
            port_security: Vec::new(),
            parent_name: None,
            tag: None,
            tag_request: None,
            enabled: None,
            external_ids: Default::default(),
        }
    }

    fn switch(u: u128, name: &str, ports: &[u128]) -> LogicalSwitch {
        LogicalSwitch {
            uuid: Uuid(u),
            name: name.to_string(),
            ports: ports.iter().map(|p| Uuid(*p)).collect(),
            other_config: Default::default(),
            external_ids: Default::default(),
        }
    }

    /// The rows of `table` in `changes` are those given, and `edit` changes the snapshot accordingly.
    fn change(ix: &mut NbIndex, rows: &[(&str, u128)], edit: impl FnOnce(&mut NbSnapshot)) -> Vec<Dep> {
        let mut changes: BTreeMap<String, BTreeSet<Uuid>> = BTreeMap::new();
        for (t, u) in rows {
            changes.entry(t.to_string()).or_default().insert(Uuid(*u));
        }
        ix.update(&changes, |ix| edit(&mut ix.nb))
    }

    /// Adding a port to a switch touches that port's reads, and not the switch row that every other port
    /// would otherwise depend on: the grain that keeps a pod's cost independent of its switch's size.
    #[test]
    fn a_new_port_touches_its_own_reads_only() {
        let mut nb = NbSnapshot::default();
        nb.switches.insert(Uuid(1), switch(1, "sw", &[10, 11]));
        nb.switch_ports.insert(Uuid(10), lsp(10, "a", "", &["00:00:00:00:00:0a 10.0.0.10"], None));
        nb.switch_ports.insert(Uuid(11), lsp(11, "r", "router", &["router"], Some("lrp")));
        let (mut ix, _) = NbIndex::new(nb);
        let deps = change(&mut ix, &[(nb::table::LOGICAL_SWITCH, 1), (nb::table::LOGICAL_SWITCH_PORT, 12)], |nb| {
            nb.switches.insert(Uuid(1), switch(1, "sw", &[10, 11, 12]));
            nb.switch_ports.insert(Uuid(12), lsp(12, "b", "", &["00:00:00:00:00:0b 10.0.0.11"], None));
        });
        assert_eq!(deps, vec![Dep::Row(Tab::SwitchPort, Uuid(12)), Dep::Owner(Uuid(12)), Dep::Children(Uuid(1), List::Ports)], "{deps:?}");
        let keys = Keys::default();
        let mut r = Reader::new(&ix, &keys);
        assert_eq!(r.owner(Uuid(12)), Some(Uuid(1)));
        assert_eq!(r.router_ports_of(Uuid(1)), vec![Uuid(11)]);
        assert_eq!(r.peers("lrp"), vec![Uuid(11)]);
        assert!(!r.has_unknown(Uuid(1)));
    }

    /// The first port with `unknown` addresses, a port turning into a router port, and a port leaving its
    /// switch each touch the relation they change.
    #[test]
    fn relations_follow_their_rows() {
        let mut nb = NbSnapshot::default();
        nb.switches.insert(Uuid(1), switch(1, "sw", &[10]));
        nb.switch_ports.insert(Uuid(10), lsp(10, "a", "", &["00:00:00:00:00:0a 10.0.0.10"], None));
        let (mut ix, _) = NbIndex::new(nb);

        let deps = change(&mut ix, &[(nb::table::LOGICAL_SWITCH_PORT, 10)], |nb| {
            nb.switch_ports.insert(Uuid(10), lsp(10, "a", "", &["unknown"], None));
        });
        assert!(deps.contains(&Dep::HasUnknown(Uuid(1))), "{deps:?}");
        assert!(Reader::new(&ix, &Keys::default()).has_unknown(Uuid(1)));

        let deps = change(&mut ix, &[(nb::table::LOGICAL_SWITCH_PORT, 10)], |nb| {
            nb.switch_ports.insert(Uuid(10), lsp(10, "a", "router", &["router"], Some("lrp")));
        });
        for d in [Dep::HasUnknown(Uuid(1)), Dep::RouterPortsOf(Uuid(1)), Dep::Peer(name_hash("lrp"))] {
            assert!(deps.contains(&d), "{d:?} not in {deps:?}");
        }

        let deps = change(&mut ix, &[(nb::table::LOGICAL_SWITCH, 1)], |nb| {
            nb.switches.insert(Uuid(1), switch(1, "sw", &[]));
        });
        for d in [Dep::Owner(Uuid(10)), Dep::RouterPortsOf(Uuid(1))] {
            assert!(deps.contains(&d), "{d:?} not in {deps:?}");
        }
        assert!(!deps.contains(&Dep::Row(Tab::Switch, Uuid(1))), "only the port list changed: {deps:?}");
        let keys = Keys::default();
        let mut r = Reader::new(&ix, &keys);
        assert_eq!(r.owner(Uuid(10)), None);
        assert!(r.router_ports_of(Uuid(1)).is_empty());
    }
}
