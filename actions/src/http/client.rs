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
/// Largest response body read by default; a bigger one is an error rather than memory.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The most an `http.request` step may raise its own limit to (`max_body_bytes:`).
pub const MAX_BODY_CEILING: usize = 128 * 1024 * 1024;

/// The bound on one response body, and where it comes from (for the error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLimit {
    /// [`MAX_BODY_BYTES`].
    Default,
    /// A step's `max_body_bytes:` (at most [`MAX_BODY_CEILING`]).
    Step(usize),
}

impl BodyLimit {
    /// The number of bytes.
    pub fn bytes(self) -> usize {
        match self {
            BodyLimit::Default => MAX_BODY_BYTES,
            BodyLimit::Step(n) => n,
        }
    }

    fn describe(self) -> String {
        match self {
            BodyLimit::Default => format!(
                "the default limit of {MAX_BODY_BYTES} bytes (raise it with the step's `max_body_bytes:`, up to {MAX_BODY_CEILING})"
            ),
            BodyLimit::Step(n) => format!("the step's `max_body_bytes:` of {n} bytes"),
        }
    }
}

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

    /// The `Content-Type` header's media type, lowercased, without parameters.
    pub fn media_type(&self) -> Option<String> {
        let ct = self.headers.get(reqwest::header::CONTENT_TYPE)?.to_str().ok()?;
        let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        (!media.is_empty()).then_some(media)
    }

    /// Whether the body is text: a textual content type, or none and valid UTF-8.
    pub fn is_text(&self) -> bool {
        match self.media_type() {
            Some(m) => is_text_type(&m),
            None => std::str::from_utf8(&self.body).is_ok(),
        }
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

/// Media types read as text: `text/*`, JSON, XML, forms, JavaScript, YAML, CSV.
pub fn is_text_type(media: &str) -> bool {
    let m = media.trim().to_ascii_lowercase();
    m.starts_with("text/")
        || m.ends_with("+json")
        || m.ends_with("+xml")
        || matches!(
            m.as_str(),
            "application/json"
                | "application/xml"
                | "application/x-www-form-urlencoded"
                | "application/javascript"
                | "application/ecmascript"
                | "application/yaml"
                | "application/x-yaml"
                | "application/graphql"
                | "application/x-ndjson"
                | "application/csv"
        )
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
    send_limited(request, BodyLimit::Default).await
}

/// [`send`] with another bound on the response body; the error names the bound.
pub async fn send_limited(request: reqwest::RequestBuilder, limit: BodyLimit) -> Result<Received, ActionError> {
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
                if body.len() + chunk.len() > limit.bytes() {
                    return Err(ActionError::permanent(format!(
                        "{method} {target}: the response body is larger than {}",
                        limit.describe()
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
