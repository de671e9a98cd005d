//! How many bytes a store takes on disk, for `reqflow bench seed --storage`:
//! SQLite after `PRAGMA wal_checkpoint(TRUNCATE)` (the file, and the WAL,
//! then empty), PostgreSQL as the sum of `pg_total_relation_size` of the
//! tables of the connection's schema; each with the bytes per table and
//! the number of stored events.

use reqflow_engine::store::{StoreError, StoreResult};

/// A store's size.
#[derive(Clone, Debug, Default)]
pub struct Footprint {
    /// Bytes on disk (SQLite: file + WAL after a truncating checkpoint).
    pub bytes: u64,
    /// Stored events.
    pub events: u64,
    /// Bytes per table (indexes included), largest first; empty where the
    /// backend cannot tell (SQLite built without `dbstat`).
    pub tables: Vec<(String, u64)>,
}

/// The footprint of the store at `url` (`sqlite://PATH…` or `postgres://…`).
pub async fn footprint(url: &str) -> StoreResult<Footprint> {
    match url.split(':').next().unwrap_or_default() {
        #[cfg(feature = "sqlite")]
        "sqlite" => {
            let path = url.trim_start_matches("sqlite://").split('?').next().unwrap_or_default().to_owned();
            tokio::task::spawn_blocking(move || sqlite(&path)).await.map_err(|e| StoreError::Database(e.to_string()))?
        }
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => postgres(url).await,
        _ => Err(StoreError::Database("unsupported database URL".into())),
    }
}

#[cfg(feature = "sqlite")]
fn sqlite(path: &str) -> StoreResult<Footprint> {
    use crate::error::sql;
    let c = rusqlite::Connection::open(path).map_err(sql)?;
    c.busy_timeout(std::time::Duration::from_secs(10)).map_err(sql)?;
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(sql)?;
    let events: i64 = c.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).map_err(sql)?;
    let size = |p: &str| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let bytes = size(path) + size(&format!("{path}-wal"));
    // Indexes are counted with their table.
    let tables = c
        .prepare(
            "SELECT COALESCE(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat AS d
             LEFT JOIN sqlite_schema AS m ON m.name = d.name GROUP BY 1 ORDER BY 2 DESC",
        )
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_default();
    Ok(Footprint { bytes, events: events as u64, tables })
}

#[cfg(feature = "postgres")]
async fn postgres(url: &str) -> StoreResult<Footprint> {
    use sqlx::Connection;

    use crate::error::db;
    let mut c = sqlx::PgConnection::connect(url).await.map_err(db)?;
    let tables: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, pg_total_relation_size(c.oid) FROM pg_class AS c
         JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY 2 DESC",
    )
    .fetch_all(&mut c)
    .await
    .map_err(db)?;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&mut c).await.map_err(db)?;
    let tables: Vec<(String, u64)> = tables.into_iter().map(|(n, b)| (n, b as u64)).collect();
    Ok(Footprint { bytes: tables.iter().map(|t| t.1).sum(), events: events as u64, tables })
}
