//! JSON-RPC 1.0 messages as OVSDB uses them (RFC 7047 section 4).
//!
//! Requests are built from `jsonrpc-core`'s `Id` and `Params`, which fit OVSDB's requests exactly. Replies
//! are NOT decoded with `jsonrpc-core`'s `Output`: that type is JSON-RPC 2.0 and refuses a reply carrying both
//! `"result"` and `"error": null`, which is how every OVSDB reply looks. So replies, notifications and
//! server-to-client requests (`echo`) are read with the small serde types below.

use jsonrpc_core::{Id, Params};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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

#[derive(Debug, thiserror::Error)]
#[error("not a JSON-RPC message: {0}")]
pub struct MessageError(pub String);

impl Incoming {
    pub fn from_json(v: Value) -> Result<Incoming, MessageError> {
        let Value::Object(mut o) = v else { return Err(MessageError(v.to_string())) };
        let id = o.remove("id").unwrap_or(Value::Null);
        let method = match o.remove("method") {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) => Some(m),
            Some(other) => return Err(MessageError(format!("method {other} is not a string"))),
        };
        let params = o.remove("params").unwrap_or(Value::Null);
        match method {
            Some(method) if id.is_null() => Ok(Incoming::Notification { method, params }),
            Some(method) => Ok(Incoming::Request { method, params, id }),
            None => match id.as_u64() {
                Some(id) => Ok(Incoming::Response {
                    id,
                    result: o.remove("result").unwrap_or(Value::Null),
                    error: o.remove("error").unwrap_or(Value::Null),
                }),
                None => {
                    o.insert("id".into(), id);
                    Err(MessageError(format!("reply with an id we never sent: {}", Value::Object(o))))
                }
            },
        }
    }
}

/// Any message from the server, its parts left as text to be read by whoever knows their types (the
/// `result` of a `monitor_cond` and the `params` of an `update2` go straight into replica rows).
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(default, borrow)]
    pub id: Option<&'a RawValue>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default, borrow)]
    pub params: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub result: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Envelope<'a>, MessageError> {
        let text = || String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
        // serde would also read a struct from an array; a message is an object.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(MessageError(text()));
        }
        serde_json::from_slice(bytes).map_err(|e| MessageError(format!("{e}: {}", text())))
    }
}

/// Parses JSON text into a `Value` whose arrays and objects hold exactly their members.
///
/// `serde_json`'s own reader grows every array and object by doubling, and with `preserve_order` a
/// `Value` is 80 bytes, so the reply to a transaction of 60,000 inserts (`[{"uuid": ["uuid", "..."]},
/// ...]`) takes twice the memory it needs. Here the members of each array or object are gathered on one
/// shared stack and moved into a collection of the right size when it ends.
pub fn parse_value(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut stacks = Stacks::default();
    let v = ExactValue(&mut stacks).deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

#[derive(Default)]
struct Stacks {
    items: Vec<Value>,
    members: Vec<(String, Value)>,
}

struct ExactValue<'a>(&'a mut Stacks);

impl<'de> DeserializeSeed<'de> for ExactValue<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ExactValue<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Number(i.into()))
    }
    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        Ok(Value::Number(u.into()))
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let base = self.0.items.len();
        while let Some(v) = seq.next_element_seed(ExactValue(&mut *self.0))? {
            self.0.items.push(v);
        }
        let mut out = Vec::with_capacity(self.0.items.len() - base);
        out.extend(self.0.items.drain(base..));
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let base = self.0.members.len();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(ExactValue(&mut *self.0))?;
            self.0.members.push((k, v));
        }
        let mut out = serde_json::Map::with_capacity(self.0.members.len() - base);
        out.extend(self.0.members.drain(base..));
        Ok(Value::Object(out))
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

    proptest::proptest! {
        /// The exact-size reader reads what `serde_json` reads.
        #[test]
        fn parse_value_reads_like_serde_json(v in json_value()) {
            let text = serde_json::to_string(&v).unwrap();
            let exact = parse_value(&text).unwrap();
            proptest::prop_assert_eq!(&exact, &serde_json::from_str::<Value>(&text).unwrap());
            proptest::prop_assert_eq!(serde_json::to_string(&exact).unwrap(), text);
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|u| json!(u)),
            any::<f64>().prop_filter("finite", |r| r.is_finite()).prop_map(|r| json!(r)),
            any::<bool>().prop_map(|b| json!(b)),
            ".*".prop_map(|s: String| json!(s)),
            Just(Value::Null),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(("[a-z]{0,3}", inner), 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn parse_value_allocates_exactly() {
        let v = parse_value(r#"[{"uuid": ["uuid", "x"]}, [1, 2, 3]]"#).unwrap();
        let Value::Array(outer) = &v else { panic!() };
        assert_eq!(outer.capacity(), 2);
        let Value::Array(inner) = &outer[1] else { panic!() };
        assert_eq!(inner.capacity(), 3);
        assert_eq!(outer[0]["uuid"].as_array().map(Vec::capacity), Some(2));
        assert!(parse_value("[1] x").is_err());
    }

    #[test]
    fn envelope_leaves_parts_as_text() {
        let e = Envelope::parse(br#"{"result": {"A": {}}, "error": null, "id": 4}"#).unwrap();
        assert_eq!((e.id.map(RawValue::get), e.result.map(RawValue::get), e.error.is_none()), (Some("4"), Some(r#"{"A": {}}"#), true));
        let n = Envelope::parse(br#"{"params": ["m", {}], "method": "update2", "id": null}"#).unwrap();
        assert_eq!((n.id.is_none(), n.method.as_deref(), n.params.map(RawValue::get)), (true, Some("update2"), Some(r#"["m", {}]"#)));
        assert!(Envelope::parse(b"[1]").is_err());
    }

    #[test]
    fn tells_echo_from_notifications() {
        let echo = Incoming::from_json(json!({"id": "echo", "method": "echo", "params": []})).unwrap();
        assert!(matches!(echo, Incoming::Request { ref method, .. } if method == "echo"));
        let n = Incoming::from_json(json!({"id": null, "method": "update2", "params": [1, {}]})).unwrap();
        assert!(matches!(n, Incoming::Notification { ref method, .. } if method == "update2"));
    }
}
