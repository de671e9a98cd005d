//! `reqflow bench console`: the console's runs list with a million runs.
//!
//! Fills a fresh SQLite store (migrated by `reqflow_store::open`, as `serve`
//! does) with `--runs` finished runs spread over `--workflows` workflows —
//! one `INSERT … SELECT` over a recursive CTE inside SQLite, so the fill
//! takes seconds — then starts a real `reqflow serve` child on it and times
//! `GET /api/runs` over one keep-alive connection with a token, as the
//! console calls it: filtered by workflow and status (the target, ≤ 100 ms
//! p99), and a few other shapes for comparison (a deep page by `before`, a
//! status no run has, a search by run id, no filter). `--without-console-indexes`
//! drops the indexes of migration 0011 first, to see what they are for.
//!
//! Each run is `succeeded`, except one in a hundred `failed` (with an
//! error); ids are `run_bench_NNNNNNNN`, events `evt_bench_NNNNNNNN` (the
//! events themselves are not stored: the runs list does not read them).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::bench_util::{Conn, ServeSpec, pct, start_serve, temp_dir};

#[derive(Args, Debug)]
pub(crate) struct ConsoleArgs {
    /// Runs to put in the store.
    #[arg(long, default_value_t = 1_000_000)]
    runs: u64,
    /// Workflows they are spread over (`bench-0`, `bench-1`, …).
    #[arg(long, default_value_t = 10)]
    workflows: u64,
    /// Timed calls per query shape.
    #[arg(long, default_value_t = 200)]
    repeats: usize,
    /// The p99 the filtered list must stay under, ms (exit status 1 past it).
    #[arg(long, default_value_t = 100.0)]
    target_ms: f64,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
    /// Drop the indexes of migration 0011 after the fill: the figures without them, for comparison.
    #[arg(long)]
    without_console_indexes: bool,
}

const MANUAL: &str = "id: bench-0\ntrigger: { manual: {} }\nsteps:\n  - id: noop\n    map: { ok: true }\n";

/// Fills `file` with `runs` runs in one transaction; returns how long it took.
fn fill(file: &std::path::Path, runs: u64, workflows: u64, drop_indexes: bool) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let mut c = rusqlite::Connection::open(file).context("open the bench store")?;
    c.execute_batch("PRAGMA synchronous = OFF;").context("pragma")?;
    let tx = c.transaction()?;
    tx.execute("INSERT INTO workflow_hashes (hash) VALUES ('bench') ON CONFLICT DO NOTHING", [])
        .context("workflow hash")?;
    let start = reqflow_engine::runtime::clock::now_ms() - i64::try_from(runs)? * 50;
    tx.execute(
        "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ?1 - 1)
         INSERT INTO runs (run_id, event_id, workflow_id, workflow_version, workflow_hash_id, status,
                           created_at, started_at, finished_at, error, retries)
         SELECT printf('run_bench_%08d', i), printf('evt_bench_%08d', i), printf('bench-%d', i % ?2), 1,
                (SELECT id FROM workflow_hashes WHERE hash = 'bench'), CASE WHEN i % 100 = 7 THEN 'failed' ELSE 'succeeded' END,
                ?3 + i * 50, ?3 + i * 50 + 2, ?3 + i * 50 + 40,
                CASE WHEN i % 100 = 7 THEN '{\"message\":\"the vendor answered 500\"}' END, 0
         FROM c",
        rusqlite::params![i64::try_from(runs)?, i64::try_from(workflows.max(1))?, start],
    )
    .context("fill runs")?;
    tx.commit()?;
    if drop_indexes {
        c.execute_batch("DROP INDEX runs_workflow_status; DROP INDEX runs_workflow_created;").context("drop")?;
    }
    c.execute_batch("ANALYZE;").context("analyze")?;
    Ok(t.elapsed())
}

async fn time_calls(conn: &mut Conn, token: &str, path: &str, repeats: usize) -> anyhow::Result<Vec<Duration>> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n");
    for _ in 0..3 {
        let status = conn.send(req.as_bytes()).await?;
        if status != 200 {
            bail!("GET {path}: HTTP {status}");
        }
    }
    let mut v = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let status = conn.send(req.as_bytes()).await?;
        v.push(t.elapsed());
        if status != 200 {
            bail!("GET {path}: HTTP {status}");
        }
    }
    v.sort();
    Ok(v)
}

