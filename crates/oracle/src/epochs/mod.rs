//! The committee's work for each reward epoch, in stages, each recorded in the index so that a
//! restarted oracle goes on where it stopped and never does a stage twice:
//!
//! ```text
//!  Open ──close──> Committed ──attest window closes──> Attested ──rewards──> Rewarded ──root──> Done
//!   cut the log at the end          fetch, check, attest            compute, sign     gather 2/3,
//!   plus the allowed delay;         the others' manifests           (every oracle     submit; or a
//!   commit the manifest's hash                                       alone)            later root
//! ```
//!
//! - [`fetch`]: other oracles' manifests and files, checked against the chain.
//! - [`background`]: what waits on other oracles, on threads of its own.
//! - [`bootstrap`]: the cumulative rewards an oracle's first epoch starts from.
//! - [`close`]: the cut-off and the manifest commit.
//! - [`bounds`]: what another oracle's log may hold before this one attests it.
//! - [`attest`]: attesting the manifests whose files this oracle fetched and checked.
//! - [`reward`]: computing, keeping and signing the epoch's rewards.
//! - [`root`]: gathering 2/3 of oracle stake's signatures and submitting the root.
//! - [`retain`]: deleting logs older than `log_retention_epochs`.
//! - [`progress`]: failed stages waiting to be tried again, and what chain reads cost.
//! - [`error`]: a stage's failure: this oracle's own records (it stops) or anything else
//!   (tried again).

pub mod attest;
pub mod background;
pub mod bootstrap;
pub mod bounds;
pub mod close;
pub mod error;
pub mod fetch;
pub mod progress;
pub mod retain;
pub mod reward;
pub mod root;

use crate::chain::client::NodeClient;
use crate::chain::submit::Submitter;
use crate::chain::ChainWatch;
use crate::index::Index;
use crate::ingest::Ingest;
use crate::log::store::LogStore;
use crate::log::ReportLog;
use cairn_ledger::exec::manifests::{window_closes, WindowCloses};
use cairn_types::{Address, Epoch};
pub use error::StageError;
use fetch::Fetcher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the worker looks at the chain.
pub const TICK: Duration = Duration::from_secs(1);
/// Extra wait after an epoch's end plus the allowed delay and skew before it is cut, for
/// reports in flight.
pub const CLOSE_GRACE_MS: u64 = 2_000;
/// Reward epochs looked at, back from the current one (a root pays at most 64 consensus
/// epochs back: older ones are out of reach anyway).
pub const MAX_EPOCHS_BEHIND: u64 = 64;

/// How far an epoch got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Stage {
    /// Nothing done.
    Open = 0,
    /// The log was cut and the manifest committed (or its window missed).
    Committed = 1,
    /// The attest window closed: which manifests count is final.
    Attested = 2,
    /// Rewards computed and the roots signed.
    Rewarded = 3,
    /// A root covering the epoch is on chain, or a later one will cover it.
    Done = 4,
}

impl Stage {
    fn of(byte: u8) -> Stage {
        match byte {
            1 => Stage::Committed,
            2 => Stage::Attested,
            3 => Stage::Rewarded,
            4 => Stage::Done,
            _ => Stage::Open,
        }
    }
}

/// What the worker uses.
pub struct Worker {
    /// This oracle.
    pub oracle: Address,
    /// Where others fetch from.
    pub public_url: String,
    /// The coverage denylist file ("" for none), read for each manifest.
    pub denylist: String,
    /// The entries last read from it (committed if a later read fails).
    pub last_denylist: std::sync::Mutex<Vec<crate::denylist::DenyEntry>>,
    /// The node.
    pub client: NodeClient,
    /// The nodes an epoch's state is read from: `client`'s first, then `nodes` of the
    /// configuration (asked in turn when one refuses, is busy, or does not prove its answer).
    pub read_clients: Vec<NodeClient>,
    /// The seats headers' certificates are checked against, followed from the genesis
    /// (`None` without `genesis` in the configuration: headers are then the nodes' word).
    pub trust: Option<Arc<crate::chain::trust::HeaderTrust>>,
    /// The oracle's transactions.
    pub submitter: Arc<Submitter>,
    /// The chain as followed.
    pub watch: Arc<ChainWatch>,
    /// The oracle's records.
    pub index: Arc<Index>,
    /// Its log files.
    pub store: LogStore,
    /// Its log writer (to roll at the cut-off).
    pub log: ReportLog,
    /// Ingest (to refuse reports of closed epochs).
    pub ingest: Arc<Ingest>,
    /// Other oracles' logs.
    pub fetcher: Fetcher,
    /// The fetches of peer manifests and files, in the background.
    pub fetches: attest::Fetches,
    /// The other oracles' signed results, fetched in the background.
    pub signed: root::SignedFetches,
    /// The cumulative rewards before this oracle's first epoch, fetched in the background.
    pub bootstraps: bootstrap::Bootstraps,
    /// The runtime the store and the log need.
    pub runtime: tokio::runtime::Handle,
    /// The first epoch whose logs retention last kept (0: nothing deleted yet).
    pub retained: AtomicU64,
    /// Each epoch's failures and retry times, and what chain reads cost (shown by the status).
    pub progress: Arc<progress::Progress>,
}

