//! The replaying registry: every action of a deployment's registry wrapped
//! so that a call is answered from what the same step returned in the
//! original run, never sent anywhere.
//!
//! A step of the edited workflow that calls the same action as the
//! original step did is answered with that step's recorded outcome (its
//! output, or its error — so retries and `on_error:` behave as they did),
//! attempt by attempt: attempt 2 gets what the original attempt 2 got, a
//! later one what the last original attempt got. This holds whether or not
//! the request is the same: a changed request is answered with the
//! original answer so the steps after it can still be compared (the report
//! says the request changed). A step with no recorded call of the same
//! action (a new step, or another action) fails with the code
//! [`NOT_SENT`]: its answer is unknown, and the steps that need it are
//! reported as not evaluated.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::action::{ActionContext, ActionDoc, ActionError, BoxFuture, DynAction, Registry};
use crate::store::AttemptRecord;

/// The error code of a call replay did not answer (and did not send).
pub const NOT_SENT: &str = "replay.not_sent";

/// What one original run recorded, as the replaying actions read it.
#[derive(Debug, Default)]
pub struct OriginalRun {
    /// The final round's attempts of each `(step, foreach item)`, by attempt number.
    pub attempts: HashMap<(String, Option<u32>), Vec<AttemptRecord>>,
    /// Each step's action kind in the original version (`map` for `map:` steps),
    /// when that version could be read.
    pub kinds: Option<Arc<HashMap<String, String>>>,
}

impl OriginalRun {
    /// Keeps, for each step (and `foreach` item), the attempts of the last
    /// round it ran in (a user retry reruns only some steps), oldest first.
    pub fn new(attempts: Vec<AttemptRecord>, kinds: Option<Arc<HashMap<String, String>>>) -> Self {
        let mut by_key: HashMap<(String, Option<u32>), Vec<AttemptRecord>> = HashMap::new();
        for a in attempts {
            by_key.entry((a.step_id.clone(), a.item)).or_default().push(a);
        }
        for list in by_key.values_mut() {
            let last_round = list.iter().map(|a| a.round).max().unwrap_or(0);
            list.retain(|a| a.round == last_round);
            list.sort_by_key(|a| a.attempt);
        }
        OriginalRun { attempts: by_key, kinds }
    }

    /// The last attempt of a step (or item), if it ran.
    pub fn last(&self, step: &str, item: Option<u32>) -> Option<&AttemptRecord> {
        self.attempts.get(&(step.to_owned(), item)).and_then(|l| l.last())
    }

    /// The recorded answer to attempt `attempt` of `step` calling `kind`;
    /// `None` when the original run made no such call.
    fn answer(&self, step: &str, item: Option<u32>, attempt: u32, kind: &str) -> Option<Result<Value, ActionError>> {
        if let Some(kinds) = &self.kinds
            && kinds.get(step).map(String::as_str) != Some(kind)
        {
            return None;
        }
        let list = self.attempts.get(&(step.to_owned(), item))?;
        let a = list.iter().find(|a| a.attempt == attempt).or_else(|| list.last())?;
        match a.status.as_str() {
            "succeeded" => Some(Ok(a.output.clone().unwrap_or(Value::Null))),
            "failed" => {
                let e = a.error.clone().unwrap_or(Value::Null);
                Some(Err(serde_json::from_value::<ActionError>(e.clone()).unwrap_or_else(|_| {
                    let msg = e.get("message").and_then(Value::as_str).unwrap_or("failed");
                    ActionError::permanent(msg)
                })))
            }
            // Interrupted (no end recorded): there is no answer to give.
            _ => None,
        }
    }
}

/// The original runs being replayed, by run id (a replayed run keeps its
/// original run's id).
#[derive(Debug, Default)]
pub struct Originals {
    runs: Mutex<HashMap<String, Arc<OriginalRun>>>,
}

