//! A small chain with well-known keys, for tests, the ledger demo and benchmarks.
//!
//! Every key here is derived from a public label (`SecretKey::from_label`), so anyone can sign
//! for these accounts: never use this genesis for anything of value.

use crate::error::{BlockError, TxError};
use crate::genesis::{Genesis, GenesisAccount, GenesisMaker, GenesisOracle, GenesisValidator};
use crate::ledger::{BlockInput, BlockOutcome, Ledger};
use crate::state::records::{Account, ChainState, LockRecord, Proposal};
use crate::state::StateKey;
use cairn_types::codec::BoundedString;
use cairn_types::params::{ChainConfig, ChainId, ConsensusRules, EmissionSchedule, Params};
use cairn_types::tx::{Action, ProposalAction, SignedTransaction, Transaction, VoteChoice};
use cairn_types::validator_keys::ValidatorKeys;
use cairn_types::{Address, Amount, Credits, SecretKey};
use std::path::Path;

/// Chain id of the test chain.
pub const TEST_CHAIN_ID: &str = "cairn-test";
/// Blocks per epoch on the test chain.
pub const TEST_BLOCKS_PER_EPOCH: u64 = 10;
/// Milliseconds between test blocks.
pub const TEST_BLOCK_INTERVAL_MS: u64 = 1_000;
/// Genesis time of the test chain (2026-01-01T00:00:00Z).
pub const TEST_GENESIS_TIME_MS: u64 = 1_767_225_600_000;

/// The key of a labelled test account.
pub fn key(label: &str) -> SecretKey {
    SecretKey::from_label(label)
}

/// The address of a labelled test account.
pub fn addr(label: &str) -> Address {
    Address(key(label).public_key())
}

/// Seat keys each test validator registers (with 8 seats, each holds 2).
pub const TEST_SEAT_KEYS: u32 = 4;
/// Labels of the genesis validators.
pub const VALIDATORS: [&str; 4] = ["validator-0", "validator-1", "validator-2", "validator-3"];
/// Labels of the genesis oracles.
pub const ORACLES: [&str; 3] = ["oracle-0", "oracle-1", "oracle-2"];
/// Labels of the funded user accounts.
pub const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
/// Label of the genesis maker.
pub const MAKER: &str = "maker-acme";

/// Test parameters: short periods so that everything happens within a few dozen blocks.
pub fn test_params() -> Params {
    Params {
        unbonding_epochs: 3,
        device_onboard_fee_dc: Credits(1_000),
        location_assert_fee_dc: Credits(100),
        voting_period_blocks: 5,
        timelock_blocks: 2,
        lock_epochs_max: 100,
        proposal_power_min: Amount::tokens(10),
        mint_window_epochs: 3,
        mint_window_max: Amount::tokens(2_000),
        max_seats: 8,
        // Blocks are a second apart: the cut-off is 2 s after an epoch's end, commits close
        // 4 s after that, attestations 4 s later.
        report_delay_max_secs: 1,
        report_skew_max_secs: 1,
        manifest_commit_secs: 4,
        manifest_attest_secs: 4,
        // Within half the 64 epochs a root reaches back (64 s of 10-block epochs).
        reward_compute_allowance_secs: 20,
        ..Params::default()
    }
}

/// The test genesis: 4 validators, 3 oracles, 4 users with 1,000,000 tokens each, one maker.
pub fn test_genesis() -> Genesis {
    let mut accounts: Vec<GenesisAccount> = USERS
        .iter()
        .map(|u| GenesisAccount {
            address: addr(u),
            balance: Amount::tokens(1_000_000),
        })
        .collect();
    for label in VALIDATORS.iter().chain(ORACLES.iter()) {
        accounts.push(GenesisAccount {
            address: addr(label),
            balance: Amount::tokens(10_000),
        });
    }
    Genesis {
        chain: ChainConfig {
            chain_id: ChainId::new(TEST_CHAIN_ID).unwrap_or_default(),
            blocks_per_epoch: TEST_BLOCKS_PER_EPOCH,
            emission: EmissionSchedule {
                initial_per_epoch: Amount::tokens(10_000),
                halving_interval_epochs: 1_000,
                emission_cap: Amount::tokens(100_000_000),
            },
            consensus: ConsensusRules::default(),
            protocol_version: crate::protocol::CURRENT_PROTOCOL_VERSION,
            epochs_per_reward_epoch: 1,
        },
        genesis_time_ms: TEST_GENESIS_TIME_MS,
        params: test_params(),
        accounts,
        validators: VALIDATORS
            .iter()
            .map(|v| GenesisValidator {
                address: addr(v),
                keys: ValidatorKeys::derive(
                    &ChainId::new(TEST_CHAIN_ID).unwrap_or_default(),
                    &addr(v),
                    &key(&format!("{v}/consensus")),
                    0,
                    TEST_SEAT_KEYS,
                ),
                stake: Amount::tokens(50_000),
                consent: None,
            })
            .collect(),
        oracles: ORACLES
            .iter()
            .map(|o| GenesisOracle {
                address: addr(o),
                stake: Amount::tokens(10_000),
            })
            .collect(),
        makers: vec![GenesisMaker {
            key: key(MAKER).public_key(),
            name: "Acme Hotspots".into(),
        }],
        carried: None,
    }
}

