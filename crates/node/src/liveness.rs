//! The finalize votes each block carries, for the ledger's liveness accounting
//! (`cairn_ledger::liveness`).
//!
//! A proposer carries, for the lowest height above its parent's `counted_through` (up to the
//! state height it attests, so the block is applied everywhere that votes) for which it has a
//! quorum, every finalize vote it holds for that block: the votes of its certificate and the
//! late ones its engines saw ([`crate::votes`]). A voter checks that the height is in that
//! range, that the votes are distinct seats of that height's epoch, at least a quorum, each for
//! the block this node has at that height and each signature valid. The finalizer turns them into
//! the ledger's [`SignerRecord`]: one flag per seat, in consensus order.
//!
//! Wire form of the votes: a 2-byte count, then each vote in commonware's encoding.

use crate::block::{Block, Header};
use crate::epochs::{EpochSchemes, EpochSet};
use crate::types::{BlockDigest, ConsensusKey, ConsensusScheme, MarshalMailbox};
use crate::votes::{votes_of, FinalizeVote, VoteCache};
use bytes::{Buf, BufMut};
use cairn_ledger::liveness::SignerRecord;
use commonware_codec::{Encode as _, Read as _};
use commonware_consensus::types::{Epoch, Height};
use commonware_consensus::Epochable as _;
use commonware_cryptography::Digestible as _;
use commonware_parallel::Sequential;
use commonware_utils::ordered::{Quorum as _, Set};
use commonware_utils::N3f1;
use std::collections::BTreeSet;

/// Heights a proposer looks through for votes to carry, at each end of the uncounted range.
const SEARCH: u64 = 16;

/// Why carried votes are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CarriedError {
    /// `counted_through` does not follow the parent's as the votes say.
    #[error(
        "counted_through {got} does not follow the parent's {parent} (votes carried: {carried})"
    )]
    Order {
        /// The parent's `counted_through`.
        parent: u64,
        /// The block's.
        got: u64,
        /// Whether the block carries votes.
        carried: bool,
    },
    /// The voted height is not yet applied by the state the block attests.
    #[error("the votes are for block {height}, above the attested state height {state}")]
    NotAttested {
        /// The voted height.
        height: u64,
        /// The attested state height.
        state: u64,
    },
    /// This node does not know the validator set of the voted height's epoch.
    #[error("no validator set for epoch {0}")]
    UnknownSet(u64),
    /// The bytes do not decode as votes.
    #[error("the votes do not decode: {0}")]
    Malformed(String),
    /// A vote is of another epoch than its height's, or names no seat of it.
    #[error("a vote is not by a seat of epoch {0}")]
    NotASeat(u64),
    /// Two votes by one seat.
    #[error("seat {0} votes twice")]
    Twice(u32),
    /// Fewer votes than a quorum.
    #[error("{got} votes, a quorum is {quorum}")]
    NoQuorum {
        /// Votes carried.
        got: usize,
        /// Quorum of the epoch.
        quorum: usize,
    },
    /// A signature does not verify.
    #[error("a vote's signature does not verify")]
    BadSignature,
    /// A vote is for another block than the one at its height.
    #[error("a vote finalizes another block than block {0}")]
    OtherBlock(u64),
}

/// The epoch of `height` with `blocks_per_epoch`.
fn epoch_of(height: u64, blocks_per_epoch: u64) -> Epoch {
    Epoch::new(cairn_types::Epoch::of_height(height, blocks_per_epoch).0)
}

/// Encodes votes: a 2-byte count, then each vote.
pub fn encode(votes: &[FinalizeVote]) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u16(u16::try_from(votes.len()).unwrap_or(u16::MAX));
    for vote in votes.iter().take(usize::from(u16::MAX)) {
        out.extend_from_slice(&vote.encode());
    }
    out
}

/// Decodes votes, at most `seats` of them, refusing trailing bytes.
pub fn decode(bytes: &[u8], seats: usize) -> Result<Vec<FinalizeVote>, CarriedError> {
    let malformed = |e: String| CarriedError::Malformed(e);
    let mut bytes = bytes::Bytes::copy_from_slice(bytes);
    if bytes.remaining() < 2 {
        return Err(malformed("no count".into()));
    }
    let count = usize::from(bytes.get_u16());
    if count > seats {
        return Err(malformed(format!("{count} votes for {seats} seats")));
    }
    let mut votes = Vec::with_capacity(count);
    for _ in 0..count {
        votes.push(FinalizeVote::read_cfg(&mut bytes, &()).map_err(|e| malformed(e.to_string()))?);
    }
    if bytes.has_remaining() {
        return Err(malformed("trailing bytes".into()));
    }
    Ok(votes)
}

/// The set of the epoch of `height`.
fn set_of(
    schemes: &EpochSchemes,
    height: u64,
    blocks_per_epoch: u64,
) -> Result<EpochSet, CarriedError> {
    let epoch = epoch_of(height, blocks_per_epoch);
    schemes
        .set(epoch)
        .ok_or(CarriedError::UnknownSet(epoch.get()))
}

