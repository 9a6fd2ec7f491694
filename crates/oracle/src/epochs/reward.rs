//! The rewards stage: once which manifests count is final, compute the epoch (the
//! [`crate::rewarder`]), keep the result, the cumulative rewards and the per-device outcomes,
//! and sign each root.

use super::attest::{mirrors, whole_or_fetch};
use super::StageError;
use super::{Stage, Worker};
use crate::chain::proven;
use crate::chain::reads::{attested_state, AttestedState, StateReads};
use crate::manifest::Manifest;
use crate::rewarder::entropy::{followed_entropy, lookback_blocks};
use crate::rewarder::gather::{compute_epoch, EpochSources, GatherError};
use crate::rewarder::{self, decode_cumulative, encode_cumulative, EpochResult};
use borsh::{BorshDeserialize, BorshSerialize};
use cairn_ledger::state::records::EpochManifests;
use cairn_ledger::StateKey;
use cairn_resources::coverage::rules::CoverageRules;
use cairn_types::reward_tree::RewardNode;
use cairn_types::tx::{reward_root_digest, Settlement};
use cairn_types::{Address, Epoch, Hash, Signature, Subnetwork};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an oracle keeps of an epoch and serves: its roots, its signatures, its digests.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Signed {
    /// The reward epoch.
    pub epoch: Epoch,
    /// The signing oracle.
    pub oracle: Address,
    /// Each sub-network's root with this oracle's signature (over the root and its
    /// settlements).
    pub roots: Vec<(Subnetwork, RewardNode, Signature)>,
    /// The settlements each sub-network's root carries (connectivity's payers), by payer.
    #[serde(default)]
    pub settlements: BTreeMap<Subnetwork, Vec<Settlement>>,
    /// Where each stage of the computation ended.
    pub digests: rewarder::Digests,
    /// Report copies read.
    pub copies: u64,
}

/// Names of what the index keeps per epoch.
pub fn cumulative_key(epoch: Epoch) -> String {
    format!("cumulative/{}", epoch.0)
}
/// The signed result of an epoch.
pub fn signed_key(epoch: Epoch) -> String {
    format!("signed/{}", epoch.0)
}
/// The per-device outcomes of an epoch (JSON).
pub fn devices_key(epoch: Epoch) -> String {
    format!("devices/{}", epoch.0)
}

impl Worker {
    /// Computes, keeps and signs `epoch`'s rewards.
    pub(super) fn reward(&self, epoch: Epoch) -> Result<Option<Stage>, StageError> {
        // Kept and signed before (a stop came between keeping the result, in one write, and
        // recording the stage): never computed and signed again, since a second computation
        // could differ (its inputs read anew), and two roots signed for one epoch are slashable.
        if self.index.blob(&signed_key(epoch))?.is_some()
            && self.index.blob(&cumulative_key(epoch))?.is_some()
        {
            return Ok(Some(Stage::Rewarded));
        }
        let first = self.index.first_epoch(epoch.0)?;
        let previous = if epoch.0 > first {
            let before = Epoch(epoch.0 - 1);
            if self.index.stage(before.0)? < Stage::Rewarded as u8 {
                return Ok(None); // epochs are rewarded in order
            }
            let bytes = self.index.blob(&cumulative_key(before))?.ok_or(format!(
                "the cumulative rewards of epoch {before} are missing"
            ))?;
            decode_cumulative(&bytes).map_err(|e| e.to_string())?
        } else {
            // This oracle's first epoch: it starts from what the others paid before it.
            match self.starting_cumulative(epoch)? {
                Some(cumulative) => cumulative,
                None => return Ok(None),
            }
        };
        let Some(result) = self.compute(epoch, previous)? else {
            return Ok(None); // a counted manifest's files are still being fetched
        };
        // What was fetched for this epoch is on disk now: the jobs' records can go, and so
        // can the state read for it.
        self.fetches.forget_where(|(e, _, _)| *e <= epoch);
        self.index.forget_reads_through(epoch.0)?;
        self.bootstraps.forget_where(|e| *e <= epoch);
        let chain_id = &self.watch.config.chain_id;
        let roots = result
            .roots
            .iter()
            .map(|(s, root)| {
                let settled = result.settlements.get(s).map_or(&[][..], Vec::as_slice);
                let digest = reward_root_digest(chain_id, epoch, *s, root, settled);
                (*s, *root, self.submitter.sign(&digest))
            })
            .collect();
        let signed = Signed {
            epoch,
            oracle: self.oracle,
            roots,
            settlements: result.settlements.clone(),
            digests: result.digests.clone(),
            copies: result.copies,
        };
        let devices = serde_json::to_vec(&result.devices).map_err(|e| e.to_string())?;
        self.index
            .put_blobs(&[
                (cumulative_key(epoch), encode_cumulative(&result.cumulative)),
                (signed_key(epoch), cairn_types::codec::encode(&signed)),
                (devices_key(epoch), devices),
            ])
            .map_err(|e| e.to_string())?;
        tracing::info!(
            epoch = epoch.0,
            devices = result.devices.len(),
            roots = result.roots.len(),
            "oracle.rewarder: epoch computed and signed"
        );
        Ok(Some(Stage::Rewarded))
    }

