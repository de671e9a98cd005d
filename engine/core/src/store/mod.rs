//! What the runtime persists, behind narrow traits.
//!
//! Every accepted event, every run, every step attempt, schedule cursors and
//! shared connection state go through these traits. `reqflow-store`
//! implements them on SQLite (default) and PostgreSQL; the executor and the
//! HTTP server only see `Arc<dyn Store>`.
//!
//! The traits follow the life of a run:
//! - [`EventStore::accept`]: the trigger's accept path, in batches: one
//!   transaction stores the events, their dedupe keys, their runs and queue
//!   entries (group commit);
//! - [`QueueStore`]: workers claim runs with a lease, extend it while they
//!   work, and release a run (finished, or re-queued for a later retry);
//! - [`StepStore`]: every attempt of every step, and the final result of each
//!   step, recorded at most once. Writes a run need not wait for travel as
//!   pending [`Progress`] with the next one it does wait for
//!   ([`StepStore::start_attempt_after`], [`Store::finish_after`],
//!   [`Store::requeue_after`]): one transaction where the backend can;
//! - [`RunStore`]: run history for the API and the CLI;
//! - [`ScheduleStore`]: schedule slots fired at most once, even across processes;
//! - [`WorkflowStore`]: the source of each workflow version runs were started
//!   with, so a retry can use the original definition;
//! - [`RetentionStore`]: finished runs and their data purged past a window;
//! - [`SubjectStore`]: everything held about one person, read or erased;
//! - [`TokenStore`], [`AuditStore`]: the admin plane's API tokens (hashes
//!   only) and the audit trail of state-changing calls;
//! - [`SubscriptionStore`]: the vendor subscriptions the engine manages.
//!
//! Times are Unix milliseconds (UTC) throughout.

mod access;
pub mod stored_event;
mod subscriptions;
mod types;

pub use access::*;
pub use subscriptions::*;
pub use types::*;

use crate::action::{BoxFuture, SharedState};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or answered with an error.
    #[error("database error: {0}")]
    Database(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Stored data could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The operation conflicts with the current state (e.g. retrying a run that is running).
    #[error("conflict: {0}")]
    Conflict(String),
}

/// Dedupe keys deleted per [`EventStore::purge_dedupe`] call at most.
pub const PURGE_DEDUPE_BATCH: u64 = 1000;

/// Result of store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// The accept path.
pub trait EventStore: Send + Sync {
    /// Store a batch of events in one transaction. For each event, in order:
    /// - with a dedupe key already present and not expired → [`Accepted::Duplicate`]
    ///   (the event is recorded with status `duplicate`, no run is created);
    /// - with `start_run = false` → recorded as `ignored` ([`Accepted::Ignored`]);
    /// - with `invalid` set → recorded as `invalid` with that reason.
    ///
    /// Every event that starts no run is stored with its reason, and a
    /// duplicate with the run it duplicates (see [`EventRecord`]).
    /// - otherwise a run in status `queued` and a queue entry available now
    ///   ([`Accepted::Queued`]).
    ///
    /// Two events of the same batch with the same dedupe key: the first wins.
    /// When this returns `Ok`, everything is durable.
    fn accept(&self, batch: Vec<NewEvent>) -> BoxFuture<'_, StoreResult<Vec<Accepted>>>;

    /// One stored event (the one a run was started from, or any other).
    fn event(&self, event_id: &str) -> BoxFuture<'_, StoreResult<Option<EventRecord>>>;

    /// Stored events, newest first (by `received_at`, then `event_id`),
    /// filtered and paged, without payloads. `before` names an event: the
    /// page starts after it (a `before` that is not stored gives no events).
    fn events(&self, filter: EventFilter) -> BoxFuture<'_, StoreResult<Vec<EventSummary>>>;

    /// Delete dedupe keys that expired before `now`, at most
    /// [`PURGE_DEDUPE_BATCH`] in one short transaction; returns how many
    /// (call again while it returns a full batch).
    fn purge_dedupe(&self, now: i64) -> BoxFuture<'_, StoreResult<u64>>;
}

