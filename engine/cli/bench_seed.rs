//! `reqflow bench seed`: the seed path under load, end to end.
//!
//! An open-loop load generator sends Workable-signed `candidate_moved`
//! webhooks (`X-Workable-Signature: hex(HMAC-SHA256(token, body))`, the
//! sandbox's own signer) to a real `reqflow serve` child running the shipped
//! `workflows/workable-phone-screen.yaml`: map → `http.request` to the
//! interview vendor → `workable.candidates.comment` writeback. Both APIs are
//! `reqflow-sandbox`, in this process, with Workable's rate limits off; the
//! workflow is written to the temporary directory with `rate_limit: none`
//! added to its `workable` connection, so the run measures the engine and not
//! Workable's quota of 10 requests per 10 s.
//!
//! - Accept latency counts from when each event was due (open loop at
//!   `--rate`; at full speed, `--rate 0`, from when a connection sent it).
//! - Event → writeback latency counts from the same instant to when the
//!   sandbox had read the comment for that event (a sandbox observer matches
//!   the event's index in the comment body; no request log is read).
//! - Engine CPU (user + system) and peak RSS (`VmHWM`) come from /proc of the
//!   `serve` child; the CPU of this process (load generator and sandbox, on
//!   the same cores) is reported beside it.
//!
//! `--db postgres://…` runs the engine in a fresh schema (`search_path`),
//! dropped afterwards, and prints what the database spent per run
//! (`bench_pg`: statements, statement time and server CPU per run, wait
//! events, the capacity model). `--target URL` sends the webhooks to another engine
//! instead: only the accept figures, and writeback latency if that engine
//! writes back to this sandbox (`--sandbox-listen`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::bench_util::{Conn, Pacer, ServeChild, ServeSpec, metric, own_stats, pct, proc_stats, start_serve};

/// The shipped seed workflow, built in.
const SHIPPED: &str = include_str!("../../workflows/workable-phone-screen.yaml");
const SHIPPED_PATH: &str = "workflows/workable-phone-screen.yaml";
const HOOK_PATH: &str = "/hooks/workable/candidate-moved";
const TOKEN: &str = "bench-workable-account-token";
const VENDOR_KEY: &str = "bench-vendor-key";

