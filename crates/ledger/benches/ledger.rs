//! Criterion benchmarks of the ledger's hot path: a block of 1,000 signed transfers applied end
//! to end (batch signature check, execution, tree update, durable commit), against the batch
//! signature check alone, which bounds it, and a voter's charge check of a full proposal.
//! `cairn bench ledger` prints the first figures as JSON.

#![allow(clippy::expect_used)] // A benchmark that cannot run should stop loudly.

use cairn_ledger::genesis::GenesisAccount;
use cairn_ledger::testkit::{test_genesis, TestChain};
use cairn_ledger::BlockInput;
use cairn_types::tx::{Action, SignedTransaction, Transaction};
use cairn_types::{Address, Amount, Hash, PublicKey, SecretKey};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::{Duration, Instant};

const BLOCK_SIZE: usize = 1_000;

fn signed_block(
    keys: &[SecretKey],
    chain_id: &cairn_types::params::ChainId,
    nonce: u64,
) -> Vec<SignedTransaction> {
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            let to = Hash::domain(
                "cairn bench receiver",
                &[&nonce.to_le_bytes(), &i.to_le_bytes()],
            );
            Transaction {
                chain_id: chain_id.clone(),
                sender: Address(key.public_key()),
                nonce,
                fee: Amount(1_000),
                action: Action::Transfer {
                    to: Address(PublicKey(to.0)),
                    amount: Amount(1),
                },
            }
            .sign(key)
        })
        .collect()
}

fn ledger_benches(c: &mut Criterion) {
    let keys: Vec<SecretKey> = (0..BLOCK_SIZE)
        .map(|i| SecretKey::from_label(&format!("bench-{i}")))
        .collect();
    let mut genesis = test_genesis();
    genesis.accounts.extend(keys.iter().map(|k| GenesisAccount {
        address: Address(k.public_key()),
        balance: Amount::tokens(1_000_000),
    }));
    let chain_id = genesis.chain.chain_id.clone();
    let mut group = c.benchmark_group("ledger");
    group.throughput(Throughput::Elements(BLOCK_SIZE as u64));
    group.sample_size(10);

    let sample = signed_block(&keys, &chain_id, 0);
    group.bench_function("verify_signatures_block_1000", |b| {
        b.iter(|| cairn_ledger::ledger::verify_signatures(std::hint::black_box(&sample)).is_ok())
    });

    group.bench_function("apply_block_1000_transfers", |b| {
        b.iter_custom(|iters| {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut chain = TestChain::with_genesis(dir.path(), &genesis).expect("chain");
            let blocks: Vec<_> = (0..iters)
                .map(|n| signed_block(&keys, &chain_id, n))
                .collect();
            let mut total = Duration::ZERO;
            for transactions in blocks {
                let head = chain.ledger.head();
                let block = BlockInput {
                    height: head.height + 1,
                    timestamp_ms: head.timestamp_ms + 1_000,
                    transactions,
                    signers: None,
                };
                let start = Instant::now();
                chain.ledger.apply_block(&block).expect("block applies");
                total += start.elapsed();
            }
            total
        })
    });

    // A voter's charge check of a proposal (issue 36): the block's transactions dry-run after
    // its parent, applied (nothing pending) or ordered but unapplied (one pending block of
    // 1,000, whose signatures the dry run checks again).
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = TestChain::with_genesis(dir.path(), &genesis).expect("chain");
    let head = chain.ledger.head();
    let input = |height: u64, nonce: u64| BlockInput {
        height,
        timestamp_ms: head.timestamp_ms + 1_000 * (height - head.height),
        transactions: signed_block(&keys, &chain_id, nonce),
        signers: None,
    };
    let (pending, next, after_pending) = (
        input(head.height + 1, 0),
        input(head.height + 1, 0),
        input(head.height + 2, 1),
    );
    for (before, block) in [
        (&[][..], &next),
        (std::slice::from_ref(&pending), &after_pending),
    ] {
        let check = chain.ledger.check_charges(before, block).expect("checked");
        assert_eq!(
            check,
            cairn_ledger::ChargeCheck::Charged,
            "a full honest block pays"
        );
    }
    group.bench_function("check_charges_block_1000", |b| {
        b.iter(|| chain.ledger.check_charges(&[], &next).expect("checked"))
    });
    group.bench_function("check_charges_block_1000_after_pending_1000", |b| {
        b.iter(|| {
            chain
                .ledger
                .check_charges(std::slice::from_ref(&pending), &after_pending)
                .expect("checked")
        })
    });
    group.finish();
}

criterion_group!(benches, ledger_benches);
criterion_main!(benches);
