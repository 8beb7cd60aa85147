//! Conntrack zones: one per local logical port whose flows use conntrack, two (DNAT and SNAT) per local
//! logical router, allocated once and kept across restarts in the integration bridge's `external_ids`.
//!
//! ```text
//!   local ports: VIFs and containers with an OpenFlow port, localnet ports with a patch port ─┐ users,
//!   local router datapaths: "<Datapath_Binding uuid>_dnat", "..._snat"                       ─┴ in order
//!        │
//!        ▼  CtZones::update(users, br-int external_ids)
//!   1. a zone whose user left is freed (and flushed)
//!   2. a new user with a valid, free `ct-zone-<user>` on record gets that zone (a restart, or a pin)
//!   3. every other new user gets the lowest free zone in 1..=65535 (and it is flushed)
//!        │
//!        ├─▶ physical flows: table 0 / 38 load the port's zone into reg13, a router's into reg11 / reg12
//!        ├─▶ plan_ct_zones: br-int external_ids ct-zone-<user>=<zone>, only the keys that differ
//!        └─▶ ofctrl: NXT_CT_FLUSH_ZONE for the zones handed out or freed, before the flows that use them
//! ```
//!
//! Why zones must be unique: a connection's conntrack state (established or not, its NAT translation) is
//! kept per zone, keyed only by the addresses and ports of the packets. Two logical ports sharing a zone
//! share that table: VMs on different logical switches may use the same addresses, so one port's packets
//! can match, and so be let through or re-translated by, the entries of the other's connections. Each
//! router needs zones of its own for the same reason, and two (DNAT apart from SNAT) because a packet may be
//! translated twice on one router, which one zone cannot tell apart.
//!
//! Why they must persist: the state lives in the switch's conntrack table, which outlives the controller. A
//! controller that restarts and numbers zones afresh would send each port's packets into another zone: every
//! established connection would be looked up where it does not exist (and dropped by stateful ACLs or left
//! untranslated by NAT), and the old entries would sit in zones now given to other ports. So the allocation
//! is written to `ct-zone-<user>` keys of the integration bridge's `external_ids` (the keys and format
//! `ovn-controller(8)` documents, so either agent can take over from the other), read back before the first
//! flows are computed, and written before the flows that use a new zone are installed.
//!
//! The keys mirror the allocation: a freed zone's key is removed, a key edited by hand is written back.
//! So a zone is pinned the way `ovn-controller` lets one be: by writing `ct-zone-<user>=<zone>` while the
//! controller is stopped; if the user is here when it starts and no other recorded user holds the zone, it
//! gets that zone (a key whose user is not here at start is removed, as `ovn-controller` removes it).
//!
//! Zone 0 is the switch's default zone, shared by everything that names no zone, so it is never handed
//! out. A zone that changes hands is flushed first: the entries of its previous user (before a restart, or
//! a port that left) must not be inherited. If all 65535 are taken, a new user gets none (an error is
//! logged once) and its flows use zone 0 until one is freed; nothing panics.
//!
//! The logical flows never see a zone number: OVN's `ct_*` actions compile to `ct(zone=reg13[0..15])`
//! and the like, so only the physical flows that load the registers depend on the allocation, and the
//! lflow cache needs no dependency on it.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use model::ovsdb::transact::{Condition, Mutation, Transaction};
use model::ovsdb::{Datum, Uuid};

use crate::tables::ovs;
use crate::vswitch::OvsView;

/// Prefix of the integration bridge's `external_ids` keys that record the zones: `ct-zone-<user>`.
pub const KEY_PREFIX: &str = "ct-zone-";

/// Zones are 16 bits; zone 0 is reserved.
const ZONE_COUNT: usize = 1 << 16;

/// The `external_ids` key recording `user`'s zone.
pub fn key(user: &str) -> String {
    format!("{KEY_PREFIX}{user}")
}

/// The name of a router datapath's DNAT zone, as `ovn-controller` 23.03 names it: the Southbound
/// `Datapath_Binding` row's UUID, then `_dnat`.
pub fn dnat_user(datapath: Uuid) -> String {
    format!("{datapath}_dnat")
}

/// The name of a router datapath's SNAT zone (see [`dnat_user`]).
pub fn snat_user(datapath: Uuid) -> String {
    format!("{datapath}_snat")
}

/// A recorded zone value: a decimal number in 1..=65535.
fn parse_zone(value: &str) -> Option<u16> {
    value.parse::<u16>().ok().filter(|z| *z != 0)
}

/// Which zones are taken: one bit per zone, so finding the lowest free one is a scan of at most 1024 words.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bitmap(Vec<u64>);

impl Default for Bitmap {
    fn default() -> Self {
        let mut b = Bitmap(vec![0; ZONE_COUNT / 64]);
        b.set(0); // reserved: never handed out
        b
    }
}

