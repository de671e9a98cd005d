//! One test suite, run against both backends.
//!
//! SQLite uses a real file in a temporary directory. PostgreSQL uses
//! `REQFLOW_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`),
//! each test in a fresh schema (through the connection's `search_path`)
//! dropped afterwards. Without the variable the PostgreSQL tests print
//! `SKIPPED: …` and pass, unless `REQFLOW_REQUIRE_POSTGRES=1`.

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqflow_engine::store::{
    Accepted, AttemptEnd, AttemptRecord, AttemptWrite, NewAttempt, NewEvent, Progress, PurgeScope, QueueDepth,
    RunFilter, RunOutcome, RunStatus, StepResult, StepStatus, Store, StoreError, WorkflowVersion,
};
use reqflow_store::postgres::PgConnectOptions;
use serde_json::{Value, json};
use sqlx::Connection;

/// Where a test's database lives; [`Db::open`] gives a new handle (its own
/// connections, writer and listener) each time.
#[derive(Clone, Debug)]
enum Db {
    Sqlite(PathBuf),
    Postgres(Box<PgConnectOptions>),
}

impl Db {
    async fn open(&self) -> Arc<dyn Store> {
        match self {
            Db::Sqlite(path) => {
                reqflow_store::open(&format!("sqlite://{}", path.display())).await.expect("open sqlite")
            }
            Db::Postgres(opts) => Arc::new(
                reqflow_store::PostgresStore::connect_with(opts.as_ref().clone()).await.expect("open postgres"),
            ),
        }
    }
}

type Case = fn(Db) -> Pin<Box<dyn Future<Output = ()> + Send>>;

async fn with_sqlite(case: Case) {
    let dir = tempfile::tempdir().expect("temp dir");
    case(Db::Sqlite(dir.path().join("reqflow.db"))).await;
}

async fn with_postgres(name: &str, case: Case) {
    let Ok(url) = std::env::var("REQFLOW_TEST_POSTGRES_URL") else {
        if std::env::var("REQFLOW_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("REQFLOW_REQUIRE_POSTGRES=1 but REQFLOW_TEST_POSTGRES_URL is not set");
        }
        note_skipped(&format!("SKIPPED: postgres::{name}: set REQFLOW_TEST_POSTGRES_URL to run the PostgreSQL tests"));
        return;
    };
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut schema = format!("rqt_{}_{}_{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed), name);
    schema.truncate(60);
    let base = PgConnectOptions::from_str(&url).expect("REQFLOW_TEST_POSTGRES_URL");
    let mut admin = sqlx::PgConnection::connect_with(&base).await.expect("connect to REQFLOW_TEST_POSTGRES_URL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let opts = base.options([("search_path", schema.as_str())]);
    // Run the case as a task so that a failure still drops the schema.
    let outcome = tokio::spawn(case(Db::Postgres(Box::new(opts)))).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
        .execute(&mut admin)
        .await
        .expect("drop schema");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::with_sqlite(|db| Box::pin(super::$name(db))).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::with_postgres(stringify!($name), |db| Box::pin(super::$name(db))).await;
                }
            )*
        }
    };
}

suite!(
    accept_and_dedupe,
    the_same_key_from_two_handles_starts_one_run,
    raw_bodies_round_trip_byte_exact,
    ignored_events,
    claim_lease_heartbeat_and_expiry,
    concurrent_claimers_never_share_a_run,
    requeue_with_future_availability,
    finish_rules,
    steps_attempts_and_results,
    attempts_ended_with_their_result_in_one_write,
    a_runs_values_read_back_whether_it_has_a_body_or_not,
    pending_progress_goes_with_the_next_write,
    retry_failed_runs,
    runs_filter_and_paging,
    counts_and_depth,
    counts_since_by_workflow_and_time,
    queued_by_workflow_counts_waiting_runs,
    schedule_slots_once_across_handles,
    workflow_sources,
    workflow_versions_and_api_deployments,
    shared_state_across_handles,
    migrations_are_idempotent_on_reopen,
    wait_for_work_is_woken_by_accept,
    a_failing_write_does_not_fail_concurrent_ones,
    binary_values_are_stored_once_and_read_back_byte_exact,
    purge_deletes_the_blobs_no_run_refers_to,
);

// ------------------------------------------------- backend-specific tests

/// The cost of the backlog queries with 100,000 queued runs over 10
/// workflows (the accepter refreshes them every 200 ms). A measurement, not
/// a check of speed: `cargo test -p reqflow-store --test store -- --ignored
/// backlog_queries --nocapture`.
async fn backlog_queries_with_100k_queued_runs(db: Db) {
    let store = db.open().await;
    for b in 0..100 {
        let batch: Vec<NewEvent> = (0..1000).map(|i| event(b * 1000 + i, &format!("wf{}", i % 10), None, T0)).collect();
        store.accept(batch).await.expect("accept");
    }
    let time = |label: &'static str, d: Vec<Duration>| {
        let mut d = d;
        d.sort();
        eprintln!("{} {label}: median {:?}, max {:?}", store.backend(), d[d.len() / 2], d[d.len() - 1]);
    };
    let (mut global, mut split) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let t = Instant::now();
        assert_eq!(store.depth().await.expect("depth").queued, 100_000);
        global.push(t.elapsed());
        let t = Instant::now();
        let by = store.queued_by_workflow().await.expect("by workflow");
        split.push(t.elapsed());
        assert_eq!(by.len(), 10);
        assert!(by.iter().all(|(_, n)| *n == 10_000), "{by:?}");
    }
    time("depth()", global);
    time("queued_by_workflow()", split);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (100,000 runs): run with --ignored --nocapture"]