#[derive(Args, Debug)]
pub(crate) struct SeedArgs {
    /// Offered rate, events/s (open loop); 0: as fast as the connections go.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Events to send (default: rate × seconds; 20,000 at full speed).
    #[arg(long)]
    events: Option<usize>,
    /// Duration at a fixed rate, seconds (when --events is not given).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Keep-alive connections sending the webhooks.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Unmeasured events sent (and waited for) first.
    #[arg(long, default_value_t = 500)]
    warmup: usize,
    /// Engine database (default: a fresh SQLite file); `postgres://…` runs in a fresh schema, dropped afterwards.
    #[arg(long)]
    db: Option<String>,
    /// SQLite durability of the default database: `full` (the default) or `normal`.
    #[arg(long, default_value = "full")]
    synchronous: String,
    /// `serve --concurrency` (runs executed at once; default: serve's).
    #[arg(long)]
    concurrency: Option<usize>,
    /// The workflow (default: the shipped workflows/workable-phone-screen.yaml, built into this binary).
    #[arg(long)]
    workflow: Option<PathBuf>,
    /// Send the webhooks to this URL (`http://host:port/path` of another engine) instead of starting `reqflow serve`.
    #[arg(long)]
    target: Option<String>,
    /// Where the sandbox listens (default: a free loopback port); for `--target`, so the other engine can write back.
    #[arg(long)]
    sandbox_listen: Option<SocketAddr>,
    /// Seconds to wait for outstanding writebacks after the last event was accepted.
    #[arg(long, default_value_t = 60)]
    drain: u64,
    /// Also measure the store's size once the runs are done: bytes on disk per stored event (SQLite after
    /// `PRAGMA wal_checkpoint(TRUNCATE)`; PostgreSQL: `pg_total_relation_size` of every table), per table.
    #[arg(long)]
    storage: bool,
    /// `serve --retain` (e.g. `20s`): the engine purges while the load runs; the store's size is sampled at
    /// the end of every window (SQLite: file + WAL, no checkpoint; PostgreSQL: `pg_total_relation_size`).
    /// Run it for at least three windows (`--rate R --seconds S`) and compare accept p99 with a run without it.
    /// The workflow's `dedupe_ttl:` is set to the window too (keys are kept at least that long).
    #[arg(long, value_parser = crate::serve::parse_retain)]
    retain: Option<Duration>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Adds `rate_limit: none` to the `workable` connection (a one-line flow mapping, as shipped).
fn without_client_limit(yaml: &str) -> anyhow::Result<String> {
    let mut out = String::with_capacity(yaml.len() + 32);
    let mut patched = 0;
    for line in yaml.split_inclusive('\n') {
        let body = line.trim_end();
        if body.contains("type: workable") && body.ends_with('}') && !body.trim_start().starts_with('#') {
            if body.contains("rate_limit:") {
                bail!("the workflow's workable connection already sets rate_limit: {body}");
            }
            let cut = body.len() - 1;
            out.push_str(body[..cut].trim_end());
            out.push_str(", rate_limit: none }");
            out.push_str(&line[body.len()..]);
            patched += 1;
        } else {
            out.push_str(line);
        }
    }
    if patched != 1 {
        bail!("expected one `workable` connection written as `{{ type: workable, … }}` on one line, found {patched}");
    }
    Ok(out)
}

/// Adds `dedupe_ttl:` (the retention window, in ms) after the trigger's `dedupe:` line: dedupe keys are
/// kept at least `dedupe_ttl` (7 days by default), so without it a short benchmark would measure the keys
/// piling up, not whether purging keeps the store flat.
fn with_dedupe_ttl(yaml: &str, window: Duration) -> anyhow::Result<String> {
    let mut out = String::with_capacity(yaml.len() + 32);
    let mut patched = 0;
    for line in yaml.split_inclusive('\n') {
        out.push_str(line);
        let body = line.trim_end();
        let indent = body.len() - body.trim_start().len();
        if body.trim_start().starts_with("dedupe:") && patched == 0 {
            if !line.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!("{}dedupe_ttl: {}ms\n", " ".repeat(indent), window.as_millis()));
            patched += 1;
        }
    }
    if patched != 1 {
        bail!("--retain: expected a `dedupe:` line in the workflow's trigger to add `dedupe_ttl:` after");
    }
    Ok(out)
}

/// Timestamps of every event, in ns since `t0` plus one (0: not yet).
struct Track {
    t0: Instant,
    nonce: String,
    due: Vec<AtomicU64>,
    written: Vec<AtomicU64>,
    writebacks: AtomicUsize,
    duplicates: AtomicUsize,
    failed_writebacks: AtomicUsize,
    invites: AtomicUsize,
    last_write: AtomicU64,
}