/// A storage fault of the test ledger: tests have no use for such a chain.
fn store_fault<T>(error: crate::error::StoreError) -> T {
    panic!("the test ledger failed: {error}")
}

/// A ledger on disk plus helpers to sign and apply transactions.
pub struct TestChain {
    /// The ledger.
    pub ledger: Ledger,
    /// Minimum fee, paid by every helper transaction.
    pub fee: Amount,
}

impl TestChain {
    /// A new test chain in `dir`.
    pub fn new(dir: &Path) -> Result<TestChain, crate::ledger::OpenError> {
        TestChain::with_genesis(dir, &test_genesis())
    }

    /// A new chain from any genesis in `dir`.
    pub fn with_genesis(
        dir: &Path,
        genesis: &Genesis,
    ) -> Result<TestChain, crate::ledger::OpenError> {
        Ok(TestChain {
            ledger: Ledger::init(dir, genesis)?,
            fee: genesis.params.tx_fee_min,
        })
    }

    /// An account's current state.
    pub fn account(&self, address: &Address) -> Account {
        self.ledger
            .get(&StateKey::Account(*address))
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// A transaction from the labelled account with its next nonce, signed.
    pub fn tx(&self, label: &str, action: Action) -> SignedTransaction {
        let sender = addr(label);
        Transaction {
            chain_id: self.ledger.config().chain_id.clone(),
            sender,
            nonce: self.account(&sender).nonce,
            fee: self.fee,
            action,
        }
        .sign(&key(label))
    }

    /// The next block's input with these transactions.
    pub fn next_block(&self, transactions: Vec<SignedTransaction>) -> BlockInput {
        let head = self.ledger.head();
        BlockInput {
            height: head.height + 1,
            timestamp_ms: head.timestamp_ms + TEST_BLOCK_INTERVAL_MS,
            transactions,
            signers: None,
        }
    }

    /// Applies a block with these transactions.
    pub fn block(
        &mut self,
        transactions: Vec<SignedTransaction>,
    ) -> Result<BlockOutcome, BlockError> {
        let block = self.next_block(transactions);
        self.ledger.apply_block(&block)
    }

    /// Applies one transaction in its own block and returns the transaction's error, if any.
    ///
    /// # Panics
    /// When the block fails for another reason than its transaction (a storage fault): tests
    /// and benchmarks have no use for such a chain.
    pub fn run(&mut self, label: &str, action: Action) -> Result<BlockOutcome, TxError> {
        let tx = self.tx(label, action);
        match self.block(vec![tx]) {
            Ok(outcome) => Ok(outcome),
            Err(BlockError::Transaction { error, .. }) => Err(error),
            Err(other) => panic!("the block failed outside its transaction: {other}"),
        }
    }

    /// Passes `action` through governance: carol locks 100,000 tokens for the longest lock
    /// (unless she holds a lock), proposes, votes yes, waits out the vote and the timelock, and
    /// executes it. Returns the proposal's number.
    ///
    /// # Panics
    /// When a block fails for another reason than its transaction (see [`TestChain::run`]).
    pub fn enact(&mut self, action: ProposalAction) -> Result<u64, TxError> {
        let carol = addr("carol");
        let lock: Option<LockRecord> = self
            .ledger
            .get(&StateKey::Lock(carol))
            .unwrap_or_else(store_fault);
        let params: Params = self
            .ledger
            .get(&StateKey::Params)
            .unwrap_or_else(store_fault)
            .unwrap_or_default();
        if lock.is_none() {
            self.run(
                "carol",
                Action::Lock {
                    amount: Amount::tokens(100_000),
                    duration_epochs: params.lock_epochs_max,
                },
            )?;
        }
        let chain: Option<ChainState> = self
            .ledger
            .get(&StateKey::ChainState)
            .unwrap_or_else(store_fault);
        let id = chain.map_or(0, |c| c.next_proposal);
        self.run(
            "carol",
            Action::Propose {
                action,
                description: BoundedString::new("enacted by a test".to_string())
                    .unwrap_or_default(),
            },
        )?;
        self.run(
            "carol",
            Action::Vote {
                proposal: id,
                choice: VoteChoice::Yes,
            },
        )?;
        let proposal: Option<Proposal> = self
            .ledger
            .get(&StateKey::Proposal(id))
            .unwrap_or_else(store_fault);
        let end = proposal.map_or(0, |p| p.voting_end_height);
        while self.ledger.head().height < end + params.timelock_blocks {
            if let Err(e) = self.block(Vec::new()) {
                panic!("an empty block failed: {e}");
            }
        }
        self.run("carol", Action::ExecuteProposal { proposal: id })?;
        Ok(id)
    }

    /// Applies empty blocks until the chain is at the first block of `epoch`.
    pub fn advance_to_epoch(&mut self, epoch: u64) -> Result<(), BlockError> {
        let target = epoch * self.ledger.config().blocks_per_epoch + 1;
        while self.ledger.head().height < target {
            self.block(Vec::new())?;
        }
        Ok(())
    }
}
