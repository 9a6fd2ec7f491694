//! The ledger: applies blocks of transactions to the authenticated state.
//!
//! Production applies blocks whose order consensus already fixed
//! ([`Ledger::apply_ordered_block`]): block-level rules (height, time, size) refuse a block
//! whole; then each transaction is either **skipped** (bad signature, wrong chain or nonce, a fee
//! under the minimum or one its sender cannot pay: no effect at all) or **charged** (the fee is
//! burned and the nonce used) and its action run; an action that fails is rolled back but keeps
//! its charge, so a failing transaction costs its sender, and nobody else, a fee.
//!
//! [`Ledger::apply_block`] is the strict variant for tools and tests: any transaction that is
//! skipped or fails refuses the whole block ([`BlockError::Transaction`]), which changes nothing.
//!
//! Applying a block runs, in order: the liveness count of the votes it carries, the epoch
//! boundary if the block opens a new epoch (see [`crate::epoch`]), then each transaction; then
//! the chain state is written and all changes are committed atomically, giving the new state
//! root. The node reaches the ledger through `cairn_node::chain::Chain`: to propose
//! ([`Ledger::select_verified_after`], a dry run after the pending blocks), to verify
//! ([`LedgerStore::root_at`]) and to apply ([`Ledger::apply_ordered_block`]).

use crate::epoch;
use crate::error::{BlockError, ExecError, StoreError, TxError};
use crate::exec::{self, staking, Exec, Notes};
use crate::genesis::{Genesis, GenesisError};
use crate::liveness::{self, SignerRecord};
use crate::state::overlay::{Changes, MAX_STATE_VALUE_BYTES};
use crate::state::records::{ChainState, ValidatorSet};
use crate::state::{Overlay, StateKey, StateRead};
use crate::store::faulty::Faults;
use crate::store::{LedgerStore, StateProof};
use borsh::BorshDeserialize;
use cairn_types::params::{ChainConfig, Params};
use cairn_types::tx::{Action, SignedTransaction};
use cairn_types::{Address, Epoch, Hash};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Most transactions in one block.
pub const MAX_BLOCK_TRANSACTIONS: usize =
    cairn_types::params::ConsensusRules::BLOCK_TRANSACTIONS_LIMIT as usize;

/// What a proposal's dry run found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// The candidates chosen, in order: each pays its fee and uses its nonce.
    pub chosen: Vec<SignedTransaction>,
    /// Candidates left out because they cannot be charged (nonce, fee, balance, chain, or
    /// signature): in a block they would be skipped.
    pub skipped: Vec<(Hash, TxError)>,
    /// Chosen candidates whose action fails: in a block they pay their fee and change nothing
    /// else. A mempool refuses these on entry; a proposer includes them so that they leave
    /// every pool.
    pub failing: Vec<(Hash, TxError)>,
}

/// The file holding the ledger's state inside a data directory.
pub const STATE_FILE: &str = "state.redb";

/// A block as the ledger sees it: position, time and transactions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInput {
    /// Height (genesis is 0, so the first block is 1).
    pub height: u64,
    /// Time in milliseconds since the Unix epoch, never before the previous block's.
    pub timestamp_ms: u64,
    /// The transactions, in order.
    pub transactions: Vec<SignedTransaction>,
    /// The signers of an earlier block's finalization, if the block carries them.
    pub signers: Option<SignerRecord>,
}

/// What one transaction did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Its id.
    pub tx_id: Hash,
    /// Its sender.
    pub sender: Address,
    /// Its nonce.
    pub nonce: u64,
    /// What happened, in words.
    pub notes: Notes,
    /// Why the action failed, if it did: the fee was charged and the nonce used, but the action
    /// changed nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

impl Receipt {
    fn new(signed: &SignedTransaction, notes: Notes, failed: Option<String>) -> Receipt {
        Receipt {
            tx_id: signed.id(),
            sender: signed.tx.sender,
            nonce: signed.tx.nonce,
            notes,
            failed,
        }
    }
}

/// What a block did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockOutcome {
    /// Its height.
    pub height: u64,
    /// Its epoch.
    pub epoch: Epoch,
    /// State root after it.
    pub state_root: Hash,
    /// One receipt per transaction.
    pub receipts: Vec<Receipt>,
    /// What the block itself did (epoch boundary).
    pub notes: Notes,
}

