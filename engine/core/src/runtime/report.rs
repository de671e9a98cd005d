//! A run with its steps and every attempt: what `GET /api/runs/{id}` and
//! `reqflow runs show` print. Stored values are already secret-masked.

use serde_json::{Value, json};

use super::{Engine, EngineError};

impl Engine {
    /// The run, its event, and each step (in workflow order) with its result
    /// and attempts; `None` if there is no such run.
    pub async fn run_detail(&self, run_id: &str) -> Result<Option<Value>, EngineError> {
        let store = self.store();
        let Some(run) = store.run(run_id).await? else { return Ok(None) };
        let attempts = store.attempts(run_id).await?;
        let results = store.results(run_id).await?;
        // A run whose event cannot be decoded failed for it: its detail says so.
        let event = match store.event(&run.event_id).await {
            Ok(e) => e.map(|e| e.payload),
            Err(crate::store::StoreError::Corrupt(m)) => Some(json!({ "unreadable": m })),
            Err(e) => return Err(e.into()),
        };
        let order: Vec<String> = match self.version(&run.workflow).await {
            Ok(wf) => wf.steps.iter().chain(&wf.on_failure).map(|s| s.id.clone()).collect(),
            Err(_) => {
                let mut ids: Vec<String> = Vec::new();
                for id in results.iter().map(|r| &r.step_id).chain(attempts.iter().map(|a| &a.step_id)) {
                    if !ids.contains(id) {
                        ids.push(id.clone());
                    }
                }
                ids
            }
        };
        let mut steps = Vec::new();
        for step in order {
            let result = results.iter().find(|r| r.step_id == step);
            let tries: Vec<&_> = attempts.iter().filter(|a| a.step_id == step).collect();
            if result.is_none() && tries.is_empty() {
                continue;
            }
            let status = match result {
                Some(r) => r.status.as_str(),
                None if tries.iter().any(|a| a.status == "running") => "running",
                None => "pending",
            };
            steps.push(json!({
                "id": step,
                "status": status,
                "output": result.and_then(|r| r.output.clone()),
                "error": result.and_then(|r| r.error.clone()),
                "attempts": tries,
            }));
        }
        Ok(Some(json!({ "run": run, "event": event, "steps": steps })))
    }
}
