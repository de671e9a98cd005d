//! Step attempts and results on PostgreSQL. The executor's writes (pending
//! [`Progress`] with the write that follows it) go through the progress
//! writer (`progress`), which writes many runs' progress in one statement;
//! the per-call statements here are its fallback, one job per transaction,
//! and serve `end_attempt` and `record_result`.
//!
//! Binary values are kept once in `blobs` (by hash, on the same connection
//! before the row that holds them, with a `blob_refs` row per run that
//! refers to them, so erasure and retention can delete them); rows hold references (see
//! [`reqflow_engine::value::binary`]), and [`StepStore::results`] fills them in.
//!
//! A step's result that is one of its attempts' outputs names that attempt
//! (`step_results.attempt_id`) instead of storing the output again; reads
//! take the attempt's output (migration 0013).

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{
    AttemptEnd, AttemptRecord, AttemptWrite, NewAttempt, Progress, StepResult, StepStore, StoreError, StoreResult,
};
use reqflow_engine::value::binary::{self, Blob};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::PostgresStore;
use super::progress::{Answer, Tail};
use super::queue::unexpected;
use crate::codec;
use crate::error::db;

fn int(r: &PgRow, i: usize, what: &str) -> StoreResult<u32> {
    codec::u32_of(what, i64::from(r.try_get::<i32, _>(i).map_err(db)?))
}

fn attempt_record(r: &PgRow) -> StoreResult<AttemptRecord> {
    let input: String = r.try_get(6).map_err(db)?;
    Ok(AttemptRecord {
        id: r.try_get(0).map_err(db)?,
        step_id: r.try_get(1).map_err(db)?,
        item: r.try_get::<Option<i32>, _>(2).map_err(db)?.map(|i| codec::u32_of("item", i64::from(i))).transpose()?,
        attempt: int(r, 3, "attempt")?,
        round: int(r, 4, "round")?,
        status: r.try_get(5).map_err(db)?,
        input: codec::parse("attempt input", &input)?,
        output: codec::parse_opt("attempt output", r.try_get(7).map_err(db)?)?,
        error: codec::parse_opt("attempt error", r.try_get(8).map_err(db)?)?,
        started_at: r.try_get(9).map_err(db)?,
        finished_at: r.try_get(10).map_err(db)?,
    })
}

/// Whose row a stored value goes in: its run, directly or by an attempt's id.
#[derive(Clone, Copy)]
enum Owner<'a> {
    Run(&'a str),
    Attempt(i64),
}

