//! Consensus epochs, aligned with the ledger's, and each epoch's validator set.
//!
//! Ledger epoch `e` is the blocks `e·n + 1 ..= (e + 1)·n` (`n = blocks_per_epoch`, genesis is
//! in epoch 0). Consensus uses the same epochs: [`LedgerEpocher`] tells marshal where each one
//! ends, and marshal's `Inline` wrapper re-proposes an epoch's last block until that block is
//! finalized in its own epoch, so no epoch's engine ever builds past its last height.
//!
//! The validators of epoch `e` are those the ledger chose at the first block of epoch `e − 1`
//! ([`cairn_ledger::Ledger::validator_set_of_epoch`]). Consensus counts **seats**: every seat
//! key of the set is one participant. [`EpochSchemes`] turns a set into the verifier of that
//! epoch (for marshal, to check a finalization of any epoch) and, for the seats this node holds,
//! one signing scheme each: a node derives its seat keys from its node key
//! ([`cairn_types::SecretKey::seat_key`]), trying key generations in order (a key rotation moves
//! to the next generation).

use crate::chain::Chain;
use crate::seat_router::SeatMap;
use crate::types::{consensus_public_key, consensus_signer, ConsensusKey, ConsensusScheme};
use cairn_types::validator_keys::MAX_SEAT_KEYS;
use cairn_types::Epoch as LedgerEpoch;
use cairn_types::SecretKey;
use commonware_consensus::types::{Epoch, EpochInfo, Epocher, Height};
use commonware_cryptography::certificate::{Provider, Scoped};
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

/// One epoch's seats and the schemes built on them.
#[derive(Clone)]
pub struct EpochSet {
    /// Every seat key (sorted; a signer's index is its position).
    pub participants: Set<ConsensusKey>,
    /// Verifies this epoch's votes and certificates.
    pub verifier: Arc<ConsensusScheme>,
    /// The seats this node holds, each with the scheme that signs for it.
    pub seats: Vec<(ConsensusKey, Arc<ConsensusScheme>)>,
    /// Which node hosts which seat.
    pub hosts: Arc<SeatMap>,
    /// The node keys of the epoch's validators (the network's primary peers).
    pub nodes: Set<ConsensusKey>,
}

/// How many epochs' sets stay cached (older ones are rebuilt from the ledger's history).
const CACHED_EPOCHS: usize = 8;

/// Key generations a node tries when looking for the secret of one of its seat keys.
pub const SEAT_KEY_GENERATIONS: u32 = 16;

/// The seat secrets this node can derive from its node key, derived one generation at a time
/// as seats of that generation are met.
struct SeatSecrets {
    node: SecretKey,
    derived: BTreeMap<cairn_types::PublicKey, SecretKey>,
    generations: u32,
}

impl SeatSecrets {
    /// The secret of `seat`, if it is one of this node's.
    fn find(&mut self, seat: &cairn_types::PublicKey) -> Option<SecretKey> {
        loop {
            if let Some(secret) = self.derived.get(seat) {
                return Some(secret.clone());
            }
            if self.generations >= SEAT_KEY_GENERATIONS {
                return None;
            }
            for index in 0..MAX_SEAT_KEYS as u32 {
                let secret = self.node.seat_key(self.generations, index);
                self.derived.insert(secret.public_key(), secret);
            }
            self.generations += 1;
        }
    }
}

/// The seats and signing schemes of each epoch, read from the ledger.
#[derive(Clone)]
pub struct EpochSchemes {
    chain: Arc<Chain>,
    namespace: Arc<Vec<u8>>,
    me: ConsensusKey,
    secrets: Arc<Mutex<SeatSecrets>>,
    cache: Arc<Mutex<BTreeMap<u64, EpochSet>>>,
}

impl EpochSchemes {
    /// Schemes for the node whose node key is `node` on `chain`, votes under `namespace`.
    /// `None` if the node key is not an ed25519 key commonware accepts.
    pub fn new(chain: Arc<Chain>, namespace: Vec<u8>, node: SecretKey) -> Option<Self> {
        let me = consensus_public_key(&node.public_key())?;
        Some(EpochSchemes {
            chain,
            namespace: Arc::new(namespace),
            me,
            secrets: Arc::new(Mutex::new(SeatSecrets {
                node,
                derived: BTreeMap::new(),
                generations: 0,
            })),
            cache: Arc::new(Mutex::new(BTreeMap::new())),
        })
    }

    /// This node's key.
    pub fn me(&self) -> &ConsensusKey {
        &self.me
    }

    /// The set of `epoch`, or `None` while the ledger has not applied the block that chooses it
    /// (or when it has no valid seat key at all).
    pub fn set(&self, epoch: Epoch) -> Option<EpochSet> {
        if let Some(set) = self.cache.lock().get(&epoch.get()) {
            return Some(set.clone());
        }
        let set = match self
            .chain
            .ledger()
            .validator_set_of_epoch(LedgerEpoch(epoch.get()))
        {
            Ok(Some(set)) => set,
            Ok(None) => return None,
            Err(error) => {
                self.chain.halt(format!(
                    "storage fault reading the validators of epoch {epoch}: {error}"
                ));
                return None;
            }
        };
        let built = self.build(epoch, &set)?;
        let mut cache = self.cache.lock();
        cache.insert(epoch.get(), built.clone());
        while cache.len() > CACHED_EPOCHS {
            cache.pop_first();
        }
        Some(built)
    }

    fn build(
        &self,
        epoch: Epoch,
        set: &cairn_ledger::state::records::ValidatorSet,
    ) -> Option<EpochSet> {
        let mut hosts = Vec::new();
        let mut nodes = Vec::new();
        let mut mine = Vec::new();
        for member in &set.members {
            // The ledger refuses keys that are not strong ed25519 points, so these decode.
            let Some(node) = consensus_public_key(&member.node_key) else {
                tracing::warn!(validator = %member.address, "node.validator_key_not_ed25519");
                continue;
            };
            for seat in &member.seats {
                let Some(key) = consensus_public_key(seat) else {
                    continue;
                };
                hosts.push((key.clone(), node.clone()));
                if node == self.me {
                    mine.push((key, *seat));
                }
            }
            nodes.push(node);
        }
        if hosts.is_empty() {
            tracing::error!(%epoch, "node.validator_set_empty");
            return None;
        }
        let participants = Set::from_iter_dedup(hosts.iter().map(|(seat, _)| seat.clone()));
        let mut seats = Vec::new();
        for (key, cairn) in mine {
            let secret = self.secrets.lock().find(&cairn);
            let signer = secret
                .as_ref()
                .and_then(consensus_signer)
                .and_then(|s| ConsensusScheme::signer(&self.namespace, participants.clone(), s));
            match signer {
                Some(scheme) => seats.push((key, Arc::new(scheme))),
                None => tracing::warn!(%epoch, seat = %key, "node.seat_key_not_derivable"),
            }
        }
        Some(EpochSet {
            verifier: Arc::new(ConsensusScheme::verifier(
                &self.namespace,
                participants.clone(),
            )),
            seats,
            hosts: Arc::new(SeatMap::new(hosts, self.me.clone())),
            nodes: Set::from_iter_dedup(nodes),
            participants,
        })
    }
}

impl Provider for EpochSchemes {
    type Scope = Epoch;
    type Scheme = ConsensusScheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<ConsensusScheme>> {
        // Marshal only checks certificates with it.
        Some(Scoped::verifier(self.set(epoch)?.verifier))
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
