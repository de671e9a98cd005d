//! The workflows' connections as operators see them: listed with their type
//! and state, checked with a cheap authenticated read, and connected by an
//! OAuth 2.0 authorization-code grant — through the connection type's
//! [`ConnectionHooks`], so the engine
//! knows no ATS.
//!
//! Used by `reqflow connections list|test`, `reqflow connect`, `serve
//! --check-connections` and the admin API (`/api/connections…`).
//!
//! A connect started here (its `state`) is kept in this process's memory for
//! [`CONNECT_TTL`]: the callback must reach the same process that gave the
//! authorize URL, once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::Engine;
use super::clock::{now_ms, rfc3339};
use crate::action::{ActionContext, ActionError, Connection};
use crate::compile::CompiledWorkflow;
use crate::connection::{CheckFailure, ConnectionHooks, FailureClass};

/// How long a check may take before it is reported as a timeout.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an authorize URL's `state` stays valid.
pub const CONNECT_TTL: Duration = Duration::from_secs(600);

/// Why a connection operation could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// No workflow with this id is loaded.
    #[error("no workflow `{0}` is loaded")]
    UnknownWorkflow(String),
    /// The workflow defines no such connection.
    #[error("workflow `{workflow}` has no connection `{name}` (it has: {known})")]
    UnknownConnection {
        /// Workflow id.
        workflow: String,
        /// The name asked for.
        name: String,
        /// The names it has.
        known: String,
    },
    /// The connection's settings cannot be evaluated (a secret or var not set).
    #[error("connection `{name}` of workflow `{workflow}` is not configured: {message}")]
    NotConfigured {
        /// Workflow id.
        workflow: String,
        /// Connection name.
        name: String,
        /// Why (masked).
        message: String,
    },
    /// The `state` of a callback is unknown, used or expired.
    #[error(
        "the `state` of this callback is unknown, already used or expired (it is valid for 10 minutes, once): \
         start again"
    )]
    BadState,
    /// The connector refused or failed (unsupported type, code exchange refused…).
    #[error("{0}")]
    Failed(ActionError),
}

/// A connection as listed: type, whether it is configured, what is known of
/// its credentials. Never a secret.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionSummary {
    /// The workflow defining it.
    pub workflow: String,
    /// Its name in `connections:`.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `configured`, or `not configured` (a secret or var it reads is not set).
    pub status: String,
    /// Why it is not configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Whether `connections test` has something to do for it.
    pub checkable: bool,
    /// Whether `reqflow connect` works for it (OAuth authorization-code grant).
    pub connectable: bool,
    /// What the connection type knows of its credentials (connected, token age, last refresh, last error).
    pub state: Value,
}

/// The outcome of one connection check.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// The workflow defining the connection.
    pub workflow: String,
    /// The connection's name.
    pub connection: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether the check passed.
    pub ok: bool,
    /// The failure class (`auth`, `permission`, `network`, `tls`, `timeout`, `config`, `unexpected`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<FailureClass>,
    /// What happened, for people.
    pub message: String,
    /// What was read, on success.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub detail: Value,
    /// When (ISO 8601 UTC).
    pub checked_at: String,
    /// How long it took.
    pub elapsed_ms: u64,
}

/// An authorize URL and the `state` it carries.
#[derive(Clone, Debug, Serialize)]
pub struct Authorization {
    /// Open this in a browser.
    pub authorize_url: String,
    /// The random `state` the callback must bring back.
    pub state: String,
    /// Where the code is sent.
    pub redirect_uri: String,
    /// The workflow.
    pub workflow: String,
    /// The connection.
    pub connection: String,
    /// Until when the state is valid (ISO 8601 UTC).
    pub expires_at: String,
}

/// A connect waiting for its callback.
#[derive(Clone, Debug)]
pub(crate) struct PendingConnect {
    workflow: Arc<CompiledWorkflow>,
    name: String,
    redirect_uri: String,
    started: Instant,
}

/// The connects waiting for their callback, by `state`.
#[derive(Debug, Default)]
pub(crate) struct PendingConnects(std::sync::Mutex<HashMap<String, PendingConnect>>);

impl PendingConnects {
    fn insert(&self, state: String, p: PendingConnect) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|_, v| v.started.elapsed() < CONNECT_TTL);
        m.insert(state, p);
    }

    fn take(&self, state: &str) -> Option<PendingConnect> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(state).filter(|p| p.started.elapsed() < CONNECT_TTL)
    }
}

fn unknown_connection(wf: &CompiledWorkflow, name: &str) -> ConnectionError {
    let known: Vec<&str> = wf.connections.keys().map(String::as_str).collect();
    ConnectionError::UnknownConnection {
        workflow: wf.id.clone(),
        name: name.to_owned(),
        known: if known.is_empty() { "none".into() } else { known.join(", ") },
    }
}

