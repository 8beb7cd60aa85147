//! The local switch's side: typed views of `Bridge`/`Port`/`Interface`, and the plan that makes the
//! switch hold what the Southbound implies for this chassis.
//!
//! ```text
//!   SB: Chassis (all but us) ──▶ one tunnel port each on br-int ─┐
//!   SB: localnet Port_Binding ──▶ a patch-port pair br-int <-> mapped bridge
//!   config ──▶ br-int itself (fail_mode=secure, disable-in-band) ├─▶ desired
//!   OVS replica ──▶ ports we made (marked in Port.external_ids) ───┴─▶ diff ──▶ one Transaction
//! ```
//!
//! Ownership: a port is ours when its `Port.external_ids` carries `ovn-chassis-id` (a tunnel) or
//! `ovn-localnet-port` (a localnet patch port), the keys `ovn-controller(8)` documents for the same
//! purpose, so either agent adopts the other's ports. Ports without these keys (VIFs, uplinks, the bridge's
//! own internal port) are never changed or removed.
//!
//! Names are the ones `ovn-controller` 23.03 gives, checked against it on this machine:
//! - tunnel: `ovn-<first 6 chars of the chassis name>-<n>`, `n` the smallest number not used by another
//!   port; `external_ids:ovn-chassis-id=<chassis>@<remote ip>`; the interface has
//!   `type=<encap>` and `options {remote_ip, key=flow, csum}`. The id names the IP too, so a chassis that
//!   moves gets a new port rather than a port whose identity silently changed.
//! - localnet: `patch-<br-int>-to-<lport>` on the integration bridge, `patch-<lport>-to-<br-int>` on the
//!   bridge its network maps to, each `type=patch` with `options:peer` the other, both marked
//!   `ovn-localnet-port=<lport>`.
//!
//! `Bridge`, `Port` and `Interface` rows other than the root are garbage-collected by `ovsdb-server` once no
//! bridge refers to them, so removing a port is one `mutate` of its bridge's `ports`, and moving one (a
//! bridge mapping changed) is a mutate of each bridge, keeping the row and its name.

use std::collections::{BTreeMap, BTreeSet};

use model::ovsdb::transact::{Condition, Mutation, RowData, Transaction};
use model::ovsdb::{Atom, Datum, Replica, Row, Uuid};

use crate::chassis::ChassisView;
use crate::config::LocalConfig;
use crate::tables::{map_datum, ovs, sb, set_key, string_map};

/// `Port.external_ids` key marking a tunnel port we made; the value is [`tunnel_id`].
pub const TUNNEL_ID_KEY: &str = "ovn-chassis-id";
/// `Port.external_ids` key marking a localnet patch port we made; the value is the localnet logical port.
pub const LOCALNET_KEY: &str = "ovn-localnet-port";
/// `Interface.external_ids` key naming the logical port a VIF implements.
pub const IFACE_ID_KEY: &str = "iface-id";

/// The `ovn-chassis-id` value of the tunnel to `chassis` at `ip`.
pub fn tunnel_id(chassis: &str, ip: &str) -> String {
    format!("{chassis}@{ip}")
}

/// The chassis (and the IP, when given) an `ovn-chassis-id` value names. Older `ovn-controller`s wrote the
/// bare chassis name.
pub fn parse_tunnel_id(id: &str) -> (&str, Option<&str>) {
    match id.rsplit_once('@') {
        Some((c, ip)) => (c, Some(ip)),
        None => (id, None),
    }
}

/// The `n`th candidate name for a tunnel port to `chassis`. Six characters of the name keep the whole
/// within the 15 characters a Linux interface name allows.
pub fn tunnel_port_name(chassis: &str, n: usize) -> String {
    let prefix: String = chassis.chars().take(6).collect();
    format!("ovn-{prefix}-{n}")
}

/// The name of a patch port on bridge `from` whose peer is named for `to`: `patch-<from>-to-<to>`.
pub fn patch_port_name(from: &str, to: &str) -> String {
    format!("patch-{from}-to-{to}")
}

/// One `Interface` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceView {
    pub uuid: Uuid,
    pub name: String,
    /// `type` ("" is a system interface).
    pub iface_type: String,
    pub options: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
    /// The OpenFlow port number `ovs-vswitchd` assigned (None before it did; -1 when it failed).
    pub ofport: Option<i64>,
    /// BFD configuration (`enable`, `min_rx`, `min_tx`) and what BFD reports (`forwarding`, `state`).
    pub bfd: BTreeMap<String, String>,
    pub bfd_status: BTreeMap<String, String>,
}

