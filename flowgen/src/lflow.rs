//! One logical flow to OpenFlow flows.
//!
//! ```text
//!   Logical_Flow { pipeline, table_id, priority, match, actions }  on datapath with tunnel key K
//!     match   ──expr::compile──▶  conjuncts (or a conjunctive match)
//!     actions ──actions::encode─▶ OpenFlow actions
//!     ──▶ table = 8+N (ingress) / 40+N (egress), metadata=K added to every match,
//!         cookie = the logical flow's UUID's first 32 bits (so `ovs-ofctl dump-flows` leads back to it)
//! ```
//! A conjunctive match becomes one flow per clause member (actions `conjunction(id,k/n)`; members of
//! several clauses with the same match share one flow) plus one flow on `conj_id=id` with the actions.

use std::collections::BTreeMap;

use crate::actions::encode::{encode, ActionContext, EncodeError};
use crate::actions::parse as parse_actions;
use crate::expr::compile::{compile, Conj, Lookup};
use crate::expr::parse as parse_match;
use crate::layout::Pipeline;
use crate::ofp::{Action as Of, Field, Flow, Match};

/// A logical flow as the compiler needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalFlow<'a> {
    /// The flow's UUID (its first 32 bits become the cookie).
    pub uuid: u128,
    pub pipeline: Pipeline,
    pub table_id: u8,
    pub priority: u16,
    pub match_: &'a str,
    pub actions: &'a str,
    /// The datapath's tunnel key.
    pub datapath_key: u32,
    pub is_router: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LflowError {
    #[error("match: {0}")]
    Match(String),
    #[error("actions: {0}")]
    Actions(String),
}

/// The cookie of a logical flow's OpenFlow flows.
pub fn cookie_of(uuid: u128) -> u64 {
    (uuid >> 96) as u64
}

fn to_match(c: &Conj, datapath_key: u32) -> Result<Match, LflowError> {
    let mut m = Match::new();
    m.set(Field::Metadata, u128::from(datapath_key)).map_err(|e| LflowError::Match(e.to_string()))?;
    for (name, (v, mask)) in c {
        let f = Field::from_name(name).ok_or_else(|| LflowError::Match(format!("{name}: no such OpenFlow field")))?;
        m.set_masked(f, *v, *mask).map_err(|e| LflowError::Match(e.to_string()))?;
    }
    Ok(m)
}

/// Compiles one logical flow. `next_conj_id` hands out conjunction ids unique on the switch.
pub fn compile_lflow(lf: &LogicalFlow, lookup: &dyn Lookup, next_conj_id: &mut dyn FnMut() -> u32) -> Result<Vec<Flow>, LflowError> {
    if lf.table_id >= lf.pipeline.max_tables() {
        return Err(LflowError::Actions(format!("table {} is beyond the pipeline", lf.table_id)));
    }
    let expr = parse_match(lf.match_).map_err(|e| LflowError::Match(e.to_string()))?;
    let actions = parse_actions(lf.actions).map_err(|e| LflowError::Actions(e.to_string()))?;
    let ctx = ActionContext { lookup, pipeline: lf.pipeline, table_id: lf.table_id, is_router: lf.is_router };
    let encoded = encode(&actions, &ctx).map_err(|EncodeError(e)| LflowError::Actions(e))?;
    // The actions' prerequisites narrow the match (a `ct` needs IP, `arp.op = 2` needs ARP).
    let mut all = vec![expr];
    for p in &encoded.prereqs {
        all.push(parse_match(p).map_err(|e| LflowError::Match(e.to_string()))?);
    }
    let expr = if all.len() == 1 { all.remove(0) } else { crate::expr::Expr::And(all) };
    let compiled = compile(&expr, lookup).map_err(|e| LflowError::Match(e.to_string()))?;
    let ofacts = encoded.actions;
    let table = lf.pipeline.table(lf.table_id);
    let cookie = cookie_of(lf.uuid);
    let flow = |m: Match, actions: Vec<Of>| Flow { table, priority: lf.priority, cookie, matches: m, actions };

    let mut flows = Vec::new();
    for c in &compiled.matches {
        flows.push(flow(to_match(c, lf.datapath_key)?, ofacts.clone()));
    }
    if let Some(conj) = &compiled.conjunction {
        let id = next_conj_id();
        let n = conj.clauses.len() as u8;
        // A match in several clauses is one flow with several conjunction actions.
        let mut members: BTreeMap<&Conj, Vec<Of>> = BTreeMap::new();
        for (k, clause) in conj.clauses.iter().enumerate() {
            for c in clause {
                members.entry(c).or_default().push(Of::Conjunction { id, clause: k as u8 + 1, n_clauses: n });
            }
        }
        for (c, acts) in members {
            flows.push(flow(to_match(c, lf.datapath_key)?, acts));
        }
        let mut m = Match::new();
        m.set(Field::Metadata, u128::from(lf.datapath_key)).map_err(|e| LflowError::Match(e.to_string()))?;
        m.set(Field::ConjId, u128::from(id)).map_err(|e| LflowError::Match(e.to_string()))?;
        flows.push(flow(m, ofacts));
    }
    Ok(flows)
}
