//! The two collections a [`Datum`](super::datum::Datum) is made of: [`AtomSet`] and [`AtomMap`], sorted
//! vectors with the `BTreeSet`/`BTreeMap` methods the rest of the project uses.
//!
//! A replica holds hundreds of thousands of column values and almost all of them are scalars (a set of one
//! atom), empty optional values or maps of one or two entries. A B-tree allocates a whole node (hundreds of
//! bytes) for its first member; a sorted vector allocates exactly what it holds, and a set of one atom is
//! kept inline, with no allocation at all:
//!
//! ```text
//!   AtomSet ── One(atom)        a scalar: no heap allocation
//!           └─ Many(Vec<Atom>)  empty (no allocation either) or 2+ members, sorted, no duplicates
//!   AtomMap ── Vec<(key, value)>  sorted by key, keys unique
//! ```
//! Both keep OVSDB's order (the order of [`Atom`]'s `Ord`), so equal values compare, hash and print alike
//! whatever way they were built. Lookups are binary searches; a single insert or remove shifts the members
//! after it, and bulk changes (building from an iterator, applying an `update2` diff) sort or merge once.

use std::fmt;
use std::hash::{Hash, Hasher};

use super::datum::Atom;

/// A set of atoms, sorted and without duplicates (the `Set` side of a datum).
#[derive(Clone)]
pub struct AtomSet(Repr);

#[derive(Clone)]
enum Repr {
    One(Atom),
    /// Zero or two and more members (one member is kept as `One`, except transiently after a remove).
    Many(Vec<Atom>),
}

impl AtomSet {
    pub const fn new() -> AtomSet {
        AtomSet(Repr::Many(Vec::new()))
    }

    /// A set of one atom (no allocation).
    pub fn one(a: Atom) -> AtomSet {
        AtomSet(Repr::One(a))
    }

    /// Builds a set from a vector that is already sorted and deduplicated.
    fn from_sorted(mut v: Vec<Atom>) -> AtomSet {
        if v.len() == 1 {
            if let Some(a) = v.pop() {
                return AtomSet(Repr::One(a));
            }
        }
        if v.capacity() > v.len() {
            v.shrink_to_fit();
        }
        AtomSet(Repr::Many(v))
    }

    /// Builds a set from any vector: sorts and removes duplicates.
    pub fn from_vec(mut v: Vec<Atom>) -> AtomSet {
        if !v.windows(2).all(|w| w[0] < w[1]) {
            v.sort_unstable();
            v.dedup();
        }
        Self::from_sorted(v)
    }

