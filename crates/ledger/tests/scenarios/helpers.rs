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

/// Passes `action` through governance (`TestChain::enact`) and checks that it executed.
pub(crate) fn enact(chain: &mut TestChain, action: cairn_types::tx::ProposalAction) -> u64 {
    use cairn_ledger::state::records::{Proposal, ProposalStatus};
    use cairn_ledger::StateKey;
    let id = chain.enact(action).unwrap();
    let done: Proposal = chain.ledger.get(&StateKey::Proposal(id)).unwrap().unwrap();
    assert_eq!(done.status, ProposalStatus::Executed, "proposal {id}");
    id
}
