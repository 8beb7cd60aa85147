//! OVSDB values: atoms and datums (RFC 7047 section 5.1), and their JSON form.
//!
//! Every column value is a datum: a set of atoms (a scalar is a set of one) or a map from atoms to atoms.
//! Sets and maps are kept sorted ([`AtomSet`]/[`AtomMap`], compact sorted vectors), which is also how OVSDB
//! orders them, so two equal values always print alike.
//!
//! JSON has no types beyond number/string/bool, so reading a datum exactly needs its column type
//! ([`Datum::from_json`]): `1` in a `real` column is the real 1.0. [`Datum::from_json_untyped`] guesses
//! and is for tests and diagnostics only.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::{json, Value};

pub use super::atomset::{AtomMap, AtomSet, MapIter, SetIntoIter};

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

impl Hash for Atom {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Atom::Integer(i) => i.hash(state),
            // Equality is `total_cmp`, which tells apart exactly the bit patterns.
            Atom::Real(r) => r.to_bits().hash(state),
            Atom::Boolean(b) => b.hash(state),
            Atom::String(s) | Atom::NamedUuid(s) => s.hash(state),
            Atom::Uuid(u) => u.hash(state),
        }
    }
}

impl Serialize for Atom {
    /// The JSON form, as [`Atom::to_json`] builds it, written straight to the serializer.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Atom::Integer(i) => s.serialize_i64(*i),
            Atom::Real(r) => s.serialize_f64(*r),
            Atom::Boolean(b) => s.serialize_bool(*b),
            Atom::String(x) => s.serialize_str(x),
            Atom::Uuid(u) => ("uuid", u).serialize(s),
            Atom::NamedUuid(n) => ("named-uuid", n.as_str()).serialize(s),
        }
    }
}

/// A column value: a set of atoms (a scalar is a set of one, an optional value a set of zero or one) or a
/// map.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Datum {
    Set(AtomSet),
    Map(AtomMap),
}

impl Default for Datum {
    fn default() -> Self {
        Datum::Set(AtomSet::new())
    }
}

/// The members of a set datum (the keys of a map datum), in order.
#[derive(Clone)]
pub struct Atoms<'a>(AtomsRepr<'a>);

#[derive(Clone)]
enum AtomsRepr<'a> {
    Set(std::slice::Iter<'a, Atom>),
    Map(std::slice::Iter<'a, (Atom, Atom)>),
}

impl<'a> Iterator for Atoms<'a> {
    type Item = &'a Atom;
    fn next(&mut self) -> Option<&'a Atom> {
        match &mut self.0 {
            AtomsRepr::Set(it) => it.next(),
            AtomsRepr::Map(it) => it.next().map(|(k, _)| k),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            AtomsRepr::Set(it) => it.size_hint(),
            AtomsRepr::Map(it) => it.size_hint(),
        }
    }
}
impl DoubleEndedIterator for Atoms<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            AtomsRepr::Set(it) => it.next_back(),
            AtomsRepr::Map(it) => it.next_back().map(|(k, _)| k),
        }
    }
}
impl ExactSizeIterator for Atoms<'_> {}

impl Datum {
    pub const fn empty_set() -> Datum {
        Datum::Set(AtomSet::new())
    }

    pub const fn empty_map() -> Datum {
        Datum::Map(AtomMap::new())
    }

    /// A set of one atom.
    pub fn atom(a: impl Into<Atom>) -> Datum {
        Datum::Set(AtomSet::one(a.into()))
    }

    pub fn set<A: Into<Atom>>(items: impl IntoIterator<Item = A>) -> Datum {
        Datum::Set(items.into_iter().map(Into::into).collect())
    }

