//! API tokens and the audit trail on SQLite.

use reqflow_engine::action::BoxFuture;
use reqflow_engine::store::{
    AuditFilter, AuditRecord, AuditStore, NewAudit, NewToken, StoreError, StoreResult, TokenRecord, TokenStore,
};
use rusqlite::{OptionalExtension, params};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, boxed};
use crate::codec;
use crate::error::{db, sql};

const TOKEN_COLUMNS: &str = "name, scope, created_at, expires_at, revoked_at, subject_access";

fn token_record(r: &SqliteRow) -> StoreResult<TokenRecord> {
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

impl TokenStore for SqliteStore {
    fn create_token(&self, token: NewToken) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.write(move |c| {
            let existing: Option<Option<i64>> = c
                .query_row(
                    "SELECT expires_at FROM api_tokens WHERE name = ? AND revoked_at IS NULL",
                    params![token.name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            match existing {
                Some(Some(expires)) if expires <= token.created_at => {
                    c.execute(
                        "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                        params![token.created_at, token.name],
                    )
                    .map_err(sql)?;
                }
                Some(_) => {
                    return Err(StoreError::Conflict(format!(
                        "a token named `{}` exists; revoke it first or choose another name",
                        token.name
                    )));
                }
                None => {}
            }
            c.execute(
                "INSERT INTO api_tokens (token_hash, name, scope, created_at, expires_at, subject_access)
                 VALUES (?, ?, ?, ?, ?, ?)",
                params![
                    token.hash,
                    token.name,
                    token.scope.as_str(),
                    token.created_at,
                    token.expires_at,
                    token.subject_access
                ],
            )
            .map_err(sql)?;
            Ok(())
        }))
    }

    fn token_by_hash(&self, hash: &str) -> BoxFuture<'_, StoreResult<Option<TokenRecord>>> {
        let hash = hash.to_owned();
        Box::pin(self.read(move |c| {
            boxed(async move {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?"
                )))
                .bind(hash)
                .fetch_optional(c)
                .await
                .map_err(db)?;
                row.as_ref().map(token_record).transpose()
            })
        }))
    }

    fn tokens(&self) -> BoxFuture<'_, StoreResult<Vec<TokenRecord>>> {
        Box::pin(self.read(move |c| {
            boxed(async move {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at DESC, name"
                )))
                .fetch_all(c)
                .await
                .map_err(db)?;
                rows.iter().map(token_record).collect()
            })
        }))
    }

    fn revoke_token(&self, name: &str, now: i64) -> BoxFuture<'_, StoreResult<bool>> {
        let name = name.to_owned();
        Box::pin(self.write_one(move |c| {
            let n = c
                .execute(
                    "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                    params![now, name],
                )
                .map_err(sql)?;
            Ok(n > 0)
        }))
    }
}

fn audit_record(r: &SqliteRow) -> StoreResult<AuditRecord> {
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

impl AuditStore for SqliteStore {
    fn audit(&self, entry: NewAudit) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.write_one(move |c| {
            let objects = codec::json(&serde_json::Value::from(entry.objects));
            c.prepare_cached(
                "INSERT INTO audit (at, actor, action, objects, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    entry.at,
                    entry.actor,
                    entry.action,
                    objects,
                    entry.outcome.as_str(),
                    codec::json(&entry.detail)
                ])
            })
            .map_err(sql)?;
            Ok(())
        }))
    }

    fn audit_log(&self, f: AuditFilter) -> BoxFuture<'_, StoreResult<Vec<AuditRecord>>> {
        Box::pin(self.read(move |c| {
            boxed(async move {
                let rows = sqlx::query(
                    "SELECT id, at, actor, action, objects, outcome, detail FROM audit
                     WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR at < ?2) AND (?3 IS NULL OR id < ?3)
                     ORDER BY id DESC LIMIT ?4",
                )
                .bind(f.since)
                .bind(f.until)
                .bind(f.before)
                .bind(i64::from(f.limit.unwrap_or(100)))
                .fetch_all(c)
                .await
                .map_err(db)?;
                rows.iter().map(audit_record).collect()
            })
        }))
    }
}
