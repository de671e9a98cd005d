//! `/_sandbox/workday/attachments`: what Put_Candidate_Attachment and
//! Put_Candidate attached, and the bytes of each, so a test can check that a
//! file reached Workday byte for byte.
//!
//! - `GET /_sandbox/workday/attachments` → `{attachments: [{file_id, wid, id, candidate,
//!   application, filename, content_type, size, sha256, comment, …}]}`;
//! - `GET /_sandbox/workday/attachments/{id}` (a `File_ID` or WID) → the bytes, with
//!   their content type (`application/octet-stream` when none was sent).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::state::Sandbox;
use crate::util::error;

pub(super) async fn list(State(sb): State<Sandbox>) -> Json<Value> {
    Json(json!({ "attachments": sb.read(|d| d.workday.attachments.clone()) }))
}

pub(super) async fn get(State(sb): State<Sandbox>, Path(id): Path<String>) -> Response {
    let found = sb.read(|d| {
        let w = &d.workday;
        let a = w.attachments.iter().find(|a| a["file_id"] == id.as_str() || a["wid"] == id.as_str())?;
        let file_id = a["file_id"].as_str()?;
        Some((a["content_type"].as_str().map(str::to_owned), w.files.get(file_id).cloned()))
    });
    let Some((content_type, data)) = found else {
        return error(StatusCode::NOT_FOUND, &format!("no attachment `{id}`"));
    };
    let Some(data) = data else {
        return error(StatusCode::NOT_FOUND, &format!("the bytes of attachment `{id}` were not kept"));
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "stored attachment is not base64");
    };
    let ct = content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    let mut r = (StatusCode::OK, bytes).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, ct);
    r
}
