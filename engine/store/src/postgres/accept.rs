//! The accept path on PostgreSQL: a batch in one transaction, each table
//! written by one `INSERT … SELECT FROM UNNEST($1::text[], …)` (one statement
//! whatever the batch size, no parameter limit).
//!
//! Dedupe across processes: the batch's keys are first inserted as
//! placeholders (or, when present, touched) with `ON CONFLICT DO UPDATE …
//! RETURNING`, in key order. That one statement reads the stored keys *and*
//! locks them until commit, so two processes accepting the same key are
//! serialised and exactly one of them starts a run.

use std::collections::HashMap;

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{Accepted, EventFilter, EventRecord, EventStore, EventSummary, NewEvent, StoreResult};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};

use super::{PostgresStore, events, notify};
use crate::error::{db, is_transient};
use crate::plan::{self, KeyId, StoredKey};
use reqflow_engine::store::stored_event::{self, StoredPayload};

/// Most rows per statement (arrays have no parameter limit).
const CHUNK: usize = 1000;

/// Target size of one statement's message.
const MESSAGE_BYTES: usize = 12 * 1024;

/// Cuts the batch into runs of rows whose statement stays under
/// [`MESSAGE_BYTES`] (at least one row each).
fn chunks(batch: &[NewEvent], payloads: &[String]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, (e, p)) in batch.iter().zip(payloads).enumerate() {
        let row = p.len()
            + e.event_id.len()
            + e.run_id.len()
            + 2 * e.workflow.workflow_id.len()
            + e.workflow.hash.len()
            + e.trigger.len()
            + 2 * e.dedupe.as_ref().map_or(0, |(k, _)| k.len())
            + e.raw_body.as_ref().map_or(0, Vec::len)
            + e.invalid.as_ref().map_or(0, String::len)
            + 256;
        if i > start && (bytes + row > MESSAGE_BYTES || i - start >= CHUNK) {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += row;
    }
    if start < batch.len() {
        out.push(start..batch.len());
    }
    out
}

/// Reads and locks the batch's dedupe keys (placeholders for new ones).
async fn lock_keys(c: &mut PgConnection, keys: &[KeyId]) -> Result<HashMap<KeyId, StoredKey>, sqlx::Error> {
    let (wf, k): (Vec<&str>, Vec<&str>) = keys.iter().map(|(w, k)| (w.as_str(), k.as_str())).unzip();
    let rows = sqlx::query(
        "WITH k AS (
            INSERT INTO dedupe (workflow_id, dedupe_key, event_id, run_id, expires_at)
            SELECT w, k, '', NULL, -9223372036854775808 FROM UNNEST($1::text[], $2::text[]) AS t(w, k) ORDER BY w, k
            ON CONFLICT (workflow_id, dedupe_key) DO UPDATE SET expires_at = dedupe.expires_at
            RETURNING workflow_id, dedupe_key, run_id, expires_at, event_id)
         SELECT k.workflow_id, k.dedupe_key, k.run_id, k.expires_at, k.event_id, e.received_at
         FROM k LEFT JOIN events AS e ON e.event_id = k.event_id",
    )
    .bind(wf)
    .bind(k)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            let key = StoredKey {
                run_id: r.try_get(2)?,
                expires_at: r.try_get(3)?,
                event_id: r.try_get(4)?,
                seen_at: r.try_get(5)?,
            };
            Ok(((r.try_get(0)?, r.try_get(1)?), key))
        })
        .collect()
}

