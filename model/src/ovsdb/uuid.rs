//! OVSDB row identifiers.
//!
//! A UUID is kept as one `u128` read from its 32 hex digits in order, so the derived ordering is the same as
//! comparing the canonical text: that is the order in which OVSDB sorts the members of a set of references,
//! and so the order in which `ovn-nbctl show` lists a switch's ports.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(pub u128);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a UUID (expected 8-4-4-4-12 hex digits)")]
pub struct UuidParseError(pub String);

impl Uuid {
    /// True for a string in canonical UUID form.
    pub fn is_uuid(s: &str) -> bool {
        s.parse::<Uuid>().is_ok()
    }
}

/// Fresh row UUIDs chosen by the client (an `insert` may name the UUID of its row, so that a later,
/// separate transaction can refer to it: see [`crate::ovsdb::transact::Transaction::into_batches`]).
///
/// Version-4 UUIDs: a counter run through a bijective mixer, keyed by 128 bits read from `/dev/urandom`
/// once (cheap enough for the tens of thousands of rows of a first sync). Should one ever collide with an
/// existing row, the server refuses that transaction and the caller's retry draws new ones.
#[derive(Debug, Clone)]
pub struct UuidGen {
    seed: (u64, u64),
    next: u64,
}

impl UuidGen {
    pub fn new() -> UuidGen {
        use std::io::Read;
        let mut b = [0u8; 16];
        let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).is_ok();
        if !from_os {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
            b = (t ^ (u128::from(std::process::id()) << 64)).to_le_bytes();
        }
        let v = u128::from_le_bytes(b);
        UuidGen { seed: ((v >> 64) as u64, v as u64), next: 0 }
    }

    pub fn generate(&mut self) -> Uuid {
        let i = self.next;
        self.next = self.next.wrapping_add(1);
        let hi = mix64(self.seed.0.wrapping_add(i));
        let lo = mix64(self.seed.1 ^ mix64(i));
        // Version 4 (random) and the RFC 4122 variant.
        let hi = (hi & !0xf000) | 0x4000;
        let lo = (lo & !(0b11 << 62)) | (0b10 << 62);
        Uuid((u128::from(hi) << 64) | u128::from(lo))
    }
}

impl Default for UuidGen {
    fn default() -> Self {
        Self::new()
    }
}

/// Hashing for keys that are random already: row UUIDs (ovsdb-server's and [`UuidGen`]'s) and 64-bit
/// hashes. One mix of the bits with a per-process random seed instead of SipHash: a first sync files
/// each of its 50,000 flows in several such sets and maps. The seed keeps a writer from choosing UUIDs
/// that collide in advance.
#[derive(Debug, Clone, Copy)]
pub struct MixHash {
    seed: u64,
}

impl Default for MixHash {
    fn default() -> MixHash {
        static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let seed = *SEED.get_or_init(|| {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(0x6f76_7364_625f_7575u64)
        });
        MixHash { seed }
    }
}

/// The [`std::hash::Hasher`] of [`MixHash`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MixHasher(u64);

impl std::hash::BuildHasher for MixHash {
    type Hasher = MixHasher;
    fn build_hasher(&self) -> MixHasher {
        MixHasher(self.seed)
    }
}

impl std::hash::Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, v: u128) {
        self.0 = mix64(self.0 ^ (v as u64) ^ mix64((v >> 64) as u64));
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = mix64(self.0 ^ v);
    }

    /// Anything else: byte by byte, still mixed.
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = mix64(self.0 ^ u64::from(*b));
        }
    }
}

/// A set of UUIDs hashed with [`MixHash`].
pub type UuidSet = std::collections::HashSet<Uuid, MixHash>;
/// A map keyed by UUIDs hashed with [`MixHash`].
pub type UuidMap<V> = std::collections::HashMap<Uuid, V, MixHash>;

