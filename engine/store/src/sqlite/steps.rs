//! Step attempts and results on SQLite: one small statement per call,
//! [`StepStore::end_attempt`] as one job of two statements (an attempt and
//! its step's result in the same commit), and the executor's pending
//! [`Progress`] applied in the same job as the write that follows it.
//!
//! Binary values are kept once in `blobs` (by hash, in the same job as the
//! row that holds them, with a `blob_refs` row per run that refers to them,
//! so erasure and retention can delete them); rows hold references (see
//! [`reqflow_engine::value::binary`]), and [`StepStore::results`] fills them in.
//!
//! A step's result that is one of its attempts' outputs names that attempt
//! (`step_results.attempt_id`) instead of storing the output again; reads
//! take the attempt's output (migration 0013). Both name their run by its
//! integer key (`run_seq`: `runs.seq`, migration 0022), looked up from the
//! run's id in the statement that writes or reads them.

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{
    AttemptEnd, AttemptRecord, AttemptWrite, NewAttempt, Progress, StepResult, StepStore, StoreError, StoreResult,
};
use reqflow_engine::value::binary::{self, Blob};
use rusqlite::{Connection, params};
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::writer::{WriteFn, Writer};
use super::{SqliteStore, boxed, run_dictionary};
use crate::codec;
use crate::error::{db, sql};
use crate::packed::{self, RunDictionary, StoredJson};

/// An attempt row as read: its values still in their stored form (decoded
/// with the run's dictionary, [`run_dictionary::for_reading`]).
struct AttemptRow {
    record: AttemptRecord,
    input: Vec<u8>,
    output: Option<Vec<u8>>,
}

fn attempt_row(r: &SqliteRow) -> StoreResult<AttemptRow> {
    Ok(AttemptRow {
        record: AttemptRecord {
            id: r.try_get(0).map_err(db)?,
            step_id: r.try_get(1).map_err(db)?,
            item: r.try_get::<Option<i64>, _>(2).map_err(db)?.map(|i| codec::u32_of("item", i)).transpose()?,
            attempt: codec::u32_of("attempt", r.try_get(3).map_err(db)?)?,
            round: codec::u32_of("round", r.try_get(4).map_err(db)?)?,
            status: r.try_get(5).map_err(db)?,
            input: Value::Null,
            output: None,
            error: codec::parse_opt("attempt error", r.try_get(8).map_err(db)?)?,
            started_at: r.try_get(9).map_err(db)?,
            finished_at: r.try_get(10).map_err(db)?,
        },
        input: r.try_get(6).map_err(db)?,
        output: r.try_get(7).map_err(db)?,
    })
}

fn attempt_record(row: AttemptRow, run: &RunDictionary) -> StoreResult<AttemptRecord> {
    let input = packed::json_text_of_run("attempt input", row.input, run)?;
    let output = packed::json_text_of_run_opt("attempt output", row.output, run)?;
    Ok(AttemptRecord {
        input: codec::parse("attempt input", &input)?,
        output: codec::parse_opt("attempt output", output)?,
        ..row.record
    })
}

/// A step result row as read, its output still in its stored form.
struct ResultRow {
    result: StepResult,
    output: Option<Vec<u8>>,
}

fn result_row(run_id: &str, r: &SqliteRow) -> StoreResult<ResultRow> {
    let status: String = r.try_get(1).map_err(db)?;
    Ok(ResultRow {
        result: StepResult {
            run_id: run_id.to_owned(),
            step_id: r.try_get(0).map_err(db)?,
            status: codec::step_status(&status)?,
            output: None,
            error: codec::parse_opt("step error", r.try_get(3).map_err(db)?)?,
            finished_at: r.try_get(4).map_err(db)?,
        },
        output: r.try_get(2).map_err(db)?,
    })
}

fn step_result(row: ResultRow, run: &RunDictionary) -> StoreResult<StepResult> {
    let output = packed::json_text_of_run_opt("step output", row.output, run)?;
    Ok(StepResult { output: codec::parse_opt("step output", output)?, ..row.result })
}

/// Whose row a stored value goes in: its run, directly or by an attempt's id.
#[derive(Clone, Copy)]
enum Owner<'a> {
    Run(&'a str),
    Attempt(i64),
}

