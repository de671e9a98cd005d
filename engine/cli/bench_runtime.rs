//! `reqflow bench runtime`: the engine's own figures, measured on a real
//! `reqflow serve` child process over loopback:
//! - durable accept throughput (as fast as possible, keep-alive connections);
//! - accept latency at a fixed offered rate (open loop: latency counts from
//!   when a request was due, so queueing is not hidden);
//! - memory with 100,000 runs queued (workers off, so they stay queued);
//! - engine CPU per step without I/O (runs of `map:` steps).

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;

use crate::bench_util::{Conn, Pacer, ServeChild, ServeSpec, metric, pct, proc_stats, start_serve as start_serve_with};

#[derive(Args, Debug)]
pub(crate) struct RuntimeArgs {
    /// Database for the engine (default: a fresh SQLite file per phase).
    #[arg(long)]
    db: Option<String>,
    /// Events sent in the throughput phase (runs stay queued: memory is measured after them).
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Offered rate of the latency phase, events/s.
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// Duration of the latency phase, seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Steps per run in the step-overhead phase.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Runs in the step-overhead phase.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// SQLite durability of the default per-phase databases: `full` (fsync per
    /// commit group, the default) or `normal` (WAL only: safe against a crashed
    /// process, not against power loss).
    #[arg(long, default_value = "full")]
    synchronous: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

const TOKEN: &str = "bench-token";

fn hook_workflow() -> &'static str {
    "id: bench-hook\ntrigger:\n  webhook:\n    path: bench/hook\n    auth: { bearer: \"{{ secrets.BENCH_TOKEN }}\" }\n    dedupe: \"{{ event.body.id }}\"\nsteps:\n  - id: fields\n    map: { id: $.event.body.id, email: \"{{ event.body.email | lower }}\" }\n"
}

fn steps_workflow(n: usize) -> String {
    let mut s = String::from(
        "id: bench-steps\ntrigger: { manual: {} }\nsteps:\n  - id: s0\n    map: { v: \"{{ event.n }}\" }\n",
    );
    for i in 1..n {
        s.push_str(&format!("  - id: s{i}\n    map: {{ v: \"{{{{ steps.s{}.output.v + 1 }}}}\" }}\n", i - 1));
    }
    s
}

fn start_serve(tag: &str, workflow: &str, db: Option<&str>, sync: &str, extra: &[&str]) -> anyhow::Result<ServeChild> {
    start_serve_with(&ServeSpec {
        tag,
        workflows: &[("w.yaml", workflow.to_owned())],
        db,
        synchronous: sync,
        extra,
        env: &[("REQFLOW_SECRET_BENCH_TOKEN".to_owned(), TOKEN.to_owned())],
    })
}

fn request(path: &str, body: &str, auth: bool) -> Vec<u8> {
    let auth = if auth { format!("Authorization: Bearer {TOKEN}\r\n") } else { String::new() };
    format!("POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}", body.len())
        .into_bytes()
}

/// A manual run of the steps workflow, with an operate token.
fn manual_request(token: &str, body: &str) -> Vec<u8> {
    format!(
        "POST /api/workflows/bench-steps/runs HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn event_body(i: usize) -> String {
    format!(
        "{{\"id\":\"e-{i}\",\"email\":\"Candidate{i}@Example.com\",\"stage\":\"Phone Screen\",\"job\":{{\"shortcode\":\"9CD658E13E\"}}}}"
    )
}

async fn throughput(port: u16, events: usize, connections: usize) -> anyhow::Result<(f64, usize)> {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(port).await?;
            let mut ok = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= events {
                    return anyhow::Ok(ok);
                }
                if conn.send(&request("/hooks/bench/hook", &event_body(i), true)).await? == 202 {
                    ok += 1;
                }
            }
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await??;
    }
    Ok((events as f64 / started.elapsed().as_secs_f64(), ok))
}

async fn latency(
    port: u16,
    rate: u64,
    seconds: u64,
    connections: usize,
    offset: usize,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let total = (rate * seconds) as usize;
    let t0 = Instant::now() + Duration::from_millis(50);
    let pacer = Pacer::start(total, rate, t0)?;
    let per = connections.max(1);
    let mut tasks = Vec::new();
    for _ in 0..per {
        let pacer = pacer.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(port).await?;
            let mut lat = Vec::new();
            let mut errors = 0usize;
            while let Some((i, due)) = pacer.next().await {
                match conn.send(&request("/hooks/bench/hook", &event_body(offset + i), true)).await {
                    Ok(202) => lat.push(Instant::now() - due),
                    _ => errors += 1,
                }
            }
            anyhow::Ok((lat, errors))
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await??;
        all.extend(l);
        errors += e;
    }
    all.sort();
    Ok((all, errors))
}

