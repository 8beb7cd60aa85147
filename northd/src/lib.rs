//! The Northbound side of the project: `nbctl`, and `northd`, which translates the Northbound database
//! into the Southbound database.
//!
//! - [`stage`]: the one table of pipeline stages (names, numbers).
//! - [`desired`]: the Southbound content the translation produces.
//! - [`translate`]: the pure NB -> SB translation, with one builder per feature.
//! - [`reconcile`]: the difference between desired and current Southbound content, as one transaction
//!   (one declaration per Southbound table, one path for the full and the incremental sync).
//! - [`sync`]: what a sync writes besides: `SB_Global`, tunnel keys, `Logical_Switch_Port.up`.
//! - [`daemon`]: the `northd` loop around them.
//! - [`nbctl`]: the `ovn-nbctl`-compatible tool (binary `src/bin/nbctl.rs`).

pub mod daemon;
pub mod desired;
pub mod gen;
pub mod named_rows;
pub mod nbctl;
pub mod reconcile;
pub mod stage;
pub mod sync;
pub mod translate;