/// The latest applied block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Its height.
    pub height: u64,
    /// State root after it.
    pub state_root: Hash,
    /// Its time.
    pub timestamp_ms: u64,
}

/// Why a ledger could not be opened or created.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The genesis is invalid.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
}

/// A block's execution before it is committed.
struct Executed {
    outcome: BlockOutcome,
    changes: Changes,
    /// Refused before the fee: no effect.
    skipped: Vec<(Hash, TxError)>,
    /// Charged, but the action was refused.
    failed: Vec<(Hash, TxError)>,
}

/// Whether a failing transaction refuses the block or is left out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Strict,
    Filter,
}

/// The ledger over its store.
pub struct Ledger {
    store: LedgerStore,
    config: ChainConfig,
    head: Head,
    sync_every_blocks: u64,
}

impl Ledger {
    /// Creates a ledger in `dir` from a genesis.
    pub fn init(dir: &Path, genesis: &Genesis) -> Result<Ledger, OpenError> {
        Ledger::init_with_faults(dir, genesis, None)
    }

    /// Opens the ledger in `dir`.
    pub fn open(dir: &Path) -> Result<Ledger, StoreError> {
        Ledger::open_with_faults(dir, None)
    }

    /// [`Ledger::init`] on a disk that injects `faults` (fault-injection tests).
    pub fn init_with_faults(
        dir: &Path,
        genesis: &Genesis,
        faults: Option<&Faults>,
    ) -> Result<Ledger, OpenError> {
        let changes = genesis.state()?;
        let store = LedgerStore::create_with(&dir.join(STATE_FILE), faults)?;
        store.commit(0, &changes, true)?;
        Ok(Ledger::from_store(store)?)
    }

    /// [`Ledger::open`] on a disk that injects `faults` (fault-injection tests).
    pub fn open_with_faults(dir: &Path, faults: Option<&Faults>) -> Result<Ledger, StoreError> {
        Ledger::from_store(LedgerStore::open_with(&dir.join(STATE_FILE), faults)?)
    }

    fn from_store(store: LedgerStore) -> Result<Ledger, StoreError> {
        let (height, state_root) = store
            .head()?
            .ok_or_else(|| StoreError::NotInitialised(store.path().display().to_string()))?;
        let snapshot = store.snapshot()?;
        let config: ChainConfig = read_value(&snapshot, &StateKey::ChainConfig)?
            .ok_or_else(|| StoreError::Corrupt("no chain configuration".into()))?;
        let chain: ChainState = read_value(&snapshot, &StateKey::ChainState)?
            .ok_or_else(|| StoreError::Corrupt("no chain state".into()))?;
        if chain.height != height {
            return Err(StoreError::Corrupt(format!(
                "chain state is at height {}, tree at {height}",
                chain.height
            )));
        }
        Ok(Ledger {
            store,
            config,
            head: Head {
                height,
                state_root,
                timestamp_ms: chain.timestamp_ms,
            },
            sync_every_blocks: 1,
        })
    }

    /// Syncs the state to disk every `blocks` blocks instead of every block (at least 1).
    ///
    /// Every block is still committed atomically; a crash loses at most the blocks since the
    /// last sync, which a node re-applies from its durable block store to the same roots. Use
    /// 1 (the default) when nothing else keeps the blocks.
    pub fn set_sync_every_blocks(&mut self, blocks: u64) {
        self.sync_every_blocks = blocks.max(1);
    }

