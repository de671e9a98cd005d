//! Run progress on PostgreSQL, written in groups: one statement for many runs.
//!
//! Like the SQLite writer (`sqlite/writer.rs`), every progress write of a
//! store handle — pending attempt ends and step results, plus what follows
//! them: an attempt's start, the run's end or its requeue — is a job sent to
//! a channel. A few writer tasks (each with its own connection) take the first
//! job waiting and every other one already queued (up to [`MAX_GROUP`]) and
//! write the whole group in **one statement**: each table is written by one
//! `UNNEST` of arrays in a data-modifying CTE, so a group of one job or of two
//! hundred costs one round trip, one parse of cached plans and one commit.
//! Callers hear back once that statement has committed.
//!
//! Durability: the writers' connections (and the claims' and heartbeats',
//! see [`super::PostgresStore`]) run with `synchronous_commit = off`: a
//! progress write is committed (visible to every process, and safe when the
//! reqflow process dies) before its caller hears back, but its WAL is flushed
//! to disk by the server's WAL writer within `3 × wal_writer_delay` (600 ms by
//! default) instead of before the answer. That is the guarantee the SQLite
//! store gives progress (`synchronous=NORMAL` in WAL mode: committed to the WAL,
//! no fsync of its own): a power loss — or, on PostgreSQL, a crash of the
//! database server itself — can undo the last moments of progress, and the
//! runtime then redoes those steps (steps are at-least-once). The WAL is one
//! sequence, so every later synchronous commit (an accept) flushes the
//! progress before it too, and nothing durable can depend on progress that
//! was lost. Accepted events and every other write keep `synchronous_commit =
//! on`: they are on disk before the answer.
//!
//! A group whose statement fails is written again job by job, each in its own
//! transaction with the per-job statements of `steps` and `queue`, so one bad
//! job fails alone. Jobs with binary values (their bytes go to `blobs` first)
//! always take that path.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use reqflow_engine::store::{
    AttemptEnd, AttemptWrite, NewAttempt, Progress, RunOutcome, StepResult, StoreError, StoreResult,
};
use reqflow_engine::value::binary;
use sqlx::postgres::PgPool;
use sqlx::{Connection, Row};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::steps::pg_int;
use super::{notify, queue, steps};
use crate::codec;
use crate::error::db;

/// Most jobs written in one statement.
const MAX_GROUP: usize = 256;

/// Jobs waiting for a writer before senders wait (back-pressure).
const QUEUE: usize = 4096;

/// Target size of one statement's message; a group larger than this is
/// written in several statements. (It was 12 KiB while sqlx set no
/// `TCP_NODELAY` and larger messages met 40 ms Nagle stalls; sqlx 0.9.1
/// sets it, and a statement per 12 KiB cut a full-speed group into pieces
/// of about five runs.)
const MESSAGE_BYTES: usize = 1024 * 1024;

/// What follows a job's pending progress.
pub(super) enum Tail {
    /// Nothing: the progress alone.
    None,
    /// An attempt starts; the answer is its id.
    Start(NewAttempt),
    /// The run ends (if this worker still holds it).
    Finish { worker: String, run_id: String, outcome: RunOutcome },
    /// The run goes back to the queue, due at `available_at`.
    Requeue { worker: String, run_id: String, available_at: i64 },
}

/// The answer to a job.
#[derive(Debug)]
pub(super) enum Answer {
    /// [`Tail::None`].
    Done,
    /// [`Tail::Start`]: the attempt's id.
    Started(i64),
    /// [`Tail::Finish`]: whether the run was still held (and is now finished).
    Finished(bool),
    /// [`Tail::Requeue`].
    Requeued,
}

struct Job {
    pending: Vec<Progress>,
    tail: Tail,
    reply: oneshot::Sender<StoreResult<Answer>>,
}

