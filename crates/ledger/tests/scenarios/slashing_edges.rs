//! Edges of slashing and of governance's voting power that an attacker would look for.

use crate::helpers::{assert_balanced, chain, enact};
use cairn_ledger::exec::governance::voting_power;
use cairn_ledger::state::records::{LockRecord, Proposal, Unbondings};
use cairn_ledger::testkit::{addr, key, test_genesis, TestChain};
use cairn_ledger::StateKey;
use cairn_types::codec::BoundedString;
use cairn_types::evidence::{DoubleSignEvidence, SignedVote, Vote, VoteKind};
use cairn_types::params::ParamId;
use cairn_types::tx::{Action, ProposalAction, StakeRole, VoteChoice};
use cairn_types::{Amount, Epoch, Hash};

/// Two conflicting notarize votes by validator-2 in `epoch`.
fn evidence(chain: &TestChain, epoch: u64) -> DoubleSignEvidence {
    let offender = key("validator-2/consensus");
    let chain_id = chain.ledger.config().chain_id.clone();
    let vote = |block: u8| -> SignedVote {
        Vote {
            epoch,
            view: 7,
            parent_view: 6,
            kind: VoteKind::Notarize,
            block: Hash([block; 32]),
        }
        .sign(&offender, &chain_id)
    };
    DoubleSignEvidence {
        consensus_key: offender.public_key(),
        first: vote(1),
        second: vote(2),
    }
}

fn unbond_validator_2(chain: &mut TestChain) {
    chain
        .run(
            "validator-2",
            Action::Unbond {
                role: StakeRole::Validator,
                amount: Amount::tokens(50_000),
            },
        )
        .unwrap();
}

fn unbonding(chain: &TestChain, label: &str) -> Amount {
    let entries: Unbondings = chain
        .ledger
        .get(&StateKey::Unbonding(addr(label)))
        .unwrap()
        .unwrap_or_default();
    Amount(entries.0.iter().map(|e| e.amount.0).sum())
}

/// Stake unbonded under a 6-epoch period answers for 6 epochs of offences, even after
/// governance lowers the period to 3; the stake still bonded answers for 3, so an offence 4
/// epochs old cuts only the unbonding entry.
#[test]
fn the_evidence_window_of_unbonding_stake_is_the_period_fixed_at_unbond() {
    let dir = tempfile::tempdir().unwrap();
    let mut genesis = test_genesis();
    genesis.params.unbonding_epochs = 6;
    let mut chain = TestChain::with_genesis(dir.path(), &genesis).unwrap();
    chain.advance_to_epoch(1).unwrap();
    chain
        .run(
            "validator-2",
            Action::Unbond {
                role: StakeRole::Validator,
                amount: Amount::tokens(10_000),
            },
        )
        .unwrap();
    enact(
        &mut chain,
        ProposalAction::SetParameter {
            param: ParamId::UnbondingEpochs,
            value: 3,
        },
    );
    chain.advance_to_epoch(5).unwrap();
    chain
        .run(
            "bob",
            Action::ReportDoubleSign {
                evidence: evidence(&chain, 1),
            },
        )
        .unwrap();
    // 5% of the 10,000 on their way out; the 40,000 bonded are out of their window.
    assert_eq!(unbonding(&chain, "validator-2"), Amount::tokens(9_500));
    let info: cairn_ledger::state::records::ValidatorInfo = chain
        .ledger
        .get(&StateKey::Validator(addr("validator-2")))
        .unwrap()
        .unwrap();
    assert_eq!(info.stake, Amount::tokens(40_000));
    assert_eq!(info.jail, cairn_ledger::state::records::Jail::DoubleSign);
    assert_balanced(&chain);
}

/// A leader puts the offender's withdrawal before the report in one block: the withdrawal is
/// paid at the end of the block, after the slash.
#[test]
fn a_withdrawal_cannot_front_run_a_report_in_the_same_block() {
    let (mut chain, _dir) = chain();
    chain.advance_to_epoch(1).unwrap();
    unbond_validator_2(&mut chain);
    chain.advance_to_epoch(4).unwrap();
    let before = chain.account(&addr("validator-2")).balance;
    let withdraw = chain.tx("validator-2", Action::WithdrawUnbonded);
    let report = chain.tx(
        "bob",
        Action::ReportDoubleSign {
            evidence: evidence(&chain, 1),
        },
    );
    chain.block(vec![withdraw, report]).unwrap();
    assert_eq!(
        chain.account(&addr("validator-2")).balance,
        Amount(before.0 + Amount::tokens(47_500).0 - chain.fee.0)
    );
    assert_eq!(unbonding(&chain, "validator-2"), Amount::ZERO);
    assert_balanced(&chain);
}

