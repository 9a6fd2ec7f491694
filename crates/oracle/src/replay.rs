//! The audit anyone can run: recompute a reward epoch from the chain and the oracles' logs, and
//! compare the roots with those on chain.
//!
//! The replay reads only what the chain commits to: the counted manifests of the epoch (each
//! fetched from its oracle and checked against its committed hash, each file against the
//! manifest), the epoch's bounds (block times), rules and pools (at its last block), the
//! registry at its last block, and the cumulative rewards before the epoch (fetched from an
//! oracle and checked against the root the chain kept for the previous epoch). It then runs
//! the same pure computation as every oracle.

use crate::chain::client::NodeClient;
use crate::chain::proven;
use crate::chain::reads::{attested_state, StateReads};
use crate::chain::trust::HeaderTrust;
use crate::epochs::attest::mirrors;
use crate::epochs::bootstrap::{CumulativeFetch, MAX_CUMULATIVE_BYTES};
use crate::epochs::fetch::{sources, Fetcher};
use crate::rewarder::entropy::{entropy_at, lookback_blocks};
use crate::rewarder::gather::{compute_epoch, EpochSources, GatherError};
use crate::rewarder::Digests;
use cairn_ledger::genesis::Genesis;
use cairn_ledger::state::records::{EpochManifests, RewardRootRecord};
use cairn_ledger::StateKey;
use cairn_resources::coverage::rules::CoverageRules;
use cairn_types::params::ChainConfig;
use cairn_types::reward_tree::RewardNode;
use cairn_types::tx::settlements_digest;
use cairn_types::{Epoch, Hash, Subnetwork};
use serde::Serialize;
use std::path::Path;

/// One sub-network's comparison.
#[derive(Clone, Debug, Serialize)]
pub struct RootCheck {
    /// The sub-network.
    pub subnetwork: Subnetwork,
    /// The root the replay computed (none: nothing paid there this epoch).
    pub computed: Option<RewardNode>,
    /// The root the chain kept for the epoch (none: no root landed for it).
    pub on_chain: Option<RewardNode>,
    /// Payers the recomputed root settles (connectivity).
    pub settlements: usize,
    /// Whether the chain burned settlements for the epoch (with its root, or late).
    pub settled_on_chain: bool,
    /// Whether the roots are the same (or, with no root of its own on chain, the later root
    /// that overtook it is at least as large), and the settlements the chain burned for it
    /// (their digest) are the recomputed ones (or it burned none yet).
    pub matches: bool,
    /// How it was compared: `root` (the epoch's own root on chain), `overtaken` (no root of
    /// its own; a later, cumulative root landed, whose total must cover the recomputed one),
    /// or `no_root` (no root on chain for it or after it yet: nothing to compare).
    pub compared_with: &'static str,
}

/// What a replay found.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    /// The reward epoch.
    pub epoch: u64,
    /// The counted manifests (oracle, reports).
    pub manifests: Vec<(String, u64)>,
    /// Report copies read.
    pub copies: u64,
    /// Devices that reported.
    pub devices: usize,
    /// Whether the cumulative rewards before the epoch were checked against the chain.
    pub previous_checked: bool,
    /// The block whose header vouches for the state read: its height, and whether its
    /// certificate was checked against seats followed from a genesis (`--genesis`) or it was
    /// taken on the node's word.
    pub read_state: ReadState,
    /// Per sub-network.
    pub roots: Vec<RootCheck>,
    /// The stage digests (to compare with `/v1/rewards/{epoch}/signed` of each oracle).
    pub digests: Digests,
}

impl ReplayReport {
    /// True when every root the chain holds for the epoch is the one recomputed.
    pub fn all_match(&self) -> bool {
        self.roots.iter().all(|r| r.matches)
    }

    /// True when no sub-network's root was compared with a root of the epoch's own on chain
    /// (none landed for it: at most a later root's total was checked), which is not a match.
    pub fn nothing_compared(&self) -> bool {
        self.roots.iter().all(|r| r.compared_with != "root")
    }
}

/// The state an epoch's inputs were read at, and how far its header was checked.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct ReadState {
    /// The height read.
    pub height: u64,
    /// The block whose header attests it.
    pub block: u64,
    /// True when that header's certificate was checked against seats followed from a genesis
    /// (and the node's chain configuration against the genesis's): every value read at that
    /// state (parameters, pools, stakes, devices, histories, credits) is then proven, and so
    /// are the counted manifests (read proven at a later certified state) and the epoch's
    /// bounds (the times in vouched headers).
    pub certified: bool,
}

