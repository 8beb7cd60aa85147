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
}
