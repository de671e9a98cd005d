//! Stored events on PostgreSQL: one event with its payload, and the list
//! (newest first, without payloads) with keyset paging on
//! `(received_at, event_id)`, using the indexes of migration 5.

use reqflow_engine::store::{EventFilter, EventRecord, EventSummary, StoreError, StoreResult};
use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::{Arguments, AssertSqlSafe, Row};

use crate::codec;
use crate::error::db;

/// One event, payload and raw body included.
pub(super) async fn event(pool: &PgPool, event_id: &str) -> StoreResult<Option<EventRecord>> {
    let row = sqlx::query(
        "SELECT event_id, workflow_id, trigger, received_at, payload::text, dedupe_key, status, raw_body, reason, run_id,
                body_from_raw
         FROM events WHERE event_id = $1",
    )
    .bind(event_id)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    row.as_ref().map(event_record).transpose()
}

/// An event row: `event_id, workflow_id, trigger, received_at, payload::text,
/// dedupe_key, status, raw_body, reason, run_id, body_from_raw`.
pub(super) fn event_record(r: &PgRow) -> StoreResult<EventRecord> {
    let payload: String = r.try_get(4).map_err(db)?;
    let raw_body: Option<Vec<u8>> = r.try_get(7).map_err(db)?;
    let body_from_raw: bool = r.try_get(10).map_err(db)?;
    Ok(EventRecord {
        event_id: r.try_get(0).map_err(db)?,
        workflow_id: r.try_get(1).map_err(db)?,
        trigger: r.try_get(2).map_err(db)?,
        received_at: r.try_get(3).map_err(db)?,
        payload: codec::payload(&payload, body_from_raw, raw_body.as_deref())?,
        raw_body,
        dedupe_key: r.try_get(5).map_err(db)?,
        status: r.try_get(6).map_err(db)?,
        reason: r.try_get(8).map_err(db)?,
        run_id: r.try_get(9).map_err(db)?,
    })
}

fn summary(r: &PgRow) -> StoreResult<EventSummary> {
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

fn add<'q, T: sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    args: &mut PgArguments,
    value: T,
) -> StoreResult<usize> {
    args.add(value).map_err(|e| StoreError::Database(e.to_string()))?;
    Ok(args.len())
}

/// Events, newest first, filtered and paged.
pub(super) async fn events(pool: &PgPool, f: EventFilter) -> StoreResult<Vec<EventSummary>> {
    let mut sql = String::from(
        "SELECT event_id, workflow_id, trigger, received_at, status, reason, run_id, dedupe_key FROM events WHERE TRUE",
    );
    let mut args = PgArguments::default();
    if let Some(w) = f.workflow_id {
        sql.push_str(&format!(" AND workflow_id = ${}", add(&mut args, w)?));
    }
    if let Some(o) = f.outcome {
        sql.push_str(&format!(" AND status = ${}", add(&mut args, o.stored())?));
    }
    if let Some(t) = f.since {
        sql.push_str(&format!(" AND received_at >= ${}", add(&mut args, t)?));
    }
    if let Some(t) = f.until {
        sql.push_str(&format!(" AND received_at < ${}", add(&mut args, t)?));
    }
    if let Some(b) = f.before {
        let n = add(&mut args, b)?;
        sql.push_str(&format!(
            " AND (received_at, event_id) < (SELECT received_at, event_id FROM events WHERE event_id = ${n})"
        ));
    }
    let n = add(&mut args, i64::from(codec::page_size(f.limit)))?;
    sql.push_str(&format!(" ORDER BY received_at DESC, event_id DESC LIMIT ${n}"));
    let rows = sqlx::query_with(AssertSqlSafe(sql), args).fetch_all(pool).await.map_err(db)?;
    rows.iter().map(summary).collect()
}
