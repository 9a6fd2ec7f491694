//! The root stage: gather the other oracles' signatures over the same roots and, once they and
//! this oracle hold 2/3 of the oracle stake recorded when the epoch began, submit the root. Any
//! oracle may submit; the first to land wins and the others' submissions are refused as not
//! newer. When no root reaches 2/3 by the time the next epoch's rewards are signed, the oracle
//! stops trying: the next epoch's root is cumulative and covers this one's rewards. A root that
//! carries settlements is not given up so: it is submitted until its debts are burned (the
//! ledger takes an overtaken root for its settlements alone), for up to
//! [`SETTLE_EPOCHS`] reward epochs.

use super::background::Jobs;
use super::fetch::Fetcher;
use super::reward::{signed_key, Signed};
use super::StageError;
use super::{Stage, Worker};
use crate::chain::submit::Outcome;
use cairn_ledger::state::records::{EpochManifests, OracleStakes, RewardRootRecord};
use cairn_ledger::StateKey;
use cairn_types::codec::BoundedVec;
use cairn_types::reward_tree::RewardNode;
use cairn_types::tx::{
    reward_root_digest, Action, OracleSignature, RewardRootSubmission, Settlement,
};
use cairn_types::{Address, Amount, Epoch, Subnetwork};
use std::collections::BTreeMap;

/// A pending root: what it commits to and the signatures over it gathered so far.
struct PendingRoot {
    root: RewardNode,
    settlements: Vec<Settlement>,
    signatures: Vec<(Address, cairn_types::Signature)>,
}

/// Each pending sub-network's root.
type Pending = BTreeMap<Subnetwork, PendingRoot>;

/// Reward epochs after its own that an epoch's settlements are still submitted for (well
/// inside the 64 epochs of oracle stake the ledger keeps to weigh them).
pub const SETTLE_EPOCHS: u64 = 32;

/// Largest signed result read from another oracle, in bytes (a root's 2,048 settlements in
/// JSON take about 250 KB).
pub const MAX_SIGNED_BYTES: u64 = 512 * 1024;

/// The other oracles' signed results of an epoch, fetched in the background, by epoch and
/// oracle.
pub type SignedFetches = Jobs<(Epoch, Address), Signed>;

/// `oracle`'s signed result of `epoch`, from `url`: its own, of that epoch, or an error.
fn fetch_signed(
    fetcher: &Fetcher,
    url: &str,
    oracle: Address,
    epoch: Epoch,
) -> Result<Signed, String> {
    let bytes = fetcher
        .get(url, MAX_SIGNED_BYTES)
        .map_err(|e| e.to_string())?;
    let theirs: Signed = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if theirs.oracle != oracle || theirs.epoch != epoch {
        return Err(format!("{url} answered another oracle's or epoch's result"));
    }
    Ok(theirs)
}

impl Worker {
    /// Records how long after its end (its closing block) `epoch`'s last root landed (at block `height`), by
    /// the times of the blocks the follower kept (none kept: nothing recorded).
    fn note_root_lag(&self, epoch: Epoch, height: u64) -> Result<(), StageError> {
        let cut_off = self.index.epoch_start(epoch.0 + 1)?;
        let landed = self.index.followed_block(height)?;
        if let (Some(cut_off), Some(landed)) = (cut_off, landed) {
            let secs = landed.timestamp_ms.saturating_sub(cut_off) / 1_000;
            tracing::info!(
                epoch = epoch.0,
                root_lag_secs = secs,
                "oracle.root: roots on chain"
            );
            self.progress.rooted(epoch.0, secs);
        }
        Ok(())
    }

    /// Submits what can be submitted; the stage ends when every root of the epoch is on chain
    /// (or overtaken).
    pub(super) fn submit_roots(&self, epoch: Epoch) -> Result<Option<Stage>, StageError> {
        let bytes = self
            .index
            .blob(&signed_key(epoch))?
            .ok_or("the signed result is missing")?;
        let signed: Signed =
            cairn_types::codec::decode(&bytes, usize::MAX).map_err(|e| e.to_string())?;
        let mut pending = Pending::new();
        let mut landed_at = None;
        for (subnetwork, root, signature) in &signed.roots {
            let record: Option<RewardRootRecord> = self
                .client
                .state(&StateKey::RewardRoot(*subnetwork), None)
                .map_err(|e| e.to_string())?;
            if let Some(r) = record.as_ref().filter(|r| r.epoch == epoch) {
                landed_at = landed_at.max(Some(r.accepted_height));
            }
            let settlements = signed
                .settlements
                .get(subnetwork)
                .cloned()
                .unwrap_or_default();
            let settled = settlements.is_empty()
                || self
                    .client
                    .state::<cairn_types::Hash>(&StateKey::SettlementsOf(*subnetwork, epoch), None)
                    .map_err(|e| e.to_string())?
                    .is_some();
            if record.is_none_or(|r| r.epoch < epoch) || !settled {
                pending.insert(
                    *subnetwork,
                    PendingRoot {
                        root: *root,
                        settlements,
                        signatures: vec![(self.oracle, *signature)],
                    },
                );
            }
        }
        if pending.is_empty() {
            self.signed.forget_where(|(e, _)| *e <= epoch);
            if let Some(height) = landed_at {
                self.note_root_lag(epoch, height)?;
            }
            return Ok(Some(Stage::Done));
        }
        let next = self.index.stage(epoch.0 + 1)?;
        if next >= Stage::Rewarded as u8 {
            // A later root covers the rewards; only debts still need this epoch's root.
            let last = self.index.stage(epoch.0 + SETTLE_EPOCHS)?;
            pending.retain(|_, p| !p.settlements.is_empty() && last < Stage::Rewarded as u8);
            if pending.is_empty() {
                tracing::warn!(
                    epoch = epoch.0,
                    "oracle.root: no root reached 2/3; a later root covers it"
                );
                self.signed.forget_where(|(e, _)| *e <= epoch);
                return Ok(Some(Stage::Done));
            }
        }
        self.gather(epoch, &mut pending)?;
        let stakes = self.stakes_of(epoch)?;
        for (subnetwork, root) in pending {
            if !two_thirds(&stakes, &root.signatures) {
                continue;
            }
            self.submit_one(epoch, subnetwork, root)?;
        }
        Ok(None)
    }