impl Track {
    fn ns(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.t0).as_nanos()).unwrap_or(u64::MAX - 1) + 1
    }

    /// The event index in a comment body (`…bench.{nonce}.{i}@…`).
    fn index_in(&self, body: &[u8]) -> Option<usize> {
        let marker = format!("bench.{}.", self.nonce);
        let at = body.windows(marker.len()).position(|w| w == marker.as_bytes())? + marker.len();
        let digits: &[u8] = &body[at..];
        let end = digits.iter().position(|b| !b.is_ascii_digit()).unwrap_or(digits.len());
        std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
    }

    fn observe(&self, r: &reqflow_sandbox::Received<'_>) {
        if r.method != axum::http::Method::POST {
            return;
        }
        if r.path.ends_with("/invites") {
            self.invites.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !r.path.ends_with("/comments") {
            return;
        }
        let Some(i) = self.index_in(r.body).filter(|i| *i < self.written.len()) else { return };
        if !r.status.is_success() {
            self.failed_writebacks.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let ns = self.ns(r.at);
        if self.written[i].compare_exchange(0, ns, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            self.last_write.fetch_max(ns, Ordering::Relaxed);
            self.writebacks.fetch_add(1, Ordering::Relaxed);
        } else {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Where the webhooks go.
#[derive(Clone)]
struct Target {
    host: String,
    port: u16,
    path: String,
}

fn parse_target(url: &str) -> anyhow::Result<Target> {
    let rest = url.strip_prefix("http://").context("--target: only http:// URLs")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().context("--target: bad port")?),
        None => (authority, 80),
    };
    Ok(Target { host: host.trim_matches(['[', ']']).to_owned(), port, path: path.to_owned() })
}

/// Webhook bodies: one serialized delivery per sandbox candidate, `{I}` standing for the event index.
struct Events {
    templates: Vec<String>,
    target: Target,
    fired_base: String,
}

impl Events {
    fn request(&self, i: usize) -> Vec<u8> {
        let t = &self.templates[i % self.templates.len()];
        let body = t.replace("{I}", &i.to_string()).replace("{FIRED}", &format!("{}.{i:09}Z", self.fired_base));
        let sig = reqflow_sandbox::workable_signature(TOKEN, body.as_bytes());
        format!(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nX-Workable-Signature: {sig}\r\nContent-Length: {}\r\n\r\n{body}",
            self.target.path,
            self.target.host,
            self.target.port,
            body.len()
        )
        .into_bytes()
    }
}

/// What a send phase measured.
struct Sent {
    /// Accept latencies (due → answer), sorted.
    accept: Vec<Duration>,
    accepted: usize,
    refused: usize,
    first_status: Option<u16>,
    /// Due time of the first event → answer to the last.
    elapsed: Duration,
}

/// Sends events `from..from + count`: at `rate` per second from `start` (open loop), or as fast as possible (rate 0).
async fn send(
    events: Arc<Events>,
    track: Arc<Track>,
    from: usize,
    count: usize,
    rate: u64,
    connections: usize,
) -> anyhow::Result<Sent> {
    let per = connections.clamp(1, count.max(1));
    let start = Instant::now() + Duration::from_millis(20);
    let pacer = if rate > 0 { Some(Pacer::start(count, rate, start)?) } else { None };
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(per);
    for _ in 0..per {
        let (events, track, next, pacer) = (events.clone(), track.clone(), next.clone(), pacer.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open_host(&events.target.host, events.target.port).await?;
            let (mut lat, mut refused, mut first) = (Vec::new(), 0usize, None);
            tokio::time::sleep_until(start.into()).await;
            let mut last = Instant::now();
            loop {
                let (j, due) = match &pacer {
                    Some(p) => match p.next().await {
                        Some(next) => next,
                        None => break,
                    },
                    None => {
                        let j = next.fetch_add(1, Ordering::Relaxed);
                        if j >= count {
                            break;
                        }
                        (j, Instant::now())
                    }
                };
                let i = from + j;
                let req = events.request(i);
                track.due[i].store(track.ns(due), Ordering::Relaxed);
                let status = match conn.send(&req).await {
                    Ok(s) => s,
                    Err(_) => {
                        // The other side closed the connection: reopen once and resend.
                        conn = Conn::open_host(&events.target.host, events.target.port).await?;
                        conn.send(&req).await?
                    }
                };
                last = Instant::now();
                if (200..300).contains(&status) {
                    lat.push(last - due);
                } else {
                    refused += 1;
                    first.get_or_insert(status);
                }
            }
            anyhow::Ok((lat, refused, first, last))
        }));
    }
    let mut accept = Vec::with_capacity(count);
    let (mut refused, mut first_status, mut end) = (0, None, start);
    for t in tasks {
        let (l, r, f, last) = t.await??;
        accept.extend(l);
        refused += r;
        first_status = first_status.or(f);
        end = end.max(last);
    }
    accept.sort();
    Ok(Sent { accepted: accept.len(), accept, refused, first_status, elapsed: end - start })
}

