//! Replaying stored events against an edited workflow (`reqflow replay`):
//! each event a workflow accepted in a time range is run again, through the
//! edited definition, in a throwaway store, without calling anything
//! outside — every action call is answered from what that step returned in
//! the original run ([`answer`]) — and each replayed run is compared with
//! its original, step by step ([`compare`]).
//!
//! The replayed run keeps its original run's id (so `run.id`, and whatever
//! is built from it, reads the same) and its event's `received_at`. The
//! source store is only read.

pub mod answer;
pub mod compare;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use serde::Serialize;
use serde_json::Value;

use self::answer::{OriginalRun, Originals};
use self::compare::{Replayed, StepReport, Verdict};
use super::clock::iso;
use super::{Engine, EngineConfig, EngineError, EventIn, Inbound, Origin, Settings};
use crate::action::Registry;
use crate::compile::{CompiledWorkflow, StepKind};
use crate::load::load_str;
use crate::store::{Accepted, EventFilter, EventSummary, RunStatus, Store, StoreError};

/// Why a replay could not be made (a report of changes is not an error).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The source or the scratch store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The scratch engine refused the edited workflow or an event.
    #[error("the replay engine: {0}")]
    Engine(String),
}

impl From<EngineError> for ReplayError {
    fn from(e: EngineError) -> Self {
        ReplayError::Engine(e.to_string())
    }
}

/// Which events to replay.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// The workflow whose stored events are replayed (default: the edited file's id).
    pub workflow_id: String,
    /// Received at or after (Unix ms).
    pub since: i64,
    /// Received before (Unix ms).
    pub until: Option<i64>,
    /// At most this many events, oldest first.
    pub limit: usize,
    /// How long one replayed run may take.
    pub run_timeout: Duration,
}

/// One event, replayed (or skipped).
#[derive(Clone, Debug, Serialize)]
pub struct EventReport {
    /// The stored event.
    pub event_id: String,
    /// When it arrived.
    #[serde(serialize_with = "iso::ms")]
    pub received_at: i64,
    /// The original run.
    pub run_id: Option<String>,
    /// What it comes to.
    pub verdict: Verdict,
    /// Why it was skipped, or what else changed (e.g. the edited `when:` now ignores it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The original run's status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_status: Option<RunStatus>,
    /// The replayed run's status (`None` when it started no run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_status: Option<RunStatus>,
    /// Newly failing: the replayed run's error (which step, why), secrets masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Value>,
    /// Every step of either run, with what changed.
    pub steps: Vec<StepReport>,
}

/// The counts of a replay.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Events looked at.
    pub events: usize,
    /// Replayed, every request the same.
    pub unchanged: usize,
    /// Replayed, something differs.
    pub changed: usize,
    /// Replayed, the original succeeded and the replay fails.
    pub newly_failing: usize,
    /// Not replayed: the event started no run, or its run is missing or not finished.
    pub skipped: usize,
}

/// The whole replay.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    /// The workflow whose events were replayed.
    pub workflow: String,
    /// The edited version's hash.
    pub hash: String,
    /// The range.
    #[serde(serialize_with = "iso::ms")]
    pub since: i64,
    /// The range's end, if any.
    #[serde(serialize_with = "iso::opt_ms")]
    pub until: Option<i64>,
    /// Per event, oldest first.
    pub events: Vec<EventReport>,
    /// The counts.
    pub summary: Summary,
}

/// A replay: the replaying registry the edited workflow is loaded with,
/// and the original runs it answers from.
#[derive(Debug)]
pub struct Replay {
    base: Arc<Registry>,
    registry: Arc<Registry>,
    originals: Arc<Originals>,
}

/// How many events are replayed at once.
const CHUNK: usize = 32;

impl Replay {
    /// A replay over the deployment's actions (`base`).
    pub fn new(base: Arc<Registry>) -> Self {
        let originals = Arc::new(Originals::default());
        let registry = Arc::new(answer::replaying_registry(&base, originals.clone()));
        Replay { base, registry, originals }
    }

