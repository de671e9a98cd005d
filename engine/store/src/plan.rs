//! The accept path's decisions, shared by both backends: given a batch and
//! the dedupe keys already stored, which events are duplicates, which are
//! ignored, which start a run, and which dedupe keys to (re)write.
//!
//! Dedupe keys are scoped by workflow: the same key sent to two workflows
//! starts two runs.
//!
//! Every event that starts no run gets its reason here (see [`reason`]), and
//! a duplicate the run it duplicates.

use std::collections::HashMap;

use reqflow_engine::runtime::clock::rfc3339;
use reqflow_engine::store::{Accepted, NewEvent};

/// A dedupe key as stored: the event that owns it, the run that event
/// started (none when it was ignored) and when the key expires.
#[derive(Clone, Debug)]
pub(crate) struct StoredKey {
    /// The run the key's event started.
    pub run_id: Option<String>,
    /// Expiry (Unix ms); the key no longer counts for events received at or after it.
    pub expires_at: i64,
    /// The event that owns the key (empty for a PostgreSQL placeholder).
    pub event_id: String,
    /// When that event was received (`None` when it is no longer stored).
    pub seen_at: Option<i64>,
}

/// The reasons stored with events that start no run.
pub(crate) mod reason {
    use super::{StoredKey, rfc3339};

    /// An `ignored` event.
    pub(crate) const IGNORED: &str = "`when:` was false";

    /// A `duplicate` event of `first`, the key's owner.
    pub(crate) fn duplicate(first: &StoredKey) -> String {
        let seen = match first.seen_at {
            Some(at) => format!("dedupe key first seen at {} (event {})", rfc3339(at), first.event_id),
            None => format!("dedupe key first seen with event {}", first.event_id),
        };
        match &first.run_id {
            Some(run) => format!("duplicate of run {run}: {seen}"),
            None => format!("duplicate of an event that started no run (`when:` was false): {seen}"),
        }
    }
}

/// `(workflow_id, dedupe_key)`.
pub(crate) type KeyId = (String, String);

/// A dedupe key to write: the event that now owns it.
#[derive(Clone, Debug)]
pub(crate) struct KeyRow {
    /// Index in the batch of the event that owns the key.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub index: usize,
    pub workflow_id: String,
    pub key: String,
    pub event_id: String,
    pub run_id: Option<String>,
    pub expires_at: i64,
}

/// What to write for a batch.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// One answer per event, in order.
    pub answers: Vec<Accepted>,
    /// Stored status of each event: `queued`, `ignored`, `duplicate` or `invalid`.
    pub statuses: Vec<&'static str>,
    /// Stored reason of each event (`None` for those that start a run).
    pub reasons: Vec<Option<String>>,
    /// Stored `run_id` of each event: its run, or the run it duplicates.
    pub run_ids: Vec<Option<String>>,
    /// Indexes of the events that start a run.
    pub runs: Vec<usize>,
    /// Keys to insert or overwrite, sorted by `(workflow_id, key)`.
    pub keys: Vec<KeyRow>,
}

