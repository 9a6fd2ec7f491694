//! Report-log manifests: the commit and attest windows, who may commit, and the 2/3 of oracle
//! stake that makes a manifest count.

use crate::helpers::chain;
use cairn_ledger::state::records::EpochManifests;
use cairn_ledger::testkit::{addr, TestChain, ORACLES, TEST_BLOCK_INTERVAL_MS};
use cairn_ledger::{StateKey, TxError};
use cairn_types::codec::{BoundedString, BoundedVec};
use cairn_types::tx::{Action, ManifestCommit, ManifestRef};
use cairn_types::{Epoch, Hash};

fn commit(epoch: u64, manifest: u8) -> Action {
    Action::CommitManifest(ManifestCommit {
        epoch: Epoch(epoch),
        manifest: Hash([manifest; 32]),
        reports: 42,
        endpoint: BoundedString::new("http://127.0.0.1:7000").unwrap(),
    })
}

fn attest(epoch: u64, refs: &[(&str, u8)]) -> Action {
    Action::AttestManifests {
        epoch: Epoch(epoch),
        manifests: BoundedVec::new(
            refs.iter()
                .map(|(oracle, manifest)| ManifestRef {
                    oracle: addr(oracle),
                    manifest: Hash([*manifest; 32]),
                })
                .collect(),
        )
        .unwrap(),
    }
}

fn manifests(chain: &TestChain, epoch: u64) -> EpochManifests {
    chain
        .ledger
        .get(&StateKey::Manifests(Epoch(epoch)))
        .unwrap()
        .unwrap_or_default()
}

#[test]
fn a_manifest_counts_once_two_thirds_of_oracle_stake_attest_it() {
    let (mut chain, _dir) = chain();
    // Reward epoch 0 ends at block 11 (10 blocks per epoch, one epoch per reward epoch).
    refused!(
        chain,
        "oracle-0",
        commit(0, 1),
        TxError::ManifestWindowNotOpen {
            epoch: Epoch(0),
            opens: 11,
        }
    );
    chain.advance_to_epoch(1).unwrap();
    for (i, oracle) in ORACLES.iter().enumerate() {
        chain.run(oracle, commit(0, i as u8 + 1)).unwrap();
    }
    refused!(
        chain,
        "oracle-0",
        commit(0, 9),
        TxError::ManifestAlreadyCommitted(addr("oracle-0"))
    );
    refused!(
        chain,
        "alice",
        commit(0, 9),
        TxError::NotAnEpochOracle(addr("alice"))
    );
    // Oracle 2 withholds its files: only it attests its own manifest.
    chain
        .run("oracle-0", attest(0, &[("oracle-0", 1), ("oracle-1", 2)]))
        .unwrap();
    chain
        .run("oracle-2", attest(0, &[("oracle-2", 3)]))
        .unwrap();
    let m = manifests(&chain, 0);
    assert!(
        m.0.values().all(|e| !e.counted),
        "1/3 of stake counts nothing"
    );
    chain
        .run("oracle-1", attest(0, &[("oracle-0", 1), ("oracle-1", 2)]))
        .unwrap();
    // Attesting again changes nothing and is no error.
    chain
        .run("oracle-1", attest(0, &[("oracle-0", 1)]))
        .unwrap();
    let m = manifests(&chain, 0);
    assert!(m.0[&addr("oracle-0")].counted);
    assert!(m.0[&addr("oracle-1")].counted);
    assert!(!m.0[&addr("oracle-2")].counted);
    assert_eq!(m.0[&addr("oracle-0")].attesters.len(), 2);
    assert_eq!(m.0[&addr("oracle-0")].endpoint, "http://127.0.0.1:7000");
}

#[test]
fn attestations_name_committed_hashes_within_the_window() {
    let (mut chain, _dir) = chain();
    chain.advance_to_epoch(1).unwrap();
    chain.run("oracle-0", commit(0, 1)).unwrap();
    refused!(
        chain,
        "oracle-1",
        attest(0, &[("oracle-0", 2)]),
        TxError::ManifestUnknown {
            oracle: addr("oracle-0"),
            manifest: Hash([2; 32]),
        }
    );
    refused!(
        chain,
        "oracle-1",
        attest(0, &[("oracle-1", 1)]),
        TxError::ManifestUnknown {
            oracle: addr("oracle-1"),
            manifest: Hash([1; 32]),
        }
    );
    // The epoch ended with block 11; blocks are a second apart. The cut-off is 2 s later,
    // commits close 4 s after it (the block 6 s after the end, height 17, is the last that
    // takes them), attestations 4 s later (height 21).
    let end_ms: u64 = chain
        .ledger
        .get(&StateKey::RewardEpochEnd(Epoch(0)))
        .unwrap()
        .unwrap();
    assert_eq!(
        end_ms,
        cairn_ledger::testkit::TEST_GENESIS_TIME_MS + 11 * TEST_BLOCK_INTERVAL_MS
    );
    while chain.ledger.head().height < 17 {
        chain.block(Vec::new()).unwrap();
    }
    refused!(
        chain,
        "oracle-1",
        commit(0, 2),
        TxError::ManifestWindowClosed {
            epoch: Epoch(0),
            closed_ms: end_ms + 6_000,
        }
    );
    chain
        .run("oracle-1", attest(0, &[("oracle-0", 1)]))
        .unwrap();
    while chain.ledger.head().height < 21 {
        chain.block(Vec::new()).unwrap();
    }
    refused!(
        chain,
        "oracle-2",
        attest(0, &[("oracle-0", 1)]),
        TxError::ManifestWindowClosed {
            epoch: Epoch(0),
            closed_ms: end_ms + 10_000,
        }
    );
    let bad = Action::CommitManifest(ManifestCommit {
        epoch: Epoch(1),
        manifest: Hash([1; 32]),
        reports: 0,
        endpoint: BoundedString::new("ftp://example").unwrap(),
    });
    chain.advance_to_epoch(2).unwrap();
    refused!(
        chain,
        "oracle-0",
        bad,
        TxError::BadEndpoint("ftp://example".into())
    );
}
