//! Records the store keeps.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The status of a run: one of the four a run can have. Events that start
/// no run (`ignored`, `duplicate`, `invalid`) are not runs: their outcome is
/// an [`EventOutcome`], listed with [`EventStore::events`](super::EventStore::events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting for a worker (also while waiting for a retry's backoff).
    Queued,
    /// A worker holds it.
    Running,
    /// Every step succeeded or was skipped.
    Succeeded,
    /// A step failed and `on_error` was `fail`.
    Failed,
}

impl RunStatus {
    /// The name stored and shown.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => RunStatus::Queued,
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            _ => return None,
        })
    }

    /// Every status, in the order a run goes through them.
    pub const ALL: [RunStatus; 4] = [RunStatus::Queued, RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed];

    /// The names of [`RunStatus::ALL`].
    pub const NAMES: [&'static str; 4] = ["queued", "running", "succeeded", "failed"];
}

/// What became of a stored event, as the API and the CLI name it. The
/// stored `events.status` is the same word except for `accepted`, which is
/// stored as `queued` (the event started a run).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOutcome {
    /// A run was started (stored status `queued`).
    Accepted,
    /// The trigger's `when:` was false: no run.
    Ignored,
    /// Its dedupe key was seen before: no run.
    Duplicate,
    /// Its `when:` or `dedupe:` could not be evaluated: no run.
    Invalid,
}

impl EventOutcome {
    /// The name shown (API, CLI).
    pub fn as_str(&self) -> &'static str {
        match self {
            EventOutcome::Accepted => "accepted",
            EventOutcome::Ignored => "ignored",
            EventOutcome::Duplicate => "duplicate",
            EventOutcome::Invalid => "invalid",
        }
    }

    /// Parse a shown name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The value of `events.status` for this outcome.
    pub fn stored(&self) -> &'static str {
        match self {
            EventOutcome::Accepted => "queued",
            other => other.as_str(),
        }
    }

    /// The outcome of a stored `events.status`.
    pub fn from_stored(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => EventOutcome::Accepted,
            "ignored" => EventOutcome::Ignored,
            "duplicate" => EventOutcome::Duplicate,
            "invalid" => EventOutcome::Invalid,
            _ => return None,
        })
    }

    /// Every outcome.
    pub const ALL: [EventOutcome; 4] =
        [EventOutcome::Accepted, EventOutcome::Ignored, EventOutcome::Duplicate, EventOutcome::Invalid];

    /// The names of [`EventOutcome::ALL`].
    pub const NAMES: [&'static str; 4] = ["accepted", "ignored", "duplicate", "invalid"];

    /// The reason shown for an event stored without one: `ignored` and
    /// `duplicate` events stored before reasons were recorded (migration 5).
    pub fn legacy_reason(&self) -> Option<&'static str> {
        match self {
            EventOutcome::Accepted => None,
            EventOutcome::Ignored => Some("`when:` was false"),
            EventOutcome::Duplicate => Some(
                "duplicate: its dedupe key was seen before (stored before reasons were recorded: which run it duplicated is not known)",
            ),
            EventOutcome::Invalid => Some("invalid (no reason stored)"),
        }
    }
}

/// Which definition a run uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowVersion {
    /// `id:`
    pub workflow_id: String,
    /// `version:`
    pub version: u32,
    /// SHA-256 of the file.
    pub hash: String,
}

/// One stored version of a workflow ([`WorkflowStore::workflow_versions`](super::WorkflowStore::workflow_versions)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredVersion {
    /// `id:`
    pub workflow_id: String,
    /// `version:` (the author's label).
    pub version: u32,
    /// SHA-256 of the source: what identifies the version.
    pub hash: String,
    /// When it was first stored (Unix ms); `None` for versions stored before reqflow kept the time.
    pub stored_at: Option<i64>,
}

/// A workflow deployed over the admin API (`PUT /api/workflows/{id}`): the
/// version it serves, and who deployed it when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiDeployment {
    /// The workflow id.
    pub workflow_id: String,
    /// The hash of the version deployed (its source is in the workflow versions).
    pub hash: String,
    /// When (Unix ms).
    pub deployed_at: i64,
    /// Who (`token:NAME`).
    pub actor: String,
}

