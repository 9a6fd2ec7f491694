//! `cairn bench`: measures the hot paths and prints one JSON line for scripts.
//!
//! `cairn bench devnet` (in `bench_devnet.rs`) loads a local devnet of validator processes;
//! `cairn bench flood` (in `bench_flood.rs`) floods nodes' APIs with expensive requests;
//! `cairn bench oracle` (in `bench_oracle.rs`) measures the oracle's ingest, a reward epoch of a
//! million devices, and what cheaters earn.
//!
//! `cairn bench ledger` measures, on one thread:
//! - `tx_per_sec`: blocks of signed transfers applied end to end (batch signature check,
//!   execution, tree update, durable commit), pre-signed outside the timing, with the median
//!   and fastest time per block;
//! - `sig_verify_per_sec`: the batch signature check alone over the same transactions, the
//!   bound on the figure above;
//! - `reward_tree_1m_secs`: building the reward sum tree of 1,000,000 accounts;
//! - `proof_verify_us`: verifying one reward proof in that tree, averaged.

use crate::context::Context;
use anyhow::{Context as _, Result};
use cairn_ledger::genesis::GenesisAccount;
use cairn_ledger::testkit::{test_genesis, TestChain};
use cairn_ledger::BlockInput;
use cairn_types::reward_tree::{verify_reward_proof, RewardLeaf, RewardTree};
use cairn_types::tx::{Action, SignedTransaction, Transaction};
use cairn_types::{Address, Amount, Hash, PublicKey, SecretKey};
use clap::Subcommand;
use serde::Serialize;
use std::time::Instant;

/// Benchmarks.
#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Ledger execution and reward proofs.
    Ledger {
        /// Smaller sizes, for a quick check (figures are then not comparable).
        #[arg(long)]
        quick: bool,
        /// Transactions per block.
        #[arg(long, default_value_t = 1_000)]
        block_size: usize,
        /// Blocks to apply.
        #[arg(long, default_value_t = 30)]
        blocks: usize,
        /// Sync the state to disk every this many blocks (1: every block).
        #[arg(long, default_value_t = 1)]
        sync_every: u64,
        /// Accounts in the state before the run (transfers go to them).
        #[arg(long, default_value_t = 100_000)]
        state_accounts: usize,
    },
    /// Sustained load of signed transfers against a local devnet of validator processes.
    Devnet(crate::bench_devnet::DevnetBenchArgs),
    /// A flood of proof and block requests plus idle connections against nodes' APIs.
    Flood(crate::bench_flood::FloodArgs),
    /// The oracle: ingest over HTTP, a million-device reward epoch, cheaters' share.
    Oracle(crate::bench_oracle::OracleBenchArgs),
}

/// The figures of `cairn bench ledger`.
#[derive(Debug, Serialize)]
pub(crate) struct LedgerBench {
    /// Signed transfers applied per second, commits included.
    pub(crate) tx_per_sec: u64,
    /// Median time to apply one block, in milliseconds.
    pub(crate) block_ms_p50: f64,
    /// Fastest block, in milliseconds (the least disturbed by other load on the machine).
    pub(crate) block_ms_min: f64,
    /// Signatures checked per second in batches of a block: the bound on `tx_per_sec`.
    pub(crate) sig_verify_per_sec: u64,
    /// Transactions per block.
    pub(crate) block_size: usize,
    /// Blocks applied.
    pub(crate) blocks: usize,
    /// Accounts in the state.
    pub(crate) state_accounts: usize,
    /// Blocks between syncs of the state to disk.
    pub(crate) sync_every_blocks: u64,
    /// Accounts in the reward tree.
    pub(crate) reward_tree_accounts: usize,
    /// Seconds to build the reward tree.
    pub reward_tree_1m_secs: f64,
    /// Microseconds to verify one reward proof.
    pub(crate) proof_verify_us: f64,
}

/// Runs a benchmark.
pub(crate) fn run(_ctx: &Context, cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Ledger {
            quick,
            block_size,
            blocks,
            state_accounts,
            sync_every,
        } => {
            let (block_size, blocks, state_accounts, tree_accounts) = if quick {
                (200, 5, 1_000, 10_000)
            } else {
                (block_size, blocks, state_accounts, 1_000_000)
            };
            let report = ledger(
                block_size,
                blocks,
                state_accounts,
                tree_accounts,
                sync_every,
            )?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        BenchCommand::Devnet(args) => crate::bench_devnet::run(args),
        BenchCommand::Flood(args) => crate::bench_flood::run(args),
        BenchCommand::Oracle(args) => crate::bench_oracle::run(args),
    }
}