async fn wait_succeeded(port: u16, want: usize, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let done = metric(port, "reqflow_runs{status=\"succeeded\"}").await?;
        if done as usize >= want {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {done} of {want} runs finished");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn run(args: RuntimeArgs) -> anyhow::Result<std::process::ExitCode> {
    let rt = crate::serve::runtime()?;
    let db = args.db.as_deref();
    let release = !cfg!(debug_assertions);
    let report = rt.block_on(async {
        // 1 + 3: throughput, then memory with every run still queued.
        let serve = start_serve("accept", hook_workflow(), db, &args.synchronous, &["--no-workers"])?;
        let rss_idle = proc_stats(serve.child.id()).rss;
        let (eps, ok) = throughput(serve.port, args.events, args.connections).await?;
        let stats = proc_stats(serve.child.id());
        let (peak, rss, cpu) = (stats.peak_rss, stats.rss, stats.cpu_s);
        if ok != args.events {
            bail!("{} of {} events were not accepted", args.events - ok, args.events);
        }
        drop(serve);
        // 2: latency at a fixed rate (workers on, as in production).
        let serve = start_serve("latency", hook_workflow(), db, &args.synchronous, &[])?;
        let (lat, errors) = latency(serve.port, args.rate, args.seconds, args.connections, args.events).await?;
        drop(serve);
        // 4: CPU per step without I/O.
        let serve = start_serve("steps", &steps_workflow(args.steps), db, &args.synchronous, &[])?;
        let cpu0 = proc_stats(serve.child.id()).cpu_s;
        let t = Instant::now();
        let mut conn = Conn::open(serve.port).await?;
        for i in 0..args.runs {
            let status = conn.send(&manual_request(&serve.token, &format!("{{\"n\":{i}}}"))).await?;
            if status != 202 {
                bail!("manual start answered {status}");
            }
        }
        wait_succeeded(serve.port, args.runs, Duration::from_secs(600)).await?;
        let wall = t.elapsed();
        let cpu1 = proc_stats(serve.child.id()).cpu_s;
        let steps = (args.steps * args.runs) as f64;
        anyhow::Ok(serde_json::json!({
            "release_build": release,
            "sqlite_synchronous": args.synchronous,
            "accept_events_per_s": eps.round(),
            "accept_events": args.events,
            "accept_engine_cpu_s": cpu,
            "queued_runs": args.events,
            "rss_idle_mb": rss_idle as f64 / 1e6,
            "rss_with_queue_mb": rss as f64 / 1e6,
            "rss_peak_mb": peak as f64 / 1e6,
            "latency_rate": args.rate,
            "latency_p50_ms": pct(&lat, 0.5),
            "latency_p99_ms": pct(&lat, 0.99),
            "latency_max_ms": pct(&lat, 1.0),
            "latency_errors": errors,
            "step_cpu_us": (cpu1 - cpu0) / steps * 1e6,
            "step_wall_us": wall.as_secs_f64() / steps * 1e6,
            "steps_per_run": args.steps,
            "runs": args.runs,
        }))
    })?;
    if args.json {
        println!("{report}");
        return Ok(std::process::ExitCode::SUCCESS);
    }
    if !release {
        println!("note: this is a debug build; measure with `cargo run --release -- bench runtime`");
    }
    let f = |k: &str| report[k].as_f64().unwrap_or(f64::NAN);
    println!("{:<58} {:>12} {:>12}", format!("measure (SQLite synchronous={})", args.synchronous), "result", "target");
    println!(
        "{:<58} {:>12.0} {:>12}",
        format!("durable webhook accept, events/s ({} events, {} conns)", args.events, args.connections),
        f("accept_events_per_s"),
        "≥ 20000"
    );
    println!("{:<58} {:>9.2} ms {:>12}", format!("accept p50 at {} events/s", args.rate), f("latency_p50_ms"), "");
    println!(
        "{:<58} {:>9.2} ms {:>12}",
        format!("accept p99 at {} events/s", args.rate),
        f("latency_p99_ms"),
        "≤ 5 ms"
    );
    println!(
        "{:<58} {:>9.1} MB {:>12}",
        format!("RSS with {} runs queued", args.events),
        f("rss_with_queue_mb"),
        "≤ 200 MB"
    );
    println!(
        "{:<58} {:>9.1} µs {:>12}",
        format!("engine CPU per step, no I/O ({} runs × {} steps)", args.runs, args.steps),
        f("step_cpu_us"),
        "≤ 50 µs"
    );
    println!("{:<58} {:>9.1} µs {:>12}", "wall time per step (same)", f("step_wall_us"), "");
    Ok(std::process::ExitCode::SUCCESS)
}
