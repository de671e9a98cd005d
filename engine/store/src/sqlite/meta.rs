//! Schedule slots, workflow sources and shared connection state on SQLite.

use reqflow_engine::action::{ActionError, BoxFuture, SharedState};
use reqflow_engine::runtime::clock::now_ms;
use reqflow_engine::store::{ApiDeployment, ScheduleStore, StoreResult, StoredVersion, WorkflowStore, WorkflowVersion};
use rusqlite::params;
use serde_json::Value;
use sqlx::Row;

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
                "INSERT INTO workflows (workflow_id, hash, version, source, stored_at) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![version.workflow_id, version.hash, i64::from(version.version), source, now_ms()])
            })
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

    fn workflow_versions(&self, workflow_id: &str) -> BoxFuture<'_, StoreResult<Vec<StoredVersion>>> {
        let workflow_id = workflow_id.to_owned();
        Box::pin(self.read(move |c| {
            boxed(async move {
                let rows = sqlx::query(
                    "SELECT workflow_id, version, hash, stored_at FROM workflows WHERE workflow_id = ? ORDER BY rowid",
                )
                .bind(workflow_id)
                .fetch_all(c)
                .await
                .map_err(db)?;
                rows.iter()
                    .map(|r| {
                        Ok(StoredVersion {
                            workflow_id: r.try_get(0).map_err(db)?,
                            version: codec::u32_of("workflow version", r.try_get(1).map_err(db)?)?,
                            hash: r.try_get(2).map_err(db)?,
                            stored_at: r.try_get(3).map_err(db)?,
                        })
                    })
                    .collect()
            })
        }))
    }

    fn put_api_deployment(&self, d: ApiDeployment) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.write_one(move |c| {
            c.prepare_cached(
                "INSERT INTO api_deployments (workflow_id, hash, deployed_at, actor) VALUES (?, ?, ?, ?)
                 ON CONFLICT (workflow_id) DO UPDATE
                 SET hash = excluded.hash, deployed_at = excluded.deployed_at, actor = excluded.actor",
            )
            .and_then(|mut s| s.execute(params![d.workflow_id, d.hash, d.deployed_at, d.actor]))
            .map_err(sql)?;
            Ok(())
        }))
    }

    fn api_deployments(&self) -> BoxFuture<'_, StoreResult<Vec<(ApiDeployment, String)>>> {
        Box::pin(self.read(move |c| {
            boxed(async move {
                let rows = sqlx::query(
                    "SELECT d.workflow_id, d.hash, d.deployed_at, d.actor, w.source
                     FROM api_deployments d JOIN workflows w ON w.workflow_id = d.workflow_id AND w.hash = d.hash
                     ORDER BY d.workflow_id",
                )
                .fetch_all(c)
                .await
                .map_err(db)?;
                rows.iter()
                    .map(|r| {
                        let d = ApiDeployment {
                            workflow_id: r.try_get(0).map_err(db)?,
                            hash: r.try_get(1).map_err(db)?,
                            deployed_at: r.try_get(2).map_err(db)?,
                            actor: r.try_get(3).map_err(db)?,
                        };
                        Ok((d, r.try_get(4).map_err(db)?))
                    })
                    .collect()
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
