//! `reqflow connections list|test` and `reqflow connect workday`: the
//! workflows' connections, their state and checks, and the OAuth
//! authorization-code grant that stores a Workday refresh token encrypted in
//! the store (so the connection needs no `refresh_token:` secret).
//!
//! The work is the engine's (`runtime::connections`) and the connection
//! types' hooks; this is argument handling, output and the loopback callback.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reqflow_engine::compile::CompiledWorkflow;
use reqflow_engine::load::load_paths;
use reqflow_engine::runtime::clock::now_ms;
use reqflow_engine::runtime::connections::{CheckReport, ConnectionError};
use reqflow_engine::runtime::{Engine, EngineConfig, StateKey};
use reqflow_engine::store::{AuditOutcome, NewAudit};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::serve::{DbArgs, open_store, runtime};
use crate::settings::SettingsArgs;
use crate::validate::{Format, print_report};

/// Where the workflows, the store and the settings come from (as for `serve`).
#[derive(Args, Debug, Clone)]
pub(crate) struct Source {
    /// Directory (or file) of workflows, as given to `serve`.
    #[arg(long, default_value = "workflows")]
    workflows: PathBuf,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    settings: SettingsArgs,
}

#[derive(Args, Debug)]
pub(crate) struct ConnectionsArgs {
    #[command(subcommand)]
    what: ConnectionsWhat,
}

