//! Versioned migrations, embedded from `engine/store/migrations/` and
//! applied at open by each backend inside one transaction, recorded in
//! `reqflow_migrations (version, name, checksum, applied_at)`.
//!
//! Our own small runner rather than sqlx's `migrate!`: it needs no proc
//! macros (sqlx's macros crate is the heaviest build dependency), and it
//! refuses a database whose applied migrations were edited afterwards or come
//! from a newer reqflow.

use reqflow_engine::store::{StoreError, StoreResult};

/// One migration file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Migration {
    /// `NNNN` of the file name.
    pub version: i64,
    /// The rest of the file name.
    pub name: &'static str,
    /// The SQL (several statements).
    pub sql: &'static str,
}

impl Migration {
    /// SHA-256 of the SQL, to notice a migration edited after it was applied.
    pub fn checksum(&self) -> String {
        reqflow_engine::sha256_hex(self.sql.as_bytes())
    }
}

/// SQLite migrations, in order.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) const SQLITE: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("../migrations/sqlite/0001_init.sql") },
    Migration { version: 2, name: "event_raw_body", sql: include_str!("../migrations/sqlite/0002_event_raw_body.sql") },
    Migration { version: 3, name: "access", sql: include_str!("../migrations/sqlite/0003_access.sql") },
    Migration { version: 4, name: "event_reason", sql: include_str!("../migrations/sqlite/0004_event_reason.sql") },
    Migration { version: 5, name: "events_list", sql: include_str!("../migrations/sqlite/0005_events_list.sql") },
    Migration {
        version: 6,
        name: "api_deployments",
        sql: include_str!("../migrations/sqlite/0006_api_deployments.sql"),
    },
    Migration { version: 7, name: "lifecycle", sql: include_str!("../migrations/sqlite/0007_lifecycle.sql") },
    Migration { version: 9, name: "subscriptions", sql: include_str!("../migrations/sqlite/0009_subscriptions.sql") },
    Migration { version: 10, name: "blobs", sql: include_str!("../migrations/sqlite/0010_blobs.sql") },
    Migration { version: 11, name: "runs_console", sql: include_str!("../migrations/sqlite/0011_runs_console.sql") },
    Migration { version: 12, name: "blob_refs", sql: include_str!("../migrations/sqlite/0012_blob_refs.sql") },
    Migration {
        version: 13,
        name: "step_result_refs",
        sql: include_str!("../migrations/sqlite/0013_step_result_refs.sql"),
    },
    Migration {
        version: 17,
        name: "token_subject_access",
        sql: include_str!("../migrations/sqlite/0017_token_subject_access.sql"),
    },
    Migration { version: 21, name: "packed_values", sql: include_str!("../migrations/sqlite/0021_packed_values.sql") },
    Migration { version: 22, name: "run_seq_keys", sql: include_str!("../migrations/sqlite/0022_run_seq_keys.sql") },
    Migration {
        version: 23,
        name: "run_dictionary",
        sql: include_str!("../migrations/sqlite/0023_run_dictionary.sql"),
    },
    Migration { version: 24, name: "events_seq", sql: include_str!("../migrations/sqlite/0024_events_seq.sql") },
    Migration {
        version: 29,
        name: "run_workflow_hash_ref",
        sql: include_str!("../migrations/sqlite/0029_run_workflow_hash_ref.sql"),
    },
];

