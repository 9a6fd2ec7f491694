//! Evidence that a validator signed two conflicting consensus votes: the input to slashing.
//!
//! A vote names a consensus slot (epoch, view, kind) and the proposal it supports (its parent's
//! view and the block digest). Two votes for the same slot and different proposals, both signed
//! by one consensus key, prove equivocation to anyone: the ledger checks both signatures and
//! slashes without trusting whoever reported it. The node turns the conflicts its consensus
//! engine detects into this form.
//!
//! The signed bytes are exactly those commonware's simplex (ed25519) signs, so a vote taken from
//! the network is evidence as it is:
//!
//! ```text
//! message   = varint(len(namespace)) ‖ namespace ‖ proposal
//! namespace = "cairn-consensus:" ‖ chain id ‖ ("_NOTARIZE" | "_FINALIZE")
//! proposal  = varint(epoch) ‖ varint(view) ‖ varint(parent view) ‖ block digest (32 bytes)
//! ```
//!
//! where `varint` is the unsigned LEB128 encoding. `crates/node/tests/chain/evidence.rs` checks these
//! bytes against votes signed by commonware itself.

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
    /// The view of the proposal's parent.
    pub parent_view: u64,
    /// Notarize or finalize.
    pub kind: VoteKind,
    /// Digest of the block voted for.
    pub block: Hash,
}

/// The consensus namespace of a chain: votes signed for one chain are worthless on another.
pub fn consensus_namespace(chain_id: &str) -> Vec<u8> {
    format!("cairn-consensus:{chain_id}").into_bytes()
}

/// Appends the unsigned LEB128 encoding of `value`.
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

impl Vote {
    /// The bytes a validator signs for this vote on `chain_id` (see the module's notes).
    pub fn signing_message(&self, chain_id: &ChainId) -> Vec<u8> {
        let mut namespace = consensus_namespace(chain_id.as_str());
        namespace.extend_from_slice(match self.kind {
            VoteKind::Notarize => b"_NOTARIZE",
            VoteKind::Finalize => b"_FINALIZE",
        });
        let mut message = Vec::with_capacity(namespace.len() + 64);
        put_varint(&mut message, namespace.len() as u64);
        message.extend_from_slice(&namespace);
        put_varint(&mut message, self.epoch);
        put_varint(&mut message, self.view);
        put_varint(&mut message, self.parent_view);
        message.extend_from_slice(&self.block.0);
        message
    }

    /// Signs this vote as a consensus engine would (for tests and tools).
    pub fn sign(self, key: &crate::keys::SecretKey, chain_id: &ChainId) -> SignedVote {
        SignedVote {
            signature: key.sign_message(&self.signing_message(chain_id)),
            vote: self,
        }
    }
}

/// A vote with its signature.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignedVote {
    /// The vote.
    pub vote: Vote,
    /// Signature by the validator's consensus key over [`Vote::signing_message`].
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
    /// The two votes support the same proposal: no conflict.
    #[error("the votes are for the same proposal")]
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
        if a.block == b.block && a.parent_view == b.parent_view {
            return Err(EvidenceError::SameBlock);
        }
        for signed in [&self.first, &self.second] {
            crate::keys::verify_message(
                &self.consensus_key,
                &signed.vote.signing_message(chain_id),
                &signed.signature,
            )
            .map_err(|_| EvidenceError::BadSignature)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    fn signed(key: &SecretKey, chain: &ChainId, view: u64, block: u8) -> SignedVote {
        Vote {
            epoch: 1,
            view,
            parent_view: view - 1,
            kind: VoteKind::Notarize,
            block: Hash([block; 32]),
        }
        .sign(key, chain)
    }

    #[test]
    fn varints_are_leb128() {
        let mut out = Vec::new();
        for v in [0u64, 127, 128, 300, u64::MAX] {
            put_varint(&mut out, v);
        }
        assert_eq!(
            out,
            [
                0x00, 0x7f, 0x80, 0x01, 0xac, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                0xff, 0x01
            ]
        );
    }

    #[test]
    fn votes_for_different_parents_conflict() {
        let chain = ChainId::new("test").unwrap();
        let key = SecretKey::from_label("validator");
        let mut other_parent = signed(&key, &chain, 5, 1).vote;
        other_parent.parent_view = 2;
        let evidence = DoubleSignEvidence {
            consensus_key: key.public_key(),
            first: signed(&key, &chain, 5, 1),
            second: other_parent.sign(&key, &chain),
        };
        assert_eq!(evidence.verify(&chain), Ok(()));
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
