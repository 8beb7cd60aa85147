//! The logical-flow compiler: OVN's match/action language in, OpenFlow out.
//!
//! The plan (see `shared/design.md` and the flowgen issue): `lex` -> `expr::parse` -> annotate against a
//! symbol table -> simplify -> normalize -> OpenFlow matches; actions parsed, formatted and encoded. Built so
//! far: [`ofp`], the typed OpenFlow model those passes produce, its `ovs-ofctl` text form and its OpenFlow 1.5
//! wire encoding, and a small connection that programs a real Open vSwitch bridge.

pub mod actions;
pub mod cache;
pub mod expr;
pub mod layout;
pub mod lflow;
pub mod ofp;
pub mod sbview;
