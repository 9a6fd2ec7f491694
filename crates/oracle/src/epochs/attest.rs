//! Attesting: during the attest window, fetch every committed manifest and its files, check
//! them against the chain, and attest those that are whole. An oracle that withholds its files
//! gets no attestation from this one; once the window closes, which manifests count is final.
//!
//! Each peer's manifest is fetched on a thread of its own ([`Fetches`]), and the worker attests
//! on each tick what has become whole since: a peer that serves slowly or not at all delays
//! only its own attestation, never the others' nor the stages of other epochs.

use super::{Stage, Worker};
use crate::chain::submit::Outcome;
use crate::epochs::fetch::Fetcher;
use cairn_ledger::state::records::EpochManifests;
use cairn_ledger::StateKey;
use cairn_types::codec::BoundedVec;
use cairn_types::tx::{Action, ManifestRef};
use cairn_types::{Address, Epoch, Hash};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long after a failed fetch it is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(10);

/// Where one peer manifest's fetch stands.
#[derive(Clone, Debug)]
enum FetchState {
    Running,
    Whole,
    Failed(Instant),
}

/// One peer manifest: the epoch, the oracle that committed it, and its committed hash.
type FetchKey = (Epoch, Address, Hash);

/// The background fetches of peer manifests, by [`FetchKey`].
#[derive(Clone, Default)]
pub struct Fetches(Arc<Mutex<HashMap<FetchKey, FetchState>>>);

impl Fetches {
    /// True when the manifest is whole here; starts (or restarts, after [`RETRY_AFTER`]) its
    /// fetch otherwise.
    fn whole_or_start(&self, fetcher: &Fetcher, endpoint: &str, key: FetchKey) -> bool {
        let mut map = self.lock();
        match map.get(&key) {
            Some(FetchState::Whole) => return true,
            Some(FetchState::Running) => return false,
            Some(FetchState::Failed(at)) if at.elapsed() < RETRY_AFTER => return false,
            _ => {}
        }
        map.insert(key, FetchState::Running);
        drop(map);
        let (fetcher, endpoint, fetches) = (fetcher.clone(), endpoint.to_string(), self.clone());
        let spawned = std::thread::Builder::new()
            .name("oracle-fetch".into())
            .spawn(move || {
                let (epoch, oracle, hash) = key;
                let outcome = fetcher
                    .manifest(&endpoint, &oracle, epoch, &hash)
                    .and_then(|m| fetcher.files(&endpoint, &m));
                let state = match outcome {
                    Ok(()) => FetchState::Whole,
                    Err(error) => {
                        tracing::warn!(%oracle, %error, epoch = epoch.0, "oracle.attest: not whole yet");
                        FetchState::Failed(Instant::now())
                    }
                };
                fetches.lock().insert(key, state);
            });
        if spawned.is_err() {
            self.lock().insert(key, FetchState::Failed(Instant::now()));
        }
        false
    }

    /// Forgets the fetches of epochs before `epoch`.
    fn forget_before(&self, epoch: Epoch) {
        self.lock()
            .retain(|(e, _, _), state| *e >= epoch || matches!(state, FetchState::Running));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<FetchKey, FetchState>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Worker {
    /// Attests what it can of `epoch`; the stage ends when the attest window has closed.
    pub(super) fn attest(&self, epoch: Epoch) -> Result<Option<Stage>, String> {
        let Some(closes) = self.window_closes(epoch)? else {
            return Ok(None);
        };
        if self.followed_ms() > closes.attestations_ms {
            self.fetches.forget_before(epoch.next());
            return Ok(Some(Stage::Attested));
        }
        let manifests: EpochManifests = self
            .client
            .state(&StateKey::Manifests(epoch), None)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let mut refs = Vec::new();
        for (oracle, entry) in &manifests.0 {
            if entry.attesters.contains(&self.oracle) {
                continue;
            }
            let whole = if *oracle == self.oracle {
                // Its own files are in its own store: what it committed is what it holds.
                self.index
                    .manifest(epoch)
                    .ok()
                    .flatten()
                    .and_then(|bytes| crate::manifest::Manifest::decode(&bytes).ok())
                    .is_some_and(|m| m.hash() == entry.manifest)
            } else {
                self.fetches.whole_or_start(
                    &self.fetcher,
                    &entry.endpoint,
                    (epoch, *oracle, entry.manifest),
                )
            };
            if whole {
                refs.push(ManifestRef {
                    oracle: *oracle,
                    manifest: entry.manifest,
                });
            }
        }
        if refs.is_empty() {
            return Ok(None);
        }
        let count = refs.len();
        let action = Action::AttestManifests {
            epoch,
            manifests: BoundedVec::new(refs).map_err(|e| e.to_string())?,
        };
        match self.submitter.send(action).map_err(|e| e.to_string())? {
            Outcome::Included { height } => {
                tracing::info!(epoch = epoch.0, count, height, "oracle.attest: attested")
            }
            other => tracing::warn!(epoch = epoch.0, ?other, "oracle.attest: not taken"),
        }
        Ok(None)
    }
}
