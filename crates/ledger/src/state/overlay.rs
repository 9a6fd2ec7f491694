//! Typed reads and buffered writes over committed state.
//!
//! Execution never writes to disk directly. It reads through an [`Overlay`], which looks in the
//! current transaction's writes, then the block's, then committed state; writes stay in memory.
//! A failed transaction is rolled back by dropping its writes ([`Overlay::rollback_tx`]), and the
//! block's writes reach the disk in one atomic commit, or not at all.

use crate::error::StoreError;
use crate::state::StateKey;
use borsh::{BorshDeserialize, BorshSerialize};
use std::collections::BTreeMap;

/// Largest value the state holds, in bytes (a bound on every decode from disk).
pub const MAX_STATE_VALUE_BYTES: usize = 4 * 1024 * 1024;

/// Read access to committed state by key bytes.
pub trait StateRead {
    /// The value stored under `key`, if any.
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Pending writes: `None` deletes the key.
pub type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Writes buffered on top of committed state.
pub struct Overlay<'a> {
    base: &'a dyn StateRead,
    block: Changes,
    pending: Changes,
}

impl<'a> Overlay<'a> {
    /// An overlay with no writes yet.
    pub fn new(base: &'a dyn StateRead) -> Overlay<'a> {
        Overlay {
            base,
            block: Changes::new(),
            pending: Changes::new(),
        }
    }

    fn raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.pending.get(key) {
            return Ok(v.clone());
        }
        if let Some(v) = self.block.get(key) {
            return Ok(v.clone());
        }
        self.base.read(key)
    }

    /// Reads and decodes the value under `key`. Every error is a fault of this node's storage
    /// (a failed read, or stored bytes that do not decode), never the transaction's.
    pub fn get<V: BorshDeserialize>(&self, key: &StateKey) -> Result<Option<V>, StoreError> {
        match self.raw(&key.to_bytes())? {
            None => Ok(None),
            Some(b) => cairn_types::codec::decode(&b, MAX_STATE_VALUE_BYTES)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("state value for {key:?}: {e}"))),
        }
    }

    /// Reads the value under `key`, or its default when absent.
    pub fn get_or_default<V: BorshDeserialize + Default>(
        &self,
        key: &StateKey,
    ) -> Result<V, StoreError> {
        Ok(self.get(key)?.unwrap_or_default())
    }

    /// Buffers a write of `value` under `key`.
    pub fn put<V: BorshSerialize>(&mut self, key: &StateKey, value: &V) {
        self.pending
            .insert(key.to_bytes(), Some(cairn_types::codec::encode(value)));
    }

    /// Buffers the deletion of `key`.
    pub fn delete(&mut self, key: &StateKey) {
        self.pending.insert(key.to_bytes(), None);
    }

    /// Keeps the current transaction's writes.
    pub fn commit_tx(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        self.block.extend(pending);
    }

    /// Drops the current transaction's writes.
    pub fn rollback_tx(&mut self) {
        self.pending.clear();
    }

    /// Every kept write, for the atomic commit.
    pub fn into_changes(mut self) -> Changes {
        self.commit_tx();
        self.block
    }
}

/// An empty state, for building genesis.
pub struct EmptyState;

impl StateRead for EmptyState {
    fn read(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::records::Account;
    use cairn_types::{Address, Amount, PublicKey};

    #[test]
    fn rollback_drops_only_the_transaction() {
        let mut o = Overlay::new(&EmptyState);
        let key = StateKey::Account(Address(PublicKey([1; 32])));
        let a = Account {
            balance: Amount(5),
            ..Account::default()
        };
        o.put(&key, &a);
        o.commit_tx();
        o.put(
            &key,
            &Account {
                balance: Amount(9),
                ..a.clone()
            },
        );
        assert_eq!(o.get::<Account>(&key).unwrap().unwrap().balance, Amount(9));
        o.rollback_tx();
        assert_eq!(o.get::<Account>(&key).unwrap(), Some(a));
        o.delete(&key);
        o.commit_tx();
        assert_eq!(o.get::<Account>(&key).unwrap(), None);
        assert_eq!(o.into_changes().get(&key.to_bytes()), Some(&None));
    }
}
