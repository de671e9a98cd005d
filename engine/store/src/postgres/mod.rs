//! The PostgreSQL store: several processes share one database.
//!
//! Concurrent `accept` calls are merged into one transaction; runs' progress
//! (attempts, step results, a run's end) is written in groups, many runs in
//! one statement, by the progress writer (`progress`, which also says how
//! durable progress is); every other call is one transaction on a pooled
//! connection (most are a single statement). Workers claim with `FOR UPDATE
//! SKIP LOCKED`, so processes divide the work; accept, requeue and retry send
//! `NOTIFY reqflow_work`, and a dedicated listener connection per store wakes
//! `wait_for_work`.
//!
//! Connections (see [`Budget`]): each store handle opens at most
//! `max_connections` (a parameter of the URL, default 12), in three pools —
//! accepts, progress (writers, claims, heartbeats; `synchronous_commit=off`),
//! and the rest (reads, the API's writes, the `LISTEN` connection) — so N
//! processes fit a server's `max_connections`. A trigger waits at most
//! `accept_timeout` (default 5 s) for an accept connection; then the store
//! answers an error and the server `503` + `Retry-After`.
//!
//! Tables are created in the first schema of the connection's `search_path`
//! (set it with `?options=-c search_path=NAME` to keep reqflow apart).
//!
//! Modules: `accept` (events, dedupe), `access` (API tokens, audit), `queue` (claims and leases),
//! `steps` (attempts and results), `runs` (history, retry), `meta`
//! (schedules, workflow sources, shared state).

mod accept;
mod access;
mod events;
mod meta;
mod progress;
mod queue;
mod retention;
mod runs;
mod steps;
mod subjects;
mod subscriptions;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{NewEvent, Progress, RunOutcome, Store, StoreError, StoreResult};
pub use sqlx::postgres::PgConnectOptions;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Row};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::combine::Combiner;
use crate::error::db;
use crate::migrate;
use crate::signal::WorkSignal;

/// The channel workers listen on is this plus `:` and the schema's name, so
/// that deployments in different schemas of one database do not wake each other.
const CHANNEL: &str = "reqflow_work";

/// Connections per store handle when the URL does not say (`max_connections`).
const MAX_CONNECTIONS: u32 = 12;

/// Fewest connections a store handle can work with (one per pool, plus `LISTEN`).
const MIN_CONNECTIONS: u32 = 4;

/// How long an accept waits for a connection when the URL does not say (`accept_timeout`).
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the connections of one store handle are divided: at most `total`,
/// whatever the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The accept path alone (the combiner sends one batch at a time; a
    /// second covers a slow commit): a trigger's answer never waits for a
    /// connection that runs hold.
    pub accept: u32,
    /// Progress writers, claims and lease heartbeats (`synchronous_commit=off`).
    pub progress: u32,
    /// Everything else, the `LISTEN` connection included.
    pub other: u32,
    /// How long an accept waits for a connection before failing.
    pub accept_timeout: Duration,
}

impl Budget {
    /// The split of `total` connections (at least 4: one per pool, plus `LISTEN`).
    pub fn of(total: u32, accept_timeout: Duration) -> Budget {
        let total = total.max(MIN_CONNECTIONS);
        let accept = if total >= 8 { 2 } else { 1 };
        let progress = if total >= 10 {
            3
        } else if total >= 6 {
            2
        } else {
            1
        };
        Budget { accept, progress, other: total - accept - progress, accept_timeout }
    }

    /// Every connection the handle may open.
    pub fn total(&self) -> u32 {
        self.accept + self.progress + self.other
    }

    /// Progress writer tasks: one connection of the progress pool stays for claims.
    fn writers(&self) -> usize {
        self.progress.saturating_sub(1).max(1) as usize
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::of(MAX_CONNECTIONS, ACCEPT_TIMEOUT)
    }
}

/// Takes reqflow's own parameters (`max_connections`, `accept_timeout` in
/// seconds) out of a URL's query string; the rest is for the driver.
pub fn split_url(url: &str) -> StoreResult<(String, Budget)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), Budget::default()));
    };
    let (mut total, mut timeout) = (MAX_CONNECTIONS, ACCEPT_TIMEOUT);
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("max_connections", v)) => {
                total = v.parse().ok().filter(|n| *n >= MIN_CONNECTIONS).ok_or_else(|| {
                    StoreError::Database(format!(
                        "max_connections={v} in the database URL: expected a whole number of at least {MIN_CONNECTIONS}"
                    ))
                })?;
            }
            Some(("accept_timeout", v)) => {
                let secs: f64 =
                    v.parse().ok().filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 3600.0).ok_or_else(|| {
                        StoreError::Database(format!(
                            "accept_timeout={v} in the database URL: expected seconds, more than 0 and at most 3600"
                        ))
                    })?;
                timeout = Duration::from_secs_f64(secs);
            }
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{}", rest.join("&")) };
    Ok((url, Budget::of(total, timeout)))
}

