//! # reqflow-actions
//!
//! reqflow's built-in actions and connection types, registered into an
//! engine [`Registry`] exactly as an embedder registers its own:
//!
//! ```
//! let mut registry = reqflow_engine::action::Registry::new();
//! reqflow_actions::register_builtins(&mut registry);
//! ```
//!
//! Modules (one per connector): [`http`] (`http.request`, connection type
//! `http`, and the shared [`http::client()`]), [`soap`] (`soap.call`),
//! [`workable`] (`workable.*`, connection type `workable`), [`workday`]
//! (connection type `workday`, OAuth and WS-Security), [`workflow`]
//! (`workflow.start`: a run of another workflow, one per item with `foreach`).

use reqflow_engine::action::Registry;

pub mod check;
pub mod file_content;
pub mod http;
pub mod soap;
pub mod workable;
pub mod workday;
pub mod workflow;

/// Registers every built-in action and connection type.
pub fn register_builtins(registry: &mut Registry) -> &mut Registry {
    http::register(registry);
    soap::register(registry);
    workable::register(registry);
    workday::register(registry);
    workflow::register(registry);
    registry
}
