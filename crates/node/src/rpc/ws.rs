//! `GET /v1/ws/blocks`: a WebSocket that sends each finalized block as JSON (the same shape as
//! `/v1/blocks/{height}`), in height order, from the moment of connection (or from `?from=H`).

use super::blocks::BlockJson;
use super::{certificate_hex, ApiError, RpcState};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

/// Options.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct From {
    /// First height to send (default: the next block).
    from: Option<u64>,
}

/// How far back a subscriber may start.
const MAX_BACKLOG: u64 = 10_000;

pub(crate) async fn blocks(
    State(state): State<RpcState>,
    query: Result<Query<From>, axum::extract::rejection::QueryRejection>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request("malformed_query", e.body_text()))?;
    let head = state.chain().head().height;
    let from = query.from.unwrap_or(head + 1).max(1);
    if head.saturating_sub(from) > MAX_BACKLOG {
        return Err(ApiError::bad_request(
            "backlog_too_long",
            format!("start at most {MAX_BACKLOG} blocks back"),
        ));
    }
    Ok(upgrade.on_upgrade(move |socket| stream(state, socket, from)))
}

async fn stream(state: RpcState, mut socket: WebSocket, from: u64) {
    let mut applied = state.chain().subscribe_applied();
    let mut next = from;
    loop {
        let head = *applied.borrow_and_update();
        while next <= head {
            let Some((block, finalization)) = state.block(next).await else {
                return;
            };
            let json = BlockJson::new(&block, finalization.as_ref().map(certificate_hex));
            let Ok(text) = serde_json::to_string(&json) else {
                return;
            };
            if socket.send(Message::Text(text.into())).await.is_err() {
                return;
            }
            next += 1;
        }
        if applied.changed().await.is_err() {
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
    }
}
