//! What the database spent on `bench seed --db postgres://…`: statements and
//! statement time per completed run (from `pg_stat_statements`, when the
//! server has it in `shared_preload_libraries`; the bench runs
//! `CREATE EXTENSION IF NOT EXISTS pg_stat_statements` and goes on without it
//! when it cannot; planning is counted, and shown apart, when
//! `pg_stat_statements.track_planning` is on), the CPU of the server's processes per run (when the
//! server runs on this machine: every `postgres` process in /proc, so other
//! databases' work on the same server counts too), and the wait events of the
//! database's busy sessions, sampled every 10 ms from `pg_stat_activity`.
//!
//! From those, a capacity model: one database core sustains
//! `1000 / server CPU ms per run` completed runs/s of this workflow (the
//! statement time per run when the server's CPU is not visible), so N cores
//! about N times that until one of the limits printed beside it (WAL flushes,
//! locks) is reached first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, Row};

/// Per-statement counters, keyed by `queryid`.
type Statements = HashMap<i64, (String, i64, f64, f64)>;

/// A snapshot taken before the measured events, and the wait sampler.
pub(crate) struct PgProbe {
    url: String,
    statements: Option<Statements>,
    server_cpu: Option<HashMap<u32, f64>>,
    waits: Arc<Mutex<HashMap<String, u64>>>,
    sampler: tokio::task::JoinHandle<()>,
}

/// Whether `url`'s server is this machine (its processes are in /proc).
fn local(url: &str) -> bool {
    let host = url.split("://").nth(1).and_then(|r| r.rsplit_once('@').map_or(Some(r), |(_, h)| Some(h)));
    let host = host.map(|h| h.split(['/', '?']).next().unwrap_or(h)).unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "") || url.contains("host=/")
}

/// CPU seconds of every `postgres` process, by pid.
fn server_cpu() -> HashMap<u32, f64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return out };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        if !head.ends_with("(postgres") {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        out.insert(pid, (ticks(11) + ticks(12)) / 100.0);
    }
    out
}

async fn statements(c: &mut PgConnection) -> Option<Statements> {
    let rows = sqlx::query(
        "SELECT queryid, query, calls, total_exec_time, total_plan_time FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND queryid IS NOT NULL",
    )
    .fetch_all(&mut *c)
    .await
    .ok()?;
    let mut out = Statements::new();
    for r in rows {
        let (Ok(id), Ok(q), Ok(calls), Ok(exec), Ok(plan)) = (
            r.try_get::<i64, _>(0),
            r.try_get::<String, _>(1),
            r.try_get::<i64, _>(2),
            r.try_get::<f64, _>(3),
            r.try_get::<f64, _>(4),
        ) else {
            continue;
        };
        // One queryid per (user, database, top level): add them up.
        let e = out.entry(id).or_insert((q, 0, 0.0, 0.0));
        e.1 += calls;
        e.2 += exec;
        e.3 += plan;
    }
    Some(out)
}

