//! What a verifier checks a report against: the epoch, its rules and the device registry, all
//! taken from the ledger state at the epoch's last block; and what the chain says besides that
//! a sub-network reads (the coverage denylist, sensing stations' pasts).

use cairn_types::params::ChainId;
use cairn_types::{Address, Cell, DeviceId, Subnetwork};
use std::collections::BTreeMap;

/// One reward epoch's bounds and rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochContext {
    /// The chain reports are signed for.
    pub chain_id: ChainId,
    /// The reward epoch.
    pub epoch: u64,
    /// Time of the epoch's first block (ms).
    pub start_ms: u64,
    /// Time of the block that ends it (the first block of the next epoch), exclusive.
    pub end_ms: u64,
    /// Length of an uptime window (`uptime_window_secs`), in ms; at least 1.
    pub window_ms: u64,
    /// Most the device's time may be ahead of the receive time (`report_skew_max_secs`), in ms.
    pub skew_ms: u64,
    /// Most the receive time may be after the device's time (`report_delay_max_secs`), in ms.
    pub delay_ms: u64,
}

impl EpochContext {
    /// The window a device time falls in (its number since the Unix epoch).
    pub fn window_of(&self, time_ms: u64) -> u64 {
        time_ms / self.window_ms.max(1)
    }

    /// True when a report made at `time_ms` and received at `received_ms` came in time: not
    /// more than `delay_ms` after it was made, and not more than `skew_ms` before.
    pub fn in_time(&self, time_ms: u64, received_ms: u64) -> bool {
        if received_ms >= time_ms {
            received_ms - time_ms <= self.delay_ms
        } else {
            time_ms - received_ms <= self.skew_ms
        }
    }

    /// True when a report made at `time_ms` belongs to the epoch: `start_ms ≤ time < end_ms`.
    /// (A window that straddles the end of an epoch is counted, at most once, on each side:
    /// every device has the same chance, so the pro-rata split is unchanged, and an oracle can
    /// close an epoch as soon as its end plus the allowed skew has passed.)
    pub fn holds_time(&self, time_ms: u64) -> bool {
        time_ms >= self.start_ms && time_ms < self.end_ms
    }

    /// The windows that meet the epoch: the most uptime points a device can earn in it.
    pub fn windows_in_epoch(&self) -> u64 {
        if self.end_ms <= self.start_ms {
            return 0;
        }
        let w = self.window_ms.max(1);
        (self.end_ms - 1) / w - self.start_ms / w + 1
    }
}

/// What the ledger says about a device at the epoch's last block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct DeviceInfo {
    /// Its owner then: the account paid for the epoch.
    pub owner: Address,
    /// Its sub-network: whose pool it is paid from.
    pub subnetwork: Subnetwork,
    /// Retired devices earn nothing.
    pub retired: bool,
    /// Its maker's approval was revoked by governance before the epoch tallied (the registry
    /// the rewarder reads decides, from the maker's record): it earns nothing.
    pub maker_revoked: bool,
    /// Its asserted location, if any.
    pub location: Option<Cell>,
}

/// The device registry at the epoch's last block.
pub trait Registry {
    /// The device's record, if it is registered.
    fn device(&self, device: &DeviceId) -> Option<DeviceInfo>;

    /// Told the devices about to be looked up, before they are: a registry read from a node
    /// reads them together, in bulk. Nothing by default.
    fn prefetch(&self, _devices: &[DeviceId]) {}
}

impl<S: std::hash::BuildHasher> Registry for std::collections::HashMap<DeviceId, DeviceInfo, S> {
    fn device(&self, device: &DeviceId) -> Option<DeviceInfo> {
        self.get(device).copied()
    }
}

impl Registry for std::collections::BTreeMap<DeviceId, DeviceInfo> {
    fn device(&self, device: &DeviceId) -> Option<DeviceInfo> {
        self.get(device).copied()
    }
}

/// Devices and beaconer-witness pairs that earn nothing from coverage, each with its reason,
/// committed with the epoch by 2/3 of oracle stake; owners see the reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Denylist {
    /// Denied devices and why.
    pub devices: BTreeMap<DeviceId, String>,
    /// Denied (beaconer, witness) pairs and why.
    pub edges: BTreeMap<(DeviceId, DeviceId), String>,
}

/// What the chain says of a station's past, for seniority and relocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StationHistory {
    /// The height it was registered at (lower is older).
    pub registered_height: u64,
    /// The reward epoch its location last changed in, if it ever moved.
    pub moved_epoch: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_belong_to_the_epoch_of_their_time() {
        let ctx = EpochContext {
            chain_id: ChainId::new("t").unwrap(),
            epoch: 0,
            start_ms: 10_500,
            end_ms: 40_500,
            window_ms: 10_000,
            skew_ms: 100,
            delay_ms: 1_000,
        };
        assert!(ctx.in_time(5_000, 6_000));
        assert!(!ctx.in_time(5_000, 6_001));
        assert!(ctx.in_time(5_100, 5_000));
        assert!(!ctx.in_time(5_101, 5_000));
        assert!(!ctx.holds_time(10_499));
        assert!(ctx.holds_time(10_500));
        assert!(ctx.holds_time(40_499));
        assert!(!ctx.holds_time(40_500));
        // Windows 1 (10,000-20,000, in part) to 4 (40,000-50,000, in part).
        assert_eq!(ctx.windows_in_epoch(), 4);
        assert_eq!(ctx.window_of(40_499), 4);
    }
}
