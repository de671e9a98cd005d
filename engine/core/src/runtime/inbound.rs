//! The one accept path. Every event enters the engine through
//! [`Engine::accept`]: trigger requests from the HTTP server (webhooks,
//! SOAP), manual runs from the admin API, schedule slots, `workflow.start`,
//! `reqflow run` and `reqflow test`. It does the lookup, authentication,
//! parsing, the [limits](crate::limits), `when:`, `dedupe:`, the durable
//! accept and the event metrics, and answers with a typed result that a
//! transport maps to its own answer (HTTP status, SOAP envelope).
//!
//! A transport that reads bodies itself calls [`Engine::admit`] first:
//! credentials carried in headers (bearer, basic) are checked before a byte
//! of the body is read, so an unauthenticated body is never buffered.

use std::sync::Arc;

use serde_json::{Value, json};

use super::clock::rfc3339;
use super::dispatch::FALLBACK_DEDUPE_TTL;
use super::metrics::EventOutcome;
use super::trigger::{self, AuthError, TriggerError, TriggerRequest};
use super::{AcceptError, Engine};
use crate::compile::{CompiledAuth, CompiledTrigger, CompiledWorkflow};
use crate::store::{Accepted, NewEvent, WorkflowVersion};
use crate::xml::parse_soap;

/// Something to accept.
#[derive(Debug)]
pub enum Inbound {
    /// A request to a trigger endpoint (`/hooks/{path}`, `/soap/{path}`):
    /// authenticated and parsed as the route's trigger says.
    Request {
        /// The route, e.g. `/hooks/workable/candidate-moved`.
        route: String,
        /// The request as received.
        request: TriggerRequest,
    },
    /// An event handed over by the engine's own callers, by workflow id.
    Event(EventIn),
    /// A stored event delivered again (`POST /api/events/{id}/redeliver`):
    /// a new event and run on the workflow's current version, with the same
    /// payload and raw body, past its dedupe key (`when:` and `dedupe:` are
    /// not evaluated again). Stored with the trigger `redeliver`.
    Redeliver {
        /// The stored event.
        event_id: String,
    },
}

/// An event for a workflow, from inside the engine or its host.
#[derive(Debug)]
pub struct EventIn {
    /// The workflow's id.
    pub workflow: String,
    /// Who hands it over.
    pub origin: Origin,
    /// The `event` the run sees.
    pub payload: Value,
    /// When it arrived (Unix ms; for a schedule, the slot).
    pub received_at: i64,
    /// Use this run id (so a caller can prepare for the run before it
    /// exists, as `reqflow test` does with its stubs); `None`: a new one.
    pub run_id: Option<String>,
}

/// Who hands an event over, which decides what is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An operator (`POST /api/workflows/{id}/runs`): the workflow's trigger must be `manual`.
    Manual,
    /// The scheduler: a slot of the workflow's schedule.
    Schedule,
    /// `workflow.start` from another run: the target's `when:` and
    /// `dedupe:` apply, and without its own key this one is used.
    Workflow {
        /// The dedupe key used when the target has no `dedupe:`.
        fallback_dedupe: String,
    },
    /// `reqflow run` and `reqflow test`: the event as the workflow's own
    /// trigger would deliver it (`when:` and `dedupe:` apply).
    Direct,
}

impl Engine {
    /// Before reading a trigger request's body: the route exists, and the
    /// credentials its trigger takes from headers (bearer, basic) are right.
    /// HMAC needs the body: [`Engine::accept`] checks it.
    pub fn admit(&self, route: &str, head: &TriggerRequest) -> Result<Arc<CompiledWorkflow>, TriggerError> {
        let wf = self.route(route)?;
        if let Some(auth @ (CompiledAuth::Bearer(_) | CompiledAuth::Basic { .. })) = auth_of(&wf) {
            self.authenticate(&wf, auth, head)?;
        }
        Ok(wf)
    }