fn run_of(c: &Connection, owner: Owner<'_>) -> StoreResult<Option<String>> {
    match owner {
        Owner::Run(run_id) => Ok(Some(run_id.to_owned())),
        Owner::Attempt(id) => {
            match c
                .prepare_cached("SELECT r.run_id FROM attempts AS a JOIN runs AS r ON r.seq = a.run_seq WHERE a.id = ?")
                .and_then(|mut s| s.query_row([id], |r| r.get(0)))
            {
                Ok(run_id) => Ok(Some(run_id)),
                Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
                Err(e) => Err(sql(e)),
            }
        }
    }
}

/// A value to store, as JSON text packed when that is smaller
/// ([`crate::packed`], with the run's dictionary when it has one): its
/// binary values' bytes go to `blobs`
/// (once per hash) with a `blob_refs` row naming the run, the text keeps
/// references. Nothing goes to `blobs` for a run that no longer exists
/// (erased: its row is not written either).
fn stored(c: &Connection, owner: Owner<'_>, v: &Value) -> StoreResult<StoredJson> {
    let Some(run_id) = run_of(c, owner)? else {
        return Ok(packed::pack_json(codec::json(v)));
    };
    let run = run_dictionary::in_writer(c, &run_id)?;
    if !binary::contains_binary(v) {
        return Ok(packed::pack_json_of_run(codec::json(v), &run));
    }
    let mut v = v.clone();
    for b in binary::take_blobs(&mut v) {
        keep_blob(c, &run_id, &b)?;
    }
    Ok(packed::pack_json_of_run(codec::json(&v), &run))
}

fn stored_opt(c: &Connection, owner: Owner<'_>, v: &Option<Value>) -> StoreResult<Option<StoredJson>> {
    v.as_ref().map(|v| stored(c, owner, v)).transpose()
}

fn keep_blob(c: &Connection, run_id: &str, b: &Blob) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO blobs (sha256, content_type, size, data, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?6)
         ON CONFLICT (sha256) DO NOTHING",
    )
    .and_then(|mut s| {
        s.execute(params![
            b.sha256,
            b.content_type,
            b.bytes.len() as i64,
            b.bytes,
            reqflow_engine::runtime::clock::now_ms(),
            run_id
        ])
    })
    .map_err(sql)?;
    c.prepare_cached(
        "INSERT INTO blob_refs (sha256, run_id)
         SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?2)
         ON CONFLICT (sha256, run_id) DO NOTHING",
    )
    .and_then(|mut s| s.execute(params![b.sha256, run_id]))
    .map_err(sql)?;
    Ok(())
}

/// Fills the references in `v` with their bytes from `blobs`.
async fn fill(c: &mut sqlx::SqliteConnection, v: &mut Value) -> StoreResult<()> {
    let refs = binary::references(v);
    if refs.is_empty() {
        return Ok(());
    }
    let mut found = std::collections::HashMap::new();
    for sha in refs {
        let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT data FROM blobs WHERE sha256 = ?")
            .bind(&sha)
            .fetch_optional(&mut *c)
            .await
            .map_err(db)?;
        if let Some((bytes,)) = row {
            found.insert(sha, bytes);
        }
    }
    binary::fill_blobs(v, &|sha| found.get(sha).cloned());
    Ok(())
}

fn status(end: &AttemptEnd) -> &'static str {
    if end.succeeded { "succeeded" } else { "failed" }
}

fn finish_attempt(c: &Connection, attempt_id: i64, end: AttemptEnd) -> StoreResult<()> {
    let output = stored_opt(c, Owner::Attempt(attempt_id), &end.output)?;
    let done = c
        .prepare_cached("UPDATE attempts SET status = ?, output = ?, error = ?, finished_at = ? WHERE id = ?")
        .and_then(|mut s| {
            s.execute(params![status(&end), output, codec::json_opt(&end.error), end.finished_at, attempt_id])
        })
        .map_err(sql)?;
    if done == 0 {
        return Err(StoreError::NotFound(format!("attempt {attempt_id}")));
    }
    Ok(())
}