impl InterfaceView {
    fn from_row(row: &Row) -> InterfaceView {
        InterfaceView {
            uuid: row.uuid,
            name: row.str("name").to_string(),
            iface_type: row.str("type").to_string(),
            bfd: string_map(row, "bfd"),
            bfd_status: string_map(row, "bfd_status"),
            options: string_map(row, "options"),
            external_ids: string_map(row, "external_ids"),
            ofport: row.get("ofport").as_i64(),
        }
    }

    /// The usable OpenFlow port number: assigned and valid. OVS numbers ports below 0xff00, so 16 bits hold
    /// every one (the width the physical flows use).
    pub fn valid_ofport(&self) -> Option<u16> {
        self.ofport.filter(|p| *p > 0).and_then(|p| u16::try_from(p).ok())
    }
}

/// One `Port` row with its interfaces and the bridge it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortView {
    pub uuid: Uuid,
    pub name: String,
    /// The bridge whose `ports` holds this port (None: an orphan the server is about to collect).
    pub bridge: Option<String>,
    pub interfaces: Vec<InterfaceView>,
    pub external_ids: BTreeMap<String, String>,
}

/// One `Bridge` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeView {
    pub uuid: Uuid,
    pub name: String,
    pub datapath_type: String,
    pub fail_mode: Option<String>,
    pub other_config: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
    pub ports: Vec<Uuid>,
}

/// A tunnel port we made, as the flow code needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelPort {
    pub port: String,
    /// The remote chassis' name.
    pub chassis: String,
    pub remote_ip: Option<String>,
    pub encap_type: String,
    pub ofport: Option<u16>,
    /// BFD's verdict on the tunnel: Some(true) forwarding, Some(false) down, None not running (yet).
    pub bfd_forwarding: Option<bool>,
}

/// The whole local switch configuration, typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OvsView {
    /// The `Open_vSwitch` row.
    pub root: Option<Uuid>,
    pub bridges: BTreeMap<String, BridgeView>,
    pub ports: BTreeMap<Uuid, PortView>,
}

impl OvsView {
    pub fn from_replica(ovs_db: &Replica) -> OvsView {
        let mut v = OvsView { root: ovs_db.table(ovs::OPEN_VSWITCH).next().map(|r| r.uuid), ..Default::default() };
        let mut bridge_of: BTreeMap<Uuid, String> = BTreeMap::new();
        for b in ovs_db.table(ovs::BRIDGE) {
            let ports: Vec<Uuid> = b.get("ports").uuids().collect();
            for p in &ports {
                bridge_of.insert(*p, b.str("name").to_string());
            }
            v.bridges.insert(
                b.str("name").to_string(),
                BridgeView {
                    uuid: b.uuid,
                    name: b.str("name").to_string(),
                    datapath_type: b.str("datapath_type").to_string(),
                    fail_mode: b.get("fail_mode").as_str().map(str::to_string),
                    other_config: string_map(b, "other_config"),
                    external_ids: string_map(b, "external_ids"),
                    ports,
                },
            );
        }
        for p in ovs_db.table(ovs::PORT) {
            let interfaces =
                p.get("interfaces").uuids().filter_map(|i| ovs_db.row(ovs::INTERFACE, i)).map(InterfaceView::from_row).collect();
            v.ports.insert(
                p.uuid,
                PortView {
                    uuid: p.uuid,
                    name: p.str("name").to_string(),
                    bridge: bridge_of.get(&p.uuid).cloned(),
                    interfaces,
                    external_ids: string_map(p, "external_ids"),
                },
            );
        }
        v
    }

    pub fn bridge(&self, name: &str) -> Option<&BridgeView> {
        self.bridges.get(name)
    }

