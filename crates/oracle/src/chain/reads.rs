//! Reading an epoch's state from the chain in bulk, proven, and kept.
//!
//! Everything the rewarder reads of the chain for a reward epoch (its parameters and pools, the
//! stakes its denylist is weighed by, device records, stations' location entries, payers'
//! credits) is read at one height, the state a finalized header attests just after the epoch's
//! closing block ([`attested_state`]), which every oracle and auditor reads alike. [`StateReads`] reads those keys [`MAX_BATCH_KEYS`] at a time
//! with `POST /v1/state/batch`, checks each batch's multi-proof against the state root the node
//! gives (a node whose answer does not check, or that is busy or down, is passed over for the
//! next one configured), and remembers every value, in memory for the computation and (for an oracle) in its
//! index, so that a computation that stopped half-way (a busy node, a refused proof) goes on
//! from what it had read and never asks for everything again at once.
//!
//! ```text
//!  keys ─▶ known in memory? ─▶ kept in the index? ─▶ batches of 1,024 ─▶ nodes in turn ─▶ proof checked
//!                                                     │ does not check: that node is passed over
//!                                                     │ 429/503 from all: wait Retry-After (≤ 5 s), 3 rounds
//!                                                     └ still failing: the read fails; what was read stays kept
//! ```

use super::client::{ChainError, NodeClient};
use crate::index::{Index, IndexError};
use cairn_ledger::StateKey;
use cairn_light::multiproof::MAX_BATCH_KEYS;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Tries of one batch before the read fails (the epoch is computed again later, from what was
/// kept).
pub const BATCH_TRIES: u32 = 3;
/// Longest wait between two tries of a batch, in seconds: a node asking for more is asked
/// again at the next computation instead of holding the worker.
pub const MAX_WAIT_BETWEEN_TRIES_SECS: u64 = 5;
/// Largest state value decoded, in bytes.
const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The node failed, was busy, or answered what does not check.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The oracle's own index failed: a fault of this oracle's disk.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A proven value does not decode as its key's record.
    #[error("the value of state key {key} does not decode: {reason}")]
    Decode {
        /// The key (hex).
        key: String,
        /// Why.
        reason: String,
    },
}

impl ReadError {
    /// True when the oracle itself is at fault (its disk), not the node: retrying cannot help.
    pub fn is_fatal(&self) -> bool {
        matches!(self, ReadError::Index(_))
    }

    /// Seconds the node asked to wait before asking again, if it said.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ReadError::Chain(error) => error.retry_after_secs(),
            _ => None,
        }
    }
}

/// What reads have cost so far (shown by the oracle's status and metrics).
#[derive(Debug, Default)]
pub struct ReadCounters {
    /// State keys read from nodes (not from what was kept).
    pub keys_read: AtomicU64,
    /// State keys found kept in the index.
    pub keys_kept: AtomicU64,
    /// Batches asked of nodes.
    pub batches: AtomicU64,
    /// Tries of a batch after a failure.
    pub retries: AtomicU64,
    /// 429 and 503 answers met.
    pub busy_answers: AtomicU64,
    /// Bytes of proven values read from nodes.
    pub bytes_read: AtomicU64,
    /// Keys the read under way still has to ask nodes for (0 when none is under way).
    pub keys_left: AtomicU64,
    /// The node that answered the last batch.
    pub last_node: Mutex<String>,
}

/// A node's address as the public status shows it: scheme, host and port only (never a path,
/// a query or credentials a configured URL may hold).
fn shown_node(base: &str) -> String {
    match url::Url::parse(base) {
        Ok(url) => format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or("?"),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "?".into(),
    }
}

/// The state an epoch's inputs are read at, and the block that vouches for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttestedState {
    /// The height read: the state after this block.
    pub height: u64,
    /// Its root, as the block's header attests it.
    pub root: cairn_types::Hash,
    /// The finalized block whose header attests it.
    pub block: u64,
}

/// Most blocks after an epoch's end looked at for the one attesting its last state.
pub const MAX_ATTEST_SEARCH_BLOCKS: u64 = 64;

/// The state a reward epoch closed by block `end_height` (the first block of the next one) is
/// read at: the one attested by the first finalized block from `end_height` on whose header
/// attests the closing block or later (usually the closing block itself, attested by the block
/// after it). The closing block sets the epoch's pools, so they are in that state, with the
/// parameters, stakes, devices, histories and credits. Every oracle and auditor follows the
/// same chain, so all read the same state, and each batch's proof is checked against the root
/// that header attests. `header(h)` gives block `h`'s attested state (height, root), or `None`
/// while it is not final yet; so does this, then. No such block within
/// [`MAX_ATTEST_SEARCH_BLOCKS`] of the epoch's end is an error (the chain's state lags far
/// behind its blocks), never a wait without end.
pub fn attested_state<E: From<String>>(
    end_height: u64,
    header: impl Fn(u64) -> Result<Option<(u64, cairn_types::Hash)>, E>,
) -> Result<Option<AttestedState>, E> {
    for block in end_height..end_height.saturating_add(MAX_ATTEST_SEARCH_BLOCKS) {
        match header(block)? {
            None => return Ok(None),
            Some((height, root)) if height >= end_height => {
                return Ok(Some(AttestedState {
                    height,
                    root,
                    block,
                }))
            }
            Some(_) => {}
        }
    }
    Err(format!(
        "no block of the {MAX_ATTEST_SEARCH_BLOCKS} from height {end_height} attests the state \
         of height {end_height} or later"
    )
    .into())
}

