//! A small blocking client of a validator node's HTTP API: blocks, state at a height,
//! transactions. The oracle calls it from its own threads (the follower, the epoch tasks).

use cairn_ledger::state::records::Account;
use cairn_ledger::StateKey;
use cairn_light::multiproof::MAX_BATCH_KEYS;
use cairn_light::MultiProof;
use cairn_types::signed_request::{fresh_nonce, SignedRequest, HEADER};
use cairn_types::tx::SignedTransaction;
use cairn_types::{Address, Hash, SecretKey};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::sync::Arc;
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
struct BlockAnswer {
    digest: String,
    header: cairn_light::header::HeaderJson,
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
    signer: Option<Arc<Signer>>,
}

/// Who signs the client's requests (`cairn_types::signed_request`): a bonded oracle's key gets
/// the oracles' lane at the node.
struct Signer {
    key: SecretKey,
    chain_id: String,
    /// Whether the node was seen answering a signed request in its public lane (warned once).
    warned: std::sync::atomic::AtomicBool,
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
            signer: None,
        }
    }

    /// The same client, signing every request with `key` (a bonded oracle's) for chain
    /// `chain_id`, so that the node admits it in the oracles' lane (its own rate and slots).
    pub fn signed_by(mut self, key: SecretKey, chain_id: &str) -> NodeClient {
        self.signer = Some(Arc::new(Signer {
            key,
            chain_id: chain_id.to_string(),
            warned: std::sync::atomic::AtomicBool::new(false),
        }));
        self
    }

    /// The signature header of a request (`None` when the client does not sign).
    fn signature(&self, method: &str, path: &str, body: &[u8]) -> Option<String> {
        let signer = self.signer.as_ref()?;
        let signed = SignedRequest::sign(
            &signer.key,
            &signer.chain_id,
            (method, path, body),
            crate::now_ms(),
            fresh_nonce(),
        );
        Some(signed.to_header())
    }

    /// POSTs `body` (JSON) to `path`, signed when the client signs.
    fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (
        String,
        Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) {
        let url = format!("{}{path}", self.base);
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let mut request = self
            .agent
            .post(&url)
            .header("content-type", "application/json");
        if let Some(header) = self.signature("POST", path, &bytes) {
            request = request.header(HEADER, header);
        }
        let response = request.send(&bytes[..]);
        if let Ok(answer) = &response {
            self.note_lane(answer);
        }
        (url, response)
    }

    /// Warns (once) when the node answered a signed request in its public lane: the oracle's
    /// key is not bonded there, or its clock is off, and its reads share the public limits.
    fn note_lane(&self, answer: &ureq::http::Response<ureq::Body>) {
        let Some(signer) = &self.signer else {
            return;
        };
        let lane = answer
            .headers()
            .get("cairn-lane")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if lane.starts_with("public")
            && !signer
                .warned
                .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(
                node = %self.base,
                lane,
                "oracle: the node does not give this oracle's signed requests its lane (not bonded there, or the clocks differ by over 30 s): reads share the public limits"
            );
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
        let mut request = self.agent.get(&url);
        if let Some(header) = self.signature("GET", path, b"") {
            request = request.header(HEADER, header);
        }
        let response = request.call();
        if let Ok(answer) = &response {
            self.note_lane(answer);
        }
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
        // The digest (the beacon entropy) is the header's hash, computed here: a node cannot
        // name another.
        let header = answer
            .header
            .to_header()
            .map_err(|reason| ChainError::Malformed {
                url: url.clone(),
                reason,
            })?;
        let digest = header.digest().0;
        if hex::encode(digest) != answer.digest {
            return Err(ChainError::Disproved {
                url,
                reason: format!("block {height}'s digest is not its header's hash"),
            });
        }
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
        let (_, response) = self.post_json(&format!("/v1/state/batch?height={height}"), &body);
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
        let body = serde_json::json!({ "tx": hex::encode(tx.encode()) });
        let (url, response) = self.post_json("/v1/transactions", &body);
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
