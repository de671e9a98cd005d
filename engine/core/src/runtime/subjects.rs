//! Subjects: who an event is about, indexed without personal data in clear.
//!
//! A workflow's `subject:` (one template expression or a list of them, over
//! the event) is evaluated when an event is accepted. Each value is
//! normalised (surrounding whitespace removed, lower-cased: `Ada@Example.com`
//! and `ada@example.com` are one subject) and stored as its keyed hash,
//! hex(HMAC-SHA256(subject key, value)), in the store's `subjects` index
//! beside the event and its run. Erasure (`reqflow erase`, `DELETE
//! /api/subjects/{value}`) and access (`reqflow export`, `GET
//! /api/subjects/{value}`) hash the value they are given the same way.
//!
//! **The subject key** is derived from the secret `KEY`
//! (`REQFLOW_SECRET_KEY`, the key the shared state is encrypted with) when it
//! is set: HMAC-SHA256(KEY, `reqflow subjects v1`). Without it, a random key
//! is made once per database and kept in its shared state
//! ([`SUBJECT_KEY_STATE`]); the index then still holds no value in clear, but
//! whoever can read the database can test guesses against it, so setting
//! `KEY` is recommended. Setting `KEY` later changes the subject key: events
//! indexed before are no longer found by their value.
//!
//! A value that does not evaluate (a missing field, an error) gives no
//! subject: the event is accepted and indexed under the others.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use serde_json::Value;

use super::sealed::StateKey;
use super::secrets::Secrets;
use super::{Engine, EngineError};
use crate::store::{ErasedCounts, RunFilter, Store, StoreError};

/// The shared-state key holding a database's own subject key (base64), used
/// when no `KEY` is set.
pub const SUBJECT_KEY_STATE: &str = "reqflow.subjects.key";

/// The key subjects are hashed with. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct SubjectKey([u8; 32]);

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectKey(***)")
    }
}

impl SubjectKey {
    /// The subject key of a deployment: derived from `KEY` when set, else the
    /// database's own (made and stored on first use).
    pub async fn resolve(secrets: &Secrets, store: &dyn Store) -> Result<SubjectKey, StoreError> {
        // Only the configured KEY: a key made for one process (`reqflow run`
        // without KEY) would index events no one could find later.
        if let Ok(Some(k)) = StateKey::from_secrets(secrets) {
            return Ok(SubjectKey(k.derive("reqflow subjects v1")));
        }
        let read = |v: Option<Value>| -> Result<Option<SubjectKey>, StoreError> {
            let Some(v) = v else { return Ok(None) };
            let bytes = v.as_str().and_then(|t| STANDARD.decode(t).ok()).unwrap_or_default();
            let key: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("shared state `{SUBJECT_KEY_STATE}` is not a 32-byte key")))?;
            Ok(Some(SubjectKey(key)))
        };
        let get = || async { store.get(SUBJECT_KEY_STATE).await.map_err(|e| StoreError::Database(e.message)) };
        if let Some(k) = read(get().await?)? {
            return Ok(k);
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| StoreError::Database(format!("no random bytes: {e}")))?;
        store
            .put(SUBJECT_KEY_STATE, Value::String(STANDARD.encode(key)))
            .await
            .map_err(|e| StoreError::Database(e.message))?;
        tracing::info!("made this database's subject key (set REQFLOW_SECRET_KEY to derive it from KEY instead)");
        // Another process may have stored its own at the same time: the one stored wins.
        Ok(read(get().await?)?.unwrap_or(SubjectKey(key)))
    }

    /// A key from bytes (tests, benchmarks).
    pub fn from_bytes(key: [u8; 32]) -> Self {
        SubjectKey(key)
    }

    /// The keyed hash of a subject value (normalised first), hex.
    pub fn hash(&self, value: &str) -> String {
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(normalise(value).as_bytes());
        crate::hash::hex(&mac.finalize().into_bytes())
    }
}

/// A subject value as it is compared: trimmed, lower case.
pub fn normalise(value: &str) -> String {
    value.trim().to_lowercase()
}

/// The subject values of one evaluated `subject:` expression: a string or
/// number, or each of a list's; empty strings and nulls give none.
pub fn values_of(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Null | Value::Bool(_) | Value::Object(_) => {}
        Value::String(s) => {
            if !s.trim().is_empty() {
                out.push(s.clone());
            }
        }
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|i| values_of(i, out)),
    }
}

/// What an erasure did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Erasure {
    /// The subject's keyed hash (never its value).
    pub subject_hash: String,
    /// What was deleted.
    pub deleted: ErasedCounts,
    /// Every record deleted.
    pub total: u64,
}

impl Engine {
    /// Everything held about a subject as one JSON document: its events
    /// (payload, raw body as text), the runs they started with each step's
    /// result and attempts. Secrets masked; times ISO 8601 UTC.
    pub async fn subject_export(&self, value: &str) -> Result<Value, EngineError> {
        let hash = self.subject_hash(value).await?;
        let store = self.store();
        let secrets = self.settings().secrets();
        let events: Vec<Value> = store
            .subject_events(&hash)
            .await?
            .iter()
            .map(|e| {
                let mut v = super::event_view::record_json(e, secrets);
                if let (Some(o), Some(raw)) = (v.as_object_mut(), &e.raw_body) {
                    o.insert("raw_body".into(), Value::String(secrets.mask_str(&String::from_utf8_lossy(raw))));
                }
                v
            })
            .collect();
        let mut runs = Vec::new();
        let mut before = None;
        loop {
            let page = store
                .runs(RunFilter { subject: Some(hash.clone()), limit: Some(1000), before, ..Default::default() })
                .await?;
            let full = page.len() == 1000;
            before = page.last().map(|r| r.run_id.clone());
            for r in page {
                let attempts = store.attempts(&r.run_id).await?;
                let results = store.results(&r.run_id).await?;
                let mut v = serde_json::to_value(&r).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("steps".into(), serde_json::to_value(&results).unwrap_or_default());
                    o.insert("attempts".into(), serde_json::to_value(&attempts).unwrap_or_default());
                }
                runs.push(secrets.mask(&v));
            }
            if !full {
                break;
            }
        }
        runs.reverse();
        Ok(serde_json::json!({
            "subject_hash": hash,
            "exported_at": super::clock::rfc3339(super::clock::now_ms()),
            "events": events,
            "runs": runs,
        }))
    }

    /// Erases everything held about a subject, in every workflow (its runs
    /// still in flight are cancelled first); see
    /// [`SubjectStore::erase_subject`](crate::store::SubjectStore::erase_subject).
    pub async fn erase_subject(&self, value: &str) -> Result<Erasure, EngineError> {
        let hash = self.subject_hash(value).await?;
        let deleted = self.store().erase_subject(&hash).await?;
        Ok(Erasure { total: deleted.total(), subject_hash: hash, deleted })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_keyed_and_normalised() {
        let a = SubjectKey::from_bytes([1; 32]);
        let b = SubjectKey::from_bytes([2; 32]);
        assert_eq!(a.hash(" Ada@Example.com "), a.hash("ada@example.com"));
        assert_ne!(a.hash("ada@example.com"), b.hash("ada@example.com"));
        assert_eq!(a.hash("x").len(), 64);
        let mut out = Vec::new();
        values_of(&serde_json::json!(["a", null, "", 7, ["b"]]), &mut out);
        assert_eq!(out, vec!["a", "7", "b"]);
    }
}
