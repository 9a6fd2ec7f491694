//! Turning the equivocation consensus detects into the ledger's slashing evidence.
//!
//! Simplex reports two conflicting votes by one validator for one view (two notarizes, or two
//! finalizes, of different proposals) as activity. The [`Slasher`] reporter converts each into
//! a [`DoubleSignEvidence`] carrying the very signatures simplex received (the ledger checks
//! them over the same bytes, see `cairn_types::evidence`), and [`run`] submits it to this
//! validator's mempool in a `ReportDoubleSign` transaction signed by its account key. The
//! ledger slashes each offence once, whoever reports it first.

use crate::chain::Chain;
use crate::mempool::AdmitError;
use crate::types::{cairn_key, BlockDigest, ConsensusKey, ConsensusScheme};
use cairn_ledger::StateKey;
use cairn_types::evidence::{DoubleSignEvidence, SignedVote, Vote, VoteKind};
use cairn_types::hash::Hash;
use cairn_types::keys::{SecretKey, Signature};
use cairn_types::params::Params;
use cairn_types::tx::{Action, Transaction};
use cairn_types::Address;
use commonware_codec::{Encode, Read};
use commonware_consensus::simplex::types::{Activity, Finalize, Notarize, Proposal};
use commonware_consensus::Reporter;
use commonware_utils::ordered::{Quorum as _, Set};
use futures::channel::mpsc;
use futures::StreamExt;
use std::collections::HashSet;
use std::sync::Arc;

/// A vote as the evidence needs it, from commonware's proposal and the vote's encoding
/// (which ends with the 64-byte signature).
fn signed_vote(
    proposal: &Proposal<BlockDigest>,
    kind: VoteKind,
    encoded: &[u8],
) -> Option<SignedVote> {
    let signature: [u8; 64] = encoded
        .get(encoded.len().checked_sub(64)?..)?
        .try_into()
        .ok()?;
    Some(SignedVote {
        vote: Vote {
            epoch: proposal.round.epoch().get(),
            view: proposal.round.view().get(),
            parent_view: proposal.parent.get(),
            kind,
            block: Hash(proposal.payload.0),
        },
        signature: Signature(signature),
    })
}

/// The evidence in an activity, if it proves equivocation.
pub fn evidence_from_activity(
    activity: &Activity<ConsensusScheme, BlockDigest>,
    participants: &Set<ConsensusKey>,
) -> Option<DoubleSignEvidence> {
    let (kind, encoded) = match activity {
        Activity::ConflictingNotarize(c) => (VoteKind::Notarize, c.encode()),
        Activity::ConflictingFinalize(c) => (VoteKind::Finalize, c.encode()),
        _ => return None,
    };
    // Both conflict types encode as their two votes, one after the other.
    let encoded: Vec<u8> = encoded.to_vec();
    let mut reader = bytes::Bytes::copy_from_slice(&encoded);
    let mut votes = Vec::with_capacity(2);
    for _ in 0..2 {
        let before = reader.len();
        let (proposal, signer) = match kind {
            VoteKind::Notarize => {
                let vote =
                    Notarize::<ConsensusScheme, BlockDigest>::read_cfg(&mut reader, &()).ok()?;
                (vote.proposal.clone(), vote.attestation.signer)
            }
            VoteKind::Finalize => {
                let vote =
                    Finalize::<ConsensusScheme, BlockDigest>::read_cfg(&mut reader, &()).ok()?;
                (vote.proposal.clone(), vote.attestation.signer)
            }
        };
        let consumed = before - reader.len();
        let start = encoded.len() - before;
        votes.push((
            signer,
            signed_vote(&proposal, kind, &encoded[start..start + consumed])?,
        ));
    }
    let (second_signer, second) = votes.pop()?;
    let (first_signer, first) = votes.pop()?;
    if first_signer != second_signer {
        return None;
    }
    let key = participants.key(first_signer)?;
    Some(DoubleSignEvidence {
        consensus_key: cairn_key(key),
        first,
        second,
    })
}

/// The reporter simplex calls with every activity; it forwards evidence to [`run`].
#[derive(Clone)]
pub struct Slasher {
    participants: Set<ConsensusKey>,
    sender: mpsc::UnboundedSender<DoubleSignEvidence>,
}

/// Where [`Slasher`] sends evidence.
pub type EvidenceQueue = mpsc::UnboundedReceiver<DoubleSignEvidence>;

impl Slasher {
    /// A reporter for `participants` and the queue it fills.
    pub fn new(participants: Set<ConsensusKey>) -> (Slasher, EvidenceQueue) {
        let (sender, receiver) = mpsc::unbounded();
        (
            Slasher {
                participants,
                sender,
            },
            receiver,
        )
    }

    /// A reporter for another epoch's `participants`, feeding the same queue.
    pub fn for_participants(&self, participants: Set<ConsensusKey>) -> Slasher {
        Slasher {
            participants,
            sender: self.sender.clone(),
        }
    }
}

impl Reporter for Slasher {
    type Activity = Activity<ConsensusScheme, BlockDigest>;

    fn report(&mut self, activity: Self::Activity) -> commonware_actor::Feedback {
        if let Some(evidence) = evidence_from_activity(&activity, &self.participants) {
            tracing::warn!(
                validator = %hex::encode(evidence.consensus_key.0),
                view = evidence.first.vote.view,
                "node.equivocation_detected"
            );
            let _ = self.sender.unbounded_send(evidence);
        }
        commonware_actor::Feedback::Ok
    }
}

/// Submits each piece of evidence once, in a transaction signed by `reporter`.
pub async fn run(
    chain: Arc<Chain>,
    reporter: SecretKey,
    now_ms: impl Fn() -> u64,
    mut queue: EvidenceQueue,
) {
    let mut reported = HashSet::new();
    while let Some(evidence) = queue.next().await {
        let offence = evidence.offence_id();
        if !reported.insert(offence) {
            continue;
        }
        match submit(&chain, &reporter, evidence, now_ms()) {
            Ok(id) => tracing::info!(%id, %offence, "node.double_sign_reported"),
            Err(error) => tracing::warn!(%error, %offence, "node.double_sign_report_failed"),
        }
    }
}

/// Submits `evidence` in a `ReportDoubleSign` transaction signed by `reporter`, with the nonce
/// after the reporter's pooled transactions (a second offence is reported while the first
/// report still waits).
pub fn submit(
    chain: &Chain,
    reporter: &SecretKey,
    evidence: DoubleSignEvidence,
    now_ms: u64,
) -> Result<Hash, AdmitError> {
    let sender = Address(reporter.public_key());
    let (chain_id, fee) = {
        let ledger = chain.ledger();
        let fee = ledger
            .get::<Params>(&StateKey::Params)?
            .map_or(cairn_types::Amount(1_000), |p| p.tx_fee_min);
        (ledger.config().chain_id.clone(), fee)
    };
    let mut nonce = chain.next_nonce(&sender)?;
    loop {
        let tx = Transaction {
            chain_id: chain_id.clone(),
            sender,
            nonce,
            fee,
            action: Action::ReportDoubleSign {
                evidence: evidence.clone(),
            },
        }
        .sign(reporter);
        match chain.submit(tx, now_ms) {
            // Our own earlier transactions are still pooled: take the next nonce.
            Err(AdmitError::NonceGap { next, .. }) if next > nonce => nonce = next,
            other => return other,
        }
    }
}
