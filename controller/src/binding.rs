//! Port binding: which logical ports this chassis hosts, the Southbound updates that announce it, and the
//! set of "local datapaths" the flow code compiles.
//!
//! ```text
//!   OVS: Interface on br-int, external_ids:iface-id=LP, ofport>0 ──▶ VIF LP is here ─────────┐
//!   SB: Port_Binding LP (parent_port = a local VIF) ─────────────────▶ container LP is here ──┤
//!   SB: chassisredirect LP, HA_Chassis_Group: highest-priority live chassis is us ──────────┼─▶ hosted
//!   SB: l3gateway LP with options:l3gateway-chassis = us ────────────────────────────────────┘
//!
//!   hosted, not bound to us      ──▶ claim:   chassis=us (up=installed(LP) for VIFs)
//!   hosted, bound to us          ──▶ up=true once installed(LP)
//!   bound to us, no longer hosted──▶ release: chassis=[], up=false   (only if it is still ours)
//! ```
//!
//! Releases are conditional on `chassis == us` in the `update`'s `where`: if another chassis claimed the port
//! meanwhile (a VM that migrated), the release touches nothing instead of undoing its claim.
//!
//! Local datapaths (`ovn-architecture(7)`, "Logical Datapath" / `ovn-controller`'s local datapaths): the
//! datapaths of the hosted ports, and every datapath reachable from them through logical patch ports (a
//! switch's router, that router's other switches, ...). A packet from a local VIF is processed through all
//! of them on this chassis before it reaches a tunnel, so their flows must be here.
//!
//! `Port_Binding.encap` is left empty unless the VIF's interface names one of our encapsulation IPs in
//! `external_ids:encap-ip`; that is what `ovn-controller` does (checked: a claimed VIF shows `encap: []`), and
//! an empty `encap` means "any of the chassis' encaps" to the senders.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use model::ovsdb::transact::{Condition, RowData, Transaction};
use model::ovsdb::{Datum, Replica, Row, Uuid};
use model::sb::{self as sbv, Chassis, DatapathBinding, Encap, HaChassis, HaChassisGroup, PortBinding, SbView};

use crate::config::LocalConfig;
use crate::tables::{ovs, remove_keys, sb, set_key};
use crate::vswitch::{OvsView, IFACE_ID_KEY};

/// `Interface.external_ids` key set once a VIF's flows are installed (CNI plugins wait for it).
pub const OVN_INSTALLED_KEY: &str = "ovn-installed";
/// Its companion timestamp; we do not write it (no clock in planning) but clear it with the flag.
pub const OVN_INSTALLED_TS_KEY: &str = "ovn-installed-ts";

/// Why a port is hosted here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortKind {
    /// A VIF: an interface on the integration bridge has `external_ids:iface-id` = the logical port.
    Vif,
    /// A container port riding on the local VIF `parent`, tagged `tag` (VLAN) on it.
    Container { parent: String, tag: Option<u16> },
    /// The chassisredirect port of a distributed gateway port; we are its active gateway.
    ChassisRedirect,
    /// A gateway router's port pinned to us by `options:l3gateway-chassis`.
    L3Gateway,
}

impl PortKind {
    /// VIFs and containers report `up` (the ports a CMS waits on).
    fn reports_up(&self) -> bool {
        matches!(self, PortKind::Vif | PortKind::Container { .. })
    }
}

/// A logical port hosted on this chassis, with what the flow code needs to match and deliver its packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPort {
    pub kind: PortKind,
    /// Its `Port_Binding` row.
    pub binding: Uuid,
    /// The OpenFlow port of its interface (a container's is its parent's); None for gateway ports.
    pub ofport: Option<u16>,
    /// Its `Datapath_Binding` row.
    pub datapath: Uuid,
    /// `Datapath_Binding.tunnel_key` (the Geneve VNI / metadata).
    pub datapath_key: u32,
    /// `Port_Binding.tunnel_key` (the logical port number in `reg14`/`reg15`).
    pub port_key: u32,
}

/// What this chassis hosts, for the flow code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalBindings {
    /// Hosted logical ports by name.
    pub ports: BTreeMap<String, LocalPort>,
    /// Local datapaths: `Datapath_Binding` row -> tunnel key.
    pub datapaths: BTreeMap<Uuid, u32>,
}

