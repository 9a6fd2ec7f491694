use crate::helpers::{assert_balanced, chain};
use cairn_ledger::state::records::{ChainState, HeldPools, RewardRootRecord};
use cairn_ledger::testkit::{addr, key, TestChain};
use cairn_ledger::{StateKey, TxError};
use cairn_types::codec::BoundedVec;
use cairn_types::reward_tree::{RewardLeaf, RewardTree};
use cairn_types::tx::{
    reward_root_digest, Action, OracleSignature, RewardClaim, RewardRootSubmission,
};
use cairn_types::{Amount, Epoch, Subnetwork};

/// Storage's pool per epoch: 15% of 10,000 tokens.
const POOL: Amount = Amount::tokens(1_500);

fn tree(rewards: &[(&str, u128)]) -> RewardTree {
    RewardTree::build(
        rewards
            .iter()
            .map(|(label, tokens)| RewardLeaf {
                account: addr(label),
                cumulative: Amount::tokens(*tokens),
            })
            .collect(),
    )
    .unwrap()
}

fn submission(
    chain: &TestChain,
    epoch: u64,
    subnetwork: Subnetwork,
    tree: &RewardTree,
    signers: &[&str],
) -> RewardRootSubmission {
    let root = tree.root();
    let digest = reward_root_digest(
        &chain.ledger.config().chain_id,
        Epoch(epoch),
        subnetwork,
        &root,
        &[],
    );
    RewardRootSubmission {
        epoch: Epoch(epoch),
        subnetwork,
        root,
        signatures: BoundedVec::new(
            signers
                .iter()
                .map(|s| OracleSignature {
                    oracle: addr(s),
                    signature: key(s).sign(&digest),
                })
                .collect(),
        )
        .unwrap(),
        settlements: BoundedVec::default(),
    }
}

fn claim(tree: &RewardTree, subnetwork: Subnetwork, label: &str) -> RewardClaim {
    let (leaf, proof) = tree.proof(&addr(label)).unwrap();
    RewardClaim {
        subnetwork,
        account: leaf.account,
        cumulative: leaf.cumulative,
        proof,
    }
}

fn claims(list: Vec<RewardClaim>) -> Action {
    Action::ClaimRewards {
        claims: BoundedVec::new(list).unwrap(),
    }
}

fn treasury(chain: &TestChain) -> Amount {
    chain
        .ledger
        .get::<ChainState>(&StateKey::ChainState)
        .unwrap()
        .unwrap()
        .treasury
}

#[test]
fn root_signed_by_two_thirds_is_accepted_and_claims_pay_once() {
    let (mut chain, _dir) = chain();
    chain.advance_to_epoch(1).unwrap();
    let t = tree(&[("alice", 600), ("bob", 400)]);
    let treasury_before = treasury(&chain);
    chain
        .run(
            "carol",
            Action::SubmitRewardRoot(submission(
                &chain,
                0,
                Subnetwork::Storage,
                &t,
                &["oracle-0", "oracle-1"],
            )),
        )
        .unwrap();
    let record: RewardRootRecord = chain
        .ledger
        .get(&StateKey::RewardRoot(Subnetwork::Storage))
        .unwrap()
        .unwrap();
    assert_eq!(record.root.sum, Amount::tokens(1_000));
    // The 500 tokens of the pool the oracles did not allocate go to the treasury.
    assert_eq!(
        treasury(&chain),
        Amount(treasury_before.0 + Amount::tokens(500).0)
    );

    // Bob claims for both (one transaction, many accounts).
    let alice_before = chain.account(&addr("alice")).balance;
    chain
        .run(
            "bob",
            claims(vec![
                claim(&t, Subnetwork::Storage, "alice"),
                claim(&t, Subnetwork::Storage, "bob"),
            ]),
        )
        .unwrap();
    assert_eq!(
        chain.account(&addr("alice")).balance,
        Amount(alice_before.0 + Amount::tokens(600).0)
    );
    // Claiming again pays nothing more.
    refused!(
        chain,
        "alice",
        claims(vec![claim(&t, Subnetwork::Storage, "alice")]),
        TxError::NothingToClaim
    );
    assert_balanced(&chain);

    // The next epoch's root is cumulative: alice's 600 becomes 900; she is paid the 300 difference.
    chain.advance_to_epoch(2).unwrap();
    let t2 = tree(&[("alice", 900), ("bob", 400), ("carol", 1_000)]);
    chain
        .run(
            "carol",
            Action::SubmitRewardRoot(submission(
                &chain,
                1,
                Subnetwork::Storage,
                &t2,
                &["oracle-0", "oracle-1", "oracle-2"],
            )),
        )
        .unwrap();
    let before = chain.account(&addr("alice")).balance;
    chain
        .run(
            "dave",
            claims(vec![claim(&t2, Subnetwork::Storage, "alice")]),
        )
        .unwrap();
    assert_eq!(
        chain.account(&addr("alice")).balance,
        Amount(before.0 + Amount::tokens(300).0)
    );
    assert_balanced(&chain);
}