    /// Makes every applied block durable now.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()
    }

    /// The latest applied block.
    pub fn head(&self) -> Head {
        self.head
    }

    /// The genesis-fixed configuration.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The protocol version a block at `height` (after the head) is built and executed under.
    pub fn protocol_at(&self, height: u64) -> Result<u32, StoreError> {
        let record: Option<crate::protocol::ProtocolRecord> = self.get(&StateKey::Protocol)?;
        Ok(record.map_or(self.config.protocol_version, |r| r.version_at(height)))
    }

    /// The store (for proofs and history).
    pub fn store(&self) -> &LedgerStore {
        &self.store
    }

    /// Reads a value of the latest state.
    pub fn get<V: BorshDeserialize>(&self, key: &StateKey) -> Result<Option<V>, StoreError> {
        read_value(&self.store.snapshot()?, key)
    }

    /// The value of `key` at `height` (latest if `None`) with its proof and that height's root.
    pub fn prove(
        &self,
        key: &StateKey,
        height: Option<u64>,
    ) -> Result<(Option<Vec<u8>>, StateProof, Hash), StoreError> {
        self.store
            .prove(&key.to_bytes(), height.unwrap_or(self.head.height))
    }

    /// Checks a transaction for admission to a mempool: signature, then execution against the
    /// latest state as if it were alone in the next block at `timestamp_ms`.
    pub fn check_transaction(
        &self,
        signed: &SignedTransaction,
        timestamp_ms: u64,
    ) -> Result<(), ExecError> {
        signed
            .tx
            .sender
            .0
            .verify(&signed.tx.signing_digest(), &signed.signature)
            .map_err(|_| TxError::BadSignature)?;
        let executed = self
            .execute(
                self.head.height + 1,
                timestamp_ms.max(self.head.timestamp_ms),
                std::slice::from_ref(signed),
                None,
                Mode::Filter,
            )
            .map_err(|e| match e {
                BlockError::Store(store) => ExecError::Fault(store),
                BlockError::Invariant(what) => ExecError::Invariant(what),
                other => ExecError::Fault(StoreError::Corrupt(other.to_string())),
            })?;
        match executed.skipped.into_iter().chain(executed.failed).next() {
            Some((_, error)) => Err(error.into()),
            None => Ok(()),
        }
    }

    /// Picks, in order, the candidates that the next block can charge, up to `max`
    /// transactions; see [`Selection`].
    pub fn select_transactions(
        &self,
        timestamp_ms: u64,
        candidates: Vec<SignedTransaction>,
        max: usize,
    ) -> Result<Selection, StoreError> {
        self.select_transactions_after(&[], timestamp_ms, candidates, max)
    }

    /// Like [`Ledger::select_transactions`], for a block that follows ordered but not yet
    /// applied blocks (`pending`, oldest first): each is executed first, at its own height and
    /// time, epoch boundaries included, so that the candidates are checked against the state
    /// they will meet. Best effort: the chosen transactions are re-checked when their block is
    /// applied.
    pub fn select_transactions_after(
        &self,
        pending: &[BlockInput],
        timestamp_ms: u64,
        candidates: Vec<SignedTransaction>,
        max: usize,
    ) -> Result<Selection, StoreError> {
        let (checked, bad) = split_by_signature(candidates);
        let mut selection =
            self.select_verified_after(pending, (timestamp_ms, None), checked, max)?;
        selection.skipped.extend(bad);
        Ok(selection)
    }

    /// Like [`Ledger::select_transactions_after`] for candidates whose signatures the caller
    /// has already checked (a mempool admitting a transaction it verified on entry), in a block
    /// at `timestamp_ms` that carries the votes of `signers` (counted before its transactions,
    /// as execution will).
    pub fn select_verified_after(
        &self,
        pending: &[BlockInput],
        (timestamp_ms, signers): (u64, Option<&SignerRecord>),
        checked: Vec<SignedTransaction>,
        max: usize,
    ) -> Result<Selection, StoreError> {
        let snapshot = self.store.snapshot()?;
        let mut overlay = Overlay::new(&snapshot);
        let (height, time) = self.run_pending(&mut overlay, pending)?;
        let run = self
            .run_block(
                &mut overlay,
                (height + 1, timestamp_ms.max(time)),
                &checked,
                signers,
                Mode::Filter,
            )
            .map_err(as_store)?;
        let mut selection = Selection {
            skipped: run.skipped,
            ..Selection::default()
        };
        let chosen: std::collections::HashSet<Hash> = run
            .included
            .iter()
            .take(max)
            .map(|&i| checked[i].id())
            .collect();
        selection.failing = run
            .failed
            .into_iter()
            .filter(|(id, _)| chosen.contains(id))
            .collect();
        selection.chosen = run
            .included
            .into_iter()
            .take(max)
            .map(|i| checked[i].clone())
            .collect();
        Ok(selection)
    }

    /// Checks a block without applying it; returns its outcome.
    pub fn check_block(&self, block: &BlockInput) -> Result<BlockOutcome, BlockError> {
        let executed = self.execute_strict(block)?;
        let mut outcome = executed.outcome;
        // The root needs the tree update; compute it without committing.
        outcome.state_root = self
            .store
            .commit_then_crash(block.height, &executed.changes)?;
        Ok(outcome)
    }

    /// Applies a block (durably every `sync_every_blocks` blocks, see
    /// [`Ledger::set_sync_every_blocks`]).
    ///
    /// [`BlockError::NotDurable`] means the block *was* applied (the head moved) but writing it
    /// to disk failed; a later [`Ledger::flush`] or durable block retries the write.
    pub fn apply_block(&mut self, block: &BlockInput) -> Result<BlockOutcome, BlockError> {
        let executed = self.execute_strict(block)?;
        let mut outcome = executed.outcome;
        outcome.state_root = self.commit_executed(block, &executed.changes)?;
        tracing::debug!(height = block.height, root = %outcome.state_root, txs = block.transactions.len(), "ledger.apply_block");
        Ok(outcome)
    }

    /// Commits an executed block and moves the head, then flushes if this block is due.
    fn commit_executed(
        &mut self,
        block: &BlockInput,
        changes: &Changes,
    ) -> Result<Hash, BlockError> {
        let state_root = self.store.commit(block.height, changes, false)?;
        // The block is now applied in memory: the head moves even if the flush below fails, so
        // that the ledger and its store never disagree about the next height.
        self.head = Head {
            height: block.height,
            state_root,
            timestamp_ms: block.timestamp_ms,
        };
        if block.height.is_multiple_of(self.sync_every_blocks) {
            self.store.flush().map_err(BlockError::NotDurable)?;
        }
        Ok(state_root)
    }

    /// Applies a block whose order consensus has already fixed (execution after ordering).
    /// Block-level rules (height, time, size) still refuse the whole block. Then each
    /// transaction, in order:
    /// - with a bad signature, a wrong chain, a wrong nonce, a fee under the minimum, or a
    ///   sender who cannot pay the fee, it is **skipped**: no effect, returned with why;
    /// - otherwise it **pays** its fee and uses its nonce, and its action runs; an action that
    ///   fails changes nothing else and its receipt says why ([`Receipt::failed`]).
    ///
    /// Every validator gets the same result: the signature predicate is the same for single and
    /// batched checks, and execution is deterministic.
    pub fn apply_ordered_block(
        &mut self,
        block: &BlockInput,
    ) -> Result<(BlockOutcome, Vec<(Hash, TxError)>), BlockError> {
        self.precheck_position(block)?;
        // One batch check when all are valid (the usual case), else one by one.
        let (valid, mut rejected) = if verify_signatures(&block.transactions).is_ok() {
            (block.transactions.clone(), Vec::new())
        } else {
            split_by_signature(block.transactions.iter().cloned())
        };
        let executed = self.execute(
            block.height,
            block.timestamp_ms,
            &valid,
            block.signers.as_ref(),
            Mode::Filter,
        )?;
        rejected.extend(executed.skipped);
        let mut outcome = executed.outcome;
        outcome.state_root = self.commit_executed(block, &executed.changes)?;
        tracing::debug!(height = block.height, root = %outcome.state_root, txs = outcome.receipts.len(), rejected = rejected.len(), "ledger.apply_ordered_block");
        Ok((outcome, rejected))
    }

    /// Executes a block and then drops its changes, as a crash just before the commit would:
    /// for crash-recovery tests.
    #[doc(hidden)]
    pub fn apply_block_then_crash(&mut self, block: &BlockInput) -> Result<Hash, BlockError> {
        let executed = self.execute_strict(block)?;
        Ok(self
            .store
            .commit_then_crash(block.height, &executed.changes)?)
    }

    /// Checks a block's position and signatures, then executes it, refusing it whole if any
    /// transaction fails.
    fn execute_strict(&self, block: &BlockInput) -> Result<Executed, BlockError> {
        self.precheck(block)?;
        self.execute(
            block.height,
            block.timestamp_ms,
            &block.transactions,
            block.signers.as_ref(),
            Mode::Strict,
        )
    }

    fn precheck(&self, block: &BlockInput) -> Result<(), BlockError> {
        self.precheck_position(block)?;
        verify_signatures(&block.transactions)
    }

    fn precheck_position(&self, block: &BlockInput) -> Result<(), BlockError> {
        if block.height != self.head.height + 1 {
            return Err(BlockError::WrongHeight {
                expected: self.head.height + 1,
                got: block.height,
            });
        }
        if block.timestamp_ms < self.head.timestamp_ms {
            return Err(BlockError::TimeWentBackwards {
                previous: self.head.timestamp_ms,
                got: block.timestamp_ms,
            });
        }
        if block.transactions.len() > MAX_BLOCK_TRANSACTIONS {
            return Err(BlockError::TooManyTransactions {
                max: MAX_BLOCK_TRANSACTIONS,
                got: block.transactions.len(),
            });
        }
        Ok(())
    }

    /// Executes one block on a fresh overlay over the applied state.
    fn execute(
        &self,
        height: u64,
        timestamp_ms: u64,
        transactions: &[SignedTransaction],
        signers: Option<&SignerRecord>,
        mode: Mode,
    ) -> Result<Executed, BlockError> {
        let snapshot = self.store.snapshot()?;
        let mut overlay = Overlay::new(&snapshot);
        let run = self.run_block(
            &mut overlay,
            (height, timestamp_ms),
            transactions,
            signers,
            mode,
        )?;
        Ok(Executed {
            outcome: run.outcome,
            changes: overlay.into_changes(),
            skipped: run.skipped,
            failed: run.failed,
        })
    }

    /// Executes on `overlay` the ordered but unapplied blocks of `pending` (oldest first) that
    /// lie above the head, each at its own height and time and with its carried signers, as a
    /// proposal's dry run does. Returns the height and time reached: it stops at the first gap
    /// (the caller's view is stale, and the dry run stops trusting it).
    ///
    /// Their signatures are not checked again: pending blocks are notarized ancestors, whose
    /// signatures the voters that notarized them checked. (Were one forged, which takes more
    /// than a third of the voting power, execution would skip it where this run does not: a
    /// proposal after it might lose a vote, and nothing else.)
    pub(crate) fn run_pending(
        &self,
        overlay: &mut Overlay<'_>,
        pending: &[BlockInput],
    ) -> Result<(u64, u64), StoreError> {
        let (mut height, mut time) = (self.head.height, self.head.timestamp_ms);
        for block in pending.iter().filter(|b| b.height > self.head.height) {
            if block.height != height + 1 {
                break;
            }
            height = block.height;
            time = time.max(block.timestamp_ms);
            self.run_block(
                overlay,
                (height, time),
                &block.transactions,
                block.signers.as_ref(),
                Mode::Filter,
            )
            .map_err(as_store)?;
        }
        Ok((height, time))
    }

    /// Executes one block on `overlay`, which may already hold the writes of the blocks before
    /// it (a proposal's dry run after ordered but unapplied blocks). Leaves the block's writes
    /// committed to the overlay's block layer.
    pub(crate) fn run_block(
        &self,
        overlay: &mut Overlay<'_>,
        (height, timestamp_ms): (u64, u64),
        transactions: &[SignedTransaction],
        signers: Option<&SignerRecord>,
        mode: Mode,
    ) -> Result<BlockRun, BlockError> {
        let mut chain: ChainState = overlay
            .get(&StateKey::ChainState)?
            .ok_or_else(|| StoreError::Corrupt("no chain state".into()))?;
        let mut params: Params = overlay
            .get(&StateKey::Params)?
            .ok_or_else(|| StoreError::Corrupt("no parameters".into()))?;
        chain.height = height;
        chain.timestamp_ms = timestamp_ms;
        crate::protocol::enter_block(overlay, height)?;
        let mut block_notes = Vec::new();
        if let Some(record) = signers {
            let mut ex = Exec::new(
                overlay,
                &chain,
                &params,
                &self.config,
                (height, timestamp_ms),
            );
            liveness::count(&mut ex, record, height)?;
            chain = ex.chain;
            overlay.commit_tx();
        }
        let new_epoch = Epoch::of_height(height, self.config.blocks_per_epoch);
        if new_epoch > chain.epoch {
            let mut ex = Exec::new(
                overlay,
                &chain,
                &params,
                &self.config,
                (height, timestamp_ms),
            );
            epoch::enter_epoch(&mut ex, new_epoch).map_err(epoch_fault)?;
            chain = ex.chain;
            params = ex.params;
            block_notes = ex.notes;
            overlay.commit_tx();
        }
        let mut run = BlockRun {
            outcome: BlockOutcome {
                height,
                epoch: chain.epoch,
                state_root: Hash::ZERO,
                receipts: Vec::with_capacity(transactions.len()),
                notes: block_notes,
            },
            skipped: Vec::new(),
            failed: Vec::new(),
            included: Vec::with_capacity(transactions.len()),
        };
        let mut withdrawals: Vec<Address> = Vec::new();
        for (index, signed) in transactions.iter().enumerate() {
            let refusal = |error: TxError| BlockError::Transaction {
                index,
                id: signed.id(),
                error,
            };
            // Step 1: the envelope and the fee. Refused here, the transaction is skipped.
            let mut ex = Exec::new(
                overlay,
                &chain,
                &params,
                &self.config,
                (height, timestamp_ms),
            );
            match exec::charge(&mut ex, signed) {
                Ok(()) => {
                    chain = ex.chain;
                    overlay.commit_tx();
                }
                Err(ExecError::Refused(error)) => {
                    overlay.rollback_tx();
                    if mode == Mode::Strict {
                        return Err(refusal(error));
                    }
                    run.skipped.push((signed.id(), error));
                    continue;
                }
                Err(fault) => return Err(exec_fault(fault)),
            }
            // Step 2: the action. Refused here, the transaction failed but keeps its charge.
            let mut ex = Exec::new(
                overlay,
                &chain,
                &params,
                &self.config,
                (height, timestamp_ms),
            );
            let failed = match exec::perform(&mut ex, signed) {
                Ok(()) => {
                    chain = ex.chain;
                    params = ex.params;
                    let notes = ex.notes;
                    overlay.commit_tx();
                    run.outcome.receipts.push(Receipt::new(signed, notes, None));
                    if signed.tx.action == Action::WithdrawUnbonded
                        && !withdrawals.contains(&signed.tx.sender)
                    {
                        withdrawals.push(signed.tx.sender);
                    }
                    None
                }
                Err(ExecError::Refused(error)) => {
                    overlay.rollback_tx();
                    if mode == Mode::Strict {
                        return Err(refusal(error));
                    }
                    Some(error)
                }
                Err(fault) => return Err(exec_fault(fault)),
            };
            if let Some(error) = failed {
                run.outcome.receipts.push(Receipt::new(
                    signed,
                    Vec::new(),
                    Some(error.to_string()),
                ));
                run.failed.push((signed.id(), error));
            }
            run.included.push(index);
        }
        // Withdrawals last, after every report of an offence in the block.
        if !withdrawals.is_empty() {
            let mut ex = Exec::new(
                overlay,
                &chain,
                &params,
                &self.config,
                (height, timestamp_ms),
            );
            for address in &withdrawals {
                staking::settle_withdrawal(&mut ex, address).map_err(exec_fault)?;
            }
            chain = ex.chain;
            run.outcome.notes.extend(ex.notes);
            overlay.commit_tx();
        }
        overlay.put(&StateKey::ChainState, &chain);
        overlay.commit_tx();
        run.outcome.epoch = chain.epoch;
        Ok(run)
    }
}

