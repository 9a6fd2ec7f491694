//! The trust moves from one epoch to the next by a hand-off ([`follow`]): the last block of
//! epoch `e`, signed by the seats of `e`, attests a state holding the set of `e + 1` (chosen at
//! the first block of `e`), and a proof of that set against the attested root makes it trusted
//! too.

use crate::certificate::{seats_of, LightClient, LightError};
use crate::header::Header;
use crate::validators::{validator_set_key, ValidatorSet};
use crate::{verify_proof, StateProof};

/// The hand-off from epoch `epoch`'s set to the next (see `GET /v1/epochs/{epoch}/handoff`).
#[derive(Clone, Debug)]
pub struct Handoff {
    /// The epoch whose seats sign `header`.
    pub epoch: u64,
    /// The header of the epoch's last block.
    pub header: Header,
    /// Its finalization certificate (encoded).
    pub certificate: Vec<u8>,
    /// The canonical bytes of `ValidatorSet(epoch + 1)`.
    pub next_set: Vec<u8>,
    /// Their proof against the root `header` attests.
    pub proof: StateProof,
}

/// Why a hand-off does not carry the trust on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoffError {
    /// Another epoch than the trusted one.
    #[error("the hand-off is for epoch {got}; the trusted set is of epoch {expected}")]
    Epoch {
        /// The trusted set's epoch.
        expected: u64,
        /// The hand-off's.
        got: u64,
    },
    /// The block is not the epoch's last.
    #[error("epoch {epoch} ends at block {last}; the hand-off's block is {got}")]
    NotLast {
        /// The epoch.
        epoch: u64,
        /// Its last height.
        last: u64,
        /// The block's.
        got: u64,
    },
    /// The block attests a state older than the epoch's first block.
    #[error("block {height} attests height {attested}, before its epoch began at {first}")]
    TooOld {
        /// The block.
        height: u64,
        /// The attested height.
        attested: u64,
        /// The epoch's first block.
        first: u64,
    },
    /// A key of the trusted set is not an ed25519 key.
    #[error("a seat key of the trusted set is not an ed25519 key")]
    BadSeatKey,
    /// The certificate does not finalize the block with the trusted seats.
    #[error(transparent)]
    Certificate(#[from] LightError),
    /// The proof of the next set does not verify.
    #[error("the proof of the next set does not verify: {0}")]
    Proof(String),
    /// The proven bytes are not the next epoch's set.
    #[error("the proven value is not the set of epoch {0}")]
    NotTheNextSet(u64),
}

/// Most bytes of an encoded validator set believed.
pub const MAX_SET_BYTES: usize = 1 << 22;

/// Checks `handoff` against the set the client trusts (`trusted`, of epoch `handoff.epoch`) and
/// returns the set of the next epoch, now trusted too.
pub fn follow(
    chain_id: &str,
    blocks_per_epoch: u64,
    trusted: &ValidatorSet,
    handoff: &Handoff,
) -> Result<ValidatorSet, HandoffError> {
    let epoch = trusted.epoch.0;
    if handoff.epoch != epoch {
        return Err(HandoffError::Epoch {
            expected: epoch,
            got: handoff.epoch,
        });
    }
    let header = &handoff.header;
    let last = (epoch + 1).saturating_mul(blocks_per_epoch);
    if header.height != last {
        return Err(HandoffError::NotLast {
            epoch,
            last,
            got: header.height,
        });
    }
    let first = epoch.saturating_mul(blocks_per_epoch).saturating_add(1);
    if epoch >= 1 && header.state_height < first {
        return Err(HandoffError::TooOld {
            height: header.height,
            attested: header.state_height,
            first,
        });
    }
    let seats = seats_of(trusted).ok_or(HandoffError::BadSeatKey)?;
    LightClient::new(chain_id, seats).verify_header(header, &handoff.certificate, epoch)?;
    let key = validator_set_key(epoch + 1);
    verify_proof(
        &header.state_root,
        &key,
        Some(&handoff.next_set),
        &handoff.proof,
    )
    .map_err(HandoffError::Proof)?;
    let next: ValidatorSet = cairn_types::codec::decode(&handoff.next_set, MAX_SET_BYTES)
        .map_err(|_| HandoffError::NotTheNextSet(epoch + 1))?;
    if next.epoch.0 != epoch + 1 || next.seat_count() == 0 {
        return Err(HandoffError::NotTheNextSet(epoch + 1));
    }
    Ok(next)
}
