//! Errors: what stops the server from starting (`Error`), and the JSON body every failed
//! request gets (`ApiError`, `{"error": "...", "field": "..."}`).

use std::path::PathBuf;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Why the server cannot start, or a reload was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A model directory that does not load or fails its smoke test.
    #[error("model `{name}` ({path}): {message}")]
    Model { name: String, path: PathBuf, message: String },
    #[error("API keys from {origin}: {message}")]
    Keys { origin: String, message: String },
    #[error("{0}")]
    Config(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    /// The request field at fault (`rt[3]`, `jobs[0].cpu_milli`), when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The error answers of every route that takes a JSON body, for the OpenAPI document.
#[derive(Debug, utoipa::IntoResponses)]
pub enum JsonRouteErrors {
    /// Empty or unparsable body
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Missing or unknown API key
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// Body over the limit
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The body is not `application/json`
    #[response(status = 415)]
    NotJson(ErrorBody),
    /// A field is not acceptable; `field` names it
    #[response(status = 422)]
    Invalid(ErrorBody),
    /// Overloaded; retry after `Retry-After` seconds
    #[response(status = 429)]
    Overloaded(ErrorBody),
    /// Not answered within the request timeout, or draining
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// A failed request: status, message, the field at fault, and for 429 when to retry.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError { status, body: ErrorBody { error: error.into(), field: None }, retry_after_s: None }
    }

    /// 422: the request parsed but `field` is not acceptable.
    pub fn invalid(field: impl Into<String>, error: impl Into<String>) -> ApiError {
        let field = field.into();
        let error = format!("`{field}`: {}", error.into());
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: ErrorBody { error, field: Some(field) },
            retry_after_s: None,
        }
    }

    pub fn not_found(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, error)
    }

    pub fn unavailable(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error)
    }

    pub fn internal(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error)
    }

    /// 429 with `Retry-After`.
    pub fn overloaded(error: impl Into<String>, retry_after_s: u64) -> ApiError {
        ApiError { retry_after_s: Some(retry_after_s), ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, error) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(s) = self.retry_after_s {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
