//! The durable runtime: accept events, run workflows, resume after crashes.
//!
//! An [`Engine`] owns a [`Store`], the loaded workflows,
//! the action [`Registry`] and the [`Settings`] (secrets and vars). Once
//! [`Engine::start`]ed it runs:
//! - the **accepter** (`accept.rs`): events that passed the one accept
//!   path ([`Engine::accept`], `inbound.rs`) are batched and committed
//!   together (group commit), then answered;
//! - **workers** (`worker.rs`): claim runs with a lease, execute them
//!   (`executor.rs`), keep the lease alive while they work;
//! - the **scheduler** (`scheduler.rs`): schedule triggers, each slot fired once.
//!
//! [`Engine::reload`] ([`deploy`]) applies a changed set of workflow files
//! while all this runs, file by file: valid changes deployed, invalid ones
//! refused while their previous version serves, removed files stopped; runs
//! keep the version they started with. [`Engine::deploy_source`]
//! ([`api_deploy`]) deploys one workflow's source over the admin API.
//!
//! What actions keep in the shared state (connection credentials such as
//! OAuth tokens) is encrypted in the store with [`EngineConfig::state_key`]
//! ([`sealed`]); without a key nothing can be stored there.
//!
//! HTTP lives in `reqflow-server`; this module is transport-agnostic
//! (`trigger.rs` turns a request into an event).
//!
//! Embedding, in short (`examples/embed/` is the full program):
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn reqflow_engine::store::Store>) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use reqflow_engine::action::Registry;
//! use reqflow_engine::load::load_str;
//! use reqflow_engine::runtime::{Engine, EngineConfig, EventIn, Inbound, Origin, Settings};
//! use reqflow_engine::store::Accepted;
//!
//! let mut registry = Registry::new();
//! // registry.register(MyAction);          // your actions, as the built-in ones are registered
//! let registry = Arc::new(registry);
//! let yaml = "id: hello\ntrigger: { manual: {} }\nsteps:\n  - id: greet\n    map: { text: \"Hi {{ event.name }}\" }\n";
//! let workflow = load_str("hello.yaml", yaml, &registry).workflow.ok_or("invalid")?;
//! let engine = Engine::new(store, registry, Settings::from_env(), EngineConfig::default());
//! engine.load(vec![workflow.clone()]).await?;
//! let running = engine.start();
//! let event = EventIn {
//!     workflow: workflow.id.clone(),
//!     origin: Origin::Manual,
//!     payload: serde_json::json!({ "name": "Ada" }),
//!     received_at: reqflow_engine::runtime::clock::now_ms(),
//!     run_id: None,
//! };
//! if let Accepted::Queued { run_id } = engine.accept(Inbound::Event(event)).await? {
//!     engine.wait_for(&run_id, Duration::from_secs(10)).await?;
//!     println!("{}", engine.run_detail(&run_id).await?.unwrap_or_default());
//! }
//! running.shutdown().await;
//! # Ok(()) }
//! ```

mod accept;
pub mod api_deploy;
pub mod backlog;
pub mod clock;
pub mod connections;
pub mod deploy;
mod dispatch;
pub mod event_view;
mod executor;
pub mod inbound;
pub mod metrics;
pub mod needs;
pub mod replay;
mod report;
pub mod retention;
pub mod retry;
mod scheduler;
pub mod sealed;
pub mod secrets;
pub mod settings;
pub mod subjects;
pub mod subscriptions;
pub mod tokens;
pub mod trigger;
pub mod vars;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;

pub use accept::AcceptError;
pub use api_deploy::{ApiDeployed, DeployError};
pub use deploy::{Refusal, ReloadCause, ReloadOutcome, ReloadRecord};
pub use dispatch::FALLBACK_DEDUPE_TTL;
pub use executor::DEFAULT_STEP_TIMEOUT;
pub use inbound::{EventIn, Inbound, Origin};
pub use metrics::{EventOutcome, Metrics};
pub use report::RawOutputError;
pub use retry::{RetryAnswer, RetryRequest};
pub use sealed::{StateKey, StateKeyError};
pub use secrets::Secrets;
pub use settings::Settings;
pub use vars::Vars;

