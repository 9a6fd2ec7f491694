//! A validator's view of the chain: its ledger (finalized, applied state), its mempool, and
//! what it has applied, shared by the proposer, the verifier, the finalizer and the RPC.
//!
//! **Halting.** A node whose storage fails (a read, a write, an fsync, a full disk, a record
//! that does not match the state tree), whose ledger refuses a finalized block, or whose state
//! root differs from the one a finalized block attests, cannot know the state its peers have.
//! It [`Chain::halt`]s: one error line in the log, the `cairn_halted` metric at 1, and from
//! then on it applies nothing, proposes nothing, verifies no block (so it helps notarize
//! nothing; consensus may still send its finalize and nullify votes for blocks others
//! notarized) and admits no transaction, until it is restarted from its durable state (which
//! re-applies the finalized blocks to the same roots as its peers). Every finalized block
//! carries the root of an earlier height, so a node whose state diverged halts within a few
//! blocks instead of serving a state its peers do not have.

use crate::block::{Block, BlockLimits};
use crate::mempool::{AdmitError, DropReason, Mempool, MempoolConfig};
use cairn_ledger::state::records::Account;
use cairn_ledger::store::StoreReader;
use cairn_ledger::{Head, Ledger, StateKey, StoreError};
use cairn_types::hash::Hash;
use cairn_types::params::ChainConfig;
use cairn_types::params::ConsensusRules;
use cairn_types::tx::SignedTransaction;
use cairn_types::Address;
use commonware_utils::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::collections::{HashMap, VecDeque};
use tokio::sync::watch;

/// Chain rules every validator of one network must share: the genesis fixes them
/// ([`cairn_types::params::ConsensusRules`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainRules {
    /// Block size limits.
    pub limits: BlockLimits,
    /// A proposer waits this long after its parent's time before proposing, so that an idle
    /// chain does not produce blocks as fast as the network allows.
    pub block_interval_ms: u64,
    /// A validator does not vote for a block timed further than this ahead of its own clock
    /// (it waits instead).
    pub max_clock_drift_ms: u64,
}

impl ChainRules {
    /// The rules a genesis fixed.
    pub fn of(rules: &ConsensusRules) -> ChainRules {
        ChainRules {
            limits: BlockLimits::of(rules),
            block_interval_ms: rules.block_interval_ms,
            max_clock_drift_ms: rules.clock_drift_max_ms,
        }
    }
}

/// This node has halted (see [`Chain::halt`]) and applies nothing more until restarted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("this node has halted: {0}")]
pub struct Halted(pub String);

/// Where a transaction is, as far as this node knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// In this node's mempool.
    Pending,
    /// Executed in the finalized block at `height`.
    Included {
        /// The block's height.
        height: u64,
    },
    /// Charged in the finalized block at `height` (fee paid, nonce used), but its action
    /// failed and changed nothing else.
    Failed {
        /// The block's height.
        height: u64,
        /// Why the action failed.
        reason: String,
    },
    /// Left out: refused on entry, dropped from the pool, or skipped by a finalized block and
    /// no longer pooled.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Not known to this node.
    Unknown,
}

/// How many finalized transactions' fates are remembered for status queries.
const REMEMBERED_OUTCOMES: usize = 1_000_000;

/// What this node knows about finalized transactions.
#[derive(Default)]
struct Outcomes {
    by_id: HashMap<Hash, TxStatus>,
    order: VecDeque<Hash>,
}

impl Outcomes {
    /// Records `status` for `id`. The first inclusion wins: a transaction a finalized block
    /// charged stays `Included` or `Failed` whatever a later block does with a copy of it.
    fn record(&mut self, id: Hash, status: TxStatus) {
        if let Some(TxStatus::Included { .. } | TxStatus::Failed { .. }) = self.by_id.get(&id) {
            return;
        }
        if self.by_id.insert(id, status).is_none() {
            self.order.push_back(id);
            if self.order.len() > REMEMBERED_OUTCOMES {
                if let Some(old) = self.order.pop_front() {
                    self.by_id.remove(&old);
                }
            }
        }
    }
}

/// The shared state of one validator.
pub struct Chain {
    ledger: RwLock<Ledger>,
    mempool: Mutex<Mempool>,
    outcomes: Mutex<Outcomes>,
    applied: watch::Sender<u64>,
    head: watch::Sender<Head>,
    halted: watch::Sender<Option<String>>,
    rules: ChainRules,
    config: ChainConfig,
    reader: StoreReader,
}

impl Chain {
    /// Wraps an opened ledger; the chain rules are the ones its genesis fixed.
    pub fn new(ledger: Ledger, mempool: MempoolConfig) -> Chain {
        let rules = ChainRules::of(&ledger.config().consensus);
        let (applied, _) = watch::channel(ledger.head().height);
        let (head, _) = watch::channel(ledger.head());
        let config = ledger.config().clone();
        let reader = ledger.store().reader();
        Chain {
            ledger: RwLock::new(ledger),
            mempool: Mutex::new(Mempool::new(mempool)),
            outcomes: Mutex::new(Outcomes::default()),
            applied,
            head,
            halted: watch::channel(None).0,
            rules,
            config,
            reader,
        }
    }

