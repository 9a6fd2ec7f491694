//! The digest and time of every block the follower applied: what beacons name as entropy. The
//! rewarder reads them here instead of asking its node for each block again.

use super::{Index, IndexError, BLOCKS};
use cairn_types::Hash;
use redb::ReadableDatabase;

impl Index {
    /// The digest and time of the followed block at `height`, if kept.
    pub fn followed_block(&self, height: u64) -> Result<Option<(Hash, u64)>, IndexError> {
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

/// A followed block's record: its digest, then its time (big-endian ms).
pub(super) fn block_record(digest: &Hash, timestamp_ms: u64) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..32].copy_from_slice(&digest.0);
    out[32..].copy_from_slice(&timestamp_ms.to_be_bytes());
    out
}
