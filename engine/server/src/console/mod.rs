//! The console: a web page for the people who run reqflow, on the admin
//! plane, behind the same tokens as the API.
//!
//! - `GET /`: the page (hash routes `#/overview`, `#/runs`, `#/runs/{id}`,
//!   `#/events`, `#/workflows`, `#/workflows/{id}`) to
//!   a logged-in session; without one, the login form with `401`;
//! - `GET /console/login`, `POST /console/login` (form field `token`): an
//!   API token checked against the token store; on success a session
//!   cookie (`reqflow_session`: HttpOnly, `SameSite=Strict`, `Path=/`,
//!   `Secure` when the admin listener is TLS) and `303` to `/`;
//! - `POST /console/logout`: ends the session server-side (with the CSRF
//!   header), clears the cookie;
//! - `GET /console/assets/{file}`: the embedded CSS and JavaScript.
//!
//! Those are the only routes of the admin plane that answer without a token
//! ([`UNAUTHENTICATED`]); none of them serves data. `GET /console/session`
//! (who the session is, its scope, its CSRF token) is in the route table
//! like the API. The session authenticates API calls in `access.rs`; a
//! state change made with the cookie needs the `X-Reqflow-CSRF` header.
//!
//! The API routes made for the console (Read scope, in the route table):
//! `GET /api/workflows/{id}` (`workflow_view.rs`), `GET /api/overview`
//! (`overview.rs`) and `GET /api/runs/stream` (`stream.rs`).

pub mod assets;
pub(crate) mod overview;
pub(crate) mod session;
pub(crate) mod stream;
pub(crate) mod workflow_view;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use reqflow_engine::runtime::clock::now_ms;
use reqflow_engine::runtime::tokens;
use serde_json::json;

use crate::AppState;
use crate::access::Caller;
use crate::error::ApiError;

/// The admin plane's routes that answer without a token (method, path): the
/// login page and form, logout, the page shell (the login form with 401
/// without a session) and the static assets. None serves data.
pub const UNAUTHENTICATED: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/console/login"),
    ("POST", "/console/login"),
    ("POST", "/console/logout"),
    ("GET", "/console/assets/{file}"),
];

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's own routes (those of [`UNAUTHENTICATED`]).
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/assets/{file}", get(asset))
        .with_state(state)
}

fn page(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure_headers(h);
    r
}

fn secure_headers(h: &mut HeaderMap) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
}

fn login_form(status: StatusCode, error: Option<&str>) -> Response {
    let msg = error
        .map(|e| format!("<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>", escape(e)))
        .unwrap_or_default();
    page(status, assets::LOGIN.replace("<!--ERROR-->", &msg))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The session's caller, if the request carries a live session whose token is still active.
pub(crate) async fn session_caller(state: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
    let Some(id) = session::cookie_value(headers) else {
        return Ok(None);
    };
    let now = now_ms();
    let Some(s) = state.sessions.get(&id, now) else {
        return Ok(None);
    };
    match tokens::verify_hash(state.engine.store().as_ref(), &s.token_hash, now).await {
        Ok(t) => Ok(Some(Caller::of(&t, Some(s.csrf)))),
        Err(tokens::TokenError::Store(e)) => Err(e.into()),
        Err(_) => {
            state.sessions.remove(&id);
            Ok(None)
        }
    }
}

async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session_caller(&state, &headers).await {
        Ok(Some(_)) => page(StatusCode::OK, assets::INDEX.to_owned()),
        Ok(None) => login_form(StatusCode::UNAUTHORIZED, None),
        Err(e) => e.into_response(),
    }
}

async fn login_page() -> Response {
    login_form(StatusCode::OK, None)
}

/// Whether a browser's `Origin` (when sent) is this very host (the pages use
/// `Referrer-Policy: same-origin`, with which Chromium sends it): a login
/// posted from another site is refused.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
    !host.is_empty() && origin_host == host
}

/// The `token` field of an `application/x-www-form-urlencoded` body.
fn form_token(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let raw = text.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == "token")?.1;
    let mut out = Vec::with_capacity(raw.len());
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(|s| s.trim().to_owned())
}

async fn login(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !same_origin(&headers) {
        return login_form(StatusCode::FORBIDDEN, Some("This form must be sent from this console's own page."));
    }
    let Some(token) = form_token(&body).filter(|t| !t.is_empty()) else {
        return login_form(StatusCode::BAD_REQUEST, Some("Enter an API token."));
    };
    let now = now_ms();
    let bearer = format!("Bearer {token}");
    let record = match tokens::verify(state.engine.store().as_ref(), Some(&bearer), now).await {
        Ok(r) => r,
        Err(tokens::TokenError::Store(e)) => return ApiError::from(e).into_response(),
        Err(e) => {
            state.refusals.note("console: login refused", &e.to_string());
            return login_form(StatusCode::UNAUTHORIZED, Some(&format!("Login refused: {e}.")));
        }
    };
    let (id, _) = match state.sessions.create(tokens::hash_token(&token), now) {
        Ok(s) => s,
        Err(e) => return ApiError::Internal(e.to_string()).into_response(),
    };
    tracing::info!(token = %record.name, scope = %record.scope, "console: logged in");
    let mut r = StatusCode::SEE_OTHER.into_response();
    let h = r.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static("/#/runs"));
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(&id, state.opts.secure_cookies)) {
        h.insert(header::SET_COOKIE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut status = StatusCode::NO_CONTENT;
    if let Some(id) = session::cookie_value(&headers)
        && let Some(s) = state.sessions.get(&id, now_ms())
    {
        let sent = headers.get(session::CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !session::same(sent, &s.csrf) {
            return (StatusCode::FORBIDDEN, axum::Json(json!({ "error": "missing or wrong X-Reqflow-CSRF header" })))
                .into_response();
        }
        state.sessions.remove(&id);
        status = StatusCode::NO_CONTENT;
    }
    let mut r = status.into_response();
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie(state.opts.secure_cookies)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn asset(Path(file): Path<String>) -> Response {
    let Some(a) = assets::find(&file) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let mut r = a.body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure_headers(h);
    r
}

/// `GET /console/session`: who is calling, with what scope, and (for a
/// cookie session) the CSRF token its state changes must carry.
pub(crate) async fn whoami(axum::Extension(caller): axum::Extension<Caller>) -> axum::Json<serde_json::Value> {
    axum::Json(json!({ "actor": caller.actor, "scope": caller.scope, "csrf": caller.csrf }))
}

/// Whether a request method changes state (needs the CSRF header with a cookie).
pub(crate) fn changes_state(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_field() {
        assert_eq!(form_token(b"token=rft_abc-_9").as_deref(), Some("rft_abc-_9"));
        assert_eq!(form_token(b"x=1&token=a%2Bb+c").as_deref(), Some("a+b c"));
        assert_eq!(form_token(b"token=%zz"), None);
        assert_eq!(form_token(b"token=%2"), Some("%2".into()));
        assert_eq!(form_token(b"nothing"), None);
    }

    #[test]
    fn origins() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8081"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8081"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h));
    }
}
