//! Blocks whose order consensus fixed before execution: failing transactions are left out with
//! why, the rest apply, and proposals can look past blocks that are ordered but not applied.

use crate::helpers::chain;
use cairn_ledger::testkit::addr;
use cairn_ledger::TxError;
use cairn_types::keys::Signature;
use cairn_types::tx::Action;
use cairn_types::Amount;

fn pay(
    chain: &cairn_ledger::testkit::TestChain,
    nonce: u64,
    amount: u128,
) -> cairn_types::tx::SignedTransaction {
    let mut tx = chain.tx(
        "alice",
        Action::Transfer {
            to: addr("bob"),
            amount: Amount::tokens(amount),
        },
    );
    tx.tx.nonce = nonce;
    tx.tx.sign(&cairn_ledger::testkit::key("alice"))
}

#[test]
fn an_ordered_block_leaves_out_failing_and_forged_transactions_and_applies_the_rest() {
    let (mut chain, _dir) = chain();
    let good = pay(&chain, 0, 5);
    let replay = good.clone();
    let mut forged = pay(&chain, 1, 7);
    forged.signature = Signature([1; 64]);
    let after_forged = pay(&chain, 1, 9);
    let too_much = pay(&chain, 2, 10_000_000);
    let block = chain.next_block(vec![
        good.clone(),
        replay,
        forged.clone(),
        after_forged,
        too_much.clone(),
    ]);
    let (outcome, rejected) = chain.ledger.apply_ordered_block(&block).unwrap();
    assert_eq!(outcome.receipts.len(), 2);
    assert_eq!(chain.ledger.head().height, block.height);
    assert!(rejected.contains(&(forged.id(), TxError::BadSignature)));
    assert!(rejected.iter().any(|(id, _)| *id == too_much.id()));
    assert_eq!(
        rejected.len(),
        3,
        "the replay, the forgery and the overdraft: {rejected:?}"
    );
    assert_eq!(
        chain.account(&addr("bob")).balance,
        Amount::tokens(1_000_014)
    );
    assert_eq!(chain.account(&addr("alice")).nonce, 2);
}

#[test]
fn a_proposal_after_pending_blocks_continues_their_nonces() {
    let (chain, _dir) = chain();
    let pending = vec![pay(&chain, 0, 1), pay(&chain, 1, 1)];
    let candidates = vec![pay(&chain, 0, 2), pay(&chain, 2, 1), pay(&chain, 3, 1)];
    let now = chain.ledger.head().timestamp_ms + 1;
    let (chosen, rejected) = chain
        .ledger
        .select_transactions_after(&pending, now, candidates.clone(), 10)
        .unwrap();
    assert_eq!(chosen, candidates[1..].to_vec());
    assert_eq!(rejected.len(), 1, "the used nonce 0: {rejected:?}");
    // Against the applied state alone, nonce 2 cannot follow.
    let (alone, _) = chain
        .ledger
        .select_transactions(now, candidates[1..].to_vec(), 10)
        .unwrap();
    assert!(alone.is_empty());
}
