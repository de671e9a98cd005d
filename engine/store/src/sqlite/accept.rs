//! The accept path on SQLite: a batch of events in one transaction (and,
//! through the writer, in one group commit with concurrent batches), with
//! multi-row `INSERT`s and one dedupe look-up for the whole batch.

use std::collections::HashMap;

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{Accepted, EventFilter, EventRecord, EventStore, EventSummary, NewEvent, StoreResult};
use rusqlite::{Connection, Statement, ToSql};

use super::{SqliteStore, boxed, events};
use reqflow_engine::store::stored_event::{self, StoredPayload};

use crate::codec;
use crate::error::sql;
use crate::packed::{self, StoredJson};
use crate::plan::{self, KeyId, StoredKey};

/// Most rows in one `INSERT`. Batches are cut into statements of 128 rows and
/// a remainder split in powers of two, so that few distinct statements exist
/// (each stays in the prepared-statement cache) and every one stays far below
/// SQLite's 32,766 parameters.
const MAX_ROWS: usize = 128;

/// Row counts of the statements that insert `n` rows.
pub(super) fn chunk_sizes(n: usize) -> impl Iterator<Item = usize> {
    let full = n / MAX_ROWS;
    let rest = n % MAX_ROWS;
    std::iter::repeat_n(MAX_ROWS, full)
        .chain((0..usize::BITS).rev().map(|b| 1usize << b).filter(move |bit| rest & bit != 0))
}

/// `head` + `rows` copies of `row` separated by commas + `tail`.
fn multi_row(head: &str, row: &str, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + (row.len() + 1) * rows + tail.len());
    sql.push_str(head);
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(row);
    }
    sql.push_str(tail);
    sql
}

/// Inserts `items` with multi-row statements; `bind` binds one item's
/// columns from parameter `first` on.
fn insert_rows<T>(
    c: &Connection,
    (head, row, tail): (&str, &str, &str),
    items: &[T],
    bind: impl Fn(&mut Statement<'_>, usize, &T) -> rusqlite::Result<()>,
) -> StoreResult<()> {
    let per_row = row.matches('?').count();
    let mut start = 0;
    for n in chunk_sizes(items.len()) {
        let mut stmt = c.prepare_cached(&multi_row(head, row, n, tail)).map_err(sql)?;
        for (i, item) in items[start..start + n].iter().enumerate() {
            bind(&mut stmt, i * per_row + 1, item).map_err(sql)?;
        }
        stmt.raw_execute().map_err(sql)?;
        start += n;
    }
    Ok(())
}

/// Binds `values` to parameters `first`, `first + 1`, ….
fn bind_all(s: &mut Statement<'_>, first: usize, values: &[&dyn ToSql]) -> rusqlite::Result<()> {
    for (i, v) in values.iter().enumerate() {
        s.raw_bind_parameter(first + i, v)?;
    }
    Ok(())
}

/// The stored state of the batch's dedupe keys, in one query.
fn load_keys(c: &Connection, keys: &[KeyId]) -> StoreResult<HashMap<KeyId, StoredKey>> {
    let list = serde_json::Value::Array(
        keys.iter().map(|(w, k)| serde_json::Value::Array(vec![w.clone().into(), k.clone().into()])).collect(),
    );
    let mut stmt = c
        .prepare_cached(
            "SELECT d.workflow_id, d.dedupe_key, d.run_id, d.expires_at, d.event_id, e.received_at
             FROM json_each(?1) AS j CROSS JOIN dedupe AS d
               ON d.workflow_id = j.value ->> 0 AND d.dedupe_key = j.value ->> 1
             LEFT JOIN events AS e ON e.event_id = d.event_id",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([codec::json(&list)], |r| {
            let key = StoredKey { run_id: r.get(2)?, expires_at: r.get(3)?, event_id: r.get(4)?, seen_at: r.get(5)? };
            Ok(((r.get(0)?, r.get(1)?), key))
        })
        .map_err(sql)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql)
}

/// An event's stored columns: its payload (without the body when that is
/// the raw bytes' JSON) and its raw body, each packed when that is smaller
/// ([`crate::packed`]).
struct Stored<'a> {
    json: StoredJson,
    body_from_raw: bool,
    raw: Option<Raw<'a>>,
    raw_packed: bool,
}

/// A raw body column: the packed bytes or the bytes received.
enum Raw<'a> {
    Packed(Vec<u8>),
    AsReceived(&'a [u8]),
}

impl ToSql for Raw<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        let bytes = match self {
            Raw::Packed(b) => b.as_slice(),
            Raw::AsReceived(b) => b,
        };
        Ok(rusqlite::types::ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Blob(bytes)))
    }
}

fn columns_of(e: &NewEvent) -> Stored<'_> {
    let StoredPayload { json, body_from_raw } = stored_event::split(&e.payload, e.raw_body.as_deref());
    let raw = e.raw_body.as_deref().map(|b| match packed::pack_raw(b) {
        Some(p) => Raw::Packed(p),
        None => Raw::AsReceived(b),
    });
    let raw_packed = matches!(raw, Some(Raw::Packed(_)));
    Stored { json: packed::pack_json(json), body_from_raw, raw, raw_packed }
}