    /// The members, in order.
    pub fn as_slice(&self) -> &[Atom] {
        match &self.0 {
            Repr::One(a) => std::slice::from_ref(a),
            Repr::Many(v) => v,
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Atom> {
        self.as_slice().iter()
    }

    pub fn contains(&self, a: &Atom) -> bool {
        self.as_slice().binary_search(a).is_ok()
    }

    /// The member equal to `a`.
    pub fn get(&self, a: &Atom) -> Option<&Atom> {
        let s = self.as_slice();
        s.binary_search(a).ok().map(|i| &s[i])
    }

    pub fn first(&self) -> Option<&Atom> {
        self.as_slice().first()
    }

    pub fn last(&self) -> Option<&Atom> {
        self.as_slice().last()
    }

    fn vec_mut(&mut self) -> &mut Vec<Atom> {
        if let Repr::One(_) = self.0 {
            let Repr::One(a) = std::mem::replace(&mut self.0, Repr::Many(Vec::new())) else { unreachable!() };
            self.0 = Repr::Many(vec![a]);
        }
        match &mut self.0 {
            Repr::Many(v) => v,
            Repr::One(_) => unreachable!("converted above"),
        }
    }

    /// Adds `a`; false if it was already there.
    pub fn insert(&mut self, a: Atom) -> bool {
        match &mut self.0 {
            Repr::Many(v) if v.is_empty() => {
                self.0 = Repr::One(a);
                true
            }
            Repr::One(b) if *b == a => false,
            _ => {
                let v = self.vec_mut();
                match v.binary_search(&a) {
                    Ok(_) => false,
                    Err(i) => {
                        v.insert(i, a);
                        true
                    }
                }
            }
        }
    }

    /// Removes `a`; false if it was not there.
    pub fn remove(&mut self, a: &Atom) -> bool {
        self.take(a).is_some()
    }

    /// Removes and returns the member equal to `a`.
    pub fn take(&mut self, a: &Atom) -> Option<Atom> {
        match &mut self.0 {
            Repr::One(b) if b == a => match std::mem::replace(&mut self.0, Repr::Many(Vec::new())) {
                Repr::One(b) => Some(b),
                Repr::Many(_) => None,
            },
            Repr::One(_) => None,
            Repr::Many(v) => {
                let i = v.binary_search(a).ok()?;
                let out = v.remove(i);
                if v.len() == 1 {
                    if let Some(last) = v.pop() {
                        self.0 = Repr::One(last);
                    }
                }
                Some(out)
            }
        }
    }

    pub fn clear(&mut self) {
        self.0 = Repr::Many(Vec::new());
    }

    /// Keeps the members for which `f` is true.
    pub fn retain(&mut self, mut f: impl FnMut(&Atom) -> bool) {
        let v = std::mem::take(self).into_vec();
        *self = Self::from_sorted(v.into_iter().filter(|a| f(a)).collect());
    }

    pub fn into_vec(self) -> Vec<Atom> {
        match self.0 {
            Repr::One(a) => vec![a],
            Repr::Many(v) => v,
        }
    }

    /// Toggles every member of `other`: members in both sets are removed, the others added (the symmetric
    /// difference, which is how an `update2` diff changes a set). One merge, however big the sets.
    pub fn toggle(&mut self, other: AtomSet) {
        if other.is_empty() {
            return;
        }
        let mine = std::mem::take(self).into_vec();
        let theirs = other.into_vec();
        let mut out = Vec::with_capacity(mine.len() + theirs.len());
        let (mut a, mut b) = (mine.into_iter().peekable(), theirs.into_iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => match x.cmp(y) {
                    std::cmp::Ordering::Less => out.extend(a.next()),
                    std::cmp::Ordering::Greater => out.extend(b.next()),
                    std::cmp::Ordering::Equal => {
                        a.next();
                        b.next();
                    }
                },
                (Some(_), None) => out.extend(a.by_ref()),
                (None, Some(_)) => out.extend(b.by_ref()),
                (None, None) => break,
            }
        }
        *self = Self::from_sorted(out);
    }
}

impl Default for AtomSet {
    fn default() -> Self {
        AtomSet::new()
    }
}

impl PartialEq for AtomSet {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}
impl Eq for AtomSet {}
impl PartialOrd for AtomSet {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for AtomSet {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}
impl Hash for AtomSet {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for AtomSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Atom> for AtomSet {
    fn from_iter<I: IntoIterator<Item = Atom>>(iter: I) -> Self {
        Self::from_vec(iter.into_iter().collect())
    }
}

impl Extend<Atom> for AtomSet {
    fn extend<I: IntoIterator<Item = Atom>>(&mut self, iter: I) {
        let mut v = std::mem::take(self).into_vec();
        v.extend(iter);
        *self = Self::from_vec(v);
    }
}

impl<const N: usize> From<[Atom; N]> for AtomSet {
    fn from(a: [Atom; N]) -> Self {
        a.into_iter().collect()
    }
}

impl From<Vec<Atom>> for AtomSet {
    fn from(v: Vec<Atom>) -> Self {
        Self::from_vec(v)
    }
}

impl<'a> IntoIterator for &'a AtomSet {
    type Item = &'a Atom;
    type IntoIter = std::slice::Iter<'a, Atom>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The members of an [`AtomSet`], by value, in order.
pub struct SetIntoIter(IntoIterRepr);

enum IntoIterRepr {
    One(Option<Atom>),
    Many(std::vec::IntoIter<Atom>),
}

impl Iterator for SetIntoIter {
    type Item = Atom;
    fn next(&mut self) -> Option<Atom> {
        match &mut self.0 {
            IntoIterRepr::One(a) => a.take(),
            IntoIterRepr::Many(it) => it.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.0 {
            IntoIterRepr::One(a) => usize::from(a.is_some()),
            IntoIterRepr::Many(it) => it.len(),
        };
        (n, Some(n))
    }
}
impl DoubleEndedIterator for SetIntoIter {
    fn next_back(&mut self) -> Option<Atom> {
        match &mut self.0 {
            IntoIterRepr::One(a) => a.take(),
            IntoIterRepr::Many(it) => it.next_back(),
        }
    }
}
impl ExactSizeIterator for SetIntoIter {}

impl IntoIterator for AtomSet {
    type Item = Atom;
    type IntoIter = SetIntoIter;
    fn into_iter(self) -> SetIntoIter {
        SetIntoIter(match self.0 {
            Repr::One(a) => IntoIterRepr::One(Some(a)),
            Repr::Many(v) => IntoIterRepr::Many(v.into_iter()),
        })
    }
}

/// A map from atoms to atoms, sorted by key, keys unique (the `Map` side of a datum).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AtomMap(Vec<(Atom, Atom)>);

impl AtomMap {
    pub const fn new() -> AtomMap {
        AtomMap(Vec::new())
    }

