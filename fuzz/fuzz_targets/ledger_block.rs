//! Fuzzes applying a block of untrusted transactions to a fresh test chain: `apply_block` must
//! never panic; `check_block` must agree with it (same verdict, same state root) without changing
//! anything; and a refused block must leave the ledger's head and its store exactly as they were.
//!
//! Input layout: byte 0 holds the number of transactions in its low nibble (capped at 8) and a
//! "re-sign" flag in its top bit; then, per transaction, a u16 little-endian length and that many
//! bytes, decoded with `SignedTransaction::decode` (chunks that do not decode are left out). With
//! the re-sign flag set, each transaction is moved to a well-known test account (its own sender if
//! that is one, else one picked by the sender's first byte), given the test chain's id and signed
//! with that account's key, so that the fuzzer reaches execution instead of stopping at the
//! signature check.
#![no_main]

use cairn_ledger::ledger::STATE_FILE;
use cairn_ledger::testkit::{self, TestChain};
use cairn_ledger::Ledger;
use cairn_types::tx::SignedTransaction;
use cairn_types::{Address, Amount, SecretKey};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::sync::OnceLock;

/// Most transactions in one fuzzed block.
const MAX_TXS: usize = 8;

/// A temporary directory, in memory when the machine has `/dev/shm` (no disk syncs per block).
fn temp_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("cairn-fuzz-")
            .tempdir_in(shm)
    } else {
        tempfile::Builder::new().prefix("cairn-fuzz-").tempdir()
    };
    dir.expect("cannot create a temporary directory")
}

/// The bytes of the genesis ledger's state file, built once: every fresh chain starts from a
/// copy of them, which is much cheaper than building the genesis state again.
static GENESIS_FILE: OnceLock<(Vec<u8>, Amount)> = OnceLock::new();

/// A test chain at genesis.
///
/// Its directory is removed as soon as the ledger has opened its file (which stays alive through
/// the open handle), so that nothing is left behind when libFuzzer exits or aborts on a crash.
fn fresh_chain() -> TestChain {
    let (genesis, fee) = GENESIS_FILE.get_or_init(|| {
        let dir = temp_dir();
        // Created and dropped (closed) at once: only its file and the fee are kept.
        let chain = TestChain::new(dir.path()).expect("cannot create the test chain");
        let fee = chain.fee;
        drop(chain);
        let file =
            std::fs::read(dir.path().join(STATE_FILE)).expect("cannot read the genesis ledger");
        (file, fee)
    });
    let dir = temp_dir();
    std::fs::write(dir.path().join(STATE_FILE), genesis).expect("cannot copy the genesis ledger");
    let chain = TestChain {
        ledger: Ledger::open(dir.path()).expect("cannot open the copied genesis ledger"),
        fee: *fee,
    };
    drop(dir);
    assert_eq!(chain.ledger.head().height, 0);
    chain
}

thread_local! {
    /// The chain is rebuilt only after a block has been applied: a refused block changes nothing
    /// (which this target checks), so every input runs against the genesis state.
    static CHAIN: RefCell<Option<TestChain>> = const { RefCell::new(None) };
    /// The well-known test accounts and their keys.
    static KEYS: Vec<(Address, SecretKey)> = testkit::USERS
        .iter()
        .chain(testkit::VALIDATORS.iter())
        .chain(testkit::ORACLES.iter())
        .chain(std::iter::once(&testkit::MAKER))
        .map(|label| (testkit::addr(label), testkit::key(label)))
        .collect();
}

/// Splits the input into the re-sign flag and the transactions that decode.
fn parse(data: &[u8]) -> Option<(bool, Vec<SignedTransaction>)> {
    let (&head, mut rest) = data.split_first()?;
    let count = usize::from(head & 0x0f).min(MAX_TXS);
    let resign = head & 0x80 != 0;
    let mut txs = Vec::with_capacity(count);
    for _ in 0..count {
        if rest.len() < 2 {
            break;
        }
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let end = (2 + len).min(rest.len());
        if let Ok(tx) = SignedTransaction::decode(&rest[2..end]) {
            txs.push(tx);
        }
        rest = &rest[end..];
    }
    // A block of transactions none of which decodes is just an empty block again: an empty block
    // is tested by inputs that ask for none.
    if count > 0 && txs.is_empty() {
        return None;
    }
    Some((resign, txs))
}

fn resign(chain: &TestChain, txs: &mut [SignedTransaction]) {
    KEYS.with(|keys| {
        for signed in txs.iter_mut() {
            let mut tx = signed.tx.clone();
            let (address, key) = keys
                .iter()
                .find(|(address, _)| *address == tx.sender)
                .unwrap_or_else(|| &keys[usize::from(tx.sender.0 .0[0]) % keys.len()]);
            tx.sender = *address;
            tx.chain_id = chain.ledger.config().chain_id.clone();
            *signed = tx.sign(key);
        }
    });
}

fuzz_target!(init: cairn_fuzz::write_seeds_if_asked("ledger_block"), |data: &[u8]| {
    let Some((resign_flag, mut txs)) = parse(data) else {
        return;
    };
    CHAIN.with(|cell| {
        let mut slot = cell.borrow_mut();
        let chain = slot.get_or_insert_with(fresh_chain);
        if resign_flag {
            resign(chain, &mut txs);
        }
        let before = chain.ledger.head();
        let stored_before = chain.ledger.store().head().expect("cannot read the store's head");
        let block = chain.next_block(txs);

        let checked = chain.ledger.check_block(&block);
        assert_eq!(chain.ledger.head(), before, "check_block moved the head");
        let applied = chain.ledger.apply_block(&block);
        match (&checked, &applied) {
            (Ok(check), Ok(apply)) => {
                assert_eq!(check.state_root, apply.state_root, "check_block and apply_block disagree on the root");
                assert_eq!(apply.height, before.height + 1);
                let head = chain.ledger.head();
                assert_eq!(head.height, block.height);
                assert_eq!(head.state_root, apply.state_root);
                assert_eq!(
                    chain.ledger.store().head().expect("cannot read the store's head"),
                    Some((head.height, head.state_root)),
                    "the store's head is not the ledger's after a block"
                );
            }
            (Err(_), Err(_)) => {}
            _ => panic!("check_block and apply_block disagree: check {checked:?}, apply {applied:?}"),
        }
        if applied.is_err() {
            assert_eq!(chain.ledger.head(), before, "a refused block moved the head");
            assert_eq!(
                chain.ledger.store().head().expect("cannot read the store's head"),
                stored_before,
                "a refused block changed the store"
            );
        } else {
            // The state moved on: start the next input from genesis again.
            *slot = None;
        }
    });
});
