//! `POST /hooks/{path}`: the request's head, then its body within the
//! edge's limits, through the engine's one accept path; the typed result
//! mapped to HTTP.

use std::time::Instant;

use axum::Json;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use reqflow_engine::runtime::clock::now_ms;
use reqflow_engine::runtime::trigger::{TriggerError, TriggerRequest};
use reqflow_engine::runtime::{EventOutcome, Inbound};
use reqflow_engine::store::Accepted;
use serde_json::{Value, json};

use crate::AppState;
use crate::edge::BodyError;
use crate::error::ApiError;

/// A trigger request as `POST /hooks/{path}` and `POST /soap/{path}` see it:
/// header names lower-cased (values that are not visible ASCII dropped), the
/// query string split and percent-decoded, the body as received. Public for
/// the fuzz targets (`fuzz/`), which drive the same path as the server.
pub fn request(headers: &HeaderMap, query: Option<String>, body: Bytes) -> TriggerRequest {
    let headers = headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned())))
        .collect();
    let query = query
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default();
    TriggerRequest { headers, query, body: body.to_vec(), received_at: now_ms() }
}

fn decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The answer to an accepted event: (status, JSON body).
pub(crate) fn answer(accepted: Accepted) -> (StatusCode, Value) {
    match accepted {
        Accepted::Queued { run_id } => (StatusCode::ACCEPTED, json!({ "run_id": run_id, "status": "queued" })),
        Accepted::Duplicate { run_id } => (StatusCode::OK, json!({ "status": "duplicate", "run_id": run_id })),
        Accepted::Ignored { event_id } => (StatusCode::OK, json!({ "status": "ignored", "event_id": event_id })),
        // Stored, with the reason: a 2xx (the sender must not retry), saying so.
        Accepted::Invalid { event_id, reason } => {
            (StatusCode::OK, json!({ "status": "invalid", "event_id": event_id, "reason": reason }))
        }
    }
}

pub(crate) async fn webhook(
    State(state): State<AppState>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let route = format!("/hooks/{}", path.trim_matches('/'));
    let resp = accept(&state, route, query, &headers, body).await;
    state.engine.metrics().accept_latency.observe(started.elapsed());
    match resp {
        Ok(accepted) => {
            let (status, v) = answer(accepted);
            (status, Json(v)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// A trigger request through the engine's accept path: the route and the
/// credentials carried in headers (bearer, basic) before a byte of the body
/// is read ([`Engine::admit`]), then the body within the edge's limits
/// (size, time, memory), then [`Engine::accept`] (HMAC over the body,
/// parsing, `when:`, `dedupe:`, the durable accept). The body's share of the
/// memory budget is held until the event is stored.
pub(crate) async fn accept(
    state: &AppState,
    route: String,
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Accepted, ApiError> {
    let engine = &state.engine;
    let mut request = request(headers, query, Bytes::new());
    let wf = engine.admit(&route, &request).map_err(|e| refused(state, e))?;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let read = state.bodies.read(body, declared).await.map_err(|e| {
        engine.metrics().event(&wf.id, EventOutcome::Rejected);
        state.refusals.note("trigger body refused", &e.to_string());
        match e {
            BodyError::TooLarge(_) => ApiError::TooLarge(e.to_string()),
            BodyError::Timeout(_) => ApiError::Timeout(e.to_string()),
            BodyError::Busy => ApiError::Overloaded(e.to_string()),
            BodyError::Broken(_) => ApiError::BadRequest(e.to_string()),
        }
    })?;
    request.body = read.bytes.to_vec();
    let accepted = engine.accept(Inbound::Request { route, request }).await.map_err(|e| refused(state, e));
    drop(read);
    accepted
}

/// A refusal as an [`ApiError`]; credential refusals are logged (rate-limited).
fn refused(state: &AppState, e: TriggerError) -> ApiError {
    if let TriggerError::Unauthorized(a) = &e {
        state.refusals.note("trigger request refused: unauthorized", &a.to_string());
    }
    e.into()
}