async fn sqlite_backlog_queries_with_100k_queued_runs() {
    with_sqlite(|db| Box::pin(backlog_queries_with_100k_queued_runs(db))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (100,000 runs): run with --ignored --nocapture"]
async fn postgres_backlog_queries_with_100k_queued_runs() {
    with_postgres("backlog_queries", |db| Box::pin(backlog_queries_with_100k_queued_runs(db))).await;
}

#[tokio::test]
async fn sqlite_in_memory_and_options() {
    let store = reqflow_store::open("sqlite::memory:").await.expect("open in-memory");
    assert_eq!(store.backend(), "sqlite");
    let ids = seed(&*store, "wf", 2).await;
    let claimed = store.claim("w", T0 + 1, LEASE, 10).await.expect("claim");
    assert_eq!(claimed.len(), 2);
    assert!(store.finish("w", &ids[0], ok_outcome(T0 + 2)).await.expect("finish"));
    assert_eq!(store.depth().await.expect("depth"), QueueDepth { queued: 0, running: 1 });

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sub.db");
    let url = format!("sqlite://{}?synchronous=normal", path.display());
    reqflow_store::open(&url).await.expect("open with synchronous=normal");
    assert!(path.exists(), "the file is created");
    let bad = reqflow_store::open(&format!("sqlite://{}?synchronous=sometimes", path.display())).await;
    assert!(matches!(bad, Err(StoreError::Database(_))));
}

/// Under a stream of writes the WAL is checkpointed: what is written reaches
/// the database file, the WAL file stays bounded, and the data reads back
/// after a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_is_checkpointed_and_stays_bounded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wal.db");
    let url = format!("sqlite://{}", path.display());
    let store = reqflow_store::open(&url).await.expect("open");
    // Stored values are compressed: the filler is pseudo-random text of 64
    // symbols (6 bits a byte at best), 6,000 per event, so that about 40 MB
    // still go through the WAL, in 40 batches.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut filler = || -> String {
        const SYMBOLS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        (0..6_000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                char::from(SYMBOLS[(seed >> 58) as usize])
            })
            .collect()
    };
    for b in 0..40 {
        let batch: Vec<NewEvent> = (0..250)
            .map(|i| {
                let mut e = event(b * 250 + i, "wf", None, T0);
                e.payload["body"]["filler"] = json!(filler());
                e
            })
            .collect();
        store.accept(batch).await.expect("accept");
    }
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal = dir.path().join("wal.db-wal");
    let deadline = Instant::now() + Duration::from_secs(10);
    while size(&path) < 30_000_000 {
        assert!(Instant::now() < deadline, "no checkpoint: db {} bytes, WAL {} bytes", size(&path), size(&wal));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The WAL restarts from its start after a full checkpoint (and is
    // truncated to journal_size_limit, 64 MB): it never holds all 40 MB twice.
    assert!(size(&wal) < 70_000_000, "WAL {} bytes", size(&wal));
    drop(store);
    let again = reqflow_store::open(&url).await.expect("reopen");
    assert_eq!(again.depth().await.expect("depth"), QueueDepth { queued: 10_000, running: 0 });
}

/// PostgreSQL: the accept path has connections of its own, so events are
/// accepted while every run connection waits (here: on a lock held on
/// `attempts`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_accepts_while_every_run_connection_waits() {
    with_postgres("accepts_while_runs_wait", |db| {
        Box::pin(async move {
            let Db::Postgres(opts) = &db else { unreachable!("a PostgreSQL case") };
            let store = db.open().await;
            let ids = seed(&*store, "wf", 1).await;
            let mut locker = sqlx::PgConnection::connect_with(opts).await.expect("connect");
            sqlx::raw_sql("BEGIN; LOCK TABLE attempts IN ACCESS EXCLUSIVE MODE")
                .execute(&mut locker)
                .await
                .expect("lock");
            // More attempt writes than the run pool has connections: all block.
            let mut blocked = Vec::new();
            for n in 0..16u32 {
                let (store, run) = (store.clone(), ids[0].clone());
                blocked.push(tokio::spawn(async move {
                    let a = NewAttempt {
                        run_id: run,
                        step_id: format!("s{n}"),
                        item: None,
                        attempt: 1,
                        round: 0,
                        input: json!({}),
                        started_at: T0,
                    };
                    store.start_attempt(a).await
                }));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let started = Instant::now();
            let accepted = tokio::time::timeout(
                Duration::from_secs(5),
                store.accept(vec![event(100, "wf", None, T0), event(101, "wf", None, T0)]),
            )
            .await;
            let waited = started.elapsed();
            sqlx::raw_sql("COMMIT").execute(&mut locker).await.expect("unlock");
            let accepted = accepted.expect("accepted while the run pool waits").expect("accept");
            assert_eq!(accepted, vec![queued("run-wf-100"), queued("run-wf-101")]);
            assert!(waited < Duration::from_secs(2), "the accept waited {waited:?}");
            for b in blocked {
                b.await.expect("task").expect("the attempt is written once the lock is gone");
            }
        })
    })
    .await;
}

#[tokio::test]
async fn postgres_errors_do_not_leak_the_password() {
    // Nothing listens on port 1: the connection fails.
    let err =
        reqflow_store::open("postgres://reqflow:s3cr3t-pw@127.0.0.1:1/reqflow").await.expect_err("no server there");
    let msg = err.to_string();
    assert!(!msg.contains("s3cr3t-pw"), "{msg}");
}

// ---------------------------------------------------------------- helpers

const T0: i64 = 1_700_000_000_000;
const LEASE: i64 = 30_000;

fn version(wf: &str, v: u32) -> WorkflowVersion {
    WorkflowVersion { workflow_id: wf.into(), version: v, hash: format!("hash-{wf}-{v}") }
}

fn event(n: usize, wf: &str, key: Option<&str>, at: i64) -> NewEvent {
    NewEvent {
        event_id: format!("ev-{wf}-{n}"),
        run_id: format!("run-{wf}-{n}"),
        workflow: version(wf, 1),
        trigger: "webhook".into(),
        received_at: at,
        payload: json!({"body": {"n": n, "z": "last", "a": "first"}, "headers": {"content-type": "application/json"}}),
        raw_body: None,
        dedupe: key.map(|k| (k.to_owned(), at + 60_000)),
        start_run: true,
        invalid: None,
        subjects: Vec::new(),
    }
}

fn queued(run_id: &str) -> Accepted {
    Accepted::Queued { run_id: run_id.into() }
}

fn ok_outcome(at: i64) -> RunOutcome {
    RunOutcome { status: RunStatus::Succeeded, error: None, finished_at: at }
}

fn failed_outcome(at: i64) -> RunOutcome {
    RunOutcome { status: RunStatus::Failed, error: Some(json!({"step": "send", "message": "boom"})), finished_at: at }
}

/// Accepts `n` plain runs of `wf`, received at T0, T0+1, …
async fn seed(store: &dyn Store, wf: &str, n: usize) -> Vec<String> {
    seed_at(store, wf, n, T0).await
}

/// Accepts `n` plain runs of `wf`, received at `at`, `at`+1, …
async fn seed_at(store: &dyn Store, wf: &str, n: usize, at: i64) -> Vec<String> {
    let batch: Vec<NewEvent> = (0..n).map(|i| event(i, wf, None, at + i as i64)).collect();
    let ids: Vec<String> = batch.iter().map(|e| e.run_id.clone()).collect();
    store.accept(batch).await.expect("accept");
    ids
}

fn step(run_id: &str, step_id: &str, status: StepStatus) -> StepResult {
    StepResult {
        run_id: run_id.into(),
        step_id: step_id.into(),
        status,
        output: (status == StepStatus::Succeeded).then(|| json!({"id": step_id})),
        error: (status == StepStatus::Failed).then(|| json!({"message": "nope"})),
        finished_at: T0 + 10,
    }
}

/// The first attempt of `step_id` (no item, round 0) with `input`.
fn first_attempt(run_id: &str, step_id: &str, input: Value) -> NewAttempt {
    NewAttempt {
        run_id: run_id.into(),
        step_id: step_id.into(),
        item: None,
        attempt: 1,
        round: 0,
        input,
        started_at: T0,
    }
}

// ---------------------------------------------------------------- cases

async fn accept_and_dedupe(db: Db) {
    let store = db.open().await;
    // Within one batch: the first event with a key wins; keys are per workflow.
    let batch = vec![
        event(1, "wf", Some("k1"), T0),
        event(2, "wf", Some("k1"), T0 + 1),
        event(3, "wf", Some("k2"), T0 + 2),
        event(4, "other", Some("k1"), T0 + 3),
        event(5, "wf", None, T0 + 4),
    ];
    let got = store.accept(batch).await.expect("accept");
    assert_eq!(
        got,
        vec![
            queued("run-wf-1"),
            Accepted::Duplicate { run_id: Some("run-wf-1".into()) },
            queued("run-wf-3"),
            queued("run-other-4"),
            queued("run-wf-5"),
        ]
    );
    // A later batch: a stored key is a duplicate until it expires.
    let got = store
        .accept(vec![event(6, "wf", Some("k2"), T0 + 59_000), event(7, "wf", Some("k1"), T0 + 60_000)])
        .await
        .expect("accept");
    assert_eq!(got, vec![Accepted::Duplicate { run_id: Some("run-wf-3".into()) }, queued("run-wf-7")]);
    // k1 now belongs to run 7.
    let got = store.accept(vec![event(8, "wf", Some("k1"), T0 + 60_001)]).await.expect("accept");
    assert_eq!(got, vec![Accepted::Duplicate { run_id: Some("run-wf-7".into()) }]);

    // Events are recorded, duplicates included, payload kept as sent (key order too).
    let dup = store.event("ev-wf-2").await.expect("event").expect("stored");
    assert_eq!(dup.status, "duplicate");
    assert_eq!(dup.dedupe_key.as_deref(), Some("k1"));
    let first = store.event("ev-wf-1").await.expect("event").expect("stored");
    assert_eq!(first.status, "queued");
    assert_eq!(first.workflow_id, "wf");
    assert_eq!(first.trigger, "webhook");
    assert_eq!(first.received_at, T0);
    assert_eq!(serde_json::to_string(&first.payload["body"]).expect("json"), r#"{"n":1,"z":"last","a":"first"}"#);
    assert!(store.event("nope").await.expect("event").is_none());
    // No run for duplicates.
    assert!(store.run("run-wf-2").await.expect("run").is_none());
    let run = store.run("run-wf-1").await.expect("run").expect("run stored");
    assert_eq!(run.status, RunStatus::Queued);
    assert_eq!(run.event_id, "ev-wf-1");
    assert_eq!(run.workflow, version("wf", 1));
    assert_eq!(run.created_at, T0);

    // Purge: keys expired before `now` go; k1 (expires T0+120000) stays.
    let purged = store.purge_dedupe(T0 + 62_003).await.expect("purge");
    assert_eq!(purged, 2, "k2 and other/k1");
    assert_eq!(store.purge_dedupe(T0 + 62_003).await.expect("purge"), 0);
    let got = store.accept(vec![event(9, "wf", Some("k1"), T0 + 62_004)]).await.expect("accept");
    assert_eq!(got, vec![Accepted::Duplicate { run_id: Some("run-wf-7".into()) }]);
    assert_eq!(store.accept(Vec::new()).await.expect("empty batch"), Vec::<Accepted>::new());
}

/// Two processes accepting the same keys at once (on PostgreSQL each
/// accept is first tried as one statement that assumes its keys are new):
/// per key exactly one run, the other event a duplicate naming it, both
/// events stored.
async fn the_same_key_from_two_handles_starts_one_run(db: Db) {
    let (a, b) = (db.open().await, db.open().await);
    for round in 0..20 {
        let key = format!("k{round}");
        let at = T0 + round as i64;
        let (x, y) = tokio::join!(
            a.accept(vec![event(round, "wf", Some(&key), at)]),
            b.accept(vec![event(round + 100, "wf", Some(&key), at)])
        );
        let got = [x.expect("accept a").remove(0), y.expect("accept b").remove(0)];
        let runs: Vec<&str> = got
            .iter()
            .filter_map(|g| match g {
                Accepted::Queued { run_id } => Some(run_id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(runs.len(), 1, "round {round}: {got:?}");
        assert!(got.contains(&Accepted::Duplicate { run_id: Some(runs[0].to_owned()) }), "round {round}: {got:?}");
        for id in [format!("ev-wf-{round}"), format!("ev-wf-{}", round + 100)] {
            assert!(a.event(&id).await.expect("event").is_some(), "{id} stored");
        }
    }
    assert_eq!(a.depth().await.expect("depth").queued, 20);
}

async fn raw_bodies_round_trip_byte_exact(db: Db) {
    let store = db.open().await;
    // Odd whitespace (tab, CRLF, trailing spaces), keys out of order, an
    // escaped and a raw non-ASCII character: a re-serialised body would differ.
    let json_body = "{ \"z\" :1,\t\"a\":  [ 2 ,3 ]\r\n, \"n\":\"\\u00e9é\"  }  \n".as_bytes().to_vec();
    // Not UTF-8 at all, with a NUL.
    let binary = vec![0xff, 0xfe, 0x00, b'{', 0x80, b'}', 0xc3];
    let mut with_json = event(1, "wf", Some("k"), T0);
    with_json.raw_body = Some(json_body.clone());
    let mut with_binary = event(2, "wf", None, T0 + 1);
    with_binary.raw_body = Some(binary.clone());
    // A duplicate keeps its own bytes too.
    let mut duplicate = event(3, "wf", Some("k"), T0 + 2);
    duplicate.raw_body = Some(b"{\"dup\":true}".to_vec());
    let without = event(4, "wf", None, T0 + 3);
    let got = store.accept(vec![with_json, with_binary, duplicate, without]).await.expect("accept");
    assert_eq!(got[2], Accepted::Duplicate { run_id: Some("run-wf-1".into()) });
    let raw = |id: &'static str| {
        let store = store.clone();
        async move { store.event(id).await.expect("event").expect("stored").raw_body }
    };
    assert_eq!(raw("ev-wf-1").await, Some(json_body));
    assert_eq!(raw("ev-wf-2").await, Some(binary));
    assert_eq!(raw("ev-wf-3").await.as_deref(), Some(&b"{\"dup\":true}"[..]));
    assert_eq!(raw("ev-wf-4").await, None);
    // The raw bytes stay out of the record's JSON (they may hold personal data).
    let rec = store.event("ev-wf-1").await.expect("event").expect("stored");
    let shown = serde_json::to_value(&rec).expect("json");
    assert!(shown.get("raw_body").is_none(), "{shown}");
}

async fn ignored_events(db: Db) {
    let store = db.open().await;
    let mut ignored = event(1, "wf", Some("k"), T0);
    ignored.start_run = false;
    let got = store.accept(vec![ignored, event(2, "wf", Some("k"), T0 + 1)]).await.expect("accept");
    assert_eq!(got, vec![Accepted::Ignored { event_id: "ev-wf-1".into() }, Accepted::Duplicate { run_id: None }]);
    let rec = store.event("ev-wf-1").await.expect("event").expect("stored");
    assert_eq!(rec.status, "ignored");
    assert!(store.run("run-wf-1").await.expect("run").is_none());
    assert_eq!(store.depth().await.expect("depth"), QueueDepth::default());
    assert!(store.claim("w", T0 + 10, LEASE, 10).await.expect("claim").is_empty());
}

async fn claim_lease_heartbeat_and_expiry(db: Db) {
    let store = db.open().await;
    let ids = seed(&*store, "wf", 3).await;
    let now = T0 + 100;
    assert!(store.claim("w1", now, LEASE, 0).await.expect("claim 0").is_empty());
    assert!(store.claim("w1", T0 - 1, LEASE, 10).await.expect("claim").is_empty(), "not available yet");

    let first = store.claim("w1", now, LEASE, 2).await.expect("claim");
    assert_eq!(first.iter().map(|c| c.run_id.clone()).collect::<Vec<_>>(), ids[..2].to_vec(), "oldest first");
    let c0 = &first[0];
    assert_eq!(c0.workflow, version("wf", 1));
    assert_eq!(c0.event["body"]["n"], json!(0));
    assert_eq!(c0.retries, 0);
    assert_eq!(c0.created_at, T0);
    assert!(first.iter().all(|c| c.fresh), "a first claim has nothing recorded to read back");
    let run = store.run(&ids[0]).await.expect("run").expect("exists");
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.started_at, Some(now));

    let second = store.claim("w2", now, LEASE, 10).await.expect("claim");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].run_id, ids[2]);
    assert!(store.claim("w3", now, LEASE, 10).await.expect("claim").is_empty(), "all leased");
    assert_eq!(store.depth().await.expect("depth"), QueueDepth { queued: 0, running: 3 });

    // Heartbeat: only runs the worker holds.
    let mut held = store.heartbeat("w1", &ids, now + 20_000, LEASE).await.expect("heartbeat");
    held.sort();
    assert_eq!(held, ids[..2].to_vec());
    // w1's leases now end at now+50s; w2's at now+30s.
    let later = now + LEASE + 1;
    let reclaimed = store.claim("w3", later, LEASE, 10).await.expect("claim");
    assert_eq!(reclaimed.iter().map(|c| c.run_id.clone()).collect::<Vec<_>>(), vec![ids[2].clone()]);
    assert!(store.heartbeat("w2", &ids, later, LEASE).await.expect("heartbeat").is_empty(), "w2 lost its lease");
    let much_later = now + 20_000 + LEASE + 1;
    let reclaimed = store.claim("w3", much_later, LEASE, 10).await.expect("claim");
    assert_eq!(reclaimed.len(), 2, "w1's expired leases are reclaimed");
    assert!(reclaimed.iter().all(|c| !c.fresh), "a reclaimed run may have attempts to read back");
    // The reclaimed run keeps its first start time.
    let run = store.run(&ids[0]).await.expect("run").expect("exists");
    assert_eq!(run.started_at, Some(now));
    assert!(!store.finish("w1", &ids[0], ok_outcome(much_later)).await.expect("finish"), "w1 lost it");
    assert!(store.finish("w3", &ids[0], ok_outcome(much_later)).await.expect("finish"));
    assert_eq!(store.depth().await.expect("depth"), QueueDepth { queued: 0, running: 2 });
}

async fn concurrent_claimers_never_share_a_run(db: Db) {
    let a = db.open().await;
    let b = db.open().await;
    let total = 300;
    let mut all: Vec<NewEvent> = (0..total).map(|i| event(i, "wf", None, T0)).collect();
    while !all.is_empty() {
        let rest = all.split_off(all.len().min(100));
        a.accept(all).await.expect("accept");
        all = rest;
    }
    async fn drain(store: Arc<dyn Store>, worker: &'static str) -> Vec<String> {
        let mut mine = Vec::new();
        let mut empty = 0;
        while empty < 3 {
            let got = store.claim(worker, T0 + 1, LEASE, 7).await.expect("claim");
            if got.is_empty() {
                empty += 1;
            } else {
                empty = 0;
                mine.extend(got.into_iter().map(|c| c.run_id));
            }
        }
        mine
    }
    // Warm both pools up so that both claimers start at once.
    a.depth().await.expect("depth");
    b.depth().await.expect("depth");
    let (x, y) = tokio::join!(tokio::spawn(drain(a.clone(), "wa")), tokio::spawn(drain(b.clone(), "wb")));
    let (x, y) = (x.expect("claimer a"), y.expect("claimer b"));
    let sx: HashSet<&String> = x.iter().collect();
    let sy: HashSet<&String> = y.iter().collect();
    assert_eq!(sx.len(), x.len(), "a got a run twice");
    assert_eq!(sy.len(), y.len(), "b got a run twice");
    assert!(sx.is_disjoint(&sy), "a run was given to both claimers");
    assert_eq!(sx.len() + sy.len(), total);
    eprintln!("claimer a: {} runs, claimer b: {} runs", x.len(), y.len());
}

async fn requeue_with_future_availability(db: Db) {
    let store = db.open().await;
    let ids = seed(&*store, "wf", 1).await;
    let now = T0 + 100;
    store.claim("w1", now, LEASE, 1).await.expect("claim");
    let err = store.requeue("w2", &ids[0], now + 5_000).await.expect_err("not the holder");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    store.requeue("w1", &ids[0], now + 5_000).await.expect("requeue");
    assert_eq!(store.run(&ids[0]).await.expect("run").expect("exists").status, RunStatus::Queued);
    assert_eq!(store.depth().await.expect("depth"), QueueDepth { queued: 1, running: 0 });
    assert!(store.claim("w2", now + 4_999, LEASE, 10).await.expect("claim").is_empty(), "backoff not over");
    let got = store.claim("w2", now + 5_000, LEASE, 10).await.expect("claim");
    assert_eq!(got.len(), 1);
    assert!(!store.finish("w1", &ids[0], ok_outcome(now)).await.expect("finish"));
    assert!(store.finish("w2", &ids[0], ok_outcome(now + 6_000)).await.expect("finish"));
    let err = store.requeue("w2", &ids[0], now).await.expect_err("finished runs are not requeued");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

async fn finish_rules(db: Db) {
    let store = db.open().await;
    let ids = seed(&*store, "wf", 2).await;
    let now = T0 + 100;
    assert!(!store.finish("w1", &ids[0], ok_outcome(now)).await.expect("finish"), "not claimed at all");
    store.claim("w1", now, LEASE, 2).await.expect("claim");
    let bad = RunOutcome { status: RunStatus::Queued, error: None, finished_at: now };
    assert!(matches!(store.finish("w1", &ids[0], bad).await, Err(StoreError::Conflict(_))));
    assert!(!store.finish("intruder", &ids[0], ok_outcome(now)).await.expect("finish"));
    assert_eq!(store.run(&ids[0]).await.expect("run").expect("exists").status, RunStatus::Running);
    assert!(store.finish("w1", &ids[0], ok_outcome(now + 1)).await.expect("finish"));
    assert!(store.finish("w1", &ids[1], failed_outcome(now + 2)).await.expect("finish"));
    assert!(!store.finish("w1", &ids[1], ok_outcome(now + 3)).await.expect("finish"), "once only");
    let ok = store.run(&ids[0]).await.expect("run").expect("exists");
    assert_eq!((ok.status, ok.finished_at, ok.error), (RunStatus::Succeeded, Some(now + 1), None));
    let failed = store.run(&ids[1]).await.expect("run").expect("exists");
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.error, Some(json!({"step": "send", "message": "boom"})));
    assert_eq!(store.depth().await.expect("depth"), QueueDepth::default());
}

/// A binary value in an attempt's input and output and in a step result is
/// kept once (by hash): attempts show references, results (what a resumed
/// run reads) get the bytes back, and `blob` serves them.
async fn binary_values_are_stored_once_and_read_back_byte_exact(db: Db) {
    use reqflow_engine::value::binary::Binary;
    let store = db.open().await;
    let ids = seed(&*store, "wf", 1).await;
    let run = &ids[0];
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let bin = Binary::new("application/pdf", bytes.clone()).named(Some("r.pdf".into()));
    let output = json!({ "status": 200, "body": bin.to_value() });
    let attempt = |step: &str, input: serde_json::Value| first_attempt(run, step, input);
    let id = store.start_attempt(attempt("fetch", json!({"url": "https://x/r.pdf"}))).await.expect("start");
    let end = AttemptEnd { succeeded: true, output: Some(output.clone()), error: None, finished_at: T0 + 1 };
    let result = StepResult {
        run_id: run.clone(),
        step_id: "fetch".into(),
        status: StepStatus::Succeeded,
        output: Some(output.clone()),
        error: None,
        finished_at: T0 + 1,
    };
    store.end_attempt(AttemptWrite::Started { id, end }, Some(result)).await.expect("end");
    // A later step takes it as input (the same bytes: no second copy).
    let id = store.start_attempt(attempt("attach", json!({"content": bin.to_value()}))).await.expect("start");
    store
        .finish_attempt(id, AttemptEnd { succeeded: true, output: Some(json!({})), error: None, finished_at: T0 + 2 })
        .await
        .expect("finish");

    let results = store.results(run).await.expect("results");
    assert_eq!(results[0].output.as_ref(), Some(&output), "results carry the bytes back");
    let attempts = store.attempts(run).await.expect("attempts");
    let body = attempts[0].output.as_ref().expect("output")["body"].clone();
    assert!(body.get("data").is_none(), "attempts hold a reference: {body}");
    assert_eq!(body["sha256"], bin.sha256());
    assert!(attempts[1].input["content"].get("data").is_none(), "so does an input");
    let mut filled = attempts[0].output.clone().expect("output");
    reqflow_engine::store::fill_binary(&*store, &mut filled).await.expect("fill");
    assert_eq!(filled, output, "a reader of attempts gets the bytes back on demand");
    let blob = store.blob(&bin.sha256()).await.expect("blob").expect("kept");
    assert_eq!(blob.bytes, bytes);
    assert_eq!(blob.content_type, "application/pdf");
    assert!(store.blob("0000").await.expect("blob").is_none());
}

/// Retention deletes a purged run's blobs unless a remaining run refers to
/// the same bytes; a write for a run already gone leaves no blob behind.
async fn purge_deletes_the_blobs_no_run_refers_to(db: Db) {
    use reqflow_engine::value::binary::Binary;
    let store = db.open().await;
    let ids = seed(&*store, "wf", 2).await;
    let own = Binary::new("application/pdf", b"own report of run 0".to_vec());
    let shared = Binary::new("application/pdf", b"a report both runs fetched".to_vec());
    let result = |run: &str, output: serde_json::Value| StepResult {
        run_id: run.into(),
        step_id: "fetch".into(),
        status: StepStatus::Succeeded,
        output: Some(output),
        error: None,
        finished_at: T0 + 10,
    };
    store.record_result(result(&ids[0], json!({"a": own.to_value(), "b": shared.to_value()}))).await.expect("result");
    store.record_result(result(&ids[1], json!({"b": shared.to_value()}))).await.expect("result");
    store.claim("w1", T0 + 50, LEASE, 2).await.expect("claim");
    assert!(store.finish("w1", &ids[0], ok_outcome(T0 + 100)).await.expect("finish"));
    let scope = PurgeScope { before: T0 + 1_000, workflow_id: None, except: Vec::new(), after: None };
    let batch = store.purge(scope.clone(), 100).await.expect("purge");
    assert_eq!((batch.runs, batch.kept), (1, 1), "{batch:?}");
    assert!(store.blob(&own.sha256()).await.expect("blob").is_none(), "the purged run's own blob is gone");
    assert!(store.blob(&shared.sha256()).await.expect("blob").is_some(), "the blob run 1 refers to is kept");
    let late = Binary::new("application/pdf", b"written after the run was purged".to_vec());
    assert!(!store.record_result(result(&ids[0], json!({"c": late.to_value()}))).await.expect("result"));
    assert!(store.blob(&late.sha256()).await.expect("blob").is_none(), "no blob for a run that is gone");
    assert!(store.finish("w1", &ids[1], ok_outcome(T0 + 100)).await.expect("finish"));
    let batch = store.purge(scope, 100).await.expect("purge");
    assert_eq!(batch.runs, 1, "{batch:?}");
    assert!(store.blob(&shared.sha256()).await.expect("blob").is_none(), "the last reference gone, the blob goes");
}

async fn steps_attempts_and_results(db: Db) {
    let store = db.open().await;
    let ids = seed(&*store, "wf", 1).await;
    let run = &ids[0];
    let attempt = |step: &str, item: Option<u32>, n: u32| NewAttempt {
        run_id: run.clone(),
        step_id: step.into(),
        item,
        attempt: n,
        round: 0,
        input: json!({"to": "***", "n": n}),
        started_at: T0 + i64::from(n),
    };
    let a1 = store.start_attempt(attempt("send", None, 1)).await.expect("start");
    let a2 = store.start_attempt(attempt("send", None, 2)).await.expect("start");
    let a3 = store.start_attempt(attempt("each", Some(4), 1)).await.expect("start");
    assert!(a1 < a2 && a2 < a3);
    store
        .finish_attempt(
            a1,
            AttemptEnd { succeeded: false, output: None, error: Some(json!({"message": "503"})), finished_at: T0 + 5 },
        )
        .await
        .expect("finish attempt");
    store
        .finish_attempt(
            a2,
            AttemptEnd { succeeded: true, output: Some(json!({"id": 7})), error: None, finished_at: T0 + 6 },
        )
        .await
        .expect("finish attempt");
    let missing = store
        .finish_attempt(a3 + 1000, AttemptEnd { succeeded: true, output: None, error: None, finished_at: T0 })
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");

    let attempts = store.attempts(run).await.expect("attempts");
    assert_eq!(attempts.iter().map(|a| a.id).collect::<Vec<_>>(), vec![a1, a2, a3]);
    assert_eq!(attempts[0].status, "failed");
    assert_eq!(attempts[0].error, Some(json!({"message": "503"})));
    assert_eq!(attempts[0].finished_at, Some(T0 + 5));
    assert_eq!(attempts[1].status, "succeeded");
    assert_eq!(attempts[1].output, Some(json!({"id": 7})));
    assert_eq!(attempts[1].attempt, 2);
    assert_eq!(attempts[1].input, json!({"to": "***", "n": 2}));
    assert_eq!(attempts[2].status, "running");
    assert_eq!(attempts[2].item, Some(4));
    assert_eq!(attempts[2].finished_at, None);
    assert!(store.attempts("other").await.expect("attempts").is_empty());

    assert!(store.record_result(step(run, "send", StepStatus::Succeeded)).await.expect("record"));
    let mut again = step(run, "send", StepStatus::Failed);
    again.finished_at = T0 + 99;
    assert!(!store.record_result(again).await.expect("record"), "the first result wins");
    assert!(store.record_result(step(run, "skipme", StepStatus::Skipped)).await.expect("record"));
    let results = store.results(run).await.expect("results");
    assert_eq!(results.len(), 2);
    let send = results.iter().find(|r| r.step_id == "send").expect("send");
    assert_eq!(send.status, StepStatus::Succeeded);
    assert_eq!(send.output, Some(json!({"id": "send"})));
    assert_eq!(send.finished_at, T0 + 10);
    assert_eq!(send.run_id, *run);
}

async fn attempts_ended_with_their_result_in_one_write(db: Db) {
    let store = db.open().await;
    let ids = seed(&*store, "wf", 1).await;
    let run = &ids[0];
    let attempt = |step: &str, n: u32| NewAttempt {
        run_id: run.clone(),
        step_id: step.into(),
        item: None,
        attempt: n,
        round: 0,
        input: json!({"n": n}),
        started_at: T0 + i64::from(n),
    };
    let ok = |at: i64| AttemptEnd { succeeded: true, output: Some(json!({"at": at})), error: None, finished_at: at };
    // A step without side effects: the whole attempt and the result at once.
    let whole = AttemptWrite::Whole { attempt: attempt("map", 1), end: ok(T0 + 20) };
    assert!(store.end_attempt(whole, Some(step(run, "map", StepStatus::Succeeded))).await.expect("end"));
    // An action: started first, then its end with the result.
    let id = store.start_attempt(attempt("send", 1)).await.expect("start");
    let end = AttemptWrite::Started { id, end: ok(T0 + 30) };
    assert!(store.end_attempt(end, Some(step(run, "send", StepStatus::Succeeded))).await.expect("end"));
    // A result already recorded is kept (the attempt is still recorded).
    let again = AttemptWrite::Whole { attempt: attempt("map", 2), end: ok(T0 + 40) };
    assert!(!store.end_attempt(again, Some(step(run, "map", StepStatus::Failed))).await.expect("end"));
    // No result: only the attempt.
    let alone = AttemptWrite::Whole { attempt: attempt("later", 1), end: ok(T0 + 50) };
    assert!(!store.end_attempt(alone, None).await.expect("end"));
    // An unknown attempt writes nothing, not even the result.
    let unknown = AttemptWrite::Started { id: id + 1000, end: ok(T0) };
    let err = store.end_attempt(unknown, Some(step(run, "ghost", StepStatus::Succeeded))).await;
    assert!(matches!(err, Err(StoreError::NotFound(_))), "{err:?}");

    let attempts = store.attempts(run).await.expect("attempts");
    let seen: Vec<(&str, u32, &str, Option<i64>)> =
        attempts.iter().map(|a| (a.step_id.as_str(), a.attempt, a.status.as_str(), a.finished_at)).collect();
    assert_eq!(
        seen,
        vec![
            ("map", 1, "succeeded", Some(T0 + 20)),
            ("send", 1, "succeeded", Some(T0 + 30)),
            ("map", 2, "succeeded", Some(T0 + 40)),
            ("later", 1, "succeeded", Some(T0 + 50)),
        ]
    );
    assert_eq!(attempts[0].started_at, T0 + 1);
    assert_eq!(attempts[0].input, json!({"n": 1}));
    assert_eq!(attempts[0].output, Some(json!({"at": T0 + 20})));
    let results = store.results(run).await.expect("results");
    let mut steps: Vec<(&str, StepStatus)> = results.iter().map(|r| (r.step_id.as_str(), r.status)).collect();
    steps.sort_by_key(|(s, _)| s.to_string());
    assert_eq!(steps, vec![("map", StepStatus::Succeeded), ("send", StepStatus::Succeeded)]);
}

/// Attempt values and results that repeat the run's event body (SQLite
/// packs them with it) and of a run without a body read back as written,
/// through every write path.
async fn a_runs_values_read_back_whether_it_has_a_body_or_not(db: Db) {
    let store = db.open().await;
    let person = json!({"id": "27270063", "name": "Alan Perlman", "email": "alan.perlman@example.com",
                        "job": {"shortcode": "GROOV001", "title": "Software Engineer"}});
    let mut with_body = event(1, "wf", None, T0);
    with_body.raw_body =
        Some(serde_json::to_vec(&json!({"action": "candidate_created", "data": person})).expect("body"));
    let without = event(2, "wf", None, T0);
    store.accept(vec![with_body, without]).await.expect("accept");
    for run in ["run-wf-1", "run-wf-2"] {
        let mapped = json!({"id": "27270063", "name": "Alan Perlman", "email": "alan.perlman@example.com",
                            "job_shortcode": "GROOV001", "job_title": "Software Engineer"});
        let invite = json!({"method": "POST", "path": "/invites", "json": {"external_id": "27270063",
                            "name": "Alan Perlman", "email": "alan.perlman@example.com", "role": "Software Engineer"}});
        let response = json!({"status": 201, "headers": {"content-type": "application/json"},
                              "body": {"id": "vnd-700", "status": "received"}});
        let attempt = |step: &str, input: Value| first_attempt(run, step, input);
        let end = |output: &Value| AttemptEnd {
            succeeded: true,
            output: Some(output.clone()),
            error: None,
            finished_at: T0 + 1,
        };
        let result = |step_id: &str, output: &Value| StepResult {
            output: Some(output.clone()),
            ..step(run, step_id, StepStatus::Succeeded)
        };
        let whole = AttemptWrite::Whole { attempt: attempt("candidate", Value::Null), end: end(&mapped) };
        assert!(store.end_attempt(whole, Some(result("candidate", &mapped))).await.expect("end"));
        let id = store.start_attempt(attempt("invite", invite.clone())).await.expect("start");
        store.finish_attempt(id, end(&response)).await.expect("finish");
        assert!(store.record_result(result("invite", &response)).await.expect("result"));

        let attempts = store.attempts(run).await.expect("attempts");
        let values: Vec<(&str, &Value, Option<&Value>)> =
            attempts.iter().map(|a| (a.step_id.as_str(), &a.input, a.output.as_ref())).collect();
        assert_eq!(
            values,
            vec![("candidate", &Value::Null, Some(&mapped)), ("invite", &invite, Some(&response))],
            "{run}"
        );
        let mut results: Vec<(String, Option<Value>)> =
            store.results(run).await.expect("results").into_iter().map(|r| (r.step_id, r.output)).collect();
        results.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(results, vec![("candidate".into(), Some(mapped)), ("invite".into(), Some(response))], "{run}");
    }
}

async fn pending_progress_goes_with_the_next_write(db: Db) {
    let store = db.open().await;
    let ids = seed(&*store, "wf", 2).await;
    let claimed = store.claim("w1", T0 + 1, LEASE, 2).await.expect("claim");
    assert_eq!(claimed.len(), 2);
    let run = &ids[0];
    let attempt = |step: &str| NewAttempt {
        run_id: run.clone(),
        step_id: step.into(),
        item: None,
        attempt: 1,
        round: 0,
        input: json!({"step": step}),
        started_at: T0 + 2,
    };
    let ok = |at: i64| AttemptEnd { succeeded: true, output: Some(json!({"at": at})), error: None, finished_at: at };
    // A map step's whole attempt and result, and a skipped step, go with the
    // next action's start.
    let pending = vec![
        Progress::EndAttempt {
            write: AttemptWrite::Whole { attempt: attempt("map"), end: ok(T0 + 3) },
            result: Some(step(run, "map", StepStatus::Succeeded)),
        },
        Progress::Result(step(run, "skipped", StepStatus::Skipped)),
    ];
    let send = store.start_attempt_after(pending, attempt("send")).await.expect("start after");
    let steps_of = |results: Vec<StepResult>| {
        let mut v: Vec<(String, StepStatus)> = results.into_iter().map(|r| (r.step_id, r.status)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(
        steps_of(store.results(run).await.expect("results")),
        vec![("map".into(), StepStatus::Succeeded), ("skipped".into(), StepStatus::Skipped)]
    );
    let statuses = |a: Vec<AttemptRecord>| a.into_iter().map(|a| (a.step_id, a.status)).collect::<Vec<_>>();
    assert_eq!(
        statuses(store.attempts(run).await.expect("attempts")),
        vec![("map".into(), "succeeded".into()), ("send".into(), "running".into())]
    );

    // The action's end and result go with the run's end.
    let pending = vec![Progress::EndAttempt {
        write: AttemptWrite::Started { id: send, end: ok(T0 + 4) },
        result: Some(step(run, "send", StepStatus::Succeeded)),
    }];
    assert!(store.finish_after(pending, "w1", run, ok_outcome(T0 + 5)).await.expect("finish after"));
    let record = store.run(run).await.expect("run").expect("exists");
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(statuses(store.attempts(run).await.expect("attempts"))[1], ("send".into(), "succeeded".into()));
    assert_eq!(steps_of(store.results(run).await.expect("results")).len(), 3);

    // All or nothing: a pending write that fails (an unknown attempt) takes
    // the writes before it and the write it went with along.
    let other = &ids[1];
    let pending = vec![
        Progress::Result(step(other, "early", StepStatus::Succeeded)),
        Progress::EndAttempt { write: AttemptWrite::Started { id: send + 1000, end: ok(T0) }, result: None },
    ];
    let err = store.requeue_after(pending, "w1", other, T0 + 60_000).await;
    assert!(matches!(err, Err(StoreError::NotFound(_))), "{err:?}");
    assert!(store.results(other).await.expect("results").is_empty(), "nothing of the failed write is kept");
    assert_eq!(store.run(other).await.expect("run").expect("exists").status, RunStatus::Running, "not requeued");
    // Without a failing write, the requeue takes the pending result along.
    let pending = vec![Progress::Result(step(other, "early", StepStatus::Succeeded))];
    store.requeue_after(pending, "w1", other, T0 + 60_000).await.expect("requeue after");
    assert_eq!(store.run(other).await.expect("run").expect("exists").status, RunStatus::Queued);
    assert_eq!(store.results(other).await.expect("results").len(), 1);
}

async fn retry_failed_runs(db: Db) {
    let store = db.open().await;
    let ids = seed(&*store, "wf", 2).await;
    let run = &ids[0];
    let now = T0 + 100;
    let err = store.retry(run, None, Vec::new(), now).await.expect_err("queued runs are not retried");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(matches!(store.retry("nope", None, Vec::new(), now).await, Err(StoreError::NotFound(_))));

    store.claim("w", now, LEASE, 2).await.expect("claim");
    for (s, status) in [("a", StepStatus::Succeeded), ("b", StepStatus::Failed), ("c", StepStatus::Skipped)] {
        store.record_result(step(run, s, status)).await.expect("record");
    }
    assert!(matches!(store.retry(run, None, Vec::new(), now).await, Err(StoreError::Conflict(_))), "running");
    store.finish("w", run, failed_outcome(now + 1)).await.expect("finish");
    store.finish("w", &ids[1], ok_outcome(now + 1)).await.expect("finish");
    assert!(matches!(store.retry(&ids[1], None, Vec::new(), now).await, Err(StoreError::Conflict(_))), "succeeded");
    let other = version("other", 1);
    assert!(
        matches!(store.retry(run, Some(other), Vec::new(), now).await, Err(StoreError::Conflict(_))),
        "other workflow"
    );

    let record = store.retry(run, None, Vec::new(), now + 2).await.expect("retry");
    assert_eq!(record.status, RunStatus::Queued);
    assert_eq!(record.retries, 1);
    assert_eq!(record.error, None);
    assert_eq!(record.finished_at, None);
    assert_eq!(record.workflow, version("wf", 1));
    let kept: Vec<String> = store.results(run).await.expect("results").into_iter().map(|r| r.step_id).collect();
    assert_eq!(kept, vec!["a".to_owned()], "failed and skipped results are removed");
    assert!(matches!(store.retry(run, None, Vec::new(), now).await, Err(StoreError::Conflict(_))), "already queued");

    let claimed = store.claim("w", now + 2, LEASE, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].retries, 1);
    store.finish("w", run, failed_outcome(now + 3)).await.expect("finish");
    // A retry may move the run to another version of its workflow.
    let v2 = version("wf", 2);
    // ... and re-run succeeded steps named (the ones a fix changed).
    let record = store.retry(run, Some(v2.clone()), vec!["a".into()], now + 4).await.expect("retry");
    assert_eq!((record.retries, record.workflow.clone()), (2, v2.clone()));
    assert!(store.results(run).await.expect("results").is_empty(), "the named succeeded step's result is removed");
    let claimed = store.claim("w", now + 4, LEASE, 10).await.expect("claim");
    assert_eq!(claimed[0].workflow, v2);
}

async fn runs_filter_and_paging(db: Db) {
    let store = db.open().await;
    let a = seed(&*store, "alpha", 5).await;
    let b = seed_at(&*store, "beta", 3, T0 + 10).await;
    store.claim("w", T0 + 100, LEASE, 2).await.expect("claim"); // alpha-0, alpha-1 (oldest due first)
    store.finish("w", &a[0], failed_outcome(T0 + 101)).await.expect("finish");

    let all = store.runs(RunFilter::default()).await.expect("runs");
    assert_eq!(all.len(), 8);
    let ids: Vec<&str> = all.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids[0], b[2], "newest first");
    assert_eq!(ids[7], a[0]);

    let alpha = store.runs(RunFilter { workflow_id: Some("alpha".into()), ..Default::default() }).await.expect("runs");
    assert_eq!(alpha.iter().map(|r| r.run_id.clone()).rev().collect::<Vec<_>>(), a);
    let failed = store.runs(RunFilter { status: Some(RunStatus::Failed), ..Default::default() }).await.expect("runs");
    assert_eq!(failed.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), vec![a[0].as_str()]);
    let running = store
        .runs(RunFilter { workflow_id: Some("alpha".into()), status: Some(RunStatus::Running), ..Default::default() })
        .await
        .expect("runs");
    assert_eq!(running.len(), 1);
    let window =
        store.runs(RunFilter { since: Some(T0 + 1), until: Some(T0 + 3), ..Default::default() }).await.expect("runs");
    // alpha-1 and alpha-2 were received at T0+1 and T0+2.
    assert_eq!(window.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), vec![a[2].as_str(), a[1].as_str()]);
    assert!(window.iter().all(|r| r.created_at > T0 && r.created_at < T0 + 3));

    // Keyset paging: pages of 3, no overlap, everything once.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page =
            store.runs(RunFilter { limit: Some(3), before: before.clone(), ..Default::default() }).await.expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        before = page.last().map(|r| r.run_id.clone());
        seen.extend(page.into_iter().map(|r| r.run_id));
    }
    assert_eq!(seen, all.iter().map(|r| r.run_id.clone()).collect::<Vec<_>>());
    let none = store.runs(RunFilter { limit: Some(0), ..Default::default() }).await.expect("runs");
    assert!(none.is_empty());
}

