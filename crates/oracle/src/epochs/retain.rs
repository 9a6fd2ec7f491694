//! Retention: what is older than `log_retention_epochs` reward epochs, counted back from the
//! current one, is deleted: this oracle's log files (from its store, then its index) with its
//! manifests and results of those epochs, and the copies of other oracles' manifests and files it kept for
//! attesting. Nothing an epoch still being worked on may read is deleted: the cut never passes
//! the first epoch that is not done.

use super::StageError;
use super::Worker;
use crate::epochs::fetch::Fetcher;
use crate::index::Index;
use crate::log::store::LogStore;
use cairn_ledger::state::records::RewardRootRecord;
use cairn_ledger::StateKey;
use cairn_types::{Epoch, Subnetwork};
use std::sync::atomic::Ordering;

/// Fewest reward epochs kept whatever the parameter says: an oracle a few epochs behind (a
/// restart, a slow peer) still finds the others' logs of the epochs it has yet to compute.
pub const MIN_RETENTION_EPOCHS: u64 = 8;

impl Worker {
    /// Deletes what retention no longer keeps, once the first kept epoch moved past the last
    /// cut. `first_not_done` is the oldest epoch whose stages are not all done.
    pub(super) fn retain(&self, current: u64, first_not_done: u64) -> Result<(), StageError> {
        let keep = self
            .watch
            .params()
            .log_retention_epochs
            .max(MIN_RETENTION_EPOCHS);
        let cut = current.saturating_sub(keep).min(first_not_done);
        if cut == 0 || cut <= self.retained.load(Ordering::Relaxed) {
            return Ok(());
        }
        let Some(start_ms) = self.index.epoch_start(cut)? else {
            return Ok(());
        };
        // Results go up to the epoch before the cut, and never those of a sub-network's latest
        // root on chain: owners' proofs are built from them.
        let mut results_before = cut.saturating_sub(1);
        for subnetwork in Subnetwork::ALL {
            let record: Option<RewardRootRecord> = self
                .client
                .state(&StateKey::RewardRoot(subnetwork), None)
                .map_err(|e| e.to_string())?;
            if let Some(record) = record {
                results_before = results_before.min(record.epoch.0);
            }
        }
        let deleted = delete_before(
            &self.index,
            &self.store,
            &self.fetcher,
            &self.runtime,
            (Epoch(cut), Epoch(results_before)),
            start_ms,
        )?;
        // Blocks beacons of the kept epochs may still name stay; older ones go.
        let clock = self.watch.config.reward_clock();
        let lookback = crate::rewarder::entropy::lookback_blocks(
            cairn_resources::coverage::rules::CoverageRules::default().entropy_valid_ms,
            self.watch.config.consensus.block_interval_ms,
        );
        let first_kept_block = clock.first_height(Epoch(cut)).saturating_sub(lookback);
        self.index.forget_blocks_before(first_kept_block)?;
        self.retained.store(cut, Ordering::Relaxed);
        tracing::info!(
            kept_from_epoch = cut,
            files = deleted,
            "oracle.retain: older logs deleted"
        );
        Ok(())
    }
}

/// Deletes this oracle's files whose every report is timed before `start_ms` (the start of
/// epoch `cut`), its manifests of epochs before `cut` and results of epochs before
/// `results_before`, and the peer copies no manifest of `cut`
/// or later names. Returns how many of its own files went. The index forgets a file before the
/// store deletes it: a crash between leaves an unlisted file, never a listed one that is gone.
pub fn delete_before(
    index: &Index,
    store: &LogStore,
    fetcher: &Fetcher,
    runtime: &tokio::runtime::Handle,
    (cut, results_before): (Epoch, Epoch),
    start_ms: u64,
) -> Result<usize, StageError> {
    let mut deleted = 0;
    for (name, meta) in index.files()? {
        if meta.time_ms.1 < start_ms {
            index.remove_file(&name)?;
            runtime
                .block_on(store.delete(&name))
                .map_err(|e| e.to_string())?;
            deleted += 1;
        }
    }
    index.remove_manifests_before(cut)?;
    // The epochs' results (signed roots, per-device outcomes, cumulative rewards) go too.
    index.remove_blobs_before(results_before)?;
    fetcher.forget_before(cut).map_err(|e| e.to_string())?;
    Ok(deleted)
}

#[cfg(test)]
#[path = "retain/tests.rs"]
mod tests;