/// The work queue: claims with leases.
pub trait QueueStore: Send + Sync {
    /// Claim up to `limit` runs that are available (`available_at <= now`) and
    /// not leased (or whose lease expired), for `lease_ms`. Several processes
    /// may call this at once: no run is given to two of them (PostgreSQL:
    /// `FOR UPDATE SKIP LOCKED`; SQLite: one writer). Claimed runs are
    /// `running`.
    fn claim(&self, worker: &str, now: i64, lease_ms: i64, limit: usize)
    -> BoxFuture<'_, StoreResult<Vec<ClaimedRun>>>;

    /// Extend the lease of runs this worker holds; returns the ids it still holds.
    fn heartbeat(
        &self,
        worker: &str,
        run_ids: &[String],
        now: i64,
        lease_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Vec<String>>>;

    /// Give a claimed run back, to be claimed again at `available_at` (a step
    /// waiting for its retry backoff); its status goes back to `queued`.
    fn requeue(&self, worker: &str, run_id: &str, available_at: i64) -> BoxFuture<'_, StoreResult<()>>;

    /// Finish a run: set its final status (`succeeded` or `failed`), its error,
    /// and remove it from the queue. Only the worker holding the lease may do it
    /// (returns `false` otherwise, and changes nothing).
    fn finish(&self, worker: &str, run_id: &str, outcome: RunOutcome) -> BoxFuture<'_, StoreResult<bool>>;

    /// How many runs are queued or running (for back-pressure and `/metrics`).
    fn depth(&self) -> BoxFuture<'_, StoreResult<QueueDepth>>;

    /// Queued runs (waiting, not held by a worker, as [`QueueDepth::queued`])
    /// per workflow, for every workflow that has any: each workflow's share
    /// of the backlog is checked against it. In no particular order.
    fn queued_by_workflow(&self) -> BoxFuture<'_, StoreResult<Vec<(String, u64)>>>;

    /// Wait until new work may be available (PostgreSQL LISTEN/NOTIFY; SQLite:
    /// an in-process signal) or `timeout_ms` passes.
    fn wait_for_work(&self, timeout_ms: u64) -> BoxFuture<'_, ()>;
}

/// Step attempts and results.
pub trait StepStore: Send + Sync {
    /// Record that an attempt started; returns its id.
    fn start_attempt(&self, attempt: NewAttempt) -> BoxFuture<'_, StoreResult<i64>>;

    /// Record how an attempt ended.
    fn finish_attempt(&self, attempt_id: i64, end: AttemptEnd) -> BoxFuture<'_, StoreResult<()>>;

    /// Record a step's final result. Idempotent: the first result recorded for
    /// `(run_id, step_id)` wins and `false` is returned for later ones.
    fn record_result(&self, result: StepResult) -> BoxFuture<'_, StoreResult<bool>>;

    /// Record an attempt's end (or, for [`AttemptWrite::Whole`], the whole
    /// attempt) and, when given, its step's final result, in one write: a
    /// step without side effects costs one write, not three. The result
    /// follows [`StepStore::record_result`] (returns whether it was recorded;
    /// `false` when none is given). Backends override the default, which
    /// makes the separate calls.
    fn end_attempt(&self, write: AttemptWrite, result: Option<StepResult>) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(async move {
            match write {
                AttemptWrite::Started { id, end } => self.finish_attempt(id, end).await?,
                AttemptWrite::Whole { attempt, end } => {
                    let id = self.start_attempt(attempt).await?;
                    self.finish_attempt(id, end).await?;
                }
            }
            match result {
                Some(r) => self.record_result(r).await,
                None => Ok(false),
            }
        })
    }