/// A workflow's runs by status since a time: other workflows and older runs are not counted.
async fn counts_since_by_workflow_and_time(db: Db) {
    let store = db.open().await;
    let early = seed_at(&*store, "a", 3, T0).await;
    let late_batch: Vec<NewEvent> = (100..102).map(|i| event(i, "a", None, T0 + 10_000 + i as i64 - 100)).collect();
    let late: Vec<String> = late_batch.iter().map(|e| e.run_id.clone()).collect();
    store.accept(late_batch).await.expect("accept");
    seed_at(&*store, "b", 4, T0 + 10_000).await;
    assert_eq!(store.claim("w", T0 + 20_000, LEASE, 100).await.expect("claim").len(), 9);
    store.finish("w", &late[0], failed_outcome(T0 + 20_100)).await.expect("finish");
    store.finish("w", &late[1], ok_outcome(T0 + 20_100)).await.expect("finish");
    store.finish("w", &early[0], failed_outcome(T0 + 20_100)).await.expect("finish");
    use RunStatus::{Failed, Queued, Running, Succeeded};
    let since = |wf: &'static str, t: i64| {
        let store = store.clone();
        async move { store.counts_since(wf, t).await.expect("counts_since") }
    };
    assert_eq!(since("a", T0 + 10_000).await, vec![(Queued, 0), (Running, 0), (Succeeded, 1), (Failed, 1)]);
    assert_eq!(since("a", T0).await, vec![(Queued, 0), (Running, 2), (Succeeded, 1), (Failed, 2)]);
    assert_eq!(since("b", T0 + 10_000).await, vec![(Queued, 0), (Running, 4), (Succeeded, 0), (Failed, 0)]);
    assert_eq!(since("b", T0 + 10_004).await, vec![(Queued, 0), (Running, 0), (Succeeded, 0), (Failed, 0)]);
    assert_eq!(since("nope", 0).await, vec![(Queued, 0), (Running, 0), (Succeeded, 0), (Failed, 0)]);
}

