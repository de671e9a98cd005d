//! The work queue on SQLite: claims with leases, in batches.
//!
//! The claim is `UPDATE … WHERE run_id IN (SELECT … ORDER BY due_at LIMIT n)
//! RETURNING run_id` inside the writer's `BEGIN IMMEDIATE` transaction: one
//! writer at a time, so no run is given twice, even to other processes.

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{
    ClaimedRun, Progress, QueueDepth, QueueStore, RunOutcome, RunStatus, Store, StoreError, StoreResult,
    WorkflowVersion,
};
use rusqlite::{Connection, params};
use sqlx::Row;

use super::{SqliteStore, boxed, steps};
use crate::error::{db, sql};
use crate::{codec, packed};

/// A claimed run with its event still as stored text: the JSON is parsed by
/// the caller, off the writer thread (the writer is the store's one serial
/// resource).
struct Claimed {
    run: ClaimedRun,
    payload: Vec<u8>,
    raw_body: Option<Vec<u8>>,
    body_from_raw: bool,
    raw_packed: bool,
}

fn claim(c: &Connection, worker: String, now: i64, lease_ms: i64, limit: usize) -> StoreResult<Vec<Claimed>> {
    let ids: Vec<String> = c
        .prepare_cached(
            "UPDATE queue SET lease_owner = ?1, due_at = ?2
             WHERE run_id IN (SELECT run_id FROM queue WHERE due_at <= ?3 ORDER BY due_at LIMIT ?4)
             RETURNING run_id",
        )
        .and_then(|mut s| {
            s.query_map(
                params![worker, now.saturating_add(lease_ms), now, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| r.get(0),
            )?
            .collect()
        })
        .map_err(sql)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = codec::id_list(&ids);
    // Read first: `fresh` is whether the run had never started.
    let mut stmt = c
        .prepare_cached(
            "SELECT r.run_id, r.workflow_id, r.workflow_version,
                    (SELECT h.hash FROM workflow_hashes AS h WHERE h.id = r.workflow_hash_id), r.retries, r.created_at, e.payload,
                    r.started_at IS NULL, e.body_from_raw, CASE WHEN e.body_from_raw THEN e.raw_body END, e.raw_packed
             FROM json_each(?1) AS j CROSS JOIN runs AS r ON r.run_id = j.value
             JOIN events AS e ON e.event_id = r.event_id
             ORDER BY r.seq",
        )
        .map_err(sql)?;
    let mut rows = stmt.query([&list]).map_err(sql)?;
    let mut claimed = Vec::with_capacity(ids.len());
    while let Some(r) = rows.next().map_err(sql)? {
        claimed.push(Claimed {
            run: ClaimedRun {
                run_id: r.get(0).map_err(sql)?,
                workflow: WorkflowVersion {
                    workflow_id: r.get(1).map_err(sql)?,
                    version: codec::u32_of("workflow_version", r.get(2).map_err(sql)?)?,
                    hash: r.get(3).map_err(sql)?,
                },
                event: serde_json::Value::Null,
                retries: codec::u32_of("retries", r.get(4).map_err(sql)?)?,
                created_at: r.get(5).map_err(sql)?,
                fresh: r.get(7).map_err(sql)?,
                undecodable: None,
            },
            payload: packed::column_bytes(r.get_ref(6).map_err(sql)?).unwrap_or_default(),
            body_from_raw: r.get(8).map_err(sql)?,
            raw_body: r.get(9).map_err(sql)?,
            raw_packed: r.get(10).map_err(sql)?,
        });
    }
    drop(rows);
    drop(stmt);
    c.prepare_cached(
        "UPDATE runs SET status = 'running', started_at = COALESCE(started_at, ?1)
         WHERE run_id IN (SELECT value FROM json_each(?2))",
    )
    .and_then(|mut s| s.execute(params![now, list]))
    .map_err(sql)?;
    Ok(claimed)
}

fn requeue(c: &Connection, worker: String, run_id: String, available_at: i64) -> StoreResult<()> {
    let held = c
        .prepare_cached("UPDATE queue SET lease_owner = NULL, due_at = ?1 WHERE run_id = ?2 AND lease_owner = ?3")
        .and_then(|mut s| s.execute(params![available_at, run_id, worker]))
        .map_err(sql)?;
    if held == 0 {
        return Err(StoreError::Conflict(format!("run {run_id} is not held by this worker")));
    }
    c.prepare_cached("UPDATE runs SET status = 'queued' WHERE run_id = ?")
        .and_then(|mut s| s.execute([&run_id]))
        .map_err(sql)?;
    Ok(())
}

/// [`Store::finish_after`] and [`Store::requeue_after`]: the pending
/// progress and the run's release in one job.
pub(super) fn finish_after(
    store: &SqliteStore,
    pending: Vec<Progress>,
    worker: &str,
    run_id: &str,
    outcome: RunOutcome,
) -> BoxFuture<'static, StoreResult<bool>> {
    let (worker, run_id, writer) = (worker.to_owned(), run_id.to_owned(), store.writer.clone());
    Box::pin(async move {
        codec::check_outcome(&outcome)?;
        steps::after_pending(&writer, pending, move |c| finish(c, worker, run_id, outcome), false).await
    })
}

