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
    /// Seconds after which a retry may succeed (sent as `Retry-After` with every 429 and 503).
    pub retry_after: Option<u64>,
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
            retry_after: None,
        }
    }

    /// 404: nothing at this address.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found".into(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// 422: well-formed, but the ledger refuses it.
    pub fn rejected(code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// 503: the node cannot take it now (retry in a second).
    pub fn unavailable(code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::unavailable_after(code, message, 1)
    }

    /// 503: the node cannot take it now (retry after `seconds`).
    pub fn unavailable_after(
        code: impl Into<String>,
        message: impl Into<String>,
        seconds: u64,
    ) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: code.into(),
            message: message.into(),
            retry_after: Some(seconds.max(1)),
        }
    }

    /// 503 `busy`: a bound of the API is reached ([`super::limits`]).
    pub fn busy(message: impl Into<String>) -> ApiError {
        ApiError::unavailable("busy", message)
    }

    /// 429 `rate_limited`: this client asked too often; retry after `seconds`.
    pub fn rate_limited(message: impl Into<String>, seconds: u64) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "rate_limited".into(),
            message: message.into(),
            retry_after: Some(seconds.max(1)),
        }
    }

    /// 500: the node failed (its storage); the request may be fine.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal".into(),
            message: message.into(),
            retry_after: None,
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
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

impl From<cairn_ledger::StoreError> for ApiError {
    fn from(error: cairn_ledger::StoreError) -> ApiError {
        ApiError::internal(error.to_string())
    }
}
