//! A validator's view of the chain: its ledger (finalized, applied state), its mempool, and
//! what it has applied, shared by the proposer, the verifier, the finalizer and the RPC.

use crate::block::{Block, BlockLimits};
use crate::mempool::{AdmitError, DropReason, Mempool, MempoolConfig};
use cairn_ledger::{BlockError, Head, Ledger, StoreError};
use cairn_types::hash::Hash;
use cairn_types::tx::SignedTransaction;
use commonware_utils::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::collections::{HashMap, VecDeque};
use tokio::sync::watch;

/// Chain rules every validator of one network must share.
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

impl Default for ChainRules {
    fn default() -> Self {
        ChainRules {
            limits: BlockLimits::default(),
            block_interval_ms: 200,
            max_clock_drift_ms: 2_000,
        }
    }
}

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
    /// Left out: refused on entry, dropped from the pool, or failed in a finalized block.
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
    fn record(&mut self, id: Hash, status: TxStatus) {
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
    rules: ChainRules,
}

impl Chain {
    /// Wraps an opened ledger.
    pub fn new(ledger: Ledger, mempool: MempoolConfig, rules: ChainRules) -> Chain {
        let (applied, _) = watch::channel(ledger.head().height);
        Chain {
            ledger: RwLock::new(ledger),
            mempool: Mutex::new(Mempool::new(mempool)),
            outcomes: Mutex::new(Outcomes::default()),
            applied,
            rules,
        }
    }

    /// The chain rules.
    pub fn rules(&self) -> &ChainRules {
        &self.rules
    }

    /// Read access to the ledger (do not hold across an `.await`).
    pub fn ledger(&self) -> RwLockReadGuard<'_, Ledger> {
        self.ledger.read()
    }

    /// The latest applied block.
    pub fn head(&self) -> Head {
        self.ledger.read().head()
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
        let ledger = self.ledger.read();
        let result = self.mempool.lock().admit(&ledger, tx, now_ms);
        if let Err(AdmitError::Rejected(error)) = &result {
            tracing::debug!(%error, "node.submit_rejected");
        }
        result
    }

    /// Mempool size in transactions and bytes.
    pub fn mempool_size(&self) -> (usize, usize) {
        let pool = self.mempool.lock();
        (pool.len(), pool.bytes())
    }

    /// What this node knows about transaction `id`.
    pub fn status(&self, id: &Hash) -> TxStatus {
        if let Some(status) = self.outcomes.lock().by_id.get(id) {
            return status.clone();
        }
        let pool = self.mempool.lock();
        if pool.contains(id) {
            return TxStatus::Pending;
        }
        match pool.rejection(id) {
            Some(reason) => TxStatus::Rejected {
                reason: reason.to_string(),
            },
            None => TxStatus::Unknown,
        }
    }

    /// Picks the transactions of a block to follow the ordered but not yet applied
    /// `pending` blocks (oldest first), at time `timestamp_ms`.
    pub fn select(
        &self,
        pending: &[Block],
        timestamp_ms: u64,
    ) -> Result<Vec<SignedTransaction>, StoreError> {
        let limits = self.rules.limits;
        let pending_txs: Vec<SignedTransaction> = pending
            .iter()
            .flat_map(|b| b.transactions.iter().cloned())
            .collect();
        let pending_ids: std::collections::HashSet<Hash> =
            pending_txs.iter().map(SignedTransaction::id).collect();
        let candidates: Vec<SignedTransaction> = self
            .mempool
            .lock()
            .candidates(
                limits.max_transactions + pending_txs.len(),
                limits.max_transaction_bytes,
            )
            .into_iter()
            .filter(|tx| !pending_ids.contains(&tx.id()))
            .collect();
        // Every pooled transaction's signature was checked when it entered the pool.
        let ledger = self.ledger.read();
        let (chosen, rejected) = ledger.select_verified_after(
            &pending_txs,
            timestamp_ms,
            candidates,
            limits.max_transactions,
        )?;
        drop(ledger);
        // Refusals against the applied state alone are final; with pending blocks in between
        // a refusal may be an artefact of a pending transaction.
        let mut pool = self.mempool.lock();
        for (id, error) in rejected {
            if pending.is_empty() {
                pool.reject(&id, DropReason::Rejected(error));
            }
        }
        // The candidates fit the byte limit, so the chosen ones (a subset) do too.
        Ok(chosen)
    }

    /// Applies a finalized block: executes it, prunes the mempool, records each transaction's
    /// fate and wakes whoever waits for this height. A block at or below the applied height is
    /// skipped (marshal redelivers after a restart).
    pub fn apply_finalized(&self, block: &Block) -> Result<bool, Box<BlockError>> {
        let mut ledger = self.ledger.write();
        if block.header.height <= ledger.head().height {
            return Ok(false);
        }
        // A failure here (including a failed flush) stops this node: it restarts from its
        // durable state and re-applies the finalized blocks marshal kept.
        let (outcome, rejected) = ledger
            .apply_ordered_block(&block.input())
            .map_err(Box::new)?;
        let height = outcome.height;
        let ledger = RwLockWriteGuard::downgrade(ledger);
        {
            let mut outcomes = self.outcomes.lock();
            for receipt in &outcome.receipts {
                outcomes.record(receipt.tx_id, TxStatus::Included { height });
            }
            for (id, error) in &rejected {
                outcomes.record(
                    *id,
                    TxStatus::Rejected {
                        reason: format!("failed in block {height}: {error}"),
                    },
                );
            }
        }
        if let Err(error) = self
            .mempool
            .lock()
            .on_block_applied(&ledger, &block.transactions)
        {
            tracing::warn!(%error, "node.mempool_prune_failed");
        }
        drop(ledger);
        self.applied.send_replace(height);
        Ok(true)
    }
}
