//! `reqflow bench connectors`: what the connector layer costs, in process.
//!
//! 1. **Overhead per call.** A tiny local axum server answers
//!    `POST /v1/invites` with a fixed JSON body. The same request is sent N
//!    times two ways, interleaved so that drift hits both alike: (a) bare,
//!    with the shared client (`reqflow_actions::http::client()`): build, send,
//!    read the body; (b) through `http.request` as the executor runs it:
//!    `ActionContext` with an `http` connection (bearer auth, idempotency
//!    header, timeout), `with:` as JSON, `DynAction::call` under the step
//!    timeout (deserialize → build → send → parse the output). The difference of
//!    the medians is the layer's overhead (target ≤ 100 µs).
//! 2. **Burst of Workable writes.** The sandbox (`reqflow-sandbox`, with its
//!    real limits: 10 requests per 10 s for an account token) runs on a free
//!    loopback port; N `workable.candidates.comment` calls start at once
//!    through one account token. Reported: the elapsed time against the time
//!    the limit allows (((N − 1) div 10) × 10 s; target ±10%), the 429s the
//!    sandbox answered (counted by a layer around its router; target 0), and
//!    whether each write reached it exactly once (its request log,
//!    `GET /_sandbox/requests`, and the comments it stored).

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::Args;
use reqflow_actions::http::client;
use reqflow_actions::workable::ratelimit::MARGIN;
use reqflow_engine::action::{ActionContext, Connection, DynAction, MemoryState, SharedState};
use serde_json::{Value, json};

#[derive(Args, Debug)]
pub(crate) struct ConnectorsArgs {
    /// Sequential calls per path (bare and `http.request`) in the overhead phase; 0 skips it.
    #[arg(long, default_value_t = 5000)]
    calls: usize,
    /// Unmeasured calls per path before the overhead phase.
    #[arg(long, default_value_t = 500)]
    warmup: usize,
    /// Concurrent `workable.candidates.comment` calls through one account token; 0 skips the burst.
    #[arg(long, default_value_t = 1000)]
    writes: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Workable's limit for account tokens, which the sandbox enforces.
const LIMIT: usize = 10;
const WINDOW: Duration = Duration::from_secs(10);
/// Target of the overhead phase.
const TARGET_OVERHEAD_US: f64 = 100.0;
/// Target of the burst: elapsed within ±10% of what the limit allows.
const TARGET_RATIO_TOLERANCE: f64 = 0.10;
/// How many requests `GET /_sandbox/requests` keeps (the sandbox's private
/// `LOG_CAPACITY`); beyond it the log check is skipped.
const SANDBOX_LOG_CAPACITY: usize = 2000;

const TOKEN: &str = "bench-vendor-token";
const RESPONSE: &str = r#"{"id":"inv_01J9ZQ4W8K3M","status":"sent","email":"ada.lovelace@example.com","candidate_id":"27270002","created_at":"2025-01-15T10:32:07Z","expires_at":"2025-01-22T10:32:07Z","links":{"self":"https://vendor.example/v1/invites/inv_01J9ZQ4W8K3M","assessment":"https://vendor.example/a/7f3c"}}"#;

/// The request both paths send.
fn request_json() -> Value {
    json!({
        "email": "ada.lovelace@example.com",
        "candidate_id": "27270002",
        "name": "Ada Lovelace",
        "job": { "shortcode": "9CD658E13E", "title": "Backend Engineer" },
        "assessment": "backend-senior",
        "callback_url": "https://reqflow.example/hooks/vendor/results"
    })
}

/// Its `with:` for `http.request`.
fn request_params() -> Value {
    json!({
        "method": "POST",
        "path": "/invites",
        "headers": { "x-request-source": "reqflow" },
        "json": request_json(),
        "expect": [200, 201]
    })
}

async fn invites(body: Bytes) -> Response {
    if body.is_empty() {
        return StatusCode::BAD_REQUEST.into_response();
    }
    (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], RESPONSE).into_response()
}

/// Starts `app` on a free loopback port; returns `http://addr`.
async fn serve_local(app: Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.context("bind a loopback port")?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}"))
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Percentile `p` (0–1, nearest rank) of sorted `v`, in µs.
fn pct_us(v: &[Duration], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    us(v[i.min(v.len() - 1)])
}