    /// Adds the other committers' signatures over the same roots, from their signed results
    /// as fetched in the background so far (a peer that has not signed yet, or does not
    /// answer, is asked again later).
    fn gather(&self, epoch: Epoch, pending: &mut Pending) -> Result<(), StageError> {
        let manifests: EpochManifests = self
            .client
            .state(&StateKey::Manifests(epoch), None)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let chain_id = &self.watch.config.chain_id;
        for (oracle, entry) in manifests.0.iter().filter(|(o, _)| **o != self.oracle) {
            let url = format!(
                "{}/v1/rewards/{}/signed",
                entry.endpoint.trim_end_matches('/'),
                epoch.0
            );
            let (fetcher, oracle_for_job) = (self.fetcher.clone(), *oracle);
            let Some(theirs) = self.signed.result_or_start((epoch, *oracle), move || {
                fetch_signed(&fetcher, &url, oracle_for_job, epoch)
            }) else {
                continue;
            };
            for (subnetwork, root, signature) in theirs.roots {
                let Some(ours) = pending.get_mut(&subnetwork) else {
                    continue;
                };
                let digest =
                    reward_root_digest(chain_id, epoch, subnetwork, &ours.root, &ours.settlements);
                let same = root == ours.root;
                if same && oracle.0.verify(&digest, &signature).is_ok() {
                    ours.signatures.push((*oracle, signature));
                } else if !same || theirs.settlements.get(&subnetwork) != Some(&ours.settlements) {
                    tracing::warn!(%oracle, epoch = epoch.0, %subnetwork, "oracle.root: another root; compare /v1/rewards/{}/signed digests", epoch.0);
                }
            }
        }
        Ok(())
    }

    fn submit_one(
        &self,
        epoch: Epoch,
        subnetwork: Subnetwork,
        pending: PendingRoot,
    ) -> Result<(), StageError> {
        let PendingRoot {
            root,
            settlements,
            mut signatures,
        } = pending;
        let payers = settlements.len();
        signatures.sort_by_key(|(a, _)| *a);
        signatures.dedup_by_key(|(a, _)| *a);
        let submission = RewardRootSubmission {
            epoch,
            subnetwork,
            root,
            signatures: BoundedVec::new(
                signatures
                    .into_iter()
                    .map(|(oracle, signature)| OracleSignature { oracle, signature })
                    .collect(),
            )
            .map_err(|e| e.to_string())?,
            settlements: BoundedVec::new(settlements).map_err(|e| e.to_string())?,
        };
        match self
            .submitter
            .send(Action::SubmitRewardRoot(submission))
            .map_err(|e| e.to_string())?
        {
            Outcome::Included { height } => tracing::info!(
                epoch = epoch.0,
                %subnetwork,
                total = %root.sum,
                payers,
                height,
                "oracle.root: reward root accepted"
            ),
            other => tracing::info!(epoch = epoch.0, %subnetwork, ?other, "oracle.root: not taken"),
        }
        Ok(())
    }
}

/// True when the signers hold 2/3 of the recorded stake (what the ledger will also check).
fn two_thirds(stakes: &OracleStakes, signatures: &[(Address, cairn_types::Signature)]) -> bool {
    let total: u128 = stakes.0.values().map(|a| a.0).sum();
    let mut signers: Vec<Address> = signatures.iter().map(|(a, _)| *a).collect();
    signers.sort();
    signers.dedup();
    let signed: u128 = signers
        .iter()
        .map(|a| stakes.0.get(a).copied().unwrap_or(Amount::ZERO).0)
        .sum();
    total > 0 && signed.saturating_mul(3) >= total.saturating_mul(2)
}
