//! Oracle stake behind reward roots: recorded when an epoch begins, slashable while unbonding,
//! slashed by governance; and emission pools that no root pays.

use crate::helpers::{assert_balanced, chain, enact};
use cairn_ledger::exec::rewards::MAX_ROOT_EPOCH_SPAN;
use cairn_ledger::state::records::{ChainState, HeldPools, OracleStakes, Oracles, Unbondings};
use cairn_ledger::testkit::{addr, key, TestChain};
use cairn_ledger::{StateKey, TxError};
use cairn_types::codec::BoundedVec;
use cairn_types::reward_tree::{RewardLeaf, RewardTree};
use cairn_types::tx::{
    reward_root_digest, Action, OracleSignature, ProposalAction, RewardRootSubmission, StakeRole,
};
use cairn_types::{Amount, Epoch, Subnetwork};

/// A root for `epoch` paying alice 100 tokens, signed by `signers`.
fn root(chain: &TestChain, epoch: u64, signers: &[&str]) -> Action {
    let tree = RewardTree::build(vec![RewardLeaf {
        account: addr("alice"),
        cumulative: Amount::tokens(100),
    }])
    .unwrap();
    let root = tree.root();
    let digest = reward_root_digest(
        &chain.ledger.config().chain_id,
        Epoch(epoch),
        Subnetwork::Storage,
        &root,
        &[],
    );
    let signatures = signers
        .iter()
        .map(|s| OracleSignature {
            oracle: addr(s),
            signature: key(s).sign(&digest),
        })
        .collect();
    Action::SubmitRewardRoot(RewardRootSubmission {
        epoch: Epoch(epoch),
        subnetwork: Subnetwork::Storage,
        root,
        signatures: BoundedVec::new(signatures).unwrap(),
        settlements: BoundedVec::default(),
    })
}

fn chain_state(chain: &TestChain) -> ChainState {
    chain.ledger.get(&StateKey::ChainState).unwrap().unwrap()
}

/// Dave bonds a large oracle stake during epoch 0: it does not weigh epoch 0's root, which the
/// genesis committee (2 of 3) still decides; it weighs epoch 1's.
#[test]
fn stake_bonded_after_an_epoch_began_does_not_count_for_its_root() {
    let (mut chain, _dir) = chain();
    chain
        .run(
            "dave",
            Action::BondOracle {
                amount: Amount::tokens(100_000),
            },
        )
        .unwrap();
    chain.advance_to_epoch(2).unwrap();
    refused!(
        chain,
        "carol",
        root(&chain, 0, &["dave", "oracle-0"]),
        TxError::UnknownOracle(addr("dave"))
    );
    chain
        .run("carol", root(&chain, 0, &["oracle-0", "oracle-1"]))
        .unwrap();
    // Epoch 1 began with dave bonded: 100,000 of 130,000.
    let recorded: OracleStakes = chain
        .ledger
        .get(&StateKey::OracleStakes(Epoch(1)))
        .unwrap()
        .unwrap();
    assert_eq!(recorded.0[&addr("dave")], Amount::tokens(100_000));
    assert_balanced(&chain);
}

