//! The `http.request` action.

use std::time::Duration;

use reqflow_engine::action::{Action, ActionContext, ActionError, ActionInfo, Connection};
use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};

use reqflow_engine::value::binary::{Binary, is_binary};

use super::client::{BodyLimit, MAX_BODY_CEILING, Received, client, send_limited};
use super::errors::status_error;
use super::headers::safe_headers;
use super::params::{HttpAuth, HttpConnection, HttpMethod, HttpRequestParams, ResponseMode};

/// `http.request`: one HTTP call, optionally through an `http` connection.
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpRequest;

const DOCS: &str = "\
Sends one HTTP request and returns `{status, headers, body}`; `body` is parsed \
when the response is JSON, the text for a textual content type, and a binary value \
`{\"$binary\": true, content_type, size, sha256, name?, data}` (`data` base64, byte-exact) \
for any other content type (a PDF, an image) or with `response: binary`. `body:` \
may be a binary value too: it is sent as its bytes. A response body larger than \
16 MiB is an error; `max_body_bytes:` raises that, up to 128 MiB.\n\n\
Give a full `url:`, or a `path:` relative to the `http` connection's `base_url` \
(the connection also adds its `auth:` and `headers:`). At most one of `json:`, \
`form:` and `body:`.\n\n\
A status outside `expect:` (default: any 2xx) is an error: retryable for 408, \
429 and 5xx (honouring `Retry-After`), as are network errors and timeouts; \
permanent otherwise. The error's details hold the status and the start of the \
body. With `idempotency_header:` on the connection, `{run_id}:{step_id}` is sent \
in that header so a retried step acts once. Response headers that can carry \
credentials (`set-cookie`, `authorization`, …) are left out of the output.";

impl Action for HttpRequest {
    type Params = HttpRequestParams;

    fn info(&self) -> ActionInfo {
        ActionInfo::new("http.request", "Send an HTTP request")
            .docs(DOCS)
            .optional_connection("http")
            .binary_output_when("response", "binary", "body")
            .example(json!({
                "method": "POST",
                "path": "/invites",
                "json": { "email": "{{ steps.fields.output.email }}" },
                "expect": [200, 201]
            }))
    }

