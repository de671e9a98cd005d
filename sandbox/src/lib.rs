//! # reqflow-sandbox
//!
//! One process that emulates the APIs reqflow's connectors talk to, for
//! trying workflows without a tenant and as the counterpart of the
//! connector tests (`reqflow sandbox`):
//!
//! - **Workable SPI v3** under `/spi/v3/…` ([`workable`]): jobs, stages,
//!   candidates, activities, comments, ratings, move, disqualify, members and
//!   webhook subscriptions, with seeded demo data, request validation, the
//!   real error shapes and Workable's rate limits (10 requests per 10 s for
//!   account tokens, 50 for OAuth/partner tokens; `X-Rate-Limit-*` headers).
//! - **Workday** ([`workday`]): the Recruiting SOAP service at
//!   `/ccx/service/{tenant}/Recruiting/{version}` (Get_Candidates, Put_Candidate,
//!   Put_Candidate_Attachment, Assess_Candidate, Move_Candidate,
//!   Get_Job_Requisitions, Get_Server_Timestamp; requests checked for element
//!   order, required elements, typed reference IDs and the tenant's business
//!   rules, faults in Workday's shapes), the OAuth token endpoint
//!   `/ccx/oauth2/{tenant}/token` and REST job postings
//!   (`/ccx/api/recruiting/v4/{tenant}/jobPostings`), over a seeded `acme` tenant.
//! - **Control** under `/_sandbox/…` ([`control`]): what was received
//!   (`GET /_sandbox/requests`, credentials redacted), faults for tests
//!   (`POST /_sandbox/faults`: 5xx, 429, slow answers, token expiry), and
//!   signed Workable-style webhooks (`POST /_sandbox/webhooks/send`), a
//!   candidate moved as a recruiter would (`POST
//!   /_sandbox/workable/candidates/{id}/move`: `candidate_moved` delivered to
//!   the matching subscriptions, signed with the token that created each), and
//!   a shorter validity for new subscriptions
//!   (`POST /_sandbox/workable/subscriptions/validity`). Subscriptions also
//!   receive `candidate_created` when a candidate is created through the API.
//!   In process, [`Sandbox::set_observer`] sees each API request as it is
//!   answered, and [`Sandbox::set_rate_limit`] turns Workable's limits off
//!   for load tests (`reqflow sandbox --no-rate-limit`).
//! - **Vendors** ([`vendor`]): `/vendor/…` records what a workflow sends an
//!   interview or identity vendor, and `POST /_sandbox/interviews/complete`
//!   sends that vendor's signed `interview.completed` webhook; its reports
//!   (a small PDF per interview) are served at `/vendor/reports/{id}.pdf`.
//! - **Files received**: `GET /_sandbox/workday/attachments[/{File_ID}]` and
//!   `GET /_sandbox/workable/attachments`, `GET /_sandbox/workable/comments/{id}/attachment`
//!   give back the hashes and bytes of
//!   what was attached, to check a file arrived byte for byte.
//!
//! Brief overview of the types: [`Sandbox`] is the shared state (demo data,
//! request log, faults); [`router`] builds the axum app over it; [`serve`]
//! runs it on an address, [`spawn`] on a free loopback port (for tests).

pub mod control;
mod record;
pub mod report;
mod seed;
mod state;
mod util;
pub mod vendor;
pub mod workable;
pub mod workday;

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;

pub use state::{Data, Faults, Observer, Received, Sandbox};
pub use workable::subscriptions_api::{payload as workable_webhook_payload, sign as workable_signature};

/// How to run the sandbox.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to listen, e.g. `127.0.0.1:8090`.
    pub listen: SocketAddr,
    /// A JSON file that keeps the data across restarts (created when missing).
    pub state_file: Option<PathBuf>,
    /// Enforce Workable's rate limits (`false`: `--no-rate-limit`, for load tests).
    pub rate_limit: bool,
}

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The state file could not be read or written.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The state file is not the sandbox's JSON.
    #[error("state file {path} is not valid sandbox state: {source}")]
    State {
        /// The file.
        path: PathBuf,
        /// The error.
        source: serde_json::Error,
    },
    /// The address could not be bound or served.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// The whole sandbox as an axum app.
pub fn router(sandbox: Sandbox) -> Router {
    Router::new()
        .nest("/spi/v3", workable::router(sandbox.clone()))
        .route("/_sandbox/workable/attachments", axum::routing::get(workable::attachments_list))
        .route("/_sandbox/workable/comments/{id}/attachment", axum::routing::get(workable::comment_attachment))
        .merge(workday::router(sandbox.clone()))
        .merge(control::router(sandbox.clone()))
        .merge(vendor::router())
        .layer(axum::middleware::from_fn_with_state(sandbox.clone(), record::record_and_fault))
        .with_state(sandbox)
}

/// Serves the sandbox on `opts.listen` until the process ends.
pub async fn serve(opts: Options) -> Result<(), SandboxError> {
    let sandbox = match &opts.state_file {
        Some(path) => Sandbox::from_file(path)?,
        None => Sandbox::seeded(),
    };
    sandbox.set_rate_limit(opts.rate_limit);
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| SandboxError::Listen { addr: opts.listen, source })?;
    axum::serve(listener, router(sandbox)).await.map_err(|source| SandboxError::Listen { addr: opts.listen, source })
}

/// Moves Workable candidate `id` to the stage `stage_slug` (as
/// `POST /_sandbox/workable/candidates/{id}/move` does) and delivers
/// `candidate_moved` to the matching subscriptions: `{candidate, deliveries}`,
/// or `None` when there is no such candidate or stage.
pub async fn move_workable_candidate(sandbox: &Sandbox, id: &str, stage_slug: &str) -> Option<serde_json::Value> {
    let candidate = workable::candidates::move_candidate(sandbox, id, stage_slug, None).ok()?;
    let deliveries = workable::deliver_now(sandbox, "candidate_moved", &candidate, Some(stage_slug)).await;
    Some(serde_json::json!({ "candidate": candidate, "deliveries": deliveries }))
}

/// A sandbox running in the background.
#[derive(Debug)]
pub struct Running {
    /// Its address.
    pub addr: SocketAddr,
    /// `http://{addr}`.
    pub base_url: String,
    /// Its state (to inspect or change from a test).
    pub sandbox: Sandbox,
}

/// Starts `sandbox` on a free port of 127.0.0.1 in a background task.
pub async fn spawn(sandbox: Sandbox) -> Result<Running, SandboxError> {
    let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| SandboxError::Listen { addr, source })?;
    let addr = listener.local_addr().map_err(|source| SandboxError::Listen { addr, source })?;
    let app = router(sandbox.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Running { addr, base_url: format!("http://{addr}"), sandbox })
}