/// An oracle that unbonds everything stays slashable until it withdraws, and governance slashes
/// it; once withdrawn, its signature on an older epoch's root weighs nothing.
#[test]
fn an_unbonding_oracle_is_slashed_by_governance_and_withdrawn_stake_signs_for_nothing() {
    let (mut chain, _dir) = chain();
    chain
        .run(
            "oracle-2",
            Action::Unbond {
                role: StakeRole::Oracle,
                amount: Amount::tokens(10_000),
            },
        )
        .unwrap();
    let oracles: Oracles = chain.ledger.get(&StateKey::Oracles).unwrap().unwrap();
    assert!(!oracles.0.contains_key(&addr("oracle-2")));
    let burned = chain_state(&chain).total_burned;
    enact(
        &mut chain,
        ProposalAction::SlashOracle {
            oracle: addr("oracle-2"),
            bps: 5_000,
        },
    );
    let entries: Unbondings = chain
        .ledger
        .get(&StateKey::Unbonding(addr("oracle-2")))
        .unwrap()
        .unwrap();
    assert_eq!(entries.0[0].amount, Amount::tokens(5_000));
    let fees = Amount(chain.fee.0 * 4);
    assert_eq!(
        chain_state(&chain).total_burned,
        Amount(burned.0 + Amount::tokens(5_000).0 + fees.0)
    );
    assert_balanced(&chain);
    // Withdrawn, oracle-2 signs epoch 0's root (it was bonded when epoch 0 began) for nothing.
    chain.advance_to_epoch(4).unwrap();
    chain.run("oracle-2", Action::WithdrawUnbonded).unwrap();
    refused!(
        chain,
        "carol",
        root(&chain, 0, &["oracle-1", "oracle-2"]),
        TxError::InsufficientOracleStake {
            signed: Amount::tokens(10_000),
            total: Amount::tokens(30_000),
        }
    );
    // A proposal to slash an account with no oracle stake is refused when made.
    refused!(
        chain,
        "carol",
        Action::Propose {
            action: ProposalAction::SlashOracle {
                oracle: addr("oracle-2"),
                bps: 1,
            },
            description: cairn_types::codec::BoundedString::new("x").unwrap(),
        },
        TxError::NoOracleStake(addr("oracle-2"))
    );
}

/// Oracles holding the epoch's stake unbond, wait until it matures, then sign a root and
/// withdraw in one block: the root holds their stake for a whole unbonding period, so the
/// withdrawal pays nothing and a slash can still reach them.
#[test]
fn signing_a_root_holds_the_signers_unbonding_stake() {
    let (mut chain, _dir) = chain();
    for oracle in ["oracle-1", "oracle-2"] {
        chain
            .run(
                oracle,
                Action::Unbond {
                    role: StakeRole::Oracle,
                    amount: Amount::tokens(10_000),
                },
            )
            .unwrap();
    }
    chain.advance_to_epoch(3).unwrap();
    let before = chain.account(&addr("oracle-1")).balance;
    let withdraw = chain.tx("oracle-1", Action::WithdrawUnbonded);
    let submit = chain.tx("carol", root(&chain, 0, &["oracle-1", "oracle-2"]));
    // The withdrawal first: it asks, and is paid at the end of the block, after the root.
    chain.block(vec![withdraw, submit]).unwrap();
    assert!(chain
        .ledger
        .get::<cairn_ledger::state::records::RewardRootRecord>(&StateKey::RewardRoot(
            Subnetwork::Storage
        ))
        .unwrap()
        .is_some());
    assert_eq!(
        chain.account(&addr("oracle-1")).balance,
        Amount(before.0 - chain.fee.0)
    );
    let entries: Unbondings = chain
        .ledger
        .get(&StateKey::Unbonding(addr("oracle-1")))
        .unwrap()
        .unwrap();
    assert_eq!(entries.0[0].amount, Amount::tokens(10_000));
    assert_eq!(entries.0[0].release_epoch, Epoch(6));
    assert_balanced(&chain);
}