impl Worker {
    /// Runs until the watch says stop (a blocking loop for its own thread), or until this
    /// oracle's own records fail: then it returns the fault, and the oracle stops.
    pub fn run(&self) -> Result<(), StageError> {
        while !self.watch.stopping.load(Ordering::Relaxed) {
            match self.tick() {
                Ok(()) => {}
                Err(error) if error.is_fatal() => {
                    tracing::error!(%error, "oracle.epochs: stopping");
                    return Err(error);
                }
                Err(error) => tracing::warn!(%error, "oracle.epochs: will retry"),
            }
            std::thread::sleep(TICK);
        }
        Ok(())
    }

    fn tick(&self) -> Result<(), StageError> {
        let followed = self.index.followed_height()?;
        if followed == 0 {
            return Ok(());
        }
        let clock = self.watch.config.reward_clock();
        let current = clock.reward_epoch_at(followed).0;
        let first = self.first_epoch(&clock)?;
        // Each ended epoch moves on through its stages; one whose windows passed while the
        // oracle was down passes through them without acting (a missed commit is not made).
        let mut first_not_done = current;
        for epoch in self.oldest_to_walk(first, current)?..current {
            if self.index.stage(epoch)? == Stage::Done as u8 {
                continue;
            }
            // One epoch that cannot move on (a peer's file missing, a node error) does not hold
            // back the stages of the others, and is tried again after a wait that doubles with
            // each failure (or what the node asked for), so a busy node is not flooded.
            if self.progress.waiting(epoch) {
                first_not_done = first_not_done.min(epoch);
                continue;
            }
            match self.advance(Epoch(epoch)) {
                Ok(()) => self.progress.succeeded(epoch),
                Err(error) if error.is_fatal() => return Err(error),
                Err(error) => {
                    tracing::warn!(epoch, %error, "oracle.epochs: will retry");
                    self.progress
                        .failed(epoch, error.to_string(), MAX_EPOCHS_BEHIND);
                }
            }
            if self.index.stage(epoch)? != Stage::Done as u8 {
                first_not_done = first_not_done.min(epoch);
            }
        }
        self.retain(current, first_not_done)
    }

    /// Where a tick's walk starts: [`MAX_EPOCHS_BEHIND`] epochs back (or the oracle's first
    /// epoch), unless an epoch further back is still not rewarded (the oracle, or every oracle,
    /// was down for longer). Epochs are rewarded in order, so the walk must start there, or no
    /// later epoch could ever be rewarded and no root would land again. Those epochs pass
    /// through their stages without acting: their windows are long closed, nothing was
    /// counted, and their roots are too old for the chain.
    fn oldest_to_walk(&self, first: u64, current: u64) -> Result<u64, StageError> {
        let mut oldest = first.max(current.saturating_sub(MAX_EPOCHS_BEHIND));
        while oldest > first && self.index.stage(oldest - 1)? < Stage::Rewarded as u8 {
            oldest -= 1;
        }
        Ok(oldest)
    }

    /// The first reward epoch this oracle works on: the one the chain was in when the oracle
    /// first started, not the one its follower had reached. An oracle that joins late (or
    /// lost its records) and follows the chain from genesis does not recompute epochs whose
    /// logs may be long gone; its first epoch starts from the others' cumulative rewards
    /// ([`bootstrap`]).
    fn first_epoch(&self, clock: &cairn_types::epoch::RewardClock) -> Result<u64, StageError> {
        if let Some(first) = self.index.known_first_epoch()? {
            return Ok(first);
        }
        let head = self.client.status().map_err(|e| e.to_string())?.height;
        let first = clock.reward_epoch_at(head.max(1)).0;
        Ok(self.index.first_epoch(first)?)
    }

    /// Moves one ended epoch on by as many stages as it can now.
    fn advance(&self, epoch: Epoch) -> Result<(), StageError> {
        let stage = Stage::of(self.index.stage(epoch.0)?);
        let next = match stage {
            Stage::Open => self.close(epoch)?,
            Stage::Committed => self.attest(epoch)?,
            Stage::Attested => self.reward(epoch)?,
            Stage::Rewarded => self.submit_roots(epoch)?,
            Stage::Done => None,
        };
        if let Some(next) = next {
            self.index.set_stage(epoch.0, next as u8)?;
            tracing::info!(epoch = epoch.0, stage = ?next, "oracle.epochs: stage done");
        }
        Ok(())
    }

    /// When `epoch`'s commit and attest windows close (block time, as the chain counts them),
    /// once the block that ended it was followed.
    pub fn window_closes(&self, epoch: Epoch) -> Result<Option<WindowCloses>, StageError> {
        let end_ms = self.index.epoch_start(epoch.0 + 1)?;
        Ok(end_ms.map(|ms| window_closes(&self.watch.params(), ms)))
    }

    /// The oracle stake recorded when reward epoch `epoch` began (what its 2/3 is of).
    pub fn stakes_of(
        &self,
        epoch: Epoch,
    ) -> Result<cairn_ledger::state::records::OracleStakes, StageError> {
        let began = self.watch.config.reward_clock().first_epoch(epoch);
        Ok(self
            .client
            .state(&cairn_ledger::StateKey::OracleStakes(began), None)
            .map_err(|e| e.to_string())?
            .unwrap_or_default())
    }

    /// The time of the latest block followed (0 until one is followed after a start): a window
    /// has passed once a block timed after its close is final.
    pub fn followed_ms(&self) -> u64 {
        self.watch.beacon().timestamp_ms
    }
}

impl From<StageError> for String {
    fn from(error: StageError) -> String {
        error.to_string()
    }
}
