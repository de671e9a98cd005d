//! Webhook subscriptions and signed deliveries (`X-Workable-Signature:
//! hex(HMAC-SHA256(token, raw body))`, the token being the one that created
//! the subscription).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::limits::Token;
use crate::state::Sandbox;
use crate::util::{error, str_of};

/// Event names Workable documents.
pub const EVENTS: &[&str] = &[
    "candidate_created",
    "candidate_deleted",
    "candidate_moved",
    "employee_created",
    "employee_updated",
    "employee_published",
    "onboarding_completed",
    "timeoff_updated",
];

fn public(s: &Value) -> Value {
    json!({
        "id": s["id"], "event": s["event"], "target": s["target"], "valid_until": s["valid_until"],
        "created_at": s["created_at"], "stage_slug": s["stage_slug"], "job_shortcode": s["job_shortcode"],
    })
}

pub(crate) async fn list(State(sb): State<Sandbox>) -> Response {
    sb.read(|d| {
        Json(json!({"subscriptions": d.workable.subscriptions.iter().map(public).collect::<Vec<_>>()})).into_response()
    })
}

pub(crate) async fn create(
    State(sb): State<Sandbox>,
    Extension(Token(token)): Extension<Token>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.starts_with("application/json") {
        return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json");
    }
    let Ok(Value::Object(b)) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "The body must be a JSON object");
    };
    let Some(target) = b.get("target").and_then(Value::as_str).map(str::to_owned) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "target is required");
    };
    if !(target.starts_with("http://") || target.starts_with("https://")) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "target must be an http(s) URL");
    }
    let event = b.get("event").and_then(Value::as_str).unwrap_or("").to_owned();
    if !EVENTS.contains(&event.as_str()) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, &format!("event must be one of {}", EVENTS.join(", ")));
    }
    let (mut job, mut stage) = (Value::Null, Value::Null);
    if let Some(args) = b.get("args") {
        let (Some(j), Some(s)) =
            (args.get("job_shortcode").and_then(Value::as_str), args.get("stage_slug").and_then(Value::as_str))
        else {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "args needs job_shortcode and stage_slug (empty strings for all)",
            );
        };
        if !j.is_empty() {
            job = Value::String(j.to_owned());
        }
        if !s.is_empty() {
            stage = Value::String(s.to_owned());
        }
    }
    sb.update(|d| {
        let w = &mut d.workable;
        if w.subscriptions.iter().any(|s| str_of(s, "target") == Some(&target)) {
            return error(StatusCode::CONFLICT, "Conflict");
        }
        // Ids are never reused (a renewed subscription is a new one, as at Workable).
        let id = 104_000
            + w.subscriptions_created.max(
                w.subscriptions
                    .iter()
                    .filter_map(|s| s["id"].as_u64())
                    .map(|i| i.saturating_sub(104_000) + 1)
                    .max()
                    .unwrap_or(0),
            );
        w.subscriptions_created = id - 104_000 + 1;
        let now = chrono::Utc::now();
        // One year, as Workable's example shows; `/_sandbox/workable/subscriptions/validity` shortens it.
        let validity = chrono::Duration::seconds(
            w.subscription_validity_secs.and_then(|s| i64::try_from(s).ok()).unwrap_or(365 * 24 * 3600),
        );
        w.subscriptions.push(json!({
            "id": id, "event": event, "target": target,
            "valid_until": (now + validity).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "created_at": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "stage_slug": stage, "job_shortcode": job, "token": token,
        }));
        Json(json!({ "id": id })).into_response()
    })
}

pub(crate) async fn delete(State(sb): State<Sandbox>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else { return error(StatusCode::NOT_FOUND, "Not found") };
    sb.update(|d| {
        let before = d.workable.subscriptions.len();
        d.workable.subscriptions.retain(|s| s["id"].as_u64() != Some(id));
        if d.workable.subscriptions.len() == before {
            error(StatusCode::NOT_FOUND, "Not found")
        } else {
            Json(json!({})).into_response()
        }
    })
}

/// `hex(HMAC-SHA256(key, body))`.
pub fn sign(key: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else { return String::new() };
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The delivery envelope for a candidate event.
pub fn payload(event: &str, candidate: &Value) -> Value {
    json!({
        "id": candidate["id"], "resource_type": "candidate", "event_type": event,
        "fired_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": candidate,
    })
}

/// POSTs `body` to `url`, signed with `key`; returns (status, response body).
pub async fn send_signed(url: &str, key: &str, body: Vec<u8>) -> Result<(u16, String), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client =
        reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().map_err(|e| e.to_string())?;
    let sig = sign(key, &body);
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-workable-signature", sig)
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    Ok((status, r.text().await.unwrap_or_default()))
}

/// The subscriptions (target, signing token) that `event` for `candidate` at `stage_slug` goes to.
fn targets(sb: &Sandbox, event: &str, candidate: &Value, stage_slug: Option<&str>) -> Vec<(String, String)> {
    sb.read(|d| {
        d.workable
            .subscriptions
            .iter()
            .filter(|s| str_of(s, "event") == Some(event))
            .filter(|s| s["job_shortcode"].as_str().is_none_or(|j| candidate["job"]["shortcode"].as_str() == Some(j)))
            .filter(|s| s["stage_slug"].as_str().is_none_or(|st| stage_slug == Some(st)))
            .map(|s| (str_of(s, "target").unwrap_or("").to_owned(), str_of(s, "token").unwrap_or("").to_owned()))
            .collect()
    })
}

/// Sends `event` for `candidate` to every matching subscription, in the background.
pub(crate) fn deliver(sb: &Sandbox, event: &str, candidate: &Value, stage_slug: Option<&str>) {
    let targets = targets(sb, event, candidate, stage_slug);
    if targets.is_empty() {
        return;
    }
    let body = payload(event, candidate).to_string().into_bytes();
    for (url, key) in targets {
        let body = body.clone();
        tokio::spawn(async move {
            let _ = send_signed(&url, &key, body).await;
        });
    }
}

/// Sends `event` for `candidate` to every matching subscription and waits:
/// `[{target, status, body}]` (or `error` when the target could not be reached).
pub(crate) async fn deliver_now(sb: &Sandbox, event: &str, candidate: &Value, stage_slug: Option<&str>) -> Vec<Value> {
    let body = payload(event, candidate).to_string().into_bytes();
    let mut out = Vec::new();
    for (url, key) in targets(sb, event, candidate, stage_slug) {
        out.push(match send_signed(&url, &key, body.clone()).await {
            Ok((status, text)) => json!({ "target": url, "status": status, "body": text }),
            Err(e) => json!({ "target": url, "error": e }),
        });
    }
    out
}
