//! `reqflow run FILE --event JSON_FILE`: one run in the foreground.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use reqflow_engine::compile::CompiledTrigger;
use reqflow_engine::load::{LoadReport, load_file};
use reqflow_engine::runtime::clock::{now_ms, rfc3339};
use reqflow_engine::runtime::{Engine, EngineConfig, EventIn, Inbound, Origin};
use reqflow_engine::store::{Accepted, RunStatus};
use serde_json::{Value, json};

use crate::serve::{open_store, runtime};
use crate::validate::{Format, print_report};

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// The workflow file.
    file: PathBuf,
    /// The event: the request body for webhook (JSON) and SOAP (XML)
    /// workflows, the event itself for manual and schedule ones.
    #[arg(long)]
    event: Option<PathBuf>,
    /// Store the run in this database (`sqlite://FILE`, `postgres://…`).
    /// Without it the run goes to a temporary SQLite file deleted at the end:
    /// a trial run never writes into the production database by accident
    /// (`REQFLOW_DB` is not read here).
    #[arg(long)]
    db: Option<String>,
    #[command(flatten)]
    settings: crate::settings::SettingsArgs,
    /// Give up waiting after this many seconds (the run goes on in the store).
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

fn payload(trigger: &CompiledTrigger, raw: &[u8], now: i64) -> anyhow::Result<Value> {
    let text = std::str::from_utf8(raw).context("the event file is not UTF-8")?;
    Ok(match trigger {
        CompiledTrigger::Webhook { .. } => {
            let body: Value = serde_json::from_str(text).context("the event file is not valid JSON")?;
            json!({ "body": body, "headers": {}, "query": {}, "received_at": rfc3339(now) })
        }
        CompiledTrigger::Soap { .. } => {
            let msg = reqflow_engine::xml::parse_soap(text).context("the event file is not a SOAP envelope")?;
            json!({ "body": msg.body, "operation": msg.operation, "header": msg.header, "headers": {}, "received_at": rfc3339(now) })
        }
        CompiledTrigger::Schedule(_) | CompiledTrigger::Manual => {
            if text.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(text).context("the event file is not valid JSON")?
            }
        }
    })
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let registry = Arc::new(crate::registry());
    let loaded = load_file(&args.file, &registry);
    let Some(wf) = loaded.workflow else {
        print_report(&LoadReport { workflows: vec![], files: vec![loaded.report] }, Format::Human)?;
        return Ok(ExitCode::FAILURE);
    };
    let raw = match &args.event {
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
        None => Vec::new(),
    };
    let now = now_ms();
    let payload = payload(&wf.trigger, &raw, now)?;
    let settings = args.settings.load()?;
    let state_key = crate::at_rest::run_key(settings.secrets())?;
    let rt = runtime()?;
    let code = rt.block_on(async move {
        // The scratch directory lives until the run is printed.
        let (url, _scratch) = match &args.db {
            Some(db) => (db.clone(), None),
            None => {
                let dir = tempfile::tempdir().context("a temporary directory for the run's store")?;
                (format!("sqlite://{}", dir.path().join("run.db").display()), Some(dir))
            }
        };
        let store = open_store(&url).await?;
        let engine = Engine::new(
            store,
            registry,
            settings,
            EngineConfig {
                max_concurrent_runs: 4,
                run_schedules: false,
                state_key: Some(state_key),
                ..EngineConfig::default()
            },
        );
        engine.load(vec![wf.clone()]).await?;
        let running = engine.start();
        let event =
            EventIn { workflow: wf.id.clone(), origin: Origin::Direct, payload, received_at: now, run_id: None };
        let accepted = engine.accept(Inbound::Event(event)).await?;
        let run_id = match accepted {
            Accepted::Queued { run_id } => run_id,
            other => {
                println!("{}", serde_json::to_string_pretty(&other)?);
                running.shutdown().await;
                return anyhow::Ok(ExitCode::SUCCESS);
            }
        };
        let run = engine.wait_for(&run_id, Duration::from_secs(args.timeout_secs)).await?;
        let detail = engine.run_detail(&run_id).await?;
        running.shutdown().await;
        println!("{}", serde_json::to_string_pretty(&detail.unwrap_or(Value::Null))?);
        Ok(match run.map(|r| r.status) {
            Some(RunStatus::Succeeded) => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        })
    })?;
    Ok(code)
}
