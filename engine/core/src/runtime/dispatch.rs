//! Runs started by other runs (`workflow.start`): the engine's
//! [`RunStarter`]. The event goes through the target workflow's own accept
//! path — its `when:` and `dedupe:` apply as they do to events from its
//! trigger — so a poll and a webhook feeding the same workflow never act twice
//! on one change.

use std::sync::Weak;
use std::time::Duration;

use serde_json::Value;

use super::inbound::{EventIn, Inbound, Origin};
use super::trigger::TriggerError;
use super::{Engine, Inner};
use crate::action::{ActionError, BoxFuture, RunStarter};
use crate::store::Accepted;

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
            let inbound = Inbound::Event(EventIn {
                workflow: workflow.to_owned(),
                origin: Origin::Workflow { fallback_dedupe },
                payload: event,
                received_at: super::clock::now_ms(),
                run_id: None,
            });
            let accepted = engine.accept(inbound).await.map_err(|e| match e {
                TriggerError::NotFound(m) => ActionError::permanent(m).with_code("workflow.unknown"),
                TriggerError::NotStored(e) => {
                    ActionError::retryable(format!("workflow `{workflow}`: {e}")).with_code("workflow.accept")
                }
                e @ (TriggerError::WrongTrigger(_) | TriggerError::Unauthorized(_) | TriggerError::BadRequest(_)) => {
                    ActionError::permanent(format!("workflow `{workflow}`: {e}")).with_code("workflow.event")
                }
            })?;
            // The event is kept, but the started workflow could not evaluate it: this step fails.
            if let Accepted::Invalid { reason, event_id } = &accepted {
                return Err(ActionError::permanent(format!(
                    "workflow `{workflow}` stored the event {event_id} as invalid: {reason}"
                ))
                .with_code("workflow.event"));
            }
            // `{"status": "queued", "run_id"}`, `{"status": "duplicate", "run_id"}` or `{"status": "ignored", …}`.
            serde_json::to_value(&accepted).map_err(|e| ActionError::permanent(format!("workflow `{workflow}`: {e}")))
        })
    }
}
