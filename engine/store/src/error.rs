//! Mapping database errors to [`StoreError`] without leaking connection
//! strings or passwords.

use reqflow_engine::action::ActionError;
use reqflow_engine::store::StoreError;

/// A sqlx error as a [`StoreError`]. Configuration errors (which may quote a
/// connection URL) are reduced to a fixed message.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(d) => match d.code() {
            Some(code) => StoreError::Database(format!("{} (code {code})", d.message())),
            None => StoreError::Database(d.message().to_owned()),
        },
        sqlx::Error::Configuration(_) => {
            StoreError::Database("invalid database connection options (check the database URL)".to_owned())
        }
        sqlx::Error::Io(e) => StoreError::Database(format!("I/O error talking to the database: {e}")),
        sqlx::Error::Tls(_) => StoreError::Database("TLS error connecting to the database".to_owned()),
        sqlx::Error::PoolTimedOut => StoreError::Database("timed out waiting for a database connection".to_owned()),
        sqlx::Error::PoolClosed => StoreError::Database("the database connection pool is closed".to_owned()),
        sqlx::Error::ColumnDecode { index, source } => {
            StoreError::Corrupt(format!("column {index} could not be decoded: {source}"))
        }
        sqlx::Error::Decode(source) => StoreError::Corrupt(format!("a value could not be decoded: {source}")),
        other => StoreError::Database(other.to_string()),
    }
}

/// A rusqlite error (the SQLite writer) as a [`StoreError`], worded like [`db`].
#[cfg(feature = "sqlite")]
pub(crate) fn sql(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, message) => {
            let message = message.unwrap_or_else(|| f.to_string());
            StoreError::Database(format!("{message} (code {})", f.extended_code))
        }
        rusqlite::Error::FromSqlConversionFailure(index, _, source) => {
            StoreError::Corrupt(format!("column {index} could not be decoded: {source}"))
        }
        rusqlite::Error::InvalidColumnType(index, name, ty) => {
            StoreError::Corrupt(format!("column {index} ({name}) has unexpected type {ty}"))
        }
        rusqlite::Error::IntegralValueOutOfRange(index, v) => {
            StoreError::Corrupt(format!("column {index} is out of range: {v}"))
        }
        other => StoreError::Database(other.to_string()),
    }
}

/// Whether a sqlx error is the database's "locked/busy" answer (SQLite) or a
/// serialization failure / deadlock (PostgreSQL): worth one more try.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => matches!(d.code().as_deref(), Some("40001" | "40P01")),
        _ => false,
    }
}

/// A copy of a [`StoreError`] (it is not `Clone`): one failed group commit
/// answers every caller in the group.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn copy(e: &StoreError) -> StoreError {
    match e {
        StoreError::Database(m) => StoreError::Database(m.clone()),
        StoreError::Migration(m) => StoreError::Migration(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        StoreError::NotFound(m) => StoreError::NotFound(m.clone()),
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
    }
}

/// A store error as seen by an action using [`reqflow_engine::action::SharedState`]:
/// retryable (the database may come back), code `state.unavailable`.
pub(crate) fn for_action(e: StoreError) -> ActionError {
    ActionError::retryable(format!("shared state: {e}")).with_code("state.unavailable")
}
