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

/// One random transaction for the ordered path: a sender, a recipient, an amount, a nonce
/// offset from the sender's next nonce (0 is right), and whether its signature is forged.
type RandomTx = (usize, usize, u128, u64, bool);

fn random_block(chain: &TestChain, txs: &[RandomTx]) -> Vec<cairn_types::tx::SignedTransaction> {
    let mut next: std::collections::HashMap<usize, u64> = std::collections::HashMap::new();
    txs.iter()
        .map(|&(from, to, amount, offset, forged)| {
            let nonce = next
                .entry(from)
                .or_insert_with(|| chain.account(&addr(USERS[from])).nonce);
            let mut tx = chain.tx(
                USERS[from],
                Action::Transfer {
                    to: addr(USERS[to]),
                    amount: Amount(amount),
                },
            );
            tx.tx.nonce = *nonce + offset;
            if offset == 0 {
                *nonce += 1;
            }
            let signer = if forged { "mallory" } else { USERS[from] };
            tx.tx.sign(&cairn_ledger::testkit::key(signer))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    /// The ordered path production uses: whatever a block holds, the supply balances, every
    /// charged transaction (executed or failed) burns exactly its fee and uses exactly one
    /// nonce, and a skipped transaction has no effect at all (the block without it gives the
    /// same root).
    #[test]
    fn ordered_blocks_charge_exactly_and_skip_without_effect(
        blocks in proptest::collection::vec(
            proptest::collection::vec((0usize..4, 0usize..4, 0u128..1_500_000_000_000, 0u64..3, proptest::bool::weighted(0.1)), 0..12),
            1..5,
        )
    ) {
        let dir = tempfile::tempdir().unwrap();
        let twin_dir = tempfile::tempdir().unwrap();
        let mut chain = TestChain::new(dir.path()).unwrap();
        let mut twin = TestChain::new(twin_dir.path()).unwrap();
        for spec in blocks {
            let txs = random_block(&chain, &spec);
            let block = chain.next_block(txs.clone());
            let supply = cairn_ledger::audit::audit_supply(&chain.ledger).unwrap().total_supply;
            let nonces: Vec<u64> = USERS.iter().map(|u| chain.account(&addr(u)).nonce).collect();
            let (outcome, skipped) = chain.ledger.apply_ordered_block(&block).unwrap();
            prop_assert_eq!(outcome.receipts.len() + skipped.len(), txs.len());
            let after = cairn_ledger::audit::audit_supply(&chain.ledger).unwrap();
            prop_assert!(after.balanced(), "{:?}", after);
            prop_assert_eq!(supply.0 - after.total_supply.0, chain.fee.0 * outcome.receipts.len() as u128);
            for (i, user) in USERS.iter().enumerate() {
                let charged = outcome.receipts.iter().filter(|r| r.sender == addr(user)).count() as u64;
                prop_assert_eq!(chain.account(&addr(user)).nonce, nonces[i] + charged);
            }
            // The twin applies only what was charged: the same root.
            let skipped_ids: std::collections::HashSet<_> = skipped.iter().map(|(id, _)| *id).collect();
            let mut kept = block.clone();
            kept.transactions.retain(|tx| !skipped_ids.contains(&tx.id()));
            let (twin_outcome, twin_skipped) = twin.ledger.apply_ordered_block(&kept).unwrap();
            prop_assert!(twin_skipped.is_empty());
            prop_assert_eq!(twin_outcome.state_root, outcome.state_root);
        }
    }
}
