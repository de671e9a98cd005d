//! The accept path: events are batched and committed in one transaction
//! (group commit); each caller is answered when its batch is durable.
//! Bounded everywhere: a full queue or a backlog over its bound is an
//! immediate [`AcceptError::Overloaded`], never unbounded memory; a
//! workflow over its share of the backlog is an immediate
//! [`AcceptError::WorkflowBacklog`] (`backlog.rs`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use super::Inner;
use super::backlog::Backlog;
use crate::store::{Accepted, NewEvent, Store};

/// Why an event was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AcceptError {
    /// Too much work waiting: try again later.
    #[error("overloaded: {0}")]
    Overloaded(String),
    /// This workflow has its share of the backlog waiting: try again later
    /// (other workflows are still accepted).
    #[error("workflow `{workflow}` has {waiting} runs waiting (its share of --max-backlog: {share})")]
    WorkflowBacklog {
        /// The workflow.
        workflow: String,
        /// Its queued runs.
        waiting: u64,
        /// Its share.
        share: u64,
    },
    /// The store failed; nothing was stored.
    #[error("the event could not be stored: {0}")]
    Store(String),
    /// The engine is shutting down.
    #[error("the engine is stopping")]
    Stopped,
}

type Job = (NewEvent, oneshot::Sender<Result<Accepted, AcceptError>>);

pub(super) struct Accepter {
    tx: mpsc::Sender<Job>,
    rx: Mutex<Option<mpsc::Receiver<Job>>>,
    pub(super) backlog: Backlog,
}

impl Accepter {
    pub(super) fn new(_store: Arc<dyn Store>, capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Accepter { tx, rx: Mutex::new(Some(rx)), backlog: Backlog::default() }
    }

    pub(super) async fn submit(&self, event: NewEvent, inner: &Inner) -> Result<Accepted, AcceptError> {
        let workflow = &event.workflow.workflow_id;
        if let Err((limit, e)) = self.backlog.check(workflow, inner.config.max_backlog) {
            inner.metrics.backlog_refused(workflow, limit);
            return Err(e);
        }
        let (tx, rx) = oneshot::channel();
        self.tx.try_send((event, tx)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => AcceptError::Overloaded("the accept queue is full".into()),
            mpsc::error::TrySendError::Closed(_) => AcceptError::Stopped,
        })?;
        rx.await.map_err(|_| AcceptError::Stopped)?
    }
}

/// Commit batches until stopped (then drain what is queued).
pub(super) async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let Some(mut rx) = inner.accepter.rx.lock().ok().and_then(|mut r| r.take()) else { return };
    let max = inner.config.accept_batch.max(1);
    loop {
        let first = tokio::select! {
            j = rx.recv() => j,
            _ = stop.changed() => { rx.close(); rx.recv().await }
        };
        let Some(first) = first else { return };
        let mut jobs = vec![first];
        while jobs.len() < max {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let (events, replies): (Vec<NewEvent>, Vec<_>) = jobs.into_iter().unzip();
        let workflows: Vec<String> = events.iter().map(|e| e.workflow.workflow_id.clone()).collect();
        match inner.store.accept(events).await {
            Ok(results) => {
                let queued = workflows.iter().zip(&results).filter(|(_, r)| matches!(r, Accepted::Queued { .. }));
                inner.accepter.backlog.add(queued.map(|(wf, _)| wf.as_str()));
                for (reply, r) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(r));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(AcceptError::Store(msg.clone())));
                }
            }
        }
    }
}

/// How often the backlog figures are read from the store.
const REFRESH: Duration = Duration::from_millis(200);

/// Refresh the backlog figures from the store, so the bounds hold across
/// processes. The total every [`REFRESH`]; the counts by workflow (a scan of
/// the queued runs, about 40–70 ms with 100,000 of them) as often, but
/// never taking more than a sixth of the time: after a read that took `t`,
/// the next one waits at least `5 t`.
pub(super) async fn watch_backlog(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut next_split = Instant::now();
    loop {
        if let Ok(d) = inner.store.depth().await {
            inner.accepter.backlog.refresh_total(d.queued);
        }
        if Instant::now() >= next_split && inner.accepter.backlog.is_split(inner.config.max_backlog) {
            let started = Instant::now();
            match inner.store.queued_by_workflow().await {
                Ok(counts) => inner.accepter.backlog.refresh_by_workflow(counts),
                Err(e) => tracing::debug!(error = %e, "cannot read the backlog by workflow"),
            }
            next_split = Instant::now() + started.elapsed().saturating_mul(5);
        }
        tokio::select! {
            _ = tokio::time::sleep(REFRESH) => {}
            _ = stop.changed() => return,
        }
    }
}