    /// Accept an event: durable when this returns `Ok`. Every refusal is a
    /// [`TriggerError`] and stores nothing; an authenticated event whose
    /// `when:` or `dedupe:` cannot be evaluated is stored as
    /// [`Accepted::Invalid`] with the reason.
    pub async fn accept(&self, inbound: Inbound) -> Result<Accepted, TriggerError> {
        let (wf, event) = match inbound {
            Inbound::Request { route, request } => {
                let wf = self.route(&route)?;
                let event = self.event_of_request(&wf, request)?;
                (wf, event)
            }
            Inbound::Redeliver { event_id } => self.redelivery(&event_id).await?,
            Inbound::Event(ev) => {
                let wf = self
                    .workflow(&ev.workflow)
                    .ok_or_else(|| TriggerError::NotFound(format!("no workflow `{}` is loaded", ev.workflow)))?;
                let event = self.event_of(&wf, ev)?;
                (wf, event)
            }
        };
        let metrics = self.metrics();
        let mut event = event;
        if !wf.subjects.is_empty() {
            event.subjects = self.subjects_of(&wf, &event.payload).await.map_err(|e| {
                metrics.event(&wf.id, EventOutcome::Rejected);
                TriggerError::NotStored(AcceptError::Store(e.to_string()))
            })?;
        }
        match self.submit(event).await {
            Ok(accepted) => {
                let outcome = match &accepted {
                    Accepted::Queued { .. } => EventOutcome::Accepted,
                    Accepted::Duplicate { .. } => EventOutcome::Duplicate,
                    Accepted::Ignored { .. } => EventOutcome::Ignored,
                    Accepted::Invalid { reason, .. } => {
                        tracing::warn!(workflow = %wf.id, reason = %reason, "event stored as invalid: no run");
                        EventOutcome::Invalid
                    }
                };
                metrics.event(&wf.id, outcome);
                Ok(accepted)
            }
            Err(e) => {
                metrics.event(&wf.id, EventOutcome::Rejected);
                Err(TriggerError::NotStored(e))
            }
        }
    }

    /// The keyed hashes of an event's subjects (see [`super::subjects`]).
    async fn subjects_of(
        &self,
        wf: &CompiledWorkflow,
        payload: &Value,
    ) -> Result<Vec<String>, crate::store::StoreError> {
        let key = self.subject_key().await?;
        let mut root = serde_json::Map::with_capacity(3);
        root.insert("event".into(), payload.clone());
        self.settings().add_to(&mut root);
        let scope = crate::value::Scope::new(Value::Object(root));
        let mut values = Vec::new();
        for expr in &wf.subjects {
            match expr.eval(&wf.templates, &scope) {
                Ok(v) => super::subjects::values_of(&v, &mut values),
                Err(e) => tracing::warn!(
                    workflow = %wf.id,
                    reason = %self.settings().mask_str(&e.to_string()),
                    "a `subject:` value could not be evaluated: the event is indexed without it"
                ),
            }
        }
        let mut hashes: Vec<String> = values.iter().map(|v| key.hash(v)).collect();
        hashes.sort();
        hashes.dedup();
        Ok(hashes)
    }

    async fn redelivery(&self, event_id: &str) -> Result<(Arc<CompiledWorkflow>, NewEvent), TriggerError> {
        let stored = self
            .store()
            .event(event_id)
            .await
            .map_err(|e| TriggerError::NotStored(AcceptError::Store(e.to_string())))?
            .ok_or_else(|| TriggerError::NotFound(format!("no event `{event_id}`")))?;
        let wf = self.workflow(&stored.workflow_id).ok_or_else(|| {
            TriggerError::NotFound(format!("workflow `{}` of event {event_id} is not loaded", stored.workflow_id))
        })?;
        let event = NewEvent {
            event_id: trigger::new_id(),
            run_id: trigger::new_id(),
            workflow: WorkflowVersion { workflow_id: wf.id.clone(), version: wf.version, hash: wf.hash.clone() },
            trigger: "redeliver".into(),
            received_at: super::clock::now_ms(),
            payload: stored.payload,
            raw_body: stored.raw_body,
            dedupe: None,
            start_run: true,
            invalid: None,
            subjects: Vec::new(),
        };
        tracing::info!(workflow = %wf.id, event_id, new_event_id = %event.event_id, "event redelivered");
        Ok((wf, event))
    }