/// A bijection on 64-bit values that scatters neighbouring inputs (splitmix64's finalizer).
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl FromStr for Uuid {
    type Err = UuidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || UuidParseError(s.to_string());
        let b = s.as_bytes();
        if b.len() != 36 {
            return Err(bad());
        }
        let mut v: u128 = 0;
        for (i, &c) in b.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return Err(bad());
                }
                continue;
            }
            let d = (c as char).to_digit(16).ok_or_else(bad)?;
            v = (v << 4) | u128::from(d);
        }
        Ok(Uuid(v))
    }
}

impl Uuid {
    /// The canonical text, `8-4-4-4-12` lowercase hex digits, without allocating.
    fn text(&self) -> [u8; 36] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'-'; 36];
        let mut digit = 0;
        for (i, c) in out.iter_mut().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                continue;
            }
            *c = HEX[((self.0 >> (124 - 4 * digit)) & 0xf) as usize];
            digit += 1;
        }
        out
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.text();
        // Only ASCII hex digits and dashes were written.
        f.pad(std::str::from_utf8(&t).map_err(|_| fmt::Error)?)
    }
}

impl serde::Serialize for Uuid {
    /// The canonical text (the second half of `["uuid", "..."]`).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.text();
        s.serialize_str(std::str::from_utf8(&t).map_err(serde::ser::Error::custom)?)
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_hash_spreads_close_keys_and_sets_work() {
        use std::hash::BuildHasher;
        // UUIDs that differ in one bit, high or low, land in different buckets of a small table.
        let low: std::collections::BTreeSet<u64> = (0..64u32).map(|i| MixHash::default().hash_one(Uuid(1u128 << i)) & 0xff).collect();
        let high: std::collections::BTreeSet<u64> = (64..128u32).map(|i| MixHash::default().hash_one(Uuid(1u128 << i)) & 0xff).collect();
        assert!(low.len() > 40 && high.len() > 40, "{} {}", low.len(), high.len());
        assert_ne!(MixHash::default().hash_one(7u64), MixHash::default().hash_one(8u64));
        let mut set = UuidSet::default();
        let mut ids = UuidGen::new();
        let all: Vec<Uuid> = (0..1000).map(|_| ids.generate()).collect();
        set.extend(all.iter().copied());
        assert_eq!(set.len(), 1000);
        assert!(all.iter().all(|u| set.remove(u)) && set.is_empty());
    }

    #[test]
    fn round_trips_and_orders_like_text() {
        let a: Uuid = "7f2c51db-c310-4b0a-ac50-737675814e6a".parse().unwrap();
        let b: Uuid = "9ee09288-9e0b-445c-b0f2-da7354270d71".parse().unwrap();
        assert_eq!(a.to_string(), "7f2c51db-c310-4b0a-ac50-737675814e6a");
        assert!(a < b);
        assert!("7f2c51db-c310-4b0a-ac50-737675814e6".parse::<Uuid>().is_err());
        assert!("7f2c51dbxc310-4b0a-ac50-737675814e6a".parse::<Uuid>().is_err());
        assert!("7f2c51db-c310-4b0a-ac50-737675814e6g".parse::<Uuid>().is_err());
        assert_eq!(Uuid(0).to_string(), "00000000-0000-0000-0000-000000000000");
        assert_eq!(Uuid(u128::MAX).to_string(), "ffffffff-ffff-ffff-ffff-ffffffffffff");
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"7f2c51db-c310-4b0a-ac50-737675814e6a\"");
    }

    #[test]
    fn generated_uuids_are_distinct_version_4() {
        let (mut a, mut b) = (UuidGen::new(), UuidGen::new());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            for u in [a.generate(), b.generate()] {
                let text = u.to_string();
                assert_eq!(&text[14..15], "4", "{text}");
                assert!("89ab".contains(&text[19..20]), "{text}");
                assert!(seen.insert(u), "{text} twice");
            }
        }
    }
}
