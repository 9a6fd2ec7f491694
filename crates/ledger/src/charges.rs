//! The charge check a voter runs on a proposal: every transaction in it must be chargeable
//! (right chain, next nonce, fee at least the minimum, balance for the fee) against the state
//! it will meet, the parent's state with the pending ancestors executed.
//!
//! A proposer leaves such transactions out ([`Ledger::select_verified_after`]); a block that
//! carries them anyway would have them skipped at execution, charged to nobody but stored by
//! every node forever. Voters refuse such a block instead. The check is the proposer's own dry
//! run (the same code, the same height and time), so an honest proposal always passes it.

use crate::error::StoreError;
use crate::ledger::{as_store, BlockInput, Ledger, Mode};
use crate::state::Overlay;
use crate::TxError;
use cairn_types::Hash;

/// What the charge check says of a proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargeCheck {
    /// Every transaction can be charged.
    Charged,
    /// These transactions cannot be charged (the first few, in block order, with why).
    Uncharged(Vec<(Hash, TxError)>),
    /// The pending blocks given do not lead from this ledger's head to the proposal's parent:
    /// nothing can be said.
    NoPath {
        /// The height the pending blocks reached.
        reached: u64,
    },
}

impl Ledger {
    /// Checks that every transaction of `block` (whose signatures the caller has checked) can
    /// be charged after the `pending` blocks (oldest first; those at or below the head are
    /// passed over), each block with the signers its carried votes name, as execution counts
    /// them. Changes nothing.
    pub fn check_charges(
        &self,
        pending: &[BlockInput],
        block: &BlockInput,
    ) -> Result<ChargeCheck, StoreError> {
        let snapshot = self.store().snapshot()?;
        let mut overlay = Overlay::new(&snapshot);
        let (height, time) = self.run_pending(&mut overlay, pending)?;
        if height.saturating_add(1) != block.height {
            return Ok(ChargeCheck::NoPath { reached: height });
        }
        let run = self
            .run_block(
                &mut overlay,
                (block.height, block.timestamp_ms.max(time)),
                &block.transactions,
                block.signers.as_ref(),
                Mode::Filter,
            )
            .map_err(as_store)?;
        if run.skipped.is_empty() {
            Ok(ChargeCheck::Charged)
        } else {
            Ok(ChargeCheck::Uncharged(run.skipped))
        }
    }
}
