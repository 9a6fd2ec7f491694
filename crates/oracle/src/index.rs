//! The oracle's own records (redb): its log files, its manifests, counters.
//!
//! The index is the oracle's processed-files record: a file is in it once it is whole in the
//! store, and the journal is emptied only after that, so every stage can restart from it.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_resources::context::DeviceInfo;
use cairn_types::codec;
use cairn_types::{DeviceId, Epoch, Hash};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;

const FILES: TableDefinition<&str, &[u8]> = TableDefinition::new("files");
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
const MANIFESTS: TableDefinition<u64, &[u8]> = TableDefinition::new("manifests");
const DEVICES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("devices");
const EPOCH_STARTS: TableDefinition<u64, u64> = TableDefinition::new("epoch_starts");
const EPOCH_STAGES: TableDefinition<u64, u8> = TableDefinition::new("epoch_stages");
const BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("blobs");
const READS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("reads");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");

mod blocks;
mod reads;

pub use blocks::KeptBlock;

const NEXT_SEQ: &str = "next_seq";
const FOLLOWED: &str = "followed_height";
const FIRST_EPOCH: &str = "first_epoch";

/// Why the index failed: a disk fault, the oracle stops.
#[derive(Debug, thiserror::Error)]
#[error("oracle index: {0}")]
pub struct IndexError(String);

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for IndexError {
            fn from(e: $t) -> Self {
                IndexError(e.to_string())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    codec::CodecError
);

/// What the index knows of one log file.
#[derive(Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct FileMeta {
    /// Its sequence number (files are numbered from 0 as they are written).
    pub seq: u64,
    /// BLAKE3 hash of its bytes.
    pub hash: Hash,
    /// Its size.
    pub bytes: u64,
    /// Reports held.
    pub reports: u64,
    /// Earliest and latest receive time.
    pub received_ms: (u64, u64),
    /// Earliest and latest device time.
    pub time_ms: (u64, u64),
}

impl FileMeta {
    /// True when some report in the file may have a device time in `[start_ms, end_ms)`.
    pub fn meets(&self, start_ms: u64, end_ms: u64) -> bool {
        self.time_ms.0 < end_ms && self.time_ms.1 >= start_ms
    }
}

/// The open index.
pub struct Index {
    db: Database,
}

