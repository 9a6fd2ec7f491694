//! A fault is not a refused transaction: when the disk fails (a read, a write, an fsync, a full
//! disk) or returns rotten bytes, applying a block fails with a fault and commits nothing, and
//! once the disk is healthy the same block gives the same root as on a ledger that never failed.

use cairn_ledger::store::faulty::Faults;
use cairn_ledger::testkit::{addr, key, test_genesis, TestChain};
use cairn_ledger::{BlockError, BlockInput, Ledger, StateKey};
use cairn_types::tx::{Action, SignedTransaction, Transaction};
use cairn_types::Amount;

/// A chain on a fault-injecting disk and a reference chain on a plain one, same genesis.
struct Pair {
    faulty: TestChain,
    reference: TestChain,
    faults: Faults,
    dir: tempfile::TempDir,
}

fn pair() -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults::new();
    let genesis = test_genesis();
    let ledger =
        Ledger::init_with_faults(&dir.path().join("faulty"), &genesis, Some(&faults)).unwrap();
    let faulty = TestChain {
        ledger,
        fee: genesis.params.tx_fee_min,
    };
    let reference = TestChain::with_genesis(&dir.path().join("reference"), &genesis).unwrap();
    Pair {
        faulty,
        reference,
        faults,
        dir,
    }
}

impl Pair {
    /// Reopens the faulty ledger from disk, as a restarted node does.
    fn restart(&mut self) {
        let path = self.dir.path().join("faulty");
        // The old database must be closed before it can be opened again.
        let placeholder = Ledger::init(&self.dir.path().join("scratch"), &test_genesis());
        let old = std::mem::replace(&mut self.faulty.ledger, placeholder.unwrap());
        drop(old);
        std::fs::remove_dir_all(self.dir.path().join("scratch")).unwrap();
        self.faulty.ledger = Ledger::open_with_faults(&path, Some(&self.faults)).unwrap();
    }

    /// A block paying bob from alice, built on the reference chain.
    fn payment(&self, tokens: u128) -> (BlockInput, SignedTransaction) {
        let tx = self.reference.tx(
            "alice",
            Action::Transfer {
                to: addr("bob"),
                amount: Amount::tokens(tokens),
            },
        );
        (self.reference.next_block(vec![tx.clone()]), tx)
    }

    /// Applies `block` to the reference chain.
    fn apply_reference(&mut self, block: &BlockInput) -> cairn_types::Hash {
        let (outcome, rejected) = self.reference.ledger.apply_ordered_block(block).unwrap();
        assert!(rejected.is_empty(), "the reference refused {rejected:?}");
        outcome.state_root
    }

    /// Heals the disk and restarts the faulty node (redb, like any database after an I/O
    /// error, must be reopened), then applies `block`, which must give `root`. A block whose
    /// write reached the disk before the fault (a failed fsync) is already there, with `root`.
    fn restart_and_apply(&mut self, block: &BlockInput, root: cairn_types::Hash) {
        self.faults.heal();
        self.restart();
        let head = self.faulty.ledger.head();
        if head.height == block.height {
            assert_eq!(head.state_root, root, "diverged from the reference");
            return;
        }
        assert_eq!(head.height + 1, block.height, "a committed block was lost");
        let (outcome, rejected) = self.faulty.ledger.apply_ordered_block(block).unwrap();
        assert!(rejected.is_empty(), "refused after healing: {rejected:?}");
        assert_eq!(outcome.state_root, root, "diverged from the reference");
    }
}

#[test]
fn a_rotten_record_read_during_a_transaction_aborts_the_block_instead_of_refusing_it() {
    let alice_key = StateKey::Account(addr("alice")).to_bytes();
    // Rot alice's account value, or her key hash (which the record's database key and her leaf
    // hold): either way the tree no longer vouches for what the disk returns.
    for rotten in ["value", "key hash"] {
        let mut p = pair();
        let alice = p.faulty.account(&addr("alice"));
        p.restart();
        match rotten {
            "value" => p.faults.rot(cairn_types::codec::encode(&alice)),
            _ => p
                .faults
                .rot(cairn_ledger::store::key_hash(&alice_key).0.to_vec()),
        }
        let head = p.faulty.ledger.head();
        let (block, _) = p.payment(5);
        let error = p.faulty.ledger.apply_ordered_block(&block).unwrap_err();
        assert!(error.is_fault(), "{rotten}: expected a fault, got {error}");
        assert!(p.faults.injected() > 0, "{rotten}");
        assert_eq!(
            p.faulty.ledger.head(),
            head,
            "{rotten}: nothing may be committed"
        );
        // Rot that redb copied into new pages would stay; this one was only read.
        let root = p.apply_reference(&block);
        p.restart_and_apply(&block, root);
    }
}

