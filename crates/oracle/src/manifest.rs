//! An oracle's manifest: the log files it holds for one reward epoch, with their hashes, and
//! its coverage denylist ([`crate::denylist`]).
//!
//! The oracle commits the manifest's hash on chain ([`Manifest::hash`]) and serves the manifest
//! and its files; another oracle (or an auditor) fetches them, checks every file against its hash
//! and the manifest against the chain, and only then attests it.

use crate::denylist::{DenyEntry, MAX_DENY_ENTRIES, MAX_ENTRY_BYTES};
use crate::log::format::MAX_FILE_NAME_BYTES;
use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::codec::{self, BoundedString, BoundedVec, CodecError};
use cairn_types::{Address, Epoch, Hash};
use serde::{Deserialize, Serialize};

/// Most files in one manifest (a file every 10 s for a day is 8,640).
pub const MAX_MANIFEST_FILES: usize = 65_536;
/// Largest encoded manifest, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 16
    + 32
    + 4
    + MAX_MANIFEST_FILES * (4 + MAX_FILE_NAME_BYTES + 32 + 16)
    + 4
    + MAX_DENY_ENTRIES * MAX_ENTRY_BYTES;

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
    /// The coverage devices and pairs this oracle denies, each with its reason.
    pub denylist: BoundedVec<DenyEntry, MAX_DENY_ENTRIES>,
}

/// A manifest as written before manifests carried a denylist: how one with an empty denylist
/// is still encoded, so that manifests of either kind decode and hash as they were committed.
#[derive(BorshSerialize, BorshDeserialize)]
struct ManifestV1 {
    epoch: Epoch,
    oracle: Address,
    files: BoundedVec<ManifestFile, MAX_MANIFEST_FILES>,
}

impl Manifest {
    /// The hash committed on chain: of the encoding ([`Manifest::encode`]).
    pub fn hash(&self) -> Hash {
        Hash::domain("cairn manifest v1", &[&self.encode()])
    }

    /// Reports in all its files.
    pub fn reports(&self) -> u64 {
        self.files.iter().map(|f| f.reports).sum()
    }

    /// The canonical encoding: without a denylist, the encoding manifests had before they
    /// carried one (so oracles of either version read it and its hash is unchanged); with one,
    /// the whole struct. The two never decode as each other (one has bytes the other lacks).
    pub fn encode(&self) -> Vec<u8> {
        if self.denylist.is_empty() {
            codec::encode(&ManifestV1 {
                epoch: self.epoch,
                oracle: self.oracle,
                files: self.files.clone(),
            })
        } else {
            codec::encode(self)
        }
    }

    /// Decodes a manifest of either encoding, refusing more than [`MAX_MANIFEST_BYTES`] first.
    /// A manifest whose denylist is present but empty is refused: it has one encoding only.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, CodecError> {
        if let Ok(v1) = codec::decode::<ManifestV1>(bytes, MAX_MANIFEST_BYTES) {
            return Ok(Manifest {
                epoch: v1.epoch,
                oracle: v1.oracle,
                files: v1.files,
                denylist: BoundedVec::from_bounded(Vec::new()),
            });
        }
        let manifest: Manifest = codec::decode(bytes, MAX_MANIFEST_BYTES)?;
        if manifest.denylist.is_empty() {
            return Err(CodecError::Malformed(
                "an empty denylist is written as a version-1 manifest".into(),
            ));
        }
        Ok(manifest)
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
            denylist: BoundedVec::from_bounded(Vec::new()),
        };
        assert_eq!(Manifest::decode(&m.encode()).unwrap(), m);
        assert_eq!(m.reports(), 14);
        let mut other = m.clone();
        other.files = BoundedVec::new(vec![file(1), file(3)]).unwrap();
        assert_ne!(other.hash(), m.hash());
        // The denylist is committed too.
        let mut denied = m.clone();
        denied.denylist = BoundedVec::new(vec![DenyEntry {
            device: cairn_types::DeviceId(cairn_types::SecretKey::from_seed([1; 32]).public_key()),
            witness: None,
            reason: BoundedString::new("spoofed").unwrap(),
        }])
        .unwrap();
        assert_eq!(Manifest::decode(&denied.encode()).unwrap(), denied);
        assert_ne!(denied.hash(), m.hash());
        // Without a denylist, a manifest is encoded (and hashed) as before denylists existed.
        let v1 = codec::encode(&ManifestV1 {
            epoch: m.epoch,
            oracle: m.oracle,
            files: m.files.clone(),
        });
        assert_eq!(m.encode(), v1);
        assert_eq!(Manifest::decode(&v1).unwrap(), m);
        // The whole struct with an empty denylist has a second encoding: refused.
        assert!(Manifest::decode(&codec::encode(&m)).is_err());
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
