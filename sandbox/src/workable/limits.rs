//! Bearer auth and Workable's rate limits: per token (or partner client id),
//! in 10-second windows, 10 requests for account tokens and 50 for OAuth
//! (`oauth_…` tokens in the sandbox) and partner tokens (`X-WORKABLE-CLIENT-ID`).
//! Every answer carries `X-Rate-Limit-Limit`, `-Remaining` and `-Reset`
//! (Unix seconds of the next window); past the limit the answer is 429.
//! With the limits off ([`Sandbox::set_rate_limit`], `--no-rate-limit`),
//! only auth is checked and no `X-Rate-Limit-*` header is sent.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::Sandbox;
use crate::util::error;

/// The window, in seconds.
pub const WINDOW_SECS: i64 = 10;

/// Token presented with a request (after auth).
#[derive(Clone, Debug)]
pub struct Token(pub String);

pub(crate) async fn auth_and_rate_limit(State(sb): State<Sandbox>, mut req: Request, next: Next) -> Response {
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let token = match auth.split_once(char::is_whitespace) {
        Some((scheme, t))
            if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() && !t.trim().contains(' ') =>
        {
            t.trim().to_owned()
        }
        _ => return error(StatusCode::UNAUTHORIZED, "Not authorized"),
    };
    if sb.read(|d| d.workable.revoked_token(&token)) {
        return error(StatusCode::UNAUTHORIZED, "Not authorized");
    }
    if !sb.rate_limit() {
        req.extensions_mut().insert(Token(token));
        return next.run(req).await;
    }
    let client_id = req.headers().get("x-workable-client-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (key, limit) = match &client_id {
        Some(id) => (format!("partner:{id}"), 50),
        None if token.starts_with("oauth_") => (format!("oauth:{token}"), 50),
        None => (format!("account:{token}"), 10),
    };
    let now = crate::util::now_secs();
    let window = now - now.rem_euclid(WINDOW_SECS);
    let reset = window + WINDOW_SECS;
    let (allowed, remaining) = {
        let mut inner = sb.lock();
        let entry = inner.windows.entry(key).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= limit {
            (false, 0)
        } else {
            entry.1 += 1;
            (true, limit - entry.1)
        }
    };
    let mut resp = if allowed {
        req.extensions_mut().insert(Token(token));
        next.run(req).await
    } else {
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
        r.headers_mut().insert("retry-after", HeaderValue::from((reset - now).max(1)));
        r
    };
    let h = resp.headers_mut();
    h.insert("x-rate-limit-limit", HeaderValue::from(limit));
    h.insert("x-rate-limit-remaining", HeaderValue::from(remaining));
    h.insert("x-rate-limit-reset", HeaderValue::from(reset));
    resp
}

impl super::WorkableData {
    /// Tokens named `revoked…` or `expired…` are refused, to test 401s.
    pub fn revoked_token(&self, token: &str) -> bool {
        token.starts_with("revoked") || token.starts_with("expired")
    }
}
