//! Blocks whose order consensus fixed before execution: a transaction that cannot be charged is
//! skipped with no effect, one whose action fails pays its fee and changes nothing else, the rest
//! apply; proposals look past blocks that are ordered but not applied, at their own heights.

use crate::helpers::{assert_balanced, chain};
use cairn_ledger::testkit::addr;
use cairn_ledger::TxError;
use cairn_types::keys::Signature;
use cairn_types::tx::Action;
use cairn_types::tx::StakeRole;
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
fn an_ordered_block_skips_what_cannot_pay_charges_what_fails_and_applies_the_rest() {
    let (mut chain, _dir) = chain();
    let alice_before = chain.account(&addr("alice")).balance;
    let supply_before = cairn_ledger::audit::audit_supply(&chain.ledger)
        .unwrap()
        .total_supply;
    let good = pay(&chain, 0, 5);
    let replay = good.clone();
    let mut forged = pay(&chain, 1, 7);
    forged.signature = Signature([1; 64]);
    let after_forged = pay(&chain, 1, 9);
    let too_much = pay(&chain, 2, 10_000_000);
    let after_failure = pay(&chain, 3, 1);
    let block = chain.next_block(vec![
        good.clone(),
        replay,
        forged.clone(),
        after_forged,
        too_much.clone(),
        after_failure,
    ]);
    let (outcome, skipped) = chain.ledger.apply_ordered_block(&block).unwrap();
    assert_eq!(chain.ledger.head().height, block.height);
    // Skipped: the replay (nonce used) and the forgery. No effect at all.
    assert!(skipped.contains(&(forged.id(), TxError::BadSignature)));
    assert_eq!(skipped.len(), 2, "the replay and the forgery: {skipped:?}");
    // Charged: four receipts, one of them failed.
    assert_eq!(outcome.receipts.len(), 4);
    let failed: Vec<_> = outcome
        .receipts
        .iter()
        .filter(|r| r.failed.is_some())
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].tx_id, too_much.id());
    assert!(failed[0]
        .failed
        .as_deref()
        .unwrap()
        .contains("insufficient"));
    // The failed transfer moved nothing but its fee; its nonce is used, so the next follows.
    assert_eq!(
        chain.account(&addr("bob")).balance,
        Amount::tokens(1_000_015)
    );
    let alice = chain.account(&addr("alice"));
    assert_eq!(alice.nonce, 4);
    let fees = Amount(chain.fee.0 * 4);
    assert_eq!(
        alice.balance,
        Amount(alice_before.0 - Amount::tokens(15).0 - fees.0)
    );
    let supply = cairn_ledger::audit::audit_supply(&chain.ledger)
        .unwrap()
        .total_supply;
    assert_eq!(
        supply_before.0 - supply.0,
        fees.0,
        "every charged fee burned"
    );
    assert_balanced(&chain);
}

#[test]
fn a_sender_who_cannot_pay_the_fee_is_skipped_with_no_effect() {
    let (mut chain, _dir) = chain();
    let broke = chain.tx(
        "nobody",
        Action::Transfer {
            to: addr("bob"),
            amount: Amount(1),
        },
    );
    let root = chain.ledger.head().state_root;
    let block = chain.next_block(vec![broke.clone()]);
    let (outcome, skipped) = chain.ledger.apply_ordered_block(&block).unwrap();
    assert!(outcome.receipts.is_empty());
    assert!(matches!(
        skipped.as_slice(),
        [(id, TxError::InsufficientBalance { .. })] if *id == broke.id()
    ));
    assert_eq!(chain.account(&addr("nobody")).nonce, 0);
    // Only the chain state (height, time) moved: an empty block gives the same root.
    let (mut twin, _twin_dir) = crate::helpers::chain();
    assert_eq!(twin.ledger.head().state_root, root);
    let empty = twin.next_block(Vec::new());
    let (twin_outcome, _) = twin.ledger.apply_ordered_block(&empty).unwrap();
    assert_eq!(twin_outcome.state_root, outcome.state_root);
}

#[test]
fn a_failing_action_is_refused_on_admission_and_by_a_strict_block() {
    let (mut chain, _dir) = chain();
    let too_much = pay(&chain, 0, 10_000_000);
    let now = chain.ledger.head().timestamp_ms + 1;
    assert!(chain.ledger.check_transaction(&too_much, now).is_err());
    // A proposer includes it (it pays), and says that it fails.
    let selection = chain
        .ledger
        .select_transactions(now, vec![too_much.clone()], 10)
        .unwrap();
    assert_eq!(selection.chosen, vec![too_much.clone()]);
    assert_eq!(selection.failing.len(), 1);
    let before = chain.ledger.head();
    assert!(chain.block(vec![too_much]).is_err());
    assert_eq!(chain.ledger.head(), before);
}

