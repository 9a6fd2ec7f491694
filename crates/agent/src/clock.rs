//! The agent's clock and beacon entropy, taken from the majority of its oracles.
//!
//! A device's own clock may be wrong (a Raspberry Pi has no battery-backed clock), so the agent
//! asks all its oracles' `/v1/time` at once, every `clock_sync_secs`. No single oracle is
//! believed, and a majority is counted over the oracles configured, not over those that
//! answered (an honest oracle that is down or slow does not hand the majority to a liar):
//!
//! - **The clock**: the offsets of the answers from the local clock (the oracle read its clock
//!   about half-way through the round trip, so an answer whose round trip took longer than
//!   `clock_tolerance_ms` says too little and does not count) are agreed when more than half of
//!   the configured oracles' answers lie within `clock_tolerance_ms` of one another; the agent
//!   then takes the median of that group (of two middle values, their midpoint). With no such
//!   majority it keeps the offset it had and shows `clock_unagreed`; before the first agreed
//!   offset it makes no report at all.
//! - **The entropy**: each answer names the oracle's latest block and the digests of the blocks
//!   before it (up to [`RECENT_BLOCKS`]). Honest oracles follow different nodes, so their
//!   latest heights rarely match, but their recent blocks overlap. The agent takes the highest
//!   height at which more than half of the configured oracles give the same digest, and only
//!   when it is above the height it holds (nobody can send it back to an older block); with no
//!   such height it keeps its entropy and shows `entropy_unagreed`.
//!
//! So one liar among two oracles can stop the agent from following (it keeps what it had), and
//! can move its clock by at most half the tolerance from the honest oracle's (the midpoint of
//! the two), but cannot choose its entropy; one liar among three can do none of that. What an oracle that is down costs: with two configured, nothing is agreed until it is
//! back; with three, nothing changes.

use cairn_types::Hash;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The recent blocks of an answer that are read (more are ignored).
pub const RECENT_BLOCKS: usize = 32;

/// The default `clock_tolerance_ms`: how far apart offsets may be and still agree (below the
/// 2 s a witness may be late, so that an offset a liar pulls within it stays usable).
pub const DEFAULT_TOLERANCE_MS: u64 = 1_000;

/// One block an oracle followed.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct RecentBlock {
    /// Its height.
    pub height: u64,
    /// Its digest (the entropy of reports made after it).
    pub entropy: Hash,
}

/// What an oracle's `/v1/time` answers.
#[derive(Clone, Debug, Deserialize)]
pub struct TimeAnswer {
    /// The oracle's clock.
    pub now_ms: u64,
    /// The latest block it followed.
    pub height: u64,
    /// That block's digest.
    pub entropy: Hash,
    /// The blocks it followed before (an oracle of an older version sends none).
    #[serde(default)]
    pub recent: Vec<RecentBlock>,
}

/// The local clock, in ms since the Unix epoch.
pub fn local_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

struct State {
    offset_ms: i64,
    height: u64,
    entropy: Hash,
    synced: bool,
    clock_unagreed: bool,
    entropy_unagreed: bool,
}

/// Where the agent's clock and entropy stand, for its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// Whether an offset was ever agreed (reports are made only then).
    pub synced: bool,
    /// The latest round found no majority of offsets within the tolerance.
    pub clock_unagreed: bool,
    /// The latest round found no height at which a majority gave one digest.
    pub entropy_unagreed: bool,
}

/// The clock the agent signs with.
pub struct OracleClock {
    state: Mutex<State>,
    tolerance_ms: u64,
}

impl Default for OracleClock {
    fn default() -> Self {
        OracleClock::new(DEFAULT_TOLERANCE_MS)
    }
}

impl OracleClock {
    /// A clock whose offsets agree within `tolerance_ms`, before any answer.
    pub fn new(tolerance_ms: u64) -> OracleClock {
        OracleClock {
            state: Mutex::new(State {
                offset_ms: 0,
                height: 0,
                entropy: Hash::ZERO,
                synced: false,
                clock_unagreed: true,
                entropy_unagreed: true,
            }),
            tolerance_ms,
        }
    }

