//! An oracle that joins the committee late (or whose first epoch is not the chain's first)
//! starts from the cumulative rewards the others computed: its first epoch's rewards build on
//! the cumulative rewards through the epoch before, fetched from the other committers (in the
//! background) and checked against every root the chain kept for that epoch; what no root
//! checks must be served alike by oracles holding more than 1/3 of the oracle stake (so that
//! oracles with less, however many, cannot hand a newcomer their own numbers). Without them
//! its roots would leave out every reward paid before it joined and never match the others'.

use super::background::Jobs;
use super::fetch::Fetcher;
use super::StageError;
use super::Worker;
use crate::chain::client::NodeClient;
use crate::rewarder::{decode_cumulative, leaves_of, Cumulative};
use cairn_ledger::state::records::{EpochManifests, OracleStakes, RewardRootRecord};
use cairn_ledger::StateKey;
use cairn_types::reward_tree::{RewardNode, RewardTree};
use cairn_types::{Address, Epoch, Subnetwork};
use std::collections::{BTreeMap, BTreeSet};

/// Largest cumulative rewards read from another oracle, in bytes (about a million owners in
/// each sub-network).
pub const MAX_CUMULATIVE_BYTES: u64 = 256 * 1024 * 1024;

/// The cumulative rewards fetched for a first epoch, by that epoch.
pub type Bootstraps = Jobs<Epoch, Cumulative>;

impl Worker {
    /// The cumulative rewards before `epoch`, this oracle's first: none if the chain never
    /// paid a reward; otherwise fetched from the epoch's other committers (`None` until then).
    pub(super) fn starting_cumulative(
        &self,
        epoch: Epoch,
    ) -> Result<Option<Cumulative>, StageError> {
        if epoch.0 == 0 || ever_paid(&self.client)?.is_empty() {
            return Ok(Some(Cumulative::new()));
        }
        let manifests: EpochManifests = self
            .client
            .state(&StateKey::Manifests(epoch), None)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let peers: Vec<(Address, String)> = manifests
            .0
            .iter()
            .filter(|(oracle, _)| **oracle != self.oracle)
            .map(|(oracle, entry)| (*oracle, entry.endpoint.clone()))
            .collect();
        let stakes = self.stakes_of(epoch)?;
        let (client, fetcher) = (self.client.clone(), self.fetcher.clone());
        let found = self.bootstraps.result_or_start(epoch, move || {
            let fetch = CumulativeFetch {
                client: &client,
                fetcher: &fetcher,
                peers: &peers,
                limit: MAX_CUMULATIVE_BYTES,
            };
            fetch
                .previous(epoch, Some(&stakes))
                .map(|(cumulative, _)| cumulative)
                .map_err(String::from)
        });
        if found.is_none() {
            tracing::info!(
                epoch = epoch.0,
                "oracle.rewarder: fetching the cumulative rewards before this oracle's first epoch"
            );
        }
        Ok(found)
    }
}

/// The sub-networks that ever had a root on chain.
fn ever_paid(client: &NodeClient) -> Result<BTreeSet<Subnetwork>, StageError> {
    let mut paid = BTreeSet::new();
    for subnetwork in Subnetwork::ALL {
        let record: Option<RewardRootRecord> = client
            .state(&StateKey::RewardRoot(subnetwork), None)
            .map_err(|e| e.to_string())?;
        if record.is_some() {
            paid.insert(subnetwork);
        }
    }
    Ok(paid)
}

/// Where cumulative rewards are asked for: the node (for the roots), the oracles (address and
/// endpoint), and the most bytes read from each.
pub struct CumulativeFetch<'a> {
    /// The node.
    pub client: &'a NodeClient,
    /// The HTTP client.
    pub fetcher: &'a Fetcher,
    /// The oracles asked, in order.
    pub peers: &'a [(Address, String)],
    /// Most bytes read from one oracle.
    pub limit: u64,
}

impl CumulativeFetch<'_> {
    /// The cumulative rewards through `epoch − 1`, and whether the chain checks all of it: every
    /// sub-network against the root the chain kept for that epoch (a sub-network never paid must
    /// be empty). With `stakes`, an answer the chain does not check all of is taken only when
    /// oracles holding more than 1/3 of them served the same bytes; without, the first answer
    /// the chain does not contradict is taken (an auditor's replay, which says so).
    pub fn previous(
        &self,
        epoch: Epoch,
        stakes: Option<&OracleStakes>,
    ) -> Result<(Cumulative, bool), StageError> {
        let Some(before) = epoch.0.checked_sub(1).map(Epoch) else {
            return Ok((BTreeMap::new(), true));
        };
        let mut kept = BTreeMap::new();
        for subnetwork in Subnetwork::ALL {
            let root: Option<RewardNode> = self
                .client
                .state(&StateKey::RewardRootOf(subnetwork, before), None)
                .map_err(|e| e.to_string())?;
            if let Some(root) = root {
                kept.insert(subnetwork, root);
            }
        }
        let paid = ever_paid(self.client)?;
        let total: u128 = stakes.map_or(0, |s| s.0.values().map(|a| a.0).sum());
        // The stake behind each answer, by its hash (only the answer in hand is kept).
        let mut served: Vec<(blake3::Hash, u128)> = Vec::new();
        for (oracle, endpoint) in self.peers {
            let url = format!(
                "{}/v1/rewards/{}/cumulative",
                endpoint.trim_end_matches('/'),
                before.0
            );
            let Ok(bytes) = self.fetcher.get(&url, self.limit) else {
                continue;
            };
            let Ok(cumulative) = decode_cumulative(&bytes) else {
                continue;
            };
            let consistent = kept.iter().all(|(s, root)| {
                RewardTree::build(leaves_of(&cumulative, *s)).is_ok_and(|t| t.root() == *root)
            });
            if !consistent {
                continue;
            }
            let checked = Subnetwork::ALL.iter().all(|s| {
                kept.contains_key(s) || (!paid.contains(s) && !cumulative.contains_key(s))
            });
            let Some(stakes) = stakes else {
                return Ok((cumulative, checked));
            };
            if checked {
                return Ok((cumulative, true));
            }
            let stake = stakes.0.get(oracle).map_or(0, |a| a.0);
            let hash = blake3::hash(&bytes);
            let behind = match served.iter_mut().find(|(h, _)| *h == hash) {
                Some((_, sum)) => {
                    *sum = sum.saturating_add(stake);
                    *sum
                }
                None => {
                    served.push((hash, stake));
                    stake
                }
            };
            if behind.saturating_mul(3) > total {
                return Ok((cumulative, false));
            }
        }
        Err(format!(
            "no cumulative rewards through epoch {} that the chain checks or more than 1/3 of \
             the oracle stake serves",
            before.0
        )
        .into())
    }
}
