//! Report-log manifests: which oracles' logs an epoch's rewards are computed from.
//!
//! Each oracle ingests device reports on its own and keeps them in immutable log files. When a
//! reward epoch ends, each oracle commits the hash of its manifest (the list of its files and
//! their hashes) within `manifest_commit_blocks`, and names where it serves them. The others
//! fetch the manifest and every file, check the hashes, and attest it until
//! `manifest_attest_blocks` after the commit window. A manifest *counts* once oracles holding
//! 2/3 of the oracle stake recorded when the reward epoch began have attested it: an oracle
//! that withholds its files gathers no attestations, and since which manifests count is
//! decided here, on chain, every honest oracle computes the epoch from the same reports.
//!
//! ```text
//!   reward epoch r          commit window            attest window
//! |--------------------|------------------------|------------------------|
//!                      ^ end_height(r)          commits close            attestations close:
//!                                                                        the counted set is final
//! ```

use super::oracle_stake;
use super::Exec;
use crate::error::{ExecError, TxError};
use crate::state::records::{EpochManifests, ManifestEntry, OracleStakes};
use crate::state::StateKey;
use cairn_types::tx::{ManifestCommit, ManifestRef};
use cairn_types::{Address, Amount, Epoch};

/// The heights at which the manifests of reward epoch `epoch` are committed and attested:
/// `(end, commits_close, attestations_close)`, inclusive.
pub fn windows(ex: &Exec<'_, '_>, epoch: Epoch) -> (u64, u64, u64) {
    let end = ex.config.reward_clock().end_height(epoch);
    let commits_close = end.saturating_add(ex.params.manifest_commit_blocks);
    let attest_close = commits_close.saturating_add(ex.params.manifest_attest_blocks);
    (end, commits_close, attest_close)
}

/// Records an oracle's manifest for a reward epoch that ended.
pub fn commit(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    commit: &ManifestCommit,
) -> Result<(), ExecError> {
    let epoch = commit.epoch;
    let (opens, closes, _) = windows(ex, epoch);
    if ex.height < opens || ex.height > closes {
        return Err(TxError::ManifestWindowClosed {
            epoch,
            opens,
            closes,
        }
        .into());
    }
    let endpoint = commit.endpoint.as_str();
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(TxError::BadEndpoint(endpoint.to_string()).into());
    }
    epoch_stake(ex, epoch, sender)?;
    let key = StateKey::Manifests(epoch);
    let mut manifests: EpochManifests = ex.state.get_or_default(&key)?;
    if manifests.0.contains_key(sender) {
        return Err(TxError::ManifestAlreadyCommitted(*sender).into());
    }
    manifests.0.insert(
        *sender,
        ManifestEntry {
            manifest: commit.manifest,
            reports: commit.reports,
            endpoint: endpoint.to_string(),
            committed_height: ex.height,
            attesters: Default::default(),
            counted: false,
        },
    );
    ex.state.put(&key, &manifests);
    ex.notes.push(format!(
        "oracle {sender} committed manifest {} of reward epoch {epoch} ({} reports)",
        commit.manifest, commit.reports
    ));
    Ok(())
}

/// Records that `sender` fetched the named manifests' files; a manifest counts once 2/3 of the
/// epoch's oracle stake attested it. Attesting a manifest twice changes nothing.
pub fn attest(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    epoch: Epoch,
    refs: &[ManifestRef],
) -> Result<(), ExecError> {
    let (opens, _, closes) = windows(ex, epoch);
    if ex.height < opens || ex.height > closes {
        return Err(TxError::ManifestWindowClosed {
            epoch,
            opens,
            closes,
        }
        .into());
    }
    let stakes = epoch_stake(ex, epoch, sender)?;
    let key = StateKey::Manifests(epoch);
    let mut manifests: EpochManifests = ex.state.get_or_default(&key)?;
    let first_epoch = ex.config.reward_clock().first_epoch(epoch);
    let total = total_stake(&stakes)?;
    for r in refs {
        let entry = manifests
            .0
            .get_mut(&r.oracle)
            .filter(|e| e.manifest == r.manifest)
            .ok_or(TxError::ManifestUnknown {
                oracle: r.oracle,
                manifest: r.manifest,
            })?;
        if !entry.attesters.insert(*sender) || entry.counted {
            continue;
        }
        let mut attested = Amount::ZERO;
        for attester in &entry.attesters {
            let weight = oracle_stake::signing_weight(ex, &stakes, attester, first_epoch)?;
            attested = attested
                .checked_add(weight)
                .ok_or(TxError::AmountOverflow)?;
        }
        if oracle_stake::is_two_thirds(attested, total) {
            entry.counted = true;
            ex.notes.push(format!(
                "manifest of {} for reward epoch {epoch} counts ({attested} of {total} oracle stake attested)",
                r.oracle
            ));
        }
    }
    ex.state.put(&key, &manifests);
    Ok(())
}

/// The oracle stakes recorded when `epoch` began, after checking `oracle` held some.
fn epoch_stake(
    ex: &Exec<'_, '_>,
    epoch: Epoch,
    oracle: &Address,
) -> Result<OracleStakes, ExecError> {
    let first_epoch = ex.config.reward_clock().first_epoch(epoch);
    let stakes = oracle_stake::stakes_of(ex, first_epoch)?;
    match stakes.0.get(oracle) {
        Some(stake) if !stake.is_zero() => Ok(stakes),
        _ => Err(TxError::NotAnEpochOracle(*oracle).into()),
    }
}

fn total_stake(stakes: &OracleStakes) -> Result<Amount, ExecError> {
    let mut total = Amount::ZERO;
    for stake in stakes.0.values() {
        total = total.checked_add(*stake).ok_or(TxError::AmountOverflow)?;
    }
    Ok(total)
}
