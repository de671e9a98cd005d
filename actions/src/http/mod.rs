//! `http.request`, the `http` connection type, and the HTTP plumbing every
//! connector shares: [`client()`] (one pooled reqwest client with timeouts and
//! rustls), [`send`], error classification ([`errors`]) and safe response
//! headers ([`headers`]).

pub mod client;
pub mod errors;
pub mod headers;
pub mod health;
mod params;
mod request;

use reqflow_engine::action::{ConnectionType, Registry};

pub use client::{Received, client, send};
pub use params::{HealthCheck, HttpAuth, HttpConnection, HttpMethod, HttpRequestParams};
pub use request::HttpRequest;
pub(crate) use request::join;

/// Registers `http.request` and the `http` connection type.
pub fn register(registry: &mut Registry) {
    registry.register_connection_type(
        ConnectionType::of::<HttpConnection>("http", "A generic HTTP API: base URL and credentials")
            .with_hooks(std::sync::Arc::new(health::HttpHooks)),
    );
    registry.register(HttpRequest);
}