impl Bitmap {
    fn is_set(&self, zone: u16) -> bool {
        self.0[usize::from(zone) / 64] & (1 << (zone % 64)) != 0
    }

    fn set(&mut self, zone: u16) {
        self.0[usize::from(zone) / 64] |= 1 << (zone % 64);
    }

    fn clear(&mut self, zone: u16) {
        self.0[usize::from(zone) / 64] &= !(1 << (zone % 64));
    }

    /// The lowest free zone at or above `from`.
    fn first_free(&self, from: usize) -> Option<u16> {
        let mut i = from / 64;
        // Bits below `from` in its word count as taken.
        let mut word = self.0.get(i)? | ((1u64 << (from % 64)) - 1);
        loop {
            if word != u64::MAX {
                return u16::try_from(i * 64 + word.trailing_ones() as usize).ok();
            }
            i += 1;
            word = *self.0.get(i)?;
        }
    }
}

/// The zone allocation of this chassis (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CtZones {
    zones: BTreeMap<String, u16>,
    used: Bitmap,
    /// Zones handed out or freed since [`CtZones::take_flushes`]: their conntrack entries are someone else's.
    flush: BTreeSet<u16>,
    /// Users left without a zone (all taken), so the error is logged once per user.
    starved: BTreeSet<String>,
}

impl CtZones {
    /// `user`'s zone (None: not a user, or none was free).
    pub fn get(&self, user: &str) -> Option<u16> {
        self.zones.get(user).copied()
    }

    /// Every (user, zone), by user.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u16)> + '_ {
        self.zones.iter().map(|(u, z)| (u.as_str(), *z))
    }

    pub fn len(&self) -> usize {
        self.zones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    /// The zones to flush before flows that use them are installed (handed out or freed since the last call).
    pub fn take_flushes(&mut self) -> Vec<u16> {
        std::mem::take(&mut self.flush).into_iter().collect()
    }

    /// Brings the allocation to exactly `users`: frees the zones of users not listed, keeps every listed
    /// user's zone, and gives each new one a zone: the one `stored` (the integration bridge's
    /// `external_ids`) records for it if that is valid and free, else the lowest free one, in the order of
    /// `users` (so a fresh chassis numbers its users the same way every time). Returns whether any user's
    /// zone changed.
    pub fn update(&mut self, users: &[String], stored: &BTreeMap<String, String>) -> bool {
        let wanted: HashSet<&str> = users.iter().map(String::as_str).collect();
        let gone: Vec<String> = self.zones.keys().filter(|u| !wanted.contains(u.as_str())).cloned().collect();
        let mut changed = !gone.is_empty();
        for user in gone {
            if let Some(zone) = self.zones.remove(&user) {
                tracing::debug!(%user, zone, "conntrack zone freed");
                self.used.clear(zone);
                self.flush.insert(zone);
            }
        }
        self.starved.retain(|u| wanted.contains(u.as_str()));

        // Recorded zones first, so that a user whose zone is on record never finds it taken by a new user
        // listed before it. They are not flushed: their entries are their own user's (kept connections).
        for user in users {
            if self.zones.contains_key(user) {
                continue;
            }
            let Some(value) = stored.get(&key(user)) else { continue };
            match parse_zone(value) {
                Some(zone) if !self.used.is_set(zone) => {
                    tracing::debug!(%user, zone, "conntrack zone from the integration bridge");
                    self.assign(user, zone);
                    changed = true;
                }
                Some(zone) => {
                    let holder = self.zones.iter().find(|(_, z)| **z == zone).map_or("", |(u, _)| u.as_str());
                    tracing::warn!(%user, zone, %holder, "recorded conntrack zone already in use; allocating another");
                }
                None => tracing::warn!(%user, %value, "recorded conntrack zone is not a number in 1..=65535; allocating another"),
            }
        }

        let mut from = 1;
        for user in users {
            if self.zones.contains_key(user) {
                continue;
            }
            match self.used.first_free(from) {
                Some(zone) => {
                    tracing::debug!(%user, zone, "conntrack zone allocated");
                    self.assign(user, zone);
                    self.flush.insert(zone);
                    from = usize::from(zone) + 1;
                    changed = true;
                }
                None => {
                    // Nothing above `from` is free and nothing below it was: every zone is taken.
                    from = ZONE_COUNT;
                    if self.starved.insert(user.clone()) {
                        tracing::error!(%user, "every conntrack zone is in use; this user shares zone 0 until one is freed");
                    }
                }
            }
        }
        changed
    }

    fn assign(&mut self, user: &str, zone: u16) {
        self.used.set(zone);
        self.zones.insert(user.to_string(), zone);
        self.starved.remove(user);
    }
}