    /// Builds a map from pairs sorted by key with unique keys.
    fn from_sorted(mut v: Vec<(Atom, Atom)>) -> AtomMap {
        if v.capacity() > v.len() {
            v.shrink_to_fit();
        }
        AtomMap(v)
    }

    /// Builds a map from any pairs; of two pairs with the same key the later one wins (as with
    /// `BTreeMap::insert`).
    pub fn from_vec(v: Vec<(Atom, Atom)>) -> AtomMap {
        if v.windows(2).all(|w| w[0].0 < w[1].0) {
            return Self::from_sorted(v);
        }
        let mut v = v;
        // Stable, so pairs with equal keys stay in insertion order and the last one can win.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Atom, Atom)> = Vec::with_capacity(v.len());
        for (k, val) in v {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = val,
                _ => out.push((k, val)),
            }
        }
        Self::from_sorted(out)
    }

    /// The entries, in key order.
    pub fn as_slice(&self) -> &[(Atom, Atom)] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, k: &Atom) -> Result<usize, usize> {
        self.0.binary_search_by(|(key, _)| key.cmp(k))
    }

    pub fn get(&self, k: &Atom) -> Option<&Atom> {
        self.find(k).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, k: &Atom) -> Option<&mut Atom> {
        self.find(k).ok().map(|i| &mut self.0[i].1)
    }

    /// The stored key and value for `k`.
    pub fn get_key_value(&self, k: &Atom) -> Option<(&Atom, &Atom)> {
        self.find(k).ok().map(|i| (&self.0[i].0, &self.0[i].1))
    }

    pub fn contains_key(&self, k: &Atom) -> bool {
        self.find(k).is_ok()
    }

    /// Sets `k` to `v`, returning the value it replaced.
    pub fn insert(&mut self, k: Atom, v: Atom) -> Option<Atom> {
        match self.find(&k) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, v)),
            Err(i) => {
                self.0.insert(i, (k, v));
                None
            }
        }
    }

