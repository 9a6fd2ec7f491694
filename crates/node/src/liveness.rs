//! The finalization certificate each block carries, for the ledger's liveness accounting
//! (`cairn_ledger::liveness`).
//!
//! A proposer carries the certificate of the lowest height above its parent's
//! `counted_through` that it holds a certificate for, up to the state height it attests (so
//! the block it certifies is applied everywhere that votes). A voter checks that the height is
//! in that range, that the certificate decodes and verifies under that height's validator set,
//! in that epoch, and that it finalizes the block this node has at that height. The finalizer
//! turns the certificate into the ledger's [`SignerRecord`]: one flag per seat, in consensus
//! order.

use crate::block::{Block, Header};
use crate::epochs::EpochSchemes;
use crate::light::BlockFinalization;
use crate::types::MarshalMailbox;
use cairn_ledger::liveness::SignerRecord;
use commonware_codec::{Decode as _, Encode as _};
use commonware_consensus::types::{Epoch, Height};
use commonware_consensus::Epochable as _;
use commonware_cryptography::certificate::Verifier as _;
use commonware_cryptography::Digestible as _;
use commonware_parallel::Sequential;

/// Heights a proposer looks through for a certificate to carry.
const SEARCH: u64 = 16;

/// Why a carried certificate is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CarriedError {
    /// `counted_through` does not follow the parent's as the certificate says.
    #[error(
        "counted_through {got} does not follow the parent's {parent} (certificate: {carried})"
    )]
    Order {
        /// The parent's `counted_through`.
        parent: u64,
        /// The block's.
        got: u64,
        /// Whether the block carries a certificate.
        carried: bool,
    },
    /// The certified height is not yet applied by the state the block attests.
    #[error("the certificate is for block {height}, above the attested state height {state}")]
    NotAttested {
        /// The certified height.
        height: u64,
        /// The attested state height.
        state: u64,
    },
    /// This node does not know the validator set of the certified height's epoch.
    #[error("no validator set for epoch {0}")]
    UnknownSet(u64),
    /// The bytes do not decode as a finalization.
    #[error("the certificate does not decode: {0}")]
    Malformed(String),
    /// The certificate is of another epoch than its height's.
    #[error("the certificate is of epoch {got}, the block's epoch is {expected}")]
    WrongEpoch {
        /// The height's epoch.
        expected: u64,
        /// The certificate's.
        got: u64,
    },
    /// The signatures are not a quorum of the epoch's seats.
    #[error("the certificate is not signed by a quorum of the epoch's seats")]
    BadSignatures,
    /// The certificate finalizes another block than the one at its height.
    #[error("the certificate finalizes another block than block {0}")]
    OtherBlock(u64),
}

/// The epoch of `height` with `blocks_per_epoch`.
fn epoch_of(height: u64, blocks_per_epoch: u64) -> Epoch {
    Epoch::new(cairn_types::Epoch::of_height(height, blocks_per_epoch).0)
}

/// Decodes `block`'s certificate (of block `block.header.counted_through`) under its epoch's set.
pub fn decode(
    schemes: &EpochSchemes,
    blocks_per_epoch: u64,
    block: &Block,
) -> Result<BlockFinalization, CarriedError> {
    let height = block.header.counted_through;
    let epoch = epoch_of(height, blocks_per_epoch);
    let set = schemes
        .set(epoch)
        .ok_or(CarriedError::UnknownSet(epoch.get()))?;
    let config = set.verifier.certificate_codec_config();
    let finalization = BlockFinalization::decode_cfg(block.certificate.clone(), &config)
        .map_err(|e| CarriedError::Malformed(e.to_string()))?;
    if finalization.epoch() != epoch {
        return Err(CarriedError::WrongEpoch {
            expected: epoch.get(),
            got: finalization.epoch().get(),
        });
    }
    Ok(finalization)
}

/// The signer record the ledger counts for `block` (`None` when it carries no certificate).
pub fn signer_record(
    schemes: &EpochSchemes,
    blocks_per_epoch: u64,
    block: &Block,
) -> Result<Option<SignerRecord>, CarriedError> {
    if block.certificate.is_empty() {
        return Ok(None);
    }
    let finalization = decode(schemes, blocks_per_epoch, block)?;
    let height = block.header.counted_through;
    let seats = schemes
        .set(epoch_of(height, blocks_per_epoch))
        .map(|set| set.participants.len())
        .ok_or(CarriedError::UnknownSet(height))?;
    let mut signed = vec![false; seats];
    for signer in finalization.certificate.signers.iter() {
        if let Some(flag) = signed.get_mut(usize::from(signer)) {
            *flag = true;
        }
    }
    Ok(Some(SignerRecord { height, signed }))
}

/// Checks what `block` carries against its `parent` (see the module documentation). Waits for
/// nothing: the caller has applied the block's state height.
pub async fn check(
    schemes: &EpochSchemes,
    marshal: &MarshalMailbox,
    blocks_per_epoch: u64,
    parent: &Header,
    block: &Block,
) -> Result<(), CarriedError> {
    let header = &block.header;
    let carried = !block.certificate.is_empty();
    let order = CarriedError::Order {
        parent: parent.counted_through,
        got: header.counted_through,
        carried,
    };
    if !carried {
        return if header.counted_through == parent.counted_through {
            Ok(())
        } else {
            Err(order)
        };
    }
    if header.counted_through <= parent.counted_through {
        return Err(order);
    }
    if header.counted_through > header.state_height {
        return Err(CarriedError::NotAttested {
            height: header.counted_through,
            state: header.state_height,
        });
    }
    let finalization = decode(schemes, blocks_per_epoch, block)?;
    let set = schemes
        .set(finalization.epoch())
        .ok_or(CarriedError::UnknownSet(finalization.epoch().get()))?;
    let mut rng = commonware_utils::sys_rng();
    if !finalization.verify(&mut rng, set.verifier.as_ref(), &Sequential) {
        return Err(CarriedError::BadSignatures);
    }
    let ours = marshal
        .get_block(Height::new(header.counted_through))
        .await
        .map(|b| b.inner().digest());
    if ours != Some(finalization.proposal.payload) {
        return Err(CarriedError::OtherBlock(header.counted_through));
    }
    Ok(())
}

/// What a proposer carries on top of `parent` when it attests `state_height`:
/// `(counted_through, certificate)`.
pub async fn to_carry(
    marshal: &MarshalMailbox,
    parent: &Header,
    state_height: u64,
) -> (u64, Vec<u8>) {
    let first = parent.counted_through.saturating_add(1);
    let last = state_height.min(parent.counted_through.saturating_add(SEARCH));
    for height in first..=last {
        if let Some(finalization) = marshal.get_finalization(Height::new(height)).await {
            return (height, finalization.encode().to_vec());
        }
    }
    (parent.counted_through, Vec::new())
}
