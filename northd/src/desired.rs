//! What the Southbound database should hold: the output of the translation, before it is compared with
//! what the Southbound holds now.
//!
//! Everything is keyed by stable Northbound identities (datapaths by the NB row's UUID, ports by name),
//! never by Southbound UUIDs, so translating twice gives equal values and the sync step can diff them.

use std::collections::{BTreeMap, BTreeSet};

use model::ovsdb::Uuid;

use crate::stage::{DpKind, Stage};

/// A logical flow. The order (datapath, stage, priority, match, actions) is the order in which goldens list
/// them. `source` says which builder made it and is not part of its identity: two builders may want the
/// same flow.
#[derive(Debug, Clone)]
pub struct Lflow {
    /// The NB UUID of the switch or router.
    pub datapath: Uuid,
    pub stage: Stage,
    pub priority: u16,
    pub match_: String,
    pub actions: String,
    /// Where in northd's code the flow was made (`external_ids:source`, as ovn-northd writes its own
    /// `northd.c:LINE`): what an operator reads to find why a flow exists.
    pub source: &'static std::panic::Location<'static>,
}

impl Lflow {
    fn identity(&self) -> (Uuid, Stage, u16, &str, &str) {
        (self.datapath, self.stage, self.priority, &self.match_, &self.actions)
    }

    /// `source` as written to `external_ids:source`: the file under the workspace and the line.
    pub fn source_text(&self) -> String {
        format!("{}:{}", self.source.file(), self.source.line())
    }
}

impl PartialEq for Lflow {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for Lflow {}

impl PartialOrd for Lflow {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Lflow {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.identity().cmp(&other.identity())
    }
}

impl std::hash::Hash for Lflow {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

impl Lflow {
    /// The flow's Southbound identity as 64 bits (see [`flow_key_hash`]).
    pub fn key_hash(&self) -> u64 {
        flow_key_hash(
            self.datapath,
            self.stage.pipeline() == crate::stage::Pipeline::Egress,
            i64::from(self.stage.table()),
            i64::from(self.priority),
            &self.match_,
            &self.actions,
        )
    }
}

/// A logical flow's identity (NB datapath, egress?, table, priority, match, actions) hashed to 64 bits, computed
/// the same way from a desired flow and from a Southbound row. Northd keys flows by it instead of by their text,
/// so the text of each flow is held once (SipHash over ~10^5 flows: a collision is a ~10^-9 event, and the
/// engine logs one if it ever sees it).
pub fn flow_key_hash(datapath: Uuid, egress: bool, table: i64, priority: i64, match_: &str, actions: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (datapath, egress, table, priority, match_, actions).hash(&mut h);
    h.finish()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datapath {
    pub nb_uuid: Uuid,
    pub kind: DpKind,
    pub name: String,
    pub tunnel_key: i64,
}

impl Datapath {
    /// `external_ids` as OVN writes them: `logical-switch`/`logical-router` = NB UUID, and `name`.
    pub fn external_ids(&self) -> BTreeMap<String, String> {
        let k = match self.kind {
            DpKind::Switch => "logical-switch",
            DpKind::Router => "logical-router",
        };
        BTreeMap::from([(k.to_string(), self.nb_uuid.to_string()), ("name".to_string(), self.name.clone())])
    }
}

/// A `Port_Binding`, without the columns `ovn-controller` owns (`chassis`, `up`, `encap`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    pub logical_port: String,
    /// NB UUID of the datapath.
    pub datapath: Uuid,
    pub kind: String,
    pub tunnel_key: i64,
    pub options: BTreeMap<String, String>,
    pub mac: Vec<String>,
    pub port_security: Vec<String>,
    pub nat_addresses: Vec<String>,
    pub parent_port: Option<String>,
    pub tag: Option<i64>,
    /// Name of the HA_Chassis_Group (chassisredirect ports).
    pub ha_chassis_group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MulticastGroup {
    pub datapath: Uuid,
    pub name: String,
    pub tunnel_key: i64,
    /// Logical port names.
    pub ports: BTreeSet<String>,
}

/// An `HA_Chassis_Group`: chassis names with priorities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaChassisGroup {
    pub name: String,
    pub chassis: BTreeMap<String, i64>,
}

/// Reserved multicast group keys, as OVN assigns them.
pub const MC_FLOOD: (&str, i64) = ("_MC_flood", 32768);
pub const MC_UNKNOWN: (&str, i64) = ("_MC_unknown", 32769);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredSb {
    pub datapaths: BTreeMap<Uuid, Datapath>,
    pub ports: BTreeMap<String, PortBinding>,
    pub mc_groups: BTreeMap<(Uuid, String), MulticastGroup>,
    pub ha_groups: BTreeMap<String, HaChassisGroup>,
    /// Rows of the tables of [`crate::named_rows`].
    pub named: BTreeMap<crate::named_rows::Key, crate::named_rows::Values>,
    pub lflows: BTreeSet<Lflow>,
}

impl DesiredSb {
    /// Adds a flow on a datapath (for tests that write a desired Southbound by hand).
    #[track_caller]
    pub fn flow(&mut self, datapath: Uuid, stage: Stage, priority: u16, match_: impl Into<String>, actions: impl Into<String>) {
        let source = std::panic::Location::caller();
        self.lflows.insert(Lflow { datapath, stage, priority, match_: match_.into(), actions: actions.into(), source });
    }
}

impl DesiredSb {
    /// The logical flows as `ovn-sbctl lflow-list` prints them, with every datapath UUID written as
    /// `<uuid>`: the text goldens hold, and what the real tool must read back from the Southbound.
    pub fn lflow_list_text(&self) -> String {
        use crate::stage::Pipeline;
        let mut dps: Vec<&Datapath> = self.datapaths.values().collect();
        dps.sort_by(|a, b| (&a.name, a.nb_uuid).cmp(&(&b.name, b.nb_uuid)));
        let mut out = String::new();
        for dp in dps {
            for pipe in [Pipeline::Ingress, Pipeline::Egress] {
                let mut flows: Vec<&Lflow> =
                    self.lflows.iter().filter(|f| f.datapath == dp.nb_uuid && f.stage.pipeline() == pipe).collect();
                if flows.is_empty() {
                    continue;
                }
                flows.sort_by(|a, b| {
                    (a.stage.table(), std::cmp::Reverse(a.priority), &a.match_, &a.actions).cmp(&(
                        b.stage.table(),
                        std::cmp::Reverse(b.priority),
                        &b.match_,
                        &b.actions,
                    ))
                });
                out.push_str(&format!("Datapath: \"{}\" (<uuid>)  Pipeline: {}\n", dp.name, pipe.as_str()));
                for f in flows {
                    let table = format!("{:<2}", f.stage.table());
                    out.push_str(&format!(
                        "  table={table}({:<19}), priority={:<5}, match=({}), action=({})\n",
                        f.stage.name(),
                        f.priority,
                        f.match_,
                        f.actions
                    ));
                }
            }
        }
        out
    }
}
