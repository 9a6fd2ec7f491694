//! From the tally to the scorer: the coverage sub-network's counted beacons and witnesses, with
//! what the chain says about each device and each block used as entropy.

use super::kind::coverage_report;
use super::region::RegionPlan;
use super::rules::CoverageRules;
use super::score::{score, CoverageOutcome};
use super::types::{Beacon, Denylist, Witness};
use crate::counted::TallyResult;
use crate::reason::Reason;
use crate::subnet::{kept_of, live};
use cairn_types::report::ReportKind;
use cairn_types::report::ReportPayload;
use cairn_types::{DeviceId, Hash, Subnetwork};
use std::collections::BTreeMap;

/// The coarsest location a coverage device may assert: density and rings compare cells at
/// resolutions up to 10, which a coarser cell would escape.
pub const LOCATION_RESOLUTION_MIN: u8 = 12;

/// What coverage scoring reads besides the tally, all from the chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoverageInputs {
    /// The rules.
    pub rules: CoverageRules,
    /// The denylist committed with the epoch.
    pub denylist: Denylist,
    /// The blocks beacons name as entropy: height → (digest, block time in ms), as the chain
    /// has them (see [`entropy_heights`]).
    pub entropy: BTreeMap<u64, (Hash, u64)>,
}

/// The heights of the blocks the coverage devices' beacons in `tally` name as entropy: what
/// the caller reads from the chain into [`CoverageInputs::entropy`].
pub fn entropy_heights(tally: &TallyResult) -> std::collections::BTreeSet<u64> {
    tally
        .devices
        .values()
        .filter(|d| d.info.subnetwork == Subnetwork::Coverage)
        .flat_map(|d| kept_of(d, ReportKind::Beacon, coverage_report))
        .filter_map(|r| match r.body.payload {
            ReportPayload::Beacon { entropy_height, .. } => Some(entropy_height),
            _ => None,
        })
        .collect()
}

/// Scores the coverage sub-network's devices of `tally`, for windows of `window_ms`.
pub fn coverage_outcomes(
    tally: &TallyResult,
    inputs: &CoverageInputs,
    window_ms: u64,
) -> BTreeMap<DeviceId, CoverageOutcome> {
    let plan: &RegionPlan = &inputs.rules.regions;
    let mut beacons = Vec::new();
    let mut witnesses = Vec::new();
    let mut unlocated = Vec::new();
    let mut coarse = Vec::new();
    for (device, result) in live(tally, Subnetwork::Coverage) {
        let mut location = result.info.location;
        if location.is_some_and(|c| c.resolution() < LOCATION_RESOLUTION_MIN) {
            coarse.push(*device);
            location = None;
        }
        let reports = result
            .kept
            .iter()
            .filter(|k| matches!(k.kind, ReportKind::Beacon | ReportKind::Witness))
            .filter_map(coverage_report);
        for report in reports {
            let body = &report.body;
            match (&body.payload, location) {
                (ReportPayload::Beacon { .. }, None) if result.info.location.is_none() => {
                    unlocated.push(*device)
                }
                (ReportPayload::Beacon { .. }, None) => {}
                (
                    ReportPayload::Beacon {
                        entropy_height,
                        frequency_khz,
                        tx_power_cdbm,
                        data,
                    },
                    Some(cell),
                ) => beacons.push(Beacon {
                    device: *device,
                    location: cell,
                    region: plan.region_of(cell),
                    time_ms: body.time_ms,
                    entropy: body.entropy,
                    // The block must be the chain's at that height, digest and all.
                    entropy_time_ms: inputs
                        .entropy
                        .get(entropy_height)
                        .filter(|(digest, _)| *digest == body.entropy)
                        .map(|(_, time_ms)| *time_ms),
                    data: *data,
                    frequency_khz: *frequency_khz,
                    tx_power_cdbm: *tx_power_cdbm,
                }),
                (
                    ReportPayload::Witness {
                        beaconer,
                        data,
                        frequency_khz,
                        rssi_cdbm,
                        ..
                    },
                    _,
                ) => witnesses.push(Witness {
                    device: *device,
                    location,
                    region: location.map(|c| plan.region_of(c)),
                    time_ms: body.time_ms,
                    beaconer: *beaconer,
                    data: *data,
                    frequency_khz: *frequency_khz,
                    rssi_cdbm: *rssi_cdbm,
                    id: report.id,
                }),
                _ => {}
            }
        }
    }
    let mut out = score(
        &inputs.rules,
        window_ms,
        &inputs.denylist,
        &beacons,
        &witnesses,
    );
    let refusals = (unlocated.into_iter().map(|d| (d, Reason::NoLocation)))
        .chain(coarse.into_iter().map(|d| (d, Reason::CoarseLocation)));
    for (device, reason) in refusals {
        *out.entry(device)
            .or_default()
            .refused
            .entry(reason)
            .or_default() += 1;
    }
    out
}
