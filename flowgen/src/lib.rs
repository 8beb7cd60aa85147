//! The logical-flow compiler: OVN's match/action language in, OpenFlow out.
//!
//! Not built yet; this crate holds its place in the workspace. The plan (see `shared/design.md` and the
//! flowgen issue): `lex` -> `expr::parse` -> annotate against a symbol table -> simplify -> normalize ->
//! OpenFlow matches; actions parsed, formatted and encoded; a typed `ofp::Flow` rendered as `ovs-ofctl`
//! text and OpenFlow 1.5 wire messages.

pub mod expr;
pub mod actions;
