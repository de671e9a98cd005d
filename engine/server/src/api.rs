//! The run API, health and metrics.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reqflow_engine::runtime::clock::{now_ms, parse_time};
use reqflow_engine::runtime::event_view;
use reqflow_engine::runtime::{EngineError, EventIn, Inbound, Origin, RetryRequest};
use reqflow_engine::store::{EventFilter, EventOutcome, RunFilter, RunRecord, RunStatus};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::access::Touched;
use crate::error::ApiError;
use crate::hooks::answer;

/// The workflows that serve, each with its version and content hash and,
/// when the last change to its file was refused (the version shown keeps
/// serving), `refused: {at, diagnostics}`; files whose change was refused
/// and that serve nothing are in `refused_files`.
pub(crate) async fn workflows(State(state): State<AppState>) -> Json<Value> {
    let mut refusals = state.engine.refusals();
    let list: Vec<Value> = state
        .engine
        .workflows()
        .iter()
        .map(|w| {
            let refused = refusals.iter().position(|(f, _)| *f == w.source.name).map(|i| refusals.remove(i).1);
            json!({
                "id": w.id,
                "version": w.version,
                "hash": w.hash,
                "description": w.description,
                "trigger": { "kind": w.trigger.kind(), "route": w.trigger.route() },
                "steps": w.steps.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
                "on_failure": w.on_failure.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
                "file": w.source.name,
                "refused": refused,
            })
        })
        .collect();
    let unserved: Vec<Value> = refusals.into_iter().map(|(file, r)| json!({ "file": file, "refused": r })).collect();
    Json(json!({ "workflows": list, "refused_files": unserved }))
}

/// The latest reload outcomes (deployed, refused, removed), newest first.
pub(crate) async fn reloads(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "reloads": state.engine.reloads() }))
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub(crate) struct RunsQuery {
    /// An exact run id or event id: that run (the run an event started or
    /// duplicates), if it also matches the other filters. Otherwise a subject
    /// (as `subject=`): that person's runs.
    q: Option<String>,
    /// Only this workflow (id).
    workflow: Option<String>,
    /// Only runs with this status.
    status: Option<String>,
    /// From this time (ISO 8601 or Unix ms).
    since: Option<String>,
    /// Until this time (ISO 8601 or Unix ms).
    until: Option<String>,
    /// At most this many (default 50, at most 1000).
    limit: Option<u32>,
    /// The page after this id (`next_before` of the previous page).
    before: Option<String>,
    /// Only runs of this subject (a value of the workflows' `subject:`, e.g. an email; compared trimmed and
    /// lower-cased).
    subject: Option<String>,
}

fn parse_status(s: Option<&str>) -> Result<Option<RunStatus>, ApiError> {
    s.map(|s| {
        RunStatus::parse(s).ok_or_else(|| {
            let events = match EventOutcome::parse(s) {
                Some(o) => {
                    format!(" (events that start no run are listed by `GET /api/events?outcome={}`)", o.as_str())
                }
                None => String::new(),
            };
            ApiError::BadRequest(format!("unknown run status `{s}`; use {}{events}", RunStatus::NAMES.join(", ")))
        })
    })
    .transpose()
}

/// `since` / `until`: ISO 8601, a duration before now (`2h`) or Unix milliseconds.
fn parse_when(name: &str, s: Option<&str>) -> Result<Option<i64>, ApiError> {
    s.map(|s| parse_time(s).map_err(|e| ApiError::BadRequest(format!("`{name}`: {e}")))).transpose()
}

pub(crate) async fn runs(State(state): State<AppState>, Query(q): Query<RunsQuery>) -> Result<Json<Value>, ApiError> {
    Ok(Json(runs_page(&state, q).await?))
}

