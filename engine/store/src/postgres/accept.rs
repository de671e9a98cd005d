//! The accept path on PostgreSQL: each table written by one `INSERT …
//! SELECT FROM UNNEST($1::text[], …)` (no parameter limit).
//!
//! The common path is one round trip: a batch that fits one statement is
//! planned as if none of its dedupe keys were stored and written by one
//! statement with the notification (see [`accept_one_statement`]); a stored
//! key fails that statement as a whole.
//!
//! Otherwise the batch goes in one transaction. Dedupe across processes:
//! the batch's keys are first inserted as placeholders (or, when present,
//! touched) with `ON CONFLICT DO UPDATE … RETURNING`, in key order. That one
//! statement reads the stored keys *and* locks them until commit, so two
//! processes accepting the same key are serialised and exactly one of them
//! starts a run.

use std::collections::HashMap;

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{Accepted, EventFilter, EventRecord, EventStore, EventSummary, NewEvent, StoreResult};
use sqlx::postgres::{PgArguments, PgPool};
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, Row};

use super::{PostgresStore, events, notify};
use crate::error::{db, is_transient};
use crate::plan::{self, KeyId, StoredKey};
use reqflow_engine::store::stored_event::{self, StoredPayload};

/// Most rows per statement (arrays have no parameter limit).
const CHUNK: usize = 1000;

/// Target size of one statement's message (see `progress.rs`: it was 12 KiB
/// before sqlx set `TCP_NODELAY`; a batch cut in several statements takes
/// the transaction path, five round trips instead of one).
const MESSAGE_BYTES: usize = 1024 * 1024;

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

/// The statement's tables written from the batch's arrays: events,
/// subjects, runs and queue (the dedupe keys follow, in one of two ways).
macro_rules! write_rows {
    () => {
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
     qu AS (INSERT INTO queue (run_id, due_at) SELECT run_id, created_at FROM rn)"
    };
}

/// In the transaction, after [`lock_keys`]: the keys are overwritten.
const UPSERT: &str = concat!(
    write_rows!(),
    "
     INSERT INTO dedupe (workflow_id, dedupe_key, event_id, run_id, expires_at)
     SELECT * FROM UNNEST($11::text[], $12::text[], $13::text[], $14::text[], $15::int8[])
     ON CONFLICT (workflow_id, dedupe_key) DO UPDATE SET
       event_id = EXCLUDED.event_id, run_id = EXCLUDED.run_id, expires_at = EXCLUDED.expires_at"
);

/// In one statement, planned as if no key were stored: keys already stored
/// (or stored meanwhile by another transaction, which the insert waits for)
/// are not inserted, and `reqflow_dedupe_keys_new` (migration 0020) then
/// fails the statement as a whole; else the notification, sent at commit.
const ONE_STATEMENT: &str = concat!(
    write_rows!(),
    ",
     dk AS (
        INSERT INTO dedupe (workflow_id, dedupe_key, event_id, run_id, expires_at)
        SELECT * FROM UNNEST($11::text[], $12::text[], $13::text[], $14::text[], $15::int8[])
        ON CONFLICT (workflow_id, dedupe_key) DO NOTHING
        RETURNING 1)
     SELECT reqflow_dedupe_keys_new((SELECT count(*) FROM dk), $24::int8),
            CASE WHEN $26::bool THEN pg_notify($25, '') END"
);

/// The batch's rows as the statement's arrays.
struct Rows<'a> {
    batch: &'a [NewEvent],
    plan: &'a plan::Plan,
    run_of: Vec<Option<&'a str>>,
    stored: Vec<StoredPayload>,
    payloads: Vec<String>,
}

impl<'a> Rows<'a> {
    fn new(batch: &'a [NewEvent], plan: &'a plan::Plan) -> Self {
        let mut run_of = vec![None; batch.len()];
        for &i in &plan.runs {
            run_of[i] = Some(batch[i].run_id.as_str());
        }
        let stored: Vec<StoredPayload> =
            batch.iter().map(|e| stored_event::split(&e.payload, e.raw_body.as_deref())).collect();
        let payloads = stored.iter().map(|p| p.json.clone()).collect();
        Rows { batch, plan, run_of, stored, payloads }
    }

    fn chunks(&self) -> Vec<std::ops::Range<usize>> {
        chunks(self.batch, &self.payloads)
    }

    /// `sql` with the rows of `range` bound as `$1`…`$23`.
    fn query(&self, sql: &'static str, range: std::ops::Range<usize>) -> Query<'static, Postgres, PgArguments> {
        let (start, end) = (range.start, range.end);
        let (batch, plan, run_of, stored) = (self.batch, self.plan, &self.run_of, &self.stored);
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
        sqlx::query(sql)
            .bind(chunk.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|e| e.workflow.workflow_id.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|e| e.trigger.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|e| e.received_at).collect::<Vec<_>>())
            .bind(&self.payloads[start..end])
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
    }
}

/// Whether `e` is `reqflow_dedupe_keys_new`'s: a key of the batch is stored.
fn key_stored(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d.code().as_deref() == Some("RQ001"),
        _ => false,
    }
}

/// The common path, one round trip: a batch that fits one statement,
/// planned as if none of its dedupe keys were stored, written by one
/// statement outside any explicit transaction (it commits as a whole or not
/// at all). `None` when that does not hold (a key is stored, the batch
/// needs several statements, a deadlock): nothing was written, the caller
/// takes the transaction path.
async fn accept_one_statement(
    pool: &PgPool,
    channel: &str,
    batch: &[NewEvent],
) -> Result<Option<Vec<Accepted>>, sqlx::Error> {
    let plan = plan::plan(batch, HashMap::new());
    let rows = Rows::new(batch, &plan);
    let ranges = rows.chunks();
    let [range] = ranges.as_slice() else { return Ok(None) };
    match rows
        .query(ONE_STATEMENT, range.clone())
        .bind(i64::try_from(plan.keys.len()).unwrap_or(i64::MAX))
        .bind(channel)
        .bind(!plan.runs.is_empty())
        .execute(pool)
        .await
    {
        Ok(_) => {}
        // A stored key, a deadlock, or a connection that died while idle
        // (pooled connections are pinged only after 10 s idle): the
        // transaction path. Had the statement committed, its events would be
        // stored already and that path fails on them: no event twice.
        Err(e) if key_stored(&e) || is_transient(&e) || matches!(e, sqlx::Error::Io(_)) => return Ok(None),
        Err(e) => return Err(e),
    }
    drop(rows);
    Ok(Some(plan.answers))
}

async fn accept_tx(c: &mut PgConnection, batch: &[NewEvent]) -> Result<Vec<Accepted>, sqlx::Error> {
    let keys = plan::batch_keys(batch);
    let stored = if keys.is_empty() { HashMap::new() } else { lock_keys(c, &keys).await? };
    let plan = plan::plan(batch, stored);
    let rows = Rows::new(batch, &plan);
    for range in rows.chunks() {
        rows.query(UPSERT, range).execute(&mut *c).await?;
    }
    drop(rows);
    Ok(plan.answers)
}

/// Stores one batch: in one statement when it can (see
/// [`accept_one_statement`]), else in one transaction (retried on deadlock
/// or serialization failure), notifying workers when runs were queued.
pub(super) async fn accept(pool: &PgPool, channel: &str, batch: &[NewEvent]) -> StoreResult<Vec<Accepted>> {
    if let Some(answers) = accept_one_statement(pool, channel, batch).await.map_err(db)? {
        return Ok(answers);
    }
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