impl LocalBindings {
    pub fn is_local_datapath(&self, dp: Uuid) -> bool {
        self.datapaths.contains_key(&dp)
    }

    /// The tunnel keys of the local datapaths.
    pub fn datapath_keys(&self) -> BTreeSet<u32> {
        self.datapaths.values().copied().collect()
    }

    /// The local datapaths' rows (for [`crate::vswitch::plan_ovs_local`]).
    pub fn datapath_rows(&self) -> BTreeSet<Uuid> {
        self.datapaths.keys().copied().collect()
    }

    pub fn ofport(&self, lport: &str) -> Option<u16> {
        self.ports.get(lport).and_then(|p| p.ofport)
    }
}

/// The result of one binding pass.
#[derive(Debug, Clone, Default)]
pub struct BindingPlan {
    /// Port_Binding claims, releases and `up` (the Southbound).
    pub sb: Transaction,
    /// `ovn-installed` on the VIFs' interfaces (the local switch).
    pub ovs: Transaction,
    /// What is hosted here once `sb` is applied.
    pub local: LocalBindings,
}

/// The liveness rule before BFD: a chassis is alive while its `Chassis` row exists.
pub fn alive_if_registered(sb_db: &Replica) -> impl Fn(&str) -> bool {
    let names: BTreeSet<String> = sbv::rows::<Chassis>(sb_db).map(|c| c.name().to_string()).collect();
    move |name: &str| names.contains(name)
}

/// A VIF found on the integration bridge.
struct Vif {
    ofport: u16,
    iface: Uuid,
    encap_ip: Option<String>,
}

/// Port types that may be bound to a chassis by someone else's logic (virtual ports by `pinctrl`, external
/// and l2gateway ports by their own rules); a binding pass never releases them.
const NOT_OURS_TO_RELEASE: [&str; 4] = ["virtual", "external", "l2gateway", "vtep"];

/// Decides which ports this chassis hosts and plans the updates that follow. `installed(lport)`: the
/// port's flows are in the switch (so `up` may become true). `alive(chassis)`: whether a chassis can take
/// gateway traffic (see [`alive_if_registered`]; BFD later). Nothing is claimed until our `Chassis` row
/// exists ([`crate::chassis::plan_chassis`] first); the local view is computed regardless.
pub fn plan_bindings(
    cfg: &LocalConfig,
    ovs_db: &Replica,
    sb_db: &Replica,
    installed: &dyn Fn(&str) -> bool,
    alive: &dyn Fn(&str) -> bool,
) -> BindingPlan {
    plan_bindings_indexed(cfg, ovs_db, sb_db, &PortIndex::build(sb_db), installed, alive)
}