/// Replays `epoch` through the node at `node`, keeping fetched files under `work_dir`. With
/// `genesis`, the header the epoch's state is read by must carry a certificate of seats
/// followed from that genesis; without, it is the node's word.
pub fn replay(
    node: &str,
    epoch: Epoch,
    work_dir: &Path,
    genesis: Option<&Path>,
) -> Result<ReplayReport, String> {
    let client = NodeClient::new(node);
    let chain: ChainConfig = client
        .state(&StateKey::ChainConfig, None)
        .map_err(|e| e.to_string())?
        .ok_or("the node has no chain configuration")?;
    let clock = chain.reward_clock();
    let end_height = clock.end_height(epoch);
    // With a genesis, the whole chain configuration must be the genesis's (epoch lengths,
    // emission), not only its id, and headers are believed under certificates of seats
    // followed from it.
    let trust = match genesis {
        Some(path) => {
            let file = Genesis::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
            if file.chain != chain {
                return Err(format!(
                    "the node's chain configuration is not the one of {}",
                    path.display()
                ));
            }
            Some(HeaderTrust::of_genesis(
                &file,
                path,
                &chain.chain_id.to_string(),
                chain.blocks_per_epoch,
            )?)
        }
        None => None,
    };
    let clients = std::slice::from_ref(&client);
    let (start_ms, end_ms, committed) = match &trust {
        // The bounds from vouched headers, the counted set read proven (chain::proven).
        Some(trust) => {
            let time = |height: u64| {
                proven::block_time(trust, clients, height)
                    .map_err(|e| format!("the time of block {height}: {e}"))
            };
            let end_ms = time(end_height)?;
            let state = proven::final_state(trust, clients, end_ms)
                .map_err(|e| format!("a state to read the counted manifests at: {e}"))?
                .ok_or(
                    "the epoch's counted manifests are not final yet (its attest window is \
                     open); run the replay again later",
                )?;
            (
                time(clock.first_height(epoch))?,
                end_ms,
                proven::manifests_at(clients, state, epoch)?,
            )
        }
        None => (
            client
                .block(clock.first_height(epoch))
                .map_err(|e| e.to_string())?
                .timestamp_ms,
            client
                .block(end_height)
                .map_err(|e| e.to_string())?
                .timestamp_ms,
            client
                .state::<EpochManifests>(&StateKey::Manifests(epoch), None)
                .map_err(|e| e.to_string())?
                .unwrap_or_default(),
        ),
    };
    if committed.0.is_empty() {
        return Err(format!(
            "no manifest was committed for reward epoch {}",
            epoch.0
        ));
    }
    let fetcher = Fetcher::new(work_dir);
    let mut manifests = Vec::new();
    let mut peers = Vec::new();
    for (oracle, entry) in committed.0.iter() {
        peers.push((*oracle, entry.endpoint.clone()));
        if !entry.counted {
            continue;
        }
        // From its oracle, else from the copies the other oracles keep.
        let others = mirrors(&committed, oracle, &cairn_types::Address::default());
        let bases = sources(&entry.endpoint, oracle, &others);
        let m = fetcher
            .manifest_from(&bases, oracle, epoch, &entry.manifest)
            .map_err(|e| e.to_string())?;
        fetcher.files_from(&bases, &m).map_err(|e| e.to_string())?;
        manifests.push(m);
    }
    let fetch = CumulativeFetch {
        client: &client,
        fetcher: &fetcher,
        peers: &peers,
        limit: MAX_CUMULATIVE_BYTES,
    };
    let (previous, previous_checked) = fetch.previous(epoch, None)?;
    // The state the epoch's inputs are read at: attested by a finalized header, whose root
    // every batch's proof must match.
    let header = |height: u64| -> Result<Option<(u64, Hash)>, String> {
        let block = client.block(height).map_err(|e| e.to_string())?;
        Ok(Some((block.state_height, block.state_root)))
    };
    let attested = attested_state(end_height, header)?
        .ok_or("no block attests the epoch's last state yet; run the replay again later")?;
    if let Some(trust) = &trust {
        trust
            .certify(clients, attested)
            .map_err(|e| format!("the block attesting the epoch's state: {e}"))?;
    }
    let read_state = ReadState {
        height: attested.height,
        block: attested.block,
        certified: trust.is_some(),
    };
    let reads = StateReads::attested(std::slice::from_ref(&client), attested);
    let file = |oracle: &cairn_types::Address, name: &str| {
        std::fs::read(fetcher.path(oracle, name)).map_err(|e| e.to_string())
    };
    let listed = manifests
        .iter()
        .map(|m| (m.oracle.to_string(), m.reports()))
        .collect();
    let lookback = lookback_blocks(
        CoverageRules::default().entropy_valid_ms,
        chain.consensus.block_interval_ms,
    );
    let entropy = entropy_at(
        &client,
        (clock.first_height(epoch), end_height - 1),
        lookback,
    );
    // The oracles' own gathering and computation, at the same state.
    let result = compute_epoch(EpochSources {
        chain: &chain,
        epoch,
        bounds_ms: (start_ms, end_ms),
        reads: &reads,
        manifests,
        file: &file,
        previous,
        entropy: &entropy,
    })
    .map_err(|e| match e {
        GatherError::Chain(reason) => format!("{reason}; run the replay again"),
        other => other.to_string(),
    });
    let result = result?;
    let mut roots = Vec::new();
    for subnetwork in Subnetwork::ALL {
        let on_chain: Option<RewardNode> = client
            .state(&StateKey::RewardRootOf(subnetwork, epoch), None)
            .map_err(|e| e.to_string())?;
        let computed = result.roots.get(&subnetwork).copied();
        if on_chain.is_none() && computed.is_none() {
            continue;
        }
        let settled = result
            .settlements
            .get(&subnetwork)
            .map_or(&[][..], Vec::as_slice);
        let burned: Option<Hash> = client
            .state(&StateKey::SettlementsOf(subnetwork, epoch), None)
            .map_err(|e| e.to_string())?;
        let expected = (!settled.is_empty()).then(|| settlements_digest(settled));
        let settlements_match = (burned.is_none() || burned == expected)
            && (on_chain.is_none() || burned.is_some() == expected.is_some());
        let (compared_with, roots_match) = match on_chain {
            Some(root) => ("root", Some(root) == computed),
            None => {
                let latest: Option<RewardRootRecord> = client
                    .state(&StateKey::RewardRoot(subnetwork), None)
                    .map_err(|e| e.to_string())?;
                match latest.filter(|r| r.epoch > epoch) {
                    // Cumulative rewards only grow: a later root covers this epoch's total.
                    Some(later) => (
                        "overtaken",
                        computed.is_none_or(|c| c.sum <= later.root.sum),
                    ),
                    None => ("no_root", true),
                }
            }
        };
        roots.push(RootCheck {
            subnetwork,
            computed,
            on_chain,
            settlements: settled.len(),
            settled_on_chain: burned.is_some(),
            matches: roots_match && settlements_match,
            compared_with,
        });
    }
    Ok(ReplayReport {
        epoch: epoch.0,
        manifests: listed,
        copies: result.copies,
        devices: result.devices.len(),
        previous_checked,
        read_state,
        roots,
        digests: result.digests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(compared_with: &'static str, matches: bool) -> RootCheck {
        RootCheck {
            subnetwork: Subnetwork::Sensing,
            computed: None,
            on_chain: None,
            settlements: 0,
            settled_on_chain: false,
            matches,
            compared_with,
        }
    }

    fn report(roots: Vec<RootCheck>) -> ReplayReport {
        ReplayReport {
            epoch: 3,
            manifests: Vec::new(),
            copies: 0,
            devices: 0,
            previous_checked: true,
            read_state: ReadState::default(),
            roots,
            digests: Digests::default(),
        }
    }

    #[test]
    fn no_root_on_chain_is_not_a_match_and_a_difference_is_one() {
        let none = report(vec![check("no_root", true)]);
        assert!(none.all_match() && none.nothing_compared());
        let covered = report(vec![check("overtaken", true), check("no_root", true)]);
        assert!(covered.all_match() && covered.nothing_compared());
        let compared = report(vec![check("root", true), check("overtaken", true)]);
        assert!(compared.all_match() && !compared.nothing_compared());
        let differs = report(vec![check("root", false)]);
        assert!(!differs.all_match());
        assert!(report(Vec::new()).nothing_compared());
    }
}
