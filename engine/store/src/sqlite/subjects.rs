//! Subjects on SQLite: a subject's events, and erasure.
//!
//! Erasure is one writer job (one transaction): the subject's runs are taken
//! off the queue, then its attempts, step results, dedupe keys, events, runs,
//! index entries and the blobs (binary outputs) no other run refers to are
//! deleted, with `secure_delete` on for the job so the
//! freed pages are overwritten with zeros (the personal data does not stay
//! in free pages of the file; the WAL keeps the old pages until the next
//! checkpoint).

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{ErasedCounts, EventRecord, StoreResult, SubjectStore};
use rusqlite::Connection;

use super::{SqliteStore, boxed, events};
use crate::codec;
use crate::error::{db, sql};

fn ids(c: &Connection, query: &str, hash: &str) -> StoreResult<Vec<String>> {
    let mut stmt = c.prepare_cached(query).map_err(sql)?;
    let rows = stmt.query_map([hash], |r| r.get(0)).map_err(sql)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql)
}

fn delete(c: &Connection, query: &str, list: &str) -> StoreResult<u64> {
    Ok(c.prepare_cached(query).and_then(|mut s| s.execute([list])).map_err(sql)? as u64)
}

fn erase(c: &Connection, hash: &str) -> StoreResult<ErasedCounts> {
    let runs =
        codec::id_list(&ids(c, "SELECT DISTINCT run_id FROM subjects WHERE hash = ? AND run_id IS NOT NULL", hash)?);
    let events = codec::id_list(&ids(c, "SELECT DISTINCT event_id FROM subjects WHERE hash = ?", hash)?);
    c.pragma_update(None, "secure_delete", true).map_err(sql)?;
    // The writer keeps recent runs' event bodies (their dictionaries).
    super::run_dictionary::forget_all();
    let counts = (|| {
        let mut n = ErasedCounts {
            cancelled: delete(c, "DELETE FROM queue WHERE run_id IN (SELECT value FROM json_each(?))", &runs)?,
            attempts: super::retention::delete_of_runs(c, "attempts", &runs)?,
            step_results: super::retention::delete_of_runs(c, "step_results", &runs)?,
            ..ErasedCounts::default()
        };
        // Dedupe keys set or hit by the subject's events (they may hold its data).
        n.dedupe_keys = delete(
            c,
            "DELETE FROM dedupe WHERE (workflow_id, dedupe_key) IN (
               SELECT workflow_id, dedupe_key FROM events
               WHERE event_id IN (SELECT value FROM json_each(?)) AND dedupe_key IS NOT NULL)",
            &events,
        )?;
        super::retention::tally(c, &runs)?;
        n.events = delete(c, "DELETE FROM events WHERE event_id IN (SELECT value FROM json_each(?))", &events)?;
        n.runs = delete(c, "DELETE FROM runs WHERE run_id IN (SELECT value FROM json_each(?))", &runs)?;
        n.blobs = super::retention::drop_blobs(c, &runs)?;
        delete(c, "DELETE FROM subjects WHERE event_id IN (SELECT value FROM json_each(?))", &events)?;
        Ok(n)
    })();
    c.pragma_update(None, "secure_delete", false).map_err(sql)?;
    counts
}

impl SubjectStore for SqliteStore {
    fn subject_events(&self, hash: &str) -> BoxFuture<'_, StoreResult<Vec<EventRecord>>> {
        let hash = hash.to_owned();
        Box::pin(self.read(move |c| {
            boxed(async move {
                let rows = sqlx::query(
                    "SELECT event_id, workflow_id, trigger, received_at, payload, dedupe_key, status, raw_body, reason,
                            run_id, body_from_raw, raw_packed
                     FROM events WHERE event_id IN (SELECT event_id FROM subjects WHERE hash = ?)
                     ORDER BY received_at, event_id",
                )
                .bind(hash)
                .fetch_all(c)
                .await
                .map_err(db)?;
                rows.iter().map(events::event_record).collect()
            })
        }))
    }

    fn erase_subject(&self, hash: &str) -> BoxFuture<'_, StoreResult<ErasedCounts>> {
        let hash = hash.to_owned();
        Box::pin(async move {
            let n = self.writer.bulk(move |c| erase(c, &hash)).await?;
            tracing::info!(events = n.events, runs = n.runs, cancelled = n.cancelled, "subject erased");
            Ok(n)
        })
    }
}