/// [`plan_bindings`] with an index of the Southbound's ports that is up to date with `sb_db`.
pub fn plan_bindings_indexed(
    cfg: &LocalConfig,
    ovs_db: &Replica,
    sb_db: &Replica,
    index: &PortIndex,
    installed: &dyn Fn(&str) -> bool,
    alive: &dyn Fn(&str) -> bool,
) -> BindingPlan {
    let view = OvsView::from_replica(ovs_db);
    let me = sbv::rows::<Chassis>(sb_db).find(|c| c.name() == cfg.system_id).map(|c| c.uuid());

    // VIFs on the integration bridge by iface-id; the lowest ofport wins a duplicate.
    let mut vifs: BTreeMap<String, Vif> = BTreeMap::new();
    for (_, i) in view.interfaces_on(&cfg.integration_bridge) {
        let (Some(id), Some(ofport)) = (i.external_ids.get(IFACE_ID_KEY).filter(|s| !s.is_empty()), i.valid_ofport()) else {
            continue;
        };
        let vif = Vif { ofport, iface: i.uuid, encap_ip: i.external_ids.get("encap-ip").cloned() };
        match vifs.get(id) {
            Some(old) if old.ofport <= ofport => {
                tracing::warn!(lport = %id, iface = %i.name, "two interfaces claim the same iface-id; using the first");
            }
            _ => {
                vifs.insert(id.clone(), vif);
            }
        }
    }

    let dp_keys: BTreeMap<Uuid, u32> = sbv::rows::<DatapathBinding>(sb_db)
        .filter_map(|d| d.tunnel_key().and_then(|k| u32::try_from(k).ok()).map(|k| (d.uuid(), k)))
        .collect();
    let our_encaps: BTreeMap<String, Uuid> = me
        .and_then(|m| sbv::row::<Chassis>(sb_db, m))
        .map(|c| c.encaps().uuids().filter_map(|e| sbv::row::<Encap>(sb_db, e)).map(|e| (e.ip().to_string(), e.uuid())).collect())
        .unwrap_or_default();

    let mut plan = BindingPlan::default();
    let mut hosted_vifs: BTreeSet<Uuid> = BTreeSet::new(); // interfaces of hosted, installed VIFs
    for pb in index.candidates(vifs.keys(), me).into_iter().filter_map(|u| sbv::row::<PortBinding>(sb_db, u)) {
        let lport = pb.logical_port();
        let bound = pb.chassis();
        let kind = hosted_kind(cfg, sb_db, pb, &vifs, alive).filter(|_| !requested_elsewhere(cfg, sb_db, pb, me));
        let Some(kind) = kind else {
            if let (Some(me), true) = (me, bound.is_some() && bound == me) {
                if !NOT_OURS_TO_RELEASE.contains(&pb.kind()) {
                    release(&mut plan.sb, pb, me);
                }
            }
            continue;
        };
        let vif = match &kind {
            PortKind::Vif => vifs.get(lport),
            PortKind::Container { parent, .. } => vifs.get(parent.as_str()),
            _ => None,
        };
        let is_installed = installed(lport);
        if let (PortKind::Vif, Some(v), true) = (&kind, vif, is_installed) {
            hosted_vifs.insert(v.iface);
        }
        if let Some(me) = me {
            let mut want = RowData::new();
            if bound != Some(me) {
                want.insert("chassis".to_string(), Datum::atom(me));
                if kind.reports_up() && pb.up() != Some(is_installed) {
                    want.insert("up".to_string(), Datum::atom(is_installed));
                }
            } else if kind.reports_up() && is_installed && pb.up() != Some(true) {
                want.insert("up".to_string(), Datum::atom(true));
            }
            let encap = vif.and_then(|v| v.encap_ip.as_ref()).and_then(|ip| our_encaps.get(ip)).copied();
            if pb.encap() != encap {
                want.insert("encap".to_string(), Datum::optional(encap));
            }
            if !want.is_empty() {
                plan.sb.update(sb::PORT_BINDING, vec![Condition::uuid(pb.uuid())], want);
            }
        }
        let Some(dp) = pb.datapath() else { continue };
        let (Some(dp_key), Some(port_key)) = (dp_keys.get(&dp), pb.tunnel_key().and_then(|k| u32::try_from(k).ok())) else {
            tracing::warn!(lport, "port binding without a valid datapath or tunnel key; not hosted");
            continue;
        };
        plan.local.ports.insert(
            lport.to_string(),
            LocalPort { ofport: vif.map(|v| v.ofport), kind, binding: pb.uuid(), datapath: dp, datapath_key: *dp_key, port_key },
        );
    }
    plan.local.datapaths = local_datapaths(cfg, sb_db, index, &plan.local, &dp_keys);

    // ovn-installed on the VIFs' interfaces.
    for (_, i) in view.interfaces_on(&cfg.integration_bridge) {
        let has = i.external_ids.get(OVN_INSTALLED_KEY).map(String::as_str) == Some("true");
        let want = hosted_vifs.contains(&i.uuid);
        if want && !has {
            plan.ovs.mutate(ovs::INTERFACE, vec![Condition::uuid(i.uuid)], set_key("external_ids", OVN_INSTALLED_KEY, "true"));
        } else if !want && (i.external_ids.contains_key(OVN_INSTALLED_KEY) || i.external_ids.contains_key(OVN_INSTALLED_TS_KEY)) {
            plan.ovs.mutate(
                ovs::INTERFACE,
                vec![Condition::uuid(i.uuid)],
                vec![remove_keys("external_ids", [OVN_INSTALLED_KEY, OVN_INSTALLED_TS_KEY])],
            );
        }
    }
    if !plan.sb.is_empty() {
        plan.sb.comment(&format!("controller: port bindings of chassis {}", cfg.system_id));
    }
    plan
}