/// One page of `GET /api/runs` (also what `GET /api/runs/stream` sends).
pub(crate) async fn runs_page(state: &AppState, q: RunsQuery) -> Result<Value, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let filter = RunFilter {
        workflow_id: q.workflow,
        status: parse_status(q.status.as_deref())?,
        since: parse_when("since", q.since.as_deref())?,
        until: parse_when("until", q.until.as_deref())?,
        limit: Some(limit),
        before: q.before,
        subject: match q.subject {
            Some(v) => Some(state.engine.subject_hash(&v).await?),
            None => None,
        },
    };
    let mut filter = filter;
    if let Some(term) = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        if let Some(run) = search(state, term, &filter).await? {
            return Ok(json!({ "runs": [run], "next_before": null }));
        }
        // Not a run or event id: a subject (its keyed hash; the value is not stored).
        filter.subject = Some(state.engine.subject_hash(term).await?);
    }
    let runs = state.engine.store().runs(filter).await?;
    let next = (runs.len() as u32 == limit).then(|| runs.last().map(|r| r.run_id.clone())).flatten();
    Ok(json!({ "runs": runs, "next_before": next }))
}

/// `q=`: the run with this id, or the run of the event with this id (both
/// primary-key lookups), kept if it matches the rest of the filter.
async fn search(state: &AppState, term: &str, f: &RunFilter) -> Result<Option<RunRecord>, ApiError> {
    let store = state.engine.store();
    let run = match store.run(term).await? {
        Some(r) => Some(r),
        None => match store.event(term).await?.and_then(|e| e.run_id) {
            Some(id) => store.run(&id).await?,
            None => None,
        },
    };
    Ok(run
        .filter(|r| f.workflow_id.as_ref().is_none_or(|w| *w == r.workflow.workflow_id))
        .filter(|r| f.status.is_none_or(|s| s == r.status))
        .filter(|r| f.since.is_none_or(|t| r.created_at >= t))
        .filter(|r| f.until.is_none_or(|t| r.created_at < t)))
}

pub(crate) async fn run(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let detail = state.engine.run_detail(&id).await?.ok_or_else(|| ApiError::NotFound(format!("no run `{id}`")))?;
    Ok(Json(detail))
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct EventsQuery {
    /// Only this workflow (id).
    workflow: Option<String>,
    /// Only events with this outcome (accepted, ignored, duplicate, invalid).
    outcome: Option<String>,
    /// From this time (ISO 8601 or Unix ms).
    since: Option<String>,
    /// Until this time (ISO 8601 or Unix ms).
    until: Option<String>,
    /// At most this many (default 50, at most 1000).
    limit: Option<u32>,
    /// The page after this id (`next_before` of the previous page).
    before: Option<String>,
}

/// Stored events, newest first: each with its outcome (`accepted`,
/// `ignored`, `duplicate`, `invalid`), reason and run, without payload or
/// body (personal data: `GET /api/events/{id}` has the payload). Paged like
/// `GET /api/runs`: `next_before` is the `before` of the next page.
pub(crate) async fn events(
    State(state): State<AppState>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let outcome = q
        .outcome
        .as_deref()
        .map(|o| {
            EventOutcome::parse(o).ok_or_else(|| {
                ApiError::BadRequest(format!("unknown outcome `{o}`; use {}", EventOutcome::NAMES.join(", ")))
            })
        })
        .transpose()?;
    let filter = EventFilter {
        workflow_id: q.workflow,
        outcome,
        since: parse_when("since", q.since.as_deref())?,
        until: parse_when("until", q.until.as_deref())?,
        limit: Some(limit),
        before: q.before,
    };
    let events = state.engine.store().events(filter).await?;
    let next = (events.len() as u32 == limit).then(|| events.last().map(|e| e.event_id.clone())).flatten();
    let secrets = state.engine.secrets();
    let list: Vec<Value> = events.iter().map(|e| event_view::summary_json(e, secrets)).collect();
    Ok(Json(json!({ "events": list, "next_before": next })))
}

/// One stored event: as listed (outcome, reason, run), and its `event`
/// context (headers without credentials). The raw body stays on its own
/// endpoint (`/api/runs/{id}/event/raw`).
pub(crate) async fn event(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let e = state.engine.store().event(&id).await?.ok_or_else(|| ApiError::NotFound(format!("no event `{id}`")))?;
    Ok(Json(event_view::record_json(&e, state.engine.secrets())))
}

/// The body of a run's event exactly as received, with its original
/// `Content-Type` (404 when the event has none stored: schedule and manual
/// runs). Served as a download (`nosniff`, `attachment`): the bytes come
/// from outside and must not be rendered as a page of this API.
pub(crate) async fn run_event_raw(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let store = state.engine.store();
    let run = store.run(&id).await?.ok_or_else(|| ApiError::NotFound(format!("no run `{id}`")))?;
    let event = store
        .event(&run.event_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("the event of run `{id}` is not stored")))?;
    let Some(raw) = event.raw_body else {
        return Err(ApiError::NotFound(format!(
            "run `{id}` was started by a {} event: no body is stored",
            event.trigger
        )));
    };
    let content_type = event
        .payload
        .get("headers")
        .and_then(|h| h.get("content-type"))
        .and_then(Value::as_str)
        .and_then(|ct| HeaderValue::from_str(ct).ok())
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    let mut r = raw.into_response();
    let headers = r.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
    Ok(r)
}

