//! A node halts instead of drifting: a finalized block whose attested state root differs from
//! this node's, or a ledger that refuses a finalized block, stops it, and a halted node applies,
//! proposes and admits nothing more.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

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
        head.height + 1,
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
