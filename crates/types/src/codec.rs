//! The canonical binary codec.
//!
//! Every value that is signed, hashed or stored is encoded with [borsh]: fixed-width little-endian
//! integers, a `u32` length before every sequence, a one-byte tag before every enum variant and
//! option. Borsh is canonical for the types Cairn uses: a bool other than 0/1, an option tag other
//! than 0/1, an unknown enum tag, invalid UTF-8 and trailing bytes are all refused, so one value has
//! exactly one encoding and a signature over it cannot be replayed in another shape.
//!
//! Borsh alone puts no limit on a sequence's length. Every variable-length field in Cairn is one of
//! the bounded wrappers below ([`BoundedVec`], [`BoundedBytes`], [`BoundedString`]), whose decoder
//! checks the length against the field's limit *before* reading the elements, and every top-level
//! decode goes through [`decode`], which refuses input longer than the caller's byte limit first.
//! Decoding therefore never allocates more than the input justifies and never panics.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// Why bytes could not be decoded into a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input is longer than the limit for this kind of value.
    #[error("input is {len} bytes, more than the limit of {max} bytes")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The bytes are not a canonical encoding of the expected type.
    #[error("malformed encoding: {0}")]
    Malformed(String),
}

/// Encodes a value canonically.
pub fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    // Writing into a Vec cannot fail; borsh only fails on I/O errors of the writer.
    let mut out = Vec::new();
    match value.serialize(&mut out) {
        Ok(()) => out,
        Err(_) => unreachable_vec_write(),
    }
}

#[cold]
fn unreachable_vec_write() -> Vec<u8> {
    // A Vec<u8> writer never returns an I/O error; if it ever did, an empty encoding makes every
    // signature and hash check fail closed rather than panic.
    Vec::new()
}

/// Decodes a value from exactly `bytes`, refusing input longer than `max_bytes` and trailing bytes.
pub fn decode<T: BorshDeserialize>(bytes: &[u8], max_bytes: usize) -> Result<T, CodecError> {
    if bytes.len() > max_bytes {
        return Err(CodecError::TooLong {
            len: bytes.len(),
            max: max_bytes,
        });
    }
    borsh::from_slice(bytes).map_err(|e| CodecError::Malformed(e.to_string()))
}

fn read_len<R: Read>(reader: &mut R, max: usize, what: &str) -> std::io::Result<usize> {
    let len = u32::deserialize_reader(reader)? as usize;
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{what} of length {len} exceeds the limit of {max}"),
        ));
    }
    Ok(len)
}

fn write_len<W: Write>(writer: &mut W, len: usize) -> std::io::Result<()> {
    let len = u32::try_from(len)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "sequence too long"))?;
    BorshSerialize::serialize(&len, writer)
}

/// A sequence of at most `MAX` elements.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct BoundedVec<T, const MAX: usize>(Vec<T>);

impl<T, const MAX: usize> Default for BoundedVec<T, MAX> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T, const MAX: usize> BoundedVec<T, MAX> {
    /// The limit on the number of elements.
    pub const MAX: usize = MAX;

    /// Wraps `items`, refusing more than `MAX` of them.
    pub fn new(items: Vec<T>) -> Result<Self, CodecError> {
        if items.len() > MAX {
            return Err(CodecError::TooLong {
                len: items.len(),
                max: MAX,
            });
        }
        Ok(Self(items))
    }

    /// Wraps `items` that the caller has already cut to at most `MAX` (more are dropped).
    pub fn from_bounded(mut items: Vec<T>) -> Self {
        items.truncate(MAX);
        Self(items)
    }

    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }

    /// Unwraps the elements.
    pub fn into_inner(self) -> Vec<T> {
        self.0
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the elements.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }
}

impl<T: BorshSerialize, const MAX: usize> BorshSerialize for BoundedVec<T, MAX> {
    fn serialize<W: Write>(&self, writer: &mut W) -> std::io::Result<()> {
        write_len(writer, self.0.len())?;
        for item in &self.0 {
            item.serialize(writer)?;
        }
        Ok(())
    }
}

impl<T: BorshDeserialize, const MAX: usize> BorshDeserialize for BoundedVec<T, MAX> {
    fn deserialize_reader<R: Read>(reader: &mut R) -> std::io::Result<Self> {
        let len = read_len(reader, MAX, "sequence")?;
        // Capacity is bounded by MAX and by what the input actually holds: never preallocate more
        // than a small amount before the elements have been read.
        let mut items = Vec::with_capacity(len.min(64));
        for _ in 0..len {
            items.push(T::deserialize_reader(reader)?);
        }
        Ok(Self(items))
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for BoundedVec<T, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = <Vec<T> as Deserialize>::deserialize(deserializer)?;
        Self::new(items).map_err(serde::de::Error::custom)
    }
}

/// Opaque bytes, at most `MAX` of them. Shown as hex in JSON.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BoundedBytes<const MAX: usize>(Vec<u8>);

