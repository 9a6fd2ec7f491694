//! `GET /v1/status`: where the chain is and who validates it.

use super::{NetworkInfo, RpcState};
use axum::extract::State;
use axum::Json;
use cairn_types::hash::Hash;
use serde::Serialize;

/// The answer.
#[derive(Serialize)]
pub(crate) struct Status {
    /// The network (chain id, genesis digest, validators).
    #[serde(flatten)]
    network: NetworkInfo,
    /// The latest block this node applied.
    height: u64,
    /// The state root after it.
    state_root: Hash,
    /// Its timestamp.
    timestamp_ms: u64,
    /// The mempool.
    mempool: Mempool,
}

#[derive(Serialize)]
struct Mempool {
    transactions: usize,
    bytes: usize,
}

pub(crate) async fn status(State(state): State<RpcState>) -> Json<Status> {
    let head = state.chain().head();
    let (transactions, bytes) = state.chain().mempool_size();
    Json(Status {
        network: state.inner.info.clone(),
        height: head.height,
        state_root: head.state_root,
        timestamp_ms: head.timestamp_ms,
        mempool: Mempool {
            transactions,
            bytes,
        },
    })
}