async fn run_of(c: &mut PgConnection, owner: Owner<'_>) -> StoreResult<Option<String>> {
    match owner {
        Owner::Run(run_id) => Ok(Some(run_id.to_owned())),
        Owner::Attempt(id) => sqlx::query_scalar("SELECT run_id FROM attempts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *c)
            .await
            .map_err(db),
    }
}

/// JSON text of a value to store: its binary values' bytes go to `blobs`
/// (once per hash) with a `blob_refs` row naming the run, the text keeps
/// references. Nothing goes to `blobs` for a run that no longer exists.
async fn stored(c: &mut PgConnection, owner: Owner<'_>, v: &Value) -> StoreResult<String> {
    if !binary::contains_binary(v) {
        return Ok(codec::json(v));
    }
    let mut v = v.clone();
    let blobs = binary::take_blobs(&mut v);
    let Some(run_id) = run_of(c, owner).await? else {
        return Ok(codec::json(&v));
    };
    for b in blobs {
        // One statement: the reference and the bytes are written together
        // or not at all (the run's row locked against a concurrent erasure).
        sqlx::query(
            "WITH run AS (SELECT run_id FROM runs WHERE run_id = $6 FOR KEY SHARE),
                  r AS (INSERT INTO blob_refs (sha256, run_id) SELECT $1, run_id FROM run
                        ON CONFLICT (sha256, run_id) DO NOTHING)
             INSERT INTO blobs (sha256, content_type, size, data, created_at)
             SELECT $1, $2, $3, $4, $5 FROM run
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&b.sha256)
        .bind(&b.content_type)
        .bind(b.bytes.len() as i64)
        .bind(&b.bytes)
        .bind(reqflow_engine::runtime::clock::now_ms())
        .bind(&run_id)
        .execute(&mut *c)
        .await
        .map_err(db)?;
    }
    Ok(codec::json(&v))
}

async fn stored_opt(c: &mut PgConnection, owner: Owner<'_>, v: &Option<Value>) -> StoreResult<Option<String>> {
    match v {
        Some(v) => Ok(Some(stored(c, owner, v).await?)),
        None => Ok(None),
    }
}

/// Fills the references in `v` with their bytes from `blobs`.
async fn fill(pool: &sqlx::PgPool, v: &mut Value) -> StoreResult<()> {
    let refs = binary::references(v);
    if refs.is_empty() {
        return Ok(());
    }
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT sha256, data FROM blobs WHERE sha256 = ANY($1)")
        .bind(&refs)
        .fetch_all(pool)
        .await
        .map_err(db)?;
    let found: std::collections::HashMap<String, Vec<u8>> = rows.into_iter().collect();
    binary::fill_blobs(v, &|sha| found.get(sha).cloned());
    Ok(())
}

/// An `u32` as PostgreSQL's `integer` (values past `i32::MAX` are clamped).
pub(super) fn pg_int(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

pub(super) async fn start_attempt(c: &mut PgConnection, a: NewAttempt) -> StoreResult<i64> {
    let input = stored(c, Owner::Run(&a.run_id), &a.input).await?;
    sqlx::query_scalar(
        "INSERT INTO attempts (run_id, step_id, item, attempt, round, status, input, started_at)
         SELECT $1, $2, $3, $4, $5, 'running', $6::json, $7 WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = $1)
         RETURNING id",
    )
    .bind(a.run_id)
    .bind(a.step_id)
    .bind(a.item.map(pg_int))
    .bind(pg_int(a.attempt))
    .bind(pg_int(a.round))
    .bind(input)
    .bind(a.started_at)
    .fetch_one(c)
    .await
    .map_err(db)
}

async fn finish_attempt(c: &mut PgConnection, attempt_id: i64, end: AttemptEnd) -> StoreResult<()> {
    let output = stored_opt(c, Owner::Attempt(attempt_id), &end.output).await?;
    let done = sqlx::query(
        "UPDATE attempts SET status = $1, output = $2::json, error = $3::json, finished_at = $4 WHERE id = $5",
    )
    .bind(if end.succeeded { "succeeded" } else { "failed" })
    .bind(output)
    .bind(codec::json_opt(&end.error))
    .bind(end.finished_at)
    .bind(attempt_id)
    .execute(c)
    .await
    .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("attempt {attempt_id}")));
    }
    Ok(())
}

async fn insert_attempt(c: &mut PgConnection, a: NewAttempt, end: AttemptEnd) -> StoreResult<()> {
    let input = stored(c, Owner::Run(&a.run_id), &a.input).await?;
    let output = stored_opt(c, Owner::Run(&a.run_id), &end.output).await?;
    sqlx::query(
        "INSERT INTO attempts
           (run_id, step_id, item, attempt, round, status, input, output, error, started_at, finished_at)
         SELECT $1, $2, $3, $4, $5, $6, $7::json, $8::json, $9::json, $10, $11
         WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = $1)",
    )
    .bind(a.run_id)
    .bind(a.step_id)
    .bind(a.item.map(pg_int))
    .bind(pg_int(a.attempt))
    .bind(pg_int(a.round))
    .bind(if end.succeeded { "succeeded" } else { "failed" })
    .bind(input)
    .bind(output)
    .bind(codec::json_opt(&end.error))
    .bind(a.started_at)
    .bind(end.finished_at)
    .execute(c)
    .await
    .map_err(db)?;
    Ok(())
}

/// Records a step's result. When its output is, as stored text, the output
/// of one of the step's attempts (the usual case: the last one's), the row
/// names that attempt (`attempt_id`) instead of repeating the output.
async fn record_result(c: &mut PgConnection, r: StepResult) -> StoreResult<bool> {
    let output = stored_opt(c, Owner::Run(&r.run_id), &r.output).await?;
    let done = sqlx::query(
        "INSERT INTO step_results (run_id, step_id, status, output, attempt_id, error, finished_at)
         SELECT $1, $2, $3, CASE WHEN a.id IS NULL THEN $4::json END, a.id, $5::json, $6
         FROM (SELECT max(id) AS id FROM attempts WHERE run_id = $1 AND step_id = $2 AND output::text = $4) AS a
         WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = $1)
         ON CONFLICT (run_id, step_id) DO NOTHING",
    )
    .bind(r.run_id)
    .bind(r.step_id)
    .bind(r.status.as_str())
    .bind(output)
    .bind(codec::json_opt(&r.error))
    .bind(r.finished_at)
    .execute(c)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() == 1)
}

