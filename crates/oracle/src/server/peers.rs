//! The copies this oracle keeps of other oracles' manifests and log files, served again: an
//! oracle that serves its log to some oracles only (enough for its manifest to count) cannot
//! keep the others, or an auditor, from computing the epoch. Whoever fetches from here checks
//! what it gets against the chain and the manifest, as it would from the oracle itself.

use super::{binary, refused, ApiState};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use cairn_serve::ClientKey;
use cairn_types::{Address, Epoch, PublicKey};
use std::net::SocketAddr;
use std::sync::Arc;

/// The oracle named by 64 hex digits.
fn oracle_of(text: &str) -> Option<Address> {
    let bytes: [u8; 32] = hex::decode(text).ok()?.try_into().ok()?;
    Some(Address(PublicKey(bytes)))
}

fn not_held(what: String) -> Response {
    refused(
        StatusCode::NOT_FOUND,
        "not_held",
        format!("this oracle keeps no copy of {what}"),
        true,
    )
}

/// `GET /v1/peers/{oracle}/manifests/{epoch}`.
pub(super) async fn manifest(
    State(state): State<Arc<ApiState>>,
    Path((oracle, epoch)): Path<(String, String)>,
) -> Response {
    let (Some(address), Ok(number)) = (oracle_of(&oracle), epoch.parse::<u64>()) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "malformed",
            "an oracle is 64 hex digits and an epoch a number".into(),
            false,
        );
    };
    let peers = state.peers.clone();
    let kept = tokio::task::spawn_blocking(move || peers.kept_manifest(&address, Epoch(number)))
        .await
        .ok()
        .flatten();
    match kept {
        Some(bytes) => binary(bytes),
        None => not_held(format!("{oracle}'s manifest of epoch {epoch}")),
    }
}

/// `GET /v1/peers/{oracle}/logs/{name}`.
pub(super) async fn log_file(
    State(state): State<Arc<ApiState>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path((oracle, name)): Path<(String, String)>,
) -> Response {
    let Some(address) = oracle_of(&oracle) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "malformed",
            "an oracle is 64 hex digits".into(),
            false,
        );
    };
    let Some(path) = state.peers.kept_file_path(&address, &name) else {
        return not_held(format!("{oracle}'s log file `{name}`"));
    };
    let Some(turn) = state.file_reads.turn(ClientKey::of(client.ip())) else {
        return super::files::busy();
    };
    match super::files::from_disk(path).await {
        Some((chunks, size)) => super::files::streamed(chunks, size, turn),
        None => not_held(format!("{oracle}'s log file `{name}`")),
    }
}