pub(crate) fn run(args: ConsoleArgs) -> anyhow::Result<ExitCode> {
    let dir = temp_dir("console-db")?;
    let file = dir.join("runs.db");
    let url = format!("sqlite://{}", file.display());
    let rt = crate::serve::runtime()?;
    rt.block_on(async { reqflow_store::open(&url).await.map(drop) }).context("create and migrate the store")?;
    eprintln!("bench console: filling {} with {} runs…", file.display(), args.runs);
    let filled = fill(&file, args.runs, args.workflows, args.without_console_indexes)?;
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let mid = args.runs / 2;
    let shapes: Vec<(&str, String)> = vec![
        ("workflow + status (failed)", "/api/runs?workflow=bench-3&status=failed&limit=50".into()),
        ("workflow + status (succeeded)", "/api/runs?workflow=bench-3&status=succeeded&limit=50".into()),
        (
            "workflow + status, deep page",
            format!("/api/runs?workflow=bench-3&status=failed&limit=50&before=run_bench_{mid:08}"),
        ),
        ("workflow + status no run has", "/api/runs?workflow=bench-3&status=running&limit=50".into()),
        ("search by run id", format!("/api/runs?q=run_bench_{mid:08}")),
        ("no filter", "/api/runs?limit=50".into()),
    ];
    let report = rt.block_on(async {
        let serve = start_serve(&ServeSpec {
            tag: "console",
            workflows: &[("bench-0.yaml", MANUAL.to_owned())],
            db: Some(&url),
            synchronous: "normal",
            extra: &["--no-workers"],
            env: &[],
        })?;
        let mut conn = Conn::open(serve.port).await?;
        let mut rows = Vec::new();
        for (name, path) in &shapes {
            let v = time_calls(&mut conn, &serve.token, path, args.repeats).await?;
            rows.push(json!({ "query": name, "path": path, "p50_ms": pct(&v, 0.5), "p99_ms": pct(&v, 0.99), "max_ms": pct(&v, 1.0) }));
        }
        drop(serve);
        anyhow::Ok(rows)
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    let target = report.first().and_then(|r| r["p99_ms"].as_f64()).unwrap_or(f64::MAX);
    let ok = target <= args.target_ms;
    let out = json!({
        "runs": args.runs,
        "workflows": args.workflows,
        "repeats": args.repeats,
        "fill_seconds": filled.as_secs_f64(),
        "db_bytes": size,
        "release": !cfg!(debug_assertions),
        "queries": report,
        "target_ms": args.target_ms,
        "console_indexes": !args.without_console_indexes,
        "ok": ok,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_table(&out);
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_table(r: &Value) {
    println!(
        "bench console: {} runs over {} workflows in SQLite ({:.1} MB, filled in {:.1} s{})",
        r["runs"],
        r["workflows"],
        r["db_bytes"].as_f64().unwrap_or(0.0) / 1e6,
        r["fill_seconds"].as_f64().unwrap_or(0.0),
        if r["release"] == true { "" } else { "; a debug build: use --release for real figures" }
    );
    println!(
        "GET /api/runs over HTTP with a token, {} calls each{}:",
        r["repeats"],
        if r["console_indexes"] == true { "" } else { " (WITHOUT the indexes of migration 0011)" }
    );
    println!("  {:<32} {:>9} {:>9} {:>9}", "query", "p50 ms", "p99 ms", "max ms");
    for q in r["queries"].as_array().into_iter().flatten() {
        println!(
            "  {:<32} {:>9.2} {:>9.2} {:>9.2}",
            q["query"].as_str().unwrap_or(""),
            q["p50_ms"].as_f64().unwrap_or(0.0),
            q["p99_ms"].as_f64().unwrap_or(0.0),
            q["max_ms"].as_f64().unwrap_or(0.0)
        );
    }
    println!(
        "target: workflow + status p99 ≤ {} ms: {}",
        r["target_ms"],
        if r["ok"] == true { "met" } else { "NOT met" }
    );
}