impl Index {
    /// Opens or creates the index at `path`.
    pub fn open(path: &Path) -> Result<Index, IndexError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(FILES)?;
        txn.open_table(COUNTERS)?;
        txn.open_table(MANIFESTS)?;
        txn.open_table(DEVICES)?;
        txn.open_table(EPOCH_STARTS)?;
        txn.open_table(EPOCH_STAGES)?;
        txn.open_table(BLOBS)?;
        txn.open_table(READS)?;
        txn.open_table(BLOCKS)?;
        txn.commit()?;
        Ok(Index { db })
    }

    /// The sequence number of the next file.
    pub fn next_seq(&self) -> Result<u64, IndexError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(COUNTERS)?;
        Ok(table.get(NEXT_SEQ)?.map_or(0, |v| v.value()))
    }

    /// Records a file written whole to the store (and moves the sequence past it).
    pub fn record_file(&self, name: &str, meta: &FileMeta) -> Result<(), IndexError> {
        let txn = self.db.begin_write()?;
        {
            let mut files = txn.open_table(FILES)?;
            files.insert(name, codec::encode(meta).as_slice())?;
            let mut counters = txn.open_table(COUNTERS)?;
            let next = counters.get(NEXT_SEQ)?.map_or(0, |v| v.value());
            counters.insert(NEXT_SEQ, next.max(meta.seq + 1))?;
        }
        txn.commit()?;
        Ok(())
    }

    /// One file's record.
    pub fn file(&self, name: &str) -> Result<Option<FileMeta>, IndexError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(FILES)?;
        let Some(value) = table.get(name)? else {
            return Ok(None);
        };
        Ok(Some(codec::decode(value.value(), 1024)?))
    }

    /// Every file, in the order written.
    pub fn files(&self) -> Result<Vec<(String, FileMeta)>, IndexError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(FILES)?;
        let mut files = Vec::new();
        for entry in table.iter()? {
            let (name, value) = entry?;
            let meta: FileMeta = codec::decode(value.value(), 1024)?;
            files.push((name.value().to_string(), meta));
        }
        files.sort_by_key(|(_, meta)| meta.seq);
        Ok(files)
    }

    /// Forgets a file (after retention deleted it from the store).
    pub fn remove_file(&self, name: &str) -> Result<(), IndexError> {
        let txn = self.db.begin_write()?;
        txn.open_table(FILES)?.remove(name)?;
        txn.commit()?;
        Ok(())
    }

    /// Keeps this oracle's manifest of a reward epoch (its encoding).
    pub fn put_manifest(&self, epoch: Epoch, manifest: &[u8]) -> Result<(), IndexError> {
        let txn = self.db.begin_write()?;
        txn.open_table(MANIFESTS)?.insert(epoch.0, manifest)?;
        txn.commit()?;
        Ok(())
    }

    /// Forgets this oracle's manifests of the epochs before `epoch` (retention).
    pub fn remove_manifests_before(&self, epoch: Epoch) -> Result<(), IndexError> {
        let txn = self.db.begin_write()?;
        txn.open_table(MANIFESTS)?.retain(|e, _| e >= epoch.0)?;
        txn.commit()?;
        Ok(())
    }

    /// This oracle's manifest of a reward epoch, if it made one.
    pub fn manifest(&self, epoch: Epoch) -> Result<Option<Vec<u8>>, IndexError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MANIFESTS)?;
        Ok(table.get(epoch.0)?.map(|v| v.value().to_vec()))
    }
}

/// What one followed block changed, recorded at once with the height followed.
#[derive(Default)]
pub struct FollowedBlock {
    /// The block's height.
    pub height: u64,
    /// Devices whose record changed (`None`: no longer registered).
    pub devices: Vec<(DeviceId, Option<DeviceInfo>)>,
    /// A reward epoch that starts at this block, with the block's time.
    pub epoch_start: Option<(u64, u64)>,
    /// What is kept of the block itself (digest, time, the state it attests).
    pub block: KeptBlock,
}

impl Index {
    /// The last block the follower applied (0: none).
    pub fn followed_height(&self) -> Result<u64, IndexError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(COUNTERS)?;
        Ok(table.get(FOLLOWED)?.map_or(0, |v| v.value()))
    }

    /// Records a followed block's changes and its height, in one transaction.
    pub fn record_block(&self, block: &FollowedBlock) -> Result<(), IndexError> {
        let txn = self.db.begin_write()?;
        {
            let mut devices = txn.open_table(DEVICES)?;
            for (device, info) in &block.devices {
                match info {
                    Some(info) => devices.insert(&device.0 .0, codec::encode(info).as_slice())?,
                    None => devices.remove(&device.0 .0)?,
                };
            }
            if let Some((epoch, start_ms)) = block.epoch_start {
                txn.open_table(EPOCH_STARTS)?.insert(epoch, start_ms)?;
            }
            let record = block.block.encode();
            txn.open_table(BLOCKS)?
                .insert(block.height, record.as_slice())?;
            txn.open_table(COUNTERS)?.insert(FOLLOWED, block.height)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Every registered device the follower has seen.
    pub fn devices(&self) -> Result<Vec<(DeviceId, DeviceInfo)>, IndexError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(DEVICES)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            let info: DeviceInfo = codec::decode(value.value(), 256)?;
            out.push((DeviceId(cairn_types::PublicKey(*key.value())), info));
        }
        Ok(out)
    }

    /// When reward epoch `epoch` started (the time of its first block), if followed.
    pub fn epoch_start(&self, epoch: u64) -> Result<Option<u64>, IndexError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(EPOCH_STARTS)?;
        Ok(table.get(epoch)?.map(|v| v.value()))
    }
}

