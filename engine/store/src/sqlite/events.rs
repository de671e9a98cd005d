//! Stored events on SQLite: one event with its payload, and the list
//! (newest first, without payloads) with keyset paging on
//! `(received_at, seq)`, using the indexes of migration 24 (each ends with
//! the rowid, `seq`: no sort). The cursor clients hold (`before`) is an
//! event id, resolved to its row.

use reqflow_engine::store::{EventFilter, EventRecord, EventSummary, StoreError, StoreResult};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{AssertSqlSafe, Row, SqliteConnection};

use crate::codec;
use crate::error::db;

/// One event, payload and raw body included.
pub(super) async fn event(c: &mut SqliteConnection, event_id: &str) -> StoreResult<Option<EventRecord>> {
    let row = sqlx::query(
        "SELECT event_id, workflow_id, trigger, received_at, payload, dedupe_key, status, raw_body, reason, run_id,
                body_from_raw, raw_packed
         FROM events WHERE event_id = ?",
    )
    .bind(event_id)
    .fetch_optional(c)
    .await
    .map_err(db)?;
    row.as_ref().map(event_record).transpose()
}

/// An event row: `event_id, workflow_id, trigger, received_at, payload,
/// dedupe_key, status, raw_body, reason, run_id, body_from_raw, raw_packed`
/// (the payload and raw body unpacked, [`crate::packed`]).
pub(super) fn event_record(r: &SqliteRow) -> StoreResult<EventRecord> {
    let (payload, raw_body) = codec::unpacked_event(
        r.try_get(4).map_err(db)?,
        r.try_get(10).map_err(db)?,
        r.try_get(7).map_err(db)?,
        r.try_get(11).map_err(db)?,
    )?;
    Ok(EventRecord {
        event_id: r.try_get(0).map_err(db)?,
        workflow_id: r.try_get(1).map_err(db)?,
        trigger: r.try_get(2).map_err(db)?,
        received_at: r.try_get(3).map_err(db)?,
        payload,
        raw_body,
        dedupe_key: r.try_get(5).map_err(db)?,
        status: r.try_get(6).map_err(db)?,
        reason: r.try_get(8).map_err(db)?,
        run_id: r.try_get(9).map_err(db)?,
    })
}

fn summary(r: &SqliteRow) -> StoreResult<EventSummary> {
    Ok(EventSummary {
        event_id: r.try_get(0).map_err(db)?,
        workflow_id: r.try_get(1).map_err(db)?,
        trigger: r.try_get(2).map_err(db)?,
        received_at: r.try_get(3).map_err(db)?,
        status: r.try_get(4).map_err(db)?,
        reason: r.try_get(5).map_err(db)?,
        run_id: r.try_get(6).map_err(db)?,
        dedupe_key: r.try_get(7).map_err(db)?,
    })
}

enum Bind {
    Text(String),
    Int(i64),
}

/// Events, newest first, filtered and paged.
pub(super) async fn events(c: &mut SqliteConnection, f: EventFilter) -> StoreResult<Vec<EventSummary>> {
    let mut sql = String::from(
        "SELECT event_id, workflow_id, trigger, received_at, status, reason, run_id, dedupe_key FROM events WHERE 1 = 1",
    );
    let mut args = SqliteArguments::default();
    let mut bind = |sql: &mut String, cond: &str, value: Bind| {
        sql.push_str(cond);
        let added = match value {
            Bind::Text(s) => sqlx::Arguments::add(&mut args, s),
            Bind::Int(i) => sqlx::Arguments::add(&mut args, i),
        };
        added.map_err(|e| StoreError::Database(e.to_string()))
    };
    if let Some(w) = f.workflow_id {
        bind(&mut sql, " AND workflow_id = ?", Bind::Text(w))?;
    }
    if let Some(o) = f.outcome {
        bind(&mut sql, " AND status = ?", Bind::Text(o.stored().to_owned()))?;
    }
    if let Some(t) = f.since {
        bind(&mut sql, " AND received_at >= ?", Bind::Int(t))?;
    }
    if let Some(t) = f.until {
        bind(&mut sql, " AND received_at < ?", Bind::Int(t))?;
    }
    if let Some(b) = f.before {
        bind(
            &mut sql,
            " AND (received_at, seq) < (SELECT received_at, seq FROM events WHERE event_id = ?)",
            Bind::Text(b),
        )?;
    }
    bind(&mut sql, " ORDER BY received_at DESC, seq DESC LIMIT ?", Bind::Int(i64::from(codec::page_size(f.limit))))?;
    let rows = sqlx::query_with(AssertSqlSafe(sql), args).fetch_all(c).await.map_err(db)?;
    rows.iter().map(summary).collect()
}
