//! Where each epoch's work stands for an operator: a stage that failed waits before it is tried
//! again (2, 4, 8 … seconds up to [`MAX_RETRY_WAIT`], so a busy node is not asked again every
//! second), and what was wrong is kept to be shown by `GET /v1/status` and `cairn oracle
//! status`, beside what the rewards stage's chain reads have cost.

use crate::chain::reads::ReadCounters;
use cairn_types::Address;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest error kept for the status, in characters.
pub const MAX_ERROR_CHARS: usize = 400;

/// Longest wait before an epoch's failed stage is tried again.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// An epoch's stage that failed: when it is tried again, and what went wrong.
#[derive(Clone, Debug)]
struct Retry {
    at: Instant,
    failures: u32,
    error: String,
}

/// Failed stages and read costs, shared by the worker and the API.
#[derive(Debug, Default)]
pub struct Progress {
    /// What the rewards stage's chain reads have cost.
    pub reads: ReadCounters,
    retries: Mutex<BTreeMap<u64, Retry>>,
    lags: Mutex<BTreeMap<u64, u64>>,
    refused: Mutex<BTreeMap<(u64, Address), String>>,
}

/// Peer manifests not attested that are kept for the status (the latest epochs').
pub const KEPT_NOT_ATTESTED: usize = 64;

/// A peer's manifest this oracle fetched whole and did not attest, as the status shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct NotAttestedManifest {
    /// The reward epoch.
    pub epoch: u64,
    /// The oracle that committed it.
    pub oracle: Address,
    /// Why it was not attested (the bound it crossed).
    pub reason: String,
}

/// Epochs whose root lag is kept for the status (the latest).
pub const KEPT_ROOT_LAGS: usize = 16;

/// How long after its end (its closing block) an epoch's root landed, as the status shows it.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct RootLag {
    /// The reward epoch.
    pub epoch: u64,
    /// Seconds from the epoch's end (the time of the block that closed it) to the block
    /// that accepted its last root, both as the chain's blocks say.
    pub root_lag_secs: u64,
}

/// One epoch whose stage failed, as the status shows it.
#[derive(Clone, Debug, Serialize)]
pub struct EpochFailure {
    /// The reward epoch.
    pub epoch: u64,
    /// Failures in a row.
    pub failures: u32,
    /// The last one.
    pub last_error: String,
    /// Seconds until it is tried again (0: at the next tick).
    pub retry_in_secs: u64,
}

/// What chain reads have cost, as the status shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ReadTotals {
    /// State keys read from nodes.
    pub keys_read: u64,
    /// State keys found kept from an earlier try.
    pub keys_kept: u64,
    /// Batches asked.
    pub batches: u64,
    /// Batches asked again after a failure.
    pub retries: u64,
    /// 429 and 503 answers met.
    pub busy_answers: u64,
    /// Bytes of proven values read.
    pub bytes_read: u64,
    /// Keys the read under way still has to ask for (0 when none is under way).
    pub keys_left: u64,
    /// The node that answered the last batch.
    pub node: String,
}

impl Progress {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Retry>> {
        self.retries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// True while `epoch` waits to be tried again after a failure.
    pub fn waiting(&self, epoch: u64) -> bool {
        self.lock()
            .get(&epoch)
            .is_some_and(|r| Instant::now() < r.at)
    }

    /// `epoch`'s stage went through: it waits no more.
    pub fn succeeded(&self, epoch: u64) {
        self.lock().remove(&epoch);
    }

    /// Records a failure of `epoch`'s stage; epochs more than `keep_behind` before it are
    /// forgotten (they are out of reach).
    pub fn failed(&self, epoch: u64, error: String, keep_behind: u64) {
        let mut retries = self.lock();
        let failures = retries
            .get(&epoch)
            .map_or(0, |r| r.failures)
            .saturating_add(1);
        let wait = Duration::from_secs(1u64 << failures.min(6)).min(MAX_RETRY_WAIT);
        let at = Instant::now() + wait;
        // Kept short: it is shown by the public status.
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        retries.insert(
            epoch,
            Retry {
                at,
                failures,
                error,
            },
        );
        retries.retain(|e, _| e.saturating_add(keep_behind) >= epoch);
    }