/// 32 random bytes as hex: an unguessable `state`.
fn random_state() -> Result<String, ConnectionError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        ConnectionError::Failed(ActionError::retryable(format!("the operating system's random source failed: {e}")))
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Engine {
    /// The hooks of a connection type, if it registered any.
    pub(super) fn hooks(&self, kind: &str) -> Option<Arc<dyn ConnectionHooks>> {
        self.registry().connection_type(kind).and_then(|t| t.hooks.clone())
    }

    /// A connection's settings evaluated with the secrets and vars.
    pub fn evaluate_connection(&self, wf: &CompiledWorkflow, name: &str) -> Result<Connection, ConnectionError> {
        let Some(c) = wf.connections.get(name) else {
            return Err(unknown_connection(wf, name));
        };
        let settings = self.settings();
        let scope = settings.scope();
        let value = c.settings.eval(&wf.templates, &scope).map_err(|e| ConnectionError::NotConfigured {
            workflow: wf.id.clone(),
            name: name.to_owned(),
            message: settings.mask_str(&e.to_string()),
        })?;
        Ok(Connection { name: name.to_owned(), kind: c.kind.clone(), settings: value })
    }

    /// The context a hook runs in: the connection, the encrypted shared state.
    pub(super) fn hook_context(&self, wf: &CompiledWorkflow, conn: Connection, what: &str) -> ActionContext {
        let step = format!("connections.{}", conn.name);
        ActionContext::new(format!("connection-{what}"), wf.id.clone(), step, 1)
            .with_timeout(Some(CHECK_TIMEOUT))
            .with_state(self.inner.shared_state.clone())
            .with_connection(conn)
    }

    /// The current workflow `id`.
    pub fn connection_workflow(&self, id: &str) -> Result<Arc<CompiledWorkflow>, ConnectionError> {
        self.workflow(id).ok_or_else(|| ConnectionError::UnknownWorkflow(id.to_owned()))
    }

    /// Every connection of `workflows`, in workflow then file order.
    pub async fn connection_summaries(&self, workflows: &[Arc<CompiledWorkflow>]) -> Vec<ConnectionSummary> {
        let mut out = Vec::new();
        for wf in workflows {
            for (name, c) in &wf.connections {
                let hooks = self.hooks(&c.kind);
                let mut summary = ConnectionSummary {
                    workflow: wf.id.clone(),
                    name: name.clone(),
                    kind: c.kind.clone(),
                    status: "configured".into(),
                    problem: None,
                    checkable: hooks.is_some(),
                    connectable: false,
                    state: json!({}),
                };
                match self.evaluate_connection(wf, name) {
                    Err(e) => {
                        summary.status = "not configured".into();
                        summary.problem = Some(match e {
                            ConnectionError::NotConfigured { message, .. } => message,
                            other => other.to_string(),
                        });
                    }
                    Ok(conn) => {
                        if let Some(h) = &hooks {
                            summary.connectable = h.can_connect(&conn);
                            let cx = self.hook_context(wf, conn, "state");
                            summary.state = match h.state(&cx).await {
                                Ok(v) => self.settings().mask(&v),
                                Err(e) => json!({"error": self.settings().mask_str(&e.message)}),
                            };
                        }
                    }
                }
                out.push(summary);
            }
        }
        out
    }

    /// Checks one connection of `wf` with its type's cheap authenticated read.
    pub async fn check_connection(&self, wf: &CompiledWorkflow, name: &str) -> Result<CheckReport, ConnectionError> {
        let kind = wf.connections.get(name).map(|c| c.kind.clone()).ok_or_else(|| unknown_connection(wf, name))?;
        let started = Instant::now();
        let checked_at = rfc3339(now_ms());
        let report = |ok: bool, class: Option<FailureClass>, message: String, detail: Value| CheckReport {
            workflow: wf.id.clone(),
            connection: name.to_owned(),
            kind: kind.clone(),
            ok,
            class,
            message: self.settings().mask_str(&message),
            detail: self.settings().mask(&detail),
            checked_at: checked_at.clone(),
            elapsed_ms: started.elapsed().as_millis() as u64,
        };
        let conn = match self.evaluate_connection(wf, name) {
            Ok(c) => c,
            Err(ConnectionError::NotConfigured { message, .. }) => {
                return Ok(report(
                    false,
                    Some(FailureClass::Config),
                    format!("not configured: {message}"),
                    Value::Null,
                ));
            }
            Err(e) => return Err(e),
        };
        let Some(hooks) = self.hooks(&kind) else {
            return Ok(report(
                true,
                None,
                format!("connection type `{kind}` has no check: its settings evaluate"),
                Value::Null,
            ));
        };
        let cx = self.hook_context(wf, conn, "check");
        let out = match tokio::time::timeout(CHECK_TIMEOUT, hooks.check(&cx)).await {
            Ok(r) => r,
            Err(_) => Err(CheckFailure::new(
                FailureClass::Timeout,
                format!("no answer within {}", humantime::format_duration(CHECK_TIMEOUT)),
            )),
        };
        let r = match out {
            Ok(detail) => {
                let what = detail.get("read").and_then(Value::as_str).unwrap_or("an authenticated read").to_owned();
                report(true, None, what, detail)
            }
            Err(f) => report(false, Some(f.class), f.message, Value::Null),
        };
        Ok(r)
    }

    /// Checks every connection of `workflows`.
    pub async fn check_connections(&self, workflows: &[Arc<CompiledWorkflow>]) -> Vec<CheckReport> {
        let mut out = Vec::new();
        for wf in workflows {
            for name in wf.connections.keys() {
                if let Ok(r) = self.check_connection(wf, name).await {
                    out.push(r);
                }
            }
        }
        out
    }

    /// The connections of `workflows` other than `wf`/`name` that share its
    /// credentials (the same [`ConnectionHooks::credential_scope`]): a connect
    /// of it connects them too. `(workflow, connection)` pairs, in order.
    pub fn connections_sharing(
        &self,
        workflows: &[Arc<CompiledWorkflow>],
        wf: &CompiledWorkflow,
        name: &str,
    ) -> Vec<(String, String)> {
        let scope_of = |w: &CompiledWorkflow, n: &str| {
            let conn = self.evaluate_connection(w, n).ok()?;
            self.hooks(&conn.kind)?.credential_scope(&conn)
        };
        let Some(scope) = scope_of(wf, name) else { return Vec::new() };
        let mut out = Vec::new();
        for other in workflows {
            for n in other.connections.keys() {
                if (other.id == wf.id && n == name) || scope_of(other, n).as_deref() != Some(scope.as_str()) {
                    continue;
                }
                out.push((other.id.clone(), n.clone()));
            }
        }
        out
    }

    /// Starts an authorization-code grant for a connection: the authorize URL
    /// with a fresh random `state`, remembered for [`CONNECT_TTL`].
    pub fn begin_connect(
        &self,
        wf: Arc<CompiledWorkflow>,
        name: &str,
        redirect_uri: &str,
    ) -> Result<Authorization, ConnectionError> {
        let conn = self.evaluate_connection(&wf, name)?;
        let hooks = self.connect_hooks(&conn)?;
        let state = random_state()?;
        let url = hooks.authorize_url(&conn, redirect_uri, &state).map_err(ConnectionError::Failed)?;
        let expires = now_ms() + CONNECT_TTL.as_millis() as i64;
        let auth = Authorization {
            authorize_url: url,
            state: state.clone(),
            redirect_uri: redirect_uri.to_owned(),
            workflow: wf.id.clone(),
            connection: name.to_owned(),
            expires_at: rfc3339(expires),
        };
        self.inner.pending_connects.insert(
            state,
            PendingConnect {
                workflow: wf,
                name: name.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                started: Instant::now(),
            },
        );
        Ok(auth)
    }

    /// Completes a connect started by [`Engine::begin_connect`]: `state` must
    /// be one it gave (once, within [`CONNECT_TTL`]); the code is exchanged and
    /// the credentials stored encrypted. Answers what was stored (no secret).
    pub async fn complete_connect(&self, state: &str, code: &str) -> Result<Value, ConnectionError> {
        let pending = self.inner.pending_connects.take(state).ok_or(ConnectionError::BadState)?;
        let conn = self.evaluate_connection(&pending.workflow, &pending.name)?;
        let hooks = self.connect_hooks(&conn)?;
        let cx = self.hook_context(&pending.workflow, conn, "connect");
        let out = hooks.complete(&cx, code, &pending.redirect_uri).await.map_err(|e| self.masked(e))?;
        tracing::info!(workflow = %pending.workflow.id, connection = %pending.name, "connection connected (authorization code)");
        Ok(json!({"workflow": pending.workflow.id, "connection": pending.name, "stored": out}))
    }

    /// Stores an existing refresh token for a connection (tried once first).
    pub async fn connect_with_refresh_token(
        &self,
        wf: &CompiledWorkflow,
        name: &str,
        token: &str,
    ) -> Result<Value, ConnectionError> {
        let conn = self.evaluate_connection(wf, name)?;
        let hooks = self.connect_hooks(&conn)?;
        let cx = self.hook_context(wf, conn, "connect");
        let out = hooks.store_refresh_token(&cx, token).await.map_err(|e| self.masked(e))?;
        tracing::info!(workflow = %wf.id, connection = %name, "connection connected (refresh token given)");
        Ok(json!({"workflow": wf.id, "connection": name, "stored": out}))
    }

    fn connect_hooks(&self, conn: &Connection) -> Result<Arc<dyn ConnectionHooks>, ConnectionError> {
        match self.hooks(&conn.kind) {
            Some(h) if h.can_connect(conn) => Ok(h),
            _ => Err(ConnectionError::Failed(
                ActionError::permanent(format!(
                    "connection `{}` ({}) cannot be connected by OAuth: only a `workday` connection with \
                     `auth: {{oauth: …}}` can",
                    conn.name, conn.kind
                ))
                .with_code("connect.unsupported"),
            )),
        }
    }

    fn masked(&self, mut e: ActionError) -> ConnectionError {
        e.message = self.settings().mask_str(&e.message);
        e.details = e.details.map(|d| self.settings().mask(&d));
        ConnectionError::Failed(e)
    }
}