async fn counts_and_depth(db: Db) {
    let store = db.open().await;
    let empty = store.counts().await.expect("counts");
    assert_eq!(
        empty,
        vec![(RunStatus::Queued, 0), (RunStatus::Running, 0), (RunStatus::Succeeded, 0), (RunStatus::Failed, 0)]
    );
    let ids = seed(&*store, "wf", 5).await;
    store.claim("w", T0 + 100, LEASE, 3).await.expect("claim");
    store.finish("w", &ids[0], ok_outcome(T0 + 200)).await.expect("finish");
    store.finish("w", &ids[1], failed_outcome(T0 + 200)).await.expect("finish");
    let counts = store.counts().await.expect("counts");
    assert_eq!(
        counts,
        vec![(RunStatus::Queued, 2), (RunStatus::Running, 1), (RunStatus::Succeeded, 1), (RunStatus::Failed, 1)]
    );
    assert_eq!(store.depth().await.expect("depth"), QueueDepth { queued: 2, running: 1 });
}

/// Per-workflow queued runs: what `depth().queued` counts, split by
/// workflow (claimed runs leave it, requeued ones come back, ignored and
/// duplicate events add nothing).
async fn queued_by_workflow_counts_waiting_runs(db: Db) {
    let store = db.open().await;
    assert!(store.queued_by_workflow().await.expect("by workflow").is_empty());
    let a = seed(&*store, "a", 5).await;
    let claimed = store.claim("w", T0 + 100, LEASE, 2).await.expect("claim");
    assert_eq!(claimed.len(), 2);
    store.requeue("w", &claimed[0].run_id, T0 + 60_000).await.expect("requeue");
    store.finish("w", &claimed[1].run_id, ok_outcome(T0 + 200)).await.expect("finish");
    seed_at(&*store, "b", 3, T0 + 1_000).await;
    let mut ignored = event(0, "c", None, T0);
    ignored.start_run = false;
    let mut dup = event(10, "b", Some("k"), T0);
    let first = event(11, "b", Some("k"), T0);
    dup.event_id = "ev-b-dup".into();
    dup.run_id = "run-b-dup".into();
    store.accept(vec![ignored, first, dup]).await.expect("accept");
    let mut by = store.queued_by_workflow().await.expect("by workflow");
    by.sort();
    assert_eq!(by, vec![("a".to_owned(), 4), ("b".to_owned(), 4)], "a: {a:?}");
    let total: u64 = by.iter().map(|(_, n)| n).sum();
    assert_eq!(store.depth().await.expect("depth").queued, total);
}

