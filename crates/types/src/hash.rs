//! 32-byte BLAKE3 digests with domain separation.
//!
//! Every hash in Cairn names its purpose: [`Hash::domain`] derives a BLAKE3 key from a context
//! string, so a transaction digest can never be confused with a reward-tree node or a state key.

use borsh::{BorshDeserialize, BorshSerialize};
use std::fmt;
use std::str::FromStr;

/// A 32-byte BLAKE3 digest.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero digest, used as "nothing yet".
    pub const ZERO: Hash = Hash([0u8; 32]);

    /// Hashes `parts` in order under the domain `context` (a fixed, unique string per purpose).
    pub fn domain(context: &str, parts: &[&[u8]]) -> Hash {
        let mut hasher = blake3::Hasher::new_derive_key(context);
        for part in parts {
            hasher.update(part);
        }
        Hash(*hasher.finalize().as_bytes())
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

/// Why text is not a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a hash is 64 hexadecimal characters")]
pub struct HashParseError;

impl FromStr for Hash {
    type Err = HashParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| HashParseError)?;
        Ok(Hash(out))
    }
}

serde_as_text!(Hash);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_separate_equal_inputs() {
        assert_ne!(
            Hash::domain("cairn a", &[b"x"]),
            Hash::domain("cairn b", &[b"x"])
        );
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = Hash::domain("cairn test", &[b"abc"]);
        assert_eq!(h.to_string().parse::<Hash>(), Ok(h));
        assert_eq!("zz".parse::<Hash>(), Err(HashParseError));
    }
}