    pub fn remove(&mut self, k: &Atom) -> Option<Atom> {
        self.find(k).ok().map(|i| self.0.remove(i).1)
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn retain(&mut self, mut f: impl FnMut(&Atom, &mut Atom) -> bool) {
        self.0.retain_mut(|(k, v)| f(k, v));
    }

    pub fn iter(&self) -> MapIter<'_> {
        MapIter(self.0.iter())
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Atom> + ExactSizeIterator + '_ {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Atom> + ExactSizeIterator + '_ {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut Atom> + ExactSizeIterator + '_ {
        self.0.iter_mut().map(|(_, v)| v)
    }

    pub fn first_key_value(&self) -> Option<(&Atom, &Atom)> {
        self.0.first().map(|(k, v)| (k, v))
    }

    pub fn last_key_value(&self) -> Option<(&Atom, &Atom)> {
        self.0.last().map(|(k, v)| (k, v))
    }

    pub fn into_vec(self) -> Vec<(Atom, Atom)> {
        self.0
    }

    /// Applies an `update2` map diff: a key absent is added, a key present with the same value is
    /// removed, a key present with another value takes the new value. One merge, however big the maps.
    pub fn apply_diff(&mut self, diff: AtomMap) {
        if diff.is_empty() {
            return;
        }
        let mine = std::mem::take(&mut self.0);
        let mut out = Vec::with_capacity(mine.len() + diff.len());
        let (mut a, mut b) = (mine.into_iter().peekable(), diff.0.into_iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => match x.0.cmp(&y.0) {
                    std::cmp::Ordering::Less => out.extend(a.next()),
                    std::cmp::Ordering::Greater => out.extend(b.next()),
                    std::cmp::Ordering::Equal => {
                        if let (Some(old), Some(new)) = (a.next(), b.next()) {
                            if old.1 != new.1 {
                                out.push(new);
                            }
                        }
                    }
                },
                (Some(_), None) => out.extend(a.by_ref()),
                (None, Some(_)) => out.extend(b.by_ref()),
                (None, None) => break,
            }
        }
        *self = Self::from_sorted(out);
    }
}

impl fmt::Debug for AtomMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<(Atom, Atom)> for AtomMap {
    fn from_iter<I: IntoIterator<Item = (Atom, Atom)>>(iter: I) -> Self {
        Self::from_vec(iter.into_iter().collect())
    }
}

impl Extend<(Atom, Atom)> for AtomMap {
    fn extend<I: IntoIterator<Item = (Atom, Atom)>>(&mut self, iter: I) {
        let mut v = std::mem::take(&mut self.0);
        v.extend(iter);
        *self = Self::from_vec(v);
    }
}

impl<const N: usize> From<[(Atom, Atom); N]> for AtomMap {
    fn from(a: [(Atom, Atom); N]) -> Self {
        a.into_iter().collect()
    }
}

/// The entries of an [`AtomMap`] as `(&key, &value)`, in key order.
#[derive(Clone)]
pub struct MapIter<'a>(std::slice::Iter<'a, (Atom, Atom)>);

impl<'a> Iterator for MapIter<'a> {
    type Item = (&'a Atom, &'a Atom);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}
impl DoubleEndedIterator for MapIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k, v))
    }
}
impl ExactSizeIterator for MapIter<'_> {}

impl<'a> IntoIterator for &'a AtomMap {
    type Item = (&'a Atom, &'a Atom);
    type IntoIter = MapIter<'a>;
    fn into_iter(self) -> MapIter<'a> {
        self.iter()
    }
}

impl IntoIterator for AtomMap {
    type Item = (Atom, Atom);
    type IntoIter = std::vec::IntoIter<(Atom, Atom)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn atom() -> impl Strategy<Value = Atom> {
        // Few distinct values, so inserts and removes hit existing members often.
        prop_oneof![
            (0i64..8).prop_map(Atom::Integer),
            "[a-d]{0,2}".prop_map(Atom::String),
            (0u128..4).prop_map(|u| Atom::Uuid(super::super::uuid::Uuid(u))),
            any::<bool>().prop_map(Atom::Boolean),
        ]
    }

    #[derive(Debug, Clone)]
    enum SetOp {
        Insert(Atom),
        Remove(Atom),
        Take(Atom),
        Toggle(Vec<Atom>),
        Extend(Vec<Atom>),
        Retain(Atom),
        Clear,
    }

