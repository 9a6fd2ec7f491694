//! `GET /v1/epochs/{epoch}/handoff`: what a light client needs to trust epoch `e + 1`'s
//! validator set once it trusts epoch `e`'s.
//!
//! The set of `e + 1` is chosen at the first block of `e`, and the last block of `e` attests a
//! state at or after that block (voters refuse it otherwise). So the last block of `e`, with its
//! finalization certificate (signed by the seats of `e`), and a proof of `ValidatorSet(e + 1)`
//! against the state root it attests, hand the trust on to `e + 1`.

use super::blocks::BlockJson;
use super::{certificate_hex, ApiError, RpcState};
use axum::extract::{Path, State};
use axum::Json;
use cairn_ledger::StateKey;
use cairn_types::hash::Hash;
use cairn_types::Epoch;
use serde::{Deserialize, Serialize};

/// The hand-off from one epoch's set to the next.
#[derive(Serialize, Deserialize)]
pub struct Handoff {
    /// The epoch whose seats sign `block`.
    pub epoch: u64,
    /// The last block of `epoch` with its finalization certificate.
    pub block: BlockJson,
    /// The canonical bytes of `ValidatorSet(epoch + 1)` (hex).
    pub next_set: String,
    /// Its proof against the state root `block` attests (hex of its borsh encoding).
    pub proof: String,
    /// That state root.
    pub state_root: Hash,
}

pub(crate) async fn handoff(
    State(state): State<RpcState>,
    Path(epoch): Path<String>,
) -> Result<Json<Handoff>, ApiError> {
    let epoch: u64 = epoch
        .parse()
        .map_err(|_| ApiError::bad_request("malformed_epoch", "an epoch is a number"))?;
    let _slot = state.admission().expensive().await?;
    let blocks_per_epoch = state.chain().config().blocks_per_epoch;
    let last = epoch
        .checked_add(1)
        .and_then(|e| e.checked_mul(blocks_per_epoch))
        .ok_or_else(|| ApiError::bad_request("malformed_epoch", "no such epoch"))?;
    if last > state.chain().head().height {
        return Err(ApiError::not_found(format!(
            "epoch {epoch} is not over here yet (its last block is {last})"
        )));
    }
    let (block, finalization) = state
        .block(last)
        .await
        .ok_or_else(|| ApiError::not_found(format!("block {last} is not kept here")))?;
    let finalization = finalization.ok_or_else(|| {
        ApiError::not_found(format!("block {last} has no certificate of its own here"))
    })?;
    let key = StateKey::ValidatorSet(Epoch(epoch + 1)).to_bytes();
    let reader = state.chain().reader().clone();
    let height = block.header.state_height;
    let (value, proof, root) = state.blocking(move || reader.prove(&key, height)).await??;
    let value = value
        .ok_or_else(|| ApiError::internal(format!("no set for epoch {} stored", epoch + 1)))?;
    let proof = borsh::to_vec(&proof).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(Handoff {
        epoch,
        block: BlockJson::new(&block, Some(certificate_hex(&finalization))),
        next_set: hex::encode(value),
        proof: hex::encode(proof),
        state_root: root,
    }))
}