async fn schedule_slots_once_across_handles(db: Db) {
    let a = db.open().await;
    let b = db.open().await;
    assert_eq!(a.last_slot("nightly").await.expect("last slot"), None);
    for slot in [T0, T0 + 60_000, T0 + 120_000] {
        let (x, y) = tokio::join!(a.claim_slot("nightly", slot), b.claim_slot("nightly", slot));
        let (x, y) = (x.expect("claim a"), y.expect("claim b"));
        assert!(x ^ y, "slot {slot}: exactly one claimer wins (a={x}, b={y})");
        assert!(!a.claim_slot("nightly", slot).await.expect("again"));
    }
    assert!(a.claim_slot("other", T0).await.expect("other workflow"), "slots are per workflow");
    assert_eq!(b.last_slot("nightly").await.expect("last slot"), Some(T0 + 120_000));

    // previous_success_at: when the last successful scheduled run was scheduled.
    assert_eq!(a.last_success("nightly").await.expect("last success"), None);
    let mut scheduled: Vec<NewEvent> = (0..3).map(|i| event(i, "nightly", None, T0 + 60_000 * i as i64)).collect();
    for e in &mut scheduled {
        e.trigger = "schedule".into();
    }
    let mut manual = event(9, "nightly", None, T0 + 500_000);
    manual.trigger = "manual".into();
    scheduled.push(manual);
    a.accept(scheduled).await.expect("accept");
    let claimed = a.claim("w", T0 + 600_000, LEASE, 10).await.expect("claim");
    assert_eq!(claimed.len(), 4);
    a.finish("w", "run-nightly-0", ok_outcome(T0 + 600_001)).await.expect("finish");
    a.finish("w", "run-nightly-1", ok_outcome(T0 + 600_002)).await.expect("finish");
    a.finish("w", "run-nightly-2", failed_outcome(T0 + 600_003)).await.expect("finish");
    a.finish("w", "run-nightly-9", ok_outcome(T0 + 600_004)).await.expect("finish");
    assert_eq!(b.last_success("nightly").await.expect("last success"), Some(T0 + 60_000));
}

