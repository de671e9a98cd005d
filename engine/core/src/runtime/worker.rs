//! Workers: claim runs with a lease, execute them, keep leases alive.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tracing::Instrument;

use super::clock::now_ms;
use super::{Engine, Inner};

/// Claim and execute runs until told to stop.
pub(super) async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let engine = Engine { inner: inner.clone() };
    let held: Arc<Mutex<HashSet<String>>> = Arc::default();
    let slots = Arc::new(tokio::sync::Semaphore::new(inner.config.max_concurrent_runs.max(1)));
    let heartbeat = tokio::spawn(heartbeat(inner.clone(), held.clone(), stop.clone()));
    let lease_ms = inner.config.lease.as_millis() as i64;
    loop {
        if *stop.borrow() {
            break;
        }
        let free = slots.available_permits();
        if free == 0 {
            tokio::select! {
                _ = slots.acquire() => {}
                _ = stop.changed() => break,
            }
            continue;
        }
        let claimed =
            match inner.store.claim(&inner.worker_id, now_ms(), lease_ms, free.min(inner.config.claim_batch)).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "claiming runs failed; trying again in 1 s");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => break,
                    }
                    continue;
                }
            };
        if claimed.is_empty() {
            tokio::select! {
                _ = inner.store.wait_for_work(500) => {}
                _ = stop.changed() => break,
            }
            continue;
        }
        for run in claimed {
            let Ok(permit) = slots.clone().acquire_owned().await else { break };
            if let Ok(mut h) = held.lock() {
                h.insert(run.run_id.clone());
            }
            let engine = engine.clone();
            let held = held.clone();
            tokio::spawn(async move {
                let run_id = run.run_id.clone();
                let span = tracing::info_span!("run", workflow = %run.workflow.workflow_id, run_id = %run.run_id);
                if let Err(e) = super::execute(&engine.inner, &engine, run).instrument(span).await {
                    // The lease will expire and the run be picked up again.
                    tracing::warn!(run_id = %run_id, error = %e, "run stopped on an error; it will be resumed after its lease");
                }
                if let Ok(mut h) = held.lock() {
                    h.remove(&run_id);
                }
                drop(permit);
            });
        }
    }
    heartbeat.abort();
}

async fn heartbeat(inner: Arc<Inner>, held: Arc<Mutex<HashSet<String>>>, mut stop: watch::Receiver<bool>) {
    let every = (inner.config.lease / 3).max(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let ids: Vec<String> = held.lock().map(|h| h.iter().cloned().collect()).unwrap_or_default();
        if ids.is_empty() {
            continue;
        }
        if let Err(e) =
            inner.store.heartbeat(&inner.worker_id, &ids, now_ms(), inner.config.lease.as_millis() as i64).await
        {
            tracing::error!(error = %e, runs = ids.len(), "lease heartbeat failed");
        }
    }
}
