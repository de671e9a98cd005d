//! A stand-in for the vendors around an ATS (an AI interviewer, an identity
//! protection service), so the sample workflows run end to end against the
//! sandbox alone.
//!
//! - `ANY /vendor/{path}`: records the request (see `GET /_sandbox/requests`)
//!   and answers `201 {"id": "vnd-N", "status": "received"}`.
//! - `POST /_sandbox/interviews/complete` with `{url, secret, external_id,
//!   candidate_id?, interview_id?, score, summary?, transcript?, report_url?}`:
//!   POSTs the vendor's `interview.completed` webhook to `url`, signed like
//!   the sample workflows expect: `X-Timestamp: <unix seconds>` and
//!   `X-Signature: sha256=hex(HMAC-SHA256(secret, "{timestamp}.{body}"))`;
//!   answers `{status, body}` of the delivery.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::state::Sandbox;
use crate::util::error;

static NEXT: AtomicU64 = AtomicU64::new(1);

/// The vendor routes.
pub fn router() -> Router<Sandbox> {
    Router::new().route("/vendor/{*path}", any(received)).route("/_sandbox/interviews/complete", post(complete))
}

async fn received() -> Response {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    (StatusCode::CREATED, Json(json!({ "id": format!("vnd-{n}"), "status": "received" }))).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Complete {
    url: String,
    secret: String,
    external_id: String,
    #[serde(default)]
    candidate_id: Option<String>,
    #[serde(default)]
    interview_id: Option<String>,
    score: f64,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    transcript: Option<String>,
    #[serde(default)]
    report_url: Option<String>,
}

/// `sha256=` + hex HMAC-SHA256 of `{timestamp}.{body}`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

async fn complete(State(_sb): State<Sandbox>, body: axum::body::Bytes) -> Response {
    let req: Complete = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid request: {e}")),
    };
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let payload: Value = json!({
        "event": "interview.completed",
        "interview_id": req.interview_id.unwrap_or_else(|| format!("iv-{n}")),
        "external_id": req.external_id,
        "candidate_id": req.candidate_id,
        "score": req.score,
        "summary": req.summary,
        "transcript": req.transcript,
        "report_url": req.report_url,
    });
    let raw = payload.to_string().into_bytes();
    let ts = chrono::Utc::now().timestamp();
    let sig = signature(&req.secret, ts, &raw);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let sent = client
        .post(&req.url)
        .header("content-type", "application/json")
        .header("x-timestamp", ts.to_string())
        .header("x-signature", sig)
        .body(raw)
        .send()
        .await;
    match sent {
        Ok(r) => {
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            Json(json!({ "status": status, "body": text })).into_response()
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, &format!("delivery failed: {e}")),
    }
}
