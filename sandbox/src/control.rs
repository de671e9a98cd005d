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
//! - `POST /_sandbox/workable/candidates/{id}/move` with `{"stage": SLUG}` (default
//!   `phone-screen`): moves the candidate as a recruiter would in Workable and delivers
//!   `candidate_moved` to every matching subscription, signed with the token that
//!   created it; answers `{candidate, deliveries: [{target, status, body}]}` once
//!   they were answered.
//! - `POST /_sandbox/workable/subscriptions/validity` with `{"seconds": N}` (or
//!   `null`: a year): how long subscriptions created from now on are valid.

use axum::extract::{Path, State};
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
        .route("/_sandbox/workable/candidates/{id}/move", post(move_candidate))
        .route("/_sandbox/workable/subscriptions/validity", post(subscription_validity))
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MoveRequest {
    /// The stage slug (`phone-screen`, `interview`, …).
    #[serde(default, alias = "target_stage")]
    stage: Option<String>,
}

async fn move_candidate(State(sb): State<Sandbox>, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    let req: MoveRequest = if body.iter().all(u8::is_ascii_whitespace) {
        MoveRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid request: {e}")),
        }
    };
    let slug = req.stage.unwrap_or_else(|| "phone-screen".to_owned());
    let candidate = match crate::workable::candidates::move_candidate(&sb, &id, &slug, None) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let deliveries = crate::workable::deliver_now(&sb, "candidate_moved", &candidate, Some(&slug)).await;
    Json(json!({ "candidate": candidate, "deliveries": deliveries })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Validity {
    seconds: Option<u64>,
}

async fn subscription_validity(State(sb): State<Sandbox>, body: axum::body::Bytes) -> Response {
    let req: Validity = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid request: {e}")),
    };
    sb.update(|d| d.workable.subscription_validity_secs = req.seconds);
    Json(json!({ "seconds": req.seconds })).into_response()
}
