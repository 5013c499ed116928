//! 32-byte identifiers: chunk ids (keyed BLAKE3 of the plaintext) and object
//! names (keyed BLAKE3 of the stored bytes).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A 32-byte identifier, shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Id(pub [u8; 32]);

/// Hex in human-readable formats (JSON), 32 raw bytes in binary ones (postcard).
impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_hex())
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            Id::parse(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
        } else {
            <[u8; 32]>::deserialize(d).map(Id)
        }
    }
}

impl Id {
    /// Parses 64 hex digits.
    pub fn parse(s: &str) -> Option<Id> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Id(out))
    }

    /// The full hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 hex digits, as shown in listings.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }

    /// A random id (for key slots and other names that carry no content).
    pub fn random() -> Id {
        let mut out = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut out);
        Id(out)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.short())
    }
}
