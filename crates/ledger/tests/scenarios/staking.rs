use crate::helpers::{assert_balanced, chain};
use cairn_ledger::state::records::{Unbondings, ValidatorSet, Validators};
use cairn_ledger::testkit::{addr, key};
use cairn_ledger::{StateKey, TxError};
use cairn_types::evidence::{DoubleSignEvidence, SignedVote, Vote, VoteKind};
use cairn_types::params::ChainId;
use cairn_types::tx::{Action, StakeRole};
use cairn_types::{Amount, Epoch, Hash, SecretKey};

fn validator_set(chain: &cairn_ledger::testkit::TestChain) -> ValidatorSet {
    chain.ledger.get(&StateKey::ValidatorSet).unwrap().unwrap()
}

/// The labelled validator unbonds all `stake` of its validator stake.
fn unbond_all(chain: &mut cairn_ledger::testkit::TestChain, label: &str, stake: Amount) {
    chain
        .run(
            label,
            Action::Unbond {
                role: StakeRole::Validator,
                amount: stake,
            },
        )
        .unwrap();
}

#[test]
fn bonding_changes_the_validator_set_at_the_next_epoch() {
    let (mut chain, _dir) = chain();
    assert_eq!(validator_set(&chain).members.len(), 4);
    let consensus_key = key("alice/consensus").public_key();
    chain
        .run(
            "alice",
            Action::BondValidator {
                amount: Amount::tokens(60_000),
                consensus_key,
            },
        )
        .unwrap();
    // Not before the boundary...
    assert_eq!(validator_set(&chain).members.len(), 4);
    chain.advance_to_epoch(1).unwrap();
    let set = validator_set(&chain);
    assert_eq!(set.epoch, Epoch(1));
    assert_eq!(set.members.len(), 5);
    assert_eq!(set.members[0].address, addr("alice"), "largest stake first");
    assert_eq!(set.members[0].consensus_key, consensus_key);
    assert_balanced(&chain);
}

#[test]
fn bonding_errors() {
    let (mut chain, _dir) = chain();
    let taken = key("validator-1/consensus").public_key();
    refused!(
        chain,
        "alice",
        Action::BondValidator {
            amount: Amount::tokens(5_000),
            consensus_key: taken
        },
        TxError::ConsensusKeyInUse(addr("validator-1")),
    );
    refused!(
        chain,
        "alice",
        Action::BondValidator {
            amount: Amount::tokens(1),
            consensus_key: key("a/c").public_key()
        },
        TxError::StakeTooLow {
            min: Amount::tokens(1_000),
            got: Amount::tokens(1)
        },
    );
    refused!(
        chain,
        "validator-0",
        Action::BondValidator {
            amount: Amount::tokens(1),
            consensus_key: key("other").public_key()
        },
        TxError::ConsensusKeyMismatch,
    );
    refused!(
        chain,
        "alice",
        Action::BondOracle {
            amount: Amount::ZERO
        },
        TxError::ZeroAmount
    );
    refused!(
        chain,
        "alice",
        Action::Unbond {
            role: StakeRole::Validator,
            amount: Amount(1)
        },
        TxError::NotAValidator(addr("alice")),
    );
    refused!(
        chain,
        "validator-0",
        Action::Unbond {
            role: StakeRole::Validator,
            amount: Amount::tokens(49_500)
        },
        TxError::StakeTooLow {
            min: Amount::tokens(1_000),
            got: Amount::tokens(500)
        },
    );
    refused!(
        chain,
        "alice",
        Action::WithdrawUnbonded,
        TxError::NothingToWithdraw
    );
}

