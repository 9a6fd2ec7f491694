//! Reading the ledger: accounts, devices and parameters as JSON, and any state key as bytes,
//! optionally with a Merkle proof against a state root that a finalized block attests.

use super::{ApiError, RpcState};
use axum::extract::{Path, Query, State};
use axum::Json;
use cairn_ledger::ledger::read_value;
use cairn_ledger::state::records::{Account, DeviceRecord};
use cairn_ledger::StateKey;
use cairn_types::hash::Hash;
use cairn_types::params::Params;
use cairn_types::{Address, DeviceId};
use serde::{Deserialize, Serialize};

/// How far back `/v1/state` looks for a block with its own finalization certificate.
const CERTIFIED_WINDOW: u64 = 256;

impl RpcState {
    /// Reads a value of the latest committed state from a snapshot, without the ledger's lock.
    pub(crate) fn read<V: borsh::BorshDeserialize>(
        &self,
        key: &StateKey,
    ) -> Result<Option<V>, ApiError> {
        let snapshot = self.chain().reader().snapshot()?;
        Ok(read_value(&snapshot, key)?)
    }
}

/// The height a proof is read at, and what vouches for it.
pub(crate) struct ProvenHeight {
    /// The height read.
    pub(crate) height: u64,
    /// The finalized block whose header attests that height's root (when the height was not
    /// asked for).
    pub(crate) attested_by: Option<u64>,
    /// The latest applied block.
    pub(crate) head: u64,
}

impl RpcState {
    /// `asked`, or without it the state the latest certified block attests; a height not
    /// applied yet is 404.
    pub(crate) async fn proven_height(&self, asked: Option<u64>) -> Result<ProvenHeight, ApiError> {
        let head = self.chain().head().height;
        let (height, attested_by) = match asked {
            Some(h) => (h, None),
            None => match self.certified_at_or_below(head, CERTIFIED_WINDOW).await {
                Some((block, _)) => (block.header.state_height, Some(block.header.height)),
                None => (head, None),
            },
        };
        if height > head {
            return Err(ApiError::not_found(format!(
                "height {height} is not applied yet (head {head})"
            )));
        }
        Ok(ProvenHeight {
            height,
            attested_by,
            head,
        })
    }
}

/// An account (all zero when it never received anything).
pub(crate) async fn account(
    State(state): State<RpcState>,
    Path(address): Path<String>,
) -> Result<Json<Account>, ApiError> {
    let address: Address = address
        .parse()
        .map_err(|e| ApiError::bad_request("malformed_address", format!("{e}")))?;
    let account: Option<Account> = state.read(&StateKey::Account(address))?;
    Ok(Json(account.unwrap_or_default()))
}

/// A registered device.
pub(crate) async fn device(
    State(state): State<RpcState>,
    Path(device): Path<String>,
) -> Result<Json<DeviceRecord>, ApiError> {
    let device: DeviceId = device
        .parse()
        .map_err(|e| ApiError::bad_request("malformed_device", format!("{e}")))?;
    let record: Option<DeviceRecord> = state.read(&StateKey::Device(device))?;
    record
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("device {device} is not registered")))
}

/// The governance parameters in force.
pub(crate) async fn params(State(state): State<RpcState>) -> Result<Json<Params>, ApiError> {
    let params: Option<Params> = state.read(&StateKey::Params)?;
    params
        .map(Json)
        .ok_or_else(|| ApiError::internal("the state has no parameters"))
}

/// Options of `/v1/state/{key}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuery {
    /// Return a proof.
    #[serde(default)]
    prove: bool,
    /// Read this height (needs `prove`); default: the height the latest certified block
    /// attests.
    height: Option<u64>,
}

/// A state value, maybe with its proof.
#[derive(Serialize)]
pub(crate) struct RawValue {
    /// The state key (hex).
    key: String,
    /// The height read: the value is the state after this block.
    height: u64,
    /// The latest block this node had applied when it answered (with a proof, `height` is
    /// the newest state a finalized block attests, usually a block or two behind).
    head: u64,
    /// The value's canonical bytes (hex), or null when absent.
    value: Option<String>,
    /// The state root at `height` (with a proof).
    #[serde(skip_serializing_if = "Option::is_none")]
    state_root: Option<Hash>,
    /// The proof (hex of its borsh encoding).
    #[serde(skip_serializing_if = "Option::is_none")]
    proof: Option<String>,
    /// The finalized block whose header attests `state_root` at `height`: fetch it from
    /// `/v1/blocks/{attested_by}` with its certificate to check the proof without trusting
    /// this node.
    #[serde(skip_serializing_if = "Option::is_none")]
    attested_by: Option<u64>,
}

pub(crate) async fn raw(
    State(state): State<RpcState>,
    Path(key): Path<String>,
    query: Result<Query<RawQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RawValue>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request("malformed_query", e.body_text()))?;
    let key_bytes = hex::decode(&key)
        .map_err(|_| ApiError::bad_request("malformed_key", "the state key must be hex"))?;
    if key_bytes.is_empty() || key_bytes.len() > 1024 {
        return Err(ApiError::bad_request(
            "malformed_key",
            "a state key is 1 to 1024 bytes",
        ));
    }
    if !query.prove {
        if query.height.is_some() {
            return Err(ApiError::bad_request(
                "malformed_query",
                "height needs prove=true",
            ));
        }
        let snapshot = state.chain().reader().snapshot()?;
        let height = snapshot.height().unwrap_or(0);
        let value = cairn_ledger::state::StateRead::read(&snapshot, &key_bytes)?;
        return Ok(Json(RawValue {
            key,
            height,
            head: height,
            value: value.map(hex::encode),
            state_root: None,
            proof: None,
            attested_by: None,
        }));
    }
    let slot = state.admission().expensive().await?;
    let ProvenHeight {
        height,
        attested_by,
        head,
    } = state.proven_height(query.height).await?;
    // A proof walks the tree from disk: on a blocking thread, without the ledger's lock. The
    // slot is held until the proof is done, even when the request ends first.
    let reader = state.chain().reader().clone();
    let (value, proof, root) = state
        .blocking(move || {
            let proven = reader.prove(&key_bytes, height);
            drop(slot);
            proven
        })
        .await??;
    let proof = borsh::to_vec(&proof).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(RawValue {
        key,
        height,
        head,
        value: value.map(hex::encode),
        state_root: Some(root),
        proof: Some(hex::encode(proof)),
        attested_by,
    }))
}