fn power_of(chain: &TestChain, label: &str, epoch: Epoch, max: u64) -> u128 {
    let lock: LockRecord = chain
        .ledger
        .get(&StateKey::Lock(addr(label)))
        .unwrap()
        .unwrap();
    voting_power(&lock, epoch, max)
}

/// Proposes a fee change as carol and returns the proposal.
fn propose_fee(chain: &mut TestChain, fee: u128) -> Proposal {
    let id = chain
        .ledger
        .get::<cairn_ledger::state::records::ChainState>(&StateKey::ChainState)
        .unwrap()
        .unwrap()
        .next_proposal;
    chain
        .run(
            "carol",
            Action::Propose {
                action: ProposalAction::SetParameter {
                    param: ParamId::TxFeeMin,
                    value: fee,
                },
                description: BoundedString::new("fees").unwrap(),
            },
        )
        .unwrap();
    chain.ledger.get(&StateKey::Proposal(id)).unwrap().unwrap()
}

/// Lowering `lock_epochs_max` caps every lock's power, and the total the quorum is measured
/// against is capped alike (it is exactly the sum of the votes), before and after locks cross
/// the new cap; a proposal can still reach its quorum.
#[test]
fn total_voting_power_uses_the_same_cap_as_each_vote() {
    let (mut chain, _dir) = chain();
    chain
        .run(
            "alice",
            Action::Lock {
                amount: Amount::tokens(1_000),
                duration_epochs: 60,
            },
        )
        .unwrap();
    enact(
        &mut chain,
        ProposalAction::SetParameter {
            param: ParamId::LockEpochsMax,
            value: 10,
        },
    );
    for target in [None, Some(55), Some(95)] {
        if let Some(epoch) = target {
            chain.advance_to_epoch(epoch).unwrap();
        }
        let p = propose_fee(&mut chain, 2_000);
        let epoch = chain
            .ledger
            .get::<cairn_ledger::state::records::ChainState>(&StateKey::ChainState)
            .unwrap()
            .unwrap()
            .epoch;
        let sum = power_of(&chain, "alice", epoch, 10) + power_of(&chain, "carol", epoch, 10);
        assert_eq!(p.total_power, sum, "at epoch {epoch}");
    }
    // The last proposal passes on carol's vote alone (her lock is most of the power).
    let p = propose_fee(&mut chain, 3_000);
    chain
        .run(
            "carol",
            Action::Vote {
                proposal: p.id,
                choice: VoteChoice::Yes,
            },
        )
        .unwrap();
    while chain.ledger.head().height < p.voting_end_height + 2 {
        chain.block(vec![]).unwrap();
    }
    chain
        .run("carol", Action::ExecuteProposal { proposal: p.id })
        .unwrap();
    let done: Proposal = chain
        .ledger
        .get(&StateKey::Proposal(p.id))
        .unwrap()
        .unwrap();
    assert_eq!(
        done.status,
        cairn_ledger::state::records::ProposalStatus::Executed
    );
}

/// A validator that unbonds everything in epoch 1 still holds its seats in epoch 2 (that set
/// was chosen with its stake): a double signature there cuts the stake on its way out.
#[test]
fn a_leaver_double_signing_in_the_epoch_after_its_unbond_is_slashed() {
    let (mut chain, _dir) = chain();
    chain.advance_to_epoch(1).unwrap();
    unbond_validator_2(&mut chain);
    chain.advance_to_epoch(2).unwrap();
    chain
        .run(
            "bob",
            Action::ReportDoubleSign {
                evidence: evidence(&chain, 2),
            },
        )
        .unwrap();
    assert_eq!(unbonding(&chain, "validator-2"), Amount::tokens(47_500));
    assert_balanced(&chain);
}
