//! Liveness accounting: which seats signed each finalized block.
//!
//! Every block may carry the signer set of one earlier block's finalization certificate
//! ([`SignerRecord`]), in height order: a block above the last one counted, already applied.
//! (Heights may be skipped: a block finalized only through its descendant has no certificate of
//! its own, so nobody can count its signers.) The proposer takes it from the certificate it holds; the voters check the
//! certificate's signatures before voting, so every node counts the same signers. The ledger adds,
//! per seat of that block's epoch, one counted vote and, for each seat that did not sign, one
//! missed vote (`StateKey::Liveness`). At the epoch's end the epoch step jails validators that
//! missed too much (see [`crate::epoch`]).
//!
//! A certificate holds a quorum, not every vote, and its assembler chooses which quorum; so a
//! validator may be counted as missing a block it voted for. The jail threshold
//! (`downtime_jail_bps`, half of the epoch by default) leaves room for that: a validator that
//! votes is in most certificates. `docs/CONSENSUS.md` says more.

use crate::error::BlockError;
use crate::exec::Exec;
use crate::state::records::{Liveness, ValidatorSet};
use crate::state::StateKey;
use borsh::{BorshDeserialize, BorshSerialize};
use cairn_types::Epoch;
use serde::{Deserialize, Serialize};

/// The signers of the finalization certificate of block `height`.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignerRecord {
    /// The finalized block whose certificate this is.
    pub height: u64,
    /// One flag per seat of that block's epoch, in consensus order (seat keys by their bytes):
    /// whether the seat signed.
    pub signed: Vec<bool>,
}

/// Counts `record` (carried by the block at `block_height`). The record must be for a block
/// above the last one counted and below `block_height`, with one flag per seat of its epoch.
pub fn count(
    ex: &mut Exec<'_, '_>,
    record: &SignerRecord,
    block_height: u64,
) -> Result<(), BlockError> {
    let expected = ex.chain.signers_counted_through.saturating_add(1);
    if record.height < expected || record.height >= block_height {
        return Err(BlockError::SignersOutOfOrder {
            expected,
            got: record.height,
        });
    }
    let epoch = Epoch::of_height(record.height, ex.config.blocks_per_epoch);
    let set: ValidatorSet =
        ex.state
            .get(&StateKey::ValidatorSet(epoch))?
            .ok_or(BlockError::Invariant(
                "a finalized block's epoch has no set",
            ))?;
    let seats = set.seat_count();
    if record.signed.len() != seats {
        return Err(BlockError::SignersMismatch {
            seats,
            got: record.signed.len(),
        });
    }
    let key = StateKey::Liveness(epoch);
    let mut liveness: Liveness = ex.state.get_or_default(&key)?;
    liveness.missed.resize(seats, 0);
    liveness.counted = liveness.counted.saturating_add(1);
    for (missed, signed) in liveness.missed.iter_mut().zip(&record.signed) {
        if !signed {
            *missed = missed.saturating_add(1);
        }
    }
    ex.state.put(&key, &liveness);
    ex.chain.signers_counted_through = record.height;
    Ok(())
}
