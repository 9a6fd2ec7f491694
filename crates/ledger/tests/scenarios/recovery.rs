//! Recovering a halted chain: the state at its last height becomes the genesis of a new chain
//! with a chosen validator set, and nothing anyone held is lost.

use crate::helpers::{assert_balanced, chain};
use cairn_ledger::audit::audit_supply;
use cairn_ledger::genesis::GenesisError;
use cairn_ledger::recovery::{consent_digest, export, RecoveryError, RecoveryPlan};
use cairn_ledger::state::records::{Jail, LockRecord, Unbondings, ValidatorInfo};
use cairn_ledger::testkit::{addr, key, TestChain, TEST_BLOCKS_PER_EPOCH};
use cairn_ledger::StateKey;
use cairn_types::params::ChainId;
use cairn_types::tx::{Action, StakeRole};
use cairn_types::validator_keys::ValidatorKeys;
use cairn_types::{Address, Amount, Epoch, Signature};

const NEW_CHAIN: &str = "cairn-recovered";

/// New keys of `label` for the recovered chain, with its account's consent.
fn new_keys(label: &str) -> (Address, ValidatorKeys, Signature) {
    let chain_id = ChainId::new(NEW_CHAIN).unwrap();
    let keys = ValidatorKeys::derive(&chain_id, &addr(label), &key(&format!("{label}/new")), 0, 4);
    let consent = key(label).sign(&consent_digest(&chain_id, &addr(label), &keys));
    (addr(label), keys, consent)
}

/// A chain with history: transfers, an unbonding, a lock, emission pools, three epochs.
fn halted_chain() -> (TestChain, tempfile::TempDir) {
    let (mut chain, dir) = chain();
    chain
        .run(
            "alice",
            Action::Transfer {
                to: addr("bob"),
                amount: Amount::tokens(7),
            },
        )
        .unwrap();
    chain
        .run(
            "alice",
            Action::Lock {
                amount: Amount::tokens(100),
                duration_epochs: 50,
            },
        )
        .unwrap();
    chain
        .run(
            "oracle-0",
            Action::Unbond {
                role: StakeRole::Oracle,
                amount: Amount::tokens(5_000),
            },
        )
        .unwrap();
    chain.advance_to_epoch(3).unwrap();
    chain.block(Vec::new()).unwrap();
    (chain, dir)
}

fn plan(chain: &TestChain, chosen: &[&str]) -> RecoveryPlan {
    RecoveryPlan {
        chain_id: ChainId::new(NEW_CHAIN).unwrap(),
        height: chain.ledger.head().height,
        genesis_time_ms: chain.ledger.head().timestamp_ms + 60_000,
        validators: chosen.iter().map(|l| new_keys(l)).collect(),
    }
}

