//! Running one claimed run over its compiled graph.
//!
//! Steps whose dependencies are met run concurrently; every attempt is
//! recorded with its start and end: an attempt that may have side effects (an
//! action call) is recorded before it runs, one without (`map:`, a stub, a
//! `with:` that failed) only when it ends; the last attempt's end is written
//! together with the step's final result (one write), which is recorded
//! once. A resumed run (after a crash, or after a retry's backoff) reads back
//! what is recorded and does not redo finished steps or `foreach` items.
//! A retryable failure waits inline for short backoffs and otherwise gives
//! the run back to the queue until its backoff has passed, so no worker
//! sleeps through a ten-minute backoff.
//!
//! Writes the run does not need to wait for (a step's end and result) are
//! kept as pending [`Progress`] and go to the store with the next write it
//! does wait for: an action's start (so everything recorded before an
//! outside call is durable before the call is made), a retried attempt's end,
//! the run's end or requeue. A sequential run of `map → action → action` is
//! three writes, not six. When several steps are in flight the pending
//! writes are flushed before waiting on them, so nothing stays pending while
//! the run waits on the outside world.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::{Map, Value, json};

use super::clock::now_ms;
use super::{Inner, RunEnd};
use crate::action::{ActionContext, ActionError, Connection, ErrorClass};
use crate::compile::{CompiledStep, CompiledWorkflow, StepKind};
use crate::spec::OnError;
use crate::store::{
    AttemptEnd, AttemptRecord, AttemptWrite, ClaimedRun, NewAttempt, Progress, RunOutcome, RunStatus, StepResult,
    StepStatus, StoreError,
};
use crate::value::{CompiledValue, Scope};

/// How one step (or one `foreach` item) ended.
enum StepOutcome {
    Succeeded(Value),
    Failed(Value),
    /// Retry after this time (Unix ms): the run goes back to the queue.
    RetryAt(i64),
}

/// What a list of steps (`steps:` or `on_failure:`) came to.
enum ListOutcome {
    Done { failed: Option<Value> },
    RetryAt(i64),
}

struct RunState {
    results: HashMap<String, StepResult>,
    attempts: Vec<AttemptRecord>,
    /// What templates see (`event`, `steps`, `secrets`, `vars`, `run`), built once
    /// and then kept up to date as results arrive; shared (not copied) with
    /// the scopes of the steps it starts.
    context: Option<Arc<Value>>,
    /// The run's event until the context takes it (moved, never copied).
    event: Option<Value>,
}

/// A step's result as templates see it under `steps.<id>`.
fn step_json(r: &StepResult) -> Value {
    json!({
        "output": r.output.clone().unwrap_or(Value::Null),
        "status": r.status.as_str(),
        "error": r.error.clone().unwrap_or(Value::Null),
    })
}

pub(super) struct Execution<'a> {
    inner: &'a Inner,
    wf: &'a CompiledWorkflow,
    run: &'a ClaimedRun,
    /// Progress not written yet (see the module docs).
    pending: std::sync::Mutex<Vec<Progress>>,
}

pub(super) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn action_error_json(e: &ActionError, attempts: u32) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or_else(|_| json!({ "message": e.message }));
    if let Some(o) = v.as_object_mut() {
        o.insert("attempts".into(), attempts.into());
    }
    v
}

fn simple_error(message: impl Into<String>, code: &str) -> Value {
    json!({ "class": "permanent", "message": message.into(), "code": code })
}

impl<'a> Execution<'a> {
    pub(super) fn new(inner: &'a Inner, wf: &'a CompiledWorkflow, run: &'a ClaimedRun) -> Self {
        Execution { inner, wf, run, pending: Default::default() }
    }

