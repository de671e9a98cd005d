//! Run history and retry on PostgreSQL.
//!
//! Runs are listed newest first by `seq` (an identity column: creation order)
//! with keyset paging, on the `(workflow_id, seq)` and `(status, seq)` indexes.

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{RunFilter, RunRecord, RunStatus, RunStore, StoreError, StoreResult, WorkflowVersion};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, AssertSqlSafe, PgConnection, Row};

use super::PostgresStore;
use super::steps::pg_int;
use crate::codec;
use crate::error::db;

/// The columns [`run_record`] reads, in order.
pub(super) const RUN_COLUMNS: &str = "run_id, event_id, workflow_id, workflow_version, workflow_hash, status, created_at, \
                           started_at, finished_at, error::text, retries";

pub(super) fn run_record(r: &PgRow) -> StoreResult<RunRecord> {
    let status: String = r.try_get(5).map_err(db)?;
    Ok(RunRecord {
        run_id: r.try_get(0).map_err(db)?,
        event_id: r.try_get(1).map_err(db)?,
        workflow: WorkflowVersion {
            workflow_id: r.try_get(2).map_err(db)?,
            version: codec::u32_of("workflow_version", i64::from(r.try_get::<i32, _>(3).map_err(db)?))?,
            hash: r.try_get(4).map_err(db)?,
        },
        status: codec::run_status(&status)?,
        created_at: r.try_get(6).map_err(db)?,
        started_at: r.try_get(7).map_err(db)?,
        finished_at: r.try_get(8).map_err(db)?,
        error: codec::parse_opt("run error", r.try_get(9).map_err(db)?)?,
        retries: codec::u32_of("retries", i64::from(r.try_get::<i32, _>(10).map_err(db)?))?,
    })
}

async fn run(c: &mut PgConnection, run_id: &str, lock: bool) -> StoreResult<Option<RunRecord>> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = $1{}", if lock { " FOR UPDATE" } else { "" });
    let row = sqlx::query(AssertSqlSafe(sql)).bind(run_id).fetch_optional(c).await.map_err(db)?;
    row.as_ref().map(run_record).transpose()
}

fn add<'q, T: sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    args: &mut PgArguments,
    value: T,
) -> StoreResult<usize> {
    args.add(value).map_err(|e| StoreError::Database(e.to_string()))?;
    Ok(args.len())
}

impl RunStore for PostgresStore {
    fn run(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Option<RunRecord>>> {
        let run_id = run_id.to_owned();
        Box::pin(async move {
            let mut c = self.pool.acquire().await.map_err(db)?;
            run(&mut c, &run_id, false).await
        })
    }

    fn runs(&self, f: RunFilter) -> BoxFuture<'_, StoreResult<Vec<RunRecord>>> {
        Box::pin(async move {
            let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE TRUE");
            let mut args = PgArguments::default();
            if let Some(w) = f.workflow_id {
                sql.push_str(&format!(" AND workflow_id = ${}", add(&mut args, w)?));
            }
            if let Some(s) = f.status {
                sql.push_str(&format!(" AND status = ${}", add(&mut args, s.as_str())?));
            }
            if let Some(t) = f.since {
                sql.push_str(&format!(" AND created_at >= ${}", add(&mut args, t)?));
            }
            if let Some(t) = f.until {
                sql.push_str(&format!(" AND created_at < ${}", add(&mut args, t)?));
            }
            if let Some(h) = f.subject {
                sql.push_str(&format!(
                    " AND run_id IN (SELECT run_id FROM subjects WHERE hash = ${})",
                    add(&mut args, h)?
                ));
            }
            if let Some(b) = f.before {
                sql.push_str(&format!(" AND seq < (SELECT seq FROM runs WHERE run_id = ${})", add(&mut args, b)?));
            }
            let limit = i64::from(codec::page_size(f.limit));
            sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", add(&mut args, limit)?));
            let rows = sqlx::query_with(AssertSqlSafe(sql), args).fetch_all(&self.pool).await.map_err(db)?;
            rows.iter().map(run_record).collect()
        })
    }

    fn retry(
        &self,
        run_id: &str,
        version: Option<WorkflowVersion>,
        rerun: Vec<String>,
        now: i64,
    ) -> BoxFuture<'_, StoreResult<RunRecord>> {
        let run_id = run_id.to_owned();
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(db)?;
            let Some(current) = run(&mut tx, &run_id, true).await? else {
                return Err(StoreError::NotFound(format!("run {run_id}")));
            };
            codec::check_retry(&current, version.as_ref())?;
            let version = version.unwrap_or(current.workflow);
            sqlx::query(
                "UPDATE runs SET status = 'queued', retries = retries + 1, finished_at = NULL, error = NULL,
                     workflow_version = $1, workflow_hash = $2
                 WHERE run_id = $3",
            )
            .bind(pg_int(version.version))
            .bind(&version.hash)
            .bind(&run_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            sqlx::query(
                "DELETE FROM step_results WHERE run_id = $1 AND (status IN ('failed', 'skipped') OR step_id = ANY($2))",
            )
            .bind(&run_id)
            .bind(&rerun)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            sqlx::query("INSERT INTO queue (run_id, due_at, lease_owner) VALUES ($1, $2, NULL)")
                .bind(&run_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            self.notify(&mut tx).await?;
            let record = run(&mut tx, &run_id, false).await?;
            tx.commit().await.map_err(db)?;
            record.ok_or_else(|| StoreError::NotFound(format!("run {run_id}")))
        })
    }

    fn counts(&self) -> BoxFuture<'_, StoreResult<Vec<(RunStatus, u64)>>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT status, COUNT(*) FROM runs GROUP BY status UNION ALL SELECT status, deleted FROM run_tallies",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
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
    }

    fn counts_since(&self, workflow_id: &str, since: i64) -> BoxFuture<'_, StoreResult<Vec<(RunStatus, u64)>>> {
        let workflow_id = workflow_id.to_owned();
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT status, COUNT(*) FROM runs WHERE workflow_id = $1 AND created_at >= $2 GROUP BY status",
            )
            .bind(&workflow_id)
            .bind(since)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
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
    }
}