/// An event to store on the accept path.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// A new unique id (UUID v4 or v7, as text).
    pub event_id: String,
    /// The run id to use if a run is created.
    pub run_id: String,
    /// The workflow version that will run it.
    pub workflow: WorkflowVersion,
    /// `webhook`, `soap`, `schedule`, `manual`.
    pub trigger: String,
    /// When it arrived.
    pub received_at: i64,
    /// The `event` context the run sees (body, headers without credentials, …).
    pub payload: Value,
    /// The body exactly as received (webhook: the HTTP body; SOAP: the
    /// envelope bytes); `None` for schedule and manual events.
    pub raw_body: Option<Vec<u8>>,
    /// Dedupe key and when it expires.
    pub dedupe: Option<(String, i64)>,
    /// `false` when the trigger's `when:` said no: recorded as ignored.
    pub start_run: bool,
    /// Why the event cannot be evaluated (its `when:` or `dedupe:` failed):
    /// recorded as `invalid` with this reason; no run, no dedupe key.
    pub invalid: Option<String>,
    /// Who the event is about: the keyed hashes of the workflow's
    /// `subject:` values ([`crate::runtime::subjects`]), indexed for
    /// erasure and access. Empty without `subject:`.
    pub subjects: Vec<String>,
}

/// What happened to an accepted event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Accepted {
    /// A run was created and queued.
    Queued {
        /// The new run.
        run_id: String,
    },
    /// The dedupe key was seen before.
    Duplicate {
        /// The run the first event started (if it started one).
        run_id: Option<String>,
    },
    /// `when:` was false.
    Ignored {
        /// The stored event.
        event_id: String,
    },
    /// `when:` or `dedupe:` could not be evaluated: the event is stored with
    /// the reason and starts no run.
    Invalid {
        /// The stored event.
        event_id: String,
        /// What could not be evaluated, and why.
        reason: String,
    },
}

/// A stored event.
#[derive(Clone, Debug, Serialize)]
pub struct EventRecord {
    /// Its id.
    pub event_id: String,
    /// The workflow.
    pub workflow_id: String,
    /// Trigger kind.
    pub trigger: String,
    /// Arrival time.
    #[serde(serialize_with = "crate::runtime::clock::iso::ms")]
    pub received_at: i64,
    /// The `event` context.
    pub payload: Value,
    /// The body exactly as received, if stored. Not serialised: it may hold
    /// personal data, and the API serves it on its own endpoint.
    #[serde(skip)]
    pub raw_body: Option<Vec<u8>>,
    /// Dedupe key, if any.
    pub dedupe_key: Option<String>,
    /// `queued` (a run was made), `ignored`, `duplicate` or `invalid`.
    pub status: String,
    /// Why it started no run (`ignored`, `duplicate`, `invalid`); `None`
    /// for events that started one, and for `ignored`/`duplicate` events
    /// stored before reasons were recorded.
    pub reason: Option<String>,
    /// `queued`: the run it started; `duplicate`: the run it duplicates, if
    /// any. `None` for other events and for events stored before migration 5
    /// recorded it (an accepted event's run is then found by its `event_id`).
    pub run_id: Option<String>,
}

/// A stored event as listed: everything but its payload and body (they may
/// hold personal data; [`EventStore::event`](super::EventStore::event) reads them).
#[derive(Clone, Debug, Serialize)]
pub struct EventSummary {
    /// Its id.
    pub event_id: String,
    /// The workflow.
    pub workflow_id: String,
    /// Trigger kind.
    pub trigger: String,
    /// Arrival time (Unix ms).
    #[serde(serialize_with = "crate::runtime::clock::iso::ms")]
    pub received_at: i64,
    /// Stored status: `queued`, `ignored`, `duplicate` or `invalid`.
    pub status: String,
    /// Why it started no run (see [`EventRecord::reason`]).
    pub reason: Option<String>,
    /// Its run, or the run it duplicates (see [`EventRecord::run_id`]).
    pub run_id: Option<String>,
    /// Dedupe key, if any (unmasked: mask before showing).
    pub dedupe_key: Option<String>,
}

/// Which events to list.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Only this workflow.
    pub workflow_id: Option<String>,
    /// Only this outcome.
    pub outcome: Option<EventOutcome>,
    /// Received at or after (Unix ms).
    pub since: Option<i64>,
    /// Received before (Unix ms).
    pub until: Option<i64>,
    /// Page size (default 50, at most 1000).
    pub limit: Option<u32>,
    /// Events listed after this one (keyset paging: pass the last event id of the previous page).
    pub before: Option<String>,
}