/// An attempt recorded whole, when it ended.
fn insert_attempt(c: &Connection, a: NewAttempt, end: AttemptEnd) -> StoreResult<()> {
    let owner = Owner::Run(&a.run_id);
    let (input, output) = (stored(c, owner, &a.input)?, stored_opt(c, owner, &end.output)?);
    c.prepare_cached(
        "INSERT INTO attempts
           (run_seq, step_id, item, attempt, round, status, input, output, error, started_at, finished_at)
         SELECT seq, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 FROM runs WHERE run_id = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            a.run_id,
            a.step_id,
            a.item.map(i64::from),
            i64::from(a.attempt),
            i64::from(a.round),
            status(&end),
            input,
            output,
            codec::json_opt(&end.error),
            a.started_at,
            end.finished_at
        ])
    })
    .map_err(sql)?;
    Ok(())
}

fn start_attempt(c: &Connection, a: NewAttempt) -> StoreResult<i64> {
    let input = stored(c, Owner::Run(&a.run_id), &a.input)?;
    c.prepare_cached(
        "INSERT INTO attempts (run_seq, step_id, item, attempt, round, status, input, started_at)
         SELECT seq, ?2, ?3, ?4, ?5, 'running', ?6, ?7 FROM runs WHERE run_id = ?1
         RETURNING id",
    )
    .and_then(|mut s| {
        s.query_row(
            params![
                a.run_id,
                a.step_id,
                a.item.map(i64::from),
                i64::from(a.attempt),
                i64::from(a.round),
                input,
                a.started_at
            ],
            |r| r.get(0),
        )
    })
    .map_err(|e| match e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound(format!("run {} (erased)", a.run_id)),
        e => sql(e),
    })
}

fn end_attempt(c: &Connection, write: AttemptWrite, result: Option<StepResult>) -> StoreResult<bool> {
    match write {
        AttemptWrite::Started { id, end } => finish_attempt(c, id, end)?,
        AttemptWrite::Whole { attempt, end } => insert_attempt(c, attempt, end)?,
    }
    match result {
        Some(r) => record_result(c, r),
        None => Ok(false),
    }
}

/// Applies `pending`, then `f`, in one progress job of the writer: all of it
/// or nothing. `f_is_one_statement` as for [`Writer::progress`].
pub(super) async fn after_pending<T: Send + 'static>(
    writer: &Writer,
    pending: Vec<Progress>,
    f: impl WriteFn<T>,
    f_is_one_statement: bool,
) -> StoreResult<T> {
    let one = f_is_one_statement && pending.is_empty();
    writer
        .progress(
            move |c| {
                apply(c, pending)?;
                f(c)
            },
            one,
        )
        .await
}

/// Applies pending progress, in order, inside the caller's job (whose
/// savepoint undoes all of it if a statement fails).
pub(super) fn apply(c: &Connection, pending: Vec<Progress>) -> StoreResult<()> {
    for p in pending {
        match p {
            Progress::EndAttempt { write, result } => {
                end_attempt(c, write, result)?;
            }
            Progress::Result(r) => {
                record_result(c, r)?;
            }
        }
    }
    Ok(())
}

/// Records a step's result. When its output is, as stored text, the output
/// of one of the step's attempts (the usual case: the last one's), the row
/// names that attempt (`attempt_id`) instead of repeating the output.
fn record_result(c: &Connection, r: StepResult) -> StoreResult<bool> {
    let output = stored_opt(c, Owner::Run(&r.run_id), &r.output)?;
    let done = c
        .prepare_cached(
            "INSERT INTO step_results (run_seq, step_id, status, output, attempt_id, error, finished_at)
             SELECT r.seq, ?2, ?3, CASE WHEN a.id IS NULL THEN ?4 END, a.id, ?5, ?6
             FROM runs AS r, (SELECT max(x.id) AS id FROM attempts AS x
                              WHERE x.run_seq = (SELECT seq FROM runs WHERE run_id = ?1)
                                AND x.step_id = ?2 AND x.output = ?4) AS a
             WHERE r.run_id = ?1
             ON CONFLICT (run_seq, step_id) DO NOTHING",
        )
        .and_then(|mut s| {
            s.execute(params![r.run_id, r.step_id, r.status.as_str(), output, codec::json_opt(&r.error), r.finished_at])
        })
        .map_err(sql)?;
    Ok(done == 1)
}

