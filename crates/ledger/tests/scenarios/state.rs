use crate::helpers::chain;
use cairn_ledger::state::records::Account;
use cairn_ledger::store::verify_proof;
use cairn_ledger::testkit::{addr, test_genesis, TestChain};
use cairn_ledger::{Ledger, StateKey};
use cairn_types::tx::Action;
use cairn_types::Amount;

#[test]
fn proofs_of_existence_and_absence_verify_against_the_root() {
    let (mut chain, _dir) = chain();
    chain
        .run(
            "alice",
            Action::Transfer {
                to: addr("bob"),
                amount: Amount(7),
            },
        )
        .unwrap();
    let head = chain.ledger.head();
    let key = StateKey::Account(addr("bob"));
    let (value, proof, root) = chain.ledger.prove(&key, None).unwrap();
    assert_eq!(root, head.state_root);
    let value = value.unwrap();
    let account: Account = cairn_types::codec::decode(&value, 1 << 20).unwrap();
    assert_eq!(account.balance, Amount(Amount::tokens(1_000_000).0 + 7));
    verify_proof(&root, &key.to_bytes(), Some(&value), &proof).unwrap();
    // A different value, or claiming absence, does not verify.
    let mut forged = value.clone();
    forged[0] ^= 1;
    assert!(verify_proof(&root, &key.to_bytes(), Some(&forged), &proof).is_err());
    assert!(verify_proof(&root, &key.to_bytes(), None, &proof).is_err());
    // Absence of an account that never existed.
    let missing = StateKey::Account(addr("never-seen"));
    let (value, proof, root) = chain.ledger.prove(&missing, None).unwrap();
    assert!(value.is_none());
    verify_proof(&root, &missing.to_bytes(), None, &proof).unwrap();
    // Proofs at an older height verify against that height's root.
    let (old, proof, old_root) = chain.ledger.prove(&key, Some(0)).unwrap();
    assert_ne!(old_root, root);
    verify_proof(&old_root, &key.to_bytes(), old.as_deref(), &proof).unwrap();
}

#[test]
fn every_block_changes_the_root_and_reopening_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = TestChain::new(dir.path()).unwrap();
    let genesis_root = chain.ledger.head().state_root;
    chain.block(vec![]).unwrap();
    let head = chain.ledger.head();
    assert_ne!(head.state_root, genesis_root);
    drop(chain);
    let reopened = Ledger::open(dir.path()).unwrap();
    assert_eq!(reopened.head(), head);
}

#[test]
fn a_crash_before_commit_loses_nothing_and_replay_gives_the_same_root() {
    // A reference run that never crashes.
    let (mut reference, _d1) = chain();
    let tx = reference.tx(
        "alice",
        Action::Transfer {
            to: addr("bob"),
            amount: Amount(5),
        },
    );
    let block = reference.next_block(vec![tx]);
    let expected = reference.ledger.apply_block(&block).unwrap().state_root;

    // The same block, crashing at the last moment of the commit.
    let dir = tempfile::tempdir().unwrap();
    let mut chain = TestChain::new(dir.path()).unwrap();
    let before = chain.ledger.head();
    let computed = chain.ledger.apply_block_then_crash(&block).unwrap();
    assert_eq!(computed, expected);
    drop(chain);
    let mut ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(
        ledger.head(),
        before,
        "nothing of the uncommitted block survives"
    );
    assert_eq!(ledger.apply_block(&block).unwrap().state_root, expected);
}

#[test]
fn check_block_predicts_the_root_without_changing_state() {
    let (mut chain, _dir) = chain();
    let block = chain.next_block(vec![chain.tx(
        "alice",
        Action::Transfer {
            to: addr("bob"),
            amount: Amount(5),
        },
    )]);
    let head = chain.ledger.head();
    let predicted = chain.ledger.check_block(&block).unwrap().state_root;
    assert_eq!(chain.ledger.head(), head);
    assert_eq!(
        chain.ledger.apply_block(&block).unwrap().state_root,
        predicted
    );
}

#[test]
fn two_ledgers_fed_the_same_blocks_agree_on_every_root() {
    let (mut a, _d1) = chain();
    let (mut b, _d2) = chain();
    for i in 0..25u128 {
        let txs = vec![
            a.tx(
                "alice",
                Action::Transfer {
                    to: addr("bob"),
                    amount: Amount(i + 1),
                },
            ),
            a.tx(
                "carol",
                Action::Lock {
                    amount: Amount(1 + i),
                    duration_epochs: 10,
                },
            ),
        ];
        let block = a.next_block(if i % 3 == 0 { vec![] } else { txs });
        let ra = a.ledger.apply_block(&block).unwrap();
        let rb = b.ledger.apply_block(&block).unwrap();
        assert_eq!(ra, rb);
    }
}

#[test]
fn wrong_height_and_time_are_refused() {
    let (mut chain, _dir) = chain();
    let mut block = chain.next_block(vec![]);
    block.height += 1;
    assert!(matches!(
        chain.ledger.apply_block(&block),
        Err(cairn_ledger::BlockError::WrongHeight { .. })
    ));
    let mut block = chain.next_block(vec![]);
    block.timestamp_ms = 0;
    assert!(matches!(
        chain.ledger.apply_block(&block),
        Err(cairn_ledger::BlockError::TimeWentBackwards { .. })
    ));
}

