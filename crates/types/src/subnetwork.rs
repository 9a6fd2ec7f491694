//! The sub-networks (one per resource kind) and the emission split between them.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A resource kind: each has its own devices, rewards and data-credit spending.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum Subnetwork {
    /// Disk space: erasure-coded, audited storage.
    Storage = 0,
    /// Wireless coverage: beacons and witnesses.
    Coverage = 1,
    /// Sensors scored on data quality.
    Sensing = 2,
    /// Paid data transfer.
    Connectivity = 3,
    /// Compute leases.
    Compute = 4,
    /// Energy market slots.
    Energy = 5,
}

impl Subnetwork {
    /// Every sub-network, in a fixed order (the order of [`EmissionWeights::subnetworks_bps`]).
    pub const ALL: [Subnetwork; 6] = [
        Subnetwork::Storage,
        Subnetwork::Coverage,
        Subnetwork::Sensing,
        Subnetwork::Connectivity,
        Subnetwork::Compute,
        Subnetwork::Energy,
    ];

    /// Position in [`Subnetwork::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Subnetwork::Storage => "storage",
            Subnetwork::Coverage => "coverage",
            Subnetwork::Sensing => "sensing",
            Subnetwork::Connectivity => "connectivity",
            Subnetwork::Compute => "compute",
            Subnetwork::Energy => "energy",
        }
    }
}

impl fmt::Display for Subnetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why text is not a sub-network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sub-network `{0}` (storage, coverage, sensing, connectivity, compute, energy)")]
pub struct SubnetworkParseError(pub String);

impl FromStr for Subnetwork {
    type Err = SubnetworkParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Subnetwork::ALL
            .into_iter()
            .find(|n| n.name() == s)
            .ok_or_else(|| SubnetworkParseError(s.to_string()))
    }
}

/// Basis points in a whole (100%).
pub const BPS_DENOMINATOR: u64 = 10_000;

/// How each epoch's emission is split, in basis points summing to exactly 10,000.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct EmissionWeights {
    /// Share of each sub-network, in the order of [`Subnetwork::ALL`].
    pub subnetworks_bps: [u16; 6],
    /// Share paid to the epoch's validators, pro rata to stake.
    pub validators_bps: u16,
    /// Share paid to the treasury (plus every rounding residue).
    pub treasury_bps: u16,
}

impl EmissionWeights {
    /// Sum of all shares; valid weights sum to [`BPS_DENOMINATOR`].
    pub fn total_bps(&self) -> u64 {
        self.subnetworks_bps
            .iter()
            .map(|&b| u64::from(b))
            .sum::<u64>()
            + u64::from(self.validators_bps)
            + u64::from(self.treasury_bps)
    }

    /// True when the shares sum to exactly 100%.
    pub fn is_valid(&self) -> bool {
        self.total_bps() == BPS_DENOMINATOR
    }

    /// Share of one sub-network.
    pub fn subnetwork_bps(&self, subnetwork: Subnetwork) -> u16 {
        self.subnetworks_bps[subnetwork.index()]
    }
}

impl Default for EmissionWeights {
    fn default() -> Self {
        EmissionWeights {
            subnetworks_bps: [1500, 1500, 1000, 1000, 1000, 1000],
            validators_bps: 1500,
            treasury_bps: 1500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_default_weights_are_whole() {
        for n in Subnetwork::ALL {
            assert_eq!(n.name().parse::<Subnetwork>(), Ok(n));
        }
        assert!("wifi".parse::<Subnetwork>().is_err());
        assert!(EmissionWeights::default().is_valid());
    }
}
