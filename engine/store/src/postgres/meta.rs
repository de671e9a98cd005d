//! Schedule slots, workflow sources and shared connection state on PostgreSQL.

use reqflow_engine::action::{ActionError, BoxFuture, SharedState};
use reqflow_engine::runtime::clock::now_ms;
use reqflow_engine::store::{ApiDeployment, ScheduleStore, StoreResult, StoredVersion, WorkflowStore, WorkflowVersion};
use serde_json::Value;
use sqlx::Row;

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
                "INSERT INTO workflows (workflow_id, hash, version, source, stored_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT DO NOTHING",
            )
            .bind(version.workflow_id)
            .bind(version.hash)
            .bind(pg_int(version.version))
            .bind(source)
            .bind(now_ms())
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

    fn workflow_versions(&self, workflow_id: &str) -> BoxFuture<'_, StoreResult<Vec<StoredVersion>>> {
        let workflow_id = workflow_id.to_owned();
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT workflow_id, version, hash, stored_at FROM workflows WHERE workflow_id = $1 ORDER BY seq",
            )
            .bind(workflow_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
            rows.iter()
                .map(|r| {
                    let version: i32 = r.try_get(1).map_err(db)?;
                    Ok(StoredVersion {
                        workflow_id: r.try_get(0).map_err(db)?,
                        version: codec::u32_of("workflow version", i64::from(version))?,
                        hash: r.try_get(2).map_err(db)?,
                        stored_at: r.try_get(3).map_err(db)?,
                    })
                })
                .collect()
        })
    }

    fn put_api_deployment(&self, d: ApiDeployment) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO api_deployments (workflow_id, hash, deployed_at, actor) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (workflow_id) DO UPDATE
                 SET hash = EXCLUDED.hash, deployed_at = EXCLUDED.deployed_at, actor = EXCLUDED.actor",
            )
            .bind(d.workflow_id)
            .bind(d.hash)
            .bind(d.deployed_at)
            .bind(d.actor)
            .execute(&self.pool)
            .await
            .map_err(db)?;
            Ok(())
        })
    }

    fn api_deployments(&self) -> BoxFuture<'_, StoreResult<Vec<(ApiDeployment, String)>>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT d.workflow_id, d.hash, d.deployed_at, d.actor, w.source
                 FROM api_deployments d JOIN workflows w ON w.workflow_id = d.workflow_id AND w.hash = d.hash
                 ORDER BY d.workflow_id",
            )
            .fetch_all(&self.pool)
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
