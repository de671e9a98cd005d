//! `POST /ccx/oauth2/{tenant}/token`: the refresh-token and authorization-code
//! grants, with client credentials in a Basic header or in the form; standard
//! OAuth errors.
//!
//! `GET /{tenant}/authorize?response_type=code&client_id&redirect_uri&state`:
//! the consent page (an HTML form); `POST /{tenant}/authorize` with the same
//! fields and `decision=approve|deny` answers `302` to
//! `redirect_uri?code=…&state=…` (or `error=access_denied`). A test posts the
//! form directly. The code is bound to the client, the redirect URI and the
//! state; it works once, for [`CODE_TTL_SECS`]. An unknown client or a
//! redirect URI that is not a loopback `http://127.0.0.1|localhost|[::1]` URL
//! (the sandbox's registered redirect URIs) is refused on the page itself,
//! never redirected to (as Workday does).

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

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
    match form.get("grant_type").map(String::as_str) {
        Some("refresh_token") => {}
        Some("authorization_code") => return code_grant(&sb, &id, &secret, &form),
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only refresh_token and authorization_code are supported",
            );
        }
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

/// How long an authorization code can be exchanged, seconds.
pub const CODE_TTL_SECS: i64 = 300;

/// `grant_type=authorization_code`: the code must be one this client was
/// given for this `redirect_uri`, not used before and not expired.
fn code_grant(sb: &Sandbox, id: &str, secret: &str, form: &BTreeMap<String, String>) -> Response {
    let code = form.get("code").cloned().unwrap_or_default();
    let redirect = form.get("redirect_uri").cloned().unwrap_or_default();
    sb.update(|d| {
        let w = &mut d.workday;
        if w.clients.get(id).map(String::as_str) != Some(secret) {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client or wrong secret");
        }
        let Some(grant) = w.codes.get_mut(&code) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the authorization code is invalid");
        };
        if grant["used"].as_bool() == Some(true) {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the authorization code was already used");
        }
        if grant["issued_at"].as_i64().unwrap_or(0) + CODE_TTL_SECS < crate::util::now_secs() {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the authorization code has expired");
        }
        if grant["client_id"].as_str() != Some(id) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "the authorization code was issued to another client",
            );
        }
        if grant["redirect_uri"].as_str() != Some(redirect.as_str()) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "redirect_uri does not match the one the authorization code was issued for",
            );
        }
        grant["used"] = Value::Bool(true);
        let n = w.next_number();
        let refresh = format!("wd-refresh-{n:06}-{}", nonce_hex());
        w.refresh_tokens.push(refresh.clone());
        let token = format!("wd-access-{:06}", w.next_number());
        w.access_tokens.insert(token.clone(), crate::util::now_secs() + EXPIRES_IN);
        Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": EXPIRES_IN, "refresh_token": refresh}))
            .into_response()
    })
}

/// A few hex digits that differ between codes and tokens issued in one run
/// (not a secret: the sandbox's codes only need to be distinct).
fn nonce_hex() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{:08x}", nanos ^ std::process::id())
}

/// The fields of an authorize request.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct AuthorizeQuery {
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    decision: String,
}

/// Whether the sandbox's API clients may redirect there: loopback `http` URLs.
fn registered_redirect(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else { return false };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let esc = reqflow_engine::xml::escape;
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{0}</title></head>\
         <body><h1>{0}</h1>{body}</body></html>",
        esc(title)
    );
    (status, [("content-type", "text/html; charset=utf-8")], html).into_response()
}

/// The checks both the page and the form post make; an error page when they fail.
fn check_authorize(sb: &Sandbox, tenant: &str, q: &AuthorizeQuery) -> Result<(), Response> {
    if sb.read(|d| d.workday.tenant != tenant) {
        return Err(page(StatusCode::NOT_FOUND, "Unknown tenant", "<p>There is no such tenant.</p>"));
    }
    if q.response_type != "code" {
        return Err(page(StatusCode::BAD_REQUEST, "Invalid request", "<p>response_type must be code.</p>"));
    }
    if !sb.read(|d| d.workday.clients.contains_key(&q.client_id)) {
        return Err(page(StatusCode::BAD_REQUEST, "Invalid client", "<p>The API client is not registered.</p>"));
    }
    if !registered_redirect(&q.redirect_uri) {
        return Err(page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect URI",
            "<p>The redirect URI is not registered for this API client.</p>",
        ));
    }
    Ok(())
}

/// `GET /{tenant}/authorize`: the consent page.
pub(crate) async fn authorize_page(
    State(sb): State<Sandbox>,
    Path(tenant): Path<String>,
    axum::extract::Query(q): axum::extract::Query<AuthorizeQuery>,
) -> Response {
    if let Err(r) = check_authorize(&sb, &tenant, &q) {
        return r;
    }
    let esc = reqflow_engine::xml::escape;
    let hidden = |n: &str, v: &str| format!("<input type=\"hidden\" name=\"{n}\" value=\"{}\">", esc(v));
    let form = format!(
        "<p>The API client <b>{client}</b> asks for access to tenant <b>{tenant}</b>.</p>\
         <form method=\"post\" action=\"/{tenant}/authorize\">{}{}{}{}\
         <button name=\"decision\" value=\"approve\">Allow</button> \
         <button name=\"decision\" value=\"deny\">Deny</button></form>",
        hidden("response_type", "code"),
        hidden("client_id", &q.client_id),
        hidden("redirect_uri", &q.redirect_uri),
        hidden("state", &q.state),
        client = esc(&q.client_id),
        tenant = esc(&tenant),
    );
    page(StatusCode::OK, "Workday: allow access", &form)
}

/// `POST /{tenant}/authorize`: the consent, answered by a redirect with a code.
pub(crate) async fn authorize_post(State(sb): State<Sandbox>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let form = serde_urlencoded_lite(&body).unwrap_or_default();
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let q = AuthorizeQuery {
        response_type: get("response_type"),
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        state: get("state"),
        decision: get("decision"),
    };
    if let Err(r) = check_authorize(&sb, &tenant, &q) {
        return r;
    }
    let sep = if q.redirect_uri.contains('?') { '&' } else { '?' };
    let enc = |s: &str| url_encode(s);
    let location = if q.decision == "approve" {
        let code = sb.update(|d| {
            let w = &mut d.workday;
            let code = format!("wd-code-{:06}-{}", w.next_number(), nonce_hex());
            w.codes.insert(
                code.clone(),
                json!({"client_id": q.client_id, "redirect_uri": q.redirect_uri, "state": q.state,
                       "issued_at": crate::util::now_secs(), "used": false}),
            );
            code
        });
        format!("{}{sep}code={}&state={}", q.redirect_uri, enc(&code), enc(&q.state))
    } else {
        format!("{}{sep}error=access_denied&state={}", q.redirect_uri, enc(&q.state))
    };
    (StatusCode::FOUND, [("location", location)]).into_response()
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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
