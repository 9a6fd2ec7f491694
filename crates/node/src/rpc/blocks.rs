//! `GET /v1/blocks/{height}`: a finalized block with its finalization certificate (when
//! consensus made one for this block; an ancestor finalized through a descendant has none).

use super::{certificate_hex, ApiError, RpcState};
use crate::block::Block;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use cairn_types::hash::Hash;
use cairn_types::tx::SignedTransaction;
use serde::{Deserialize, Serialize};

pub use cairn_light::header::HeaderJson;

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
    let _slot = state.admission().expensive().await?;
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
