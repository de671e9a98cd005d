//! Workable SPI v3 (`/spi/v3/…`), as `shared/reference/workable.md`
//! describes it: Bearer auth, per-token rate limits with `X-Rate-Limit-*`
//! headers, `{"error": …}` bodies, `paging.next` links that the last page
//! leaves out.

pub(crate) mod candidates;
mod jobs;
mod limits;
mod paging;
pub(crate) mod subscriptions;

use axum::Router;
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::Sandbox;

/// The account's data.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkableData {
    /// The account subdomain.
    pub subdomain: String,
    /// Jobs, by insertion.
    pub jobs: Vec<Value>,
    /// The pipeline stages (shared by every job).
    pub stages: Vec<Value>,
    /// Candidates, by insertion (ids ascending).
    pub candidates: Vec<Value>,
    /// Team members.
    pub members: Vec<Value>,
    /// Disqualification reasons.
    pub disqualification_reasons: Vec<Value>,
    /// Activities by candidate id.
    pub activities: std::collections::BTreeMap<String, Vec<Value>>,
    /// Comment attachments' bytes, base64, by comment id
    /// (`GET /_sandbox/workable/comments/{id}/attachment`).
    #[serde(default)]
    pub files: std::collections::BTreeMap<String, String>,
    /// Webhook subscriptions (with the token that created them, to sign deliveries).
    pub subscriptions: Vec<Value>,
    /// The next id to hand out (hex).
    pub next_id: u64,
    /// How long new subscriptions are valid, in seconds (default: a year).
    #[serde(default)]
    pub subscription_validity_secs: Option<u64>,
    /// How many subscriptions were ever created (ids are not reused).
    #[serde(default)]
    pub subscriptions_created: u64,
}

impl WorkableData {
    /// A fresh hex id, ascending.
    pub fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:08x}", self.next_id)
    }
}

/// The `/spi/v3` routes.
pub fn router(sandbox: Sandbox) -> Router<Sandbox> {
    Router::new()
        .route("/jobs", get(jobs::list))
        .route("/jobs/{shortcode}", get(jobs::get))
        .route("/jobs/{shortcode}/stages", get(jobs::stages))
        .route("/stages", get(jobs::all_stages))
        .route("/jobs/{shortcode}/candidates", get(candidates::list_for_job).post(candidates::create))
        .route("/candidates", get(candidates::list))
        .route("/candidates/{id}", get(candidates::get).patch(candidates::update))
        .route("/candidates/{id}/activities", get(candidates::activities))
        .route("/candidates/{id}/comments", post(candidates::comment))
        .route("/candidates/{id}/ratings", post(candidates::rate))
        .route("/candidates/{id}/move", post(candidates::move_to))
        .route("/candidates/{id}/disqualify", post(candidates::disqualify))
        .route("/members", get(jobs::members))
        .route("/disqualification_reasons", get(jobs::disqualification_reasons))
        .route("/subscriptions", get(subscriptions::list).post(subscriptions::create))
        .route("/subscriptions/{id}", delete(subscriptions::delete))
        .layer(axum::middleware::from_fn_with_state(sandbox, limits::auth_and_rate_limit))
}

pub(crate) use candidates::{attachments_list, comment_attachment};
pub(crate) use subscriptions as subscriptions_api;
pub(crate) use subscriptions::{deliver, deliver_now};
