//! `POST /hooks/{path}`: check auth → parse → dedupe → commit → answer.

use std::time::Instant;

use axum::Json;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use reqflow_engine::compile::{CompiledAuth, CompiledTrigger, CompiledWorkflow};
use reqflow_engine::runtime::clock::now_ms;
use reqflow_engine::runtime::trigger::{self, TriggerError, TriggerRequest};
use reqflow_engine::runtime::{Engine, EventOutcome};
use reqflow_engine::store::Accepted;
use serde_json::{Value, json};

use crate::AppState;
use crate::edge::{BodyError, ReadBody};
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

/// Authenticate against the workflow's trigger, recording rejections.
/// Every error of `authenticate` refuses the request (matched exhaustively:
/// none can fall through to "allowed").
fn check_auth(state: &AppState, wf: &CompiledWorkflow, req: &TriggerRequest) -> Result<(), ApiError> {
    let engine = &state.engine;
    let auth = match &wf.trigger {
        CompiledTrigger::Webhook { auth, .. } | CompiledTrigger::Soap { auth, .. } => auth.as_ref(),
        _ => None,
    };
    let Some(auth) = auth else { return Ok(()) };
    match trigger::authenticate(auth, req, &wf.templates, engine.settings()) {
        Ok(()) => Ok(()),
        Err(e) => {
            engine.metrics().event(&wf.id, EventOutcome::Rejected);
            state.refusals.note("trigger request refused: unauthorized", &e.to_string());
            Err(match e {
                TriggerError::Unauthorized(m) => ApiError::Unauthorized(m),
                TriggerError::BadRequest(m) | TriggerError::Expression(m) => ApiError::Unauthorized(m),
            })
        }
    }
}

/// Submit an event (with the body as received, when there is one) and
/// describe the outcome: (status, JSON answer).
pub(crate) async fn submit(
    engine: &Engine,
    wf: &CompiledWorkflow,
    payload: Value,
    raw_body: Option<Vec<u8>>,
    received_at: i64,
) -> Result<(StatusCode, Value), ApiError> {
    let mut event = trigger::new_event(wf, payload, received_at, engine.settings()).map_err(|e| {
        engine.metrics().event(&wf.id, EventOutcome::Rejected);
        ApiError::BadRequest(e.to_string())
    })?;
    event.raw_body = raw_body;
    let accepted =
        engine.submit(event).await.inspect_err(|_| engine.metrics().event(&wf.id, EventOutcome::Rejected))?;
    Ok(match accepted {
        Accepted::Queued { run_id } => {
            engine.metrics().event(&wf.id, EventOutcome::Accepted);
            (StatusCode::ACCEPTED, json!({ "run_id": run_id, "status": "queued" }))
        }
        Accepted::Duplicate { run_id } => {
            engine.metrics().event(&wf.id, EventOutcome::Duplicate);
            (StatusCode::OK, json!({ "status": "duplicate", "run_id": run_id }))
        }
        Accepted::Ignored { event_id } => {
            engine.metrics().event(&wf.id, EventOutcome::Ignored);
            (StatusCode::OK, json!({ "status": "ignored", "event_id": event_id }))
        }
    })
}

pub(crate) async fn webhook(
    State(state): State<AppState>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let resp = handle(&state, &path, query, &headers, body).await;
    state.engine.metrics().accept_latency.observe(started.elapsed());
    match resp {
        Ok((status, v)) => (status, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// What a trigger request is once admitted: its workflow, the request with
/// its body, and the body's share of the memory budget (held until answered).
pub(crate) struct Admitted {
    pub wf: Arc<CompiledWorkflow>,
    pub req: TriggerRequest,
    pub _body: ReadBody,
}

/// Route lookup, then credentials carried in headers (bearer, basic) before
/// a byte of the body is read, then the body within the edge's limits
/// (size, time, memory), then credentials over the body (HMAC).
pub(crate) async fn admit(
    state: &AppState,
    route: &str,
    headers: &HeaderMap,
    query: Option<String>,
    body: Body,
) -> Result<Admitted, ApiError> {
    let engine = &state.engine;
    let wf = engine.by_route(route).ok_or_else(|| ApiError::NotFound(format!("no workflow serves POST {route}")))?;
    let mut req = request(headers, query, Bytes::new());
    let auth = match &wf.trigger {
        CompiledTrigger::Webhook { auth, .. } | CompiledTrigger::Soap { auth, .. } => auth.as_ref(),
        _ => None,
    };
    let header_auth = matches!(auth, Some(CompiledAuth::Bearer(_) | CompiledAuth::Basic { .. }));
    if header_auth {
        check_auth(state, &wf, &req)?;
    }
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
    req.body = read.bytes.to_vec();
    if !header_auth {
        check_auth(state, &wf, &req)?;
    }
    Ok(Admitted { wf, req, _body: read })
}

async fn handle(
    state: &AppState,
    path: &str,
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(StatusCode, Value), ApiError> {
    let engine = &state.engine;
    let route = format!("/hooks/{}", path.trim_matches('/'));
    let Admitted { wf, req, _body } = admit(state, &route, headers, query, body).await?;
    let signature_headers = trigger::signature_headers(&wf.trigger);
    let payload = trigger::webhook_event(&req, &signature_headers).map_err(|e| {
        engine.metrics().event(&wf.id, EventOutcome::Rejected);
        ApiError::BadRequest(e.to_string())
    })?;
    submit(engine, &wf, payload, Some(req.body), req.received_at).await
}
