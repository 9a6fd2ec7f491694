//! What the follower kept of every block it applied: its digest and time (what beacons name
//! as entropy) and the state it attests (height and root: what an epoch's state reads are
//! checked against). The rewarder reads them here instead of asking its node again.

use super::{Index, IndexError, BLOCKS};
use cairn_types::Hash;
use redb::ReadableDatabase;

/// What the follower kept of one block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeptBlock {
    /// The header's digest.
    pub digest: Hash,
    /// Its time.
    pub timestamp_ms: u64,
    /// The finalized height whose state it attests.
    pub state_height: u64,
    /// The state root after `state_height`.
    pub state_root: Hash,
}

/// A kept block's record: digest, time, state height, state root (big-endian numbers).
const RECORD_BYTES: usize = 32 + 8 + 8 + 32;
/// The record an earlier version kept (digest and time only): read as not kept, so the
/// block is asked of the node.
const OLD_RECORD_BYTES: usize = 32 + 8;

impl KeptBlock {
    pub(super) fn encode(&self) -> [u8; RECORD_BYTES] {
        let mut out = [0u8; RECORD_BYTES];
        out[..32].copy_from_slice(&self.digest.0);
        out[32..40].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        out[40..48].copy_from_slice(&self.state_height.to_be_bytes());
        out[48..].copy_from_slice(&self.state_root.0);
        out
    }

    fn decode(bytes: &[u8]) -> Option<KeptBlock> {
        let bytes: &[u8; RECORD_BYTES] = bytes.try_into().ok()?;
        let hash = |range: std::ops::Range<usize>| {
            let mut h = [0u8; 32];
            h.copy_from_slice(&bytes[range]);
            Hash(h)
        };
        let number = |range: std::ops::Range<usize>| {
            let mut n = [0u8; 8];
            n.copy_from_slice(&bytes[range]);
            u64::from_be_bytes(n)
        };
        Some(KeptBlock {
            digest: hash(0..32),
            timestamp_ms: number(32..40),
            state_height: number(40..48),
            state_root: hash(48..80),
        })
    }
}

impl Index {
    /// What the follower kept of the block at `height`, if anything.
    pub fn followed_block(&self, height: u64) -> Result<Option<KeptBlock>, IndexError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(BLOCKS)?;
        let Some(bytes) = table.get(height)? else {
            return Ok(None);
        };
        if bytes.value().len() == OLD_RECORD_BYTES {
            return Ok(None);
        }
        KeptBlock::decode(bytes.value())
            .map(Some)
            .ok_or_else(|| IndexError(format!("the record of block {height} is damaged")))
    }

    /// The digest and time of the followed block at `height` (also from a record an earlier
    /// version kept), if kept.
    pub fn followed_digest(&self, height: u64) -> Result<Option<(Hash, u64)>, IndexError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(BLOCKS)?;
        let Some(bytes) = table.get(height)? else {
            return Ok(None);
        };
        let bytes = bytes.value();
        let (Some(digest), Some(time)) = (bytes.get(..32), bytes.get(32..40)) else {
            return Err(IndexError(format!(
                "the record of block {height} is damaged"
            )));
        };
        let mut d = [0u8; 32];
        d.copy_from_slice(digest);
        let mut t = [0u8; 8];
        t.copy_from_slice(time);
        Ok(Some((Hash(d), u64::from_be_bytes(t))))
    }

    /// Forgets the blocks below `height` (retention).
    pub fn forget_blocks_before(&self, height: u64) -> Result<(), IndexError> {
        let txn = self.db.begin_write()?;
        txn.open_table(BLOCKS)?.retain_in(..height, |_, _| false)?;
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_block_reads_back_and_old_ones_are_forgotten() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let index = Index::open(&dir.path().join("index.redb")).unwrap_or_else(|e| panic!("{e}"));
        let block = KeptBlock {
            digest: Hash([1; 32]),
            timestamp_ms: 77,
            state_height: 4,
            state_root: Hash([2; 32]),
        };
        for height in 3..=5 {
            let followed = crate::index::FollowedBlock {
                height,
                block,
                ..Default::default()
            };
            index
                .record_block(&followed)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(
            index.followed_block(5).unwrap_or_else(|e| panic!("{e}")),
            Some(block)
        );
        index
            .forget_blocks_before(5)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            index.followed_block(4).unwrap_or_else(|e| panic!("{e}")),
            None
        );
        assert!(index
            .followed_block(5)
            .unwrap_or_else(|e| panic!("{e}"))
            .is_some());
    }
}