    /// The ports on bridge `name`.
    pub fn ports_on<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a PortView> + 'a {
        self.ports.values().filter(move |p| p.bridge.as_deref() == Some(name))
    }

    /// The interfaces on bridge `name`, with their ports.
    pub fn interfaces_on<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a PortView, &'a InterfaceView)> + 'a {
        self.ports_on(name).flat_map(|p| p.interfaces.iter().map(move |i| (p, i)))
    }

    pub fn port_by_name(&self, name: &str) -> Option<&PortView> {
        self.ports.values().find(|p| p.name == name)
    }

    /// Our tunnel ports on bridge `name`, in port-name order.
    pub fn tunnels(&self, name: &str) -> Vec<TunnelPort> {
        let mut v: Vec<TunnelPort> = self
            .ports_on(name)
            .filter_map(|p| {
                let (chassis, ip) = parse_tunnel_id(p.external_ids.get(TUNNEL_ID_KEY)?);
                let iface = p.interfaces.first();
                Some(TunnelPort {
                    port: p.name.clone(),
                    chassis: chassis.to_string(),
                    remote_ip: ip.map(str::to_string).or_else(|| iface.and_then(|i| i.options.get("remote_ip").cloned())),
                    encap_type: iface.map(|i| i.iface_type.clone()).unwrap_or_default(),
                    ofport: iface.and_then(InterfaceView::valid_ofport),
                    bfd_forwarding: iface.and_then(|i| i.bfd_status.get("forwarding")).map(|f| f == "true"),
                })
            })
            .collect();
        v.sort_by(|a, b| a.port.cmp(&b.port));
        v
    }

    /// The OpenFlow port of our patch port on bridge `name` for localnet port `lport`.
    pub fn localnet_ofport(&self, name: &str, lport: &str) -> Option<u16> {
        self.localnet_ports(name).filter(|(l, _)| *l == lport).find_map(|(_, ofport)| ofport)
    }

    /// Our localnet patch ports on bridge `name`: (localnet logical port, usable OpenFlow port).
    pub fn localnet_ports<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a str, Option<u16>)> + 'a {
        self.ports_on(name).filter_map(|p| {
            let lport = p.external_ids.get(LOCALNET_KEY)?;
            Some((lport.as_str(), p.interfaces.first().and_then(InterfaceView::valid_ofport)))
        })
    }

    /// Every port and interface name in use (both are unique in the schema).
    fn names(&self) -> BTreeSet<String> {
        self.ports.values().flat_map(|p| std::iter::once(p.name.clone()).chain(p.interfaces.iter().map(|i| i.name.clone()))).collect()
    }
}

/// BFD's transmit and receive interval on gateway tunnels: a dead gateway is noticed after three missed
/// packets.
pub const BFD_INTERVAL_MS: u32 = 100;

/// One port we want: a single interface of `iface_type` with `options`, marked with `mark`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WantPort {
    bridge: String,
    iface_type: String,
    options: BTreeMap<String, String>,
    /// BFD settings of the interface (tunnels to gateway chassis); empty for none.
    bfd: BTreeMap<String, String>,
    mark: (&'static str, String),
}

/// Ports added to and removed from each bridge, written as one mutate (or the bridge's insert) at the end.
#[derive(Default)]
struct BridgeEdits {
    add: BTreeMap<String, Vec<Atom>>,
    remove: BTreeMap<String, Vec<Uuid>>,
}

/// The transaction that makes the local switch match the Southbound for this chassis: the integration
/// bridge, a tunnel to every other chassis, and patch ports for every localnet port whose network is mapped
/// here. Empty when the switch already matches.
pub fn plan_ovs(cfg: &LocalConfig, ovs_db: &Replica, sb_db: &Replica) -> Transaction {
    plan(cfg, ovs_db, sb_db, None)
}

/// [`plan_ovs`] with localnet patch ports only for localnet ports of `local_datapaths` (Datapath_Binding
/// rows), as `ovn-controller` does: a chassis with no port on a network needs no path to it.
pub fn plan_ovs_local(cfg: &LocalConfig, ovs_db: &Replica, sb_db: &Replica, local_datapaths: &BTreeSet<Uuid>) -> Transaction {
    plan(cfg, ovs_db, sb_db, Some(local_datapaths))
}