#[test]
fn bad_roots_are_refused() {
    let (mut chain, _dir) = chain();
    let t = tree(&[("alice", 600)]);
    refused!(
        chain,
        "carol",
        Action::SubmitRewardRoot(submission(
            &chain,
            0,
            Subnetwork::Storage,
            &t,
            &["oracle-0", "oracle-1"]
        )),
        TxError::EpochNotEnded {
            epoch: Epoch(0),
            current: Epoch(0)
        },
    );
    chain.advance_to_epoch(1).unwrap();
    refused!(
        chain,
        "carol",
        Action::SubmitRewardRoot(submission(
            &chain,
            0,
            Subnetwork::Storage,
            &t,
            &["oracle-0"]
        )),
        TxError::InsufficientOracleStake {
            signed: Amount::tokens(10_000),
            total: Amount::tokens(30_000)
        },
    );
    refused!(
        chain,
        "carol",
        Action::SubmitRewardRoot(submission(
            &chain,
            0,
            Subnetwork::Storage,
            &t,
            &["oracle-0", "alice"]
        )),
        TxError::UnknownOracle(addr("alice")),
    );
    refused!(
        chain,
        "carol",
        Action::SubmitRewardRoot(submission(
            &chain,
            0,
            Subnetwork::Storage,
            &t,
            &["oracle-0", "oracle-0", "oracle-1"]
        )),
        TxError::DuplicateSigner(addr("oracle-0")),
    );
    // A signature over another root does not count.
    let mut forged = submission(
        &chain,
        0,
        Subnetwork::Storage,
        &t,
        &["oracle-0", "oracle-1"],
    );
    forged.root.sum = Amount::tokens(1);
    refused!(
        chain,
        "carol",
        Action::SubmitRewardRoot(forged),
        TxError::BadOracleSignature(addr("oracle-0"))
    );
    let greedy = tree(&[("alice", 1_501)]);
    refused!(
        chain,
        "carol",
        Action::SubmitRewardRoot(submission(
            &chain,
            0,
            Subnetwork::Storage,
            &greedy,
            &["oracle-0", "oracle-1"]
        )),
        TxError::RootExceedsEmission {
            allowed: POOL,
            requested: Amount::tokens(1_501)
        },
    );
    chain
        .run(
            "carol",
            Action::SubmitRewardRoot(submission(
                &chain,
                0,
                Subnetwork::Storage,
                &t,
                &["oracle-0", "oracle-1"],
            )),
        )
        .unwrap();
    refused!(
        chain,
        "carol",
        Action::SubmitRewardRoot(submission(
            &chain,
            0,
            Subnetwork::Storage,
            &t,
            &["oracle-0", "oracle-1"]
        )),
        TxError::RootNotNewer {
            subnetwork: Subnetwork::Storage,
            last: Epoch(0)
        },
    );
}

#[test]
fn bad_claims_are_refused() {
    let (mut chain, _dir) = chain();
    let t = tree(&[("alice", 600), ("bob", 400)]);
    refused!(
        chain,
        "alice",
        claims(vec![claim(&t, Subnetwork::Storage, "alice")]),
        TxError::NoRewardRoot(Subnetwork::Storage)
    );
    chain.advance_to_epoch(1).unwrap();
    chain
        .run(
            "carol",
            Action::SubmitRewardRoot(submission(
                &chain,
                0,
                Subnetwork::Storage,
                &t,
                &["oracle-0", "oracle-1"],
            )),
        )
        .unwrap();
    // Claiming more than the cumulative amount: the proof no longer matches the root.
    let mut inflated = claim(&t, Subnetwork::Storage, "alice");
    inflated.cumulative = Amount::tokens(700);
    refused!(
        chain,
        "alice",
        claims(vec![inflated]),
        TxError::BadRewardProof {
            account: addr("alice"),
            error: cairn_types::reward_tree::RewardProofError::RootMismatch
        },
    );
    // Bob's proof presented for alice.
    let mut stolen = claim(&t, Subnetwork::Storage, "bob");
    stolen.account = addr("alice");
    assert!(matches!(
        chain.run("alice", claims(vec![stolen])),
        Err(TxError::BadRewardProof { .. })
    ));
    refused!(
        chain,
        "alice",
        claims(vec![
            claim(&t, Subnetwork::Storage, "alice"),
            claim(&t, Subnetwork::Storage, "alice")
        ]),
        TxError::DuplicateClaim(addr("alice")),
    );
    refused!(chain, "alice", claims(vec![]), TxError::NothingToClaim);
}

