//! The oracle's view of the chain: a client of its node's API, and the follower that keeps the
//! view current.
//!
//! - [`client`]: blocks, state at a height, accounts, transaction submission.
//! - [`follower`]: every finalized block in order: devices, beacon, reward-epoch starts,
//!   parameters.
//! - [`reads`]: state at one height, in proven batches, kept across retries.
//! - [`proven`]: an epoch's bounds and counted manifests, proven.
//! - [`submit`]: the oracle's own transactions, one at a time, followed to their outcome.
//! - [`trust`]: headers believed only under a certificate of seats followed from the genesis.

pub mod client;
pub mod follower;
#[cfg(test)]
mod loopback;
pub mod proven;
pub mod reads;
pub mod submit;
pub mod trust;

use crate::registry::DeviceBook;
use cairn_types::params::{ChainConfig, Params};
use cairn_types::Hash;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};

/// The followed blocks before the latest that `/v1/time` names, so that agents asking several
/// oracles (each following its own node, rarely at the same height) find a block most agree on.
pub const RECENT_BLOCKS: usize = 32;

/// The latest finalized block the oracle knows: the clock and entropy agents take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Beacon {
    /// Its height.
    pub height: u64,
    /// Its digest: the entropy reports carry.
    pub entropy: Hash,
    /// Its time.
    pub timestamp_ms: u64,
}

/// What the follower keeps current for the rest of the oracle.
pub struct ChainWatch {
    /// The chain's configuration (fixed at genesis).
    pub config: ChainConfig,
    /// Registered devices (latest records).
    pub book: Arc<DeviceBook>,
    /// Set to stop the follower.
    pub stopping: AtomicBool,
    beacon: RwLock<Beacon>,
    /// The [`RECENT_BLOCKS`] beacons before the latest, oldest first.
    recent: RwLock<VecDeque<Beacon>>,
    params: RwLock<Params>,
}

impl ChainWatch {
    /// A view of the chain `config` with parameters `params`, before any block is followed.
    pub fn new(config: ChainConfig, params: Params, book: Arc<DeviceBook>) -> ChainWatch {
        ChainWatch {
            config,
            book,
            stopping: AtomicBool::new(false),
            beacon: RwLock::new(Beacon::default()),
            recent: RwLock::new(VecDeque::with_capacity(RECENT_BLOCKS + 1)),
            params: RwLock::new(params),
        }
    }

    /// The latest beacon.
    pub fn beacon(&self) -> Beacon {
        *self
            .beacon
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The [`RECENT_BLOCKS`] followed blocks before the latest, oldest first.
    pub fn recent(&self) -> Vec<Beacon> {
        self.recent
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .copied()
            .collect()
    }

    /// Records the latest followed block (the one before joins the recent ones).
    pub fn set_beacon(&self, height: u64, entropy: Hash, timestamp_ms: u64) {
        let mut beacon = self
            .beacon
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if beacon.height > 0 && beacon.height < height {
            let mut recent = self
                .recent
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            recent.push_back(*beacon);
            while recent.len() > RECENT_BLOCKS {
                recent.pop_front();
            }
        }
        *beacon = Beacon {
            height,
            entropy,
            timestamp_ms,
        };
    }

    /// The parameters in force.
    pub fn params(&self) -> Params {
        self.params
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Records the parameters now in force.
    pub fn set_params(&self, params: Params) {
        *self
            .params
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = params;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::params::{ConsensusRules, EmissionSchedule};

    #[test]
    fn the_recent_blocks_are_the_ones_before_the_latest_oldest_first() {
        let config = ChainConfig {
            chain_id: cairn_types::params::ChainId::new("recent").unwrap_or_else(|e| panic!("{e}")),
            blocks_per_epoch: 10,
            emission: EmissionSchedule {
                initial_per_epoch: cairn_types::Amount(0),
                halving_interval_epochs: 1,
                emission_cap: cairn_types::Amount(0),
            },
            consensus: ConsensusRules::default(),
            protocol_version: 1,
            epochs_per_reward_epoch: 1,
        };
        let watch = ChainWatch::new(config, Params::default(), Arc::new(DeviceBook::new()));
        assert!(watch.recent().is_empty());
        for height in 1..=40u64 {
            watch.set_beacon(height, Hash([height as u8; 32]), height * 200);
        }
        // A block seen again (a restarted follower) adds nothing.
        watch.set_beacon(40, Hash([40; 32]), 8_000);
        assert_eq!(watch.beacon().height, 40);
        let recent = watch.recent();
        assert_eq!(recent.len(), RECENT_BLOCKS);
        let heights: Vec<u64> = recent.iter().map(|b| b.height).collect();
        assert_eq!(heights, (8..40).collect::<Vec<u64>>());
        assert!(recent
            .iter()
            .all(|b| b.entropy == Hash([b.height as u8; 32])));
    }
}
