//! Run history and retry on SQLite.
//!
//! Runs are listed newest first by `seq` (the table's rowid, i.e. creation
//! order) with keyset paging, on the `(workflow_id, seq)` and `(status, seq)`
//! indexes.

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{RunFilter, RunRecord, RunStatus, RunStore, StoreError, StoreResult, WorkflowVersion};
use rusqlite::{Connection, OptionalExtension, ToSql};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{AssertSqlSafe, Row, SqliteConnection};

use super::{SqliteStore, boxed};
use crate::codec;
use crate::error::{db, sql};

/// The columns [`run_record`] reads, in order (from `runs`; the workflow's
/// hash through `workflow_hashes`, migration 0029).
pub(super) const RUN_COLUMNS: &str = "run_id, event_id, workflow_id, workflow_version, \
                           (SELECT h.hash FROM workflow_hashes AS h WHERE h.id = workflow_hash_id), status, created_at, \
                           started_at, finished_at, error, retries";

/// The `workflow_hashes` id of `hash` (a workflow's content hash), added
/// when new; runs name their workflow's hash by it (migration 0029). In the
/// writer's job that stores the run.
pub(super) fn workflow_hash_id(c: &Connection, hash: &str) -> StoreResult<i64> {
    let found: Option<i64> = c
        .prepare_cached("SELECT id FROM workflow_hashes WHERE hash = ?")
        .and_then(|mut s| s.query_row([hash], |r| r.get(0)).optional())
        .map_err(sql)?;
    if let Some(id) = found {
        return Ok(id);
    }
    c.prepare_cached("INSERT INTO workflow_hashes (hash) VALUES (?)")
        .and_then(|mut s| s.execute([hash]))
        .map_err(sql)?;
    Ok(c.last_insert_rowid())
}

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

pub(super) async fn run(c: &mut SqliteConnection, run_id: &str) -> StoreResult<Option<RunRecord>> {
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
    if let Some(h) = f.subject {
        bind(&mut sql, " AND run_id IN (SELECT run_id FROM subjects WHERE hash = ?)", Bind::Text(h))?;
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

/// A run as the writer sees it (inside its transaction).
fn run_in_writer(c: &Connection, run_id: &str) -> StoreResult<Option<RunRecord>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?")).map_err(sql)?;
    let mut rows = stmt.query([run_id]).map_err(sql)?;
    let Some(r) = rows.next().map_err(sql)? else { return Ok(None) };
    let status: String = r.get(5).map_err(sql)?;
    Ok(Some(RunRecord {
        run_id: r.get(0).map_err(sql)?,
        event_id: r.get(1).map_err(sql)?,
        workflow: WorkflowVersion {
            workflow_id: r.get(2).map_err(sql)?,
            version: codec::u32_of("workflow_version", r.get(3).map_err(sql)?)?,
            hash: r.get(4).map_err(sql)?,
        },
        status: codec::run_status(&status)?,
        created_at: r.get(6).map_err(sql)?,
        started_at: r.get(7).map_err(sql)?,
        finished_at: r.get(8).map_err(sql)?,
        error: codec::parse_opt("run error", r.get(9).map_err(sql)?)?,
        retries: codec::u32_of("retries", r.get(10).map_err(sql)?)?,
    }))
}

fn retry(
    c: &Connection,
    run_id: String,
    version: Option<WorkflowVersion>,
    rerun: Vec<String>,
    now: i64,
) -> StoreResult<RunRecord> {
    let Some(current) = run_in_writer(c, &run_id)? else {
        return Err(StoreError::NotFound(format!("run {run_id}")));
    };
    codec::check_retry(&current, version.as_ref())?;
    let version = version.unwrap_or(current.workflow);
    let hash_id = workflow_hash_id(c, &version.hash)?;
    let exec = |statement: &str, values: &[&dyn ToSql]| c.prepare_cached(statement).and_then(|mut s| s.execute(values));
    exec(
        "UPDATE runs SET status = 'queued', retries = retries + 1, finished_at = NULL, error = NULL,
             workflow_version = ?1, workflow_hash_id = ?2
         WHERE run_id = ?3",
        &[&i64::from(version.version), &hash_id, &run_id],
    )
    .map_err(sql)?;
    exec(
        "DELETE FROM step_results WHERE run_seq = (SELECT seq FROM runs WHERE run_id = ?)
           AND status IN ('failed', 'skipped')",
        &[&run_id],
    )
    .map_err(sql)?;
    if !rerun.is_empty() {
        exec(
            "DELETE FROM step_results WHERE run_seq = (SELECT seq FROM runs WHERE run_id = ?1)
               AND step_id IN (SELECT value FROM json_each(?2))",
            &[&run_id, &codec::id_list(&rerun)],
        )
        .map_err(sql)?;
    }
    exec("INSERT INTO queue (run_id, due_at, lease_owner) VALUES (?, ?, NULL)", &[&run_id, &now]).map_err(sql)?;
    run_in_writer(c, &run_id)?.ok_or_else(|| StoreError::NotFound(format!("run {run_id}")))
}

impl RunStore for SqliteStore {
    fn run(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Option<RunRecord>>> {
        let run_id = run_id.to_owned();
        Box::pin(self.read(move |c| boxed(async move { run(c, &run_id).await })))
    }

    fn runs(&self, filter: RunFilter) -> BoxFuture<'_, StoreResult<Vec<RunRecord>>> {
        Box::pin(self.read(move |c| boxed(runs(c, filter))))
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
            let record = self.write(move |c| retry(c, run_id, version, rerun, now)).await?;
            self.signal.notify();
            Ok(record)
        })
    }

    fn counts(&self) -> BoxFuture<'_, StoreResult<Vec<(RunStatus, u64)>>> {
        Box::pin(self.read(|c| {
            boxed(async move {
                let rows =
                    sqlx::query("SELECT status, COUNT(*) FROM runs GROUP BY status UNION ALL SELECT status, deleted FROM run_tallies").fetch_all(c).await.map_err(db)?;
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

    fn counts_since(&self, workflow_id: &str, since: i64) -> BoxFuture<'_, StoreResult<Vec<(RunStatus, u64)>>> {
        let workflow_id = workflow_id.to_owned();
        Box::pin(self.read(move |c| {
            boxed(async move {
                let rows = sqlx::query(
                    "SELECT status, COUNT(*) FROM runs WHERE workflow_id = ? AND created_at >= ? GROUP BY status",
                )
                .bind(&workflow_id)
                .bind(since)
                .fetch_all(c)
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
        }))
    }
}
