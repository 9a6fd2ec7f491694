//! How the tally counts one kind of report ([`ReportRule`]): each kind of report is decided by
//! the sub-network that owns it ([`crate::subnet`], registered in [`crate::kinds`]).

use crate::context::{DeviceInfo, EpochContext};
use crate::reason::Reason;
use crate::verify::Claim;
use cairn_types::report::{ReportBody, ReportKind};
use cairn_types::{DeviceId, Hash, Subnetwork};

/// Where a report counts, as its kind's rule places it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The window it counts in, when not that of the device's own time (a transfer: the
    /// payer's time, which must be in the epoch).
    pub window: Option<u64>,
    /// What tells apart several reports of the kind in one window (a witness: the beacon
    /// heard; a reading: its sensor); zero for a kind counted once per window.
    pub tag: [u8; 8],
    /// An id the report counts under once in the whole epoch, in one window only (a transfer:
    /// its chunk), if the kind has one.
    pub once: Option<Hash>,
}

/// How the tally counts one kind of report: each is decided by the sub-network that owns it.
pub trait ReportRule: Send + Sync {
    /// The kind of report.
    fn kind(&self) -> ReportKind;

    /// The largest encoded report of the kind accepted (at most
    /// [`cairn_types::report::MAX_REPORT_BYTES`]).
    fn max_bytes(&self) -> usize;

    /// The sub-network whose devices may send it; `None` when every device may (a report of
    /// another's kind is refused as `wrong_kind`).
    fn senders(&self) -> Option<Subnetwork>;

    /// The most keys of the kind counted per device and window, and the reason a further one
    /// is refused; `None` for a kind counted once per window.
    fn per_window(&self) -> Option<(usize, Reason)> {
        None
    }

    /// Where the report counts, after the cheap checks of the kind's own fields (no signature
    /// work): a refusal names why it does not.
    fn slot(
        &self,
        ctx: &EpochContext,
        device: &DeviceId,
        body: &ReportBody,
    ) -> Result<Slot, Reason>;

    /// What a counted report keeps for its sub-network's judgement, as that sub-network's own
    /// bytes; `None` keeps nothing (memory is bounded by what kinds keep).
    fn keep(&self, info: &DeviceInfo, body: &ReportBody) -> Option<Box<[u8]>>;

    /// A second signature the report carries (a transfer: the payer's over its receipt),
    /// checked with the report's, and the reason it is refused when that fails.
    fn second_signature<'a>(&self, _body: &'a ReportBody) -> Option<(Claim<'a>, Reason)> {
        None
    }
}

/// The first 8 bytes of `data`: what tells reports of one kind and window apart.
pub fn short_tag(data: [u8; 32]) -> [u8; 8] {
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&data[..8]);
    tag
}
