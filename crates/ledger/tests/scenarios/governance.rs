use crate::helpers::{assert_balanced, chain};
use cairn_ledger::exec::governance::voting_power;
use cairn_ledger::state::records::{
    ChainState, LockRecord, LockSums, MakerRecord, Proposal, ProposalStatus,
};
use cairn_ledger::testkit::{addr, key, TestChain};
use cairn_ledger::{StateKey, TxError};
use cairn_types::codec::BoundedString;
use cairn_types::params::{ParamId, Params};
use cairn_types::tx::{Action, ProposalAction, VoteChoice};
use cairn_types::{Amount, Epoch};

fn propose(action: ProposalAction) -> Action {
    Action::Propose {
        action,
        description: BoundedString::new("test").unwrap(),
    }
}

fn proposal(chain: &TestChain, id: u64) -> Proposal {
    chain.ledger.get(&StateKey::Proposal(id)).unwrap().unwrap()
}

fn lock(chain: &mut TestChain, label: &str, tokens: u128, epochs: u64) {
    chain
        .run(
            label,
            Action::Lock {
                amount: Amount::tokens(tokens),
                duration_epochs: epochs,
            },
        )
        .unwrap();
}

#[test]
fn parameter_change_passes_after_vote_and_timelock() {
    let (mut chain, _dir) = chain();
    lock(&mut chain, "alice", 1_000, 100);
    lock(&mut chain, "bob", 500, 50);
    let sums: LockSums = chain.ledger.get(&StateKey::GovTotals).unwrap().unwrap();
    assert_eq!(
        cairn_ledger::exec::governance::total_power(&sums, &LockSums::default(), Epoch(0), 100),
        Amount::tokens(1_250).0
    );
    chain
        .run(
            "alice",
            propose(ProposalAction::SetParameter {
                param: ParamId::TxFeeMin,
                value: 2_000,
            }),
        )
        .unwrap();
    let p = proposal(&chain, 0);
    assert_eq!(p.total_power, Amount::tokens(1_250).0);
    chain
        .run(
            "alice",
            Action::Vote {
                proposal: 0,
                choice: VoteChoice::Yes,
            },
        )
        .unwrap();
    chain
        .run(
            "bob",
            Action::Vote {
                proposal: 0,
                choice: VoteChoice::No,
            },
        )
        .unwrap();
    refused!(
        chain,
        "bob",
        Action::Vote {
            proposal: 0,
            choice: VoteChoice::Yes
        },
        TxError::AlreadyVoted(addr("bob"))
    );
    refused!(
        chain,
        "carol",
        Action::ExecuteProposal { proposal: 0 },
        TxError::VotingOpen {
            id: 0,
            until: p.voting_end_height
        },
    );
    while chain.ledger.head().height < p.voting_end_height {
        chain.block(vec![]).unwrap();
    }
    refused!(
        chain,
        "carol",
        Action::Vote {
            proposal: 0,
            choice: VoteChoice::Yes
        },
        TxError::VotingClosed(0),
    );
    refused!(
        chain,
        "carol",
        Action::ExecuteProposal { proposal: 0 },
        TxError::Timelocked {
            id: 0,
            from: p.voting_end_height + 3
        },
    );
    while chain.ledger.head().height < p.voting_end_height + 2 {
        chain.block(vec![]).unwrap();
    }
    chain
        .run("carol", Action::ExecuteProposal { proposal: 0 })
        .unwrap();
    assert_eq!(proposal(&chain, 0).status, ProposalStatus::Executed);
    let params: Params = chain.ledger.get(&StateKey::Params).unwrap().unwrap();
    assert_eq!(params.tx_fee_min, Amount(2_000));
    // The new minimum fee is enforced.
    assert!(matches!(
        chain.run(
            "carol",
            Action::Transfer {
                to: addr("dave"),
                amount: Amount(1)
            }
        ),
        Err(TxError::FeeTooLow { .. })
    ));
    chain.fee = Amount(2_000);
    refused!(
        chain,
        "carol",
        Action::ExecuteProposal { proposal: 0 },
        TxError::ProposalClosed(0)
    );
    assert_balanced(&chain);
}

