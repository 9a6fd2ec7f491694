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
}
