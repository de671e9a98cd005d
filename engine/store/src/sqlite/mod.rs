//! The SQLite store: one file in WAL mode.
//!
//! Writes go through one `writer` thread per store handle, on a rusqlite
//! connection (group commit; concurrent `accept` calls are also merged into
//! one batch first); reads use a pool of sqlx reader connections, which WAL
//! lets run beside the writer (an in-memory database is one shared-cache
//! database for both). Both link the same SQLite. Several handles (or
//! processes) on one file are safe: each writer takes the database's write
//! lock with `BEGIN IMMEDIATE` and waits for it up to the busy timeout.
//! `wait_for_work` is woken in-process only; workers of another process
//! notice new work at their timeout. A new database file is created readable
//! by its owner only (0600, and so are its `-wal` and `-shm`); an existing one
//! readable by others gets a `tracing` warning.
//!
//! Modules: `accept` (events, dedupe), `access` (API tokens, audit), `queue` (claims and leases),
//! `steps` (attempts and results), `runs` (history, retry), `meta`
//! (schedules, workflow sources, shared state).

mod accept;
mod access;
mod events;
mod meta;
mod queue;
mod retention;
mod run_dictionary;
mod runs;
mod steps;
mod subjects;
mod subscriptions;
mod writer;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{NewEvent, Progress, RunOutcome, Store, StoreError, StoreResult};
use sqlx::SqliteConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::combine::Combiner;
use crate::error::{db, sql};
use crate::migrate;
use crate::signal::WorkSignal;
use writer::{WriteFn, Writer};

/// How long a connection waits for another one's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Reader connections.
const READERS: u32 = 4;