/// One block's execution, its writes left in the overlay.
pub(crate) struct BlockRun {
    outcome: BlockOutcome,
    pub(crate) skipped: Vec<(Hash, TxError)>,
    failed: Vec<(Hash, TxError)>,
    included: Vec<usize>,
}

/// A dry run's block error as the store fault it must be (a dry run refuses no block).
pub(crate) fn as_store(error: BlockError) -> StoreError {
    match error {
        BlockError::Store(s) => s,
        other => StoreError::Corrupt(other.to_string()),
    }
}

/// A fault is this node's, not the sender's: the block stops, uncommitted.
fn exec_fault(error: ExecError) -> BlockError {
    match error {
        ExecError::Fault(store) => BlockError::Store(store),
        ExecError::Invariant(what) => BlockError::Invariant(what),
        ExecError::Refused(_) => BlockError::Invariant("a refusal is not a fault"),
    }
}

impl Ledger {
    /// The validator set of `epoch`, once this ledger knows it, for consensus.
    ///
    /// The sets of epochs 0 and 1 come from the genesis; the set of epoch `e ≥ 2` is chosen by
    /// the first block of epoch `e − 1` (see [`epoch::enter_epoch`]) and kept for good. So
    /// consensus knows an epoch's set a whole epoch before it starts. `None` while this ledger
    /// has not applied the block that chooses it.
    pub fn validator_set_of_epoch(&self, epoch: Epoch) -> Result<Option<ValidatorSet>, StoreError> {
        let Some(set) = self.get::<ValidatorSet>(&StateKey::ValidatorSet(epoch))? else {
            return Ok(None);
        };
        if set.epoch != epoch {
            return Err(StoreError::Corrupt(format!(
                "the validator set stored for epoch {epoch} names epoch {}",
                set.epoch
            )));
        }
        Ok(Some(set))
    }
}

