//! # reqflow-server
//!
//! The HTTP faces of a running engine (axum on hyper), on two planes:
//! - the **public plane** ([`public_router`]): `POST /hooks/{path}` (JSON
//!   webhooks), `POST /soap/{path}` (SOAP envelopes) and `GET /healthz`, and
//!   nothing else. Triggers authenticate (header credentials before the body
//!   is read), parse, dedupe and answer once the event and its run are
//!   committed: `202 {"run_id"}` (SOAP: a response envelope), `200` for
//!   duplicates and filtered events, `401`, `400`, `413`, `503` + `Retry-After`;
//! - the **admin plane** ([`admin_router`]): `/api/*` and `/metrics`, every
//!   route behind a scoped API token ([`admin_routes`] lists them with the
//!   scope each needs), every state change in the audit trail; the Builder
//!   API among them (`builder.rs`: actions, validate, deploy, versions), and
//!   the OpenAPI 3.1 document of them all ([`openapi`]);
//! - the **console** on the admin plane ([`console`]): a web page at `/`
//!   behind the same tokens (a login form, a session cookie that
//!   authenticates API calls too, CSRF-checked state changes).
//!
//! [`edge::serve`] runs a router on a listener with the timeouts and caps a
//! public endpoint needs; [`edge::serve_with`] does the same over TLS
//! ([`edge::TlsConfig`], rustls).
//!
//! ```no_run
//! # async fn demo(engine: reqflow_engine::runtime::Engine) {
//! use reqflow_server::{ServerOptions, edge, public_router};
//! let opts = ServerOptions::default();
//! let app = public_router(engine, &opts);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.expect("bind");
//! edge::serve(listener, app, edge::EdgeLimits::default(), std::future::pending()).await.expect("serve");
//! # }
//! ```

mod access;
mod admin;
mod api;
mod builder;
mod connections;
pub mod console;
pub mod edge;
mod error;
mod hooks;
pub mod openapi;
mod soap;
mod subjects;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, post, put};
use reqflow_engine::runtime::Engine;
use reqflow_engine::store::Scope;

pub use connections::CALLBACK_PATH as OAUTH_CALLBACK_PATH;
pub use error::ApiError;
pub use hooks::request as trigger_request;

use access::Policy;

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Largest trigger body accepted (default 1 MiB); larger ones get 413.
    pub max_body_bytes: usize,
    /// Body bytes all trigger requests together may hold in memory (default
    /// 64 MiB); past it, triggers answer 503 with `Retry-After`.
    pub body_memory_bytes: usize,
    /// A trigger body must arrive whole within this (default 30 s).
    pub body_timeout: Duration,
    /// `/metrics` without a token.
    pub metrics_open: bool,
    /// Mark the console's session cookie `Secure` (set it when the listener
    /// that serves the admin plane is TLS).
    pub secure_cookies: bool,
    /// The public plane's base URL as vendors reach it (`https://hooks.example.com`),
    /// if known: the console shows trigger URLs under it (otherwise their paths).
    pub public_url: Option<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_body_bytes: 1 << 20,
            body_memory_bytes: 64 << 20,
            body_timeout: Duration::from_secs(30),
            metrics_open: false,
            secure_cookies: false,
            public_url: None,
        }
    }
}

/// What handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub engine: Engine,
    pub opts: Arc<ServerOptions>,
    pub bodies: edge::BodyReader,
    /// Refusals at the edge, logged once per interval per cause.
    pub refusals: Arc<edge::LogLimiter>,
    /// The console's logged-in sessions.
    pub sessions: console::session::Sessions,
}

impl AppState {
    fn new(engine: Engine, opts: &ServerOptions) -> Self {
        AppState {
            engine,
            bodies: edge::BodyReader::new(opts.max_body_bytes, opts.body_memory_bytes, opts.body_timeout),
            opts: Arc::new(opts.clone()),
            refusals: Arc::new(edge::LogLimiter::default()),
            sessions: console::session::Sessions::default(),
        }
    }
}

/// One route of the admin plane: what it needs and how it is audited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminRoute {
    /// The method.
    pub method: Method,
    /// The path, with `{param}` placeholders.
    pub path: &'static str,
    /// The smallest scope that may call it.
    pub scope: Scope,
    /// The audit action, for routes that change state (every non-`GET`
    /// except `POST /api/validate`, which only reads its body).
    pub audit: Option<&'static str>,
    /// Whether a token below `scope` issued with subject access
    /// (`reqflow tokens create --subject-access`) may call it too.
    pub subject_access: bool,
}