#[test]
fn a_proposal_without_majority_is_rejected_and_not_executed() {
    let (mut chain, _dir) = chain();
    chain.advance_to_epoch(1).unwrap();
    lock(&mut chain, "alice", 1_000, 100);
    lock(&mut chain, "bob", 500, 50);
    chain
        .run(
            "bob",
            propose(ProposalAction::TreasurySpend {
                to: addr("bob"),
                amount: Amount::tokens(100),
            }),
        )
        .unwrap();
    chain
        .run(
            "bob",
            Action::Vote {
                proposal: 0,
                choice: VoteChoice::Yes,
            },
        )
        .unwrap();
    chain
        .run(
            "alice",
            Action::Vote {
                proposal: 0,
                choice: VoteChoice::No,
            },
        )
        .unwrap();
    for _ in 0..10 {
        chain.block(vec![]).unwrap();
    }
    let bob = chain.account(&addr("bob")).balance;
    chain
        .run("carol", Action::ExecuteProposal { proposal: 0 })
        .unwrap();
    assert_eq!(proposal(&chain, 0).status, ProposalStatus::Rejected);
    assert_eq!(chain.account(&addr("bob")).balance, bob);
}

#[test]
fn treasury_spend_and_maker_approval_execute() {
    let (mut chain, _dir) = chain();
    chain.advance_to_epoch(1).unwrap();
    lock(&mut chain, "alice", 1_000, 100);
    let maker = key("maker-new").public_key();
    chain
        .run(
            "alice",
            propose(ProposalAction::TreasurySpend {
                to: addr("carol"),
                amount: Amount::tokens(100),
            }),
        )
        .unwrap();
    chain
        .run(
            "alice",
            propose(ProposalAction::ApproveMaker {
                maker,
                name: BoundedString::new("New Co").unwrap(),
            }),
        )
        .unwrap();
    chain
        .run(
            "alice",
            Action::Vote {
                proposal: 0,
                choice: VoteChoice::Yes,
            },
        )
        .unwrap();
    chain
        .run(
            "alice",
            Action::Vote {
                proposal: 1,
                choice: VoteChoice::Yes,
            },
        )
        .unwrap();
    for _ in 0..10 {
        chain.block(vec![]).unwrap();
    }
    let treasury = chain
        .ledger
        .get::<ChainState>(&StateKey::ChainState)
        .unwrap()
        .unwrap()
        .treasury;
    let carol = chain.account(&addr("carol")).balance;
    chain
        .run("dave", Action::ExecuteProposal { proposal: 0 })
        .unwrap();
    chain
        .run("dave", Action::ExecuteProposal { proposal: 1 })
        .unwrap();
    assert_eq!(
        chain.account(&addr("carol")).balance,
        Amount(carol.0 + Amount::tokens(100).0)
    );
    let after = chain
        .ledger
        .get::<ChainState>(&StateKey::ChainState)
        .unwrap()
        .unwrap()
        .treasury;
    assert_eq!(after, Amount(treasury.0 - Amount::tokens(100).0));
    let record: MakerRecord = chain.ledger.get(&StateKey::Maker(maker)).unwrap().unwrap();
    assert!(record.approved);
    assert_balanced(&chain);
}

