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
    /// Directory (or file) of workflows to load; watched for changes while serving (--no-watch).
    #[arg(long, default_value = "workflows")]
    workflows: PathBuf,
    #[command(flatten)]
    db: DbArgs,
    /// The public plane: trigger endpoints (`/hooks/*`, `/soap/*`) and `/healthz`, nothing else.
    #[arg(long, env = "REQFLOW_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The admin plane: `/api/*` and `/metrics`, behind API tokens (`reqflow tokens create`).
    /// `same` serves it on the public listener (its routes still require a token; with that
    /// listener's TLS, if any).
    #[arg(long, env = "REQFLOW_ADMIN_LISTEN", default_value = "127.0.0.1:8081")]
    admin_listen: AdminListen,
    #[command(flatten)]
    tls: crate::serve_tls::TlsArgs,
    /// Serve `/metrics` without a token (for scrapers that cannot send one).
    #[arg(long)]
    metrics_open: bool,
    #[command(flatten)]
    edge: EdgeArgs,
    #[command(flatten)]
    settings: crate::settings::SettingsArgs,
    /// Largest trigger body accepted, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Runs executed at once by this process.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Queued runs, all workflows together, past which every trigger answers 503 with Retry-After.
    /// Each workflow also has a share of it: past its share, that workflow's triggers (webhooks,
    /// SOAP, schedules, manual runs, `workflow.start`) answer 503 while the others keep accepting.
    /// The share is --max-backlog divided among the loaded workflows, at least 1,000 but at most
    /// half of it (all of it with one workflow).
    #[arg(long, default_value_t = 100_000)]
    max_backlog: u64,
    /// Each workflow's share of --max-backlog, the same for all, instead of the division above
    /// (a value of --max-backlog or more turns the per-workflow bound off).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_backlog_per_workflow: Option<u64>,
    /// Accept events but run no workers (another process runs them).
    #[arg(long)]
    no_workers: bool,
    /// How long a claimed run stays leased without a heartbeat (renewed every third of it). After a
    /// crash, the runs the dead process held are taken over once their lease expires.
    #[arg(long, default_value = "30s", value_parser = parse_lease)]
    lease: std::time::Duration,
    /// Do not watch --workflows for changes (SIGHUP still reloads). Without it, a changed file is
    /// validated and, when valid, deployed at once (runs in flight keep their version); an invalid
    /// one is refused (logged, and in `GET /api/workflows`) while its previous version keeps
    /// serving; a removed file's triggers stop.
    #[arg(long)]
    no_watch: bool,
    /// How often --workflows is checked for changes (a change is applied once two checks agree).
    #[arg(long, default_value = "500ms", value_parser = parse_watch_interval)]
    watch_interval: std::time::Duration,
    /// Keep finished runs and their events, attempts and step results this long (e.g. `30d`), then delete
    /// them (checked every tenth of the window, at most every minute). A workflow's own `retention:` wins.
    /// Without it (and without `retention:`) run history is kept forever. Expired dedupe keys are always
    /// deleted.
    #[arg(long, value_parser = parse_retain)]
    retain: Option<std::time::Duration>,
    /// Check every connection at start (a cheap authenticated read each, as `reqflow connections
    /// test`) and log each result; serving does not wait for them nor stop on a failure.
    #[arg(long)]
    check_connections: bool,
    /// The address vendors reach the public listener at, e.g. `https://hooks.example.com`. With it,
    /// the subscriptions that webhook triggers declare (`subscribe:`) are created at the vendor,
    /// renewed before they expire and removed when no workflow declares them (at start, after each
    /// deploy or reload, and hourly); `reqflow subscriptions list` shows them. The console shows each
    /// trigger's URL under it (otherwise its path).
    #[arg(long, env = "REQFLOW_PUBLIC_URL", value_parser = crate::subscriptions_cmd::parse_public_url)]
    public_url: Option<String>,
    /// With --public-url: renew a subscription that expires within this.
    #[arg(long, default_value = "7d", value_parser = crate::subscriptions_cmd::parse_renew)]
    renew_before: std::time::Duration,
    /// Try it out: the workflows against a sandbox started in this process (Workable, Workday and
    /// the vendors on a loopback port), with settings made for it — REQFLOW_SECRET_*/REQFLOW_VAR_*,
    /// --secrets and --vars are ignored, so no real vendor is called. Runs are kept in
    /// reqflow-demo.db unless --db names another database.
    #[arg(long)]
    demo: bool,
}

/// Where the admin plane listens.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AdminListen {
    /// Its own address.
    At(SocketAddr),
    /// The public listener's.
    Same,
}

