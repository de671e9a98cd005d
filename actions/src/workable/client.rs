//! Calling Workable: auth headers, the per-token rate limiter, 429 waits,
//! error mapping (`{"error": …, "validation_errors": …}`) and `paging.next`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqflow_engine::action::{ActionContext, ActionError};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::connection::WorkableConnection;
use super::ratelimit::{Limiter, fixed_limiter, limiter};
use crate::http::errors::{DETAIL_BODY_CHARS, is_retryable_status, retry_after, truncate};
use crate::http::{Received, client, send};

/// How often one call waits out a 429 before giving up (as a retryable error).
const MAX_429_WAITS: u32 = 3;

/// A Workable API client for one connection.
#[derive(Debug, Clone)]
pub struct WorkableClient {
    root: String,
    token: String,
    client_id: Option<String>,
    account: Option<String>,
    /// `None` when the connection turned the client-side limit off (`rate_limit: none`).
    limiter: Option<Arc<Limiter>>,
    timeout: Option<Duration>,
}

impl WorkableClient {
    /// The client for the step's `workable` connection.
    pub fn from_context(cx: &ActionContext) -> Result<WorkableClient, ActionError> {
        let c = cx.require_connection()?;
        if c.kind != "workable" {
            return Err(ActionError::permanent(format!(
                "connection `{}` is of type `{}`; Workable actions take a `workable` connection",
                c.name, c.kind
            ))
            .with_code("connection.invalid"));
        }
        let conn: WorkableConnection = c.parse()?;
        let root = conn.api_root().map_err(|e| ActionError::permanent(e).with_code("connection.invalid"))?;
        let key = reqflow_engine::sha256_hex(
            format!("{root}\n{}\n{}", conn.token, conn.partner_client_id.as_deref().unwrap_or("")).as_bytes(),
        );
        let limiter = match conn.client_limit() {
            Some((n, false)) => Some(limiter(&key, n)),
            Some((n, true)) => Some(fixed_limiter(&key, n)),
            None => None,
        };
        Ok(WorkableClient {
            limiter,
            root,
            token: conn.token.clone(),
            client_id: conn.partner_client_id.clone(),
            account: conn.account(),
            timeout: cx.timeout,
        })
    }

    /// The account subdomain, if the connection names one.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// `GET {root}{path}` with a query.
    pub async fn get(&self, path: &str, query: &[(String, String)]) -> Result<Value, ActionError> {
        self.call(Method::GET, &format!("{}{path}", self.root), query, None).await
    }

    /// A request with a JSON body.
    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Result<Value, ActionError> {
        self.call(method, &format!("{}{path}", self.root), &[], Some(body)).await
    }

    /// Follows a `paging.next` link (only on the connection's own host: the token goes with it).
    pub async fn get_next(&self, url: &str) -> Result<Value, ActionError> {
        let origin = |u: &str| reqwest::Url::parse(u).ok().map(|u| u.origin().ascii_serialization());
        if origin(url).is_none() || origin(url) != origin(&self.root) {
            return Err(ActionError::permanent(format!("Workable's paging.next `{url}` is not on the API host"))
                .with_code("workable.paging"));
        }
        self.call(Method::GET, url, &[], None).await
    }

    async fn call(
        &self,
        method: Method,
        url: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Value, ActionError> {
        let mut waits = 0;
        loop {
            if let Some(l) = &self.limiter {
                l.acquire().await;
            }
            let mut req =
                client().request(method.clone(), url).bearer_auth(&self.token).header("accept", "application/json");
            if let Some(id) = &self.client_id {
                req = req.header("x-workable-client-id", id);
            }
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            if let Some(t) = self.timeout {
                req = req.timeout(t);
            }
            let r = send(req).await?;
            self.observe(&r.headers);
            if r.status.as_u16() == 429 && waits < MAX_429_WAITS {
                waits += 1;
                let wait = retry_after(&r.headers).or_else(|| reset_in(&r.headers)).unwrap_or(Duration::from_secs(10));
                match &self.limiter {
                    Some(l) => l.block_until(Instant::now() + wait),
                    None => tokio::time::sleep(wait).await,
                }
                continue;
            }
            if r.status.is_success() {
                return Ok(r.body_value());
            }
            return Err(error_of(&r));
        }
    }

    fn observe(&self, h: &HeaderMap) {
        let Some(limiter) = &self.limiter else { return };
        let num = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).and_then(|s| s.trim().parse::<usize>().ok());
        limiter.observe(num("x-rate-limit-limit"), num("x-rate-limit-remaining"), reset_in(h));
    }
}

/// `X-Rate-Limit-Reset` (Unix seconds) as a duration from now.
fn reset_in(h: &HeaderMap) -> Option<Duration> {
    let reset = h.get("x-rate-limit-reset")?.to_str().ok()?.trim().parse::<i64>().ok()?;
    let now = chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(u64::try_from(reset * 1000 - now).unwrap_or(0)))
}

/// A Workable error answer as an action error.
fn error_of(r: &Received) -> ActionError {
    let status = r.status.as_u16();
    let body = r.body_value();
    let api_message = body.get("error").and_then(Value::as_str).unwrap_or("").to_owned();
    let validation = body.get("validation_errors").cloned().unwrap_or(Value::Null);
    let duplicate = validation
        .get("email")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|m| m.as_str().is_some_and(|m| m.contains("already exists"))));
    let what = format!("{} {}", r.method, r.target);
    let (message, code) = match status {
        422 if duplicate => (
            "Workable already has a candidate with this email in this job (422: candidate already exists)".to_owned(),
            "workable.duplicate_candidate".to_owned(),
        ),
        401 => (format!("Workable refused the token (401 {api_message}): {what}"), "workable.unauthorized".to_owned()),
        403 => (format!("the token may not do this (403 {api_message}): {what}"), "workable.forbidden".to_owned()),
        404 => (format!("not found in Workable (404): {what}"), "workable.not_found".to_owned()),
        409 => (
            format!("conflict (409): {what}; for a subscription, the target URL is already registered"),
            "workable.conflict".to_owned(),
        ),
        422 => (
            format!("Workable rejected the request (422): {}", describe(&api_message, &validation)),
            "workable.validation".to_owned(),
        ),
        429 => (format!("Workable rate limit still exceeded after waiting: {what}"), "http.429".to_owned()),
        s => (format!("{what} answered {s} {api_message}").trim_end().to_owned(), format!("http.{s}")),
    };
    let mut err =
        if is_retryable_status(r.status) { ActionError::retryable(message) } else { ActionError::permanent(message) };
    if let Some(after) = retry_after(&r.headers).or_else(|| if status == 429 { reset_in(&r.headers) } else { None }) {
        err = err.with_retry_after(after);
    }
    err.with_code(code).with_details(json!({
        "status": status,
        "error": api_message,
        "validation_errors": validation,
        "body": truncate(&r.text(), DETAIL_BODY_CHARS),
    }))
}

fn describe(message: &str, validation: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(obj) = validation.as_object() {
        for (field, problems) in obj {
            let p: Vec<String> = match problems {
                Value::Array(a) => {
                    a.iter().map(|m| m.as_str().map(str::to_owned).unwrap_or_else(|| m.to_string())).collect()
                }
                other => vec![other.to_string()],
            };
            parts.push(format!("{field} {}", p.join(", ")));
        }
    }
    if parts.is_empty() { message.to_owned() } else { parts.join("; ") }
}
