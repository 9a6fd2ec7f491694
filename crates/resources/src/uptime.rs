//! Uptime: heartbeats, which every device sends, and the rule that pays a sub-network whose own
//! verifier has not plugged in yet (storage, compute, energy today): a device earns a point for
//! each window of the epoch in which at least one of its reports counted.

use crate::context::{DeviceInfo, EpochContext};
use crate::counted::TallyResult;
use crate::subnet::{
    live, ChainInputs, DeviceOutcome, InputError, Judged, ReportRule, Slot, Subnet,
};
use cairn_types::report::{ReportBody, ReportKind};
use cairn_types::{DeviceId, Subnetwork};

/// The largest encoded heartbeat (a session certificate, a body and a signature: about 250
/// bytes), with room.
pub const HEARTBEAT_MAX_BYTES: usize = 512;

/// Heartbeats: any device's, once per window, keeping nothing.
pub struct Heartbeats;

impl ReportRule for Heartbeats {
    fn kind(&self) -> ReportKind {
        ReportKind::Heartbeat
    }

    fn max_bytes(&self) -> usize {
        HEARTBEAT_MAX_BYTES
    }

    fn senders(&self) -> Option<Subnetwork> {
        None
    }

    fn slot(
        &self,
        _: &EpochContext,
        _: &DeviceId,
        _: &ReportBody,
    ) -> Result<Slot, crate::reason::Reason> {
        Ok(Slot {
            window: None,
            tag: [0; 8],
            once: None,
        })
    }

    fn keep(&self, _: &DeviceInfo, _: &ReportBody) -> Option<Box<[u8]>> {
        None
    }
}

/// A sub-network paid for uptime: points are windows with a counted report.
pub struct Uptime(pub Subnetwork);

impl Subnet for Uptime {
    fn subnetwork(&self) -> Subnetwork {
        self.0
    }

    fn report_rules(&self) -> Vec<Box<dyn ReportRule>> {
        Vec::new()
    }

    fn judge(
        &self,
        _: &EpochContext,
        tally: &TallyResult,
        _: &dyn ChainInputs,
    ) -> Result<Judged, InputError> {
        let devices = live(tally, self.0)
            .map(|(id, d)| {
                let outcome = DeviceOutcome {
                    points: d.windows,
                    ..DeviceOutcome::default()
                };
                (*id, outcome)
            })
            .collect();
        Ok(Judged {
            devices,
            settlements: Vec::new(),
        })
    }
}
