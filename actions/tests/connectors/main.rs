//! Connector tests over real loopback HTTP: `http.request` against a small
//! axum server, everything else against `reqflow-sandbox`.

#![allow(clippy::unwrap_used)]

mod common;
mod http_request;
mod soap;
mod workable;