/// Truthiness as templates see it (empty and zero are false).
pub(crate) fn executor_truthy(v: &Value) -> bool {
    executor::truthy(v)
}

use crate::action::{Registry, SharedState};
use crate::compile::CompiledWorkflow;
use crate::load::load_str;
use crate::store::{Accepted, ClaimedRun, NewEvent, RunStatus, Store, StoreError, WorkflowVersion};

/// Tuning of an engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Runs executed at once by this process.
    pub max_concurrent_runs: usize,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// Runs claimed per query.
    pub claim_batch: usize,
    /// Retry backoffs up to this long are waited inline; longer ones re-queue the run.
    pub inline_retry_max: Duration,
    /// Timeout of an action attempt without `timeout:`.
    pub default_step_timeout: Duration,
    /// Queued runs above which triggers answer 503.
    pub max_backlog: u64,
    /// Each workflow's share of `max_backlog` (its queued runs above which
    /// its events are refused); `None`: divided among the loaded workflows
    /// ([`backlog::share`]).
    pub max_backlog_per_workflow: Option<u64>,
    /// Events committed per transaction at most.
    pub accept_batch: usize,
    /// Events waiting to be committed at most (beyond: 503).
    pub accept_queue: usize,
    /// This process's worker id (unique per process).
    pub worker_id: String,
    /// Whether this process runs workers (a process may only accept).
    pub run_workers: bool,
    /// Whether schedule triggers fire (off for one-off runs: `reqflow run`, `reqflow test`).
    pub run_schedules: bool,
    /// Test mode (`reqflow test`): an action step without a stub fails
    /// instead of calling anything.
    pub require_stubs: bool,
    /// Wait between retries (off in `reqflow test`, where retries happen at once).
    pub retry_delays: bool,
    /// The key actions' shared state (connection credentials) is encrypted
    /// with in the store ([`sealed`]). `None`: nothing can be stored, and an
    /// action that needs to (an OAuth connection) fails saying how to set one.
    pub state_key: Option<StateKey>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_concurrent_runs: 64,
            lease: Duration::from_secs(30),
            claim_batch: 32,
            inline_retry_max: Duration::from_secs(5),
            default_step_timeout: DEFAULT_STEP_TIMEOUT,
            max_backlog: 100_000,
            max_backlog_per_workflow: None,
            accept_batch: 512,
            accept_queue: 8192,
            worker_id: worker_id(),
            run_workers: true,
            run_schedules: true,
            require_stubs: false,
            retry_delays: true,
            state_key: None,
        }
    }
}

/// This process's name on the shared queue: `{host}-{pid}-{random}`. The
/// host alone is not enough (two containers are both pid 1, `$HOSTNAME` is
/// not exported to a systemd service, two hosts may have the same pid), and
/// two processes with one name would renew and finish each other's leases:
/// the random part keeps every start distinct.
fn worker_id() -> String {
    format!("{}-{}-{:08x}", hostname(), std::process::id(), fastrand::u32(..))
}

/// `$HOSTNAME`, else the kernel's host name (Linux), else `reqflow`.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "reqflow".into())
}

/// How an execution of a claimed run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Finished with this status.
    Finished(RunStatus),
    /// A step waits for its backoff; the run is queued again for this time (Unix ms).
    Requeued(i64),
    /// Another worker took the run over (our lease expired).
    LostLease,
}

/// Why the engine could not do something.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No workflow with this id is loaded.
    #[error("no workflow `{0}` is loaded")]
    UnknownWorkflow(String),
    /// A stored workflow version no longer compiles.
    #[error("workflow `{id}` version {hash} cannot be compiled: {message}")]
    BadVersion {
        /// Workflow id.
        id: String,
        /// Content hash.
        hash: String,
        /// Diagnostics.
        message: String,
    },
    /// The event could not be accepted.
    #[error(transparent)]
    Accept(#[from] AcceptError),
}