    /// Keeps a write for the next one the run waits for.
    fn defer(&self, p: Progress) {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).push(p);
    }

    /// The pending writes, taken out (the caller writes them).
    fn take_pending(&self) -> Vec<Progress> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Writes the pending writes now.
    async fn flush(&self) -> Result<(), StoreError> {
        let pending = self.take_pending();
        if pending.is_empty() {
            return Ok(());
        }
        self.inner.store.apply_progress(pending).await
    }

    /// Run to the end, or until a step must wait for its backoff. `event`
    /// is the run's event, taken out of the claimed run by the caller.
    pub(super) async fn execute(&self, event: Value) -> Result<RunEnd, StoreError> {
        let store = &self.inner.store;
        let run_id = &self.run.run_id;
        // A run claimed for the first time has nothing recorded to read back.
        let (results, attempts) = if self.run.fresh {
            (Vec::new(), Vec::new())
        } else {
            (store.results(run_id).await?, store.attempts(run_id).await?)
        };
        let mut state = RunState {
            results: results.into_iter().map(|r| (r.step_id.clone(), r)).collect(),
            attempts,
            context: None,
            event: Some(event),
        };
        self.close_interrupted(&mut state).await?;

        let failed = match self.run_list(&self.wf.steps, &mut state, None).await? {
            ListOutcome::RetryAt(at) => return self.requeue(at).await,
            ListOutcome::Done { failed } => failed,
        };
        let (status, error) = match failed {
            None => (RunStatus::Succeeded, None),
            Some(error) => {
                if !self.wf.on_failure.is_empty()
                    && let ListOutcome::RetryAt(at) =
                        self.run_list(&self.wf.on_failure, &mut state, Some(&error)).await?
                {
                    return self.requeue(at).await;
                }
                (RunStatus::Failed, Some(error))
            }
        };
        let error = error.map(|e| self.inner.settings.mask(&e));
        let finished_at = now_ms();
        let outcome = RunOutcome { status, error: error.clone(), finished_at };
        let held = store.finish_after(self.take_pending(), &self.inner.worker_id, run_id, outcome).await?;
        if held {
            self.inner.metrics.run_finished(&self.wf.id, status.as_str());
            self.log_end(status, error.as_ref(), finished_at);
            Ok(RunEnd::Finished(status))
        } else {
            Ok(RunEnd::LostLease)
        }
    }

    /// One line per finished run: a failure says where and why (masked).
    fn log_end(&self, status: RunStatus, error: Option<&Value>, finished_at: i64) {
        let (wf, run) = (&self.wf, self.run);
        let duration_ms = finished_at.saturating_sub(run.created_at);
        match error {
            None => tracing::info!(
                workflow = %wf.id, version = wf.version, hash = %wf.hash, run_id = %run.run_id,
                status = %status.as_str(), duration_ms, "run finished"
            ),
            Some(e) => {
                let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                tracing::warn!(
                    workflow = %wf.id, version = wf.version, hash = %wf.hash, run_id = %run.run_id,
                    status = %status.as_str(), duration_ms, step = %field("step"), class = %field("class"),
                    error = %field("message"), "run failed"
                );
            }
        }
    }

    async fn requeue(&self, at: i64) -> Result<RunEnd, StoreError> {
        self.inner.store.requeue_after(self.take_pending(), &self.inner.worker_id, &self.run.run_id, at).await?;
        Ok(RunEnd::Requeued(at))
    }

    /// Attempts left `running` by a process that died: mark them interrupted.
    async fn close_interrupted(&self, state: &mut RunState) -> Result<(), StoreError> {
        for a in state.attempts.iter_mut().filter(|a| a.status == "running") {
            let error = json!({
                "class": "retryable",
                "code": "interrupted",
                "message": "interrupted: the process running this attempt stopped before it ended",
            });
            let end = AttemptEnd { succeeded: false, output: None, error: Some(error.clone()), finished_at: now_ms() };
            self.inner.store.finish_attempt(a.id, end).await?;
            a.status = "failed".into();
            a.error = Some(error);
        }
        Ok(())
    }

    /// The scope of a step about to start: the run's context, shared.
    fn scope(&self, state: &mut RunState, run_error: Option<&Value>) -> Scope {
        let RunState { results, context, event, .. } = state;
        let context =
            context.get_or_insert_with(|| Arc::new(self.context(results, run_error, event.take().unwrap_or_default())));
        Scope::shared(context.clone())
    }

    /// The context of [`RunState::context`], built from the results so far
    /// (once per run: the event is moved in, not copied).
    fn context(&self, results: &HashMap<String, StepResult>, run_error: Option<&Value>, event: Value) -> Value {
        let steps: Map<String, Value> = results.iter().map(|(id, r)| (id.clone(), step_json(r))).collect();
        let mut run = Map::with_capacity(5);
        run.insert("id".into(), self.run.run_id.clone().into());
        run.insert("workflow".into(), self.wf.id.clone().into());
        run.insert("version".into(), self.wf.version.into());
        run.insert("attempt".into(), (self.run.retries + 1).into());
        if let Some(e) = run_error {
            run.insert("error".into(), e.clone());
        }
        let mut context = Map::with_capacity(6);
        context.insert("event".into(), event);
        context.insert("steps".into(), Value::Object(steps));
        self.inner.settings.add_to(&mut context);
        context.insert("run".into(), Value::Object(run));
        context.insert("tables".into(), (*self.wf.tables).clone());
        Value::Object(context)
    }

    async fn run_list(
        &self,
        steps: &[CompiledStep],
        state: &mut RunState,
        run_error: Option<&Value>,
    ) -> Result<ListOutcome, StoreError> {
        if let (Some(e), Some(context)) = (run_error, &mut state.context)
            && let Some(run) = Arc::make_mut(context).get_mut("run").and_then(Value::as_object_mut)
        {
            // The context gains `run.error` for this list.
            run.insert("error".into(), e.clone());
        }
        let mut in_flight = FuturesUnordered::new();
        let mut started = vec![false; steps.len()];
        // Whether each step has its result (kept here: checked for every step
        // each time one ends, cheaper than looking the results up).
        let mut done: Vec<bool> = steps.iter().map(|s| state.results.contains_key(&s.id)).collect();
        let mut retry_at: Option<i64> = None;
        // Steps in flight, and how many of them are `foreach` steps.
        let (mut flying, mut flying_foreach) = (0usize, 0usize);
        loop {
            let mut started_now = 0usize;
            if retry_at.is_none() {
                let mut progressed = true;
                while progressed {
                    progressed = false;
                    for (i, step) in steps.iter().enumerate() {
                        if started[i] || done[i] || !step.needs.iter().all(|&n| done[n]) {
                            continue;
                        }
                        let deps: Vec<&CompiledStep> = step.needs.iter().map(|&n| &steps[n]).collect();
                        if let Some(reason) = skip_reason(&deps, state) {
                            self.record(state, step, StepStatus::Skipped, None, Some(json!({ "reason": reason })));
                            done[i] = true;
                            progressed = true;
                            continue;
                        }
                        let scope = self.scope(state, run_error);
                        if let Some(cond) = &step.condition {
                            match cond.eval(&self.wf.templates, &scope) {
                                Ok(v) if !truthy(&v) => {
                                    // Let the context be updated in place.
                                    drop(scope);
                                    self.record(
                                        state,
                                        step,
                                        StepStatus::Skipped,
                                        None,
                                        Some(json!({ "reason": "`if:` was false" })),
                                    );
                                    done[i] = true;
                                    progressed = true;
                                    continue;
                                }
                                Ok(_) => {}
                                Err(e) => {
                                    drop(scope);
                                    let err = simple_error(
                                        format!("`if:` failed: {}", self.inner.settings.mask_str(&e.to_string())),
                                        "expression",
                                    );
                                    self.record(state, step, StepStatus::Failed, None, Some(err));
                                    done[i] = true;
                                    progressed = true;
                                    continue;
                                }
                            }
                        }
                        started[i] = true;
                        let prior: Vec<AttemptRecord> = state
                            .attempts
                            .iter()
                            .filter(|a| a.step_id == step.id && a.round == self.run.retries)
                            .cloned()
                            .collect();
                        flying += 1;
                        started_now += 1;
                        flying_foreach += usize::from(step.foreach.is_some());
                        in_flight.push(async move { (i, self.run_step(step, scope, prior).await) });
                    }
                }
            }
            // One step just started (not `foreach`) writes the pending
            // progress with its own first write, or adds to it (`map:`).
            // Otherwise what is in flight may wait on the outside world, in
            // any order: write the pending progress first.
            if !(flying == 1 && started_now == 1 && flying_foreach == 0) {
                self.flush().await?;
            }
            let Some((i, outcome)) = in_flight.next().await else { break };
            let step = &steps[i];
            flying -= 1;
            flying_foreach -= usize::from(step.foreach.is_some());
            let (outcome, last) = outcome?;
            match outcome {
                StepOutcome::Succeeded(output) => {
                    self.record_with(state, step, StepStatus::Succeeded, Some(output), None, last);
                    done[i] = true;
                }
                StepOutcome::Failed(error) => {
                    self.record_with(state, step, StepStatus::Failed, None, Some(error), last);
                    done[i] = true;
                }
                StepOutcome::RetryAt(at) => {
                    started[i] = false;
                    retry_at = Some(retry_at.map_or(at, |r| r.min(at)));
                }
            }
        }
        if let Some(at) = retry_at {
            return Ok(ListOutcome::RetryAt(at));
        }
        let failed = steps.iter().find_map(|s| {
            let r = state.results.get(&s.id)?;
            (r.status == StepStatus::Failed && s.on_error == OnError::Fail).then(|| {
                let mut e = r.error.clone().unwrap_or(Value::Null);
                if let Some(o) = e.as_object_mut() {
                    o.insert("step".into(), s.id.clone().into());
                } else {
                    e = json!({ "step": s.id, "message": "failed" });
                }
                e
            })
        });
        Ok(ListOutcome::Done { failed })
    }

    fn record(
        &self,
        state: &mut RunState,
        step: &CompiledStep,
        status: StepStatus,
        output: Option<Value>,
        error: Option<Value>,
    ) {
        self.record_with(state, step, status, output, error, None)
    }

    /// Records a step's final result, with its last attempt when that is not
    /// written yet (one write, deferred: see [`Execution::defer`]).
    fn record_with(
        &self,
        state: &mut RunState,
        step: &CompiledStep,
        status: StepStatus,
        output: Option<Value>,
        error: Option<Value>,
        last: Option<AttemptWrite>,
    ) {
        let settings = &self.inner.settings;
        let result = StepResult {
            run_id: self.run.run_id.clone(),
            step_id: step.id.clone(),
            status,
            output: output.as_ref().map(|o| settings.mask(o)),
            error: error.as_ref().map(|e| settings.mask(e)),
            finished_at: now_ms(),
        };
        // In memory, downstream steps of this run see the real (unmasked) output.
        let kept =
            StepResult { run_id: result.run_id.clone(), step_id: result.step_id.clone(), output, error, ..result };
        self.defer(match last {
            Some(write) => Progress::EndAttempt { write, result: Some(result) },
            None => Progress::Result(result),
        });
        // Steps still running keep their copy of the context (copied here
        // only then); otherwise it is updated in place.
        if let Some(context) = &mut state.context
            && let Some(steps) = Arc::make_mut(context).get_mut("steps").and_then(Value::as_object_mut)
        {
            steps.insert(step.id.clone(), step_json(&kept));
        }
        state.results.insert(step.id.clone(), kept);
    }

    /// Runs a step; returns how it ended and, when its last attempt is not
    /// written yet, that attempt (to write with the step's result).
    async fn run_step(
        &self,
        step: &CompiledStep,
        scope: Scope,
        prior: Vec<AttemptRecord>,
    ) -> Result<(StepOutcome, Option<AttemptWrite>), StoreError> {
        let Some(list) = &step.foreach else {
            return self.attempts(step, &scope, None, &prior).await;
        };
        Ok((self.run_items(step, &scope, list, &prior).await?, None))
    }

    /// A `foreach` step: each item's attempts are written as they end (a
    /// resumed run skips the items that succeeded).
    async fn run_items(
        &self,
        step: &CompiledStep,
        scope: &Scope,
        list: &CompiledValue,
        prior: &[AttemptRecord],
    ) -> Result<StepOutcome, StoreError> {
        let items = match list.eval(&self.wf.templates, scope) {
            Ok(Value::Array(items)) => items,
            Ok(Value::Null) => Vec::new(),
            Ok(other) => {
                let kind = match other {
                    Value::Object(_) => "a mapping",
                    Value::String(_) => "a string",
                    _ => "a scalar",
                };
                return Ok(StepOutcome::Failed(simple_error(
                    format!("`foreach:` must yield a list, got {kind}"),
                    "expression",
                )));
            }
            Err(e) => {
                return Ok(StepOutcome::Failed(simple_error(
                    format!("`foreach:` failed: {}", self.inner.settings.mask_str(&e.to_string())),
                    "expression",
                )));
            }
        };
        let concurrency = step.concurrency.max(1) as usize;
        let mut outputs: Vec<Value> = vec![Value::Null; items.len()];
        let mut retry_at: Option<i64> = None;
        let mut failure: Option<Value> = None;
        let mut pending = futures_util::stream::iter(items.into_iter().enumerate().map(|(index, item)| {
            let scope = scope.with([("item".to_owned(), item), ("index".to_owned(), json!(index))]);
            let prior: Vec<AttemptRecord> = prior.iter().filter(|a| a.item == Some(index as u32)).cloned().collect();
            async move {
                if let Some(done) = prior.iter().rev().find(|a| a.status == "succeeded") {
                    return (index, Ok(StepOutcome::Succeeded(done.output.clone().unwrap_or(Value::Null))));
                }
                let outcome = match self.attempts(step, &scope, Some(index as u32), &prior).await {
                    Ok((outcome, Some(last))) => self.write_attempt(last).await.map(|()| outcome),
                    Ok((outcome, None)) => Ok(outcome),
                    Err(e) => Err(e),
                };
                (index, outcome)
            }
        }))
        .buffer_unordered(concurrency);
        while let Some((index, outcome)) = pending.next().await {
            match outcome? {
                StepOutcome::Succeeded(v) => outputs[index] = v,
                StepOutcome::Failed(e) => {
                    if failure.is_none() {
                        failure = Some(json!({
                            "class": e.get("class").cloned().unwrap_or(Value::Null),
                            "message": format!("item {index} failed: {}", e.get("message").and_then(Value::as_str).unwrap_or("error")),
                            "item": index,
                            "error": e,
                        }));
                    }
                }
                StepOutcome::RetryAt(at) => retry_at = Some(retry_at.map_or(at, |r| r.min(at))),
            }
        }
        Ok(match (failure, retry_at) {
            (Some(f), _) => StepOutcome::Failed(f),
            (None, Some(at)) => StepOutcome::RetryAt(at),
            (None, None) => StepOutcome::Succeeded(Value::Array(outputs)),
        })
    }

    /// Writes an attempt's record now (after the pending progress).
    async fn write_attempt(&self, write: AttemptWrite) -> Result<(), StoreError> {
        let mut pending = self.take_pending();
        pending.push(Progress::EndAttempt { write, result: None });
        self.inner.store.apply_progress(pending).await
    }

    /// Attempts of one step (or one `foreach` item) within its retry policy.
    /// The last attempt's end is returned unwritten (with a final outcome);
    /// earlier ones are written before the next starts.
    async fn attempts(
        &self,
        step: &CompiledStep,
        scope: &Scope,
        item: Option<u32>,
        prior: &[AttemptRecord],
    ) -> Result<(StepOutcome, Option<AttemptWrite>), StoreError> {
        let policy = &step.retry;
        let last = prior.iter().filter(|a| a.item == item).max_by_key(|a| a.attempt);
        // The process stopped after the attempt ended well but before the step's
        // result was recorded: the work is done, its (stored, masked) output stands.
        if let Some(a) = last
            && a.status == "succeeded"
        {
            let output = a.output.clone().unwrap_or(Value::Null);
            return Ok((StepOutcome::Succeeded(output), None));
        }
        let mut attempt = prior.iter().filter(|a| a.item == item).map(|a| a.attempt).max().unwrap_or(0) + 1;
        // A crash that interrupted a pure step (`map:`) cost nothing outside the
        // engine: the step runs again, whatever its budget (`map:` has one attempt).
        let redo_pure = matches!(step.kind, StepKind::Map(_))
            && prior.iter().filter(|a| a.item == item).max_by_key(|a| a.attempt).is_some_and(was_interrupted);
        if attempt > policy.attempts && !redo_pure {
            let last = prior.iter().filter(|a| a.item == item).max_by_key(|a| a.attempt).and_then(|a| a.error.clone());
            let mut e = last.unwrap_or_else(|| json!({ "message": "no attempts left" }));
            if let Some(o) = e.as_object_mut() {
                o.insert("attempts".into(), policy.attempts.into());
                o.insert("class".into(), "retryable".into());
            }
            return Ok((StepOutcome::Failed(e), None));
        }
        loop {
            let (result, write) = self.attempt(step, scope, item, attempt).await?;
            match result {
                Ok(output) => return Ok((StepOutcome::Succeeded(output), Some(write))),
                Err(e) => {
                    if e.class == ErrorClass::Permanent || attempt >= policy.attempts {
                        let error = action_error_json(&self.mask_error(e), attempt);
                        return Ok((StepOutcome::Failed(error), Some(write)));
                    }
                    self.write_attempt(write).await?;
                    self.inner.metrics.retry(&self.wf.id, &step.id);
                    let mut delay = policy.delay_before(attempt + 1);
                    if policy.jitter > 0.0 {
                        let f = 1.0 + policy.jitter * (2.0 * fastrand::f64() - 1.0);
                        delay = delay.mul_f64(f.max(0.0));
                    }
                    if let Some(after) = e.retry_after {
                        delay = delay.max(after);
                    }
                    if !self.inner.config.retry_delays {
                        delay = Duration::ZERO;
                    }
                    tracing::info!(
                        workflow = %self.wf.id, run_id = %self.run.run_id, step = %step.id, item,
                        attempt = attempt + 1, delay_ms = delay.as_millis() as u64,
                        reason = %self.inner.settings.mask_str(&e.message), "retry scheduled"
                    );
                    if delay > self.inner.config.inline_retry_max {
                        return Ok((StepOutcome::RetryAt(now_ms() + delay.as_millis() as i64), None));
                    }
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    fn mask_error(&self, mut e: ActionError) -> ActionError {
        let s = &self.inner.settings;
        e.message = s.mask_str(&e.message);
        e.details = e.details.map(|d| s.mask(&d));
        e
    }

    /// One attempt. An action call is recorded before it starts; the
    /// attempt's end (or, without side effects, the whole attempt) is
    /// returned for the caller to write. Inside the `step` span (under the
    /// worker's `run` span), so whatever an action logs names its step.
    #[tracing::instrument(level = "info", name = "step", skip_all, fields(step = %step.id, item = ?item, attempt))]
    async fn attempt(
        &self,
        step: &CompiledStep,
        scope: &Scope,
        item: Option<u32>,
        attempt: u32,
    ) -> Result<(Result<Value, ActionError>, AttemptWrite), StoreError> {
        let store = &self.inner.store;
        let settings = &self.inner.settings;
        let (input, prepared) = match &step.kind {
            StepKind::Map(value) => (Value::Null, Prepared::Map(value)),
            StepKind::Action { action, connection, with, .. } => match with.eval(&self.wf.templates, scope) {
                Err(e) => (
                    Value::Null,
                    Prepared::Invalid(ActionError::permanent(format!("`with:` failed: {e}")).with_code("expression")),
                ),
                Ok(params) if self.inner.config.require_stubs || self.stub(&step.id).is_some() => {
                    (params, Prepared::Stubbed)
                }
                Ok(params) => match self.connection(connection.as_deref()) {
                    Err(e) => (params, Prepared::Invalid(e)),
                    Ok(conn) => (params.clone(), Prepared::Action { action, params, conn }),
                },
            },
        };
        let new = NewAttempt {
            run_id: self.run.run_id.clone(),
            step_id: step.id.clone(),
            item,
            attempt,
            round: self.run.retries,
            input: settings.mask(&input),
            started_at: now_ms(),
        };
        // Only an action call can have effects outside: record it before it starts.
        let id = match prepared {
            Prepared::Action { .. } => Some(store.start_attempt_after(self.take_pending(), new.clone()).await?),
            _ => None,
        };
        let started = Instant::now();
        let result = match prepared {
            Prepared::Invalid(e) => Err(e),
            Prepared::Map(value) => value
                .eval(&self.wf.templates, scope)
                .map_err(|e| ActionError::permanent(format!("`map:` failed: {e}")).with_code("expression")),
            Prepared::Stubbed => match self.stub(&step.id) {
                Some(super::Stub::Output(v)) => Ok(v),
                Some(super::Stub::Error(e)) => Err(e),
                None => Err(ActionError::permanent(format!(
                    "step `{}` calls an action but the test gives it no stub (tests never call the outside world)",
                    step.id
                ))
                .with_code("test.no_stub")),
            },
            Prepared::Action { action, params, conn } => {
                let timeout = step.timeout.unwrap_or(self.inner.config.default_step_timeout);
                let mut cx = ActionContext::new(self.run.run_id.clone(), self.wf.id.clone(), step.id.clone(), attempt)
                    .with_timeout(Some(timeout))
                    .with_state(self.inner.shared_state.clone())
                    .with_runs(self.inner.runs.clone());
                if let Some(item) = item {
                    cx.step = format!("{}[{item}]", step.id);
                }
                if let Some(c) = conn {
                    cx = cx.with_connection(c);
                }
                match tokio::time::timeout(timeout, action.call(cx, params)).await {
                    Ok(r) => r,
                    Err(_) => {
                        Err(ActionError::retryable(format!("timed out after {}", humantime::format_duration(timeout)))
                            .with_code("timeout"))
                    }
                }
            }
        };
        self.inner.metrics.step_latency.observe(started.elapsed());
        let end = match &result {
            Ok(out) => {
                AttemptEnd { succeeded: true, output: Some(settings.mask(out)), error: None, finished_at: now_ms() }
            }
            Err(e) => AttemptEnd {
                succeeded: false,
                output: None,
                error: Some(action_error_json(&self.mask_error(e.clone()), attempt)),
                finished_at: now_ms(),
            },
        };
        let write = match id {
            Some(id) => AttemptWrite::Started { id, end },
            None => AttemptWrite::Whole { attempt: new, end },
        };
        Ok((result, write))
    }

    fn stub(&self, step: &str) -> Option<super::Stub> {
        let stubs = self.inner.stubs.lock().ok()?;
        stubs.get(&self.run.run_id)?.get(step).cloned()
    }

    /// A connection's evaluated settings (evaluated once per workflow version).
    fn connection(&self, name: Option<&str>) -> Result<Option<Connection>, ActionError> {
        let Some(name) = name else { return Ok(None) };
        let cached = |m: &HashMap<String, HashMap<String, Connection>>| m.get(&self.wf.hash)?.get(name).cloned();
        if let Some(c) = self.inner.connections.lock().ok().and_then(|m| cached(&m)) {
            return Ok(Some(c));
        }
        let Some(c) = self.wf.connections.get(name) else {
            return Err(ActionError::permanent(format!("connection `{name}` is not defined")));
        };
        let scope = self.inner.settings.scope();
        let settings = c.settings.eval(&self.wf.templates, &scope).map_err(|e| {
            ActionError::permanent(format!("connection `{name}`: {}", self.inner.settings.mask_str(&e.to_string())))
        })?;
        let conn = Connection { name: name.to_owned(), kind: c.kind.clone(), settings };
        if let Ok(mut m) = self.inner.connections.lock() {
            m.entry(self.wf.hash.clone()).or_default().insert(name.to_owned(), conn.clone());
        }
        Ok(Some(conn))
    }
}

enum Prepared<'a> {
    Map(&'a CompiledValue),
    Action { action: &'a Arc<dyn crate::action::DynAction>, params: Value, conn: Option<Connection> },
    Stubbed,
    Invalid(ActionError),
}

/// Whether an attempt was cut short by the process stopping (a crash or `kill -9`).
fn was_interrupted(a: &AttemptRecord) -> bool {
    a.error.as_ref().and_then(|e| e.get("code")).and_then(Value::as_str) == Some("interrupted")
}

/// Why a step is skipped because of what it needs, if it is.
fn skip_reason(deps: &[&CompiledStep], state: &RunState) -> Option<String> {
    for d in deps {
        let r = state.results.get(&d.id)?;
        if r.status == StepStatus::Failed && d.on_error == OnError::Fail {
            return Some(format!("`{}` failed", d.id));
        }
    }
    if !deps.is_empty() {
        let all_skipped =
            deps.iter().all(|d| state.results.get(&d.id).is_some_and(|r| r.status == StepStatus::Skipped));
        if all_skipped {
            return Some("every step it needs was skipped".into());
        }
    }
    None
}

/// Default timeout of an action attempt without `timeout:`.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(300);