async fn end_attempt(c: &mut PgConnection, write: AttemptWrite, result: Option<StepResult>) -> StoreResult<bool> {
    match write {
        AttemptWrite::Started { id, end } => finish_attempt(c, id, end).await?,
        AttemptWrite::Whole { attempt, end } => insert_attempt(c, attempt, end).await?,
    }
    match result {
        Some(r) => record_result(c, r).await,
        None => Ok(false),
    }
}

/// Applies pending progress, in order, on `c` (the caller's transaction).
pub(super) async fn apply(c: &mut PgConnection, pending: Vec<Progress>) -> StoreResult<()> {
    for p in pending {
        match p {
            Progress::EndAttempt { write, result } => {
                end_attempt(c, write, result).await?;
            }
            Progress::Result(r) => {
                record_result(c, r).await?;
            }
        }
    }
    Ok(())
}

impl StepStore for PostgresStore {
    fn start_attempt(&self, a: NewAttempt) -> BoxFuture<'_, StoreResult<i64>> {
        self.start_attempt_after(Vec::new(), a)
    }

    fn finish_attempt(&self, attempt_id: i64, end: AttemptEnd) -> BoxFuture<'_, StoreResult<()>> {
        let write = AttemptWrite::Started { id: attempt_id, end };
        self.apply_progress(vec![Progress::EndAttempt { write, result: None }])
    }

    fn record_result(&self, r: StepResult) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(async move {
            let mut c = self.pool.acquire().await.map_err(db)?;
            record_result(&mut c, r).await
        })
    }

    fn end_attempt(&self, write: AttemptWrite, result: Option<StepResult>) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(async move {
            if result.is_none() {
                let mut c = self.pool.acquire().await.map_err(db)?;
                return end_attempt(&mut c, write, None).await;
            }
            let mut tx = self.pool.begin().await.map_err(db)?;
            let recorded = end_attempt(&mut tx, write, result).await?;
            tx.commit().await.map_err(db)?;
            Ok(recorded)
        })
    }

    fn apply_progress(&self, pending: Vec<Progress>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            if pending.is_empty() {
                return Ok(());
            }
            match self.progress.write(pending, Tail::None).await? {
                Answer::Done => Ok(()),
                other => Err(unexpected(other)),
            }
        })
    }

    fn start_attempt_after(&self, pending: Vec<Progress>, a: NewAttempt) -> BoxFuture<'_, StoreResult<i64>> {
        Box::pin(async move {
            match self.progress.write(pending, Tail::Start(a)).await? {
                Answer::Started(id) => Ok(id),
                other => Err(unexpected(other)),
            }
        })
    }

    fn results(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Vec<StepResult>>> {
        let run_id = run_id.to_owned();
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT s.step_id, s.status, COALESCE(s.output, a.output)::text, s.error::text, s.finished_at
                 FROM step_results AS s LEFT JOIN attempts AS a ON a.id = s.attempt_id
                 WHERE s.run_id = $1 ORDER BY s.finished_at, s.step_id",
            )
            .bind(&run_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
            let mut results = rows
                .iter()
                .map(|r| {
                    let status: String = r.try_get(1).map_err(db)?;
                    Ok(StepResult {
                        run_id: run_id.clone(),
                        step_id: r.try_get(0).map_err(db)?,
                        status: codec::step_status(&status)?,
                        output: codec::parse_opt("step output", r.try_get(2).map_err(db)?)?,
                        error: codec::parse_opt("step error", r.try_get(3).map_err(db)?)?,
                        finished_at: r.try_get(4).map_err(db)?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            for r in &mut results {
                if let Some(out) = &mut r.output {
                    fill(&self.pool, out).await?;
                }
            }
            Ok(results)
        })
    }

    fn blob(&self, sha256: &str) -> BoxFuture<'_, StoreResult<Option<Blob>>> {
        let sha = sha256.to_owned();
        Box::pin(async move {
            let row: Option<(String, Vec<u8>)> =
                sqlx::query_as("SELECT content_type, data FROM blobs WHERE sha256 = $1")
                    .bind(&sha)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db)?;
            Ok(row.map(|(content_type, bytes)| Blob { sha256: sha, content_type, bytes }))
        })
    }

    fn attempts(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Vec<AttemptRecord>>> {
        let run_id = run_id.to_owned();
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT id, step_id, item, attempt, round, status, input::text, output::text, error::text,
                        started_at, finished_at
                 FROM attempts WHERE run_id = $1 ORDER BY id",
            )
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
            rows.iter().map(attempt_record).collect()
        })
    }
}
