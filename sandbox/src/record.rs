//! The outer middleware: logs each request (credentials redacted) and
//! applies the faults switched on.

use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::state::{LOG_CAPACITY, Received, Sandbox};

/// Largest request body accepted.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// How much of a body the log keeps.
const LOG_BODY: usize = 64 * 1024;

pub(crate) async fn record_and_fault(State(sb): State<Sandbox>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return crate::util::error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    };
    let path = parts.uri.path().to_owned();
    let control = path.starts_with("/_sandbox");
    if !control {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(LOG_BODY)]).into_owned();
        let entry = json!({
            "at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "method": parts.method.as_str(),
            "path": path,
            "query": parts.uri.query(),
            "headers": redact_headers(&parts.headers),
            "body": redact_body(&text),
        });
        let mut inner = sb.lock();
        if inner.log.len() >= LOG_CAPACITY {
            inner.log.pop_front();
        }
        inner.log.push_back(entry);
    }
    let observer = if control { None } else { sb.observer() };
    let at = std::time::Instant::now();
    let fault = if control { None } else { take_fault(&sb, &path) };
    if let Some(f) = &fault {
        if let Some(ms) = f.delay_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if let Some(status) = f.status {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = if path.starts_with("/ccx/service/") && status.is_server_error() {
                crate::workday::soap_fault(
                    status,
                    "Server.processingError",
                    "Processing error occurred. (sandbox fault)",
                )
            } else if path.starts_with("/ccx/api/") {
                let msg = if status == StatusCode::TOO_MANY_REQUESTS {
                    "Too many requests (sandbox fault)"
                } else {
                    "Internal error (sandbox fault)"
                };
                crate::workday::rest_error(status, msg)
            } else if path.starts_with("/spi/") {
                let msg =
                    if status == StatusCode::TOO_MANY_REQUESTS { "Too many requests" } else { "Internal server error" };
                crate::util::error(status, msg)
            } else {
                (status, "sandbox fault").into_response()
            };
            if let Some(secs) = f.retry_after
                && let Ok(v) = secs.to_string().parse()
            {
                resp.headers_mut().insert("retry-after", v);
            }
            if let Some(o) = observer {
                o(&Received { at, method: &parts.method, path: &path, body: &bytes, status: resp.status() });
            }
            return resp;
        }
    }
    let Some(o) = observer else { return next.run(Request::from_parts(parts, Body::from(bytes))).await };
    let method = parts.method.clone();
    let resp = next.run(Request::from_parts(parts, Body::from(bytes.clone()))).await;
    o(&Received { at, method: &method, path: &path, body: &bytes, status: resp.status() });
    resp
}

fn take_fault(sb: &Sandbox, path: &str) -> Option<crate::Faults> {
    let mut inner = sb.lock();
    let f = inner.faults.clone()?;
    let prefix_ok = match &f.path_prefix {
        Some(p) => path.starts_with(p.as_str()),
        None => true,
    };
    if !prefix_ok {
        return None;
    }
    match f.count {
        Some(0) => {
            inner.faults = None;
            None
        }
        Some(n) => {
            if let Some(active) = inner.faults.as_mut() {
                active.count = Some(n - 1);
            }
            Some(f)
        }
        None => Some(f),
    }
}

fn redact_headers(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for (k, v) in headers {
        let name = k.as_str();
        let value = if matches!(name, "authorization" | "cookie" | "proxy-authorization" | "x-api-key") {
            match v.to_str().ok().and_then(|s| s.split_once(' ')) {
                Some((scheme, _)) => format!("{scheme} [redacted]"),
                None => "[redacted]".to_owned(),
            }
        } else {
            String::from_utf8_lossy(v.as_bytes()).into_owned()
        };
        out.insert(name.to_owned(), Value::String(value));
    }
    Value::Object(out)
}

/// Removes passwords from WS-Security headers and secrets from OAuth forms.
fn redact_body(text: &str) -> String {
    let mut s = text.to_owned();
    // <wsse:Password …>secret</wsse:Password>
    let mut from = 0;
    while let Some(i) = s[from..].find("Password") {
        let start = from + i;
        let Some(gt) = s[start..].find('>') else { break };
        let open_end = start + gt + 1;
        if s[..start].ends_with('/') {
            from = open_end;
            continue;
        }
        let Some(lt) = s[open_end..].find('<') else { break };
        s.replace_range(open_end..open_end + lt, "[redacted]");
        from = open_end + "[redacted]".len();
    }
    // grant_type=refresh_token&refresh_token=…&client_secret=…
    if s.contains("grant_type=") {
        s = s
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if matches!(k, "refresh_token" | "client_secret" | "password" | "code") => {
                    format!("{k}=[redacted]")
                }
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&");
    }
    s
}
