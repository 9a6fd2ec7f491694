//! What the coverage verifier works on: counted beacons and witnesses as the tally hands them
//! over, and the denylist committed with the epoch.

use super::region::Region;
use cairn_types::{Cell, DeviceId, Hash};

/// A beacon, counted by the tally (signed, in time, one per device and window).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Beacon {
    /// The beaconer.
    pub device: DeviceId,
    /// Its asserted location.
    pub location: Cell,
    /// Its region under the plan.
    pub region: Region,
    /// The device's time when it transmitted (ms).
    pub time_ms: u64,
    /// The block digest it took as entropy.
    pub entropy: Hash,
    /// When that block was made (ms), if it is a finalized block of the chain.
    pub entropy_time_ms: Option<u64>,
    /// The transmitted data.
    pub data: Hash,
    /// Transmit frequency (kHz).
    pub frequency_khz: u32,
    /// Transmit power, EIRP (centi-dBm).
    pub tx_power_cdbm: i32,
}

/// A witness of a beacon, counted by the tally (signed, in time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witness {
    /// The witness.
    pub device: DeviceId,
    /// Its asserted location.
    pub location: Option<Cell>,
    /// Its region under the plan, if it has a location.
    pub region: Option<Region>,
    /// The device's time when it heard the beacon (ms).
    pub time_ms: u64,
    /// The beaconer it names.
    pub beaconer: DeviceId,
    /// The beacon data it heard.
    pub data: Hash,
    /// Frequency heard (kHz).
    pub frequency_khz: u32,
    /// Signal strength heard (centi-dBm).
    pub rssi_cdbm: i32,
    /// The first 16 bytes of the witness report's id: the tie-break among witnesses of the
    /// same time.
    pub id: [u8; 16],
}

pub use crate::context::Denylist;
