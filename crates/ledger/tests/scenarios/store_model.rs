//! The store against a plain in-memory model: random blocks of inserts, updates and deletions
//! over a small key space (so that leaves are pushed down, promoted and left alone at the root),
//! random syncs, crashes and reopenings. After every block each key reads as in the model, the
//! state lists exactly the model, and proofs at every kept height verify against that height's
//! root with the model's value at that height.

use cairn_ledger::state::overlay::{Changes, StateRead};
use cairn_ledger::store::{verify_proof, LedgerStore};
use proptest::prelude::*;
use std::collections::BTreeMap;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Debug, Clone)]
enum Step {
    /// Commit a block of (key index, value or deletion).
    Block(Vec<(u8, Option<u8>)>),
    /// Write everything to disk.
    Flush,
    /// Lose everything since the last flush.
    Crash,
    /// Close and reopen the store.
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => proptest::collection::vec((0u8..24, proptest::option::weighted(0.7, any::<u8>())), 0..12)
            .prop_map(Step::Block),
        1 => Just(Step::Flush),
        1 => Just(Step::Crash),
        1 => Just(Step::Reopen),
    ]
}

fn key(index: u8) -> Vec<u8> {
    format!("key-{index}").into_bytes()
}

fn value(byte: u8, height: u64) -> Vec<u8> {
    vec![byte; 1 + (height % 5) as usize]
}

/// Checks reads, listing and proofs of every kept height against the models.
fn check(store: &LedgerStore, history: &[Model]) {
    let latest = history.last().unwrap();
    let snapshot = store.snapshot().unwrap();
    for index in 0..24 {
        assert_eq!(
            snapshot.read(&key(index)).unwrap(),
            latest.get(&key(index)).cloned()
        );
    }
    let mut listed = Model::new();
    store
        .for_each(|k, v| {
            listed.insert(k.to_vec(), v.to_vec());
            Ok(())
        })
        .unwrap();
    assert_eq!(&listed, latest);
    for (height, model) in history.iter().enumerate() {
        for index in [0u8, 7, 13, 23] {
            let (proved, proof, root) = store.prove(&key(index), height as u64).unwrap();
            let expected = model.get(&key(index)).cloned();
            assert_eq!(proved, expected, "height {height} key {index}");
            verify_proof(&root, &key(index), expected.as_deref(), &proof).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_store_agrees_with_a_model(steps in proptest::collection::vec(step(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let mut store = LedgerStore::create(&path).unwrap();
        // Genesis: three keys.
        let mut genesis = Changes::new();
        let mut model = Model::new();
        for index in [1u8, 2, 3] {
            genesis.insert(key(index), Some(value(index, 0)));
            model.insert(key(index), value(index, 0));
        }
        store.commit(0, &genesis, true).unwrap();
        let mut history = vec![model];
        let mut synced = 1;
        for step in steps {
            match step {
                Step::Block(writes) => {
                    let height = history.len() as u64;
                    let mut model = history.last().unwrap().clone();
                    let mut changes = Changes::new();
                    for (index, write) in writes {
                        match write {
                            Some(byte) => {
                                changes.insert(key(index), Some(value(byte, height)));
                                model.insert(key(index), value(byte, height));
                            }
                            None => {
                                changes.insert(key(index), None);
                                model.remove(&key(index));
                            }
                        }
                    }
                    // Deleting a key that is absent is a no-op the ledger never sends.
                    changes.retain(|k, v| v.is_some() || history.last().unwrap().contains_key(k));
                    let root = store.commit(height, &changes, false).unwrap();
                    prop_assert_eq!(store.head().unwrap(), Some((height, root)));
                    history.push(model);
                }
                Step::Flush => {
                    store.flush().unwrap();
                    synced = history.len();
                }
                Step::Crash => {
                    store.discard_unsynced().unwrap();
                    history.truncate(synced);
                }
                Step::Reopen => {
                    drop(store);
                    store = LedgerStore::open(&path).unwrap();
                    synced = history.len();
                }
            }
            check(&store, &history);
        }
    }
}
