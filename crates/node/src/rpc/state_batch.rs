//! `POST /v1/state/batch`: many state keys at one height, with one multi-proof.
//!
//! An oracle reads thousands of device records, location entries and balances for each reward
//! epoch, all at the epoch's last block. One request reads up to [`MAX_BATCH_KEYS`] of them and
//! answers their values with one [`cairn_light::MultiProof`] (each sibling node once) against
//! the state root of that height, so the reader trusts the node for nothing but that root,
//! which a finalized header attests. A batch takes one expensive slot and one request of the
//! client's rate, whatever its size; the key count is checked as the body is read, before any
//! key is decoded.

use super::state::ProvenHeight;
use super::{batch, ApiError, RpcState};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::Json;
use cairn_light::multiproof::MAX_BATCH_KEYS;
use cairn_types::hash::Hash;
use serde::{Deserialize, Serialize};

/// Longest state key in a batch, in bytes (every key Cairn writes is far shorter).
pub(crate) const MAX_BATCH_KEY_BYTES: usize = 256;
/// Most value bytes one batch answers (1,024 device records are about 100 KiB): a batch naming
/// large values is refused `batch_too_large` instead of building a huge answer.
pub(crate) const MAX_BATCH_VALUE_BYTES: usize = 1024 * 1024;

/// Options of `POST /v1/state/batch`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchQuery {
    /// Read this height; default: the height the latest certified block attests.
    height: Option<u64>,
}

/// The values of a batch and their proof.
#[derive(Serialize)]
pub(crate) struct BatchAnswer {
    /// The height read: the values are the state after this block.
    height: u64,
    /// The latest block this node had applied when it answered.
    head: u64,
    /// The state root at `height`.
    state_root: Hash,
    /// Each key's canonical value bytes (hex), or null when absent, in the keys' order.
    values: Vec<Option<String>>,
    /// The multi-proof of every value against `state_root` (hex of its canonical bytes).
    proof: String,
    /// The finalized block whose header attests `state_root` (when `height` was not given).
    #[serde(skip_serializing_if = "Option::is_none")]
    attested_by: Option<u64>,
}

/// The keys of a batch body, decoded: 1 to [`MAX_BATCH_KEYS`] of them, each 1 to
/// [`MAX_BATCH_KEY_BYTES`] bytes of hex.
fn keys_of(body: &[u8]) -> Result<Vec<Vec<u8>>, ApiError> {
    let listed = batch::parse_list(body, "keys", "state keys", MAX_BATCH_KEYS)?;
    if listed.is_empty() {
        return Err(ApiError::bad_request(
            "malformed_request",
            "a batch names at least one key",
        ));
    }
    let keys: Vec<Vec<u8>> = listed
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let bytes = hex::decode(key).map_err(|_| {
                ApiError::bad_request("malformed_key", format!("key {index} is not hex"))
            })?;
            if bytes.is_empty() || bytes.len() > MAX_BATCH_KEY_BYTES {
                return Err(ApiError::bad_request(
                    "malformed_key",
                    format!(
                        "key {index}: a state key in a batch is 1 to {MAX_BATCH_KEY_BYTES} bytes"
                    ),
                ));
            }
            Ok(bytes)
        })
        .collect::<Result<_, _>>()?;
    // A key named twice would make the node prove and send its value twice for nothing.
    let mut sorted: Vec<&Vec<u8>> = keys.iter().collect();
    sorted.sort_unstable();
    if sorted.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(ApiError::bad_request(
            "malformed_request",
            "a batch names each key once",
        ));
    }
    Ok(keys)
}

pub(crate) async fn batch(
    State(state): State<RpcState>,
    query: Result<Query<BatchQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Result<Json<BatchAnswer>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request("malformed_query", e.body_text()))?;
    let keys = keys_of(&body)?;
    let slot = state.admission().expensive().await?;
    let ProvenHeight {
        height,
        attested_by,
        head,
    } = state.proven_height(query.height).await?;
    let reader = state.chain().reader().clone();
    // The slot is held until the proof is done, even when the request ends first.
    let (values, proof, root) = state
        .blocking(move || {
            let proven = reader.prove_many(&keys, height);
            drop(slot);
            proven
        })
        .await??;
    let value_bytes: usize = values.iter().flatten().map(Vec::len).sum();
    if value_bytes > MAX_BATCH_VALUE_BYTES {
        return Err(ApiError::bad_request(
            "batch_too_large",
            format!("the values asked hold {value_bytes} bytes, more than {MAX_BATCH_VALUE_BYTES}: ask fewer keys"),
        ));
    }
    Ok(Json(BatchAnswer {
        height,
        head,
        state_root: root,
        values: values.into_iter().map(|v| v.map(hex::encode)).collect(),
        proof: hex::encode(proof.encode()),
        attested_by,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_are_bounded_in_count_and_size_before_use() {
        assert_eq!(
            keys_of(br#"{"keys": ["0a", "0b0c"]}"#).unwrap(),
            vec![vec![10], vec![11, 12]]
        );
        assert_eq!(
            keys_of(br#"{"keys": []}"#).unwrap_err().code,
            "malformed_request"
        );
        assert_eq!(
            keys_of(br#"{"keys": ["zz"]}"#).unwrap_err().code,
            "malformed_key"
        );
        assert_eq!(
            keys_of(br#"{"keys": [""]}"#).unwrap_err().code,
            "malformed_key"
        );
        let long = format!(
            r#"{{"keys": ["{}"]}}"#,
            "ab".repeat(MAX_BATCH_KEY_BYTES + 1)
        );
        assert_eq!(keys_of(long.as_bytes()).unwrap_err().code, "malformed_key");
        let many = format!(
            r#"{{"keys": [{}]}}"#,
            vec![r#""0a""#; MAX_BATCH_KEYS + 1].join(",")
        );
        assert_eq!(
            keys_of(many.as_bytes()).unwrap_err().code,
            "batch_too_large"
        );
        assert_eq!(
            keys_of(br#"{"txs": ["0a"]}"#).unwrap_err().code,
            "malformed_request"
        );
        let twice = br#"{"keys": ["0a", "0b", "0a"]}"#;
        assert_eq!(keys_of(twice).unwrap_err().code, "malformed_request");
    }
}
