//! The connectivity sub-network behind the plug-in traits: transfer chunks are its reports
//! (both signatures, once per chunk in the window of the payer's time), settled against the
//! payers' delegated credits ([`super::settlement`]) and paid in the policy's buckets.

use super::settlement::settle;
use super::{split_buckets, TransferPolicy};
use crate::context::{DeviceInfo, EpochContext};
use crate::counted::TallyResult;
use crate::reason::Reason;
use crate::rule::short_tag;
use crate::subnet::{
    ChainInputs, DeviceOutcome, InputError, Judged, KeptReport, ReportRule, Slot, Subnet,
};
use crate::verify::Claim;
use cairn_types::codec;
use cairn_types::report::{ReportBody, ReportKind, ReportPayload};
use cairn_types::transfer::MAX_RECEIPT_BYTES;
use cairn_types::{Address, Amount, Credits, DeviceId, Subnetwork};

/// A counted transfer chunk of a connectivity device, as settlement reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountedTransfer {
    /// The payer that signed it.
    pub payer: Address,
    /// Bytes carried.
    pub bytes: u64,
}

/// What a counted chunk keeps: its payer and bytes.
pub fn kept_transfer(id: [u8; 16], transfer: &CountedTransfer) -> KeptReport {
    KeptReport {
        kind: ReportKind::Transfer,
        id,
        bytes: codec::encode(&(transfer.payer, transfer.bytes)).into_boxed_slice(),
    }
}

/// A kept chunk, decoded.
pub fn counted_transfer(kept: &KeptReport) -> Option<CountedTransfer> {
    let (payer, bytes): (Address, u64) = codec::decode(&kept.bytes, 64).ok()?;
    Some(CountedTransfer { payer, bytes })
}

/// The largest encoded transfer report accepted (about 420 bytes), with room.
pub const TRANSFER_MAX_BYTES: usize = 640;

/// Transfer chunks counted per device and window (of the payer's time): beyond this a device's
/// further chunks of the window are refused (`too_many_transfers`).
pub const MAX_TRANSFERS_PER_WINDOW: usize = 64;

/// Transfer chunks: connectivity devices' only, naming the device, 1 to [`MAX_RECEIPT_BYTES`]
/// bytes and a payer time in the epoch; counted once per chunk in the window of that time, at
/// most [`MAX_TRANSFERS_PER_WINDOW`] a window; the payer's signature is checked too.
struct Transfers;

impl ReportRule for Transfers {
    fn kind(&self) -> ReportKind {
        ReportKind::Transfer
    }

    fn max_bytes(&self) -> usize {
        TRANSFER_MAX_BYTES
    }

    fn senders(&self) -> Option<Subnetwork> {
        Some(Subnetwork::Connectivity)
    }

    fn per_window(&self) -> Option<(usize, Reason)> {
        Some((MAX_TRANSFERS_PER_WINDOW, Reason::TooManyTransfers))
    }

    fn slot(
        &self,
        ctx: &EpochContext,
        device: &DeviceId,
        body: &ReportBody,
    ) -> Result<Slot, Reason> {
        let ReportPayload::Transfer { transfer } = &body.payload else {
            return Err(Reason::WrongKind);
        };
        let receipt = &transfer.receipt;
        if receipt.device != *device {
            return Err(Reason::TransferNotYours);
        }
        if receipt.bytes == 0 {
            return Err(Reason::EmptyTransfer);
        }
        if receipt.bytes > MAX_RECEIPT_BYTES {
            return Err(Reason::TransferTooLarge);
        }
        if !ctx.holds_time(receipt.time_ms) {
            return Err(Reason::OutsideEpoch);
        }
        let chunk = receipt.chunk_id();
        Ok(Slot {
            window: Some(ctx.window_of(receipt.time_ms)),
            tag: short_tag(chunk.0),
            once: Some(chunk),
        })
    }

    fn keep(&self, _: &DeviceInfo, body: &ReportBody) -> Option<Box<[u8]>> {
        let ReportPayload::Transfer { transfer } = &body.payload else {
            return None;
        };
        let counted = CountedTransfer {
            payer: transfer.receipt.payer,
            bytes: transfer.receipt.bytes,
        };
        Some(kept_transfer([0; 16], &counted).bytes)
    }

    fn second_signature<'a>(&self, body: &'a ReportBody) -> Option<(Claim<'a>, Reason)> {
        match &body.payload {
            ReportPayload::Transfer { transfer } => {
                Some((Claim::Transfer(transfer), Reason::TransferUnsigned))
            }
            _ => None,
        }
    }
}

/// The connectivity sub-network.
pub struct Connectivity {
    policy: TransferPolicy,
}

impl Connectivity {
    /// Connectivity under `policy`.
    pub fn new(policy: TransferPolicy) -> Connectivity {
        Connectivity { policy }
    }
}

impl Subnet for Connectivity {
    fn subnetwork(&self) -> Subnetwork {
        Subnetwork::Connectivity
    }

    fn report_rules(&self) -> Vec<Box<dyn ReportRule>> {
        vec![Box::new(Transfers)]
    }

    fn judge(
        &self,
        _: &EpochContext,
        tally: &TallyResult,
        chain: &dyn ChainInputs,
    ) -> Result<Judged, InputError> {
        let payers: Vec<Address> = super::settlement::payers(tally).into_iter().collect();
        let mut balances = chain
            .delegated_credits(Subnetwork::Connectivity, &payers)
            .map_err(|reason| InputError {
                what: format!("credits of {} payers", payers.len()),
                reason,
            })?;
        for payer in &payers {
            balances.entry(*payer).or_insert(Credits(0));
        }
        let settled = settle(tally, &balances, &self.policy);
        let devices = settled
            .devices
            .into_iter()
            .map(|(id, d)| {
                let outcome = DeviceOutcome {
                    points: d.bytes,
                    refused: d.cut,
                    ..DeviceOutcome::default()
                };
                (id, outcome)
            })
            .collect();
        Ok(Judged {
            devices,
            settlements: settled.settlements,
        })
    }

    fn split(&self, pool: Amount, points: &[(DeviceId, u64)]) -> (Vec<(DeviceId, Amount)>, Amount) {
        let (rewards, residue) = split_buckets(pool, points, &self.policy);
        (rewards.into_iter().collect(), residue)
    }
}