/// An epoch step that fails fails on every validator alike (it reads no input but the state), so
/// it is never a refusal: the block cannot be applied and the node must stop.
fn epoch_fault(error: ExecError) -> BlockError {
    match error {
        ExecError::Fault(store) => BlockError::Store(store),
        ExecError::Invariant(what) => BlockError::Invariant(what),
        ExecError::Refused(refusal) => {
            tracing::error!(%refusal, "ledger.epoch_step_failed");
            BlockError::Invariant("the epoch step cannot fail")
        }
    }
}

/// Splits transactions into those whose sender signature verifies and the others (with
/// [`TxError::BadSignature`]).
fn split_by_signature(
    transactions: impl IntoIterator<Item = SignedTransaction>,
) -> (Vec<SignedTransaction>, Vec<(Hash, TxError)>) {
    let transactions: Vec<SignedTransaction> = transactions.into_iter().collect();
    // One batch check is about twice as fast as single checks; ZIP-215 makes both accept
    // exactly the same signatures, so singles are needed only to name the bad ones.
    if transactions.len() > 1 && verify_signatures(&transactions).is_ok() {
        return (transactions, Vec::new());
    }
    let mut valid = Vec::new();
    let mut rejected = Vec::new();
    for tx in transactions {
        match tx
            .tx
            .sender
            .0
            .verify(&tx.tx.signing_digest(), &tx.signature)
        {
            Ok(()) => valid.push(tx),
            Err(_) => rejected.push((tx.id(), TxError::BadSignature)),
        }
    }
    (valid, rejected)
}

