//! The mempool against a real on-disk ledger.

use cairn_ledger::error::TxError;
use cairn_ledger::testkit::{addr, key, TestChain};
use cairn_node::mempool::{AdmitError, DropReason, Mempool, MempoolConfig};
use cairn_types::tx::{Action, SignedTransaction, Transaction};
use cairn_types::{Address, Amount, Hash};

fn transfer(
    chain: &TestChain,
    from: &str,
    nonce: u64,
    fee: Amount,
    amount: u128,
) -> SignedTransaction {
    Transaction {
        chain_id: chain.ledger.config().chain_id.clone(),
        sender: addr(from),
        nonce,
        fee,
        action: Action::Transfer {
            to: addr("dave"),
            amount: Amount(amount),
        },
    }
    .sign(&key(from))
}

/// The ids and senders of transactions a block charged.
fn charged(txs: &[SignedTransaction]) -> Vec<(Hash, Address)> {
    txs.iter().map(|tx| (tx.id(), tx.tx.sender)).collect()
}

fn next_time(chain: &TestChain) -> u64 {
    chain.ledger.head().timestamp_ms + 1_000
}

fn setup() -> (tempfile::TempDir, TestChain) {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new(dir.path()).unwrap();
    (dir, chain)
}

#[test]
fn admits_valid_transactions_in_nonce_order_and_refuses_gaps_and_replays() {
    let (_dir, chain) = setup();
    let mut pool = Mempool::new(MempoolConfig::default());
    let fee = chain.fee;
    let t = next_time(&chain);
    let first = pool
        .admit(&chain.ledger, transfer(&chain, "alice", 0, fee, 1), t)
        .unwrap();
    assert!(pool.contains(&first));
    pool.admit(&chain.ledger, transfer(&chain, "alice", 1, fee, 1), t)
        .unwrap();
    assert_eq!(
        pool.admit(&chain.ledger, transfer(&chain, "alice", 3, fee, 1), t),
        Err(AdmitError::NonceGap { next: 2, got: 3 })
    );
    assert_eq!(
        pool.admit(&chain.ledger, transfer(&chain, "alice", 0, fee, 1), t),
        Err(AdmitError::Duplicate(first))
    );
    assert_eq!(pool.len(), 2);
    assert!(pool.bytes() > 0);
}

#[test]
fn bad_transactions_are_refused_with_the_ledger_reason_and_change_nothing() {
    let (_dir, chain) = setup();
    let mut pool = Mempool::new(MempoolConfig::default());
    let t = next_time(&chain);
    // Forged signature: signed by bob for alice.
    let mut forged = transfer(&chain, "alice", 0, chain.fee, 1);
    forged.signature = transfer(&chain, "bob", 0, chain.fee, 1).signature;
    assert_eq!(
        pool.admit(&chain.ledger, forged, t),
        Err(AdmitError::Rejected(TxError::BadSignature))
    );
    // More than the balance.
    let balance = chain.account(&addr("alice")).balance;
    let too_much = transfer(&chain, "alice", 0, chain.fee, balance.0);
    assert!(matches!(
        pool.admit(&chain.ledger, too_much, t),
        Err(AdmitError::Rejected(TxError::InsufficientBalance { .. }))
    ));
    // Fee below the minimum.
    let cheap = transfer(&chain, "alice", 0, Amount(0), 1);
    assert!(matches!(
        pool.admit(&chain.ledger, cheap, t),
        Err(AdmitError::Rejected(TxError::FeeTooLow { .. }))
    ));
    // Another chain.
    let other = Transaction {
        chain_id: cairn_types::codec::BoundedString::new("other-chain").unwrap(),
        sender: addr("alice"),
        nonce: 0,
        fee: chain.fee,
        action: Action::Transfer {
            to: addr("dave"),
            amount: Amount(1),
        },
    };
    assert!(matches!(
        pool.admit(&chain.ledger, other.sign(&key("alice")), t),
        Err(AdmitError::Rejected(TxError::WrongChain { .. }))
    ));
    assert!(pool.is_empty());
    assert_eq!(pool.bytes(), 0);
}

#[test]
fn a_queued_transaction_is_checked_after_the_senders_earlier_ones() {
    let (_dir, chain) = setup();
    let mut pool = Mempool::new(MempoolConfig::default());
    let t = next_time(&chain);
    let balance = chain.account(&addr("alice")).balance.0;
    let fee = chain.fee.0;
    // The first spends all but one fee and one token unit: the second cannot pay its fee.
    let spend = balance - 2 * fee - 1;
    pool.admit(
        &chain.ledger,
        transfer(&chain, "alice", 0, chain.fee, spend),
        t,
    )
    .unwrap();
    assert!(matches!(
        pool.admit(&chain.ledger, transfer(&chain, "alice", 1, chain.fee, 2), t),
        Err(AdmitError::Rejected(TxError::InsufficientBalance { .. }))
    ));
    pool.admit(&chain.ledger, transfer(&chain, "alice", 1, chain.fee, 1), t)
        .unwrap();
}

