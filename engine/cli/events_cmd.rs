//! `reqflow events list|show`: stored events with their outcome and reason,
//! read from the store (`--db`), shown as `GET /api/events` shows them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqflow_engine::runtime::clock::parse_time;
use reqflow_engine::runtime::event_view;
use reqflow_engine::store::{EventFilter, EventOutcome};

use crate::serve::{DbArgs, open_existing_store, runtime};

#[derive(Args, Debug)]
pub(crate) struct EventsArgs {
    #[command(subcommand)]
    what: EventsWhat,
    #[command(flatten)]
    db: DbArgs,
    /// A secrets file (as for `serve`), added to `REQFLOW_SECRET_*`: their values are masked (`***`) in
    /// what is printed (dedupe keys, the event).
    #[arg(long, value_name = "FILE", global = true)]
    secrets: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum EventsWhat {
    /// Stored events, newest first, with their outcome, reason and run (no payloads).
    List {
        /// Only this workflow.
        #[arg(long)]
        workflow: Option<String>,
        /// Only this outcome (`accepted`: the event started a run).
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(EventOutcome::NAMES))]
        outcome: Option<String>,
        /// Received at or after (ISO 8601 such as 2026-12-03T07:15:57Z, or Unix milliseconds).
        #[arg(long, value_parser = parse_time)]
        since: Option<i64>,
        /// Received before (ISO 8601 or Unix milliseconds).
        #[arg(long, value_parser = parse_time)]
        until: Option<i64>,
        /// How many (at most 1000).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One event: outcome, reason, run, and its `event` context (headers without credentials).
    Show {
        /// The event id.
        id: String,
        /// Print JSON (the default is JSON too, as `GET /api/events/{id}` gives it).
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(args: EventsArgs) -> anyhow::Result<ExitCode> {
    let secrets = crate::settings::secrets(args.secrets.as_ref())?;
    let rt = runtime()?;
    rt.block_on(async move {
        let store = open_existing_store(&args.db.db).await?;
        match args.what {
            EventsWhat::List { workflow, outcome, since, until, limit, json } => {
                let outcome = outcome.as_deref().and_then(EventOutcome::parse);
                let filter =
                    EventFilter { workflow_id: workflow, outcome, since, until, limit: Some(limit), before: None };
                let events = store.events(filter).await?;
                let shown: Vec<serde_json::Value> =
                    events.iter().map(|e| event_view::summary_json(e, &secrets)).collect();
                if json {
                    println!("{}", serde_json::to_string_pretty(&shown)?);
                    return anyhow::Ok(ExitCode::SUCCESS);
                }
                println!(
                    "{:<38} {:<28} {:<10} {:<25} {:<38} reason",
                    "event", "workflow", "outcome", "received", "run"
                );
                let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
                for e in &shown {
                    println!(
                        "{:<38} {:<28} {:<10} {:<25} {:<38} {}",
                        text(&e["event_id"]),
                        text(&e["workflow_id"]),
                        text(&e["outcome"]),
                        text(&e["received_at"]),
                        text(&e["run_id"]),
                        text(&e["reason"]),
                    );
                }
                anyhow::Ok(ExitCode::SUCCESS)
            }
            EventsWhat::Show { id, json: _ } => match store.event(&id).await? {
                Some(e) => {
                    println!("{}", serde_json::to_string_pretty(&event_view::record_json(&e, &secrets))?);
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("no event `{id}`");
                    Ok(ExitCode::FAILURE)
                }
            },
        }
    })
}
