//! The mempool: signed transactions waiting for a block.
//!
//! - **Bounded** in transactions, bytes and transactions per sender; a full pool refuses with
//!   [`AdmitError::Full`] (it never evicts a paying transaction silently).
//! - **Checked on entry** against the latest state: signature, chain, fee, nonce, balance and
//!   the action itself, by executing the sender's pooled transactions and the new one in nonce
//!   order ([`Ledger::select_verified_after`]), so whatever is pooled would execute now.
//! - **Nonces are contiguous** per sender, starting at the account's next nonce: a gap is refused
//!   ([`AdmitError::NonceGap`]); the same nonce replaces a pooled transaction only for a
//!   strictly higher fee.
//! - **Ordered** for a block by fee, highest first, each sender's transactions in nonce order
//!   (ties by arrival).
//! - **Pruned** when a block is applied: transactions the block charged (executed or failed)
//!   and any whose nonce is now used leave. A transaction the block *skipped* stays: a leader
//!   that puts a sender's nonce n+1 before n cannot make the pools drop n+1.
//! - **Struck** when a proposal's dry run cannot charge a transaction: against the applied
//!   state alone that is final and it leaves at once; after pending blocks it may be an artefact
//!   of them, so it leaves after [`MAX_STRIKES`] such proposals in a row (a proposal that can
//!   charge it clears its strikes, and one in a pending block is never struck). Transactions
//!   older than
//!   `ttl_blocks` expire with the sender's later ones.
//! - Remembers why recent transactions left without being included
//!   ([`Mempool::rejection`], a [`DropReason`]), so a client asking for its transaction's
//!   status gets a reason.

use cairn_ledger::error::{StoreError, TxError};
use cairn_ledger::state::keys::StateKey;
use cairn_ledger::state::records::Account;
use cairn_ledger::Ledger;
use cairn_types::tx::SignedTransaction;
use cairn_types::{Address, Amount, Hash};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

/// Proposals after pending blocks that may fail to charge a pooled transaction before it
/// leaves the pool.
pub const MAX_STRIKES: u8 = 3;

/// Limits of the pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Most transactions held.
    pub max_transactions: usize,
    /// Most encoded bytes held.
    pub max_bytes: usize,
    /// Most transactions held for one sender (so also the furthest nonce ahead).
    pub max_per_sender: usize,
    /// Blocks after which a pooled transaction expires.
    pub ttl_blocks: u64,
    /// How many recent rejections are remembered for status queries.
    pub remembered_rejections: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_transactions: 50_000,
            max_bytes: 64 * 1024 * 1024,
            max_per_sender: 64,
            ttl_blocks: 600,
            remembered_rejections: 10_000,
        }
    }
}

/// Why a pooled transaction left the pool without being included.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    /// It no longer executes (found while building a block).
    #[error("rejected: {0}")]
    Rejected(TxError),
    /// Another transaction of the sender with the same nonce was included.
    #[error("nonce {nonce} was used by another transaction")]
    NonceUsed {
        /// The nonce.
        nonce: u64,
    },
    /// An earlier transaction of the same sender left the pool, so this one cannot execute.
    #[error("the sender's transaction with nonce {nonce} left the pool first")]
    PredecessorDropped {
        /// The earlier transaction's nonce.
        nonce: u64,
    },
    /// It waited longer than the pool's time to live.
    #[error("expired: pooled at height {admitted_at}, now {height}")]
    Expired {
        /// Height when it was pooled.
        admitted_at: u64,
        /// Height when it expired.
        height: u64,
    },
}

/// Why a transaction was not admitted. Nothing changed in the pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// The pool holds as much as it may.
    #[error("mempool full: {transactions} transactions, {bytes} bytes pooled")]
    Full {
        /// Transactions pooled.
        transactions: usize,
        /// Bytes pooled.
        bytes: usize,
    },
    /// The sender already has as many pooled transactions as allowed.
    #[error("sender has {max} pooled transactions, the most allowed")]
    SenderFull {
        /// The limit.
        max: usize,
    },
    /// The same transaction is already pooled.
    #[error("transaction {0} is already pooled")]
    Duplicate(Hash),
    /// The nonce leaves a gap after the sender's pooled transactions.
    #[error("nonce {got} leaves a gap: the sender's next nonce is {next}")]
    NonceGap {
        /// The next nonce the pool accepts for this sender.
        next: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// A pooled transaction with the same nonce pays at least as much.
    #[error("nonce {nonce} is taken by a pooled transaction paying {pooled_fee}; pay more to replace it")]
    ReplacementUnderpriced {
        /// The nonce.
        nonce: u64,
        /// The pooled transaction's fee.
        pooled_fee: Amount,
    },
    /// The transaction would not execute against the latest state.
    #[error("rejected: {0}")]
    Rejected(TxError),
    /// The state could not be read.
    #[error("state unavailable: {0}")]
    Store(String),
}

