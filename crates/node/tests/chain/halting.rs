//! A node halts instead of drifting: a finalized block whose attested state root differs from
//! this node's, or a ledger that refuses a finalized block, stops it, and a halted node applies,
//! proposes and admits nothing more.

use cairn_ledger::testkit::{self, TestChain, TEST_BLOCK_INTERVAL_MS};
use cairn_node::block::Block;
use cairn_node::chain::Chain;
use cairn_node::mempool::{AdmitError, MempoolConfig};
use cairn_types::amount::Amount;
use cairn_types::hash::Hash;
use cairn_types::keys::PublicKey;
use cairn_types::tx::Action;
use commonware_cryptography::blake3::Digest;

/// A chain on a fresh test ledger.
fn chain(dir: &std::path::Path) -> Chain {
    let test = TestChain::new(dir).unwrap();
    Chain::new(test.ledger, MempoolConfig::default())
}

/// The next block after the head, attesting `root` at height 0.
fn next_block(chain: &Chain, root: Hash) -> Block {
    let head = chain.head();
    Block::new(
        Digest([1; 32]),
        (head.height + 1, 1),
        head.timestamp_ms + TEST_BLOCK_INTERVAL_MS,
        PublicKey([3; 32]),
        (0, root),
        (0, Vec::new()),
        Vec::new(),
    )
}

#[test]
fn a_block_attesting_another_root_halts_the_node_and_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let chain = chain(dir.path());
    let genesis_root = chain.head().state_root;
    // A block attesting this node's own root applies.
    assert_eq!(
        chain.apply_finalized(&next_block(&chain, genesis_root), None),
        Ok(true)
    );
    let head = chain.head();
    // The network finalized a block attesting another root at height 0: this node diverged.
    let error = chain
        .apply_finalized(&next_block(&chain, Hash([5; 32])), None)
        .unwrap_err();
    assert!(error.0.contains("diverged"), "{error}");
    assert_eq!(chain.head(), head, "nothing applied");
    assert!(chain.halted().is_some());
    // From now on nothing applies, not even a good block, and nothing is admitted.
    assert!(chain
        .apply_finalized(&next_block(&chain, genesis_root), None)
        .is_err());
    assert_eq!(chain.head(), head);
    // Any well-formed transaction will do: the halt is checked first.
    let signer = TestChain::new(&dir.path().join("signer")).unwrap();
    let tx = signer.tx(
        "alice",
        Action::Transfer {
            to: testkit::addr("bob"),
            amount: Amount::tokens(1),
        },
    );
    match chain.submit(tx, head.timestamp_ms) {
        Err(AdmitError::Store(reason)) => assert!(reason.contains("halted"), "{reason}"),
        other => panic!("a halted node admitted a transaction: {other:?}"),
    }
}

#[test]
fn a_finalized_block_the_ledger_refuses_halts_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let chain = chain(dir.path());
    let root = chain.head().state_root;
    // A block timed before its parent: consensus never finalizes one, so a ledger that meets
    // it cannot follow the chain any more.
    let mut block = next_block(&chain, root);
    block.header.timestamp_ms = 0;
    let error = chain.apply_finalized(&block, None).unwrap_err();
    assert!(error.0.contains("refused a finalized block"), "{error}");
    assert!(chain.halted().is_some());
    assert_eq!(chain.head().height, 0);
}

/// A block after the head carrying `transactions`, attesting the genesis root.
fn block_with(
    chain: &Chain,
    genesis_root: Hash,
    transactions: Vec<cairn_types::tx::SignedTransaction>,
) -> Block {
    let head = chain.head();
    Block::new(
        Digest([1; 32]),
        (head.height + 1, 1),
        head.timestamp_ms + TEST_BLOCK_INTERVAL_MS,
        PublicKey([3; 32]),
        (0, genesis_root),
        (0, Vec::new()),
        transactions,
    )
}

