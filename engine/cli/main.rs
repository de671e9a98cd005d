//! The `reqflow` command line: validate, graph, eval, schema, actions, bench.
//!
//! This is glue: the work happens in `reqflow-engine` and `reqflow-actions`.
//! It is the only place that uses `anyhow`.

mod at_rest;
mod bench;
mod bench_connectors;
mod bench_console;
mod bench_erase;
mod bench_pg;
mod bench_runtime;
mod bench_seed;
mod bench_util;
mod browser;
mod connections_cmd;
mod demo;
mod eval_cmd;
mod events_cmd;
mod inspect;
mod purge_cmd;
mod reload;
mod replay_cmd;
mod run_cmd;
mod runs_cmd;
mod sandbox_cmd;
mod serve;
mod serve_subscriptions;
mod serve_tls;
mod settings;
mod subjects_cmd;
mod subscriptions_cmd;
mod test_cmd;
mod tokens_cmd;
mod validate;

use std::process::ExitCode;

/// mimalloc instead of glibc malloc: under load, glibc's `free` of buffers
/// allocated on other threads (the SQLite writer frees what tokio workers
/// built) and its consolidation cost about a fifth of the engine's CPU on the
/// seed path (`reqflow bench seed`, perf); see README "Performance".
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use reqflow_engine::action::Registry;

/// reqflow: declarative workflows for recruiting integrations.
#[derive(Parser, Debug)]
#[command(name = "reqflow", version, about, long_about = None)]
struct Cli {
    /// Log lines on stderr: `text` for people, `json` (one object per line,
    /// with the span fields `workflow`, `run_id`, `step`) for log shippers.
    /// The level comes from `REQFLOW_LOG` (`RUST_LOG` syntax; default `info`).
    #[arg(long, global = true, value_enum, default_value = "text", env = "REQFLOW_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    /// `2026-12-03T07:15:57.123Z  WARN run{workflow=… run_id=…}: run failed step=… error=…`
    Text,
    /// `{"timestamp":…,"level":"WARN","fields":{…},"span":{…},"spans":[…]}`
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load and compile workflows; print every problem with its position.
    Validate(validate::ValidateArgs),
    /// Print a workflow's compiled graph (Graphviz DOT or Mermaid).
    Graph(inspect::GraphArgs),
    /// Evaluate one value (JSONPath, template or literal) against a JSON context.
    Eval(eval_cmd::EvalArgs),
    /// Print the JSON Schema of the workflow format, or check a file against it.
    Schema(inspect::SchemaArgs),
    /// Print the OpenAPI 3.1 document of the admin API (as `GET /api/openapi.json` serves it), or
    /// check a committed copy against it.
    Openapi(inspect::SchemaArgs),
    /// List the registered actions and connection types, or describe one.
    Actions(inspect::ActionsArgs),
    /// Run the engine: trigger endpoints, workers, schedules and the HTTP API.
    Serve(Box<serve::ServeArgs>),
    /// Run a workflow once in the foreground and print the run as JSON.
    Run(run_cmd::RunArgs),
    /// Replay stored events against an edited workflow, calling nothing outside: what its requests
    /// would change, per event.
    Replay(replay_cmd::ReplayArgs),
    /// Run history: list, show, retry.
    Runs(runs_cmd::RunsArgs),
    /// Stored events with their outcome (accepted, ignored, duplicate, invalid) and reason: list, show.
    Events(events_cmd::EventsArgs),
    /// Run the test cases workflows carry (`tests:` or a sibling `*.test.yaml`), with stubbed actions.
    Test(test_cmd::TestArgs),
    /// Emulate the Workable and Workday APIs locally, for trying workflows and for tests.
    Sandbox(sandbox_cmd::SandboxArgs),
    /// Vendor subscriptions that feed `subscribe:` triggers: sync (create, renew, remove), list.
    Subscriptions(subscriptions_cmd::SubscriptionsArgs),
    /// API tokens of the admin plane: create, list, revoke.
    Tokens(tokens_cmd::TokensArgs),
    /// The audit trail of state-changing calls, newest first.
    Audit(tokens_cmd::AuditArgs),
    /// Everything held about one subject (a value of the workflows' `subject:`, e.g. an email), as JSON.
    Export(subjects_cmd::SubjectArgs),
    /// Delete finished runs and their data older than a window, once (`serve --retain` does it continuously).
    Purge(purge_cmd::PurgeArgs),
    /// Erase one subject in every workflow: in-flight runs cancelled, then its events, runs, attempts, step
    /// results and dedupe keys deleted.
    Erase(subjects_cmd::SubjectArgs),
    /// Each workflow's connections: list them with their state, or check them (a cheap authenticated read).
    Connections(connections_cmd::ConnectionsArgs),
    /// Connect a connection by OAuth (`connect workday`: the authorization-code grant; the refresh
    /// token is stored encrypted).
    Connect(connections_cmd::ConnectArgs),
    /// Benchmarks: the engine (`runtime`), the seed path end to end (`seed`), connectors, compile.
    Bench(bench::BenchArgs),
}