    /// The registry to load the edited workflow with: its actions answer
    /// from the original runs and never call out.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Replays the events of `opts.workflow_id` read from `source` through
    /// `edited` (loaded with [`Replay::registry`]), in the empty `scratch` store.
    pub async fn run(
        &self,
        source: &dyn Store,
        scratch: Arc<dyn Store>,
        edited: Arc<CompiledWorkflow>,
        settings: Settings,
        opts: &ReplayOptions,
    ) -> Result<ReplayReport, ReplayError> {
        let events = select_events(source, opts).await?;
        let new_kinds = kinds_of(&edited);
        let config = EngineConfig {
            max_concurrent_runs: 8,
            run_schedules: false,
            retry_delays: false,
            state_key: None,
            worker_id: "replay".into(),
            ..EngineConfig::default()
        };
        let engine = Engine::new(scratch, self.registry.clone(), settings, config);
        engine.load(vec![edited.clone()]).await?;
        let running = engine.start();
        let versions: Versions = Mutex::new(HashMap::new());
        let mut reports = Vec::with_capacity(events.len());
        let result = async {
            for chunk in events.chunks(CHUNK) {
                let mut started = Vec::new();
                // Read and submitted together: the scratch store commits them in one batch.
                let submitted =
                    join_all(chunk.iter().map(|e| self.start(source, &engine, &edited, e, &versions))).await;
                for (e, s) in chunk.iter().zip(submitted) {
                    match s? {
                        Started::Done(r) => reports.push(*r),
                        Started::Running { run_id, original_status } => {
                            reports.push(skeleton(e, Some(run_id.clone()), Verdict::Skipped));
                            started.push((reports.len() - 1, run_id, original_status));
                        }
                    }
                }
                for (i, run_id, original_status) in started {
                    reports[i] = self.finish(&engine, &reports[i], &run_id, original_status, &new_kinds, opts).await?;
                    self.originals.remove(&run_id);
                }
            }
            Ok::<(), ReplayError>(())
        }
        .await;
        running.shutdown().await;
        result?;
        let mut summary = Summary { events: reports.len(), ..Summary::default() };
        for r in &reports {
            match r.verdict {
                Verdict::Unchanged => summary.unchanged += 1,
                Verdict::Changed => summary.changed += 1,
                Verdict::NewlyFailing => summary.newly_failing += 1,
                Verdict::Skipped => summary.skipped += 1,
            }
        }
        Ok(ReplayReport {
            workflow: opts.workflow_id.clone(),
            hash: edited.hash.clone(),
            since: opts.since,
            until: opts.until,
            events: reports,
            summary,
        })
    }

    /// Reads one event's original run and submits the event to the scratch engine.
    async fn start(
        &self,
        source: &dyn Store,
        engine: &Engine,
        edited: &CompiledWorkflow,
        e: &EventSummary,
        versions: &Versions,
    ) -> Result<Started, ReplayError> {
        let skip = |reason: String| {
            let mut r = skeleton(e, e.run_id.clone(), Verdict::Skipped);
            r.reason = Some(reason);
            Ok(Started::Done(Box::new(r)))
        };
        if e.status != "queued" {
            let outcome = crate::store::EventOutcome::from_stored(&e.status).map_or(e.status.as_str(), |o| o.as_str());
            return skip(format!("the original event was {outcome}: it started no run"));
        }
        let Some(run_id) = e.run_id.clone() else {
            return skip("the event's run is not recorded with it (stored before reqflow recorded it)".into());
        };
        let Some(run) = source.run(&run_id).await? else {
            return skip(format!("the original run {run_id} is not in the store"));
        };
        if matches!(run.status, RunStatus::Queued | RunStatus::Running) {
            return skip(format!("the original run is still {}", run.status.as_str()));
        }
        let Some(event) = source.event(&e.event_id).await? else {
            return skip("the event is no longer in the store".into());
        };
        let hash = run.workflow.hash.clone();
        let known = versions.lock().unwrap_or_else(|e| e.into_inner()).get(&hash).cloned();
        let kinds = match known {
            Some(kinds) => kinds,
            None => {
                let kinds = source
                    .workflow_source(&run.workflow.workflow_id, &hash)
                    .await?
                    .and_then(|text| load_str("stored version", &text, &self.base).workflow)
                    .map(|wf| Arc::new(kinds_of(&wf)));
                versions.lock().unwrap_or_else(|e| e.into_inner()).insert(hash, kinds.clone());
                kinds
            }
        };
        let mut attempts = source.attempts(&run_id).await?;
        // Binary outputs are stored once, by hash: the answers carry their bytes again.
        for a in &mut attempts {
            if let Some(out) = a.output.as_mut() {
                crate::store::fill_binary(source, out).await?;
            }
        }
        self.originals.insert(&run_id, Arc::new(OriginalRun::new(attempts, kinds)));
        let ev = EventIn {
            workflow: edited.id.clone(),
            origin: Origin::Direct,
            payload: event.payload,
            received_at: event.received_at,
            run_id: Some(run_id.clone()),
        };
        let accepted = engine.accept(Inbound::Event(ev)).await.map_err(|e| ReplayError::Engine(e.to_string()))?;
        let mut r = skeleton(e, Some(run_id.clone()), Verdict::Changed);
        r.original_status = Some(run.status);
        match accepted {
            Accepted::Queued { .. } => return Ok(Started::Running { run_id, original_status: run.status }),
            Accepted::Ignored { .. } => r.reason = Some("the edited workflow ignores it (`when:` is false)".into()),
            Accepted::Duplicate { .. } => {
                r.reason =
                    Some("the edited workflow's `dedupe:` makes it a duplicate of an earlier replayed event".into())
            }
            Accepted::Invalid { reason, .. } => {
                r.verdict = if run.status == RunStatus::Succeeded { Verdict::NewlyFailing } else { Verdict::Changed };
                r.reason =
                    Some(format!("the edited workflow finds it invalid: {}", engine.settings().mask_str(&reason)));
            }
        }
        self.originals.remove(&run_id);
        Ok(Started::Done(Box::new(r)))
    }

