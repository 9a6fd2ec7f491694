//! `GET /v1/blocks/{height}`: a finalized block with its finalization certificate (when
//! consensus made one for this block; an ancestor finalized through a descendant has none).

use super::{certificate_hex, ApiError, RpcState};
use crate::block::{Block, Header};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use cairn_types::hash::Hash;
use cairn_types::tx::SignedTransaction;
use serde::{Deserialize, Serialize};

/// A header in JSON (hashes and keys as hex).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeaderJson {
    /// The parent's digest.
    pub parent: String,
    /// Height.
    pub height: u64,
    /// Proposer's time, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// The protocol version the block was built under.
    pub protocol_version: u32,
    /// The proposer's consensus key.
    pub proposer: String,
    /// The height whose state root the header attests.
    pub state_height: u64,
    /// That state root.
    pub state_root: Hash,
    /// Merkle root of the transaction ids.
    pub transactions_root: Hash,
    /// The last height whose finalization signers are counted, this block included.
    pub counted_through: u64,
    /// Hash of the carried votes (zero when none).
    pub votes_hash: Hash,
}

impl From<&Header> for HeaderJson {
    fn from(h: &Header) -> HeaderJson {
        HeaderJson {
            parent: hex::encode(h.parent.0),
            height: h.height,
            timestamp_ms: h.timestamp_ms,
            protocol_version: h.protocol_version,
            proposer: hex::encode(h.proposer.0),
            state_height: h.state_height,
            state_root: h.state_root,
            transactions_root: h.transactions_root,
            counted_through: h.counted_through,
            votes_hash: h.votes_hash,
        }
    }
}

impl HeaderJson {
    /// The header back, or why not.
    pub fn to_header(&self) -> Result<Header, String> {
        let bytes32 = |text: &str, what: &str| -> Result<[u8; 32], String> {
            let mut out = [0u8; 32];
            hex::decode_to_slice(text, &mut out)
                .map_err(|_| format!("{what} is not 32 bytes of hex"))?;
            Ok(out)
        };
        Ok(Header {
            parent: commonware_cryptography::blake3::Digest(bytes32(&self.parent, "parent")?),
            height: self.height,
            timestamp_ms: self.timestamp_ms,
            protocol_version: self.protocol_version,
            proposer: cairn_types::keys::PublicKey(bytes32(&self.proposer, "proposer")?),
            state_height: self.state_height,
            state_root: self.state_root,
            transactions_root: self.transactions_root,
            counted_through: self.counted_through,
            votes_hash: self.votes_hash,
        })
    }
}

/// A finalized block.
#[derive(Serialize, Deserialize)]
pub struct BlockJson {
    /// The header's digest.
    pub digest: String,
    /// The header.
    pub header: HeaderJson,
    /// The transactions, in execution order (left out when asked with `?transactions=false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<Vec<SignedTransaction>>,
    /// The transactions' ids.
    pub transaction_ids: Vec<Hash>,
    /// The finalization certificate (hex), when this block has its own.
    pub finalization: Option<String>,
}

impl BlockJson {
    /// The JSON form of `block` with its certificate.
    pub fn new(block: &Block, finalization: Option<String>) -> BlockJson {
        BlockJson {
            digest: hex::encode(commonware_cryptography::Digestible::digest(block).0),
            header: HeaderJson::from(&block.header),
            transaction_ids: block
                .transactions
                .iter()
                .map(SignedTransaction::id)
                .collect(),
            transactions: Some(block.transactions.clone()),
            finalization,
        }
    }
}

/// Options of `GET /v1/blocks/{height}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BlockQuery {
    /// `false`: only the transactions' ids, not the transactions.
    transactions: Option<bool>,
}

pub(crate) async fn by_height(
    State(state): State<RpcState>,
    Path(height): Path<String>,
    query: Result<Query<BlockQuery>, QueryRejection>,
) -> Result<Json<BlockJson>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request("malformed_query", e.body_text()))?;
    let height: u64 = height
        .parse()
        .map_err(|_| ApiError::bad_request("malformed_height", "a height is a number"))?;
    if height > state.chain().head().height {
        return Err(ApiError::not_found(format!(
            "block {height} is not finalized here yet"
        )));
    }
    // Blocks come from consensus's archive (marshal): bounded, so API reads cannot crowd it.
    let _slot = state.admission().expensive()?;
    let (block, finalization) = state
        .block(height)
        .await
        .ok_or_else(|| ApiError::not_found(format!("block {height} is not stored here")))?;
    let mut json = BlockJson::new(&block, finalization.as_ref().map(certificate_hex));
    if query.transactions == Some(false) {
        json.transactions = None;
    }
    Ok(Json(json))
}