/// The signer record the ledger counts for `block` (`None` when it carries no votes).
pub fn signer_record(
    schemes: &EpochSchemes,
    blocks_per_epoch: u64,
    block: &Block,
) -> Result<Option<SignerRecord>, CarriedError> {
    signers_of(
        schemes,
        blocks_per_epoch,
        (block.header.counted_through, &block.votes),
    )
}

/// The signer record of the votes a block carries (`counted_through`, encoded votes), as
/// [`to_carry`] returns them (`None` when there are none).
pub fn signers_of(
    schemes: &EpochSchemes,
    blocks_per_epoch: u64,
    (height, votes): (u64, &[u8]),
) -> Result<Option<SignerRecord>, CarriedError> {
    if votes.is_empty() {
        return Ok(None);
    }
    let seats = set_of(schemes, height, blocks_per_epoch)?
        .participants
        .len();
    let mut signed = vec![false; seats];
    for vote in decode(votes, seats)? {
        let flag = signed
            .get_mut(vote.attestation.signer.get() as usize)
            .ok_or(CarriedError::NotASeat(height))?;
        *flag = true;
    }
    Ok(Some(SignerRecord { height, signed }))
}

/// Checks what `block` carries against its `parent` (see the module documentation). The caller
/// has applied the block's state height.
pub async fn check(
    schemes: &EpochSchemes,
    marshal: &MarshalMailbox,
    blocks_per_epoch: u64,
    parent: &Header,
    block: &Block,
) -> Result<(), CarriedError> {
    let header = &block.header;
    let carried = !block.votes.is_empty();
    let order = CarriedError::Order {
        parent: parent.counted_through,
        got: header.counted_through,
        carried,
    };
    match (carried, header.counted_through) {
        (false, through) if through == parent.counted_through => return Ok(()),
        (true, through) if through > parent.counted_through => {}
        _ => return Err(order),
    }
    let height = header.counted_through;
    if height > header.state_height {
        return Err(CarriedError::NotAttested {
            height,
            state: header.state_height,
        });
    }
    let set = set_of(schemes, height, blocks_per_epoch)?;
    let votes = decode(&block.votes, set.participants.len())?;
    let epoch = epoch_of(height, blocks_per_epoch);
    let ours = marshal
        .get_block(Height::new(height))
        .await
        .map(|b| b.inner().digest())
        .ok_or(CarriedError::OtherBlock(height))?;
    check_votes(
        &votes,
        &set.participants,
        &set.verifier,
        (epoch, height),
        ours,
    )
}

/// Checks `votes` for the block `ours` at `height` of `epoch`, against that epoch's seats
/// (`participants`) and `verifier`: at least a quorum, each by a distinct seat of that epoch, for
/// that block, with a valid signature.
pub fn check_votes(
    votes: &[FinalizeVote],
    participants: &Set<ConsensusKey>,
    verifier: &ConsensusScheme,
    (epoch, height): (Epoch, u64),
    ours: BlockDigest,
) -> Result<(), CarriedError> {
    let seats = participants.len();
    let quorum = participants.quorum::<N3f1>() as usize;
    if votes.len() < quorum {
        return Err(CarriedError::NoQuorum {
            got: votes.len(),
            quorum,
        });
    }
    let mut seen = BTreeSet::new();
    let mut rng = commonware_utils::sys_rng();
    for vote in votes {
        let signer = vote.attestation.signer.get();
        if vote.epoch() != epoch || signer as usize >= seats {
            return Err(CarriedError::NotASeat(epoch.get()));
        }
        if !seen.insert(signer) {
            return Err(CarriedError::Twice(signer));
        }
        if vote.proposal.payload != ours {
            return Err(CarriedError::OtherBlock(height));
        }
        if !vote.verify(&mut rng, verifier, &Sequential) {
            return Err(CarriedError::BadSignature);
        }
    }
    Ok(())
}