    /// Waits for a replayed run and compares it with its original.
    async fn finish(
        &self,
        engine: &Engine,
        skeleton: &EventReport,
        run_id: &str,
        original_status: RunStatus,
        new_kinds: &HashMap<String, String>,
        opts: &ReplayOptions,
    ) -> Result<EventReport, ReplayError> {
        let mut r = skeleton.clone();
        r.original_status = Some(original_status);
        let run = engine.wait_for(run_id, opts.run_timeout).await?;
        let Some(run) = run.filter(|r| !matches!(r.status, RunStatus::Queued | RunStatus::Running)) else {
            r.reason = Some(format!("the replayed run did not finish within {} s", opts.run_timeout.as_secs()));
            return Ok(r);
        };
        let store = engine.store();
        let (attempts, results) = (store.attempts(run_id).await?, store.results(run_id).await?);
        let Some(original) = self.originals_run(run_id) else {
            return Ok(r);
        };
        let replayed = Replayed { run: &run, attempts: &attempts, results: &results, kinds: new_kinds };
        let (steps, verdict, failure) = compare::compare(&original, original_status, &replayed);
        r.replay_status = Some(run.status);
        r.steps = steps;
        r.verdict = verdict;
        r.failure = failure;
        let stops_at_new_call = r.steps.iter().any(|s| s.not_sent);
        if verdict == Verdict::Changed && run.status != original_status {
            r.reason = Some(if run.status == RunStatus::Failed && stops_at_new_call {
                "the replayed run stops at a new call that was not sent: how it would end is unknown".to_owned()
            } else {
                format!("the run now ends {} (was {})", run.status.as_str(), original_status.as_str())
            });
        }
        Ok(r)
    }

    fn originals_run(&self, run_id: &str) -> Option<Arc<OriginalRun>> {
        self.originals.get(run_id)
    }
}

/// Each original version's step kinds, by hash (`None`: the version could not be read).
type Versions = Mutex<HashMap<String, Option<Arc<HashMap<String, String>>>>>;

enum Started {
    Done(Box<EventReport>),
    Running { run_id: String, original_status: RunStatus },
}

fn skeleton(e: &EventSummary, run_id: Option<String>, verdict: Verdict) -> EventReport {
    EventReport {
        event_id: e.event_id.clone(),
        received_at: e.received_at,
        run_id,
        verdict,
        reason: None,
        original_status: None,
        replay_status: None,
        failure: None,
        steps: Vec::new(),
    }
}

/// Each step's action kind (`map` for `map:` steps), `on_failure:` included.
fn kinds_of(wf: &CompiledWorkflow) -> HashMap<String, String> {
    wf.steps
        .iter()
        .chain(&wf.on_failure)
        .map(|s| {
            let kind = match &s.kind {
                StepKind::Map(_) => "map".to_owned(),
                StepKind::Action { kind, .. } => kind.clone(),
            };
            (s.id.clone(), kind)
        })
        .collect()
}

/// The events of the range, oldest first, at most `opts.limit`.
async fn select_events(source: &dyn Store, opts: &ReplayOptions) -> Result<Vec<EventSummary>, StoreError> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let filter = EventFilter {
            workflow_id: Some(opts.workflow_id.clone()),
            outcome: None,
            since: Some(opts.since),
            until: opts.until,
            limit: Some(1000),
            before: before.take(),
        };
        let page = source.events(filter).await?;
        let n = page.len();
        before = page.last().map(|e| e.event_id.clone());
        all.extend(page);
        if n < 1000 {
            break;
        }
    }
    all.reverse();
    all.truncate(opts.limit);
    Ok(all)
}
