//! Workday: the Recruiting SOAP service (`/ccx/service/{tenant}/Recruiting/{version}`),
//! the OAuth token endpoint (`/ccx/oauth2/{tenant}/token`) and REST job postings
//! (`/ccx/api/recruiting/v4/{tenant}/jobPostings`), over an `acme` tenant
//! seeded with candidates, job requisitions, job applications in the
//! assessment step, and job postings ([`mod@seed`]).
//!
//! Also the OAuth consent page (`/{tenant}/authorize`, `oauth.rs`) and the
//! permission-fault switch (`/_sandbox/workday/deny`, `permissions.rs`).
//!
//! SOAP operations: `Get_Candidates`, `Put_Candidate`,
//! `Put_Candidate_Attachment`, `Assess_Candidate` (idempotent per
//! `Assess_Candidate_Reference`), `Move_Candidate`, `Get_Job_Requisitions`
//! and `Get_Server_Timestamp`; requests are validated by [`check`].

use std::collections::BTreeMap;

use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::Sandbox;

mod assess;
mod candidates;
pub mod check;
mod files;
mod oauth;
mod permissions;
mod requisitions;
mod rest;
pub mod seed;
mod soap;

pub use seed::{CLIENT_ID, CLIENT_SECRET, EMPLOYEE_ID, ISU_PASSWORD, ISU_USER, REFRESH_TOKEN, seed, wid};

/// A SOAP fault answer in Workday's shape.
pub fn soap_fault(status: axum::http::StatusCode, code: &str, string: &str) -> axum::response::Response {
    soap::fault(status, code, string, &[])
}

/// A REST error answer in Workday's shape (`{"error", "errors": [...]}`).
pub fn rest_error(status: axum::http::StatusCode, message: &str) -> axum::response::Response {
    rest::error(status, message, None)
}

/// The tenant's data.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkdayData {
    /// The tenant name.
    pub tenant: String,
    /// Candidates: `{id, wid, first_name, last_name, email, phone, created_at, applications: [{id,
    /// wid, event, requisition, stage, step, status, disposition, date, source, assessment_event}]}`.
    pub candidates: Vec<Value>,
    /// Job requisitions: `{id, wid, title, status, organization, location, positions, available, summary, description}`.
    pub requisitions: Vec<Value>,
    /// Job postings: `{requisition, data}`, `data` in the REST shape.
    pub postings: Vec<Value>,
    /// Assessments recorded through Assess_Candidate (one per `Assess_Candidate_Reference`).
    pub assessments: Vec<Value>,
    /// Attachments recorded through Put_Candidate_Attachment and Put_Candidate:
    /// `{file_id, wid, id, filename, content_type, size, sha256, …}` (their bytes are in `files`).
    pub attachments: Vec<Value>,
    /// The bytes of each attachment, base64, by `File_ID` (`GET /_sandbox/workday/attachments/{id}`).
    pub files: BTreeMap<String, String>,
    /// Business-process events recorded by Move_Candidate and Assess_Candidate moves.
    pub events: Vec<Value>,
    /// The tenant's reference data (stages, steps, statuses, tests, workers, …).
    pub setup: Setup,
    /// Integration system users: user name (`user@tenant`) → password.
    pub users: BTreeMap<String, String>,
    /// OAuth API clients: client id → secret.
    pub clients: BTreeMap<String, String>,
    /// Refresh tokens that are valid.
    pub refresh_tokens: Vec<String>,
    /// Access tokens issued: token → expiry (Unix seconds).
    pub access_tokens: BTreeMap<String, i64>,
    /// Authorization codes issued by the consent page: code → `{client_id, redirect_uri, state,
    /// issued_at, used}`.
    pub codes: BTreeMap<String, Value>,
    /// The permission-fault switch (`POST /_sandbox/workday/deny`): `{operations: [...], domain}`;
    /// the SOAP operations listed (all when empty) answer "The task submitted is not authorized".
    pub denied: Option<Value>,
    /// Counter for ids.
    pub next_id: u64,
}

/// Tenant-configured reference data.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Setup {
    /// `Recruiting_Stage_ID`s.
    pub stages: Vec<String>,
    /// Workflow steps: `{id, stage, disposition}` (`disposition`: the `Recruiting_Disposition_ID`
    /// a disposition step sets, `null` for a step that moves forward).
    pub workflow_steps: Vec<Value>,
    /// `Assessment_Status_ID`s.
    pub assessment_statuses: Vec<String>,
    /// Assessment tests (`Reference_ID`s).
    pub assessment_tests: Vec<String>,
    /// Workers: `{type, id}` (`Employee_ID` or `Contingent_Worker_ID`).
    pub workers: Vec<Value>,
    /// `Document_Category_ID`s.
    pub document_categories: Vec<String>,
    /// `Applicant_Source_ID`s.
    pub sources: Vec<String>,
    /// `Job_Requisition_Status_ID`s.
    pub requisition_statuses: Vec<String>,
    /// `Organization_Reference_ID`s of supervisory organizations.
    pub organizations: Vec<String>,
    /// `Location_ID`s.
    pub locations: Vec<String>,
}

impl WorkdayData {
    /// A fresh number (for ids).
    pub fn next_number(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// The Workday routes.
pub fn router(_sb: Sandbox) -> Router<Sandbox> {
    Router::new()
        .route("/ccx/oauth2/{tenant}/token", axum::routing::post(oauth::token))
        .route("/{tenant}/authorize", axum::routing::get(oauth::authorize_page).post(oauth::authorize_post))
        .route("/_sandbox/workday/deny", axum::routing::post(permissions::deny).delete(permissions::allow))
        .route("/_sandbox/workday/attachments", axum::routing::get(files::list))
        .route("/_sandbox/workday/attachments/{id}", axum::routing::get(files::get))
        .route("/ccx/service/{tenant}/{service}/{version}", axum::routing::post(soap::service))
        .route("/ccx/api/recruiting/v4/{tenant}/jobPostings", axum::routing::get(rest::job_postings))
        .route("/ccx/api/recruiting/v4/{tenant}/jobPostings/{id}", axum::routing::get(rest::job_posting))
}