fn pct_f(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

struct Overhead {
    bare: Vec<Duration>,
    action: Vec<Duration>,
    /// action − bare of each interleaved pair, µs, sorted.
    paired: Vec<f64>,
}

/// One bare round trip: the request `http.request` builds, sent with the shared client, body read.
async fn bare_call(url: &str, idempotency_key: &str, body: &Value) -> anyhow::Result<()> {
    let resp = client()
        .post(url)
        .header("idempotency-key", idempotency_key)
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(30))
        .header("x-request-source", "reqflow")
        .json(body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await?;
    if status != 201 || bytes.is_empty() {
        bail!("the local server answered {status}");
    }
    Ok(())
}

/// One call of `http.request` as the executor makes it (context per attempt, step timeout around the call).
async fn action_call(
    action: &dyn DynAction,
    conn: &Connection,
    state: &Arc<dyn SharedState>,
    params: &Value,
    run_id: &str,
) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(30);
    let cx = ActionContext::new(run_id, "bench-connectors", "invite", 1)
        .with_timeout(Some(timeout))
        .with_state(state.clone())
        .with_connection(conn.clone());
    let out = match tokio::time::timeout(timeout, action.call(cx, params.clone())).await {
        Ok(r) => r.map_err(|e| anyhow::anyhow!("http.request failed: {e}"))?,
        Err(_) => bail!("http.request timed out"),
    };
    if out["status"] != 201 || !out["body"].is_object() {
        bail!("unexpected output: {out}");
    }
    Ok(())
}

async fn overhead(calls: usize, warmup: usize) -> anyhow::Result<Overhead> {
    let base = serve_local(Router::new().route("/v1/invites", post(invites))).await?;
    let registry = crate::registry();
    let action = registry.action("http.request").context("http.request is not registered")?.clone();
    let conn = Connection {
        name: "vendor".into(),
        kind: "http".into(),
        settings: json!({
            "base_url": format!("{base}/v1"),
            "auth": { "bearer": TOKEN },
            "idempotency_header": "Idempotency-Key",
            "timeout": "30s"
        }),
    };
    let state: Arc<dyn SharedState> = Arc::new(MemoryState::default());
    let params = request_params();
    let body = request_json();
    let url = format!("{base}/v1/invites");
    let run_id = "0194a3f2-7c1e-7b3a-9d4e-2f6a8c0b1d35";
    let key = format!("{run_id}:invite");

    for _ in 0..warmup {
        bare_call(&url, &key, &body).await?;
        action_call(action.as_ref(), &conn, &state, &params, run_id).await?;
    }
    let mut bare = Vec::with_capacity(calls);
    let mut act = Vec::with_capacity(calls);
    let mut paired = Vec::with_capacity(calls);
    for i in 0..calls {
        // Alternate which path goes first, so neither always follows the other.
        let (b, a) = if i % 2 == 0 {
            let t = Instant::now();
            bare_call(&url, &key, &body).await?;
            let b = t.elapsed();
            let t = Instant::now();
            action_call(action.as_ref(), &conn, &state, &params, run_id).await?;
            (b, t.elapsed())
        } else {
            let t = Instant::now();
            action_call(action.as_ref(), &conn, &state, &params, run_id).await?;
            let a = t.elapsed();
            let t = Instant::now();
            bare_call(&url, &key, &body).await?;
            (t.elapsed(), a)
        };
        bare.push(b);
        act.push(a);
        paired.push(us(a) - us(b));
    }
    bare.sort();
    act.sort();
    paired.sort_by(f64::total_cmp);
    Ok(Overhead { bare, action: act, paired })
}

/// Responses the sandbox gave to the burst's comment requests, counted around its router.
#[derive(Debug, Default)]
struct Counts {
    requests: AtomicUsize,
    ok: AtomicUsize,
    too_many: AtomicUsize,
    other: AtomicUsize,
}