/// A reqflow store in a PostgreSQL database.
pub struct PostgresStore {
    pool: PgPool,
    /// Claims, heartbeats and the progress writers (`synchronous_commit=off`).
    progress_pool: PgPool,
    progress: progress::ProgressWriter,
    accepts: Combiner,
    channel: String,
    signal: WorkSignal,
    listener: JoinHandle<()>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the connection options: they hold the password.
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`, with `max_connections=N` and
    /// `accept_timeout=SECONDS` among its parameters if wanted: see
    /// [`Budget`]), applies pending migrations and starts the listener. Must
    /// be called within a tokio runtime.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let (url, budget) = split_url(url)?;
        Self::connect_budget(PgConnectOptions::from_str(&url).map_err(db)?, budget).await
    }

    /// Like [`PostgresStore::open`], with options built in code (e.g. a
    /// `search_path` through [`PgConnectOptions::options`]) and the default [`Budget`].
    pub async fn connect_with(options: PgConnectOptions) -> StoreResult<Self> {
        Self::connect_budget(options, Budget::default()).await
    }

    /// Like [`PostgresStore::connect_with`], with connections bounded by `budget`.
    pub async fn connect_budget(options: PgConnectOptions, budget: Budget) -> StoreResult<Self> {
        // One direct connection first: a wrong URL or a server that is down
        // fails here at once (the pool would keep retrying until its timeout).
        let mut conn = PgConnection::connect_with(&options).await.map_err(db)?;
        let schema = migrate(&mut conn).await?;
        let _ = conn.close().await;
        // The accept path has connections of its own: a trigger's answer
        // never waits for a connection that runs' progress holds.
        let accept_pool = pool_options()
            .max_connections(budget.accept)
            .min_connections(0)
            .acquire_timeout(budget.accept_timeout)
            .connect_lazy_with(options.clone());
        // Progress commits without waiting for its WAL flush (see `progress`).
        let progress_options = options.clone().options(PROGRESS_SETTINGS);
        let progress_pool = pool_options()
            .max_connections(budget.progress)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(progress_options);
        let pool = pool_options()
            .max_connections(budget.other)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(options);
        let channel = channel_for(&schema);
        let signal = WorkSignal::default();
        let (ready, listening) = oneshot::channel();
        let listener = tokio::spawn(listen(pool.clone(), channel.clone(), signal.clone(), ready));
        // New work from now on wakes this handle's workers.
        let _ = tokio::time::timeout(Duration::from_secs(10), listening).await;
        let accepts = Combiner::spawn({
            let (pool, channel) = (accept_pool, channel.clone());
            Arc::new(move |batch: Arc<Vec<NewEvent>>| {
                let (pool, channel) = (pool.clone(), channel.clone());
                Box::pin(async move { accept::accept(&pool, &channel, &batch).await })
            })
        });
        let progress = progress::ProgressWriter::spawn(progress_pool.clone(), channel.clone(), budget.writers());
        Ok(PostgresStore { pool, progress_pool, progress, accepts, channel, signal, listener })
    }

    /// Sends the "new work" notification (delivered when the current
    /// transaction, if any, commits).
    async fn notify(&self, c: &mut PgConnection) -> StoreResult<()> {
        notify(c, &self.channel).await
    }
}

impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn finish_after(
        &self,
        pending: Vec<Progress>,
        worker: &str,
        run_id: &str,
        outcome: RunOutcome,
    ) -> BoxFuture<'_, StoreResult<bool>> {
        queue::finish_after(self, pending, worker, run_id, outcome)
    }

    fn requeue_after(
        &self,
        pending: Vec<Progress>,
        worker: &str,
        run_id: &str,
        available_at: i64,
    ) -> BoxFuture<'_, StoreResult<()>> {
        queue::requeue_after(self, pending, worker, run_id, available_at)
    }
}

/// Sends the "new work" notification on `channel` (delivered when the
/// current transaction, if any, commits).
async fn notify(c: &mut PgConnection, channel: &str) -> StoreResult<()> {
    sqlx::query("SELECT pg_notify($1, '')").bind(channel).execute(c).await.map_err(db)?;
    Ok(())
}

/// A pool whose connections are checked (`ping`, a round trip) only when
/// they were idle for [`PING_AFTER_IDLE`]: sqlx's default checks every
/// acquire, one more round trip per accept and per progress group.
fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().test_before_acquire(false).before_acquire(|conn, meta| {
        Box::pin(async move {
            if meta.idle_for >= PING_AFTER_IDLE {
                conn.ping().await?;
            }
            Ok(true)
        })
    })
}

/// The settings of the progress pool's connections (progress writers, claims,
/// heartbeats).
///
/// `synchronous_commit = off`: progress commits without waiting for its WAL
/// flush (see `progress` for the guarantee that keeps).
///
/// Plans: every statement of this pool finds its rows by key (a run, an
/// attempt, a queue row) from arrays whose length varies from 1 to
/// hundreds. Planning the group statement for each call's arguments
/// (`force_custom_plan`, as before) cost about 1.5 ms per statement, as much
/// as executing it; a generic plan is made once per connection, but its
/// estimate of an array's length is a guess, and with the small tables of a
/// new database it chose hash joins over whole tables (`queue`; measured 29
/// ms instead of 2 ms per group statement). So plans are generic and only
/// key lookups are allowed: nested loops over the arrays with index scans,
/// right for every length and every table size.
const PROGRESS_SETTINGS: [(&str, &str); 5] = [
    ("synchronous_commit", "off"),
    ("plan_cache_mode", "force_generic_plan"),
    ("enable_hashjoin", "off"),
    ("enable_mergejoin", "off"),
    ("enable_seqscan", "off"),
];

/// How long a pooled connection may sit idle before it is checked on acquire.
const PING_AFTER_IDLE: Duration = Duration::from_secs(10);

/// The notification channel of a schema (at most 63 bytes, PostgreSQL's
/// identifier limit: long schema names are replaced by a hash).
fn channel_for(schema: &str) -> String {
    let channel = format!("{CHANNEL}:{schema}");
    if channel.len() <= 63 {
        channel
    } else {
        format!("{CHANNEL}:{}", &reqflow_engine::sha256_hex(schema.as_bytes())[..32])
    }
}

/// Keeps a `LISTEN` connection and turns notifications into wake-ups. On any
/// connection trouble it wakes everyone (a notification may have been lost)
/// and reconnects. `ready` is answered once the first `LISTEN` is in place.
async fn listen(pool: PgPool, channel: String, signal: WorkSignal, ready: oneshot::Sender<()>) {
    let mut ready = Some(ready);
    loop {
        if let Ok(mut listener) = PgListener::connect_with(&pool).await
            && listener.listen(&channel).await.is_ok()
        {
            match ready.take() {
                Some(ready) => {
                    let _ = ready.send(());
                }
                // Reconnected: something may have happened meanwhile.
                None => signal.notify(),
            }
            loop {
                match listener.try_recv().await {
                    Ok(Some(_)) => signal.notify(),
                    // Connection lost; the next call reconnects and listens again.
                    Ok(None) => signal.notify(),
                    Err(_) => break,
                }
            }
        }
        // Could not listen (yet): workers fall back to their timeouts.
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        signal.notify();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// Applies pending migrations in one transaction, serialised across processes
/// by an advisory lock on the target schema; returns the schema's name.
async fn migrate(conn: &mut PgConnection) -> StoreResult<String> {
    let mut tx = conn.begin().await.map_err(db)?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('reqflow_migrations:' || COALESCE(current_schema(), '')))")
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()").fetch_one(&mut *tx).await.map_err(db)?;
    let Some(schema) = schema else {
        return Err(StoreError::Migration(
            "no schema to create tables in: the first schema of search_path does not exist".to_owned(),
        ));
    };
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS reqflow_migrations (
            version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let applied: Vec<(i64, String)> = sqlx::query("SELECT version, checksum FROM reqflow_migrations ORDER BY version")
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db)?;
    for m in migrate::pending(migrate::POSTGRES, &applied)? {
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::Migration(format!("{:04}_{}: {}", m.version, m.name, db(e))))?;
        sqlx::query("INSERT INTO reqflow_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)")
            .bind(m.version)
            .bind(m.name)
            .bind(m.checksum())
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::channel_for;

    #[test]
    fn channels_fit_in_an_identifier() {
        assert_eq!(channel_for("public"), "reqflow_work:public");
        let long = channel_for(&"s".repeat(63));
        assert!(long.len() <= 63 && long.starts_with("reqflow_work:"), "{long}");
        assert_ne!(long, channel_for(&"t".repeat(63)));
    }
}