async fn workflow_sources(db: Db) {
    let store = db.open().await;
    let v = version("wf", 3);
    assert_eq!(store.workflow_source("wf", &v.hash).await.expect("source"), None);
    store.put_workflow(v.clone(), "id: wf\nversion: 3\n").await.expect("put");
    store.put_workflow(v.clone(), "ignored: the first source stays").await.expect("put again");
    assert_eq!(store.workflow_source("wf", &v.hash).await.expect("source").as_deref(), Some("id: wf\nversion: 3\n"));
    assert_eq!(store.workflow_source("other", &v.hash).await.expect("source"), None);
}

async fn workflow_versions_and_api_deployments(db: Db) {
    use reqflow_engine::store::ApiDeployment;
    let store = db.open().await;
    assert!(store.workflow_versions("wf").await.expect("versions").is_empty());
    let mut v2 = version("wf", 1);
    v2.hash = "b".repeat(64);
    let mut v1 = version("wf", 1);
    v1.hash = "c".repeat(64);
    // Stored in this order: listed in this order, whatever the hashes.
    store.put_workflow(v2.clone(), "id: wf\n# two\n").await.expect("put");
    store.put_workflow(v1.clone(), "id: wf\n# one\n").await.expect("put");
    store.put_workflow(v2.clone(), "again").await.expect("put again");
    store.put_workflow(version("other", 1), "id: other\n").await.expect("put other");
    let listed = store.workflow_versions("wf").await.expect("versions");
    let hashes: Vec<&str> = listed.iter().map(|v| v.hash.as_str()).collect();
    assert_eq!(hashes, [v2.hash.as_str(), v1.hash.as_str()]);
    assert!(listed.iter().all(|v| v.workflow_id == "wf" && v.version == 1 && v.stored_at.is_some()), "{listed:?}");

    assert!(store.api_deployments().await.expect("deployments").is_empty());
    let d = |hash: &str, at: i64| ApiDeployment {
        workflow_id: "wf".into(),
        hash: hash.into(),
        deployed_at: at,
        actor: "token:builder".into(),
    };
    store.put_api_deployment(d(&v2.hash, 10)).await.expect("deploy");
    store.put_api_deployment(d(&v1.hash, 20)).await.expect("deploy again");
    let deployed = store.api_deployments().await.expect("deployments");
    assert_eq!(deployed, vec![(d(&v1.hash, 20), "id: wf\n# one\n".to_owned())]);
}

