//! One error type for every handler, mapped to status codes in one place.
//! Store internals are never shown: a store that cannot be reached (or a
//! full disk) is `503` with `Retry-After`, logged once per interval; stored
//! data that cannot be decoded is `500` "internal error", logged.

use std::sync::OnceLock;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reqflow_engine::runtime::trigger::TriggerError;
use reqflow_engine::runtime::{AcceptError, EngineError};
use reqflow_engine::store::StoreError;
use serde_json::json;

use crate::edge::LogLimiter;

/// An API error.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400
    #[error("{0}")]
    BadRequest(String),
    /// 401
    #[error("{0}")]
    Unauthorized(String),
    /// 404
    #[error("{0}")]
    NotFound(String),
    /// 408: the body did not arrive in time.
    #[error("{0}")]
    Timeout(String),
    /// 409
    #[error("{0}")]
    Conflict(String),
    /// 413
    #[error("{0}")]
    TooLarge(String),
    /// 503 with `Retry-After`: too much work waiting.
    #[error("{0}")]
    Overloaded(String),
    /// 503 with `Retry-After`: the store cannot be reached or written (the
    /// detail goes to the log, not to the caller).
    #[error("the store is unavailable; try again")]
    Unavailable(String),
    /// 500; the detail goes to the log, not to the caller.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Overloaded(_) | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::NotFound(m),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Database(m) => ApiError::Unavailable(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<AcceptError> for ApiError {
    fn from(e: AcceptError) -> Self {
        match e {
            AcceptError::Overloaded(m) => ApiError::Overloaded(m),
            e @ AcceptError::WorkflowBacklog { .. } => ApiError::Overloaded(e.to_string()),
            AcceptError::Stopped => ApiError::Overloaded("the engine is stopping".into()),
            AcceptError::Store(m) => ApiError::Unavailable(m),
        }
    }
}

impl From<TriggerError> for ApiError {
    fn from(e: TriggerError) -> Self {
        match e {
            TriggerError::NotFound(m) => ApiError::NotFound(m),
            TriggerError::WrongTrigger(m) => ApiError::Conflict(m),
            TriggerError::Unauthorized(a) => ApiError::Unauthorized(a.to_string()),
            TriggerError::BadRequest(m) => ApiError::BadRequest(m),
            TriggerError::NotStored(a) => a.into(),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(s) => s.into(),
            EngineError::Accept(a) => a.into(),
            EngineError::UnknownWorkflow(m) => ApiError::NotFound(format!("no workflow `{m}`")),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Store faults come in floods (every request fails alike): one log line per interval.
fn store_faults() -> &'static LogLimiter {
    static LIMITER: OnceLock<LogLimiter> = OnceLock::new();
    LIMITER.get_or_init(LogLimiter::default)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Unavailable(detail) => store_faults().note("the store is unavailable: answering 503", detail),
            ApiError::Internal(detail) => tracing::error!(detail, "internal error"),
            _ => {}
        }
        let status = self.status();
        let mut resp = (status, Json(json!({ "error": self.to_string() }))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}
