//! The rewards side of the API: what owners, other oracles and auditors read of an epoch.

use super::{binary, ApiError, ApiState};
use crate::epochs::reward::{cumulative_key, devices_key, signed_key, Signed};
use crate::rewarder::{decode_cumulative, leaves_of};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cairn_ledger::state::records::RewardRootRecord;
use cairn_ledger::StateKey;
use cairn_resources::payout::DevicePayout;
use cairn_types::reward_tree::RewardTree;
use cairn_types::tx::RewardClaim;
use cairn_types::{Address, DeviceId, Epoch, Subnetwork};
use std::sync::Arc;

fn epoch_of(text: &str) -> Result<Epoch, ApiError> {
    text.parse::<u64>().map(Epoch).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_epoch",
            "an epoch is a number".into(),
            false,
        )
    })
}

fn blob(state: &ApiState, name: &str, what: &str) -> Result<Vec<u8>, ApiError> {
    match state.index.blob(name) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_computed",
            format!("this oracle has not computed {what} (yet)"),
            true,
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
            true,
        )),
    }
}

pub(super) async fn signed(
    State(state): State<Arc<ApiState>>,
    Path(epoch): Path<String>,
) -> Response {
    let run = || -> Result<Response, ApiError> {
        let epoch = epoch_of(&epoch)?;
        let bytes = blob(
            &state,
            &signed_key(epoch),
            &format!("reward epoch {}", epoch.0),
        )?;
        let signed: Signed = cairn_types::codec::decode(&bytes, usize::MAX).map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
                true,
            )
        })?;
        Ok(Json(signed).into_response())
    };
    run().unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn cumulative(
    State(state): State<Arc<ApiState>>,
    Path(epoch): Path<String>,
) -> Response {
    let run = || -> Result<Response, ApiError> {
        let epoch = epoch_of(&epoch)?;
        let bytes = blob(
            &state,
            &cumulative_key(epoch),
            &format!("reward epoch {}", epoch.0),
        )?;
        Ok(binary(bytes))
    };
    run().unwrap_or_else(IntoResponse::into_response)
}

fn payouts(state: &ApiState, epoch: &str) -> Result<(Epoch, Vec<DevicePayout>), ApiError> {
    let epoch = epoch_of(epoch)?;
    let bytes = blob(
        state,
        &devices_key(epoch),
        &format!("reward epoch {}", epoch.0),
    )?;
    let list = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
            true,
        )
    })?;
    Ok((epoch, list))
}

pub(super) async fn devices(
    State(state): State<Arc<ApiState>>,
    Path(epoch): Path<String>,
) -> Response {
    match payouts(&state, &epoch) {
        Ok((_, list)) => Json(list).into_response(),
        Err(r) => r.into_response(),
    }
}

pub(super) async fn device(
    State(state): State<Arc<ApiState>>,
    Path((epoch, device)): Path<(String, String)>,
) -> Response {
    let run = || -> Result<Response, ApiError> {
        let device: DeviceId = device.parse().map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_device",
                format!("{e}"),
                false,
            )
        })?;
        let (epoch, list) = payouts(&state, &epoch)?;
        let found = list
            .into_iter()
            .find(|d| d.device == device)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no_reports",
                    format!(
                        "no report of {device} was counted in reward epoch {} (none reached the \
                     counted manifests)",
                        epoch.0
                    ),
                    false,
                )
            })?;
        Ok(Json(found).into_response())
    };
    run().unwrap_or_else(IntoResponse::into_response)
}

/// Claims with proofs, for every sub-network whose root on chain this oracle computed too.
pub(super) async fn claims(
    State(state): State<Arc<ApiState>>,
    Path(address): Path<String>,
) -> Response {
    let Ok(account) = address.parse::<Address>() else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_address",
            format!("`{address}` is not an address"),
            false,
        )
        .into_response();
    };
    let s = state.clone();
    let answer = tokio::task::spawn_blocking(move || claims_of(&s, account)).await;
    match answer {
        Ok(Ok(claims)) => Json(claims).into_response(),
        Ok(Err(r)) => r.into_response(),
        Err(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
            true,
        )
        .into_response(),
    }
}

fn claims_of(state: &ApiState, account: Address) -> Result<Vec<RewardClaim>, ApiError> {
    let mut claims = Vec::new();
    for subnetwork in Subnetwork::ALL {
        let record: Option<RewardRootRecord> = state
            .client
            .state(&StateKey::RewardRoot(subnetwork), None)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "node_unavailable",
                    e.to_string(),
                    true,
                )
            })?;
        let Some(record) = record else { continue };
        let Ok(Some(bytes)) = state.index.blob(&cumulative_key(record.epoch)) else {
            continue;
        };
        let Ok(cumulative) = decode_cumulative(&bytes) else {
            continue;
        };
        let Ok(tree) = RewardTree::build(leaves_of(&cumulative, subnetwork)) else {
            continue;
        };
        // Only proofs against the root the chain holds: anything else could not be claimed.
        if tree.root() != record.root {
            continue;
        }
        if let Some((leaf, proof)) = tree.proof(&account) {
            claims.push(RewardClaim {
                subnetwork,
                account,
                cumulative: leaf.cumulative,
                proof,
            });
        }
    }
    Ok(claims)
}
