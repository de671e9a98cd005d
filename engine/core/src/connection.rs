//! What a connection type can do besides serving actions: check itself with
//! a cheap authenticated read, say what is known of its credentials, and be
//! connected by an OAuth 2.0 authorization-code grant.
//!
//! The engine knows no connection type by name: a connector registers
//! [`ConnectionHooks`] with its [`ConnectionType`](crate::action::ConnectionType)
//! (`ConnectionType::of::<T>(…).with_hooks(…)`), and the runtime
//! (`runtime::connections`) calls them for `reqflow connections test|list`,
//! `reqflow connect`, the admin API and `serve --check-connections`.
//!
//! Every hook receives an [`ActionContext`] whose `connection` is the
//! evaluated connection (secrets resolved), whose `workflow` is the workflow
//! defining it, and whose `state` is the engine's encrypted shared state: what
//! a hook stores there (a refresh token) is encrypted at rest.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::{ActionContext, ActionError, BoxFuture, Connection};

/// Why a connection check failed, as a user acts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The far end refused the credentials (401, `invalid_grant`, an authentication fault).
    Auth,
    /// The credentials are valid but lack a permission (403, Workday's "not authorized").
    Permission,
    /// No connection could be made (DNS, refused, reset).
    Network,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// No answer in time.
    Timeout,
    /// The connection's settings are incomplete or invalid (a secret not set, a bad URL).
    Config,
    /// Something else: an unexpected status or answer.
    Unexpected,
}

impl FailureClass {
    /// The class as written in outputs (`auth`, `permission`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Auth => "auth",
            FailureClass::Permission => "permission",
            FailureClass::Network => "network",
            FailureClass::Tls => "tls",
            FailureClass::Timeout => "timeout",
            FailureClass::Config => "config",
            FailureClass::Unexpected => "unexpected",
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed connection check: its class and what the far end said. Never
/// contains a secret value (the runtime masks the message again anyway).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{class}: {message}")]
pub struct CheckFailure {
    /// What kind of failure.
    pub class: FailureClass,
    /// What went wrong, for people.
    pub message: String,
}

impl CheckFailure {
    /// A failure of this class.
    pub fn new(class: FailureClass, message: impl Into<String>) -> Self {
        CheckFailure { class, message: message.into() }
    }
}

/// Why a connect step (authorize URL, code exchange, stored token) failed.
pub type ConnectResult<T> = Result<T, ActionError>;

/// What a connection type can do besides serving actions. Every method but
/// [`check`](ConnectionHooks::check) has a default: "not supported".
pub trait ConnectionHooks: Send + Sync + fmt::Debug {
    /// A cheap authenticated read (e.g. `GET /members?limit=1`): on success,
    /// a short description of what was read (`{"read": "…"}`).
    fn check<'a>(&'a self, cx: &'a ActionContext) -> BoxFuture<'a, Result<Value, CheckFailure>>;

    /// What is known of the connection's credentials, never a secret:
    /// e.g. `{"auth": "oauth (connected)", "connected_at": …, "last_refresh": …, "last_error": …}`.
    fn state<'a>(&'a self, _cx: &'a ActionContext) -> BoxFuture<'a, Result<Value, ActionError>> {
        Box::pin(async { Ok(Value::Object(Default::default())) })
    }

    /// Why the connection cannot authenticate yet although its settings
    /// evaluate (e.g. an OAuth connection neither connected nor given a
    /// refresh token): a sentence a user acts on, naming the command to run.
    /// `None` when it can (or when that cannot be told without calling out).
    /// `serve` lists it before serving, and a schedule does not fire meanwhile.
    fn not_ready<'a>(&'a self, _cx: &'a ActionContext) -> BoxFuture<'a, Option<String>> {
        Box::pin(async { None })
    }

    /// What a connect stores its credentials for, when connections other than
    /// the one connected share them (e.g. Workday: the token endpoint and API
    /// client): connections with the same scope are connected together. An
    /// opaque string, no secret; `None` when each connection is its own.
    fn credential_scope(&self, _conn: &Connection) -> Option<String> {
        None
    }

    /// Whether [`authorize_url`](ConnectionHooks::authorize_url) and
    /// [`complete`](ConnectionHooks::complete) work for this connection.
    fn can_connect(&self, _conn: &Connection) -> bool {
        false
    }

    /// The URL a person opens to grant access (authorization-code grant),
    /// carrying `state` and `redirect_uri`.
    fn authorize_url(&self, conn: &Connection, _redirect_uri: &str, _state: &str) -> ConnectResult<String> {
        Err(unsupported(conn))
    }

    /// Exchanges an authorization `code` (issued for `redirect_uri`) and
    /// stores the credentials it yields in `cx.state`; answers what was
    /// stored, without secrets.
    fn complete<'a>(
        &'a self,
        cx: &'a ActionContext,
        _code: &'a str,
        _redirect_uri: &'a str,
    ) -> BoxFuture<'a, ConnectResult<Value>> {
        Box::pin(async move {
            let conn = cx.require_connection()?;
            Err(unsupported(conn))
        })
    }

    /// Stores an existing refresh token (after trying it once); answers what
    /// was stored, without secrets.
    fn store_refresh_token<'a>(
        &'a self,
        cx: &'a ActionContext,
        _token: &'a str,
    ) -> BoxFuture<'a, ConnectResult<Value>> {
        Box::pin(async move {
            let conn = cx.require_connection()?;
            Err(unsupported(conn))
        })
    }
}

fn unsupported(conn: &Connection) -> ActionError {
    ActionError::permanent(format!(
        "connection `{}` ({}) cannot be connected by OAuth: only a `workday` connection with `auth: {{oauth: …}}` can",
        conn.name, conn.kind
    ))
    .with_code("connect.unsupported")
}
