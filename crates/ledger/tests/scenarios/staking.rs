use crate::helpers::{assert_balanced, chain};
use cairn_ledger::liveness::SignerRecord;
use cairn_ledger::state::records::{Jail, Unbondings, ValidatorInfo, ValidatorSet};
use cairn_ledger::testkit::{addr, key, TestChain};
use cairn_ledger::{StateKey, TxError};
use cairn_types::evidence::{DoubleSignEvidence, SignedVote, Vote, VoteKind};
use cairn_types::params::ChainId;
use cairn_types::tx::{Action, StakeRole};
use cairn_types::validator_keys::{KeyPossession, KeysError, ValidatorKeys};
use cairn_types::{Address, Amount, Credits, Epoch, Hash, SecretKey};

/// The set of `epoch`, as stored.
fn set_of(chain: &TestChain, epoch: u64) -> ValidatorSet {
    chain
        .ledger
        .validator_set_of_epoch(Epoch(epoch))
        .unwrap()
        .unwrap_or_else(|| panic!("no set for epoch {epoch}"))
}

/// A validator's record.
fn record(chain: &TestChain, label: &str) -> ValidatorInfo {
    chain
        .ledger
        .get(&StateKey::Validator(addr(label)))
        .unwrap()
        .unwrap()
}

/// `seats` seat keys of generation `generation` for the labelled account's node key.
fn keys_for(chain: &TestChain, label: &str, generation: u32, seats: u32) -> ValidatorKeys {
    ValidatorKeys::derive(
        &chain.ledger.config().chain_id,
        &addr(label),
        &key(&format!("{label}/node")),
        generation,
        seats,
    )
}

