//! Retrying a failed run so that it follows a fix.
//!
//! A retry re-runs the run's failed and skipped steps and reuses what
//! succeeded — except what the fix touched: on the latest version, every
//! step whose definition changed since the run's version re-runs (its text in
//! the workflow file differs, or it is new, or it reads a `tables:` entry that
//! changed), and so does every step
//! downstream of one that re-runs (through `needs:`). `from` re-runs a chosen
//! step and everything downstream of it. The answer names the steps reused
//! and the steps that will run again.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::{Engine, EngineError};
use crate::compile::{CompiledStep, CompiledWorkflow};
use crate::store::{RunRecord, StepStatus, StoreError, WorkflowVersion};

/// Which version a retry runs on, and from where.
#[derive(Clone, Debug, Default)]
pub struct RetryRequest {
    /// The workflow's current version instead of the run's own.
    pub latest: bool,
    /// Re-run this step and everything downstream of it, even if it succeeded.
    pub from: Option<String>,
}

/// What a retry did.
#[derive(Clone, Debug, Serialize)]
pub struct RetryAnswer {
    /// The run, queued again.
    pub run: RunRecord,
    /// `original` or `latest`.
    pub version_used: &'static str,
    /// Succeeded steps whose outputs are reused.
    pub reused: Vec<String>,
    /// Steps that run again (failed, skipped, changed, downstream, `from`), in workflow order.
    pub rerun: Vec<String>,
}

impl Engine {
    /// Retry a failed run (see the module docs). `latest` needs the workflow
    /// to be loaded; the run's own version is read back from the store.
    pub async fn retry(&self, run_id: &str, req: RetryRequest) -> Result<RetryAnswer, EngineError> {
        let store = self.store();
        let run = store.run(run_id).await?.ok_or_else(|| StoreError::NotFound(format!("no run `{run_id}`")))?;
        let old = self.version(&run.workflow).await?;
        let new = if req.latest {
            self.workflow(&run.workflow.workflow_id)
                .ok_or_else(|| EngineError::UnknownWorkflow(run.workflow.workflow_id.clone()))?
        } else {
            old.clone()
        };
        if let Some(from) = &req.from
            && !new.steps.iter().any(|s| &s.id == from)
        {
            return Err(StoreError::Conflict(format!(
                "`from`: workflow `{}` (version {}) has no step `{from}`",
                new.id, new.version
            ))
            .into());
        }
        let results = store.results(run_id).await?;
        let succeeded: BTreeSet<&str> =
            results.iter().filter(|r| r.status == StepStatus::Succeeded).map(|r| r.step_id.as_str()).collect();
        let again = rerun_set(&old, &new, req.from.as_deref());
        let clear: Vec<String> = succeeded.iter().filter(|s| again.contains(**s)).map(|s| (*s).to_owned()).collect();
        let version = req.latest.then(|| WorkflowVersion {
            workflow_id: new.id.clone(),
            version: new.version,
            hash: new.hash.clone(),
        });
        let run = store.retry(run_id, version, clear, super::clock::now_ms()).await?;
        let steps = new.steps.iter().chain(&new.on_failure);
        let (reused, rerun): (Vec<&CompiledStep>, Vec<&CompiledStep>) =
            steps.partition(|s| succeeded.contains(s.id.as_str()) && !again.contains(s.id.as_str()));
        tracing::info!(
            run_id, workflow = %new.id, version = new.version, rerun = ?rerun.iter().map(|s| &s.id).collect::<Vec<_>>(),
            "run retried"
        );
        Ok(RetryAnswer {
            run,
            version_used: if req.latest { "latest" } else { "original" },
            reused: reused.into_iter().map(|s| s.id.clone()).collect(),
            rerun: rerun.into_iter().map(|s| s.id.clone()).collect(),
        })
    }
}

/// A step's definition as written: its text in the workflow file.
fn definition<'a>(wf: &'a CompiledWorkflow, step: &CompiledStep) -> &'a str {
    wf.source.text.get(step.span.start..step.span.end).unwrap_or("")
}

/// Names of the tables whose content differs between two versions.
fn changed_tables(old: &CompiledWorkflow, new: &CompiledWorkflow) -> Vec<String> {
    let names = |wf: &CompiledWorkflow| -> Vec<String> {
        wf.tables.as_object().map(|t| t.keys().cloned().collect()).unwrap_or_default()
    };
    let mut all = names(old);
    all.extend(names(new));
    all.sort();
    all.dedup();
    all.into_iter().filter(|t| old.tables.get(t) != new.tables.get(t)).collect()
}

