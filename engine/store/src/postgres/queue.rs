//! The work queue on PostgreSQL: batch claims with `FOR UPDATE SKIP LOCKED`.
//!
//! The claim is one statement: pick up to `limit` rows due now in `due_at`
//! order (skipping rows another claimer holds locked), lease them, mark their
//! runs `running`, and return what the worker needs. The pick walks
//! `queue_due` from its start; leased rows are due in the future, so the scan
//! touches only claimable rows.

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{
    ClaimedRun, Progress, QueueDepth, QueueStore, RunOutcome, Store, StoreError, StoreResult, WorkflowVersion,
};
use sqlx::{PgConnection, Row};

use super::PostgresStore;
use super::progress::{Answer, Tail};
use crate::codec;
use crate::error::db;

pub(super) async fn requeue(c: &mut PgConnection, worker: &str, run_id: &str, available_at: i64) -> StoreResult<()> {
    let moved: Option<String> = sqlx::query_scalar(
        "WITH q AS (
            UPDATE queue SET lease_owner = NULL, due_at = $1 WHERE run_id = $2 AND lease_owner = $3
            RETURNING run_id)
         UPDATE runs SET status = 'queued' FROM q WHERE runs.run_id = q.run_id RETURNING runs.run_id",
    )
    .bind(available_at)
    .bind(run_id)
    .bind(worker)
    .fetch_optional(c)
    .await
    .map_err(db)?;
    if moved.is_none() {
        return Err(StoreError::Conflict(format!("run {run_id} is not held by this worker")));
    }
    Ok(())
}

pub(super) async fn finish(c: &mut PgConnection, worker: &str, run_id: &str, outcome: RunOutcome) -> StoreResult<bool> {
    codec::check_outcome(&outcome)?;
    let finished: i64 = sqlx::query_scalar(
        "WITH q AS (
            DELETE FROM queue WHERE run_id = $1 AND lease_owner = $2 RETURNING run_id),
         r AS (
            UPDATE runs SET status = $3, error = $4::json, finished_at = $5 FROM q
            WHERE runs.run_id = q.run_id RETURNING runs.workflow_id, runs.event_id),
         s AS (
            INSERT INTO schedule_success (workflow_id, last_success_at)
            SELECT r.workflow_id, e.received_at FROM r JOIN events AS e ON e.event_id = r.event_id
            WHERE $3 = 'succeeded' AND e.trigger = 'schedule'
            ON CONFLICT (workflow_id) DO UPDATE
              SET last_success_at = GREATEST(schedule_success.last_success_at, EXCLUDED.last_success_at))
         SELECT COUNT(*) FROM r",
    )
    .bind(run_id)
    .bind(worker)
    .bind(outcome.status.as_str())
    .bind(codec::json_opt(&outcome.error))
    .bind(outcome.finished_at)
    .fetch_one(c)
    .await
    .map_err(db)?;
    Ok(finished == 1)
}

/// [`Store::finish_after`]: the pending progress and the run's end in one
/// write of the progress writer.
pub(super) fn finish_after<'a>(
    store: &'a PostgresStore,
    pending: Vec<Progress>,
    worker: &str,
    run_id: &str,
    outcome: RunOutcome,
) -> BoxFuture<'a, StoreResult<bool>> {
    let tail = Tail::Finish { worker: worker.to_owned(), run_id: run_id.to_owned(), outcome };
    Box::pin(async move {
        match store.progress.write(pending, tail).await? {
            Answer::Finished(held) => Ok(held),
            other => Err(unexpected(other)),
        }
    })
}

/// [`Store::requeue_after`]: the pending progress and the requeue in one
/// write of the progress writer, then the "new work" notification.
pub(super) fn requeue_after<'a>(
    store: &'a PostgresStore,
    pending: Vec<Progress>,
    worker: &str,
    run_id: &str,
    available_at: i64,
) -> BoxFuture<'a, StoreResult<()>> {
    let tail = Tail::Requeue { worker: worker.to_owned(), run_id: run_id.to_owned(), available_at };
    Box::pin(async move {
        match store.progress.write(pending, tail).await? {
            Answer::Requeued => Ok(()),
            other => Err(unexpected(other)),
        }
    })
}

/// The progress writer answered a job with another job's kind of answer.
pub(super) fn unexpected(answer: Answer) -> StoreError {
    StoreError::Database(format!("the progress writer answered {answer:?}"))
}

