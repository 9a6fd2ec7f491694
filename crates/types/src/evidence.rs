//! Evidence that a validator signed two conflicting consensus votes: the input to slashing.
//!
//! A vote names a consensus slot (epoch, view, kind) and the block digest it supports. Two votes
//! for the same slot with different digests, both signed by one consensus key, prove
//! equivocation to anyone: the ledger checks both signatures and slashes without trusting whoever
//! reported it. The node turns the conflicts its consensus engine detects into this form.

use crate::hash::Hash;
use crate::keys::{PublicKey, Signature};
use crate::params::ChainId;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// The kind of a consensus vote.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum VoteKind {
    /// A vote to notarize a proposal.
    Notarize,
    /// A vote to finalize a notarized proposal.
    Finalize,
}

/// One consensus vote.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Vote {
    /// Consensus epoch.
    pub epoch: u64,
    /// View (round) within the epoch.
    pub view: u64,
    /// Notarize or finalize.
    pub kind: VoteKind,
    /// Digest of the block voted for.
    pub block: Hash,
}

impl Vote {
    /// The digest a validator signs for this vote on `chain_id`.
    pub fn signing_digest(&self, chain_id: &ChainId) -> Hash {
        Hash::domain(
            "cairn consensus vote v1",
            &[&crate::codec::encode(chain_id), &crate::codec::encode(self)],
        )
    }
}

/// A vote with its signature.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignedVote {
    /// The vote.
    pub vote: Vote,
    /// Signature by the validator's consensus key over [`Vote::signing_digest`].
    pub signature: Signature,
}

/// Two conflicting votes by one consensus key.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct DoubleSignEvidence {
    /// The equivocating validator's consensus key.
    pub consensus_key: PublicKey,
    /// One vote.
    pub first: SignedVote,
    /// A different vote for the same slot.
    pub second: SignedVote,
}

/// Why evidence does not prove a double signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// The two votes are for different epochs, views or kinds.
    #[error("the votes are for different slots")]
    DifferentSlots,
    /// The two votes support the same block: no conflict.
    #[error("the votes are for the same block")]
    SameBlock,
    /// A signature does not verify under the consensus key.
    #[error("a vote's signature does not verify")]
    BadSignature,
}

impl DoubleSignEvidence {
    /// An identifier for the offence (key and slot), so that it is punished once.
    pub fn offence_id(&self) -> Hash {
        let v = &self.first.vote;
        Hash::domain(
            "cairn offence v1",
            &[
                &self.consensus_key.0,
                &v.epoch.to_le_bytes(),
                &v.view.to_le_bytes(),
                &crate::codec::encode(&v.kind),
            ],
        )
    }

    /// Checks that the evidence proves equivocation on `chain_id`.
    pub fn verify(&self, chain_id: &ChainId) -> Result<(), EvidenceError> {
        let (a, b) = (&self.first.vote, &self.second.vote);
        if a.epoch != b.epoch || a.view != b.view || a.kind != b.kind {
            return Err(EvidenceError::DifferentSlots);
        }
        if a.block == b.block {
            return Err(EvidenceError::SameBlock);
        }
        crate::keys::verify_batch(
            &[a.signing_digest(chain_id), b.signing_digest(chain_id)],
            &[self.first.signature, self.second.signature],
            &[self.consensus_key, self.consensus_key],
        )
        .map_err(|_| EvidenceError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    fn signed(key: &SecretKey, chain: &ChainId, view: u64, block: u8) -> SignedVote {
        let vote = Vote {
            epoch: 1,
            view,
            kind: VoteKind::Notarize,
            block: Hash([block; 32]),
        };
        SignedVote {
            signature: key.sign(&vote.signing_digest(chain)),
            vote,
        }
    }

    #[test]
    fn conflicting_votes_prove_equivocation() {
        let chain = ChainId::new("test").unwrap();
        let key = SecretKey::from_label("validator");
        let evidence = DoubleSignEvidence {
            consensus_key: key.public_key(),
            first: signed(&key, &chain, 5, 1),
            second: signed(&key, &chain, 5, 2),
        };
        assert_eq!(evidence.verify(&chain), Ok(()));
        let other_chain = ChainId::new("other").unwrap();
        assert_eq!(
            evidence.verify(&other_chain),
            Err(EvidenceError::BadSignature)
        );

        let mut same = evidence.clone();
        same.second = same.first.clone();
        assert_eq!(same.verify(&chain), Err(EvidenceError::SameBlock));

        let mut slots = evidence.clone();
        slots.second = signed(&key, &chain, 6, 2);
        assert_eq!(slots.verify(&chain), Err(EvidenceError::DifferentSlots));

        let mut framed = evidence;
        framed.second = signed(&SecretKey::from_label("someone else"), &chain, 5, 2);
        assert_eq!(framed.verify(&chain), Err(EvidenceError::BadSignature));
    }
}
