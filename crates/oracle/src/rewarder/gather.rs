//! One way to gather an epoch's chain inputs and compute it, used by the live reward stage
//! (`crate::epochs`) and by `cairn oracle replay` alike, so that an audit runs the oracles' own
//! code. The epoch's parameters and pools, the stakes its denylist is weighed by, its devices,
//! stations' location histories and payers' credits are all read through one [`StateReads`]:
//! at the one state a finalized header attests (the first from the epoch's end that attests
//! its closing block or later), each batch proven against that header's root.

use super::credits::credits_at;
use super::history::history_at;
use super::inputs::EpochChain;
use super::registry::RegistryAt;
use super::{
    denylist, Cumulative, EntropySource, EpochInputs, EpochResult, FileSource, RewardError,
};
use crate::chain::reads::StateReads;
use crate::manifest::Manifest;
use cairn_ledger::StateKey;
use cairn_resources::context::EpochContext;
use cairn_resources::kinds;
use cairn_types::params::{ChainConfig, Params};
use cairn_types::{Amount, Epoch, Subnetwork};
use std::collections::BTreeMap;

/// Where one computation of an epoch reads from.
pub struct EpochSources<'a> {
    /// The chain.
    pub chain: &'a ChainConfig,
    /// The reward epoch.
    pub epoch: Epoch,
    /// Its bounds: the times of the blocks that began and ended it.
    pub bounds_ms: (u64, u64),
    /// The state its inputs are read at.
    pub reads: &'a StateReads<'a>,
    /// Its counted manifests, fetched and checked.
    pub manifests: Vec<Manifest>,
    /// The bytes of an oracle's file.
    pub file: FileSource<'a>,
    /// Cumulative rewards before it.
    pub previous: Cumulative,
    /// The blocks beacons name.
    pub entropy: EntropySource<'a>,
}

/// Why an epoch could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    /// The oracle's own records failed under a read: it must stop.
    #[error("the oracle's own records: {0}")]
    Own(String),
    /// The chain could not be read (a node down, busy, or disproved): try again later.
    #[error("{0}")]
    Chain(String),
    /// The computation refused its inputs (a file, a manifest).
    #[error(transparent)]
    Reward(#[from] RewardError),
}

/// Reads `sources`' chain inputs and computes the epoch.
pub fn compute_epoch(sources: EpochSources<'_>) -> Result<EpochResult, GatherError> {
    let EpochSources {
        chain,
        epoch,
        bounds_ms,
        reads,
        manifests,
        file,
        previous,
        entropy,
    } = sources;
    let chain_failed = |reason: String| match reads.own_fault() {
        Some(fault) => GatherError::Own(fault),
        None => GatherError::Chain(reason),
    };
    let (ctx, pools) = rules_and_pools(reads, chain, epoch, bounds_ms).map_err(chain_failed)?;
    let denylist = denylist::of_epoch(reads, chain, epoch, &manifests).map_err(chain_failed)?;
    let registry = RegistryAt::new(reads, epoch.0);
    let history = history_at(reads, chain.reward_clock());
    let credits = credits_at(reads);
    let inputs = EpochChain {
        entropy,
        history: &history,
        credits: &credits,
        denylist,
    };
    let result = super::compute(EpochInputs {
        ctx,
        pools,
        manifests,
        file,
        registry: &registry,
        previous,
        kinds: kinds::standard(),
        chain: &inputs,
    });
    if let Some(fault) = reads.own_fault() {
        return Err(GatherError::Own(fault));
    }
    if let Some(reason) = registry.failed() {
        return Err(GatherError::Chain(format!(
            "device records could not be read ({reason}); the epoch will be computed again from what was read"
        )));
    }
    Ok(result?)
}

/// The epoch's context (its bounds and the rules in force at the read state) and its pools
/// (each consensus epoch's emission, set by the block that closed it), in one proven batch.
pub fn rules_and_pools(
    reads: &StateReads<'_>,
    chain: &ChainConfig,
    epoch: Epoch,
    (start_ms, end_ms): (u64, u64),
) -> Result<(EpochContext, BTreeMap<Subnetwork, Amount>), String> {
    let params: Params = reads
        .get(&StateKey::Params)
        .map_err(|e| e.to_string())?
        .ok_or("no parameters in the state")?;
    let ctx = EpochContext {
        chain_id: chain.chain_id.clone(),
        epoch: epoch.0,
        start_ms,
        end_ms,
        window_ms: params.uptime_window_secs.max(1) * 1_000,
        skew_ms: params.report_skew_max_secs * 1_000,
        delay_ms: params.report_delay_max_secs * 1_000,
    };
    let clock = chain.reward_clock();
    let epochs = clock.first_epoch(epoch).0..=clock.last_epoch(epoch).0;
    let keys: Vec<(Subnetwork, StateKey)> = Subnetwork::ALL
        .iter()
        .flat_map(|s| {
            epochs
                .clone()
                .map(move |e| (*s, StateKey::EmissionPool(Epoch(e), *s)))
        })
        .collect();
    let state_keys: Vec<StateKey> = keys.iter().map(|(_, k)| k.clone()).collect();
    let amounts: Vec<Option<Amount>> = reads.read(&state_keys).map_err(|e| e.to_string())?;
    let mut pools = BTreeMap::new();
    for ((subnetwork, _), amount) in keys.iter().zip(amounts) {
        let pool: &mut Amount = pools.entry(*subnetwork).or_insert(Amount::ZERO);
        *pool = Amount(pool.0.saturating_add(amount.unwrap_or(Amount::ZERO).0));
    }
    pools.retain(|_, pool| !pool.is_zero());
    Ok((ctx, pools))
}