/// The labelled validator unbonds all `stake` of its validator stake.
fn unbond_all(chain: &mut TestChain, label: &str, stake: Amount) {
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
fn bonding_changes_the_validator_set_one_epoch_ahead() {
    let (mut chain, _dir) = chain();
    assert_eq!(set_of(&chain, 0).members.len(), 4);
    assert_eq!(
        set_of(&chain, 0),
        ValidatorSet {
            epoch: Epoch(0),
            ..set_of(&chain, 1)
        }
    );
    let keys = keys_for(&chain, "alice", 0, 4);
    chain
        .run(
            "alice",
            Action::BondValidator {
                amount: Amount::tokens(100_000),
                keys: Some(keys.clone()),
            },
        )
        .unwrap();
    chain.advance_to_epoch(1).unwrap();
    // Epoch 1's set was fixed at genesis; epoch 2's is chosen at the first block of epoch 1.
    assert_eq!(set_of(&chain, 1).members.len(), 4);
    let set = set_of(&chain, 2);
    assert_eq!(set.epoch, Epoch(2));
    assert_eq!(set.members.len(), 5);
    let alice = set
        .members
        .iter()
        .find(|m| m.address == addr("alice"))
        .expect("alice is seated");
    assert_eq!(alice.node_key, keys.node.key);
    // The churn limit admits a quarter of the 200,000 admitted before: 50,000 of alice's
    // 100,000. Five admitted stakes of 50,000 in at most 8 seats: seats of 25,000 (just above
    // it only 5 fit; the tie at 25,000 gives the 3 seats left by priority).
    assert_eq!(record(&chain, "alice").admitted, Amount::tokens(50_000));
    assert_eq!(set.seat_size, Amount::tokens(25_000));
    assert_eq!(set.seat_count(), 8);
    assert_eq!(alice.seats, keys.seat_keys()[..alice.seats.len()].to_vec());
    assert_balanced(&chain);
}

#[test]
fn bonding_errors() {
    let (mut chain, _dir) = chain();
    let chain_id = chain.ledger.config().chain_id.clone();
    // Keys another validator registered: even with valid proofs (its owner signing for a second
    // account), they are refused for good.
    let theirs = ValidatorKeys::derive(
        &chain_id,
        &addr("alice"),
        &key("validator-1/consensus"),
        0,
        1,
    );
    refused!(
        chain,
        "alice",
        Action::BondValidator {
            amount: Amount::tokens(5_000),
            keys: Some(theirs),
        },
        TxError::ConsensusKeyInUse(addr("validator-1")),
    );
    // Squatting: someone else's key with a proof made for its owner, not for the sender.
    let squat = keys_for(&chain, "bob", 0, 1);
    refused!(
        chain,
        "alice",
        Action::BondValidator {
            amount: Amount::tokens(5_000),
            keys: Some(squat.clone()),
        },
        TxError::InvalidKeys(KeysError::NoPossession {
            key: squat.node.key,
            error: cairn_types::keys::SignatureError::Invalid,
        }),
    );
    refused!(
        chain,
        "alice",
        Action::BondValidator {
            amount: Amount::tokens(5_000),
            keys: None,
        },
        TxError::KeysRequired,
    );
    refused!(
        chain,
        "alice",
        Action::BondValidator {
            amount: Amount::tokens(1),
            keys: Some(keys_for(&chain, "alice", 0, 1)),
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
            keys: Some(keys_for(&chain, "validator-0", 0, 1)),
        },
        TxError::KeysAlreadySet,
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
    refused!(
        chain,
        "alice",
        Action::Unjail,
        TxError::NotAValidator(addr("alice"))
    );
    refused!(
        chain,
        "validator-0",
        Action::Unjail,
        TxError::NotJailedForDowntime(addr("validator-0"))
    );
}

/// The points of small order (and non-canonical encodings) are refused as accounts, devices,
/// makers and consensus keys.
#[test]
fn weak_keys_are_refused_everywhere_a_key_is_named() {
    let (mut chain, _dir) = chain();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = cairn_types::PublicKey(identity);
    let refused = chain
        .run(
            "alice",
            Action::Transfer {
                to: Address(weak),
                amount: Amount(5),
            },
        )
        .unwrap_err();
    assert_eq!(refused.code(), "weak_key");
    let refused = chain
        .run(
            "alice",
            Action::BurnForCredits {
                amount: Amount(5),
                recipient: Address(weak),
                min_credits: Credits(0),
            },
        )
        .unwrap_err();
    assert_eq!(refused.code(), "weak_key");
    let mut keys = keys_for(&chain, "alice", 0, 1);
    keys.node = KeyPossession {
        key: weak,
        signature: cairn_types::Signature([0; 64]),
    };
    let refused = chain
        .run(
            "alice",
            Action::BondValidator {
                amount: Amount::tokens(5_000),
                keys: Some(keys),
            },
        )
        .unwrap_err();
    assert_eq!(refused.code(), "invalid_keys");
}

/// A rotation takes effect with the next set chosen; the old keys stay the validator's (for
/// evidence) and nobody else may take them.
#[test]
fn key_rotation_takes_effect_at_the_next_set_chosen() {
    let (mut chain, _dir) = chain();
    let old = set_of(&chain, 1)
        .members
        .iter()
        .find(|m| m.address == addr("validator-2"))
        .unwrap()
        .clone();
    let new = ValidatorKeys::derive(
        &chain.ledger.config().chain_id,
        &addr("validator-2"),
        &key("validator-2/consensus"),
        1,
        4,
    );
    chain
        .run(
            "validator-2",
            Action::RotateValidatorKeys { keys: new.clone() },
        )
        .unwrap();
    assert_eq!(
        record(&chain, "validator-2")
            .pending_keys
            .unwrap()
            .seat_keys,
        new.seat_keys()
    );
    // One rotation waits at a time.
    let again = ValidatorKeys::derive(
        &chain.ledger.config().chain_id,
        &addr("validator-2"),
        &key("validator-2/consensus"),
        2,
        4,
    );
    refused!(
        chain,
        "validator-2",
        Action::RotateValidatorKeys { keys: again },
        TxError::RotationPending(addr("validator-2"))
    );
    chain.advance_to_epoch(1).unwrap();
    let in_two = set_of(&chain, 2);
    let member = in_two
        .members
        .iter()
        .find(|m| m.address == addr("validator-2"))
        .unwrap();
    assert_eq!(member.node_key, new.node.key);
    assert_eq!(member.seats, new.seat_keys()[..member.seats.len()].to_vec());
    assert!(member.seats.iter().all(|k| !old.seats.contains(k)));
    assert_eq!(
        set_of(&chain, 1)
            .members
            .iter()
            .find(|m| m.address == addr("validator-2")),
        Some(&old)
    );
    assert!(record(&chain, "validator-2").pending_keys.is_none());
    // The old keys stay registered to validator-2.
    let owner: Address = chain
        .ledger
        .get(&StateKey::ConsensusKeyOwner(old.seats[0]))
        .unwrap()
        .unwrap();
    assert_eq!(owner, addr("validator-2"));
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
    assert_eq!(entries.0[0].release_epoch, Epoch(3));
    refused!(
        chain,
        "oracle-0",
        Action::WithdrawUnbonded,
        TxError::NothingToWithdraw
    );
    chain.advance_to_epoch(3).unwrap();
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
    let info = record(&chain, "validator-2");
    assert_eq!(info.jail, Jail::DoubleSign);
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
    let set = set_of(&chain, 2);
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

/// The set of an epoch is known from the first block of the epoch before, and reading it back
/// later gives the same answer.
#[test]
fn each_set_is_known_an_epoch_ahead_and_kept() {
    let (mut chain, _dir) = chain();
    assert!(chain
        .ledger
        .validator_set_of_epoch(Epoch(2))
        .unwrap()
        .is_none());
    chain
        .run(
            "alice",
            Action::BondValidator {
                amount: Amount::tokens(60_000),
                keys: Some(keys_for(&chain, "alice", 0, 2)),
            },
        )
        .unwrap();
    unbond_all(&mut chain, "validator-3", Amount::tokens(50_000));
    chain.advance_to_epoch(1).unwrap();
    let two = set_of(&chain, 2);
    assert!(two.members.iter().any(|m| m.address == addr("alice")));
    assert!(!two.members.iter().any(|m| m.address == addr("validator-3")));
    assert!(chain
        .ledger
        .validator_set_of_epoch(Epoch(3))
        .unwrap()
        .is_none());
    chain.advance_to_epoch(3).unwrap();
    assert_eq!(set_of(&chain, 2), two);
    assert!(chain
        .ledger
        .validator_set_of_epoch(Epoch(4))
        .unwrap()
        .is_some());
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
    assert_eq!(record(&chain, "validator-3").stake, Amount::ZERO);
    chain.advance_to_epoch(1).unwrap();
    assert!(set_of(&chain, 2)
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

    // An honest leaver's record goes when its stake is withdrawn; a double signer's stays.
    unbond_all(&mut chain, "validator-1", stake);
    chain.advance_to_epoch(4).unwrap();
    chain.run("validator-1", Action::WithdrawUnbonded).unwrap();
    assert!(chain
        .ledger
        .get::<ValidatorInfo>(&StateKey::Validator(addr("validator-1")))
        .unwrap()
        .is_none());
    assert_eq!(record(&chain, "validator-3").jail, Jail::DoubleSign);
    assert_balanced(&chain);
}

/// Applies empty blocks up to the first block of `epoch`, each carrying the signers of the block
/// before it: every seat signed except those held by `silent`.
fn blocks_with_signers(chain: &mut TestChain, epoch: u64, silent: &[&str]) {
    let n = chain.ledger.config().blocks_per_epoch;
    while chain.ledger.head().height < epoch * n + 1 {
        let mut block = chain.next_block(Vec::new());
        let counted = block.height - 1;
        if counted >= 1 {
            let set = set_of(chain, Epoch::of_height(counted, n).0);
            let signed = cairn_ledger::epoch::seat_order(&set)
                .iter()
                .map(|(_, holder)| !silent.iter().any(|s| addr(s) == *holder))
                .collect();
            block.signers = Some(SignerRecord {
                height: counted,
                signed,
            });
        }
        chain.ledger.apply_block(&block).unwrap();
    }
}

/// A validator whose seats miss more than `downtime_jail_bps` of an epoch's counted votes is
/// jailed at the epoch's end: out of the next set chosen and unpaid; it may leave the jail with
/// `Unjail` from the epoch after the next.
#[test]
fn missing_votes_jails_until_unjail() {
    let (mut chain, _dir) = chain();
    let before = chain.account(&addr("validator-1")).balance;
    blocks_with_signers(&mut chain, 1, &["validator-1"]);
    let info = record(&chain, "validator-1");
    assert_eq!(info.jail, Jail::Downtime { epoch: Epoch(0) });
    assert_eq!(
        chain.account(&addr("validator-1")).balance,
        before,
        "no emission"
    );
    assert!(!set_of(&chain, 2)
        .members
        .iter()
        .any(|m| m.address == addr("validator-1")));
    // The others signed everything and stay.
    assert_eq!(record(&chain, "validator-0").jail, Jail::Free);
    let liveness: cairn_ledger::state::records::Liveness = chain
        .ledger
        .get(&StateKey::Liveness(Epoch(0)))
        .unwrap()
        .unwrap();
    assert!(liveness.counted > 0);
    refused!(
        chain,
        "validator-1",
        Action::Unjail,
        TxError::JailNotServed {
            until: Epoch(2),
            now: Epoch(1)
        }
    );
    chain.advance_to_epoch(2).unwrap();
    chain.run("validator-1", Action::Unjail).unwrap();
    assert_eq!(record(&chain, "validator-1").jail, Jail::Free);
    chain.advance_to_epoch(3).unwrap();
    assert!(set_of(&chain, 4)
        .members
        .iter()
        .any(|m| m.address == addr("validator-1")));
    assert_balanced(&chain);
}

/// Signer records must come in height order (gaps allowed), below the block, with one flag per
/// seat.
#[test]
fn signer_records_out_of_order_or_of_the_wrong_size_are_refused() {
    let (mut chain, _dir) = chain();
    chain.block(Vec::new()).unwrap();
    chain.block(Vec::new()).unwrap();
    let seats = set_of(&chain, 0).seat_count();
    let mut block = chain.next_block(Vec::new());
    let record = |height: u64, flags: usize| {
        Some(SignerRecord {
            height,
            signed: vec![true; flags],
        })
    };
    // Not the block itself or above.
    block.signers = record(3, seats);
    assert!(matches!(
        chain.ledger.apply_block(&block),
        Err(cairn_ledger::BlockError::SignersOutOfOrder {
            expected: 1,
            got: 3
        })
    ));
    block.signers = record(1, seats + 1);
    assert!(matches!(
        chain.ledger.apply_block(&block),
        Err(cairn_ledger::BlockError::SignersMismatch { .. })
    ));
    // Height 1 may be skipped (a block finalized through its child has no certificate).
    block.signers = record(2, seats);
    chain.ledger.apply_block(&block).unwrap();
    // Nothing at or below the last counted height again.
    let mut block = chain.next_block(Vec::new());
    block.signers = record(2, seats);
    assert!(matches!(
        chain.ledger.apply_block(&block),
        Err(cairn_ledger::BlockError::SignersOutOfOrder {
            expected: 3,
            got: 2
        })
    ));
}

/// Growth of the set is capped: stake beyond what was admitted before enters at most
/// `churn_bps` (a quarter) of the admitted stake per set, in priority order; the rest waits for
/// the next sets, and the seats of the others move only as far.
#[test]
fn the_churn_limit_admits_a_large_newcomer_over_several_epochs() {
    let (mut chain, _dir) = chain();
    for label in ["alice", "bob"] {
        let keys = keys_for(&chain, label, 0, 4);
        chain
            .run(
                label,
                Action::BondValidator {
                    amount: Amount::tokens(200_000),
                    keys: Some(keys),
                },
            )
            .unwrap();
    }
    let admitted = |chain: &TestChain, label: &str| record(chain, label).admitted;
    chain.advance_to_epoch(1).unwrap();
    // 200,000 admitted before (4 × 50,000): a quarter, 50,000, may enter (the newcomer first in
    // priority order, equal stakes going by address, takes it).
    let first = admitted(&chain, "alice").0 + admitted(&chain, "bob").0;
    assert_eq!(first, Amount::tokens(50_000).0);
    let two = set_of(&chain, 2);
    // The old validators keep seats: the newcomers could not flood the set at once.
    for v in ["validator-0", "validator-1", "validator-2", "validator-3"] {
        assert!(
            two.members.iter().any(|m| m.address == addr(v)),
            "{v} kept its seats"
        );
    }
    chain.advance_to_epoch(2).unwrap();
    let second = admitted(&chain, "alice").0 + admitted(&chain, "bob").0;
    // A quarter of 250,000 more.
    assert_eq!(second - first, Amount::tokens(62_500).0);
    chain.advance_to_epoch(8).unwrap();
    assert_eq!(admitted(&chain, "alice"), Amount::tokens(200_000));
    assert_eq!(admitted(&chain, "bob"), Amount::tokens(200_000));
    assert_balanced(&chain);
}

/// Seated validators may unbond at most `churn_bps` (a quarter) of the seated stake per epoch;
/// the first unbond of an epoch always passes, and the budget comes back the next epoch.
#[test]
fn the_churn_limit_bounds_validator_stake_leaving_per_epoch() {
    let (mut chain, _dir) = chain();
    let unbond = |amount: u128| Action::Unbond {
        role: StakeRole::Validator,
        amount: Amount::tokens(amount),
    };
    // 4 × 50,000 seated: 50,000 may leave per epoch.
    chain.run("validator-0", unbond(40_000)).unwrap();
    refused!(
        chain,
        "validator-1",
        unbond(20_000),
        TxError::ChurnLimit {
            epoch: Epoch(0),
            left: Amount::tokens(10_000)
        }
    );
    chain.run("validator-1", unbond(10_000)).unwrap();
    chain.advance_to_epoch(1).unwrap();
    chain.run("validator-1", unbond(20_000)).unwrap();
    assert_balanced(&chain);
}
