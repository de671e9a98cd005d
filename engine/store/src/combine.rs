//! Group commit of concurrent `accept` calls.
//!
//! HTTP handlers may call `accept` with one event each. Every call waiting
//! while a transaction commits is merged into the next one: one transaction
//! (one fsync, a few multi-row statements) for the whole group, in call
//! order, so the answers are the same as if the calls had run one after
//! another. If a merged transaction fails, each call is retried on its own,
//! so one bad batch cannot fail the others.

use std::sync::Arc;

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{Accepted, NewEvent, StoreError, StoreResult};
use tokio::sync::{mpsc, oneshot};

/// Most events merged into one transaction.
const MAX_EVENTS: usize = 2000;

/// Calls waiting before callers wait (back-pressure).
const QUEUE: usize = 4096;

/// Stores one batch in one transaction (the backend's accept path).
pub(crate) type AcceptFn =
    Arc<dyn Fn(Arc<Vec<NewEvent>>) -> BoxFuture<'static, StoreResult<Vec<Accepted>>> + Send + Sync>;

struct Call {
    batch: Vec<NewEvent>,
    reply: oneshot::Sender<StoreResult<Vec<Accepted>>>,
}

/// The sending side; the task stops when the store is dropped.
#[derive(Clone, Debug)]
pub(crate) struct Combiner {
    tx: mpsc::Sender<Call>,
}

impl Combiner {
    /// Starts the merging task on the current tokio runtime.
    pub fn spawn(accept: AcceptFn) -> Combiner {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(rx, accept));
        Combiner { tx }
    }

    /// Accepts a batch in the next group; answers once it is durable.
    pub async fn accept(&self, batch: Vec<NewEvent>) -> StoreResult<Vec<Accepted>> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Call { batch, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Database("the accept task stopped".to_owned())
}

async fn run(mut rx: mpsc::Receiver<Call>, accept: AcceptFn) {
    while let Some(first) = rx.recv().await {
        let mut events = first.batch.len();
        let mut group = vec![first];
        while events < MAX_EVENTS {
            match rx.try_recv() {
                Ok(call) => {
                    events += call.batch.len();
                    group.push(call);
                }
                Err(_) => break,
            }
        }
        if group.len() == 1 {
            for call in group {
                let _ = call.reply.send(accept(Arc::new(call.batch)).await);
            }
            continue;
        }
        let mut sizes = Vec::with_capacity(group.len());
        let mut replies = Vec::with_capacity(group.len());
        let mut merged = Vec::with_capacity(events);
        for call in group {
            sizes.push(call.batch.len());
            replies.push(call.reply);
            merged.extend(call.batch);
        }
        let merged = Arc::new(merged);
        match accept(merged.clone()).await {
            Ok(mut answers) => {
                for (size, reply) in sizes.into_iter().zip(replies) {
                    let rest = answers.split_off(size.min(answers.len()));
                    let _ = reply.send(Ok(std::mem::replace(&mut answers, rest)));
                }
            }
            Err(_) => {
                // Find out whose batch failed: each on its own.
                let mut start = 0;
                for (size, reply) in sizes.into_iter().zip(replies) {
                    let own = merged[start..start + size].to_vec();
                    start += size;
                    let _ = reply.send(accept(Arc::new(own)).await);
                }
            }
        }
    }
}
