//! A stand-in for the vendors around an ATS (an AI interviewer, an identity
//! protection service), so the sample workflows run end to end against the
//! sandbox alone.
//!
//! - `ANY /vendor/{path}`: records the request (see `GET /_sandbox/requests`)
//!   and answers `201 {"id": "vnd-N", "status": "received"}`. It honours
//!   `Idempotency-Key` as payment and messaging APIs do: a key seen before
//!   gets the first answer again (with `Idempotent-Replayed: true`) and
//!   creates nothing new.
//! - `GET /_sandbox/vendor/writes`: every vendor write, uncapped
//!   (`{writes: [{path, idempotency_key, id, replays, body}]}`), so a test can
//!   count duplicate effects after thousands of calls.
//! - `POST /_sandbox/interviews/complete` with `{url, secret, external_id,
//!   candidate_id?, interview_id?, score, summary?, transcript?, report_url?}`:
//!   POSTs the vendor's `interview.completed` webhook to `url`, signed like
//!   the sample workflows expect: `X-Timestamp: <unix seconds>` and
//!   `X-Signature: sha256=hex(HMAC-SHA256(secret, "{timestamp}.{body}"))`;
//!   answers `{status, body, report_url}` of the delivery. Without
//!   `report_url`, the webhook carries the sandbox's own report of the
//!   interview, `http://{host}/vendor/reports/{interview_id}.pdf`.
//! - `GET /vendor/reports/{interview_id}.pdf`: the interview's report, a
//!   small valid PDF (the same bytes for the same interview);
//!   `GET /vendor/reports/{name}.bin?size=N`: N pseudo-random bytes (the same
//!   for the same name), `application/octet-stream`, for large-payload tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::state::Sandbox;
use crate::util::error;

static NEXT: AtomicU64 = AtomicU64::new(1);

/// How much of a write's body the ledger keeps.
const LEDGER_BODY: usize = 512;

/// Every write the vendor stand-in received, and the answers given per idempotency key.
#[derive(Debug, Default)]
pub struct VendorLedger {
    writes: Vec<Value>,
    keys: HashMap<String, (usize, String)>,
}

/// The vendor routes.
pub fn router() -> Router<Sandbox> {
    Router::new()
        .route("/vendor/reports/{file}", get(report))
        .route("/vendor/{*path}", any(received))
        .route("/_sandbox/interviews/complete", post(complete))
        .route("/_sandbox/vendor/writes", get(writes))
}

async fn received(
    State(sb): State<Sandbox>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut inner = sb.lock();
    let ledger = &mut inner.vendor;
    if let Some((index, id)) = key.as_ref().and_then(|k| ledger.keys.get(k)).cloned() {
        if let Some(w) = ledger.writes.get_mut(index) {
            w["replays"] = json!(w["replays"].as_u64().unwrap_or(0) + 1);
        }
        let mut resp = (StatusCode::CREATED, Json(json!({ "id": id, "status": "received" }))).into_response();
        resp.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
        return resp;
    }
    let id = format!("vnd-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let text = String::from_utf8_lossy(&body[..body.len().min(LEDGER_BODY)]).into_owned();
    if let Some(k) = &key {
        ledger.keys.insert(k.clone(), (ledger.writes.len(), id.clone()));
    }
    ledger.writes.push(
        json!({ "path": format!("/vendor/{path}"), "idempotency_key": key, "id": id, "replays": 0, "body": text }),
    );
    (StatusCode::CREATED, Json(json!({ "id": id, "status": "received" }))).into_response()
}

#[derive(Deserialize)]
struct ReportQuery {
    size: Option<usize>,
}

async fn report(Path(file): Path<String>, axum::extract::Query(q): axum::extract::Query<ReportQuery>) -> Response {
    let (bytes, content_type) = if let Some(id) = file.strip_suffix(".pdf") {
        (crate::report::pdf(id), "application/pdf")
    } else if let Some(name) = file.strip_suffix(".bin") {
        let size = q.size.unwrap_or(1024 * 1024);
        if size > crate::report::MAX_NOISE {
            return error(StatusCode::BAD_REQUEST, &format!("size is at most {}", crate::report::MAX_NOISE));
        }
        (crate::report::noise(name, size), "application/octet-stream")
    } else {
        return error(StatusCode::NOT_FOUND, "reports are `{interview_id}.pdf` or `{name}.bin?size=N`");
    };
    let disposition = format!("attachment; filename=\"{file}\"");
    let mut r = (StatusCode::OK, bytes).into_response();
    r.headers_mut().insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static(content_type));
    if let Ok(v) = axum::http::HeaderValue::from_str(&disposition) {
        r.headers_mut().insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    r
}

async fn writes(State(sb): State<Sandbox>) -> Response {
    let inner = sb.lock();
    Json(json!({ "writes": inner.vendor.writes })).into_response()
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

async fn complete(State(_sb): State<Sandbox>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let req: Complete = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid request: {e}")),
    };
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let interview_id = req.interview_id.unwrap_or_else(|| format!("iv-{n}"));
    let report_url = req.report_url.or_else(|| {
        let host = headers.get(axum::http::header::HOST)?.to_str().ok()?;
        let safe = interview_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        safe.then(|| format!("http://{host}/vendor/reports/{interview_id}.pdf"))
    });
    let payload: Value = json!({
        "event": "interview.completed",
        "interview_id": interview_id,
        "external_id": req.external_id,
        "candidate_id": req.candidate_id,
        "score": req.score,
        "summary": req.summary,
        "transcript": req.transcript,
        "report_url": report_url,
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
            Json(json!({ "status": status, "body": text, "report_url": report_url })).into_response()
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, &format!("delivery failed: {e}")),
    }
}