    /// Applies `pending` progress, in order.
    fn apply_progress(&self, pending: Vec<Progress>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            for p in pending {
                match p {
                    Progress::EndAttempt { write, result } => {
                        self.end_attempt(write, result).await?;
                    }
                    Progress::Result(r) => {
                        self.record_result(r).await?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Applies `pending` progress, then records that `attempt` started (one
    /// write where the backend can; SQLite: one transaction). Returns the
    /// attempt's id.
    fn start_attempt_after(&self, pending: Vec<Progress>, attempt: NewAttempt) -> BoxFuture<'_, StoreResult<i64>> {
        Box::pin(async move {
            self.apply_progress(pending).await?;
            self.start_attempt(attempt).await
        })
    }

    /// Every final step result of a run (what a resumed run does not redo),
    /// with the bytes of its binary values.
    fn results(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Vec<StepResult>>>;

    /// Every attempt of a run, oldest first. Binary values in inputs and
    /// outputs may be references (without `data`; see [`crate::value::binary`]).
    fn attempts(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Vec<AttemptRecord>>>;

    /// The bytes of a binary value the store keeps once by hash; `None` when
    /// it keeps none by that hash. Backends that keep binary values inline
    /// use the default. [`StepStore::results`] fills references in with
    /// their bytes.
    fn blob(&self, sha256: &str) -> BoxFuture<'_, StoreResult<Option<crate::value::binary::Blob>>> {
        let _ = sha256;
        Box::pin(async { Ok(None) })
    }
}

/// Puts the bytes back into every binary-value reference in `v` (values
/// without `data`, as [`StepStore::attempts`] returns them), from
/// [`StepStore::blob`]; a reference whose bytes are not kept stays as it is.
/// For readers of attempts that need the bytes (e.g. answering a step from
/// a recorded attempt).
pub async fn fill_binary<S: StepStore + ?Sized>(store: &S, v: &mut serde_json::Value) -> StoreResult<()> {
    let mut found = std::collections::HashMap::new();
    for sha in crate::value::binary::references(v) {
        if let Some(blob) = store.blob(&sha).await? {
            found.insert(sha, blob.bytes);
        }
    }
    if !found.is_empty() {
        crate::value::binary::fill_blobs(v, &|sha| found.get(sha).cloned());
    }
    Ok(())
}

/// Run history.
pub trait RunStore: Send + Sync {
    /// One run.
    fn run(&self, run_id: &str) -> BoxFuture<'_, StoreResult<Option<RunRecord>>>;

    /// Runs, newest first, filtered and paged.
    fn runs(&self, filter: RunFilter) -> BoxFuture<'_, StoreResult<Vec<RunRecord>>>;

    /// Prepare a failed run for retry: delete the results of its failed and
    /// skipped steps and of the steps named in `rerun` (the other succeeded
    /// ones are kept and reused), optionally move it to another workflow
    /// version, set it `queued` and enqueue it. Errors with `Conflict` unless
    /// the run is `failed`.
    fn retry(
        &self,
        run_id: &str,
        version: Option<WorkflowVersion>,
        rerun: Vec<String>,
        now: i64,
    ) -> BoxFuture<'_, StoreResult<RunRecord>>;

    /// Counts of runs by status (for `/metrics`).
    fn counts(&self) -> BoxFuture<'_, StoreResult<Vec<(RunStatus, u64)>>>;

    /// Counts of one workflow's runs by status, of the runs created at or
    /// after `since` (Unix ms); every status, zeros included (the console's
    /// workflow page, on the `(workflow_id, created_at, status)` index).
    fn counts_since(&self, workflow_id: &str, since: i64) -> BoxFuture<'_, StoreResult<Vec<(RunStatus, u64)>>>;
}

/// Schedule cursors.
pub trait ScheduleStore: Send + Sync {
    /// Claim the schedule slot `slot` (Unix ms) of a workflow: `true` for
    /// exactly one caller across every process, ever.
    fn claim_slot(&self, workflow_id: &str, slot: i64) -> BoxFuture<'_, StoreResult<bool>>;

    /// The last slot claimed, if any.
    fn last_slot(&self, workflow_id: &str) -> BoxFuture<'_, StoreResult<Option<i64>>>;

    /// When the workflow's last successful run was scheduled (`previous_success_at`).
    fn last_success(&self, workflow_id: &str) -> BoxFuture<'_, StoreResult<Option<i64>>>;
}

/// Workflow versions runs started with.
pub trait WorkflowStore: Send + Sync {
    /// Keep a workflow's source under its hash (no-op when present).
    fn put_workflow(&self, version: WorkflowVersion, source: &str) -> BoxFuture<'_, StoreResult<()>>;

    /// The source of a stored version.
    fn workflow_source(&self, workflow_id: &str, hash: &str) -> BoxFuture<'_, StoreResult<Option<String>>>;

    /// Every stored version of a workflow, in the order they were first
    /// stored (oldest first; the API numbers them from 1 in this order).
    fn workflow_versions(&self, workflow_id: &str) -> BoxFuture<'_, StoreResult<Vec<StoredVersion>>>;

    /// Records a deploy over the admin API: `deployment.workflow_id` now
    /// serves `deployment.hash` (whose source was stored with
    /// [`WorkflowStore::put_workflow`]), replacing its previous record.
    fn put_api_deployment(&self, deployment: ApiDeployment) -> BoxFuture<'_, StoreResult<()>>;

    /// Every workflow deployed over the admin API, with the source of the
    /// version it serves, by id.
    fn api_deployments(&self) -> BoxFuture<'_, StoreResult<Vec<(ApiDeployment, String)>>>;
}

/// Subjects (who events are about, as keyed hashes; see
/// [`crate::runtime::subjects`]): access and erasure.
pub trait SubjectStore: Send + Sync {
    /// The events of the subject with this hash, payload and raw body
    /// included, oldest first. (Its runs: [`RunStore::runs`] with
    /// [`RunFilter::subject`].)
    fn subject_events(&self, hash: &str) -> BoxFuture<'_, StoreResult<Vec<EventRecord>>>;

    /// Erases the subject with this hash, in every workflow, in one
    /// transaction: its runs still queued or running are taken off the
    /// queue first (cancelled), then its events, runs, attempts, step
    /// results, dedupe keys and index entries are deleted. Returns how many
    /// of each.
    fn erase_subject(&self, hash: &str) -> BoxFuture<'_, StoreResult<ErasedCounts>>;
}

/// Retention: finished runs and their data deleted once past a window.
pub trait RetentionStore: Send + Sync {
    /// One batch of a purge: walks the events received before
    /// `scope.before` (oldest first, after `scope.after`), at most `limit`
    /// of them, and deletes each with its run, attempts, step results and
    /// index entries — unless its run is still queued or running, or
    /// finished at or after `scope.before` (kept). Events that started no
    /// run are deleted. Deleted runs are added to the tallies
    /// [`RunStore::counts`] reports. Dedupe keys are not touched (they go
    /// when they expire: [`EventStore::purge_dedupe`]). One short
    /// transaction per call, so a purge never holds the writer long.
    fn purge(&self, scope: PurgeScope, limit: usize) -> BoxFuture<'_, StoreResult<PurgeBatch>>;
}

/// Everything the runtime needs from a database.
pub trait Store:
    EventStore
    + QueueStore
    + StepStore
    + RunStore
    + ScheduleStore
    + WorkflowStore
    + TokenStore
    + AuditStore
    + SubjectStore
    + RetentionStore
    + SubscriptionStore
    + SharedState
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Applies `pending` progress, then [`QueueStore::finish`]es the run (one
    /// write where the backend can). The progress is applied even when the
    /// lease is lost (it records what this worker did).
    fn finish_after(
        &self,
        pending: Vec<Progress>,
        worker: &str,
        run_id: &str,
        outcome: RunOutcome,
    ) -> BoxFuture<'_, StoreResult<bool>> {
        let (worker, run_id) = (worker.to_owned(), run_id.to_owned());
        Box::pin(async move {
            self.apply_progress(pending).await?;
            self.finish(&worker, &run_id, outcome).await
        })
    }

    /// Applies `pending` progress, then [`QueueStore::requeue`]s the run.
    fn requeue_after(
        &self,
        pending: Vec<Progress>,
        worker: &str,
        run_id: &str,
        available_at: i64,
    ) -> BoxFuture<'_, StoreResult<()>> {
        let (worker, run_id) = (worker.to_owned(), run_id.to_owned());
        Box::pin(async move {
            self.apply_progress(pending).await?;
            self.requeue(&worker, &run_id, available_at).await
        })
    }
}