/// The distinct dedupe keys of a batch, sorted (lock order on PostgreSQL).
pub(crate) fn batch_keys(batch: &[NewEvent]) -> Vec<KeyId> {
    let mut keys: Vec<KeyId> = batch
        .iter()
        .filter_map(|e| e.dedupe.as_ref().map(|(k, _)| (e.workflow.workflow_id.clone(), k.clone())))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Decides every event of `batch`, in order, against the `stored` keys (the
/// first event of a batch with a key wins over later ones).
pub(crate) fn plan(batch: &[NewEvent], stored: HashMap<KeyId, StoredKey>) -> Plan {
    let mut current = stored;
    let mut owners: HashMap<KeyId, usize> = HashMap::new();
    let mut plan = Plan {
        answers: Vec::with_capacity(batch.len()),
        statuses: Vec::with_capacity(batch.len()),
        reasons: Vec::with_capacity(batch.len()),
        run_ids: Vec::with_capacity(batch.len()),
        runs: Vec::with_capacity(batch.len()),
        keys: Vec::new(),
    };
    for (i, ev) in batch.iter().enumerate() {
        if let Some(reason) = &ev.invalid {
            plan.answers.push(Accepted::Invalid { event_id: ev.event_id.clone(), reason: reason.clone() });
            plan.statuses.push("invalid");
            plan.reasons.push(Some(reason.clone()));
            plan.run_ids.push(None);
            continue;
        }
        if let Some((key, expires_at)) = &ev.dedupe {
            let id = (ev.workflow.workflow_id.clone(), key.clone());
            if let Some(seen) = current.get(&id).filter(|s| s.expires_at > ev.received_at) {
                plan.answers.push(Accepted::Duplicate { run_id: seen.run_id.clone() });
                plan.statuses.push("duplicate");
                plan.reasons.push(Some(reason::duplicate(seen)));
                plan.run_ids.push(seen.run_id.clone());
                continue;
            }
            let run_id = ev.start_run.then(|| ev.run_id.clone());
            current.insert(
                id.clone(),
                StoredKey {
                    run_id,
                    expires_at: *expires_at,
                    event_id: ev.event_id.clone(),
                    seen_at: Some(ev.received_at),
                },
            );
            owners.insert(id, i);
        }
        if ev.start_run {
            plan.answers.push(Accepted::Queued { run_id: ev.run_id.clone() });
            plan.statuses.push("queued");
            plan.reasons.push(None);
            plan.run_ids.push(Some(ev.run_id.clone()));
            plan.runs.push(i);
        } else {
            plan.answers.push(Accepted::Ignored { event_id: ev.event_id.clone() });
            plan.statuses.push("ignored");
            plan.reasons.push(Some(reason::IGNORED.to_owned()));
            plan.run_ids.push(None);
        }
    }
    let mut keys: Vec<KeyRow> = owners
        .into_iter()
        .map(|((workflow_id, key), i)| {
            let ev = &batch[i];
            KeyRow {
                index: i,
                workflow_id,
                key,
                event_id: ev.event_id.clone(),
                run_id: ev.start_run.then(|| ev.run_id.clone()),
                expires_at: ev.dedupe.as_ref().map_or(0, |(_, exp)| *exp),
            }
        })
        .collect();
    keys.sort_by(|a, b| (&a.workflow_id, &a.key).cmp(&(&b.workflow_id, &b.key)));
    plan.keys = keys;
    plan
}

#[cfg(test)]
mod tests {
    use reqflow_engine::store::WorkflowVersion;
    use serde_json::json;

    use super::*;

    fn ev(n: u32, wf: &str, key: Option<&str>, at: i64, start: bool) -> NewEvent {
        NewEvent {
            event_id: format!("e{n}"),
            run_id: format!("r{n}"),
            workflow: WorkflowVersion { workflow_id: wf.into(), version: 1, hash: "h".into() },
            trigger: "webhook".into(),
            received_at: at,
            payload: json!({}),
            raw_body: None,
            dedupe: key.map(|k| (k.to_owned(), at + 100)),
            start_run: start,
            invalid: None,
            subjects: Vec::new(),
        }
    }

    #[test]
    fn first_in_batch_wins_and_keys_are_per_workflow() {
        let batch =
            vec![ev(1, "a", Some("k"), 0, true), ev(2, "a", Some("k"), 1, true), ev(3, "b", Some("k"), 1, true)];
        let p = plan(&batch, HashMap::new());
        assert_eq!(
            p.answers,
            vec![
                Accepted::Queued { run_id: "r1".into() },
                Accepted::Duplicate { run_id: Some("r1".into()) },
                Accepted::Queued { run_id: "r3".into() },
            ]
        );
        assert_eq!(p.runs, vec![0, 2]);
        assert_eq!(p.keys.len(), 2);
        assert_eq!(p.run_ids, vec![Some("r1".into()), Some("r1".into()), Some("r3".into())]);
        assert_eq!(
            p.reasons,
            vec![
                None,
                Some("duplicate of run r1: dedupe key first seen at 1970-01-01T00:00:00.000Z (event e1)".into()),
                None
            ]
        );
    }

    #[test]
    fn invalid_events_take_no_key_and_start_nothing() {
        let mut bad = ev(1, "a", Some("k"), 0, false);
        bad.invalid = Some("`dedupe:` no field".into());
        let batch = vec![bad, ev(2, "a", Some("k"), 1, true)];
        let p = plan(&batch, HashMap::new());
        assert_eq!(
            p.answers,
            vec![
                Accepted::Invalid { event_id: "e1".into(), reason: "`dedupe:` no field".into() },
                Accepted::Queued { run_id: "r2".into() },
            ]
        );
        assert_eq!(p.statuses, vec!["invalid", "queued"]);
        assert_eq!(p.runs, vec![1]);
        assert_eq!(p.keys.len(), 1);
        assert_eq!(p.keys[0].event_id, "e2");
    }

    #[test]
    fn expired_keys_are_taken_over() {
        let stored = HashMap::from([(
            ("a".to_owned(), "k".to_owned()),
            StoredKey { run_id: Some("old".into()), expires_at: 5, event_id: "e0".into(), seen_at: Some(1) },
        )]);
        let batch = vec![ev(1, "a", Some("k"), 4, true), ev(2, "a", Some("k"), 500, false)];
        let p = plan(&batch, stored);
        assert_eq!(p.answers[0], Accepted::Duplicate { run_id: Some("old".into()) });
        assert_eq!(p.answers[1], Accepted::Ignored { event_id: "e2".into() });
        assert_eq!(p.keys[0].event_id, "e2");
        assert_eq!(p.keys[0].run_id, None);
        assert_eq!(p.reasons[1].as_deref(), Some("`when:` was false"));
        assert_eq!(
            p.reasons[0].as_deref(),
            Some("duplicate of run old: dedupe key first seen at 1970-01-01T00:00:00.001Z (event e0)")
        );
    }

    #[test]
    fn a_duplicate_of_an_ignored_event_says_so() {
        let batch = vec![ev(1, "a", Some("k"), 0, false), ev(2, "a", Some("k"), 1, true)];
        let p = plan(&batch, HashMap::new());
        assert_eq!(p.statuses, vec!["ignored", "duplicate"]);
        assert_eq!(p.run_ids, vec![None, None]);
        assert_eq!(
            p.reasons[1].as_deref(),
            Some(
                "duplicate of an event that started no run (`when:` was false): dedupe key first seen at \
                 1970-01-01T00:00:00.000Z (event e1)"
            )
        );
    }
}
