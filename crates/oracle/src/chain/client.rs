//! A small blocking client of a validator node's HTTP API: blocks, state at a height,
//! transactions. The oracle calls it from its own threads (the follower, the epoch tasks).

use cairn_ledger::state::records::Account;
use cairn_ledger::StateKey;
use cairn_types::tx::SignedTransaction;
use cairn_types::{Address, Hash};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::time::Duration;

/// Largest answer read from the node (a full block as JSON), in bytes.
pub const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

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
    /// Its transactions.
    pub transactions: Vec<SignedTransaction>,
}

#[derive(Deserialize)]
struct HeaderAnswer {
    height: u64,
    timestamp_ms: u64,
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
            .http_status_as_error(false)
            .build()
            .new_agent();
        NodeClient {
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
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
        let mut digest = [0u8; 32];
        hex::decode_to_slice(&answer.digest, &mut digest).map_err(|e| ChainError::Malformed {
            url,
            reason: format!("digest: {e}"),
        })?;
        Ok(BlockView {
            height: answer.header.height,
            timestamp_ms: answer.header.timestamp_ms,
            digest: Hash(digest),
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
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_string()
        .map_err(|e| node(e.to_string()))?;
    if !status.is_success() {
        return Err(node(format!("{status}: {}", text.trim())));
    }
    serde_json::from_str(&text).map_err(|e| ChainError::Malformed {
        url: url.to_string(),
        reason: e.to_string(),
    })
}