#[test]
fn invalid_genesis_is_refused_with_a_reason() {
    let mut g = test_genesis();
    g.validators.clear();
    assert_eq!(
        g.validate(),
        Err(cairn_ledger::genesis::GenesisError::NoValidators)
    );
    let mut g = test_genesis();
    g.accounts.push(g.accounts[0].clone());
    assert!(matches!(
        g.validate(),
        Err(cairn_ledger::genesis::GenesisError::Duplicate { .. })
    ));
    let mut g = test_genesis();
    g.params.quorum_bps = 0;
    assert!(matches!(
        g.validate(),
        Err(cairn_ledger::genesis::GenesisError::Param(_))
    ));
    let mut g = test_genesis();
    g.chain.blocks_per_epoch = 1;
    assert_eq!(
        g.validate(),
        Err(cairn_ledger::genesis::GenesisError::EpochTooShort(1))
    );
    // A supply that reward math could overflow.
    let mut g = test_genesis();
    g.chain.emission.emission_cap = Amount(cairn_ledger::genesis::SUPPLY_MAX_BASE_UNITS);
    assert!(matches!(
        g.validate(),
        Err(cairn_ledger::genesis::GenesisError::SupplyTooLarge { .. })
    ));
    // Consensus rules out of range: a block that cannot hold the largest transaction.
    let mut g = test_genesis();
    g.chain.consensus.block_transaction_bytes_max = 1024;
    assert!(matches!(
        g.validate(),
        Err(cairn_ledger::genesis::GenesisError::ConsensusRule {
            rule: "block_transaction_bytes_max",
            ..
        })
    ));
    let mut g = test_genesis();
    g.chain.consensus.block_transactions_max = 0;
    assert!(matches!(
        g.validate(),
        Err(cairn_ledger::genesis::GenesisError::ConsensusRule { .. })
    ));
    // A misspelt field of the chain configuration is refused, not ignored.
    let mut json = serde_json::to_value(test_genesis()).unwrap();
    json["chain"]["consensuss"] = serde_json::json!({});
    assert!(serde_json::from_value::<cairn_ledger::Genesis>(json).is_err());
    // A genesis without `chain.consensus` (older files) loads with the default rules.
    let mut json = serde_json::to_value(test_genesis()).unwrap();
    json["chain"].as_object_mut().unwrap().remove("consensus");
    let g: cairn_ledger::Genesis = serde_json::from_value(json).unwrap();
    assert_eq!(
        g.chain.consensus,
        cairn_types::params::ConsensusRules::default()
    );
}

#[test]
fn proposer_leaves_out_failing_transactions() {
    let (mut chain, _dir) = chain();
    let good = chain.tx(
        "alice",
        Action::Transfer {
            to: addr("bob"),
            amount: Amount(5),
        },
    );
    let broke = chain.tx(
        "nobody",
        Action::Transfer {
            to: addr("bob"),
            amount: Amount(5),
        },
    );
    let forged = chain
        .tx(
            "bob",
            Action::Transfer {
                to: addr("carol"),
                amount: Amount(5),
            },
        )
        .tx
        .sign(&cairn_ledger::testkit::key("mallory"));
    let head = chain.ledger.head();
    let selection = chain
        .ledger
        .select_transactions(
            head.timestamp_ms + 1000,
            vec![good.clone(), broke, forged],
            100,
        )
        .unwrap();
    assert_eq!(selection.chosen, vec![good]);
    assert_eq!(selection.skipped.len(), 2);
    assert!(selection.failing.is_empty());
    chain.block(selection.chosen).unwrap();
    assert!(chain
        .ledger
        .check_transaction(
            &chain.tx(
                "alice",
                Action::Transfer {
                    to: addr("bob"),
                    amount: Amount(1)
                }
            ),
            0
        )
        .is_ok());
}

#[test]
fn with_a_sync_interval_a_crash_loses_only_unsynced_blocks_and_replay_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = TestChain::new(dir.path()).unwrap();
    chain.ledger.set_sync_every_blocks(4);
    let mut blocks = Vec::new();
    let mut roots = Vec::new();
    for i in 0..6u128 {
        let block = chain.next_block(vec![chain.tx(
            "alice",
            Action::Transfer {
                to: addr("bob"),
                amount: Amount(i + 1),
            },
        )]);
        roots.push(chain.ledger.apply_block(&block).unwrap().state_root);
        blocks.push(block);
    }
    // Blocks 5 and 6 were committed in memory only; a crash forgets them.
    chain.ledger.store().discard_unsynced().unwrap();
    drop(chain);
    let mut ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.head().height, 4);
    assert_eq!(ledger.head().state_root, roots[3]);
    for (block, root) in blocks.iter().zip(&roots).skip(4) {
        assert_eq!(&ledger.apply_block(block).unwrap().state_root, root);
    }
    // A clean close keeps everything.
    let head = ledger.head();
    drop(ledger);
    assert_eq!(Ledger::open(dir.path()).unwrap().head(), head);
}
