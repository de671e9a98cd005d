//! Retention: `serve --retain 30d` purges in the background; `reqflow purge`
//! runs one pass now (for a store no `serve` purges, or from cron). Each
//! workflow's own `retention:` wins over `--retain` for its data.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use reqflow_engine::runtime::retention::purge_interval;
use reqflow_engine::runtime::{Engine, EngineConfig, Settings};

use crate::serve::{DbArgs, open_existing_store, runtime};

#[derive(Args, Debug)]
pub(crate) struct PurgeArgs {
    /// Keep finished runs and their events, attempts and step results this long (e.g. `30d`); older ones
    /// are deleted. Workflows with their own `retention:` use it instead. Without it, only those are purged.
    #[arg(long, value_parser = crate::serve::parse_retain)]
    retain: Option<Duration>,
    /// The workflows (directory or file) whose `retention:` applies, as `serve --workflows`.
    #[arg(long, default_value = "workflows")]
    workflows: std::path::PathBuf,
    /// Purge as of this time (ISO 8601 or Unix ms) instead of now: a test clock.
    #[arg(long, hide = true)]
    at: Option<String>,
    #[command(flatten)]
    db: DbArgs,
}

/// `reqflow purge`.
pub(crate) fn run(args: PurgeArgs) -> anyhow::Result<ExitCode> {
    let now = match &args.at {
        Some(t) => reqflow_engine::runtime::clock::parse_time(t).map_err(|e| anyhow::anyhow!("--at: {e}"))?,
        None => reqflow_engine::runtime::clock::now_ms(),
    };
    let registry = crate::registry();
    let own: Vec<(String, Duration)> = if args.workflows.exists() {
        let report = reqflow_engine::load::load_paths(std::slice::from_ref(&args.workflows), &registry);
        report.workflows.iter().filter_map(|w| w.retention.map(|r| (w.id.clone(), r))).collect()
    } else {
        Vec::new()
    };
    runtime()?.block_on(async move {
        let store = open_existing_store(&args.db.db).await?;
        let engine = Engine::new(store, Arc::new(registry), Settings::default(), EngineConfig::default());
        let report = engine.purge_at(now, args.retain, &own).await.context("purge")?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// `serve`'s purger: a pass every [`purge_interval`] of the windows in
/// force, until `stop` turns true.
pub(crate) fn spawn(
    engine: Engine,
    retain: Option<Duration>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let own = engine.retention_windows();
            let every = purge_interval(retain.into_iter().chain(own.iter().map(|(_, w)| *w)));
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let now = reqflow_engine::runtime::clock::now_ms();
            if let Err(e) = engine.purge_at(now, retain, &own).await {
                tracing::warn!(error = %e, "retention: the purge failed; it is tried again at the next interval");
            }
        }
    })
}
