//! The Northbound side of the project: `nbctl`, and `northd`, which translates the Northbound database
//! into the Southbound database.
//!
//! - [`stage`]: the one table of pipeline stages (names, numbers).
//! - [`desired`]: the Southbound content the translation produces.
//! - [`translate`]: the pure NB -> SB translation, with one builder per feature.
//! - [`sync`]: the difference between desired and current Southbound content, as one transaction.
//! - [`daemon`]: the `northd` loop around them.
//! - [`nbctl`]: the `ovn-nbctl`-compatible tool (binary `src/bin/nbctl.rs`).

pub mod daemon;
pub mod desired;
pub mod gen;
pub mod named_rows;
pub mod nbctl;
pub mod stage;
pub mod sync;
pub mod sync_delta;
pub mod translate;