async fn shared_state_across_handles(db: Db) {
    let a = db.open().await;
    let b = db.open().await;
    assert_eq!(a.get("oauth:workday").await.expect("get"), None);
    let token = json!({"access_token": "t-1", "expires_at": T0});
    a.put("oauth:workday", token.clone()).await.expect("put");
    assert_eq!(b.get("oauth:workday").await.expect("get"), Some(token));
    b.put("oauth:workday", json!({"access_token": "t-2"})).await.expect("put");
    assert_eq!(a.get("oauth:workday").await.expect("get"), Some(json!({"access_token": "t-2"})));
    // The store's Debug output never shows stored values or connection secrets.
    let shown = format!("{a:?}");
    assert!(!shown.contains("t-2") && !shown.contains("password"), "{shown}");
}

async fn migrations_are_idempotent_on_reopen(db: Db) {
    let ids = {
        let store = db.open().await;
        seed(&*store, "wf", 2).await
    };
    for _ in 0..2 {
        let store = db.open().await;
        let run = store.run(&ids[1]).await.expect("run").expect("kept across reopen");
        assert_eq!(run.status, RunStatus::Queued);
        assert_eq!(store.depth().await.expect("depth").queued, 2);
    }
    // Two handles opening at once (two processes starting together).
    let (x, y) = tokio::join!(db.open(), db.open());
    assert_eq!(x.counts().await.expect("counts"), y.counts().await.expect("counts"));
}

