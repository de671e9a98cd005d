//! `GET /api/overview`: the figures of `/metrics` as one JSON object, for the
//! console's overview page, which samples it every few seconds and draws
//! the changes as small charts: trigger requests by outcome, runs finished
//! (this process), step retries, backlog refusals (counters since `serve`
//! started), the step and accept latency histograms (cumulative buckets),
//! runs in the store by status and the queue (backlog) now.

use axum::Json;
use axum::extract::State;
use reqflow_engine::runtime::clock::{now_ms, rfc3339};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

/// `GET /api/overview`.
pub(crate) async fn overview(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = state.engine.store();
    let counts = store.counts().await?;
    let depth = store.depth().await?;
    let m = state.engine.metrics().snapshot();
    let runs: serde_json::Map<String, Value> = counts.iter().map(|(s, n)| (s.as_str().to_owned(), json!(n))).collect();
    Ok(Json(json!({
        "at": rfc3339(now_ms()),
        "events": m.events,
        "runs_finished": m.runs_finished,
        "retries": m.retries,
        "backlog_refusals": m.backlog_refusals,
        "step_latency": m.step_latency,
        "accept_latency": m.accept_latency,
        "runs": runs,
        "backlog": { "queued": depth.queued, "running": depth.running },
        "workflows": state.engine.workflows().len(),
    })))
}
