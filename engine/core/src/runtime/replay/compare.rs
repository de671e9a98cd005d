//! One replayed event compared with its original run: per step, whether
//! the request it sent (an action's evaluated `with:`, secrets masked) or
//! the output it made (a `map:` step) changed, field by field, and what the
//! event comes to (unchanged, changed, newly failing).

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::answer::{NOT_SENT, OriginalRun};
use crate::json_diff::{FieldChange, diff};
use crate::store::{AttemptRecord, RunRecord, RunStatus, StepResult, StepStatus};

/// What a step came to in the replay, against the original run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepChange {
    /// Same request (action) or same output (`map:`).
    Unchanged,
    /// The request (or output) differs: see the field changes.
    Changed,
    /// Not in the original run: a new step, or a call of another action
    /// (not sent: its answer is unknown).
    Added,
    /// In the original run, not in the replay (removed, or now skipped).
    Removed,
    /// Not run in the replay because a step it needs was a new call whose
    /// answer is unknown.
    NotEvaluated,
    /// Succeeded in the original run, fails in the replay (the note says why).
    Failed,
}

/// One step (or `foreach` item) of one event.
#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    /// The step id.
    pub step: String,
    /// The `foreach` item, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<u32>,
    /// The action kind, or `map`.
    pub kind: String,
    /// What changed.
    pub change: StepChange,
    /// The fields that differ (changed steps): in the request of an action,
    /// in the output of a `map:` step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// The whole request (added action steps: what would be sent) or output
    /// (added `map:` steps); for removed steps, what the original had.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Why, where it helps (not sent, skipped, action changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// An action call replay had no answer for (a new call): not sent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_sent: bool,
}

/// What one event comes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every step sent (and made) the same as in the original run.
    Unchanged,
    /// Some request or output differs, or the run ends otherwise.
    Changed,
    /// The original run succeeded; the replay fails (not for want of an
    /// answer to a new call).
    NewlyFailing,
    /// Not replayed (see the reason).
    Skipped,
}

/// The replayed side of one event.
pub(crate) struct Replayed<'a> {
    pub run: &'a RunRecord,
    pub attempts: &'a [AttemptRecord],
    pub results: &'a [StepResult],
    /// Each step's kind in the edited workflow.
    pub kinds: &'a HashMap<String, String>,
}