/// The registry every command uses: the built-in actions.
pub(crate) fn registry() -> Registry {
    let mut registry = Registry::new();
    reqflow_actions::register_builtins(&mut registry);
    registry
}

/// Log timestamps as everything else reqflow shows: ISO 8601, UTC, milliseconds.
struct IsoMillis;

impl tracing_subscriber::fmt::time::FormatTime for IsoMillis {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        use reqflow_engine::runtime::clock::{now_ms, rfc3339};
        w.write_str(&rfc3339(now_ms()))
    }
}

/// Logs to stderr through `tracing`, filtered by `REQFLOW_LOG` (`RUST_LOG`
/// syntax; default `default`), as text or JSON lines. Timestamps are UTC
/// (ISO 8601 with milliseconds).
fn init_logs(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REQFLOW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_timer(IsoMillis);
    let _ = match format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().with_current_span(true).with_span_list(true).try_init(),
    };
}

/// A closed stdout (`reqflow runs list | head`) ends the command quietly
/// (exit 0) instead of a panic message: `println!` panics on `EPIPE`, and
/// without `unsafe` the `SIGPIPE` disposition cannot be restored.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// The arguments, with `reqflow help --help` (and `-h`) read as `reqflow --help`.
fn args() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "help") && args.iter().skip(2).any(|a| a == "--help" || a == "-h") {
        args.retain(|a| a != "help" && a != "-h");
        args.push("--help".into());
        args.dedup();
    }
    args
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    let cli = Cli::parse_from(args());
    // `serve` logs every run (info); one-shot commands (`run`, `test`, …)
    // print their own report and log only warnings unless REQFLOW_LOG says more.
    // `test` runs failing cases on purpose: its report says what failed.
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        Command::Test(_) => "error",
        _ => "warn",
    };
    init_logs(cli.log_format, default_level);
    let result = match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Graph(a) => inspect::graph(a),
        Command::Eval(a) => eval_cmd::run(a),
        Command::Schema(a) => inspect::schema(a),
        Command::Openapi(a) => inspect::openapi(a),
        Command::Actions(a) => inspect::actions(a),
        Command::Serve(a) => serve::run(*a),
        Command::Run(a) => run_cmd::run(a),
        Command::Replay(a) => replay_cmd::run(a),
        Command::Runs(a) => runs_cmd::run(a),
        Command::Events(a) => events_cmd::run(a),
        Command::Test(a) => test_cmd::run(a),
        Command::Sandbox(a) => sandbox_cmd::run(a).map(|()| ExitCode::SUCCESS),
        Command::Subscriptions(a) => subscriptions_cmd::run(a),
        Command::Tokens(a) => tokens_cmd::run(a),
        Command::Audit(a) => tokens_cmd::audit_log(a),
        Command::Purge(a) => purge_cmd::run(a),
        Command::Export(a) => subjects_cmd::export(a),
        Command::Erase(a) => subjects_cmd::erase(a),
        Command::Connections(a) => connections_cmd::connections(a),
        Command::Connect(a) => connections_cmd::connect(a),
        Command::Bench(a) => bench::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
