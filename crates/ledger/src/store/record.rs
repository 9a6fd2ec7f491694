//! How values and tree nodes are laid out in the database.
//!
//! Both tables are keyed by tree version first (big-endian), so everything a block writes is
//! appended at the end of each B-tree: a flush fills fresh pages densely instead of copying
//! pages scattered across the table, which is what random keys (key hashes, state keys) cost.

use crate::error::StoreError;
use jmt::storage::NodeKey;
use jmt::{KeyHash, Version};

/// A state value as stored: the state key's bytes (so the state can be listed by key) and the
/// value. Deletions are not stored: a deleted key has no leaf in the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Record {
    /// The state key's canonical bytes.
    pub(super) key: Vec<u8>,
    /// The value's bytes.
    pub(super) value: Vec<u8>,
}

impl Record {
    /// Appends the stored form: key length (u32, little-endian), key, value.
    pub(super) fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), StoreError> {
        let len = u32::try_from(self.key.len())
            .map_err(|_| StoreError::Corrupt("state key longer than 4 GiB".into()))?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&self.value);
        Ok(())
    }

    /// Reads the stored form back, refusing truncated bytes.
    pub(super) fn decode(bytes: &[u8]) -> Result<Record, StoreError> {
        let truncated = || StoreError::Corrupt("truncated value record".into());
        let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(truncated)?;
        let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| truncated())?;
        if rest.len() < len {
            return Err(truncated());
        }
        let (key, value) = rest.split_at(len);
        Ok(Record {
            key: key.to_vec(),
            value: value.to_vec(),
        })
    }
}

/// A value record's database key: the tree version at which the key's leaf was written,
/// big-endian, then the key hash.
pub(super) fn value_db_key(version: Version, hash: &KeyHash) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..8].copy_from_slice(&version.to_be_bytes());
    out[8..].copy_from_slice(&hash.0);
    out
}

/// A tree node's database key: the version big-endian, then the borsh-encoded nibble path.
pub(super) fn node_db_key(node_key: &NodeKey, out: &mut Vec<u8>) -> std::io::Result<()> {
    out.extend_from_slice(&node_key.version().to_be_bytes());
    borsh::to_writer(out, node_key.nibble_path())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn records_round_trip(key in proptest::collection::vec(any::<u8>(), 0..64),
                              value in proptest::collection::vec(any::<u8>(), 0..256)) {
            let record = Record { key, value };
            let mut bytes = Vec::new();
            record.encode_into(&mut bytes).unwrap();
            prop_assert_eq!(Record::decode(&bytes).unwrap(), record);
        }

        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Record::decode(&bytes);
        }
    }

    #[test]
    fn truncated_records_are_refused() {
        let mut bytes = Vec::new();
        Record {
            key: b"account".to_vec(),
            value: vec![1, 2, 3],
        }
        .encode_into(&mut bytes)
        .unwrap();
        assert!(Record::decode(&bytes[..3]).is_err());
        assert!(Record::decode(&bytes[..8]).is_err());
        assert!(Record::decode(&bytes[..11]).is_ok());
    }

    #[test]
    fn keys_sort_by_version_first() {
        let early = value_db_key(1, &KeyHash([0xff; 32]));
        let late = value_db_key(2, &KeyHash([0; 32]));
        assert!(early < late);
    }
}