async fn count(State(c): State<Arc<Counts>>, req: Request, next: Next) -> Response {
    let write = req.method() == Method::POST && req.uri().path().ends_with("/comments");
    let resp = next.run(req).await;
    if write {
        c.requests.fetch_add(1, Ordering::Relaxed);
        let counter = match resp.status().as_u16() {
            200..=299 => &c.ok,
            429 => &c.too_many,
            _ => &c.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    resp
}

/// The minimum time the limit allows for `n` requests: ((n − 1) div 10) × 10 s.
fn allowed(n: usize) -> Duration {
    WINDOW * (n.saturating_sub(1) / LIMIT) as u32
}

async fn burst(writes: usize) -> anyhow::Result<Value> {
    let sandbox = reqflow_sandbox::Sandbox::seeded();
    let counts = Arc::new(Counts::default());
    let app =
        reqflow_sandbox::router(sandbox.clone()).layer(axum::middleware::from_fn_with_state(counts.clone(), count));
    let base = serve_local(app).await?;
    let (candidate, member) = sandbox.read(|d| {
        let id = |v: &Value| v.get("id").and_then(Value::as_str).map(str::to_owned);
        (
            d.workable.candidates.first().and_then(id),
            d.workable.members.iter().find(|m| m["active"] == true).and_then(id),
        )
    });
    let (Some(candidate), Some(member)) = (candidate, member) else {
        bail!("the seeded sandbox has no candidate or no active member");
    };
    let registry = crate::registry();
    let action = registry.action("workable.candidates.comment").context("workable.candidates.comment")?.clone();
    // A token of its own, so the process-wide limiter starts empty.
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let nonce = format!("{}-{}", std::process::id(), since_epoch.as_millis());
    let conn = Connection {
        name: "workable".into(),
        kind: "workable".into(),
        settings: json!({ "base_url": base, "token": format!("bench-account-{nonce}") }),
    };
    let state: Arc<dyn SharedState> = Arc::new(MemoryState::default());
    let marker = |i: usize| format!("reqflow bench write {nonce}/{i:07}");

    let started = Instant::now();
    let mut tasks = Vec::with_capacity(writes);
    for i in 0..writes {
        let action = action.clone();
        let cx = ActionContext::new(format!("bench-run-{i}"), "bench-connectors", "comment", 1)
            .with_timeout(Some(Duration::from_secs(3600)))
            .with_state(state.clone())
            .with_connection(conn.clone());
        let params = json!({ "id": candidate, "member_id": member, "body": marker(i), "policy": ["recruiter"] });
        tasks.push(tokio::spawn(async move {
            let r = action.call(cx, params).await;
            (r, started.elapsed())
        }));
    }
    let mut errors = Vec::new();
    let mut elapsed = Duration::ZERO;
    for t in tasks {
        let (r, at) = t.await.context("a write task panicked")?;
        elapsed = elapsed.max(at);
        if let Err(e) = r {
            errors.push(e.to_string());
        }
    }

    // What the sandbox received: its request log over HTTP, and the comments it stored.
    let log: Value = client().get(format!("{base}/_sandbox/requests")).send().await?.json().await?;
    let path = format!("/spi/v3/candidates/{candidate}/comments");
    let logged: Vec<&Value> = log["requests"]
        .as_array()
        .map(|a| a.iter().filter(|r| r["method"] == "POST" && r["path"] == path.as_str()).collect())
        .unwrap_or_default();
    let log_complete = writes <= SANDBOX_LOG_CAPACITY;
    let mut in_log: HashMap<String, usize> = HashMap::new();
    for r in &logged {
        let body = r["body"].as_str().and_then(|b| serde_json::from_str::<Value>(b).ok());
        if let Some(b) = body.as_ref().and_then(|b| b["comment"]["body"].as_str()) {
            *in_log.entry(b.to_owned()).or_default() += 1;
        }
    }
    let mut stored: HashMap<String, usize> = HashMap::new();
    sandbox.read(|d| {
        for a in d.workable.activities.get(&candidate).into_iter().flatten() {
            if a["action"] == "comment"
                && let Some(b) = a["body"].as_str()
            {
                *stored.entry(b.to_owned()).or_default() += 1;
            }
        }
    });
    let (mut stored_once, mut logged_once) = (0usize, 0usize);
    for i in 0..writes {
        let m = marker(i);
        stored_once += usize::from(stored.get(&m) == Some(&1));
        logged_once += usize::from(in_log.get(&m) == Some(&1));
    }
    let allowed = allowed(writes);
    let ratio = if allowed.is_zero() { f64::NAN } else { elapsed.as_secs_f64() / allowed.as_secs_f64() };
    let received = counts.requests.load(Ordering::Relaxed);
    let too_many = counts.too_many.load(Ordering::Relaxed);
    let exactly_once =
        received == writes && stored_once == writes && (!log_complete || logged_once == writes) && errors.is_empty();
    let ratio_ok = allowed.is_zero() || (ratio - 1.0).abs() <= TARGET_RATIO_TOLERANCE;
    Ok(json!({
        "writes": writes,
        "limit": { "requests": LIMIT, "window_s": WINDOW.as_secs() },
        "elapsed_s": elapsed.as_secs_f64(),
        "allowed_s": allowed.as_secs_f64(),
        "ratio": if ratio.is_nan() { Value::Null } else { json!(ratio) },
        "responses_429": too_many,
        "responses_2xx": counts.ok.load(Ordering::Relaxed),
        "responses_other": counts.other.load(Ordering::Relaxed),
        "requests_received": received,
        "stored_exactly_once": stored_once,
        "logged_requests": logged.len(),
        "logged_exactly_once": if log_complete { json!(logged_once) } else { Value::Null },
        "errors": errors.len(),
        "first_error": errors.first(),
        "exactly_once": exactly_once,
        "ok": ratio_ok && too_many == 0 && exactly_once,
    }))
}

pub(crate) fn run(args: ConnectorsArgs) -> anyhow::Result<ExitCode> {
    let release = !cfg!(debug_assertions);
    if args.writes > 0 {
        let windows = args.writes.saturating_sub(1) / LIMIT;
        eprintln!(
            "burst of {} Workable writes at {LIMIT} per {} s: the limit allows {} s; expect about {:.0} s \
             (the client-side limiter adds {} ms of margin per window){}",
            args.writes,
            WINDOW.as_secs(),
            allowed(args.writes).as_secs(),
            (WINDOW + MARGIN).as_secs_f64() * windows as f64,
            MARGIN.as_millis(),
            if args.writes > 100 { "; use --writes 100 for a quick run" } else { "" }
        );
    }
    let rt = crate::serve::runtime()?;
    let report = rt.block_on(async {
        let mut report = json!({ "release_build": release });
        if args.calls > 0 {
            let o = overhead(args.calls, args.warmup).await?;
            let (bm, am) = (pct_us(&o.bare, 0.5), pct_us(&o.action, 0.5));
            let (b99, a99) = (pct_us(&o.bare, 0.99), pct_us(&o.action, 0.99));
            report["overhead"] = json!({
                "calls": args.calls,
                "bare_median_us": bm,
                "bare_p99_us": b99,
                "action_median_us": am,
                "action_p99_us": a99,
                "overhead_median_us": am - bm,
                "overhead_p99_us": a99 - b99,
                "paired_overhead_median_us": pct_f(&o.paired, 0.5),
                "target_us": TARGET_OVERHEAD_US,
                "ok": am - bm <= TARGET_OVERHEAD_US,
            });
        }
        if args.writes > 0 {
            report["burst"] = burst(args.writes).await?;
        }
        anyhow::Ok(report)
    })?;
    // The sandbox and server tasks end with the runtime.
    rt.shutdown_timeout(Duration::from_millis(100));
    if args.json {
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    if !release {
        println!("note: this is a debug build; measure with `cargo run --release -- bench connectors`");
    }
    println!("{:<58} {:>14} {:>14}", "measure", "result", "target");
    if let Some(o) = report.get("overhead") {
        let f = |k: &str| o[k].as_f64().unwrap_or(f64::NAN);
        let calls = args.calls;
        println!(
            "{:<58} {:>11.1} µs {:>14}",
            format!("bare round trip, median ({calls} calls)"),
            f("bare_median_us"),
            ""
        );
        println!("{:<58} {:>11.1} µs {:>14}", "bare round trip, p99", f("bare_p99_us"), "");
        println!("{:<58} {:>11.1} µs {:>14}", "through http.request, median", f("action_median_us"), "");
        println!("{:<58} {:>11.1} µs {:>14}", "through http.request, p99", f("action_p99_us"), "");
        println!(
            "{:<58} {:>11.1} µs {:>14}",
            "connector overhead (difference of medians)",
            f("overhead_median_us"),
            "≤ 100 µs"
        );
        println!("{:<58} {:>11.1} µs {:>14}", "connector overhead (difference of p99s)", f("overhead_p99_us"), "");
        println!(
            "{:<58} {:>11.1} µs {:>14}",
            "connector overhead (median of paired differences)",
            f("paired_overhead_median_us"),
            ""
        );
    }
    if let Some(b) = report.get("burst") {
        let f = |k: &str| b[k].as_f64().unwrap_or(f64::NAN);
        let n = args.writes;
        println!(
            "{:<58} {:>12.2} s {:>14}",
            format!("burst of {n} workable.candidates.comment, elapsed"),
            f("elapsed_s"),
            ""
        );
        println!("{:<58} {:>12.0} s {:>14}", format!("time the limit allows ({LIMIT} per 10 s)"), f("allowed_s"), "");
        println!("{:<58} {:>14.3} {:>14}", "ratio elapsed / allowed", f("ratio"), "1 ± 0.10");
        println!("{:<58} {:>14} {:>14}", "429 answers from the sandbox", b["responses_429"].to_string(), "0");
        println!("{:<58} {:>14} {:>14}", "write requests the sandbox received", b["requests_received"].to_string(), n);
        println!("{:<58} {:>14} {:>14}", "writes stored exactly once", b["stored_exactly_once"].to_string(), n);
        let logged = match &b["logged_exactly_once"] {
            Value::Null => "n/a (log full)".to_owned(),
            v => v.to_string(),
        };
        println!("{:<58} {:>14} {:>14}", "writes in /_sandbox/requests exactly once", logged, n);
        println!("{:<58} {:>14} {:>14}", "failed calls", b["errors"].to_string(), "0");
        if let Some(e) = b["first_error"].as_str() {
            println!("first error: {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
