//! The `workday.*` actions: every SOAP body they build checked against
//! Workday's published v26.1 schema with `xmllint` ([`xsd`]), and each
//! action run against `reqflow-sandbox` over loopback ([`actions`]).

mod actions;
mod bodies;
mod common;
mod xsd;
