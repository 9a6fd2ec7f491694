//! An oracle's manifest: the log files it holds for one reward epoch, with their hashes.
//!
//! The oracle commits the manifest's hash on chain ([`Manifest::hash`]) and serves the manifest
//! and its files; another oracle (or an auditor) fetches them, checks every file against its hash
//! and the manifest against the chain, and only then attests it.

use crate::log::format::MAX_FILE_NAME_BYTES;
use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::codec::{self, BoundedString, BoundedVec, CodecError};
use cairn_types::{Address, Epoch, Hash};
use serde::{Deserialize, Serialize};

/// Most files in one manifest (a file every 10 s for a day is 8,640).
pub const MAX_MANIFEST_FILES: usize = 65_536;
/// Largest encoded manifest, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 16 + 32 + 4 + MAX_MANIFEST_FILES * (4 + 64 + 32 + 16);

/// One log file named in a manifest.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ManifestFile {
    /// The file's name in the oracle's store (`/v1/logs/{name}`).
    pub name: BoundedString<MAX_FILE_NAME_BYTES>,
    /// BLAKE3 hash of the file's bytes.
    pub hash: Hash,
    /// The file's size.
    pub bytes: u64,
    /// Reports it holds.
    pub reports: u64,
}

/// The files an oracle holds for one reward epoch.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Manifest {
    /// The reward epoch.
    pub epoch: Epoch,
    /// The oracle.
    pub oracle: Address,
    /// Its files, in the order they were written.
    pub files: BoundedVec<ManifestFile, MAX_MANIFEST_FILES>,
}

impl Manifest {
    /// The hash committed on chain.
    pub fn hash(&self) -> Hash {
        Hash::domain("cairn manifest v1", &[&codec::encode(self)])
    }

    /// Reports in all its files.
    pub fn reports(&self) -> u64 {
        self.files.iter().map(|f| f.reports).sum()
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a manifest, refusing more than [`MAX_MANIFEST_BYTES`] first.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, CodecError> {
        codec::decode(bytes, MAX_MANIFEST_BYTES)
    }
}

/// The BLAKE3 hash of a file's bytes, as manifests name it.
pub use crate::log::format::file_hash;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_manifest_round_trips_and_its_hash_binds_every_file() {
        let file = |n: u8| ManifestFile {
            name: BoundedString::new(format!("{n:016}-{n:010}.log.gz")).unwrap(),
            hash: file_hash(&[n]),
            bytes: 100,
            reports: 7,
        };
        let m = Manifest {
            epoch: Epoch(3),
            oracle: Address::default(),
            files: BoundedVec::new(vec![file(1), file(2)]).unwrap(),
        };
        assert_eq!(Manifest::decode(&m.encode()).unwrap(), m);
        assert_eq!(m.reports(), 14);
        let mut other = m.clone();
        other.files = BoundedVec::new(vec![file(1), file(3)]).unwrap();
        assert_ne!(other.hash(), m.hash());
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(m) = Manifest::decode(&bytes) {
                prop_assert_eq!(m.encode(), bytes);
            }
        }
    }
}