    /// Takes the answers of one round of asking the `oracles` configured (distinct ones):
    /// `(local time when asked, local time when answered, answer)`. No answer changes nothing.
    pub fn update(&self, answers: &[(u64, u64, TimeAnswer)], oracles: usize) {
        if answers.is_empty() {
            return;
        }
        let majority = oracles.max(answers.len()) / 2 + 1;
        let offsets: Vec<i64> = answers
            .iter()
            .filter(|(sent, received, _)| received.saturating_sub(*sent) <= self.tolerance_ms)
            .map(|(sent, received, a)| {
                let local_mid = sent / 2 + received / 2;
                (a.now_ms as i64).saturating_sub(local_mid as i64)
            })
            .collect();
        let mut state = self.lock();
        let offset = agreed_offset(&offsets, self.tolerance_ms, majority);
        let block = agreed_block(answers.iter().map(|(_, _, a)| a), majority);
        state.clock_unagreed = offset.is_none();
        if let Some(offset) = offset {
            state.offset_ms = offset;
            state.synced = true;
        }
        state.entropy_unagreed = block.is_none();
        if let Some(block) = block.filter(|b| b.height > state.height) {
            state.height = block.height;
            state.entropy = block.entropy;
        }
    }

    /// The oracles' time now (the local clock until the first agreed offset).
    pub fn now_ms(&self) -> u64 {
        let offset = self.lock().offset_ms;
        (local_ms() as i64).saturating_add(offset).max(0) as u64
    }

    /// The latest agreed entropy and its height.
    pub fn entropy(&self) -> (u64, Hash) {
        let state = self.lock();
        (state.height, state.entropy)
    }

    /// The offset from the local clock, and whether one was ever agreed.
    pub fn offset(&self) -> (i64, bool) {
        let state = self.lock();
        (state.offset_ms, state.synced)
    }