    fn set_op() -> impl Strategy<Value = SetOp> {
        prop_oneof![
            4 => atom().prop_map(SetOp::Insert),
            3 => atom().prop_map(SetOp::Remove),
            1 => atom().prop_map(SetOp::Take),
            2 => proptest::collection::vec(atom(), 0..5).prop_map(SetOp::Toggle),
            1 => proptest::collection::vec(atom(), 0..5).prop_map(SetOp::Extend),
            1 => atom().prop_map(SetOp::Retain),
            1 => Just(SetOp::Clear),
        ]
    }

    #[derive(Debug, Clone)]
    enum MapOp {
        Insert(Atom, Atom),
        Remove(Atom),
        Diff(Vec<(Atom, Atom)>),
        Extend(Vec<(Atom, Atom)>),
        Retain(Atom),
        Clear,
    }

    fn map_op() -> impl Strategy<Value = MapOp> {
        prop_oneof![
            4 => (atom(), atom()).prop_map(|(k, v)| MapOp::Insert(k, v)),
            3 => atom().prop_map(MapOp::Remove),
            2 => proptest::collection::vec((atom(), atom()), 0..5).prop_map(MapOp::Diff),
            1 => proptest::collection::vec((atom(), atom()), 0..5).prop_map(MapOp::Extend),
            1 => atom().prop_map(MapOp::Retain),
            1 => Just(MapOp::Clear),
        ]
    }

    fn same_set(s: &AtomSet, b: &BTreeSet<Atom>) -> bool {
        s.len() == b.len() && s.iter().eq(b.iter()) && s.first() == b.first() && s.last() == b.last()
    }