/// Pools that no root paid within the span are held for a later root (the oracles' cumulative
/// rewards count them), not lost; what that root leaves of them goes to the treasury. A root
/// for an epoch that old is refused.
#[test]
fn pools_no_root_can_pay_are_held_for_the_next_root() {
    let (mut chain, _dir) = chain();
    chain.advance_to_epoch(MAX_ROOT_EPOCH_SPAN - 1).unwrap();
    let before_last = chain_state(&chain).treasury;
    chain.advance_to_epoch(MAX_ROOT_EPOCH_SPAN).unwrap();
    let last = chain_state(&chain).treasury;
    // What one epoch's emission gives the treasury (the same every epoch here).
    let share = last.0 - before_last.0;
    let pool_of = |chain: &TestChain, epoch: u64, subnetwork| {
        let key = StateKey::EmissionPool(Epoch(epoch), subnetwork);
        chain.ledger.get::<Amount>(&key).unwrap().map_or(0, |p| p.0)
    };
    let pools: Vec<u128> = Subnetwork::ALL
        .iter()
        .map(|s| pool_of(&chain, 0, *s))
        .collect();
    assert!(pools.iter().sum::<u128>() > 0);
    chain.advance_to_epoch(MAX_ROOT_EPOCH_SPAN + 1).unwrap();
    for (subnetwork, pool) in Subnetwork::ALL.iter().zip(&pools) {
        assert_eq!(pool_of(&chain, 0, *subnetwork), 0);
        let held: Option<HeldPools> = chain
            .ledger
            .get(&StateKey::UnpaidPools(*subnetwork))
            .unwrap();
        assert_eq!(held.map_or(0, |h| h.amount.0), *pool, "{subnetwork}");
    }
    assert_eq!(chain_state(&chain).treasury.0, last.0 + share);
    assert_balanced(&chain);
    refused!(
        chain,
        "carol",
        root(&chain, 0, &["oracle-0", "oracle-1"]),
        TxError::RootEpochTooOld {
            epoch: Epoch(0),
            oldest: Epoch(1),
        }
    );
    // Epoch 1's root takes storage's held pool with its own; what it leaves goes to the treasury.
    let storage = Subnetwork::ALL
        .iter()
        .position(|s| *s == Subnetwork::Storage)
        .unwrap();
    let allowed = pools[storage] + pool_of(&chain, 1, Subnetwork::Storage);
    let before = chain_state(&chain).treasury.0;
    chain
        .run("carol", root(&chain, 1, &["oracle-0", "oracle-1"]))
        .unwrap();
    assert_eq!(
        chain_state(&chain).treasury.0,
        before + allowed - Amount::tokens(100).0
    );
    assert!(chain
        .ledger
        .get::<HeldPools>(&StateKey::UnpaidPools(Subnetwork::Storage))
        .unwrap()
        .is_none());
    assert_balanced(&chain);
}

