//! Attesting: during the attest window, fetch every committed manifest and its files, check
//! them against the chain, and attest those that are whole. An oracle that withholds its files
//! gets no attestation from this one; once the window closes, which manifests count is final.
//!
//! Each peer's manifest is fetched on a thread of its own ([`Fetches`], kept until the epoch is
//! rewarded), and the worker attests on each tick what has become whole since: a peer that
//! serves slowly or not at all delays only its own attestation, never the others' nor the
//! stages of other epochs.

use super::background::Jobs;
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

/// The background fetches of peer manifests and their files, by [`FetchKey`].
pub type Fetches = Jobs<FetchKey, ()>;

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

/// True when the manifest `key` and its files are whole here; starts (or restarts) fetching
/// them in the background otherwise: from its oracle's `endpoint`, else from the copies kept
/// at `mirrors`.
pub(super) fn whole_or_fetch(
    fetches: &Fetches,
    fetcher: &Fetcher,
    endpoint: &str,
    mirrors: Vec<String>,
    key: FetchKey,
) -> bool {
    let (fetcher, endpoint) = (fetcher.clone(), endpoint.to_string());
    fetches
        .result_or_start(key, move || {
            let (epoch, oracle, hash) = key;
            let bases = sources(&endpoint, &oracle, &mirrors);
            fetcher
                .manifest_from(&bases, &oracle, epoch, &hash)
                .and_then(|m| fetcher.files_from(&bases, &m))
                .map_err(|error| {
                    tracing::warn!(%oracle, %error, epoch = epoch.0, "oracle.fetch: not whole yet");
                    error.to_string()
                })
        })
        .is_some()
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
                whole_or_fetch(
                    &self.fetches,
                    &self.fetcher,
                    &entry.endpoint,
                    mirrors(&manifests, oracle, &self.oracle),
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
