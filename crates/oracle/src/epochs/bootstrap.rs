//! An oracle that joins the committee late (or whose first epoch is not the chain's first)
//! starts from the cumulative rewards the others computed: its first epoch's rewards build on
//! the cumulative rewards through the epoch before, fetched from the other committers (in the
//! background) and checked against every root the chain kept for that epoch. Without them its
//! roots would leave out every reward paid before it joined and never match the others'.

use super::background::Jobs;
use super::fetch::Fetcher;
use super::Worker;
use crate::chain::client::NodeClient;
use crate::rewarder::{decode_cumulative, leaves_of, Cumulative};
use cairn_ledger::state::records::{EpochManifests, RewardRootRecord};
use cairn_ledger::StateKey;
use cairn_types::reward_tree::{RewardNode, RewardTree};
use cairn_types::{Epoch, Subnetwork};
use std::collections::BTreeMap;

/// Largest cumulative rewards read from another oracle, in bytes (about a million owners in
/// each sub-network).
pub const MAX_CUMULATIVE_BYTES: u64 = 256 * 1024 * 1024;

/// The cumulative rewards fetched for a first epoch, by that epoch.
pub type Bootstraps = Jobs<Epoch, Cumulative>;

impl Worker {
    /// The cumulative rewards before `epoch`, this oracle's first: none if the chain never
    /// paid a reward; otherwise fetched from the epoch's other committers (`None` until then).
    pub(super) fn starting_cumulative(&self, epoch: Epoch) -> Result<Option<Cumulative>, String> {
        let mut ever_paid = false;
        for subnetwork in Subnetwork::ALL {
            let record: Option<RewardRootRecord> = self
                .client
                .state(&StateKey::RewardRoot(subnetwork), None)
                .map_err(|e| e.to_string())?;
            ever_paid |= record.is_some();
        }
        if epoch.0 == 0 || !ever_paid {
            return Ok(Some(Cumulative::new()));
        }
        let manifests: EpochManifests = self
            .client
            .state(&StateKey::Manifests(epoch), None)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let endpoints: Vec<String> = manifests
            .0
            .iter()
            .filter(|(oracle, _)| **oracle != self.oracle)
            .map(|(_, entry)| entry.endpoint.clone())
            .collect();
        let (client, fetcher) = (self.client.clone(), self.fetcher.clone());
        let found = self.bootstraps.result_or_start(epoch, move || {
            let agree = endpoints.len().min(2);
            previous_cumulative(
                &client,
                &fetcher,
                &endpoints,
                epoch,
                MAX_CUMULATIVE_BYTES,
                agree,
            )
            .map(|(cumulative, _)| cumulative)
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

/// The cumulative rewards through `epoch − 1`, fetched from `endpoints` (at most `limit`
/// bytes from each) and checked against every root the chain kept for that epoch; the flag
/// says whether there was a root to check against. Without one, `agree` oracles must serve
/// the same bytes (one lying oracle cannot hand a newcomer its own numbers).
pub fn previous_cumulative(
    client: &NodeClient,
    fetcher: &Fetcher,
    endpoints: &[String],
    epoch: Epoch,
    limit: u64,
    agree: usize,
) -> Result<(Cumulative, bool), String> {
    let Some(before) = epoch.0.checked_sub(1).map(Epoch) else {
        return Ok((BTreeMap::new(), true));
    };
    let mut kept = BTreeMap::new();
    for subnetwork in Subnetwork::ALL {
        let root: Option<RewardNode> = client
            .state(&StateKey::RewardRootOf(subnetwork, before), None)
            .map_err(|e| e.to_string())?;
        if let Some(root) = root {
            kept.insert(subnetwork, root);
        }
    }
    // How many oracles served each answer, by its hash (only the answer in hand is kept).
    let mut served: Vec<(blake3::Hash, usize)> = Vec::new();
    for endpoint in endpoints {
        let url = format!(
            "{}/v1/rewards/{}/cumulative",
            endpoint.trim_end_matches('/'),
            before.0
        );
        let Ok(bytes) = fetcher.get(&url, limit) else {
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
        if !kept.is_empty() {
            return Ok((cumulative, true));
        }
        let hash = blake3::hash(&bytes);
        let count = match served.iter_mut().find(|(h, _)| *h == hash) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                served.push((hash, 1));
                1
            }
        };
        if count >= agree.max(1) {
            return Ok((cumulative, false));
        }
    }
    Err(format!(
        "no {} oracle(s) served the same cumulative rewards through epoch {} matching the chain",
        agree.max(1),
        before.0
    ))
}