impl From<StoreError> for AdmitError {
    fn from(e: StoreError) -> Self {
        AdmitError::Store(e.to_string())
    }
}

struct Entry {
    tx: SignedTransaction,
    bytes: usize,
    /// Block height at admission (for expiry).
    admitted_at: u64,
    /// Admission order, to break fee ties first-come first-served.
    arrival: u64,
    /// Proposals that could not charge it (see [`Mempool::strike`]).
    strikes: u8,
}

/// The pool. Owned by one task; see the module documentation.
pub struct Mempool {
    config: MempoolConfig,
    entries: HashMap<Hash, Entry>,
    /// Per sender: nonce -> transaction id, contiguous from the account's next nonce.
    senders: HashMap<Address, BTreeMap<u64, Hash>>,
    bytes: usize,
    arrivals: u64,
    rejections: HashMap<Hash, DropReason>,
    rejection_order: VecDeque<Hash>,
}

impl Mempool {
    /// An empty pool.
    pub fn new(config: MempoolConfig) -> Mempool {
        Mempool {
            config,
            entries: HashMap::new(),
            senders: HashMap::new(),
            bytes: 0,
            arrivals: 0,
            rejections: HashMap::new(),
            rejection_order: VecDeque::new(),
        }
    }

    /// Transactions pooled.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Encoded bytes pooled.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether transaction `id` is pooled.
    pub fn contains(&self, id: &Hash) -> bool {
        self.entries.contains_key(id)
    }

    /// Why transaction `id` recently left the pool without being included, if it did.
    pub fn rejection(&self, id: &Hash) -> Option<&DropReason> {
        self.rejections.get(id)
    }

    /// The nonce `sender`'s next transaction needs, given its next nonce on chain: after its
    /// pooled ones.
    pub fn next_nonce(&self, sender: &Address, account_nonce: u64) -> u64 {
        let pooled = self.senders.get(sender).map_or(0, BTreeMap::len) as u64;
        account_nonce.saturating_add(pooled)
    }

    /// Checks `tx` against the latest state of `ledger` and pools it; returns its id.
    /// `timestamp_ms` is the time the next block is expected to carry.
    pub fn admit(
        &mut self,
        ledger: &Ledger,
        tx: SignedTransaction,
        timestamp_ms: u64,
    ) -> Result<Hash, AdmitError> {
        // The signature first: junk is refused before it costs a state read.
        if !signature_verifies(&tx) {
            return Err(AdmitError::Rejected(TxError::BadSignature));
        }
        self.admit_verified(ledger, tx, timestamp_ms)
    }

    /// [`Mempool::admit`] for a transaction whose signature the caller has checked
    /// ([`signature_verifies`]).
    pub fn admit_verified(
        &mut self,
        ledger: &Ledger,
        tx: SignedTransaction,
        timestamp_ms: u64,
    ) -> Result<Hash, AdmitError> {
        let earlier = self.precheck(ledger, &tx)?;
        check_executes(ledger, &tx, earlier, timestamp_ms)?;
        self.admit_checked(ledger, tx)
    }

    /// The cheap checks of admission (not a duplicate, room in the pool for it) and the
    /// sender's pooled transactions before it, for [`check_executes`], which a caller may run
    /// without holding the pool, then [`Mempool::admit_checked`].
    pub fn precheck(
        &self,
        ledger: &Ledger,
        tx: &SignedTransaction,
    ) -> Result<Vec<SignedTransaction>, AdmitError> {
        let id = tx.id();
        if self.entries.contains_key(&id) {
            return Err(AdmitError::Duplicate(id));
        }
        let account: Account = ledger
            .get(&StateKey::Account(tx.tx.sender))?
            .unwrap_or_default();
        self.check_room(tx, account.nonce, tx.encode().len())?;
        Ok(self
            .senders
            .get(&tx.tx.sender)
            .into_iter()
            .flat_map(|p| p.range(..tx.tx.nonce))
            .filter_map(|(_, id)| self.entries.get(id))
            .map(|e| e.tx.clone())
            .collect())
    }

    /// Pools `tx`, whose execution [`check_executes`] checked, after the cheap checks again (the
    /// pool may have changed meanwhile).
    pub fn admit_checked(
        &mut self,
        ledger: &Ledger,
        tx: SignedTransaction,
    ) -> Result<Hash, AdmitError> {
        let id = tx.id();
        if self.entries.contains_key(&id) {
            return Err(AdmitError::Duplicate(id));
        }
        let bytes = tx.encode().len();
        let account: Account = ledger
            .get(&StateKey::Account(tx.tx.sender))?
            .unwrap_or_default();
        let replaced = self.check_room(&tx, account.nonce, bytes)?;
        if let Some(old) = replaced {
            self.remove(&old);
        }
        self.insert(tx, id, bytes, ledger.head().height);
        Ok(id)
    }

