//! Retention on PostgreSQL: one purge batch per transaction (a few hundred
//! events with their runs, attempts, step results and the blobs no other
//! run refers to). The space of deleted
//! rows is reused after (auto)vacuum.

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{PurgeBatch, PurgeScope, RetentionStore, StoreResult};
use sqlx::{PgConnection, Row};

use super::PostgresStore;
use crate::error::db;

/// Adds deleted runs (of these ids) to `run_tallies`, by status; before the runs are deleted.
pub(super) async fn tally(c: &mut PgConnection, runs: &[String]) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO run_tallies (status, deleted)
         SELECT status, COUNT(*) FROM runs
         WHERE run_id = ANY($1) AND status IN ('succeeded', 'failed') GROUP BY status
         ON CONFLICT (status) DO UPDATE SET deleted = run_tallies.deleted + EXCLUDED.deleted",
    )
    .bind(runs)
    .execute(&mut *c)
    .await
    .map_err(db)?;
    Ok(())
}

/// Deletes the `blob_refs` rows of these runs, then the blobs they referred
/// to that no run refers to any more; returns how many blobs. In the
/// caller's transaction, after the runs' rows are deleted (so a concurrent
/// write holding a run's row has committed its reference by then).
pub(super) async fn drop_blobs(c: &mut PgConnection, runs: &[String]) -> StoreResult<u64> {
    let shas: Vec<String> = sqlx::query_scalar("DELETE FROM blob_refs WHERE run_id = ANY($1) RETURNING sha256")
        .bind(runs)
        .fetch_all(&mut *c)
        .await
        .map_err(db)?;
    if shas.is_empty() {
        return Ok(0);
    }
    Ok(sqlx::query(
        "DELETE FROM blobs AS b WHERE b.sha256 = ANY($1)
           AND NOT EXISTS (SELECT 1 FROM blob_refs AS r WHERE r.sha256 = b.sha256)",
    )
    .bind(&shas)
    .execute(&mut *c)
    .await
    .map_err(db)?
    .rows_affected())
}

async fn delete_in(c: &mut PgConnection, table: &str, column: &str, ids: &[String]) -> StoreResult<u64> {
    let q = format!("DELETE FROM {table} WHERE {column} = ANY($1)");
    Ok(sqlx::query(sqlx::AssertSqlSafe(q)).bind(ids).execute(&mut *c).await.map_err(db)?.rows_affected())
}

async fn purge(c: &mut PgConnection, scope: &PurgeScope, limit: usize) -> StoreResult<PurgeBatch> {
    let (after_at, after_id) = scope.after.clone().unwrap_or((i64::MIN, String::new()));
    let rows = sqlx::query(
        "SELECT e.event_id, e.received_at, r.run_id,
                r.run_id IS NULL OR (r.status IN ('succeeded', 'failed') AND r.finished_at < $1)
         FROM events AS e LEFT JOIN runs AS r ON e.status = 'queued' AND r.run_id = e.run_id
         WHERE e.received_at < $1 AND (e.received_at, e.event_id) > ($2, $3)
           AND ($4::text IS NULL OR e.workflow_id = $4)
           AND ($4::text IS NOT NULL OR NOT (e.workflow_id = ANY($5)))
         ORDER BY e.received_at, e.event_id LIMIT $6",
    )
    .bind(scope.before)
    .bind(after_at)
    .bind(after_id)
    .bind(scope.workflow_id.as_deref())
    .bind(&scope.except)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *c)
    .await
    .map_err(db)?;
    let mut batch = PurgeBatch::default();
    let (mut events, mut runs) = (Vec::new(), Vec::new());
    for r in &rows {
        let id: String = r.try_get(0).map_err(db)?;
        let at: i64 = r.try_get(1).map_err(db)?;
        let run: Option<String> = r.try_get(2).map_err(db)?;
        let gone: bool = r.try_get(3).map_err(db)?;
        batch.scanned += 1;
        batch.last = Some((at, id.clone()));
        if gone {
            events.push(id);
            runs.extend(run);
        } else {
            batch.kept += 1;
        }
    }
    if events.is_empty() {
        return Ok(batch);
    }
    tally(c, &runs).await?;
    batch.attempts = delete_in(c, "attempts", "run_id", &runs).await?;
    batch.step_results = delete_in(c, "step_results", "run_id", &runs).await?;
    batch.runs = delete_in(c, "runs", "run_id", &runs).await?;
    drop_blobs(c, &runs).await?;
    batch.events = delete_in(c, "events", "event_id", &events).await?;
    delete_in(c, "subjects", "event_id", &events).await?;
    Ok(batch)
}

impl RetentionStore for PostgresStore {
    fn purge(&self, scope: PurgeScope, limit: usize) -> BoxFuture<'_, StoreResult<PurgeBatch>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(db)?;
            let batch = purge(&mut tx, &scope, limit).await?;
            tx.commit().await.map_err(db)?;
            Ok(batch)
        })
    }
}
