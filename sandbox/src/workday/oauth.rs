//! `POST /ccx/oauth2/{tenant}/token`: the refresh-token grant, with client
//! credentials in a Basic header or in the form; standard OAuth errors.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

use crate::state::Sandbox;

/// Lifetime of an access token, seconds.
pub const EXPIRES_IN: i64 = 3600;

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

pub(crate) async fn token(
    State(sb): State<Sandbox>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if sb.read(|d| d.workday.tenant != tenant) {
        return oauth_error(StatusCode::NOT_FOUND, "invalid_request", "unknown tenant");
    }
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    }
    let form: BTreeMap<String, String> = match serde_urlencoded_lite(&body) {
        Some(f) => f,
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "malformed form"),
    };
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())));
    let creds = basic.or_else(|| Some((form.get("client_id")?.clone(), form.get("client_secret")?.clone())));
    let Some((id, secret)) = creds else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication is required");
    };
    if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "only refresh_token is supported");
    }
    let refresh = form.get("refresh_token").cloned().unwrap_or_default();
    sb.update(|d| {
        let w = &mut d.workday;
        if w.clients.get(&id) != Some(&secret) {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client or wrong secret");
        }
        if !w.refresh_tokens.contains(&refresh) {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the refresh token is invalid or revoked");
        }
        w.next_id += 1;
        let token = format!("wd-access-{:06}", w.next_id);
        w.access_tokens.insert(token.clone(), crate::util::now_secs() + EXPIRES_IN);
        Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": EXPIRES_IN, "refresh_token": refresh}))
            .into_response()
    })
}

/// Decodes `a=b&c=d` (with `+` and `%XX`).
fn serde_urlencoded_lite(body: &[u8]) -> Option<BTreeMap<String, String>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = BTreeMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(decode(k)?, decode(v)?);
    }
    Some(out)
}

fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}
