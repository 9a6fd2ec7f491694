//! What the chain says of a sensing station's past, read from a node at the epoch's last
//! block: when it was registered (seniority) and the reward epoch its location last changed in.
//!
//! A move is an assertion whose cell differs from the one before it; asserting the same cell
//! again is not a move, and does not end the quarantine of the move that brought the station
//! there (the move is dated by the first of the run of assertions of the last cell). A read that fails is an error and the epoch is computed again later.

use super::HistorySource;
use crate::chain::client::NodeClient;
use cairn_ledger::state::records::{DeviceRecord, LocationEntry};
use cairn_ledger::StateKey;
use cairn_resources::sensing::score::StationHistory;
use cairn_types::epoch::RewardClock;
use cairn_types::DeviceId;

/// Most location entries read for one station, newest first.
pub const MAX_ENTRIES_READ: u32 = 64;

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
        // Walk back over re-assertions of the last cell to the assertion that brought the
        // station there: asserting the same cell again does not end a quarantine.
        let entry = |index: u32| -> Result<Option<LocationEntry>, String> {
            client
                .state(&StateKey::DeviceLocation(*device, index), at)
                .map_err(|e| e.to_string())
        };
        let count = record.location_count;
        let Some(last) = count.checked_sub(1).map(entry).transpose()?.flatten() else {
            return Ok(history);
        };
        let mut arrived = last.height;
        let oldest = count.saturating_sub(MAX_ENTRIES_READ);
        for index in (oldest..count - 1).rev() {
            let Some(before) = entry(index)? else {
                break;
            };
            if before.cell != last.cell {
                history.moved_epoch = Some(clock.reward_epoch_at(arrived).0);
                return Ok(history);
            }
            arrived = before.height;
        }
        if oldest > 0 {
            // More re-assertions than are read: taken as arrived at the oldest read (a later
            // date than the truth, so a longer quarantine, never a shorter one).
            history.moved_epoch = Some(clock.reward_epoch_at(arrived).0);
        }
        Ok(history)
    }
}

/// No history at all: every station registered at 0 and never moved (tests).
pub fn no_history() -> HistorySource<'static> {
    &|_| Ok(StationHistory::default())
}
