//! Retention on SQLite: one purge batch per writer job (a few hundred
//! events with their runs, attempts, step results and the blobs no other
//! run refers to), so accepts queued
//! behind it wait one short job at most.
//!
//! Freed pages go to the file's free list and are reused by the rows
//! written next: at steady load the file stops growing (it does not shrink;
//! `VACUUM` offline gives the space back to the file system).

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{PurgeBatch, PurgeScope, RetentionStore, StoreResult};
use rusqlite::{Connection, ToSql};

use super::SqliteStore;
use crate::codec;
use crate::error::sql;

/// Deletes the rows of `ids` from `table` by `column`; returns how many.
fn delete_in(c: &Connection, table: &str, column: &str, ids: &str) -> StoreResult<u64> {
    let q = format!("DELETE FROM {table} WHERE {column} IN (SELECT value FROM json_each(?))");
    Ok(c.prepare_cached(&q).and_then(|mut s| s.execute([ids])).map_err(sql)? as u64)
}

/// Deletes the rows of `table` (attempts, step results: keyed by the run's
/// `seq`, migration 0022) of these runs (ids as a JSON list); before the
/// runs are deleted, and in the same job as their events: their values may
/// be packed with the run's event body (dictionary 2, `crate::packed`), so
/// none may outlive it (erasure and purge both call this).
pub(super) fn delete_of_runs(c: &Connection, table: &str, runs: &str) -> StoreResult<u64> {
    let q = format!(
        "DELETE FROM {table} WHERE run_seq IN (SELECT seq FROM runs WHERE run_id IN (SELECT value FROM json_each(?)))"
    );
    Ok(c.prepare_cached(&q).and_then(|mut s| s.execute([runs])).map_err(sql)? as u64)
}

/// Adds deleted runs (of these ids) to `run_tallies`, by status; before the runs are deleted.
pub(super) fn tally(c: &Connection, runs: &str) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO run_tallies (status, deleted)
         SELECT status, COUNT(*) FROM runs
         WHERE run_id IN (SELECT value FROM json_each(?)) AND status IN ('succeeded', 'failed') GROUP BY status
         ON CONFLICT (status) DO UPDATE SET deleted = deleted + excluded.deleted",
    )
    .and_then(|mut s| s.execute([runs]))
    .map_err(sql)?;
    Ok(())
}

/// Deletes the `blob_refs` rows of these runs (ids as a JSON list), then the
/// blobs they referred to that no run refers to any more; returns how many
/// blobs. In the caller's job, with the runs' own rows.
pub(super) fn drop_blobs(c: &Connection, runs: &str) -> StoreResult<u64> {
    let shas: Vec<String> = {
        let mut stmt = c
            .prepare_cached("SELECT DISTINCT sha256 FROM blob_refs WHERE run_id IN (SELECT value FROM json_each(?))")
            .map_err(sql)?;
        let rows = stmt.query_map([runs], |r| r.get(0)).map_err(sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(sql)?
    };
    if shas.is_empty() {
        return Ok(0);
    }
    delete_in(c, "blob_refs", "run_id", runs)?;
    let n = c
        .prepare_cached(
            "DELETE FROM blobs WHERE sha256 IN (SELECT value FROM json_each(?))
               AND NOT EXISTS (SELECT 1 FROM blob_refs AS r WHERE r.sha256 = blobs.sha256)",
        )
        .and_then(|mut s| s.execute([codec::id_list(&shas)]))
        .map_err(sql)?;
    Ok(n as u64)
}

fn purge(c: &Connection, scope: &PurgeScope, limit: usize) -> StoreResult<PurgeBatch> {
    let mut q = String::from(
        "SELECT e.event_id, e.received_at, r.run_id,
                r.run_id IS NULL OR (r.status IN ('succeeded', 'failed') AND r.finished_at < ?1)
         FROM events AS e LEFT JOIN runs AS r ON e.status = 'queued' AND r.run_id = e.run_id
         WHERE e.received_at < ?1",
    );
    let (after_at, after_id) = scope.after.clone().unwrap_or((i64::MIN, String::new()));
    q.push_str(" AND (e.received_at, e.event_id) > (?2, ?3)");
    let except = codec::id_list(&scope.except);
    let workflow = scope.workflow_id.clone().unwrap_or_default();
    if scope.workflow_id.is_some() {
        q.push_str(" AND e.workflow_id = ?4");
    } else {
        q.push_str(" AND ?4 = '' AND e.workflow_id NOT IN (SELECT value FROM json_each(?5))");
    }
    q.push_str(" ORDER BY e.received_at, e.event_id LIMIT ?6");
    let limit_i = i64::try_from(limit).unwrap_or(i64::MAX);
    let params: [&dyn ToSql; 6] = [&scope.before, &after_at, &after_id, &workflow, &except, &limit_i];
    let mut batch = PurgeBatch::default();
    let (mut events, mut runs) = (Vec::new(), Vec::new());
    {
        let mut stmt = c.prepare_cached(&q).map_err(sql)?;
        let mut rows = stmt.query(&params[..]).map_err(sql)?;
        while let Some(r) = rows.next().map_err(sql)? {
            let (id, at, run, gone): (String, i64, Option<String>, bool) =
                (r.get(0).map_err(sql)?, r.get(1).map_err(sql)?, r.get(2).map_err(sql)?, r.get(3).map_err(sql)?);
            batch.scanned += 1;
            batch.last = Some((at, id.clone()));
            if gone {
                events.push(id);
                runs.extend(run);
            } else {
                batch.kept += 1;
            }
        }
    }
    if events.is_empty() {
        return Ok(batch);
    }
    let (events, runs) = (codec::id_list(&events), codec::id_list(&runs));
    // The writer keeps recent runs' event bodies (their dictionaries).
    super::run_dictionary::forget_all();
    tally(c, &runs)?;
    batch.attempts = delete_of_runs(c, "attempts", &runs)?;
    batch.step_results = delete_of_runs(c, "step_results", &runs)?;
    batch.runs = delete_in(c, "runs", "run_id", &runs)?;
    drop_blobs(c, &runs)?;
    batch.events = delete_in(c, "events", "event_id", &events)?;
    delete_in(c, "subjects", "event_id", &events)?;
    Ok(batch)
}

impl RetentionStore for SqliteStore {
    fn purge(&self, scope: PurgeScope, limit: usize) -> BoxFuture<'_, StoreResult<PurgeBatch>> {
        Box::pin(self.write(move |c| purge(c, &scope, limit)))
    }
}