impl<const MAX: usize> BoundedBytes<MAX> {
    /// Wraps `bytes`, refusing more than `MAX`.
    pub fn new(bytes: Vec<u8>) -> Result<Self, CodecError> {
        if bytes.len() > MAX {
            return Err(CodecError::TooLong {
                len: bytes.len(),
                max: MAX,
            });
        }
        Ok(Self(bytes))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl<const MAX: usize> BorshSerialize for BoundedBytes<MAX> {
    fn serialize<W: Write>(&self, writer: &mut W) -> std::io::Result<()> {
        write_len(writer, self.0.len())?;
        writer.write_all(&self.0)
    }
}

impl<const MAX: usize> BorshDeserialize for BoundedBytes<MAX> {
    fn deserialize_reader<R: Read>(reader: &mut R) -> std::io::Result<Self> {
        let len = read_len(reader, MAX, "byte string")?;
        let mut bytes = vec![0u8; len];
        reader.read_exact(&mut bytes)?;
        Ok(Self(bytes))
    }
}

impl<const MAX: usize> Serialize for BoundedBytes<MAX> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for BoundedBytes<MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as Deserialize>::deserialize(deserializer)?;
        let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
        Self::new(bytes).map_err(serde::de::Error::custom)
    }
}

/// UTF-8 text of at most `MAX` bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct BoundedString<const MAX: usize>(String);

impl<const MAX: usize> BoundedString<MAX> {
    /// Wraps `text`, refusing more than `MAX` bytes.
    pub fn new(text: impl Into<String>) -> Result<Self, CodecError> {
        let text = text.into();
        if text.len() > MAX {
            return Err(CodecError::TooLong {
                len: text.len(),
                max: MAX,
            });
        }
        Ok(Self(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> std::fmt::Display for BoundedString<MAX> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const MAX: usize> BorshSerialize for BoundedString<MAX> {
    fn serialize<W: Write>(&self, writer: &mut W) -> std::io::Result<()> {
        write_len(writer, self.0.len())?;
        writer.write_all(self.0.as_bytes())
    }
}

impl<const MAX: usize> BorshDeserialize for BoundedString<MAX> {
    fn deserialize_reader<R: Read>(reader: &mut R) -> std::io::Result<Self> {
        let len = read_len(reader, MAX, "string")?;
        let mut bytes = vec![0u8; len];
        reader.read_exact(&mut bytes)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "string is not UTF-8")
        })?;
        Ok(Self(text))
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for BoundedString<MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as Deserialize>::deserialize(deserializer)?;
        Self::new(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refuses_input_over_limit_before_decoding() {
        let bytes = encode(&7u64);
        assert_eq!(
            decode::<u64>(&bytes, 4),
            Err(CodecError::TooLong { len: 8, max: 4 })
        );
        assert_eq!(decode::<u64>(&bytes, 8), Ok(7));
    }

    #[test]
    fn refuses_trailing_bytes() {
        let mut bytes = encode(&7u64);
        bytes.push(0);
        assert!(matches!(
            decode::<u64>(&bytes, 100),
            Err(CodecError::Malformed(_))
        ));
    }

    #[test]
    fn bounded_vec_refuses_length_over_limit_without_reading_elements() {
        // A length prefix of 5 for a vector limited to 4: refused from the prefix alone.
        let mut bytes = encode(&5u32);
        bytes.extend_from_slice(&[0u8; 5]);
        assert!(decode::<BoundedVec<u8, 4>>(&bytes, 100).is_err());
        // A huge declared length with no data behind it is refused, not allocated.
        let bytes = encode(&u32::MAX);
        assert!(decode::<BoundedVec<u64, { usize::MAX }>>(&bytes, 100).is_err());
        assert!(decode::<BoundedBytes<16>>(&bytes, 100).is_err());
    }

    #[test]
    fn bounded_string_refuses_invalid_utf8() {
        let mut bytes = encode(&2u32);
        bytes.extend_from_slice(&[0xff, 0xfe]);
        assert!(decode::<BoundedString<8>>(&bytes, 100).is_err());
    }

    #[test]
    fn constructors_enforce_limits() {
        assert!(BoundedVec::<u8, 2>::new(vec![1, 2, 3]).is_err());
        assert!(BoundedBytes::<2>::new(vec![1, 2, 3]).is_err());
        assert!(BoundedString::<2>::new("abc").is_err());
        assert!(BoundedString::<3>::new("abc").is_ok());
    }

    proptest! {
        #[test]
        fn bounded_types_round_trip(v in proptest::collection::vec(any::<u64>(), 0..8),
                                    b in proptest::collection::vec(any::<u8>(), 0..32),
                                    s in "[a-z0-9 ]{0,16}") {
            let v = BoundedVec::<u64, 8>::new(v).unwrap();
            prop_assert_eq!(decode::<BoundedVec<u64, 8>>(&encode(&v), 1 << 16).unwrap(), v);
            let b = BoundedBytes::<32>::new(b).unwrap();
            prop_assert_eq!(decode::<BoundedBytes<32>>(&encode(&b), 1 << 16).unwrap(), b);
            let s = BoundedString::<16>::new(s).unwrap();
            prop_assert_eq!(decode::<BoundedString<16>>(&encode(&s), 1 << 16).unwrap(), s);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode::<BoundedVec<u64, 8>>(&bytes, 1 << 16);
            let _ = decode::<BoundedBytes<32>>(&bytes, 1 << 16);
            let _ = decode::<BoundedString<16>>(&bytes, 1 << 16);
        }
    }
}
