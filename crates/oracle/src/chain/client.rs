//! A small blocking client of a validator node's HTTP API: blocks, state at a height,
//! transactions. The oracle calls it from its own threads (the follower, the epoch tasks).

use cairn_ledger::state::records::Account;
use cairn_ledger::StateKey;
use cairn_light::multiproof::MAX_BATCH_KEYS;
use cairn_light::MultiProof;
use cairn_types::tx::SignedTransaction;
use cairn_types::{Address, Hash};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::time::Duration;

/// Longest wait for a node's connection: a node that is down without refusing connections
/// is passed over sooner than a whole request's time.
pub const CONNECT_TIMEOUT_SECS: u64 = 5;

/// Largest answer read from the node (a full block as JSON), in bytes.
pub const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

/// Longest wait a node's `Retry-After` is taken at (a node asking for more is asked again
/// sooner, or another node is).
pub const MAX_RETRY_AFTER_SECS: u64 = 60;

/// Why a call to the node failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The node could not be reached or answered with an error.
    #[error("node {url}: {reason}")]
    Node {
        /// What was asked.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The node's answer is not what the API promises.
    #[error("node answer of {url} is malformed: {reason}")]
    Malformed {
        /// What was asked.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The node is busy or limits this client's rate (429 or 503): ask again after
    /// `retry_after_secs`, or ask another node.
    #[error("node {url} is busy ({status}); retry after {retry_after_secs} s")]
    Busy {
        /// What was asked.
        url: String,
        /// 429 or 503.
        status: u16,
        /// What its `Retry-After` header said (1 when it said nothing readable).
        retry_after_secs: u64,
    },
    /// The node's values do not check against the state root it gave, or it answered another
    /// height or number of values than was asked: it is not to be believed.
    #[error("node answer of {url} does not check: {reason}")]
    Disproved {
        /// What was asked.
        url: String,
        /// What did not check.
        reason: String,
    },
}

impl ChainError {
    /// Seconds to wait before asking this node again, when it said so.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ChainError::Busy {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

/// Values of a state batch, in the keys' order, proven against `state_root` at `height`.
#[derive(Clone, Debug)]
pub struct ProvenValues {
    /// The height read.
    pub height: u64,
    /// The state root the values were checked against.
    pub state_root: Hash,
    /// Each key's value bytes, or `None` when absent.
    pub values: Vec<Option<Vec<u8>>>,
}

#[derive(Deserialize)]
struct BatchAnswer {
    height: u64,
    state_root: Hash,
    values: Vec<Option<String>>,
    proof: String,
}

/// Where the chain is.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct NodeStatus {
    /// The latest applied height.
    pub height: u64,
    /// Its consensus epoch.
    pub epoch: u64,
    /// Its time.
    pub timestamp_ms: u64,
}

/// A finalized block as the oracle needs it.
#[derive(Clone, Debug)]
pub struct BlockView {
    /// Height.
    pub height: u64,
    /// Proposer's time.
    pub timestamp_ms: u64,
    /// The header's digest (the beacon entropy of reports made after it).
    pub digest: Hash,
    /// The finalized height whose state the header attests.
    pub state_height: u64,
    /// The state root after `state_height`.
    pub state_root: Hash,
    /// Its transactions.
    pub transactions: Vec<SignedTransaction>,
}

#[derive(Deserialize)]
struct HeaderAnswer {
    height: u64,
    timestamp_ms: u64,
    state_height: u64,
    state_root: Hash,
}

#[derive(Deserialize)]
struct BlockAnswer {
    digest: String,
    header: HeaderAnswer,
    #[serde(default)]
    transactions: Option<Vec<SignedTransaction>>,
}

#[derive(Deserialize)]
struct RawAnswer {
    value: Option<String>,
}

#[derive(Deserialize)]
struct SubmitAnswer {
    id: Hash,
}

/// The client.
#[derive(Clone)]
pub struct NodeClient {
    base: String,
    agent: ureq::Agent,
}

impl NodeClient {
    /// A client of the node at `base` (`http://host:port`).
    pub fn new(base: &str) -> NodeClient {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .timeout_connect(Some(Duration::from_secs(CONNECT_TIMEOUT_SECS)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        NodeClient {
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
    }

    /// The node's API address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Any JSON answer of the node's API.
    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ChainError> {
        self.get(path)
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ChainError> {
        let url = format!("{}{path}", self.base);
        let response = self.agent.get(&url).call();
        read(&url, response)
    }

    /// Where the chain is.
    pub fn status(&self) -> Result<NodeStatus, ChainError> {
        self.get("/v1/status")
    }

    /// The finalized block at `height`, with its transactions.
    pub fn block(&self, height: u64) -> Result<BlockView, ChainError> {
        let answer: BlockAnswer = self.get(&format!("/v1/blocks/{height}"))?;
        let url = format!("{}/v1/blocks/{height}", self.base);
        if answer.header.height != height || answer.header.state_height > height {
            return Err(ChainError::Disproved {
                url,
                reason: format!(
                    "asked block {height}, answered block {} attesting height {}",
                    answer.header.height, answer.header.state_height
                ),
            });
        }
        let mut digest = [0u8; 32];
        hex::decode_to_slice(&answer.digest, &mut digest).map_err(|e| ChainError::Malformed {
            url,
            reason: format!("digest: {e}"),
        })?;
        Ok(BlockView {
            height: answer.header.height,
            timestamp_ms: answer.header.timestamp_ms,
            digest: Hash(digest),
            state_height: answer.header.state_height,
            state_root: answer.header.state_root,
            transactions: answer.transactions.unwrap_or_default(),
        })
    }

    /// A state value after block `height` (or the latest, with `None`).
    pub fn state<V: borsh::BorshDeserialize>(
        &self,
        key: &StateKey,
        height: Option<u64>,
    ) -> Result<Option<V>, ChainError> {
        let key_hex = hex::encode(key.to_bytes());
        let path = match height {
            Some(h) => format!("/v1/state/{key_hex}?prove=true&height={h}"),
            None => format!("/v1/state/{key_hex}"),
        };
        let answer: RawAnswer = self.get(&path)?;
        let url = format!("{}{path}", self.base);
        let Some(value) = answer.value else {
            return Ok(None);
        };
        let bytes = hex::decode(&value).map_err(|e| ChainError::Malformed {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        cairn_types::codec::decode(&bytes, MAX_ANSWER_BYTES as usize)
            .map(Some)
            .map_err(|e| ChainError::Malformed {
                url,
                reason: e.to_string(),
            })
    }

    /// The values of up to [`MAX_BATCH_KEYS`] state keys after block `height`, checked against
    /// one multi-proof and the state root the node gives for that height. A node whose values
    /// do not check is refused ([`ChainError::Disproved`]), never believed.
    pub fn state_batch(&self, keys: &[Vec<u8>], height: u64) -> Result<ProvenValues, ChainError> {
        let url = format!("{}/v1/state/batch?height={height}", self.base);
        let disproved = |reason: String| ChainError::Disproved {
            url: url.clone(),
            reason,
        };
        if keys.is_empty() || keys.len() > MAX_BATCH_KEYS {
            return Err(disproved(format!(
                "a batch holds 1 to {MAX_BATCH_KEYS} keys"
            )));
        }
        let body = serde_json::json!({ "keys": keys.iter().map(hex::encode).collect::<Vec<_>>() });
        let response = self.agent.post(&url).send_json(&body);
        let answer: BatchAnswer = read(&url, response)?;
        if answer.height != height || answer.values.len() != keys.len() {
            return Err(disproved(format!(
                "asked {} keys at height {height}, answered {} at {}",
                keys.len(),
                answer.values.len(),
                answer.height
            )));
        }
        let mut values = Vec::with_capacity(keys.len());
        for value in &answer.values {
            let bytes = value
                .as_deref()
                .map(hex::decode)
                .transpose()
                .map_err(|e| disproved(format!("a value is not hex: {e}")))?;
            values.push(bytes);
        }
        let proof_bytes = hex::decode(&answer.proof)
            .map_err(|e| disproved(format!("the proof is not hex: {e}")))?;
        let proof = MultiProof::decode(&proof_bytes, MAX_ANSWER_BYTES as usize)
            .map_err(|e| disproved(e.to_string()))?;
        let entries: Vec<(&[u8], Option<&[u8]>)> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
            .collect();
        proof
            .verify(&answer.state_root, &entries)
            .map_err(|e| disproved(e.to_string()))?;
        Ok(ProvenValues {
            height,
            state_root: answer.state_root,
            values,
        })
    }

    /// An account (nonce and balance) now.
    pub fn account(&self, address: &Address) -> Result<Account, ChainError> {
        self.get(&format!("/v1/accounts/{address}"))
    }

    /// Submits a signed transaction; returns its id once the node admitted it.
    pub fn submit(&self, tx: &SignedTransaction) -> Result<Hash, ChainError> {
        let url = format!("{}/v1/transactions", self.base);
        let body = serde_json::json!({ "tx": hex::encode(tx.encode()) });
        let response = self.agent.post(&url).send_json(&body);
        let answer: SubmitAnswer = read(&url, response)?;
        Ok(answer.id)
    }
}

/// Longest part of a node's error answer kept in an error (it is logged and shown).
const MAX_ERROR_TEXT_CHARS: usize = 300;

/// `text` cut to [`MAX_ERROR_TEXT_CHARS`] characters.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_TEXT_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

fn read<T: DeserializeOwned>(
    url: &str,
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<T, ChainError> {
    let node = |reason: String| ChainError::Node {
        url: url.to_string(),
        reason,
    };
    let mut response = response.map_err(|e| node(e.to_string()))?;
    let status = response.status();
    if status.as_u16() == 429 || status.as_u16() == 503 {
        let retry_after_secs = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(1)
            .clamp(1, MAX_RETRY_AFTER_SECS);
        return Err(ChainError::Busy {
            url: url.to_string(),
            status: status.as_u16(),
            retry_after_secs,
        });
    }
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_string()
        .map_err(|e| node(e.to_string()))?;
    if !status.is_success() {
        return Err(node(format!("{status}: {}", shortened(text.trim()))));
    }
    serde_json::from_str(&text).map_err(|e| ChainError::Malformed {
        url: url.to_string(),
        reason: e.to_string(),
    })
}
