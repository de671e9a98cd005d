//! `reqflow runs list|show|retry`: run history from the store.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use reqflow_engine::runtime::clock::{now_ms, rfc3339};
use reqflow_engine::runtime::{Engine, EngineConfig, Secrets};
use reqflow_engine::store::{RunFilter, RunStatus};

use crate::serve::{DbArgs, open_store, runtime};

#[derive(Args, Debug)]
pub(crate) struct RunsArgs {
    #[command(subcommand)]
    what: RunsWhat,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Subcommand, Debug)]
enum RunsWhat {
    /// Recent runs, newest first.
    List {
        /// Only this workflow.
        #[arg(long)]
        workflow: Option<String>,
        /// Only this status. Events that start no run (ignored, duplicate, invalid) are not runs:
        /// `reqflow events list --outcome ignored` lists them.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(RunStatus::NAMES))]
        status: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One run with every step and attempt, as JSON.
    Show {
        /// The run id.
        id: String,
    },
    /// Re-run a failed run's failed steps (succeeded steps are reused); a running `serve` picks it up.
    Retry {
        /// The run id.
        id: String,
        /// Use the workflow's current version instead of the one the run started with.
        #[arg(long)]
        latest: bool,
    },
}

pub(crate) fn run(args: RunsArgs) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async move {
        let store = open_store(&args.db.db).await?;
        match args.what {
            RunsWhat::List { workflow, status, limit, json } => {
                let status = status.as_deref().and_then(RunStatus::parse);
                let runs = store.runs(RunFilter { workflow_id: workflow, status, limit: Some(limit), ..Default::default() }).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&runs)?);
                } else {
                    println!("{:<38} {:<28} {:<10} created", "run", "workflow", "status");
                    for r in runs {
                        println!("{:<38} {:<28} {:<10} {}", r.run_id, r.workflow.workflow_id, r.status.as_str(), rfc3339(r.created_at));
                    }
                }
                anyhow::Ok(ExitCode::SUCCESS)
            }
            RunsWhat::Show { id } => {
                let engine = Engine::new(store, Arc::new(crate::registry()), Secrets::new(), EngineConfig::default());
                match engine.run_detail(&id).await? {
                    Some(d) => {
                        println!("{}", serde_json::to_string_pretty(&d)?);
                        Ok(ExitCode::SUCCESS)
                    }
                    None => {
                        eprintln!("no run `{id}`");
                        Ok(ExitCode::FAILURE)
                    }
                }
            }
            RunsWhat::Retry { id, latest } => {
                let version = if latest {
                    let run = store.run(&id).await?.ok_or_else(|| anyhow::anyhow!("no run `{id}`"))?;
                    let wf_id = run.workflow.workflow_id.clone();
                    let report = reqflow_engine::load::load_paths(&[std::path::PathBuf::from("workflows")], &crate::registry());
                    let wf = report
                        .workflows
                        .into_iter()
                        .find(|w| w.id == wf_id)
                        .ok_or_else(|| anyhow::anyhow!("workflow `{wf_id}` is not in workflows/ (or has errors)"))?;
                    store
                        .put_workflow(
                            reqflow_engine::store::WorkflowVersion { workflow_id: wf.id.clone(), version: wf.version, hash: wf.hash.clone() },
                            &wf.source.text,
                        )
                        .await?;
                    Some(reqflow_engine::store::WorkflowVersion { workflow_id: wf.id.clone(), version: wf.version, hash: wf.hash.clone() })
                } else {
                    None
                };
                let r = match store.retry(&id, version, now_ms()).await {
                    Ok(r) => r,
                    Err(e @ (reqflow_engine::store::StoreError::Conflict(_) | reqflow_engine::store::StoreError::NotFound(_))) => {
                        eprintln!("cannot retry run `{id}`: {e}");
                        return Ok(ExitCode::FAILURE);
                    }
                    Err(e) => return Err(e.into()),
                };
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "run_id": r.run_id, "status": r.status, "version_used": if latest { "latest" } else { "original" },
                        "workflow": r.workflow, "retries": r.retries,
                    }))?
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