pub(crate) struct Inner {
    pub store: Arc<dyn Store>,
    pub shared_state: Arc<dyn SharedState>,
    /// The engine as its runs' [`RunStarter`](crate::action::RunStarter) (holds a weak reference).
    pub runs: Arc<dyn crate::action::RunStarter>,
    pub registry: Arc<Registry>,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub config: EngineConfig,
    pub worker_id: String,
    workflows: RwLock<HashMap<String, Arc<CompiledWorkflow>>>,
    routes: RwLock<HashMap<String, Arc<CompiledWorkflow>>>,
    versions: RwLock<HashMap<(String, String), Arc<CompiledWorkflow>>>,
    accepter: accept::Accepter,
    /// Reloads one at a time.
    reload_lock: tokio::sync::Mutex<()>,
    /// Refused files and recent reload outcomes.
    deploys: std::sync::Mutex<deploy::Deploys>,
    pub stubs: std::sync::Mutex<HashMap<String, HashMap<String, Stub>>>,
    /// Evaluated connection settings by workflow version (content hash) and
    /// name: they read only `secrets` and `vars`, which do not change while the engine runs.
    pub connections: std::sync::Mutex<HashMap<String, HashMap<String, crate::action::Connection>>>,
    /// The key subjects are hashed with, resolved on first use ([`subjects`]).
    subject_key: tokio::sync::OnceCell<subjects::SubjectKey>,
    /// OAuth connects waiting for their callback (`connections.rs`).
    pub(crate) pending_connects: connections::PendingConnects,
}

/// A canned answer for an action step (`reqflow test`): the action is not
/// called; its input is evaluated and recorded as usual.
#[derive(Clone, Debug)]
pub enum Stub {
    /// The step succeeds with this output.
    Output(Value),
    /// The step fails with this error.
    Error(crate::action::ActionError),
}

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("worker_id", &self.inner.worker_id)
            .field("backend", &self.inner.store.backend())
            .finish()
    }
}

/// Adapter: the store as `SharedState` (trait upcasting kept explicit);
/// the engine reads and writes it only through [`sealed::SealedState`].
#[derive(Debug)]
struct StoreState(Arc<dyn Store>);

impl SharedState for StoreState {
    fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> crate::action::BoxFuture<'a, Result<Option<Value>, crate::action::ActionError>> {
        self.0.get(key)
    }
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: Value,
    ) -> crate::action::BoxFuture<'a, Result<(), crate::action::ActionError>> {
        self.0.put(key, value)
    }
}