#[test]
fn circuit_breaker_limits_claims_per_window() {
    let (mut chain, _dir) = chain();
    chain.advance_to_epoch(1).unwrap();
    // 1,500 from storage and 1,500 from coverage: 3,000 > the window limit of 2,000.
    let storage = tree(&[("alice", 1_500)]);
    let coverage = tree(&[("bob", 1_500)]);
    chain
        .run(
            "carol",
            Action::SubmitRewardRoot(submission(
                &chain,
                0,
                Subnetwork::Storage,
                &storage,
                &["oracle-0", "oracle-1"],
            )),
        )
        .unwrap();
    chain
        .run(
            "carol",
            Action::SubmitRewardRoot(submission(
                &chain,
                0,
                Subnetwork::Coverage,
                &coverage,
                &["oracle-0", "oracle-1"],
            )),
        )
        .unwrap();
    chain
        .run(
            "alice",
            claims(vec![claim(&storage, Subnetwork::Storage, "alice")]),
        )
        .unwrap();
    refused!(
        chain,
        "bob",
        claims(vec![claim(&coverage, Subnetwork::Coverage, "bob")]),
        TxError::CircuitBreaker {
            minted: Amount::tokens(1_500),
            requested: Amount::tokens(1_500),
            limit: Amount::tokens(2_000)
        },
    );
    // Three epochs later the window has moved on and the claim goes through.
    chain.advance_to_epoch(4).unwrap();
    chain
        .run(
            "bob",
            claims(vec![claim(&coverage, Subnetwork::Coverage, "bob")]),
        )
        .unwrap();
    assert_balanced(&chain);
}

#[test]
fn emission_pays_validators_pools_and_treasury_exactly() {
    let (mut chain, _dir) = chain();
    let before = chain
        .ledger
        .get::<ChainState>(&StateKey::ChainState)
        .unwrap()
        .unwrap();
    let v0 = chain.account(&addr("validator-0")).balance;
    chain.advance_to_epoch(1).unwrap();
    let after = chain
        .ledger
        .get::<ChainState>(&StateKey::ChainState)
        .unwrap()
        .unwrap();
    assert_eq!(after.total_emitted, Amount::tokens(10_000));
    // 15% to validators, split evenly over 4 equal stakes.
    assert_eq!(
        chain.account(&addr("validator-0")).balance,
        Amount(v0.0 + Amount::tokens(375).0)
    );
    // Pools (70%) are not minted until claimed; validators (15%) and treasury (15%) are.
    let pool: Amount = chain
        .ledger
        .get(&StateKey::EmissionPool(Epoch(0), Subnetwork::Storage))
        .unwrap()
        .unwrap();
    assert_eq!(pool, POOL);
    assert_eq!(
        after.total_supply,
        Amount(before.total_supply.0 + Amount::tokens(3_000).0)
    );
    assert_eq!(after.treasury, Amount::tokens(1_500));
    assert_balanced(&chain);
}

