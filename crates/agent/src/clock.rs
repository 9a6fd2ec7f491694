//! The agent's clock and beacon entropy, taken from the oracles.
//!
//! A device's own clock may be wrong (a Raspberry Pi has no battery-backed clock). The agent
//! asks each oracle's `/v1/time` and keeps the median of their offsets from its own clock (of
//! the two middle ones, the closer to the local clock), and the entropy of the median block
//! height they reported (of the two middle ones, the lower): one lying oracle among two or more
//! moves neither. Reports then carry a time the oracles agree with and prove they were made
//! after that block.

use cairn_types::Hash;
use serde::Deserialize;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// What an oracle's `/v1/time` answers.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct TimeAnswer {
    /// The oracle's clock.
    pub now_ms: u64,
    /// The latest block it followed.
    pub height: u64,
    /// That block's digest.
    pub entropy: Hash,
}

/// The local clock, in ms since the Unix epoch.
pub fn local_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Default)]
struct State {
    offset_ms: i64,
    height: u64,
    entropy: Hash,
    synced: bool,
}

/// The clock the agent signs with.
#[derive(Default)]
pub struct OracleClock {
    state: Mutex<State>,
}

impl OracleClock {
    /// Takes the answers of one round of asking the oracles: `(local time when asked, local
    /// time when answered, answer)`.
    pub fn update(&self, answers: &[(u64, u64, TimeAnswer)]) {
        if answers.is_empty() {
            return;
        }
        let mut offsets: Vec<i64> = answers
            .iter()
            .map(|(sent, received, a)| {
                // The oracle read its clock about half-way through the round trip.
                let local_mid = sent / 2 + received / 2;
                a.now_ms as i64 - local_mid as i64
            })
            .collect();
        offsets.sort_unstable();
        let upper = offsets[offsets.len() / 2];
        let lower = offsets[(offsets.len() - 1) / 2];
        let median = if lower.unsigned_abs() <= upper.unsigned_abs() {
            lower
        } else {
            upper
        };
        let mut by_height: Vec<&TimeAnswer> = answers.iter().map(|(_, _, a)| a).collect();
        by_height.sort_by_key(|a| a.height);
        let chosen = by_height[(by_height.len() - 1) / 2];
        let mut state = self.lock();
        state.offset_ms = median;
        state.synced = true;
        if chosen.height >= state.height {
            state.height = chosen.height;
            state.entropy = chosen.entropy;
        }
    }

    /// The oracles' time now (the local clock until the first answer).
    pub fn now_ms(&self) -> u64 {
        let offset = self.lock().offset_ms;
        (local_ms() as i64).saturating_add(offset).max(0) as u64
    }

    /// The latest entropy and its height.
    pub fn entropy(&self) -> (u64, Hash) {
        let state = self.lock();
        (state.height, state.entropy)
    }

    /// The offset from the local clock, and whether any oracle answered yet.
    pub fn offset(&self) -> (i64, bool) {
        let state = self.lock();
        (state.offset_ms, state.synced)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An oracle's answer: its clock, and a block height whose entropy names it.
    fn answer(now_ms: u64, height: u64) -> TimeAnswer {
        TimeAnswer {
            now_ms,
            height,
            entropy: Hash([height as u8; 32]),
        }
    }

    #[test]
    fn the_median_offset_and_the_highest_entropy_win() {
        let clock = OracleClock::default();
        clock.update(&[
            (1_000, 1_000, answer(6_000, 3)),
            (1_000, 1_000, answer(2_000, 5)),
            (1_000, 1_000, answer(1_000_000, 4)), // a liar far off
        ]);
        assert_eq!(clock.offset(), (5_000, true));
        assert_eq!(clock.entropy(), (4, Hash([4; 32])));
    }

    #[test]
    fn one_liar_of_two_moves_neither_the_clock_nor_the_entropy() {
        let clock = OracleClock::default();
        // The honest oracle is 200 ms ahead of the device; the liar claims an hour and a block
        // far ahead of the chain.
        clock.update(&[
            (1_000, 1_000, answer(1_200, 7)),
            (1_000, 1_000, answer(3_601_000, 250)),
        ]);
        assert_eq!(clock.offset(), (200, true));
        assert_eq!(clock.entropy(), (7, Hash([7; 32])));
        // The order of the answers does not matter.
        let clock = OracleClock::default();
        clock.update(&[
            (1_000, 1_000, answer(3_601_000, 250)),
            (1_000, 1_000, answer(1_200, 7)),
        ]);
        assert_eq!(clock.offset(), (200, true));
        assert_eq!(clock.entropy(), (7, Hash([7; 32])));
    }
}
