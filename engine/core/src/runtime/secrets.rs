//! Secrets: `secrets.NAME` in expressions. Read from `REQFLOW_SECRET_NAME`
//! environment variables and an optional secrets file; masked wherever a
//! value is stored, logged or answered.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::Value;

use crate::value::Scope;

/// What a secret is replaced with.
pub const MASK: &str = "***";
/// Values shorter than this are not masked (they would mask ordinary text).
const MIN_MASKED_LEN: usize = 4;

/// The secrets of a deployment.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
    /// Built on first use (and again after an `insert`).
    cache: OnceLock<Cached>,
}

/// What is derived from the values.
#[derive(Clone)]
struct Cached {
    /// `{ "secrets": { NAME: value } }`.
    scope: Scope,
    /// Every value long enough to mask, found in one pass (the longest
    /// value wins where two overlap, so no part of a longer secret is left).
    finder: Option<AhoCorasick>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").field("names", &self.values.keys().collect::<Vec<_>>()).finish()
    }
}

/// Why the secrets file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The file could not be read.
    #[error("cannot read secrets file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not `NAME=value`, or the JSON is not an object of strings.
    #[error("secrets file {path}, line {line}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong (never the value).
        message: String,
    },
}

impl Secrets {
    /// No secrets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Secrets from `REQFLOW_SECRET_*` environment variables.
    pub fn from_env() -> Self {
        let mut s = Secrets::new();
        for (k, v) in std::env::vars() {
            if let Some(name) = k.strip_prefix("REQFLOW_SECRET_")
                && !name.is_empty()
            {
                s.insert(name, v);
            }
        }
        s
    }

    /// Adds the secrets of a file: a JSON object of strings, or `NAME=value`
    /// lines (`#` comments and blank lines allowed). File entries override
    /// the environment.
    pub fn load_file(&mut self, path: &Path) -> Result<(), SecretsError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SecretsError::Io { path: p.clone(), source })?;
        if text.trim_start().starts_with('{') {
            let v: serde_json::Map<String, Value> = serde_json::from_str(&text).map_err(|e| SecretsError::Syntax {
                path: p.clone(),
                line: e.line(),
                message: "expected a JSON object of string values".into(),
            })?;
            for (k, v) in v {
                let Value::String(v) = v else {
                    return Err(SecretsError::Syntax { path: p, line: 1, message: format!("`{k}` is not a string") });
                };
                self.insert(&k, v);
            }
            return Ok(());
        }
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(SecretsError::Syntax { path: p, line: i + 1, message: "expected NAME=value".into() });
            };
            let v = v.trim();
            let v = v.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(v);
            self.insert(k.trim(), v.to_owned());
        }
        Ok(())
    }

    /// Sets one secret.
    pub fn insert(&mut self, name: &str, value: String) {
        self.values.insert(name.to_owned(), value);
        self.cache = OnceLock::new();
    }

    fn cached(&self) -> &Cached {
        self.cache.get_or_init(|| {
            let masked: Vec<&str> =
                self.values.values().map(String::as_str).filter(|v| v.len() >= MIN_MASKED_LEN).collect();
            let finder = if masked.is_empty() {
                None
            } else {
                AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(&masked).ok()
            };
            Cached { scope: Scope::new(serde_json::json!({ "secrets": self.to_json() })), finder }
        })
    }

    /// A scope with only `secrets` (connection settings, trigger credentials).
    pub fn scope(&self) -> Scope {
        self.cached().scope.clone()
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
        match &self.cached().finder {
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
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (self.mask_str(k), self.mask(v))).collect()),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn reads_env_style_files() {
        let dir = std::env::temp_dir().join(format!("reqflow-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("secrets.env");
        std::fs::write(&f, "# comment\nA=one\nB=\"two words\"\n").expect("write");
        let mut s = Secrets::new();
        s.load_file(&f).expect("load");
        assert_eq!(s.to_json(), json!({"A": "one", "B": "two words"}));
        std::fs::write(&f, "oops\n").expect("write");
        let e = s.load_file(&f).expect_err("bad line");
        assert!(e.to_string().contains("line 1: expected NAME=value"));
    }
}
