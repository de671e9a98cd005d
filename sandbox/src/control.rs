//! `/_sandbox/…`: what the sandbox received, faults for tests, and signed
//! webhooks on demand.
//!
//! - `GET /_sandbox/requests` → `{"requests": [{at, method, path, query, headers, body}]}`
//!   (authorization redacted, WS-Security passwords and OAuth secrets removed from bodies);
//!   `DELETE` clears it.
//! - `POST /_sandbox/faults` with [`Faults`] fields, plus `"expire_tokens": true`
//!   to invalidate every Workday access token issued so far; `DELETE` clears faults.
//! - `POST /_sandbox/webhooks/send` with `{url, key, event_type?, candidate_id?, payload?}`:
//!   POSTs a Workable-style delivery signed `hex(HMAC-SHA256(key, body))` in
//!   `X-Workable-Signature` and answers `{status, body, signature}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::state::{Faults, Sandbox};
use crate::util::{error, str_of};
use crate::workable::subscriptions_api::{payload, send_signed, sign};

/// The control routes.
pub fn router(_sb: Sandbox) -> Router<Sandbox> {
    Router::new()
        .route("/_sandbox/requests", get(requests).delete(clear_requests))
        .route("/_sandbox/faults", post(set_faults).delete(clear_faults).get(get_faults))
        .route("/_sandbox/webhooks/send", post(send_webhook))
        .route("/_sandbox/health", get(|| async { "ok" }))
}

async fn requests(State(sb): State<Sandbox>) -> Json<Value> {
    Json(json!({ "requests": sb.requests() }))
}

async fn clear_requests(State(sb): State<Sandbox>) -> Json<Value> {
    sb.lock().log.clear();
    Json(json!({}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    #[serde(flatten)]
    faults: Faults,
    #[serde(default)]
    expire_tokens: bool,
}

async fn set_faults(State(sb): State<Sandbox>, body: axum::body::Bytes) -> Response {
    let req: FaultRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid faults: {e}")),
    };
    if req.expire_tokens {
        sb.update(|d| d.workday.access_tokens.clear());
    }
    let active = req.faults != Faults::default();
    sb.set_faults(active.then(|| req.faults.clone()));
    Json(json!({ "faults": active.then_some(req.faults), "expired_tokens": req.expire_tokens })).into_response()
}

async fn get_faults(State(sb): State<Sandbox>) -> Json<Value> {
    Json(json!({ "faults": sb.lock().faults.clone() }))
}

async fn clear_faults(State(sb): State<Sandbox>) -> Json<Value> {
    sb.set_faults(None);
    Json(json!({ "faults": null }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendWebhook {
    url: String,
    key: String,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    candidate_id: Option<String>,
    #[serde(default)]
    payload: Option<Value>,
}

async fn send_webhook(State(sb): State<Sandbox>, body: axum::body::Bytes) -> Response {
    let req: SendWebhook = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid request: {e}")),
    };
    let body = match req.payload {
        Some(p) => p,
        None => {
            let candidate = sb.read(|d| match &req.candidate_id {
                Some(id) => d.workable.candidates.iter().find(|c| str_of(c, "id") == Some(id)).cloned(),
                None => d.workable.candidates.first().cloned(),
            });
            let Some(candidate) = candidate else { return error(StatusCode::NOT_FOUND, "candidate not found") };
            payload(req.event_type.as_deref().unwrap_or("candidate_moved"), &candidate)
        }
    };
    let raw = body.to_string().into_bytes();
    let signature = sign(&req.key, &raw);
    match send_signed(&req.url, &req.key, raw).await {
        Ok((status, text)) => Json(json!({ "status": status, "body": text, "signature": signature })).into_response(),
        Err(e) => error(StatusCode::BAD_GATEWAY, &format!("delivery failed: {e}")),
    }
}
