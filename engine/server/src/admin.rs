//! Tokens and the audit trail over HTTP (admin scope).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use reqflow_engine::runtime::clock::{now_ms, rfc3339};
use reqflow_engine::runtime::tokens::{self, TokenError};
use reqflow_engine::spec::DurationSpec;
use reqflow_engine::store::{AuditFilter, Scope};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::access::Touched;
use crate::error::ApiError;

pub(crate) async fn tokens(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = now_ms();
    let list: Vec<Value> = state
        .engine
        .store()
        .tokens()
        .await?
        .into_iter()
        .map(|t| {
            let active = t.is_active(now);
            let mut v = serde_json::to_value(t).unwrap_or_default();
            v["active"] = Value::Bool(active);
            v
        })
        .collect();
    Ok(Json(json!({ "tokens": list })))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    /// A name, unique among active tokens.
    name: String,
    /// `read`, `operate` or `admin`.
    scope: String,
    /// A duration such as `90d`.
    expires: Option<String>,
    /// Also allow a `read` or `operate` token to export a subject's data
    /// (`GET /api/subjects/{value}`); `admin` always may. Default false.
    #[serde(default)]
    subject_access: bool,
}

pub(crate) async fn create_token(
    State(state): State<AppState>,
    Json(b): Json<CreateToken>,
) -> Result<Response, ApiError> {
    let scope = Scope::parse(&b.scope)
        .ok_or_else(|| ApiError::BadRequest(format!("unknown scope `{}`; use read, operate or admin", b.scope)))?;
    let now = now_ms();
    let expires_at = b
        .expires
        .as_deref()
        .map(|e| DurationSpec::parse(e).map(|d| now + d.0.as_millis() as i64))
        .transpose()
        .map_err(|e| ApiError::BadRequest(format!("`expires`: {e}")))?;
    let token = tokens::issue(state.engine.store().as_ref(), &b.name, scope, b.subject_access, expires_at, now)
        .await
        .map_err(|e| match e {
        TokenError::Store(s) => ApiError::from(s),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    let mut r = (
        StatusCode::CREATED,
        Json(json!({ "name": b.name, "scope": scope, "subject_access": b.subject_access,
                     "expires_at": expires_at.map(rfc3339), "token": token,
                     "note": "the token is shown once; reqflow keeps only its hash" })),
    )
        .into_response();
    r.extensions_mut().insert(Touched(vec![b.name]));
    Ok(r)
}

pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if state.engine.store().revoke_token(&name, now_ms()).await? {
        Ok(Json(json!({ "name": name, "revoked": true })))
    } else {
        Err(ApiError::NotFound(format!("no active token named `{name}`")))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct AuditQuery {
    /// From this time (Unix ms).
    since: Option<i64>,
    /// Until this time (Unix ms).
    until: Option<i64>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
    /// The page after this record id (`next_before`).
    before: Option<i64>,
}

pub(crate) async fn audit(State(state): State<AppState>, Query(q): Query<AuditQuery>) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let records = state
        .engine
        .store()
        .audit_log(AuditFilter { since: q.since, until: q.until, limit: Some(limit), before: q.before })
        .await?;
    let next = (records.len() as u32 == limit).then(|| records.last().map(|r| r.id)).flatten();
    Ok(Json(json!({ "audit": records, "next_before": next })))
}