#[test]
fn a_proposal_after_pending_blocks_continues_their_nonces() {
    let (chain, _dir) = chain();
    let pending = chain.next_block(vec![pay(&chain, 0, 1), pay(&chain, 1, 1)]);
    let candidates = vec![pay(&chain, 0, 2), pay(&chain, 2, 1), pay(&chain, 3, 1)];
    let now = pending.timestamp_ms + 1;
    let selection = chain
        .ledger
        .select_transactions_after(&[pending], now, candidates.clone(), 10)
        .unwrap();
    assert_eq!(selection.chosen, candidates[1..].to_vec());
    assert_eq!(
        selection.skipped.len(),
        1,
        "the used nonce 0: {:?}",
        selection.skipped
    );
    // Against the applied state alone, nonce 2 cannot follow.
    let alone = chain
        .ledger
        .select_transactions(now, candidates[1..].to_vec(), 10)
        .unwrap();
    assert!(alone.chosen.is_empty());
}

#[test]
fn a_proposal_dry_run_crosses_the_epoch_boundaries_of_pending_blocks() {
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
    // The stake is released at epoch 3 (unbonding_epochs = 3). Stop two blocks before it.
    let per_epoch = chain.ledger.config().blocks_per_epoch;
    while chain.ledger.head().height < 3 * per_epoch - 1 {
        chain.block(Vec::new()).unwrap();
    }
    let first = chain.next_block(Vec::new());
    let mut second = first.clone();
    second.height += 1;
    second.timestamp_ms += 1;
    assert_eq!(
        second.height,
        3 * per_epoch + 1,
        "the first block of epoch 3"
    );
    let withdraw = chain.tx("oracle-0", Action::WithdrawUnbonded);
    // Against the head alone (epoch 2) the withdrawal fails.
    let alone = chain
        .ledger
        .select_transactions(second.timestamp_ms, vec![withdraw.clone()], 10)
        .unwrap();
    assert_eq!(alone.failing.len(), 1);
    // After the two pending blocks, the candidate's block is in epoch 3: it succeeds.
    let after = chain
        .ledger
        .select_transactions_after(
            &[first, second.clone()],
            second.timestamp_ms,
            vec![withdraw.clone()],
            10,
        )
        .unwrap();
    assert_eq!(after.chosen, vec![withdraw]);
    assert!(after.failing.is_empty(), "{:?}", after.failing);
}

/// A voter's charge check: a proposal whose transactions all pay after its pending ancestors
/// passes; one carrying a transaction whose nonce a pending ancestor used, or a forged fee
/// payer, is named; pending blocks that do not lead to the proposal say nothing. Nothing is
/// written.
#[test]
fn the_charge_check_runs_after_the_pending_ancestors() {
    use cairn_ledger::ChargeCheck;
    let (chain, _dir) = chain();
    let head = chain.ledger.head().height;
    let first = pay(&chain, 0, 5);
    let pending = chain.next_block(vec![first.clone()]);
    let mut proposal = chain.next_block(vec![pay(&chain, 1, 5)]);
    proposal.height = pending.height + 1;
    proposal.timestamp_ms = pending.timestamp_ms + 1_000;
    assert_eq!(
        chain
            .ledger
            .check_charges(std::slice::from_ref(&pending), &proposal)
            .unwrap(),
        ChargeCheck::Charged
    );
    // The pending ancestor used nonce 0: a proposal carrying it again cannot charge it.
    let replayed = with_txs(&proposal, vec![first.clone(), pay(&chain, 1, 5)]);
    match chain
        .ledger
        .check_charges(std::slice::from_ref(&pending), &replayed)
        .unwrap()
    {
        ChargeCheck::Uncharged(named) => {
            assert_eq!(named.len(), 1);
            assert_eq!(named[0].0, first.id());
        }
        other => panic!("the replay was not named: {other:?}"),
    }
    // From a stranger with no balance: no fee can be charged.
    let stranger = cairn_types::SecretKey::from_label("stranger");
    let mut broke = chain.tx(
        "alice",
        Action::Transfer {
            to: addr("bob"),
            amount: Amount(1),
        },
    );
    broke.tx.sender = cairn_types::Address(stranger.public_key());
    broke.tx.nonce = 0;
    let broke = broke.tx.sign(&stranger);
    let unpaid = with_txs(&proposal, vec![broke.clone()]);
    assert!(matches!(
        chain.ledger.check_charges(std::slice::from_ref(&pending), &unpaid).unwrap(),
        ChargeCheck::Uncharged(named) if named[0].0 == broke.id()
    ));
    // Without the pending block, the proposal's parent is not reached.
    assert_eq!(
        chain.ledger.check_charges(&[], &proposal).unwrap(),
        ChargeCheck::NoPath { reached: head }
    );
    assert_eq!(chain.ledger.head().height, head);
}

/// A block input like `block` with other transactions.
fn with_txs(
    block: &cairn_ledger::BlockInput,
    transactions: Vec<cairn_types::tx::SignedTransaction>,
) -> cairn_ledger::BlockInput {
    cairn_ledger::BlockInput {
        transactions,
        ..block.clone()
    }
}
