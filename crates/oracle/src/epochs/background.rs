//! Work that waits on other oracles, run on threads of its own so that the worker never does:
//! a peer that answers slowly or not at all delays only what needs that peer, never the other
//! peers nor the stages of other epochs.
//!
//! The worker asks on each tick for a job's result ([`Jobs::result_or_start`]); the first ask
//! starts the job, a failed job is started again [`RETRY_AFTER`] after it failed, and a result
//! is kept until forgotten.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long after a failed job it is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(10);

/// Where one job stands.
#[derive(Clone, Debug)]
enum JobState<V> {
    Running,
    Done(V),
    Failed(Instant),
}

/// Background jobs by key, each with its result once done.
pub struct Jobs<K, V>(Arc<Mutex<HashMap<K, JobState<V>>>>);

impl<K, V> Clone for Jobs<K, V> {
    fn clone(&self) -> Self {
        Jobs(self.0.clone())
    }
}

impl<K, V> Default for Jobs<K, V> {
    fn default() -> Self {
        Jobs(Arc::new(Mutex::new(HashMap::new())))
    }
}

impl<K, V> Jobs<K, V>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    /// The result of the job `key` if it is done; otherwise starts `job` on a thread of its own
    /// (unless it is running, or failed less than [`RETRY_AFTER`] ago) and answers `None`.
    pub fn result_or_start(
        &self,
        key: K,
        job: impl FnOnce() -> Result<V, String> + Send + 'static,
    ) -> Option<V> {
        let mut map = self.lock();
        match map.get(&key) {
            Some(JobState::Done(value)) => return Some(value.clone()),
            Some(JobState::Running) => return None,
            Some(JobState::Failed(at)) if at.elapsed() < RETRY_AFTER => return None,
            _ => {}
        }
        map.insert(key.clone(), JobState::Running);
        drop(map);
        let jobs = self.clone();
        let thread_key = key.clone();
        let spawned = std::thread::Builder::new()
            .name("oracle-peer".into())
            .spawn(move || {
                let state = match job() {
                    Ok(value) => JobState::Done(value),
                    Err(error) => {
                        tracing::debug!(%error, "oracle.background: will retry");
                        JobState::Failed(Instant::now())
                    }
                };
                // A job forgotten while it ran leaves no result behind.
                if let Some(slot) = jobs.lock().get_mut(&thread_key) {
                    *slot = state;
                }
            });
        if spawned.is_err() {
            self.lock().insert(key, JobState::Failed(Instant::now()));
        }
        None
    }

    /// Forgets the job `key` (it runs again when next asked for; one still running leaves no
    /// result).
    pub fn forget(&self, key: &K) {
        self.lock().remove(key);
    }

    /// Forgets every job whose key `drop` picks, as [`Jobs::forget`].
    pub fn forget_where(&self, drop: impl Fn(&K) -> bool) {
        self.lock().retain(|key, _| !drop(key));
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, JobState<V>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asks for `key` until its job has finished (at most 10 s).
    fn wait(jobs: &Jobs<u8, u32>, key: u8, value: Result<u32, String>) -> Option<u32> {
        let started = Instant::now();
        loop {
            let value = value.clone();
            if let Some(v) = jobs.result_or_start(key, move || value) {
                return Some(v);
            }
            if matches!(jobs.lock().get(&key), Some(JobState::Failed(_))) {
                return None;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the job never ended"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_result_is_kept_a_failure_waits_and_forgetting_runs_again() {
        let jobs: Jobs<u8, u32> = Jobs::default();
        assert_eq!(wait(&jobs, 1, Ok(7)), Some(7));
        // Kept: a job that would answer otherwise is not run again.
        assert_eq!(jobs.result_or_start(1, || Ok(8)), Some(7));
        // A failure is not retried before RETRY_AFTER.
        assert_eq!(wait(&jobs, 2, Err("down".into())), None);
        assert_eq!(jobs.result_or_start(2, || Ok(9)), None);
        assert!(matches!(jobs.lock().get(&2), Some(JobState::Failed(_))));
        // Forgotten, a key's job runs again.
        jobs.forget(&1);
        assert_eq!(wait(&jobs, 1, Ok(8)), Some(8));
        jobs.forget_where(|k| *k < 3);
        assert!(jobs.lock().is_empty());
    }
}