    /// Whether `tx` (`bytes` long, from a sender whose next nonce on chain is `account_nonce`)
    /// fits: its nonce follows the sender's pooled ones or replaces one for a higher fee, and
    /// neither the sender's share nor the pool is full. Returns the pooled transaction it
    /// replaces, if any.
    fn check_room(
        &self,
        tx: &SignedTransaction,
        account_nonce: u64,
        bytes: usize,
    ) -> Result<Option<Hash>, AdmitError> {
        let pooled = self.senders.get(&tx.tx.sender);
        let pooled_count = pooled.map_or(0, BTreeMap::len) as u64;
        let next = account_nonce.saturating_add(pooled_count);
        let nonce = tx.tx.nonce;
        if nonce < account_nonce {
            return Err(AdmitError::Rejected(TxError::NonceMismatch {
                expected: account_nonce,
                got: nonce,
            }));
        }
        if nonce > next {
            return Err(AdmitError::NonceGap { next, got: nonce });
        }
        let replaced = pooled.and_then(|p| p.get(&nonce)).copied();
        match replaced.and_then(|old| self.entries.get(&old)) {
            Some(old) if old.tx.tx.fee >= tx.tx.fee => {
                return Err(AdmitError::ReplacementUnderpriced {
                    nonce,
                    pooled_fee: old.tx.tx.fee,
                });
            }
            Some(_) => {}
            None => {
                if pooled_count as usize >= self.config.max_per_sender {
                    return Err(AdmitError::SenderFull {
                        max: self.config.max_per_sender,
                    });
                }
            }
        }
        let freed = replaced
            .and_then(|old| self.entries.get(&old))
            .map_or(0, |e| e.bytes);
        let count_after = self.entries.len() + usize::from(replaced.is_none());
        if count_after > self.config.max_transactions
            || self.bytes - freed + bytes > self.config.max_bytes
        {
            return Err(AdmitError::Full {
                transactions: self.entries.len(),
                bytes: self.bytes,
            });
        }
        Ok(replaced)
    }

    /// Pools an admitted transaction.
    fn insert(&mut self, tx: SignedTransaction, id: Hash, bytes: usize, height: u64) {
        self.arrivals += 1;
        self.bytes += bytes;
        self.senders
            .entry(tx.tx.sender)
            .or_default()
            .insert(tx.tx.nonce, id);
        self.entries.insert(
            id,
            Entry {
                tx,
                bytes,
                admitted_at: height,
                arrival: self.arrivals,
                strikes: 0,
            },
        );
    }

