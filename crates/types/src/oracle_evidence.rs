//! Evidence that an oracle signed two different reward roots for one epoch and sub-network: the
//! input to slashing its oracle stake.
//!
//! An oracle signs [`crate::tx::reward_root_digest`] for each root it computes; a running
//! oracle signs one root per epoch and sub-network (its signed result is kept and never
//! computed again), so two valid signatures over different digests for the same (epoch,
//! sub-network) prove the key equivocated, whoever reports them. (An operator can still do
//! that to itself: by signing by hand with a running oracle's key, or running one key in two
//! oracles.) The signed digest commits to the settlements by their digest
//! ([`crate::tx::settlements_digest`]), so the evidence stays small however many payers a root
//! settles. Both halves are what an oracle serves at `GET /v1/rewards/{epoch}/signed` and
//! what a root submission on chain carries.

use crate::address::Address;
use crate::epoch::Epoch;
use crate::hash::Hash;
use crate::keys::Signature;
use crate::params::ChainId;
use crate::reward_tree::RewardNode;
use crate::subnetwork::Subnetwork;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// One root as an oracle signed it.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignedRoot {
    /// The root of the cumulative rewards.
    pub root: RewardNode,
    /// The digest of the settlements it carried ([`crate::tx::settlements_digest`]).
    pub settlements: Hash,
    /// The oracle's signature over [`crate::tx::reward_root_digest`].
    pub signature: Signature,
}

/// Two different roots one oracle signed for one epoch and sub-network.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct OracleDoubleSignEvidence {
    /// The oracle (its account key signed both).
    pub oracle: Address,
    /// The reward epoch.
    pub epoch: Epoch,
    /// The sub-network.
    pub subnetwork: Subnetwork,
    /// One root it signed.
    pub first: SignedRoot,
    /// Another.
    pub second: SignedRoot,
}

/// Why oracle evidence proves nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OracleEvidenceError {
    /// The two halves sign the same root and settlements: no conflict.
    #[error("both halves sign the same root and settlements")]
    SameRoot,
    /// A signature does not verify under the oracle's key.
    #[error("a signature does not verify under the oracle's key")]
    BadSignature,
}

/// What an oracle signs for a reward root ([`crate::tx::reward_root_digest`]), from its
/// settlements' digest ([`crate::tx::settlements_digest`]): the digest commits to the
/// settlements through it, so evidence of two roots need not carry them.
pub fn reward_root_digest_of(
    chain_id: &ChainId,
    epoch: Epoch,
    subnetwork: Subnetwork,
    root: &RewardNode,
    settlements: &Hash,
) -> Hash {
    Hash::domain(
        "cairn reward root v3",
        &[
            &crate::codec::encode(chain_id),
            &epoch.0.to_le_bytes(),
            &[subnetwork as u8],
            &crate::codec::encode(root),
            &settlements.0,
        ],
    )
}

impl SignedRoot {
    /// The digest this half claims the oracle signed.
    fn digest(&self, chain_id: &ChainId, epoch: Epoch, subnetwork: Subnetwork) -> Hash {
        reward_root_digest_of(chain_id, epoch, subnetwork, &self.root, &self.settlements)
    }
}

impl OracleDoubleSignEvidence {
    /// The offence: one per oracle, epoch and sub-network, whichever two roots prove it (so it
    /// is punished once).
    pub fn offence_id(&self) -> Hash {
        Hash::domain(
            "cairn oracle offence v1",
            &[
                &self.oracle.0 .0,
                &self.epoch.0.to_le_bytes(),
                &[self.subnetwork as u8],
            ],
        )
    }

    /// Checks that the two halves sign different digests and that the oracle's key signed both
    /// on `chain_id`.
    pub fn verify(&self, chain_id: &ChainId) -> Result<(), OracleEvidenceError> {
        let first = self.first.digest(chain_id, self.epoch, self.subnetwork);
        let second = self.second.digest(chain_id, self.epoch, self.subnetwork);
        if first == second {
            return Err(OracleEvidenceError::SameRoot);
        }
        for (digest, half) in [(first, &self.first), (second, &self.second)] {
            self.oracle
                .0
                .verify(&digest, &half.signature)
                .map_err(|_| OracleEvidenceError::BadSignature)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amount::Amount;
    use crate::keys::SecretKey;
    use crate::reward_tree::{RewardLeaf, RewardTree};

    fn root(paid: u128) -> RewardNode {
        RewardTree::build(vec![RewardLeaf {
            account: Address(SecretKey::from_label("owner").public_key()),
            cumulative: Amount(paid),
        }])
        .unwrap_or_else(|e| panic!("{e}"))
        .root()
    }

    fn signed(key: &SecretKey, chain: &ChainId, paid: u128) -> SignedRoot {
        let root = root(paid);
        let settlements = Hash([3; 32]);
        SignedRoot {
            root,
            settlements,
            signature: key.sign(&reward_root_digest_of(
                chain,
                Epoch(4),
                Subnetwork::Sensing,
                &root,
                &settlements,
            )),
        }
    }

    #[test]
    fn two_roots_signed_for_one_epoch_prove_an_offence_and_nothing_else_does() {
        let chain = ChainId::new("evidence").unwrap_or_else(|e| panic!("{e}"));
        let key = SecretKey::from_label("oracle");
        let evidence = OracleDoubleSignEvidence {
            oracle: Address(key.public_key()),
            epoch: Epoch(4),
            subnetwork: Subnetwork::Sensing,
            first: signed(&key, &chain, 100),
            second: signed(&key, &chain, 200),
        };
        assert_eq!(evidence.verify(&chain), Ok(()));
        // Another chain's roots, the same root twice, or another key's signature prove nothing.
        let other = ChainId::new("other").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            evidence.verify(&other),
            Err(OracleEvidenceError::BadSignature)
        );
        let same = OracleDoubleSignEvidence {
            second: evidence.first.clone(),
            ..evidence.clone()
        };
        assert_eq!(same.verify(&chain), Err(OracleEvidenceError::SameRoot));
        let forged = OracleDoubleSignEvidence {
            second: signed(&SecretKey::from_label("someone"), &chain, 200),
            ..evidence.clone()
        };
        assert_eq!(
            forged.verify(&chain),
            Err(OracleEvidenceError::BadSignature)
        );
        // Another epoch's signature under this epoch's name does not verify either.
        let moved = OracleDoubleSignEvidence {
            epoch: Epoch(5),
            ..evidence.clone()
        };
        assert_eq!(moved.verify(&chain), Err(OracleEvidenceError::BadSignature));
        // One offence per oracle, epoch and sub-network, whichever pair proves it.
        let swapped = OracleDoubleSignEvidence {
            first: evidence.second.clone(),
            second: evidence.first.clone(),
            ..evidence.clone()
        };
        assert_eq!(swapped.offence_id(), evidence.offence_id());
        assert_ne!(moved.offence_id(), evidence.offence_id());
    }
}