/// The admin plane, as a table: the router is built from it and nothing
/// else, so [`admin_routes`] lists every route it serves.
fn admin_table() -> Vec<(AdminRoute, MethodRouter<AppState>)> {
    fn r(method: Method, path: &'static str, scope: Scope, audit: Option<&'static str>) -> AdminRoute {
        AdminRoute { method, path, scope, audit, subject_access: false }
    }
    // Export of one person's data: admin, or a smaller token issued with subject access.
    let subject_export = AdminRoute {
        subject_access: true,
        ..r(Method::GET, "/api/subjects/{subject}", Scope::Admin, Some("subject.export"))
    };
    use Scope::{Admin, Operate, Read};
    vec![
        (r(Method::GET, "/api/workflows", Read, None), get(api::workflows)),
        (r(Method::GET, "/api/workflows/{id}", Read, None), get(console::workflow_view::workflow)),
        (r(Method::GET, "/api/reloads", Read, None), get(api::reloads)),
        (r(Method::PUT, "/api/workflows/{id}", Admin, Some("workflow.deploy")), put(builder::deploy)),
        (r(Method::GET, "/api/workflows/{id}/versions", Read, None), get(builder::versions)),
        (r(Method::GET, "/api/workflows/{id}/versions/{n}", Read, None), get(builder::version)),
        (r(Method::POST, "/api/workflows/{id}/runs", Operate, Some("workflow.run")), post(api::manual)),
        (r(Method::GET, "/api/runs", Read, None), get(api::runs)),
        (r(Method::GET, "/api/runs/stream", Read, None), get(console::stream::stream)),
        (r(Method::GET, "/api/overview", Read, None), get(console::overview::overview)),
        (r(Method::POST, "/api/runs/retry", Operate, Some("runs.retry")), post(api::bulk_retry)),
        (r(Method::GET, "/api/runs/{id}", Read, None), get(api::run)),
        (r(Method::GET, "/api/runs/{id}/event/raw", Read, None), get(api::run_event_raw)),
        (r(Method::GET, "/api/runs/{id}/steps/{step}/output/raw", Read, None), get(api::step_output_raw)),
        (r(Method::GET, "/api/events", Read, None), get(api::events)),
        (r(Method::GET, "/api/events/{id}", Read, None), get(api::event)),
        (r(Method::POST, "/api/events/{id}/redeliver", Operate, Some("event.redeliver")), post(api::redeliver)),
        (r(Method::POST, "/api/runs/{id}/retry", Operate, Some("run.retry")), post(api::retry)),
        (r(Method::GET, "/api/connections", Read, None), get(connections::list)),
        (
            r(Method::POST, "/api/connections/{workflow}/{name}/test", Operate, Some("connection.test")),
            post(connections::test),
        ),
        (
            r(Method::POST, "/api/connections/{workflow}/{name}/connect", Admin, Some("connection.connect")),
            post(connections::connect),
        ),
        (r(Method::GET, "/api/actions", Read, None), get(builder::actions)),
        // A POST only because it carries a body: it changes nothing, so it is not audited.
        (r(Method::POST, "/api/validate", Read, None), post(builder::validate)),
        (r(Method::GET, "/api/openapi.json", Read, None), get(builder::openapi)),
        (r(Method::GET, "/api/tokens", Admin, None), get(admin::tokens)),
        (r(Method::POST, "/api/tokens", Admin, Some("token.create")), post(admin::create_token)),
        (r(Method::DELETE, "/api/tokens/{name}", Admin, Some("token.revoke")), delete(admin::revoke_token)),
        (r(Method::GET, "/api/audit", Admin, None), get(admin::audit)),
        (subject_export, get(subjects::export)),
        (r(Method::DELETE, "/api/subjects/{subject}", Admin, Some("subject.erase")), delete(subjects::erase)),
        (r(Method::GET, "/metrics", Read, None), get(api::metrics)),
        (r(Method::GET, "/console/session", Read, None), get(console::whoami)),
    ]
}

/// Every route of the admin plane with the scope it needs.
pub fn admin_routes() -> Vec<AdminRoute> {
    admin_table().into_iter().map(|(r, _)| r).collect()
}

/// The public plane: triggers and `/healthz`.
pub fn public_router(engine: Engine, opts: &ServerOptions) -> Router {
    public(AppState::new(engine, opts))
}

fn public(state: AppState) -> Router {
    Router::new()
        .route("/hooks/{*path}", post(hooks::webhook))
        .route("/soap/{*path}", post(soap::soap))
        .route("/healthz", get(api::healthz))
        .with_state(state)
}

/// The admin plane: `/api/*` and `/metrics`, every route behind a token.
pub fn admin_router(engine: Engine, opts: &ServerOptions) -> Router {
    admin(AppState::new(engine, opts))
}

fn admin(state: AppState) -> Router {
    let mut router: Router<AppState> = Router::new();
    for (route, handler) in admin_table() {
        let policy = Policy { scope: route.scope, action: route.audit, subject_access: route.subject_access };
        let guarded = handler.route_layer(axum::middleware::from_fn_with_state((state.clone(), policy), access::guard));
        router = router.route(route.path, guarded);
    }
    router
        .layer(axum::middleware::from_fn_with_state(state.clone(), access::authenticate))
        .layer(DefaultBodyLimit::max(state.opts.max_body_bytes))
        .with_state(state.clone())
        .merge(console::router(state.clone()))
        // Outside the token guard: the OAuth `state` authorizes it (see connections.rs).
        .merge(Router::new().route(connections::CALLBACK_PATH, get(connections::callback)).with_state(state))
}

/// Both planes on one listener (`--admin-listen same`); admin routes still
/// require a token.
pub fn combined_router(engine: Engine, opts: &ServerOptions) -> Router {
    let state = AppState::new(engine, opts);
    public(state.clone()).merge(admin(state))
}
