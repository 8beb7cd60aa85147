//! The per-node agent.
//!
//! Not built yet; this crate holds its place in the workspace. The plan (see `shared/design.md` and the
//! controller issue): chassis registration, tunnels, port binding, physical flows, logical flows through
//! `flowgen`, and `ofctrl` keeping desired and installed OpenFlow tables in step.
