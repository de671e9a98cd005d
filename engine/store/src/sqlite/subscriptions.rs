//! Managed vendor subscriptions on SQLite (migration 0009).

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{StoreResult, SubscriptionRecord, SubscriptionStore};
use rusqlite::params;
use sqlx::Row;

use super::{SqliteStore, boxed};
use crate::codec;
use crate::error::{db, sql};

impl SubscriptionStore for SqliteStore {
    fn subscriptions(&self) -> BoxFuture<'_, StoreResult<Vec<SubscriptionRecord>>> {
        Box::pin(self.read(move |c| {
            boxed(async move {
                let rows = sqlx::query(
                    "SELECT provider, account, target, event, workflow_id, connection, remote_id, args, valid_until,
                            created_at
                     FROM subscriptions ORDER BY provider, account, target",
                )
                .fetch_all(c)
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
        }))
    }

    fn put_subscription(&self, s: SubscriptionRecord) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.write_one(move |c| {
            c.prepare_cached(
                "INSERT INTO subscriptions (provider, account, target, event, workflow_id, connection, remote_id, args,
                                            valid_until, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (provider, account, target) DO UPDATE
                 SET event = excluded.event, workflow_id = excluded.workflow_id, connection = excluded.connection,
                     remote_id = excluded.remote_id, args = excluded.args, valid_until = excluded.valid_until,
                     created_at = excluded.created_at",
            )
            .and_then(|mut st| {
                st.execute(params![
                    s.provider,
                    s.account,
                    s.target,
                    s.event,
                    s.workflow_id,
                    s.connection,
                    s.remote_id,
                    codec::json(&s.args),
                    s.valid_until,
                    s.created_at
                ])
            })
            .map_err(sql)?;
            Ok(())
        }))
    }

    fn delete_subscription(&self, provider: &str, account: &str, target: &str) -> BoxFuture<'_, StoreResult<bool>> {
        let (provider, account, target) = (provider.to_owned(), account.to_owned(), target.to_owned());
        Box::pin(self.write_one(move |c| {
            let n = c
                .prepare_cached("DELETE FROM subscriptions WHERE provider = ? AND account = ? AND target = ?")
                .and_then(|mut st| st.execute(params![provider, account, target]))
                .map_err(sql)?;
            Ok(n > 0)
        }))
    }
}