#[test]
fn limits_refuse_with_a_clear_error() {
    let (_dir, chain) = setup();
    let t = next_time(&chain);
    let mut pool = Mempool::new(MempoolConfig {
        max_transactions: 2,
        max_per_sender: 1,
        ..MempoolConfig::default()
    });
    pool.admit(&chain.ledger, transfer(&chain, "alice", 0, chain.fee, 1), t)
        .unwrap();
    assert_eq!(
        pool.admit(&chain.ledger, transfer(&chain, "alice", 1, chain.fee, 1), t),
        Err(AdmitError::SenderFull { max: 1 })
    );
    pool.admit(&chain.ledger, transfer(&chain, "bob", 0, chain.fee, 1), t)
        .unwrap();
    assert!(matches!(
        pool.admit(&chain.ledger, transfer(&chain, "carol", 0, chain.fee, 1), t),
        Err(AdmitError::Full {
            transactions: 2,
            ..
        })
    ));

    let one = transfer(&chain, "alice", 0, chain.fee, 1).encode().len();
    let mut small = Mempool::new(MempoolConfig {
        max_bytes: one,
        ..MempoolConfig::default()
    });
    small
        .admit(&chain.ledger, transfer(&chain, "alice", 0, chain.fee, 1), t)
        .unwrap();
    assert!(matches!(
        small.admit(&chain.ledger, transfer(&chain, "bob", 0, chain.fee, 1), t),
        Err(AdmitError::Full { .. })
    ));
}

#[test]
fn replacement_needs_a_higher_fee() {
    let (_dir, chain) = setup();
    let mut pool = Mempool::new(MempoolConfig::default());
    let t = next_time(&chain);
    let low = pool
        .admit(&chain.ledger, transfer(&chain, "alice", 0, chain.fee, 1), t)
        .unwrap();
    assert_eq!(
        pool.admit(&chain.ledger, transfer(&chain, "alice", 0, chain.fee, 2), t),
        Err(AdmitError::ReplacementUnderpriced {
            nonce: 0,
            pooled_fee: chain.fee
        })
    );
    let higher = Amount(chain.fee.0 * 2);
    let high = pool
        .admit(&chain.ledger, transfer(&chain, "alice", 0, higher, 2), t)
        .unwrap();
    assert!(!pool.contains(&low));
    assert!(pool.contains(&high));
    assert_eq!(pool.len(), 1);
}

#[test]
fn candidates_go_by_fee_and_keep_each_senders_nonce_order() {
    let (_dir, chain) = setup();
    let mut pool = Mempool::new(MempoolConfig::default());
    let t = next_time(&chain);
    let fee = chain.fee.0;
    // alice: a cheap first transaction then an expensive one; bob: one medium.
    pool.admit(
        &chain.ledger,
        transfer(&chain, "alice", 0, Amount(fee), 1),
        t,
    )
    .unwrap();
    pool.admit(
        &chain.ledger,
        transfer(&chain, "alice", 1, Amount(fee * 10), 1),
        t,
    )
    .unwrap();
    pool.admit(
        &chain.ledger,
        transfer(&chain, "bob", 0, Amount(fee * 5), 1),
        t,
    )
    .unwrap();
    pool.admit(
        &chain.ledger,
        transfer(&chain, "carol", 0, Amount(fee * 5), 1),
        t,
    )
    .unwrap();
    let order: Vec<(String, u64)> = pool
        .candidates(10, usize::MAX)
        .iter()
        .map(|tx| (tx.tx.sender.to_string(), tx.tx.nonce))
        .collect();
    let name = |l: &str| addr(l).to_string();
    assert_eq!(
        order,
        vec![
            (name("bob"), 0),   // fee 5, arrived before carol
            (name("carol"), 0), // fee 5
            (name("alice"), 0), // fee 1, but it unlocks alice's fee-10 transaction
            (name("alice"), 1),
        ]
    );
    assert_eq!(pool.candidates(2, usize::MAX).len(), 2);
    let one = transfer(&chain, "bob", 0, chain.fee, 1).encode().len();
    assert_eq!(pool.candidates(10, one).len(), 1);
}

