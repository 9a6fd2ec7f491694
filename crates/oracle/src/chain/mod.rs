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
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};

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

    /// Records the latest followed block.
    pub fn set_beacon(&self, height: u64, entropy: Hash, timestamp_ms: u64) {
        *self
            .beacon
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Beacon {
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