    async fn run(&self, cx: ActionContext, p: HttpRequestParams) -> Result<Value, ActionError> {
        let conn = match cx.connection.as_deref() {
            Some(c) => Some(http_connection(c)?),
            None => None,
        };
        let url = resolve_url(&p, conn.as_ref())?;
        let method = method_of(p.method);
        let mut req = client().request(method, url);
        if let Some(conn) = &conn {
            for (k, v) in &conn.headers {
                req = req.header(header_name(k)?, header_value(k, v)?);
            }
            req = match &conn.auth {
                Some(HttpAuth::Bearer(token)) => req.bearer_auth(token),
                Some(HttpAuth::Basic { username, password }) => req.basic_auth(username, Some(password)),
                Some(HttpAuth::Header { name, value }) => {
                    let mut v = header_value(name, value)?;
                    v.set_sensitive(true);
                    req.header(header_name(name)?, v)
                }
                None => req,
            };
            if let Some(h) = &conn.idempotency_header {
                req = req.header(header_name(h)?, header_value(h, &cx.idempotency_key())?);
            }
        }
        // The shorter of the connection's `timeout:` and the step's: the step's
        // (always set by the engine) must not lift the connection's bound.
        let conn_timeout = conn.as_ref().and_then(|c| c.timeout.as_deref()).map(parse_timeout).transpose()?;
        let timeout = match (conn_timeout, cx.timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        for (k, v) in &p.headers {
            req = req.header(header_name(k)?, header_value(k, v)?);
        }
        let query = pairs(&p.query);
        if !query.is_empty() {
            req = req.query(&query);
        }
        let bodies = usize::from(p.json.is_some()) + usize::from(p.form.is_some()) + usize::from(p.body.is_some());
        if bodies > 1 {
            return Err(invalid("give at most one of `json:`, `form:` and `body:`"));
        }
        if let Some(j) = &p.json {
            req = req.json(j);
        } else if let Some(f) = &p.form {
            req = req.form(&pairs(f));
        } else if let Some(b) = &p.body {
            req = match b {
                Value::String(text) => req.body(text.clone()),
                v if is_binary(v) => {
                    let bin = Binary::from_value(v).map_err(|e| invalid(format!("`body:`: {e}")))?;
                    if !p.headers.keys().any(|k| k.eq_ignore_ascii_case("content-type")) {
                        req =
                            req.header(reqwest::header::CONTENT_TYPE, header_value("content-type", &bin.content_type)?);
                    }
                    req.body(bin.bytes)
                }
                _ => return Err(invalid("`body:` is text or a binary value; use `json:` for JSON")),
            };
        }
        let limit = body_limit(p.max_body_bytes)?;
        let r = send_limited(req, limit).await?;
        let ok = match &p.expect {
            Some(list) => list.contains(&r.status.as_u16()),
            None => r.status.is_success(),
        };
        if !ok {
            return Err(status_error(&r));
        }
        let body = response_body(&r, p.response.unwrap_or_default());
        Ok(json!({
            "status": r.status.as_u16(),
            "headers": safe_headers(&r.headers),
            "body": body,
        }))
    }
}

/// The response body as the step asked for it (see [`ResponseMode`]).
fn response_body(r: &Received, mode: ResponseMode) -> Value {
    let binary = match mode {
        ResponseMode::Text => false,
        ResponseMode::Binary => true,
        ResponseMode::Auto => !r.body.is_empty() && !r.is_text(),
    };
    if !binary {
        return match mode {
            ResponseMode::Text => Value::String(r.text()),
            _ => r.body_value(),
        };
    }
    let content_type = r.media_type().unwrap_or_else(|| "application/octet-stream".to_owned());
    Binary::new(content_type, r.body.clone()).named(file_name(r)).to_value()
}

/// A file name for a fetched body: `Content-Disposition`'s `filename`, else
/// the URL's last path segment when it has an extension.
fn file_name(r: &Received) -> Option<String> {
    let from_header = r
        .headers
        .get(reqwest::header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(|cd| {
            cd.split(';').map(str::trim).find_map(|part| {
                let (k, v) = part.split_once('=')?;
                (k.trim().eq_ignore_ascii_case("filename")).then(|| v.trim().trim_matches('"').to_owned())
            })
        })
        .filter(|n| !n.is_empty() && !n.contains(['/', '\\']));
    from_header.or_else(|| {
        let last = r.target.trim_end_matches('/').rsplit('/').next()?;
        (last.contains('.') && !last.contains(':')).then(|| last.to_owned())
    })
}

/// The step's `max_body_bytes:`, checked against the ceiling.
fn body_limit(asked: Option<u64>) -> Result<BodyLimit, ActionError> {
    match asked {
        None => Ok(BodyLimit::Default),
        Some(n) if n == 0 || n > MAX_BODY_CEILING as u64 => {
            Err(invalid(format!("`max_body_bytes:` is {n}; give 1 to {MAX_BODY_CEILING} (128 MiB, the ceiling)")))
        }
        Some(n) => Ok(BodyLimit::Step(n as usize)),
    }
}

fn invalid(msg: impl Into<String>) -> ActionError {
    ActionError::permanent(format!("http.request: {}", msg.into())).with_code("params.invalid")
}

fn http_connection(c: &Connection) -> Result<HttpConnection, ActionError> {
    if c.kind != "http" {
        return Err(invalid(format!("connection `{}` is of type `{}`, not `http`", c.name, c.kind)));
    }
    c.parse()
}

fn resolve_url(p: &HttpRequestParams, conn: Option<&HttpConnection>) -> Result<reqwest::Url, ActionError> {
    let url = match (&p.url, &p.path, conn) {
        (Some(_), Some(_), _) => return Err(invalid("give `url:` or `path:`, not both")),
        (Some(url), None, _) => url.clone(),
        (None, Some(path), Some(conn)) => join(&conn.base_url, path),
        (None, Some(_), None) => return Err(invalid("`path:` needs a connection with a `base_url`")),
        (None, None, Some(conn)) => conn.base_url.clone(),
        (None, None, None) => return Err(invalid("give `url:`, or `path:` with a connection")),
    };
    let parsed = reqwest::Url::parse(&url).map_err(|e| invalid(format!("`{url}` is not a valid URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!("`{url}`: only http and https URLs are supported")));
    }
    Ok(parsed)
}

/// `base` + `/` + `path`, with exactly one slash between them.
pub(crate) fn join(base: &str, path: &str) -> String {
    if path.is_empty() {
        return base.to_owned();
    }
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

fn method_of(m: Option<HttpMethod>) -> Method {
    match m.unwrap_or(HttpMethod::Get) {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Options => Method::OPTIONS,
    }
}

fn header_name(name: &str) -> Result<HeaderName, ActionError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(format!("`{name}` is not a valid header name")))
}

/// The header value; the error names the header but never shows the value.
fn header_value(name: &str, value: &str) -> Result<HeaderValue, ActionError> {
    HeaderValue::from_str(value)
        .map_err(|_| invalid(format!("the value of header `{name}` is not a valid header value")))
}

fn parse_timeout(t: &str) -> Result<Duration, ActionError> {
    humantime::parse_duration(t).map_err(|e| invalid(format!("timeout `{t}`: {e}")))
}

/// Query or form pairs: arrays repeat the key, `null` is left out, other
/// values are written as JSON scalars are read (`true`, `3`, text).
fn pairs<'a>(map: impl IntoIterator<Item = (&'a String, &'a Value)>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in map {
        match v {
            Value::Array(items) => {
                for item in items {
                    if let Some(s) = scalar(item) {
                        out.push((k.clone(), s));
                    }
                }
            }
            other => {
                if let Some(s) = scalar(other) {
                    out.push((k.clone(), s));
                }
            }
        }
    }
    out
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}