    /// Stops this node from applying, proposing, voting and admitting, because of `reason` (a
    /// storage fault, or a finalized block its ledger refused). The first reason is kept and
    /// logged; later ones are ignored.
    pub fn halt(&self, reason: String) {
        let first = self.halted.send_if_modified(|halted| {
            if halted.is_some() {
                return false;
            }
            *halted = Some(reason.clone());
            true
        });
        if first {
            tracing::error!(
                %reason,
                "node.halted: this node stops applying blocks and voting until it is restarted"
            );
        }
    }

    /// Why this node halted, if it has.
    pub fn halted(&self) -> Option<String> {
        self.halted.borrow().clone()
    }

    /// Subscribes to the halt (it changes at most once).
    pub fn subscribe_halted(&self) -> watch::Receiver<Option<String>> {
        self.halted.subscribe()
    }

    /// The chain rules.
    pub fn rules(&self) -> &ChainRules {
        &self.rules
    }

    /// Read access to the ledger (do not hold across an `.await`). Block execution holds the
    /// ledger's write lock for a whole block: readers that need no more than committed state
    /// use [`Chain::reader`] instead.
    pub fn ledger(&self) -> RwLockReadGuard<'_, Ledger> {
        self.ledger.read()
    }

    /// Reads the committed state (snapshots, roots, proofs) without the ledger's lock.
    pub fn reader(&self) -> &StoreReader {
        &self.reader
    }

    /// The genesis-fixed chain configuration.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The latest applied block (without the ledger's lock).
    pub fn head(&self) -> Head {
        *self.head.borrow()
    }

    /// Waits until the ledger has applied the block at `height`.
    pub async fn wait_applied(&self, height: u64) {
        let mut applied = self.applied.subscribe();
        // The sender lives as long as `self`, so this only ends once the height is reached.
        let _ = applied.wait_for(|h| *h >= height).await;
    }

    /// Subscribes to the applied height.
    pub fn subscribe_applied(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Checks a transaction and adds it to the mempool.
    pub fn submit(&self, tx: SignedTransaction, now_ms: u64) -> Result<Hash, AdmitError> {
        if let Some(reason) = self.halted() {
            return Err(AdmitError::Store(format!("this node has halted: {reason}")));
        }
        // The signature first, holding no lock: junk costs no state read and delays no one.
        if !crate::mempool::signature_verifies(&tx) {
            return Err(AdmitError::Rejected(cairn_ledger::TxError::BadSignature));
        }
        let ledger = self.ledger.read();
        // The pool is held only for the cheap checks and the insertion, not while the
        // transaction executes against the state: the proposer and the finalizer need it.
        // (Separate statements: a guard in one expression would live to its end.)
        let prechecked = self.mempool.lock().precheck(&ledger, &tx);
        let checked = prechecked
            .and_then(|earlier| crate::mempool::check_executes(&ledger, &tx, earlier, now_ms));
        let result = match checked {
            Ok(()) => self.mempool.lock().admit_checked(&ledger, tx),
            Err(error) => Err(error),
        };
        if let Err(AdmitError::Rejected(error)) = &result {
            tracing::debug!(%error, "node.submit_rejected");
        }
        result
    }

    /// The nonce `sender`'s next transaction needs: after its applied and its pooled ones.
    pub fn next_nonce(&self, sender: &Address) -> Result<u64, StoreError> {
        let ledger = self.ledger.read();
        let account: Account = ledger.get(&StateKey::Account(*sender))?.unwrap_or_default();
        Ok(self.mempool.lock().next_nonce(sender, account.nonce))
    }

    /// Mempool size in transactions and bytes.
    pub fn mempool_size(&self) -> (usize, usize) {
        let pool = self.mempool.lock();
        (pool.len(), pool.bytes())
    }

    /// What this node knows about transaction `id`.
    pub fn status(&self, id: &Hash) -> TxStatus {
        let recorded = self.outcomes.lock().by_id.get(id).cloned();
        if let Some(status @ (TxStatus::Included { .. } | TxStatus::Failed { .. })) = recorded {
            return status;
        }
        let pool = self.mempool.lock();
        // Skipped by a block but still pooled: it may yet be included.
        if pool.contains(id) {
            return TxStatus::Pending;
        }
        if let Some(status) = recorded {
            return status;
        }
        match pool.rejection(id) {
            Some(reason) => TxStatus::Rejected {
                reason: reason.to_string(),
            },
            None => TxStatus::Unknown,
        }
    }

    /// Picks the transactions of a block to follow the ordered but not yet applied
    /// `pending` blocks (oldest first, each with the signers its carried votes name), at time
    /// `timestamp_ms`, carrying the votes of `signers`.
    pub fn select(
        &self,
        pending: &[cairn_ledger::BlockInput],
        next: (u64, Option<&cairn_ledger::liveness::SignerRecord>),
    ) -> Result<Vec<SignedTransaction>, StoreError> {
        let limits = self.rules.limits;
        let pending_ids: std::collections::HashSet<Hash> = pending
            .iter()
            .flat_map(|b| b.transactions.iter().map(SignedTransaction::id))
            .collect();
        // Transactions of pending blocks stay candidates: one a pending block skips (a leader
        // ordered a nonce before its predecessor) comes round again after it; one a pending
        // block charges is skipped here, its nonce used.
        let candidates: Vec<SignedTransaction> = self.mempool.lock().candidates(
            limits.max_transactions + pending_ids.len(),
            limits.max_transaction_bytes,
        );
        // Every pooled transaction's signature was checked when it entered the pool.
        let ledger = self.ledger.read();
        let selection =
            ledger.select_verified_after(pending, next, candidates, limits.max_transactions)?;
        drop(ledger);
        // A candidate that cannot be charged against the applied state alone leaves the pool;
        // after pending blocks the refusal may be their artefact, so it takes a few refusals in
        // a row (a chosen transaction starts again from none), and a transaction in a pending
        // block is never struck. Candidates whose action fails are included: they pay their
        // fee, and their used nonce clears them from every pool.
        let mut pool = self.mempool.lock();
        for (id, error) in selection.skipped {
            if pending_ids.contains(&id) {
                continue;
            }
            if pending.is_empty() {
                pool.reject(&id, DropReason::Rejected(error));
            } else {
                pool.strike(&id, error);
            }
        }
        for tx in &selection.chosen {
            pool.forgive(&tx.id());
        }
        // The candidates fit the byte limit, so the chosen ones (a subset) do too.
        Ok(selection.chosen)
    }

    /// Applies a finalized block: executes it, prunes the mempool, records each transaction's
    /// fate and wakes whoever waits for this height. A block at or below the applied height is
    /// skipped (marshal redelivers after a restart).
    ///
    /// Any failure halts the node ([`Chain::halt`]): a storage fault, or a finalized block that
    /// this ledger refuses (which its peers applied). A halted node applies nothing more.
    pub fn apply_finalized(
        &self,
        block: &Block,
        signers: Option<cairn_ledger::liveness::SignerRecord>,
    ) -> Result<bool, Halted> {
        if let Some(reason) = self.halted() {
            return Err(Halted(reason));
        }
        let mut ledger = self.ledger.write();
        if block.header.height <= ledger.head().height {
            return Ok(false);
        }
        // The block attests a state root that a quorum checked against its own ledger: if
        // this ledger has another root there, it is this node that diverged.
        let attested = block.header.state_height;
        let diverged = match ledger.store().root_at(attested) {
            Ok(root) if root == block.header.state_root => None,
            Ok(root) => Some(format!(
                "this node's state root at height {attested} is {root}, but the network \
                 finalized {}: its state diverged",
                block.header.state_root
            )),
            Err(error) => Some(format!("storage fault at height {attested}: {error}")),
        };
        if let Some(reason) = diverged {
            drop(ledger);
            self.halt(reason.clone());
            return Err(Halted(reason));
        }
        let (outcome, rejected) = match ledger.apply_ordered_block(&block.input(signers)) {
            Ok(applied) => applied,
            Err(error) => {
                let kind = match &error {
                    cairn_ledger::BlockError::UnsupportedProtocol { .. } => "upgrade needed",
                    e if e.is_fault() => "storage fault",
                    _ => "the ledger refused a finalized block",
                };
                let reason = format!("{kind} at height {}: {error}", block.header.height);
                drop(ledger);
                self.halt(reason.clone());
                return Err(Halted(reason));
            }
        };
        let height = outcome.height;
        self.head.send_replace(ledger.head());
        let ledger = RwLockWriteGuard::downgrade(ledger);
        {
            let mut outcomes = self.outcomes.lock();
            for receipt in &outcome.receipts {
                let status = match &receipt.failed {
                    None => TxStatus::Included { height },
                    Some(reason) => TxStatus::Failed {
                        height,
                        reason: reason.clone(),
                    },
                };
                outcomes.record(receipt.tx_id, status);
            }
            for (id, error) in &rejected {
                outcomes.record(
                    *id,
                    TxStatus::Rejected {
                        reason: format!("skipped by block {height}: {error}"),
                    },
                );
            }
        }
        let charged: Vec<(Hash, cairn_types::Address)> = outcome
            .receipts
            .iter()
            .map(|r| (r.tx_id, r.sender))
            .collect();
        if let Err(error) = self.mempool.lock().on_block_applied(&ledger, &charged) {
            tracing::warn!(%error, "node.mempool_prune_failed");
        }
        drop(ledger);
        self.applied.send_replace(height);
        Ok(true)
    }
}
