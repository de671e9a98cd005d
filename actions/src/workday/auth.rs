//! Workday credentials: the WS-Security header for an ISU, and OAuth access
//! tokens from the refresh-token grant, cached in the engine's shared state
//! (so restarts and other processes reuse them) and refreshed a minute
//! before they expire or when Workday answers 401.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use reqflow_engine::action::{ActionContext, ActionError};
use serde_json::{Value, json};

use super::connection::{ClientAuth, WorkdayAuth, WorkdayConnection};
use crate::http::errors::{DETAIL_BODY_CHARS, truncate};
use crate::http::{client, send};

/// Refresh this long before the token expires.
const EARLY_SECS: i64 = 60;
/// Assumed lifetime when the token response has no `expires_in`.
const DEFAULT_EXPIRES_SECS: i64 = 3600;

/// An access token and when it stops working.
#[derive(Clone, Debug)]
pub struct AccessToken {
    /// The bearer token.
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

fn state_key(conn: &WorkdayConnection, client_id: &str, refresh_token: &str) -> String {
    let url = conn.token_url().unwrap_or_default();
    // The key names the credentials without containing them.
    let id = reqflow_engine::sha256_hex(format!("{url}\n{client_id}\n{refresh_token}").as_bytes());
    format!("workday.oauth.{}", &id[..32])
}

fn locks() -> &'static Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    LOCKS.get_or_init(Default::default)
}

fn lock_for(key: &str) -> Arc<tokio::sync::Mutex<()>> {
    let mut map = match locks().lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    map.entry(key.to_owned()).or_default().clone()
}

/// Where a connect keeps a tenant's credentials in the shared state
/// (encrypted): one entry per token endpoint and API client, used by every
/// connection (of any workflow) with the same two, so one consent connects
/// them all. The value holds `refresh_token`, the cached `access_token` and
/// `expires_at`, and what `connections list` shows (`connected_at`, `how`,
/// `last_refresh`, `last_error`). The key names them without containing them.
pub fn connected_key(conn: &WorkdayConnection, client_id: &str) -> String {
    let url = conn.token_url().unwrap_or_default();
    let id = reqflow_engine::sha256_hex(format!("{url}\n{client_id}").as_bytes());
    format!("workday.connected.{}", &id[..32])
}

/// Where connects before tenant-wide entries kept them: per workflow and
/// connection. Still read (after [`connected_key`]) so those stay connected.
pub fn legacy_connected_key(workflow: &str, connection: &str) -> String {
    format!("workday.connected.{workflow}.{connection}")
}

/// Where an OAuth connection's refresh token comes from.
pub enum TokenSource {
    /// Connected (`reqflow connect workday`): the entry's key and value.
    Connected(String, Value),
    /// The `refresh_token:` setting: where its access token is cached, and that entry.
    Setting(String, Option<Value>),
    /// Neither: the connection must be connected first.
    NotConnected,
}

/// The refresh-token setting, if given and not empty (an optional secret
/// that is not set evaluates to nothing).
fn setting(refresh_token: &Option<String>) -> Option<&str> {
    refresh_token.as_deref().filter(|t| !t.trim().is_empty())
}

/// Where an OAuth connection's refresh token comes from (`None` for an ISU):
/// the connected entry wins over the `refresh_token:` setting.
pub async fn token_source(cx: &ActionContext, conn: &WorkdayConnection) -> Result<Option<TokenSource>, ActionError> {
    let WorkdayAuth::Oauth { client_id, refresh_token, .. } = &conn.auth else {
        return Ok(None);
    };
    let key = connected_key(conn, client_id);
    if let Some(v) = cx.state.get(&key).await? {
        return Ok(Some(TokenSource::Connected(key, v)));
    }
    if let Some(c) = &cx.connection {
        let key = legacy_connected_key(&cx.workflow, &c.name);
        if let Some(v) = cx.state.get(&key).await? {
            return Ok(Some(TokenSource::Connected(key, v)));
        }
    }
    Ok(Some(match setting(refresh_token) {
        Some(rt) => {
            let key = state_key(conn, client_id, rt);
            let v = cx.state.get(&key).await?;
            TokenSource::Setting(key, v)
        }
        None => TokenSource::NotConnected,
    }))
}

/// What a connection that is neither connected nor given a refresh token
/// answers: the command that connects it.
pub fn not_connected_message(workflow: &str, connection: &str) -> String {
    format!("not connected: run `reqflow connect workday --workflow {workflow} --connection {connection}`")
}