#[derive(Subcommand, Debug)]
enum ConnectionsWhat {
    /// Each workflow's connections: type, configured or not, and what is known of the credentials
    /// (connected, token age, last refresh, last error). Never a secret.
    List {
        #[command(flatten)]
        source: Source,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check connections with a cheap authenticated read (Workable: GET /members?limit=1; Workday: the
    /// token exchange and one Get_Job_Requisitions; http: its `health:` request). Exit 1 if one fails.
    Test {
        /// Only this connection (by name).
        name: Option<String>,
        /// Only this workflow's connections.
        #[arg(long)]
        workflow: Option<String>,
        #[command(flatten)]
        source: Source,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub(crate) struct ConnectArgs {
    #[command(subcommand)]
    what: ConnectWhat,
}

#[derive(Subcommand, Debug)]
enum ConnectWhat {
    /// Connect a `workday` OAuth connection: the authorization-code grant against the tenant (or an
    /// existing refresh token with --refresh-token-stdin); the refresh token is stored encrypted.
    Workday(ConnectWorkday),
}

#[derive(Args, Debug)]
struct ConnectWorkday {
    /// The workflow defining the connection. Optional when the workflows' Workday OAuth connections all
    /// use one tenant and API client (one connect serves every connection with the same token endpoint
    /// and client id).
    #[arg(long)]
    workflow: Option<String>,
    /// The connection's name in `connections:` (optional as for --workflow).
    #[arg(long)]
    connection: Option<String>,
    /// Open the authorize URL in the browser (`xdg-open`, `open`, or Windows' URL handler). By
    /// default it is opened when this runs on an interactive terminal with a display and not in CI.
    #[arg(long, conflicts_with = "no_open")]
    open: bool,
    /// Only print the authorize URL, never open a browser.
    #[arg(long)]
    no_open: bool,
    /// Where Workday sends the code: it must be registered on the API client. Default: a loopback
    /// port this command listens on, `http://127.0.0.1:PORT/callback`.
    #[arg(long)]
    redirect_uri: Option<String>,
    /// Read the code (or the whole URL the browser was sent to) from stdin instead of listening.
    #[arg(long, conflicts_with = "refresh_token_stdin")]
    code_stdin: bool,
    /// Read an existing refresh token from stdin (Workday's "Manage Refresh Tokens for
    /// Integrations") instead of the code grant.
    #[arg(long)]
    refresh_token_stdin: bool,
    /// How long to wait for the callback.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    source: Source,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    reqflow_engine::spec::DurationSpec::parse(s).map(|d| d.0)
}

/// The engine over the store, with the workflows of `source` (not deployed:
/// nothing is written but what the command does).
async fn open(source: &Source, key: Option<StateKey>) -> anyhow::Result<(Engine, Vec<Arc<CompiledWorkflow>>)> {
    let registry = Arc::new(crate::registry());
    let report = load_paths(std::slice::from_ref(&source.workflows), &registry);
    if report.has_errors() {
        print_report(&report, Format::Short)?;
        bail!("fix the workflows above (`reqflow validate {}`)", source.workflows.display());
    }
    let settings = source.settings.load()?;
    let store = open_store(&source.db.db).await?;
    let config = EngineConfig { state_key: key, run_workers: false, run_schedules: false, ..EngineConfig::default() };
    let engine = Engine::new(store, registry, settings, config);
    Ok((engine, report.workflows))
}

fn key_of(source: &Source) -> anyhow::Result<Option<StateKey>> {
    let secrets = crate::settings::secrets(source.settings.secrets.as_ref())?;
    Ok(StateKey::from_secrets(&secrets)?)
}

pub(crate) fn connections(args: ConnectionsArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        match args.what {
            ConnectionsWhat::List { source, json } => {
                let (engine, workflows) = open(&source, key_of(&source)?).await?;
                let list = engine.connection_summaries(&workflows).await;
                if json {
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else {
                    println!("{:<28} {:<16} {:<9} {:<15} STATE", "WORKFLOW", "CONNECTION", "TYPE", "STATUS");
                    for c in &list {
                        let state = match &c.problem {
                            Some(p) => p.clone(),
                            None => describe_state(&c.state),
                        };
                        println!("{:<28} {:<16} {:<9} {:<15} {state}", c.workflow, c.name, c.kind, c.status);
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            ConnectionsWhat::Test { name, workflow, source, json } => {
                let (engine, workflows) = open(&source, key_of(&source)?).await?;
                let selected: Vec<_> = match &workflow {
                    Some(w) => workflows.iter().filter(|wf| &wf.id == w).cloned().collect(),
                    None => workflows.clone(),
                };
                if let Some(w) = &workflow
                    && selected.is_empty()
                {
                    bail!("no workflow `{w}` in {}", source.workflows.display());
                }
                let mut reports = Vec::new();
                for wf in &selected {
                    for conn in wf.connections.keys() {
                        if name.as_ref().is_some_and(|n| n != conn) {
                            continue;
                        }
                        reports.push(engine.check_connection(wf, conn).await?);
                    }
                }
                if let Some(n) = &name
                    && reports.is_empty()
                {
                    bail!("no connection `{n}`{}", workflow.map(|w| format!(" in workflow `{w}`")).unwrap_or_default());
                }
                if json {
                    println!("{}", serde_json::to_string_pretty(&reports)?);
                } else {
                    for r in &reports {
                        println!("{}", line(r));
                    }
                }
                let failed = reports.iter().any(|r| !r.ok);
                Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
            }
        }
    })
}

/// One line per check: `ok`/`FAIL (class)`, where, what.
pub(crate) fn line(r: &CheckReport) -> String {
    let verdict = match r.class {
        None => "ok  ".to_owned(),
        Some(c) => format!("FAIL ({c})"),
    };
    format!("{verdict} {}/{} ({}): {} [{} ms]", r.workflow, r.connection, r.kind, r.message, r.elapsed_ms)
}

fn describe_state(state: &serde_json::Value) -> String {
    let Some(obj) = state.as_object() else { return String::new() };
    obj.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            serde_json::Value::Object(o) => {
                format!("{k}={}", o.get("message").and_then(|m| m.as_str()).unwrap_or(&v.to_string()))
            }
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn connect(args: ConnectArgs) -> anyhow::Result<ExitCode> {
    let ConnectWhat::Workday(a) = args.what;
    let key = key_of(&a.source)?.ok_or_else(|| {
        anyhow::anyhow!("{}", reqflow_engine::runtime::sealed::NO_KEY_MESSAGE.replace(", then restart", ""))
    })?;
    runtime()?.block_on(async move {
        let (engine, workflows) = open(&a.source, Some(key)).await?;
        let (wf, name) = pick(&engine, &workflows, &a, &a.source)?;
        let stored = if a.refresh_token_stdin {
            eprintln!("reqflow: paste the refresh token, then Enter:");
            let token = read_line()?;
            if token.is_empty() {
                bail!("no refresh token on stdin");
            }
            engine.connect_with_refresh_token(&wf, &name, &token).await.map_err(conn_err)?
        } else {
            code_grant(&engine, wf.clone(), &name, &a).await?
        };
        audit(&engine, &wf.id, &name, &stored).await;
        let how = stored["stored"]["how"].as_str().unwrap_or("");
        println!(
            "connected: {}/{name} ({how}); the refresh token is stored encrypted in {}",
            wf.id,
            crate::serve::redact_url(&a.source.db.db)
        );
        for (w, n) in engine.connections_sharing(&workflows, &wf, &name) {
            println!("connected: {w}/{n} (the same tenant and API client)");
        }
        eprintln!(
            "reqflow: these connections no longer need a `refresh_token:` setting; check them with \
             `reqflow connections test`"
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// The workflow and connection to connect: as given, or — when not given —
/// the one Workday OAuth connection (or the connections sharing one tenant
/// and API client: connecting one connects them all).
fn pick(
    engine: &Engine,
    workflows: &[Arc<CompiledWorkflow>],
    a: &ConnectWorkday,
    source: &Source,
) -> anyhow::Result<(Arc<CompiledWorkflow>, String)> {
    if let Some(id) = &a.workflow {
        let Some(wf) = workflows.iter().find(|w| &w.id == id).cloned() else {
            bail!("no workflow `{id}` in {}", source.workflows.display());
        };
        let workday: Vec<&String> =
            wf.connections.iter().filter(|(_, c)| c.kind == "workday").map(|(n, _)| n).collect();
        let name = match (&a.connection, workday.as_slice()) {
            (Some(n), _) => n.clone(),
            (None, [one]) => (*one).clone(),
            (None, _) => bail!("workflow `{id}` has several `workday` connections: say which with --connection"),
        };
        match wf.connections.get(&name) {
            Some(c) if c.kind == "workday" => {}
            Some(c) => bail!("connection `{name}` is of type `{}`, not `workday`", c.kind),
            None => {
                let known: Vec<&str> = wf.connections.keys().map(String::as_str).collect();
                bail!("workflow `{}` has no connection `{name}` (it has: {})", wf.id, known.join(", "))
            }
        }
        return Ok((wf, name));
    }
    if a.connection.is_some() {
        bail!("--connection needs --workflow");
    }
    // Every connectable Workday connection; connecting the first connects those sharing its credentials.
    let mut candidates: Vec<(Arc<CompiledWorkflow>, String)> = Vec::new();
    for wf in workflows {
        for (n, c) in &wf.connections {
            let connectable = c.kind == "workday"
                && engine.evaluate_connection(wf, n).is_ok_and(|conn| {
                    engine
                        .registry()
                        .connection_type("workday")
                        .and_then(|t| t.hooks.clone())
                        .is_some_and(|h| h.can_connect(&conn))
                });
            if connectable {
                candidates.push((wf.clone(), n.clone()));
            }
        }
    }
    let Some((first_wf, first)) = candidates.first().cloned() else {
        bail!(
            "no `workday` OAuth connection in {} whose settings are all set (`reqflow connections list` says why)",
            source.workflows.display()
        );
    };
    let sharing = engine.connections_sharing(workflows, &first_wf, &first);
    let others: Vec<String> = candidates
        .iter()
        .filter(|(w, n)| {
            let covered = (w.id == first_wf.id && n == &first) || sharing.iter().any(|(sw, sn)| sw == &w.id && sn == n);
            !covered
        })
        .map(|(w, n)| format!("{}/{n}", w.id))
        .collect();
    if !others.is_empty() {
        bail!(
            "the Workday connections use more than one tenant or API client: say which with --workflow and \
             --connection ({}/{first}, {})",
            first_wf.id,
            others.join(", ")
        );
    }
    Ok((first_wf, first))
}

fn conn_err(e: ConnectionError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn read_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read stdin")?;
    Ok(line.trim().to_owned())
}

async fn audit(engine: &Engine, workflow: &str, connection: &str, stored: &serde_json::Value) {
    let entry = NewAudit {
        at: now_ms(),
        actor: "cli".into(),
        action: "connection.connect".into(),
        objects: vec![format!("{workflow}/{connection}")],
        outcome: AuditOutcome::Ok,
        detail: json!({"how": stored["stored"]["how"]}),
    };
    if let Err(e) = engine.store().audit(entry).await {
        eprintln!("reqflow: warning: the audit record could not be stored: {e}");
    }
}

/// The authorization-code grant: print the URL, get the code (loopback
/// callback or stdin), exchange it.
async fn code_grant(
    engine: &Engine,
    wf: Arc<CompiledWorkflow>,
    name: &str,
    a: &ConnectWorkday,
) -> anyhow::Result<serde_json::Value> {
    let listener = if a.code_stdin {
        None
    } else {
        let bind = match &a.redirect_uri {
            Some(uri) => loopback_addr(uri).ok_or_else(|| {
                anyhow::anyhow!(
                    "--redirect-uri {uri} is not a loopback http URL (http://127.0.0.1:PORT/…) this command can \
                     listen on: use --code-stdin and paste the code"
                )
            })?,
            None => "127.0.0.1:0".to_owned(),
        };
        Some(tokio::net::TcpListener::bind(&bind).await.with_context(|| format!("cannot listen on {bind}"))?)
    };
    let redirect_uri = match (&a.redirect_uri, &listener) {
        (Some(u), _) => u.clone(),
        (None, Some(l)) => format!("http://{}/callback", l.local_addr()?),
        (None, None) => bail!("--code-stdin needs --redirect-uri (the one registered on the API client)"),
    };
    let auth = engine.begin_connect(wf, name, &redirect_uri).map_err(conn_err)?;
    eprintln!(
        "reqflow: open this URL in a browser, sign in to Workday and allow access (valid until {}):",
        auth.expires_at
    );
    println!("{}", auth.authorize_url);
    let _ = std::io::stdout().flush();
    if a.open || (!a.no_open && crate::browser::interactive()) {
        match crate::browser::open(&auth.authorize_url) {
            Ok(how) => eprintln!("reqflow: opened it with `{how}` (--no-open only prints it)"),
            Err(e) => eprintln!("reqflow: could not open a browser ({e}): open the URL yourself"),
        }
    }
    let Some(listener) = listener else {
        eprintln!("reqflow: then paste the code (or the whole URL the browser was sent to), then Enter:");
        let text = read_line()?;
        let (code, state) = match text.split_once('?') {
            Some((_, query)) => {
                let q = parse_query(query);
                if let Some(e) = q.iter().find(|(k, _)| k == "error").map(|(_, v)| v.clone()) {
                    bail!("Workday answered error={e}: access was not granted");
                }
                let code = q.iter().find(|(k, _)| k == "code").map(|(_, v)| v.clone());
                let state = q.iter().find(|(k, _)| k == "state").map(|(_, v)| v.clone());
                (code.ok_or_else(|| anyhow::anyhow!("the pasted URL has no `code`"))?, state)
            }
            None => (text, None),
        };
        if let Some(s) = &state
            && s != &auth.state
        {
            bail!("the pasted URL's `state` is not the one this command gave: refusing it (start again)");
        }
        return engine.complete_connect(&auth.state, &code).await.map_err(conn_err);
    };
    eprintln!("reqflow: waiting for the callback on {redirect_uri} (up to {})", humantime::format_duration(a.timeout));
    let deadline = tokio::time::Instant::now() + a.timeout;
    loop {
        let accepted = tokio::time::timeout_at(deadline, listener.accept()).await;
        let Ok(accepted) = accepted else {
            bail!("no callback within {}", humantime::format_duration(a.timeout));
        };
        let (mut sock, _) = accepted.context("accepting the callback")?;
        let Some(query) = read_callback(&mut sock).await else {
            respond(&mut sock, 404, "Not the callback", "This is reqflow's OAuth callback.").await;
            continue;
        };
        let q = parse_query(&query);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let state = get("state").unwrap_or_default();
        if state != auth.state {
            // Not ours (forged or stale): refused; keep waiting for the real one.
            tracing::warn!("OAuth callback with a wrong `state` refused");
            eprintln!("reqflow: a callback with a wrong `state` was refused; still waiting");
            respond(&mut sock, 400, "Refused", "The state of this callback does not match: it was refused.").await;
            continue;
        }
        if let Some(e) = get("error") {
            respond(&mut sock, 400, "Not connected", "Access was not granted.").await;
            bail!("Workday answered error={e}: access was not granted");
        }
        let Some(code) = get("code") else {
            respond(&mut sock, 400, "Refused", "The callback has no code.").await;
            bail!("the callback has no `code`");
        };
        return match engine.complete_connect(&state, &code).await {
            Ok(v) => {
                respond(&mut sock, 200, "Connected", "reqflow is connected to Workday. You can close this page.").await;
                Ok(v)
            }
            Err(e) => {
                respond(&mut sock, 400, "Not connected", "The code could not be exchanged; see the terminal.").await;
                Err(conn_err(e))
            }
        };
    }
}

/// `host:port` of a loopback `http://` URL.
fn loopback_addr(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (host, port) = authority.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    matches!(host, "127.0.0.1" | "localhost" | "[::1]").then(|| authority.replace("localhost", "127.0.0.1"))
}

/// The query of a `GET /…?query` request (read up to 16 KiB of headers).
async fn read_callback(sock: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut chunk)).await.ok()?.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let first = text.lines().next()?;
    let mut parts = first.split(' ');
    if parts.next()? != "GET" {
        return None;
    }
    let target = parts.next()?;
    let (_, query) = target.split_once('?')?;
    Some(query.to_owned())
}

async fn respond(sock: &mut tokio::net::TcpStream, status: u16, title: &str, text: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        _ => "Not Found",
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>"
    );
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(body.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// `a=b&c=d` with `+` and `%XX` decoded.
fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `serve --check-connections`: every current workflow's connections
/// checked once, each result logged (info when ok, warn when not).
pub(crate) async fn check_at_start(engine: Engine) {
    let workflows = engine.workflows();
    for r in engine.check_connections(&workflows).await {
        match r.class {
            None => tracing::info!(
                workflow = %r.workflow, connection = %r.connection, kind = %r.kind, elapsed_ms = r.elapsed_ms,
                "connection check ok: {}", r.message
            ),
            Some(class) => tracing::warn!(
                workflow = %r.workflow, connection = %r.connection, kind = %r.kind, class = %class,
                elapsed_ms = r.elapsed_ms, "connection check failed: {}", r.message
            ),
        }
    }
}