/// What a proposer carries on top of `parent` when it attests `state_height`:
/// `(counted_through, votes)`.
pub async fn to_carry(
    schemes: &EpochSchemes,
    cache: &VoteCache,
    marshal: &MarshalMailbox,
    blocks_per_epoch: u64,
    (parent, state_height): (&Header, u64),
) -> (u64, Vec<u8>) {
    let first = parent.counted_through.saturating_add(1);
    // The oldest heights first; if none of them can be counted (their votes are gone), the
    // newest ones, so counting never stalls behind a stretch of heights without votes.
    let oldest = first..=state_height.min(parent.counted_through.saturating_add(SEARCH));
    let newest = state_height
        .saturating_sub(SEARCH - 1)
        .max(first.saturating_add(SEARCH))..=state_height;
    for height in oldest.chain(newest) {
        let Ok(set) = set_of(schemes, height, blocks_per_epoch) else {
            continue;
        };
        let Some(block) = marshal.get_block(Height::new(height)).await else {
            continue;
        };
        let digest = block.inner().digest();
        let epoch = epoch_of(height, blocks_per_epoch);
        // The certificate's votes (if this node has it), then every other vote it saw.
        let mut votes = std::collections::BTreeMap::new();
        if let Some(finalization) = marshal.get_finalization(Height::new(height)).await {
            for vote in votes_of(&finalization) {
                votes.insert(vote.attestation.signer.get(), vote);
            }
        }
        for vote in cache.votes_for(&digest) {
            votes.entry(vote.attestation.signer.get()).or_insert(vote);
        }
        let votes: Vec<FinalizeVote> = votes
            .into_values()
            .filter(|v| v.epoch() == epoch && v.proposal.payload == digest)
            .collect();
        if votes.len() >= set.participants.quorum::<N3f1>() as usize {
            return (height, encode(&votes));
        }
    }
    (parent.counted_through, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_votes_are_refused_with_a_reason() {
        // No count at all.
        assert!(matches!(decode(&[], 4), Err(CarriedError::Malformed(_))));
        // More votes announced than the epoch has seats, before anything is read.
        assert!(matches!(
            decode(&[0, 5], 4),
            Err(CarriedError::Malformed(_))
        ));
        // A count with nothing behind it.
        assert!(matches!(
            decode(&[0, 1], 4),
            Err(CarriedError::Malformed(_))
        ));
        // No votes, then trailing bytes.
        assert!(matches!(
            decode(&[0, 0, 9], 4),
            Err(CarriedError::Malformed(_))
        ));
        // No votes, exactly: decodes (a voter then refuses it for lacking a quorum).
        assert_eq!(decode(&encode(&[]), 4).map(|v| v.len()), Ok(0));
    }

    /// Four seats of epoch 3; `votes(n, digest)` are the finalize votes of the first `n` seats for
    /// `digest` at view 7.
    struct Seats {
        participants: Set<ConsensusKey>,
        signers: Vec<ConsensusScheme>,
        verifier: ConsensusScheme,
    }

    const EPOCH: u64 = 3;

    fn seats() -> Seats {
        use commonware_cryptography::{ed25519, Signer as _};
        let namespace = crate::types::namespace("liveness-test");
        let mut keys: Vec<ed25519::PrivateKey> =
            (0..4).map(ed25519::PrivateKey::from_seed).collect();
        // Signers in participant (key) order, so that seat `i` signs as index `i`.
        keys.sort_by_key(|k| k.public_key());
        let participants = Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
        let signers: Vec<ConsensusScheme> = keys
            .into_iter()
            .filter_map(|k| ConsensusScheme::signer(&namespace, participants.clone(), k))
            .collect();
        Seats {
            verifier: ConsensusScheme::verifier(&namespace, participants.clone()),
            participants,
            signers,
        }
    }

    fn digest(label: &[u8]) -> BlockDigest {
        use commonware_cryptography::Hasher as _;
        commonware_cryptography::blake3::Blake3::hash(&[label])
    }

    impl Seats {
        fn votes(&self, n: usize, payload: BlockDigest) -> Vec<FinalizeVote> {
            use commonware_consensus::simplex::types::{Finalize, Proposal};
            use commonware_consensus::types::{Round, View};
            let proposal = Proposal::new(
                Round::new(Epoch::new(EPOCH), View::new(7)),
                View::new(6),
                payload,
            );
            self.signers[..n]
                .iter()
                .map(|s| Finalize::sign(s, proposal.clone()).expect("a signer signs"))
                .collect()
        }

        fn check(&self, votes: &[FinalizeVote], ours: BlockDigest) -> Result<(), CarriedError> {
            check_votes(
                votes,
                &self.participants,
                &self.verifier,
                (Epoch::new(EPOCH), 40),
                ours,
            )
        }
    }

    #[test]
    fn carried_votes_must_be_a_quorum_of_valid_votes_for_this_block() {
        let seats = seats();
        let ours = digest(b"ours");
        // A quorum (3 of 4) of good votes passes, and all four too.
        assert_eq!(seats.check(&seats.votes(3, ours), ours), Ok(()));
        assert_eq!(seats.check(&seats.votes(4, ours), ours), Ok(()));
        // Two are not a quorum.
        assert_eq!(
            seats.check(&seats.votes(2, ours), ours),
            Err(CarriedError::NoQuorum { got: 2, quorum: 3 })
        );
        // Votes for another block at that height.
        assert_eq!(
            seats.check(&seats.votes(3, digest(b"other")), ours),
            Err(CarriedError::OtherBlock(40))
        );
        // One seat twice.
        let mut twice = seats.votes(3, ours);
        twice[2] = twice[0].clone();
        assert!(matches!(
            seats.check(&twice, ours),
            Err(CarriedError::Twice(_))
        ));
        // A signature taken from another vote: the signer's index no longer matches it.
        let mut forged = seats.votes(3, ours);
        let stolen = forged[1].attestation.signature.clone();
        forged[0].attestation.signature = stolen;
        assert_eq!(seats.check(&forged, ours), Err(CarriedError::BadSignature));
        // A vote of another epoch.
        let mut other_epoch = seats.votes(3, ours);
        other_epoch[0].proposal.round = commonware_consensus::types::Round::new(
            Epoch::new(EPOCH + 1),
            commonware_consensus::types::View::new(7),
        );
        assert_eq!(
            seats.check(&other_epoch, ours),
            Err(CarriedError::NotASeat(EPOCH))
        );
    }
}