impl Index {
    /// The first reward epoch this oracle works on, once set.
    pub fn known_first_epoch(&self) -> Result<Option<u64>, IndexError> {
        let txn = self.db.begin_read()?;
        let Ok(table) = txn.open_table(COUNTERS) else {
            return Ok(None); // nothing written yet
        };
        Ok(table.get(FIRST_EPOCH)?.map(|v| v.value()))
    }

    /// The first reward epoch this oracle takes part in (set once, at its first start).
    pub fn first_epoch(&self, otherwise: u64) -> Result<u64, IndexError> {
        let txn = self.db.begin_write()?;
        let first = {
            let mut table = txn.open_table(COUNTERS)?;
            let known = table.get(FIRST_EPOCH)?.map(|v| v.value());
            match known {
                Some(first) => first,
                None => {
                    table.insert(FIRST_EPOCH, otherwise)?;
                    otherwise
                }
            }
        };
        txn.commit()?;
        Ok(first)
    }

    /// How far this oracle got with a reward epoch (0: nothing done).
    pub fn stage(&self, epoch: u64) -> Result<u8, IndexError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(EPOCH_STAGES)?;
        Ok(table.get(epoch)?.map_or(0, |v| v.value()))
    }

    /// Records how far this oracle got with a reward epoch.
    pub fn set_stage(&self, epoch: u64, stage: u8) -> Result<(), IndexError> {
        let txn = self.db.begin_write()?;
        txn.open_table(EPOCH_STAGES)?.insert(epoch, stage)?;
        txn.commit()?;
        Ok(())
    }

    /// Keeps named bytes (an epoch's results, cumulative rewards), several in one transaction.
    pub fn put_blobs(&self, blobs: &[(String, Vec<u8>)]) -> Result<(), IndexError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(BLOBS)?;
            for (name, bytes) in blobs {
                table.insert(name.as_str(), bytes.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Forgets the named bytes of epochs before `epoch` (names ending in `/<epoch>`; retention).
    pub fn remove_blobs_before(&self, epoch: Epoch) -> Result<(), IndexError> {
        let txn = self.db.begin_write()?;
        txn.open_table(BLOBS)?.retain(|name, _| {
            let of = name.rsplit('/').next().and_then(|e| e.parse::<u64>().ok());
            of.is_none_or(|e| e >= epoch.0)
        })?;
        txn.commit()?;
        Ok(())
    }

    /// Named bytes, if kept.
    pub fn blob(&self, name: &str) -> Result<Option<Vec<u8>>, IndexError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(BLOBS)?;
        Ok(table.get(name)?.map(|v| v.value().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(seq: u64, time_ms: (u64, u64)) -> FileMeta {
        FileMeta {
            seq,
            hash: Hash([seq as u8; 32]),
            bytes: 10,
            reports: 2,
            received_ms: time_ms,
            time_ms,
        }
    }

    #[test]
    fn files_are_kept_in_order_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.redb");
        {
            let index = Index::open(&path).unwrap();
            assert_eq!(index.next_seq().unwrap(), 0);
            index.record_file("b", &meta(1, (20, 30))).unwrap();
            index.record_file("a", &meta(0, (5, 15))).unwrap();
            index.put_manifest(Epoch(2), b"m").unwrap();
        }
        let index = Index::open(&path).unwrap();
        assert_eq!(index.next_seq().unwrap(), 2);
        let files = index.files().unwrap();
        assert_eq!(files[0].0, "a");
        assert_eq!(files[1].0, "b");
        assert!(files[0].1.meets(10, 20));
        assert!(files[0].1.meets(15, 20));
        assert!(!files[0].1.meets(16, 20));
        assert_eq!(index.manifest(Epoch(2)).unwrap(), Some(b"m".to_vec()));
        index.remove_file("a").unwrap();
        assert_eq!(index.files().unwrap().len(), 1);
    }
}
