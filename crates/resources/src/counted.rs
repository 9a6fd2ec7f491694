//! What the tally hands on: each device's counted reports for the epoch (its windows, its
//! refusals, what its kind's rules kept), read by the sub-networks' judgements and the payout.

use crate::context::DeviceInfo;
use crate::reason::Reason;
use cairn_types::report::ReportKind;
use cairn_types::DeviceId;
use std::collections::BTreeMap;

/// One device's result for the epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceResult {
    /// The device's record at the epoch's last block.
    pub info: DeviceInfo,
    /// Windows of the epoch with at least one counted report: its uptime points.
    pub windows: u64,
    /// Reports counted (one per kind and window; for witnesses, one per beacon heard).
    pub reports: u64,
    /// What its counted reports kept for its sub-network, in key order (kind, window, tag).
    pub kept: Vec<KeptReport>,
    /// Copies refused, by reason.
    pub rejected: BTreeMap<Reason, u64>,
}

/// The tally of a whole epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TallyResult {
    /// Every device that sent at least one copy, by id.
    pub devices: BTreeMap<DeviceId, DeviceResult>,
    /// Copies that name no registered device (or are not reports), by reason.
    pub unattributed: BTreeMap<Reason, u64>,
    /// Every copy read.
    pub copies: u64,
}

/// A counted report's kept bytes, in the order of its key (kind, window, tag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptReport {
    /// Its kind.
    pub kind: ReportKind,
    /// The first 16 bytes of its id.
    pub id: [u8; 16],
    /// What its rule kept ([`ReportRule::keep`]).
    pub bytes: Box<[u8]>,
}

/// The kept reports of `kind` of a device, decoded by `decode` (bytes a rule kept always
/// decode; any that did not would be skipped, the same way on every machine).
pub fn kept_of<'a, T>(
    d: &'a DeviceResult,
    kind: ReportKind,
    decode: impl Fn(&KeptReport) -> Option<T> + 'a,
) -> impl Iterator<Item = T> + 'a {
    d.kept
        .iter()
        .filter(move |k| k.kind == kind)
        .filter_map(decode)
}