fn plan(cfg: &LocalConfig, ovs_db: &Replica, sb_db: &Replica, local_datapaths: Option<&BTreeSet<Uuid>>) -> Transaction {
    let view = OvsView::from_replica(ovs_db);
    let mut txn = Transaction::new();
    let Some(root) = view.root else {
        tracing::warn!("the Open_vSwitch table has no row; nothing to configure");
        return txn;
    };
    let br_int = cfg.integration_bridge.as_str();
    let mut edits = BridgeEdits::default();
    let mut taken = view.names();

    // Chassis that are members of an HA chassis group (gateways).
    let gateways: BTreeSet<&str> = sb_db
        .table(sb::HA_CHASSIS)
        .filter_map(|h| h.get("chassis").as_uuid())
        .filter_map(|c| sb_db.row(sb::CHASSIS, c))
        .map(|c| c.str("name"))
        .collect();
    // Tunnels: one per remote chassis we share an encapsulation and a transport zone with.
    let mut want_tunnels: BTreeMap<String, (String, WantPort)> = BTreeMap::new(); // id -> (chassis, port)
    for ch in ChassisView::all(sb_db) {
        if ch.name == cfg.system_id || !ch.shares_transport_zone(&cfg.transport_zones) {
            continue;
        }
        let Some((t, encap)) = ch.best_encap(&cfg.encap_types) else {
            tracing::debug!(chassis = %ch.name, "no encapsulation in common; no tunnel");
            continue;
        };
        let mut options = BTreeMap::from([("remote_ip".to_string(), encap.ip.clone()), ("key".to_string(), "flow".to_string())]);
        if let Some(c) = encap.options.get("csum").filter(|c| *c == "true" || *c == "false") {
            options.insert("csum".to_string(), c.clone());
        }
        if let Some(p) = encap.options.get("dst_port") {
            options.insert("dst_port".to_string(), p.clone());
        }
        let id = tunnel_id(&ch.name, &encap.ip);
        // BFD tells gateway chassis apart from dead ones: on tunnels to and from chassis of HA groups.
        let bfd = if gateways.contains(ch.name.as_str()) || gateways.contains(cfg.system_id.as_str()) {
            BTreeMap::from([
                ("enable".to_string(), "true".to_string()),
                ("min_rx".to_string(), BFD_INTERVAL_MS.to_string()),
                ("min_tx".to_string(), BFD_INTERVAL_MS.to_string()),
            ])
        } else {
            BTreeMap::new()
        };
        let want =
            WantPort { bridge: br_int.to_string(), iface_type: t.as_str().to_string(), options, bfd, mark: (TUNNEL_ID_KEY, id.clone()) };
        want_tunnels.insert(id, (ch.name.clone(), want));
    }
    let mut have_tunnels: BTreeSet<String> = BTreeSet::new();
    for p in view.ports_on(br_int) {
        let Some(id) = p.external_ids.get(TUNNEL_ID_KEY) else { continue };
        match want_tunnels.get(id) {
            Some((_, want)) if have_tunnels.insert(id.clone()) => update_port(&mut txn, p, want),
            _ => edits.remove.entry(br_int.to_string()).or_default().push(p.uuid),
        }
    }
    for (id, (chassis, want)) in &want_tunnels {
        if have_tunnels.contains(id) {
            continue;
        }
        let name = (0..).map(|n| tunnel_port_name(chassis, n)).find(|n| !taken.contains(n)).unwrap_or_default();
        taken.insert(name.clone());
        insert_port(&mut txn, &mut edits, &name, want);
    }

    // Localnet patch-port pairs, by port name.
    let mut want_patches: BTreeMap<String, WantPort> = BTreeMap::new();
    for pb in sb_db.table(sb::PORT_BINDING).filter(|pb| pb.str("type") == "localnet") {
        if local_datapaths.is_some_and(|l| !pb.get("datapath").as_uuid().is_some_and(|d| l.contains(&d))) {
            continue;
        }
        let lport = pb.str("logical_port");
        let Some(network) = pb.get("options").get("network_name").and_then(Atom::as_str) else { continue };
        let Some(phys) = cfg.bridge_mappings.get(network) else { continue };
        if phys == br_int {
            tracing::warn!(network, bridge = %phys, "a bridge mapping names the integration bridge itself; ignored");
            continue;
        }
        if view.bridge(phys).is_none() {
            tracing::warn!(network, bridge = %phys, "bridge not found for the network's mapping; no patch ports");
            continue;
        }
        let near = patch_port_name(br_int, lport);
        let far = patch_port_name(lport, br_int);
        let mark = (LOCALNET_KEY, lport.to_string());
        let patch = |bridge: &str, peer: &str| WantPort {
            bridge: bridge.to_string(),
            iface_type: "patch".to_string(),
            options: BTreeMap::from([("peer".to_string(), peer.to_string())]),
            bfd: BTreeMap::new(),
            mark: mark.clone(),
        };
        want_patches.insert(near.clone(), patch(br_int, &far));
        want_patches.insert(far, patch(phys, &near));
    }
    let mut have_patches: BTreeSet<String> = BTreeSet::new();
    for p in view.ports.values().filter(|p| p.external_ids.contains_key(LOCALNET_KEY)) {
        let Some(bridge) = p.bridge.clone() else { continue };
        match want_patches.get(&p.name) {
            Some(want) if have_patches.insert(p.name.clone()) => {
                update_port(&mut txn, p, want);
                if want.bridge != bridge {
                    edits.remove.entry(bridge).or_default().push(p.uuid);
                    edits.add.entry(want.bridge.clone()).or_default().push(Atom::Uuid(p.uuid));
                }
            }
            _ => edits.remove.entry(bridge).or_default().push(p.uuid),
        }
    }
    for (name, want) in &want_patches {
        if have_patches.contains(name) {
            continue;
        }
        if taken.contains(name) {
            tracing::warn!(port = %name, "a port we did not make has this name; leaving it alone");
            continue;
        }
        taken.insert(name.clone());
        insert_port(&mut txn, &mut edits, name, want);
    }

    // The integration bridge, and every bridge's port changes.
    match view.bridge(br_int) {
        Some(b) => {
            let mut row = RowData::new();
            if b.fail_mode.as_deref() != Some("secure") {
                row.insert("fail_mode".to_string(), Datum::atom("secure"));
            }
            if let Some(dt) = cfg.bridge_datapath_type.as_deref().filter(|dt| *dt != b.datapath_type) {
                row.insert("datapath_type".to_string(), Datum::atom(dt));
            }
            if !row.is_empty() {
                txn.update(ovs::BRIDGE, vec![Condition::uuid(b.uuid)], row);
            }
            if b.other_config.get("disable-in-band").map(String::as_str) != Some("true") {
                txn.mutate(ovs::BRIDGE, vec![Condition::uuid(b.uuid)], set_key("other_config", "disable-in-band", "true"));
            }
        }
        None => {
            // Like `ovs-vsctl add-br`: the bridge's own internal port of the same name.
            let i = txn.insert(
                ovs::INTERFACE,
                RowData::from([("name".to_string(), Datum::atom(br_int)), ("type".to_string(), Datum::atom("internal"))]),
            );
            let p = txn
                .insert(ovs::PORT, RowData::from([("name".to_string(), Datum::atom(br_int)), ("interfaces".to_string(), Datum::atom(i))]));
            let mut ports = edits.add.remove(br_int).unwrap_or_default();
            ports.push(p);
            let mut row = RowData::from([
                ("name".to_string(), Datum::atom(br_int)),
                ("fail_mode".to_string(), Datum::atom("secure")),
                ("other_config".to_string(), Datum::map([("disable-in-band", "true")])),
                ("ports".to_string(), Datum::Set(ports.into_iter().collect())),
            ]);
            if let Some(dt) = &cfg.bridge_datapath_type {
                row.insert("datapath_type".to_string(), Datum::atom(dt.as_str()));
            }
            let b = txn.insert(ovs::BRIDGE, row);
            txn.mutate(ovs::OPEN_VSWITCH, vec![Condition::uuid(root)], vec![Mutation::insert("bridges", Datum::atom(b))]);
        }
    }
    let bridges: BTreeSet<String> = edits.add.keys().chain(edits.remove.keys()).cloned().collect();
    for name in bridges {
        let Some(b) = view.bridge(&name) else { continue };
        let mut m = Vec::new();
        if let Some(r) = edits.remove.get(&name).filter(|r| !r.is_empty()) {
            m.push(Mutation::delete("ports", Datum::set(r.iter().copied())));
        }
        if let Some(a) = edits.add.get(&name).filter(|a| !a.is_empty()) {
            m.push(Mutation::insert("ports", Datum::Set(a.iter().cloned().collect())));
        }
        if !m.is_empty() {
            txn.mutate(ovs::BRIDGE, vec![Condition::uuid(b.uuid)], m);
        }
    }
    if !txn.is_empty() {
        txn.comment(&format!("controller: {} ports for chassis {}", br_int, cfg.system_id));
    }
    txn
}

