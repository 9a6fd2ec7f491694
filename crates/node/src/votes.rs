//! The finalize votes this node has seen, kept for the blocks that carry them (liveness
//! accounting, see [`crate::liveness`]).
//!
//! A finalization certificate holds a quorum of votes, not every vote: the seats whose votes
//! came last are often left out, so counting certificates alone would mark a slower, honest
//! validator as absent block after block. Every engine therefore reports each finalize vote it
//! receives (and each certificate it sees) to a [`VoteCollector`], which checks the signature and
//! keeps it in the [`VoteCache`]; a proposer carries all the votes it has for a block, late ones
//! included.

use crate::epochs::EpochSchemes;
use crate::types::{BlockDigest, ConsensusScheme};
use commonware_consensus::simplex::types::{Activity, Finalize};
use commonware_consensus::{Epochable as _, Reporter};
use commonware_cryptography::certificate::Attestation;
use commonware_parallel::Sequential;
use commonware_utils::sync::Mutex;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// A finalize vote of a Cairn block.
pub type FinalizeVote = Finalize<ConsensusScheme, BlockDigest>;

/// How many recent blocks' votes are kept.
pub const KEPT_BLOCKS: usize = 1024;

#[derive(Default)]
struct Kept {
    by_block: HashMap<BlockDigest, BTreeMap<u32, FinalizeVote>>,
    order: VecDeque<BlockDigest>,
}

/// Checked finalize votes by block, for the most recent [`KEPT_BLOCKS`] blocks.
#[derive(Clone, Default)]
pub struct VoteCache {
    kept: Arc<Mutex<Kept>>,
}

impl VoteCache {
    /// Whether a vote of `signer` for `block` is kept.
    pub fn contains(&self, block: &BlockDigest, signer: u32) -> bool {
        self.kept
            .lock()
            .by_block
            .get(block)
            .is_some_and(|votes| votes.contains_key(&signer))
    }

    /// Keeps `vote`, which the caller has checked.
    pub fn add(&self, vote: FinalizeVote) {
        let block = vote.proposal.payload;
        let signer = vote.attestation.signer.get();
        let mut kept = self.kept.lock();
        if !kept.by_block.contains_key(&block) {
            kept.order.push_back(block);
            while kept.order.len() > KEPT_BLOCKS {
                if let Some(old) = kept.order.pop_front() {
                    kept.by_block.remove(&old);
                }
            }
        }
        kept.by_block
            .entry(block)
            .or_default()
            .entry(signer)
            .or_insert(vote);
    }

    /// Every kept vote for `block`, by signer.
    pub fn votes_for(&self, block: &BlockDigest) -> Vec<FinalizeVote> {
        self.kept
            .lock()
            .by_block
            .get(block)
            .map(|votes| votes.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// A reporter that keeps every valid finalize vote it is told about.
#[derive(Clone)]
pub struct VoteCollector {
    cache: VoteCache,
    schemes: EpochSchemes,
}

impl VoteCollector {
    /// Collects into `cache`, checking votes with the sets of `schemes`.
    pub fn new(cache: VoteCache, schemes: EpochSchemes) -> Self {
        VoteCollector { cache, schemes }
    }

    fn vote(&self, vote: FinalizeVote) {
        let signer = vote.attestation.signer.get();
        if self.cache.contains(&vote.proposal.payload, signer) {
            return;
        }
        // Votes arrive unchecked; only a valid one may be carried in a block.
        let Some(set) = self.schemes.set(vote.epoch()) else {
            return;
        };
        let mut rng = commonware_utils::sys_rng();
        if vote.verify(&mut rng, set.verifier.as_ref(), &Sequential) {
            self.cache.add(vote);
        }
    }
}

impl Reporter for VoteCollector {
    type Activity = Activity<ConsensusScheme, BlockDigest>;

    fn report(&mut self, activity: Self::Activity) -> commonware_actor::Feedback {
        match activity {
            Activity::Finalize(vote) => self.vote(vote),
            // A certificate is checked before it is reported: its votes are good.
            Activity::Finalization(finalization) => {
                for vote in votes_of(&finalization) {
                    self.cache.add(vote);
                }
            }
            _ => {}
        }
        commonware_actor::Feedback::Ok
    }
}

/// The votes of a finalization certificate, one per signer.
pub fn votes_of(
    finalization: &commonware_consensus::simplex::types::Finalization<ConsensusScheme, BlockDigest>,
) -> Vec<FinalizeVote> {
    let certificate = &finalization.certificate;
    certificate
        .signers
        .iter()
        .zip(certificate.signatures.iter())
        .map(|(signer, signature)| Finalize {
            proposal: finalization.proposal.clone(),
            attestation: Attestation {
                signer,
                signature: signature.clone(),
            },
        })
        .collect()
}
