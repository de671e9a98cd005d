//! `GET /api/workflows/{id}`: one serving workflow as the console's
//! workflows page draws it — its trigger (with the URL to give the vendor),
//! its compiled DAG (steps, `needs` edges, `on_failure` steps) with each
//! step's last status, its runs by status over the last day, and its
//! validation state (the last refused change of its file, with the source
//! window).
//!
//! Every figure comes from an indexed query: the counts from
//! `(workflow_id, created_at, status)`, the last statuses from the step
//! results (primary key `(run_id, step_id)`) of the workflow's newest runs.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use reqflow_engine::compile::{CompiledStep, CompiledTrigger, SchedulePlan, StepKind};
use reqflow_engine::runtime::clock::now_ms;
use reqflow_engine::store::RunFilter;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

/// How many of the newest runs are read for the steps' last statuses.
const RECENT_RUNS: u32 = 20;
/// The window of the counts by status.
const DAY_MS: i64 = 24 * 3600 * 1000;

fn trigger_json(t: &CompiledTrigger, public_url: Option<&str>) -> Value {
    let route = t.route();
    let url = route.as_ref().map(|r| match public_url {
        Some(base) => format!("{}{r}", base.trim_end_matches('/')),
        None => r.clone(),
    });
    let detail = match t {
        CompiledTrigger::Webhook { .. } => "POST, JSON body".to_owned(),
        CompiledTrigger::Soap { operation, .. } => format!("POST, SOAP operation {operation}"),
        CompiledTrigger::Schedule(SchedulePlan::Every(d)) => format!("every {}", humantime_like(*d)),
        CompiledTrigger::Schedule(SchedulePlan::Cron { source, .. }) => format!("cron {source} (UTC)"),
        CompiledTrigger::Manual => "manual runs only (POST /api/workflows/{id}/runs)".to_owned(),
    };
    json!({ "kind": t.kind(), "route": route, "url": url, "absolute": public_url.is_some() && url.is_some(), "detail": detail })
}

fn humantime_like(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{} ms", d.as_millis()),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn step_json(
    s: &CompiledStep,
    list: &[CompiledStep],
    on_failure: bool,
    last: &HashMap<String, (String, String)>,
) -> Value {
    let kind = match &s.kind {
        StepKind::Map(_) => "map".to_owned(),
        StepKind::Action { kind, .. } => kind.clone(),
    };
    let (status, run) = match last.get(&s.id) {
        Some((st, run)) => (Some(st.clone()), Some(run.clone())),
        None => (None, None),
    };
    json!({
        "id": s.id,
        "name": s.name,
        "kind": kind,
        "needs": s.needs.iter().filter_map(|&n| list.get(n).map(|x| x.id.clone())).collect::<Vec<_>>(),
        "if": s.condition.is_some(),
        "foreach": s.foreach.is_some(),
        "on_failure": on_failure,
        "last_status": status,
        "last_run": run,
    })
}

/// `GET /api/workflows/{id}`.
pub(crate) async fn workflow(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let wf = state.engine.workflow(&id).ok_or_else(|| ApiError::NotFound(format!("no workflow `{id}` is serving")))?;
    let store = state.engine.store();
    let now = now_ms();

    // Each step's status in the newest run that reached it.
    let recent =
        store.runs(RunFilter { workflow_id: Some(id.clone()), limit: Some(RECENT_RUNS), ..Default::default() }).await?;
    let wanted = wf.steps.len() + wf.on_failure.len();
    let mut last: HashMap<String, (String, String)> = HashMap::new();
    for run in &recent {
        if last.len() >= wanted {
            break;
        }
        for r in store.results(&run.run_id).await? {
            last.entry(r.step_id.clone()).or_insert_with(|| (r.status.as_str().to_owned(), run.run_id.clone()));
        }
    }

    let counts = store.counts_since(&id, now - DAY_MS).await?;
    let counts: serde_json::Map<String, Value> =
        counts.iter().map(|(s, n)| (s.as_str().to_owned(), json!(n))).collect();
    let refused = state.engine.refusals().into_iter().find(|(f, _)| *f == wf.source.name).map(|(_, r)| r);
    let mut steps: Vec<Value> = wf.steps.iter().map(|s| step_json(s, &wf.steps, false, &last)).collect();
    steps.extend(wf.on_failure.iter().map(|s| step_json(s, &wf.on_failure, true, &last)));
    Ok(Json(json!({
        "id": wf.id,
        "version": wf.version,
        "hash": wf.hash,
        "description": wf.description,
        "file": wf.source.name,
        "trigger": trigger_json(&wf.trigger, state.opts.public_url.as_deref()),
        "steps": steps,
        "last_runs_read": recent.len(),
        "runs_last_day": counts,
        "refused": refused,
    })))
}
