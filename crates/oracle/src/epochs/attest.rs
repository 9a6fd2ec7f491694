//! Attesting: during the attest window, fetch every committed manifest and its files, check
//! them against the chain and against the log bounds ([`super::bounds`]), and attest those that
//! are whole and within them. An oracle that withholds its files, or whose files would cost
//! more to replay than the bounds allow, gets no attestation from this one (the status says
//! why); once the window closes, which manifests count is final.
//!
//! Each peer's manifest is fetched on a thread of its own ([`Fetches`], kept until the epoch is
//! rewarded), and the worker attests on each tick what has become whole since: a peer that
//! serves slowly or not at all delays only its own attestation, never the others' nor the
//! stages of other epochs.

use super::background::Jobs;
use super::bounds::{check_manifest, LogBounds, NotAttested};
use super::StageError;
use super::{Stage, Worker};
use crate::chain::submit::Outcome;
use crate::epochs::fetch::{sources, Fetcher};
use cairn_ledger::state::records::EpochManifests;
use cairn_ledger::StateKey;
use cairn_types::codec::BoundedVec;
use cairn_types::tx::{Action, ManifestRef};
use cairn_types::{Address, Epoch, Hash};

/// One peer manifest: the epoch, the oracle that committed it, and its committed hash.
pub type FetchKey = (Epoch, Address, Hash);

/// The background fetches of peer manifests and their files, by [`FetchKey`]; once whole, each
/// manifest's verdict against the log bounds.
pub type Fetches = Jobs<FetchKey, Result<(), NotAttested>>;

/// What a fetched manifest's files are checked against: the bounds in force and the devices
/// registered (this oracle's device book).
#[derive(Clone)]
pub struct Checks {
    /// The bounds.
    pub bounds: LogBounds,
    /// The registered devices.
    pub book: std::sync::Arc<crate::registry::DeviceBook>,
}

/// The endpoints of the epoch's other committers, which may keep copies of `oracle`'s manifest
/// and files (those that attested it first); this oracle (`me`) and `oracle` left out.
pub fn mirrors(manifests: &EpochManifests, oracle: &Address, me: &Address) -> Vec<String> {
    let Some(entry) = manifests.0.get(oracle) else {
        return Vec::new();
    };
    let mut others: Vec<(bool, String)> = manifests
        .0
        .iter()
        .filter(|(o, _)| *o != oracle && *o != me)
        .map(|(o, e)| (!entry.attesters.contains(o), e.endpoint.clone()))
        .collect();
    others.sort_by_key(|(not_attester, _)| *not_attester); // stable: address order within
    others.into_iter().map(|(_, endpoint)| endpoint).collect()
}

/// The verdict on the manifest `key` when it and its files are whole here (within the bounds
/// of `checks`, or the first one crossed); `None` otherwise, having started (or restarted)
/// fetching them in the background: from its oracle's `endpoint`, else from the copies kept at
/// `mirrors`.
pub(super) fn whole_or_fetch(
    fetches: &Fetches,
    (fetcher, checks): (&Fetcher, &Checks),
    endpoint: &str,
    mirrors: Vec<String>,
    key: FetchKey,
) -> Option<Result<(), NotAttested>> {
    let (fetcher, endpoint, checks) = (fetcher.clone(), endpoint.to_string(), checks.clone());
    fetches.result_or_start(key, move || {
        let (epoch, oracle, hash) = key;
        let bases = sources(&endpoint, &oracle, &mirrors);
        let not_whole = |error: String| {
            tracing::warn!(%oracle, %error, epoch = epoch.0, "oracle.fetch: not whole yet");
            error
        };
        let manifest = fetcher
            .manifest_from(&bases, &oracle, epoch, &hash)
            .and_then(|m| fetcher.files_from(&bases, &m).map(|()| m))
            .map_err(|e| not_whole(e.to_string()))?;
        let verdict = check_manifest(&fetcher, &manifest, &checks.bounds, &*checks.book)
            .map_err(|e| not_whole(e.to_string()))?;
        Ok(verdict.map(|_| ()))
    })
}

impl Worker {
    /// Attests what it can of `epoch`; the stage ends when the attest window has closed.
    pub(super) fn attest(&self, epoch: Epoch) -> Result<Option<Stage>, StageError> {
        let Some(closes) = self.window_closes(epoch)? else {
            return Ok(None);
        };
        if self.followed_ms() > closes.attestations_ms {
            return Ok(Some(Stage::Attested));
        }
        let manifests: EpochManifests = self
            .client
            .state(&StateKey::Manifests(epoch), None)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let checks = self.checks();
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
                let verdict = whole_or_fetch(
                    &self.fetches,
                    (&self.fetcher, &checks),
                    &entry.endpoint,
                    mirrors(&manifests, oracle, &self.oracle),
                    (epoch, *oracle, entry.manifest),
                );
                match verdict {
                    Some(Err(why)) => {
                        if self
                            .progress
                            .not_attested(epoch.0, *oracle, why.to_string())
                        {
                            tracing::warn!(%oracle, epoch = epoch.0, %why, "oracle.attest: not attested");
                        }
                        false
                    }
                    whole => whole.is_some(),
                }
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

impl Worker {
    /// What peer manifests are checked against now: the bounds in force and the device book.
    pub(super) fn checks(&self) -> Checks {
        Checks {
            bounds: LogBounds::from_params(&self.watch.params()),
            book: self.watch.book.clone(),
        }
    }
}