impl std::str::FromStr for AdminListen {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "same" {
            return Ok(AdminListen::Same);
        }
        s.parse().map(AdminListen::At).map_err(|e| format!("`{s}`: {e} (an address such as 127.0.0.1:8081, or `same`)"))
    }
}

/// The edge's bounds, on both listeners.
#[derive(Args, Debug, Clone)]
pub(crate) struct EdgeArgs {
    /// A request's head must arrive within this (from the connection's start, or the last response).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    header_timeout: std::time::Duration,
    /// A trigger's body must arrive whole within this.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    body_timeout: std::time::Duration,
    /// A kept-alive connection with no request in flight is closed after this.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    idle_timeout: std::time::Duration,
    /// Open connections per listener; past it the longest-idle one is closed, or the new one gets 503.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Trigger body bytes held in memory across all requests; past it triggers answer 503 + Retry-After.
    #[arg(long, default_value_t = 64 << 20)]
    max_body_memory: usize,
    /// On SIGTERM/Ctrl-C: stop accepting, finish requests in flight for at most this long, then exit.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    shutdown_timeout: std::time::Duration,
}

impl EdgeArgs {
    fn limits(&self) -> reqflow_server::edge::EdgeLimits {
        reqflow_server::edge::EdgeLimits {
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections.max(1),
            shutdown_timeout: self.shutdown_timeout,
        }
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    reqflow_engine::spec::DurationSpec::parse(s).map(|d| d.0)
}

pub(crate) fn parse_retain(s: &str) -> Result<std::time::Duration, String> {
    let d = reqflow_engine::spec::DurationSpec::parse(s)?.0;
    if d < std::time::Duration::from_secs(1) {
        return Err(format!("`{s}`: at least 1s"));
    }
    Ok(d)
}

fn parse_watch_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = reqflow_engine::spec::DurationSpec::parse(s)?.0;
    if d < std::time::Duration::from_millis(50) {
        return Err(format!("`{s}`: at least 50ms"));
    }
    Ok(d)
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

/// Open a store that must already exist: commands that read history
/// (`runs`, `events`, `audit`) refuse a SQLite file that is not there
/// instead of creating an empty one and printing an empty table.
pub(crate) async fn open_existing_store(url: &str) -> anyhow::Result<Arc<dyn reqflow_engine::store::Store>> {
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let file = rest.split('?').next().unwrap_or(rest);
        if !std::path::Path::new(file).exists() {
            anyhow::bail!(
                "no database at {file}: give the one `serve` uses with --db (or REQFLOW_DB), e.g. --db sqlite://reqflow.db"
            );
        }
    }
    open_store(url).await
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
    // Before loading: a change made while loading is seen by the first poll.
    let loaded_state = crate::reload::snapshot(&args.workflows);
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
    let settings = if args.demo { reqflow_engine::runtime::Settings::default() } else { args.settings.load()? };
    let state_key = if args.demo {
        // The demo's OAuth tokens are the sandbox's: a key for this process is enough.
        Some(crate::at_rest::ephemeral()?)
    } else {
        crate::settings::warn_short_secrets(settings.secrets());
        crate::at_rest::serve_key(settings.secrets())?
    };
    let mut args = args;
    if args.demo && args.db.db == "sqlite://reqflow.db" {
        args.db.db = crate::demo::DEMO_DB.to_owned();
    }
    let tls = args.tls.load(args.admin_listen)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let demo = if args.demo { Some(crate::demo::Demo::start().await?) } else { None };
        let settings = match &demo {
            Some(d) => d.settings(),
            None => settings,
        };
        let store = open_store(&args.db.db).await?;
        let config = EngineConfig {
            state_key,
            max_concurrent_runs: args.concurrency,
            max_backlog: args.max_backlog,
            max_backlog_per_workflow: args.max_backlog_per_workflow,
            run_workers: !args.no_workers,
            lease: args.lease,
            ..EngineConfig::default()
        };
        let engine = Engine::new(store, registry.clone(), settings, config);
        // Workflows deployed over the admin API (`PUT /api/workflows/{id}`) serve beside the
        // directory's; an id or trigger path in both is ambiguous: refuse to start.
        let api = engine.stored_api_workflows().await.context("cannot load the workflows deployed over the API")?;
        let clashes = reqflow_engine::runtime::api_deploy::start_clashes(&report.workflows, &api);
        if !clashes.is_empty() {
            for c in &clashes {
                eprintln!("error: {c}");
            }
            eprintln!(
                "reqflow: refusing to start: a workflow comes from --workflows or from the API, not both \
                 (remove or rename the file; the API deployment is kept in the database)"
            );
            return Ok(ExitCode::FAILURE);
        }
        let served = report.workflows.len() + api.len();
        engine.load_with_api(report.workflows.clone(), api).await?;
        let running = engine.start();
        if args.check_connections {
            tokio::spawn(crate::connections_cmd::check_at_start(engine.clone()));
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let reload = crate::reload::ReloadOptions {
            path: args.workflows.clone(),
            watch: (!args.no_watch).then_some(args.watch_interval),
        };
        let purger = crate::purge_cmd::spawn(engine.clone(), args.retain, stop_rx.clone());
        if let Some(r) = args.retain {
            eprintln!(
                "reqflow: retention: finished runs and their data are deleted after {}",
                humantime::format_duration(r)
            );
        }
        let reloader = crate::reload::spawn(engine.clone(), registry.clone(), reload, loaded_state, stop_rx.clone())
            .context("cannot listen for SIGHUP")?;
        let opts = reqflow_server::ServerOptions {
            max_body_bytes: args.max_body_bytes,
            body_memory_bytes: args.edge.max_body_memory,
            body_timeout: args.edge.body_timeout,
            metrics_open: args.metrics_open,
            // The console's cookie is `Secure` when the listener serving the admin plane is TLS.
            secure_cookies: match args.admin_listen {
                AdminListen::Same => tls.public.is_some(),
                AdminListen::At(_) => tls.admin.is_some(),
            },
            public_url: args.public_url.clone(),
        };
        let limits = args.edge.limits();
        let public = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = public.local_addr()?;
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let (public_app, admin) = match args.admin_listen {
            AdminListen::Same => (reqflow_server::combined_router(engine.clone(), &opts), None),
            AdminListen::At(a) => {
                let l = tokio::net::TcpListener::bind(a)
                    .await
                    .with_context(|| format!("cannot listen on {a} (the admin plane; --admin-listen)"))?;
                (reqflow_server::public_router(engine.clone(), &opts), Some(l))
            }
        };
        let scheme = |t: &Option<reqflow_server::edge::TlsConfig>| if t.is_some() { "https" } else { "http" };
        eprintln!(
            "reqflow: serving {served} workflow(s) on {}://{addr} (store: {})",
            scheme(&tls.public),
            redact_url(&args.db.db)
        );
        let share = reqflow_engine::runtime::backlog::share(args.max_backlog, served, args.max_backlog_per_workflow);
        eprintln!("reqflow: backlog: at most {} queued runs, {share} per workflow", args.max_backlog);
        match &admin {
            Some(l) => {
                let a = l.local_addr()?;
                eprintln!(
                    "reqflow: admin API on {}://{a} (bearer tokens: `reqflow tokens create`)",
                    scheme(&tls.admin)
                );
                if tls.admin.is_none() && !a.ip().is_loopback() {
                    eprintln!(
                        "reqflow: warning: the admin listener {a} is not on loopback and has no TLS: its tokens \
                         travel in clear (--admin-tls-cert/--admin-tls-key, or a private network)"
                    );
                }
            }
            None => {
                eprintln!("reqflow: admin API on the same listener ({}), behind bearer tokens", scheme(&tls.public))
            }
        }
        if !args.demo
            && engine
                .store()
                .tokens()
                .await
                .map(|t| t.iter().all(|t| !t.is_active(reqflow_engine::runtime::clock::now_ms())))
                .unwrap_or(false)
        {
            eprintln!(
                "reqflow: no API token yet: every admin call will get 401 (`reqflow tokens create NAME --scope admin`)"
            );
        }
        for wf in engine.workflows() {
            let api = if engine.deployed_over_api(&wf.id) { "  (deployed over the API)" } else { "" };
            match wf.trigger.route() {
                Some(r) => eprintln!("  {:<32} POST {r}{api}", wf.id),
                None => eprintln!("  {:<32} {}{api}", wf.id, wf.trigger.kind()),
            }
            let scheduled = matches!(wf.trigger, reqflow_engine::compile::CompiledTrigger::Schedule(_));
            for problem in engine.connections_not_ready(&wf).await {
                let what = if scheduled { "its schedule does not fire until it is" } else { "steps that use it fail" };
                eprintln!("  {:<32} {problem} ({what})", "");
            }
            let missing = reqflow_engine::runtime::needs::missing_settings(&wf, engine.settings());
            if !missing.is_empty() {
                let what = if scheduled {
                    "its schedule does not fire until they are"
                } else {
                    "steps that read them fail; a trigger `auth:` that reads one refuses every request"
                };
                eprintln!(
                    "  {:<32} not set: {} ({what}; REQFLOW_SECRET_NAME / REQFLOW_VAR_NAME, --secrets, --vars)",
                    "",
                    missing.join(", ")
                );
            }
        }
        if args.no_watch {
            eprintln!("reqflow: not watching {} (--no-watch); SIGHUP reloads it", args.workflows.display());
        } else {
            eprintln!(
                "reqflow: watching {} for changes (every {}); SIGHUP reloads at once",
                args.workflows.display(),
                humantime::format_duration(args.watch_interval)
            );
        }
        let stop_rx_subs = stop_rx.clone();
        let admin_addr = match &admin {
            Some(l) => l.local_addr().ok(),
            None => Some(addr),
        };
        let admin_task = admin.map(|l| {
            let app = reqflow_server::admin_router(engine.clone(), &opts);
            let stop = stopped(stop_rx.clone());
            tokio::spawn(reqflow_server::edge::serve_with(l, app, limits.clone(), tls.admin.clone(), stop))
        });
        let public_task = tokio::spawn(reqflow_server::edge::serve_with(
            public,
            public_app,
            limits,
            tls.public.clone(),
            stopped(stop_rx),
        ));
        let public_url = match &demo {
            Some(_) => Some(format!("http://{addr}")),
            None => args.public_url.clone(),
        };
        let subscriptions = match public_url {
            Some(public_url) => {
                let opts =
                    reqflow_engine::runtime::subscriptions::SyncOptions { public_url, renew_before: args.renew_before };
                crate::serve_subscriptions::first(&engine, &opts).await;
                Some(crate::serve_subscriptions::spawn(engine.clone(), opts, stop_rx_subs))
            }
            None => None,
        };
        if let Some(d) = &demo {
            demo_banner(d, &engine, &args, &admin_addr).await;
        }
        shutdown_signal().await;
        eprintln!("reqflow: stopping: no new connections; finishing the requests in flight");
        if let Some(t) = subscriptions {
            t.abort();
        }
        let _ = stop_tx.send(true);
        public_task.await??;
        if let Some(t) = admin_task {
            t.await??;
        }
        let _ = reloader.await;
        let _ = purger.await;
        eprintln!("reqflow: stopping (runs in flight resume on the next start)");
        running.shutdown().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// What the demo did and where to look: the console, `runs list`, the sandbox.
async fn demo_banner(
    demo: &crate::demo::Demo,
    engine: &Engine,
    args: &ServeArgs,
    admin: &Option<std::net::SocketAddr>,
) {
    let db = &args.db.db;
    eprintln!("reqflow: demo: the workflows run against the sandbox at {} (in this process)", demo.base_url);
    eprintln!(
        "reqflow: demo: no real vendor is called: REQFLOW_SECRET_*/REQFLOW_VAR_* and --secrets/--vars are ignored"
    );
    match demo.move_candidate().await {
        Ok(v) => {
            let ok = v["deliveries"].as_array().is_some_and(|d| d.iter().any(|d| d["status"] == 202));
            eprintln!(
                "reqflow: demo: moved Workable candidate {} to Phone Screen: {}",
                crate::demo::DEMO_CANDIDATE,
                if ok {
                    "the subscription delivered it, a run started"
                } else {
                    "no subscription accepted it (see above)"
                }
            );
        }
        Err(e) => eprintln!("reqflow: demo: could not move the demo candidate: {e:#}"),
    }
    let now = reqflow_engine::runtime::clock::now_ms();
    let name = format!("demo-{now}");
    match reqflow_engine::runtime::tokens::issue(
        engine.store().as_ref(),
        &name,
        reqflow_engine::store::Scope::Admin,
        false,
        Some(now + 24 * 3600 * 1000),
        now,
    )
    .await
    {
        Ok(token) => {
            if let Some(a) = admin {
                eprintln!("reqflow: demo: console: http://{a}/  (log in with this token, valid 24 h: {token})");
            }
        }
        Err(e) => eprintln!("reqflow: demo: no console token: {e}"),
    }
    eprintln!("reqflow: demo: runs: reqflow runs list --db {db}   (then `reqflow runs show RUN_ID --db {db}`)");
    eprintln!(
        "reqflow: demo: another event: curl -X POST {}/_sandbox/workable/candidates/27270002/move -d '{{\"stage\": \"phone-screen\"}}'",
        demo.base_url
    );
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
