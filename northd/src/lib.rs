//! Northbound tooling and (later) the Northbound -> Southbound translation.
//!
//! - [`nbctl`]: the `ovn-nbctl`-compatible command-line tool's library (the binary is `src/bin/nbctl.rs`).

pub mod nbctl;
