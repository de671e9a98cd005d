//! API tokens and the audit trail on PostgreSQL.

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{
    AuditFilter, AuditRecord, AuditStore, NewAudit, NewToken, StoreError, StoreResult, TokenRecord, TokenStore,
};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};

use super::PostgresStore;
use crate::codec;
use crate::error::db;

const TOKEN_COLUMNS: &str = "name, scope, created_at, expires_at, revoked_at, subject_access";

fn token_record(r: &PgRow) -> StoreResult<TokenRecord> {
    let scope: String = r.try_get(1).map_err(db)?;
    Ok(TokenRecord {
        name: r.try_get(0).map_err(db)?,
        scope: codec::scope(&scope)?,
        created_at: r.try_get(2).map_err(db)?,
        expires_at: r.try_get(3).map_err(db)?,
        revoked_at: r.try_get(4).map_err(db)?,
        subject_access: r.try_get(5).map_err(db)?,
    })
}

impl TokenStore for PostgresStore {
    fn create_token(&self, token: NewToken) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(db)?;
            // Revoke an expired token of the same name; an active one is a conflict.
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $2
                 WHERE name = $1 AND revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $2",
            )
            .bind(&token.name)
            .bind(token.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            let inserted = sqlx::query(
                "INSERT INTO api_tokens (token_hash, name, scope, created_at, expires_at, subject_access)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT DO NOTHING",
            )
            .bind(&token.hash)
            .bind(&token.name)
            .bind(token.scope.as_str())
            .bind(token.created_at)
            .bind(token.expires_at)
            .bind(token.subject_access)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if inserted.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!(
                    "a token named `{}` exists; revoke it first or choose another name",
                    token.name
                )));
            }
            tx.commit().await.map_err(db)
        })
    }

    fn token_by_hash(&self, hash: &str) -> BoxFuture<'_, StoreResult<Option<TokenRecord>>> {
        let hash = hash.to_owned();
        Box::pin(async move {
            let row =
                sqlx::query(AssertSqlSafe(format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1")))
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db)?;
            row.as_ref().map(token_record).transpose()
        })
    }

    fn tokens(&self) -> BoxFuture<'_, StoreResult<Vec<TokenRecord>>> {
        Box::pin(async move {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at DESC, name"
            )))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
            rows.iter().map(token_record).collect()
        })
    }

    fn revoke_token(&self, name: &str, now: i64) -> BoxFuture<'_, StoreResult<bool>> {
        let name = name.to_owned();
        Box::pin(async move {
            let done = sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL")
                .bind(name)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db)?;
            Ok(done.rows_affected() > 0)
        })
    }
}

fn audit_record(r: &PgRow) -> StoreResult<AuditRecord> {
    let objects: String = r.try_get(4).map_err(db)?;
    let outcome: String = r.try_get(5).map_err(db)?;
    let detail: String = r.try_get(6).map_err(db)?;
    Ok(AuditRecord {
        id: r.try_get(0).map_err(db)?,
        at: r.try_get(1).map_err(db)?,
        actor: r.try_get(2).map_err(db)?,
        action: r.try_get(3).map_err(db)?,
        objects: codec::strings("audit objects", &objects)?,
        outcome: codec::audit_outcome(&outcome)?,
        detail: codec::parse("audit detail", &detail)?,
    })
}

impl AuditStore for PostgresStore {
    fn audit(&self, entry: NewAudit) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO audit (at, actor, action, objects, outcome, detail)
                 VALUES ($1, $2, $3, $4::jsonb, $5, $6::jsonb)",
            )
            .bind(entry.at)
            .bind(entry.actor)
            .bind(entry.action)
            .bind(codec::json(&serde_json::Value::from(entry.objects)))
            .bind(entry.outcome.as_str())
            .bind(codec::json(&entry.detail))
            .execute(&self.pool)
            .await
            .map_err(db)?;
            Ok(())
        })
    }

    fn audit_log(&self, f: AuditFilter) -> BoxFuture<'_, StoreResult<Vec<AuditRecord>>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT id, at, actor, action, objects::text, outcome, detail::text FROM audit
                 WHERE ($1::BIGINT IS NULL OR at >= $1) AND ($2::BIGINT IS NULL OR at < $2)
                   AND ($3::BIGINT IS NULL OR id < $3)
                 ORDER BY id DESC LIMIT $4",
            )
            .bind(f.since)
            .bind(f.until)
            .bind(f.before)
            .bind(i64::from(f.limit.unwrap_or(100)))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
            rows.iter().map(audit_record).collect()
        })
    }
}
