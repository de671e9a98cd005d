//! Embedding reqflow in a Rust program: build an engine in-process, register
//! a custom action (the same way the built-in ones are registered), load a
//! workflow from a string, run it, and read the run back from the store.
//!
//! Run with `cargo run -p example-embed`.

use std::sync::Arc;
use std::time::Duration;

use reqflow_engine::action::{Action, ActionContext, ActionError, ActionInfo, Registry};
use reqflow_engine::load::load_str;
use reqflow_engine::runtime::{Engine, EngineConfig, EventIn, Inbound, Origin, Secrets};
use reqflow_engine::store::Accepted;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// A custom action: scores a candidate's answers (stands in for a vendor call).
struct ScoreAnswers;

/// `with:` of `acme.score_answers`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScoreParams {
    /// The candidate's answers.
    answers: Vec<String>,
    /// Points per non-empty answer.
    #[serde(default = "ten")]
    points: u32,
}

fn ten() -> u32 {
    10
}

impl Action for ScoreAnswers {
    type Params = ScoreParams;

    fn info(&self) -> ActionInfo {
        ActionInfo::new("acme.score_answers", "Scores a candidate's screening answers")
            .example(json!({ "answers": ["yes", "5 years"], "points": 10 }))
    }

    async fn run(&self, _cx: ActionContext, p: ScoreParams) -> Result<Value, ActionError> {
        if p.answers.is_empty() {
            return Err(ActionError::permanent("no answers to score"));
        }
        let score = p.answers.iter().filter(|a| !a.trim().is_empty()).count() as u32 * p.points;
        Ok(json!({ "score": score }))
    }
}

const WORKFLOW: &str = r#"
id: embedded-scoring
trigger: { manual: {} }
steps:
  - id: score
    action: acme.score_answers
    with: { answers: $.event.answers, points: 25 }
  - id: verdict
    map:
      candidate: "{{ event.name }}"
      score: "{{ steps.score.output.score }}"
      advance: "{{ steps.score.output.score >= 50 }}"
"#;

/// Runs the workflow on one event with an engine over a SQLite file; returns the run.
pub async fn run_example(db_url: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let mut registry = Registry::new();
    registry.register(ScoreAnswers);
    let registry = Arc::new(registry);

    let loaded = load_str("embedded.yaml", WORKFLOW, &registry);
    let workflow = loaded.workflow.ok_or_else(|| loaded.report.render_human())?;

    let store = reqflow_store::open(db_url).await?;
    let engine = Engine::new(store, registry, Secrets::new(), EngineConfig::default());
    engine.load(vec![workflow.clone()]).await?;
    let running = engine.start();

    let event = json!({ "name": "Ada Lovelace", "answers": ["yes", "5 years", ""] });
    let inbound = Inbound::Event(EventIn {
        workflow: workflow.id.clone(),
        origin: Origin::Manual,
        payload: event,
        received_at: trigger_now(),
        run_id: None,
    });
    let Accepted::Queued { run_id } = engine.accept(inbound).await? else {
        return Err("the event did not start a run".into());
    };
    engine.wait_for(&run_id, Duration::from_secs(30)).await?;
    let detail = engine.run_detail(&run_id).await?.ok_or("the run is not stored")?;
    running.shutdown().await;
    Ok(detail)
}

fn trigger_now() -> i64 {
    reqflow_engine::runtime::clock::now_ms()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("reqflow-embed-{}.db", std::process::id()));
    let detail = run_example(&format!("sqlite://{}", path.display())).await?;
    println!("{}", serde_json::to_string_pretty(&detail)?);
    let _ = std::fs::remove_file(&path);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_custom_action_runs_inside_the_engine() {
        let path = std::env::temp_dir().join(format!("reqflow-embed-test-{}.db", std::process::id()));
        let detail = super::run_example(&format!("sqlite://{}", path.display())).await.expect("runs");
        let _ = std::fs::remove_file(&path);
        assert_eq!(detail["run"]["status"], "succeeded", "{detail:#}");
        assert_eq!(detail["steps"][0]["output"]["score"], 50);
        assert_eq!(detail["steps"][1]["output"]["advance"], true);
        assert_eq!(detail["steps"][1]["output"]["candidate"], "Ada Lovelace");
    }
}