/// A bearer token for an OAuth connection (`None` for an ISU). With
/// `rejected`, the caller saw that token refused: a different stored token is
/// used if another task refreshed meanwhile, else a new one is fetched.
///
/// The refresh token is the connected one (`reqflow connect workday`, kept
/// encrypted under [`connected_key`]) when there is one, else the
/// `refresh_token:` setting.
pub async fn bearer(
    cx: &ActionContext,
    conn: &WorkdayConnection,
    rejected: Option<&str>,
) -> Result<Option<String>, ActionError> {
    let WorkdayAuth::Oauth { client_id, client_secret, refresh_token, client_auth, .. } = &conn.auth else {
        return Ok(None);
    };
    let name = cx.connection.as_ref().map(|c| c.name.clone()).unwrap_or_default();
    // The connected entry wins; the lock is per entry, so take it on the one in use.
    let (key, configured) = match token_source(cx, conn).await? {
        None => return Ok(None),
        Some(TokenSource::Connected(key, entry)) => {
            // A refresh token goes only to the token endpoint and client it was issued for.
            let url = conn.token_url().unwrap_or_default();
            let bound = |k: &str, want: &str| entry[k].as_str().is_none_or(|v| v == want);
            if !bound("token_url", &url) || !bound("client_id", client_id) {
                return Err(ActionError::permanent(format!(
                    "connection `{name}` was connected with another token endpoint or client id: connect it again \
                     (`reqflow connect workday --workflow {} --connection {name}`)",
                    cx.workflow
                ))
                .with_code("workday.not_connected"));
            }
            (key, None)
        }
        Some(TokenSource::Setting(key, _)) => (key, setting(refresh_token).map(str::to_owned)),
        Some(TokenSource::NotConnected) => {
            return Err(ActionError::permanent(format!(
                "connection `{name}` is {} (or give it a `refresh_token:`); a connect is for one host, tenant \
                 and client id",
                not_connected_message(&cx.workflow, &name)
            ))
            .with_code("workday.not_connected"));
        }
    };
    let now = chrono::Utc::now().timestamp();
    let lock = lock_for(&key);
    let _guard = lock.lock().await;
    let stored = cx.state.get(&key).await?;
    let stored_refresh = stored.as_ref().and_then(|v| v["refresh_token"].as_str()).map(str::to_owned);
    if let Some(v) = &stored
        && let (Some(token), Some(exp)) = (v["access_token"].as_str(), v["expires_at"].as_i64())
    {
        let fresh = exp - EARLY_SECS > now;
        if fresh && rejected != Some(token) {
            return Ok(Some(token.to_owned()));
        }
    }
    let Some(refresh) = stored_refresh.or(configured) else {
        return Err(ActionError::permanent(format!("connection `{name}`: the stored connection has no refresh token"))
            .with_code("workday.not_connected"));
    };
    let mut entry = match stored {
        Some(Value::Object(m)) => m,
        _ => Default::default(),
    };
    let grant = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    let got = match fetch(conn, client_id, client_secret, &grant, *client_auth).await {
        Ok(g) => g,
        Err(e) => {
            // Kept for `connections list`; failing to record it must not hide the error.
            entry.insert("last_error".into(), json!({"at": now_ms(), "message": e.message}));
            let _ = cx.state.put(&key, Value::Object(entry)).await;
            return Err(e);
        }
    };
    entry.insert("access_token".into(), json!(got.access.token));
    entry.insert("expires_at".into(), json!(got.access.expires_at));
    entry.insert("refresh_token".into(), json!(got.refresh.unwrap_or(refresh)));
    entry.insert("last_refresh".into(), json!(now_ms()));
    entry.remove("last_error");
    cx.state.put(&key, Value::Object(entry)).await?;
    Ok(Some(got.access.token))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Tokens from the token endpoint.
pub struct Fetched {
    /// The access token.
    pub access: AccessToken,
    /// A new refresh token, if one came.
    pub refresh: Option<String>,
}

/// One call to the token endpoint with `grant` (`grant_type` and its fields)
/// and the client credentials.
pub async fn fetch(
    conn: &WorkdayConnection,
    client_id: &str,
    client_secret: &str,
    grant: &[(&str, &str)],
    how: ClientAuth,
) -> Result<Fetched, ActionError> {
    let url = conn.token_url().map_err(|e| ActionError::permanent(e).with_code("connection.invalid"))?;
    let mut form: Vec<(&str, &str)> = grant.to_vec();
    let mut req = client().post(&url);
    match how {
        ClientAuth::Basic => req = req.basic_auth(client_id, Some(client_secret)),
        ClientAuth::Body => {
            form.push(("client_id", client_id));
            form.push(("client_secret", client_secret));
        }
    }
    let r = send(req.form(&form)).await?;
    let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    if !r.status.is_success() {
        let code = body["error"].as_str().unwrap_or("").to_owned();
        let description = body["error_description"].as_str().unwrap_or("").to_owned();
        let message = format!(
            "Workday token endpoint {} answered {}{}{}",
            r.target,
            r.status.as_u16(),
            if code.is_empty() { String::new() } else { format!(" ({code})") },
            if description.is_empty() { String::new() } else { format!(": {description}") },
        );
        let details =
            json!({"status": r.status.as_u16(), "error": code, "body": truncate(&r.text(), DETAIL_BODY_CHARS)});
        let err = if crate::http::errors::is_retryable_status(r.status) {
            ActionError::retryable(message)
        } else {
            ActionError::permanent(message)
        };
        return Err(err.with_code("workday.oauth").with_details(details));
    }
    let Some(token) = body["access_token"].as_str() else {
        return Err(ActionError::retryable("Workday token endpoint answered without an access_token")
            .with_code("workday.oauth"));
    };
    let expires_in = body["expires_in"].as_i64().unwrap_or(DEFAULT_EXPIRES_SECS);
    Ok(Fetched {
        access: AccessToken { token: token.to_owned(), expires_at: chrono::Utc::now().timestamp() + expires_in },
        refresh: body["refresh_token"].as_str().map(str::to_owned),
    })
}

/// The `wsse:Security` header for an ISU (empty for OAuth).
pub fn wsse_header(conn: &WorkdayConnection) -> String {
    let WorkdayAuth::Isu { username, password } = &conn.auth else {
        return String::new();
    };
    let user = if username.contains('@') { username.clone() } else { format!("{username}@{}", conn.tenant) };
    let esc = reqflow_engine::xml::escape;
    format!(
        "<wsse:Security soapenv:mustUnderstand=\"1\" \
         xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd\">\
         <wsse:UsernameToken><wsse:Username>{}</wsse:Username>\
         <wsse:Password Type=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText\">{}</wsse:Password>\
         </wsse:UsernameToken></wsse:Security>",
        esc(&user),
        esc(password)
    )
}
