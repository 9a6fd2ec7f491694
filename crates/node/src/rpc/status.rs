//! `GET /v1/status`: where the chain is and who validates it.

use super::{NetworkInfo, RpcState};
use axum::extract::State;
use axum::Json;
use cairn_ledger::state::records::ValidatorSet;
use cairn_types::hash::Hash;
use cairn_types::Amount;
use serde::Serialize;

/// The answer.
#[derive(Serialize)]
pub(crate) struct Status {
    /// The network (chain id, genesis digest).
    #[serde(flatten)]
    network: NetworkInfo,
    /// The epoch of the latest applied block.
    epoch: u64,
    /// That epoch's validators, largest stake first.
    validators: Vec<Validator>,
    /// The latest block this node applied.
    height: u64,
    /// The state root after it.
    state_root: Hash,
    /// Its timestamp.
    timestamp_ms: u64,
    /// The protocol version in force, and an upgrade governance scheduled, if any.
    protocol: Protocol,
    /// The protocol versions this build runs.
    protocol_versions_supported: [u32; 2],
    /// The mempool.
    mempool: Mempool,
    /// Why this node stopped applying blocks and voting, if it has (a storage fault): it must
    /// be restarted.
    #[serde(skip_serializing_if = "Option::is_none")]
    halted: Option<String>,
}

/// One validator of the current epoch.
#[derive(Serialize)]
struct Validator {
    /// Its account.
    address: String,
    /// Its node key, its identity on the network (hex).
    node_key: String,
    /// The seats it holds in the epoch (one vote each).
    seats: usize,
    /// Its stake when the set was chosen.
    stake: Amount,
}

#[derive(Serialize)]
struct Protocol {
    version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    upgrade: Option<cairn_ledger::protocol::Upgrade>,
}

#[derive(Serialize)]
struct Mempool {
    transactions: usize,
    bytes: usize,
}

pub(crate) async fn status(State(state): State<RpcState>) -> Json<Status> {
    let head = state.chain().head();
    let (transactions, bytes) = state.chain().mempool_size();
    let blocks_per_epoch = state.chain().config().blocks_per_epoch;
    // The epoch of the next block: the one consensus is in.
    let epoch = cairn_types::Epoch::of_height(head.height + 1, blocks_per_epoch);
    let protocol = state
        .read::<cairn_ledger::protocol::ProtocolRecord>(&cairn_ledger::StateKey::Protocol)
        .ok()
        .flatten()
        .map_or(
            Protocol {
                version: 0,
                upgrade: None,
            },
            |r| Protocol {
                version: r.version,
                upgrade: r.upgrade,
            },
        );
    let supported = cairn_ledger::protocol::SUPPORTED_PROTOCOL_VERSIONS;
    let set: ValidatorSet = state
        .read::<ValidatorSet>(&cairn_ledger::StateKey::ValidatorSet(epoch))
        .ok()
        .flatten()
        .unwrap_or_default();
    Json(Status {
        network: state.inner.info.clone(),
        epoch: set.epoch.0,
        validators: set
            .members
            .iter()
            .map(|m| Validator {
                address: m.address.to_string(),
                node_key: hex::encode(m.node_key.0),
                seats: m.seats.len(),
                stake: m.stake,
            })
            .collect(),
        height: head.height,
        state_root: head.state_root,
        timestamp_ms: head.timestamp_ms,
        protocol,
        protocol_versions_supported: [*supported.start(), *supported.end()],
        mempool: Mempool {
            transactions,
            bytes,
        },
        halted: state.chain().halted(),
    })
}