    /// The epochs waiting after a failure.
    pub fn failures(&self) -> Vec<EpochFailure> {
        let now = Instant::now();
        self.lock()
            .iter()
            .map(|(epoch, r)| EpochFailure {
                epoch: *epoch,
                failures: r.failures,
                last_error: r.error.clone(),
                retry_in_secs: r.at.saturating_duration_since(now).as_secs(),
            })
            .collect()
    }

    /// What chain reads have cost so far.
    pub fn read_totals(&self) -> ReadTotals {
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        ReadTotals {
            keys_read: get(&self.reads.keys_read),
            keys_kept: get(&self.reads.keys_kept),
            batches: get(&self.reads.batches),
            retries: get(&self.reads.retries),
            busy_answers: get(&self.reads.busy_answers),
            bytes_read: get(&self.reads.bytes_read),
            keys_left: get(&self.reads.keys_left),
            node: self
                .reads
                .last_node
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }

    /// Records that `epoch`'s roots were all on chain `lag_secs` after its end.
    pub fn rooted(&self, epoch: u64, lag_secs: u64) {
        let mut lags = self
            .lags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lags.insert(epoch, lag_secs);
        while lags.len() > KEPT_ROOT_LAGS {
            lags.pop_first();
        }
    }

    /// Records that `oracle`'s manifest of `epoch` is not attested, and why; true the first
    /// time (to be logged once).
    pub fn not_attested(&self, epoch: u64, oracle: Address, reason: String) -> bool {
        let mut refused = self
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let reason: String = reason.chars().take(MAX_ERROR_CHARS).collect();
        let new = refused.insert((epoch, oracle), reason).is_none();
        while refused.len() > KEPT_NOT_ATTESTED {
            refused.pop_first();
        }
        new
    }

    /// The peer manifests not attested that are kept, oldest epoch first.
    pub fn not_attested_manifests(&self) -> Vec<NotAttestedManifest> {
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|((epoch, oracle), reason)| NotAttestedManifest {
                epoch: *epoch,
                oracle: *oracle,
                reason: reason.clone(),
            })
            .collect()
    }

    /// The root lags kept, oldest epoch first.
    pub fn root_lags(&self) -> Vec<RootLag> {
        self.lags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(epoch, secs)| RootLag {
                epoch: *epoch,
                root_lag_secs: *secs,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_epoch_waits_longer_each_time_and_not_after_success() {
        let progress = Progress::default();
        assert!(!progress.waiting(5));
        progress.failed(5, "busy".into(), 64);
        assert!(progress.waiting(5));
        progress.failed(5, "busy again".into(), 64);
        let failures = progress.failures();
        assert_eq!(failures.len(), 1);
        assert_eq!(
            (failures[0].failures, failures[0].last_error.as_str()),
            (2, "busy again")
        );
        assert!(failures[0].retry_in_secs >= 3, "{failures:?}");
        progress.succeeded(5);
        assert!(!progress.waiting(5));
        // Failures far behind are forgotten.
        progress.failed(1, "x".into(), 64);
        progress.failed(100, "y".into(), 64);
        assert_eq!(progress.failures().len(), 1);
    }

    #[test]
    fn manifests_not_attested_are_kept_once_each_latest_epochs_first_out() {
        let progress = Progress::default();
        let oracle = Address(cairn_types::PublicKey([4; 32]));
        assert!(progress.not_attested(3, oracle, "too big".into()));
        assert!(!progress.not_attested(3, oracle, "too big".into()));
        for epoch in 10..10 + KEPT_NOT_ATTESTED as u64 {
            progress.not_attested(epoch, oracle, "x".into());
        }
        let kept = progress.not_attested_manifests();
        assert_eq!(kept.len(), KEPT_NOT_ATTESTED);
        assert_eq!(kept[0].epoch, 10);
    }

    #[test]
    fn root_lags_keep_the_latest_epochs() {
        let progress = Progress::default();
        for epoch in 0..40 {
            progress.rooted(epoch, epoch * 2);
        }
        let lags = progress.root_lags();
        assert_eq!(lags.len(), KEPT_ROOT_LAGS);
        assert_eq!(
            lags.last(),
            Some(&RootLag {
                epoch: 39,
                root_lag_secs: 78
            })
        );
    }
}
