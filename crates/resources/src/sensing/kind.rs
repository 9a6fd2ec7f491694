//! The sensing sub-network behind the plug-in traits: readings are its reports (any device may
//! send them for uptime; a station's are kept for the scorer), and its stations are judged by
//! [`super::score::sensing_outcomes`] with their pasts read from the chain.

use super::rules::SensingRules;
use super::score::{sensing_outcomes, SensingInputs};
use super::series::Reading;
use crate::context::{DeviceInfo, EpochContext};
use crate::counted::TallyResult;
use crate::reason::Reason;
use crate::rule::short_tag;
use crate::subnet::{
    live, ChainInputs, DeviceOutcome, InputError, Judged, KeptReport, ReportRule, Slot, Subnet,
};
use cairn_types::codec;
use cairn_types::report::{ReportBody, ReportKind, ReportPayload, MAX_SENSOR_NAME_BYTES};
use cairn_types::{DeviceId, Hash, Subnetwork};

/// A counted reading of a sensing station, as the scorer reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SensorReading {
    /// The sensor's name.
    pub sensor: String,
    /// When (device time, ms) and what it read (thousandths of the unit).
    pub reading: Reading,
}

/// What a station's counted reading keeps: its sensor, time and value.
pub fn kept_reading(id: [u8; 16], reading: &SensorReading) -> KeptReport {
    let bytes = codec::encode(&(
        reading.sensor.clone(),
        reading.reading.time_ms,
        reading.reading.value,
    ));
    KeptReport {
        kind: ReportKind::Reading,
        id,
        bytes: bytes.into_boxed_slice(),
    }
}

/// A kept reading, decoded.
pub fn sensor_reading(kept: &KeptReport) -> Option<SensorReading> {
    let (sensor, time_ms, value): (String, u64, i64) =
        codec::decode(&kept.bytes, MAX_SENSOR_NAME_BYTES + 32).ok()?;
    Some(SensorReading {
        sensor,
        reading: Reading { time_ms, value },
    })
}

/// The largest encoded reading accepted (about 300 bytes with the longest sensor name), with
/// room.
pub const READING_MAX_BYTES: usize = 512;

/// Sensors counted per device and window (one reading each): beyond this a device's readings
/// of further sensors in the window are refused (`too_many_sensors`).
pub const MAX_SENSORS_PER_WINDOW: usize = 8;

/// Readings: any device's, one per sensor and window, at most [`MAX_SENSORS_PER_WINDOW`]
/// sensors a window; a station's are kept.
struct Readings;

impl ReportRule for Readings {
    fn kind(&self) -> ReportKind {
        ReportKind::Reading
    }

    fn max_bytes(&self) -> usize {
        READING_MAX_BYTES
    }

    fn senders(&self) -> Option<Subnetwork> {
        None
    }

    fn per_window(&self) -> Option<(usize, Reason)> {
        Some((MAX_SENSORS_PER_WINDOW, Reason::TooManySensors))
    }

    fn slot(&self, _: &EpochContext, _: &DeviceId, body: &ReportBody) -> Result<Slot, Reason> {
        let tag = match &body.payload {
            ReportPayload::Reading { sensor, .. } => {
                short_tag(Hash::domain("cairn sensor tag v1", &[sensor.as_str().as_bytes()]).0)
            }
            _ => [0; 8],
        };
        Ok(Slot {
            window: None,
            tag,
            once: None,
        })
    }

    fn keep(&self, info: &DeviceInfo, body: &ReportBody) -> Option<Box<[u8]>> {
        let ReportPayload::Reading {
            sensor,
            value_milli,
        } = &body.payload
        else {
            return None;
        };
        if info.subnetwork != Subnetwork::Sensing {
            return None;
        }
        let reading = SensorReading {
            sensor: sensor.as_str().to_string(),
            reading: Reading {
                time_ms: body.time_ms,
                value: *value_milli,
            },
        };
        Some(kept_reading([0; 16], &reading).bytes)
    }
}

/// The sensing sub-network.
pub struct Sensing {
    rules: SensingRules,
}

impl Sensing {
    /// Sensing under `rules`.
    pub fn new(rules: SensingRules) -> Sensing {
        Sensing { rules }
    }
}

impl Subnet for Sensing {
    fn subnetwork(&self) -> Subnetwork {
        Subnetwork::Sensing
    }

    fn report_rules(&self) -> Vec<Box<dyn ReportRule>> {
        vec![Box::new(Readings)]
    }

    fn judge(
        &self,
        ctx: &EpochContext,
        tally: &TallyResult,
        chain: &dyn ChainInputs,
    ) -> Result<Judged, InputError> {
        let stations: Vec<DeviceId> = live(tally, Subnetwork::Sensing)
            .map(|(id, _)| *id)
            .collect();
        let mut history = chain
            .station_history(&stations)
            .map_err(|reason| InputError {
                what: format!("history of {} sensing stations", stations.len()),
                reason,
            })?;
        for station in &stations {
            history.entry(*station).or_default();
        }
        let inputs = SensingInputs {
            rules: self.rules.clone(),
            epoch: ctx.epoch,
            bounds: (ctx.start_ms, ctx.end_ms),
            window_ms: ctx.window_ms,
            history,
        };
        let devices = sensing_outcomes(tally, &inputs)
            .into_iter()
            .map(|(id, o)| {
                let outcome = DeviceOutcome {
                    points: o.points,
                    refused: o.refused,
                    denylisted: Vec::new(),
                    quality_bps: Some(o.quality_bps),
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
