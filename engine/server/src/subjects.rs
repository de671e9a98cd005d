//! `GET /api/subjects/{subject}` (access) and `DELETE /api/subjects/{subject}`
//! (erasure): everything held about one person, as one JSON document, or
//! erased in every workflow. Admin scope; both audited with the subject's
//! keyed hash, never its value (see [`crate::access::SUBJECT_PARAM`]), and
//! the erasure with how many records it deleted.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::access::AuditDetail;
use crate::error::ApiError;

/// Everything held about the subject: its events, runs, step results and
/// attempts (secrets masked).
pub(crate) async fn export(State(state): State<AppState>, Path(subject): Path<String>) -> Result<Response, ApiError> {
    let doc = state.engine.subject_export(&subject).await?;
    let counts = json!({
        "events": doc["events"].as_array().map_or(0, Vec::len),
        "runs": doc["runs"].as_array().map_or(0, Vec::len),
    });
    let mut resp = Json(doc).into_response();
    resp.extensions_mut().insert(AuditDetail(json!({ "exported": counts })));
    Ok(resp)
}

/// Erases the subject: in-flight runs cancelled, then every event, run,
/// attempt, step result and dedupe key deleted. Answers the counts.
pub(crate) async fn erase(State(state): State<AppState>, Path(subject): Path<String>) -> Result<Response, ApiError> {
    let erasure = state.engine.erase_subject(&subject).await?;
    let body = json!({
        "subject_hash": erasure.subject_hash,
        "deleted": erasure.deleted,
        "total": erasure.total,
    });
    let mut resp = Json(body.clone()).into_response();
    resp.extensions_mut().insert(AuditDetail(json!({ "deleted": erasure.deleted, "total": erasure.total })));
    Ok(resp)
}