/// A committee filled with minimum bonds (the squat that once locked honest oracles out for
/// good) makes room for a larger stake: the smallest member leaves (of equal ones, the highest
/// address), its stake unbonding as any oracle stake does, still slashable; a bond no larger
/// than the smallest is refused; and evictions in one epoch stay within the churn limit (here
/// 0.01% of the committee's stake, so only the first of the epoch passes).
#[test]
fn a_full_committee_gives_way_to_a_larger_bond_and_the_evicted_stake_unbonds() {
    use cairn_ledger::exec::staking::MAX_ORACLES;
    use cairn_ledger::genesis::GenesisOracle;
    let dir = tempfile::tempdir().unwrap();
    let mut genesis = cairn_ledger::testkit::test_genesis();
    genesis.params.churn_bps = 1;
    let min = genesis.params.oracle_stake_min;
    let squatters: Vec<String> = (genesis.oracles.len()..MAX_ORACLES)
        .map(|i| format!("squatter-{i}"))
        .collect();
    genesis
        .oracles
        .extend(squatters.iter().map(|label| GenesisOracle {
            address: addr(label),
            stake: min,
        }));
    let mut chain = TestChain::with_genesis(dir.path(), &genesis).unwrap();
    let members =
        |chain: &TestChain| -> Oracles { chain.ledger.get(&StateKey::Oracles).unwrap().unwrap() };
    assert_eq!(members(&chain).0.len(), MAX_ORACLES);
    // The minimum is not larger than anyone's: refused, nothing changes.
    refused!(
        chain,
        "dave",
        Action::BondOracle { amount: min },
        TxError::OracleCommitteeFull { max: MAX_ORACLES }
    );
    // One base unit more takes the smallest member's place.
    let out = squatters.iter().map(|l| addr(l)).max().unwrap();
    let bond = Amount(min.0 + 1);
    chain
        .run("dave", Action::BondOracle { amount: bond })
        .unwrap();
    let now = members(&chain);
    assert_eq!(now.0.len(), MAX_ORACLES);
    assert_eq!(now.0[&addr("dave")].stake, bond);
    assert!(
        !now.0.contains_key(&out),
        "the highest-addressed squatter left"
    );
    let entries: Unbondings = chain
        .ledger
        .get(&StateKey::Unbonding(out))
        .unwrap()
        .unwrap();
    assert_eq!(entries.0.len(), 1);
    assert_eq!(entries.0[0].role, StakeRole::Oracle);
    assert_eq!(entries.0[0].amount, min);
    // A second eviction in the same epoch is past the churn limit; the next epoch admits it.
    let second = Amount(min.0 + 2);
    let epoch = chain.ledger.head().height / cairn_ledger::testkit::TEST_BLOCKS_PER_EPOCH;
    let refusal = chain
        .run("alice", Action::BondOracle { amount: second })
        .unwrap_err();
    assert!(
        matches!(refusal, TxError::OracleEvictionChurn { .. }),
        "{refusal}"
    );
    chain.advance_to_epoch(epoch + 2).unwrap();
    chain
        .run("alice", Action::BondOracle { amount: second })
        .unwrap();
    assert!(members(&chain).0.contains_key(&addr("alice")));
    assert_eq!(members(&chain).0.len(), MAX_ORACLES);
    // Still slashable while it unbonds: governance cuts half.
    enact(
        &mut chain,
        ProposalAction::SlashOracle {
            oracle: out,
            bps: 5_000,
        },
    );
    let entries: Unbondings = chain
        .ledger
        .get(&StateKey::Unbonding(out))
        .unwrap()
        .unwrap();
    assert_eq!(entries.0[0].amount, Amount(min.0 / 2));
    // A member topping up evicts nobody.
    chain
        .run("dave", Action::BondOracle { amount: min })
        .unwrap();
    assert_eq!(members(&chain).0.len(), MAX_ORACLES);
    assert_balanced(&chain);
}