    /// Whether the clock and entropy are agreed.
    pub fn agreement(&self) -> Agreement {
        let state = self.lock();
        Agreement {
            synced: state.synced,
            clock_unagreed: state.clock_unagreed,
            entropy_unagreed: state.entropy_unagreed,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The median of the largest group of `offsets` within `tolerance_ms` of one another, when
/// that group holds at least `majority` of them (of two equal groups, the one whose median is
/// nearer the local clock).
fn agreed_offset(offsets: &[i64], tolerance_ms: u64, majority: usize) -> Option<i64> {
    let mut sorted = offsets.to_vec();
    sorted.sort_unstable();
    let mut best: Option<&[i64]> = None;
    for start in 0..sorted.len() {
        let end = sorted[start..]
            .iter()
            .take_while(|o| o.abs_diff(sorted[start]) <= tolerance_ms)
            .count();
        let group = &sorted[start..start + end];
        let better = match best {
            None => true,
            Some(b) => {
                group.len() > b.len()
                    || (group.len() == b.len()
                        && median(group).unsigned_abs() < median(b).unsigned_abs())
            }
        };
        if better {
            best = Some(group);
        }
    }
    best.filter(|group| group.len() >= majority).map(median)
}

/// The median of a sorted, non-empty slice (of two middle values, their midpoint, rounded
/// down).
fn median(sorted: &[i64]) -> i64 {
    let (low, high) = (sorted[(sorted.len() - 1) / 2], sorted[sorted.len() / 2]);
    low + (high - low) / 2
}

/// The highest block for which at least `majority` of `answers` give the same digest.
fn agreed_block<'a>(
    answers: impl Iterator<Item = &'a TimeAnswer>,
    majority: usize,
) -> Option<RecentBlock> {
    // height -> digest -> how many answers give it.
    let mut votes: BTreeMap<u64, BTreeMap<Hash, usize>> = BTreeMap::new();
    for answer in answers {
        // Each answer votes once a height (its first digest there).
        let mut own: BTreeMap<u64, Hash> = BTreeMap::new();
        let latest = RecentBlock {
            height: answer.height,
            entropy: answer.entropy,
        };
        for block in std::iter::once(&latest).chain(answer.recent.iter().take(RECENT_BLOCKS)) {
            own.entry(block.height).or_insert(block.entropy);
        }
        for (height, entropy) in own {
            *votes.entry(height).or_default().entry(entropy).or_default() += 1;
        }
    }
    votes.iter().rev().find_map(|(height, digests)| {
        digests
            .iter()
            .find(|(_, n)| **n >= majority)
            .map(|(entropy, _)| RecentBlock {
                height: *height,
                entropy: *entropy,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An honest chain: block `h`'s digest names it.
    fn digest(height: u64) -> Hash {
        Hash([height as u8; 32])
    }

    /// The device's clock when it asks (and is answered).
    const LOCAL_MS: u64 = 10_000_000_000;
    const HOUR_MS: i64 = 3_600_000;

    /// An honest oracle's answer: its clock (`offset` from the device's), its latest height and
    /// the 32 blocks before it.
    fn honest(offset: i64, height: u64) -> TimeAnswer {
        TimeAnswer {
            now_ms: LOCAL_MS.saturating_add_signed(offset),
            height,
            entropy: digest(height),
            recent: (height.saturating_sub(32)..height)
                .map(|h| RecentBlock {
                    height: h,
                    entropy: digest(h),
                })
                .collect(),
        }
    }

    /// A liar's answer: a clock and a latest block of its choosing, no true recent block.
    fn liar(offset: i64, height: u64, entropy: Hash) -> TimeAnswer {
        TimeAnswer {
            now_ms: LOCAL_MS.saturating_add_signed(offset),
            height,
            entropy,
            recent: Vec::new(),
        }
    }

    /// One round in which every configured oracle answered.
    fn round(clock: &OracleClock, answers: Vec<TimeAnswer>) {
        let configured = answers.len();
        round_of(clock, answers, configured);
    }

    /// One round of `configured` oracles in which only `answers` came back.
    fn round_of(clock: &OracleClock, answers: Vec<TimeAnswer>, configured: usize) {
        let answers: Vec<(u64, u64, TimeAnswer)> = answers
            .into_iter()
            .map(|a| (LOCAL_MS, LOCAL_MS, a))
            .collect();
        clock.update(&answers, configured);
    }

    /// A clock that already agreed with two honest oracles on offset 250 (the midpoint of
    /// their 200 and 300 the first time) and block 50.
    fn following() -> OracleClock {
        let clock = OracleClock::default();
        round(&clock, vec![honest(200, 50), honest(300, 50)]);
        assert_eq!(clock.offset(), (250, true));
        assert_eq!(clock.entropy(), (50, digest(50)));
        clock
    }

    #[test]
    fn honest_oracles_at_different_heights_agree_on_their_common_block() {
        let clock = OracleClock::default();
        assert!(
            clock.agreement().clock_unagreed,
            "nothing agreed before any answer"
        );
        round(
            &clock,
            vec![honest(5_000, 40), honest(5_400, 43), honest(4_900, 41)],
        );
        assert_eq!(clock.offset(), (5_000, true));
        // 41 is the highest block more than half followed (two of three); 42 and 43 are one
        // oracle's alone.
        assert_eq!(clock.entropy(), (41, digest(41)));
        let agreement = clock.agreement();
        assert!(!agreement.clock_unagreed && !agreement.entropy_unagreed);
    }

    #[test]
    fn one_liar_of_two_moves_neither_the_clock_nor_the_entropy() {
        // Lying high (an hour ahead, a block far past the chain), low (an hour behind, an old
        // block with its true digest), equal (the honest height with another digest) and stale
        // (the height the agent holds, its true digest, and the clock of an hour ago).
        let lies = [
            liar(HOUR_MS, 250, Hash([9; 32])),
            liar(-HOUR_MS, 10, digest(10)),
            liar(200, 55, Hash([9; 32])),
            liar(-HOUR_MS, 50, digest(50)),
        ];
        for lie in lies {
            for liar_first in [true, false] {
                let clock = following();
                let mut answers = vec![honest(250, 55)];
                if liar_first {
                    answers.insert(0, lie.clone());
                } else {
                    answers.push(lie.clone());
                }
                round(&clock, answers);
                // A liar within the tolerance (200) moves the offset half way to it at most;
                // the others move nothing.
                let (offset, synced) = clock.offset();
                assert!(synced);
                assert!(
                    offset == 250 || offset == 225,
                    "{lie:?} moved the clock to {offset}"
                );
                // Never a block the honest oracle does not give, never one at or below 50.
                let (height, entropy) = clock.entropy();
                assert!(
                    height == 50 || (height > 50 && entropy == digest(height)),
                    "{lie:?}"
                );
            }
        }
    }

    #[test]
    fn one_liar_of_two_cannot_start_the_clock_alone() {
        // No agreed offset yet: one honest oracle and one liar an hour off agree on nothing,
        // so the agent makes no report (not synced) and says why.
        let clock = OracleClock::default();
        round(
            &clock,
            vec![honest(200, 5), liar(HOUR_MS, 6, Hash([9; 32]))],
        );
        assert_eq!(clock.offset(), (0, false));
        let agreement = clock.agreement();
        assert!(agreement.clock_unagreed && agreement.entropy_unagreed);
        assert_eq!(clock.entropy(), (0, Hash::ZERO));
    }

    #[test]
    fn a_liar_agreeing_with_a_wrong_local_clock_is_not_believed() {
        // A device booted without a battery-backed clock believes it is 1970; the honest
        // oracle's time is decades ahead; a liar answers the device's own time (once, the
        // offset nearer the local clock won).
        let decades = 50 * 365 * 24 * HOUR_MS;
        let clock = OracleClock::default();
        round(&clock, vec![honest(decades, 5), liar(0, 5, digest(5))]);
        assert_eq!(
            clock.offset(),
            (0, false),
            "no offset agreed, no report made"
        );
        assert!(clock.agreement().clock_unagreed);
        // A second honest oracle makes the majority.
        round(
            &clock,
            vec![
                honest(decades, 5),
                liar(0, 5, digest(5)),
                honest(decades + 100, 5),
            ],
        );
        assert_eq!(clock.offset(), (decades + 50, true));
        assert!(!clock.agreement().clock_unagreed);
    }

    #[test]
    fn a_liar_answering_alone_moves_nothing() {
        // Two oracles configured; the honest one is down (or slow, or over the size limit):
        // the liar alone is no majority, whatever it claims.
        let clock = following();
        round_of(&clock, vec![liar(HOUR_MS, u64::MAX, Hash([9; 32]))], 2);
        assert_eq!(clock.offset(), (250, true));
        assert_eq!(clock.entropy(), (50, digest(50)));
        let agreement = clock.agreement();
        assert!(agreement.clock_unagreed && agreement.entropy_unagreed);
        // Before any agreement it cannot start the clock either.
        let fresh = OracleClock::default();
        round_of(&fresh, vec![liar(HOUR_MS, 9, Hash([9; 32]))], 2);
        assert_eq!(fresh.offset(), (0, false));
        // With three configured and one down, the two honest ones still agree.
        round_of(&clock, vec![honest(260, 57), honest(240, 58)], 3);
        assert_eq!(clock.offset(), (250, true), "the midpoint of 240 and 260");
        assert_eq!(clock.entropy(), (57, digest(57)));
    }

    #[test]
    fn one_liar_of_three_is_outvoted() {
        let lies = [
            liar(HOUR_MS, 250, Hash([9; 32])),
            liar(-HOUR_MS, 10, digest(10)),
            liar(200, 60, Hash([9; 32])),
            liar(-HOUR_MS, 50, digest(50)),
        ];
        for lie in lies {
            let clock = following();
            round(&clock, vec![honest(250, 60), lie.clone(), honest(300, 59)]);
            // Between the honest oracles' offsets (250 and 300), wherever the liar answers.
            let (offset, synced) = clock.offset();
            assert!(synced && (250..=300).contains(&offset), "{lie:?}: {offset}");
            assert_eq!(clock.entropy(), (59, digest(59)), "{lie:?}");
            let agreement = clock.agreement();
            assert!(!agreement.clock_unagreed && !agreement.entropy_unagreed);
        }
    }

    #[test]
    fn the_entropy_never_goes_back() {
        // Two oracles agreeing on an older block (both behind, honestly or not) do not send the
        // agent back from block 50.
        let clock = following();
        round(&clock, vec![honest(200, 30), honest(200, 30)]);
        assert_eq!(clock.entropy(), (50, digest(50)));
        assert!(!clock.agreement().entropy_unagreed);
    }

    #[test]
    fn offsets_agree_only_within_the_tolerance() {
        // Two of three within 1,000 ms: their midpoint.
        assert_eq!(agreed_offset(&[100, 900, 5_000], 1_000, 2), Some(500));
        assert_eq!(agreed_offset(&[100, 1_200], 1_000, 2), None);
        assert_eq!(agreed_offset(&[-50, 40, 60], 1_000, 2), Some(40));
        // Two groups of two among four: no majority of three.
        assert_eq!(agreed_offset(&[0, 10, 9_000, 9_010], 1_000, 3), None);
        assert_eq!(agreed_offset(&[], 1_000, 1), None);
    }

    #[test]
    fn an_answer_slower_than_the_tolerance_does_not_count_for_the_clock() {
        // Two oracles; one answer took 3 s to come back: its offset could be off by 1.5 s, so
        // only one offset is left, no majority of two. Its blocks still count.
        let clock = following();
        clock.update(
            &[
                (LOCAL_MS, LOCAL_MS, honest(400, 55)),
                (LOCAL_MS, LOCAL_MS + 3_000, honest(1_900, 56)),
            ],
            2,
        );
        assert_eq!(clock.offset(), (250, true));
        assert!(clock.agreement().clock_unagreed);
        assert_eq!(clock.entropy(), (55, digest(55)));
    }
}
