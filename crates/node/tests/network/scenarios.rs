//! The scenarios: every run checks that no two blocks are finalized at one height and that
//! every honest validator has the same state root at each height.

use crate::harness::{link, runtime, Network};
use cairn_ledger::testkit;
use cairn_types::amount::Amount;
use cairn_types::tx::{Action, Transaction};
use commonware_runtime::{deterministic, Clock, Runner};
use std::time::Duration;

/// Seeds to run: `CAIRN_SIM_SEED` alone if set, else `count × CAIRN_SIM_SCALE` seeds from `base`
/// (scale 1 by default; the counts are sized for a few minutes of CI on two cores, and
/// `CAIRN_SIM_SCALE=10` runs ten times as many).
pub(crate) fn seeds(base: u64, count: u64) -> Vec<u64> {
    let var = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    match var("CAIRN_SIM_SEED") {
        Some(seed) => vec![seed],
        None => {
            let scale = var("CAIRN_SIM_SCALE").unwrap_or(1).max(1);
            (base..base + count.saturating_mul(scale)).collect()
        }
    }
}

/// Runs `scenario` under each seed, naming the seed of a failure.
pub(crate) fn for_each_seed(base: u64, count: u64, scenario: fn(u64)) {
    for seed in seeds(base, count) {
        let result = std::panic::catch_unwind(|| scenario(seed));
        if let Err(panic) = result {
            eprintln!("simulation failed with seed {seed} (rerun with CAIRN_SIM_SEED={seed})");
            std::panic::resume_unwind(panic);
        }
    }
}

pub(crate) fn transfer(
    label: &str,
    nonce: u64,
    to: &str,
    amount: u128,
    chain_id: &str,
) -> cairn_types::tx::SignedTransaction {
    Transaction {
        chain_id: cairn_types::params::ChainId::new(chain_id).expect("chain id"),
        sender: testkit::addr(label),
        nonce,
        fee: testkit::test_params().tx_fee_min,
        action: Action::Transfer {
            to: testkit::addr(to),
            amount: Amount::tokens(amount),
        },
    }
    .sign(&testkit::key(label))
}

fn all_online(seed: u64) {
    deterministic::Runner::new(runtime(seed, 600)).start(|context| async move {
        let mut net = Network::new(&context, 4, link(10, 5, 95)).await;
        for i in 0..4 {
            net.start(&context, i).await;
        }
        net.wait_for_height(&context, &[0, 1, 2, 3], 3, Duration::from_secs(60))
            .await;
        // Transfers sent to different validators' mempools.
        let now = cairn_node::types::now_ms(&context);
        for nonce in 0..5 {
            let tx = transfer("alice", nonce, "bob", 1, &net.chain_id);
            net.nodes[0].chain.submit(tx, now).expect("admitted");
        }
        let tx = transfer("carol", 0, "dave", 7, &net.chain_id);
        net.nodes[2].chain.submit(tx, now).expect("admitted");
        net.wait_for_height(&context, &[0, 1, 2, 3], 15, Duration::from_secs(120))
            .await;
        let common = net.check_agreement(&[0, 1, 2, 3]).await;
        assert!(common >= 15);
        for i in 0..4 {
            assert_eq!(net.balance(i, "bob"), Amount::tokens(1_000_005));
            assert_eq!(net.balance(i, "dave"), Amount::tokens(1_000_007));
        }
    });
}

#[test]
fn four_validators_finalize_transfers_and_agree() {
    for_each_seed(1_000, 120, all_online);
}

/// A partition leaves no side with a quorum: finalization stops, and resumes once it heals.
fn partition_heals(seed: u64) {
    deterministic::Runner::new(runtime(seed, 900)).start(|context| async move {
        let good = link(10, 5, 100);
        let mut net = Network::new(&context, 4, good.clone()).await;
        for i in 0..4 {
            net.start(&context, i).await;
        }
        net.wait_for_height(&context, &[0, 1, 2, 3], 5, Duration::from_secs(60))
            .await;
        net.set_links(&[0, 1], &[2, 3], None).await;
        context.sleep(Duration::from_secs(5)).await;
        let stalled: Vec<u64> = net.nodes.iter().map(|n| n.chain.head().height).collect();
        context.sleep(Duration::from_secs(20)).await;
        let still: Vec<u64> = net.nodes.iter().map(|n| n.chain.head().height).collect();
        assert_eq!(stalled, still, "no side of a 2/2 split may finalize");
        net.set_links(&[0, 1], &[2, 3], Some(good)).await;
        let target = still.iter().max().copied().unwrap_or(0) + 5;
        net.wait_for_height(&context, &[0, 1, 2, 3], target, Duration::from_secs(180))
            .await;
        net.check_agreement(&[0, 1, 2, 3]).await;
    });
}

#[test]
fn a_partition_stalls_finality_and_healing_resumes_it() {
    for_each_seed(2_000, 75, partition_heals);
}

