//! JSON-RPC 1.0 messages as OVSDB uses them (RFC 7047 section 4).
//!
//! Requests are built from `jsonrpc-core`'s `Id` and `Params`, which fit OVSDB's requests exactly. Replies
//! are NOT decoded with `jsonrpc-core`'s `Output`: that type is JSON-RPC 2.0 and refuses a reply carrying both
//! `"result"` and `"error": null`, which is how every OVSDB reply looks. So replies, notifications and
//! server-to-client requests (`echo`) are read with the small serde types below.

use jsonrpc_core::{Id, Params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A request we send: `{"method": M, "params": [...], "id": N}`.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub method: String,
    pub params: Params,
    pub id: Id,
}

impl Request {
    pub fn new(method: &str, params: Vec<Value>, id: u64) -> Request {
        Request { method: method.to_string(), params: Params::Array(params), id: Id::Num(id) }
    }
}

/// A reply we send to a server request (only `echo` needs one).
#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    pub result: Value,
    pub error: Value,
    pub id: Value,
}

/// Anything the server sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A reply to one of our requests.
    Response { id: u64, result: Value, error: Value },
    /// A request from the server that wants a reply (`echo`).
    Request { method: String, params: Value, id: Value },
    /// A notification (`update2`, `update`, `locked`, `stolen`): `id` is null.
    Notification { method: String, params: Value },
}

#[derive(Debug, Deserialize)]
struct Raw {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Value,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error: Value,
}

#[derive(Debug, thiserror::Error)]
#[error("not a JSON-RPC message: {0}")]
pub struct MessageError(pub String);

impl Incoming {
    pub fn from_json(v: Value) -> Result<Incoming, MessageError> {
        let text = v.to_string();
        let raw: Raw = serde_json::from_value(v).map_err(|e| MessageError(format!("{e}: {text}")))?;
        match raw.method {
            Some(method) if raw.id.is_null() => Ok(Incoming::Notification { method, params: raw.params }),
            Some(method) => Ok(Incoming::Request { method, params: raw.params, id: raw.id }),
            None => match raw.id.as_u64() {
                Some(id) => Ok(Incoming::Response { id, result: raw.result, error: raw.error }),
                None => Err(MessageError(format!("reply with an id we never sent: {text}"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_is_json_rpc_1_0() {
        let r = serde_json::to_value(Request::new("list_dbs", vec![], 3)).unwrap();
        assert_eq!(r, json!({"method": "list_dbs", "params": [], "id": 3}));
    }

    #[test]
    fn decodes_replies_with_null_error() {
        let m = Incoming::from_json(json!({"id": 3, "result": ["OVN_Northbound"], "error": null})).unwrap();
        assert_eq!(m, Incoming::Response { id: 3, result: json!(["OVN_Northbound"]), error: Value::Null });
        // The 2.0 type this replaces refuses exactly this message.
        let v = json!({"id": 3, "result": ["x"], "error": null});
        assert!(serde_json::from_value::<jsonrpc_core::Output>(v).is_err());
    }

    #[test]
    fn tells_echo_from_notifications() {
        let echo = Incoming::from_json(json!({"id": "echo", "method": "echo", "params": []})).unwrap();
        assert!(matches!(echo, Incoming::Request { ref method, .. } if method == "echo"));
        let n = Incoming::from_json(json!({"id": null, "method": "update2", "params": [1, {}]})).unwrap();
        assert!(matches!(n, Incoming::Notification { ref method, .. } if method == "update2"));
    }
}
