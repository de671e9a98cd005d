//! Runs started by other runs (`workflow.start`): the engine's
//! [`RunStarter`]. The event goes through the target workflow's own accept
//! path — its `when:` and `dedupe:` apply as they do to events from its
//! trigger — so a poll and a webhook feeding the same workflow never act twice
//! on one change.

use std::sync::Weak;
use std::time::Duration;

use serde_json::Value;

use super::{Engine, Inner, trigger};
use crate::action::{ActionError, BoxFuture, RunStarter};

/// How long the fallback dedupe key of a started run is kept (the target's
/// own `dedupe:` uses its own `dedupe_ttl:`).
pub const FALLBACK_DEDUPE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The engine as a [`RunStarter`] for the actions of its runs. Weak, as the
/// engine owns it.
pub(super) struct Starter(pub(super) Weak<Inner>);

impl std::fmt::Debug for Starter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Starter")
    }
}

impl RunStarter for Starter {
    fn start_run<'a>(
        &'a self,
        workflow: &'a str,
        event: Value,
        fallback_dedupe: String,
    ) -> BoxFuture<'a, Result<Value, ActionError>> {
        Box::pin(async move {
            let inner = self.0.upgrade().ok_or_else(|| ActionError::retryable("the engine is stopping"))?;
            let engine = &Engine { inner };
            let wf = engine.workflow(workflow).ok_or_else(|| {
                ActionError::permanent(format!("workflow `{workflow}` is not loaded")).with_code("workflow.unknown")
            })?;
            let now = super::clock::now_ms();
            let mut ev = trigger::new_event(&wf, event, now, engine.settings()).map_err(|e| {
                ActionError::permanent(format!("workflow `{workflow}`: {e}")).with_code("workflow.event")
            })?;
            ev.trigger = "workflow".to_owned();
            if ev.dedupe.is_none() {
                ev.dedupe = Some((fallback_dedupe, now + FALLBACK_DEDUPE_TTL.as_millis() as i64));
            }
            let accepted = engine.submit(ev).await.map_err(|e| {
                ActionError::retryable(format!("workflow `{workflow}`: {e}")).with_code("workflow.accept")
            })?;
            // `{"status": "queued", "run_id"}`, `{"status": "duplicate", "run_id"}` or `{"status": "ignored", …}`.
            serde_json::to_value(&accepted).map_err(|e| ActionError::permanent(format!("workflow `{workflow}`: {e}")))
        })
    }
}
