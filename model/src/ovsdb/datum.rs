//! OVSDB values: atoms and datums (RFC 7047 section 5.1), and their JSON form.
//!
//! Every column value is a datum: a set of atoms (a scalar is a set of one) or a map from atoms to atoms.
//! Sets and maps are kept sorted (`BTreeSet`/`BTreeMap`), which is also how OVSDB orders them, so two equal
//! values always print alike.
//!
//! JSON has no types beyond number/string/bool, so reading a datum exactly needs its column type
//! ([`Datum::from_json`]): `1` in a `real` column is the real 1.0. [`Datum::from_json_untyped`] guesses
//! and is for tests and diagnostics only.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{json, Value};

use super::schema::{AtomicType, BaseType, ColumnType};
use super::uuid::Uuid;

/// One OVSDB atom. `NamedUuid` exists only inside a transaction being built: the server replaces it by the
/// UUID of the row the same transaction inserts under that name.
#[derive(Clone, Debug)]
pub enum Atom {
    Integer(i64),
    Real(f64),
    Boolean(bool),
    String(String),
    Uuid(Uuid),
    NamedUuid(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DatumError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, DatumError> {
    Err(DatumError(msg.into()))
}

impl Atom {
    fn rank(&self) -> u8 {
        match self {
            Atom::Integer(_) => 0,
            Atom::Real(_) => 1,
            Atom::Boolean(_) => 2,
            Atom::String(_) => 3,
            Atom::Uuid(_) => 4,
            Atom::NamedUuid(_) => 5,
        }
    }

    pub fn string(s: impl Into<String>) -> Atom {
        Atom::String(s.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Atom::Uuid(u) => Some(*u),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Atom::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The atomic type this atom belongs to (a named UUID is a UUID).
    pub fn atomic_type(&self) -> AtomicType {
        match self {
            Atom::Integer(_) => AtomicType::Integer,
            Atom::Real(_) => AtomicType::Real,
            Atom::Boolean(_) => AtomicType::Boolean,
            Atom::String(_) => AtomicType::String,
            Atom::Uuid(_) | Atom::NamedUuid(_) => AtomicType::Uuid,
        }
    }

    /// The default atom of a type, as OVSDB fills in for a column that must hold exactly one value.
    pub fn default_of(t: AtomicType) -> Atom {
        match t {
            AtomicType::Integer => Atom::Integer(0),
            AtomicType::Real => Atom::Real(0.0),
            AtomicType::Boolean => Atom::Boolean(false),
            AtomicType::String => Atom::String(String::new()),
            AtomicType::Uuid => Atom::Uuid(Uuid(0)),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::Real(r) => json!(r),
            Atom::Boolean(b) => json!(b),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u.to_string()]),
            Atom::NamedUuid(n) => json!(["named-uuid", n]),
        }
    }

    /// Reads an atom of a known type.
    pub fn from_json(v: &Value, t: AtomicType) -> Result<Atom, DatumError> {
        match (t, v) {
            (AtomicType::Integer, Value::Number(n)) => match n.as_i64() {
                Some(i) => Ok(Atom::Integer(i)),
                None => err(format!("{n} is not an integer")),
            },
            (AtomicType::Real, Value::Number(n)) => match n.as_f64() {
                Some(r) => Ok(Atom::Real(r)),
                None => err(format!("{n} is not a real")),
            },
            (AtomicType::Boolean, Value::Bool(b)) => Ok(Atom::Boolean(*b)),
            (AtomicType::String, Value::String(s)) => Ok(Atom::String(s.clone())),
            (AtomicType::Uuid, Value::Array(a)) => match a.as_slice() {
                [Value::String(tag), Value::String(s)] if tag == "uuid" => {
                    s.parse::<Uuid>().map(Atom::Uuid).map_err(|e| DatumError(e.to_string()))
                }
                [Value::String(tag), Value::String(s)] if tag == "named-uuid" => Ok(Atom::NamedUuid(s.clone())),
                _ => err(format!("{v} is not a uuid atom")),
            },
            _ => err(format!("{v} is not a {t} atom")),
        }
    }

    /// Reads an atom without knowing its type: integers that fit `i64` are integers, other numbers reals.
    pub fn from_json_untyped(v: &Value) -> Result<Atom, DatumError> {
        match v {
            Value::Number(n) => match n.as_i64() {
                Some(i) => Ok(Atom::Integer(i)),
                None => Atom::from_json(v, AtomicType::Real),
            },
            Value::Bool(b) => Ok(Atom::Boolean(*b)),
            Value::String(s) => Ok(Atom::String(s.clone())),
            Value::Array(_) => Atom::from_json(v, AtomicType::Uuid),
            _ => err(format!("{v} is not an atom")),
        }
    }

    /// Checks the atom against a base type's constraints (type, enum, range, length).
    pub fn check(&self, base: &BaseType) -> Result<(), DatumError> {
        if self.atomic_type() != base.atomic {
            return err(format!("{self} is not a {} value", base.atomic));
        }
        if let Some(allowed) = &base.enumeration {
            if !allowed.contains(self) {
                let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
                return err(format!("{self} is not one of the allowed values ({})", list.join(", ")));
            }
        }
        match self {
            Atom::Integer(i) if base.min_integer.is_some_and(|m| *i < m) || base.max_integer.is_some_and(|m| *i > m) => {
                return err(format!(
                    "{i} is out of range {}..{}",
                    base.min_integer.unwrap_or(i64::MIN),
                    base.max_integer.unwrap_or(i64::MAX)
                ));
            }
            Atom::Real(r) if base.min_real.is_some_and(|m| *r < m) || base.max_real.is_some_and(|m| *r > m) => {
                return err(format!("{r} is out of range"));
            }
            Atom::String(s) => {
                let n = s.chars().count() as u64;
                if base.min_length.is_some_and(|m| n < m) || base.max_length.is_some_and(|m| n > m) {
                    return err(format!("{s:?} has a length out of range"));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl PartialEq for Atom {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Atom {}
impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Atom {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Atom::Integer(a), Atom::Integer(b)) => a.cmp(b),
            (Atom::Real(a), Atom::Real(b)) => a.total_cmp(b),
            (Atom::Boolean(a), Atom::Boolean(b)) => a.cmp(b),
            (Atom::String(a), Atom::String(b)) => a.cmp(b),
            (Atom::Uuid(a), Atom::Uuid(b)) => a.cmp(b),
            (Atom::NamedUuid(a), Atom::NamedUuid(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl fmt::Display for Atom {
    /// The text form `ovn-nbctl list` uses: strings bare when they are simple, quoted otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Integer(i) => write!(f, "{i}"),
            Atom::Real(r) => write!(f, "{r}"),
            Atom::Boolean(b) => write!(f, "{b}"),
            Atom::String(s) => {
                let bare = !s.is_empty()
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c))
                    && !s.starts_with(|c: char| c.is_ascii_digit() || c == '-')
                    && s != "true"
                    && s != "false";
                if bare {
                    write!(f, "{s}")
                } else {
                    write!(f, "{}", Value::String(s.clone()))
                }
            }
            Atom::Uuid(u) => write!(f, "{u}"),
            Atom::NamedUuid(n) => write!(f, "@{n}"),
        }
    }
}

impl From<&str> for Atom {
    fn from(s: &str) -> Atom {
        Atom::String(s.to_string())
    }
}
impl From<String> for Atom {
    fn from(s: String) -> Atom {
        Atom::String(s)
    }
}
impl From<i64> for Atom {
    fn from(i: i64) -> Atom {
        Atom::Integer(i)
    }
}
impl From<bool> for Atom {
    fn from(b: bool) -> Atom {
        Atom::Boolean(b)
    }
}
impl From<Uuid> for Atom {
    fn from(u: Uuid) -> Atom {
        Atom::Uuid(u)
    }
}

/// A column value: a set of atoms (a scalar is a set of one, an optional value a set of zero or one) or a
/// map.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Datum {
    Set(BTreeSet<Atom>),
    Map(BTreeMap<Atom, Atom>),
}

impl Default for Datum {
    fn default() -> Self {
        Datum::Set(BTreeSet::new())
    }
}

impl Datum {
    pub fn empty_set() -> Datum {
        Datum::Set(BTreeSet::new())
    }

    pub fn empty_map() -> Datum {
        Datum::Map(BTreeMap::new())
    }

    /// A set of one atom.
    pub fn atom(a: impl Into<Atom>) -> Datum {
        Datum::Set(BTreeSet::from([a.into()]))
    }

    pub fn set<A: Into<Atom>>(items: impl IntoIterator<Item = A>) -> Datum {
        Datum::Set(items.into_iter().map(Into::into).collect())
    }

    /// A set of zero or one atom, for optional columns.
    pub fn optional<A: Into<Atom>>(a: Option<A>) -> Datum {
        Datum::set(a)
    }

    pub fn map<K: Into<Atom>, V: Into<Atom>>(items: impl IntoIterator<Item = (K, V)>) -> Datum {
        Datum::Map(items.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// The default value of a column type: empty for optional columns, the type's default atom otherwise.
    pub fn default_of(t: &ColumnType) -> Datum {
        if t.value.is_some() {
            Datum::empty_map()
        } else if t.min == 0 {
            Datum::empty_set()
        } else {
            // Like ovsdb-server: the type's default atom, even where an enum does not allow it (so a row
            // inserted without such a column is refused rather than silently given some value).
            Datum::atom(Atom::default_of(t.key.atomic))
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Datum::Set(s) => s.len(),
            Datum::Map(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The single atom of a set of one.
    pub fn as_atom(&self) -> Option<&Atom> {
        match self {
            Datum::Set(s) if s.len() == 1 => s.iter().next(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        self.as_atom().and_then(Atom::as_str)
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.as_atom().and_then(Atom::as_i64)
    }

    pub fn as_bool(&self) -> Option<bool> {
        self.as_atom().and_then(Atom::as_bool)
    }

    pub fn as_uuid(&self) -> Option<Uuid> {
        self.as_atom().and_then(Atom::as_uuid)
    }

    /// The members of a set (the keys of a map).
    pub fn atoms(&self) -> Box<dyn Iterator<Item = &Atom> + '_> {
        match self {
            Datum::Set(s) => Box::new(s.iter()),
            Datum::Map(m) => Box::new(m.keys()),
        }
    }

    /// The string members of a set, in order.
    pub fn strings(&self) -> impl Iterator<Item = &str> {
        self.atoms().filter_map(Atom::as_str)
    }

    /// The UUID members of a set, in order.
    pub fn uuids(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.atoms().filter_map(Atom::as_uuid)
    }

    /// A string-to-string map's entries, in key order.
    pub fn string_pairs(&self) -> Vec<(&str, &str)> {
        match self {
            Datum::Map(m) => m.iter().filter_map(|(k, v)| Some((k.as_str()?, v.as_str()?))).collect(),
            Datum::Set(_) => Vec::new(),
        }
    }

    /// Looks up a string key in a map.
    pub fn get(&self, key: &str) -> Option<&Atom> {
        match self {
            Datum::Map(m) => m.get(&Atom::string(key)),
            Datum::Set(_) => None,
        }
    }

    pub fn contains(&self, a: &Atom) -> bool {
        match self {
            Datum::Set(s) => s.contains(a),
            Datum::Map(m) => m.contains_key(a),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Datum::Set(s) if s.len() == 1 => s.iter().next().map(Atom::to_json).unwrap_or(Value::Null),
            Datum::Set(s) => json!(["set", s.iter().map(Atom::to_json).collect::<Vec<_>>()]),
            Datum::Map(m) => json!(["map", m.iter().map(|(k, v)| json!([k.to_json(), v.to_json()])).collect::<Vec<_>>()]),
        }
    }

    /// Reads a datum of a known column type and checks it against the type's constraints.
    pub fn from_json(v: &Value, t: &ColumnType) -> Result<Datum, DatumError> {
        let d = Self::from_json_unchecked(v, t)?;
        d.check(t)?;
        Ok(d)
    }

    /// Reads a datum of a known column type without checking cardinality or constraints (used for the
    /// partial values of `update2` diffs and `mutate`, which may hold more or fewer members than a column).
    pub fn from_json_unchecked(v: &Value, t: &ColumnType) -> Result<Datum, DatumError> {
        if let Some(vt) = &t.value {
            let pairs = match v.as_array().map(Vec::as_slice) {
                Some([Value::String(tag), Value::Array(pairs)]) if tag == "map" => pairs,
                _ => return err(format!("{v} is not a map")),
            };
            let mut m = BTreeMap::new();
            for p in pairs {
                match p.as_array().map(Vec::as_slice) {
                    Some([k, val]) => {
                        m.insert(Atom::from_json(k, t.key.atomic)?, Atom::from_json(val, vt.atomic)?);
                    }
                    _ => return err(format!("{p} is not a [key, value] pair")),
                }
            }
            return Ok(Datum::Map(m));
        }
        match v.as_array().map(Vec::as_slice) {
            Some([Value::String(tag), Value::Array(items)]) if tag == "set" => {
                let atoms = items.iter().map(|a| Atom::from_json(a, t.key.atomic)).collect::<Result<_, _>>()?;
                Ok(Datum::Set(atoms))
            }
            _ => Ok(Datum::atom(Atom::from_json(v, t.key.atomic)?)),
        }
    }

    /// Reads a datum without knowing its type (see [`Atom::from_json_untyped`]).
    pub fn from_json_untyped(v: &Value) -> Result<Datum, DatumError> {
        match v.as_array().map(Vec::as_slice) {
            Some([Value::String(tag), Value::Array(items)]) if tag == "set" => {
                Ok(Datum::Set(items.iter().map(Atom::from_json_untyped).collect::<Result<_, _>>()?))
            }
            Some([Value::String(tag), Value::Array(pairs)]) if tag == "map" => {
                let mut m = BTreeMap::new();
                for p in pairs {
                    match p.as_array().map(Vec::as_slice) {
                        Some([k, val]) => {
                            m.insert(Atom::from_json_untyped(k)?, Atom::from_json_untyped(val)?);
                        }
                        _ => return err(format!("{p} is not a [key, value] pair")),
                    }
                }
                Ok(Datum::Map(m))
            }
            _ => Ok(Datum::atom(Atom::from_json_untyped(v)?)),
        }
    }

    /// Checks kind (set or map), number of members and every atom against a column type.
    pub fn check(&self, t: &ColumnType) -> Result<(), DatumError> {
        match (self, &t.value) {
            (Datum::Map(m), Some(vt)) => {
                for (k, v) in m {
                    k.check(&t.key)?;
                    v.check(vt)?;
                }
            }
            (Datum::Set(s), None) => {
                for a in s {
                    a.check(&t.key)?;
                }
            }
            (Datum::Set(s), Some(_)) if s.is_empty() => {}
            (Datum::Map(_), None) => return err("a map where a set was expected"),
            (Datum::Set(_), Some(_)) => return err("a set where a map was expected"),
        }
        let n = self.len();
        if n < t.min || t.max.is_some_and(|m| n > m) {
            let max = t.max.map_or("unlimited".to_string(), |m| m.to_string());
            return err(format!("{n} values where {}..{max} are allowed", t.min));
        }
        Ok(())
    }

    /// Applies an `update2` "modify" diff: for a set, members in the diff are toggled (added if absent,
    /// removed if present); for a map, a key absent is added, a key present with the same value is removed,
    /// and a key present with another value takes the new value. A column holding at most one atom
    /// (scalar or optional) takes the diff as its new value: that is what ovsdb-server sends for those
    /// (`enabled` going from false to true arrives as `true`, not as the difference `[false, true]`).
    pub fn apply_diff(&mut self, diff: Datum, t: &ColumnType) {
        let scalar = t.value.is_none() && t.max == Some(1);
        match (self, diff) {
            (me, d) if scalar => *me = d,
            (Datum::Set(s), Datum::Set(d)) => {
                for a in d {
                    if !s.remove(&a) {
                        s.insert(a);
                    }
                }
            }
            (Datum::Map(m), Datum::Map(d)) => {
                for (k, v) in d {
                    match m.get(&k) {
                        Some(old) if *old == v => {
                            m.remove(&k);
                        }
                        _ => {
                            m.insert(k, v);
                        }
                    }
                }
            }
            (me, d) => *me = d,
        }
    }
}

impl fmt::Display for Datum {
    /// `ovsdb-client`/`ovn-nbctl list` text: `[a, b]` for sets, `{k=v}` for maps, a bare atom for a set of
    /// one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datum::Set(s) if s.len() == 1 => write!(f, "{}", s.iter().next().map(|a| a.to_string()).unwrap_or_default()),
            Datum::Set(s) => write!(f, "[{}]", s.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")),
            Datum::Map(m) => {
                write!(f, "{{{}}}", m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::schema::ColumnType;
    use proptest::prelude::*;

    fn ctype(v: Value) -> ColumnType {
        ColumnType::from_json(&v).unwrap()
    }

    #[test]
    fn scalar_set_and_map_json() {
        let t = ctype(json!({"key": "string", "min": 0, "max": "unlimited"}));
        let d = Datum::from_json(&json!(["set", ["b", "a"]]), &t).unwrap();
        assert_eq!(d.to_json(), json!(["set", ["a", "b"]]));
        let one = Datum::from_json(&json!("x"), &t).unwrap();
        assert_eq!(one, Datum::atom("x"));
        let m = ctype(json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"}));
        let d = Datum::from_json(&json!(["map", [["k", "v"]]]), &m).unwrap();
        assert_eq!(d.get("k").and_then(Atom::as_str), Some("v"));
    }

    #[test]
    fn typed_read_coerces_and_checks() {
        let real = ctype(json!("real"));
        assert_eq!(Datum::from_json(&json!(1), &real).unwrap(), Datum::atom(Atom::Real(1.0)));
        let prio = ctype(json!({"key": {"type": "integer", "minInteger": 0, "maxInteger": 32767}}));
        let e = Datum::from_json(&json!(40000), &prio).unwrap_err();
        assert!(e.0.contains("40000"), "{e}");
        let en = ctype(json!({"key": {"type": "string", "enum": ["set", ["dnat", "snat"]]}}));
        assert!(Datum::from_json(&json!("bogus"), &en).is_err());
        assert!(Datum::from_json(&json!("snat"), &en).is_ok());
        let one = ctype(json!("string"));
        assert!(Datum::from_json(&json!(["set", []]), &one).is_err(), "a scalar must have one value");
        assert!(Datum::from_json(&json!(["uuid", "nope"]), &ctype(json!("uuid"))).is_err());
    }

    #[test]
    fn diffs_toggle_set_members_and_update_maps() {
        let st = ctype(json!({"key": "string", "min": 0, "max": "unlimited"}));
        let mut d = Datum::set(["a", "b"]);
        d.apply_diff(Datum::set(["b", "c"]), &st);
        assert_eq!(d, Datum::set(["a", "c"]));
        let mt = ctype(json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"}));
        let mut m = Datum::map([("a", "1"), ("b", "2")]);
        m.apply_diff(Datum::map([("a", "1"), ("b", "3"), ("c", "4")]), &mt);
        assert_eq!(m, Datum::map([("b", "3"), ("c", "4")]));
        let scalar = ctype(json!("string"));
        let mut s = Datum::atom("old");
        s.apply_diff(Datum::atom("new"), &scalar);
        assert_eq!(s, Datum::atom("new"));
        // An optional column (at most one atom) gets its new value, as ovsdb-server sends it.
        let optional = ctype(json!({"key": "boolean", "min": 0, "max": 1}));
        let mut o = Datum::atom(false);
        o.apply_diff(Datum::atom(true), &optional);
        assert_eq!(o, Datum::atom(true));
        o.apply_diff(Datum::empty_set(), &optional);
        assert_eq!(o, Datum::empty_set());
    }

    fn atom_of(t: AtomicType) -> BoxedStrategy<Atom> {
        match t {
            AtomicType::Integer => any::<i64>().prop_map(Atom::Integer).boxed(),
            AtomicType::Real => any::<f64>().prop_filter("JSON has no NaN or infinity", |r| r.is_finite()).prop_map(Atom::Real).boxed(),
            AtomicType::Boolean => any::<bool>().prop_map(Atom::Boolean).boxed(),
            AtomicType::String => any::<String>().prop_map(Atom::String).boxed(),
            AtomicType::Uuid => any::<u128>().prop_map(|u| Atom::Uuid(Uuid(u))).boxed(),
        }
    }

    fn atomic_type() -> impl Strategy<Value = AtomicType> {
        prop_oneof![
            Just(AtomicType::Integer),
            Just(AtomicType::Real),
            Just(AtomicType::Boolean),
            Just(AtomicType::String),
            Just(AtomicType::Uuid),
        ]
    }

    /// A random column type (set or map) with a random value of that type.
    fn typed_datum() -> impl Strategy<Value = (ColumnType, Datum)> {
        (atomic_type(), proptest::option::of(atomic_type())).prop_flat_map(|(k, v)| {
            let t = ColumnType { key: BaseType::of(k), value: v.map(BaseType::of), min: 0, max: None };
            let d = match v {
                Some(v) => proptest::collection::btree_map(atom_of(k), atom_of(v), 0..6).prop_map(Datum::Map).boxed(),
                None => proptest::collection::btree_set(atom_of(k), 0..6).prop_map(Datum::Set).boxed(),
            };
            (Just(t), d)
        })
    }

    proptest! {
        #[test]
        fn json_round_trip((t, d) in typed_datum()) {
            let text = serde_json::to_string(&d.to_json()).unwrap();
            let back: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(Datum::from_json(&back, &t).unwrap(), d);
        }

        #[test]
        fn untyped_reading_never_panics(v in any::<String>()) {
            if let Ok(json) = serde_json::from_str::<Value>(&v) {
                let _ = Datum::from_json_untyped(&json);
            }
        }
    }
}