    /// Candidates for the next block: by fee, highest first, each sender's in nonce order, up to
    /// `max_transactions` and `max_bytes`. The proposer still filters them through
    /// [`Ledger::select_verified_after`].
    pub fn candidates(&self, max_transactions: usize, max_bytes: usize) -> Vec<SignedTransaction> {
        #[derive(PartialEq, Eq)]
        struct Head {
            fee: Amount,
            arrival: Reverse<u64>,
            sender: Address,
            nonce: u64,
        }
        impl Ord for Head {
            fn cmp(&self, other: &Self) -> Ordering {
                (self.fee, self.arrival).cmp(&(other.fee, other.arrival))
            }
        }
        impl PartialOrd for Head {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
        let head_of = |sender: Address, nonce: u64| -> Option<Head> {
            let id = self.senders.get(&sender)?.get(&nonce)?;
            let entry = self.entries.get(id)?;
            Some(Head {
                fee: entry.tx.tx.fee,
                arrival: Reverse(entry.arrival),
                sender,
                nonce,
            })
        };
        let mut heap: BinaryHeap<Head> = self
            .senders
            .iter()
            .filter_map(|(sender, txs)| {
                let (nonce, _) = txs.first_key_value()?;
                head_of(*sender, *nonce)
            })
            .collect();
        let mut chosen = Vec::new();
        let mut bytes = 0;
        while let Some(head) = heap.pop() {
            if chosen.len() >= max_transactions {
                break;
            }
            let Some(entry) = self
                .senders
                .get(&head.sender)
                .and_then(|txs| txs.get(&head.nonce))
                .and_then(|id| self.entries.get(id))
            else {
                continue;
            };
            if bytes + entry.bytes > max_bytes {
                // This sender's later transactions cannot go before this one: skip the sender.
                continue;
            }
            bytes += entry.bytes;
            chosen.push(entry.tx.clone());
            if let Some(next) = head
                .nonce
                .checked_add(1)
                .and_then(|n| head_of(head.sender, n))
            {
                heap.push(next);
            }
        }
        chosen
    }

    /// Drops transaction `id` and the sender's later ones (which can no longer execute),
    /// remembering `error` as the reason.
    pub fn reject(&mut self, id: &Hash, reason: DropReason) {
        let Some(entry) = self.entries.get(id) else {
            return;
        };
        let sender = entry.tx.tx.sender;
        let nonce = entry.tx.tx.nonce;
        let later: Vec<Hash> = self
            .senders
            .get(&sender)
            .map(|txs| txs.range(nonce..).map(|(_, id)| *id).collect())
            .unwrap_or_default();
        for dropped in later {
            self.remove(&dropped);
            let why = if dropped == *id {
                reason.clone()
            } else {
                DropReason::PredecessorDropped { nonce }
            };
            self.remember(dropped, why);
        }
    }

    /// Clears the strikes of a transaction a proposal could charge: only refusals in a row
    /// count.
    pub fn forgive(&mut self, id: &Hash) {
        if let Some(entry) = self.entries.get_mut(id) {
            entry.strikes = 0;
        }
    }

    /// Counts a proposal after pending blocks that could not charge transaction `id`; at
    /// [`MAX_STRIKES`] it leaves the pool (with the sender's later ones) for `error`.
    pub fn strike(&mut self, id: &Hash, error: TxError) {
        let Some(entry) = self.entries.get_mut(id) else {
            return;
        };
        entry.strikes = entry.strikes.saturating_add(1);
        if entry.strikes >= MAX_STRIKES {
            self.reject(id, DropReason::Rejected(error));
        }
    }

    /// Prunes after block `ledger.head()` was applied: the transactions it `charged` (their
    /// ids and senders) leave the pool, as does any transaction whose nonce is now used;
    /// transactions older than the TTL expire. Transactions the block skipped stay.
    pub fn on_block_applied(
        &mut self,
        ledger: &Ledger,
        charged: &[(Hash, Address)],
    ) -> Result<(), AdmitError> {
        let height = ledger.head().height;
        let mut touched: Vec<Address> = charged.iter().map(|(_, sender)| *sender).collect();
        touched.sort();
        touched.dedup();
        for (id, _) in charged {
            self.remove(id);
        }
        for sender in touched {
            let account: Account = ledger.get(&StateKey::Account(sender))?.unwrap_or_default();
            let used: Vec<(u64, Hash)> = self
                .senders
                .get(&sender)
                .map(|txs| {
                    txs.range(..account.nonce)
                        .map(|(n, id)| (*n, *id))
                        .collect()
                })
                .unwrap_or_default();
            for (nonce, id) in used {
                self.remove(&id);
                self.remember(id, DropReason::NonceUsed { nonce });
            }
        }
        let ttl = self.config.ttl_blocks;
        let expired: Vec<(Hash, u64)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.admitted_at.saturating_add(ttl) < height)
            .map(|(id, e)| (*id, e.admitted_at))
            .collect();
        for (id, admitted_at) in expired {
            self.reject(
                &id,
                DropReason::Expired {
                    admitted_at,
                    height,
                },
            );
        }
        Ok(())
    }

    fn remove(&mut self, id: &Hash) {
        let Some(entry) = self.entries.remove(id) else {
            return;
        };
        self.bytes -= entry.bytes;
        let sender = entry.tx.tx.sender;
        if let Some(txs) = self.senders.get_mut(&sender) {
            txs.remove(&entry.tx.tx.nonce);
            if txs.is_empty() {
                self.senders.remove(&sender);
            }
        }
    }

    fn remember(&mut self, id: Hash, reason: DropReason) {
        if self.rejections.insert(id, reason).is_none() {
            self.rejection_order.push_back(id);
        }
        while self.rejection_order.len() > self.config.remembered_rejections {
            if let Some(old) = self.rejection_order.pop_front() {
                self.rejections.remove(&old);
            }
        }
    }
}

/// Executes `earlier` (the sender's pooled transactions before `tx`, from
/// [`Mempool::precheck`]), then `tx`, on the latest state (every signature was checked on
/// entry): `tx` must execute.
pub fn check_executes(
    ledger: &Ledger,
    tx: &SignedTransaction,
    earlier: Vec<SignedTransaction>,
    timestamp_ms: u64,
) -> Result<(), AdmitError> {
    let id = tx.id();
    let count = earlier.len() + 1;
    let mut candidates = earlier;
    candidates.push(tx.clone());
    let selection = ledger.select_verified_after(&[], (timestamp_ms, None), candidates, count)?;
    let refusal = selection
        .skipped
        .into_iter()
        .chain(selection.failing)
        .find(|(refused, _)| *refused == id);
    match refusal {
        Some((_, error)) => Err(AdmitError::Rejected(error)),
        None => Ok(()),
    }
}

/// Whether the sender's signature over the transaction verifies.
pub fn signature_verifies(tx: &SignedTransaction) -> bool {
    tx.tx
        .sender
        .0
        .verify(&tx.tx.signing_digest(), &tx.signature)
        .is_ok()
}