/// A reqflow store in a SQLite file. Cheap to share behind an `Arc`; dropping
/// the last handle stops its writer thread.
pub struct SqliteStore {
    writer: Writer,
    accepts: Combiner,
    /// Reader connections (for an in-memory database, connections to the
    /// writer's shared-cache database).
    readers: SqlitePool,
    signal: WorkSignal,
    label: String,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("database", &self.label).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path.db`,
    /// optionally `?synchronous=normal|full`; `sqlite::memory:`), applies
    /// pending migrations and starts the writer thread. Must be called within a
    /// tokio runtime.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let (url, sync) = take_param(url, "synchronous");
        let synchronous = match sync.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("full") => SqliteSynchronous::Full,
            Some("normal") => SqliteSynchronous::Normal,
            Some("extra") => SqliteSynchronous::Extra,
            Some(other) => {
                return Err(StoreError::Database(format!("synchronous={other}: expected full, normal or extra")));
            }
        };
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let base = SqliteConnectOptions::from_str(&url)
            .map_err(db)?
            .create_if_missing(true)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(false)
            .statement_cache_capacity(256)
            .pragma("temp_store", "memory");
        let base = if memory { base } else { base.journal_mode(SqliteJournalMode::Wal) };
        let label = if memory { ":memory:".to_owned() } else { base.get_filename().display().to_string() };
        if !memory {
            private_file(base.get_filename())?;
        }

        let base = if memory { base.shared_cache(true) } else { base };
        let conn = write_connection(&base, memory, synchronous)?;
        migrate(&conn)?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.synchronous(SqliteSynchronous::Normal).pragma("query_only", "true"))
            .await
            .map_err(db)?;
        let fsync = !matches!(synchronous, SqliteSynchronous::Normal | SqliteSynchronous::Off);
        let writer = Writer::spawn(conn, fsync)?;
        let accepts = Combiner::spawn({
            let writer = writer.clone();
            Arc::new(move |batch: Arc<Vec<NewEvent>>| {
                let writer = writer.clone();
                Box::pin(async move { writer.write(move |c| accept::accept(c, &batch)).await })
            })
        });
        Ok(SqliteStore { writer, accepts, readers, signal: WorkSignal::default(), label })
    }

    /// Runs a write in the next group commit.
    async fn write<T: Send + 'static>(&self, f: impl WriteFn<T>) -> StoreResult<T> {
        self.writer.write(f).await
    }

    /// Runs a write of exactly one statement in the next group commit.
    async fn write_one<T: Send + 'static>(&self, f: impl WriteFn<T>) -> StoreResult<T> {
        self.writer.write_one(f).await
    }

    /// Runs a write of run progress (see [`Writer::progress`]).
    async fn progress<T: Send + 'static>(&self, f: impl WriteFn<T>, one_statement: bool) -> StoreResult<T> {
        self.writer.progress(f, one_statement).await
    }

    /// Runs a read on a reader connection.
    async fn read<T: Send + 'static>(&self, f: impl ReadFn<T>) -> StoreResult<T> {
        let mut conn = self.readers.acquire().await.map_err(db)?;
        f(&mut conn).await
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
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

/// Splits `name=value` out of a URL's query string.
fn take_param(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((k, v)) if k == name => {
                value = Some(v.to_owned());
                false
            }
            _ => !pair.is_empty(),
        })
        .collect();
    let url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{}", rest.join("&")) };
    (url, value)
}

/// Current time in Unix ms (migration records only; store calls take `now`).
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// Opens the writer's connection on the file (or shared-cache memory
/// database) of `base`.
fn write_connection(
    base: &SqliteConnectOptions,
    memory: bool,
    synchronous: SqliteSynchronous,
) -> StoreResult<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if memory {
        flags |= OpenFlags::SQLITE_OPEN_MEMORY | OpenFlags::SQLITE_OPEN_SHARED_CACHE;
    }
    let conn = rusqlite::Connection::open_with_flags(base.get_filename(), flags).map_err(sql)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    conn.set_prepared_statement_cache_capacity(256);
    let synchronous = match synchronous {
        SqliteSynchronous::Off => "OFF",
        SqliteSynchronous::Normal => "NORMAL",
        SqliteSynchronous::Full => "FULL",
        SqliteSynchronous::Extra => "EXTRA",
    };
    let journal = if memory { "" } else { "PRAGMA journal_mode = WAL;" };
    // The page cache stays at SQLite's default (2 MB): with 32 MB, every
    // commit spent a tenth of the writer's time walking the cache
    // (`pcache1TruncateUnsafe`, perf on `reqflow bench seed`); the OS page
    // cache holds the file anyway.
    conn.execute_batch(&format!(
        "{journal} PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = OFF; PRAGMA temp_store = memory;
         PRAGMA journal_size_limit = 67108864;"
    ))
    .map_err(sql)?;
    Ok(conn)
}

/// The database holds candidate data and (encrypted) connection credentials:
/// a new file is created readable by its owner only (0600) before SQLite
/// opens it, and SQLite gives its `-wal` and `-shm` files the same mode. An
/// existing file that others can read is left as it is, with a warning.
#[cfg(unix)]
fn private_file(path: &std::path::Path) -> StoreResult<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        // An empty file is an empty database to SQLite.
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    mode = %format!("{mode:04o}"),
                    "the database file is readable or writable by other users than its owner \
                     (it holds candidate data and connection credentials): `chmod 600` it"
                );
            }
            Ok(())
        }
        Err(e) => Err(StoreError::Database(format!("cannot create the database file {}: {e}", path.display()))),
    }
}

#[cfg(not(unix))]
fn private_file(_path: &std::path::Path) -> StoreResult<()> {
    Ok(())
}

/// Applies pending migrations in one `BEGIN IMMEDIATE` transaction.
fn migrate(c: &rusqlite::Connection) -> StoreResult<()> {
    c.execute_batch("BEGIN IMMEDIATE").map_err(sql)?;
    let result: StoreResult<()> = (|| {
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS reqflow_migrations (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        )
        .map_err(sql)?;
        let applied: Vec<(i64, String)> = c
            .prepare("SELECT version, checksum FROM reqflow_migrations ORDER BY version")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(sql)?;
        for m in migrate::pending(migrate::SQLITE, &applied)? {
            c.execute_batch(m.sql)
                .map_err(|e| StoreError::Migration(format!("{:04}_{}: {}", m.version, m.name, sql(e))))?;
            c.execute(
                "INSERT INTO reqflow_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
                rusqlite::params![m.version, m.name, m.checksum(), now_ms()],
            )
            .map_err(sql)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => c.execute_batch("COMMIT").map_err(sql),
        Err(e) => {
            let _ = c.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// A read: runs on a reader connection of the pool.
pub(crate) trait ReadFn<T>:
    for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static
{
}

impl<T, F> ReadFn<T> for F where
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>> + Send + 'static
{
}

/// Boxes a future borrowing a connection (keeps call sites short).
fn boxed<'c, T>(f: impl Future<Output = StoreResult<T>> + Send + 'c) -> BoxFuture<'c, StoreResult<T>> {
    Box::pin(f)
}

#[cfg(test)]
mod tests {
    use super::take_param;

    /// The messages of the `tracing` events emitted while it is the default.
    #[cfg(unix)]
    #[derive(Clone, Default)]
    struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    #[cfg(unix)]
    impl tracing::Subscriber for Recorder {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            struct Text(String);
            impl tracing::field::Visit for Text {
                fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                    self.0.push_str(&format!("{}={value:?} ", field.name()));
                }
            }
            let mut text = Text(format!("{} ", event.metadata().level()));
            event.record(&mut text);
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(text.0);
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[cfg(unix)]
    #[test]
    fn a_new_file_is_private_and_a_readable_one_is_named_in_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let recorder = Recorder::default();
        let _default = tracing::subscriber::set_default(recorder.clone());

        let new = dir.path().join("new.db");
        super::private_file(&new).expect("created");
        let mode = std::fs::metadata(&new).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
        let old = dir.path().join("old.db");
        std::fs::write(&old, b"").expect("write");
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        super::private_file(&old).expect("left as it is");
        let mode = std::fs::metadata(&old).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "not changed behind the operator's back");

        let events = recorder.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(events[0].starts_with("WARN"), "{events:?}");
        assert!(events[0].contains("old.db") && events[0].contains("0644"), "{events:?}");
        assert!(events[0].contains("chmod 600"), "{events:?}");
    }

    #[test]
    fn synchronous_is_taken_out_of_the_url() {
        assert_eq!(take_param("sqlite://a.db", "synchronous"), ("sqlite://a.db".into(), None));
        assert_eq!(
            take_param("sqlite://a.db?synchronous=normal", "synchronous"),
            ("sqlite://a.db".into(), Some("normal".into()))
        );
        assert_eq!(
            take_param("sqlite://a.db?mode=rwc&synchronous=full", "synchronous"),
            ("sqlite://a.db?mode=rwc".into(), Some("full".into()))
        );
    }
}
