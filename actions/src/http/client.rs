//! The one shared HTTP client and the send/read step every connector uses.
//!
//! TLS is rustls with the `ring` provider: reqwest 0.13's default provider,
//! aws-lc-rs, builds a large C library (minutes on a 2-core machine); ring
//! builds in seconds and is what rustls used by default until 0.23.

use std::sync::OnceLock;
use std::time::Duration;

use reqflow_engine::action::ActionError;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use super::errors::{status_error, transport_error};

/// How long to wait for a TCP + TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on one whole request (a connection or step `timeout:` overrides it).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response body read; a bigger one is an error rather than memory.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The process-wide client: connection pool, rustls, connect and request
/// timeouts. Use it instead of `reqwest::Client::new()` (which has no timeouts).
pub fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        // Installing fails only if another provider is installed already, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("reqflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// A response read in full.
#[derive(Debug)]
pub struct Received {
    /// The method that was sent (for messages).
    pub method: Method,
    /// The URL without its query string (for messages: a query may hold keys).
    pub target: String,
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the body is JSON by its content type.
    pub fn is_json(&self) -> bool {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let ct = ct.to_ascii_lowercase();
                ct.starts_with("application/json") || (ct.starts_with("application/") && ct.contains("+json"))
            })
            .unwrap_or(false)
    }

    /// The body as JSON when it parses, else as a string (`null` when empty).
    pub fn body_value(&self) -> serde_json::Value {
        if self.body.is_empty() {
            return serde_json::Value::Null;
        }
        match serde_json::from_slice(&self.body) {
            Ok(v) if self.is_json() || looks_like_json(&self.body) => v,
            _ => serde_json::Value::String(self.text()),
        }
    }

    /// An error unless the status is 2xx (see [`status_error`]).
    pub fn require_success(self) -> Result<Received, ActionError> {
        if self.status.is_success() { Ok(self) } else { Err(status_error(&self)) }
    }
}

fn looks_like_json(body: &[u8]) -> bool {
    matches!(body.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{') | Some(b'['))
}

/// `scheme://host/path` of a URL, without query or fragment.
pub fn target_of(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

/// Sends a request and reads the whole body (at most [`MAX_BODY_BYTES`]).
/// Network errors and timeouts are retryable errors; the status is not
/// checked here.
pub async fn send(request: reqwest::RequestBuilder) -> Result<Received, ActionError> {
    let request = request.build().map_err(|e| {
        ActionError::permanent(format!("cannot build the request: {}", e.without_url()))
            .with_code("http.invalid_request")
    })?;
    let method = request.method().clone();
    let target = target_of(request.url());
    let mut response = client().execute(request).await.map_err(|e| transport_error(&method, &target, e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ActionError::permanent(format!(
                        "{method} {target}: the response body is larger than {MAX_BODY_BYTES} bytes"
                    ))
                    .with_code("http.body_too_large"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(transport_error(&method, &target, e)),
        }
    }
    Ok(Received { method, target, status, headers, body })
}
