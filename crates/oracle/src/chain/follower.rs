//! The follower: reads every finalized block, in order, from the oracle's node.
//!
//! From each block it takes what the oracle needs between epochs: the devices the block's
//! transactions touched (their records after the block, read in proven batches, for ingest's
//! registry), the beacon (the block's
//! digest and height, handed to agents), the start of each reward epoch (its first block's
//! time), and the chain's parameters when they may have changed. Each block's changes and its
//! height are recorded in the index in one transaction, so a restarted follower goes on from
//! where it stopped. Reads at an epoch's exact last block (for rewards) are the rewarder's.

use super::client::{BlockView, ChainError, NodeClient};
use super::reads::{ReadError, StateReads};
use super::ChainWatch;
use crate::index::{FollowedBlock, Index, KeptBlock};
use cairn_ledger::state::records::DeviceRecord;
use cairn_ledger::StateKey;
use cairn_resources::context::DeviceInfo;
use cairn_types::tx::Action;
use cairn_types::DeviceId;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Blocks read per round at most before the shared view is refreshed.
pub const MAX_BLOCKS_PER_ROUND: u64 = 1_000;

/// The follower's loop: runs until `watch.stopping` is set, or until the oracle's own index
/// fails (then it returns the fault, and the oracle stops).
pub fn run(
    client: NodeClient,
    index: Arc<Index>,
    watch: Arc<ChainWatch>,
    poll: Duration,
) -> Result<(), FollowError> {
    while !watch.stopping.load(Ordering::Relaxed) {
        match round(&client, &index, &watch) {
            Ok(0) => std::thread::sleep(poll),
            Ok(_) => {}
            Err(error) if error.is_fatal() => {
                tracing::error!(%error, "oracle.follower: stopping");
                return Err(error);
            }
            Err(error) => {
                tracing::warn!(%error, "oracle.follower: the node did not answer; retrying");
                std::thread::sleep(poll.max(Duration::from_secs(1)));
            }
        }
    }
    Ok(())
}

/// Applies the blocks the node has finalized since the last round; returns how many.
pub fn round(client: &NodeClient, index: &Index, watch: &ChainWatch) -> Result<u64, FollowError> {
    let head = client.status()?.height;
    let from = index.followed_height()? + 1;
    let to = head.min(from.saturating_add(MAX_BLOCKS_PER_ROUND - 1));
    let mut applied = 0;
    for height in from..=to {
        let block = client.block(height)?;
        apply(client, index, watch, &block)?;
        applied += 1;
    }
    Ok(applied)
}

fn apply(
    client: &NodeClient,
    index: &Index,
    watch: &ChainWatch,
    block: &BlockView,
) -> Result<(), FollowError> {
    let clock = watch.config.reward_clock();
    let mut followed = FollowedBlock {
        height: block.height,
        block: KeptBlock {
            digest: block.digest,
            timestamp_ms: block.timestamp_ms,
            state_height: block.state_height,
            state_root: block.state_root,
        },
        ..FollowedBlock::default()
    };
    let mut params_may_change = false;
    let mut touched = Vec::new();
    for tx in &block.transactions {
        if let Some(device) = touched_device(&tx.tx.action) {
            touched.push(device);
        }
        params_may_change |= matches!(tx.tx.action, Action::ExecuteProposal { .. });
    }
    touched.sort_unstable_by_key(|d| d.0 .0);
    touched.dedup();
    if !touched.is_empty() {
        // The records as this block left them, in proven batches (a block registering
        // thousands of devices is a few requests, not thousands).
        let keys: Vec<StateKey> = touched.iter().map(|d| StateKey::Device(*d)).collect();
        let records: Vec<Option<DeviceRecord>> =
            StateReads::new(std::slice::from_ref(client), block.height).read(&keys)?;
        followed.devices = touched
            .into_iter()
            .zip(records)
            .map(|(device, record)| (device, record.map(info_of)))
            .collect();
    }
    let epoch = clock.reward_epoch_at(block.height);
    if clock.first_height(epoch) == block.height {
        followed.epoch_start = Some((epoch.0, block.timestamp_ms));
        params_may_change = true;
    }
    index.record_block(&followed)?;
    for (device, info) in followed.devices {
        watch.book.put(device, info);
    }
    if params_may_change {
        if let Some(params) = client.state(&StateKey::Params, None)? {
            watch.set_params(params);
        }
    }
    watch.set_beacon(block.height, block.digest, block.timestamp_ms);
    Ok(())
}

/// The device a transaction's action names, if any.
pub fn touched_device(action: &Action) -> Option<DeviceId> {
    match action {
        Action::RegisterDevice(registration) => Some(registration.device),
        Action::AssertLocation { device, .. }
        | Action::TransferDevice { device, .. }
        | Action::RetireDevice { device } => Some(*device),
        _ => None,
    }
}

/// What the oracle keeps of a device's record.
pub fn info_of(record: DeviceRecord) -> DeviceInfo {
    DeviceInfo {
        owner: record.owner,
        subnetwork: record.subnetwork,
        retired: record.retired,
        maker_revoked: false,
        location: record.location,
    }
}

/// Why a round stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The node failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    /// Device records could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
}

impl FollowError {
    /// True when the oracle's own index failed: retrying cannot help.
    pub fn is_fatal(&self) -> bool {
        match self {
            FollowError::Index(_) => true,
            FollowError::Read(read) => read.is_fatal(),
            FollowError::Chain(_) => false,
        }
    }
}
