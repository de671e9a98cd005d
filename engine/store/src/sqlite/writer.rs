//! The single writer of a SQLite store, with group commit, on its own thread.
//!
//! SQLite has one writer at a time, and with `synchronous=FULL` every commit
//! is an fsync. So every write of a store handle is sent, as a job, to one OS
//! thread that owns the write connection (rusqlite: statements run on that
//! thread directly, with no hand-off per statement): it takes the first job
//! waiting, then every other job already queued (up to [`MAX_GROUP`]), and
//! runs them all in one `BEGIN IMMEDIATE … COMMIT` — one fsync for the whole
//! group. Each job of several statements runs inside its own savepoint, so a
//! job that fails is rolled back alone and the others still commit (a single
//! statement is undone by SQLite itself when it fails). Callers get their
//! answer only after the commit, so "returned `Ok`" always means "durable".
//!
//! Under light load a group is one job (no added latency); under heavy load
//! groups grow and the fsync cost per write falls.
//!
//! A bulk job ([`Writer::bulk`]: erasing a subject) touches thousands of
//! pages scattered over the file. Its group commits without SQLite's
//! automatic checkpoint: the commit (an fsync of the WAL) makes it durable,
//! the callers are answered, and only then does the writer copy the WAL into
//! the database file (`wal_checkpoint(PASSIVE)`), before its next group.
//! (A larger page cache for that group was tried: no faster.)

use reqflow_engine::store::{StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::error::{copy, sql};

/// Most jobs committed together.
const MAX_GROUP: usize = 512;

/// Jobs waiting for the writer before senders wait (back-pressure).
const QUEUE: usize = 4096;

/// SQLite's automatic checkpoint threshold (its default), in WAL pages.
const AUTOCHECKPOINT_PAGES: i64 = 1000;

/// A write: runs on the write connection inside the group's transaction.
pub(crate) trait WriteFn<T>: FnOnce(&Connection) -> StoreResult<T> + Send + 'static {}

impl<T, F> WriteFn<T> for F where F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static {}

/// A job as the writer thread sees it.
trait Job: Send {
    /// Runs the write; returns how to answer the caller once the group's fate is known.
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Done>;
    /// Answers with an error without running.
    fn fail(self: Box<Self>, e: StoreError);
    /// Whether the job must survive power loss once answered (an fsync'd commit).
    fn durable(&self) -> bool;
    /// One statement: SQLite undoes a failed statement by itself, so the job
    /// needs no savepoint of its own.
    fn atomic(&self) -> bool;
    /// A bulk job (see the module docs).
    fn bulk(&self) -> bool;
}

/// A job that ran, waiting for the commit.
trait Done: Send {
    /// Whether the job's own work succeeded.
    fn ok(&self) -> bool;
    /// Answers the caller: `commit` is the group's commit result.
    fn complete(self: Box<Self>, commit: Result<(), &StoreError>);
}

/// What kind of write a job is.
#[derive(Clone, Copy)]
struct Kind {
    /// One statement (see [`Job::atomic`]).
    atomic: bool,
    /// Answered after an fsync'd commit (see [`Job::durable`]).
    durable: bool,
    /// See [`Job::bulk`].
    bulk: bool,
}

struct FnJob<F, T> {
    f: F,
    kind: Kind,
    reply: oneshot::Sender<StoreResult<T>>,
}

struct Reply<T> {
    result: StoreResult<T>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T: Send + 'static, F: WriteFn<T>> Job for FnJob<F, T> {
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Done> {
        let FnJob { f, reply, .. } = *self;
        Box::new(Reply { result: f(conn), reply })
    }

    fn fail(self: Box<Self>, e: StoreError) {
        let _ = self.reply.send(Err(e));
    }

    fn atomic(&self) -> bool {
        self.kind.atomic
    }

    fn durable(&self) -> bool {
        self.kind.durable
    }

    fn bulk(&self) -> bool {
        self.kind.bulk
    }
}

impl<T: Send + 'static> Done for Reply<T> {
    fn ok(&self) -> bool {
        self.result.is_ok()
    }

    fn complete(self: Box<Self>, commit: Result<(), &StoreError>) {
        let answer = match (self.result, commit) {
            (Err(e), _) => Err(e),
            (Ok(v), Ok(())) => Ok(v),
            (Ok(_), Err(e)) => Err(copy(e)),
        };
        let _ = self.reply.send(answer);
    }
}

