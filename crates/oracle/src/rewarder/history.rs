//! What the chain says of sensing stations' pasts, read from a node in bulk at the epoch's last
//! block: when each was registered (seniority) and the reward epoch its location last changed in.
//!
//! A move is an assertion whose cell differs from the one before it; asserting the same cell
//! again is not a move, and does not end the quarantine of the move that brought the station
//! there (the move is dated by the first of the run of assertions of the last cell). The
//! entries are read newest first, [`ENTRIES_PER_ROUND`] per station per round, all stations
//! together, until each station's walk back ends. A read that fails is an error and the epoch is
//! computed again later.

use super::HistorySource;
use crate::chain::reads::StateReads;
use cairn_ledger::state::records::{DeviceRecord, LocationEntry};
use cairn_ledger::StateKey;
use cairn_resources::sensing::score::StationHistory;
use cairn_types::epoch::RewardClock;
use cairn_types::DeviceId;
use std::collections::{BTreeMap, HashMap};

/// Most location entries read for one station, newest first.
pub const MAX_ENTRIES_READ: u32 = 64;
/// Entries read per station in one round (most stations need two: the last and the one before).
pub const ENTRIES_PER_ROUND: u32 = 2;

/// Location entries read so far, by index (inner `None`: absent from the state).
type Entries = HashMap<u32, Option<LocationEntry>>;

/// A history source over `reads`, placing moves in reward epochs by `clock`.
pub fn history_at<'a>(
    reads: &'a StateReads<'a>,
    clock: RewardClock,
) -> impl Fn(&[DeviceId]) -> Result<BTreeMap<DeviceId, StationHistory>, String> + 'a {
    move |stations| histories(reads, clock, stations).map_err(|e| e.to_string())
}

fn histories(
    reads: &StateReads<'_>,
    clock: RewardClock,
    stations: &[DeviceId],
) -> Result<BTreeMap<DeviceId, StationHistory>, crate::chain::reads::ReadError> {
    let keys: Vec<StateKey> = stations.iter().map(|d| StateKey::Device(*d)).collect();
    let records: Vec<Option<DeviceRecord>> = reads.read(&keys)?;
    let mut out = BTreeMap::new();
    let mut pending: Vec<(DeviceId, DeviceRecord, Entries)> = Vec::new();
    for (device, record) in stations.iter().zip(records) {
        match record {
            Some(record) => pending.push((*device, record, Entries::new())),
            None => {
                out.insert(*device, StationHistory::default());
            }
        }
    }
    // Each round reads, for every station not done, the entries below the one its walk needs.
    while !pending.is_empty() {
        let mut wanted: Vec<(usize, u32)> = Vec::new();
        let mut still = Vec::new();
        for (device, record, entries) in pending {
            match walk(&record, clock, &entries) {
                Ok(history) => {
                    out.insert(device, history);
                }
                Err(need) => {
                    let low = need
                        .saturating_sub(ENTRIES_PER_ROUND - 1)
                        .max(record.location_count.saturating_sub(MAX_ENTRIES_READ));
                    for index in low..=need {
                        wanted.push((still.len(), index));
                    }
                    still.push((device, record, entries));
                }
            }
        }
        if wanted.is_empty() {
            break;
        }
        let keys: Vec<StateKey> = wanted
            .iter()
            .map(|(at, index)| StateKey::DeviceLocation(still[*at].0, *index))
            .collect();
        let read: Vec<Option<LocationEntry>> = reads.read(&keys)?;
        for ((at, index), entry) in wanted.into_iter().zip(read) {
            still[at].2.insert(index, entry);
        }
        pending = still;
    }
    Ok(out)
}

/// A station's history from its record and the entries read so far, or the index of the entry
/// the walk needs next.
fn walk(
    record: &DeviceRecord,
    clock: RewardClock,
    entries: &Entries,
) -> Result<StationHistory, u32> {
    let mut history = StationHistory {
        registered_height: record.registered_height,
        moved_epoch: None,
    };
    let count = record.location_count;
    let Some(last_index) = count.checked_sub(1) else {
        return Ok(history);
    };
    let Some(last) = entries.get(&last_index).ok_or(last_index)? else {
        return Ok(history);
    };
    // Walk back over re-assertions of the last cell to the assertion that brought the station
    // there: asserting the same cell again does not end a quarantine.
    let mut arrived = last.height;
    let oldest = count.saturating_sub(MAX_ENTRIES_READ);
    for index in (oldest..last_index).rev() {
        let Some(before) = entries.get(&index).ok_or(index)? else {
            break;
        };
        if before.cell != last.cell {
            history.moved_epoch = Some(clock.reward_epoch_at(arrived).0);
            return Ok(history);
        }
        arrived = before.height;
    }
    if oldest > 0 {
        // More re-assertions than are read: taken as arrived at the oldest read (a later date
        // than the truth, so a longer quarantine, never a shorter one).
        history.moved_epoch = Some(clock.reward_epoch_at(arrived).0);
    }
    Ok(history)
}

/// No history at all: every station registered at 0 and never moved (tests).
pub fn no_history() -> HistorySource<'static> {
    &|_| Ok(BTreeMap::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::Address;

    fn record(count: u32) -> DeviceRecord {
        DeviceRecord {
            owner: Address::default(),
            subnetwork: cairn_types::Subnetwork::Sensing,
            maker: None,
            registered_height: 7,
            location: None,
            location_count: count,
            retired: false,
        }
    }

    fn entry(cell: u32, height: u64) -> Option<LocationEntry> {
        let lat = 40.0 + f64::from(cell);
        Some(LocationEntry {
            cell: cairn_types::Cell::from_lat_lng(lat, 10.0, 7)
                .unwrap_or_else(|_| unreachable!("a valid test cell")),
            height,
        })
    }

    #[test]
    fn the_walk_asks_for_what_it_needs_and_dates_the_move_by_its_first_assertion() {
        let clock = RewardClock {
            blocks_per_epoch: 10,
            epochs_per_reward_epoch: 1,
        };
        let never = record(0);
        assert_eq!(
            walk(&never, clock, &Entries::new()).unwrap().moved_epoch,
            None
        );
        // Cells A (height 5), B (25), B again (45): the move to B is dated 25, not 45.
        let moved = record(3);
        let mut entries = Entries::new();
        assert_eq!(walk(&moved, clock, &entries), Err(2));
        entries.insert(2, entry(1, 45));
        assert_eq!(walk(&moved, clock, &entries), Err(1));
        entries.insert(1, entry(1, 25));
        assert_eq!(walk(&moved, clock, &entries), Err(0));
        entries.insert(0, entry(0, 5));
        let history = walk(&moved, clock, &entries).unwrap();
        assert_eq!(history.registered_height, 7);
        assert_eq!(history.moved_epoch, Some(clock.reward_epoch_at(25).0));
        // Only ever one cell: no move.
        let mut same = Entries::new();
        same.insert(1, entry(3, 40));
        same.insert(0, entry(3, 20));
        assert_eq!(walk(&record(2), clock, &same).unwrap().moved_epoch, None);
    }
}
