//! Connectivity: an epoch's pool shared by the bytes devices carried for payers who signed for
//! them (counted by the tally: both signatures, once per chunk), in the buckets the epoch
//! policy names. By default:
//!
//! | Bucket | Share | To |
//! | --- | --- | --- |
//! | bytes | 70% | pro rata to each device's bytes |
//! | threshold | 25% | equally to devices that carried at least `threshold_bytes` |
//! | equal | 5% | equally to every device that carried at least 1% of `threshold_bytes` |
//!
//! Each bucket is the pool's share rounded down, each device's part of it rounded down
//! ([`split_pro_rata`]); what no device takes (rounding, a bucket nobody qualifies for) is the
//! residue. A device with no bytes takes nothing from any bucket.
//!
//! - [`settlement`]: what each payer owes for the bytes its key signed for, capped by its
//!   delegated credits; the devices' bytes cut to what was paid.
//! - [`kind`]: the sub-network behind the plug-in traits ([`crate::subnet`]): transfers are its
//!   reports, settled and paid in these buckets.

pub mod kind;
pub mod settlement;

use crate::split::split_pro_rata;
use cairn_types::{Amount, DeviceId};
use std::collections::BTreeMap;

/// The epoch policy's buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferPolicy {
    /// Share of the pool split pro rata to bytes, in basis points.
    pub bytes_bps: u64,
    /// Share split equally among devices over the threshold, in basis points.
    pub threshold_bps: u64,
    /// Share split equally among devices with at least 1% of the threshold (so that a byte
    /// does not buy a share), in basis points.
    pub equal_bps: u64,
    /// Bytes in the epoch that put a device over the threshold.
    pub threshold_bytes: u64,
    /// The price of carried bytes, in data credits per MiB (settled from the payers'
    /// delegated credits: [`settlement`]).
    pub dc_per_mib: u64,
}

impl Default for TransferPolicy {
    fn default() -> Self {
        TransferPolicy {
            bytes_bps: 7_000,
            threshold_bps: 2_500,
            equal_bps: 500,
            threshold_bytes: 100 << 20,
            // 50 DC ($0.0005) a MiB: about $0.50 a GiB, Helium Mobile's price of data.
            dc_per_mib: 50,
        }
    }
}

/// Each device's reward from `pool` for its `bytes`, and the residue.
pub fn split_buckets(
    pool: Amount,
    bytes: &[(DeviceId, u64)],
    policy: &TransferPolicy,
) -> (BTreeMap<DeviceId, Amount>, Amount) {
    // Rounded down; shares above 100% in all are cut to the pool.
    let bucket = |bps: u64| Amount(pool.0.saturating_mul(u128::from(bps)) / 10_000);
    let indicator = |keep: &dyn Fn(u64) -> bool| -> Vec<(DeviceId, u64)> {
        bytes
            .iter()
            .map(|(id, b)| (*id, u64::from(*b > 0 && keep(*b))))
            .collect()
    };
    let parts = [
        split_pro_rata(bucket(policy.bytes_bps), bytes).0,
        split_pro_rata(
            bucket(policy.threshold_bps),
            &indicator(&|b| b >= policy.threshold_bytes),
        )
        .0,
        split_pro_rata(
            bucket(policy.equal_bps),
            &indicator(&|b| b >= policy.threshold_bytes / 100),
        )
        .0,
    ];
    let mut rewards: BTreeMap<DeviceId, Amount> = BTreeMap::new();
    let mut paid = 0u128;
    for (id, share) in parts.into_iter().flatten() {
        if share.is_zero() || paid.saturating_add(share.0) > pool.0 {
            continue;
        }
        paid += share.0;
        let r = rewards.entry(id).or_insert(Amount::ZERO);
        *r = Amount(r.0 + share.0);
    }
    (rewards, Amount(pool.0 - paid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::SecretKey;

    fn id(n: u8) -> DeviceId {
        DeviceId(SecretKey::from_seed([n; 32]).public_key())
    }

    #[test]
    fn the_pool_goes_70_by_bytes_25_over_the_threshold_5_equally() {
        let policy = TransferPolicy {
            threshold_bytes: 1_000,
            ..TransferPolicy::default()
        };
        // Device 1 carried 3,000 bytes, device 2 1,000 (both over), device 3 500, device 4 none,
        // device 5 9 bytes (under 1% of the threshold: no equal share).
        let bytes = [
            (id(1), 3_000),
            (id(2), 1_000),
            (id(3), 500),
            (id(4), 0),
            (id(5), 9),
        ];
        let (rewards, residue) = split_buckets(Amount(1_000_000), &bytes, &policy);
        // Bytes: 700,000 × 3000/4509 = 465,735; × 1000/4509 = 155,245; × 500/4509 = 77,622;
        // × 9/4509 = 1,397 (residue 1). Threshold: 250,000 / 2 = 125,000 each to 1 and 2.
        // Equal: 50,000 / 3 = 16,666 to 1, 2 and 3 (residue 2).
        assert_eq!(rewards[&id(1)], Amount(465_735 + 125_000 + 16_666));
        assert_eq!(rewards[&id(2)], Amount(155_245 + 125_000 + 16_666));
        assert_eq!(rewards[&id(3)], Amount(77_622 + 16_666));
        assert_eq!(rewards[&id(5)], Amount(1_397));
        assert!(!rewards.contains_key(&id(4)));
        let paid: u128 = rewards.values().map(|a| a.0).sum();
        assert_eq!(paid + residue.0, 1_000_000);
        assert_eq!(residue, Amount(1 + 2));
    }

    #[test]
    fn nobody_over_the_threshold_leaves_its_bucket_unpaid() {
        let bytes = [(id(1), 10 << 20), (id(2), 30 << 20)];
        let (rewards, residue) = split_buckets(Amount(10_000), &bytes, &TransferPolicy::default());
        assert_eq!(rewards[&id(1)], Amount(1_750 + 250));
        assert_eq!(rewards[&id(2)], Amount(5_250 + 250));
        assert_eq!(residue, Amount(2_500));
        // No bytes at all: the whole pool is residue.
        let (rewards, residue) = split_buckets(Amount(10_000), &[], &TransferPolicy::default());
        assert!(rewards.is_empty());
        assert_eq!(residue, Amount(10_000));
    }
}