/// Checks every sender signature in one batch; on failure, names the first bad one.
pub fn verify_signatures(transactions: &[SignedTransaction]) -> Result<(), BlockError> {
    let digests: Vec<Hash> = transactions.iter().map(|t| t.tx.signing_digest()).collect();
    let signatures: Vec<_> = transactions.iter().map(|t| t.signature).collect();
    let keys: Vec<_> = transactions.iter().map(|t| t.tx.sender.0).collect();
    if cairn_types::keys::verify_batch(&digests, &signatures, &keys).is_ok() {
        return Ok(());
    }
    let index = (0..transactions.len())
        .find(|&i| keys[i].verify(&digests[i], &signatures[i]).is_err())
        .unwrap_or(0);
    Err(BlockError::Transaction {
        index,
        id: transactions
            .get(index)
            .map_or(Hash::ZERO, SignedTransaction::id),
        error: TxError::BadSignature,
    })
}

/// Reads and decodes the value of `key` from `state` (a snapshot, an overlay).
pub fn read_value<V: BorshDeserialize>(
    state: &dyn StateRead,
    key: &StateKey,
) -> Result<Option<V>, StoreError> {
    match state.read(&key.to_bytes())? {
        None => Ok(None),
        Some(bytes) => cairn_types::codec::decode(&bytes, MAX_STATE_VALUE_BYTES)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("{key:?}: {e}"))),
    }
}