/// `GET /api/runs/{id}/steps/{step}/output/raw`: the bytes of a step's
/// binary output (a fetched report), with their content type, as a download.
pub(crate) async fn step_output_raw(
    State(state): State<AppState>,
    Path((id, step)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    use reqflow_engine::runtime::RawOutputError;
    state.engine.store().run(&id).await?.ok_or_else(|| ApiError::NotFound(format!("no run `{id}`")))?;
    let bin = match state.engine.step_output_raw(&id, &step).await {
        Ok(Some(b)) => b,
        Ok(None) => return Err(ApiError::NotFound(format!("run `{id}` has no output of step `{step}`"))),
        Err(RawOutputError::Engine(e)) => return Err(e.into()),
        Err(e) => return Err(ApiError::NotFound(format!("run `{id}`, step `{step}`: {e}"))),
    };
    let content_type = HeaderValue::from_str(&bin.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let mut r = bin.bytes.into_response();
    let headers = r.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
    Ok(r)
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct RetryQuery {
    /// `original` (default) or `latest`.
    version: Option<String>,
    /// Re-run this step and everything downstream of it.
    from: Option<String>,
}

async fn retry_one(state: &AppState, id: &str, which: &str, from: Option<String>) -> Result<Value, ApiError> {
    let latest = match which {
        "original" => false,
        "latest" => true,
        other => return Err(ApiError::BadRequest(format!("`version` must be `original` or `latest`, not `{other}`"))),
    };
    let answer = state.engine.retry(id, RetryRequest { latest, from }).await.map_err(|e| match e {
        EngineError::UnknownWorkflow(w) => ApiError::Conflict(format!("workflow `{w}` is no longer loaded")),
        other => other.into(),
    })?;
    let run = &answer.run;
    Ok(json!({
        "run_id": run.run_id,
        "status": run.status,
        "version_used": answer.version_used,
        "workflow": run.workflow,
        "retries": run.retries,
        "reused": answer.reused,
        "rerun": answer.rerun,
    }))
}

pub(crate) async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RetryQuery>,
) -> Result<Response, ApiError> {
    let which = q.version.as_deref().unwrap_or("original");
    let v = retry_one(&state, &id, which, q.from).await?;
    Ok((StatusCode::ACCEPTED, Json(v)).into_response())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BulkRetry {
    workflow: String,
    /// ISO 8601, a duration before now (`2h`) or Unix ms (a number or a string).
    since: Option<Value>,
    until: Option<Value>,
    version: Option<String>,
}

/// A time in a JSON body: a string as `parse_time` reads it, or Unix ms as a number.
fn body_time(name: &str, v: Option<&Value>) -> Result<Option<i64>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest(format!("`{name}`: {n} is not a time in Unix milliseconds"))),
        Some(Value::String(s)) => parse_time(s).map(Some).map_err(|e| ApiError::BadRequest(format!("`{name}`: {e}"))),
        Some(other) => Err(ApiError::BadRequest(format!("`{name}`: expected a time, got {other}"))),
    }
}