    fn route(&self, route: &str) -> Result<Arc<CompiledWorkflow>, TriggerError> {
        self.by_route(route).ok_or_else(|| TriggerError::NotFound(format!("no workflow serves POST {route}")))
    }

    fn authenticate(&self, wf: &CompiledWorkflow, auth: &CompiledAuth, req: &TriggerRequest) -> Result<(), AuthError> {
        trigger::authenticate(auth, req, &wf.templates, self.settings())
            .inspect_err(|_| self.metrics().event(&wf.id, EventOutcome::Rejected))
    }

    /// Authenticate and parse a trigger request into its event.
    fn event_of_request(&self, wf: &CompiledWorkflow, req: TriggerRequest) -> Result<NewEvent, TriggerError> {
        if let Some(auth) = auth_of(wf) {
            self.authenticate(wf, auth, &req)?;
        }
        let payload = match &wf.trigger {
            CompiledTrigger::Webhook { .. } => trigger::webhook_event(&req, &trigger::signature_headers(&wf.trigger)),
            CompiledTrigger::Soap { operation, .. } => soap_event(wf, operation, &req),
            CompiledTrigger::Schedule(_) | CompiledTrigger::Manual => {
                Err(TriggerError::NotFound(format!("workflow `{}` has no endpoint", wf.id)))
            }
        }
        .inspect_err(|_| self.metrics().event(&wf.id, EventOutcome::Rejected))?;
        let mut event = trigger::new_event(wf, payload, req.received_at, self.settings());
        event.raw_body = Some(req.body);
        Ok(event)
    }

    fn event_of(&self, wf: &CompiledWorkflow, ev: EventIn) -> Result<NewEvent, TriggerError> {
        let refuse = |e: TriggerError| {
            self.metrics().event(&wf.id, EventOutcome::Rejected);
            e
        };
        if ev.origin == Origin::Manual && !matches!(wf.trigger, CompiledTrigger::Manual) {
            return Err(refuse(TriggerError::WrongTrigger(format!(
                "workflow `{}` is started by its `{}` trigger, not manually",
                wf.id,
                wf.trigger.kind()
            ))));
        }
        crate::limits::check_json_depth("the event", &ev.payload).map_err(|m| refuse(TriggerError::BadRequest(m)))?;
        // A schedule's trigger has neither `when:` nor `dedupe:`; its
        // `received_at` is the slot.
        let mut event = trigger::new_event(wf, ev.payload, ev.received_at, self.settings());
        if let Origin::Workflow { fallback_dedupe } = ev.origin {
            event.trigger = "workflow".into();
            if event.dedupe.is_none() && event.invalid.is_none() {
                let ttl = FALLBACK_DEDUPE_TTL.as_millis() as i64;
                event.dedupe = Some((fallback_dedupe, ev.received_at.saturating_add(ttl)));
            }
        }
        if let Some(run_id) = ev.run_id {
            event.run_id = run_id;
        }
        Ok(event)
    }
}

fn auth_of(wf: &CompiledWorkflow) -> Option<&CompiledAuth> {
    match &wf.trigger {
        CompiledTrigger::Webhook { auth, .. } | CompiledTrigger::Soap { auth, .. } => auth.as_ref(),
        CompiledTrigger::Schedule(_) | CompiledTrigger::Manual => None,
    }
}

/// The event of a SOAP request: its operation must be the trigger's.
fn soap_event(wf: &CompiledWorkflow, operation: &str, req: &TriggerRequest) -> Result<Value, TriggerError> {
    let text = std::str::from_utf8(&req.body).map_err(|_| TriggerError::BadRequest("the body is not UTF-8".into()))?;
    let msg = parse_soap(text)
        .map_err(|e| TriggerError::BadRequest(format!("the body is not a valid SOAP envelope: {e}")))?;
    let got = msg.operation.strip_suffix("_Request").unwrap_or(&msg.operation);
    if got != operation {
        return Err(TriggerError::BadRequest(format!("expected operation `{operation}`, found `{}`", msg.operation)));
    }
    Ok(json!({
        "body": msg.body,
        "operation": msg.operation,
        "header": msg.header,
        "headers": trigger::headers_json(req, &trigger::signature_headers(&wf.trigger)),
        "received_at": rfc3339(req.received_at),
    }))
}
