//! `reqflow bench runtime`: the engine's own figures, measured on a real
//! `reqflow serve` child process over loopback:
//! - durable accept throughput (as fast as possible, keep-alive connections);
//! - accept latency at a fixed offered rate (open loop: latency counts from
//!   when a request was due, so queueing is not hidden);
//! - memory with 100,000 runs queued (workers off, so they stay queued);
//! - engine CPU per step without I/O (runs of `map:` steps).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

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

struct Child_ {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Child_ {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_serve(tag: &str, workflow: &str, db: Option<&str>, sync: &str, extra: &[&str]) -> anyhow::Result<Child_> {
    let dir = std::env::temp_dir().join(format!("reqflow-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("wf"))?;
    std::fs::write(dir.join("wf/w.yaml"), workflow)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let db = db
        .map(str::to_owned)
        .unwrap_or_else(|| format!("sqlite://{}?synchronous={sync}", dir.join("bench.db").display()));
    let exe = std::env::current_exe()?;
    let child = Command::new(exe)
        .args(["serve", "--workflows"])
        .arg(dir.join("wf"))
        .args(["--db", &db, "--listen", &format!("127.0.0.1:{port}"), "--max-backlog", "100000000"])
        .args(extra)
        .env("REQFLOW_SECRET_BENCH_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start reqflow serve")?;
    let c = Child_ { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("reqflow serve did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(c)
}

/// (peak RSS bytes, current RSS bytes, CPU seconds) of a process, from /proc.
fn proc_stats(pid: u32) -> (u64, u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    (kb("VmHWM:"), kb("VmRSS:"), cpu)
}

struct Conn {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

impl Conn {
    async fn open(port: u16) -> anyhow::Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        Ok(Conn { r: BufReader::new(r), w })
    }

    async fn send(&mut self, req: &[u8]) -> anyhow::Result<u16> {
        self.w.write_all(req).await?;
        let mut line = String::new();
        self.r.read_line(&mut line).await?;
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("bad status line")?;
        let mut len = 0usize;
        loop {
            line.clear();
            self.r.read_line(&mut line).await?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; len];
        self.r.read_exact(&mut body).await?;
        Ok(status)
    }
}

fn request(path: &str, body: &str, auth: bool) -> Vec<u8> {
    let auth = if auth { format!("Authorization: Bearer {TOKEN}\r\n") } else { String::new() };
    format!("POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}", body.len())
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
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let t0 = tokio::time::Instant::now() + Duration::from_millis(50);
    let per = connections.max(1);
    let mut tasks = Vec::new();
    for c in 0..per {
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(port).await?;
            let mut lat = Vec::new();
            let mut errors = 0usize;
            let mut i = c;
            while i < total {
                let due = t0 + interval * i as u32;
                tokio::time::sleep_until(due).await;
                match conn.send(&request("/hooks/bench/hook", &event_body(offset + i), true)).await {
                    Ok(202) => lat.push(tokio::time::Instant::now() - due),
                    _ => errors += 1,
                }
                i += per;
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

fn pct(v: &[Duration], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)].as_secs_f64() * 1000.0
}

async fn wait_succeeded(port: u16, want: usize, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut conn = Conn::open(port).await?;
        conn.w.write_all(b"GET /metrics HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n").await?;
        let mut text = String::new();
        conn.r.read_to_string(&mut text).await?;
        let done: f64 = text
            .lines()
            .find(|l| l.starts_with("reqflow_runs{status=\"succeeded\"}"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
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
        let (_, rss_idle, _) = proc_stats(serve.child.id());
        let (eps, ok) = throughput(serve.port, args.events, args.connections).await?;
        let (peak, rss, cpu) = proc_stats(serve.child.id());
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
        let (_, _, cpu0) = proc_stats(serve.child.id());
        let t = Instant::now();
        let mut conn = Conn::open(serve.port).await?;
        for i in 0..args.runs {
            let status =
                conn.send(&request("/api/workflows/bench-steps/runs", &format!("{{\"n\":{i}}}"), false)).await?;
            if status != 202 {
                bail!("manual start answered {status}");
            }
        }
        wait_succeeded(serve.port, args.runs, Duration::from_secs(600)).await?;
        let wall = t.elapsed();
        let (_, _, cpu1) = proc_stats(serve.child.id());
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