#[test]
fn unbonded_stake_is_withdrawable_after_the_unbonding_period() {
    let (mut chain, _dir) = chain();
    chain
        .run(
            "oracle-0",
            Action::Unbond {
                role: StakeRole::Oracle,
                amount: Amount::tokens(10_000),
            },
        )
        .unwrap();
    let entries: Unbondings = chain
        .ledger
        .get(&StateKey::Unbonding(addr("oracle-0")))
        .unwrap()
        .unwrap();
    assert_eq!(entries.0[0].release_epoch, Epoch(2));
    refused!(
        chain,
        "oracle-0",
        Action::WithdrawUnbonded,
        TxError::NothingToWithdraw
    );
    chain.advance_to_epoch(2).unwrap();
    let before = chain.account(&addr("oracle-0")).balance;
    chain.run("oracle-0", Action::WithdrawUnbonded).unwrap();
    assert_eq!(
        chain.account(&addr("oracle-0")).balance,
        Amount(before.0 + Amount::tokens(10_000).0 - chain.fee.0)
    );
    assert!(chain
        .ledger
        .get::<Unbondings>(&StateKey::Unbonding(addr("oracle-0")))
        .unwrap()
        .is_none());
    assert_balanced(&chain);
}

fn vote(key: &SecretKey, chain_id: &ChainId, view: u64, block: u8) -> SignedVote {
    Vote {
        epoch: 0,
        view,
        parent_view: view.saturating_sub(1),
        kind: VoteKind::Notarize,
        block: Hash([block; 32]),
    }
    .sign(key, chain_id)
}

#[test]
fn double_signing_is_slashed_once_and_jails_the_validator() {
    let (mut chain, _dir) = chain();
    let chain_id = chain.ledger.config().chain_id.clone();
    let offender = key("validator-2/consensus");
    let evidence = DoubleSignEvidence {
        consensus_key: offender.public_key(),
        first: vote(&offender, &chain_id, 7, 1),
        second: vote(&offender, &chain_id, 7, 2),
    };
    chain
        .run(
            "bob",
            Action::ReportDoubleSign {
                evidence: evidence.clone(),
            },
        )
        .unwrap();
    let validators: Validators = chain.ledger.get(&StateKey::Validators).unwrap().unwrap();
    let info = &validators.0[&addr("validator-2")];
    assert!(info.jailed);
    // 5% of 50,000 burned.
    assert_eq!(info.stake, Amount::tokens(47_500));
    refused!(
        chain,
        "carol",
        Action::ReportDoubleSign {
            evidence: evidence.clone()
        },
        TxError::AlreadyPunished(evidence.offence_id()),
    );
    let jailed_balance = chain.account(&addr("validator-2")).balance;
    let honest_balance = chain.account(&addr("validator-1")).balance;
    chain.advance_to_epoch(1).unwrap();
    // The jailed validator earns nothing for the epoch; the honest ones are paid.
    assert_eq!(chain.account(&addr("validator-2")).balance, jailed_balance);
    assert!(chain.account(&addr("validator-1")).balance > honest_balance);
    let set = validator_set(&chain);
    assert_eq!(set.members.len(), 3);
    assert!(set.members.iter().all(|m| m.address != addr("validator-2")));
    assert_balanced(&chain);

    // Evidence that proves nothing, or names no validator, is refused.
    let mut same = evidence.clone();
    same.second = same.first.clone();
    refused!(
        chain,
        "bob",
        Action::ReportDoubleSign { evidence: same },
        TxError::InvalidEvidence(cairn_types::evidence::EvidenceError::SameBlock),
    );
    let stranger = key("stranger");
    let unknown = DoubleSignEvidence {
        consensus_key: stranger.public_key(),
        first: vote(&stranger, &chain_id, 1, 1),
        second: vote(&stranger, &chain_id, 1, 2),
    };
    refused!(
        chain,
        "bob",
        Action::ReportDoubleSign { evidence: unknown },
        TxError::UnknownConsensusKey(stranger.public_key()),
    );
}

