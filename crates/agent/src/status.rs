//! Local status over HTTP (`GET /status`): the devices, the outbox, the clock, and per oracle
//! what it answered (counts by code) and its last error, so an owner sees at once why reports
//! are not getting through.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use cairn_types::ingest::IngestStatus;
use cairn_types::{DeviceId, Hash};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What one oracle answered so far.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OracleStats {
    /// Its URL.
    pub url: String,
    /// Reports it accepted.
    pub accepted: u64,
    /// Reports it already held.
    pub duplicates: u64,
    /// Refusals by code.
    pub refused: BTreeMap<String, u64>,
    /// The last failure to reach it, if the last attempt failed.
    pub last_error: Option<String>,
}

/// Counters the tasks update.
pub struct Stats {
    oracles: Mutex<Vec<OracleStats>>,
    made: AtomicU64,
}

impl Stats {
    /// Counters for these oracles.
    pub fn new(urls: &[String]) -> Stats {
        Stats {
            oracles: Mutex::new(
                urls.iter()
                    .map(|url| OracleStats {
                        url: url.clone(),
                        ..OracleStats::default()
                    })
                    .collect(),
            ),
            made: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<OracleStats>> {
        self.oracles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts reports made.
    pub fn made(&self, n: u64) {
        self.made.fetch_add(n, Ordering::Relaxed);
    }

    /// Reports made since start.
    pub fn made_total(&self) -> u64 {
        self.made.load(Ordering::Relaxed)
    }

    /// Counts one answer of oracle number `oracle`.
    pub fn answered(&self, oracle: usize, status: IngestStatus) {
        if let Some(s) = self.lock().get_mut(oracle) {
            s.last_error = None;
            match status {
                IngestStatus::Accepted => s.accepted += 1,
                IngestStatus::Duplicate => s.duplicates += 1,
                IngestStatus::Refused(r) => {
                    *s.refused.entry(r.code().to_string()).or_default() += 1
                }
            }
        }
    }

    /// Records a failed attempt.
    pub fn failed(&self, oracle: usize, error: &str) {
        if let Some(s) = self.lock().get_mut(oracle) {
            s.last_error = Some(error.to_string());
        }
    }

    /// A copy of every oracle's counters.
    pub fn oracles(&self) -> Vec<OracleStats> {
        self.lock().clone()
    }
}

/// The status page.
#[derive(Clone, Debug, Serialize)]
pub struct StatusAnswer {
    /// The devices this agent speaks for.
    pub devices: Vec<DeviceId>,
    /// Reports waiting in the outbox.
    pub outbox: u64,
    /// The oracles' time minus the local clock.
    pub clock_offset_ms: i64,
    /// Whether a majority of the oracles ever agreed on the time (no report is made before).
    pub clock_synced: bool,
    /// The latest round of asking found no majority of the oracles' clocks within
    /// `clock_tolerance_ms` of one another: the offset agreed before is kept.
    pub clock_unagreed: bool,
    /// The latest round found no block whose digest more than half of the oracles give: the
    /// entropy agreed before is kept.
    pub entropy_unagreed: bool,
    /// The height of the entropy reports carry.
    pub entropy_height: u64,
    /// The entropy.
    pub entropy: Hash,
    /// Per oracle.
    pub oracles: Vec<OracleStats>,
    /// Reports made since start.
    pub reports_made: u64,
    /// Simulated coverage cheaters, by part (`spoofed`, `ring`, `fabricator`, `replayer`).
    pub cheaters: std::collections::BTreeMap<&'static str, Vec<DeviceId>>,
}

/// `GET /status`, answered by `answer` (on a blocking thread).
pub fn router(answer: Answer) -> Router {
    Router::new()
        .route("/status", get(status))
        .with_state(answer)
}

/// What the status is made of, read from the agent.
type Answer = Arc<dyn Fn() -> StatusAnswer + Send + Sync>;

async fn status(State(answer): State<Answer>) -> Json<StatusAnswer> {
    let a = answer.clone();
    let made = tokio::task::spawn_blocking(move || a()).await;
    Json(made.unwrap_or_else(|_| answer()))
}