/// A run a worker claimed.
#[derive(Clone, Debug)]
pub struct ClaimedRun {
    /// The run.
    pub run_id: String,
    /// Which definition.
    pub workflow: WorkflowVersion,
    /// The `event` context.
    pub event: Value,
    /// Times this run was retried by a user (0 at first).
    pub retries: u32,
    /// When the run was created.
    pub created_at: i64,
    /// Whether this is the run's first claim (it never started before): it
    /// has no attempts or results to read back.
    pub fresh: bool,
    /// Why the stored event could not be decoded (`event` is then `null`):
    /// the run is failed with this reason, alone, not the batch it was claimed in.
    pub undecodable: Option<String>,
}

/// How a run ended.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// `Succeeded` or `Failed`.
    pub status: RunStatus,
    /// For failed runs: which step, the error, the attempts.
    pub error: Option<Value>,
    /// When.
    pub finished_at: i64,
}

/// Queue size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    /// Runs waiting.
    pub queued: u64,
    /// Runs held by a worker.
    pub running: u64,
}

/// An attempt that is starting.
#[derive(Clone, Debug)]
pub struct NewAttempt {
    /// The run.
    pub run_id: String,
    /// The step.
    pub step_id: String,
    /// For a `foreach` step, the element index; `None` otherwise.
    pub item: Option<u32>,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The run's `retries` when the attempt started (0 before any user retry):
    /// attempt budgets count within one round.
    pub round: u32,
    /// Its input (`with:` evaluated), secrets already masked.
    pub input: Value,
    /// When it started.
    pub started_at: i64,
}

/// How an attempt ended.
#[derive(Clone, Debug)]
pub struct AttemptEnd {
    /// `succeeded` or `failed`.
    pub succeeded: bool,
    /// Output (success).
    pub output: Option<Value>,
    /// Error (failure): message, class, code, details.
    pub error: Option<Value>,
    /// When.
    pub finished_at: i64,
}

/// An attempt recorded when it ends, in the same write as its step's result
/// (see [`StepStore::end_attempt`](super::StepStore::end_attempt)).
#[derive(Clone, Debug)]
pub enum AttemptWrite {
    /// Recorded when it started (it may have had side effects): its end.
    Started {
        /// The id [`StepStore::start_attempt`](super::StepStore::start_attempt) returned.
        id: i64,
        /// How it ended.
        end: AttemptEnd,
    },
    /// Not recorded yet (it had no side effects, e.g. a `map:` step): all of it.
    Whole {
        /// The attempt.
        attempt: NewAttempt,
        /// How it ended.
        end: AttemptEnd,
    },
}

/// A write of run progress that the executor does not wait for on its own:
/// it is handed to the store with the next write the run waits for (an
/// action's start, the run's end or requeue), which applies it first, in
/// order and, where the backend can, in the same transaction. See
/// [`StepStore::start_attempt_after`](super::StepStore::start_attempt_after).
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant, reason = "a few per run, in a short Vec, moved once")]
pub enum Progress {
    /// [`StepStore::end_attempt`](super::StepStore::end_attempt): an attempt's
    /// end (or a whole attempt) and, when given, its step's result.
    EndAttempt {
        /// The attempt.
        write: AttemptWrite,
        /// The step's final result.
        result: Option<StepResult>,
    },
    /// [`StepStore::record_result`](super::StepStore::record_result): a step's
    /// result without an attempt (skipped, or `if:` failed).
    Result(StepResult),
}

/// A stored attempt.
#[derive(Clone, Debug, Serialize)]
pub struct AttemptRecord {
    /// Its id.
    pub id: i64,
    /// The step.
    pub step_id: String,
    /// `foreach` element index.
    pub item: Option<u32>,
    /// 1-based.
    pub attempt: u32,
    /// The run's `retries` when it started.
    pub round: u32,
    /// `running` (no end recorded: in flight, or the process died), `succeeded`, `failed`.
    pub status: String,
    /// Input, secrets masked.
    pub input: Value,
    /// Output.
    pub output: Option<Value>,
    /// Error.
    pub error: Option<Value>,
    /// Start.
    #[serde(serialize_with = "crate::runtime::clock::iso::ms")]
    pub started_at: i64,
    /// End.
    #[serde(serialize_with = "crate::runtime::clock::iso::opt_ms")]
    pub finished_at: Option<i64>,
}

/// The final state of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Done.
    Succeeded,
    /// Failed after its attempts.
    Failed,
    /// `if:` was false, or it depended only on skipped or failed steps.
    Skipped,
}