/// A validator crashes (losing everything not on disk), the others go on, and the restarted
/// validator catches up from its peers to the same state.
fn crash_and_restart(seed: u64) {
    deterministic::Runner::new(runtime(seed, 900)).start(|context| async move {
        let mut net = Network::new(&context, 4, link(20, 10, 98)).await;
        for i in 0..4 {
            net.start(&context, i).await;
        }
        net.wait_for_height(&context, &[0, 1, 2, 3], 5, Duration::from_secs(60))
            .await;
        net.crash(&context, 3).await;
        let now = cairn_node::types::now_ms(&context);
        for nonce in 0..3 {
            let tx = transfer("alice", nonce, "bob", 2, &net.chain_id);
            net.nodes[0].chain.submit(tx, now).expect("admitted");
        }
        let before = net.nodes[0].chain.head().height;
        net.wait_for_height(&context, &[0, 1, 2], before + 10, Duration::from_secs(120))
            .await;
        net.start(&context, 3).await;
        let target = net.nodes[0].chain.head().height + 3;
        net.wait_for_height(&context, &[0, 1, 2, 3], target, Duration::from_secs(180))
            .await;
        net.check_agreement(&[0, 1, 2, 3]).await;
        assert_eq!(net.balance(3, "bob"), Amount::tokens(1_000_006));
    });
}

#[test]
fn a_crashed_validator_restarts_and_catches_up() {
    for_each_seed(3_000, 90, crash_and_restart);
}

/// Seven validators over slow, lossy links with one of them down: still live, still safe.
fn seven_lossy(seed: u64) {
    deterministic::Runner::new(runtime(seed, 900)).start(|context| async move {
        let mut net = Network::new(&context, 7, link(60, 40, 85)).await;
        for i in 0..6 {
            net.start(&context, i).await;
        }
        let live: Vec<usize> = (0..6).collect();
        net.wait_for_height(&context, &live, 12, Duration::from_secs(300))
            .await;
        net.check_agreement(&live).await;
    });
}

#[test]
fn seven_validators_with_lossy_links_and_one_down_stay_live_and_agree() {
    for_each_seed(4_000, 40, seven_lossy);
}

/// One of four validators equivocates on every vote. The three honest ones (a quorum) keep
/// finalizing and agree; each detects the conflicting votes, reports them as evidence, and the
/// ledger slashes and jails the equivocator exactly once.
fn equivocator(seed: u64) {
    deterministic::Runner::new(runtime(seed, 900)).start(|context| async move {
        let mut net = Network::new(&context, 4, link(10, 5, 100)).await;
        let byzantine = 3;
        for i in 0..3 {
            net.start(&context, i).await;
        }
        net.start_equivocator(&context, byzantine).await;
        let honest = [0, 1, 2];
        let stake_before = net.validator_record(0, byzantine).stake;
        let mut waited = Duration::ZERO;
        while !honest
            .iter()
            .all(|&i| net.validator_record(i, byzantine).jail.is_jailed())
        {
            assert!(
                waited < Duration::from_secs(300),
                "the equivocator was not slashed within 300 s: heights {:?}, jailed {:?}",
                honest.map(|i| net.nodes[i].chain.head().height),
                honest.map(|i| net.validator_record(i, byzantine).jail.is_jailed()),
            );
            context.sleep(Duration::from_millis(500)).await;
            waited += Duration::from_millis(500);
        }
        let slashed = net.validator_record(0, byzantine);
        assert!(slashed.stake < stake_before, "the stake was cut");
        let target = net.nodes[0].chain.head().height + 3;
        net.wait_for_height(&context, &honest, target, Duration::from_secs(120))
            .await;
        net.check_agreement(&honest).await;
        for &i in &honest {
            assert_eq!(net.validator_record(i, byzantine), slashed, "slashed once");
        }
    });
}

#[test]
fn an_equivocating_validator_is_slashed_and_the_others_agree() {
    for_each_seed(5_000, 60, equivocator);
}