pub(crate) async fn bulk_retry(State(state): State<AppState>, Json(b): Json<BulkRetry>) -> Result<Response, ApiError> {
    let which = b.version.as_deref().unwrap_or("original").to_owned();
    let (since, until) = (body_time("since", b.since.as_ref())?, body_time("until", b.until.as_ref())?);
    let mut retried = Vec::new();
    let mut errors = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let filter = RunFilter {
            workflow_id: Some(b.workflow.clone()),
            status: Some(RunStatus::Failed),
            since,
            until,
            limit: Some(500),
            before: before.clone(),
            subject: None,
        };
        let page = state.engine.store().runs(filter).await?;
        if page.is_empty() {
            break;
        }
        before = page.last().map(|r| r.run_id.clone());
        for r in &page {
            match retry_one(&state, &r.run_id, &which, None).await {
                Ok(_) => retried.push(r.run_id.clone()),
                Err(e) => errors.push(json!({ "run_id": r.run_id, "error": e.to_string() })),
            }
        }
        if page.len() < 500 {
            break;
        }
    }
    let mut r = (
        StatusCode::ACCEPTED,
        Json(json!({ "retried": retried.len(), "run_ids": retried, "errors": errors, "version_used": which })),
    )
        .into_response();
    r.extensions_mut().insert(Touched(retried));
    Ok(r)
}

/// `POST /api/events/{id}/redeliver`: a new run from a stored event, on
/// the workflow's current version, past its dedupe key.
pub(crate) async fn redeliver(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let accepted = state.engine.accept(Inbound::Redeliver { event_id: id.clone() }).await?;
    let (status, mut v) = answer(accepted);
    let run = v.get("run_id").and_then(Value::as_str).map(str::to_owned);
    if let Some(o) = v.as_object_mut() {
        o.insert("redelivered".into(), Value::String(id.clone()));
    }
    let mut r = (status, Json(v)).into_response();
    r.extensions_mut().insert(Touched(std::iter::once(id).chain(run).collect()));
    Ok(r)
}

pub(crate) async fn manual(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> Result<Response, ApiError> {
    let payload = body.map(|Json(v)| v).unwrap_or_else(|| json!({}));
    let inbound =
        Inbound::Event(EventIn { workflow: id, origin: Origin::Manual, payload, received_at: now_ms(), run_id: None });
    let (status, v) = answer(state.engine.accept(inbound).await?);
    let run = v.get("run_id").and_then(Value::as_str).map(str::to_owned);
    let mut r = (status, Json(v)).into_response();
    r.extensions_mut().insert(Touched(run.into_iter().collect()));
    Ok(r)
}

/// Answers within a second whatever the store does: 503 with the reason
/// when the store fails or does not answer in time.
pub(crate) async fn healthz(State(state): State<AppState>) -> Response {
    let unavailable = |reason: String| {
        let mut r = (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "reason": reason })))
            .into_response();
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    };
    match tokio::time::timeout(std::time::Duration::from_millis(800), state.engine.store().depth()).await {
        Err(_) => unavailable("the store did not answer within 800 ms".into()),
        Ok(Err(e)) => {
            state.refusals.note("healthz: the store is unavailable", &e.to_string());
            unavailable(format!("the store is unavailable ({})", state.engine.store().backend()))
        }
        Ok(Ok(d)) => Json(json!({
            "status": "ok",
            "store": state.engine.store().backend(),
            "workflows": state.engine.workflows().len(),
            "queued": d.queued,
            "running": d.running,
        }))
        .into_response(),
    }
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.engine.store();
    let counts = store.counts().await?;
    let depth = store.depth().await?;
    let by_status: Vec<(String, f64)> =
        counts.iter().map(|(s, n)| (format!("status=\"{}\"", s.as_str()), *n as f64)).collect();
    let text = state.engine.metrics().render(&[
        ("reqflow_runs", "Runs in the store, by status.", by_status),
        ("reqflow_queue_depth", "Runs waiting for a worker.", vec![(String::new(), depth.queued as f64)]),
        ("reqflow_queue_running", "Runs held by a worker.", vec![(String::new(), depth.running as f64)]),
    ]);
    let mut r = text.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    Ok(r)
}
