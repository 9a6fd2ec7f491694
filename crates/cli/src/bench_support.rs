//! What the parts of `cairn bench oracle` share: the chain they sign for, its configuration,
//! and work spread over every core.

use cairn_types::params::{ChainConfig, ChainId, EmissionSchedule};
use cairn_types::Amount;

/// The chain every benchmark report is signed for.
pub(crate) const BENCH_CHAIN: &str = "cairn-bench";

/// Cores to run on.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// `f(0..count)` in order, computed on every core.
pub(crate) fn parallel<T: Send>(count: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let per_thread = count.div_ceil(threads()).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..count)
            .step_by(per_thread)
            .map(|first| {
                let f = &f;
                scope.spawn(move || {
                    (first..(first + per_thread).min(count))
                        .map(f)
                        .collect::<Vec<T>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The chain configuration the benchmark's oracle reads (only its id matters).
pub(crate) fn chain_config(chain_id: ChainId) -> ChainConfig {
    ChainConfig {
        chain_id,
        blocks_per_epoch: 10,
        emission: EmissionSchedule {
            initial_per_epoch: Amount(0),
            halving_interval_epochs: 1,
            emission_cap: Amount(0),
        },
        consensus: Default::default(),
        protocol_version: 1,
        epochs_per_reward_epoch: 1,
    }
}