/// The steps, the verdict and (newly failing) the failure.
pub(crate) fn compare(
    original: &OriginalRun,
    original_status: RunStatus,
    new: &Replayed<'_>,
) -> (Vec<StepReport>, Verdict, Option<Value>) {
    let not_sent: HashSet<&str> = new
        .attempts
        .iter()
        .filter(|a| code_of(a.error.as_ref()) == Some(NOT_SENT))
        .map(|a| a.step_id.as_str())
        .collect();
    let not_evaluated = not_evaluated(&not_sent, new.results);

    // The last replayed attempt of each step (or item), in order of first appearance.
    let mut order: Vec<(String, Option<u32>)> = Vec::new();
    let mut last_new: HashMap<(String, Option<u32>), &AttemptRecord> = HashMap::new();
    for a in new.attempts {
        let key = (a.step_id.clone(), a.item);
        if last_new.insert(key.clone(), a).is_none() {
            order.push(key);
        }
    }
    let mut original_keys: Vec<&(String, Option<u32>)> = original.attempts.keys().collect();
    original_keys.sort_by_key(|k| original.attempts[*k].first().map(|a| (a.started_at, a.id)));
    let mut keys: Vec<(String, Option<u32>)> = original_keys.into_iter().cloned().collect();
    for k in order {
        if !original.attempts.contains_key(&k) {
            keys.push(k);
        }
    }

    let kind_of = |step: &str, old: bool| -> String {
        let kinds = if old { original.kinds.as_deref() } else { Some(new.kinds) };
        kinds.and_then(|k| k.get(step).cloned()).unwrap_or_else(|| "action".into())
    };
    let mut steps = Vec::new();
    let mut reported_not_evaluated = HashSet::new();
    for (step, item) in keys {
        let o = original.last(&step, item);
        let n = last_new.get(&(step.clone(), item)).copied();
        let report = match (o, n) {
            (Some(o), Some(n)) => {
                let (old_kind, new_kind) = (kind_of(&step, true), kind_of(&step, false));
                if code_of(n.error.as_ref()) == Some(NOT_SENT) {
                    StepReport {
                        note: Some(format!(
                            "now calls `{new_kind}` (was `{old_kind}`): not sent, its answer is unknown"
                        )),
                        not_sent: true,
                        ..step_report(&step, item, new_kind, StepChange::Added, Some(n.input.clone()))
                    }
                } else if n.status == "failed" && o.status == "succeeded" {
                    let why = n.error.as_ref().and_then(|e| e.get("message")).and_then(Value::as_str);
                    StepReport {
                        note: why.map(str::to_owned),
                        ..step_report(&step, item, new_kind, StepChange::Failed, None)
                    }
                } else if old_kind != new_kind {
                    StepReport {
                        note: Some(format!("was `{old_kind}`, now `{new_kind}`")),
                        ..step_report(&step, item, new_kind, StepChange::Changed, None)
                    }
                } else {
                    let fields = if new_kind == "map" {
                        diff(o.output.as_ref().unwrap_or(&Value::Null), n.output.as_ref().unwrap_or(&Value::Null))
                    } else {
                        diff(&o.input, &n.input)
                    };
                    let change = if fields.is_empty() { StepChange::Unchanged } else { StepChange::Changed };
                    StepReport { fields, ..step_report(&step, item, new_kind, change, None) }
                }
            }
            (None, Some(n)) => {
                let kind = kind_of(&step, false);
                if kind == "map" {
                    step_report(&step, item, kind, StepChange::Added, n.output.clone())
                } else {
                    let not_sent = code_of(n.error.as_ref()) == Some(NOT_SENT);
                    let note = not_sent.then(|| "a new call: not sent, its answer is unknown".to_owned());
                    StepReport {
                        note,
                        not_sent,
                        ..step_report(&step, item, kind, StepChange::Added, Some(n.input.clone()))
                    }
                }
            }
            (Some(o), None) => {
                let kind = kind_of(&step, true);
                if not_evaluated.contains(step.as_str()) {
                    if !reported_not_evaluated.insert(step.clone()) {
                        continue;
                    }
                    let mut r = step_report(&step, None, kind_of(&step, false), StepChange::NotEvaluated, None);
                    r.note = skip_reason(new.results, &step);
                    r
                } else {
                    let value = if kind == "map" { o.output.clone() } else { Some(o.input.clone()) };
                    let note = skip_reason(new.results, &step)
                        .map(|r| format!("skipped: {r}"))
                        .or_else(|| Some("no longer in the workflow, or not reached".into()));
                    StepReport { note, ..step_report(&step, item, kind, StepChange::Removed, value) }
                }
            }
            (None, None) => continue,
        };
        steps.push(report);
    }
    // Steps never run in either, not evaluated now for want of an answer.
    let mut rest: Vec<&str> = not_evaluated.iter().copied().filter(|s| !reported_not_evaluated.contains(*s)).collect();
    rest.sort();
    for step in rest {
        if original.attempts.keys().any(|(s, _)| s == step) {
            continue;
        }
        let mut r = step_report(step, None, kind_of(step, false), StepChange::NotEvaluated, None);
        r.note = skip_reason(new.results, step);
        steps.push(r);
    }

    let genuine_failure = new.results.iter().any(|r| {
        r.status == StepStatus::Failed
            && code_of(r.error.as_ref()) != Some(NOT_SENT)
            && !not_sent.contains(r.step_id.as_str())
    });
    let verdict = if new.run.status == RunStatus::Failed && original_status == RunStatus::Succeeded && genuine_failure {
        Verdict::NewlyFailing
    } else if new.run.status != original_status || steps.iter().any(|s| s.change != StepChange::Unchanged) {
        Verdict::Changed
    } else {
        Verdict::Unchanged
    };
    let failure = (verdict == Verdict::NewlyFailing).then(|| new.run.error.clone()).flatten();
    (steps, verdict, failure)
}

fn step_report(step: &str, item: Option<u32>, kind: String, change: StepChange, value: Option<Value>) -> StepReport {
    StepReport { step: step.to_owned(), item, kind, change, fields: Vec::new(), value, note: None, not_sent: false }
}

fn code_of(error: Option<&Value>) -> Option<&str> {
    error?.get("code")?.as_str()
}

/// Why a step was skipped in the replay, if it was.
fn skip_reason(results: &[StepResult], step: &str) -> Option<String> {
    let r = results.iter().find(|r| r.step_id == step && r.status == StepStatus::Skipped)?;
    r.error.as_ref()?.get("reason")?.as_str().map(str::to_owned)
}

/// Steps skipped because a step they need was not sent (or itself not evaluated).
fn not_evaluated<'a>(not_sent: &HashSet<&'a str>, results: &'a [StepResult]) -> HashSet<&'a str> {
    let mut out: HashSet<&str> = HashSet::new();
    loop {
        let before = out.len();
        for r in results.iter().filter(|r| r.status == StepStatus::Skipped) {
            let Some(reason) = r.error.as_ref().and_then(|e| e.get("reason")).and_then(Value::as_str) else {
                continue;
            };
            let Some(dep) = reason.strip_prefix('`').and_then(|s| s.strip_suffix("` failed")) else {
                continue;
            };
            if not_sent.contains(dep) || out.contains(dep) {
                out.insert(r.step_id.as_str());
            }
        }
        if out.len() == before {
            return out;
        }
    }
}