#[test]
fn a_failed_read_aborts_the_block() {
    let mut p = pair();
    p.restart();
    p.faults.fail_reads(true);
    let head = p.faulty.ledger.head();
    let (block, _) = p.payment(5);
    let error = p.faulty.ledger.apply_ordered_block(&block).unwrap_err();
    assert!(error.is_fault(), "expected a fault, got {error}");
    assert_eq!(p.faulty.ledger.head(), head);
    let root = p.apply_reference(&block);
    p.restart_and_apply(&block, root);
}

#[test]
fn a_failed_fsync_or_write_is_a_fault_and_a_restarted_node_has_the_same_root() {
    for fault in ["fsync", "write"] {
        let mut p = pair();
        let head = p.faulty.ledger.head();
        match fault {
            "fsync" => p.faults.fail_syncs(true),
            _ => p.faults.fail_writes(true),
        }
        let (block, _) = p.payment(5);
        let error = p.faulty.ledger.apply_ordered_block(&block).unwrap_err();
        assert!(error.is_fault(), "{fault}: expected a fault, got {error}");
        // The block is applied in memory but not durable (`NotDurable`): the node stops here.
        assert!(
            matches!(error, BlockError::NotDurable(_)),
            "{fault}: {error}"
        );
        assert!(p.faulty.ledger.head().height <= head.height + 1);
        let root = p.apply_reference(&block);
        p.restart_and_apply(&block, root);
    }
}

#[test]
fn a_full_disk_is_a_fault_and_nothing_committed_is_lost() {
    let mut p = pair();
    let path = p
        .dir
        .path()
        .join("faulty")
        .join(cairn_ledger::ledger::STATE_FILE);
    let size = std::fs::metadata(&path).unwrap().len();
    p.faults.fill_disk(size, 0);
    let mut failed = None;
    // Each block pays 100 new accounts, so the state grows until the file must grow.
    for round in 0..500u64 {
        let block = p
            .reference
            .next_block(payments_to_new_accounts(&p.reference, round));
        match p.faulty.ledger.apply_ordered_block(&block) {
            Ok((outcome, rejected)) => {
                assert!(rejected.is_empty());
                let root = p.apply_reference(&block);
                assert_eq!(outcome.state_root, root);
            }
            Err(error) => {
                assert!(error.is_fault(), "expected a fault, got {error}");
                failed = Some(block);
                break;
            }
        }
    }
    let failed = failed.expect("the disk filled up");
    assert!(
        failed.height > 1,
        "some blocks fit before the disk was full"
    );
    let root = p.apply_reference(&failed);
    p.restart_and_apply(&failed, root);
    let bob: cairn_ledger::state::records::Account = p
        .faulty
        .ledger
        .get(&StateKey::Account(addr("new-0-0")))
        .unwrap()
        .unwrap();
    assert_eq!(bob, p.reference.account(&addr("new-0-0")));
}

/// 100 transfers from alice to accounts never seen before.
fn payments_to_new_accounts(chain: &TestChain, round: u64) -> Vec<SignedTransaction> {
    let alice = addr("alice");
    let nonce = chain.account(&alice).nonce;
    (0..100u64)
        .map(|i| {
            Transaction {
                chain_id: chain.ledger.config().chain_id.clone(),
                sender: alice,
                nonce: nonce + i,
                fee: chain.fee,
                action: Action::Transfer {
                    to: addr(&format!("new-{round}-{i}")),
                    amount: Amount(1_000),
                },
            }
            .sign(&key("alice"))
        })
        .collect()
}
