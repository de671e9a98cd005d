//! `workflow.start`: start a run of another workflow from a step — the
//! building block of polling (one run per changed record) and of fan-out.
//!
//! The event goes through the target workflow's own accept path (the engine's
//! [`RunStarter`](reqflow_engine::action::RunStarter)): its `when:` and
//! `dedupe:` apply as they do to events from its trigger, so a poll and a
//! webhook feeding one workflow never act twice on one change. When the target
//! has no `dedupe:`, the key is `{run}:{step}[item]` of the starting step, so
//! a resumed or retried step does not start a second run.

use reqflow_engine::action::{Action, ActionContext, ActionError, ActionInfo, Registry};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// `workflow.start`.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkflowStart;

/// `with:` of `workflow.start`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowStartParams {
    /// The `id:` of the workflow to start (loaded by the same engine).
    pub workflow: String,
    /// The `event` the new run sees. For a target triggered by a webhook,
    /// shape it like the webhook's event (`{body: {…}}`) so its `when:`,
    /// `dedupe:` and steps read it the same way.
    pub event: Value,
}

const DOCS: &str = "\
Starts a run of another workflow (`workflow:`, its `id`) with `event:` as the new run's `event`. \
Use it with `foreach:` to start one run per item, e.g. one per candidate a poll found.\n\n\
The event goes through the target's own accept path: its trigger's `when:` and `dedupe:` apply, \
so a poll and a webhook feeding the same workflow never act twice on one change (shape the event \
like the webhook's: `{body: {…}}`). Without a `dedupe:` on the target, the starting step's \
`{run}:{step}[item]` is the key, so a retried or resumed step never starts a run twice.\n\n\
Output: `{status: queued, run_id}`, `{status: duplicate, run_id}` (seen before) or \
`{status: ignored, event_id}` (the target's `when:` said no). An unknown workflow is a permanent error.";

impl Action for WorkflowStart {
    type Params = WorkflowStartParams;

    fn info(&self) -> ActionInfo {
        ActionInfo::new("workflow.start", "Start a run of another workflow (one per item with foreach)")
            .docs(DOCS)
            .example(json!({
                "workflow": "workday-assessment-invite",
                "event": { "body": { "job_application_id": "{{ item.job_application_id }}", "stage": "ASSESSMENT" } }
            }))
    }

    async fn run(&self, cx: ActionContext, p: WorkflowStartParams) -> Result<Value, ActionError> {
        let Some(runs) = cx.runs.clone() else {
            return Err(
                ActionError::permanent("workflow.start runs only inside an engine").with_code("workflow.no_engine")
            );
        };
        let fallback = format!("workflow.start:{}", cx.idempotency_key());
        runs.start_run(&p.workflow, p.event, fallback).await
    }
}

/// Registers `workflow.start`.
pub fn register(registry: &mut Registry) {
    registry.register(WorkflowStart);
}