/// The `ct-zone-<user>` keys of a bridge's `external_ids` (users named by the empty string are ignored,
/// as `ovn-controller` ignores them).
fn recorded(external_ids: &BTreeMap<String, String>) -> impl Iterator<Item = (&str, &str)> + '_ {
    external_ids.iter().filter_map(|(k, v)| Some((k.strip_prefix(KEY_PREFIX).filter(|u| !u.is_empty())?, v.as_str())))
}

/// The transaction that records `zones` in `bridge`'s `external_ids`: one mutate that deletes the
/// `ct-zone-*` keys whose user left or whose value differs and inserts the new values, leaving every other
/// key (and every unchanged zone) alone. Empty when the bridge already records them, or does not exist yet
/// (the zones are written once [`crate::vswitch::plan_ovs`] has made it).
pub fn plan_ct_zones(zones: &CtZones, view: &OvsView, bridge: &str) -> Transaction {
    let mut txn = Transaction::new();
    let Some(b) = view.bridge(bridge) else { return txn };
    let have: BTreeMap<&str, &str> = recorded(&b.external_ids).collect();
    let mut delete: Vec<String> = have.keys().filter(|u| zones.get(u).is_none()).map(|u| key(u)).collect();
    let removed = delete.len();
    let mut insert: Vec<(String, String)> = Vec::new();
    for (user, zone) in zones.iter() {
        let value = zone.to_string();
        match have.get(user) {
            Some(v) if *v == value => {}
            Some(_) => {
                // A map `insert` leaves an existing key's value: delete it first, in the same mutate.
                delete.push(key(user));
                insert.push((key(user), value));
            }
            None => insert.push((key(user), value)),
        }
    }
    let mut m = Vec::new();
    if !delete.is_empty() {
        m.push(Mutation::delete("external_ids", Datum::set(delete.iter().map(String::as_str))));
    }
    if !insert.is_empty() {
        m.push(Mutation::insert("external_ids", Datum::map(insert.iter().map(|(k, v)| (k.as_str(), v.as_str())))));
    }
    if !m.is_empty() {
        txn.mutate(ovs::BRIDGE, vec![Condition::uuid(b.uuid)], m);
        txn.comment(&format!("controller: conntrack zones on {bridge} ({} set, {removed} removed)", insert.len()));
    }
    txn
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::testutil::{jmap, OvsBuilder};
    use model::ovsdb::Operation;

    fn users(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn stored(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(u, z)| (key(u), z.to_string())).collect()
    }

    fn none() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    fn all(z: &CtZones) -> Vec<(&str, u16)> {
        z.iter().collect()
    }

    #[test]
    fn zones_are_unique_at_scale_and_numbered_in_order() {
        let names: Vec<String> = (0..20_000).map(|i| format!("vif{i:05}")).collect();
        let mut z = CtZones::default();
        assert!(z.update(&names, &none()));
        let zones: BTreeSet<u16> = z.iter().map(|(_, zone)| zone).collect();
        assert_eq!(zones.len(), names.len(), "every user has a zone of its own");
        assert!(!zones.contains(&0), "zone 0 is never handed out");
        // A fresh chassis numbers its users in the order given, from 1.
        assert_eq!(z.get("vif00000"), Some(1));
        assert_eq!(z.get("vif19999"), Some(20_000));
        assert_eq!(z.take_flushes().len(), names.len(), "new zones are flushed (a previous owner's entries)");
        // The same users again: nothing changes, nothing to flush.
        assert!(!z.update(&names, &none()));
        assert!(z.take_flushes().is_empty());
    }

    #[test]
    fn a_freed_zone_is_reused_and_flushed() {
        let mut z = CtZones::default();
        z.update(&users(&["a", "b", "c"]), &none());
        z.take_flushes();
        assert!(z.update(&users(&["a", "c"]), &none()));
        assert_eq!(z.get("b"), None);
        assert_eq!(z.take_flushes(), [2], "a departed port's entries go with it");
        z.update(&users(&["a", "c", "d"]), &none());
        assert_eq!(all(&z), [("a", 1), ("c", 3), ("d", 2)], "the lowest free zone, the one b left");
        assert_eq!(z.take_flushes(), [2]);
    }

    #[test]
    fn zones_are_restored_from_the_bridge() {
        // As a restart finds them: not the order a fresh allocation would give, plus a user that left.
        let rec = stored(&[("a", "7"), ("b", "3"), ("gone", "1"), ("x_dnat", "65535")]);
        let mut z = CtZones::default();
        assert!(z.update(&users(&["a", "b", "x_dnat", "new"]), &rec));
        assert_eq!(all(&z), [("a", 7), ("b", 3), ("new", 1), ("x_dnat", 65535)]);
        // Restored zones keep their connections: only the newly allocated one is flushed.
        assert_eq!(z.take_flushes(), [1]);
    }

    #[test]
    fn a_recorded_zone_wins_over_a_new_user_listed_before_it() {
        let mut z = CtZones::default();
        z.update(&users(&["a", "b"]), &stored(&[("b", "1")]));
        assert_eq!(all(&z), [("a", 2), ("b", 1)]);
    }

    #[test]
    fn pinned_zones_are_honoured() {
        // Pinned by hand before the start (ovs-vsctl set bridge br-int external_ids:ct-zone-pinned=4000);
        // pins on a zone already pinned, on zone 0 or on no zone number at all are not honoured (nor fatal).
        let rec = stored(&[("a", "2"), ("pinned", "4000"), ("twin", "4000"), ("junk", "x"), ("zero", "0"), ("big", "70000")]);
        let mut z = CtZones::default();
        z.update(&users(&["a", "big", "junk", "pinned", "twin", "zero"]), &rec);
        assert_eq!(all(&z), [("a", 2), ("big", 1), ("junk", 3), ("pinned", 4000), ("twin", 4), ("zero", 5)]);
        // The same holds for a user that appears later with its zone on record.
        z.update(&users(&["a", "big", "junk", "pinned", "twin", "zero", "late"]), &stored(&[("late", "9")]));
        assert_eq!(z.get("late"), Some(9));
    }

    #[test]
    fn a_kept_user_keeps_its_zone_whatever_the_bridge_says() {
        let mut z = CtZones::default();
        z.update(&users(&["a"]), &none());
        assert!(!z.update(&users(&["a"]), &stored(&[("a", "9")])), "edited by hand: repaired, not followed");
        assert_eq!(z.get("a"), Some(1));
    }

    #[test]
    fn exhaustion_leaves_users_without_a_zone_until_one_is_freed() {
        let names: Vec<String> = (0..65_537).map(|i| format!("p{i:05}")).collect();
        let mut z = CtZones::default();
        z.update(&names, &none());
        assert_eq!(z.len(), 65_535);
        assert_eq!(z.get("p65534"), Some(65_535));
        assert_eq!((z.get("p65535"), z.get("p65536")), (None, None), "no zone left: none, and no panic");
        // Trying again changes nothing; freeing one lets the next waiting user have it.
        assert!(!z.update(&names, &none()));
        let fewer: Vec<String> = names.iter().filter(|n| *n != "p00099").cloned().collect();
        assert!(z.update(&fewer, &none()));
        assert_eq!((z.get("p65535"), z.get("p65536")), (Some(100), None));
    }

    #[test]
    fn the_bitmap_finds_the_lowest_free_zone() {
        let mut b = Bitmap::default();
        assert_eq!(b.first_free(0), Some(1));
        for zone in 1..=200 {
            b.set(zone);
        }
        b.clear(130);
        assert_eq!(b.first_free(1), Some(130));
        assert_eq!(b.first_free(131), Some(201));
        assert_eq!(b.first_free(65_535), Some(65_535));
        b.set(65_535);
        assert_eq!(b.first_free(65_535), None);
        assert_eq!(b.first_free(ZONE_COUNT), None);
    }

    fn bridge_with(ids: &[(&str, &str)]) -> OvsView {
        let mut b = OvsBuilder::new();
        b.open_vswitch(&[("system-id", "me")]);
        b.bridge("br-int", &[("external_ids", jmap(ids))]);
        OvsView::from_replica(&b.build())
    }

    fn mutations(t: &Transaction) -> Vec<Mutation> {
        t.ops
            .iter()
            .filter_map(|o| match o {
                Operation::Mutate { mutations, .. } => Some(mutations.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn the_bridge_gets_only_the_keys_that_differ() {
        let mut z = CtZones::default();
        z.update(&users(&["a", "b", "c"]), &none());
        let view = bridge_with(&[("ct-zone-a", "1"), ("ct-zone-b", "7"), ("ct-zone-gone", "4"), ("other", "x"), ("ct-zone-", "9")]);
        let t = plan_ct_zones(&z, &view, "br-int");
        assert_eq!(
            mutations(&t),
            [
                Mutation::delete("external_ids", Datum::set(["ct-zone-gone", "ct-zone-b"])),
                Mutation::insert("external_ids", Datum::map([("ct-zone-b", "2"), ("ct-zone-c", "3")])),
            ]
        );
        let settled = bridge_with(&[("ct-zone-a", "1"), ("ct-zone-b", "2"), ("ct-zone-c", "3"), ("other", "x")]);
        assert!(plan_ct_zones(&z, &settled, "br-int").is_empty());
        assert!(plan_ct_zones(&z, &settled, "br-missing").is_empty(), "no bridge yet: written once it exists");
    }
}
