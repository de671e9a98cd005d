//! `reqflow subscriptions sync|list`: the vendor subscriptions that feed
//! webhook triggers with `subscribe:` (created, renewed and removed by the
//! engine; `serve --public-url` does the same at start and while it runs).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use reqflow_engine::load::load_paths;
use reqflow_engine::runtime::clock::{now_ms, rfc3339};
use reqflow_engine::runtime::subscriptions::{self, Change, SyncOptions, SyncReport};
use reqflow_engine::runtime::{Engine, EngineConfig};

use crate::serve::{DbArgs, open_existing_store, open_store, runtime};
use crate::validate::{Format, print_report};

#[derive(Args, Debug)]
pub(crate) struct SubscriptionsArgs {
    #[command(subcommand)]
    what: SubscriptionsWhat,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Subcommand, Debug)]
enum SubscriptionsWhat {
    /// Create the missing subscriptions, renew the ones near `valid_until`, remove the ones no
    /// workflow declares any more; print what was done (exit 1 if anything could not be done).
    Sync {
        /// The address the vendor reaches this engine's public listener at, e.g.
        /// `https://hooks.example.com`: subscriptions point at `{public-url}/hooks/{path}?event=…`.
        #[arg(long, env = "REQFLOW_PUBLIC_URL", value_parser = parse_public_url)]
        public_url: String,
        /// Directory (or file) of workflows, as given to `serve`.
        #[arg(long, default_value = "workflows")]
        workflows: PathBuf,
        #[command(flatten)]
        settings: crate::settings::SettingsArgs,
        /// Renew a subscription that expires within this.
        #[arg(long, default_value = "7d", value_parser = parse_renew)]
        renew_before: std::time::Duration,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The subscriptions the engine created and keeps (from the store).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `--public-url`: an absolute http(s) URL, without a trailing slash.
pub(crate) fn parse_public_url(s: &str) -> Result<String, String> {
    let t = s.trim().trim_end_matches('/');
    let ok = (t.starts_with("https://") || t.starts_with("http://")) && t.len() > "https://".len() - 1;
    if !ok || t.contains('?') || t.contains('#') || t.contains(char::is_whitespace) {
        return Err(format!("`{s}`: give the public address as an http(s) URL, e.g. https://hooks.example.com"));
    }
    Ok(t.to_owned())
}

pub(crate) fn parse_renew(s: &str) -> Result<std::time::Duration, String> {
    reqflow_engine::spec::DurationSpec::parse(s).map(|d| d.0)
}

pub(crate) fn run(args: SubscriptionsArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        SubscriptionsWhat::List { json } => runtime()?.block_on(async move {
            let store = open_existing_store(&args.db.db).await?;
            let list = store.subscriptions().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!(
                    "no managed subscriptions (declare `subscribe:` on a webhook trigger, then `serve --public-url` \
                     or `reqflow subscriptions sync`)"
                );
            } else {
                println!("{:<28} {:<18} {:<10} {:<24} TARGET", "WORKFLOW", "EVENT", "ID", "VALID UNTIL");
                for s in list {
                    println!(
                        "{:<28} {:<18} {:<10} {:<24} {}",
                        s.workflow_id,
                        s.event,
                        s.remote_id,
                        s.valid_until.map(rfc3339).unwrap_or_else(|| "-".into()),
                        s.target
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }),
        SubscriptionsWhat::Sync { public_url, workflows, settings, renew_before, json } => {
            let registry = Arc::new(crate::registry());
            let report = load_paths(std::slice::from_ref(&workflows), &registry);
            if report.has_errors() {
                print_report(&report, Format::Human)?;
                anyhow::bail!("fix the workflows above first (`reqflow validate {}`)", workflows.display());
            }
            let settings = settings.load()?;
            runtime()?.block_on(async move {
                let store = open_store(&args.db.db).await?;
                let engine = Engine::new(store, registry, settings, EngineConfig::default());
                let api =
                    engine.stored_api_workflows().await.context("cannot load the workflows deployed over the API")?;
                engine.load_with_api(report.workflows.clone(), api).await?;
                let done = subscriptions::sync(&engine, &SyncOptions { public_url, renew_before }).await;
                if json {
                    println!("{}", serde_json::to_string_pretty(&done)?);
                } else {
                    print_sync(&done, &mut std::io::stdout())?;
                }
                Ok(if done.has_failures() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
            })
        }
    }
}

/// One line per subscription, then a summary.
pub(crate) fn print_sync(done: &SyncReport, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    if done.items.is_empty() {
        writeln!(out, "no workflow declares `subscribe:`; nothing recorded to remove")?;
        return Ok(());
    }
    for i in &done.items {
        let change = serde_json::to_value(&i.change).ok().and_then(|v| v.as_str().map(str::to_owned));
        write!(out, "{:<8} {:<28} {:<18} {}", change.unwrap_or_default(), i.workflow, i.event, i.target)?;
        if let Some(id) = &i.remote_id {
            write!(out, " (id {id}")?;
            match i.valid_until {
                Some(v) => write!(out, ", valid until {})", rfc3339(v))?,
                None => write!(out, ")")?,
            }
        }
        if let Some(e) = &i.error {
            write!(out, ": {e}")?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "{} created, {} adopted, {} renewed, {} kept, {} removed, {} failed (at {})",
        done.count(Change::Created),
        done.count(Change::Adopted),
        done.count(Change::Renewed),
        done.count(Change::Kept),
        done.count(Change::Removed),
        done.count(Change::Failed),
        rfc3339(now_ms())
    )
}
