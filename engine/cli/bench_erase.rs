//! `reqflow bench erase`: how long erasing one subject takes in a big store.
//!
//! A fresh SQLite store is filled with bulk SQL (one transaction of
//! recursive inserts, not the accept path: the point is the size): N events
//! (default 1,000,000), each with its run, two attempts, two step results, a
//! dedupe key and a subject entry; `--subject-events` of them (default 1,000)
//! belong to one subject, the others each to their own. Then the subject is
//! erased through the engine (`Engine::erase_subject`, what `reqflow erase`
//! and `DELETE /api/subjects/{v}` call) and the wall time is printed, with
//! what was deleted; then the audit entry those write next is timed too: on
//! SQLite it waits for the checkpoint that copies the erasure's WAL pages
//! into the database file. The store's file is deleted afterwards.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use reqflow_engine::runtime::subjects::SubjectKey;
use reqflow_engine::runtime::{Engine, EngineConfig, Secrets, Settings};
use reqflow_engine::store::{AuditOutcome, NewAudit};
use serde_json::json;

#[derive(Args, Debug)]
pub(crate) struct EraseArgs {
    /// Events in the store.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Events of the subject erased (spread evenly among the others).
    #[arg(long, default_value_t = 1_000)]
    subject_events: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

const SUBJECT: &str = "erase-me@example.com";

pub(crate) fn run(args: EraseArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.subject_events > 0 && args.subject_events <= args.events,
        "--subject-events must be 1..=--events"
    );
    let dir = crate::bench_util::temp_dir("erase")?;
    let file = dir.join("erase.db");
    let url = format!("sqlite://{}", file.display());
    let rt = crate::serve::runtime()?;
    let result = rt.block_on(async {
        let store = reqflow_store::open(&url).await?;
        let hash = SubjectKey::resolve(&Secrets::new(), store.as_ref()).await?.hash(SUBJECT);
        let fill0 = Instant::now();
        let (n, every) = (args.events, args.events / args.subject_events);
        let path = file.clone();
        tokio::task::spawn_blocking(move || fill(&path, n, every, &hash)).await??;
        let fill_s = fill0.elapsed().as_secs_f64();
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let engine = Engine::new(store, Arc::new(crate::registry()), Settings::default(), EngineConfig::default());
        let t0 = Instant::now();
        let erasure = engine.erase_subject(SUBJECT).await?;
        let erase_ms = t0.elapsed().as_secs_f64() * 1000.0;
        // What `reqflow erase` and the API write next: the audit entry.
        let t1 = Instant::now();
        engine
            .store()
            .audit(NewAudit {
                at: reqflow_engine::runtime::clock::now_ms(),
                actor: "cli".into(),
                action: "subject.erase".into(),
                objects: vec![format!("subject:{}", erasure.subject_hash)],
                outcome: AuditOutcome::Ok,
                detail: json!({ "total": erasure.total }),
            })
            .await?;
        let audit_ms = t1.elapsed().as_secs_f64() * 1000.0;
        anyhow::Ok(json!({
            "events": args.events,
            "subject_events": args.subject_events,
            "store_bytes": size,
            "fill_s": fill_s,
            "erase_ms": erase_ms,
            "then_audit_ms": audit_ms,
            "deleted": erasure.deleted,
            "release_build": !cfg!(debug_assertions),
        }))
    });
    let _ = std::fs::remove_dir_all(&dir);
    let r = result?;
    if args.json {
        println!("{r}");
    } else {
        println!(
            "erasing one subject ({} of {} events) from a {:.0} MB SQLite store",
            args.subject_events,
            args.events,
            r["store_bytes"].as_f64().unwrap_or(0.0) / 1e6
        );
        println!("  erase: {:.1} ms (target ≤ 1,000 ms)", r["erase_ms"].as_f64().unwrap_or(0.0));
        println!(
            "  then the audit entry: {:.1} ms (after the checkpoint of the erasure's pages)",
            r["then_audit_ms"].as_f64().unwrap_or(0.0)
        );
        println!("  deleted: {}", r["deleted"]);
        println!("  (filled in {:.1} s; release build: {})", r["fill_s"].as_f64().unwrap_or(0.0), r["release_build"]);
    }
    Ok(ExitCode::SUCCESS)
}

/// Fills the store with bulk SQL: event `i` belongs to the subject when
/// `i % every == 0`.
fn fill(file: &std::path::Path, n: u64, every: u64, hash: &str) -> anyhow::Result<()> {
    let c = rusqlite::Connection::open(file).context("open the bench store")?;
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; BEGIN;
         INSERT INTO workflow_hashes (hash) VALUES ('h') ON CONFLICT DO NOTHING;",
    )?;
    let seq = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?1)";
    let stmts = [
        "INSERT INTO events (event_id, workflow_id, trigger, received_at, payload, dedupe_key, status, raw_body, run_id)
         SELECT 'e' || i, 'bench', 'webhook', 1785000000000 + i,
                '{\"headers\":{},\"query\":{},\"received_at\":\"2026-07-25T17:20:00.000Z\"}', 'k' || i, 'queued',
                CAST('{\"email\":\"person' || i || '@example.com\",\"name\":\"Person ' || i || '\"}' AS BLOB), 'r' || i
         FROM s",
        "INSERT INTO runs (seq, run_id, event_id, workflow_id, workflow_version, workflow_hash_id, status, created_at, started_at, finished_at)
         SELECT i, 'r' || i, 'e' || i, 'bench', 1, (SELECT id FROM workflow_hashes WHERE hash = 'h'), 'succeeded', 1785000000000 + i, 1785000000000 + i, 1785000000000 + i FROM s",
        "INSERT INTO attempts (run_seq, step_id, attempt, round, status, input, output, started_at, finished_at)
         SELECT i, step, 1, 0, 'succeeded', 'null', '{\"email\":\"person' || i || '@example.com\"}', 1785000000000 + i, 1785000000000 + i
         FROM s, (SELECT 'who' AS step UNION ALL SELECT 'invite')",
        "INSERT INTO step_results (run_seq, step_id, status, output, finished_at)
         SELECT i, step, 'succeeded', '{\"ok\":true}', 1785000000000 + i FROM s, (SELECT 'who' AS step UNION ALL SELECT 'invite')",
        "INSERT INTO dedupe (workflow_id, dedupe_key, event_id, run_id, expires_at) SELECT 'bench', 'k' || i, 'e' || i, 'r' || i, 9000000000000 FROM s",
        "INSERT INTO subjects (hash, event_id, run_id, workflow_id)
         SELECT CASE WHEN i % ?2 = 0 THEN ?3 ELSE printf('%064x', i) END, 'e' || i, 'r' || i, 'bench' FROM s",
    ];
    for (k, sql) in stmts.iter().enumerate() {
        let q = format!("{seq} {sql}");
        let done = if k == 5 {
            c.execute(&q, rusqlite::params![n as i64, every as i64, hash])
        } else {
            c.execute(&q, rusqlite::params![n as i64])
        };
        done.with_context(|| format!("bulk fill, statement {k}"))?;
    }
    c.execute_batch("COMMIT; PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(())
}
