//! Schedule slots, workflow sources and shared connection state on SQLite.

use reqflow_engine::action::{ActionError, BoxFuture, SharedState};
use reqflow_engine::store::{ScheduleStore, StoreResult, WorkflowStore, WorkflowVersion};
use rusqlite::params;
use serde_json::Value;

use super::{SqliteStore, boxed};
use crate::codec;
use crate::error::{db, for_action, sql};

impl ScheduleStore for SqliteStore {
    fn claim_slot(&self, workflow_id: &str, slot: i64) -> BoxFuture<'_, StoreResult<bool>> {
        let workflow_id = workflow_id.to_owned();
        Box::pin(self.write_one(move |c| {
            let done = c
                .prepare_cached("INSERT INTO schedule_slots (workflow_id, slot) VALUES (?, ?) ON CONFLICT DO NOTHING")
                .and_then(|mut s| s.execute(params![workflow_id, slot]))
                .map_err(sql)?;
            Ok(done == 1)
        }))
    }

    fn last_slot(&self, workflow_id: &str) -> BoxFuture<'_, StoreResult<Option<i64>>> {
        let workflow_id = workflow_id.to_owned();
        Box::pin(self.read(move |c| {
            boxed(async move {
                sqlx::query_scalar("SELECT MAX(slot) FROM schedule_slots WHERE workflow_id = ?")
                    .bind(workflow_id)
                    .fetch_one(c)
                    .await
                    .map_err(db)
            })
        }))
    }

    fn last_success(&self, workflow_id: &str) -> BoxFuture<'_, StoreResult<Option<i64>>> {
        let workflow_id = workflow_id.to_owned();
        Box::pin(self.read(move |c| {
            boxed(async move {
                sqlx::query_scalar("SELECT last_success_at FROM schedule_success WHERE workflow_id = ?")
                    .bind(workflow_id)
                    .fetch_optional(c)
                    .await
                    .map_err(db)
            })
        }))
    }
}

impl WorkflowStore for SqliteStore {
    fn put_workflow(&self, version: WorkflowVersion, source: &str) -> BoxFuture<'_, StoreResult<()>> {
        let source = source.to_owned();
        Box::pin(self.write_one(move |c| {
            c.prepare_cached(
                "INSERT INTO workflows (workflow_id, hash, version, source) VALUES (?, ?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![version.workflow_id, version.hash, i64::from(version.version), source]))
            .map_err(sql)?;
            Ok(())
        }))
    }

    fn workflow_source(&self, workflow_id: &str, hash: &str) -> BoxFuture<'_, StoreResult<Option<String>>> {
        let (workflow_id, hash) = (workflow_id.to_owned(), hash.to_owned());
        Box::pin(self.read(move |c| {
            boxed(async move {
                sqlx::query_scalar("SELECT source FROM workflows WHERE workflow_id = ? AND hash = ?")
                    .bind(workflow_id)
                    .bind(hash)
                    .fetch_optional(c)
                    .await
                    .map_err(db)
            })
        }))
    }
}

impl SharedState for SqliteStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Value>, ActionError>> {
        let key = key.to_owned();
        Box::pin(async move {
            let text: Option<String> = self
                .read(move |c| {
                    boxed(async move {
                        sqlx::query_scalar("SELECT value FROM shared_state WHERE key = ?")
                            .bind(key)
                            .fetch_optional(c)
                            .await
                            .map_err(db)
                    })
                })
                .await
                .map_err(for_action)?;
            text.map(|t| codec::parse("shared state", &t)).transpose().map_err(for_action)
        })
    }

    fn put<'a>(&'a self, key: &'a str, value: Value) -> BoxFuture<'a, Result<(), ActionError>> {
        let key = key.to_owned();
        Box::pin(async move {
            self.write_one(move |c| {
                c.prepare_cached(
                    "INSERT INTO shared_state (key, value) VALUES (?, ?)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .and_then(|mut s| s.execute(params![key, codec::json(&value)]))
                .map_err(sql)?;
                Ok(())
            })
            .await
            .map_err(for_action)
        })
    }
}