    /// A set of zero or one atom, for optional columns.
    pub fn optional<A: Into<Atom>>(a: Option<A>) -> Datum {
        match a {
            Some(a) => Datum::atom(a),
            None => Datum::empty_set(),
        }
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
            Datum::Set(s) => match s.as_slice() {
                [a] => Some(a),
                _ => None,
            },
            Datum::Map(_) => None,
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
    pub fn atoms(&self) -> Atoms<'_> {
        Atoms(match self {
            Datum::Set(s) => AtomsRepr::Set(s.iter()),
            Datum::Map(m) => AtomsRepr::Map(m.as_slice().iter()),
        })
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
            // A binary search comparing the key text, without building an atom for it.
            Datum::Map(m) => {
                let s = m.as_slice();
                s.binary_search_by(|(k, _)| match k {
                    Atom::String(k) => k.as_str().cmp(key),
                    other => other.rank().cmp(&3),
                })
                .ok()
                .map(|i| &s[i].1)
            }
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
            Datum::Set(s) => match s.as_slice() {
                [a] => a.to_json(),
                atoms => json!(["set", atoms.iter().map(Atom::to_json).collect::<Vec<_>>()]),
            },
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
        // The same reader the replica runs on the bytes of an update, here on a parsed value.
        match DatumSeed(t).deserialize(v) {
            Ok(r) => r,
            Err(e) => err(format!("{v}: {e}")),
        }
    }

    /// Reads a datum without knowing its type (see [`Atom::from_json_untyped`]).
    pub fn from_json_untyped(v: &Value) -> Result<Datum, DatumError> {
        match v.as_array().map(Vec::as_slice) {
            Some([Value::String(tag), Value::Array(items)]) if tag == "set" => {
                Ok(Datum::Set(items.iter().map(Atom::from_json_untyped).collect::<Result<_, _>>()?))
            }
            Some([Value::String(tag), Value::Array(pairs)]) if tag == "map" => {
                let mut m = Vec::with_capacity(pairs.len());
                for p in pairs {
                    match p.as_array().map(Vec::as_slice) {
                        Some([k, val]) => m.push((Atom::from_json_untyped(k)?, Atom::from_json_untyped(val)?)),
                        _ => return err(format!("{p} is not a [key, value] pair")),
                    }
                }
                Ok(Datum::Map(AtomMap::from_vec(m)))
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
            (Datum::Set(s), Datum::Set(d)) => s.toggle(d),
            (Datum::Map(m), Datum::Map(d)) => m.apply_diff(d),
            (me, d) => *me = d,
        }
    }
}

impl Serialize for Datum {
    /// The JSON form, as [`Datum::to_json`] builds it, written straight to the serializer.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Datum::Set(set) => match set.as_slice() {
                [a] => a.serialize(s),
                atoms => ("set", atoms).serialize(s),
            },
            Datum::Map(m) => ("map", m.as_slice()).serialize(s),
        }
    }
}

impl fmt::Display for Datum {
    /// `ovsdb-client`/`ovn-nbctl list` text: `[a, b]` for sets, `{k=v}` for maps, a bare atom for a set of
    /// one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datum::Set(s) => match s.as_slice() {
                [a] => write!(f, "{a}"),
                atoms => write!(f, "[{}]", atoms.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")),
            },
            Datum::Map(m) => {
                write!(f, "{{{}}}", m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "))
            }
        }
    }
}

/// Reads a datum of a known column type straight from a serde deserializer: the bytes of a message
/// (`serde_json::Deserializer`) or a parsed [`Value`], with the rules of RFC 7047 section 5.1 (`["set",
/// [...]]`, `["map", [[k, v], ...]]`, `["uuid", "..."]`, a bare atom for a set of one).
///
/// Well-formed JSON of the wrong shape or type is not a deserializer error: the whole value is consumed and
/// the outcome is `Ok(Err(..))`, so one bad column costs one row, never the rest of the message. Nothing
/// is checked beyond the atoms' types (see [`Datum::check`]).
#[derive(Clone, Copy)]
pub struct DatumSeed<'t>(pub &'t ColumnType);

impl<'de> DeserializeSeed<'de> for DatumSeed<'_> {
    type Value = Result<Datum, DatumError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(DatumVisitor(self.0))
    }
}

