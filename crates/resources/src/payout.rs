//! From an epoch's tally to rewards: each sub-network's pool split among its devices by the
//! points its judgement gave them ([`crate::subnet::Subnet::judge`]), in the way it splits
//! ([`crate::subnet::Subnet::split`]: pro rata unless it says otherwise), each device's reward
//! paid to its owner at the epoch's last block.
//!
//! Each share rounds down ([`crate::split`]); the residue of each pool is left unallocated, and
//! the ledger sends what a root does not allocate to the treasury. A pool with no registered
//! sub-network is all residue.

use crate::counted::{DeviceResult, TallyResult};
use crate::kinds::Kinds;
use crate::reason::Reason;
use crate::subnet::{DeviceOutcome, Judged};
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
    /// A sensing station's quality of data for the epoch, in basis points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_bps: Option<u64>,
}

/// Each sub-network's judgement of the epoch, by slot.
pub type Outcomes = BTreeMap<Subnetwork, Judged>;

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

/// A device's outcome under its sub-network's judgement, if it had one.
fn outcome_of<'a>(
    id: &DeviceId,
    d: &DeviceResult,
    outcomes: &'a Outcomes,
) -> Option<&'a DeviceOutcome> {
    outcomes.get(&d.info.subnetwork)?.devices.get(id)
}

/// Splits each sub-network's `pools` among the tallied devices by the points of their
/// sub-network's judgement (`outcomes`), as `kinds` split.
pub fn pay(
    tally: &TallyResult,
    pools: &BTreeMap<Subnetwork, Amount>,
    kinds: &Kinds,
    outcomes: &Outcomes,
) -> EpochPayout {
    let points_of =
        |id: &DeviceId, d: &DeviceResult| outcome_of(id, d, outcomes).map_or(0, |o| o.points);
    let mut payout = EpochPayout::default();
    let mut rewards: BTreeMap<DeviceId, Amount> = BTreeMap::new();
    for (subnetwork, pool) in pools {
        let points: Vec<(DeviceId, u64)> = tally
            .devices
            .iter()
            .filter(|(_, d)| d.info.subnetwork == *subnetwork && !d.info.retired)
            .map(|(id, d)| (*id, points_of(id, d)))
            .collect();
        let (shares, residue) = match kinds.get(*subnetwork) {
            Some(kind) => kind.split(*pool, &points),
            None => (Vec::new(), *pool),
        };
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
        .map(|(id, d)| {
            let outcome = outcome_of(id, d, outcomes);
            let mut rejected = d.rejected.clone();
            for (reason, n) in outcome.into_iter().flat_map(|o| &o.refused) {
                *rejected.entry(*reason).or_default() += n;
            }
            DevicePayout {
                device: *id,
                owner: d.info.owner,
                subnetwork: d.info.subnetwork,
                cell: d.info.location.map(|c| c.coarsened(PUBLISHED_RESOLUTION)),
                points: outcome.map_or(0, |o| o.points),
                reports: d.reports,
                reward: rewards.get(id).copied().unwrap_or(Amount::ZERO),
                rejected,
                denylisted: outcome.map(|o| o.denylisted.clone()).unwrap_or_default(),
                quality_bps: outcome.and_then(|o| o.quality_bps),
            }
        })
        .collect();
    payout
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::DeviceInfo;
    use crate::kinds::standard;
    use cairn_types::SecretKey;
    use proptest::prelude::*;

    /// Each live device's points: its windows (what an uptime judgement gives; here for every
    /// kind, to test the split alone).
    fn windows_as_points(t: &TallyResult) -> Outcomes {
        let mut outcomes = Outcomes::new();
        for (id, d) in t.devices.iter().filter(|(_, d)| !d.info.retired) {
            outcomes
                .entry(d.info.subnetwork)
                .or_default()
                .devices
                .insert(
                    *id,
                    DeviceOutcome {
                        points: d.windows,
                        ..DeviceOutcome::default()
                    },
                );
        }
        outcomes
    }

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
                                maker_revoked: false,
                                location: None,
                            },
                            windows: *windows,
                            reports: *windows,
                            kept: Vec::new(),
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
            (1, 50, Subnetwork::Storage, 3),
            (2, 50, Subnetwork::Storage, 1),
            (3, 51, Subnetwork::Storage, 2),
            (4, 51, Subnetwork::Connectivity, 5),
        ]);
        let pools = BTreeMap::from([
            (Subnetwork::Storage, Amount(600)),
            (Subnetwork::Connectivity, Amount(7)),
        ]);
        let p = pay(&t, &pools, standard(), &windows_as_points(&t));
        let owner = |n: u8| Address(SecretKey::from_seed([n; 32]).public_key());
        assert_eq!(p.owners[&(Subnetwork::Storage, owner(50))], Amount(400));
        assert_eq!(p.owners[&(Subnetwork::Storage, owner(51))], Amount(200));
        // Connectivity in buckets: 70% of 7 by bytes (4, rounded down), nobody over the
        // threshold, 5% equally (0): 3 left.
        assert_eq!(p.owners[&(Subnetwork::Connectivity, owner(51))], Amount(4));
        assert_eq!(p.residue[&Subnetwork::Connectivity], Amount(3));
        assert_eq!(p.residue[&Subnetwork::Storage], Amount(0));
        let total: u128 = p.devices.iter().map(|d| d.reward.0).sum();
        assert_eq!(total, 604);
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
                    let s = if *coverage { Subnetwork::Connectivity } else { Subnetwork::Storage };
                    (i as u8, 100 + owner, s, *w)
                })
                .collect();
            let t = tally(&devices);
            let pools = BTreeMap::from([
                (Subnetwork::Storage, Amount(pool)),
                (Subnetwork::Connectivity, Amount(pool / 3)),
            ]);
            let p = pay(&t, &pools, standard(), &windows_as_points(&t));
            for (s, pool) in &pools {
                let paid: u128 = p.owners.iter().filter(|((sub, _), _)| sub == s).map(|(_, a)| a.0).sum();
                let by_device: u128 = p.devices.iter().filter(|d| d.subnetwork == *s).map(|d| d.reward.0).sum();
                prop_assert_eq!(paid, by_device);
                prop_assert_eq!(paid + p.residue[s].0, pool.0);
            }
        }
    }
}
