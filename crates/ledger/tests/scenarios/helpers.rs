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

/// Oracle 0 posts $1 per token; `label` burns 10 tokens for 1,000,000 data credits.
pub(crate) fn fund_credits(chain: &mut TestChain, label: &str) {
    use cairn_ledger::testkit::addr;
    use cairn_types::{Amount, Price};
    chain
        .run(
            "oracle-0",
            Action::PostPrice {
                price: Price(1_000_000_000),
            },
        )
        .unwrap();
    chain
        .run(
            label,
            Action::BurnForCredits {
                amount: Amount::tokens(10),
                recipient: addr(label),
            },
        )
        .unwrap();
}
