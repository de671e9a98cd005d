//! Managed vendor subscriptions on PostgreSQL (migration 0009).

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{StoreResult, SubscriptionRecord, SubscriptionStore};
use sqlx::Row;

use super::PostgresStore;
use crate::codec;
use crate::error::db;

impl SubscriptionStore for PostgresStore {
    fn subscriptions(&self) -> BoxFuture<'_, StoreResult<Vec<SubscriptionRecord>>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT provider, account, target, event, workflow_id, connection, remote_id, args, valid_until,
                        created_at
                 FROM subscriptions ORDER BY provider, account, target",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
            rows.iter()
                .map(|r| {
                    let args: String = r.try_get(7).map_err(db)?;
                    Ok(SubscriptionRecord {
                        provider: r.try_get(0).map_err(db)?,
                        account: r.try_get(1).map_err(db)?,
                        target: r.try_get(2).map_err(db)?,
                        event: r.try_get(3).map_err(db)?,
                        workflow_id: r.try_get(4).map_err(db)?,
                        connection: r.try_get(5).map_err(db)?,
                        remote_id: r.try_get(6).map_err(db)?,
                        args: codec::parse("subscription args", &args)?,
                        valid_until: r.try_get(8).map_err(db)?,
                        created_at: r.try_get(9).map_err(db)?,
                    })
                })
                .collect()
        })
    }

    fn put_subscription(&self, s: SubscriptionRecord) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO subscriptions (provider, account, target, event, workflow_id, connection, remote_id, args,
                                            valid_until, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (provider, account, target) DO UPDATE
                 SET event = EXCLUDED.event, workflow_id = EXCLUDED.workflow_id, connection = EXCLUDED.connection,
                     remote_id = EXCLUDED.remote_id, args = EXCLUDED.args, valid_until = EXCLUDED.valid_until,
                     created_at = EXCLUDED.created_at",
            )
            .bind(s.provider)
            .bind(s.account)
            .bind(s.target)
            .bind(s.event)
            .bind(s.workflow_id)
            .bind(s.connection)
            .bind(s.remote_id)
            .bind(codec::json(&s.args))
            .bind(s.valid_until)
            .bind(s.created_at)
            .execute(&self.pool)
            .await
            .map_err(db)?;
            Ok(())
        })
    }

    fn delete_subscription(&self, provider: &str, account: &str, target: &str) -> BoxFuture<'_, StoreResult<bool>> {
        let (provider, account, target) = (provider.to_owned(), account.to_owned(), target.to_owned());
        Box::pin(async move {
            let r = sqlx::query("DELETE FROM subscriptions WHERE provider = $1 AND account = $2 AND target = $3")
                .bind(provider)
                .bind(account)
                .bind(target)
                .execute(&self.pool)
                .await
                .map_err(db)?;
            Ok(r.rows_affected() > 0)
        })
    }
}