/// Waits until every event of `range` was written back, or no progress for `idle`.
async fn wait_written(track: &Track, range: std::ops::Range<usize>, idle: Duration) -> usize {
    let (mut seen, mut since) = (usize::MAX, Instant::now());
    loop {
        let n = track.written[range.clone()].iter().filter(|w| w.load(Ordering::Relaxed) != 0).count();
        if n >= range.len() {
            return n;
        }
        if n != seen {
            (seen, since) = (n, Instant::now());
        } else if since.elapsed() > idle {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A fresh PostgreSQL schema for the engine; dropped on [`PgSchema::drop_schema`].
struct PgSchema {
    admin: String,
    name: String,
    url: String,
}

impl PgSchema {
    async fn create(url: &str) -> anyhow::Result<PgSchema> {
        use sqlx::Connection as _;
        let name = format!("reqflow_bench_{}", std::process::id());
        let mut c = sqlx::postgres::PgConnection::connect(url).await.context("connect to PostgreSQL")?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}")))
            .execute(&mut c)
            .await
            .context("create the bench schema")?;
        let _ = c.close().await;
        let sep = if url.contains('?') { '&' } else { '?' };
        Ok(PgSchema { admin: url.to_owned(), url: format!("{url}{sep}options=-c%20search_path%3D{name}"), name })
    }

    async fn drop_schema(&self) {
        use sqlx::Connection as _;
        if let Ok(mut c) = sqlx::postgres::PgConnection::connect(&self.admin).await {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name)))
                .execute(&mut c)
                .await;
            let _ = c.close().await;
        }
    }
}

fn event_templates(sandbox: &reqflow_sandbox::Sandbox, nonce: &str) -> Vec<String> {
    let candidates: Vec<Value> = sandbox
        .read(|d| d.workable.candidates.iter().filter(|c| c["disqualified"] != true).take(100).cloned().collect());
    candidates
        .into_iter()
        .map(|mut c| {
            c["stage"] = json!("Phone Screen");
            c["email"] = json!(format!("bench.{nonce}.{{I}}@example.com"));
            let mut p = reqflow_sandbox::workable_webhook_payload("candidate_moved", &c);
            p["fired_at"] = json!("{FIRED}");
            p.to_string()
        })
        .collect()
}

