//! The Builder API: what a workflow builder embeds reqflow for.
//!
//! - `GET /api/actions`: every registered action and connection type, with
//!   its parameter JSON Schema, docs and an example (as `reqflow actions --json`);
//! - `POST /api/validate`: a workflow's source → the diagnostics `reqflow
//!   validate` gives, with line/column spans (changes nothing);
//! - `PUT /api/workflows/{id}`: deploy a workflow's source (admin scope,
//!   audited as `workflow.deploy`), validated the same way, stored with its
//!   version and served at once;
//! - `GET /api/workflows/{id}/versions` and `…/versions/{n}`: every stored
//!   version of a workflow (numbered from 1 in the order they were stored),
//!   with its hash and source.
//!
//! **Bodies** of `POST /api/validate` and `PUT /api/workflows/{id}`: the
//! workflow as YAML text (`Content-Type: application/yaml`, `text/yaml`,
//! `text/plain` or none), or `application/json` with either `{"yaml": "…"}`
//! (the YAML text in a string) or the workflow itself as a JSON object (JSON
//! is YAML: positions then refer to the JSON text).

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, http::HeaderValue};
use reqflow_engine::diagnostics::FileDiagnostics;
use reqflow_engine::load::load_str;
use reqflow_engine::runtime::clock::rfc3339;
use reqflow_engine::runtime::{ApiDeployed, DeployError};
use reqflow_engine::store::StoredVersion;
use serde_json::{Value, json};

use crate::AppState;
use crate::access::{Caller, Touched};
use crate::error::ApiError;

/// Every registered action and connection type.
pub(crate) async fn actions(State(state): State<AppState>) -> Json<Value> {
    let registry = state.engine.registry();
    let actions: Vec<Value> =
        registry.actions().map(|a| serde_json::to_value(a.doc()).unwrap_or(Value::Null)).collect();
    let connections: Vec<Value> =
        registry.connection_types().map(|c| serde_json::to_value(c).unwrap_or(Value::Null)).collect();
    Json(json!({ "actions": actions, "connection_types": connections }))
}

/// The workflow's text from a request body (see the module docs).
fn workflow_text(headers: &HeaderMap, body: &Bytes) -> Result<String, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not UTF-8 text: {e}")))?
        .to_owned();
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("application/json"));
    if json
        && let Ok(Value::Object(o)) = serde_json::from_str::<Value>(&text)
        && o.len() == 1
        && let Some(Value::String(yaml)) = o.get("yaml")
    {
        return Ok(yaml.clone());
    }
    Ok(text)
}

fn counts(report: &FileDiagnostics) -> (usize, usize) {
    let errors = report.diagnostics.iter().filter(|d| d.is_error()).count();
    (errors, report.diagnostics.len() - errors)
}

/// Validates a workflow: `{valid, errors, warnings, diagnostics, workflow}`,
/// always `200` when the body could be read.
pub(crate) async fn validate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let text = workflow_text(&headers, &body)?;
    let loaded = load_str("body", &text, state.engine.registry());
    let (errors, warnings) = counts(&loaded.report);
    let workflow = loaded.workflow.as_ref().map(|w| {
        json!({
            "id": w.id,
            "version": w.version,
            "hash": w.hash,
            "trigger": { "kind": w.trigger.kind(), "route": w.trigger.route() },
        })
    });
    Ok(Json(json!({
        "valid": errors == 0,
        "errors": errors,
        "warnings": warnings,
        "diagnostics": loaded.report.to_json(),
        "workflow": workflow,
    })))
}

/// The 1-based number of `hash` among a workflow's stored versions.
fn number_of(versions: &[StoredVersion], hash: &str) -> Option<usize> {
    versions.iter().position(|v| v.hash == hash).map(|i| i + 1)
}

/// Deploys a workflow over the API.
pub(crate) async fn deploy(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let text = workflow_text(&headers, &body)?;
    let deployed = match state.engine.deploy_source(&id, &text, &caller.actor).await {
        Ok(d) => d,
        Err(DeployError::Invalid(report)) => {
            let (errors, warnings) = counts(&report);
            let body = json!({
                "error": format!("the workflow is invalid ({errors} error(s)); the version serving, if any, is unchanged"),
                "valid": false,
                "errors": errors,
                "warnings": warnings,
                "diagnostics": report.to_json(),
            });
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response());
        }
        Err(e @ DeployError::IdMismatch { .. }) => return Err(ApiError::BadRequest(e.to_string())),
        Err(DeployError::Clash(m)) => return Err(ApiError::Conflict(m)),
        Err(DeployError::Store(e)) => return Err(e.into()),
    };
    let ApiDeployed { workflow, previous, unchanged, warnings } = deployed;
    let versions = state.engine.store().workflow_versions(&id).await?;
    let n = number_of(&versions, &workflow.hash);
    let status = if unchanged { StatusCode::OK } else { StatusCode::CREATED };
    let mut r = (
        status,
        Json(json!({
            "id": workflow.workflow_id,
            "version": workflow.version,
            "hash": workflow.hash,
            "n": n,
            "previous": previous,
            "unchanged": unchanged,
            "origin": "api",
            "warnings": warnings.to_json(),
        })),
    )
        .into_response();
    if let Some(Ok(v)) = n.map(|n| HeaderValue::from_str(&format!("/api/workflows/{id}/versions/{n}"))) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.extensions_mut().insert(Touched(vec![workflow.hash]));
    Ok(r)
}

fn version_json(n: usize, v: &StoredVersion, serving: Option<&str>) -> Value {
    json!({
        "n": n,
        "version": v.version,
        "hash": v.hash,
        "stored_at": v.stored_at.map(rfc3339),
        "serving": serving == Some(v.hash.as_str()),
    })
}

/// Where the serving version of `id` comes from: `api`, `directory`, or null.
fn origin(state: &AppState, id: &str) -> (Option<String>, Value) {
    match state.engine.workflow(id) {
        Some(w) if state.engine.deployed_over_api(id) => (Some(w.hash.clone()), json!("api")),
        Some(w) => (Some(w.hash.clone()), json!("directory")),
        None => (None, Value::Null),
    }
}

/// Every stored version of a workflow, oldest first.
pub(crate) async fn versions(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let versions = state.engine.store().workflow_versions(&id).await?;
    if versions.is_empty() {
        return Err(ApiError::NotFound(format!("no version of workflow `{id}` is stored")));
    }
    let (serving, origin) = origin(&state, &id);
    let list: Vec<Value> =
        versions.iter().enumerate().map(|(i, v)| version_json(i + 1, v, serving.as_deref())).collect();
    Ok(Json(json!({ "workflow": id, "origin": origin, "serving": serving, "versions": list })))
}

/// One stored version, with its source.
pub(crate) async fn version(
    State(state): State<AppState>,
    Path((id, n)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let n: usize = n
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::BadRequest(format!("`{n}` is not a version number (1, 2, …)")))?;
    let versions = state.engine.store().workflow_versions(&id).await?;
    let v = versions.get(n - 1).ok_or_else(|| {
        ApiError::NotFound(format!("workflow `{id}` has {} stored version(s), not {n}", versions.len()))
    })?;
    let source = state
        .engine
        .store()
        .workflow_source(&id, &v.hash)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("the source of `{id}` version {n} is not stored")))?;
    let (serving, _) = origin(&state, &id);
    let mut out = version_json(n, v, serving.as_deref());
    out["workflow"] = json!(id);
    out["source"] = json!(source);
    Ok(Json(out))
}

/// The OpenAPI document of the admin API.
pub(crate) async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}
