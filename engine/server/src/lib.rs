//! # reqflow-server
//!
//! The HTTP face of a running engine (axum):
//! - `POST /hooks/{path}`: JSON webhooks; `POST /soap/{path}`: SOAP envelopes.
//!   Both authenticate, parse, dedupe and answer as soon as the event and its
//!   run are committed: `202 {"run_id"}` (SOAP: a response envelope), `200` for
//!   duplicates and filtered events, `401`, `400`, `413`, `503` + `Retry-After`.
//! - `/api/workflows`, `/api/runs`, `/api/runs/{id}`, `POST /api/runs/{id}/retry`,
//!   `POST /api/runs/retry` (bulk), `POST /api/workflows/{id}/runs` (manual trigger),
//!   `/api/runs/{id}/event/raw` (the event's body exactly as received; never
//!   part of the JSON answers, as it may hold personal data).
//! - `/healthz`, `/metrics` (Prometheus text).
//!
//! ```no_run
//! # async fn demo(engine: reqflow_engine::runtime::Engine) {
//! let app = reqflow_server::router(engine, reqflow_server::ServerOptions::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.expect("bind");
//! axum::serve(listener, app).await.expect("serve");
//! # }
//! ```

mod api;
mod error;
mod hooks;
mod soap;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use reqflow_engine::runtime::Engine;

pub use error::ApiError;
pub use hooks::request as trigger_request;

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Largest trigger body accepted (default 1 MiB); larger ones get 413.
    pub max_body_bytes: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions { max_body_bytes: 1 << 20 }
    }
}

/// What handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub engine: Engine,
}

/// The whole HTTP API of an engine.
pub fn router(engine: Engine, opts: ServerOptions) -> Router {
    let state = AppState { engine };
    Router::new()
        .route("/hooks/{*path}", post(hooks::webhook))
        .route("/soap/{*path}", post(soap::soap))
        .route("/api/workflows", get(api::workflows))
        .route("/api/workflows/{id}/runs", post(api::manual))
        .route("/api/runs", get(api::runs))
        .route("/api/runs/retry", post(api::bulk_retry))
        .route("/api/runs/{id}", get(api::run))
        .route("/api/runs/{id}/event/raw", get(api::run_event_raw))
        .route("/api/runs/{id}/retry", post(api::retry))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .layer(DefaultBodyLimit::max(opts.max_body_bytes))
        .with_state(state)
}