pub(crate) fn run(args: SeedArgs) -> anyhow::Result<std::process::ExitCode> {
    let events_n = args.events.unwrap_or(if args.rate > 0 { (args.rate * args.seconds) as usize } else { 20_000 });
    if events_n == 0 {
        bail!("no events to send");
    }
    let (source, yaml) = match &args.workflow {
        Some(p) => (p.display().to_string(), std::fs::read_to_string(p).with_context(|| format!("{}", p.display()))?),
        None => (format!("{SHIPPED_PATH} (built in)"), SHIPPED.to_owned()),
    };
    let mut yaml = without_client_limit(&yaml)?;
    if let Some(window) = args.retain {
        yaml = with_dedupe_ttl(&yaml, window)?;
    }
    let rt = crate::serve::runtime()?;
    let release = !cfg!(debug_assertions);
    let report = rt.block_on(async {
        // The sandbox, in process, Workable limits off, every API request observed.
        let sandbox = reqflow_sandbox::Sandbox::seeded();
        sandbox.set_rate_limit(false);
        let listen = args.sandbox_listen.unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("sandbox on {listen}"))?;
        let sandbox_addr = listener.local_addr()?;
        let app = reqflow_sandbox::router(sandbox.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let sandbox_url = format!("http://{sandbox_addr}");
        let member = sandbox
            .read(|d| {
                d.workable
                    .members
                    .iter()
                    .find(|m| m["active"] == true)
                    .and_then(|m| m["id"].as_str().map(str::to_owned))
            })
            .context("the seeded sandbox has no active member")?;
        let since_epoch = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let nonce = format!("{}{}", std::process::id(), since_epoch.as_millis() % 1_000_000);
        let templates = event_templates(&sandbox, &nonce);
        if templates.is_empty() {
            bail!("the seeded sandbox has no candidates");
        }
        let total = events_n + args.warmup;
        let track = Arc::new(Track {
            t0: Instant::now(),
            nonce: nonce.clone(),
            due: (0..total).map(|_| AtomicU64::new(0)).collect(),
            written: (0..total).map(|_| AtomicU64::new(0)).collect(),
            writebacks: AtomicUsize::new(0),
            duplicates: AtomicUsize::new(0),
            failed_writebacks: AtomicUsize::new(0),
            invites: AtomicUsize::new(0),
            last_write: AtomicU64::new(0),
        });
        {
            let track = track.clone();
            sandbox.set_observer(Some(Arc::new(move |r: &reqflow_sandbox::Received<'_>| track.observe(r))));
        }
        // (name, value, whether it is a secret rather than a var)
        let settings = [
            ("WORKABLE_BASE_URL", sandbox_url.clone(), false),
            ("WORKABLE_TOKEN", TOKEN.to_owned(), true),
            ("WORKABLE_MEMBER_ID", member.clone(), false),
            ("INTERVIEWS_BASE_URL", format!("{sandbox_url}/vendor/interviews"), false),
            ("INTERVIEWS_API_KEY", VENDOR_KEY.to_owned(), true),
        ];

        // The engine: a `reqflow serve` child, or another engine at --target.
        let mut pg = None;
        let mut serve: Option<ServeChild> = None;
        // The engine's database, for --storage.
        let mut store_url: Option<String> = None;
        let target = match &args.target {
            Some(url) => {
                eprintln!("sandbox (Workable limits off) on {sandbox_url}; configure the engine under test with:");
                for (k, v, secret) in &settings {
                    eprintln!("  {k}={v}{}", if *secret { " (a secret)" } else { "" });
                }
                eprintln!("  webhook HMAC key: the WORKABLE_TOKEN above; comment bodies must carry the event's email");
                parse_target(url)?
            }
            None => {
                let db = match args.db.as_deref() {
                    Some(u) if u.starts_with("postgres") => {
                        let s = PgSchema::create(u).await?;
                        let url = s.url.clone();
                        pg = Some(s);
                        Some(url)
                    }
                    other => other.map(str::to_owned),
                };
                let env: Vec<(String, String)> = settings
                    .iter()
                    .map(|(k, v, secret)| {
                        (format!("{}{k}", if *secret { "REQFLOW_SECRET_" } else { "REQFLOW_VAR_" }), v.clone())
                    })
                    .collect();
                let concurrency = args.concurrency.map(|c| c.to_string());
                let retain = args.retain.map(|r| format!("{}ms", r.as_millis()));
                let mut extra = Vec::new();
                if let Some(r) = &retain {
                    extra.extend(["--retain", r.as_str()]);
                }
                if let Some(c) = &concurrency {
                    extra.extend(["--concurrency", c.as_str()]);
                }
                let child = start_serve(&ServeSpec {
                    tag: "seed",
                    workflows: &[("workable-phone-screen.yaml", yaml.clone())],
                    db: db.as_deref(),
                    synchronous: &args.synchronous,
                    extra: &extra,
                    env: &env,
                })?;
                eprintln!(
                    "workflow: {source}, with `rate_limit: none` added to its workable connection ({})",
                    child.dir.join("wf/workable-phone-screen.yaml").display()
                );
                let port = child.port;
                store_url =
                    Some(db.clone().unwrap_or_else(|| format!("sqlite://{}", child.dir.join("bench.db").display())));
                serve = Some(child);
                Target { host: "127.0.0.1".into(), port, path: HOOK_PATH.into() }
            }
        };
        let fired = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let events = Arc::new(Events { templates, target, fired_base: fired.trim_end_matches('Z').to_owned() });
        let sampler = match (args.retain, store_url.clone()) {
            (Some(every), Some(url)) => Some(tokio::spawn(sample_sizes(url, every))),
            _ => None,
        };
        let probe_url = pg.as_ref().map(|p| p.admin.clone());
        let mut result = measure(&args, events_n, events, track.clone(), serve.as_ref(), probe_url.as_deref()).await;
        if let (Some(task), Ok(report)) = (sampler, &mut result) {
            task.abort();
            let sizes = SIZES.lock().map(|s| s.clone()).unwrap_or_default();
            report["retention"] =
                json!({ "window_s": args.retain.map(|r| r.as_secs_f64()), "store_bytes_at_window_ends": sizes });
        }
        if args.storage
            && let (Ok(report), Some(url)) = (&mut result, store_url.as_deref())
        {
            let f = reqflow_store::footprint(url).await.context("measuring the store's size")?;
            report["storage"] = json!({
                "bytes": f.bytes,
                "events": f.events,
                "bytes_per_event": f.bytes.checked_div(f.events).unwrap_or(0),
                "tables": f.tables.iter().map(|(t, b)| json!({ "table": t, "bytes": b })).collect::<Vec<_>>(),
            });
        }
        drop(serve);
        if let Some(pg) = pg {
            pg.drop_schema().await;
        }
        let mut report = result?;
        report["workflow"] = match &args.target {
            Some(_) => json!({ "source": "the other engine's", "sandbox_rate_limit": false }),
            None => json!({ "source": source, "client_rate_limit": "none (added)", "sandbox_rate_limit": false }),
        };
        report["release_build"] = json!(release);
        report["store"] = json!(match (&args.target, args.db.as_deref()) {
            (Some(t), _) => format!("other engine at {t}"),
            (None, Some(u)) if u.starts_with("postgres") => "postgres".to_owned(),
            (None, Some(u)) => u.to_owned(),
            (None, None) => format!("sqlite (synchronous={})", args.synchronous),
        });
        anyhow::Ok(report)
    })?;
    rt.shutdown_timeout(Duration::from_millis(200));
    if args.json {
        println!("{report}");
    } else {
        print_table(&report, release);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Store sizes sampled by [`sample_sizes`] (a task aborted when the load ends).
static SIZES: std::sync::Mutex<Vec<u64>> = std::sync::Mutex::new(Vec::new());

/// Every `every`: the store's size, into [`SIZES`].
async fn sample_sizes(url: String, every: Duration) {
    let file = url.strip_prefix("sqlite://").map(|p| p.split('?').next().unwrap_or(p).to_owned());
    loop {
        tokio::time::sleep(every).await;
        let bytes = match &file {
            Some(f) => {
                let size = |p: &str| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                size(f) + size(&format!("{f}-wal"))
            }
            None => reqflow_store::footprint(&url).await.map(|f| f.bytes).unwrap_or(0),
        };
        if let Ok(mut s) = SIZES.lock() {
            s.push(bytes);
        }
    }
}

async fn measure(
    args: &SeedArgs,
    n: usize,
    events: Arc<Events>,
    track: Arc<Track>,
    serve: Option<&ServeChild>,
    pg_url: Option<&str>,
) -> anyhow::Result<Value> {
    let idle = Duration::from_secs(args.drain.max(1));
    // Warm-up: the events after the measured ones, as fast as possible, and their runs.
    if args.warmup > 0 {
        let w = send(events.clone(), track.clone(), n, args.warmup, 0, args.connections.min(16)).await?;
        if w.accepted == 0 {
            bail!("the engine accepted none of the warm-up events (first answer: {:?})", w.first_status);
        }
        if serve.is_some() {
            let done = wait_written(&track, n..n + args.warmup, idle).await;
            if done < args.warmup {
                bail!("only {done} of {} warm-up runs wrote back", args.warmup);
            }
        }
    }
    let probe = match pg_url {
        Some(url) => Some(crate::bench_pg::PgProbe::start(url).await),
        None => None,
    };
    let pid = serve.map(|s| s.child.id());
    let engine0 = pid.map(proc_stats).unwrap_or_default();
    let own0 = own_stats();
    let wall0 = Instant::now();
    let sent = send(events.clone(), track.clone(), 0, n, args.rate, args.connections).await?;
    // Another engine that never wrote back to this sandbox: no need to wait long.
    let idle = if serve.is_none() && track.writebacks.load(Ordering::Relaxed) == 0 {
        idle.min(Duration::from_secs(5))
    } else {
        idle
    };
    let written = wait_written(&track, 0..n, idle).await;
    let wall = wall0.elapsed();
    let engine1 = pid.map(proc_stats).unwrap_or_default();
    let own1 = own_stats();
    let postgres = match probe {
        Some(p) => p.finish(written).await,
        None => Value::Null,
    };

    let first_due = track.due[..n].iter().map(|d| d.load(Ordering::Relaxed)).filter(|d| *d != 0).min().unwrap_or(0);
    let last_write = track.written[..n].iter().map(|d| d.load(Ordering::Relaxed)).max().unwrap_or(0);
    let mut e2e: Vec<Duration> = (0..n)
        .filter_map(|i| {
            let (d, w) = (track.due[i].load(Ordering::Relaxed), track.written[i].load(Ordering::Relaxed));
            (d != 0 && w != 0).then(|| Duration::from_nanos(w.saturating_sub(d)))
        })
        .collect();
    e2e.sort();
    let span = Duration::from_nanos(last_write.saturating_sub(first_due));
    let runs_per_s = if written > 0 && !span.is_zero() { written as f64 / span.as_secs_f64() } else { f64::NAN };
    let (succeeded, failed) = match serve {
        Some(s) => (
            Some(metric(s.port, "reqflow_runs{status=\"succeeded\"}").await.unwrap_or(f64::NAN)),
            Some(metric(s.port, "reqflow_runs{status=\"failed\"}").await.unwrap_or(f64::NAN)),
        ),
        None => (None, None),
    };
    let engine_cpu = engine1.cpu_s - engine0.cpu_s;
    let num = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    Ok(json!({
        "events": n,
        "rate": if args.rate > 0 { json!(args.rate) } else { json!("max") },
        "connections": args.connections,
        "warmup_events": args.warmup,
        "accepted": sent.accepted,
        "refused": sent.refused,
        "first_refusal_status": sent.first_status,
        "accept_events_per_s": num(sent.accepted as f64 / sent.elapsed.as_secs_f64()),
        "accept_p50_ms": num(pct(&sent.accept, 0.5)),
        "accept_p99_ms": num(pct(&sent.accept, 0.99)),
        "accept_max_ms": num(pct(&sent.accept, 1.0)),
        "writebacks": written,
        "writebacks_failed": track.failed_writebacks.load(Ordering::Relaxed),
        "writebacks_duplicate": track.duplicates.load(Ordering::Relaxed),
        "vendor_invites": track.invites.load(Ordering::Relaxed),
        "completed_runs_per_s": num(runs_per_s),
        "e2e_p50_ms": num(pct(&e2e, 0.5)),
        "e2e_p99_ms": num(pct(&e2e, 0.99)),
        "e2e_p999_ms": num(pct(&e2e, 0.999)),
        "e2e_max_ms": num(pct(&e2e, 1.0)),
        // Read at the last writeback: a run's own end comes just after its comment.
        "engine_runs_succeeded": succeeded,
        "engine_runs_failed": failed,
        "engine_cpu_s": pid.map(|_| engine_cpu),
        "engine_cpu_s_per_1000_runs": if pid.is_some() && written > 0 { num(engine_cpu / written as f64 * 1000.0) } else { Value::Null },
        "engine_peak_rss_mb": pid.map(|_| engine1.peak_rss as f64 / 1e6),
        "bench_process_cpu_s": own1.cpu_s - own0.cpu_s,
        "wall_s": wall.as_secs_f64(),
        "postgres": postgres,
        "targets": {
            "accept_events_per_s": 20000, "completed_runs_per_s": 5000,
            "e2e_p50_ms_at_500": 3, "e2e_p99_ms_at_500": 25
        }
    }))
}

fn print_table(r: &Value, release: bool) {
    if !release {
        println!("note: this is a debug build; measure with `cargo run --release -- bench seed`");
    }
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    let rate = match &r["rate"] {
        Value::String(s) => s.clone(),
        v => format!("{v}/s"),
    };
    println!(
        "seed path: {} (store: {}); {} events at {rate}, {} connections, {} warm-up",
        r["workflow"]["source"].as_str().unwrap_or(""),
        r["store"].as_str().unwrap_or(""),
        r["events"],
        r["connections"],
        r["warmup_events"]
    );
    println!("{:<46} {:>14} {:>12}", "measure", "result", "target");
    println!("{:<46} {:>14.0} {:>12}", "accepted events/s", f("accept_events_per_s"), "≥ 20000");
    println!(
        "{:<46} {:>14.0} {:>12}",
        "completed runs/s (first event → last writeback)",
        f("completed_runs_per_s"),
        "≥ 5000"
    );
    println!("{:<46} {:>11.2} ms {:>12}", "accept latency p50", f("accept_p50_ms"), "");
    println!("{:<46} {:>11.2} ms {:>12}", "accept latency p99", f("accept_p99_ms"), "");
    let at500 = r["rate"] == 500;
    println!("{:<46} {:>11.2} ms {:>12}", "event → writeback p50", f("e2e_p50_ms"), if at500 { "≤ 3 ms" } else { "" });
    println!("{:<46} {:>11.2} ms {:>12}", "event → writeback p99", f("e2e_p99_ms"), if at500 { "≤ 25 ms" } else { "" });
    println!("{:<46} {:>11.2} ms {:>12}", "event → writeback p99.9", f("e2e_p999_ms"), "");
    println!("{:<46} {:>11.2} ms {:>12}", "event → writeback max", f("e2e_max_ms"), "");
    if r["engine_peak_rss_mb"].is_null() {
        println!("{:<46} {:>14} {:>12}", "engine CPU and RSS", "n/a (--target)", "");
    } else {
        println!("{:<46} {:>12.3} s {:>12}", "engine CPU per 1,000 runs", f("engine_cpu_s_per_1000_runs"), "");
        println!("{:<46} {:>11.1} MB {:>12}", "engine peak RSS (VmHWM)", f("engine_peak_rss_mb"), "");
    }
    println!("{:<46} {:>12.2} s {:>12}", "CPU of this process (load + sandbox)", f("bench_process_cpu_s"), "");
    if let Some(rt) = r.get("retention") {
        println!(
            "{:<46} {:>14}",
            "store bytes at each retention window's end",
            rt["store_bytes_at_window_ends"].to_string()
        );
    }
    if let Some(st) = r.get("storage") {
        println!(
            "{:<46} {:>14} {:>12}",
            "store bytes per event",
            format!("{} B", st["bytes_per_event"]),
            format!("({} B / {} events)", st["bytes"], st["events"])
        );
        for t in st["tables"].as_array().into_iter().flatten() {
            println!("{:<46} {:>14}", format!("  {}", t["table"].as_str().unwrap_or("?")), format!("{} B", t["bytes"]));
        }
    }
    if r["postgres"].is_object() {
        crate::bench_pg::print(&r["postgres"]);
    }
    println!("{:<46} {:>14} {:>12}", "accepted / refused", format!("{} / {}", r["accepted"], r["refused"]), "");
    println!(
        "{:<46} {:>14} {:>12}",
        "writebacks ok / failed / duplicate",
        format!("{} / {} / {}", r["writebacks"], r["writebacks_failed"], r["writebacks_duplicate"]),
        ""
    );
    if !r["engine_runs_succeeded"].is_null() {
        println!(
            "{:<46} {:>14} {:>12}",
            "engine runs succeeded / failed (incl. warm-up)",
            format!("{} / {}", r["engine_runs_succeeded"], r["engine_runs_failed"]),
            ""
        );
    }
}
