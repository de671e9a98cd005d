//! # reqflow-store
//!
//! The persistent store of reqflow's durable runtime: accepted events, runs,
//! the work queue with leases, step attempts and results, schedule slots,
//! workflow sources and the shared key-value state of connections (OAuth
//! tokens). It implements the traits of [`reqflow_engine::store`] and
//! [`reqflow_engine::action::SharedState`] on two backends:
//!
//! - **SQLite** (`sqlite://path.db`, the default): one file in WAL mode,
//!   `synchronous=FULL` (an accepted event survives power loss). Every write
//!   goes to one OS thread owning a rusqlite connection, which commits the
//!   writes submitted meanwhile together (group commit: one fsync for many
//!   callers, no per-statement thread hand-off); reads and migrations use
//!   sqlx (a small pool of reader connections).
//! - **PostgreSQL** (`postgres://…`, sqlx): several processes share one database;
//!   workers claim with `FOR UPDATE SKIP LOCKED` and are woken by
//!   `LISTEN/NOTIFY`.
//!
//! The queue table holds only queued and running runs (finished runs live in
//! `runs` alone), and the claim walks one narrow index on the time each row is
//! next due (`available_at` while queued, the lease's end while running).
//!
//! Migrations live in `engine/store/migrations/{sqlite,postgres}/` and are
//! applied by [`open`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), reqflow_engine::store::StoreError> {
//! let store = reqflow_store::open("sqlite://reqflow.db").await?;
//! assert_eq!(store.backend(), "sqlite");
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod codec;
mod combine;
mod error;
mod footprint;
mod migrate;
pub mod packed;
mod plan;
mod signal;

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use std::sync::Arc;

pub use footprint::{Footprint, footprint};
pub use reqflow_engine::store::{Store, StoreError, StoreResult};

#[cfg(feature = "postgres")]
pub use postgres::{Budget, PostgresStore};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// Opens the store at `url` and applies pending migrations.
///
/// - `sqlite://path.db` (or `sqlite:path.db`): the file is created if missing.
///   `?synchronous=normal` trades durability of the last commits on power loss
///   for speed (default `full`). `sqlite::memory:` keeps everything in memory
///   (tests, one-off runs).
/// - `postgres://user@host:port/db` (or `postgresql://`): the usual
///   connection URL, e.g. `?sslmode=require`, `?options=-c search_path=reqflow`,
///   and reqflow's own `?max_connections=N` (the most this process opens,
///   default 12) and `?accept_timeout=SECONDS` (how long a trigger waits for a
///   connection before its caller gets `503`, default 5): see [`postgres::Budget`].
///
/// Errors never repeat the URL (it may hold a password).
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok(Arc::new(SqliteStore::open(url).await?)),
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => Ok(Arc::new(PostgresStore::open(url).await?)),
        #[allow(unreachable_patterns)]
        "sqlite" | "postgres" | "postgresql" => Err(StoreError::Database(format!(
            "this build of reqflow has no `{scheme}` support (cargo feature of reqflow-store)"
        ))),
        _ => Err(StoreError::Database("unsupported database URL: expected sqlite://PATH or postgres://…".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_scheme_is_refused_without_echoing_the_url() {
        let err = open("mysql://user:hunter2@localhost/db").await.expect_err("refused");
        let msg = err.to_string();
        assert!(msg.contains("unsupported database URL"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}
