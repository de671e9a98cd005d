//! Schedule slots, workflow sources and shared connection state on PostgreSQL.

use reqflow_engine::action::{ActionError, BoxFuture, SharedState};
use reqflow_engine::store::{ScheduleStore, StoreResult, WorkflowStore, WorkflowVersion};
use serde_json::Value;

use super::PostgresStore;
use super::steps::pg_int;
use crate::codec;
use crate::error::{db, for_action};

impl ScheduleStore for PostgresStore {
    fn claim_slot(&self, workflow_id: &str, slot: i64) -> BoxFuture<'_, StoreResult<bool>> {
        let workflow_id = workflow_id.to_owned();
        Box::pin(async move {
            let done =
                sqlx::query("INSERT INTO schedule_slots (workflow_id, slot) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(workflow_id)
                    .bind(slot)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn last_slot(&self, workflow_id: &str) -> BoxFuture<'_, StoreResult<Option<i64>>> {
        let workflow_id = workflow_id.to_owned();
        Box::pin(async move {
            sqlx::query_scalar("SELECT MAX(slot) FROM schedule_slots WHERE workflow_id = $1")
                .bind(workflow_id)
                .fetch_one(&self.pool)
                .await
                .map_err(db)
        })
    }

    fn last_success(&self, workflow_id: &str) -> BoxFuture<'_, StoreResult<Option<i64>>> {
        let workflow_id = workflow_id.to_owned();
        Box::pin(async move {
            sqlx::query_scalar("SELECT last_success_at FROM schedule_success WHERE workflow_id = $1")
                .bind(workflow_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)
        })
    }
}

impl WorkflowStore for PostgresStore {
    fn put_workflow(&self, version: WorkflowVersion, source: &str) -> BoxFuture<'_, StoreResult<()>> {
        let source = source.to_owned();
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO workflows (workflow_id, hash, version, source) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
            )
            .bind(version.workflow_id)
            .bind(version.hash)
            .bind(pg_int(version.version))
            .bind(source)
            .execute(&self.pool)
            .await
            .map_err(db)?;
            Ok(())
        })
    }

    fn workflow_source(&self, workflow_id: &str, hash: &str) -> BoxFuture<'_, StoreResult<Option<String>>> {
        let (workflow_id, hash) = (workflow_id.to_owned(), hash.to_owned());
        Box::pin(async move {
            sqlx::query_scalar("SELECT source FROM workflows WHERE workflow_id = $1 AND hash = $2")
                .bind(workflow_id)
                .bind(hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)
        })
    }
}

impl SharedState for PostgresStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Value>, ActionError>> {
        Box::pin(async move {
            let text: Option<String> = sqlx::query_scalar("SELECT value::text FROM shared_state WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| for_action(db(e)))?;
            text.map(|t| codec::parse("shared state", &t)).transpose().map_err(for_action)
        })
    }

    fn put<'a>(&'a self, key: &'a str, value: Value) -> BoxFuture<'a, Result<(), ActionError>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO shared_state (key, value) VALUES ($1, $2::json)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            )
            .bind(key)
            .bind(codec::json(&value))
            .execute(&self.pool)
            .await
            .map_err(|e| for_action(db(e)))?;
            Ok(())
        })
    }
}