#[test]
fn the_first_inclusion_wins_and_a_reordered_nonce_stays_pending() {
    use cairn_node::chain::TxStatus;
    let dir = tempfile::tempdir().unwrap();
    let signer = TestChain::new(&dir.path().join("signer")).unwrap();
    let chain = chain(&dir.path().join("node"));
    let genesis = chain.head().state_root;
    let pay = |nonce: u64, amount: u128| {
        let mut tx = signer.tx(
            "alice",
            Action::Transfer {
                to: testkit::addr("bob"),
                amount: Amount::tokens(amount),
            },
        );
        tx.tx.nonce = nonce;
        tx.tx.sign(&testkit::key("alice"))
    };
    let (a0, a1) = (pay(0, 1), pay(1, 1));
    let now = chain.head().timestamp_ms + TEST_BLOCK_INTERVAL_MS;
    chain.submit(a0.clone(), now).unwrap();
    chain.submit(a1.clone(), now).unwrap();
    // A leader puts nonce 1 before nonce 0.
    chain
        .apply_finalized(
            &block_with(&chain, genesis, vec![a1.clone(), a0.clone()]),
            None,
        )
        .unwrap();
    assert_eq!(chain.status(&a0.id()), TxStatus::Included { height: 1 });
    assert_eq!(
        chain.status(&a1.id()),
        TxStatus::Pending,
        "skipped, still pooled"
    );
    // The next proposal picks it up.
    let chosen = chain
        .select(&[], (now + TEST_BLOCK_INTERVAL_MS, None))
        .unwrap();
    assert_eq!(chosen, vec![a1.clone()]);
    chain
        .apply_finalized(&block_with(&chain, genesis, chosen), None)
        .unwrap();
    assert_eq!(chain.status(&a1.id()), TxStatus::Included { height: 2 });
    // A copy of an included transaction in a later block is skipped; the first inclusion wins.
    chain
        .apply_finalized(&block_with(&chain, genesis, vec![a0.clone()]), None)
        .unwrap();
    assert_eq!(chain.status(&a0.id()), TxStatus::Included { height: 1 });
}

#[test]
fn a_pooled_transaction_whose_action_now_fails_is_included_charged_and_reported_failed() {
    use cairn_node::chain::TxStatus;
    let dir = tempfile::tempdir().unwrap();
    let signer = TestChain::new(&dir.path().join("signer")).unwrap();
    let chain = chain(&dir.path().join("node"));
    let genesis = chain.head().state_root;
    let pay = |nonce: u64, amount: u128| {
        let mut tx = signer.tx(
            "alice",
            Action::Transfer {
                to: testkit::addr("bob"),
                amount: Amount::tokens(amount),
            },
        );
        tx.tx.nonce = nonce;
        tx.tx.sign(&testkit::key("alice"))
    };
    let now = chain.head().timestamp_ms + TEST_BLOCK_INTERVAL_MS;
    // Pooled while alice could pay it: 600,000 after 1.
    let (a0, a1) = (pay(0, 1), pay(1, 600_000));
    chain.submit(a0.clone(), now).unwrap();
    chain.submit(a1.clone(), now).unwrap();
    // Another node's block spends nonce 0 on a transfer that leaves too little for a1.
    let other = pay(0, 500_000);
    chain
        .apply_finalized(&block_with(&chain, genesis, vec![other]), None)
        .unwrap();
    assert_eq!(chain.status(&a1.id()), TxStatus::Pending);
    // The proposer includes a1 all the same: it pays its fee and clears every pool.
    let chosen = chain
        .select(&[], (now + TEST_BLOCK_INTERVAL_MS, None))
        .unwrap();
    assert_eq!(chosen, vec![a1.clone()]);
    let alice_before = chain
        .ledger()
        .get::<cairn_ledger::state::records::Account>(&cairn_ledger::StateKey::Account(
            testkit::addr("alice"),
        ))
        .unwrap()
        .unwrap();
    chain
        .apply_finalized(&block_with(&chain, genesis, chosen), None)
        .unwrap();
    match chain.status(&a1.id()) {
        TxStatus::Failed { height: 2, reason } => {
            assert!(reason.contains("insufficient"), "{reason}")
        }
        other => panic!("expected a failed inclusion, got {other:?}"),
    }
    let alice = chain
        .ledger()
        .get::<cairn_ledger::state::records::Account>(&cairn_ledger::StateKey::Account(
            testkit::addr("alice"),
        ))
        .unwrap()
        .unwrap();
    assert_eq!(alice.nonce, 2);
    assert_eq!(alice.balance, Amount(alice_before.balance.0 - a1.tx.fee.0));
    assert_eq!(chain.mempool_size().0, 0);
}

/// At the height where governance switches to a protocol version this build does not run, the
/// node stops with a message saying what to install, instead of executing new rules the old way.
#[test]
fn a_node_stops_at_an_upgrade_it_does_not_run_and_says_so() {
    use cairn_types::tx::ProposalAction;
    let dir = tempfile::tempdir().unwrap();
    let mut test = TestChain::new(dir.path()).unwrap();
    let at = 100;
    test.enact(ProposalAction::ScheduleUpgrade {
        version: 2,
        height: at,
    })
    .unwrap();
    while test.ledger.head().height < at - 1 {
        test.block(Vec::new()).unwrap();
    }
    let chain = Chain::new(test.ledger, MempoolConfig::default());
    let genesis_root = chain.ledger().store().root_at(0).unwrap();
    let head = chain.head();
    let error = chain
        .apply_finalized(&next_block(&chain, genesis_root), None)
        .unwrap_err();
    assert!(error.0.contains("upgrade needed"), "{error}");
    assert!(error.0.contains("protocol version 2"), "{error}");
    assert!(error.0.contains("install a release"), "{error}");
    assert_eq!(chain.head(), head, "nothing applied");
    assert!(chain.halted().is_some());
}
