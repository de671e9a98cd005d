//! # reqflow-engine
//!
//! The engine of reqflow, a declarative workflow engine for recruiting
//! integrations. It knows no ATS: actions (Workable, Workday, HTTP, SOAP or an
//! embedder's own) are registered into an [`action::Registry`].
//!
//! Brief overview of the main types:
//! - [`load::load_str`] / [`load::load_paths`]: YAML → [`compile::CompiledWorkflow`],
//!   with every problem as a positioned [`diagnostics::Diagnostic`].
//! - [`spec::WorkflowSpec`]: the workflow format as Rust types (the JSON Schema is
//!   generated from them by [`schema::workflow_schema`]).
//! - [`compile::CompiledWorkflow`]: the petgraph DAG of steps with pre-parsed
//!   expressions; what the executor runs.
//! - [`value`]: literals, JSONPath (RFC 9535) and sandboxed minijinja templates.
//! - [`action::Action`] / [`action::Registry`]: how actions describe themselves and
//!   are registered.
//!
//! ```
//! use reqflow_engine::{action::Registry, load::load_str};
//!
//! let yaml = r#"
//! id: hello
//! trigger: { manual: {} }
//! steps:
//!   - id: greet
//!     map: { text: "Hello {{ event.name }}" }
//! "#;
//! let loaded = load_str("hello.yaml", yaml, &Registry::new());
//! let workflow = loaded.workflow.expect("valid");
//! assert_eq!(workflow.steps[0].id, "greet");
//! ```

#![warn(missing_docs)]

pub mod action;
pub mod compile;
pub mod connection;
pub mod diagnostics;
pub mod graph_view;
mod hash;
pub mod json_diff;
pub mod limits;
pub mod load;
pub mod runtime;
pub mod schema;
pub mod spec;
pub mod store;
pub mod subscription;
mod suggest;
pub mod value;
pub mod xml;
pub mod yaml;

pub use hash::sha256_hex;
