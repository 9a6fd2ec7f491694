//! Benchmarks of the reward sum tree: building it over a million accounts, and checking one proof.
//!
//! Accounts and amounts are derived from the index with `Hash::domain`, so every run uses the
//! same pseudo-random (and unsorted) leaves without a random number generator.

use cairn_types::reward_tree::{verify_reward_proof, RewardLeaf, RewardTree};
use cairn_types::{Address, Amount, Hash, PublicKey};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode};
use std::hint::black_box;
use std::time::Duration;

const ACCOUNTS: u64 = 1_000_000;

fn seeded_leaves(count: u64) -> Vec<RewardLeaf> {
    (0..count)
        .map(|i| {
            let h = Hash::domain("cairn bench reward account", &[&i.to_le_bytes()]);
            let mut amount = [0u8; 8];
            amount.copy_from_slice(&h.0[..8]);
            RewardLeaf {
                account: Address(PublicKey(h.0)),
                // Up to ~1.8e13 base units (18 million tokens) each: no overflow in the total.
                cumulative: Amount(u128::from(u64::from_le_bytes(amount) >> 20)),
            }
        })
        .collect()
}

fn reward_tree(c: &mut Criterion) {
    let leaves = seeded_leaves(ACCOUNTS);
    let tree = match RewardTree::build(leaves.clone()) {
        Ok(tree) => tree,
        Err(e) => panic!("building the benchmark tree failed: {e}"),
    };
    let root = tree.root();
    // A leaf in the middle of the (sorted) tree.
    let Some(account) = leaves.get(ACCOUNTS as usize / 2).map(|l| l.account) else {
        panic!("no leaf to prove");
    };
    let Some((leaf, proof)) = tree.proof(&account) else {
        panic!("no proof for a leaf of the tree");
    };

    let mut group = c.benchmark_group("reward_tree");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("build_1m", |b| {
        b.iter_batched(
            || leaves.clone(),
            |leaves| RewardTree::build(black_box(leaves)),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("verify_proof_1m", |b| {
        b.iter(|| verify_reward_proof(black_box(&root), black_box(&leaf), black_box(&proof)))
    });
    group.finish();
}

criterion_group!(benches, reward_tree);
criterion_main!(benches);
