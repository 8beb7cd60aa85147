//! What compiling a Southbound database's logical flows for one chassis needs to know, read from a
//! replica: datapath and port tunnel keys, which ports live on the chassis, address sets and port groups.

use std::collections::{BTreeMap, BTreeSet};

use model::ovsdb::{Replica, Uuid};
use model::sb::table::*;
use model::sb::{self, AddressSet, Chassis, MulticastGroup, PortBinding, PortGroup, SbGlobal};

use crate::expr::compile::Lookup;
use crate::expr::lexer::{lex, Num, Tok};
use crate::lflow::LflowError;
use crate::ofp::Flow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatapathInfo {
    pub key: u32,
    pub is_router: bool,
    pub name: String,
}

/// The Southbound as the compiler sees it, for one chassis.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SbView {
    /// Datapath_Binding row -> info.
    pub datapaths: BTreeMap<Uuid, DatapathInfo>,
    /// Per datapath row: logical port or multicast group name -> tunnel key.
    pub ports: BTreeMap<Uuid, BTreeMap<String, u32>>,
    /// Logical ports bound to this chassis.
    pub resident: BTreeSet<String>,
    pub address_sets: BTreeMap<String, Vec<Num>>,
    pub port_groups: BTreeMap<String, Vec<String>>,
}

/// Reads one constant written as OVN writes address-set members.
pub(crate) fn constant(s: &str) -> Option<Num> {
    match lex(s).ok()?.as_slice() {
        [t] => match &t.tok {
            Tok::Num(n) => Some(*n),
            _ => None,
        },
        _ => None,
    }
}

impl SbView {
    pub fn from_replica(sb: &Replica, chassis: &str) -> SbView {
        let mut v = SbView::default();
        for dp in sb.table(DATAPATH_BINDING) {
            v.datapaths.insert(dp.uuid, crate::cache::datapath_info(dp));
        }
        let our_chassis: Option<Uuid> = sb::rows::<Chassis>(sb).find(|c| c.name() == chassis).map(|c| c.uuid());
        for pb in sb::rows::<PortBinding>(sb) {
            let Some(dp) = pb.datapath() else { continue };
            let key = pb.tunnel_key().unwrap_or(0) as u32;
            let name = pb.logical_port().to_string();
            if our_chassis.is_some() && pb.chassis() == our_chassis {
                v.resident.insert(name.clone());
            }
            v.ports.entry(dp).or_default().insert(name, key);
        }
        for mc in sb::rows::<MulticastGroup>(sb) {
            let Some(dp) = mc.datapath() else { continue };
            let key = mc.tunnel_key().unwrap_or(0) as u32;
            v.ports.entry(dp).or_default().insert(mc.name().to_string(), key);
        }
        for a in sb::rows::<AddressSet>(sb) {
            v.address_sets.insert(a.name().to_string(), a.addresses().strings().filter_map(constant).collect());
        }
        if let Some(mac) = sb::rows::<SbGlobal>(sb).next().and_then(|g| g.options().get("svc_monitor_mac").and_then(constant)) {
            v.address_sets.insert("svc_monitor_mac".into(), vec![mac]);
        }
        for pg in sb::rows::<PortGroup>(sb) {
            v.port_groups.insert(pg.name().to_string(), pg.ports().strings().map(str::to_string).collect());
        }
        v
    }

    /// The lookups of one datapath.
    pub fn lookup(&self, datapath: Uuid) -> DatapathLookup<'_> {
        DatapathLookup { view: self, datapath }
    }
}

/// [`Lookup`] for flows of one datapath.
pub struct DatapathLookup<'a> {
    view: &'a SbView,
    datapath: Uuid,
}

impl Lookup for DatapathLookup<'_> {
    fn port_key(&self, name: &str) -> Option<u32> {
        // "none" is the name of "no port", key 0 (what get_fdb leaves for an unknown MAC).
        if name == "none" {
            return Some(0);
        }
        self.view.ports.get(&self.datapath)?.get(name).copied()
    }
    fn is_chassis_resident(&self, port: &str) -> bool {
        self.view.resident.contains(port)
    }
    fn address_set(&self, name: &str) -> Option<Vec<Num>> {
        self.view.address_sets.get(name).cloned()
    }
    fn port_group(&self, name: &str) -> Option<Vec<String>> {
        let key = self.view.datapaths.get(&self.datapath).map(|d| d.key).unwrap_or(0);
        self.view.port_groups.get(&format!("{key}_{name}")).or_else(|| self.view.port_groups.get(name)).cloned()
    }
}

/// A logical flow that failed to compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowFailure {
    pub lflow: Uuid,
    pub error: LflowError,
}

/// Compiles every logical flow of a Southbound replica for a chassis (each flow on each of its datapaths,
/// a datapath named twice compiled once). [`crate::cache::LflowCache`] keeps the same result current.
pub fn compile_all(sb: &Replica, view: &SbView) -> (Vec<Flow>, Vec<FlowFailure>) {
    let mut flows = Vec::new();
    let mut failures = Vec::new();
    let mut conj_id = 0u32;
    let mut next_conj = || {
        conj_id += 1;
        conj_id
    };
    for lf in sb.table(LOGICAL_FLOW) {
        let (dps, _) = crate::cache::lflow_datapaths(sb, lf);
        for dp in dps {
            let Some(info) = view.datapaths.get(&dp) else { continue };
            match crate::cache::compile_on(lf, info, &view.lookup(dp), &mut next_conj) {
                Ok(f) => flows.extend(f),
                Err(error) => failures.push(FlowFailure { lflow: lf.uuid, error }),
            }
        }
    }
    (flows, failures)
}

/// The Southbound tables [`SbView`] and [`compile_all`] read.
pub const TABLES: [&str; 10] = [
    SB_GLOBAL,
    DATAPATH_BINDING,
    PORT_BINDING,
    MULTICAST_GROUP,
    LOGICAL_FLOW,
    LOGICAL_DP_GROUP,
    CHASSIS,
    ADDRESS_SET,
    PORT_GROUP,
    MAC_BINDING,
];
