//! One verification per block for all of a node's seat engines.
//!
//! A node with `k` seats runs `k` simplex engines, and each asks the application to verify every
//! proposal: without this cache a block's signatures, carried votes and state root would be
//! checked `k` times. The first engine to ask starts the check; the others wait for the same
//! answer ([`futures::future::Shared`]). The leader check, which depends on the round, stays with
//! each engine. The cache holds a running check weakly: once no engine waits for it any more (the
//! view moved on), the check and the block it holds are dropped, so a hostile leader cannot pin
//! memory with checks that wait (a block timed in the future). A finished check leaves only its
//! answer. It remembers the last [`KEPT`] blocks.

use crate::types::BlockDigest;
use futures::future::{BoxFuture, FutureExt, Shared, WeakShared};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// How many blocks' verdicts are kept (a few views' worth of proposals from every seat).
pub const KEPT: usize = 1_024;

/// A verdict that every engine of this node awaits.
pub type Verdict = Shared<BoxFuture<'static, bool>>;

/// Verdicts by block digest, shared by a node's engines.
#[derive(Clone, Default)]
pub struct Verdicts {
    inner: Arc<Mutex<Kept>>,
}

#[derive(Default)]
struct Kept {
    order: VecDeque<BlockDigest>,
    by_digest: HashMap<BlockDigest, Entry>,
}

/// A block's check: under way (held weakly), or done.
enum Entry {
    Running(WeakShared<BoxFuture<'static, bool>>),
    Done(bool),
}

impl Verdicts {
    fn kept(&self) -> MutexGuard<'_, Kept> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The verdict on the block `digest`: the one already given or started, or `check` started
    /// now.
    pub fn get_or_start(
        &self,
        digest: BlockDigest,
        check: impl FnOnce() -> BoxFuture<'static, bool>,
    ) -> Verdict {
        let mut kept = self.kept();
        match kept.by_digest.get(&digest) {
            Some(Entry::Done(answer)) => return futures::future::ready(*answer).boxed().shared(),
            Some(Entry::Running(weak)) => {
                if let Some(verdict) = weak.upgrade() {
                    return verdict;
                }
            }
            None => {}
        }
        // The finished answer is remembered, so an engine asking later does not check again.
        let cache = self.clone();
        let check = check();
        let verdict = async move {
            let answer = check.await;
            cache.finish(digest, answer);
            answer
        }
        .boxed()
        .shared();
        let Some(weak) = verdict.downgrade() else {
            return verdict;
        };
        if kept
            .by_digest
            .insert(digest, Entry::Running(weak))
            .is_none()
        {
            kept.order.push_back(digest);
        }
        while kept.order.len() > KEPT {
            if let Some(oldest) = kept.order.pop_front() {
                kept.by_digest.remove(&oldest);
            }
        }
        verdict
    }

    /// Remembers the answer of a finished check.
    fn finish(&self, digest: BlockDigest, answer: bool) {
        if let Some(entry) = self.kept().by_digest.get_mut(&digest) {
            *entry = Entry::Done(answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Hasher;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn digest(i: u64) -> BlockDigest {
        commonware_cryptography::blake3::Blake3::hash(&[&i.to_be_bytes()])
    }

    #[test]
    fn each_block_is_checked_once_and_every_engine_gets_the_answer() {
        let verdicts = Verdicts::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let start = |i: u64, answer: bool| {
            let runs = runs.clone();
            verdicts.get_or_start(digest(i), move || {
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    answer
                }
                .boxed()
            })
        };
        let (a, b, c) = (start(1, true), start(1, false), start(2, false));
        assert!(futures::executor::block_on(a));
        assert!(
            futures::executor::block_on(b),
            "the second engine gets the first answer"
        );
        assert!(!futures::executor::block_on(c));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_check_nobody_waits_for_is_dropped_and_a_finished_one_remembered() {
        let verdicts = Verdicts::default();
        let first = verdicts.get_or_start(digest(1), || async { true }.boxed());
        drop(first);
        // The engine that asked is gone before the check ran: a later ask starts it again.
        let again = verdicts.get_or_start(digest(1), || async { false }.boxed());
        assert!(!futures::executor::block_on(again));
        // Finished: the answer is kept, and nothing is checked again.
        let later = verdicts.get_or_start(digest(1), || async { true }.boxed());
        assert!(!futures::executor::block_on(later));
    }

    #[test]
    fn only_the_latest_verdicts_are_kept() {
        let verdicts = Verdicts::default();
        let mut held = Vec::new();
        for i in 0..(KEPT as u64 + 10) {
            held.push(verdicts.get_or_start(digest(i), || async { true }.boxed()));
        }
        let kept = verdicts.inner.lock().expect("lock");
        assert_eq!(kept.by_digest.len(), KEPT);
        assert!(!kept.by_digest.contains_key(&digest(0)));
    }
}
