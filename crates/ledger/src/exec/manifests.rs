//! Report-log manifests: which oracles' logs an epoch's rewards are computed from.
//!
//! Each oracle ingests device reports on its own and keeps them in immutable log files. A
//! reward epoch's reports may arrive until its *cut-off*: its end plus `report_delay_max_secs`
//! and `report_skew_max_secs`. Then each oracle commits the hash of its manifest (the list of
//! its files and their hashes) within `manifest_commit_secs`, and names where it serves them.
//! The others fetch the manifest and every file, check the hashes, and attest it until
//! `manifest_attest_secs` after the commit window. The windows are counted in block time from
//! the time of the block that ended the epoch (recorded then, [`record_reward_epoch_end`]), not
//! in blocks: reports are late by seconds, whatever the block rate. A manifest *counts* once oracles holding
//! 2/3 of the oracle stake recorded when the reward epoch began have attested it: an oracle
//! that withholds its files gathers no attestations, and since which manifests count is
//! decided here, on chain, every honest oracle computes the epoch from the same reports.
//!
//! ```text
//!   reward epoch r       delay + skew      commit window          attest window
//! |--------------------|----------------|-----------------------|----------------------|
//!                      ^ end_height(r)  ^ cut-off               commits close          attestations
//!                        (its time is                                                  close: the
//!                        end_ms)                                                       counted set
//!                                                                                      is final
//! ```
//!
//! Commits are taken from the end block on (an oracle cannot know its manifest before the
//! cut-off, but the chain needs no rule for that); both windows close by block time.

use super::oracle_stake;
use super::Exec;
use crate::error::{ExecError, TxError};
use crate::state::records::{EpochManifests, ManifestEntry, OracleStakes};
use crate::state::StateKey;
use cairn_types::params::Params;
use cairn_types::tx::{ManifestCommit, ManifestRef};
use cairn_types::{Address, Amount, Epoch};

/// When the manifest windows of a reward epoch close: the last block times (ms, inclusive)
/// that take commits and attestations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowCloses {
    /// Commits are taken in blocks timed up to this.
    pub commits_ms: u64,
    /// Attestations are taken in blocks timed up to this.
    pub attestations_ms: u64,
}

/// The windows of a reward epoch that ended at block time `end_ms`, under `params`.
pub fn window_closes(params: &Params, end_ms: u64) -> WindowCloses {
    let secs = |s: u64| s.saturating_mul(1_000);
    let cut_off = end_ms
        .saturating_add(secs(params.report_delay_max_secs))
        .saturating_add(secs(params.report_skew_max_secs));
    let commits_ms = cut_off.saturating_add(secs(params.manifest_commit_secs));
    WindowCloses {
        commits_ms,
        attestations_ms: commits_ms.saturating_add(secs(params.manifest_attest_secs)),
    }
}

/// Records, in the first block of consensus epoch `new`, the end of the reward epoch before
/// when `new` begins a reward epoch. Kept: one number per reward epoch.
pub fn record_reward_epoch_end(ex: &mut Exec<'_, '_>, new: Epoch) {
    let clock = ex.config.reward_clock();
    let reward = clock.reward_epoch_of(new);
    if reward.0 > 0 && clock.first_epoch(reward) == new {
        ex.state
            .put(&StateKey::RewardEpochEnd(Epoch(reward.0 - 1)), &ex.time_ms);
    }
}

/// The windows of `epoch`, or why none is open yet.
fn windows(ex: &Exec<'_, '_>, epoch: Epoch) -> Result<WindowCloses, ExecError> {
    let opens = ex.config.reward_clock().end_height(epoch);
    let end_ms: Option<u64> = ex.state.get(&StateKey::RewardEpochEnd(epoch))?;
    match end_ms {
        Some(end_ms) if ex.height >= opens => Ok(window_closes(&ex.params, end_ms)),
        _ => Err(TxError::ManifestWindowNotOpen { epoch, opens }.into()),
    }
}

/// Refuses a transaction in a block timed after `closes_ms`.
fn check_open(ex: &Exec<'_, '_>, epoch: Epoch, closes_ms: u64) -> Result<(), ExecError> {
    if ex.time_ms > closes_ms {
        return Err(TxError::ManifestWindowClosed {
            epoch,
            closed_ms: closes_ms,
        }
        .into());
    }
    Ok(())
}

/// Records an oracle's manifest for a reward epoch that ended.
pub fn commit(
    ex: &mut Exec<'_, '_>,
    sender: &Address,
    commit: &ManifestCommit,
) -> Result<(), ExecError> {
    let epoch = commit.epoch;
    check_open(ex, epoch, windows(ex, epoch)?.commits_ms)?;
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
    check_open(ex, epoch, windows(ex, epoch)?.attestations_ms)?;
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
