//! The coverage rules a network runs with, and their defaults (Helium's, where it has one).

use super::region::RegionPlan;
use serde::{Deserialize, Serialize};

/// One level of density scaling: in a cell of `resolution`, devices beyond `target` share the
/// reward of `target` devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DensityLevel {
    /// The H3 resolution of the cells counted.
    pub resolution: u8,
    /// Devices a cell is paid for in full.
    pub target: u32,
}

/// The coverage sub-network's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageRules {
    /// Slots each window is split into; a device's beacon counts only in its own slot
    /// ([`super::beacon::slot_of`]), so it cannot pick its time.
    pub beacon_slots_per_window: u64,
    /// How long after its block a block's digest is valid entropy for a beacon (ms).
    pub entropy_valid_ms: u64,
    /// Most a witness's time may differ from the beacon's (ms): both clocks are set from the
    /// oracles, and radio is instantaneous.
    pub witness_late_ms_max: u64,
    /// Most a witness's frequency may differ from the beacon's (kHz).
    pub frequency_tolerance_khz: u32,
    /// Nearest a witness may be to the beaconer (m): nearer proves no coverage.
    pub witness_distance_m_min: u64,
    /// Farthest a witness may be from the beaconer (m).
    pub witness_distance_m_max: u64,
    /// Allowance over free-space path loss for the receiving antenna's gain and local effects,
    /// in centi-dB (1,200 = 12 dB).
    pub gain_allowance_cdb: i32,
    /// Witnesses counted per beacon: the first ones by time, then id.
    pub witnesses_per_beacon_max: usize,
    /// Resolution of the cell a witness ring is crowded into ([`super::ring`]); 7 is about
    /// 5 km².
    pub ring_resolution: u8,
    /// Fewest devices a cut-off, crowded group needs to be a ring.
    pub ring_devices_min: usize,
    /// Density scaling, finest level first.
    pub density: Vec<DensityLevel>,
    /// Where each radio region applies.
    pub regions: RegionPlan,
}

impl Default for CoverageRules {
    fn default() -> Self {
        CoverageRules {
            beacon_slots_per_window: 4,
            entropy_valid_ms: 180_000,
            witness_late_ms_max: 2_000,
            frequency_tolerance_khz: 100,
            // Helium: 8 resolution-11 cells (about 400 m) and 100 km.
            witness_distance_m_min: 400,
            witness_distance_m_max: 100_000,
            gain_allowance_cdb: 1_200,
            witnesses_per_beacon_max: 14,
            ring_resolution: 7,
            ring_devices_min: 2,
            density: vec![
                DensityLevel {
                    resolution: 10,
                    target: 1,
                },
                DensityLevel {
                    resolution: 8,
                    target: 4,
                },
                DensityLevel {
                    resolution: 6,
                    target: 25,
                },
            ],
            regions: RegionPlan::default(),
        }
    }
}
