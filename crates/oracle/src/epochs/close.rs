//! The cut-off: once an epoch's end plus the allowed delay and skew has passed, no report of it
//! can still arrive. The oracle refuses any that do (`epoch_closed`), rolls its journal into a
//! file, lists the files that hold reports of the epoch in its manifest, keeps the manifest
//! and commits its hash on chain within the commit window.

use super::StageError;
use super::{Stage, Worker, CLOSE_GRACE_MS};
use crate::chain::submit::Outcome;
use crate::manifest::{Manifest, ManifestFile};
use crate::now_ms;
use cairn_types::codec::{BoundedString, BoundedVec};
use cairn_types::tx::{Action, ManifestCommit};
use cairn_types::Epoch;

/// How far past an epoch's commit window this machine's clock must be for the oracle to take
/// the window as passed before its follower has seen a block timed after it (block times stay
/// within seconds of real time).
const COMMIT_LATE_MARGIN_MS: u64 = 60_000;

impl Worker {
    /// Cuts `epoch` and commits its manifest, when it is time.
    pub(super) fn close(&self, epoch: Epoch) -> Result<Option<Stage>, StageError> {
        let starts = (
            self.index.epoch_start(epoch.0)?,
            self.index.epoch_start(epoch.0 + 1)?,
        );
        let (Some(start_ms), Some(end_ms)) = starts else {
            return Ok(None);
        };
        let params = self.watch.params();
        let late_ms = (params.report_delay_max_secs + params.report_skew_max_secs) * 1_000;
        if now_ms() < end_ms + late_ms + CLOSE_GRACE_MS {
            return Ok(None);
        }
        let mut rules = self.ingest.rules();
        rules.closed_before_ms = rules.closed_before_ms.max(end_ms);
        self.ingest.set_rules(rules);
        self.runtime
            .block_on(self.log.roll())
            .map_err(|e| e.to_string())?;
        // Made once: a retry (say, the commit was sent but its inclusion not seen) commits the
        // manifest already kept, never one rebuilt from a denylist edited meanwhile.
        let kept = self.index.manifest(epoch)?;
        let manifest = match kept {
            Some(bytes) => Manifest::decode(&bytes).map_err(|e| e.to_string())?,
            None => {
                let manifest = self.manifest(epoch, start_ms, end_ms)?;
                self.index.put_manifest(epoch, &manifest.encode())?;
                manifest
            }
        };
        let closes = super::window_closes(&params, end_ms);
        // Passed by the chain's time as followed, or by this machine's clock by far more than
        // any block time may drift (the follower still catching up after an outage would
        // otherwise send a commit bound to be refused for every epoch missed).
        let passed_by_clock =
            crate::now_ms().saturating_sub(COMMIT_LATE_MARGIN_MS) > closes.commits_ms;
        if self.followed_ms() > closes.commits_ms || passed_by_clock {
            tracing::warn!(
                epoch = epoch.0,
                "oracle.close: the commit window has passed"
            );
            return Ok(Some(Stage::Committed));
        }
        let commit = ManifestCommit {
            epoch,
            manifest: manifest.hash(),
            reports: manifest.reports(),
            endpoint: BoundedString::new(self.public_url.clone()).map_err(|e| e.to_string())?,
        };
        match self
            .submitter
            .send(Action::CommitManifest(commit))
            .map_err(|e| e.to_string())?
        {
            Outcome::Included { height } => tracing::info!(
                epoch = epoch.0,
                height,
                files = manifest.files.len(),
                reports = manifest.reports(),
                "oracle.close: manifest committed"
            ),
            other => tracing::warn!(epoch = epoch.0, ?other, "oracle.close: commit not taken"),
        }
        Ok(Some(Stage::Committed))
    }

    /// The manifest of the files holding reports made in `[start_ms, end_ms)`.
    fn manifest(&self, epoch: Epoch, start_ms: u64, end_ms: u64) -> Result<Manifest, StageError> {
        let files = self.index.files()?;
        let mut listed = Vec::new();
        for (name, meta) in files.into_iter().filter(|(_, m)| m.meets(start_ms, end_ms)) {
            listed.push(ManifestFile {
                name: BoundedString::new(name).map_err(|e| e.to_string())?,
                hash: meta.hash,
                bytes: meta.bytes,
                reports: meta.reports,
            });
        }
        Ok(Manifest {
            epoch,
            oracle: self.oracle,
            files: BoundedVec::new(listed).map_err(|e| e.to_string())?,
            denylist: BoundedVec::new(self.denylist_entries()).map_err(|e| e.to_string())?,
        })
    }

    /// The entries of this oracle's denylist file. If it cannot be read now (a broken edit),
    /// the last entries read are committed and an error logged: a typo must neither hold up
    /// the epoch's commit nor drop every entry.
    fn denylist_entries(&self) -> Vec<crate::denylist::DenyEntry> {
        if self.denylist.is_empty() {
            return Vec::new();
        }
        let mut last = self
            .last_denylist
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match crate::denylist::load(std::path::Path::new(&self.denylist)) {
            Ok(entries) => {
                *last = entries.clone();
                entries
            }
            Err(error) => {
                tracing::error!(
                    %error,
                    entries = last.len(),
                    "oracle.close: the denylist is unreadable; committing the last entries read"
                );
                last.clone()
            }
        }
    }
}