impl StepStatus {
    /// Stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "succeeded" => StepStatus::Succeeded,
            "failed" => StepStatus::Failed,
            "skipped" => StepStatus::Skipped,
            _ => return None,
        })
    }
}

/// A step's final result.
#[derive(Clone, Debug, Serialize)]
pub struct StepResult {
    /// The run.
    pub run_id: String,
    /// The step.
    pub step_id: String,
    /// Final state.
    pub status: StepStatus,
    /// Output (succeeded) — what `steps.<id>.output` reads.
    pub output: Option<Value>,
    /// Error (failed) — what `steps.<id>.error` reads.
    pub error: Option<Value>,
    /// When.
    #[serde(serialize_with = "crate::runtime::clock::iso::ms")]
    pub finished_at: i64,
}

/// A run as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RunRecord {
    /// Its id.
    pub run_id: String,
    /// The event it came from.
    pub event_id: String,
    /// Which definition.
    pub workflow: WorkflowVersion,
    /// Status.
    pub status: RunStatus,
    /// Created.
    #[serde(serialize_with = "crate::runtime::clock::iso::ms")]
    pub created_at: i64,
    /// First claimed.
    #[serde(serialize_with = "crate::runtime::clock::iso::opt_ms")]
    pub started_at: Option<i64>,
    /// Finished.
    #[serde(serialize_with = "crate::runtime::clock::iso::opt_ms")]
    pub finished_at: Option<i64>,
    /// Failure detail.
    pub error: Option<Value>,
    /// User retries so far.
    pub retries: u32,
}

/// Which events a purge batch walks ([`RetentionStore::purge`](super::RetentionStore::purge)).
#[derive(Clone, Debug, Default)]
pub struct PurgeScope {
    /// The cutoff (Unix ms): events received before it, runs finished before it.
    pub before: i64,
    /// Only this workflow's events.
    pub workflow_id: Option<String>,
    /// Not these workflows' events (they have a retention of their own).
    pub except: Vec<String>,
    /// Start after this `(received_at, event_id)` (the previous batch's `last`).
    pub after: Option<(i64, String)>,
}

/// What one purge batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PurgeBatch {
    /// Events walked (a batch that walked fewer than its limit was the last).
    pub scanned: u64,
    /// Events deleted.
    pub events: u64,
    /// Runs deleted.
    pub runs: u64,
    /// Attempts deleted.
    pub attempts: u64,
    /// Step results deleted.
    pub step_results: u64,
    /// Events kept: their run is in flight or finished inside the window.
    pub kept: u64,
    /// The last event walked, to continue after.
    #[serde(skip)]
    pub last: Option<(i64, String)>,
}

impl PurgeBatch {
    /// Adds another batch's counts.
    pub fn add(&mut self, other: &PurgeBatch) {
        self.scanned += other.scanned;
        self.events += other.events;
        self.runs += other.runs;
        self.attempts += other.attempts;
        self.step_results += other.step_results;
        self.kept += other.kept;
    }
}

/// What an erasure deleted ([`SubjectStore::erase_subject`](super::SubjectStore::erase_subject)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ErasedCounts {
    /// Events.
    pub events: u64,
    /// Runs (of which `cancelled` were still queued or running).
    pub runs: u64,
    /// Runs taken off the queue before deletion.
    pub cancelled: u64,
    /// Attempts.
    pub attempts: u64,
    /// Step results.
    pub step_results: u64,
    /// Dedupe keys.
    pub dedupe_keys: u64,
    /// Blobs (binary values, e.g. a fetched PDF report) no other run refers to.
    pub blobs: u64,
}

impl ErasedCounts {
    /// Every record deleted.
    pub fn total(&self) -> u64 {
        self.events + self.runs + self.attempts + self.step_results + self.dedupe_keys + self.blobs
    }
}

/// Which runs to list.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// Only this workflow.
    pub workflow_id: Option<String>,
    /// Only these statuses.
    pub status: Option<RunStatus>,
    /// Created at or after.
    pub since: Option<i64>,
    /// Created before.
    pub until: Option<i64>,
    /// Page size (default 50, at most 1000).
    pub limit: Option<u32>,
    /// Runs created before this run (keyset paging: pass the last run id of the previous page).
    pub before: Option<String>,
    /// Only runs of this subject: the keyed hash of its value
    /// ([`crate::runtime::subjects`]).
    pub subject: Option<String>,
}