#[test]
fn lock_rules_and_decay() {
    let (mut chain, _dir) = chain();
    refused!(
        chain,
        "alice",
        Action::Lock {
            amount: Amount::tokens(1),
            duration_epochs: 101
        },
        TxError::LockTooLong { max: 100, got: 101 },
    );
    refused!(
        chain,
        "alice",
        propose(ProposalAction::SetParameter {
            param: ParamId::TxFeeMin,
            value: 1
        }),
        TxError::InsufficientVotingPower {
            needed: Amount::tokens(10).0,
            have: 0
        },
    );
    lock(&mut chain, "alice", 1_000, 2);
    refused!(
        chain,
        "alice",
        Action::Unlock,
        TxError::LockNotExpired(Epoch(2))
    );
    refused!(
        chain,
        "alice",
        propose(ProposalAction::SetParameter {
            param: ParamId::QuorumBps,
            value: 20_000
        }),
        TxError::Param(cairn_types::params::ParamError::OutOfRange {
            param: ParamId::QuorumBps,
            value: 20_000,
            min: 1,
            max: 10_000,
        }),
    );
    let record: LockRecord = chain
        .ledger
        .get(&StateKey::Lock(addr("alice")))
        .unwrap()
        .unwrap();
    assert_eq!(voting_power(&record, Epoch(0), 100), Amount::tokens(20).0);
    assert_eq!(voting_power(&record, Epoch(1), 100), Amount::tokens(10).0);
    assert_eq!(voting_power(&record, Epoch(2), 100), 0);
    chain.advance_to_epoch(2).unwrap();
    let sums: LockSums = chain.ledger.get(&StateKey::GovTotals).unwrap().unwrap();
    assert_eq!(
        sums,
        LockSums::default(),
        "the expired lock left the totals"
    );
    refused!(
        chain,
        "alice",
        Action::Lock {
            amount: Amount(1),
            duration_epochs: 1
        },
        TxError::LockExpired
    );
    let before = chain.account(&addr("alice")).balance;
    chain.run("alice", Action::Unlock).unwrap();
    assert_eq!(
        chain.account(&addr("alice")).balance,
        Amount(before.0 + Amount::tokens(1_000).0 - chain.fee.0)
    );
    assert_balanced(&chain);
}

#[test]
fn a_proposal_whose_windows_leave_no_time_for_a_root_is_refused() {
    let (mut chain, _dir) = chain();
    lock(&mut chain, "alice", 1_000, 100);
    // The test chain's epochs are 10 blocks of 200 ms: a root reaches back 64 epochs (128 s),
    // so the windows may take 64 s. A 10-minute report delay would leave no time at all.
    let error = chain
        .run(
            "alice",
            propose(ProposalAction::SetParameter {
                param: ParamId::ReportDelayMaxSecs,
                value: 600,
            }),
        )
        .unwrap_err();
    assert_eq!(error.code(), "windows_exceed_root_span", "{error}");
    assert!(chain
        .ledger
        .get::<Proposal>(&StateKey::Proposal(0))
        .unwrap()
        .is_none());
    // Within the span, the same parameter may be proposed.
    chain
        .run(
            "alice",
            propose(ProposalAction::SetParameter {
                param: ParamId::ReportDelayMaxSecs,
                value: 2,
            }),
        )
        .unwrap();
}

/// Revoking a maker stops its attestations from onboarding and names the first reward epoch
/// its devices earn nothing in: the one after the revocation's (the epoch under way still
/// pays). Revoking it again changes that epoch no more.
#[test]
fn a_revoked_maker_is_revoked_from_the_next_reward_epoch() {
    let (mut chain, _dir) = chain();
    let maker = key("maker-revoked-later").public_key();
    crate::helpers::enact(
        &mut chain,
        ProposalAction::ApproveMaker {
            maker,
            name: BoundedString::new("Later Co").unwrap(),
        },
    );
    let approved: MakerRecord = chain.ledger.get(&StateKey::Maker(maker)).unwrap().unwrap();
    assert_eq!(approved.revoked_from, None);
    crate::helpers::enact(&mut chain, ProposalAction::RevokeMaker { maker });
    let epoch = cairn_types::Epoch::of_height(
        chain.ledger.head().height,
        chain.ledger.config().blocks_per_epoch,
    );
    let revoked: MakerRecord = chain.ledger.get(&StateKey::Maker(maker)).unwrap().unwrap();
    assert!(!revoked.approved);
    // One consensus epoch a reward epoch in the test chain.
    let reward_epoch = chain
        .ledger
        .config()
        .reward_clock()
        .reward_epoch_of(epoch)
        .0;
    assert_eq!(revoked.revoked_from, Some(reward_epoch + 1));
    chain.advance_to_epoch(epoch.0 + 2).unwrap();
    crate::helpers::enact(&mut chain, ProposalAction::RevokeMaker { maker });
    let again: MakerRecord = chain.ledger.get(&StateKey::Maker(maker)).unwrap().unwrap();
    assert_eq!(again.revoked_from, Some(reward_epoch + 1));
}