fn ledger(
    block_size: usize,
    blocks: usize,
    state_accounts: usize,
    tree_accounts: usize,
    sync_every: u64,
) -> Result<LedgerBench> {
    let senders = block_size.max(1);
    let keys: Vec<SecretKey> = (0..senders)
        .map(|i| SecretKey::from_label(&format!("bench-{i}")))
        .collect();
    let mut genesis = test_genesis();
    genesis.accounts.extend(keys.iter().map(|k| GenesisAccount {
        address: Address(k.public_key()),
        balance: Amount::tokens(1_000_000),
    }));
    // A state of realistic size: receivers are existing accounts, as in steady operation.
    let receivers: Vec<Address> = (0..state_accounts.max(1)).map(receiver).collect();
    genesis
        .accounts
        .extend(receivers.iter().map(|a| GenesisAccount {
            address: *a,
            balance: Amount(1),
        }));
    let dir = tempfile::tempdir()?;
    let mut chain = TestChain::with_genesis(dir.path(), &genesis)?;
    chain.ledger.set_sync_every_blocks(sync_every);
    let chain_id = genesis.chain.chain_id.clone();
    let fee = genesis.params.tx_fee_min;

    // Pre-sign every block: each sender sends once per block, to a pseudo-random receiver.
    let mut prepared: Vec<Vec<SignedTransaction>> = Vec::with_capacity(blocks);
    for b in 0..blocks {
        let txs = keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let to = receivers[(b * senders + i) * 7919 % receivers.len()];
                Transaction {
                    chain_id: chain_id.clone(),
                    sender: Address(key.public_key()),
                    nonce: b as u64,
                    fee,
                    action: Action::Transfer {
                        to,
                        amount: Amount(1),
                    },
                }
                .sign(key)
            })
            .collect();
        prepared.push(txs);
    }

    let head = chain.ledger.head();
    let block_inputs: Vec<BlockInput> = prepared
        .iter()
        .zip(1u64..)
        .map(|(txs, n)| BlockInput {
            height: head.height + n,
            timestamp_ms: head.timestamp_ms + n * 1_000,
            transactions: txs.clone(),
            signers: None,
        })
        .collect();
    let mut block_ms = Vec::with_capacity(blocks);
    let started = Instant::now();
    for block in &block_inputs {
        let block_started = Instant::now();
        chain
            .ledger
            .apply_block(block)
            .context("benchmark block refused")?;
        block_ms.push(block_started.elapsed().as_secs_f64() * 1e3);
    }
    chain.ledger.flush()?;
    let apply_secs = started.elapsed().as_secs_f64();
    block_ms.sort_by(f64::total_cmp);
    let round = |ms: f64| (ms * 10.0).round() / 10.0;
    let total = (blocks * block_size) as f64;

    let started = Instant::now();
    for txs in &prepared {
        cairn_ledger::ledger::verify_signatures(txs).context("signatures")?;
    }
    let verify_secs = started.elapsed().as_secs_f64();

    let leaves: Vec<RewardLeaf> = (0..tree_accounts)
        .map(|i| RewardLeaf {
            account: Address(PublicKey(
                Hash::domain("cairn bench account", &[&i.to_le_bytes()]).0,
            )),
            cumulative: Amount(1 + i as u128),
        })
        .collect();
    let probe: Vec<Address> = leaves
        .iter()
        .step_by((tree_accounts / 1_000).max(1))
        .map(|l| l.account)
        .collect();
    let started = Instant::now();
    let tree = RewardTree::build(leaves)?;
    let tree_secs = started.elapsed().as_secs_f64();
    let root = tree.root();
    let proofs: Vec<_> = probe.iter().filter_map(|a| tree.proof(a)).collect();
    let started = Instant::now();
    for (leaf, proof) in &proofs {
        verify_reward_proof(&root, leaf, proof).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let proof_us = started.elapsed().as_secs_f64() * 1e6 / proofs.len().max(1) as f64;

    Ok(LedgerBench {
        tx_per_sec: (total / apply_secs) as u64,
        block_ms_p50: round(block_ms.get(block_ms.len() / 2).copied().unwrap_or(0.0)),
        block_ms_min: round(block_ms.first().copied().unwrap_or(0.0)),
        sig_verify_per_sec: (total / verify_secs) as u64,
        block_size,
        blocks,
        state_accounts,
        sync_every_blocks: sync_every,
        reward_tree_accounts: tree_accounts,
        reward_tree_1m_secs: (tree_secs * 1000.0).round() / 1000.0,
        proof_verify_us: (proof_us * 100.0).round() / 100.0,
    })
}

/// The `i`-th bench receiver: a key that is a strong curve point (the ledger refuses others),
/// found by hashing until one is, which is far quicker than making a key pair.
fn receiver(i: usize) -> Address {
    (0u32..)
        .map(|attempt| {
            PublicKey(
                Hash::domain(
                    "cairn bench receiver",
                    &[&i.to_le_bytes(), &attempt.to_le_bytes()],
                )
                .0,
            )
        })
        .find(|key| key.check_strong().is_ok())
        .map(Address)
        .unwrap_or_default()
}
