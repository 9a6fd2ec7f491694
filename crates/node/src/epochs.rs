//! Consensus epochs, aligned with the ledger's, and each epoch's validator set.
//!
//! Ledger epoch `e` is the blocks `e·n + 1 ..= (e + 1)·n` (`n = blocks_per_epoch`, genesis is
//! in epoch 0). Consensus uses the same epochs: [`LedgerEpocher`] tells marshal where each one
//! ends, and marshal's `Inline` wrapper re-proposes an epoch's last block until that block is
//! finalized in its own epoch, so no epoch's engine ever builds past its last height.
//!
//! The validators of epoch `e` are those the ledger chooses from its state after block `e·n`,
//! the last block of epoch `e − 1` ([`cairn_ledger::Ledger::validator_set_of_epoch`]).
//! [`EpochSchemes`] turns them into the signing scheme of that epoch, for marshal (to check a
//! finalization of any epoch) and for the engine of that epoch.

use crate::chain::Chain;
use crate::types::{consensus_public_key, ConsensusKey, ConsensusScheme};
use cairn_types::Epoch as LedgerEpoch;
use commonware_consensus::types::{Epoch, EpochInfo, Epocher, Height};
use commonware_cryptography::certificate::{Provider, Scoped};
use commonware_cryptography::ed25519;
use commonware_utils::ordered::Set;
use commonware_utils::sync::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Marshal's view of the ledger's epochs.
#[derive(Clone, Debug)]
pub struct LedgerEpocher {
    blocks_per_epoch: u64,
}

impl LedgerEpocher {
    /// Epochs of `blocks_per_epoch` blocks (at least one).
    pub fn new(blocks_per_epoch: u64) -> LedgerEpocher {
        LedgerEpocher {
            blocks_per_epoch: blocks_per_epoch.max(1),
        }
    }

    /// The number of blocks in an epoch.
    pub fn blocks_per_epoch(&self) -> u64 {
        self.blocks_per_epoch
    }
}

impl Epocher for LedgerEpocher {
    fn containing(&self, height: Height) -> Option<EpochInfo> {
        let epoch = LedgerEpoch::of_height(height.get(), self.blocks_per_epoch).0;
        let epoch = Epoch::new(epoch);
        Some(EpochInfo::new(
            epoch,
            height,
            self.first(epoch)?,
            self.last(epoch)?,
        ))
    }

    fn first(&self, epoch: Epoch) -> Option<Height> {
        match epoch.get() {
            0 => Some(Height::zero()),
            e => e
                .checked_mul(self.blocks_per_epoch)?
                .checked_add(1)
                .map(Height::new),
        }
    }

    fn last(&self, epoch: Epoch) -> Option<Height> {
        epoch
            .get()
            .checked_add(1)?
            .checked_mul(self.blocks_per_epoch)
            .map(Height::new)
    }
}

/// The consensus keys of one epoch's validators and the schemes built on them.
#[derive(Clone)]
pub struct EpochSet {
    /// The validators' consensus keys (sorted; a signer's index is its position).
    pub participants: Set<ConsensusKey>,
    /// Verifies this epoch's votes and certificates.
    pub verifier: Arc<ConsensusScheme>,
    /// Signs as this node, when it is one of the validators.
    pub signer: Option<Arc<ConsensusScheme>>,
}

/// How many epochs' sets stay cached (older ones are rebuilt from the ledger's history).
const CACHED_EPOCHS: usize = 8;

/// The validator set and signing scheme of each epoch, read from the ledger.
#[derive(Clone)]
pub struct EpochSchemes {
    chain: Arc<Chain>,
    namespace: Arc<Vec<u8>>,
    signer: ed25519::PrivateKey,
    cache: Arc<Mutex<BTreeMap<u64, EpochSet>>>,
}

impl EpochSchemes {
    /// Schemes for this node (`signer`) on `chain`, votes under `namespace`.
    pub fn new(chain: Arc<Chain>, namespace: Vec<u8>, signer: ed25519::PrivateKey) -> Self {
        EpochSchemes {
            chain,
            namespace: Arc::new(namespace),
            signer,
            cache: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// The set of `epoch`, or `None` while the ledger has not applied the block that fixes it
    /// (or when it has no valid consensus key at all).
    pub fn set(&self, epoch: Epoch) -> Option<EpochSet> {
        if let Some(set) = self.cache.lock().get(&epoch.get()) {
            return Some(set.clone());
        }
        let members = match self
            .chain
            .ledger()
            .validator_set_of_epoch(LedgerEpoch(epoch.get()))
        {
            Ok(Some(set)) => set.members,
            Ok(None) => return None,
            Err(error) => {
                self.chain.halt(format!(
                    "storage fault reading the validators of epoch {epoch}: {error}"
                ));
                return None;
            }
        };
        let mut keys = Vec::with_capacity(members.len());
        for member in &members {
            match consensus_public_key(&member.consensus_key) {
                Some(key) => keys.push(key),
                // Such a validator can never vote; the others still make up the set.
                None => tracing::warn!(
                    validator = %member.address,
                    "node.validator_key_not_ed25519"
                ),
            }
        }
        if keys.is_empty() {
            tracing::error!(%epoch, "node.validator_set_empty");
            return None;
        }
        let participants = Set::from_iter_dedup(keys);
        let set = EpochSet {
            verifier: Arc::new(ConsensusScheme::verifier(
                &self.namespace,
                participants.clone(),
            )),
            signer: ConsensusScheme::signer(
                &self.namespace,
                participants.clone(),
                self.signer.clone(),
            )
            .map(Arc::new),
            participants,
        };
        let mut cache = self.cache.lock();
        cache.insert(epoch.get(), set.clone());
        while cache.len() > CACHED_EPOCHS {
            cache.pop_first();
        }
        Some(set)
    }
}

impl Provider for EpochSchemes {
    type Scope = Epoch;
    type Scheme = ConsensusScheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<ConsensusScheme>> {
        let set = self.set(epoch)?;
        Some(match set.signer {
            Some(signer) => Scoped::scheme(signer),
            None => Scoped::verifier(set.verifier),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consensus_epochs_are_the_ledger_epochs() {
        let epocher = LedgerEpocher::new(10);
        for height in 0..=45u64 {
            let info = epocher.containing(Height::new(height)).expect("covered");
            let ledger = LedgerEpoch::of_height(height, 10).0;
            assert_eq!(info.epoch().get(), ledger, "height {height}");
            assert!(info.first() <= Height::new(height) && Height::new(height) <= info.last());
        }
        assert_eq!(epocher.first(Epoch::new(0)), Some(Height::zero()));
        assert_eq!(epocher.last(Epoch::new(0)), Some(Height::new(10)));
        assert_eq!(epocher.first(Epoch::new(1)), Some(Height::new(11)));
        assert_eq!(epocher.last(Epoch::new(1)), Some(Height::new(20)));
        assert_eq!(epocher.last(Epoch::new(u64::MAX)), None);
    }
}
