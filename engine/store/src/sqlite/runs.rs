//! Run history and retry on SQLite.
//!
//! Runs are listed newest first by `seq` (the table's rowid, i.e. creation
//! order) with keyset paging, on the `(workflow_id, seq)` and `(status, seq)`
//! indexes.

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{RunFilter, RunRecord, RunStatus, RunStore, StoreError, StoreResult, WorkflowVersion};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{AssertSqlSafe, Row, SqliteConnection};

use super::{SqliteStore, boxed};
use crate::codec;
use crate::error::db;

/// The columns [`run_record`] reads, in order.
const RUN_COLUMNS: &str = "run_id, event_id, workflow_id, workflow_version, workflow_hash, status, created_at, \
                           started_at, finished_at, error, retries";

pub(super) fn run_record(r: &SqliteRow) -> StoreResult<RunRecord> {
    let status: String = r.try_get(5).map_err(db)?;
    Ok(RunRecord {
        run_id: r.try_get(0).map_err(db)?,
        event_id: r.try_get(1).map_err(db)?,
        workflow: WorkflowVersion {
            workflow_id: r.try_get(2).map_err(db)?,
            version: codec::u32_of("workflow_version", r.try_get(3).map_err(db)?)?,
            hash: r.try_get(4).map_err(db)?,
        },
        status: codec::run_status(&status)?,
        created_at: r.try_get(6).map_err(db)?,
        started_at: r.try_get(7).map_err(db)?,
        finished_at: r.try_get(8).map_err(db)?,
        error: codec::parse_opt("run error", r.try_get(9).map_err(db)?)?,
        retries: codec::u32_of("retries", r.try_get(10).map_err(db)?)?,
    })
}

async fn run(c: &mut SqliteConnection, run_id: &str) -> StoreResult<Option<RunRecord>> {
    let row = sqlx::query(AssertSqlSafe(format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?")))
        .bind(run_id)
        .fetch_optional(c)
        .await
        .map_err(db)?;
    row.as_ref().map(run_record).transpose()
}

async fn runs(c: &mut SqliteConnection, f: RunFilter) -> StoreResult<Vec<RunRecord>> {
    let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE 1 = 1");
    let mut args = SqliteArguments::default();
    let mut bind = |sql: &mut String, cond: &str, value: Bind| {
        sql.push_str(cond);
        let added = match value {
            Bind::Text(s) => sqlx::Arguments::add(&mut args, s),
            Bind::Int(i) => sqlx::Arguments::add(&mut args, i),
        };
        added.map_err(|e| StoreError::Database(e.to_string()))
    };
    if let Some(w) = f.workflow_id {
        bind(&mut sql, " AND workflow_id = ?", Bind::Text(w))?;
    }
    if let Some(s) = f.status {
        bind(&mut sql, " AND status = ?", Bind::Text(s.as_str().to_owned()))?;
    }
    if let Some(t) = f.since {
        bind(&mut sql, " AND created_at >= ?", Bind::Int(t))?;
    }
    if let Some(t) = f.until {
        bind(&mut sql, " AND created_at < ?", Bind::Int(t))?;
    }
    if let Some(b) = f.before {
        bind(&mut sql, " AND seq < (SELECT seq FROM runs WHERE run_id = ?)", Bind::Text(b))?;
    }
    bind(&mut sql, " ORDER BY seq DESC LIMIT ?", Bind::Int(i64::from(codec::page_size(f.limit))))?;
    let rows = sqlx::query_with(AssertSqlSafe(sql), args).fetch_all(c).await.map_err(db)?;
    rows.iter().map(run_record).collect()
}

enum Bind {
    Text(String),
    Int(i64),
}

async fn retry(
    c: &mut SqliteConnection,
    run_id: String,
    version: Option<WorkflowVersion>,
    now: i64,
) -> StoreResult<RunRecord> {
    let Some(current) = run(&mut *c, &run_id).await? else {
        return Err(StoreError::NotFound(format!("run {run_id}")));
    };
    codec::check_retry(&current, version.as_ref())?;
    let version = version.unwrap_or(current.workflow);
    sqlx::query(
        "UPDATE runs SET status = 'queued', retries = retries + 1, finished_at = NULL, error = NULL,
             workflow_version = ?1, workflow_hash = ?2
         WHERE run_id = ?3",
    )
    .bind(i64::from(version.version))
    .bind(&version.hash)
    .bind(&run_id)
    .execute(&mut *c)
    .await
    .map_err(db)?;
    sqlx::query("DELETE FROM step_results WHERE run_id = ? AND status IN ('failed', 'skipped')")
        .bind(&run_id)
        .execute(&mut *c)
        .await
        .map_err(db)?;
    sqlx::query("INSERT INTO queue (run_id, due_at, lease_owner) VALUES (?, ?, NULL)")
        .bind(&run_id)
        .bind(now)
        .execute(&mut *c)
        .await
        .map_err(db)?;
    run(c, &run_id).await?.ok_or_else(|| StoreError::NotFound(format!("run {run_id}")))
}

impl RunStore for SqliteStore {
    fn run(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Option<RunRecord>>> {
        let run_id = run_id.to_owned();
        Box::pin(self.read(move |c| boxed(async move { run(c, &run_id).await })))
    }

    fn runs(&self, filter: RunFilter) -> BoxFuture<'_, StoreResult<Vec<RunRecord>>> {
        Box::pin(self.read(move |c| boxed(runs(c, filter))))
    }

    fn retry(&self, run_id: &str, version: Option<WorkflowVersion>, now: i64) -> BoxFuture<'_, StoreResult<RunRecord>> {
        let run_id = run_id.to_owned();
        Box::pin(async move {
            let record = self.write(move |c| boxed(retry(c, run_id, version, now))).await?;
            self.signal.notify();
            Ok(record)
        })
    }

    fn counts(&self) -> BoxFuture<'_, StoreResult<Vec<(RunStatus, u64)>>> {
        Box::pin(self.read(|c| {
            boxed(async move {
                let rows =
                    sqlx::query("SELECT status, COUNT(*) FROM runs GROUP BY status").fetch_all(c).await.map_err(db)?;
                let counted = rows
                    .iter()
                    .map(|r| {
                        let s: String = r.try_get(0).map_err(db)?;
                        let n: i64 = r.try_get(1).map_err(db)?;
                        Ok((codec::run_status(&s)?, n.max(0) as u64))
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(codec::all_counts(counted))
            })
        }))
    }
}
