//! The `reqflow` command line: validate, graph, eval, schema, actions, bench.
//!
//! This is glue: the work happens in `reqflow-engine` and `reqflow-actions`.
//! It is the only place that uses `anyhow`.

mod at_rest;
mod bench;
mod bench_connectors;
mod bench_runtime;
mod bench_seed;
mod bench_util;
mod eval_cmd;
mod inspect;
mod reload;
mod run_cmd;
mod runs_cmd;
mod sandbox_cmd;
mod serve;
mod serve_tls;
mod settings;
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
    #[command(subcommand)]
    command: Command,
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
    /// List the registered actions and connection types, or describe one.
    Actions(inspect::ActionsArgs),
    /// Run the engine: trigger endpoints, workers, schedules and the HTTP API.
    Serve(Box<serve::ServeArgs>),
    /// Run a workflow once in the foreground and print the run as JSON.
    Run(run_cmd::RunArgs),
    /// Run history: list, show, retry.
    Runs(runs_cmd::RunsArgs),
    /// Run the test cases workflows carry (`tests:` or a sibling `*.test.yaml`), with stubbed actions.
    Test(test_cmd::TestArgs),
    /// Emulate the Workable and Workday APIs locally, for trying workflows and for tests.
    Sandbox(sandbox_cmd::SandboxArgs),
    /// API tokens of the admin plane: create, list, revoke.
    Tokens(tokens_cmd::TokensArgs),
    /// The audit trail of state-changing calls, newest first.
    Audit(tokens_cmd::AuditArgs),
    /// Measure compile and validate speed on generated workflows.
    Bench(bench::BenchArgs),
}

/// The registry every command uses: the built-in actions.
pub(crate) fn registry() -> Registry {
    let mut registry = Registry::new();
    reqflow_actions::register_builtins(&mut registry);
    registry
}

/// Logs to stderr through `tracing`, filtered by `REQFLOW_LOG` (`RUST_LOG`
/// syntax; default `info`).
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REQFLOW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs();
    let result = match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Graph(a) => inspect::graph(a),
        Command::Eval(a) => eval_cmd::run(a),
        Command::Schema(a) => inspect::schema(a),
        Command::Actions(a) => inspect::actions(a),
        Command::Serve(a) => serve::run(*a),
        Command::Run(a) => run_cmd::run(a),
        Command::Runs(a) => runs_cmd::run(a),
        Command::Test(a) => test_cmd::run(a),
        Command::Sandbox(a) => sandbox_cmd::run(a).map(|()| ExitCode::SUCCESS),
        Command::Tokens(a) => tokens_cmd::run(a),
        Command::Audit(a) => tokens_cmd::audit_log(a),
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