impl QueueStore for PostgresStore {
    fn claim(
        &self,
        worker: &str,
        now: i64,
        lease_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, StoreResult<Vec<ClaimedRun>>> {
        let worker = worker.to_owned();
        Box::pin(async move {
            if limit == 0 {
                return Ok(Vec::new());
            }
            let rows = sqlx::query(
                "WITH picked AS (
                    SELECT run_id, due_at FROM queue WHERE due_at <= $3
                    ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED),
                 leased AS (
                    UPDATE queue AS q SET lease_owner = $1, due_at = $2 FROM picked
                    WHERE q.run_id = picked.run_id RETURNING q.run_id, picked.due_at AS was_due),
                 started AS (
                    UPDATE runs AS r SET status = 'running', started_at = COALESCE(r.started_at, $3)
                    FROM leased JOIN runs AS before ON before.run_id = leased.run_id
                    WHERE r.run_id = leased.run_id
                    RETURNING r.run_id, r.event_id, r.workflow_id, r.workflow_version, r.workflow_hash, r.retries,
                              r.created_at, leased.was_due, before.started_at IS NULL AS fresh)
                 SELECT s.run_id, s.workflow_id, s.workflow_version, s.workflow_hash, s.retries, s.created_at,
                        e.payload::text, s.fresh, e.body_from_raw,
                        CASE WHEN e.body_from_raw THEN e.raw_body END
                 FROM started AS s JOIN events AS e ON e.event_id = s.event_id
                 ORDER BY s.was_due, s.created_at",
            )
            .bind(worker)
            .bind(now.saturating_add(lease_ms))
            .bind(now)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.progress_pool)
            .await
            .map_err(db)?;
            rows.iter()
                .map(|r| {
                    let payload: String = r.try_get(6).map_err(db)?;
                    let raw: Option<Vec<u8>> = r.try_get(9).map_err(db)?;
                    let decoded = codec::payload(&payload, r.try_get(8).map_err(db)?, raw.as_deref());
                    let (event, undecodable) = match decoded {
                        Ok(event) => (event, None),
                        Err(e) => (serde_json::Value::Null, Some(e.to_string())),
                    };
                    Ok(ClaimedRun {
                        run_id: r.try_get(0).map_err(db)?,
                        workflow: WorkflowVersion {
                            workflow_id: r.try_get(1).map_err(db)?,
                            version: codec::u32_of("workflow_version", i64::from(r.try_get::<i32, _>(2).map_err(db)?))?,
                            hash: r.try_get(3).map_err(db)?,
                        },
                        event,
                        retries: codec::u32_of("retries", i64::from(r.try_get::<i32, _>(4).map_err(db)?))?,
                        created_at: r.try_get(5).map_err(db)?,
                        fresh: r.try_get(7).map_err(db)?,
                        undecodable,
                    })
                })
                .collect()
        })
    }

    fn heartbeat(
        &self,
        worker: &str,
        run_ids: &[String],
        now: i64,
        lease_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Vec<String>>> {
        let worker = worker.to_owned();
        let run_ids = run_ids.to_vec();
        Box::pin(async move {
            sqlx::query_scalar(
                "UPDATE queue SET due_at = $1 WHERE lease_owner = $2 AND run_id = ANY($3) RETURNING run_id",
            )
            .bind(now.saturating_add(lease_ms))
            .bind(worker)
            .bind(run_ids)
            .fetch_all(&self.progress_pool)
            .await
            .map_err(db)
        })
    }

    fn requeue(&self, worker: &str, run_id: &str, available_at: i64) -> BoxFuture<'_, StoreResult<()>> {
        self.requeue_after(Vec::new(), worker, run_id, available_at)
    }

    fn finish(&self, worker: &str, run_id: &str, outcome: RunOutcome) -> BoxFuture<'_, StoreResult<bool>> {
        self.finish_after(Vec::new(), worker, run_id, outcome)
    }

    fn depth(&self) -> BoxFuture<'_, StoreResult<QueueDepth>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT COUNT(*), COUNT(*) FILTER (WHERE lease_owner IS NOT NULL) FROM queue")
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
            let total: i64 = row.try_get(0).map_err(db)?;
            let running: i64 = row.try_get(1).map_err(db)?;
            Ok(QueueDepth { queued: (total - running).max(0) as u64, running: running.max(0) as u64 })
        })
    }

    /// A run is `queued` exactly while its queue row has no lease, so this
    /// reads the `runs_status` range of queued runs: its cost follows the
    /// backlog, not the history (a join of `queue` with `runs` hashes every
    /// run ever stored).
    fn queued_by_workflow(&self) -> BoxFuture<'_, StoreResult<Vec<(String, u64)>>> {
        Box::pin(async move {
            let rows =
                sqlx::query("SELECT workflow_id, COUNT(*) FROM runs WHERE status = 'queued' GROUP BY workflow_id")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?;
            rows.iter()
                .map(|r| Ok((r.try_get(0).map_err(db)?, r.try_get::<i64, _>(1).map_err(db)?.max(0) as u64)))
                .collect()
        })
    }

    fn wait_for_work(&self, timeout_ms: u64) -> BoxFuture<'_, ()> {
        Box::pin(self.signal.wait(timeout_ms))
    }
}
