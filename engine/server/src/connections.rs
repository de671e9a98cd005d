//! Connections over HTTP: listed with their state (`GET /api/connections`,
//! read), checked (`POST /api/connections/{workflow}/{name}/test`, operate),
//! connected by OAuth (`POST /api/connections/{workflow}/{name}/connect`,
//! admin: the authorize URL), and the OAuth callback that completes a connect
//! (`GET /connect/callback`).
//!
//! The callback is outside the token guard: the browser comes back from the
//! vendor without the console's `SameSite=Strict` cookie. What authorizes it
//! is the `state`: 256 random bits given only to the admin who started the
//! connect, valid once, for ten minutes, in this process. It is audited.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use reqflow_engine::runtime::clock::now_ms;
use reqflow_engine::runtime::connections::ConnectionError;
use reqflow_engine::store::{AuditOutcome, NewAudit};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

/// Where the callback is served on the admin plane (the one route there besides the
/// console's login routes that takes no token).
pub const CALLBACK_PATH: &str = "/connect/callback";

fn api_error(e: ConnectionError) -> ApiError {
    match e {
        ConnectionError::UnknownWorkflow(_) | ConnectionError::UnknownConnection { .. } => {
            ApiError::NotFound(e.to_string())
        }
        other => ApiError::BadRequest(other.to_string()),
    }
}

pub(crate) async fn list(State(state): State<AppState>) -> Json<Value> {
    let workflows = state.engine.workflows();
    let list = state.engine.connection_summaries(&workflows).await;
    Json(json!({ "connections": list }))
}

pub(crate) async fn test(
    State(state): State<AppState>,
    Path((workflow, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let wf = state.engine.connection_workflow(&workflow).map_err(api_error)?;
    let report = state.engine.check_connection(&wf, &name).await.map_err(api_error)?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectBody {
    /// Where the vendor sends the code (registered on the API client). Default: this admin
    /// listener's `/connect/callback`, from the request's `Host`.
    redirect_uri: Option<String>,
}

pub(crate) async fn connect(
    State(state): State<AppState>,
    Path((workflow, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: ConnectBody = if body.iter().all(u8::is_ascii_whitespace) {
        ConnectBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))?
    };
    let redirect_uri = match b.redirect_uri {
        Some(u) => u,
        None => {
            let host = headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .ok_or_else(|| ApiError::BadRequest("no `Host` header: give `redirect_uri`".into()))?;
            let scheme = if state.opts.secure_cookies { "https" } else { "http" };
            format!("{scheme}://{host}{CALLBACK_PATH}")
        }
    };
    let wf = state.engine.connection_workflow(&workflow).map_err(api_error)?;
    let auth = state.engine.begin_connect(wf, &name, &redirect_uri).map_err(api_error)?;
    Ok(Json(serde_json::to_value(auth).unwrap_or_default()))
}

#[derive(Debug, Deserialize)]
pub(crate) struct Callback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let esc = reqflow_engine::xml::escape;
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{0}</title></head>\
         <body><h1>{0}</h1><p>{1}</p><p><a href=\"/#/connections\">Back to the connections</a></p></body></html>",
        esc(title),
        esc(text)
    );
    (status, Html(html)).into_response()
}

pub(crate) async fn callback(State(state): State<AppState>, Query(q): Query<Callback>) -> Response {
    let engine = &state.engine;
    let audit = |outcome: AuditOutcome, detail: Value| async move {
        let entry = NewAudit {
            at: now_ms(),
            actor: "oauth-callback".into(),
            action: "connection.connect.callback".into(),
            objects: vec![],
            outcome,
            detail,
        };
        if let Err(e) = engine.store().audit(entry).await {
            tracing::warn!(error = %e, "the audit record of an OAuth callback could not be stored");
        }
    };
    let (Some(st), code) = (q.state.as_deref(), q.code.as_deref()) else {
        return page(StatusCode::BAD_REQUEST, "Not connected", "The callback has no state.");
    };
    if let Some(e) = &q.error {
        audit(AuditOutcome::Failed, json!({"error": e})).await;
        return page(StatusCode::BAD_REQUEST, "Not connected", &format!("Access was not granted ({e})."));
    }
    let Some(code) = code else {
        return page(StatusCode::BAD_REQUEST, "Not connected", "The callback has no code.");
    };
    match engine.complete_connect(st, code).await {
        Ok(v) => {
            audit(AuditOutcome::Ok, json!({"workflow": v["workflow"], "connection": v["connection"]})).await;
            let what = format!("{}/{}", v["workflow"].as_str().unwrap_or(""), v["connection"].as_str().unwrap_or(""));
            page(
                StatusCode::OK,
                "Connected",
                &format!("The connection {what} is connected; its token is stored encrypted."),
            )
        }
        Err(e) => {
            let refused = matches!(e, ConnectionError::BadState);
            audit(AuditOutcome::Failed, json!({"error": e.to_string()})).await;
            let status = if refused { StatusCode::BAD_REQUEST } else { StatusCode::BAD_GATEWAY };
            page(status, "Not connected", &e.to_string())
        }
    }
}
