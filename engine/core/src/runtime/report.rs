//! A run with its steps and every attempt: what `GET /api/runs/{id}` and
//! `reqflow runs show` print. Stored values are already secret-masked.
//! Binary values show `{content_type, size, sha256}` only; their bytes are
//! served by [`Engine::step_output_raw`] (`GET /api/runs/{id}/steps/{step}/output/raw`).

use serde_json::{Value, json};

use super::{Engine, EngineError};
use crate::value::binary::{self, Binary};

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
        let mut steps = Value::Array(steps);
        binary::redact(&mut steps);
        Ok(Some(json!({ "run": run, "event": event, "steps": steps })))
    }

    /// The bytes of a step's binary output (the output itself, or the first
    /// binary value inside it, e.g. an `http.request`'s `body`). `Ok(None)`
    /// when the run or step has no output; an error saying so when the output
    /// holds no binary value.
    pub async fn step_output_raw(&self, run_id: &str, step_id: &str) -> Result<Option<Binary>, RawOutputError> {
        let store = self.store();
        let results = store.results(run_id).await.map_err(|e| RawOutputError::Engine(e.into()))?;
        let Some(output) = results.into_iter().find(|r| r.step_id == step_id).and_then(|r| r.output) else {
            return Ok(None);
        };
        let Some(found) = binary::first(&output) else { return Err(RawOutputError::NotBinary) };
        let mut found = found.clone();
        crate::store::fill_binary(store.as_ref(), &mut found).await.map_err(|e| RawOutputError::Engine(e.into()))?;
        match Binary::from_value(&found) {
            Ok(b) => Ok(Some(b)),
            Err(binary::BinaryError::Missing { sha256 }) => Err(RawOutputError::Missing(sha256)),
            Err(e) => Err(RawOutputError::Corrupt(e.to_string())),
        }
    }
}

/// Why a step's raw output cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum RawOutputError {
    /// The store failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The output holds no binary value.
    #[error("the step's output holds no binary value (see its output in the run)")]
    NotBinary,
    /// The bytes are gone (erased, or never kept).
    #[error("the bytes of binary value {0} are not in the store")]
    Missing(String),
    /// The stored value does not decode.
    #[error("the stored binary value is unreadable: {0}")]
    Corrupt(String),
}