/// Whether a step's text reads table `t` (`tables.t`, `tables['t']`, `lookup('t', …)`).
fn reads_table(text: &str, t: &str) -> bool {
    [
        format!("tables.{t}"),
        format!("tables['{t}']"),
        format!("tables[\"{t}\"]"),
        format!("lookup('{t}'"),
        format!("lookup(\"{t}\""),
    ]
    .iter()
    .any(|p| text.contains(p.as_str()))
}

/// Steps of `new` to run again whatever their result: changed since `old`
/// (or new), reading a table that changed, `from`, and everything
/// downstream of those.
fn rerun_set(old: &CompiledWorkflow, new: &CompiledWorkflow, from: Option<&str>) -> BTreeSet<String> {
    let before: HashMap<&str, &str> = old.steps.iter().map(|s| (s.id.as_str(), definition(old, s))).collect();
    let tables = changed_tables(old, new);
    let mut marked: Vec<bool> = new
        .steps
        .iter()
        .map(|s| {
            let text = definition(new, s);
            Some(s.id.as_str()) == from
                || before.get(s.id.as_str()) != Some(&text)
                || tables.iter().any(|t| reads_table(text, t))
        })
        .collect();
    // Downstream: a step re-runs when one it needs re-runs (`order` is topological).
    for &i in &new.order {
        if !marked[i] && new.steps[i].needs.iter().any(|&n| marked[n]) {
            marked[i] = true;
        }
    }
    new.steps.iter().zip(marked).filter(|(_, m)| *m).map(|(s, _)| s.id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(yaml: &str) -> std::sync::Arc<CompiledWorkflow> {
        let registry = crate::action::Registry::new();
        let loaded = crate::load::load_str("wf.yaml", yaml, &registry);
        loaded.workflow.unwrap_or_else(|| panic!("{}", loaded.report.render_short()))
    }

    const V1: &str = "id: wf\ntrigger: { manual: {} }\nsteps:\n  - id: a\n    map: { x: 1 }\n  - id: b\n    needs: [a]\n    map: { y: \"{{ steps.a.output.x }}\" }\n  - id: c\n    needs: []\n    map: { z: 3 }\n";

    #[test]
    fn changed_steps_and_their_downstream_rerun() {
        let v1 = compile(V1);
        assert!(rerun_set(&v1, &v1, None).is_empty(), "nothing changed");
        let v2 = compile(&V1.replace("x: 1", "x: 2"));
        assert_eq!(rerun_set(&v1, &v2, None), BTreeSet::from(["a".to_owned(), "b".to_owned()]));
        let v3 = compile(&V1.replace("z: 3", "z: 4"));
        assert_eq!(rerun_set(&v1, &v3, None), BTreeSet::from(["c".to_owned()]));
        assert_eq!(rerun_set(&v1, &v1, Some("a")), BTreeSet::from(["a".to_owned(), "b".to_owned()]));
        assert_eq!(rerun_set(&v1, &v1, Some("b")), BTreeSet::from(["b".to_owned()]));
    }

    #[test]
    fn a_changed_table_reruns_the_steps_that_read_it() {
        let yaml = |agent: &str| {
            format!(
                "id: wf\ntrigger: {{ manual: {{}} }}\ntables:\n  agents: {{ default: {agent} }}\n  other: {{ a: 1 }}\nsteps:\n  - id: a\n    map: {{ x: 1 }}\n  - id: pick\n    needs: []\n    map: {{ agent: \"{{{{ lookup('agents', 'r') }}}}\" }}\n  - id: c\n    needs: [pick]\n    map: {{ z: 3 }}\n  - id: d\n    needs: []\n    map: {{ o: \"{{{{ tables.other.a }}}}\" }}\n"
            )
        };
        let (v1, v2) = (compile(&yaml("one")), compile(&yaml("two")));
        assert_eq!(changed_tables(&v1, &v2), vec!["agents".to_owned()]);
        assert_eq!(
            rerun_set(&v1, &v2, None),
            BTreeSet::from(["pick".to_owned(), "c".to_owned()]),
            "pick and its downstream"
        );
    }
}
