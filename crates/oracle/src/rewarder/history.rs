//! What the chain says of a sensing station's past, read from a node at the epoch's last
//! block: when it was registered (seniority) and the reward epoch its location last changed in.
//!
//! A move is an assertion whose cell differs from the one before it; asserting the same cell
//! again is not a move. A read that fails is an error and the epoch is computed again later.

use super::HistorySource;
use crate::chain::client::NodeClient;
use cairn_ledger::state::records::{DeviceRecord, LocationEntry};
use cairn_ledger::StateKey;
use cairn_resources::sensing::score::StationHistory;
use cairn_types::epoch::RewardClock;
use cairn_types::DeviceId;

/// A history source over `client` at `last_height`, placing moves in reward epochs by `clock`.
pub fn history_at(
    client: &NodeClient,
    clock: RewardClock,
    last_height: u64,
) -> impl Fn(&DeviceId) -> Result<StationHistory, String> + '_ {
    move |device| {
        let at = Some(last_height);
        let record: Option<DeviceRecord> = client
            .state(&StateKey::Device(*device), at)
            .map_err(|e| e.to_string())?;
        let Some(record) = record else {
            return Ok(StationHistory::default());
        };
        let mut history = StationHistory {
            registered_height: record.registered_height,
            moved_epoch: None,
        };
        let count = record.location_count;
        if count >= 2 {
            let entry = |index: u32| -> Result<Option<LocationEntry>, String> {
                client
                    .state(&StateKey::DeviceLocation(*device, index), at)
                    .map_err(|e| e.to_string())
            };
            if let (Some(last), Some(before)) = (entry(count - 1)?, entry(count - 2)?) {
                if last.cell != before.cell {
                    history.moved_epoch = Some(clock.reward_epoch_at(last.height).0);
                }
            }
        }
        Ok(history)
    }
}

/// No history at all: every station registered at 0 and never moved (tests).
pub fn no_history() -> HistorySource<'static> {
    &|_| Ok(StationHistory::default())
}
