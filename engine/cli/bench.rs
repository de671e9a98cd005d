//! `reqflow bench compile`: how fast workflows load and compile.
//!
//! Generates a 1,000-step workflow and a directory of 100 workflow files,
//! then prints the median compile time and the wall-clock time of
//! `reqflow validate` over the directory (a child process, as a user runs it).

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use reqflow_engine::load::load_str;

#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(Subcommand, Debug)]
enum BenchWhat {
    /// Engine figures on a real `reqflow serve`: accept throughput and latency, memory, CPU per step.
    Runtime(crate::bench_runtime::RuntimeArgs),
    /// Connector figures: overhead of `http.request` per call, and a burst of Workable writes under the rate limit.
    Connectors(crate::bench_connectors::ConnectorsArgs),
    /// The seed path end to end: signed Workable webhooks → the shipped phone-screen workflow → sandbox writeback.
    Seed(crate::bench_seed::SeedArgs),
    /// The console's runs list with 1,000,000 runs in SQLite: p50/p99 of `GET /api/runs`
    /// filtered by workflow and status (target ≤ 100 ms).
    Console(crate::bench_console::ConsoleArgs),
    /// Erasing one subject (1,000 events) from a store of 1,000,000, filled with bulk SQL.
    Erase(crate::bench_erase::EraseArgs),
    /// Compile a generated N-step workflow and validate a directory of generated files.
    Compile {
        /// Steps in the big workflow.
        #[arg(long, default_value_t = 1000)]
        steps: usize,
        /// Files in the directory validated.
        #[arg(long, default_value_t = 100)]
        files: usize,
        /// Repetitions of the compile measurement.
        #[arg(long, default_value_t = 20)]
        iterations: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// A workflow of `n` steps: a fan of maps with JSONPath and templates, each
/// reading upstream outputs, plus a few action steps.
pub(crate) fn big_workflow(n: usize) -> String {
    let mut s = String::from(
        "id: bench-big\ntrigger:\n  webhook:\n    path: bench/big\n    auth: { bearer: \"{{ secrets.KEY }}\" }\nconnections:\n  api: { type: http, base_url: \"http://127.0.0.1:9\" }\nsteps:\n",
    );
    for i in 0..n {
        let _ = writeln!(s, "  - id: s{i}");
        if i == 0 {
            let _ = writeln!(
                s,
                "    map: {{ v: $.event.body.id, name: \"{{{{ event.body.first }}}} {{{{ event.body.last }}}}\" }}"
            );
        } else if i % 10 == 0 {
            let _ = writeln!(s, "    needs: [s{}, s{}]", i - 1, i / 2);
            let _ = writeln!(s, "    action: http.request\n    connection: api");
            let _ = writeln!(
                s,
                "    with: {{ method: POST, path: /items, json: {{ id: \"{{{{ steps.s{}.output.v }}}}\", n: {i} }} }}",
                i / 2
            );
        } else {
            let _ = writeln!(
                s,
                "    map: {{ v: \"{{{{ steps.s{}.output.v }}}}\", upper: \"{{{{ event.body.first | upper }}}}\", list: \"$.event.body.tags[*]\" }}",
                i - 1
            );
        }
    }
    s
}

/// A typical seed-sized workflow, `i` making its id and path unique.
pub(crate) fn typical_workflow(i: usize) -> String {
    format!(
        r#"id: typical-{i}
trigger:
  webhook:
    path: bench/typical-{i}
    auth: {{ hmac: {{ header: X-Signature, secret: "{{{{ secrets.HOOK_KEY }}}}" }} }}
    dedupe: "{{{{ event.body.id }}}}"
    when: "{{{{ event.body.data.stage == 'Phone Screen' }}}}"
connections:
  vendor: {{ type: http, base_url: "https://vendor.example", auth: {{ bearer: "{{{{ secrets.VENDOR }}}}" }} }}
steps:
  - id: fields
    map:
      candidate_id: $.event.body.data.id
      email: $.event.body.data.email
      name: "{{{{ event.body.data.firstname }}}} {{{{ event.body.data.lastname }}}}"
  - id: invite
    action: http.request
    connection: vendor
    with: {{ method: POST, path: /invites, json: {{ email: "{{{{ steps.fields.output.email }}}}" }} }}
    retry: {{ attempts: 5, backoff: exponential, initial: 2s, max: 5m }}
    timeout: 30s
  - id: record
    if: "{{{{ steps.invite.output.status == 201 }}}}"
    map: {{ invite: "$.steps.invite.output.body", who: "{{{{ steps.fields.output.name }}}}" }}
"#
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(crate) fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let (steps, files, iterations, json) = match args.what {
        BenchWhat::Runtime(a) => return crate::bench_runtime::run(a),
        BenchWhat::Connectors(a) => return crate::bench_connectors::run(a),
        BenchWhat::Seed(a) => return crate::bench_seed::run(a),
        BenchWhat::Console(a) => return crate::bench_console::run(a),
        BenchWhat::Erase(a) => return crate::bench_erase::run(a),
        BenchWhat::Compile { steps, files, iterations, json } => (steps, files, iterations, json),
    };
    let registry = crate::registry();
    let big = big_workflow(steps);
    let mut times = Vec::new();
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        let loaded = load_str("bench-big.yaml", &big, &registry);
        times.push(t.elapsed());
        if loaded.workflow.is_none() {
            anyhow::bail!("the generated workflow did not compile:\n{}", loaded.report.render_short());
        }
    }
    let compile = median(times.clone());
    let best = times.iter().min().copied().unwrap_or_default();

    let dir = std::env::temp_dir().join(format!("reqflow-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("temp dir")?;
    for i in 0..files {
        std::fs::write(dir.join(format!("w{i:03}.yaml")), typical_workflow(i))?;
    }
    let exe = std::env::current_exe().context("own path")?;
    let mut walls = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = std::process::Command::new(&exe).arg("validate").arg(&dir).output().context("run validate")?;
        walls.push(t.elapsed());
        if !out.status.success() {
            anyhow::bail!("validate failed:\n{}", String::from_utf8_lossy(&out.stdout));
        }
    }
    let validate = median(walls);
    let _ = std::fs::remove_dir_all(&dir);
    let release = !cfg!(debug_assertions);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "compile_steps": steps, "compile_median_ms": ms(compile), "compile_best_ms": ms(best),
                "validate_files": files, "validate_wall_ms": ms(validate), "release_build": release,
                "targets": { "compile_ms": 50, "validate_ms": 1000 }
            })
        );
    } else {
        if !release {
            println!("note: this is a debug build; measure with `cargo run --release -- bench compile`");
        }
        println!("{:<48} {:>10} {:>10}", "measure", "result", "target");
        println!(
            "{:<48} {:>7.2} ms {:>7} ms",
            format!("compile a {steps}-step workflow (median of {iterations})"),
            ms(compile),
            50
        );
        println!(
            "{:<48} {:>7.2} ms {:>7} ms",
            format!("`reqflow validate` over {files} files (wall, median of 5)"),
            ms(validate),
            1000
        );
    }
    Ok(ExitCode::SUCCESS)
}