impl Originals {
    /// Makes `run` answerable.
    pub fn insert(&self, run_id: &str, run: Arc<OriginalRun>) {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).insert(run_id.to_owned(), run);
    }

    /// Forgets a run once its replay is compared.
    pub fn remove(&self, run_id: &str) {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).remove(run_id);
    }

    pub(crate) fn get(&self, run_id: &str) -> Option<Arc<OriginalRun>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).get(run_id).cloned()
    }
}

/// `base` with every action wrapped to answer from `originals`; the
/// connection types are kept, so a workflow loads exactly as it would.
pub fn replaying_registry(base: &Registry, originals: Arc<Originals>) -> Registry {
    let mut r = Registry::new();
    for a in base.actions() {
        r.register_dyn(Arc::new(Replaying { doc: a.doc().clone(), originals: originals.clone() }));
    }
    for c in base.connection_types() {
        r.register_connection_type(c.clone());
    }
    r
}

struct Replaying {
    doc: ActionDoc,
    originals: Arc<Originals>,
}

/// `step` or `step[3]` (a `foreach` item) as the executor names it.
fn split_step(s: &str) -> (&str, Option<u32>) {
    if let Some(rest) = s.strip_suffix(']')
        && let Some((step, item)) = rest.rsplit_once('[')
        && let Ok(i) = item.parse()
    {
        return (step, Some(i));
    }
    (s, None)
}

impl DynAction for Replaying {
    fn doc(&self) -> &ActionDoc {
        &self.doc
    }

    fn call(&self, cx: ActionContext, _params: Value) -> BoxFuture<'_, Result<Value, ActionError>> {
        let (step, item) = split_step(&cx.step);
        let kind = &self.doc.info.kind;
        let answer = self.originals.get(&cx.run_id).and_then(|o| o.answer(step, item, cx.attempt, kind));
        let result = answer.unwrap_or_else(|| {
            Err(ActionError::permanent(format!(
                "not sent: the original run made no `{kind}` call at step `{step}`, so replay has no answer for it"
            ))
            .with_code(NOT_SENT))
        });
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn attempt(step: &str, round: u32, attempt: u32, ok: bool) -> AttemptRecord {
        AttemptRecord {
            id: i64::from(round * 10 + attempt),
            step_id: step.into(),
            item: None,
            attempt,
            round,
            status: if ok { "succeeded" } else { "failed" }.into(),
            input: json!({ "n": attempt }),
            output: ok.then(|| json!({ "round": round, "attempt": attempt })),
            error: (!ok)
                .then(|| json!({ "class": "retryable", "message": "503", "code": "http.status", "attempts": attempt })),
            started_at: 0,
            finished_at: Some(1),
        }
    }

    #[test]
    fn attempts_are_answered_as_they_were_in_the_last_round() {
        let kinds = HashMap::from([("post".to_owned(), "http.request".to_owned())]);
        let run = OriginalRun::new(
            vec![attempt("post", 0, 1, false), attempt("post", 1, 1, false), attempt("post", 1, 2, true)],
            Some(Arc::new(kinds)),
        );
        let first = run.answer("post", None, 1, "http.request").expect("an answer");
        let e = first.expect_err("the first attempt of the last round failed");
        assert!(e.is_retryable() && e.code.as_deref() == Some("http.status"), "{e:?}");
        assert_eq!(
            run.answer("post", None, 2, "http.request").expect("answer").ok(),
            Some(json!({ "round": 1, "attempt": 2 }))
        );
        // A later attempt than the original made gets the last answer.
        assert_eq!(
            run.answer("post", None, 5, "http.request").expect("answer").ok(),
            Some(json!({ "round": 1, "attempt": 2 }))
        );
        // Another action at the same step, or a step that made no call: no answer.
        assert!(run.answer("post", None, 1, "workable.candidates.comment").is_none());
        assert!(run.answer("other", None, 1, "http.request").is_none());
    }

    #[test]
    fn foreach_items_are_split_from_the_step_name() {
        assert_eq!(split_step("post"), ("post", None));
        assert_eq!(split_step("post[12]"), ("post", Some(12)));
        assert_eq!(split_step("odd[x]"), ("odd[x]", None));
    }
}