/// PostgreSQL migrations, in order.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) const POSTGRES: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("../migrations/postgres/0001_init.sql") },
    Migration {
        version: 2,
        name: "event_raw_body",
        sql: include_str!("../migrations/postgres/0002_event_raw_body.sql"),
    },
    Migration { version: 3, name: "access", sql: include_str!("../migrations/postgres/0003_access.sql") },
    Migration { version: 4, name: "event_reason", sql: include_str!("../migrations/postgres/0004_event_reason.sql") },
    Migration { version: 5, name: "events_list", sql: include_str!("../migrations/postgres/0005_events_list.sql") },
    Migration {
        version: 6,
        name: "api_deployments",
        sql: include_str!("../migrations/postgres/0006_api_deployments.sql"),
    },
    Migration { version: 7, name: "lifecycle", sql: include_str!("../migrations/postgres/0007_lifecycle.sql") },
    Migration { version: 9, name: "subscriptions", sql: include_str!("../migrations/postgres/0009_subscriptions.sql") },
    Migration { version: 10, name: "blobs", sql: include_str!("../migrations/postgres/0010_blobs.sql") },
    Migration { version: 11, name: "runs_console", sql: include_str!("../migrations/postgres/0011_runs_console.sql") },
    Migration { version: 12, name: "blob_refs", sql: include_str!("../migrations/postgres/0012_blob_refs.sql") },
    Migration {
        version: 13,
        name: "step_result_refs",
        sql: include_str!("../migrations/postgres/0013_step_result_refs.sql"),
    },
    Migration {
        version: 17,
        name: "token_subject_access",
        sql: include_str!("../migrations/postgres/0017_token_subject_access.sql"),
    },
    // PostgreSQL only (the one-statement accept's check).
    Migration {
        version: 20,
        name: "accept_one_statement",
        sql: include_str!("../migrations/postgres/0020_accept_one_statement.sql"),
    },
];

/// Which of `all` still need applying, given the `(version, checksum)` rows
/// already recorded; errors when an applied one changed or is unknown.
pub(crate) fn pending<'m>(all: &'m [Migration], applied: &[(i64, String)]) -> StoreResult<Vec<&'m Migration>> {
    for (version, checksum) in applied {
        match all.iter().find(|m| m.version == *version) {
            None => {
                return Err(StoreError::Migration(format!(
                    "the database has migration {version}, which this reqflow does not know (is it older than the one that migrated the database?)"
                )));
            }
            Some(m) if m.checksum() != *checksum => {
                return Err(StoreError::Migration(format!(
                    "migration {:04}_{} was changed after it was applied",
                    m.version, m.name
                )));
            }
            Some(_) => {}
        }
    }
    Ok(all.iter().filter(|m| !applied.iter().any(|(v, _)| *v == m.version)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file in `migrations/<backend>/` is listed, in order, with its name.
    fn check(dir: &str, list: &[Migration]) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
        let mut files: Vec<String> = std::fs::read_dir(&path)
            .expect("migrations dir")
            .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = list.iter().map(|m| format!("{:04}_{}.sql", m.version, m.name)).collect();
        assert_eq!(files, listed, "migrations/{dir} and the list in migrate.rs differ");
        // Strictly increasing; a branch may leave gaps that another fills.
        for pair in list.windows(2) {
            assert!(
                pair[0].version < pair[1].version,
                "versions increase: {} then {}",
                pair[0].version,
                pair[1].version
            );
        }
    }

    #[test]
    fn every_file_is_listed() {
        check("sqlite", SQLITE);
        check("postgres", POSTGRES);
    }

    #[test]
    fn edited_or_unknown_migrations_are_refused() {
        assert_eq!(pending(SQLITE, &[]).expect("fresh").len(), SQLITE.len());
        let all: Vec<(i64, String)> = SQLITE.iter().map(|m| (m.version, m.checksum())).collect();
        assert!(pending(SQLITE, &all).expect("applied").is_empty());
        let first = pending(SQLITE, &all[..1]).expect("first applied");
        let later: Vec<i64> = SQLITE[1..].iter().map(|m| m.version).collect();
        assert_eq!(first.iter().map(|m| m.version).collect::<Vec<_>>(), later, "only the later ones are pending");
        assert!(pending(SQLITE, &[(1, "x".into())]).is_err());
        assert!(pending(SQLITE, &[(999, "x".into())]).is_err());
    }
}