#[test]
fn applying_a_block_prunes_included_used_and_expired_transactions() {
    let (_dir, mut chain) = setup();
    let mut pool = Mempool::new(MempoolConfig {
        ttl_blocks: 3,
        ..MempoolConfig::default()
    });
    let t = next_time(&chain);
    let a0 = transfer(&chain, "alice", 0, chain.fee, 1);
    let a1 = transfer(&chain, "alice", 1, chain.fee, 1);
    let b0 = transfer(&chain, "bob", 0, chain.fee, 1);
    let c0 = transfer(&chain, "carol", 0, chain.fee, 1);
    for tx in [&a0, &a1, &b0, &c0] {
        pool.admit(&chain.ledger, tx.clone(), t).unwrap();
    }
    // bob's nonce 0 is used by a different transaction than the pooled one.
    let b0_other = transfer(&chain, "bob", 0, chain.fee, 7);
    let included = vec![a0.clone(), b0_other.clone()];
    chain.block(included.clone()).unwrap();
    pool.on_block_applied(&chain.ledger, &charged(&included))
        .unwrap();
    assert!(!pool.contains(&a0.id()));
    assert!(pool.contains(&a1.id()));
    assert!(!pool.contains(&b0.id()));
    assert_eq!(
        pool.rejection(&b0.id()),
        Some(&DropReason::NonceUsed { nonce: 0 })
    );
    assert_eq!(pool.len(), 2);

    // Nothing more is included: after the TTL, alice's and carol's expire.
    for _ in 0..4 {
        chain.block(Vec::new()).unwrap();
        pool.on_block_applied(&chain.ledger, &[]).unwrap();
    }
    assert!(pool.is_empty());
    assert_eq!(pool.bytes(), 0);
    assert!(matches!(
        pool.rejection(&c0.id()),
        Some(DropReason::Expired { admitted_at: 0, .. })
    ));
}

#[test]
fn rejecting_a_transaction_drops_the_senders_later_ones() {
    let (_dir, chain) = setup();
    let mut pool = Mempool::new(MempoolConfig::default());
    let t = next_time(&chain);
    let a0 = transfer(&chain, "alice", 0, chain.fee, 1);
    let a1 = transfer(&chain, "alice", 1, chain.fee, 1);
    pool.admit(&chain.ledger, a0.clone(), t).unwrap();
    pool.admit(&chain.ledger, a1.clone(), t).unwrap();
    pool.reject(&a0.id(), DropReason::Rejected(TxError::BadSignature));
    assert!(pool.is_empty());
    assert_eq!(
        pool.rejection(&a0.id()),
        Some(&DropReason::Rejected(TxError::BadSignature))
    );
    assert_eq!(
        pool.rejection(&a1.id()),
        Some(&DropReason::PredecessorDropped { nonce: 0 })
    );
}

#[test]
fn a_transaction_a_block_skipped_stays_pooled_and_strikes_remove_one_that_keeps_failing() {
    let (_dir, mut chain) = setup();
    let mut pool = Mempool::new(MempoolConfig::default());
    let t = next_time(&chain);
    let a0 = transfer(&chain, "alice", 0, chain.fee, 1);
    let a1 = transfer(&chain, "alice", 1, chain.fee, 1);
    pool.admit(&chain.ledger, a0.clone(), t).unwrap();
    pool.admit(&chain.ledger, a1.clone(), t).unwrap();
    // A leader orders nonce 1 before nonce 0: the block skips a1 and charges a0.
    let block = chain.next_block(vec![a1.clone(), a0.clone()]);
    let (outcome, skipped) = chain.ledger.apply_ordered_block(&block).unwrap();
    assert_eq!(skipped.len(), 1);
    let receipts: Vec<(Hash, Address)> = outcome
        .receipts
        .iter()
        .map(|r| (r.tx_id, r.sender))
        .collect();
    pool.on_block_applied(&chain.ledger, &receipts).unwrap();
    assert!(!pool.contains(&a0.id()));
    assert!(
        pool.contains(&a1.id()),
        "the skipped nonce 1 is still pooled"
    );
    // Only refusals in a row count: a proposal that charges it clears its strikes.
    for _ in 1..cairn_node::mempool::MAX_STRIKES {
        pool.strike(&a1.id(), TxError::BadSignature);
    }
    pool.forgive(&a1.id());
    // Proposals after pending blocks that cannot charge it strike it; the third removes it.
    for strike in 1..=cairn_node::mempool::MAX_STRIKES {
        assert!(
            pool.contains(&a1.id()),
            "still pooled before strike {strike}"
        );
        pool.strike(&a1.id(), TxError::BadSignature);
    }
    assert!(!pool.contains(&a1.id()));
    assert_eq!(
        pool.rejection(&a1.id()),
        Some(&DropReason::Rejected(TxError::BadSignature))
    );
}
