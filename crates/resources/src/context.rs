//! What a verifier checks a report against: the epoch, its rules and the device registry, all
//! taken from the ledger state at the epoch's last block.

use cairn_types::params::ChainId;
use cairn_types::{Address, Cell, DeviceId, Subnetwork};

/// One reward epoch's bounds and rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochContext {
    /// The chain reports are signed for.
    pub chain_id: ChainId,
    /// The reward epoch.
    pub epoch: u64,
    /// Time of the epoch's first block (ms; the genesis time for epoch 0).
    pub start_ms: u64,
    /// Time of the block that ends it (the first block of the next epoch), exclusive.
    pub end_ms: u64,
    /// Length of an uptime window (`uptime_window_secs`), in ms; at least 1.
    pub window_ms: u64,
    /// Most the device's time and the receive time may differ (`report_skew_max_secs`), in ms.
    pub skew_ms: u64,
}

impl EpochContext {
    /// The window a device time falls in (its number since the Unix epoch).
    pub fn window_of(&self, time_ms: u64) -> u64 {
        time_ms / self.window_ms.max(1)
    }

    /// True when `window` starts within the epoch.
    pub fn holds_window(&self, window: u64) -> bool {
        let start = window.saturating_mul(self.window_ms.max(1));
        start >= self.start_ms && start < self.end_ms
    }

    /// The windows that start within the epoch: the most uptime points a device can earn.
    pub fn windows_in_epoch(&self) -> u64 {
        let w = self.window_ms.max(1);
        let first = self.start_ms.div_ceil(w);
        let end = self.end_ms.div_ceil(w);
        end.saturating_sub(first)
    }
}

/// What the ledger says about a device at the epoch's last block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Its owner then: the account paid for the epoch.
    pub owner: Address,
    /// Its sub-network: whose pool it is paid from.
    pub subnetwork: Subnetwork,
    /// Retired devices earn nothing.
    pub retired: bool,
    /// Its asserted location, if any.
    pub location: Option<Cell>,
}

/// The device registry at the epoch's last block.
pub trait Registry {
    /// The device's record, if it is registered.
    fn device(&self, device: &DeviceId) -> Option<DeviceInfo>;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_belong_to_the_epoch_they_start_in() {
        let ctx = EpochContext {
            chain_id: ChainId::new("t").unwrap(),
            epoch: 0,
            start_ms: 10_500,
            end_ms: 40_500,
            window_ms: 10_000,
            skew_ms: 0,
        };
        // Windows start at 20,000 and 30,000 (10,000 starts before the epoch, 40,000 in it).
        assert!(!ctx.holds_window(ctx.window_of(15_000)));
        assert!(ctx.holds_window(ctx.window_of(25_000)));
        assert!(ctx.holds_window(ctx.window_of(40_400)));
        assert!(!ctx.holds_window(ctx.window_of(50_000)));
        assert_eq!(ctx.windows_in_epoch(), 3);
    }
}
