//! `reqflow runs list|show|retry`: run history from the store.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use reqflow_engine::runtime::clock::rfc3339;
use reqflow_engine::runtime::{Engine, EngineConfig, Secrets};
use reqflow_engine::store::{RunFilter, RunStatus};

use crate::serve::{DbArgs, open_existing_store, runtime};

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
        /// Only runs of this subject (a value of the workflows' `subject:`, e.g. an email).
        #[arg(long)]
        subject: Option<String>,
        /// A secrets file (for `KEY`, which subjects are hashed with), added to `REQFLOW_SECRET_*`.
        #[arg(long, value_name = "FILE")]
        secrets: Option<std::path::PathBuf>,
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
    /// With `--latest`, steps changed since the run's version re-run too, with everything downstream.
    Retry {
        /// The run id.
        id: String,
        /// Use the workflow's current version (read from `--workflows`) instead of the run's own.
        #[arg(long)]
        latest: bool,
        /// Re-run this step and everything downstream of it, even where it succeeded.
        #[arg(long)]
        from: Option<String>,
        /// Where `--latest` reads the workflow from (a directory or file), as `serve --workflows`.
        #[arg(long, default_value = "workflows")]
        workflows: std::path::PathBuf,
    },
}

pub(crate) fn run(args: RunsArgs) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async move {
        let store = open_existing_store(&args.db.db).await?;
        match args.what {
            RunsWhat::List { workflow, status, subject, secrets, limit, json } => {
                let status = status.as_deref().and_then(RunStatus::parse);
                let subject = match subject {
                    Some(v) => {
                        let secrets = crate::settings::secrets(secrets.as_ref())?;
                        Some(
                            reqflow_engine::runtime::subjects::SubjectKey::resolve(&secrets, store.as_ref())
                                .await?
                                .hash(&v),
                        )
                    }
                    None => None,
                };
                let runs = store
                    .runs(RunFilter {
                        workflow_id: workflow,
                        status,
                        limit: Some(limit),
                        subject,
                        ..Default::default()
                    })
                    .await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&runs)?);
                } else {
                    println!("{:<38} {:<28} {:<10} created", "run", "workflow", "status");
                    for r in runs {
                        println!(
                            "{:<38} {:<28} {:<10} {}",
                            r.run_id,
                            r.workflow.workflow_id,
                            r.status.as_str(),
                            rfc3339(r.created_at)
                        );
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
            RunsWhat::Retry { id, latest, from, workflows } => {
                let engine = reqflow_engine::runtime::Engine::new(
                    store.clone(),
                    std::sync::Arc::new(crate::registry()),
                    reqflow_engine::runtime::Settings::default(),
                    reqflow_engine::runtime::EngineConfig::default(),
                );
                if latest {
                    let run = store.run(&id).await?.ok_or_else(|| anyhow::anyhow!("no run `{id}`"))?;
                    let wf_id = run.workflow.workflow_id;
                    let report = reqflow_engine::load::load_paths(std::slice::from_ref(&workflows), &crate::registry());
                    let wf = report.workflows.into_iter().find(|w| w.id == wf_id).ok_or_else(|| {
                        anyhow::anyhow!("workflow `{wf_id}` is not in {} (or has errors)", workflows.display())
                    })?;
                    engine.load(vec![wf]).await?;
                }
                let answer = match engine.retry(&id, reqflow_engine::runtime::RetryRequest { latest, from }).await {
                    Ok(a) => a,
                    Err(reqflow_engine::runtime::EngineError::Store(
                        e @ (reqflow_engine::store::StoreError::Conflict(_)
                        | reqflow_engine::store::StoreError::NotFound(_)),
                    )) => {
                        eprintln!("cannot retry run `{id}`: {e}");
                        return Ok(ExitCode::FAILURE);
                    }
                    Err(e) => return Err(e.into()),
                };
                let r = &answer.run;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "run_id": r.run_id, "status": r.status, "version_used": answer.version_used,
                        "workflow": r.workflow, "retries": r.retries, "reused": answer.reused, "rerun": answer.rerun,
                    }))?
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