pub(super) fn requeue_after(
    store: &SqliteStore,
    pending: Vec<Progress>,
    worker: &str,
    run_id: &str,
    available_at: i64,
) -> BoxFuture<'static, StoreResult<()>> {
    let (worker, run_id, writer, signal) =
        (worker.to_owned(), run_id.to_owned(), store.writer.clone(), store.signal.clone());
    Box::pin(async move {
        steps::after_pending(&writer, pending, move |c| requeue(c, worker, run_id, available_at), false).await?;
        signal.notify();
        Ok(())
    })
}

fn finish(c: &Connection, worker: String, run_id: String, outcome: RunOutcome) -> StoreResult<bool> {
    let held = c
        .prepare_cached("DELETE FROM queue WHERE run_id = ?1 AND lease_owner = ?2")
        .and_then(|mut s| s.execute(params![run_id, worker]))
        .map_err(sql)?;
    if held == 0 {
        return Ok(false);
    }
    c.prepare_cached("UPDATE runs SET status = ?1, error = ?2, finished_at = ?3 WHERE run_id = ?4")
        .and_then(|mut s| {
            s.execute(params![outcome.status.as_str(), codec::json_opt(&outcome.error), outcome.finished_at, run_id])
        })
        .map_err(sql)?;
    if outcome.status == RunStatus::Succeeded {
        c.prepare_cached(
            "INSERT INTO schedule_success (workflow_id, last_success_at)
             SELECT r.workflow_id, e.received_at FROM runs AS r JOIN events AS e ON e.event_id = r.event_id
             WHERE r.run_id = ?1 AND e.trigger = 'schedule'
             ON CONFLICT (workflow_id) DO UPDATE SET last_success_at = MAX(last_success_at, excluded.last_success_at)",
        )
        .and_then(|mut s| s.execute([&run_id]))
        .map_err(sql)?;
    }
    Ok(true)
}

impl QueueStore for SqliteStore {
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
            let claimed = self.progress(move |c| claim(c, worker, now, lease_ms, limit), false).await?;
            // A run whose event cannot be decoded is handed over marked as
            // such (and failed alone by the engine): never the whole batch.
            Ok(claimed
                .into_iter()
                .map(|Claimed { mut run, payload, raw_body, body_from_raw, raw_packed }| {
                    match codec::unpacked_event(payload, body_from_raw, raw_body, raw_packed) {
                        Ok((event, _)) => run.event = event,
                        Err(e) => run.undecodable = Some(e.to_string()),
                    }
                    run
                })
                .collect())
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
        let list = codec::id_list(run_ids);
        Box::pin(async move {
            self.progress(
                move |c| {
                    c.prepare_cached(
                        "UPDATE queue SET due_at = ?1
                         WHERE lease_owner = ?2 AND run_id IN (SELECT value FROM json_each(?3))
                         RETURNING run_id",
                    )
                    .and_then(|mut s| {
                        s.query_map(params![now.saturating_add(lease_ms), worker, list], |r| r.get(0))?.collect()
                    })
                    .map_err(sql)
                },
                true,
            )
            .await
        })
    }

    fn requeue(&self, worker: &str, run_id: &str, available_at: i64) -> BoxFuture<'_, StoreResult<()>> {
        self.requeue_after(Vec::new(), worker, run_id, available_at)
    }

    fn finish(&self, worker: &str, run_id: &str, outcome: RunOutcome) -> BoxFuture<'_, StoreResult<bool>> {
        self.finish_after(Vec::new(), worker, run_id, outcome)
    }

    fn depth(&self) -> BoxFuture<'_, StoreResult<QueueDepth>> {
        Box::pin(self.read(|c| {
            boxed(async move {
                let row = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM queue), (SELECT COUNT(*) FROM queue WHERE lease_owner IS NOT NULL)",
                )
                .fetch_one(c)
                .await
                .map_err(db)?;
                let total: i64 = row.try_get(0).map_err(db)?;
                let running: i64 = row.try_get(1).map_err(db)?;
                Ok(QueueDepth { queued: (total - running).max(0) as u64, running: running.max(0) as u64 })
            })
        }))
    }

    /// A run is `queued` exactly while its queue row has no lease, so this
    /// reads the `runs_status` range of queued runs: its cost follows the
    /// backlog, not the history (a join of `queue` with `runs`, or the
    /// planner's own choice, `runs_workflow`, walks every run ever stored).
    fn queued_by_workflow(&self) -> BoxFuture<'_, StoreResult<Vec<(String, u64)>>> {
        Box::pin(self.read(|c| {
            boxed(async move {
                let rows = sqlx::query(
                    "SELECT workflow_id, COUNT(*) FROM runs INDEXED BY runs_status WHERE status = 'queued'
                     GROUP BY workflow_id",
                )
                .fetch_all(c)
                .await
                .map_err(db)?;
                rows.iter()
                    .map(|r| Ok((r.try_get(0).map_err(db)?, r.try_get::<i64, _>(1).map_err(db)?.max(0) as u64)))
                    .collect()
            })
        }))
    }

    fn wait_for_work(&self, timeout_ms: u64) -> BoxFuture<'_, ()> {
        Box::pin(self.signal.wait(timeout_ms))
    }
}
