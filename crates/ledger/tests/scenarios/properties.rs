//! Properties over random sequences of transactions.

use crate::helpers::assert_balanced;
use cairn_ledger::testkit::{addr, TestChain, USERS};
use cairn_ledger::BlockError;
use cairn_types::tx::Action;
use cairn_types::Amount;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    /// Whatever mix of valid and invalid transfers is sent, the supply stays balanced, a refused
    /// block leaves the root unchanged, and balances never go negative (they are unsigned, so an
    /// underflow would have to be an error).
    #[test]
    fn random_transfers_keep_supply_balanced(
        ops in proptest::collection::vec((0usize..4, 0usize..4, 0u128..2_000_000_000_000), 1..30)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut chain = TestChain::new(dir.path()).unwrap();
        for (from, to, amount) in ops {
            let before = chain.ledger.head();
            let result = chain.run(USERS[from], Action::Transfer { to: addr(USERS[to]), amount: Amount(amount) });
            if result.is_err() {
                prop_assert_eq!(chain.ledger.head(), before);
            }
        }
        assert_balanced(&chain);
        // A block with an invalid transaction anywhere changes nothing.
        let ok = chain.tx("alice", Action::Transfer { to: addr("bob"), amount: Amount(1) });
        let bad = chain.tx("nobody", Action::Transfer { to: addr("bob"), amount: Amount(1) });
        let before = chain.ledger.head();
        let refused = matches!(chain.block(vec![ok, bad]), Err(BlockError::Transaction { index: 1, .. }));
        prop_assert!(refused);
        prop_assert_eq!(chain.ledger.head(), before);
    }
}
