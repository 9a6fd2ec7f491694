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

pub(crate) async fn blocks(
    State(state): State<RpcState>,
    query: Result<Query<From>, axum::extract::rejection::QueryRejection>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request("malformed_query", e.body_text()))?;
    let head = state.chain().head().height;
    let from = query.from.unwrap_or(head + 1).max(1);
    if from > head + 1 {
        return Err(ApiError::bad_request(
            "malformed_query",
            format!("start at most at the next block ({})", head + 1),
        ));
    }
    let backfill = state.admission().limits().ws_backfill_blocks;
    if head.saturating_sub(from) >= backfill {
        return Err(ApiError::bad_request(
            "backlog_too_long",
            format!("start at most {backfill} blocks back (the head is {head})"),
        ));
    }
    let slot = state.admission().subscriber()?;
    Ok(upgrade.on_upgrade(move |socket| async move {
        stream(state, socket, from).await;
        drop(slot);
    }))
}

async fn stream(state: RpcState, mut socket: WebSocket, from: u64) {
    // A subscriber that stops reading is dropped once a send has waited this long; a quiet
    // chain gets a ping every half of it, so that a vanished subscriber frees its slot.
    let idle = std::time::Duration::from_millis(state.admission().limits().idle_timeout_ms);
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
            if !send(&mut socket, Message::Text(text.into()), idle).await {
                return;
            }
            next += 1;
        }
        tokio::select! {
            changed = applied.changed() => {
                if changed.is_err() {
                    let _ = send(&mut socket, Message::Close(None), idle).await;
                    return;
                }
            }
            incoming = socket.recv() => {
                // The subscriber sends nothing but pongs and its close: anything else, or the
                // end of its stream, ends the subscription.
                match incoming {
                    Some(Ok(Message::Pong(_) | Message::Ping(_))) => {}
                    _ => return,
                }
            }
            _ = tokio::time::sleep(idle / 2) => {
                if !send(&mut socket, Message::Ping(Vec::new().into()), idle).await {
                    return;
                }
            }
        }
    }
}

/// Sends `message` within `limit`; false if the subscriber is gone or too slow.
async fn send(socket: &mut WebSocket, message: Message, limit: std::time::Duration) -> bool {
    matches!(
        tokio::time::timeout(limit, socket.send(message)).await,
        Ok(Ok(()))
    )
}
