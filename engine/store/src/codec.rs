//! Encoding of JSON values and enums as stored text, and decoding back with
//! typed [`StoreError::Corrupt`] errors.

use reqflow_engine::store::{RunOutcome, RunRecord, RunStatus, StepStatus, StoreError, StoreResult, WorkflowVersion};
use serde_json::Value;

/// JSON text of a value.
pub(crate) fn json(v: &Value) -> String {
    // Serializing a `Value` cannot fail (its map keys are strings).
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

/// JSON text of an optional value (`None` stays SQL NULL).
pub(crate) fn json_opt(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(json)
}

/// A stored JSON text, read back as deep as the accept path lets values
/// nest ([`reqflow_engine::limits::parse_stored`]).
pub(crate) fn parse(what: &str, text: &str) -> StoreResult<Value> {
    reqflow_engine::limits::parse_stored(text).map_err(|e| StoreError::Corrupt(format!("{what}: invalid JSON: {e}")))
}

/// A stored event payload: its JSON text, with `body` parsed from the raw
/// bytes when it was stored once ([`reqflow_engine::store::stored_event`]).
pub(crate) fn payload(text: &str, body_from_raw: bool, raw: Option<&[u8]>) -> StoreResult<Value> {
    let stored = parse("event payload", text)?;
    reqflow_engine::store::stored_event::join(stored, body_from_raw, raw)
        .map_err(|e| StoreError::Corrupt(format!("event payload: {e}")))
}

/// A SQLite event row's payload and raw body as received, from their
/// stored (possibly packed, [`crate::packed`]) forms.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn unpacked_event(
    stored: Vec<u8>,
    body_from_raw: bool,
    raw: Option<Vec<u8>>,
    raw_packed: bool,
) -> StoreResult<(Value, Option<Vec<u8>>)> {
    let raw = match raw {
        Some(r) if raw_packed => Some(crate::packed::unpack_raw(&r)?),
        r => r,
    };
    let text = crate::packed::json_text("event payload", stored)?;
    Ok((payload(&text, body_from_raw, raw.as_deref())?, raw))
}

/// A stored optional JSON text.
pub(crate) fn parse_opt(what: &str, text: Option<String>) -> StoreResult<Option<Value>> {
    text.map(|t| parse(what, &t)).transpose()
}

/// A stored run status.
pub(crate) fn run_status(s: &str) -> StoreResult<RunStatus> {
    RunStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown run status `{s}`")))
}

/// A stored step status.
pub(crate) fn step_status(s: &str) -> StoreResult<StepStatus> {
    StepStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown step status `{s}`")))
}

/// A stored non-negative integer as `u32`.
pub(crate) fn u32_of(what: &str, v: i64) -> StoreResult<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what}: {v} is out of range")))
}

/// JSON array text of ids (SQLite binds lists as one `json_each(?)` parameter).
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn id_list(ids: &[String]) -> String {
    json(&Value::Array(ids.iter().cloned().map(Value::String).collect()))
}

/// Refuses outcomes other than `succeeded` and `failed`.
pub(crate) fn check_outcome(outcome: &RunOutcome) -> StoreResult<()> {
    match outcome.status {
        RunStatus::Succeeded | RunStatus::Failed => Ok(()),
        other => Err(StoreError::Conflict(format!("a run finishes as succeeded or failed, not {}", other.as_str()))),
    }
}

/// The page size asked for: 50 by default, at most 1000.
pub(crate) fn page_size(limit: Option<u32>) -> u32 {
    limit.unwrap_or(50).min(1000)
}

/// Refuses to retry a run that is not `failed`, or onto another workflow.
pub(crate) fn check_retry(current: &RunRecord, version: Option<&WorkflowVersion>) -> StoreResult<()> {
    if current.status != RunStatus::Failed {
        return Err(StoreError::Conflict(format!(
            "run {} is {}: only failed runs can be retried",
            current.run_id,
            current.status.as_str()
        )));
    }
    if let Some(v) = version
        && v.workflow_id != current.workflow.workflow_id
    {
        return Err(StoreError::Conflict(format!(
            "run {} belongs to workflow `{}`, not `{}`",
            current.run_id, current.workflow.workflow_id, v.workflow_id
        )));
    }
    Ok(())
}

/// Run counts with every status a run can have (queued, running, succeeded,
/// failed) present, zero when none, in [`RunStatus::ALL`] order.
pub(crate) fn all_counts(counted: Vec<(RunStatus, u64)>) -> Vec<(RunStatus, u64)> {
    RunStatus::ALL.iter().map(|s| (*s, counted.iter().filter(|(c, _)| c == s).map(|(_, n)| *n).sum::<u64>())).collect()
}

/// A stored token scope.
pub(crate) fn scope(s: &str) -> StoreResult<reqflow_engine::store::Scope> {
    reqflow_engine::store::Scope::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown token scope `{s}`")))
}

/// A stored audit outcome.
pub(crate) fn audit_outcome(s: &str) -> StoreResult<reqflow_engine::store::AuditOutcome> {
    reqflow_engine::store::AuditOutcome::parse(s)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown audit outcome `{s}`")))
}

/// A stored JSON array of strings (audit objects).
pub(crate) fn strings(what: &str, text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: invalid JSON array: {e}")))
}