/// Staking changes who validates: two newcomers bond, two genesis validators unbond (one epoch
/// apart, as the churn limit asks), and from
/// the next epoch on the chain runs on the new set, so it stays live with the two leavers down
/// (under the genesis set, two of four down would stall it).
fn rotation(seed: u64) {
    deterministic::Runner::new(runtime(seed, 900)).start(|context| async move {
        // Nodes labelled validator-0..3 are the genesis validators; 4 and 5 start as followers.
        let mut net = Network::with_validators(&context, 6, 4, link(10, 5, 98)).await;
        let everyone: Vec<usize> = (0..6).collect();
        for &i in &everyone {
            net.start(&context, i).await;
        }
        let node = |label: &str| {
            (0..6)
                .find(|&i| net.label(i) == label)
                .expect("a node with that label")
        };
        let (leaving, joining) = (
            [node("validator-0"), node("validator-1")],
            [node("validator-4"), node("validator-5")],
        );
        let staying: Vec<usize> = everyone
            .iter()
            .copied()
            .filter(|i| !leaving.contains(i) && !joining.contains(i))
            .collect();
        net.wait_for_height(&context, &everyone, 1, Duration::from_secs(60))
            .await;
        // Every transaction goes to every genesis validator's mempool, so whoever leads
        // includes it.
        for &i in &joining {
            let keys = net.keys_of(i, 0);
            for to in 0..6 {
                net.submit_as(
                    &context,
                    i,
                    to,
                    Action::BondValidator {
                        amount: Amount::tokens(50_000),
                        keys: Some(keys.clone()),
                    },
                );
            }
        }
        // The churn limit lets a quarter of the seated stake leave per epoch, so the second
        // leaver unbonds in the epoch after the first.
        for (n, &i) in leaving.iter().enumerate() {
            if n > 0 {
                // Every node checks the unbond against its own head: wait until all have
                // applied a block of the next epoch.
                let head_epoch = |net: &Network, at: usize| {
                    let ledger = net.nodes[at].chain.ledger();
                    let n = ledger.config().blocks_per_epoch;
                    cairn_types::Epoch::of_height(ledger.head().height, n).0
                };
                let start = context.current();
                while (0..6).any(|at| !net.validator_record(at, leaving[0]).stake.is_zero()) {
                    assert!(
                        context.current().duration_since(start).unwrap_or_default()
                            < Duration::from_secs(120),
                        "the first unbond never landed"
                    );
                    context.sleep(Duration::from_millis(200)).await;
                }
                let first = (0..6).map(|at| head_epoch(&net, at)).max().unwrap_or(0);
                while (0..6).any(|at| head_epoch(&net, at) <= first) {
                    assert!(
                        context.current().duration_since(start).unwrap_or_default()
                            < Duration::from_secs(120),
                        "no new epoch after the first unbond"
                    );
                    context.sleep(Duration::from_millis(200)).await;
                }
            }
            let stake = net.validator_record(i, i).stake;
            for to in 0..6 {
                net.submit_as(
                    &context,
                    i,
                    to,
                    Action::Unbond {
                        role: cairn_types::tx::StakeRole::Validator,
                        amount: stake,
                    },
                );
            }
        }
        // Wait until a validator set without the leavers and with the newcomers is in force.
        let keys = |which: &[usize]| -> Vec<cairn_types::keys::PublicKey> {
            which
                .iter()
                .map(|&i| {
                    use commonware_cryptography::Signer as _;
                    cairn_node::types::cairn_key(&net.nodes[i].key.public_key())
                })
                .collect()
        };
        let (newcomers, leavers) = (keys(&joining), keys(&leaving));
        let start = context.current();
        let rotated_at = loop {
            let (epoch, members) = net.validator_set(staying[0]);
            if newcomers.iter().all(|k| members.contains(k))
                && leavers.iter().all(|k| !members.contains(k))
            {
                break epoch;
            }
            assert!(
                context.current().duration_since(start).unwrap_or_default()
                    < Duration::from_secs(300),
                "the validator set never rotated (epoch {epoch})"
            );
            context.sleep(Duration::from_millis(200)).await;
        };
        assert!(rotated_at >= 1);
        // Stop the leavers: only the new set can finalize now, and it must, for two more epochs.
        for &i in &leaving {
            net.crash(&context, i).await;
        }
        let blocks_per_epoch = testkit::TEST_BLOCKS_PER_EPOCH;
        let target = (rotated_at + 3) * blocks_per_epoch;
        let live: Vec<usize> = staying.iter().chain(joining.iter()).copied().collect();
        net.wait_for_height(&context, &live, target, Duration::from_secs(300))
            .await;
        let common = net.check_agreement(&live).await;
        assert!(common >= target);
        // The newcomers proposed blocks of their own (a proposer is named by its seat key).
        let newcomer_seats: Vec<cairn_types::keys::PublicKey> = net
            .set_in_force(staying[0])
            .members
            .iter()
            .filter(|m| newcomers.contains(&m.node_key))
            .flat_map(|m| m.seats.clone())
            .collect();
        let mut proposed = 0;
        for height in rotated_at * blocks_per_epoch + 1..=target {
            let block = net.nodes[staying[0]]
                .running
                .as_ref()
                .expect("running")
                .marshal
                .get_block(commonware_consensus::types::Height::new(height))
                .await
                .expect("a finalized block");
            if newcomer_seats.contains(&block.inner().header.proposer) {
                proposed += 1;
            }
        }
        assert!(proposed > 0, "no block proposed by a newcomer");
    });
}

#[test]
fn staking_rotates_the_validator_set_at_epoch_boundaries() {
    for_each_seed(6_000, 30, rotation);
}
