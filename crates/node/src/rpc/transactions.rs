//! `POST /v1/transactions` (submit a signed transaction), `POST /v1/transactions/batch` (many
//! at once, each admitted or refused on its own) and `GET /v1/transactions/{id}` (pending,
//! included at a height, rejected with a reason, or unknown).

use super::{now_ms, ApiError, RpcState};
use crate::chain::TxStatus;
use crate::mempool::AdmitError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cairn_types::hash::Hash;
use cairn_types::tx::{SignedTransaction, MAX_TX_BYTES};
use serde::{Deserialize, Serialize};

/// A submission: the transaction's canonical encoding, hex.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Submit {
    tx: String,
}

/// The answer to a batch: one result per submitted transaction, in order.
#[derive(Serialize)]
pub(crate) struct BatchAnswer {
    results: Vec<BatchResult>,
}

/// One transaction of a batch: `pending` (admitted) or `refused` with the error code and
/// message a single submission would have had.
#[derive(Serialize)]
pub(crate) struct BatchResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Hash>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

impl BatchResult {
    fn refused(id: Option<Hash>, error: ApiError) -> BatchResult {
        BatchResult {
            id,
            status: "refused",
            code: Some(error.code),
            message: Some(error.message),
        }
    }
}

/// A transaction's fate as far as this node knows.
#[derive(Serialize)]
pub(crate) struct Status {
    id: Hash,
    /// `pending`, `included`, `failed` (charged, action refused), `rejected` or `unknown`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

fn status_of(id: Hash, status: TxStatus) -> Status {
    let (name, height, reason) = match status {
        TxStatus::Pending => ("pending", None, None),
        TxStatus::Included { height } => ("included", Some(height), None),
        TxStatus::Failed { height, reason } => ("failed", Some(height), Some(reason)),
        TxStatus::Rejected { reason } => ("rejected", None, Some(reason)),
        TxStatus::Unknown => ("unknown", None, None),
    };
    Status {
        id,
        status: name,
        height,
        reason,
    }
}

/// Decodes the hex body into a signed transaction.
pub(crate) fn decode_submission(tx_hex: &str) -> Result<SignedTransaction, ApiError> {
    if tx_hex.len() > 2 * MAX_TX_BYTES {
        return Err(ApiError::bad_request(
            "transaction_too_large",
            format!("a transaction is at most {MAX_TX_BYTES} bytes"),
        ));
    }
    let bytes = hex::decode(tx_hex)
        .map_err(|e| ApiError::bad_request("malformed_transaction", format!("not hex: {e}")))?;
    SignedTransaction::decode(&bytes)
        .map_err(|e| ApiError::bad_request("malformed_transaction", e.to_string()))
}

pub(crate) async fn submit(
    State(state): State<RpcState>,
    body: Result<Json<Submit>, JsonRejection>,
) -> Result<(StatusCode, Json<Status>), ApiError> {
    let Json(body) = body.map_err(|e| ApiError::bad_request("malformed_request", e.body_text()))?;
    let tx = decode_submission(&body.tx)?;
    let slot = state.admission().submission()?;
    // Admission checks a signature and reads the ledger (which waits while a block executes):
    // on a blocking thread, not the API's async worker.
    let chain = state.chain_arc();
    let admitted = state
        .blocking(move || {
            let _slot = slot;
            chain.submit(tx, now_ms())
        })
        .await?;
    match admitted {
        Ok(id) => Ok((StatusCode::ACCEPTED, Json(status_of(id, TxStatus::Pending)))),
        Err(error) => Err(admit_error(error)),
    }
}

pub(crate) async fn submit_batch(
    State(state): State<RpcState>,
    body: axum::body::Body,
) -> Result<Json<BatchAnswer>, ApiError> {
    // The slot before the body: a refused batch is never read into memory.
    let slot = state.admission().submission()?;
    let body = axum::body::to_bytes(body, super::MAX_BATCH_BODY_BYTES)
        .await
        .map_err(|e| ApiError::bad_request("malformed_request", format!("the body: {e}")))?;
    let max = state.admission().limits().max_batch;
    // Refused by count before any transaction is decoded.
    super::batch::parse(&body, max)?;
    let chain = state.chain_arc();
    let results = state
        .blocking(move || {
            // The slot lasts as long as the work, even if the request times out.
            let _slot = slot;
            // Parsed again on this thread (borrowed, no copy): the first parse checked it.
            let txs = super::batch::parse(&body, max).unwrap_or_default();
            txs.into_iter()
                .map(|tx_hex| match decode_submission(tx_hex) {
                    Err(error) => BatchResult::refused(None, error),
                    Ok(tx) => {
                        let id = tx.id();
                        match chain.submit(tx, now_ms()) {
                            Ok(id) => BatchResult {
                                id: Some(id),
                                status: "pending",
                                code: None,
                                message: None,
                            },
                            Err(error) => BatchResult::refused(Some(id), admit_error(error)),
                        }
                    }
                })
                .collect()
        })
        .await?;
    Ok(Json(BatchAnswer { results }))
}

fn admit_error(error: AdmitError) -> ApiError {
    let message = error.to_string();
    match error {
        AdmitError::Full { .. } | AdmitError::SenderFull { .. } => {
            ApiError::unavailable("mempool_full", message)
        }
        AdmitError::Duplicate(_) => ApiError::rejected("duplicate", message),
        AdmitError::NonceGap { .. } => ApiError::rejected("nonce_gap", message),
        AdmitError::ReplacementUnderpriced { .. } => {
            ApiError::rejected("replacement_underpriced", message)
        }
        AdmitError::Rejected(tx_error) => ApiError::rejected(tx_error.code(), message),
        AdmitError::Store(_) => ApiError::internal(message),
    }
}

pub(crate) async fn status(
    State(state): State<RpcState>,
    Path(id): Path<String>,
) -> Result<Json<Status>, ApiError> {
    let id: Hash = id.parse().map_err(|_| {
        ApiError::bad_request("malformed_id", "a transaction id is 64 hex characters")
    })?;
    Ok(Json(status_of(id, state.chain().status(&id))))
}