#[test]
fn a_halted_chain_restarts_with_everything_held_and_a_chosen_set() {
    let (old, _old_dir) = halted_chain();
    let genesis = export(
        &old.ledger,
        &plan(&old, &["validator-0", "validator-1", "validator-2"]),
    )
    .unwrap();
    // Anyone with the same state and plan gets the same genesis, byte for byte.
    let again = export(
        &old.ledger,
        &plan(&old, &["validator-0", "validator-1", "validator-2"]),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_string(&genesis).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
    let text = serde_json::to_string_pretty(&genesis).unwrap();
    let genesis: cairn_ledger::Genesis = serde_json::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut new = TestChain::with_genesis(dir.path(), &genesis).unwrap();
    assert_eq!(new.ledger.head().height, 0);
    assert_balanced(&new);

    // Every balance, nonce and stake is there; the unpaid emission pools went to the treasury.
    for label in ["alice", "bob", "validator-0", "validator-3", "oracle-0"] {
        assert_eq!(
            new.account(&addr(label)),
            old.account(&addr(label)),
            "{label}"
        );
    }
    let old_audit = audit_supply(&old.ledger).unwrap();
    let new_audit = audit_supply(&new.ledger).unwrap();
    assert_eq!(new_audit.balances, old_audit.balances);
    assert_eq!(new_audit.validator_stake, old_audit.validator_stake);
    assert_eq!(new_audit.locked, old_audit.locked);
    assert_eq!(new_audit.unbonding, old_audit.unbonding);
    assert!(new_audit.treasury > old_audit.treasury, "the unpaid pools");
    assert_eq!(
        new_audit.total_supply.0 - old_audit.total_supply.0,
        new_audit.treasury.0 - old_audit.treasury.0
    );

    // The chosen three hold the seats with their new keys; the fourth waits, jailed.
    let set = new
        .ledger
        .validator_set_of_epoch(Epoch(0))
        .unwrap()
        .unwrap();
    let members: Vec<Address> = set.members.iter().map(|m| m.address).collect();
    assert_eq!(members.len(), 3);
    assert!(!members.contains(&addr("validator-3")));
    let (_, keys, _) = new_keys("validator-0");
    let member = set
        .members
        .iter()
        .find(|m| m.address == addr("validator-0"))
        .unwrap();
    assert_eq!(member.node_key, keys.node.key);
    let left_out: ValidatorInfo = new
        .ledger
        .get(&StateKey::Validator(addr("validator-3")))
        .unwrap()
        .unwrap();
    assert_eq!(left_out.jail, Jail::Downtime { epoch: Epoch(0) });

    // Epochs moved back by the export's epoch (3): the unbonding and the lock keep what they had
    // left to run.
    let old_entry: Unbondings = old
        .ledger
        .get(&StateKey::Unbonding(addr("oracle-0")))
        .unwrap()
        .unwrap();
    let new_entry: Unbondings = new
        .ledger
        .get(&StateKey::Unbonding(addr("oracle-0")))
        .unwrap()
        .unwrap();
    assert_eq!(
        new_entry.0[0].release_epoch.0,
        old_entry.0[0].release_epoch.0 - 3
    );
    let old_lock: LockRecord = old
        .ledger
        .get(&StateKey::Lock(addr("alice")))
        .unwrap()
        .unwrap();
    let new_lock: LockRecord = new
        .ledger
        .get(&StateKey::Lock(addr("alice")))
        .unwrap()
        .unwrap();
    assert_eq!(new_lock.end_epoch.0, old_lock.end_epoch.0 - 3);

    // The new chain runs: transactions signed for it pass, through the epochs, and the supply
    // still balances; the left-out validator comes back with Unjail from epoch 2.
    new.run(
        "bob",
        Action::Transfer {
            to: addr("alice"),
            amount: Amount::tokens(1),
        },
    )
    .unwrap();
    new.advance_to_epoch(2).unwrap();
    new.run("validator-3", Action::Unjail).unwrap();
    new.advance_to_epoch(3).unwrap();
    assert!(new
        .ledger
        .validator_set_of_epoch(Epoch(4))
        .unwrap()
        .unwrap()
        .members
        .iter()
        .any(|m| m.address == addr("validator-3")));
    assert_balanced(&new);
    assert!(new.ledger.head().height > 3 * TEST_BLOCKS_PER_EPOCH);
}

#[test]
fn a_recovery_plan_is_checked_before_anything_is_written() {
    let (old, _dir) = halted_chain();
    let mut wrong = plan(&old, &["validator-0"]);
    wrong.height += 1;
    assert!(matches!(
        export(&old.ledger, &wrong),
        Err(RecoveryError::WrongHeight { .. })
    ));
    let mut same = plan(&old, &["validator-0"]);
    same.chain_id = old.ledger.config().chain_id.clone();
    assert!(matches!(
        export(&old.ledger, &same),
        Err(RecoveryError::SameChainId(_))
    ));
    assert_eq!(
        export(&old.ledger, &plan(&old, &["alice"])).err(),
        Some(RecoveryError::NotAValidator(addr("alice")))
    );
    assert_eq!(
        export(&old.ledger, &plan(&old, &[])).err(),
        Some(RecoveryError::NoValidators)
    );
    assert_eq!(
        export(&old.ledger, &plan(&old, &["validator-0", "validator-0"])).err(),
        Some(RecoveryError::ChosenTwice(addr("validator-0")))
    );
    // Keys for someone else's stake, without that account's consent (signed by another).
    let mut stolen = plan(&old, &["validator-1"]);
    let (_, keys, _) = new_keys("validator-1");
    stolen.validators[0].2 = key("mallory").sign(&consent_digest(
        &stolen.chain_id,
        &addr("validator-1"),
        &keys,
    ));
    assert_eq!(
        export(&old.ledger, &stolen).err(),
        Some(RecoveryError::NoConsent(addr("validator-1")))
    );
}

#[test]
fn a_tampered_recovery_genesis_is_refused() {
    let (old, _dir) = halted_chain();
    let genesis = export(&old.ledger, &plan(&old, &["validator-0"])).unwrap();
    // A chosen validator claiming more stake than it had.
    let mut more = genesis.clone();
    more.validators[0].stake = Amount(more.validators[0].stake.0 + 1);
    assert!(matches!(
        more.validate(),
        Err(GenesisError::Recovery(RecoveryError::StakeMismatch(_)))
    ));
    // A record whose bytes do not decode.
    let mut bad = genesis.clone();
    let carried = bad.carried.as_mut().unwrap();
    let account = carried
        .records
        .iter_mut()
        .find(|r| matches!(r.key, StateKey::Account(_)))
        .unwrap();
    account.value.truncate(4);
    assert!(matches!(
        bad.validate(),
        Err(GenesisError::Recovery(RecoveryError::BadRecord { .. }))
    ));
    // A record the genesis builds itself.
    let mut extra = genesis.clone();
    let carried = extra.carried.as_mut().unwrap();
    carried.records.push(cairn_ledger::recovery::CarriedRecord {
        key: StateKey::ValidatorSet(Epoch(9)),
        value: String::new(),
    });
    assert!(matches!(
        extra.validate(),
        Err(GenesisError::Recovery(RecoveryError::NotCarried(_)))
    ));
    // A chosen validator whose consent was dropped.
    let mut unsigned = genesis.clone();
    unsigned.validators[0].consent = None;
    assert!(matches!(
        unsigned.validate(),
        Err(GenesisError::Recovery(RecoveryError::NoConsent(_)))
    ));
    // A balance raised: well-formed bytes, but the supply no longer adds up.
    let mut minted = genesis.clone();
    let carried = minted.carried.as_mut().unwrap();
    let bob = carried
        .records
        .iter_mut()
        .find(|r| r.key == StateKey::Account(addr("bob")))
        .unwrap();
    let mut account: cairn_ledger::state::records::Account =
        cairn_types::codec::decode(&hex::decode(&bob.value).unwrap(), 1 << 20).unwrap();
    account.balance = Amount(account.balance.0 + 1);
    bob.value = hex::encode(cairn_types::codec::encode(&account));
    assert!(matches!(
        minted.validate(),
        Err(GenesisError::Recovery(RecoveryError::Inconsistent(_)))
    ));
    // Accounts besides the carried state.
    let mut mixed = genesis;
    mixed.accounts.push(cairn_ledger::genesis::GenesisAccount {
        address: addr("mallory"),
        balance: Amount::tokens(1_000_000),
    });
    assert!(matches!(
        mixed.validate(),
        Err(GenesisError::Recovery(RecoveryError::Mixed))
    ));
}

/// After governance lowered `lock_epochs_max` below a live lock's remaining time, the lock sums
/// are split in two; the export carries both, and the recovered chain counts the same power.
#[test]
fn a_chain_with_locks_beyond_a_lowered_cap_is_recovered() {
    use cairn_ledger::exec::governance::{total_power, voting_power};
    use cairn_ledger::state::records::LockSums;
    use cairn_types::params::ParamId;
    use cairn_types::tx::ProposalAction;
    let (mut old, _old_dir) = halted_chain();
    crate::helpers::enact(
        &mut old,
        ProposalAction::SetParameter {
            param: ParamId::LockEpochsMax,
            value: 10,
        },
    );
    let over: LockSums = old.ledger.get(&StateKey::GovOverCap).unwrap().unwrap();
    assert!(
        over.amount > 0,
        "carol's and alice's locks are beyond the cap"
    );
    let genesis = export(
        &old.ledger,
        &plan(&old, &["validator-0", "validator-1", "validator-2"]),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let new = TestChain::with_genesis(dir.path(), &genesis).unwrap();
    assert_balanced(&new);
    let within: LockSums = new.ledger.get(&StateKey::GovTotals).unwrap().unwrap();
    let over: LockSums = new.ledger.get(&StateKey::GovOverCap).unwrap().unwrap();
    let mut sum = 0;
    for label in ["alice", "carol"] {
        let lock: LockRecord = new
            .ledger
            .get(&StateKey::Lock(addr(label)))
            .unwrap()
            .unwrap();
        sum += voting_power(&lock, Epoch(0), 10);
    }
    assert_eq!(total_power(&within, &over, Epoch(0), 10), sum);
}
