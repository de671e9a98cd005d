//! The admin plane's guard: every request presents an API token
//! (`Authorization: Bearer rft_…`) or a console session cookie (which stands
//! for the token that logged in; a state change made with it must also carry
//! the session's `X-Reqflow-CSRF` header), every route requires a [`Scope`], and
//! every state-changing route is written to the audit trail — including
//! calls refused for their scope.
//!
//! Two layers do it: [`authenticate`] on the whole admin router (no token,
//! or a revoked, expired or unknown one → 401, before anything else runs)
//! and [`guard`] on each route of the table in `lib.rs` (too small a scope
//! → 403; state-changing routes audited with their outcome).

use axum::extract::{RawPathParams, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use reqflow_engine::runtime::clock::now_ms;
use reqflow_engine::runtime::tokens::{self, TokenError};
use reqflow_engine::store::{AuditOutcome, NewAudit, Scope};
use serde_json::json;

use crate::AppState;
use crate::console::session;
use crate::error::ApiError;

/// Who is calling, as the handlers see it (a request extension).
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// `token:NAME`, or `anonymous` (only `/metrics` with `--metrics-open`).
    pub actor: String,
    /// What the caller may do.
    pub scope: Scope,
    /// Whether it may also export a subject's data below `admin`.
    pub subject_access: bool,
    /// The console session's CSRF token, when the caller came with a session cookie.
    pub csrf: Option<String>,
}

impl Caller {
    /// The caller a verified token stands for (`csrf`: its console session's).
    pub(crate) fn of(t: &reqflow_engine::store::TokenRecord, csrf: Option<String>) -> Self {
        Caller { actor: format!("token:{}", t.name), scope: t.scope, subject_access: t.may_access_subjects(), csrf }
    }

    /// Whether it may call a route with this policy.
    fn may(&self, policy: &Policy) -> bool {
        self.scope.allows(policy.scope) || (policy.subject_access && self.subject_access)
    }
}

/// Objects a handler acted on beyond those in its path (e.g. the runs a bulk
/// retry re-queued), for the audit record: put in the response's extensions.
#[derive(Clone, Debug, Default)]
pub(crate) struct Touched(pub Vec<String>);

/// More detail for the audit record (e.g. what an erasure deleted), merged
/// into its `detail`: put in the response's extensions.
#[derive(Clone, Debug, Default)]
pub(crate) struct AuditDetail(pub serde_json::Value);

/// The path parameter naming a subject (a person's email, id…): never
/// recorded as it is; the audit trail holds its keyed hash instead.
pub(crate) const SUBJECT_PARAM: &str = "subject";

/// What a route of the admin plane requires, and how it is audited.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    pub scope: Scope,
    /// The audit action; `Some` for every route that changes state.
    pub action: Option<&'static str>,
    /// Whether a token of a smaller scope issued with subject access may call it.
    pub subject_access: bool,
}

/// The outer layer: resolves the bearer token to a [`Caller`], or answers 401.
pub(crate) async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if state.opts.metrics_open && req.uri().path() == "/metrics" {
        req.extensions_mut().insert(Caller {
            actor: "anonymous".into(),
            scope: Scope::Read,
            subject_access: false,
            csrf: None,
        });
        return next.run(req).await;
    }
    let presented = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if presented.is_none() && crate::console::session::cookie_value(req.headers()).is_some() {
        return with_session(state, req, next).await;
    }
    match tokens::verify(state.engine.store().as_ref(), presented, now_ms()).await {
        Ok(t) => {
            let caller = Caller::of(&t, None);
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(TokenError::Store(e)) => ApiError::from(e).into_response(),
        Err(e) => {
            state.refusals.note("admin plane: unauthenticated request refused", &e.to_string());
            unauthorized(e.to_string())
        }
    }
}

fn unauthorized(message: String) -> Response {
    let mut r = ApiError::Unauthorized(message).into_response();
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"reqflow\""));
    r
}

/// A request with a console session cookie and no `Authorization` header:
/// the session's token, re-checked; a state change also needs the CSRF header.
async fn with_session(state: AppState, mut req: Request, next: Next) -> Response {
    let caller = match crate::console::session_caller(&state, req.headers()).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            state.refusals.note("admin plane: unauthenticated request refused", "unknown or ended console session");
            return unauthorized("the console session is unknown, expired or logged out; log in again".into());
        }
        Err(e) => return e.into_response(),
    };
    if crate::console::changes_state(req.method()) {
        let sent = req.headers().get(session::CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        let expected = caller.csrf.as_deref().unwrap_or("");
        if expected.is_empty() || !session::same(sent, expected) {
            state.refusals.note("admin plane: cookie request without its CSRF header refused", req.uri().path());
            return (
                StatusCode::FORBIDDEN,
                axum::Json(json!({ "error": "a state change with a session cookie needs the session's X-Reqflow-CSRF header" })),
            )
                .into_response();
        }
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The per-route layer: scope check, then the audit record of a state change.
pub(crate) async fn guard(
    State((state, policy)): State<(AppState, Policy)>,
    params: RawPathParams,
    req: Request,
    next: Next,
) -> Response {
    let Some(caller) = req.extensions().get::<Caller>().cloned() else {
        // Unreachable when `authenticate` wraps the router; refuse rather than fall open.
        return ApiError::Unauthorized(TokenError::Missing.to_string()).into_response();
    };
    let mut objects: Vec<String> = Vec::new();
    for (name, value) in params.iter() {
        if name == SUBJECT_PARAM {
            // Personal data: only its keyed hash goes to the audit trail.
            let hash = match state.engine.subject_hash(value).await {
                Ok(h) => format!("subject:{h}"),
                Err(_) => "subject:(hash unavailable)".to_owned(),
            };
            objects.push(hash);
        } else {
            objects.push(value.to_owned());
        }
    }
    if !caller.may(&policy) {
        let also = if policy.subject_access { " (or a token issued with subject access)" } else { "" };
        let message =
            format!("the token's scope `{}` does not allow this; it needs `{}`{also}", caller.scope, policy.scope);
        if let Some(action) = policy.action {
            record(&state, &caller, action, objects, AuditOutcome::Denied, json!({ "status": 403, "error": message }))
                .await;
        }
        return (StatusCode::FORBIDDEN, axum::Json(json!({ "error": message }))).into_response();
    }
    let Some(action) = policy.action else {
        return next.run(req).await;
    };
    let query = req.uri().query().map(str::to_owned);
    let resp = next.run(req).await;
    let status = resp.status();
    if let Some(Touched(more)) = resp.extensions().get::<Touched>() {
        objects.extend(more.iter().cloned());
    }
    let outcome = if status.is_success() { AuditOutcome::Ok } else { AuditOutcome::Failed };
    let mut detail = json!({ "status": status.as_u16(), "query": query });
    if let (Some(AuditDetail(serde_json::Value::Object(more))), Some(d)) =
        (resp.extensions().get::<AuditDetail>(), detail.as_object_mut())
    {
        d.extend(more.clone());
    }
    record(&state, &caller, action, objects, outcome, detail).await;
    resp
}

/// Writes one audit record; a store failure is logged (the call already happened).
pub(crate) async fn record(
    state: &AppState,
    caller: &Caller,
    action: &str,
    objects: Vec<String>,
    outcome: AuditOutcome,
    detail: serde_json::Value,
) {
    let entry =
        NewAudit { at: now_ms(), actor: caller.actor.clone(), action: action.to_owned(), objects, outcome, detail };
    if let Err(e) = state.engine.store().audit(entry).await {
        tracing::error!(action, actor = %caller.actor, error = %e, "the audit record could not be stored");
    }
}
