//! From an epoch's tally to rewards: each sub-network's pool split among its devices pro rata
//! to their points, each device's reward paid to its owner at the epoch's last block.
//!
//! Points per sub-network:
//! - coverage: the coverage policy's points ([`crate::coverage::score`]): beacons witnessed and
//!   witnesses counted, with reciprocity, rings and density scaling;
//! - every other kind, until its own verifier plugs in, the uptime policy: the windows of the
//!   epoch in which the device delivered at least one valid report.
//!
//! Each share rounds down ([`crate::split`]); the residue of each pool is left unallocated, and
//! the ledger sends what a root does not allocate to the treasury.

use crate::coverage::score::CoverageOutcome;
use crate::reason::Reason;
use crate::split::split_pro_rata;
use crate::tally::{DeviceResult, TallyResult};
use cairn_types::{Address, Amount, Cell, DeviceId, Subnetwork};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Resolution of the locations published with rewards: no finer than this.
pub const PUBLISHED_RESOLUTION: u8 = 8;

/// One device's outcome for the epoch, as owners see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePayout {
    /// The device.
    pub device: DeviceId,
    /// Its owner at the epoch's last block (the account paid).
    pub owner: Address,
    /// Its sub-network.
    pub subnetwork: Subnetwork,
    /// Its location, no finer than [`PUBLISHED_RESOLUTION`].
    pub cell: Option<Cell>,
    /// Points earned (uptime windows).
    pub points: u64,
    /// Reports counted.
    pub reports: u64,
    /// Reward for the epoch.
    pub reward: Amount,
    /// Copies refused, by reason code.
    pub rejected: BTreeMap<Reason, u64>,
    /// Why the epoch's denylist names the device (coverage only; empty if it does not).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denylisted: Vec<String>,
}

/// An epoch's rewards.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EpochPayout {
    /// Every device that reported, by id.
    pub devices: Vec<DevicePayout>,
    /// Each owner's reward for the epoch, per sub-network.
    pub owners: BTreeMap<(Subnetwork, Address), Amount>,
    /// What each pool left unallocated (rounding, or no device earned points).
    pub residue: BTreeMap<Subnetwork, Amount>,
}

/// A device's points under its sub-network's policy.
fn points_of(
    id: &DeviceId,
    d: &DeviceResult,
    coverage: &BTreeMap<DeviceId, CoverageOutcome>,
) -> u64 {
    match d.info.subnetwork {
        Subnetwork::Coverage => coverage.get(id).map_or(0, |o| o.points),
        _ => d.windows,
    }
}

/// Splits each sub-network's `pools` among the tallied devices by points; `coverage` holds the
/// coverage devices' outcomes ([`crate::coverage::collect::coverage_outcomes`]).
pub fn pay(
    tally: &TallyResult,
    pools: &BTreeMap<Subnetwork, Amount>,
    coverage: &BTreeMap<DeviceId, CoverageOutcome>,
) -> EpochPayout {
    let mut payout = EpochPayout::default();
    let mut rewards: BTreeMap<DeviceId, Amount> = BTreeMap::new();
    for (subnetwork, pool) in pools {
        let points: Vec<(DeviceId, u64)> = tally
            .devices
            .iter()
            .filter(|(_, d)| d.info.subnetwork == *subnetwork && !d.info.retired)
            .map(|(id, d)| (*id, points_of(id, d, coverage)))
            .collect();
        let (shares, residue) = split_pro_rata(*pool, &points);
        payout.residue.insert(*subnetwork, residue);
        for (device, reward) in shares {
            let (Some(d), false) = (tally.devices.get(&device), reward.is_zero()) else {
                continue;
            };
            rewards.insert(device, reward);
            let owed = payout
                .owners
                .entry((*subnetwork, d.info.owner))
                .or_insert(Amount::ZERO);
            // The shares of one pool sum to at most the pool: this never saturates.
            *owed = Amount(owed.0.saturating_add(reward.0));
        }
    }
    payout.devices = tally
        .devices
        .iter()
        .map(|(id, d)| DevicePayout {
            device: *id,
            owner: d.info.owner,
            subnetwork: d.info.subnetwork,
            cell: d.info.location.map(|c| c.coarsened(PUBLISHED_RESOLUTION)),
            points: points_of(id, d, coverage),
            reports: d.reports,
            reward: rewards.get(id).copied().unwrap_or(Amount::ZERO),
            rejected: merged_refusals(d, coverage.get(id)),
            denylisted: coverage
                .get(id)
                .map(|o| o.denylisted.clone())
                .unwrap_or_default(),
        })
        .collect();
    payout
}

