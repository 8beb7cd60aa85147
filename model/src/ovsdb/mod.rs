//! An OVSDB (RFC 7047) client on tokio, and the data model it carries.

pub mod atomset;
pub mod batch;
pub mod client;
pub mod datum;
pub mod framing;
pub mod jsonrpc;
pub mod own_rows;
pub mod remote;
pub mod replica;
pub mod row;
pub mod schema;
pub mod session;
pub mod transact;
pub mod update;
pub mod uuid;

pub use client::{Client, ClientError};
pub use datum::{Atom, Datum};
pub use replica::{Replica, Row};
pub use schema::{AtomicType, BaseType, ColumnType, DatabaseSchema, TableSchema};
pub use transact::{Condition, Mutation, Operation, Transaction};
pub use uuid::{MixHash, Uuid, UuidGen, UuidMap, UuidSet};
