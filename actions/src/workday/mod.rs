//! Workday: the `workday` connection type (host, tenant, version; ISU or
//! OAuth refresh-token credentials, [`auth`]) and the `workday.*` actions
//! ([`actions`]):
//!
//! - `workday.assess_candidate` (Assess_Candidate, idempotent through
//!   `Assess_Candidate_Reference`), `workday.candidates.get|put|move|attach`
//!   (Get_Candidates, Put_Candidate, Move_Candidate, Put_Candidate_Attachment),
//!   `workday.job_requisitions.get` (Get_Job_Requisitions) over SOAP;
//! - `workday.job_postings.list` over REST (`/ccx/api/recruiting/v4/{tenant}/jobPostings`).
//!
//! Request bodies are built by [`requests`] for the connection's WWS
//! [`version`]; [`refs`] holds the reference types and their ID types;
//! [`client`] sends them.

pub mod actions;
pub mod auth;
pub mod client;
mod connection;
pub mod hooks;
mod params;
pub mod refs;
pub mod requests;
pub mod summary;
pub mod version;

use reqflow_engine::action::{ConnectionType, Registry};

pub use connection::{ClientAuth, DEFAULT_VERSION, WorkdayAuth, WorkdayConnection};
pub use params::*;
pub use refs::{TypedId, WdRef};
pub use version::WwsVersion;

/// Registers the `workday` connection type and the `workday.*` actions.
pub fn register(registry: &mut Registry) {
    use actions::*;
    registry.register_connection_type(
        ConnectionType::of::<WorkdayConnection>(
            "workday",
            "Workday: web-services host, tenant, version and credentials (ISU or OAuth 2.0)",
        )
        .with_hooks(std::sync::Arc::new(hooks::WorkdayHooks)),
    );
    registry
        .register(AssessCandidate)
        .register(CandidatesGet)
        .register(CandidatesPut)
        .register(CandidatesMove)
        .register(CandidatesAttach)
        .register(JobRequisitionsGet)
        .register(JobPostingsList);
}
