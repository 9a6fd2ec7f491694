//! Block heights and epochs.
//!
//! Height 0 is genesis. With `blocks_per_epoch = n`, blocks 1..=n form epoch 0, blocks n+1..=2n
//! epoch 1, and so on: the first block of an epoch closes the previous one (emission, validator
//! set, lock expiries happen there).

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A reward and validator-set period, counted from 0.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Debug,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct Epoch(pub u64);

impl Epoch {
    /// The epoch of block `height` when each epoch has `blocks_per_epoch` blocks.
    /// Genesis (height 0) belongs to epoch 0. `blocks_per_epoch` must be non-zero; a zero is
    /// treated as one block per epoch rather than dividing by zero.
    pub fn of_height(height: u64, blocks_per_epoch: u64) -> Epoch {
        Epoch(height.saturating_sub(1) / blocks_per_epoch.max(1))
    }

    /// True when block `height` is the first block of its epoch (and so closes the previous one).
    pub fn starts_at(height: u64, blocks_per_epoch: u64) -> bool {
        height > 1 && (height - 1).is_multiple_of(blocks_per_epoch.max(1))
    }

    /// The next epoch (saturating).
    pub fn next(self) -> Epoch {
        Epoch(self.0.saturating_add(1))
    }
}

/// How reward epochs map to consensus epochs and block heights.
///
/// Reward epoch `r` is consensus epochs `r·k ..= r·k + k − 1` (with `k` =
/// `epochs_per_reward_epoch`): its first block is `r·k·n + 1` (with `n` = `blocks_per_epoch`),
/// and it ends at the first block of reward epoch `r + 1`, [`RewardClock::end_height`]. Its
/// reports are those whose window starts in `[time of its first block, time of the first block
/// of r + 1)` (genesis time for reward epoch 0).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RewardClock {
    /// Blocks in one consensus epoch (at least 1).
    pub blocks_per_epoch: u64,
    /// Consensus epochs in one reward epoch (at least 1).
    pub epochs_per_reward_epoch: u64,
}

impl RewardClock {
    /// The reward epoch that consensus epoch `epoch` belongs to.
    pub fn reward_epoch_of(&self, epoch: Epoch) -> Epoch {
        Epoch(epoch.0 / self.epochs_per_reward_epoch.max(1))
    }

    /// The reward epoch of block `height`.
    pub fn reward_epoch_at(&self, height: u64) -> Epoch {
        self.reward_epoch_of(Epoch::of_height(height, self.blocks_per_epoch))
    }

    /// The first consensus epoch of reward epoch `reward`.
    pub fn first_epoch(&self, reward: Epoch) -> Epoch {
        Epoch(reward.0.saturating_mul(self.epochs_per_reward_epoch.max(1)))
    }

    /// The last consensus epoch of reward epoch `reward`.
    pub fn last_epoch(&self, reward: Epoch) -> Epoch {
        Epoch(
            self.first_epoch(reward.next())
                .0
                .saturating_sub(1)
                .max(self.first_epoch(reward).0),
        )
    }

    /// The first block of reward epoch `reward` (block 1 for reward epoch 0).
    pub fn first_height(&self, reward: Epoch) -> u64 {
        self.first_epoch(reward)
            .0
            .saturating_mul(self.blocks_per_epoch.max(1))
            .saturating_add(1)
    }

    /// The block that ends reward epoch `reward`: the first block of the next one.
    pub fn end_height(&self, reward: Epoch) -> u64 {
        self.first_height(reward.next())
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_boundaries() {
        assert_eq!(Epoch::of_height(0, 10), Epoch(0));
        assert_eq!(Epoch::of_height(1, 10), Epoch(0));
        assert_eq!(Epoch::of_height(10, 10), Epoch(0));
        assert_eq!(Epoch::of_height(11, 10), Epoch(1));
        assert!(!Epoch::starts_at(1, 10));
        assert!(!Epoch::starts_at(10, 10));
        assert!(Epoch::starts_at(11, 10));
        assert!(Epoch::starts_at(21, 10));
        assert_eq!(Epoch::of_height(5, 0), Epoch(4));
    }

    #[test]
    fn reward_epochs_are_whole_consensus_epochs() {
        let clock = RewardClock {
            blocks_per_epoch: 10,
            epochs_per_reward_epoch: 3,
        };
        assert_eq!(clock.first_height(Epoch(0)), 1);
        assert_eq!(clock.end_height(Epoch(0)), 31);
        assert_eq!(clock.first_epoch(Epoch(2)), Epoch(6));
        assert_eq!(clock.last_epoch(Epoch(2)), Epoch(8));
        for height in 1..=30 {
            assert_eq!(clock.reward_epoch_at(height), Epoch(0));
        }
        assert_eq!(clock.reward_epoch_at(31), Epoch(1));
        assert!(Epoch::starts_at(clock.end_height(Epoch(4)), 10));
        let one = RewardClock {
            blocks_per_epoch: 10,
            epochs_per_reward_epoch: 1,
        };
        assert_eq!(one.end_height(Epoch(0)), 11);
        assert_eq!(one.last_epoch(Epoch(5)), Epoch(5));
    }
}
