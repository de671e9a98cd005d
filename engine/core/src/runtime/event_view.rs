//! How a stored event is shown by the API (`GET /api/events`,
//! `GET /api/events/{id}`) and the CLI (`reqflow events list|show`): one
//! shape for both, with the outcome's API name, the reason, the run, the
//! arrival time in ISO 8601 and in Unix milliseconds, and the dedupe key
//! masked with the engine's secrets.
//!
//! Outcomes are named `accepted` (stored status `queued`: it started a
//! run), `ignored`, `duplicate` and `invalid`. Events stored before reasons
//! were recorded are shown with a reason that says so
//! ([`EventOutcome::legacy_reason`]).

use serde_json::{Value, json};

use super::clock::rfc3339;
use super::secrets::Secrets;
use crate::store::{EventOutcome, EventRecord, EventSummary};

/// The outcome's API name for a stored status (an unknown stored status is
/// shown as it is).
fn outcome_name(status: &str) -> (Option<EventOutcome>, String) {
    match EventOutcome::from_stored(status) {
        Some(o) => (Some(o), o.as_str().to_owned()),
        None => (None, status.to_owned()),
    }
}

/// A listed event: no payload, no body.
pub fn summary_json(e: &EventSummary, secrets: &Secrets) -> Value {
    let (outcome, name) = outcome_name(&e.status);
    let reason = e.reason.clone().or_else(|| outcome.and_then(|o| o.legacy_reason()).map(str::to_owned));
    json!({
        "event_id": e.event_id,
        "workflow_id": e.workflow_id,
        "trigger": e.trigger,
        "received_at": rfc3339(e.received_at),
        "received_at_ms": e.received_at,
        "outcome": name,
        "status": e.status,
        "reason": reason.map(|r| secrets.mask_str(&r)),
        "run_id": e.run_id,
        "dedupe_key": e.dedupe_key.as_deref().map(|k| secrets.mask_str(k)),
    })
}

/// One event as `show` gives it: the summary and the `event` context
/// (headers without credentials; secrets masked). The raw body is not
/// included (it has its own endpoint, `GET /api/runs/{id}/event/raw`).
pub fn record_json(e: &EventRecord, secrets: &Secrets) -> Value {
    let summary = EventSummary {
        event_id: e.event_id.clone(),
        workflow_id: e.workflow_id.clone(),
        trigger: e.trigger.clone(),
        received_at: e.received_at,
        status: e.status.clone(),
        reason: e.reason.clone(),
        run_id: e.run_id.clone(),
        dedupe_key: e.dedupe_key.clone(),
    };
    let mut v = summary_json(&summary, secrets);
    if let Some(o) = v.as_object_mut() {
        o.insert("event".into(), secrets.mask(&e.payload));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(status: &str, reason: Option<&str>) -> EventSummary {
        EventSummary {
            event_id: "e1".into(),
            workflow_id: "w".into(),
            trigger: "webhook".into(),
            received_at: 1_785_000_000_123,
            status: status.into(),
            reason: reason.map(str::to_owned),
            run_id: None,
            dedupe_key: Some("k".into()),
        }
    }

    #[test]
    fn outcomes_times_and_legacy_reasons() {
        let s = Secrets::new();
        let v = summary_json(&summary("queued", None), &s);
        assert_eq!(v["outcome"], "accepted");
        assert_eq!(v["received_at"], "2026-07-25T17:20:00.123Z");
        assert_eq!(v["received_at_ms"], 1_785_000_000_123i64);
        assert_eq!(v["reason"], Value::Null);
        let v = summary_json(&summary("ignored", None), &s);
        assert_eq!(v["reason"], "`when:` was false");
        let v = summary_json(&summary("duplicate", Some("duplicate of run r")), &s);
        assert_eq!(v["outcome"], "duplicate");
        assert_eq!(v["reason"], "duplicate of run r");
        assert!(v.get("event").is_none(), "no payload in a listed event");
    }
}
