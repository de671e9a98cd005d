//! Subjects on PostgreSQL: a subject's events, and erasure.
//!
//! Erasure is one transaction: the subject's runs are taken off the queue
//! (their rows locked first, so a worker's claim waits or skips them), then
//! its attempts, step results, dedupe keys, events, runs, index entries and
//! the blobs (binary outputs) no other run refers to are deleted. Deleted
//! rows are gone from every query and dump at once; the space they held is
//! reclaimed by (auto)vacuum.

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{ErasedCounts, EventRecord, StoreResult, SubjectStore};
use sqlx::PgConnection;

use super::{PostgresStore, events};
use crate::error::db;

async fn delete(c: &mut PgConnection, query: &str, ids: &[String]) -> StoreResult<u64> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(query)).bind(ids).execute(&mut *c).await.map_err(db)?.rows_affected())
}

async fn erase(c: &mut PgConnection, hash: &str) -> StoreResult<ErasedCounts> {
    let runs: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT run_id FROM subjects WHERE hash = $1 AND run_id IS NOT NULL")
            .bind(hash)
            .fetch_all(&mut *c)
            .await
            .map_err(db)?;
    let events: Vec<String> = sqlx::query_scalar("SELECT DISTINCT event_id FROM subjects WHERE hash = $1")
        .bind(hash)
        .fetch_all(&mut *c)
        .await
        .map_err(db)?;
    let mut n = ErasedCounts {
        cancelled: delete(c, "DELETE FROM queue WHERE run_id = ANY($1)", &runs).await?,
        ..ErasedCounts::default()
    };
    n.attempts = delete(c, "DELETE FROM attempts WHERE run_id = ANY($1)", &runs).await?;
    n.step_results = delete(c, "DELETE FROM step_results WHERE run_id = ANY($1)", &runs).await?;
    n.dedupe_keys = delete(
        c,
        "DELETE FROM dedupe WHERE (workflow_id, dedupe_key) IN (
           SELECT workflow_id, dedupe_key FROM events WHERE event_id = ANY($1) AND dedupe_key IS NOT NULL)",
        &events,
    )
    .await?;
    super::retention::tally(c, &runs).await?;
    n.events = delete(c, "DELETE FROM events WHERE event_id = ANY($1)", &events).await?;
    n.runs = delete(c, "DELETE FROM runs WHERE run_id = ANY($1)", &runs).await?;
    n.blobs = super::retention::drop_blobs(c, &runs).await?;
    delete(c, "DELETE FROM subjects WHERE event_id = ANY($1)", &events).await?;
    Ok(n)
}

impl SubjectStore for PostgresStore {
    fn subject_events(&self, hash: &str) -> BoxFuture<'_, StoreResult<Vec<EventRecord>>> {
        let hash = hash.to_owned();
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT event_id, workflow_id, trigger, received_at, payload::text, dedupe_key, status, raw_body,
                        reason, run_id, body_from_raw
                 FROM events WHERE event_id IN (SELECT event_id FROM subjects WHERE hash = $1)
                 ORDER BY received_at, event_id",
            )
            .bind(hash)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
            rows.iter().map(events::event_record).collect()
        })
    }

    fn erase_subject(&self, hash: &str) -> BoxFuture<'_, StoreResult<ErasedCounts>> {
        let hash = hash.to_owned();
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(db)?;
            let n = erase(&mut tx, &hash).await?;
            tx.commit().await.map_err(db)?;
            tracing::info!(events = n.events, runs = n.runs, cancelled = n.cancelled, "subject erased");
            Ok(n)
        })
    }
}
