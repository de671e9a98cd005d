//! How an HTTP outcome becomes an [`ActionError`]: retryable for network
//! errors, timeouts, 408, 429 and 5xx (with `Retry-After`), permanent for
//! everything else; details carry the status and a truncated body.

use std::time::Duration;

use reqflow_engine::action::ActionError;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::client::Received;

/// How much of a response body goes into error details.
pub const DETAIL_BODY_CHARS: usize = 2048;

/// Whether a status is worth retrying.
pub fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `Retry-After` as a duration: delta-seconds or an HTTP date (a date in
/// the past means "now").
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// At most `max` characters of `s`, marked when cut.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}… ({} bytes in all)", &s[..i], s.len()),
        None => s.to_owned(),
    }
}

/// The error for a non-success response.
pub fn status_error(r: &Received) -> ActionError {
    let status = r.status;
    let message =
        format!("{} {} answered {} {}", r.method, r.target, status.as_u16(), status.canonical_reason().unwrap_or(""));
    let message = message.trim_end().to_owned();
    let base =
        if is_retryable_status(status) { ActionError::retryable(message) } else { ActionError::permanent(message) };
    let mut err = base.with_code(format!("http.{}", status.as_u16())).with_details(json!({
        "status": status.as_u16(),
        "body": truncate(&r.text(), DETAIL_BODY_CHARS),
    }));
    if let Some(after) = retry_after(&r.headers) {
        err = err.with_retry_after(after);
    }
    err
}

/// The error for a request that got no response.
pub fn transport_error(method: &Method, target: &str, e: reqwest::Error) -> ActionError {
    let e = e.without_url();
    if e.is_timeout() {
        ActionError::retryable(format!("{method} {target} timed out")).with_code("http.timeout")
    } else if e.is_connect() {
        ActionError::retryable(format!("{method} {target}: cannot connect ({})", source_chain(&e)))
            .with_code("http.connect")
    } else if e.is_builder() {
        ActionError::permanent(format!("{method} {target}: invalid request ({e})")).with_code("http.invalid_request")
    } else {
        ActionError::retryable(format!("{method} {target}: {}", source_chain(&e))).with_code("http.network")
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}
