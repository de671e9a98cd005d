//! `reqflow replay FILE --since …`: the stored events of a workflow run
//! again through an edited file, in a throwaway store, without calling
//! anything outside; prints per event how the outgoing requests differ
//! from what the original run sent, then `N unchanged, M changed, K newly
//! failing`. A report: exit 0 whatever it finds; 1 for an invalid file,
//! 2 for an error (a store that cannot be read).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use reqflow_engine::json_diff::{ChangeKind, FieldChange};
use reqflow_engine::load::{LoadReport, load_file};
use reqflow_engine::runtime::clock::{parse_time, rfc3339};
use reqflow_engine::runtime::replay::compare::{StepChange, StepReport, Verdict};
use reqflow_engine::runtime::replay::{EventReport, Replay, ReplayOptions, ReplayReport};
use serde_json::Value;

use crate::serve::{DbArgs, open_existing_store, open_store, runtime};
use crate::validate::{Format, print_report};

#[derive(Args, Debug)]
pub(crate) struct ReplayArgs {
    /// The edited workflow file.
    file: PathBuf,
    /// Events received at or after: ISO 8601 (`2026-12-03`, `2026-12-03T07:15:57Z`), a duration
    /// before now (`2h`, `7d`) or Unix milliseconds.
    #[arg(long, value_parser = parse_time)]
    since: i64,
    /// Events received before (same forms).
    #[arg(long, value_parser = parse_time)]
    until: Option<i64>,
    /// At most this many events, oldest first.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Replay the events of this workflow (default: the file's `id:`).
    #[arg(long)]
    workflow: Option<String>,
    /// The store the events are read from (only read).
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    settings: crate::settings::SettingsArgs,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
    /// Show unchanged steps too.
    #[arg(long)]
    all: bool,
}

pub(crate) fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let replay = Replay::new(Arc::new(crate::registry()));
    let loaded = load_file(&args.file, replay.registry());
    let Some(wf) = loaded.workflow else {
        print_report(&LoadReport { workflows: vec![], files: vec![loaded.report] }, Format::Human)?;
        return Ok(ExitCode::FAILURE);
    };
    if args.limit == 0 {
        anyhow::bail!("--limit must be at least 1");
    }
    let settings = args.settings.load()?;
    let opts = ReplayOptions {
        workflow_id: args.workflow.clone().unwrap_or_else(|| wf.id.clone()),
        since: args.since,
        until: args.until,
        limit: args.limit,
        run_timeout: Duration::from_secs(60),
    };
    let rt = runtime()?;
    let report = rt.block_on(async {
        let source = open_existing_store(&args.db.db).await?;
        let dir = tempfile::tempdir().context("a temporary directory for the replay's store")?;
        // Thrown away at the end: no fsync per commit.
        let scratch =
            open_store(&format!("sqlite://{}?synchronous=normal", dir.path().join("replay.db").display())).await?;
        let report = replay.run(source.as_ref(), scratch, wf, settings, &opts).await?;
        drop(dir);
        anyhow::Ok(report)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_human(&report, args.all);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_human(report: &ReplayReport, all: bool) {
    let until = report.until.map(rfc3339).unwrap_or_else(|| "now".into());
    println!("replay of `{}` events from {} to {until}", report.workflow, rfc3339(report.since));
    for e in &report.events {
        print_event(e, all);
    }
    let s = &report.summary;
    println!();
    println!(
        "{} unchanged, {} changed, {} newly failing ({} event{} replayed; {} skipped: no run, or its original run missing or unfinished)",
        s.unchanged,
        s.changed,
        s.newly_failing,
        s.events - s.skipped,
        if s.events - s.skipped == 1 { "" } else { "s" },
        s.skipped
    );
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Unchanged => "unchanged",
        Verdict::Changed => "changed",
        Verdict::NewlyFailing => "NEWLY FAILING",
        Verdict::Skipped => "skipped",
    }
}

fn print_event(e: &EventReport, all: bool) {
    let run = e.run_id.as_deref().map(|r| format!(" run {r}")).unwrap_or_default();
    println!("\nevent {} ({}{run}): {}", e.event_id, rfc3339(e.received_at), verdict_name(e.verdict));
    if let Some(reason) = &e.reason {
        println!("  {reason}");
    }
    if let Some(f) = &e.failure {
        let field = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        println!("  fails at step `{}`: {}", field("step"), field("message"));
    }
    for s in &e.steps {
        if s.change == StepChange::Unchanged && !all {
            continue;
        }
        print_step(s);
    }
}

fn print_step(s: &StepReport) {
    let item = s.item.map(|i| format!("[{i}]")).unwrap_or_default();
    let what = if s.kind == "map" { "output" } else { "request" };
    let change = match s.change {
        StepChange::Unchanged => format!("{what} unchanged"),
        StepChange::Changed => format!("{what} changed"),
        StepChange::Added => "added".to_owned(),
        StepChange::Removed => "removed".to_owned(),
        StepChange::NotEvaluated => "not evaluated".to_owned(),
        StepChange::Failed => "now fails".to_owned(),
    };
    let note = s.note.as_deref().map(|n| format!(" — {n}")).unwrap_or_default();
    println!("  step {}{item} ({}): {change}{note}", s.step, s.kind);
    for f in &s.fields {
        println!("    {}", field_line(f));
    }
    if let Some(v) = &s.value {
        println!("    {}", compact(v));
    }
}

fn field_line(f: &FieldChange) -> String {
    let show = |v: &Option<Value>| v.as_ref().map(compact).unwrap_or_default();
    match f.change {
        ChangeKind::Added => format!("+ {}: {}", f.path, show(&f.new)),
        ChangeKind::Removed => format!("- {}: {}", f.path, show(&f.old)),
        ChangeKind::Changed => format!("~ {}: {} → {}", f.path, show(&f.old), show(&f.new)),
    }
}

/// One line of JSON, cut at 200 characters.
fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 200 { format!("{}…", s.chars().take(200).collect::<String>()) } else { s }
}