/// Inserts a port of one interface as `want` describes; its bridge gets it at the end.
fn insert_port(txn: &mut Transaction, edits: &mut BridgeEdits, name: &str, want: &WantPort) {
    let i = txn.insert(
        ovs::INTERFACE,
        RowData::from([
            ("name".to_string(), Datum::atom(name)),
            ("type".to_string(), Datum::atom(want.iface_type.as_str())),
            ("options".to_string(), map_datum(&want.options)),
            ("bfd".to_string(), map_datum(&want.bfd)),
        ]),
    );
    let p = txn.insert(
        ovs::PORT,
        RowData::from([
            ("name".to_string(), Datum::atom(name)),
            ("interfaces".to_string(), Datum::atom(i)),
            ("external_ids".to_string(), Datum::map([(want.mark.0, want.mark.1.as_str())])),
        ]),
    );
    edits.add.entry(want.bridge.clone()).or_default().push(p);
}

/// Brings an existing port of ours back to `want` (someone edited it, or a peer changed).
fn update_port(txn: &mut Transaction, p: &PortView, want: &WantPort) {
    if p.external_ids.get(want.mark.0) != Some(&want.mark.1) {
        txn.mutate(ovs::PORT, vec![Condition::uuid(p.uuid)], set_key("external_ids", want.mark.0, &want.mark.1));
    }
    for i in &p.interfaces {
        let mut row = RowData::new();
        if i.iface_type != want.iface_type {
            row.insert("type".to_string(), Datum::atom(want.iface_type.as_str()));
        }
        if i.options != want.options {
            row.insert("options".to_string(), map_datum(&want.options));
        }
        if i.bfd != want.bfd {
            row.insert("bfd".to_string(), map_datum(&want.bfd));
        }
        if !row.is_empty() {
            txn.update(ovs::INTERFACE, vec![Condition::uuid(i.uuid)], row);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::testutil::{jmap, OvsBuilder, SbBuilder};
    use model::ovsdb::Operation;
    use serde_json::json;

    const ME: [(&str, &str); 4] =
        [("system-id", "chassis-me"), ("ovn-encap-ip", "10.0.0.1"), ("hostname", "h"), ("ovn-bridge-mappings", "physnet:br-phys")];

    fn base() -> OvsBuilder {
        let mut b = OvsBuilder::new();
        b.open_vswitch(&ME);
        b.bridge("br-phys", &[]);
        b
    }

    fn cfg_of(ovs_db: &Replica) -> LocalConfig {
        LocalConfig::from_ovs_with_hostname(ovs_db, "h").unwrap()
    }

    fn ops(t: &Transaction) -> Vec<String> {
        t.ops.iter().filter(|o| !matches!(o, Operation::Comment(_))).map(Operation::describe).collect()
    }

    fn inserted_names(t: &Transaction, table: &str) -> Vec<String> {
        t.ops
            .iter()
            .filter_map(|o| match o {
                Operation::Insert { table: tb, row, .. } if tb == table => row.get("name").and_then(|n| n.as_str()).map(str::to_string),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn names_like_ovn_controller() {
        assert_eq!(tunnel_port_name("chassis-beta-2", 0), "ovn-chassi-0");
        assert_eq!(tunnel_port_name("ab", 3), "ovn-ab-3");
        assert_eq!(tunnel_id("ch", "10.0.0.2"), "ch@10.0.0.2");
        assert_eq!(parse_tunnel_id("ch@10.0.0.2"), ("ch", Some("10.0.0.2")));
        assert_eq!(parse_tunnel_id("ch"), ("ch", None));
        assert_eq!(patch_port_name("br-int", "ln-ext"), "patch-br-int-to-ln-ext");
    }

    #[test]
    fn creates_the_integration_bridge() {
        let ovs_db = base().build();
        let t = plan_ovs(&cfg_of(&ovs_db), &ovs_db, &SbBuilder::new().build());
        assert_eq!(ops(&t), ["insert into Interface", "insert into Port", "insert into Bridge", "mutate of Open_vSwitch"]);
        let Operation::Insert { row, .. } = &t.ops[2] else { panic!() };
        assert_eq!(row["fail_mode"], Datum::atom("secure"));
        assert_eq!(row["other_config"], Datum::map([("disable-in-band", "true")]));
        assert!(!row.contains_key("datapath_type"), "left to the switch unless configured");
    }

    #[test]
    fn fixes_an_existing_bridge_and_leaves_a_good_one_alone() {
        let mut b = base();
        b.bridge("br-int", &[("datapath_type", json!("netdev"))]);
        let ovs_db = b.build();
        let t = plan_ovs(&cfg_of(&ovs_db), &ovs_db, &SbBuilder::new().build());
        assert_eq!(ops(&t), ["update of Bridge", "mutate of Bridge"]);
        let Operation::Update { row, .. } = &t.ops[0] else { panic!() };
        assert_eq!(row.keys().collect::<Vec<_>>(), ["fail_mode"], "datapath_type is not touched unless configured");

        let mut b = base();
        b.bridge("br-int", &[("fail_mode", json!("secure")), ("other_config", jmap(&[("disable-in-band", "true")]))]);
        let ovs_db = b.build();
        assert!(plan_ovs(&cfg_of(&ovs_db), &ovs_db, &SbBuilder::new().build()).is_empty());
    }

    fn good_br_int(b: &mut OvsBuilder) {
        b.bridge("br-int", &[("fail_mode", json!("secure")), ("other_config", jmap(&[("disable-in-band", "true")]))]);
    }

    #[test]
    fn one_tunnel_per_remote_chassis_with_unique_names() {
        let mut b = base();
        good_br_int(&mut b);
        // Someone's port already has the first candidate name of chassis-beta.
        b.port("br-int", "ovn-chassi-0", json!({}), &[]);
        let ovs_db = b.build();
        let mut s = SbBuilder::new();
        s.chassis("chassis-me", &[("geneve", "10.0.0.1")]);
        s.chassis("chassis-beta", &[("geneve", "10.0.0.2")]);
        s.chassis("chassis-gamma", &[("geneve", "10.0.0.3")]);
        s.chassis("vx-only", &[("vxlan", "10.0.0.4")]);
        let t = plan_ovs(&cfg_of(&ovs_db), &ovs_db, &s.build());
        assert_eq!(inserted_names(&t, ovs::PORT), ["ovn-chassi-1", "ovn-chassi-2"]);
        let Operation::Insert { row, .. } = &t.ops[0] else { panic!() };
        assert_eq!(row["type"], Datum::atom("geneve"));
        assert_eq!(row["options"], Datum::map([("remote_ip", "10.0.0.2"), ("key", "flow"), ("csum", "true")]));
        let Operation::Insert { row, .. } = &t.ops[1] else { panic!() };
        assert_eq!(row["external_ids"], Datum::map([(TUNNEL_ID_KEY, "chassis-beta@10.0.0.2")]));
    }

    #[test]
    fn keeps_repairs_and_removes_tunnels() {
        let mut b = base();
        good_br_int(&mut b);
        let beta = [(TUNNEL_ID_KEY, "beta@10.0.0.2")];
        b.port(
            "br-int",
            "ovn-beta-0",
            json!({"type": "geneve", "options": jmap(&[("remote_ip", "10.0.0.2"), ("key", "flow"), ("csum", "true")])}),
            &beta,
        );
        b.port(
            "br-int",
            "ovn-gamma-0",
            json!({"type": "vxlan", "options": jmap(&[("remote_ip", "10.0.0.3")])}),
            &[(TUNNEL_ID_KEY, "gamma@10.0.0.3")],
        );
        b.port("br-int", "ovn-gone-0", json!({"type": "geneve"}), &[(TUNNEL_ID_KEY, "gone@10.0.0.9")]);
        b.port("br-int", "vm1", json!({"external_ids": jmap(&[("iface-id", "vm1")])}), &[]);
        let ovs_db = b.build();
        let mut s = SbBuilder::new();
        s.chassis("beta", &[("geneve", "10.0.0.2")]);
        s.chassis("gamma", &[("geneve", "10.0.0.3")]);
        let sb_db = s.build();
        let t = plan_ovs(&cfg_of(&ovs_db), &ovs_db, &sb_db);
        assert_eq!(ops(&t), ["update of Interface", "mutate of Bridge"], "{t:?}");
        let Operation::Mutate { mutations, .. } = &t.ops[1] else { panic!() };
        assert_eq!(mutations.len(), 1, "only a removal");
        let gone = OvsView::from_replica(&ovs_db).port_by_name("ovn-gone-0").unwrap().uuid;
        assert_eq!(mutations[0], Mutation::delete("ports", Datum::atom(gone)));
        let view = OvsView::from_replica(&ovs_db);
        assert_eq!(view.tunnels("br-int").iter().map(|t| t.chassis.as_str()).collect::<Vec<_>>(), ["beta", "gamma", "gone"]);
    }

    #[test]
    fn transport_zones_limit_tunnels() {
        let mut b = OvsBuilder::new();
        b.open_vswitch(&[("system-id", "me"), ("ovn-encap-ip", "10.0.0.1"), ("ovn-transport-zones", "tz1")]);
        good_br_int(&mut b);
        let ovs_db = b.build();
        let mut s = SbBuilder::new();
        let a = s.chassis("in-zone", &[("geneve", "10.0.0.2")]);
        s.set(sb::CHASSIS, a, "transport_zones", json!(["set", ["tz1", "tz2"]]));
        s.chassis("default-zone", &[("geneve", "10.0.0.3")]);
        let t = plan_ovs(&cfg_of(&ovs_db), &ovs_db, &s.build());
        assert_eq!(inserted_names(&t, ovs::PORT), ["ovn-in-zon-0"]);
    }

    fn localnet_sb() -> (SbBuilder, Uuid) {
        let mut s = SbBuilder::new();
        let dp = s.datapath(1);
        s.port("ln-ext", dp, 1, "localnet", &[("network_name", "physnet")], &[]);
        let dp2 = s.datapath(2);
        s.port("ln-other", dp2, 1, "localnet", &[("network_name", "unmapped")], &[]);
        (s, dp)
    }

    #[test]
    fn patch_ports_for_mapped_localnet_ports() {
        let mut b = base();
        good_br_int(&mut b);
        let ovs_db = b.build();
        let (s, dp) = localnet_sb();
        let sb_db = s.build();
        let t = plan_ovs(&cfg_of(&ovs_db), &ovs_db, &sb_db);
        assert_eq!(inserted_names(&t, ovs::PORT), ["patch-br-int-to-ln-ext", "patch-ln-ext-to-br-int"]);
        let Operation::Insert { row, .. } = &t.ops[0] else { panic!() };
        assert_eq!(row["type"], Datum::atom("patch"));
        assert_eq!(row["options"], Datum::map([("peer", "patch-ln-ext-to-br-int")]));
        let Operation::Insert { row, .. } = &t.ops[1] else { panic!() };
        assert_eq!(row["external_ids"], Datum::map([(LOCALNET_KEY, "ln-ext")]));
        assert_eq!(ops(&t)[4..], ["mutate of Bridge", "mutate of Bridge"]);

        // Scoped to local datapaths: none local, none made.
        assert!(plan_ovs_local(&cfg_of(&ovs_db), &ovs_db, &sb_db, &BTreeSet::new()).is_empty());
        assert_eq!(inserted_names(&plan_ovs_local(&cfg_of(&ovs_db), &ovs_db, &sb_db, &BTreeSet::from([dp])), ovs::PORT).len(), 2);
    }

    #[test]
    fn patch_ports_are_kept_moved_and_removed() {
        let mut b = OvsBuilder::new();
        b.open_vswitch(&[("system-id", "me"), ("ovn-encap-ip", "10.0.0.1"), ("ovn-bridge-mappings", "physnet:br-new")]);
        good_br_int(&mut b);
        b.bridge("br-phys", &[]);
        b.bridge("br-new", &[]);
        let mark = [(LOCALNET_KEY, "ln-ext")];
        b.port("br-int", "patch-br-int-to-ln-ext", json!({"type": "patch", "options": jmap(&[("peer", "patch-ln-ext-to-br-int")])}), &mark);
        b.port(
            "br-phys",
            "patch-ln-ext-to-br-int",
            json!({"type": "patch", "options": jmap(&[("peer", "patch-br-int-to-ln-ext")])}),
            &mark,
        );
        let stale = [(LOCALNET_KEY, "ln-old")];
        b.port("br-int", "patch-br-int-to-ln-old", json!({"type": "patch", "options": jmap(&[("peer", "x")])}), &stale);
        let ovs_db = b.build();
        let (s, _) = localnet_sb();
        let t = plan_ovs(&cfg_of(&ovs_db), &ovs_db, &s.build());
        // br-int loses ln-old's port; the far end moves from br-phys to br-new.
        assert_eq!(ops(&t), ["mutate of Bridge", "mutate of Bridge", "mutate of Bridge"], "{t:?}");
        assert!(inserted_names(&t, ovs::PORT).is_empty());
    }

    #[test]
    fn a_missing_mapped_bridge_or_a_foreign_port_name_is_skipped() {
        let mut b = OvsBuilder::new();
        b.open_vswitch(&ME);
        good_br_int(&mut b);
        let ovs_db = b.build();
        let (s, _) = localnet_sb();
        let sb_db = s.build();
        assert!(plan_ovs(&cfg_of(&ovs_db), &ovs_db, &sb_db).is_empty(), "br-phys does not exist");

        let mut b = base();
        good_br_int(&mut b);
        b.port("br-int", "patch-br-int-to-ln-ext", json!({}), &[]);
        let ovs_db = b.build();
        let t = plan_ovs(&cfg_of(&ovs_db), &ovs_db, &sb_db);
        assert_eq!(inserted_names(&t, ovs::PORT), ["patch-ln-ext-to-br-int"]);
    }
}