#[test]
fn a_reward_epoch_of_two_consensus_epochs_pays_both_pools_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut genesis = cairn_ledger::testkit::test_genesis();
    genesis.chain.epochs_per_reward_epoch = 2;
    let mut chain = TestChain::with_genesis(dir.path(), &genesis).unwrap();
    let t = tree(&[("alice", 2_900)]);
    // Consensus epoch 1 is still reward epoch 0: not ended.
    chain.advance_to_epoch(1).unwrap();
    refused!(
        chain,
        "carol",
        Action::SubmitRewardRoot(submission(
            &chain,
            0,
            Subnetwork::Storage,
            &t,
            &["oracle-0", "oracle-1"]
        )),
        TxError::EpochNotEnded {
            epoch: Epoch(0),
            current: Epoch(0)
        }
    );
    chain.advance_to_epoch(2).unwrap();
    let treasury_before = treasury(&chain);
    chain
        .run(
            "carol",
            Action::SubmitRewardRoot(submission(
                &chain,
                0,
                Subnetwork::Storage,
                &t,
                &["oracle-0", "oracle-1"],
            )),
        )
        .unwrap();
    // Two pools of 1,500: 2,900 paid, 100 to the treasury.
    assert_eq!(
        treasury(&chain),
        Amount(treasury_before.0 + Amount::tokens(100).0)
    );
    let kept: cairn_types::reward_tree::RewardNode = chain
        .ledger
        .get(&StateKey::RewardRootOf(Subnetwork::Storage, Epoch(0)))
        .unwrap()
        .unwrap();
    assert_eq!(kept, t.root());
    assert_balanced(&chain);
}

/// Seventy epochs pass with no root (more than a root can scan back): the pools that fell out
/// of reach are held for the next root, so the oracles' cumulative rewards, which count every
/// epoch, still fit, the root lands and its claims are paid; what it leaves goes to the
/// treasury. (Before, every later root was refused `root_exceeds_emission` for good.)
#[test]
fn a_root_after_seventy_epochs_without_one_still_lands_and_pays() {
    let (mut chain, _dir) = chain();
    chain.advance_to_epoch(1).unwrap();
    let first = tree(&[("alice", 1_000)]);
    let signers = ["oracle-0", "oracle-1", "oracle-2"];
    let root0 = submission(&chain, 0, Subnetwork::Storage, &first, &signers);
    chain.run("carol", Action::SubmitRewardRoot(root0)).unwrap();
    chain.advance_to_epoch(71).unwrap();
    // Epochs 1 to 6 fell out of reach (a root scans 64 epochs back): held, not lost.
    let held: HeldPools = chain
        .ledger
        .get(&StateKey::UnpaidPools(Subnetwork::Storage))
        .unwrap()
        .unwrap();
    assert_eq!((held.amount, held.through), (Amount(POOL.0 * 6), Epoch(6)));
    // A root for an epoch that old (a lagging oracle catching up in order) is refused: it
    // cannot take them, and leaves them for a later root.
    let early = tree(&[("alice", 1_000 + 10 * 5), ("bob", 1_490 * 5)]);
    refused!(
        chain,
        "carol",
        Action::SubmitRewardRoot(submission(&chain, 5, Subnetwork::Storage, &early, &signers)),
        TxError::RootEpochTooOld {
            epoch: Epoch(5),
            oldest: Epoch(7)
        }
    );
    // The oracles paid alice 10 tokens an epoch from 1 to 70 (a claim stays under the circuit
    // breaker's window), and 1,490 of each pool to bob.
    let late = tree(&[("alice", 1_000 + 10 * 70), ("bob", 1_490 * 70)]);
    let treasury_before = treasury(&chain);
    let root70 = submission(&chain, 70, Subnetwork::Storage, &late, &signers);
    chain
        .run("carol", Action::SubmitRewardRoot(root70))
        .unwrap();
    assert_eq!(treasury(&chain), treasury_before, "every pool was paid");
    assert!(chain
        .ledger
        .get::<HeldPools>(&StateKey::UnpaidPools(Subnetwork::Storage))
        .unwrap()
        .is_none());
    let before = chain.account(&addr("alice")).balance;
    chain
        .run(
            "dave",
            claims(vec![claim(&late, Subnetwork::Storage, "alice")]),
        )
        .unwrap();
    assert_eq!(
        chain.account(&addr("alice")).balance,
        Amount(before.0 + Amount::tokens(1_700).0)
    );
    assert_balanced(&chain);
    // A root asking for more than the pools and what was held is still refused.
    chain.advance_to_epoch(72).unwrap();
    let greedy = tree(&[("alice", 1_700), ("bob", 1_490 * 70 + 1_501)]);
    refused!(
        chain,
        "carol",
        Action::SubmitRewardRoot(submission(
            &chain,
            71,
            Subnetwork::Storage,
            &greedy,
            &signers
        )),
        TxError::RootExceedsEmission {
            allowed: POOL,
            requested: Amount::tokens(1_501)
        }
    );
}
