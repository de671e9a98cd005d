//! The accept path: events are batched and committed in one transaction
//! (group commit); each caller is answered when its batch is durable.
//! Bounded everywhere: a full queue or a backlog over its bound is an
//! immediate [`AcceptError::Overloaded`], never unbounded memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::Inner;
use crate::store::{Accepted, NewEvent, Store};

/// Why an event was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AcceptError {
    /// Too much work waiting: try again later.
    #[error("overloaded: {0}")]
    Overloaded(String),
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
    backlog: AtomicU64,
}

impl Accepter {
    pub(super) fn new(_store: Arc<dyn Store>, capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Accepter { tx, rx: Mutex::new(Some(rx)), backlog: AtomicU64::new(0) }
    }

    pub(super) async fn submit(&self, event: NewEvent, inner: &Inner) -> Result<Accepted, AcceptError> {
        let backlog = self.backlog.load(Ordering::Relaxed);
        if backlog >= inner.config.max_backlog {
            return Err(AcceptError::Overloaded(format!("{backlog} runs are waiting")));
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
        let queued = events.iter().filter(|e| e.start_run).count() as u64;
        match inner.store.accept(events).await {
            Ok(results) => {
                inner.accepter.backlog.fetch_add(queued, Ordering::Relaxed);
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

/// Refresh the backlog figure from the store, so the bound holds across processes.
pub(super) async fn watch_backlog(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    loop {
        if let Ok(d) = inner.store.depth().await {
            inner.accepter.backlog.store(d.queued, Ordering::Relaxed);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.changed() => return,
        }
    }
}