/// The tally's refusals of a device's copies, with the coverage policy's.
fn merged_refusals(d: &DeviceResult, coverage: Option<&CoverageOutcome>) -> BTreeMap<Reason, u64> {
    let mut all = d.rejected.clone();
    for (reason, n) in coverage.map(|o| &o.refused).into_iter().flatten() {
        *all.entry(*reason).or_default() += n;
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::DeviceInfo;
    use cairn_types::SecretKey;
    use proptest::prelude::*;

    fn tally(devices: &[(u8, u8, Subnetwork, u64)]) -> TallyResult {
        TallyResult {
            devices: devices
                .iter()
                .map(|(d, owner, subnetwork, windows)| {
                    (
                        DeviceId(SecretKey::from_seed([*d; 32]).public_key()),
                        DeviceResult {
                            info: DeviceInfo {
                                owner: Address(SecretKey::from_seed([*owner; 32]).public_key()),
                                subnetwork: *subnetwork,
                                retired: false,
                                location: None,
                            },
                            windows: *windows,
                            reports: *windows,
                            coverage: Vec::new(),
                            rejected: BTreeMap::new(),
                        },
                    )
                })
                .collect(),
            unattributed: BTreeMap::new(),
            copies: 0,
        }
    }

    #[test]
    fn owners_are_paid_the_sum_of_their_devices_per_subnetwork() {
        let t = tally(&[
            (1, 50, Subnetwork::Sensing, 3),
            (2, 50, Subnetwork::Sensing, 1),
            (3, 51, Subnetwork::Sensing, 2),
            (4, 51, Subnetwork::Connectivity, 5),
        ]);
        let pools = BTreeMap::from([
            (Subnetwork::Sensing, Amount(600)),
            (Subnetwork::Connectivity, Amount(7)),
        ]);
        let p = pay(&t, &pools, &BTreeMap::new());
        let owner = |n: u8| Address(SecretKey::from_seed([n; 32]).public_key());
        assert_eq!(p.owners[&(Subnetwork::Sensing, owner(50))], Amount(400));
        assert_eq!(p.owners[&(Subnetwork::Sensing, owner(51))], Amount(200));
        assert_eq!(p.owners[&(Subnetwork::Connectivity, owner(51))], Amount(7));
        assert_eq!(p.residue[&Subnetwork::Sensing], Amount(0));
        let total: u128 = p.devices.iter().map(|d| d.reward.0).sum();
        assert_eq!(total, 607);
    }

    proptest! {
        /// Per sub-network, owners are paid exactly the pool minus the residue, never more.
        #[test]
        fn the_split_never_pays_more_than_the_pool(
            windows in proptest::collection::vec((0u64..500, 0u8..4, any::<bool>()), 0..40),
            pool in 0u128..1_000_000_000_000_000,
        ) {
            let devices: Vec<(u8, u8, Subnetwork, u64)> = windows
                .iter()
                .enumerate()
                .map(|(i, (w, owner, coverage))| {
                    let s = if *coverage { Subnetwork::Connectivity } else { Subnetwork::Sensing };
                    (i as u8, 100 + owner, s, *w)
                })
                .collect();
            let t = tally(&devices);
            let pools = BTreeMap::from([
                (Subnetwork::Sensing, Amount(pool)),
                (Subnetwork::Connectivity, Amount(pool / 3)),
            ]);
            let p = pay(&t, &pools, &BTreeMap::new());
            for (s, pool) in &pools {
                let paid: u128 = p.owners.iter().filter(|((sub, _), _)| sub == s).map(|(_, a)| a.0).sum();
                let by_device: u128 = p.devices.iter().filter(|d| d.subnetwork == *s).map(|d| d.reward.0).sum();
                prop_assert_eq!(paid, by_device);
                prop_assert_eq!(paid + p.residue[s].0, pool.0);
            }
        }
    }
}