impl Job {
    /// Whether a value of the job holds binary values (written through `blobs`).
    fn has_binary(&self) -> bool {
        let result = |r: &StepResult| r.output.as_ref().is_some_and(binary::contains_binary);
        let pending = self.pending.iter().any(|p| match p {
            Progress::Result(r) => result(r),
            Progress::EndAttempt { write, result: r } => {
                let end = match write {
                    AttemptWrite::Started { end, .. } => end,
                    AttemptWrite::Whole { attempt, end } => {
                        if binary::contains_binary(&attempt.input) {
                            return true;
                        }
                        end
                    }
                };
                end.output.as_ref().is_some_and(binary::contains_binary) || r.as_ref().is_some_and(result)
            }
        });
        pending || matches!(&self.tail, Tail::Start(a) if binary::contains_binary(&a.input))
    }
}

/// The sending side of the writers; they stop when every handle is gone.
#[derive(Clone, Debug)]
pub(super) struct ProgressWriter {
    tx: mpsc::Sender<Job>,
}

impl ProgressWriter {
    /// Starts `writers` writer tasks on `pool` (the progress pool: its
    /// connections run with `synchronous_commit = off`). `channel` is where
    /// requeues notify workers.
    pub fn spawn(pool: PgPool, channel: String, writers: usize) -> ProgressWriter {
        let (tx, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..writers.max(1) {
            tokio::spawn(run(rx.clone(), pool.clone(), channel.clone()));
        }
        ProgressWriter { tx }
    }

    /// Writes `pending` and `tail` in the next group; answers once committed.
    pub async fn write(&self, pending: Vec<Progress>, tail: Tail) -> StoreResult<Answer> {
        if let Tail::Finish { outcome, .. } = &tail {
            codec::check_outcome(outcome)?;
        }
        let (reply, answer) = oneshot::channel();
        self.tx.send(Job { pending, tail, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Database("the PostgreSQL progress writer stopped".to_owned())
}

async fn run(rx: Arc<Mutex<mpsc::Receiver<Job>>>, pool: PgPool, channel: String) {
    loop {
        let group = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut group = Vec::with_capacity(16);
            group.push(first);
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            group
        };
        write_group(&pool, &channel, group).await;
    }
}

/// Writes a group: the jobs with binary values one by one, the others in
/// statements of at most about [`MESSAGE_BYTES`] (one by one if a statement fails).
async fn write_group(pool: &PgPool, channel: &str, group: Vec<Job>) {
    let (alone, batched): (Vec<Job>, Vec<Job>) = group.into_iter().partition(Job::has_binary);
    for job in alone {
        write_alone(pool, channel, job).await;
    }
    let mut chunk = Vec::new();
    let mut arrays = Arrays::default();
    for job in batched {
        arrays.push(&job);
        chunk.push(job);
        if arrays.bytes >= MESSAGE_BYTES {
            write_chunk(pool, channel, std::mem::take(&mut chunk), std::mem::take(&mut arrays)).await;
        }
    }
    if !chunk.is_empty() {
        write_chunk(pool, channel, chunk, arrays).await;
    }
}

/// Writes `chunk` (whose rows are `arrays`) in one statement.
async fn write_chunk(pool: &PgPool, channel: &str, chunk: Vec<Job>, arrays: Arrays) {
    match arrays.execute(pool).await {
        Ok(outcome) => {
            if outcome.requeued.iter().any(|&j| j) {
                // The requeues are committed: wake the workers (of every process).
                let notified = match pool.acquire().await {
                    Ok(mut c) => notify(&mut c, channel).await,
                    Err(e) => Err(db(e)),
                };
                if let Err(e) = notified {
                    tracing::warn!(error = %e, "could not notify workers of requeued runs; they will see them at their next poll");
                }
            }
            for (i, job) in chunk.into_iter().enumerate() {
                let answer = outcome.answer(i, &job);
                let _ = job.reply.send(answer);
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, jobs = chunk.len(), "a progress group failed; writing its jobs one by one");
            for job in chunk {
                write_alone(pool, channel, job).await;
            }
        }
    }
}

/// One job in its own transaction, with the per-job statements.
async fn write_alone(pool: &PgPool, channel: &str, job: Job) {
    let Job { pending, tail, reply } = job;
    let answer = async {
        let mut c = pool.acquire().await.map_err(db)?;
        let mut tx = c.begin().await.map_err(db)?;
        steps::apply(&mut tx, pending).await?;
        let answer = match tail {
            Tail::None => Answer::Done,
            Tail::Start(a) => Answer::Started(steps::start_attempt(&mut tx, a).await?),
            Tail::Finish { worker, run_id, outcome } => {
                Answer::Finished(queue::finish(&mut tx, &worker, &run_id, outcome).await?)
            }
            Tail::Requeue { worker, run_id, available_at } => {
                queue::requeue(&mut tx, &worker, &run_id, available_at).await?;
                notify(&mut tx, channel).await?;
                Answer::Requeued
            }
        };
        tx.commit().await.map_err(db)?;
        Ok(answer)
    }
    .await;
    let _ = reply.send(answer);
}

/// What the group statement reported, by job index.
struct Outcome {
    /// Attempts whose end was written.
    ended: HashSet<i64>,
    /// Ids of started attempts.
    started: HashMap<usize, i64>,
    /// Whether the job's run was finished / requeued.
    finished: Vec<bool>,
    requeued: Vec<bool>,
}

impl Outcome {
    fn answer(&self, i: usize, job: &Job) -> StoreResult<Answer> {
        for p in &job.pending {
            if let Progress::EndAttempt { write: AttemptWrite::Started { id, .. }, .. } = p
                && !self.ended.contains(id)
            {
                return Err(StoreError::NotFound(format!("attempt {id}")));
            }
        }
        Ok(match &job.tail {
            Tail::None => Answer::Done,
            Tail::Start(a) => match self.started.get(&i) {
                Some(id) => Answer::Started(*id),
                None => return Err(StoreError::NotFound(format!("run {}", a.run_id))),
            },
            Tail::Finish { .. } => Answer::Finished(self.finished[i]),
            Tail::Requeue { run_id, .. } => {
                if !self.requeued[i] {
                    return Err(StoreError::Conflict(format!("run {run_id} is not held by this worker")));
                }
                Answer::Requeued
            }
        })
    }
}

/// A group's rows, one array per column, per table.
#[derive(Default)]
struct Arrays {
    jobs: usize,
    /// About the size of the statement's message so far.
    bytes: usize,
    // Ends of attempts recorded when they started.
    end_id: Vec<i64>,
    end_status: Vec<&'static str>,
    end_output: Vec<Option<String>>,
    end_error: Vec<Option<String>>,
    end_at: Vec<i64>,
    // New attempt rows, whole (ended) or started, in order.
    att_run: Vec<String>,
    att_step: Vec<String>,
    att_item: Vec<Option<i32>>,
    att_attempt: Vec<i32>,
    att_round: Vec<i32>,
    att_status: Vec<&'static str>,
    att_input: Vec<String>,
    att_output: Vec<Option<String>>,
    att_error: Vec<Option<String>>,
    att_started: Vec<i64>,
    att_finished: Vec<Option<i64>>,
    /// The job whose answer is the row's id, or -1.
    att_job: Vec<i32>,
    // Step results.
    res_run: Vec<String>,
    res_step: Vec<String>,
    res_status: Vec<&'static str>,
    res_output: Vec<Option<String>>,
    res_error: Vec<Option<String>>,
    res_at: Vec<i64>,
    // Runs that end.
    fin_run: Vec<String>,
    fin_worker: Vec<String>,
    fin_status: Vec<&'static str>,
    fin_error: Vec<Option<String>>,
    fin_at: Vec<i64>,
    fin_job: Vec<i32>,
    // Runs requeued.
    rq_run: Vec<String>,
    rq_worker: Vec<String>,
    rq_due: Vec<i64>,
    rq_job: Vec<i32>,
}

fn status_of(succeeded: bool) -> &'static str {
    if succeeded { "succeeded" } else { "failed" }
}

impl Arrays {
    /// Adds the rows of the next job.
    fn push(&mut self, job: &Job) {
        let a = self;
        {
            let job_no = i32::try_from(a.jobs).unwrap_or(i32::MAX);
            a.jobs += 1;
            for p in &job.pending {
                match p {
                    Progress::EndAttempt { write, result } => {
                        match write {
                            AttemptWrite::Started { id, end } => {
                                a.end_id.push(*id);
                                a.end_status.push(status_of(end.succeeded));
                                a.end_output.push(codec::json_opt(&end.output));
                                a.end_error.push(codec::json_opt(&end.error));
                                a.end_at.push(end.finished_at);
                                a.bytes += 48;
                                a.bytes += a.end_output.last().and_then(|o| o.as_ref()).map_or(0, String::len);
                                a.bytes += a.end_error.last().and_then(|o| o.as_ref()).map_or(0, String::len);
                            }
                            AttemptWrite::Whole { attempt, end } => a.attempt(attempt, Some(end), -1),
                        }
                        if let Some(r) = result {
                            a.result(r);
                        }
                    }
                    Progress::Result(r) => a.result(r),
                }
            }
            match &job.tail {
                Tail::None => {}
                Tail::Start(attempt) => a.attempt(attempt, None, job_no),
                Tail::Finish { worker, run_id, outcome } => {
                    a.fin_run.push(run_id.clone());
                    a.fin_worker.push(worker.clone());
                    a.fin_status.push(outcome.status.as_str());
                    a.fin_error.push(codec::json_opt(&outcome.error));
                    a.fin_at.push(outcome.finished_at);
                    a.fin_job.push(job_no);
                    a.bytes += 64 + run_id.len() + worker.len();
                    a.bytes += a.fin_error.last().and_then(|o| o.as_ref()).map_or(0, String::len);
                }
                Tail::Requeue { worker, run_id, available_at } => {
                    a.rq_run.push(run_id.clone());
                    a.rq_worker.push(worker.clone());
                    a.rq_due.push(*available_at);
                    a.rq_job.push(job_no);
                    a.bytes += 48 + run_id.len() + worker.len();
                }
            }
        }
    }

    /// An attempt row: whole (with its `end`) or started (`running`).
    fn attempt(&mut self, n: &NewAttempt, end: Option<&AttemptEnd>, job: i32) {
        self.att_run.push(n.run_id.clone());
        self.att_step.push(n.step_id.clone());
        self.att_item.push(n.item.map(pg_int));
        self.att_attempt.push(pg_int(n.attempt));
        self.att_round.push(pg_int(n.round));
        self.att_status.push(end.map_or("running", |e| status_of(e.succeeded)));
        self.att_input.push(codec::json(&n.input));
        self.att_output.push(end.and_then(|e| codec::json_opt(&e.output)));
        self.att_error.push(end.and_then(|e| codec::json_opt(&e.error)));
        self.att_started.push(n.started_at);
        self.att_finished.push(end.map(|e| e.finished_at));
        self.att_job.push(job);
        self.bytes += 96 + n.run_id.len() + n.step_id.len() + self.att_input.last().map_or(0, String::len);
        self.bytes += self.att_output.last().and_then(|o| o.as_ref()).map_or(0, String::len);
        self.bytes += self.att_error.last().and_then(|o| o.as_ref()).map_or(0, String::len);
    }

    fn result(&mut self, r: &StepResult) {
        self.res_run.push(r.run_id.clone());
        self.res_step.push(r.step_id.clone());
        self.res_status.push(r.status.as_str());
        self.res_output.push(codec::json_opt(&r.output));
        self.res_error.push(codec::json_opt(&r.error));
        self.res_at.push(r.finished_at);
        self.bytes += 64 + r.run_id.len() + r.step_id.len();
        self.bytes += self.res_output.last().and_then(|o| o.as_ref()).map_or(0, String::len);
        self.bytes += self.res_error.last().and_then(|o| o.as_ref()).map_or(0, String::len);
    }

    /// The group's one statement (autocommit: one transaction).
    async fn execute(self, pool: &PgPool) -> StoreResult<Outcome> {
        let jobs = self.jobs;
        let rows = sqlx::query(GROUP_SQL)
            .bind(self.end_id)
            .bind(self.end_status)
            .bind(self.end_output)
            .bind(self.end_error)
            .bind(self.end_at)
            .bind(self.att_run)
            .bind(self.att_step)
            .bind(self.att_item)
            .bind(self.att_attempt)
            .bind(self.att_round)
            .bind(self.att_status)
            .bind(self.att_input)
            .bind(self.att_output)
            .bind(self.att_error)
            .bind(self.att_started)
            .bind(self.att_finished)
            .bind(self.att_job)
            .bind(self.res_run)
            .bind(self.res_step)
            .bind(self.res_status)
            .bind(self.res_output)
            .bind(self.res_error)
            .bind(self.res_at)
            .bind(self.fin_run)
            .bind(self.fin_worker)
            .bind(self.fin_status)
            .bind(self.fin_error)
            .bind(self.fin_at)
            .bind(self.fin_job)
            .bind(self.rq_run)
            .bind(self.rq_worker)
            .bind(self.rq_due)
            .bind(self.rq_job)
            .fetch_all(pool)
            .await
            .map_err(db)?;
        let mut out = Outcome {
            ended: HashSet::new(),
            started: HashMap::new(),
            finished: vec![false; jobs],
            requeued: vec![false; jobs],
        };
        for r in &rows {
            let kind: String = r.try_get(0).map_err(db)?;
            let job: Option<i32> = r.try_get(1).map_err(db)?;
            let id: Option<i64> = r.try_get(2).map_err(db)?;
            let job = job.and_then(|j| usize::try_from(j).ok()).filter(|j| *j < jobs);
            match (kind.as_str(), job, id) {
                ("e", _, Some(id)) => {
                    out.ended.insert(id);
                }
                ("s", Some(j), Some(id)) => {
                    out.started.insert(j, id);
                }
                ("f", Some(j), _) => out.finished[j] = true,
                ("r", Some(j), _) => out.requeued[j] = true,
                _ => {}
            }
        }
        Ok(out)
    }
}

/// One statement for a whole group. A job that cannot be written (an
/// attempt to end that is not there, an attempt started for a run that is
/// not, a requeue of a run not held) makes the last branch fail the whole
/// statement (a cast of its message to an integer), so that nothing of the
/// group is kept and each job is written again alone: all of a job's writes
/// or none, as in one transaction per job. Every CTE sees the same snapshot; none
/// writes a row another one writes (a run is never finished and requeued in
/// one group, attempts are ended in one CTE and inserted in another).
/// Attempt ids are drawn in the group's order, so a run's attempts keep the
/// order they were recorded in. A step result whose output is the text of
/// one of the step's attempts — ended or started in this group, or stored
/// before — names that attempt instead of storing the output again
/// (migration 0013; `steps.rs` reads it back). The answer: `e` and the id per ended
/// attempt, `s` with the job and the id per started one, `f` with the job
/// per finished run, `r` with the job per requeued run.
const GROUP_SQL: &str = "
WITH ended AS (
    UPDATE attempts AS a
    SET status = t.status, output = t.output::json, error = t.error::json, finished_at = t.finished_at
    FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::int8[]) AS t(id, status, output, error, finished_at)
    WHERE a.id = t.id
    RETURNING a.id),
 att AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('attempts', 'id')) AS id, t.*
    FROM UNNEST($6::text[], $7::text[], $8::int4[], $9::int4[], $10::int4[], $11::text[], $12::text[], $13::text[],
                $14::text[], $15::int8[], $16::int8[], $17::int4[]) WITH ORDINALITY
      AS t(run_id, step_id, item, attempt, round, status, input, output, error, started_at, finished_at, job, ord)
    WHERE EXISTS (SELECT 1 FROM runs WHERE runs.run_id = t.run_id)
    ORDER BY t.ord),
 att_in AS (
    INSERT INTO attempts (id, run_id, step_id, item, attempt, round, status, input, output, error, started_at, finished_at)
    OVERRIDING SYSTEM VALUE
    SELECT id, run_id, step_id, item, attempt, round, status, input::json, output::json, error::json, started_at,
           finished_at
    FROM att),
 res AS (
    INSERT INTO step_results (run_id, step_id, status, output, attempt_id, error, finished_at)
    SELECT t.run_id, t.step_id, t.status, CASE WHEN m.id IS NULL THEN t.output::json END, m.id, t.error::json,
           t.finished_at
    FROM UNNEST($18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::int8[])
      AS t(run_id, step_id, status, output, error, finished_at)
    LEFT JOIN LATERAL (
        SELECT max(c.id) AS id FROM (
            SELECT e.id FROM UNNEST($1::int8[], $3::text[]) AS e(id, output)
            JOIN attempts AS a ON a.id = e.id
            WHERE a.run_id = t.run_id AND a.step_id = t.step_id AND e.output = t.output
            UNION ALL
            SELECT n.id FROM att AS n WHERE n.run_id = t.run_id AND n.step_id = t.step_id AND n.output = t.output
            UNION ALL
            SELECT a.id FROM attempts AS a
            WHERE a.run_id = t.run_id AND a.step_id = t.step_id AND a.output::text = t.output
        ) AS c
    ) AS m ON t.output IS NOT NULL
    WHERE EXISTS (SELECT 1 FROM runs WHERE runs.run_id = t.run_id)
    ON CONFLICT (run_id, step_id) DO NOTHING),
 fin AS (
    SELECT * FROM UNNEST($24::text[], $25::text[], $26::text[], $27::text[], $28::int8[], $29::int4[])
      AS t(run_id, worker, status, error, finished_at, job)),
 fin_q AS (
    DELETE FROM queue AS q USING fin
    WHERE q.run_id = fin.run_id AND q.lease_owner = fin.worker
    RETURNING fin.run_id, fin.status, fin.error, fin.finished_at, fin.job),
 fin_r AS (
    UPDATE runs AS r SET status = f.status, error = f.error::json, finished_at = f.finished_at
    FROM fin_q AS f WHERE r.run_id = f.run_id
    RETURNING f.job, r.workflow_id, r.event_id, f.status),
 fin_s AS (
    INSERT INTO schedule_success (workflow_id, last_success_at)
    SELECT r.workflow_id, MAX(e.received_at) FROM fin_r AS r JOIN events AS e ON e.event_id = r.event_id
    WHERE r.status = 'succeeded' AND e.trigger = 'schedule'
    GROUP BY r.workflow_id
    ON CONFLICT (workflow_id) DO UPDATE
      SET last_success_at = GREATEST(schedule_success.last_success_at, EXCLUDED.last_success_at)),
 rq AS (
    UPDATE queue AS q SET lease_owner = NULL, due_at = t.due
    FROM UNNEST($30::text[], $31::text[], $32::int8[], $33::int4[]) AS t(run_id, worker, due, job)
    WHERE q.run_id = t.run_id AND q.lease_owner = t.worker
    RETURNING q.run_id, t.job),
 rq_r AS (
    UPDATE runs AS r SET status = 'queued' FROM rq WHERE r.run_id = rq.run_id
    RETURNING rq.job)
SELECT 'e' AS kind, NULL::int4 AS job, id FROM ended
UNION ALL SELECT 's', job, id FROM att WHERE job >= 0
UNION ALL SELECT 'f', job, NULL FROM fin_r
UNION ALL SELECT 'r', job, NULL FROM rq_r
UNION ALL SELECT 'c', (CASE
    WHEN (SELECT count(*) FROM ended) = cardinality($1::int8[])
     AND (SELECT count(*) FROM att WHERE job >= 0) = (SELECT count(*) FROM UNNEST($17::int4[]) AS j WHERE j >= 0)
     AND (SELECT count(*) FROM rq_r) = cardinality($30::text[])
    THEN '0' ELSE 'a job of the progress group cannot be written' END)::int4, NULL";