    proptest! {
        /// Every set operation does what it does to a `BTreeSet`, and equal contents compare and hash alike.
        #[test]
        fn set_behaves_like_btreeset(init in proptest::collection::vec(atom(), 0..6), ops in proptest::collection::vec(set_op(), 0..30)) {
            let mut s: AtomSet = init.iter().cloned().collect();
            let mut b: BTreeSet<Atom> = init.into_iter().collect();
            prop_assert!(same_set(&s, &b));
            for op in ops {
                match op {
                    SetOp::Insert(a) => prop_assert_eq!(s.insert(a.clone()), b.insert(a)),
                    SetOp::Remove(a) => prop_assert_eq!(s.remove(&a), b.remove(&a)),
                    SetOp::Take(a) => prop_assert_eq!(s.take(&a), b.take(&a)),
                    SetOp::Toggle(d) => {
                        let d: BTreeSet<Atom> = d.into_iter().collect();
                        s.toggle(d.iter().cloned().collect());
                        for a in d {
                            if !b.remove(&a) {
                                b.insert(a);
                            }
                        }
                    }
                    SetOp::Extend(d) => {
                        s.extend(d.clone());
                        b.extend(d);
                    }
                    SetOp::Retain(x) => {
                        s.retain(|a| *a < x);
                        b.retain(|a| *a < x);
                    }
                    SetOp::Clear => {
                        s.clear();
                        b.clear();
                    }
                }
                prop_assert!(same_set(&s, &b), "{:?} vs {:?}", s, b);
                for a in &b {
                    prop_assert!(s.contains(a));
                    prop_assert_eq!(s.get(a), Some(a));
                }
                let rebuilt: AtomSet = b.iter().cloned().collect();
                prop_assert_eq!(&rebuilt, &s);
                prop_assert_eq!(rebuilt.cmp(&s), std::cmp::Ordering::Equal);
                let h = |x: &AtomSet| { let mut h = std::collections::hash_map::DefaultHasher::new(); x.hash(&mut h); h.finish() };
                prop_assert_eq!(h(&rebuilt), h(&s));
                prop_assert!(s.clone().into_iter().eq(b.iter().cloned()));
                prop_assert!(s.clone().into_iter().rev().eq(b.iter().rev().cloned()));
            }
        }

        /// Sets order like `BTreeSet`s.
        #[test]
        fn set_order_is_btreeset_order(a in proptest::collection::vec(atom(), 0..4), b in proptest::collection::vec(atom(), 0..4)) {
            let (sa, sb): (AtomSet, AtomSet) = (a.iter().cloned().collect(), b.iter().cloned().collect());
            let (ba, bb): (BTreeSet<Atom>, BTreeSet<Atom>) = (a.into_iter().collect(), b.into_iter().collect());
            prop_assert_eq!(sa.cmp(&sb), ba.cmp(&bb));
            prop_assert_eq!(sa == sb, ba == bb);
        }

        /// Every map operation does what it does to a `BTreeMap`.
        #[test]
        fn map_behaves_like_btreemap(init in proptest::collection::vec((atom(), atom()), 0..6), ops in proptest::collection::vec(map_op(), 0..30)) {
            let mut m: AtomMap = init.iter().cloned().collect();
            let mut b: BTreeMap<Atom, Atom> = init.into_iter().collect();
            for op in ops {
                match op {
                    MapOp::Insert(k, v) => prop_assert_eq!(m.insert(k.clone(), v.clone()), b.insert(k, v)),
                    MapOp::Remove(k) => prop_assert_eq!(m.remove(&k), b.remove(&k)),
                    MapOp::Diff(d) => {
                        let d: BTreeMap<Atom, Atom> = d.into_iter().collect();
                        m.apply_diff(d.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
                        for (k, v) in d {
                            match b.get(&k) {
                                Some(old) if *old == v => { b.remove(&k); }
                                _ => { b.insert(k, v); }
                            }
                        }
                    }
                    MapOp::Extend(d) => {
                        m.extend(d.clone());
                        b.extend(d);
                    }
                    MapOp::Retain(x) => {
                        m.retain(|k, _| *k < x);
                        b.retain(|k, _| *k < x);
                    }
                    MapOp::Clear => {
                        m.clear();
                        b.clear();
                    }
                }
                prop_assert_eq!(m.len(), b.len());
                prop_assert!(m.iter().eq(b.iter()), "{:?} vs {:?}", m, b);
                prop_assert!(m.keys().eq(b.keys()));
                prop_assert!(m.values().eq(b.values()));
                for (k, v) in &b {
                    prop_assert_eq!(m.get(k), Some(v));
                    prop_assert!(m.contains_key(k));
                }
                prop_assert_eq!(m.first_key_value(), b.first_key_value());
                prop_assert_eq!(m.last_key_value(), b.last_key_value());
                let rebuilt: AtomMap = b.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                prop_assert_eq!(&rebuilt, &m);
                prop_assert!(m.clone().into_iter().eq(b.clone().into_iter()));
            }
        }

        /// Maps order like `BTreeMap`s; building from pairs keeps the last value of a repeated key.
        #[test]
        fn map_order_and_last_wins(a in proptest::collection::vec((atom(), atom()), 0..5), b in proptest::collection::vec((atom(), atom()), 0..5)) {
            let (ma, mb): (AtomMap, AtomMap) = (a.iter().cloned().collect(), b.iter().cloned().collect());
            let (ba, bb): (BTreeMap<Atom, Atom>, BTreeMap<Atom, Atom>) = (a.into_iter().collect(), b.into_iter().collect());
            prop_assert!(ma.iter().eq(ba.iter()));
            prop_assert_eq!(ma.cmp(&mb), ba.cmp(&bb));
            prop_assert_eq!(ma == mb, ba == bb);
        }
    }

    #[test]
    fn scalars_and_empty_values_need_no_allocation() {
        // A one-member set lives inline; the empty set and map hold an unallocated vector.
        let s = AtomSet::one(Atom::Integer(5));
        assert_eq!(s.as_slice(), &[Atom::Integer(5)]);
        assert_eq!(AtomSet::new().into_vec().capacity(), 0);
        assert!(std::mem::size_of::<AtomSet>() <= 32, "{}", std::mem::size_of::<AtomSet>());
    }
}