    /// The epoch's result, or `None` while a counted manifest's files are being fetched.
    fn compute(
        &self,
        epoch: Epoch,
        previous: rewarder::Cumulative,
    ) -> Result<Option<EpochResult>, StageError> {
        let Some(inputs) = EpochReads::read(self, epoch)? else {
            return Ok(None);
        };
        // The state the epoch's inputs are read at, as a header attests it: with a trust, each
        // header vouched for by a certificate (a block the follower kept is not believed: one
        // kept from a lying node would stall every epoch it bounds); without, the follower's
        // kept block (a block it did not keep is asked of the node).
        let header = |height: u64| -> Result<Option<(u64, Hash)>, StageError> {
            if height > self.index.followed_height()? {
                return Ok(None);
            }
            let kept = self.index.followed_block(height)?;
            let Some(trust) = &self.trust else {
                if let Some(kept) = kept {
                    return Ok(Some((kept.state_height, kept.state_root)));
                }
                let block = self.client.block(height).map_err(|e| e.to_string())?;
                return Ok(Some((block.state_height, block.state_root)));
            };
            let vouched = trust
                .vouched_header(&self.read_clients, height)
                .map_err(|e| format!("the header of block {height}: {e}"))?;
            if let Some(kept) = kept.filter(|k| {
                (k.state_height, k.state_root) != (vouched.state_height, vouched.state_root)
            }) {
                tracing::warn!(
                    height,
                    kept_root = %kept.state_root,
                    certified_root = %vouched.state_root,
                    "oracle.rewarder: the follower kept a block that is not the certified one \
                     (it was followed from a node that lied); the certified header is used"
                );
            }
            Ok(Some((vouched.state_height, vouched.state_root)))
        };
        let Some(attested) = attested_state(inputs.end_height, header)? else {
            tracing::info!(
                epoch = epoch.0,
                "oracle.rewarder: waiting for a block attesting the epoch's closing block"
            );
            return Ok(None);
        };
        if self.trust.is_none() {
            self.same_header_elsewhere(attested)?;
        }
        let reads = StateReads::attested(&self.read_clients, attested)
            .kept_in(&self.index, epoch.0)
            .counted_in(&self.progress.reads);
        let own = self.oracle;
        let file = |oracle: &Address, name: &str| -> Result<Vec<u8>, String> {
            if *oracle == own {
                self.runtime
                    .block_on(self.store.get(name))
                    .map(|b| b.to_vec())
                    .map_err(|e| e.to_string())
            } else {
                std::fs::read(self.fetcher.path(oracle, name)).map_err(|e| e.to_string())
            }
        };
        let counted: Vec<(Address, cairn_types::Hash)> = inputs
            .manifests
            .iter()
            .map(|m| (m.oracle, m.hash()))
            .collect();
        let clock = self.watch.config.reward_clock();
        let lookback = lookback_blocks(
            CoverageRules::default().entropy_valid_ms,
            self.watch.config.consensus.block_interval_ms,
        );
        let entropy = followed_entropy(
            &self.index,
            &self.client,
            (clock.first_height(epoch), inputs.end_height - 1),
            lookback,
        );
        let result = compute_epoch(EpochSources {
            chain: &self.watch.config,
            epoch,
            bounds_ms: inputs.bounds_ms,
            reads: &reads,
            manifests: inputs.manifests,
            file: &file,
            previous,
            entropy: &entropy,
        });
        match result {
            Ok(result) => Ok(Some(result)),
            Err(GatherError::Own(fault)) => Err(StageError::OwnRecords(fault)),
            Err(GatherError::Reward(error @ rewarder::RewardError::File { oracle, .. })) => {
                // A kept copy went missing or bad since it was fetched: fetch it again.
                if let Some((_, hash)) = counted.iter().find(|(o, _)| *o == oracle) {
                    self.fetches.forget(&(epoch, oracle, *hash));
                }
                Err(error.to_string().into())
            }
            Err(error) => Err(error.to_string().into()),
        }
    }
}

