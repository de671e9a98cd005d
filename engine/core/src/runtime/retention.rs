//! Retention: finished runs, their events, attempts and step results are
//! deleted once older than a window — the workflow's `retention:`, else
//! `serve --retain` — and expired dedupe keys with them.
//!
//! A run is kept while it is queued or running, and until it finished
//! longer ago than the window; an event that started no run goes when it
//! was received longer ago than the window. Dedupe keys go when they expire
//! (`dedupe_ttl`), never earlier. The purge walks the events oldest first in
//! batches of [`PURGE_BATCH`], one short store transaction each, with a
//! pause between them, so accepts are never held behind it for long.
//!
//! `serve` purges every [`purge_interval`]; `reqflow purge` runs one pass
//! (its hidden `--at TIME` purges as of another time: the test clock).

use std::time::Duration;

use serde::Serialize;

use super::{Engine, EngineError};
use crate::store::{PurgeBatch, PurgeScope};

/// Events walked per store transaction.
pub const PURGE_BATCH: usize = 256;
/// Pause between two batches (the writer serves queued accepts meanwhile).
const PAUSE: Duration = Duration::from_millis(2);

/// What a purge pass did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PurgeReport {
    /// The time the windows were measured back from (ISO 8601).
    pub at: String,
    /// Totals over every workflow.
    #[serde(flatten)]
    pub deleted: PurgeBatch,
    /// Expired dedupe keys deleted.
    pub dedupe_keys: u64,
}

/// How often `serve` purges for these windows: a tenth of the shortest,
/// between 1 s and 60 s.
pub fn purge_interval(windows: impl IntoIterator<Item = Duration>) -> Duration {
    let shortest = windows.into_iter().min().unwrap_or(Duration::from_secs(600));
    (shortest / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

impl Engine {
    /// One purge pass as of `now` (Unix ms): `global` for workflows without
    /// a `retention:` of their own (`None`: they are kept), `own` for those
    /// with one (`(workflow id, window)`; [`Engine::retention_windows`] for
    /// the loaded workflows).
    pub async fn purge_at(
        &self,
        now: i64,
        global: Option<Duration>,
        own: &[(String, Duration)],
    ) -> Result<PurgeReport, EngineError> {
        let store = self.store();
        let mut report = PurgeReport { at: super::clock::rfc3339(now), ..Default::default() };
        let cutoff = |w: Duration| now.saturating_sub(i64::try_from(w.as_millis()).unwrap_or(i64::MAX));
        let mut passes: Vec<PurgeScope> = own
            .iter()
            .map(|(id, w)| PurgeScope { before: cutoff(*w), workflow_id: Some(id.clone()), ..Default::default() })
            .collect();
        if let Some(g) = global {
            passes.push(PurgeScope {
                before: cutoff(g),
                except: own.iter().map(|(id, _)| id.clone()).collect(),
                ..Default::default()
            });
        }
        for mut scope in passes {
            loop {
                let batch = store.purge(scope.clone(), PURGE_BATCH).await?;
                report.deleted.add(&batch);
                if (batch.scanned as usize) < PURGE_BATCH {
                    break;
                }
                scope.after = batch.last;
                tokio::time::sleep(PAUSE).await;
            }
        }
        loop {
            let n = store.purge_dedupe(now).await?;
            report.dedupe_keys += n;
            if n < crate::store::PURGE_DEDUPE_BATCH {
                break;
            }
            tokio::time::sleep(PAUSE).await;
        }
        if report.deleted.events > 0 || report.dedupe_keys > 0 {
            tracing::info!(
                events = report.deleted.events,
                runs = report.deleted.runs,
                kept = report.deleted.kept,
                dedupe_keys = report.dedupe_keys,
                "retention: purged"
            );
        }
        Ok(report)
    }

    /// The loaded workflows' own `retention:` windows.
    pub fn retention_windows(&self) -> Vec<(String, Duration)> {
        self.workflows().iter().filter_map(|w| w.retention.map(|r| (w.id.clone(), r))).collect()
    }
}
