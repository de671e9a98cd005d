//! Secrets: `secrets.NAME` in expressions. Read from `REQFLOW_SECRET_NAME`
//! environment variables and an optional secrets file; masked wherever a
//! value is stored, logged or answered. Settings that are not credentials
//! belong in [`Vars`](super::Vars), which are not masked.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::Value;

use super::settings::{SettingsError, env_entries, file_entries};

/// The prefix of the environment variables read as secrets.
pub const ENV_PREFIX: &str = "REQFLOW_SECRET_";
/// What a secret is replaced with.
pub const MASK: &str = "***";
/// Values shorter than this are not masked (they would mask ordinary text).
pub const MIN_MASKED_LEN: usize = 4;
/// Values shorter than this (in characters) are worth a warning: masking
/// them hides ordinary text wherever it contains them.
pub const SHORT_SECRET_CHARS: usize = 8;

/// The secrets of a deployment.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
    /// Built on first use (and again after an `insert`): every value long
    /// enough to mask, found in one pass (the longest value wins where two
    /// overlap, so no part of a longer secret is left).
    finder: OnceLock<Option<AhoCorasick>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").field("names", &self.values.keys().collect::<Vec<_>>()).finish()
    }
}

/// A secret shorter than [`SHORT_SECRET_CHARS`] (see [`Secrets::short`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShortSecret {
    /// The secret's name (never its value).
    pub name: String,
    /// Whether it is masked at all: values under [`MIN_MASKED_LEN`] bytes are not.
    pub masked: bool,
}

impl Secrets {
    /// No secrets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Secrets from `REQFLOW_SECRET_*` environment variables.
    pub fn from_env() -> Self {
        let mut s = Secrets::new();
        for (name, value) in env_entries(ENV_PREFIX) {
            s.insert(&name, value);
        }
        s
    }

    /// Adds the secrets of a file: a JSON object of strings, or `NAME=value`
    /// lines (`#` comments and blank lines allowed). File entries override
    /// the environment.
    pub fn load_file(&mut self, path: &Path) -> Result<(), SettingsError> {
        for (name, value) in file_entries(path, "secrets")? {
            self.insert(&name, value);
        }
        Ok(())
    }

    /// Sets one secret.
    pub fn insert(&mut self, name: &str, value: String) {
        self.values.insert(name.to_owned(), value);
        self.finder = OnceLock::new();
    }

    /// The secrets shorter than [`SHORT_SECRET_CHARS`] characters, by name:
    /// masking such a value hides ordinary text wherever it appears (a
    /// tenant `acme` would mask every `acme`), and one under
    /// [`MIN_MASKED_LEN`] is not masked at all.
    pub fn short(&self) -> Vec<ShortSecret> {
        self.values
            .iter()
            .filter(|(_, v)| v.chars().count() < SHORT_SECRET_CHARS)
            .map(|(k, v)| ShortSecret { name: k.clone(), masked: v.len() >= MIN_MASKED_LEN })
            .collect()
    }

    fn finder(&self) -> Option<&AhoCorasick> {
        self.finder
            .get_or_init(|| {
                let masked: Vec<&str> =
                    self.values.values().map(String::as_str).filter(|v| v.len() >= MIN_MASKED_LEN).collect();
                if masked.is_empty() {
                    None
                } else {
                    AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(&masked).ok()
                }
            })
            .as_ref()
    }

    /// The `secrets` object expressions see: every secret but the state
    /// key `KEY` (see `sealed.rs`), which is masked but not readable by workflows.
    pub fn to_json(&self) -> Value {
        let visible = self.values.iter().filter(|(k, _)| k.as_str() != super::sealed::KEY_SECRET);
        Value::Object(visible.map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    }

    /// A secret workflows cannot read (`KEY`), for the engine itself.
    pub(crate) fn reserved(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every secret value replaced by `***`.
    pub fn mask_str(&self, text: &str) -> String {
        match self.finder() {
            Some(f) if f.is_match(text) => f.replace_all(text, &vec![MASK; f.patterns_len()]),
            _ => text.to_owned(),
        }
    }

    /// A copy of `value` with every secret value masked, in keys and strings.
    pub fn mask(&self, value: &Value) -> Value {
        if self.values.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.mask_str(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.mask(v)).collect()),
            // A binary value's `data` is base64 of bytes, not text: masking
            // inside it would only corrupt the bytes (a secret in the file is
            // not visible in its base64 anyway).
            Value::Object(map) if crate::value::binary::is_binary(value) => Value::Object(
                map.iter().map(|(k, v)| (k.clone(), if k == "data" { v.clone() } else { self.mask(v) })).collect(),
            ),
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (self.mask_str(k), self.mask(v))).collect()),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_binary_values_bytes_are_never_masked() {
        let mut s = Secrets::new();
        s.insert("KEY", "QUJDREVGR0h".into());
        let bin = crate::value::binary::Binary::new("application/pdf", b"ABCDEFGHABCDEFGH".to_vec()).to_value();
        assert!(bin["data"].as_str().is_some_and(|d| d.contains("QUJDREVGR0h")));
        let masked = s.mask(&json!({ "body": bin.clone(), "note": "QUJDREVGR0h" }));
        assert_eq!(masked["body"], bin, "the bytes are kept whole");
        assert_eq!(masked["note"], "***");
    }

    /// One secret inside another: the longer is masked whole, whatever the
    /// names' order (masking the shorter first would leave `efgh` visible).
    #[test]
    fn a_secret_inside_another_leaves_nothing_of_the_longer() {
        let mut s = Secrets::new();
        s.insert("A_SHORT", "abcd1234".into());
        s.insert("B_LONG", "abcd1234efgh".into());
        assert_eq!(s.mask_str("key abcd1234efgh and abcd1234."), "key *** and ***.");
        // Added after first use: the cached matcher is rebuilt.
        s.insert("C_NEW", "zz-new-secret".into());
        assert_eq!(s.mask_str("zz-new-secret"), "***");
    }

    #[test]
    fn masks_values_anywhere_in_json() {
        let mut s = Secrets::new();
        s.insert("TOKEN", "tok-12345".into());
        let v = json!({"auth": "Bearer tok-12345", "list": ["x", "tok-12345"], "tok-12345": 1});
        let masked = s.mask(&v);
        assert_eq!(masked, json!({"auth": "Bearer ***", "list": ["x", "***"], "***": 1}));
        assert!(!masked.to_string().contains("tok-12345"));
    }

    #[test]
    fn short_secrets_are_named_never_shown() {
        let mut s = Secrets::new();
        s.insert("PIN", "abc".into());
        s.insert("TENANT", "acme5".into());
        s.insert("TOKEN", "long-enough-token".into());
        s.insert("UNICODE", "ééééé".into()); // 10 bytes, 5 characters
        assert_eq!(
            s.short(),
            vec![
                ShortSecret { name: "PIN".into(), masked: false },
                ShortSecret { name: "TENANT".into(), masked: true },
                ShortSecret { name: "UNICODE".into(), masked: true },
            ]
        );
        assert!(!format!("{:?}", s.short()).contains("acme5"));
    }
}