/// Oracle 1 signs two different storage roots for epoch 0. Anyone (dave) reports both: a
/// share of its oracle stake is burned and the rest unbonds, off the committee; the same
/// offence is not punished twice, and forged or non-conflicting evidence is refused.
#[test]
fn an_oracle_that_signs_two_roots_for_one_epoch_is_slashed_and_leaves_the_committee() {
    use cairn_types::oracle_evidence::{OracleDoubleSignEvidence, SignedRoot};
    let (mut chain, _dir) = chain();
    let chain_id = chain.ledger.config().chain_id.clone();
    let signed = |signer: &str, paid: u64| {
        let root = RewardTree::build(vec![RewardLeaf {
            account: addr("alice"),
            cumulative: Amount::tokens(u128::from(paid)),
        }])
        .unwrap()
        .root();
        let digest = reward_root_digest(&chain_id, Epoch(0), Subnetwork::Storage, &root, &[]);
        SignedRoot {
            root,
            settlements: cairn_types::tx::settlements_digest(&[]),
            signature: key(signer).sign(&digest),
        }
    };
    let evidence = |first: SignedRoot, second: SignedRoot| Action::ReportOracleDoubleSign {
        evidence: OracleDoubleSignEvidence {
            oracle: addr("oracle-1"),
            epoch: Epoch(0),
            subnetwork: Subnetwork::Storage,
            first,
            second,
        },
    };
    refused!(
        chain,
        "dave",
        evidence(signed("oracle-1", 100), signed("oracle-2", 200)),
        TxError::InvalidOracleEvidence(
            cairn_types::oracle_evidence::OracleEvidenceError::BadSignature
        )
    );
    refused!(
        chain,
        "dave",
        evidence(signed("oracle-1", 100), signed("oracle-1", 100)),
        TxError::InvalidOracleEvidence(cairn_types::oracle_evidence::OracleEvidenceError::SameRoot)
    );
    let burned = chain_state(&chain).total_burned;
    chain
        .run(
            "dave",
            evidence(signed("oracle-1", 100), signed("oracle-1", 200)),
        )
        .unwrap();
    let oracles: Oracles = chain.ledger.get(&StateKey::Oracles).unwrap().unwrap();
    assert!(!oracles.0.contains_key(&addr("oracle-1")));
    let params: cairn_types::params::Params = chain.ledger.get(&StateKey::Params).unwrap().unwrap();
    let bps = u128::from(params.slash_double_sign_bps);
    let cut = Amount::tokens(10_000).0 * bps / 10_000;
    let entries: Unbondings = chain
        .ledger
        .get(&StateKey::Unbonding(addr("oracle-1")))
        .unwrap()
        .unwrap();
    assert_eq!(entries.0.len(), 1);
    assert_eq!(entries.0[0].role, StakeRole::Oracle);
    assert_eq!(entries.0[0].amount, Amount(Amount::tokens(10_000).0 - cut));
    assert_eq!(
        chain_state(&chain).total_burned,
        Amount(burned.0 + cut + chain.fee.0)
    );
    // Once punished: the same pair, or another pair for the same epoch, is refused.
    let again = evidence(signed("oracle-1", 200), signed("oracle-1", 300));
    let Action::ReportOracleDoubleSign { evidence: ref e } = again else {
        unreachable!()
    };
    let offence = e.offence_id();
    refused!(chain, "dave", again, TxError::AlreadyPunished(offence));
    assert_balanced(&chain);
}

/// Evidence names a reward epoch; its committee is the one recorded when that reward epoch
/// began. With two consensus epochs a reward epoch, dave bonds in consensus epoch 3 and signs
/// two roots for reward epoch 2 (consensus epochs 4 and 5): he is slashed (the committee of
/// consensus epoch 2, which he was not in, is not the one asked).
#[test]
fn evidence_is_weighed_against_the_committee_of_its_reward_epoch() {
    use cairn_types::oracle_evidence::{OracleDoubleSignEvidence, SignedRoot};
    let dir = tempfile::tempdir().unwrap();
    let mut genesis = cairn_ledger::testkit::test_genesis();
    genesis.chain.epochs_per_reward_epoch = 2;
    let mut chain = TestChain::with_genesis(dir.path(), &genesis).unwrap();
    chain.advance_to_epoch(3).unwrap();
    chain
        .run(
            "dave",
            Action::BondOracle {
                amount: Amount::tokens(5_000),
            },
        )
        .unwrap();
    chain.advance_to_epoch(4).unwrap();
    let chain_id = chain.ledger.config().chain_id.clone();
    let signed = |paid: u128| {
        let root = RewardTree::build(vec![RewardLeaf {
            account: addr("alice"),
            cumulative: Amount::tokens(paid),
        }])
        .unwrap()
        .root();
        let digest = reward_root_digest(&chain_id, Epoch(2), Subnetwork::Storage, &root, &[]);
        SignedRoot {
            root,
            settlements: cairn_types::tx::settlements_digest(&[]),
            signature: key("dave").sign(&digest),
        }
    };
    chain
        .run(
            "alice",
            Action::ReportOracleDoubleSign {
                evidence: OracleDoubleSignEvidence {
                    oracle: addr("dave"),
                    epoch: Epoch(2),
                    subnetwork: Subnetwork::Storage,
                    first: signed(100),
                    second: signed(200),
                },
            },
        )
        .unwrap();
    let oracles: Oracles = chain.ledger.get(&StateKey::Oracles).unwrap().unwrap();
    assert!(!oracles.0.contains_key(&addr("dave")));
    assert_balanced(&chain);
}
