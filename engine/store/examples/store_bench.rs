//! Throughput check of the store (not a unit test): run it yourself.
//!
//! ```text
//! cargo run --release -p reqflow-store --example store_bench            # SQLite only
//! REQFLOW_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo run --release -p reqflow-store --example store_bench          # both
//! … --example store_bench -- postgres                                   # one of them
//! ```
//!
//! Measures, per backend:
//! 1. accept: 100,000 webhook-sized events in batches of 500, one after another;
//! 2. accept from 64 concurrent callers with one event each (group commit);
//! 3. claim (batches of 100) + finish of every queued run;
//! 4. the three writes of a step (start, finish, result) from 32 concurrent runs.
//!
//! PostgreSQL runs in a fresh schema, dropped at the end.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use reqflow_engine::store::{
    AttemptEnd, NewAttempt, NewEvent, RunOutcome, RunStatus, StepResult, StepStatus, Store, WorkflowVersion,
};
use reqflow_store::postgres::PgConnectOptions;
use serde_json::json;
use sqlx::Connection;

const EVENTS: usize = 100_000;
const BATCH: usize = 500;

fn payload(i: usize) -> serde_json::Value {
    json!({
        "body": {
            "event_type": "candidate_moved",
            "fired_at": "2026-11-01T10:00:00Z",
            "id": format!("evt-{i}"),
            "data": {
                "id": format!("c{i}"), "name": "Ada Lovelace", "email": "ada@example.com",
                "job": {"shortcode": "GROOV003", "title": "Engineer"},
                "stage": "Phone Screen", "disqualified": false, "tags": ["referral", "senior"]
            }
        },
        "headers": {"content-type": "application/json", "x-workable-signature": "<masked>"},
        "received_at": 1_700_000_000_000i64,
    })
}

fn event(prefix: &str, i: usize) -> NewEvent {
    NewEvent {
        event_id: format!("{prefix}-e-{i:08}"),
        run_id: format!("{prefix}-r-{i:08}"),
        workflow: WorkflowVersion { workflow_id: "bench".into(), version: 1, hash: "h".into() },
        trigger: "webhook".into(),
        received_at: 1_700_000_000_000,
        payload: payload(i),
        // A webhook keeps the bytes it was sent (about the size of the body).
        raw_body: Some(serde_json::to_vec(&payload(i)["body"]).unwrap_or_default()),
        dedupe: Some((format!("evt-{prefix}-{i}"), 1_700_600_000_000)),
        start_run: true,
        invalid: None,
        subjects: Vec::new(),
    }
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn bench(name: &str, store: Arc<dyn Store>) {
    println!("== {name}");
    // 1. Sequential batches.
    let t = Instant::now();
    for start in (0..EVENTS).step_by(BATCH) {
        let batch: Vec<NewEvent> = (start..start + BATCH).map(|i| event("seq", i)).collect();
        store.accept(batch).await.expect("accept");
    }
    let secs = t.elapsed().as_secs_f64();
    println!("accept, batches of {BATCH}: {EVENTS} events in {secs:.2} s = {:.0} events/s", EVENTS as f64 / secs);
    println!("RSS with {EVENTS} queued runs: {:.0} MB", rss_mb());

    // 2. Concurrent single-event calls.
    let callers = 64;
    let per = 200;
    let t = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut worst = 0f64;
                for i in 0..per {
                    let s = Instant::now();
                    store.accept(vec![event(&format!("c{c}"), i)]).await.expect("accept");
                    worst = worst.max(s.elapsed().as_secs_f64());
                }
                worst
            })
        })
        .collect();
    let mut worst = 0f64;
    for task in tasks {
        worst = worst.max(task.await.expect("caller"));
    }
    let secs = t.elapsed().as_secs_f64();
    let n = callers * per;
    println!(
        "accept, {callers} concurrent callers x 1 event: {n} events in {secs:.2} s = {:.0} events/s (slowest call {:.1} ms)",
        n as f64 / secs,
        worst * 1000.0
    );

    // 3. Claim + finish everything (the runs of a claim finish concurrently,
    // as the executor's would).
    let t = Instant::now();
    let mut done = 0;
    loop {
        let claimed = store.claim("bench", 1_800_000_000_000, 60_000, 100).await.expect("claim");
        if claimed.is_empty() {
            break;
        }
        let mut finishing = tokio::task::JoinSet::new();
        for run in claimed {
            let store = store.clone();
            finishing.spawn(async move {
                let outcome = RunOutcome { status: RunStatus::Succeeded, error: None, finished_at: 1_800_000_000_001 };
                assert!(store.finish("bench", &run.run_id, outcome).await.expect("finish"));
            });
        }
        while let Some(r) = finishing.join_next().await {
            r.expect("finish task");
            done += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!("claim (100 at a time) + finish: {done} runs in {secs:.2} s = {:.0} runs/s", done as f64 / secs);

    // 4. Step writes from concurrent runs.
    let runs = 32;
    let steps = 300;
    let t = Instant::now();
    let tasks: Vec<_> = (0..runs)
        .map(|r| {
            let store = store.clone();
            tokio::spawn(async move {
                let run_id = format!("seq-r-{r:08}");
                for s in 0..steps {
                    let step_id = format!("step{s}");
                    let id = store
                        .start_attempt(NewAttempt {
                            run_id: run_id.clone(),
                            step_id: step_id.clone(),
                            item: None,
                            attempt: 1,
                            round: 0,
                            input: json!({"candidate": "c1", "token": "***"}),
                            started_at: 1,
                        })
                        .await
                        .expect("start");
                    let output = json!({"status": 201, "body": {"id": s}});
                    store
                        .finish_attempt(
                            id,
                            AttemptEnd { succeeded: true, output: Some(output.clone()), error: None, finished_at: 2 },
                        )
                        .await
                        .expect("finish attempt");
                    store
                        .record_result(StepResult {
                            run_id: run_id.clone(),
                            step_id,
                            status: StepStatus::Succeeded,
                            output: Some(output),
                            error: None,
                            finished_at: 2,
                        })
                        .await
                        .expect("record");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("run");
    }
    let secs = t.elapsed().as_secs_f64();
    let n = runs * steps;
    println!(
        "steps (start + finish attempt + result), {runs} concurrent runs: {n} steps in {secs:.2} s = {:.0} steps/s, {:.1} µs/step",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only = std::env::args().nth(1);
    let dir = tempfile::tempdir().expect("temp dir");
    if only.as_deref().is_none_or(|o| o == "sqlite") {
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        bench("sqlite (synchronous=FULL)", reqflow_store::open(&url).await.expect("open sqlite")).await;
    }
    if only.as_deref().is_some_and(|o| o != "postgres") {
        return;
    }
    match std::env::var("REQFLOW_TEST_POSTGRES_URL") {
        Err(_) => println!("== postgres: SKIPPED (set REQFLOW_TEST_POSTGRES_URL)"),
        Ok(url) => {
            let base = PgConnectOptions::from_str(&url).expect("postgres url");
            let mut admin = sqlx::PgConnection::connect_with(&base).await.expect("connect");
            let schema = format!("rqbench_{}", std::process::id());
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut admin)
                .await
                .expect("schema");
            let store = reqflow_store::PostgresStore::connect_with(base.options([("search_path", schema.as_str())]))
                .await
                .expect("open postgres");
            bench("postgres", Arc::new(store)).await;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut admin)
                .await
                .expect("drop schema");
        }
    }
}