async fn wait_for_work_is_woken_by_accept(db: Db) {
    let store = db.open().await;
    let idle = Instant::now();
    store.wait_for_work(200).await; // may return at once for a pending wake-up
    store.wait_for_work(200).await;
    assert!(idle.elapsed() >= Duration::from_millis(150), "nothing happened, so the wait times out");

    let waiter = {
        let store = store.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            store.wait_for_work(20_000).await;
            t.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    seed(&*store, "wf", 1).await;
    let waited = waiter.await.expect("waiter");
    assert!(waited < Duration::from_secs(10), "woken by the accept, not the timeout ({waited:?})");
}

async fn a_failing_write_does_not_fail_concurrent_ones(db: Db) {
    let store = db.open().await;
    seed(&*store, "wf", 1).await; // ev-wf-0 exists
    let mut calls = tokio::task::JoinSet::new();
    for i in 1..=40 {
        let store = store.clone();
        calls.spawn(async move {
            // Call 20 reuses an existing event id: its batch must fail alone.
            let n = if i == 20 { 0 } else { i };
            let mut e = event(n, "wf", None, T0 + i as i64);
            e.run_id = format!("run-wf-x{i}");
            (i, store.accept(vec![e]).await)
        });
    }
    let mut ok = 0;
    while let Some(done) = calls.join_next().await {
        let (i, result) = done.expect("call");
        if i == 20 {
            assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}");
        } else {
            assert_eq!(result.expect("accepted"), vec![queued(&format!("run-wf-x{i}"))]);
            ok += 1;
        }
    }
    assert_eq!(ok, 39);
    assert_eq!(store.depth().await.expect("depth").queued, 40);
    assert!(store.run("run-wf-x20").await.expect("run").is_none());

    // The same for step writes sharing a group commit.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..20u32 {
        let store = store.clone();
        calls.spawn(async move {
            let r = StepResult {
                run_id: "run-wf-0".into(),
                step_id: format!("s{}", i % 10),
                status: StepStatus::Succeeded,
                output: Some(json!(i)),
                error: None,
                finished_at: T0,
            };
            store.record_result(r).await.expect("record")
        });
    }
    let mut inserted = 0;
    while let Some(done) = calls.join_next().await {
        inserted += usize::from(done.expect("call"));
    }
    assert_eq!(inserted, 10, "one result per step, whatever the interleaving");
    assert_eq!(store.results("run-wf-0").await.expect("results").len(), 10);
}

/// Says a test was skipped: on stderr, and as a line of the file named by
/// `REQFLOW_SKIP_LOG` (set by `scripts/test.sh`, which prints them all in its
/// summary, since `cargo test` hides the output of passing tests).
pub fn note_skipped(line: &str) {
    eprintln!("{line}");
    if let Ok(path) = std::env::var("REQFLOW_SKIP_LOG")
        && let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path)
    {
        use std::io::Write as _;
        let _ = writeln!(f, "{line}");
    }
}