impl StepStore for SqliteStore {
    fn start_attempt(&self, a: NewAttempt) -> BoxFuture<'_, StoreResult<i64>> {
        Box::pin(self.progress(move |c| start_attempt(c, a), true))
    }

    fn finish_attempt(&self, attempt_id: i64, end: AttemptEnd) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.progress(move |c| finish_attempt(c, attempt_id, end), true))
    }

    fn record_result(&self, r: StepResult) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(self.progress(move |c| record_result(c, r), true))
    }

    fn end_attempt(&self, write: AttemptWrite, result: Option<StepResult>) -> BoxFuture<'_, StoreResult<bool>> {
        // One job without a savepoint of its own: only its first statement can
        // fail on its own (an unknown attempt id), and then nothing is written
        // yet; the result's insert cannot conflict (`DO NOTHING`).
        Box::pin(self.progress(move |c| end_attempt(c, write, result), true))
    }

    fn apply_progress(&self, pending: Vec<Progress>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            if pending.is_empty() {
                return Ok(());
            }
            let one = pending.len() == 1;
            self.progress(move |c| apply(c, pending), one).await
        })
    }

    fn start_attempt_after(&self, pending: Vec<Progress>, a: NewAttempt) -> BoxFuture<'_, StoreResult<i64>> {
        Box::pin(after_pending(&self.writer, pending, move |c| start_attempt(c, a), true))
    }

    fn results(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Vec<StepResult>>> {
        let run_id = run_id.to_owned();
        Box::pin(self.read(move |c| {
            boxed(async move {
                let rows = sqlx::query(
                    "SELECT s.step_id, s.status, COALESCE(s.output, a.output), s.error, s.finished_at
                     FROM step_results AS s LEFT JOIN attempts AS a ON a.id = s.attempt_id
                     WHERE s.run_seq = (SELECT seq FROM runs WHERE run_id = ?) ORDER BY s.finished_at, s.step_id",
                )
                .bind(&run_id)
                .fetch_all(&mut *c)
                .await
                .map_err(db)?;
                let rows = rows.iter().map(|r| result_row(&run_id, r)).collect::<StoreResult<Vec<_>>>()?;
                let needed = rows.iter().any(|r| r.output.as_deref().is_some_and(packed::needs_run_dictionary));
                let run = run_dictionary::for_reading(&mut *c, &run_id, needed).await?;
                let mut results = rows.into_iter().map(|r| step_result(r, &run)).collect::<StoreResult<Vec<_>>>()?;
                for r in &mut results {
                    if let Some(out) = &mut r.output {
                        fill(c, out).await?;
                    }
                }
                Ok(results)
            })
        }))
    }

    fn blob(&self, sha256: &str) -> BoxFuture<'_, StoreResult<Option<Blob>>> {
        let sha = sha256.to_owned();
        Box::pin(self.read(move |c| {
            boxed(async move {
                let row: Option<(String, Vec<u8>)> =
                    sqlx::query_as("SELECT content_type, data FROM blobs WHERE sha256 = ?")
                        .bind(&sha)
                        .fetch_optional(c)
                        .await
                        .map_err(db)?;
                Ok(row.map(|(content_type, bytes)| Blob { sha256: sha, content_type, bytes }))
            })
        }))
    }

    fn attempts(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Vec<AttemptRecord>>> {
        let run_id = run_id.to_owned();
        Box::pin(self.read(move |c| {
            boxed(async move {
                let rows = sqlx::query(
                    "SELECT id, step_id, item, attempt, round, status, input, output, error, started_at, finished_at
                     FROM attempts WHERE run_seq = (SELECT seq FROM runs WHERE run_id = ?) ORDER BY id",
                )
                .bind(&run_id)
                .fetch_all(&mut *c)
                .await
                .map_err(db)?;
                let rows = rows.iter().map(attempt_row).collect::<StoreResult<Vec<_>>>()?;
                let needed = rows.iter().any(|r| {
                    packed::needs_run_dictionary(&r.input)
                        || r.output.as_deref().is_some_and(packed::needs_run_dictionary)
                });
                let run = run_dictionary::for_reading(c, &run_id, needed).await?;
                rows.into_iter().map(|r| attempt_record(r, &run)).collect()
            })
        }))
    }
}
