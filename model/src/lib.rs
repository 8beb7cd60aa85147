//! The databases this project speaks: OVSDB (RFC 7047) as a client, an in-memory replica whose values are
//! checked against the database schema, and typed views of the OVN Northbound tables we use.
//!
//! Layout:
//! - [`ovsdb`]: the protocol. Values ([`ovsdb::datum`]), schemas ([`ovsdb::schema`]), stream framing
//!   ([`ovsdb::framing`]), JSON-RPC 1.0 messages ([`ovsdb::jsonrpc`]), the async client ([`ovsdb::client`]),
//!   transactions ([`ovsdb::transact`]), the replica ([`ovsdb::replica`]) and a reconnecting monitor session
//!   ([`ovsdb::session`]).
//! - [`nb`]: typed, parsed-once views of the Northbound rows.
//! - [`sb`]: typed, borrowed views of the Southbound rows, and the Southbound table names.
//! - [`addr`]: the address grammar OVN uses (MACs, IPs, prefixes, `lsp` address strings).
//! - [`logging`]: the daemons' shared log setup.

pub mod addr;
pub mod logging;
pub mod nb;
pub mod ovsdb;
pub mod sb;
