//! State read from the chain for an epoch's rewards, kept so that a computation that failed
//! half-way (a node busy, a proof refused) goes on from what it had read instead of reading
//! everything again. Keyed by (reward epoch, height, state key); forgotten once the epoch is
//! rewarded.

use super::{Index, IndexError, READS};
use cairn_types::codec;
use redb::ReadableDatabase;

/// Largest value kept for one state key, in bytes, with its encoding (a presence byte and a
/// length): `StateReads` believes no value over 1 MiB, so none is kept.
const MAX_VALUE_BYTES: usize = 1024 * 1024 + 16;

/// The table key of `key` read at `height` for reward epoch `epoch`.
fn read_key(epoch: u64, height: u64, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + key.len());
    out.extend_from_slice(&epoch.to_be_bytes());
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(key);
    out
}

impl Index {
    /// What was kept of each of `keys` (outer `None`: not read yet; inner: the value, or its
    /// absence from the state).
    #[allow(clippy::type_complexity)]
    pub fn kept_reads(
        &self,
        epoch: u64,
        height: u64,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Option<Vec<u8>>>>, IndexError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(READS)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let kept = match table.get(read_key(epoch, height, key).as_slice())? {
                Some(bytes) => Some(codec::decode(bytes.value(), MAX_VALUE_BYTES)?),
                None => None,
            };
            out.push(kept);
        }
        Ok(out)
    }

    /// Keeps values read (`None`: absent from the state), in one transaction.
    pub fn keep_reads(
        &self,
        epoch: u64,
        height: u64,
        read: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> Result<(), IndexError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(READS)?;
            for (key, value) in read {
                let bytes = codec::encode(value);
                table.insert(read_key(epoch, height, key).as_slice(), bytes.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Forgets what was read for reward epochs up to `epoch`.
    pub fn forget_reads_through(&self, epoch: u64) -> Result<(), IndexError> {
        let end = epoch.saturating_add(1).to_be_bytes();
        let txn = self.db.begin_write()?;
        txn.open_table(READS)?
            .retain_in(..end.as_slice(), |_, _| false)?;
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_are_kept_per_epoch_and_height_and_forgotten_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&dir.path().join("index.redb")).unwrap();
        let keys = vec![b"a".to_vec(), b"b".to_vec()];
        assert_eq!(index.kept_reads(3, 10, &keys).unwrap(), vec![None, None]);
        index
            .keep_reads(
                3,
                10,
                &[(keys[0].clone(), Some(vec![1])), (keys[1].clone(), None)],
            )
            .unwrap();
        index
            .keep_reads(4, 20, &[(keys[0].clone(), Some(vec![2]))])
            .unwrap();
        assert_eq!(
            index.kept_reads(3, 10, &keys).unwrap(),
            vec![Some(Some(vec![1])), Some(None)]
        );
        assert_eq!(index.kept_reads(3, 11, &keys).unwrap(), vec![None, None]);
        index.forget_reads_through(3).unwrap();
        assert_eq!(index.kept_reads(3, 10, &keys).unwrap(), vec![None, None]);
        assert_eq!(
            index.kept_reads(4, 20, &keys[..1]).unwrap(),
            vec![Some(Some(vec![2]))]
        );
    }
}