/// Stores one batch (inside the writer's transaction).
pub(super) fn accept(c: &Connection, batch: &[NewEvent]) -> StoreResult<Vec<Accepted>> {
    let keys = plan::batch_keys(batch);
    let stored = if keys.is_empty() { HashMap::new() } else { load_keys(c, &keys)? };
    let plan = plan::plan(batch, stored);

    let events: Vec<(&NewEvent, &str, Stored<'_>, usize)> = batch
        .iter()
        .zip(plan.statuses.iter().copied())
        .enumerate()
        .map(|(i, (e, status))| (e, status, columns_of(e), i))
        .collect();
    insert_rows(
        c,
        (
            "INSERT INTO events (event_id, workflow_id, trigger, received_at, payload, raw_body, dedupe_key, status, \
             reason, run_id, body_from_raw, raw_packed) VALUES ",
            "(?,?,?,?,?,?,?,?,?,?,?,?)",
            "",
        ),
        &events,
        |s, i, (e, status, payload, n)| {
            bind_all(
                s,
                i,
                &[
                    &e.event_id,
                    &e.workflow.workflow_id,
                    &e.trigger,
                    &e.received_at,
                    &payload.json,
                    &payload.raw,
                    &e.dedupe.as_ref().map(|(k, _)| k),
                    status,
                    &plan.reasons[*n],
                    &plan.run_ids[*n],
                    &payload.body_from_raw,
                    &payload.raw_packed,
                ],
            )
        },
    )?;

    let mut run_of = vec![None; batch.len()];
    for &i in &plan.runs {
        run_of[i] = Some(batch[i].run_id.as_str());
    }
    let subjects: Vec<(&str, &NewEvent, Option<&str>)> = batch
        .iter()
        .enumerate()
        .flat_map(|(i, e)| e.subjects.iter().map(move |h| (h.as_str(), e, i)))
        .map(|(h, e, i)| (h, e, run_of[i]))
        .collect();
    insert_rows(
        c,
        ("INSERT INTO subjects (hash, event_id, run_id, workflow_id) VALUES ", "(?,?,?,?)", " ON CONFLICT DO NOTHING"),
        &subjects,
        |s, i, (h, e, run)| bind_all(s, i, &[h, &e.event_id, run, &e.workflow.workflow_id]),
    )?;

    let runs: Vec<&NewEvent> = plan.runs.iter().map(|&i| &batch[i]).collect();
    let mut hash_ids: HashMap<&str, i64> = HashMap::new();
    for e in &runs {
        if !hash_ids.contains_key(e.workflow.hash.as_str()) {
            hash_ids.insert(&e.workflow.hash, super::runs::workflow_hash_id(c, &e.workflow.hash)?);
        }
    }
    insert_rows(
        c,
        (
            "INSERT INTO runs (run_id, event_id, workflow_id, workflow_version, workflow_hash_id, status, created_at) VALUES ",
            "(?,?,?,?,?,'queued',?)",
            "",
        ),
        &runs,
        |s, i, e| {
            let hash_id = hash_ids.get(e.workflow.hash.as_str()).copied().unwrap_or_default();
            bind_all(
                s,
                i,
                &[
                    &e.run_id,
                    &e.event_id,
                    &e.workflow.workflow_id,
                    &i64::from(e.workflow.version),
                    &hash_id,
                    &e.received_at,
                ],
            )
        },
    )?;
    insert_rows(c, ("INSERT INTO queue (run_id, due_at) VALUES ", "(?,?)", ""), &runs, |s, i, e| {
        bind_all(s, i, &[&e.run_id, &e.received_at])
    })?;

    insert_rows(
        c,
        (
            "INSERT INTO dedupe (workflow_id, dedupe_key, event_id, run_id, expires_at) VALUES ",
            "(?,?,?,?,?)",
            " ON CONFLICT (workflow_id, dedupe_key) DO UPDATE SET
               event_id = excluded.event_id, run_id = excluded.run_id, expires_at = excluded.expires_at",
        ),
        &plan.keys,
        |s, i, k| bind_all(s, i, &[&k.workflow_id, &k.key, &k.event_id, &k.run_id, &k.expires_at]),
    )?;
    Ok(plan.answers)
}

impl EventStore for SqliteStore {
    fn accept(&self, batch: Vec<NewEvent>) -> BoxFuture<'_, StoreResult<Vec<Accepted>>> {
        Box::pin(async move {
            if batch.is_empty() {
                return Ok(Vec::new());
            }
            let answers = self.accepts.accept(batch).await?;
            if answers.iter().any(|a| matches!(a, Accepted::Queued { .. })) {
                self.signal.notify();
            }
            Ok(answers)
        })
    }

    fn event(&self, event_id: &str) -> BoxFuture<'_, StoreResult<Option<EventRecord>>> {
        let event_id = event_id.to_owned();
        Box::pin(self.read(move |c| boxed(async move { events::event(c, &event_id).await })))
    }

    fn events(&self, filter: EventFilter) -> BoxFuture<'_, StoreResult<Vec<EventSummary>>> {
        Box::pin(self.read(move |c| boxed(events::events(c, filter))))
    }

    fn purge_dedupe(&self, now: i64) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(self.write_one(move |c| {
            let done = c
                .prepare_cached(
                    "DELETE FROM dedupe WHERE (workflow_id, dedupe_key) IN (
                       SELECT workflow_id, dedupe_key FROM dedupe WHERE expires_at <= ? LIMIT ?)",
                )
                .and_then(|mut s| s.execute([now, reqflow_engine::store::PURGE_DEDUPE_BATCH as i64]));
            Ok(done.map_err(sql)? as u64)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::chunk_sizes;

    #[test]
    fn chunks_cover_every_row_with_few_shapes() {
        for n in [0, 1, 127, 128, 129, 500, 1000] {
            let sizes: Vec<usize> = chunk_sizes(n).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| s.is_power_of_two() && *s <= 128));
        }
        assert_eq!(chunk_sizes(500).collect::<Vec<_>>(), vec![128, 128, 128, 64, 32, 16, 4]);
    }
}