/// Samples the wait events of the database's busy sessions until aborted.
async fn sample_waits(url: String, waits: Arc<Mutex<HashMap<String, u64>>>) {
    let Ok(mut c) = PgConnection::connect(&url).await else { return };
    loop {
        let rows = sqlx::query(
            "SELECT state, COALESCE(wait_event_type, 'CPU'), COALESCE(wait_event, 'running') FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
               AND state <> 'idle'",
        )
        .fetch_all(&mut c)
        .await;
        if let (Ok(rows), Ok(mut w)) = (rows, waits.lock()) {
            for r in rows {
                let key = format!(
                    "{} {}:{}",
                    r.try_get::<String, _>(0).unwrap_or_default(),
                    r.try_get::<String, _>(1).unwrap_or_default(),
                    r.try_get::<String, _>(2).unwrap_or_default()
                );
                *w.entry(key).or_default() += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl PgProbe {
    /// Takes the "before" snapshot on `url` (the server's database, without
    /// the bench's `search_path`, so the extension's view is found).
    pub async fn start(url: &str) -> PgProbe {
        let mut statements_before = None;
        if let Ok(mut c) = PgConnection::connect(url).await {
            let _ = sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(&mut c).await;
            statements_before = statements(&mut c).await;
            let _ = c.close().await;
        }
        let waits = Arc::new(Mutex::new(HashMap::new()));
        let sampler = tokio::spawn(sample_waits(url.to_owned(), waits.clone()));
        PgProbe {
            url: url.to_owned(),
            statements: statements_before,
            server_cpu: local(url).then(server_cpu),
            waits,
            sampler,
        }
    }

    /// The figures per completed run since [`PgProbe::start`].
    pub async fn finish(self, runs: usize) -> Value {
        self.sampler.abort();
        let runs_f = runs.max(1) as f64;
        let mut out = json!({});
        if let Some(before) = &self.server_cpu {
            let after = server_cpu();
            let spent: f64 = after.iter().map(|(pid, s)| s - before.get(pid).copied().unwrap_or(0.0)).sum();
            out["server_cpu_s"] = json!(spent);
            out["server_cpu_ms_per_run"] = json!(spent * 1000.0 / runs_f);
        }
        let (after, track_planning) = match PgConnection::connect(&self.url).await {
            Ok(mut c) => {
                let s = statements(&mut c).await;
                // The database's (or server's) setting, as the engine's sessions have it.
                let planning: Option<String> =
                    sqlx::query_scalar("SELECT current_setting('pg_stat_statements.track_planning', true)")
                        .fetch_one(&mut c)
                        .await
                        .ok()
                        .flatten();
                let _ = c.close().await;
                (s, planning.as_deref() == Some("on"))
            }
            Err(_) => (None, false),
        };
        match (&self.statements, after) {
            (Some(before), Some(after)) => {
                let mut rows: Vec<(String, i64, f64, f64)> = after
                    .into_iter()
                    .filter_map(|(id, (q, calls, exec, plan))| {
                        let (c0, e0, p0) = before.get(&id).map_or((0, 0.0, 0.0), |b| (b.1, b.2, b.3));
                        let calls = calls - c0;
                        (calls > 0).then_some((q, calls, (exec - e0) + (plan - p0), plan - p0))
                    })
                    // The probe's own queries.
                    .filter(|(q, _, _, _)| !q.contains("pg_stat_statements") && !q.contains("pg_stat_activity"))
                    .collect();
                rows.sort_by(|a, b| b.2.total_cmp(&a.2));
                let calls: i64 = rows.iter().map(|r| r.1).sum();
                let ms: f64 = rows.iter().map(|r| r.2).sum();
                let plan_ms: f64 = rows.iter().map(|r| r.3).sum();
                out["pg_stat_statements"] = json!(true);
                out["statements_per_run"] = json!(calls as f64 / runs_f);
                out["statement_ms_per_run"] = json!(ms / runs_f);
                // Counted only with `pg_stat_statements.track_planning = on`.
                if track_planning {
                    out["planning_ms_per_run"] = json!(plan_ms / runs_f);
                }
                out["top_statements"] = rows
                    .iter()
                    .take(8)
                    .map(|(q, calls, ms, _)| {
                        let q: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
                        let q: String = q.chars().take(90).collect();
                        json!({ "query": q, "calls_per_run": *calls as f64 / runs_f, "ms_per_run": ms / runs_f })
                    })
                    .collect();
            }
            _ => out["pg_stat_statements"] = json!(false),
        }
        let waits = self.waits.lock().map(|w| w.clone()).unwrap_or_default();
        let total: u64 = waits.values().sum();
        let mut waits: Vec<(String, u64)> = waits.into_iter().collect();
        waits.sort_by_key(|w| std::cmp::Reverse(w.1));
        out["wait_samples"] = json!(total);
        out["wait_events"] = waits
            .iter()
            .take(6)
            .map(|(k, n)| json!({ "event": k, "share": *n as f64 / total.max(1) as f64 }))
            .collect();
        // The model: a database core per `cpu ms per run`.
        let per_run = out["server_cpu_ms_per_run"].as_f64().or(out["statement_ms_per_run"].as_f64());
        if let Some(ms) = per_run.filter(|ms| *ms > 0.0) {
            out["capacity"] = json!({
                "basis": if out["server_cpu_ms_per_run"].is_f64() { "server CPU per run" } else { "statement time per run" },
                "runs_per_s_per_core": 1000.0 / ms,
            });
        }
        out
    }
}

/// Prints the figures of [`PgProbe::finish`].
pub(crate) fn print(pg: &Value) {
    let f = |k: &str| pg[k].as_f64();
    if let Some(ms) = f("server_cpu_ms_per_run") {
        println!("{:<46} {:>11.3} ms", "PostgreSQL server CPU per run (all databases)", ms);
    }
    if pg["pg_stat_statements"] == true {
        println!(
            "{:<46} {:>14.2}",
            "statements per run (pg_stat_statements)",
            f("statements_per_run").unwrap_or(f64::NAN)
        );
        println!("{:<46} {:>11.3} ms", "statement time per run", f("statement_ms_per_run").unwrap_or(f64::NAN));
        match f("planning_ms_per_run") {
            Some(ms) => println!("{:<46} {:>11.3} ms", "  of which planning", ms),
            None => println!("{:<46} {:>14}", "  of which planning", "n/a (pg_stat_statements.track_planning off)"),
        }
        for s in pg["top_statements"].as_array().into_iter().flatten() {
            println!(
                "  {:>6.2}/run {:>8.3} ms/run  {}",
                s["calls_per_run"].as_f64().unwrap_or(f64::NAN),
                s["ms_per_run"].as_f64().unwrap_or(f64::NAN),
                s["query"].as_str().unwrap_or("")
            );
        }
    } else {
        println!("{:<46} {:>14}", "statements per run", "n/a (pg_stat_statements not loaded)");
    }
    if let Some(waits) = pg["wait_events"].as_array().filter(|w| !w.is_empty()) {
        println!("busy sessions' wait events ({} samples):", pg["wait_samples"]);
        for w in waits {
            println!("  {:>5.1}%  {}", w["share"].as_f64().unwrap_or(0.0) * 100.0, w["event"].as_str().unwrap_or(""));
        }
    }
    if let Some(c) = pg.get("capacity") {
        let per_core = c["runs_per_s_per_core"].as_f64().unwrap_or(f64::NAN);
        println!(
            "capacity model ({}): {:.0} runs/s per database core; 2 cores {:.0}, 4 cores {:.0}, 8 cores {:.0}",
            c["basis"].as_str().unwrap_or(""),
            per_core,
            per_core * 2.0,
            per_core * 4.0,
            per_core * 8.0
        );
    }
}