/// The sending side: cheap to share; the thread stops when every handle is gone.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread, owning `conn`. `fsync` says whether the
    /// connection was opened with `synchronous=FULL` (or `EXTRA`): then groups
    /// with a durable job commit with an fsync and groups of progress writes
    /// only commit to the WAL (see [`Writer::progress`]).
    pub fn spawn(conn: Connection, fsync: bool) -> StoreResult<Writer> {
        let (tx, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("reqflow-sqlite-writer".to_owned())
            .spawn(move || run(conn, rx, fsync))
            .map_err(|e| StoreError::Database(format!("cannot start the SQLite writer thread: {e}")))?;
        Ok(Writer { tx })
    }

    /// Runs `f` in the next group commit; returns its result once committed.
    pub async fn write<T: Send + 'static>(&self, f: impl WriteFn<T>) -> StoreResult<T> {
        self.submit(f, Kind { atomic: false, durable: true, bulk: false }).await
    }

    /// Like [`Writer::write`] for a job that touches pages all over the file
    /// (erasure): durable when answered, the WAL copied into the database
    /// file after the answer (see the module docs).
    pub async fn bulk<T: Send + 'static>(&self, f: impl WriteFn<T>) -> StoreResult<T> {
        self.submit(f, Kind { atomic: false, durable: true, bulk: true }).await
    }

    /// Like [`Writer::write`] for `f` that runs exactly one statement (no
    /// savepoint needed: cheaper).
    pub async fn write_one<T: Send + 'static>(&self, f: impl WriteFn<T>) -> StoreResult<T> {
        self.submit(f, Kind { atomic: true, durable: true, bulk: false }).await
    }

    /// A write of run progress (claims, leases, attempts, step results): it is
    /// committed to the WAL before the caller hears back, so a crashed process
    /// loses nothing, but it does not wait for an fsync of its own. Power loss
    /// can undo the last moments of progress; the runtime then redoes those
    /// steps (steps are at-least-once). Accepted events and everything else
    /// keep the fsync'd commit.
    pub async fn progress<T: Send + 'static>(&self, f: impl WriteFn<T>, one_statement: bool) -> StoreResult<T> {
        self.submit(f, Kind { atomic: one_statement, durable: false, bulk: false }).await
    }

    async fn submit<T: Send + 'static>(&self, f: impl WriteFn<T>, kind: Kind) -> StoreResult<T> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Box::new(FnJob { f, kind, reply })).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Database("the SQLite writer stopped".to_owned())
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Box<dyn Job>>, fsync: bool) {
    let mut group: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_GROUP);
    let mut full = fsync;
    while let Some(first) = rx.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if fsync {
            let want = group.iter().any(|j| j.durable());
            if want != full {
                let pragma = if want { "PRAGMA synchronous = FULL" } else { "PRAGMA synchronous = NORMAL" };
                if let Err(e) = exec(&conn, pragma) {
                    for job in group.drain(..) {
                        job.fail(copy(&e));
                    }
                    continue;
                }
                full = want;
            }
        }
        let bulk = group.iter().any(|j| j.bulk());
        if bulk && let Err(e) = autocheckpoint(&conn, false) {
            for job in group.drain(..) {
                job.fail(copy(&e));
            }
            continue;
        }
        commit_group(&conn, std::mem::take(&mut group));
        if bulk {
            // The callers have their answer (durable: the WAL is synced);
            // now the WAL goes into the database file, before the next group.
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "checkpoint after a bulk write failed (the next automatic one retries)");
            }
            if let Err(e) = autocheckpoint(&conn, true) {
                tracing::warn!(error = %e, "turning the automatic checkpoint on again after a bulk write failed");
            }
        }
    }
}

/// SQLite's automatic checkpoint at commit: off for a group with a bulk job, on again after.
fn autocheckpoint(conn: &Connection, on: bool) -> StoreResult<()> {
    conn.pragma_update(None, "wal_autocheckpoint", if on { AUTOCHECKPOINT_PAGES } else { 0 }).map_err(sql)
}

/// Runs one fixed statement (cached: these run for every group).
fn exec(conn: &Connection, statement: &'static str) -> StoreResult<()> {
    conn.prepare_cached(statement).and_then(|mut s| s.execute([])).map(|_| ()).map_err(sql)
}

fn commit_group(conn: &Connection, jobs: Vec<Box<dyn Job>>) {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        for job in jobs {
            job.fail(copy(&e));
        }
        return;
    }
    let single = jobs.len() == 1;
    let mut done: Vec<Box<dyn Done>> = Vec::with_capacity(jobs.len());
    let mut broken: Option<StoreError> = None;
    let mut jobs = jobs.into_iter();
    for job in jobs.by_ref() {
        let savepoint = !single && !job.atomic();
        if savepoint && let Err(e) = exec(conn, "SAVEPOINT job") {
            job.fail(copy(&e));
            broken = Some(e);
            break;
        }
        let d = job.run(conn);
        if savepoint {
            let end = if d.ok() {
                exec(conn, "RELEASE job")
            } else {
                exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
            };
            if let Err(e) = end {
                done.push(d);
                broken = Some(e);
                break;
            }
        }
        done.push(d);
    }
    if let Some(e) = broken {
        let _ = exec(conn, "ROLLBACK");
        for d in done {
            d.complete(Err(&e));
        }
        for job in jobs {
            job.fail(copy(&e));
        }
        return;
    }
    if single && !done.iter().all(|d| d.ok()) {
        // The one job failed: nothing to keep.
        let _ = exec(conn, "ROLLBACK");
        for d in done {
            d.complete(Ok(()));
        }
        return;
    }
    match exec(conn, "COMMIT") {
        Ok(()) => {
            for d in done {
                d.complete(Ok(()));
            }
        }
        Err(e) => {
            let _ = exec(conn, "ROLLBACK");
            for d in done {
                d.complete(Err(&e));
            }
        }
    }
}
