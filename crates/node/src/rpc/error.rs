//! The API's errors: an HTTP status and a JSON body `{"error": {"code": …, "message": …}}`
//! with a stable, machine-readable code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// One error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable code, e.g. `malformed_transaction`.
    pub code: String,
    /// A human explanation.
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// 400: the request itself is malformed.
    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 404: nothing at this address.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found".into(),
            message: message.into(),
        }
    }

    /// 422: well-formed, but the ledger refuses it.
    pub fn rejected(code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 503: the node cannot take it now (retry later).
    pub fn unavailable(code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 500: the node failed (its storage); the request may be fine.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal".into(),
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: &self.code,
                message: &self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<cairn_ledger::StoreError> for ApiError {
    fn from(error: cairn_ledger::StoreError) -> ApiError {
        ApiError::internal(error.to_string())
    }
}
