//! Console sessions: a random session id in an HttpOnly, `SameSite=Strict`
//! cookie, mapped in memory (by the id's SHA-256 only) to the SHA-256 of the
//! API token that logged in, plus a per-session CSRF token.
//!
//! A session authenticates exactly as its token does: the token is re-checked
//! in the store on every request (revoked or expired → the session is gone),
//! and a session also ends after [`SESSION_TTL_MS`] or at logout. Sessions
//! live in memory: a restart of `serve` logs everyone out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;

/// The cookie's name.
pub(crate) const COOKIE: &str = "reqflow_session";
/// The header a cookie-authenticated state change must carry, equal to the session's CSRF token.
pub(crate) const CSRF_HEADER: &str = "x-reqflow-csrf";
/// How long a session lasts at most (12 hours).
pub(crate) const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;
/// At most this many sessions are kept; past it the oldest is dropped.
const MAX_SESSIONS: usize = 10_000;

/// Why a session could not be created.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    /// The operating system's random source failed.
    #[error("no random bytes from the operating system: {0}")]
    Random(String),
}

/// One logged-in session.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// SHA-256 (hex) of the API token that logged in.
    pub token_hash: String,
    /// The CSRF token state-changing requests must echo in [`CSRF_HEADER`].
    pub csrf: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
}

/// The sessions of one `serve` process.
#[derive(Clone, Default)]
pub(crate) struct Sessions {
    inner: Arc<Mutex<HashMap<String, Session>>>,
}

fn random_id() -> Result<String, SessionError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| SessionError::Random(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn key(session_id: &str) -> String {
    reqflow_engine::sha256_hex(session_id.as_bytes())
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session for the token with this hash; returns the session id (the cookie's value).
    pub fn create(&self, token_hash: String, now: i64) -> Result<(String, Session), SessionError> {
        let id = random_id()?;
        let session = Session { token_hash, csrf: random_id()?, created_at: now, expires_at: now + SESSION_TTL_MS };
        let mut map = self.lock();
        map.retain(|_, s| s.expires_at > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.created_at).map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(key(&id), session.clone());
        Ok((id, session))
    }

    /// The live session with this id.
    pub fn get(&self, session_id: &str, now: i64) -> Option<Session> {
        let k = key(session_id);
        let mut map = self.lock();
        match map.get(&k) {
            Some(s) if s.expires_at > now => Some(s.clone()),
            Some(_) => {
                map.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Ends a session (logout).
    pub fn remove(&self, session_id: &str) -> bool {
        self.lock().remove(&key(session_id)).is_some()
    }
}

/// The session id in a request's `Cookie` headers, if any.
pub(crate) fn cookie_value(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// Equality that takes the same time wherever the first difference is.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `Set-Cookie` value of a new session.
pub(crate) fn set_cookie(id: &str, secure: bool) -> String {
    let max_age = SESSION_TTL_MS / 1000;
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// The `Set-Cookie` value that deletes the cookie.
pub(crate) fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_end() {
        let s = Sessions::default();
        let (id, sess) = s.create("h".into(), 1000).expect("create");
        assert_eq!(s.get(&id, 2000).map(|x| x.csrf), Some(sess.csrf.clone()));
        assert!(s.get(&id, 1000 + SESSION_TTL_MS).is_none(), "expired");
        let (id, _) = s.create("h".into(), 1000).expect("create");
        assert!(s.remove(&id));
        assert!(s.get(&id, 2000).is_none(), "logged out");
        assert!(s.get("nonsense", 2000).is_none());
    }

    #[test]
    fn cookie_parsing() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(axum::http::header::COOKIE, "a=b; reqflow_session=xyz; c=d".parse().expect("hv"));
        assert_eq!(cookie_value(&h).as_deref(), Some("xyz"));
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert!(set_cookie("x", true).contains("HttpOnly; SameSite=Strict"));
        assert!(set_cookie("x", true).ends_with("; Secure"));
    }
}
