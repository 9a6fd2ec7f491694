//! Shared helpers for the scenarios.

use cairn_ledger::audit::audit_supply;
use cairn_ledger::testkit::TestChain;
use cairn_ledger::TxError;
use cairn_types::tx::Action;

/// A fresh test chain in a temporary directory (kept alive by the returned guard).
pub(crate) fn chain() -> (TestChain, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(dir.path()).unwrap();
    (chain, dir)
}

/// Asserts that the action fails with `expected` and changes nothing at all.
pub(crate) fn refused(chain: &mut TestChain, label: &str, action: Action, expected: TxError) {
    let before = chain.ledger.head();
    let result = chain.run(label, action);
    assert_eq!(result.err(), Some(expected));
    assert_eq!(
        chain.ledger.head(),
        before,
        "a refused transaction must change nothing"
    );
}

/// Asserts that the supply identity holds.
pub(crate) fn assert_balanced(chain: &TestChain) {
    let audit = audit_supply(&chain.ledger).unwrap();
    assert!(audit.balanced(), "supply does not balance: {audit:?}");
}

/// Every oracle posts $1 per token; `label` burns 10 tokens for 1,000,000 data credits.
pub(crate) fn fund_credits(chain: &mut TestChain, label: &str) {
    use cairn_ledger::testkit::addr;
    use cairn_types::{Amount, Credits};
    post_prices(chain, &[1_000_000_000; 3]);
    chain
        .run(
            label,
            Action::BurnForCredits {
                amount: Amount::tokens(10),
                recipient: addr(label),
                min_credits: Credits(1_000_000),
            },
        )
        .unwrap();
}

/// Each genesis oracle posts its price (nano-dollars), in one block.
pub(crate) fn post_prices(chain: &mut TestChain, prices: &[u64; 3]) {
    use cairn_ledger::testkit::ORACLES;
    use cairn_types::Price;
    let txs = ORACLES
        .iter()
        .zip(prices)
        .map(|(oracle, price)| {
            chain.tx(
                oracle,
                Action::PostPrice {
                    price: Price(*price),
                },
            )
        })
        .collect();
    chain.block(txs).unwrap();
}

/// Passes `action` through governance: carol locks 100,000 tokens for the longest lock (if she
/// has no lock), proposes, votes yes, waits out the vote and the timelock, and executes it.
/// Returns the proposal's number.
pub(crate) fn enact(chain: &mut TestChain, action: cairn_types::tx::ProposalAction) -> u64 {
    use cairn_ledger::state::records::{ChainState, LockRecord, Proposal, ProposalStatus};
    use cairn_ledger::testkit::addr;
    use cairn_ledger::StateKey;
    use cairn_types::codec::BoundedString;
    use cairn_types::params::Params;
    use cairn_types::tx::VoteChoice;
    use cairn_types::Amount;
    let lock: Option<LockRecord> = chain.ledger.get(&StateKey::Lock(addr("carol"))).unwrap();
    if lock.is_none() {
        let params: Params = chain.ledger.get(&StateKey::Params).unwrap().unwrap();
        chain
            .run(
                "carol",
                Action::Lock {
                    amount: Amount::tokens(100_000),
                    duration_epochs: params.lock_epochs_max,
                },
            )
            .unwrap();
    }
    let id = chain
        .ledger
        .get::<ChainState>(&StateKey::ChainState)
        .unwrap()
        .unwrap()
        .next_proposal;
    chain
        .run(
            "carol",
            Action::Propose {
                action,
                description: BoundedString::new("enacted by a test").unwrap(),
            },
        )
        .unwrap();
    chain
        .run(
            "carol",
            Action::Vote {
                proposal: id,
                choice: VoteChoice::Yes,
            },
        )
        .unwrap();
    let proposal: Proposal = chain.ledger.get(&StateKey::Proposal(id)).unwrap().unwrap();
    let params: Params = chain.ledger.get(&StateKey::Params).unwrap().unwrap();
    while chain.ledger.head().height < proposal.voting_end_height + params.timelock_blocks {
        chain.block(vec![]).unwrap();
    }
    chain
        .run("carol", Action::ExecuteProposal { proposal: id })
        .unwrap();
    let done: Proposal = chain.ledger.get(&StateKey::Proposal(id)).unwrap().unwrap();
    assert_eq!(done.status, ProposalStatus::Executed, "proposal {id}");
    id
}