impl Worker {
    /// Without a genesis to check certificates against, and with other nodes configured, one of
    /// them must give the same header for the block the epoch's state is read by: a node that
    /// lies about headers is then seen, not followed. A node that does not answer is passed over.
    fn same_header_elsewhere(&self, attested: AttestedState) -> Result<(), StageError> {
        let (Some(own), Some(other)) = (self.read_clients.first(), self.read_clients.get(1)) else {
            return Ok(());
        };
        match other.block(attested.block) {
            Ok(block)
                if (block.state_height, block.state_root) != (attested.height, attested.root) =>
            {
                Err(format!(
                    "nodes {} and {} give different headers for block {}: the state it attests \
                     is {} at height {} by the first, {} at height {} by the second; check them",
                    own.base(),
                    other.base(),
                    attested.block,
                    attested.root,
                    attested.height,
                    block.state_root,
                    block.state_height
                )
                .into())
            }
            _ => Ok(()),
        }
    }
}

/// What the rewarder takes for an epoch before its chain state is read.
pub struct EpochReads {
    /// Its bounds: the times of the blocks that began and ended it.
    pub bounds_ms: (u64, u64),
    /// Its counted manifests, fetched and checked.
    pub manifests: Vec<Manifest>,
    /// Its closing block (the first of the next reward epoch).
    pub end_height: u64,
}

impl EpochReads {
    /// The epoch's reads, or `None` while a counted manifest's files are still being fetched
    /// (in the background: a slow peer holds up this epoch's rewards, not the worker).
    fn read(worker: &Worker, epoch: Epoch) -> Result<Option<EpochReads>, StageError> {
        let start_ms = worker.index.epoch_start(epoch.0)?;
        let end_ms = worker.index.epoch_start(epoch.0 + 1)?;
        let (Some(start_ms), Some(end_ms)) = (start_ms, end_ms) else {
            return Err(format!("the bounds of epoch {epoch} are not followed yet").into());
        };
        let clock = worker.watch.config.reward_clock();
        let end_height = clock.end_height(epoch);
        let (bounds_ms, counted) = match &worker.trust {
            // The bounds from vouched headers, the counted set read proven (chain::proven).
            Some(trust) => {
                let time = |height: u64| {
                    proven::block_time(trust, &worker.read_clients, height)
                        .map_err(|e| format!("the time of block {height}: {e}"))
                };
                let bounds = (time(clock.first_height(epoch))?, time(end_height)?);
                if bounds != (start_ms, end_ms) {
                    tracing::warn!(
                        epoch = epoch.0,
                        followed = ?(start_ms, end_ms),
                        certified = ?bounds,
                        "oracle.rewarder: the followed blocks' times are not the certified ones; \
                         the certified ones are used"
                    );
                }
                let Some(state) = proven::final_state(trust, &worker.read_clients, bounds.1)
                    .map_err(|e| format!("a state to read the counted manifests at: {e}"))?
                else {
                    tracing::info!(
                        epoch = epoch.0,
                        "oracle.rewarder: waiting for a state in which the counted manifests are final"
                    );
                    return Ok(None);
                };
                let counted = proven::manifests_at(&worker.read_clients, state, epoch)?;
                (bounds, counted)
            }
            None => {
                let counted: EpochManifests = worker
                    .client
                    .state(&StateKey::Manifests(epoch), None)
                    .map_err(|e| e.to_string())?
                    .unwrap_or_default();
                ((start_ms, end_ms), counted)
            }
        };
        let mut manifests = Vec::new();
        let mut waiting = 0usize;
        for (oracle, entry) in counted.0.iter().filter(|(_, e)| e.counted) {
            let manifest = if *oracle == worker.oracle {
                let bytes = worker
                    .index
                    .manifest(epoch)?
                    .ok_or("this oracle's counted manifest is missing")?;
                let own = Manifest::decode(&bytes).map_err(|e| e.to_string())?;
                if own.hash() != entry.manifest {
                    return Err(format!(
                        "this oracle's kept manifest of epoch {epoch} is not the one it committed"
                    )
                    .into());
                }
                own
            } else {
                let key = (epoch, *oracle, entry.manifest);
                let mirrors = mirrors(&counted, oracle, &worker.oracle);
                let endpoint = &entry.endpoint;
                // Counted by the attestations of 2/3 of oracle stake: read whatever this
                // oracle's own verdict on its bounds was.
                let fetcher = (&worker.fetcher, &worker.checks());
                if whole_or_fetch(&worker.fetches, fetcher, endpoint, mirrors, key).is_none() {
                    waiting += 1;
                    continue;
                }
                // Whole here: read from the kept copy (fetched again only if it went missing).
                worker
                    .fetcher
                    .manifest(&entry.endpoint, oracle, epoch, &entry.manifest)
                    .map_err(|e| e.to_string())?
            };
            manifests.push(manifest);
        }
        if waiting > 0 {
            tracing::info!(
                epoch = epoch.0,
                waiting,
                "oracle.rewarder: fetching counted logs"
            );
            return Ok(None);
        }
        Ok(Some(EpochReads {
            bounds_ms,
            manifests,
            end_height,
        }))
    }
}
