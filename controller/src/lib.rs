//! The per-node agent (OVN's `ovn-controller`).
//!
//! ```text
//!   local Open_vSwitch DB ──▶ config::LocalConfig ─┐
//!                                                  ├─▶ chassis::plan_chassis ──▶ SB: Chassis, Encap, Chassis_Private
//!   Southbound DB ─────────────────────────────────┤
//!                                                  ├─▶ vswitch::plan_ovs ─────▶ OVS: br-int, tunnels, localnet patch ports
//!                                                  └─▶ binding::plan_bindings ▶ SB: Port_Binding.chassis/up
//!                                                                │              OVS: Interface ovn-installed
//!                                                                └─▶ LocalBindings (ports, local datapaths) ─▶ flow code
//! ```
//!
//! The database side (`config`, `chassis`, `vswitch`, `binding`) is pure: each planner takes replica
//! snapshots and returns the one transaction that makes the database match what they imply, empty when it
//! already does. The daemon applies them and plans again when a replica changes; planning twice in a row
//! after applying gives empty transactions, so the loop settles.
//!
//! The OpenFlow side (physical flows, logical flows through `flowgen`, port security, conntrack zones in
//! `ct_zones`, `ofctrl`, `pinctrl`) and the daemon loop live in their own modules.

pub mod binding;
pub mod chassis;
pub mod config;
pub mod ct_zones;
pub mod daemon;
pub mod flows;
pub mod ofctrl;
pub mod physical;
pub mod pinctrl;
pub mod port_security;
pub mod tables;
pub mod vswitch;

#[cfg(test)]
mod testutil;
