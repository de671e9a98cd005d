//! Step attempts and results on SQLite: one small statement per call, and
//! [`StepStore::end_attempt`] as one job of two statements (an attempt and
//! its step's result in the same commit).

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{
    AttemptEnd, AttemptRecord, AttemptWrite, NewAttempt, StepResult, StepStore, StoreError, StoreResult,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::{SqliteStore, boxed};
use crate::codec;
use crate::error::db;

fn attempt_record(r: &SqliteRow) -> StoreResult<AttemptRecord> {
    let input: String = r.try_get(6).map_err(db)?;
    Ok(AttemptRecord {
        id: r.try_get(0).map_err(db)?,
        step_id: r.try_get(1).map_err(db)?,
        item: r.try_get::<Option<i64>, _>(2).map_err(db)?.map(|i| codec::u32_of("item", i)).transpose()?,
        attempt: codec::u32_of("attempt", r.try_get(3).map_err(db)?)?,
        round: codec::u32_of("round", r.try_get(4).map_err(db)?)?,
        status: r.try_get(5).map_err(db)?,
        input: codec::parse("attempt input", &input)?,
        output: codec::parse_opt("attempt output", r.try_get(7).map_err(db)?)?,
        error: codec::parse_opt("attempt error", r.try_get(8).map_err(db)?)?,
        started_at: r.try_get(9).map_err(db)?,
        finished_at: r.try_get(10).map_err(db)?,
    })
}

fn step_result(run_id: &str, r: &SqliteRow) -> StoreResult<StepResult> {
    let status: String = r.try_get(1).map_err(db)?;
    Ok(StepResult {
        run_id: run_id.to_owned(),
        step_id: r.try_get(0).map_err(db)?,
        status: codec::step_status(&status)?,
        output: codec::parse_opt("step output", r.try_get(2).map_err(db)?)?,
        error: codec::parse_opt("step error", r.try_get(3).map_err(db)?)?,
        finished_at: r.try_get(4).map_err(db)?,
    })
}

fn status(end: &AttemptEnd) -> &'static str {
    if end.succeeded { "succeeded" } else { "failed" }
}

async fn finish_attempt(c: &mut SqliteConnection, attempt_id: i64, end: AttemptEnd) -> StoreResult<()> {
    let done = sqlx::query("UPDATE attempts SET status = ?, output = ?, error = ?, finished_at = ? WHERE id = ?")
        .bind(status(&end))
        .bind(codec::json_opt(&end.output))
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

/// An attempt recorded whole, when it ended.
async fn insert_attempt(c: &mut SqliteConnection, a: NewAttempt, end: AttemptEnd) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO attempts
           (run_id, step_id, item, attempt, round, status, input, output, error, started_at, finished_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(a.run_id)
    .bind(a.step_id)
    .bind(a.item.map(i64::from))
    .bind(i64::from(a.attempt))
    .bind(i64::from(a.round))
    .bind(status(&end))
    .bind(codec::json(&a.input))
    .bind(codec::json_opt(&end.output))
    .bind(codec::json_opt(&end.error))
    .bind(a.started_at)
    .bind(end.finished_at)
    .execute(c)
    .await
    .map_err(db)?;
    Ok(())
}

async fn record_result(c: &mut SqliteConnection, r: StepResult) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO step_results (run_id, step_id, status, output, error, finished_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, step_id) DO NOTHING",
    )
    .bind(r.run_id)
    .bind(r.step_id)
    .bind(r.status.as_str())
    .bind(codec::json_opt(&r.output))
    .bind(codec::json_opt(&r.error))
    .bind(r.finished_at)
    .execute(c)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() == 1)
}

impl StepStore for SqliteStore {
    fn start_attempt(&self, a: NewAttempt) -> BoxFuture<'_, StoreResult<i64>> {
        Box::pin(self.progress(
            move |c| {
                boxed(async move {
                    sqlx::query_scalar(
                        "INSERT INTO attempts (run_id, step_id, item, attempt, round, status, input, started_at)
                     VALUES (?, ?, ?, ?, ?, 'running', ?, ?) RETURNING id",
                    )
                    .bind(a.run_id)
                    .bind(a.step_id)
                    .bind(a.item.map(i64::from))
                    .bind(i64::from(a.attempt))
                    .bind(i64::from(a.round))
                    .bind(codec::json(&a.input))
                    .bind(a.started_at)
                    .fetch_one(c)
                    .await
                    .map_err(db)
                })
            },
            true,
        ))
    }

    fn finish_attempt(&self, attempt_id: i64, end: AttemptEnd) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.progress(move |c| boxed(finish_attempt(c, attempt_id, end)), true))
    }

    fn record_result(&self, r: StepResult) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(self.progress(move |c| boxed(record_result(c, r)), true))
    }

    fn end_attempt(&self, write: AttemptWrite, result: Option<StepResult>) -> BoxFuture<'_, StoreResult<bool>> {
        // One job without a savepoint of its own: only its first statement can
        // fail on its own (an unknown attempt id), and then nothing is written
        // yet; the result's insert cannot conflict (`DO NOTHING`).
        Box::pin(self.progress(
            move |c| {
                boxed(async move {
                    match write {
                        AttemptWrite::Started { id, end } => finish_attempt(&mut *c, id, end).await?,
                        AttemptWrite::Whole { attempt, end } => insert_attempt(&mut *c, attempt, end).await?,
                    }
                    match result {
                        Some(r) => record_result(c, r).await,
                        None => Ok(false),
                    }
                })
            },
            true,
        ))
    }

    fn results(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Vec<StepResult>>> {
        let run_id = run_id.to_owned();
        Box::pin(self.read(move |c| {
            boxed(async move {
                let rows = sqlx::query(
                    "SELECT step_id, status, output, error, finished_at FROM step_results
                     WHERE run_id = ? ORDER BY finished_at, step_id",
                )
                .bind(&run_id)
                .fetch_all(c)
                .await
                .map_err(db)?;
                rows.iter().map(|r| step_result(&run_id, r)).collect()
            })
        }))
    }

    fn attempts(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Vec<AttemptRecord>>> {
        let run_id = run_id.to_owned();
        Box::pin(self.read(move |c| {
            boxed(async move {
                let rows = sqlx::query(
                    "SELECT id, step_id, item, attempt, round, status, input, output, error, started_at, finished_at
                     FROM attempts WHERE run_id = ? ORDER BY id",
                )
                .bind(run_id)
                .fetch_all(c)
                .await
                .map_err(db)?;
                rows.iter().map(attempt_record).collect()
            })
        }))
    }
}