async fn accept_tx(c: &mut PgConnection, batch: &[NewEvent]) -> Result<Vec<Accepted>, sqlx::Error> {
    let keys = plan::batch_keys(batch);
    let stored = if keys.is_empty() { HashMap::new() } else { lock_keys(c, &keys).await? };
    let plan = plan::plan(batch, stored);

    let mut run_of = vec![None; batch.len()];
    for &i in &plan.runs {
        run_of[i] = Some(batch[i].run_id.as_str());
    }
    let stored: Vec<StoredPayload> =
        batch.iter().map(|e| stored_event::split(&e.payload, e.raw_body.as_deref())).collect();
    let payloads: Vec<String> = stored.iter().map(|p| p.json.clone()).collect();
    for range in chunks(batch, &payloads) {
        let (start, end) = (range.start, range.end);
        let chunk = &batch[range];
        // Keys owned by an event of this chunk.
        let keys: Vec<&plan::KeyRow> = plan.keys.iter().filter(|k| (start..end).contains(&k.index)).collect();
        // (hash, event_id, run_id, workflow_id) of the chunk's subjects.
        let subjects: Vec<(&str, &str, Option<&str>, &str)> = (start..end)
            .flat_map(|i| {
                let e = &batch[i];
                e.subjects.iter().map(move |h| (h.as_str(), e.event_id.as_str(), i, e.workflow.workflow_id.as_str()))
            })
            .map(|(h, ev, i, wf)| (h, ev, run_of[i], wf))
            .collect();
        sqlx::query(
            "WITH input AS (
                SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[],
                                     $7::text[], $8::text[], $9::int4[], $10::text[], $16::bytea[], $17::text[],
                                     $18::text[], $19::bool[])
                  AS t(event_id, workflow_id, trigger, received_at, payload, dedupe_key, status, run_id, version, hash,
                       raw_body, reason, event_run_id, body_from_raw)),
             ev AS (
                INSERT INTO events (event_id, workflow_id, trigger, received_at, payload, raw_body, dedupe_key, status,
                                    reason, run_id, body_from_raw)
                SELECT event_id, workflow_id, trigger, received_at, payload::json, raw_body, dedupe_key, status, reason,
                       event_run_id, body_from_raw
                FROM input),
             su AS (
                INSERT INTO subjects (hash, event_id, run_id, workflow_id)
                SELECT * FROM UNNEST($20::text[], $21::text[], $22::text[], $23::text[])
                ON CONFLICT DO NOTHING),
             rn AS (
                INSERT INTO runs (run_id, event_id, workflow_id, workflow_version, workflow_hash, status, created_at)
                SELECT run_id, event_id, workflow_id, version, hash, 'queued', received_at FROM input
                WHERE run_id IS NOT NULL
                RETURNING run_id, created_at),
             qu AS (INSERT INTO queue (run_id, due_at) SELECT run_id, created_at FROM rn)
             INSERT INTO dedupe (workflow_id, dedupe_key, event_id, run_id, expires_at)
             SELECT * FROM UNNEST($11::text[], $12::text[], $13::text[], $14::text[], $15::int8[])
             ON CONFLICT (workflow_id, dedupe_key) DO UPDATE SET
               event_id = EXCLUDED.event_id, run_id = EXCLUDED.run_id, expires_at = EXCLUDED.expires_at",
        )
        .bind(chunk.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|e| e.workflow.workflow_id.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|e| e.trigger.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|e| e.received_at).collect::<Vec<_>>())
        .bind(&payloads[start..end])
        .bind(chunk.iter().map(|e| e.dedupe.as_ref().map(|(k, _)| k.as_str())).collect::<Vec<_>>())
        .bind(plan.statuses[start..end].to_vec())
        .bind(run_of[start..end].to_vec())
        .bind(chunk.iter().map(|e| i32::try_from(e.workflow.version).unwrap_or(i32::MAX)).collect::<Vec<_>>())
        .bind(chunk.iter().map(|e| e.workflow.hash.as_str()).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.workflow_id.as_str()).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.key.as_str()).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.event_id.as_str()).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.run_id.as_deref()).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.expires_at).collect::<Vec<_>>())
        .bind(chunk.iter().map(|e| e.raw_body.as_deref()).collect::<Vec<_>>())
        .bind(plan.reasons[start..end].iter().map(Option::as_deref).collect::<Vec<_>>())
        .bind(plan.run_ids[start..end].iter().map(Option::as_deref).collect::<Vec<_>>())
        .bind(stored[start..end].iter().map(|p| p.body_from_raw).collect::<Vec<_>>())
        .bind(subjects.iter().map(|s| s.0).collect::<Vec<_>>())
        .bind(subjects.iter().map(|s| s.1).collect::<Vec<_>>())
        .bind(subjects.iter().map(|s| s.2).collect::<Vec<_>>())
        .bind(subjects.iter().map(|s| s.3).collect::<Vec<_>>())
        .execute(&mut *c)
        .await?;
    }
    Ok(plan.answers)
}

/// Stores one batch in one transaction (retried on deadlock or
/// serialization failure), notifying workers when runs were queued.
pub(super) async fn accept(pool: &PgPool, channel: &str, batch: &[NewEvent]) -> StoreResult<Vec<Accepted>> {
    let mut tries = 0;
    loop {
        tries += 1;
        let mut tx = pool.begin().await.map_err(db)?;
        match accept_tx(&mut tx, batch).await {
            Ok(answers) => {
                if answers.iter().any(|a| matches!(a, Accepted::Queued { .. })) {
                    notify(&mut tx, channel).await?;
                }
                tx.commit().await.map_err(db)?;
                return Ok(answers);
            }
            // A deadlock or serialization failure: the transaction was rolled
            // back as a whole; try again.
            Err(e) if is_transient(&e) && tries < 3 => continue,
            Err(e) => return Err(db(e)),
        }
    }
}

impl EventStore for PostgresStore {
    fn accept(&self, batch: Vec<NewEvent>) -> BoxFuture<'_, StoreResult<Vec<Accepted>>> {
        Box::pin(async move {
            if batch.is_empty() {
                return Ok(Vec::new());
            }
            self.accepts.accept(batch).await
        })
    }

    fn event(&self, event_id: &str) -> BoxFuture<'_, StoreResult<Option<EventRecord>>> {
        let event_id = event_id.to_owned();
        Box::pin(async move { events::event(&self.pool, &event_id).await })
    }

    fn events(&self, filter: EventFilter) -> BoxFuture<'_, StoreResult<Vec<EventSummary>>> {
        Box::pin(events::events(&self.pool, filter))
    }

    fn purge_dedupe(&self, now: i64) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(async move {
            let done = sqlx::query(
                "DELETE FROM dedupe WHERE (workflow_id, dedupe_key) IN (
                   SELECT workflow_id, dedupe_key FROM dedupe WHERE expires_at <= $1 LIMIT $2)",
            )
            .bind(now)
            .bind(reqflow_engine::store::PURGE_DEDUPE_BATCH as i64)
            .execute(&self.pool)
            .await
            .map_err(db)?;
            Ok(done.rows_affected())
        })
    }
}
