//! The coverage sub-network behind the plug-in traits: beacons and witnesses are its reports,
//! kept whole for the scorer; its devices are judged by [`super::collect::coverage_outcomes`]
//! against the blocks their beacons name and the epoch's denylist.

use super::collect::{coverage_outcomes, entropy_heights, CoverageInputs};
use super::rules::CoverageRules;
use crate::context::{DeviceInfo, EpochContext};
use crate::counted::TallyResult;
use crate::reason::Reason;
use crate::rule::short_tag;
use crate::subnet::{
    ChainInputs, DeviceOutcome, InputError, Judged, KeptReport, ReportRule, Slot, Subnet,
};
use cairn_types::codec;
use cairn_types::report::{ReportBody, ReportKind, ReportPayload, MAX_REPORT_BYTES};
use cairn_types::{DeviceId, Subnetwork};

/// A counted beacon or witness, as the scorer reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoverageReport {
    /// The first 16 bytes of the report's id (the tie-break among witnesses of one time).
    pub id: [u8; 16],
    /// The report's body.
    pub body: ReportBody,
}

/// A kept beacon or witness, decoded.
pub fn coverage_report(kept: &KeptReport) -> Option<CoverageReport> {
    let body = codec::decode(&kept.bytes, MAX_REPORT_BYTES).ok()?;
    Some(CoverageReport { id: kept.id, body })
}

/// The largest encoded beacon or witness accepted (about 330 bytes), with room.
pub const COVERAGE_REPORT_MAX_BYTES: usize = 512;

/// Witness reports counted per device and window (one per beacon heard): beyond this a
/// device's further witnesses of the window are refused (`too_many_witnesses`), so a device
/// cannot make the tally grow by claiming to hear everything.
pub const MAX_WITNESSES_PER_WINDOW: usize = 32;

/// Beacons and witnesses: coverage devices' only; a witness is counted per beacon heard, at
/// most [`MAX_WITNESSES_PER_WINDOW`] a window. Both keep their whole body.
struct CoverageRule(ReportKind);

impl ReportRule for CoverageRule {
    fn kind(&self) -> ReportKind {
        self.0
    }

    fn max_bytes(&self) -> usize {
        COVERAGE_REPORT_MAX_BYTES
    }

    fn senders(&self) -> Option<Subnetwork> {
        Some(Subnetwork::Coverage)
    }

    fn per_window(&self) -> Option<(usize, Reason)> {
        (self.0 == ReportKind::Witness)
            .then_some((MAX_WITNESSES_PER_WINDOW, Reason::TooManyWitnesses))
    }

    fn slot(&self, _: &EpochContext, _: &DeviceId, body: &ReportBody) -> Result<Slot, Reason> {
        let tag = match &body.payload {
            ReportPayload::Witness { data, .. } => short_tag(data.0),
            _ => [0; 8],
        };
        Ok(Slot {
            window: None,
            tag,
            once: None,
        })
    }

    fn keep(&self, _: &DeviceInfo, body: &ReportBody) -> Option<Box<[u8]>> {
        Some(codec::encode(body).into_boxed_slice())
    }
}

/// The coverage sub-network.
pub struct Coverage {
    rules: CoverageRules,
}

impl Coverage {
    /// Coverage under `rules`.
    pub fn new(rules: CoverageRules) -> Coverage {
        Coverage { rules }
    }
}

impl Subnet for Coverage {
    fn subnetwork(&self) -> Subnetwork {
        Subnetwork::Coverage
    }

    fn report_rules(&self) -> Vec<Box<dyn ReportRule>> {
        vec![
            Box::new(CoverageRule(ReportKind::Beacon)),
            Box::new(CoverageRule(ReportKind::Witness)),
        ]
    }

    fn judge(
        &self,
        ctx: &EpochContext,
        tally: &TallyResult,
        chain: &dyn ChainInputs,
    ) -> Result<Judged, InputError> {
        let heights: Vec<u64> = entropy_heights(tally).into_iter().collect();
        let entropy = chain.entropy(&heights).map_err(|reason| InputError {
            what: format!("{} blocks named as beacon entropy", heights.len()),
            reason,
        })?;
        let inputs = CoverageInputs {
            rules: self.rules.clone(),
            denylist: chain.denylist().clone(),
            entropy,
        };
        let devices = coverage_outcomes(tally, &inputs, ctx.window_ms)
            .into_iter()
            .map(|(id, o)| {
                let outcome = DeviceOutcome {
                    points: o.points,
                    refused: o.refused,
                    denylisted: o.denylisted,
                    quality_bps: None,
                };
                (id, outcome)
            })
            .collect();
        Ok(Judged {
            devices,
            settlements: Vec::new(),
        })
    }
}