/// A JSON scalar as the deserializer saw it.
enum Scalar<'a> {
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Str(&'a str),
    Null,
}

impl fmt::Display for Scalar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::UInt(u) => write!(f, "{u}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Str(s) => write!(f, "{}", Value::String(s.to_string())),
            Scalar::Null => f.write_str("null"),
        }
    }
}

/// An atom of type `t` from a JSON scalar (numbers convert as `serde_json::Number::as_i64`/`as_f64` do).
fn scalar_atom(v: Scalar<'_>, t: AtomicType) -> Result<Atom, DatumError> {
    match (t, &v) {
        (AtomicType::Integer, Scalar::Int(i)) => Ok(Atom::Integer(*i)),
        (AtomicType::Integer, Scalar::UInt(u)) => match i64::try_from(*u) {
            Ok(i) => Ok(Atom::Integer(i)),
            Err(_) => err(format!("{u} is not an integer")),
        },
        (AtomicType::Integer, Scalar::Float(_)) => err(format!("{v} is not an integer")),
        (AtomicType::Real, Scalar::Int(i)) => Ok(Atom::Real(*i as f64)),
        (AtomicType::Real, Scalar::UInt(u)) => Ok(Atom::Real(*u as f64)),
        (AtomicType::Real, Scalar::Float(r)) => Ok(Atom::Real(*r)),
        (AtomicType::Boolean, Scalar::Bool(b)) => Ok(Atom::Boolean(*b)),
        (AtomicType::String, Scalar::Str(s)) => Ok(Atom::String(s.to_string())),
        (AtomicType::Uuid, _) => err(format!("{v} is not a uuid atom")),
        _ => err(format!("{v} is not a {t} atom")),
    }
}

fn drain_seq<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Reads the tag of `["set", ...]`, `["uuid", ...]`: a string, or None for anything else (consumed).
struct TagSeed;

impl<'de> DeserializeSeed<'de> for TagSeed {
    type Value = Option<Tag>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(TagSeed)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tag {
    Set,
    Map,
    Uuid,
    NamedUuid,
    Other,
}

/// Implements a visitor whose every non-scalar, non-array input yields `$other` after consuming it.
macro_rules! loose_visitor_rest {
    ($other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            drain_map(&mut map)?;
            Ok($other)
        }
    };
}

impl<'de> Visitor<'de> for TagSeed {
    type Value = Option<Tag>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Some(match s {
            "set" => Tag::Set,
            "map" => Tag::Map,
            "uuid" => Tag::Uuid,
            "named-uuid" => Tag::NamedUuid,
            _ => Tag::Other,
        }))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(&mut seq)?;
        Ok(None)
    }
    loose_visitor_rest!(None);
}

/// The second element of `["uuid", "..."]`: a string, or None for anything else (consumed).
struct LooseString;

impl<'de> DeserializeSeed<'de> for LooseString {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(LooseString)
    }
}