impl Engine {
    /// An engine over a store, with these actions and settings (or only
    /// [`Secrets`]).
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        settings: impl Into<Settings>,
        config: EngineConfig,
    ) -> Self {
        let metrics = Arc::new(Metrics::default());
        let accepter = accept::Accepter::new(store.clone(), config.accept_queue);
        let inner = Arc::new_cyclic(|me| Inner {
            runs: Arc::new(dispatch::Starter(me.clone())),
            shared_state: Arc::new(sealed::SealedState::new(
                Arc::new(StoreState(store.clone())),
                config.state_key.clone(),
            )),
            store,
            registry,
            settings: Arc::new(settings.into()),
            metrics,
            worker_id: config.worker_id.clone(),
            config,
            workflows: RwLock::new(HashMap::new()),
            routes: RwLock::new(HashMap::new()),
            versions: RwLock::new(HashMap::new()),
            accepter,
            reload_lock: tokio::sync::Mutex::new(()),
            deploys: std::sync::Mutex::new(deploy::Deploys::default()),
            stubs: std::sync::Mutex::new(HashMap::new()),
            connections: std::sync::Mutex::new(HashMap::new()),
            subject_key: tokio::sync::OnceCell::new(),
            pending_connects: Default::default(),
        });
        Engine { inner }
    }

    /// The key subjects are hashed with ([`subjects::SubjectKey::resolve`]).
    pub async fn subject_key(&self) -> Result<subjects::SubjectKey, StoreError> {
        let inner = &self.inner;
        inner
            .subject_key
            .get_or_try_init(|| subjects::SubjectKey::resolve(inner.settings.secrets(), inner.store.as_ref()))
            .await
            .cloned()
    }

    /// The keyed hash of a subject value, as the `subjects` index holds it.
    pub async fn subject_hash(&self, value: &str) -> Result<String, StoreError> {
        Ok(self.subject_key().await?.hash(value))
    }

    /// Makes these workflows the current ones (and stores their source, so
    /// runs can be retried on the version they started with). To apply a
    /// changed set while serving, file by file, see [`Engine::reload`].
    pub async fn load(&self, workflows: Vec<Arc<CompiledWorkflow>>) -> Result<(), EngineError> {
        for wf in &workflows {
            let v = WorkflowVersion { workflow_id: wf.id.clone(), version: wf.version, hash: wf.hash.clone() };
            self.inner.store.put_workflow(v, &wf.source.text).await?;
        }
        self.inner.deploys.lock().unwrap_or_else(|e| e.into_inner()).clear_refusals();
        self.swap(workflows);
        Ok(())
    }

    /// Replaces the current workflows and routes with `workflows` (their
    /// sources already stored); versions stay known for runs in flight.
    fn swap(&self, workflows: Vec<Arc<CompiledWorkflow>>) {
        let mut map = self.inner.workflows.write().unwrap_or_else(|e| e.into_inner());
        let mut versions = self.inner.versions.write().unwrap_or_else(|e| e.into_inner());
        let mut routes = self.inner.routes.write().unwrap_or_else(|e| e.into_inner());
        map.clear();
        routes.clear();
        let share =
            backlog::share(self.inner.config.max_backlog, workflows.len(), self.inner.config.max_backlog_per_workflow);
        self.inner.accepter.backlog.set_share(share);
        for wf in workflows {
            versions.insert((wf.id.clone(), wf.hash.clone()), wf.clone());
            if let Some(r) = wf.trigger.route() {
                routes.insert(r, wf.clone());
            }
            map.insert(wf.id.clone(), wf);
        }
    }

    /// The current workflows, by id.
    pub fn workflows(&self) -> Vec<Arc<CompiledWorkflow>> {
        let map = self.inner.workflows.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = map.values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// The current workflow with this id.
    pub fn workflow(&self, id: &str) -> Option<Arc<CompiledWorkflow>> {
        self.inner.workflows.read().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }

    /// The workflow serving a route (`/hooks/x`, `/soap/y`).
    pub fn by_route(&self, route: &str) -> Option<Arc<CompiledWorkflow>> {
        self.inner.routes.read().unwrap_or_else(|e| e.into_inner()).get(route).cloned()
    }

    /// A specific version (from memory, or recompiled from the stored source).
    pub async fn version(&self, v: &WorkflowVersion) -> Result<Arc<CompiledWorkflow>, EngineError> {
        let key = (v.workflow_id.clone(), v.hash.clone());
        if let Some(wf) = self.inner.versions.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(wf.clone());
        }
        let source = self
            .inner
            .store
            .workflow_source(&v.workflow_id, &v.hash)
            .await?
            .ok_or_else(|| EngineError::UnknownWorkflow(format!("{} (version {})", v.workflow_id, v.hash)))?;
        let loaded = load_str(&format!("{} (stored version)", v.workflow_id), &source, &self.inner.registry);
        let wf = loaded.workflow.ok_or_else(|| EngineError::BadVersion {
            id: v.workflow_id.clone(),
            hash: v.hash.clone(),
            message: loaded.report.render_short(),
        })?;
        self.inner.versions.write().unwrap_or_else(|e| e.into_inner()).insert(key, wf.clone());
        Ok(wf)
    }

    /// The actions and connection types workflows can use.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The secrets (for masking in answers).
    pub fn secrets(&self) -> &Secrets {
        self.inner.settings.secrets()
    }

    /// Secrets and vars, as triggers and steps read them.
    pub fn settings(&self) -> &Arc<Settings> {
        &self.inner.settings
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Answer action steps of the run `run_id` with stubs (by step id), for `reqflow test`.
    pub fn stub_run(&self, run_id: &str, stubs: HashMap<String, Stub>) {
        if let Ok(mut m) = self.inner.stubs.lock() {
            m.insert(run_id.to_owned(), stubs);
        }
    }

    /// Submit an event through the batching accepter: durable when this
    /// returns `Ok`. Callers go through [`Engine::accept`].
    pub(crate) async fn submit(&self, event: NewEvent) -> Result<Accepted, AcceptError> {
        self.inner.accepter.submit(event, &self.inner).await
    }

    /// Start workers, the scheduler and the accepter; they stop when the
    /// returned handle is dropped or [`Running::shutdown`] is called.
    pub fn start(&self) -> Running {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(accept::run(self.inner.clone(), rx.clone())));
        if self.inner.config.run_workers {
            tasks.push(tokio::spawn(worker::run(self.inner.clone(), rx.clone())));
        }
        if self.inner.config.run_schedules {
            tasks.push(tokio::spawn(scheduler::run(self.clone(), rx.clone())));
        }
        tasks.push(tokio::spawn(accept::watch_backlog(self.inner.clone(), rx)));
        Running { stop: tx, tasks }
    }

    /// Wait until a run reaches a final status (polling the store), or `timeout`.
    pub async fn wait_for(
        &self,
        run_id: &str,
        timeout: Duration,
    ) -> Result<Option<crate::store::RunRecord>, EngineError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let run = self.inner.store.run(run_id).await?;
            if let Some(r) = &run
                && !matches!(r.status, RunStatus::Queued | RunStatus::Running)
            {
                return Ok(run);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(run);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub(crate) async fn execute(inner: &Inner, engine: &Engine, mut run: ClaimedRun) -> Result<RunEnd, EngineError> {
    if let Some(reason) = run.undecodable.take() {
        return fail_alone(inner, &run, format!("the run's stored event cannot be read back: {reason}")).await;
    }
    let wf = match engine.version(&run.workflow).await {
        Ok(wf) => wf,
        Err(e) => return fail_alone(inner, &run, e.to_string()).await,
    };
    let event = std::mem::take(&mut run.event);
    match executor::Execution::new(inner, &wf, &run).execute(event).await {
        Ok(end) => Ok(end),
        // Stored data of this run that cannot be decoded will not decode on
        // the next claim either: the run fails now, alone, with the reason,
        // instead of coming back after every lease.
        Err(StoreError::Corrupt(m)) => {
            fail_alone(inner, &run, format!("the run's stored data cannot be read back: {m}")).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Finish a run that cannot be executed as failed (permanent), with `reason`.
async fn fail_alone(inner: &Inner, run: &ClaimedRun, reason: String) -> Result<RunEnd, EngineError> {
    tracing::warn!(run_id = %run.run_id, workflow = %run.workflow.workflow_id, reason = %reason, "run failed: it cannot be executed");
    let outcome = crate::store::RunOutcome {
        status: RunStatus::Failed,
        error: Some(serde_json::json!({ "message": reason, "class": "permanent" })),
        finished_at: clock::now_ms(),
    };
    inner.store.finish(&inner.worker_id, &run.run_id, outcome).await?;
    Ok(RunEnd::Finished(RunStatus::Failed))
}

/// A started engine; dropping it stops the background tasks.
#[derive(Debug)]
pub struct Running {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stop and wait for the background tasks (in-flight runs finish their current step).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
