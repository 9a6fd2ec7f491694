//! Attesting: during the attest window, fetch every committed manifest and its files, check
//! them against the chain, and attest those that are whole. An oracle that withholds its files
//! gets no attestation from this one; once the window closes, which manifests count is final.

use super::{Stage, Worker};
use crate::chain::submit::Outcome;
use cairn_ledger::state::records::EpochManifests;
use cairn_ledger::StateKey;
use cairn_types::codec::BoundedVec;
use cairn_types::tx::{Action, ManifestRef};
use cairn_types::Epoch;

impl Worker {
    /// Attests what it can of `epoch`; the stage ends when the attest window has closed.
    pub(super) fn attest(&self, epoch: Epoch) -> Result<Option<Stage>, String> {
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
                match self
                    .fetcher
                    .manifest(&entry.endpoint, oracle, epoch, &entry.manifest)
                    .and_then(|m| self.fetcher.files(&entry.endpoint, &m))
                {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::warn!(%oracle, %error, epoch = epoch.0, "oracle.attest: not attested");
                        false
                    }
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