impl<'de> Visitor<'de> for LooseString {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Some(s.to_string()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
        Ok(Some(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(&mut seq)?;
        Ok(None)
    }
    loose_visitor_rest!(None);
}

/// `["uuid", "..."]` / `["named-uuid", "..."]` after its tag; consumes the rest of the array.
fn tagged_uuid<'de, A: SeqAccess<'de>>(tag: Tag, seq: &mut A) -> Result<Result<Atom, DatumError>, A::Error> {
    let s = seq.next_element_seed(LooseString)?;
    let extra = seq.next_element::<IgnoredAny>()?.is_some();
    if extra {
        drain_seq(seq)?;
    }
    Ok(match (s, extra) {
        (Some(Some(s)), false) if tag == Tag::Uuid => s.parse::<Uuid>().map(Atom::Uuid).map_err(|e| DatumError(e.to_string())),
        (Some(Some(s)), false) => Ok(Atom::NamedUuid(s)),
        _ => err("malformed uuid atom"),
    })
}

/// One atom of a known type (an element of a set or map).
#[derive(Clone, Copy)]
struct AtomSeed(AtomicType);

impl<'de> DeserializeSeed<'de> for AtomSeed {
    type Value = Result<Atom, DatumError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AtomSeed {
    type Value = Result<Atom, DatumError>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an OVSDB atom")
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
        Ok(scalar_atom(Scalar::Bool(b), self.0))
    }
    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Self::Value, E> {
        Ok(scalar_atom(Scalar::Int(i), self.0))
    }
    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Self::Value, E> {
        Ok(scalar_atom(Scalar::UInt(u), self.0))
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Self::Value, E> {
        Ok(scalar_atom(Scalar::Float(x), self.0))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(scalar_atom(Scalar::Str(s), self.0))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
        // Keeps the deserializer's own string when it hands one over.
        Ok(match self.0 {
            AtomicType::String => Ok(Atom::String(s)),
            t => scalar_atom(Scalar::Str(&s), t),
        })
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(scalar_atom(Scalar::Null, self.0))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let tag = seq.next_element_seed(TagSeed)?.flatten();
        match tag {
            Some(t @ (Tag::Uuid | Tag::NamedUuid)) if self.0 == AtomicType::Uuid => tagged_uuid(t, &mut seq),
            _ => {
                drain_seq(&mut seq)?;
                Ok(err(format!("an array is not a {} atom", self.0)))
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        drain_map(&mut map)?;
        Ok(err(format!("an object is not a {} atom", self.0)))
    }
}

/// The members of `["set", [...]]`: atoms of one type, or the first error (the rest is consumed).
struct AtomsSeed(AtomicType);

impl<'de> DeserializeSeed<'de> for AtomsSeed {
    type Value = Result<AtomSet, DatumError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AtomsSeed {
    type Value = Result<AtomSet, DatumError>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of atoms")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(a) = seq.next_element_seed(AtomSeed(self.0))? {
            match a {
                Ok(a) => out.push(a),
                Err(e) => {
                    drain_seq(&mut seq)?;
                    return Ok(Err(e));
                }
            }
        }
        Ok(Ok(AtomSet::from_vec(out)))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(err("the members of a set must be an array"))
    }
    loose_visitor_rest!(err("the members of a set must be an array"));
}

/// The pairs of `["map", [[k, v], ...]]`, or the first error (the rest is consumed).
struct PairsSeed(AtomicType, AtomicType);

impl<'de> DeserializeSeed<'de> for PairsSeed {
    type Value = Result<AtomMap, DatumError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PairsSeed {
    type Value = Result<AtomMap, DatumError>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of pairs")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(p) = seq.next_element_seed(PairSeed(self.0, self.1))? {
            match p {
                Ok(p) => out.push(p),
                Err(e) => {
                    drain_seq(&mut seq)?;
                    return Ok(Err(e));
                }
            }
        }
        Ok(Ok(AtomMap::from_vec(out)))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(err("the pairs of a map must be an array"))
    }
    loose_visitor_rest!(err("the pairs of a map must be an array"));
}

/// One `[key, value]` pair.
struct PairSeed(AtomicType, AtomicType);

impl<'de> DeserializeSeed<'de> for PairSeed {
    type Value = Result<(Atom, Atom), DatumError>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PairSeed {
    type Value = Result<(Atom, Atom), DatumError>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a [key, value] pair")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let k = seq.next_element_seed(AtomSeed(self.0))?;
        let v = match k {
            Some(_) => seq.next_element_seed(AtomSeed(self.1))?,
            None => None,
        };
        let extra = v.is_some() && seq.next_element::<IgnoredAny>()?.is_some();
        if extra {
            drain_seq(&mut seq)?;
        }
        Ok(match (k, v, extra) {
            (Some(k), Some(v), false) => k.and_then(|k| Ok((k, v?))),
            _ => err("not a [key, value] pair"),
        })
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(err("not a [key, value] pair"))
    }
    loose_visitor_rest!(err("not a [key, value] pair"));
}

struct DatumVisitor<'t>(&'t ColumnType);

impl DatumVisitor<'_> {
    fn scalar(&self, v: Scalar<'_>) -> Result<Datum, DatumError> {
        if self.0.value.is_some() {
            return err(format!("{v} is not a map"));
        }
        scalar_atom(v, self.0.key.atomic).map(Datum::atom)
    }
}

impl<'de> Visitor<'de> for DatumVisitor<'_> {
    type Value = Result<Datum, DatumError>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an OVSDB datum")
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
        Ok(self.scalar(Scalar::Bool(b)))
    }
    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Self::Value, E> {
        Ok(self.scalar(Scalar::Int(i)))
    }
    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Self::Value, E> {
        Ok(self.scalar(Scalar::UInt(u)))
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Self::Value, E> {
        Ok(self.scalar(Scalar::Float(x)))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(self.scalar(Scalar::Str(s)))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
        Ok(match (&self.0.value, self.0.key.atomic) {
            (None, AtomicType::String) => Ok(Datum::atom(Atom::String(s))),
            _ => self.scalar(Scalar::Str(&s)),
        })
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.scalar(Scalar::Null))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        drain_map(&mut map)?;
        Ok(err("an object is not a datum"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let tag = seq.next_element_seed(TagSeed)?.flatten();
        let t = self.0;
        // `[tag, members]` and nothing after: reads the members, then checks that the array ends.
        macro_rules! tagged {
            ($seed:expr, $wrap:expr, $what:expr) => {{
                let members = seq.next_element_seed($seed)?;
                let extra = members.is_some() && seq.next_element::<IgnoredAny>()?.is_some();
                if extra {
                    drain_seq(&mut seq)?;
                }
                Ok(match (members, extra) {
                    (Some(m), false) => m.map($wrap),
                    _ => err($what),
                })
            }};
        }
        match (&t.value, tag) {
            (Some(vt), Some(Tag::Map)) => tagged!(PairsSeed(t.key.atomic, vt.atomic), Datum::Map, "malformed map"),
            (None, Some(Tag::Set)) => tagged!(AtomsSeed(t.key.atomic), Datum::Set, "malformed set"),
            (None, Some(tag @ (Tag::Uuid | Tag::NamedUuid))) if t.key.atomic == AtomicType::Uuid => {
                Ok(tagged_uuid(tag, &mut seq)?.map(Datum::atom))
            }
            (value, _) => {
                drain_seq(&mut seq)?;
                Ok(err(match value {
                    Some(_) => "an array that is not [\"map\", [...]] where a map was expected".to_string(),
                    None => format!("an array that is not a set or a {} atom", t.key.atomic),
                }))
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
                Some(v) => {
                    proptest::collection::btree_map(atom_of(k), atom_of(v), 0..6).prop_map(|m| Datum::Map(m.into_iter().collect())).boxed()
                }
                None => proptest::collection::btree_set(atom_of(k), 0..6).prop_map(|s| Datum::Set(s.into_iter().collect())).boxed(),
            };
            (Just(t), d)
        })
    }

    /// The `Value` reader this project used before [`DatumSeed`]: the reference the seed must agree with.
    fn reference_from_json_unchecked(v: &Value, t: &ColumnType) -> Result<Datum, DatumError> {
        if let Some(vt) = &t.value {
            let pairs = match v.as_array().map(Vec::as_slice) {
                Some([Value::String(tag), Value::Array(pairs)]) if tag == "map" => pairs,
                _ => return err(format!("{v} is not a map")),
            };
            let mut m = std::collections::BTreeMap::new();
            for p in pairs {
                match p.as_array().map(Vec::as_slice) {
                    Some([k, val]) => {
                        m.insert(Atom::from_json(k, t.key.atomic)?, Atom::from_json(val, vt.atomic)?);
                    }
                    _ => return err(format!("{p} is not a [key, value] pair")),
                }
            }
            return Ok(Datum::Map(m.into_iter().collect()));
        }
        match v.as_array().map(Vec::as_slice) {
            Some([Value::String(tag), Value::Array(items)]) if tag == "set" => {
                let atoms: std::collections::BTreeSet<Atom> =
                    items.iter().map(|a| Atom::from_json(a, t.key.atomic)).collect::<Result<_, _>>()?;
                Ok(Datum::Set(atoms.into_iter().collect()))
            }
            _ => Ok(Datum::atom(Atom::from_json(v, t.key.atomic)?)),
        }
    }

    /// JSON that is often almost a datum: tags, pairs, uuids, numbers of every kind, and junk.
    fn datum_like_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|u| json!(u)),
            (-3i64..3).prop_map(|i| json!(i)),
            any::<f64>().prop_filter("finite", |r| r.is_finite()).prop_map(|r| json!(r)),
            any::<bool>().prop_map(|b| json!(b)),
            prop_oneof![Just("set"), Just("map"), Just("uuid"), Just("named-uuid"), Just("x"), Just("")].prop_map(|s| json!(s)),
            Just(json!("7f2c51db-c310-4b0a-ac50-737675814e6a")),
            Just(json!(["uuid", "7f2c51db-c310-4b0a-ac50-737675814e6a"])),
            Just(json!(["named-uuid", "row1"])),
            Just(Value::Null),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| json!(["set", v])),
                proptest::collection::vec((inner.clone(), inner.clone()), 0..3)
                    .prop_map(|v| json!(["map", v.into_iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()])),
                proptest::collection::btree_map("[a-c]", inner, 0..2).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn any_ctype() -> impl Strategy<Value = ColumnType> {
        (atomic_type(), proptest::option::of(atomic_type())).prop_map(|(k, v)| ColumnType {
            key: BaseType::of(k),
            value: v.map(BaseType::of),
            min: 0,
            max: None,
        })
    }

    proptest! {
        #[test]
        fn json_round_trip((t, d) in typed_datum()) {
            let text = serde_json::to_string(&d.to_json()).unwrap();
            let back: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(Datum::from_json(&back, &t).unwrap(), d.clone());
            // Serializing straight to bytes writes exactly the JSON of `to_json`.
            prop_assert_eq!(serde_json::to_string(&d).unwrap(), text.clone());
            // And the typed reader over those bytes reads the datum back.
            let mut de = serde_json::Deserializer::from_str(&text);
            prop_assert_eq!(DatumSeed(&t).deserialize(&mut de).unwrap().unwrap(), d);
        }

        /// The typed reader accepts and refuses exactly what the old `Value` reader did, with the same datum,
        /// whether it reads bytes or a parsed value.
        #[test]
        fn typed_reader_matches_the_value_reader(v in datum_like_json(), t in any_ctype()) {
            let want = reference_from_json_unchecked(&v, &t);
            let from_value = Datum::from_json_unchecked(&v, &t);
            let text = serde_json::to_string(&v).unwrap();
            let mut de = serde_json::Deserializer::from_str(&text);
            let from_bytes = DatumSeed(&t).deserialize(&mut de).unwrap();
            de.end().unwrap();
            prop_assert_eq!(want.as_ref().ok(), from_value.as_ref().ok(), "{} as {:?}: {:?} vs {:?}", v, t, want, from_value);
            prop_assert_eq!(want.as_ref().ok(), from_bytes.as_ref().ok(), "{} as {:?}: {:?} vs {:?}", v, t, want, from_bytes);
        }

        #[test]
        fn untyped_reading_never_panics(v in any::<String>()) {
            if let Ok(json) = serde_json::from_str::<Value>(&v) {
                let _ = Datum::from_json_untyped(&json);
            }
        }
    }

    #[test]
    fn compact_sizes() {
        // A column value is no bigger than an atom, and a scalar needs no allocation besides its string.
        assert!(std::mem::size_of::<Datum>() <= 32, "{}", std::mem::size_of::<Datum>());
    }
}
