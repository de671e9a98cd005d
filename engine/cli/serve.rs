//! `reqflow serve`: the engine with its HTTP API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use reqflow_engine::load::load_paths;
use reqflow_engine::runtime::{Engine, EngineConfig};

use crate::validate::{Format, print_report};

/// Options shared by the commands that open the store.
#[derive(Args, Debug, Clone)]
pub(crate) struct DbArgs {
    /// Database URL: `sqlite://FILE` (created if missing) or `postgres://…`.
    #[arg(long, global = true, env = "REQFLOW_DB", default_value = "sqlite://reqflow.db")]
    pub db: String,
}

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Directory (or file) of workflows to load.
    #[arg(long, default_value = "workflows")]
    workflows: PathBuf,
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "REQFLOW_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    settings: crate::settings::SettingsArgs,
    /// Largest trigger body accepted, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Runs executed at once by this process.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Queued runs above which triggers answer 503 with Retry-After.
    #[arg(long, default_value_t = 100_000)]
    max_backlog: u64,
    /// Accept events but run no workers (another process runs them).
    #[arg(long)]
    no_workers: bool,
    /// How long a claimed run stays leased without a heartbeat (renewed every third of it). After a
    /// crash, the runs the dead process held are taken over once their lease expires.
    #[arg(long, default_value = "30s", value_parser = parse_lease)]
    lease: std::time::Duration,
}

fn parse_lease(s: &str) -> Result<std::time::Duration, String> {
    let d = reqflow_engine::spec::DurationSpec::parse(s)?.0;
    if d < std::time::Duration::from_secs(1) {
        return Err(format!("`{s}`: a lease shorter than 1s would expire between heartbeats"));
    }
    Ok(d)
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

pub(crate) async fn open_store(url: &str) -> anyhow::Result<Arc<dyn reqflow_engine::store::Store>> {
    reqflow_store::open(url).await.with_context(|| format!("cannot open the store {}", redact_url(url)))
}

/// A database URL without its password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{user}:***@{}", &url[..s], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let registry = Arc::new(crate::registry());
    let report = load_paths(std::slice::from_ref(&args.workflows), &registry);
    if report.has_errors() {
        print_report(&report, Format::Human)?;
        eprintln!(
            "reqflow: refusing to start: fix the workflows above (`reqflow validate {}`)",
            args.workflows.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    let warnings = report.files.iter().any(|f| !f.diagnostics.is_empty());
    if warnings {
        print_report(&report, Format::Short)?;
    }
    let settings = args.settings.load()?;
    crate::settings::warn_short_secrets(settings.secrets());
    let rt = runtime()?;
    rt.block_on(async move {
        let store = open_store(&args.db.db).await?;
        let config = EngineConfig {
            max_concurrent_runs: args.concurrency,
            max_backlog: args.max_backlog,
            run_workers: !args.no_workers,
            lease: args.lease,
            ..EngineConfig::default()
        };
        let engine = Engine::new(store, registry, settings, config);
        engine.load(report.workflows.clone()).await?;
        let running = engine.start();
        let app = reqflow_server::router(
            engine.clone(),
            reqflow_server::ServerOptions { max_body_bytes: args.max_body_bytes },
        );
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "reqflow: serving {} workflow(s) on http://{addr} (store: {})",
            report.workflows.len(),
            redact_url(&args.db.db)
        );
        for wf in engine.workflows() {
            match wf.trigger.route() {
                Some(r) => eprintln!("  {:<32} POST {r}", wf.id),
                None => eprintln!("  {:<32} {}", wf.id, wf.trigger.kind()),
            }
        }
        axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
        eprintln!("reqflow: stopping (runs in flight resume on the next start)");
        running.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