/// Consensus starts an epoch from the set the ledger announces at the previous epoch's last
/// block; it must be exactly the set the epoch's first block then stores.
#[test]
fn the_announced_validator_set_is_the_one_the_next_epoch_stores() {
    let (mut chain, _dir) = chain();
    let n = chain.ledger.config().blocks_per_epoch;
    let genesis_set = chain.ledger.validator_set_of_epoch(Epoch(0)).unwrap();
    assert_eq!(genesis_set.as_ref(), Some(&validator_set(&chain)));
    assert_eq!(chain.ledger.validator_set_of_epoch(Epoch(1)).unwrap(), None);
    // During epoch 0: a newcomer bonds and a validator leaves.
    chain
        .run(
            "alice",
            Action::BondValidator {
                amount: Amount::tokens(60_000),
                consensus_key: key("alice/consensus").public_key(),
            },
        )
        .unwrap();
    let stake = Validators::clone(&chain.ledger.get(&StateKey::Validators).unwrap().unwrap()).0
        [&addr("validator-3")]
        .stake;
    unbond_all(&mut chain, "validator-3", stake);
    while chain.ledger.head().height < n {
        chain.block(Vec::new()).unwrap();
    }
    let announced = chain
        .ledger
        .validator_set_of_epoch(Epoch(1))
        .unwrap()
        .expect("known at the last block of epoch 0");
    assert_eq!(chain.ledger.validator_set_of_epoch(Epoch(2)).unwrap(), None);
    chain.block(Vec::new()).unwrap();
    let stored = validator_set(&chain);
    assert_eq!(stored.epoch, Epoch(1));
    assert_eq!(announced, stored);
    assert!(stored.members.iter().any(|m| m.address == addr("alice")));
    assert!(!stored
        .members
        .iter()
        .any(|m| m.address == addr("validator-3")));
    // Read back later from history, the answers do not change.
    chain.advance_to_epoch(2).unwrap();
    assert_eq!(
        chain.ledger.validator_set_of_epoch(Epoch(1)).unwrap(),
        Some(stored)
    );
    assert_eq!(
        chain.ledger.validator_set_of_epoch(Epoch(0)).unwrap(),
        genesis_set
    );
}

/// Unbonding everything does not escape slashing: the record stays (with no stake, in no set)
/// while the stake is unbonding, evidence cuts the unbonding stake, and the record goes only
/// once nothing is left to withdraw.
#[test]
fn a_validator_that_unbonds_everything_can_still_be_slashed() {
    let (mut chain, _dir) = chain();
    let chain_id = chain.ledger.config().chain_id.clone();
    let offender = key("validator-3/consensus");
    let stake = Amount::tokens(50_000);
    unbond_all(&mut chain, "validator-3", stake);
    let validators: Validators = chain.ledger.get(&StateKey::Validators).unwrap().unwrap();
    assert_eq!(validators.0[&addr("validator-3")].stake, Amount::ZERO);
    chain.advance_to_epoch(1).unwrap();
    assert!(validator_set(&chain)
        .members
        .iter()
        .all(|m| m.address != addr("validator-3")));
    let evidence = DoubleSignEvidence {
        consensus_key: offender.public_key(),
        first: vote(&offender, &chain_id, 3, 1),
        second: vote(&offender, &chain_id, 3, 2),
    };
    chain
        .run("bob", Action::ReportDoubleSign { evidence })
        .unwrap();
    let entries: Unbondings = chain
        .ledger
        .get(&StateKey::Unbonding(addr("validator-3")))
        .unwrap()
        .unwrap();
    // 5% of the unbonding 50,000 burned.
    assert_eq!(entries.0[0].amount, Amount::tokens(47_500));
    assert_balanced(&chain);

    // An honest leaver's record goes when its stake is withdrawn, freeing its consensus key.
    unbond_all(&mut chain, "validator-1", stake);
    chain.advance_to_epoch(4).unwrap();
    chain.run("validator-1", Action::WithdrawUnbonded).unwrap();
    let validators: Validators = chain.ledger.get(&StateKey::Validators).unwrap().unwrap();
    assert!(!validators.0.contains_key(&addr("validator-1")));
    assert!(validators.0[&addr("validator-3")].jailed);
    assert_balanced(&chain);
}