/// Values of state keys at one height (see the module doc).
pub struct StateReads<'a> {
    clients: &'a [NodeClient],
    height: u64,
    root: Option<cairn_types::Hash>,
    kept: Option<(&'a Index, u64)>,
    known: Mutex<HashMap<Vec<u8>, Option<Vec<u8>>>>,
    counters: Option<&'a ReadCounters>,
    /// Nodes not asked again in this read: their answer did not check.
    passed_over: Mutex<Vec<bool>>,
    /// A fault of the oracle's own index met by a read (the oracle must stop).
    own_fault: Mutex<Option<String>>,
}

impl<'a> StateReads<'a> {
    /// Reads through `clients` (the first asked first; a batch one refuses, is busy with, or
    /// answers with a proof that does not check is asked of the next) after block `height`,
    /// remembering values in memory only.
    pub fn new(clients: &'a [NodeClient], height: u64) -> StateReads<'a> {
        StateReads {
            clients,
            height,
            root: None,
            kept: None,
            known: Mutex::new(HashMap::new()),
            counters: None,
            passed_over: Mutex::new(vec![false; clients.len()]),
            own_fault: Mutex::new(None),
        }
    }

    /// A fault of the oracle's own index that a read met, if any: whoever turned the read's
    /// error into a string must still stop the oracle.
    pub fn own_fault(&self) -> Option<String> {
        lock(&self.own_fault).clone()
    }

    /// Also keeps what is read in `index`, under reward epoch `epoch`, and reads it back from
    /// there first.
    pub fn kept_in(mut self, index: &'a Index, epoch: u64) -> StateReads<'a> {
        self.kept = Some((index, epoch));
        self
    }

    /// Reads `attested` (its height), and believes only batches proven against its root.
    pub fn attested(clients: &'a [NodeClient], attested: AttestedState) -> StateReads<'a> {
        let mut reads = StateReads::new(clients, attested.height);
        reads.root = Some(attested.root);
        reads
    }

    /// Counts what the reads cost in `counters`.
    pub fn counted_in(mut self, counters: &'a ReadCounters) -> StateReads<'a> {
        self.counters = Some(counters);
        self
    }

    /// The height read.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The values of `keys`, decoded as `V` (`None`: absent), in their order.
    pub fn read<V: borsh::BorshDeserialize>(
        &self,
        keys: &[StateKey],
    ) -> Result<Vec<Option<V>>, ReadError> {
        let bytes: Vec<Vec<u8>> = keys.iter().map(StateKey::to_bytes).collect();
        let values = self.raw(&bytes)?;
        bytes
            .iter()
            .zip(values)
            .map(|(key, value)| {
                value
                    .map(|v| cairn_types::codec::decode(&v, MAX_VALUE_BYTES))
                    .transpose()
                    .map_err(|e| ReadError::Decode {
                        key: hex::encode(key),
                        reason: e.to_string(),
                    })
            })
            .collect()
    }

    /// The value of one key.
    pub fn get<V: borsh::BorshDeserialize>(&self, key: &StateKey) -> Result<Option<V>, ReadError> {
        Ok(self.read(std::slice::from_ref(key))?.pop().flatten())
    }

    /// The raw values of `keys` (`None`: absent), in their order.
    pub fn raw(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, ReadError> {
        let result = self.raw_of(keys);
        if let Err(error) = &result {
            if error.is_fatal() {
                *lock(&self.own_fault) = Some(error.to_string());
            }
        }
        result
    }

    fn raw_of(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, ReadError> {
        let missing: Vec<Vec<u8>> = {
            let known = self.lock();
            let unique: BTreeSet<&Vec<u8>> =
                keys.iter().filter(|k| !known.contains_key(*k)).collect();
            unique.into_iter().cloned().collect()
        };
        let missing = self.take_kept(missing)?;
        self.set_left(missing.len() as u64);
        for chunk in missing.chunks(MAX_BATCH_KEYS) {
            let values = self.fetch(chunk);
            if values.is_err() {
                self.set_left(0);
            }
            let values = values?;
            if let Some(counters) = self.counters {
                counters
                    .keys_left
                    .fetch_sub(chunk.len() as u64, Ordering::Relaxed);
            }
            let read: Vec<(Vec<u8>, Option<Vec<u8>>)> = chunk.iter().cloned().zip(values).collect();
            if let Some((index, epoch)) = self.kept {
                index.keep_reads(epoch, self.height, &read)?;
            }
            self.lock().extend(read);
        }
        let known = self.lock();
        keys.iter()
            .map(|k| {
                // Every key was read above or the read failed: a key still unknown here is a
                // bug, never "absent".
                known.get(k).cloned().ok_or_else(|| ReadError::Decode {
                    key: hex::encode(k),
                    reason: "not read".into(),
                })
            })
            .collect()
    }

    /// Records how many keys the read under way still has to ask for.
    fn set_left(&self, left: u64) {
        if let Some(counters) = self.counters {
            counters.keys_left.store(left, Ordering::Relaxed);
        }
    }

    /// Moves the keys kept in the index into memory; returns those still to read.
    fn take_kept(&self, missing: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, ReadError> {
        let Some((index, epoch)) = self.kept else {
            return Ok(missing);
        };
        if missing.is_empty() {
            return Ok(missing);
        }
        let kept = index.kept_reads(epoch, self.height, &missing)?;
        let mut known = self.lock();
        let mut still = Vec::new();
        for (key, value) in missing.into_iter().zip(kept) {
            match value {
                Some(value) => {
                    self.count(|c| &c.keys_kept, 1);
                    known.insert(key, value);
                }
                None => still.push(key),
            }
        }
        Ok(still)
    }

    /// One batch, asked of each node in turn, in up to [`BATCH_TRIES`] rounds. A node whose
    /// answer does not check (or does not parse) is not asked again for this batch; a busy one
    /// is asked again after its `Retry-After`.
    fn fetch(&self, chunk: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, ReadError> {
        let mut last = None;
        for round in 1..=BATCH_TRIES {
            let mut wait_secs = u64::MAX;
            for (at, client) in self.clients.iter().enumerate() {
                if lock(&self.passed_over)[at] {
                    continue;
                }
                self.count(|c| &c.batches, 1);
                let answer = client
                    .state_batch(chunk, self.height)
                    .and_then(|proven| self.believe(client, proven));
                let error = match answer {
                    Ok(proven) => {
                        self.count(|c| &c.keys_read, chunk.len() as u64);
                        let bytes = proven.values.iter().flatten().map(Vec::len).sum::<usize>();
                        self.count(|c| &c.bytes_read, bytes as u64);
                        if let Some(counters) = self.counters {
                            *lock(&counters.last_node) = shown_node(client.base());
                        }
                        return Ok(proven.values);
                    }
                    Err(error) => error,
                };
                let wait = match &error {
                    ChainError::Busy {
                        retry_after_secs, ..
                    } => {
                        self.count(|c| &c.busy_answers, 1);
                        *retry_after_secs
                    }
                    ChainError::Node { .. } => 1u64 << round.min(3),
                    ChainError::Malformed { .. } | ChainError::Disproved { .. } => {
                        tracing::warn!(%error, "oracle.reads: a node's answer does not check");
                        lock(&self.passed_over)[at] = true;
                        u64::MAX
                    }
                };
                wait_secs = wait_secs.min(wait);
                last = Some(error);
            }
            if round == BATCH_TRIES || wait_secs > MAX_WAIT_BETWEEN_TRIES_SECS {
                break;
            }
            self.count(|c| &c.retries, 1);
            tracing::info!(wait_secs, "oracle.reads: batch asked again");
            std::thread::sleep(Duration::from_secs(wait_secs));
        }
        Err(last
            .unwrap_or_else(|| ChainError::Node {
                url: String::new(),
                reason: "no node to ask".into(),
            })
            .into())
    }

    /// A batch's answer, if it is proven against the attested root (when there is one) and
    /// holds no value larger than any record.
    fn believe(
        &self,
        client: &NodeClient,
        proven: super::client::ProvenValues,
    ) -> Result<super::client::ProvenValues, ChainError> {
        let disproved = |reason: String| ChainError::Disproved {
            url: client.base().to_string(),
            reason,
        };
        if let Some(root) = self.root.filter(|root| *root != proven.state_root) {
            return Err(disproved(format!(
                "its state root at height {} is {}, not {root}, which the finalized header attests",
                self.height, proven.state_root
            )));
        }
        if proven
            .values
            .iter()
            .flatten()
            .any(|v| v.len() > MAX_VALUE_BYTES)
        {
            return Err(disproved(format!(
                "a value is over {MAX_VALUE_BYTES} bytes"
            )));
        }
        Ok(proven)
    }

    fn count(&self, which: impl Fn(&ReadCounters) -> &AtomicU64, n: u64) {
        if let Some(counters) = self.counters {
            which(counters).fetch_add(n, Ordering::Relaxed);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Option<Vec<u8>>>> {
        lock(&self.known)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