/// Whether (and as what) this chassis hosts `pb`, before `requested_chassis` is considered.
fn hosted_kind(
    cfg: &LocalConfig,
    sb_db: &Replica,
    pb: PortBinding,
    vifs: &BTreeMap<String, Vif>,
    alive: &dyn Fn(&str) -> bool,
) -> Option<PortKind> {
    let lport = pb.logical_port();
    match pb.kind() {
        "" => match pb.parent_port().filter(|p| !p.is_empty()) {
            Some(parent) => vifs
                .contains_key(parent)
                .then(|| PortKind::Container { parent: parent.to_string(), tag: pb.tag().and_then(|t| u16::try_from(t).ok()) }),
            None => vifs.contains_key(lport).then_some(PortKind::Vif),
        },
        "chassisredirect" => {
            let group = pb.ha_chassis_group()?;
            (active_chassis(cfg, sb_db, group, alive)? == cfg.system_id).then_some(PortKind::ChassisRedirect)
        }
        "l3gateway" => (pb.options().get("l3gateway-chassis") == Some(cfg.system_id.as_str())).then_some(PortKind::L3Gateway),
        _ => None,
    }
}

/// The chassis that should host an HA group's ports: the highest-priority member that is alive (we are,
/// by definition; others per `alive`). Ties go to the lower name, so every chassis computes the same answer.
pub fn active_chassis(cfg: &LocalConfig, sb_db: &Replica, group: Uuid, alive: &dyn Fn(&str) -> bool) -> Option<String> {
    let g = sbv::row::<HaChassisGroup>(sb_db, group)?;
    g.ha_chassis()
        .uuids()
        .filter_map(|h| sbv::row::<HaChassis>(sb_db, h))
        .filter_map(|h| {
            let name = sbv::row::<Chassis>(sb_db, h.chassis()?)?.name();
            (name == cfg.system_id || alive(name)).then(|| (h.priority().unwrap_or(0), name.to_string()))
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
        .map(|(_, n)| n)
}

/// True when the port is pinned to another chassis: `requested_chassis` names another row, or (before
/// northd filled that in) `options:requested-chassis` names neither our chassis name nor our host name.
fn requested_elsewhere(cfg: &LocalConfig, sb_db: &Replica, pb: PortBinding, me: Option<Uuid>) -> bool {
    if let Some(req) = pb.requested_chassis() {
        if me.is_some_and(|m| m == req) {
            return false;
        }
        // A dangling reference (the chassis left) pins to nobody we know; treat it as elsewhere only when the
        // row exists.
        if sb_db.row(sb::CHASSIS, req).is_some() {
            return true;
        }
    }
    match pb.options().get("requested-chassis").filter(|s| !s.is_empty()) {
        Some(name) => name != cfg.system_id && name != cfg.hostname,
        None => false,
    }
}

/// Clears our claim on a port, only if it is still ours when the server runs the transaction.
fn release(txn: &mut Transaction, pb: PortBinding, me: Uuid) {
    let mut cols = RowData::from([("chassis".to_string(), Datum::empty_set())]);
    if pb.up() == Some(true) {
        cols.insert("up".to_string(), Datum::atom(false));
    }
    if pb.encap().is_some() {
        cols.insert("encap".to_string(), Datum::empty_set());
    }
    txn.update(sb::PORT_BINDING, vec![Condition::uuid(pb.uuid()), Condition::eq("chassis", Datum::atom(me))], cols);
}

/// The hosted ports' datapaths and everything reachable from them through patch ports (and through our
/// own l3gateway ports).
fn local_datapaths(
    cfg: &LocalConfig,
    sb_db: &Replica,
    index: &PortIndex,
    local: &LocalBindings,
    dp_keys: &BTreeMap<Uuid, u32>,
) -> BTreeMap<Uuid, u32> {
    // datapath -> peer port names.
    let mut peers: BTreeMap<Uuid, Vec<&str>> = BTreeMap::new();
    for pb in index.links.iter().filter_map(|u| sbv::row::<PortBinding>(sb_db, *u)) {
        let Some(dp) = pb.datapath() else { continue };
        let opts = pb.options();
        let crosses = match pb.kind() {
            "patch" => true,
            "l3gateway" => opts.get("l3gateway-chassis") == Some(cfg.system_id.as_str()),
            _ => false,
        };
        if let Some(peer) = opts.get("peer").filter(|_| crosses) {
            peers.entry(dp).or_default().push(peer);
        }
    }
    // A name's datapath: that of its last row (in UUID order) that has one.
    let dp_of =
        |name: &str| index.by_name.get(name)?.iter().rev().filter_map(|u| sbv::row::<PortBinding>(sb_db, *u)).find_map(|r| r.datapath());
    let mut out = BTreeMap::new();
    let mut queue: VecDeque<Uuid> = local.ports.values().map(|p| p.datapath).collect();
    while let Some(dp) = queue.pop_front() {
        let Some(key) = dp_keys.get(&dp) else { continue };
        if out.insert(dp, *key).is_some() {
            continue;
        }
        for peer in peers.get(&dp).into_iter().flatten() {
            if let Some(next) = dp_of(peer) {
                queue.push_back(next);
            }
        }
    }
    out
}

/// The `Port_Binding` rows a binding pass can care about, found without reading every row: by name (a VIF
/// here names its row), by bound chassis (ours may need releasing), the rows hosted by other rules
/// (containers, chassisredirect and l3gateway ports) and the patch-like rows that link datapaths. Kept up
/// to date from the replica's change sets ([`PortIndex::refresh`]), so a binding pass costs what the local
/// ports and the changes cost, not what the network's tens of thousands of ports do; the daemon runs one
/// or two per round.
#[derive(Debug, Default)]
pub struct PortIndex {
    /// `Session::status().syncs` the index follows (a resync rebuilds it).
    syncs: Option<u64>,
    by_name: HashMap<String, BTreeSet<Uuid>>,
    by_chassis: HashMap<Uuid, BTreeSet<Uuid>>,
    special: BTreeSet<Uuid>,
    links: BTreeSet<Uuid>,
    /// What each row is indexed under, to take it out when it changes.
    rows: HashMap<Uuid, Indexed>,
}

#[derive(Debug)]
struct Indexed {
    name: String,
    chassis: Option<Uuid>,
}

impl PortIndex {
    /// The index of every row of `sb_db`.
    pub fn build(sb_db: &Replica) -> PortIndex {
        let mut index = PortIndex::default();
        for pb in sb_db.table(sb::PORT_BINDING) {
            index.add(pb);
        }
        index
    }

    /// Follows `changes` (the replica's change sets since the last refresh) or, when the session resynced
    /// (`syncs` differs), rebuilds.
    pub fn refresh(&mut self, sb_db: &Replica, syncs: u64, changes: &BTreeMap<String, BTreeSet<Uuid>>) {
        if self.syncs != Some(syncs) {
            *self = PortIndex::build(sb_db);
            self.syncs = Some(syncs);
            return;
        }
        for u in changes.get(sb::PORT_BINDING).into_iter().flatten() {
            self.remove(*u);
            if let Some(pb) = sb_db.row(sb::PORT_BINDING, *u) {
                self.add(pb);
            }
        }
    }

    fn add(&mut self, row: &Row) {
        let (pb, u) = (PortBinding::of(row), row.uuid);
        let name = pb.logical_port().to_string();
        let chassis = pb.chassis();
        let kind = pb.kind();
        self.by_name.entry(name.clone()).or_default().insert(u);
        if let Some(c) = chassis {
            self.by_chassis.entry(c).or_default().insert(u);
        }
        if matches!(kind, "chassisredirect" | "l3gateway") || pb.parent_port().is_some_and(|p| !p.is_empty()) {
            self.special.insert(u);
        }
        if matches!(kind, "patch" | "l3gateway") {
            self.links.insert(u);
        }
        self.rows.insert(u, Indexed { name, chassis });
    }

    fn remove(&mut self, u: Uuid) {
        let Some(old) = self.rows.remove(&u) else { return };
        if let Some(set) = self.by_name.get_mut(&old.name) {
            set.remove(&u);
            if set.is_empty() {
                self.by_name.remove(&old.name);
            }
        }
        if let Some(c) = old.chassis {
            if let Some(set) = self.by_chassis.get_mut(&c) {
                set.remove(&u);
                if set.is_empty() {
                    self.by_chassis.remove(&c);
                }
            }
        }
        self.special.remove(&u);
        self.links.remove(&u);
    }

    /// The rows a pass must look at, in UUID order (the order of a scan of the table): those named like a
    /// local VIF, those bound to us, and those hosted by other rules.
    fn candidates<'a>(&self, vifs: impl Iterator<Item = &'a String>, me: Option<Uuid>) -> BTreeSet<Uuid> {
        let mut out = self.special.clone();
        for v in vifs {
            out.extend(self.by_name.get(v.as_str()).into_iter().flatten());
        }
        out.extend(me.and_then(|m| self.by_chassis.get(&m)).into_iter().flatten());
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::testutil::{jmap, juuid, OvsBuilder, SbBuilder};
    use model::ovsdb::Operation;
    use serde_json::json;

    fn ovs_with(vifs: &[(&str, &str, i64)]) -> Replica {
        let mut b = OvsBuilder::new();
        b.open_vswitch(&[("system-id", "me"), ("ovn-encap-ip", "10.0.0.1"), ("hostname", "host-me")]);
        b.bridge("br-int", &[]);
        for (name, id, ofport) in vifs {
            b.port("br-int", name, json!({"ofport": ofport, "external_ids": jmap(&[("iface-id", id)])}), &[]);
        }
        b.build()
    }

    fn cfg(ovs_db: &Replica) -> LocalConfig {
        LocalConfig::from_ovs_with_hostname(ovs_db, "h").unwrap()
    }

    fn updates(t: &Transaction) -> Vec<(Uuid, RowData, usize)> {
        t.ops
            .iter()
            .filter_map(|o| match o {
                Operation::Update { conditions, row, .. } => Some((conditions[0].value.as_uuid().unwrap(), row.clone(), conditions.len())),
                _ => None,
            })
            .collect()
    }

    struct Sb {
        sb: Replica,
        me: Uuid,
        vm1: Uuid,
        vm2: Uuid,
        child: Uuid,
        sw: Uuid,
        rtr: Uuid,
        ext: Uuid,
    }

    /// sw (vm1, vm2, child of vm1) -- rtr -- ext (localnet); "lonely" datapath unconnected.
    fn sb(vm2_bound_to_me: bool) -> Sb {
        let mut s = SbBuilder::new();
        let me = s.chassis("me", &[("geneve", "10.0.0.1")]);
        let other = s.chassis("other", &[("geneve", "10.0.0.2")]);
        let sw = s.datapath(1);
        let rtr = s.datapath(2);
        let ext = s.datapath(3);
        let lonely = s.datapath(4);
        let vm1 = s.port("vm1", sw, 1, "", &[], &[("up", json!(false))]);
        let vm2 = s.port("vm2", sw, 2, "", &[], &[("chassis", juuid(if vm2_bound_to_me { me } else { other })), ("up", json!(true))]);
        let child = s.port("child", sw, 5, "", &[], &[("parent_port", json!("vm1")), ("tag", json!(42))]);
        s.port("sw-rtr", sw, 3, "patch", &[("peer", "rtr-sw")], &[]);
        s.port("rtr-sw", rtr, 1, "patch", &[("peer", "sw-rtr")], &[]);
        s.port("rtr-ext", rtr, 2, "patch", &[("peer", "ext-rtr")], &[]);
        s.port("ext-rtr", ext, 1, "patch", &[("peer", "rtr-ext")], &[]);
        s.port("ln-ext", ext, 2, "localnet", &[("network_name", "physnet")], &[]);
        s.port("x", lonely, 1, "", &[], &[]);
        Sb { sb: s.build(), me, vm1, vm2, child, sw, rtr, ext }
    }

    #[test]
    fn claims_a_local_vif_and_its_container_and_computes_local_datapaths() {
        let ovs_db = ovs_with(&[("tap1", "vm1", 3), ("tap-noport", "x", -1)]);
        let s = sb(false);
        let plan = plan_bindings(&cfg(&ovs_db), &ovs_db, &s.sb, &|_| false, &|_| true);
        let u = updates(&plan.sb);
        assert_eq!(u.len(), 2, "{u:?}");
        assert_eq!(u[0].0, s.vm1);
        assert_eq!(u[0].1, RowData::from([("chassis".to_string(), Datum::atom(s.me))]), "not installed: up stays false");
        assert_eq!(u[1].0, s.child);
        assert_eq!(plan.local.ofport("vm1"), Some(3));
        assert_eq!(plan.local.ports["child"].kind, PortKind::Container { parent: "vm1".into(), tag: Some(42) });
        assert_eq!(plan.local.ports["child"].ofport, Some(3));
        assert_eq!((plan.local.ports["vm1"].datapath_key, plan.local.ports["vm1"].port_key), (1, 1));
        assert!(!plan.local.ports.contains_key("x"), "ofport -1 is not a usable port");
        assert_eq!(plan.local.datapath_rows(), BTreeSet::from([s.sw, s.rtr, s.ext]));
        assert_eq!(plan.local.datapath_keys(), BTreeSet::from([1, 2, 3]));
        assert!(plan.ovs.is_empty(), "not installed: no ovn-installed");
    }

    #[test]
    fn sets_up_once_installed_and_marks_the_interface() {
        let ovs_db = ovs_with(&[("tap1", "vm1", 3)]);
        let s = sb(false);
        let plan = plan_bindings(&cfg(&ovs_db), &ovs_db, &s.sb, &|lp| lp == "vm1", &|_| true);
        let u = updates(&plan.sb);
        assert_eq!(u[0].1, RowData::from([("chassis".to_string(), Datum::atom(s.me)), ("up".to_string(), Datum::atom(true))]));
        let Operation::Mutate { mutations, .. } = &plan.ovs.ops[0] else { panic!() };
        assert_eq!(mutations[1].value, Datum::map([(OVN_INSTALLED_KEY, "true")]));
    }

    #[test]
    fn releases_a_port_that_left_only_if_still_ours() {
        let ovs_db = ovs_with(&[]);
        let s = sb(true);
        let plan = plan_bindings(&cfg(&ovs_db), &ovs_db, &s.sb, &|_| true, &|_| true);
        let u = updates(&plan.sb);
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].0, s.vm2);
        assert_eq!(u[0].1, RowData::from([("chassis".to_string(), Datum::empty_set()), ("up".to_string(), Datum::atom(false))]));
        assert_eq!(u[0].2, 2, "conditional on chassis == us");
        assert!(plan.local.ports.is_empty() && plan.local.datapaths.is_empty());

        // Someone else's binding is not ours to release.
        let s = sb(false);
        assert!(plan_bindings(&cfg(&ovs_db), &ovs_db, &s.sb, &|_| true, &|_| true).sb.is_empty());
    }

    #[test]
    fn nothing_is_claimed_before_our_chassis_exists() {
        let ovs_db = ovs_with(&[("tap1", "vm1", 3)]);
        let mut s = SbBuilder::new();
        let dp = s.datapath(1);
        s.port("vm1", dp, 1, "", &[], &[]);
        let plan = plan_bindings(&cfg(&ovs_db), &ovs_db, &s.build(), &|_| true, &|_| true);
        assert!(plan.sb.is_empty());
        assert_eq!(plan.local.ofport("vm1"), Some(3));
    }

    #[test]
    fn requested_chassis_elsewhere_is_not_claimed() {
        let ovs_db = ovs_with(&[("tap1", "vm1", 3)]);
        let mut s = SbBuilder::new();
        s.chassis("me", &[("geneve", "10.0.0.1")]);
        let other = s.chassis("other", &[("geneve", "10.0.0.2")]);
        let dp = s.datapath(1);
        s.port("vm1", dp, 1, "", &[], &[("requested_chassis", juuid(other))]);
        let plan = plan_bindings(&cfg(&ovs_db), &ovs_db, &s.build(), &|_| true, &|_| true);
        assert!(plan.sb.is_empty() && plan.local.ports.is_empty());

        let mut s = SbBuilder::new();
        s.chassis("me", &[("geneve", "10.0.0.1")]);
        let dp = s.datapath(1);
        s.port("vm1", dp, 1, "", &[("requested-chassis", "host-me")], &[]);
        let plan = plan_bindings(&cfg(&ovs_db), &ovs_db, &s.build(), &|_| true, &|_| true);
        assert_eq!(plan.local.ports.len(), 1, "our host name counts as us");
    }

    #[test]
    fn chassisredirect_goes_to_the_highest_priority_live_chassis() {
        let ovs_db = ovs_with(&[]);
        let build = |my_prio: i64, other_alive: bool| {
            let mut s = SbBuilder::new();
            let me = s.chassis("me", &[("geneve", "10.0.0.1")]);
            let other = s.chassis("other", &[("geneve", "10.0.0.2")]);
            let g = s.ha_group("grp", &[(me, my_prio), (other, 20)]);
            let rtr = s.datapath(2);
            let ext = s.datapath(3);
            s.port("cr-rtr-ext", rtr, 3, "chassisredirect", &[("distributed-port", "rtr-ext")], &[("ha_chassis_group", juuid(g))]);
            s.port("rtr-ext", rtr, 2, "patch", &[("peer", "ext-rtr")], &[]);
            s.port("ext-rtr", ext, 1, "patch", &[("peer", "rtr-ext")], &[]);
            let sb_db = s.build();
            let alive = move |n: &str| n == "me" || other_alive;
            let plan = plan_bindings(&cfg(&ovs_db), &ovs_db, &sb_db, &|_| true, &alive);
            (plan, rtr, ext)
        };
        let (plan, rtr, ext) = build(30, true);
        assert_eq!(plan.local.ports["cr-rtr-ext"].kind, PortKind::ChassisRedirect);
        assert_eq!(plan.local.datapath_rows(), BTreeSet::from([rtr, ext]));
        let u = updates(&plan.sb);
        assert_eq!(u[0].1.keys().collect::<Vec<_>>(), ["chassis"], "gateway ports do not report up");

        let (plan, _, _) = build(10, true);
        assert!(plan.sb.is_empty() && plan.local.ports.is_empty(), "the other chassis has the higher priority");
        let (plan, _, _) = build(10, false);
        assert_eq!(plan.local.ports.len(), 1, "the higher-priority chassis is dead: we take over");
    }

    /// An index that followed a change set plans what a fresh one does: vm2 moves to us, so the pass must
    /// find it through the chassis index.
    #[test]
    fn a_refreshed_index_plans_like_a_fresh_one() {
        let ovs_db = ovs_with(&[("tap1", "vm1", 3)]);
        let (before, after) = (sb(false), sb(true));
        let mut index = PortIndex::default();
        index.refresh(&before.sb, 1, &BTreeMap::new());
        let changes = BTreeMap::from([(sb::PORT_BINDING.to_string(), BTreeSet::from([after.vm2]))]);
        index.refresh(&after.sb, 1, &changes);
        let followed = plan_bindings_indexed(&cfg(&ovs_db), &ovs_db, &after.sb, &index, &|_| true, &|_| true);
        let fresh = plan_bindings(&cfg(&ovs_db), &ovs_db, &after.sb, &|_| true, &|_| true);
        assert_eq!(updates(&followed.sb), updates(&fresh.sb));
        assert!(updates(&fresh.sb).iter().any(|u| u.0 == after.vm2), "vm2 is ours and not here: released");
        assert_eq!(followed.local, fresh.local);

        // A new session (resync) rebuilds whatever the change sets say.
        index.refresh(&before.sb, 2, &BTreeMap::new());
        let again = plan_bindings_indexed(&cfg(&ovs_db), &ovs_db, &before.sb, &index, &|_| true, &|_| true);
        assert!(updates(&again.sb).iter().all(|u| u.0 != before.vm2));
    }

    #[test]
    fn alive_if_registered_knows_the_chassis_rows() {
        let s = sb(false);
        let alive = alive_if_registered(&s.sb);
        assert!(alive("me") && alive("other") && !alive("gone"));
    }

    #[test]
    fn removes_ovn_installed_from_an_interface_no_longer_hosted() {
        let mut b = OvsBuilder::new();
        b.open_vswitch(&[("system-id", "me"), ("ovn-encap-ip", "10.0.0.1")]);
        b.bridge("br-int", &[]);
        b.port("br-int", "tap9", json!({"ofport": 9, "external_ids": jmap(&[("iface-id", "nope"), (OVN_INSTALLED_KEY, "true")])}), &[]);
        let ovs_db = b.build();
        let plan = plan_bindings(&cfg(&ovs_db), &ovs_db, &sb(false).sb, &|_| true, &|_| true);
        let Operation::Mutate { mutations, .. } = &plan.ovs.ops[0] else { panic!() };
        assert_eq!(mutations[0], remove_keys("external_ids", [OVN_INSTALLED_KEY, OVN_INSTALLED_TS_KEY]));
    }
}
