//! A deployment's settings as expressions see them: `secrets.NAME` (masked
//! wherever a value is stored, logged or answered) and `vars.NAME` (tenant
//! names, base URLs, member ids: readable everywhere, never masked).
//!
//! Both are read the same way: from environment variables with a prefix
//! (`REQFLOW_SECRET_`, `REQFLOW_VAR_`) and from an optional file of
//! `NAME=value` lines or a JSON object, whose entries override the
//! environment.

use std::path::Path;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::secrets::Secrets;
use super::vars::Vars;
use crate::value::Scope;

/// Secrets and vars together: what the engine evaluates connections,
/// trigger credentials, `when:`/`dedupe:` and steps against.
#[derive(Clone, Default)]
pub struct Settings {
    secrets: Secrets,
    vars: Vars,
    /// `{ "secrets": {…}, "vars": {…} }`, built on first use.
    scope: OnceLock<Scope>,
}

/// Secret names only, never the scope (it holds the values).
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings").field("secrets", &self.secrets).field("vars", &self.vars).finish()
    }
}

impl Settings {
    /// These secrets and vars.
    pub fn new(secrets: Secrets, vars: Vars) -> Self {
        Settings { secrets, vars, scope: OnceLock::new() }
    }

    /// Secrets from `REQFLOW_SECRET_*` and vars from `REQFLOW_VAR_*`.
    pub fn from_env() -> Self {
        Settings::new(Secrets::from_env(), Vars::from_env())
    }

    /// The secrets (masked).
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// The vars (not masked).
    pub fn vars(&self) -> &Vars {
        &self.vars
    }

    /// A scope with only `secrets` and `vars` (connection settings, trigger credentials).
    pub fn scope(&self) -> Scope {
        self.scope
            .get_or_init(|| {
                let mut root = Map::with_capacity(2);
                self.add_to(&mut root);
                Scope::new(Value::Object(root))
            })
            .clone()
    }

    /// Adds `secrets` and `vars` to a context's root object.
    pub fn add_to(&self, root: &mut Map<String, Value>) {
        root.insert("secrets".into(), self.secrets.to_json());
        root.insert("vars".into(), self.vars.to_json());
    }

    /// `text` with every secret value replaced by `***` (vars are left as they are).
    pub fn mask_str(&self, text: &str) -> String {
        self.secrets.mask_str(text)
    }

    /// A copy of `value` with every secret value masked (vars are left as they are).
    pub fn mask(&self, value: &Value) -> Value {
        self.secrets.mask(value)
    }
}

impl From<Secrets> for Settings {
    fn from(secrets: Secrets) -> Self {
        Settings::new(secrets, Vars::default())
    }
}

/// Why a settings file (`--secrets FILE`, `--vars FILE`) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read.
    #[error("cannot read {kind} file {path}: {source}")]
    Io {
        /// `secrets` or `vars`.
        kind: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not `NAME=value`, or the JSON is not an object of strings.
    #[error("{kind} file {path}, line {line}: {message}")]
    Syntax {
        /// `secrets` or `vars`.
        kind: &'static str,
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong (never the value).
        message: String,
    },
}

/// `(NAME, value)` for every environment variable `{prefix}NAME`.
pub(crate) fn env_entries(prefix: &str) -> Vec<(String, String)> {
    std::env::vars()
        .filter_map(|(k, v)| match k.strip_prefix(prefix) {
            Some(name) if !name.is_empty() => Some((name.to_owned(), v)),
            _ => None,
        })
        .collect()
}

/// The entries of a settings file: a JSON object of strings, or `NAME=value`
/// lines (`#` comments and blank lines allowed, a value may be in double
/// quotes). `kind` (`secrets`, `vars`) names the file in errors.
pub(crate) fn file_entries(path: &Path, kind: &'static str) -> Result<Vec<(String, String)>, SettingsError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Io { kind, path: p.clone(), source })?;
    if text.trim_start().starts_with('{') {
        let v: Map<String, Value> = serde_json::from_str(&text).map_err(|e| SettingsError::Syntax {
            kind,
            path: p.clone(),
            line: e.line(),
            message: "expected a JSON object of string values".into(),
        })?;
        return v
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(v) => Ok((k, v)),
                _ => Err(SettingsError::Syntax {
                    kind,
                    path: p.clone(),
                    line: 1,
                    message: format!("`{k}` is not a string"),
                }),
            })
            .collect();
    }
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(SettingsError::Syntax { kind, path: p, line: i + 1, message: "expected NAME=value".into() });
        };
        let v = v.trim();
        let v = v.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(v);
        entries.push((k.trim().to_owned(), v.to_owned()));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vars_are_in_the_scope_and_never_masked() {
        let mut secrets = Secrets::new();
        secrets.insert("TOKEN", "tok-12345".into());
        let mut vars = Vars::new();
        vars.insert("BASE_URL", "https://vendor.example".into());
        let s = Settings::new(secrets, vars);
        assert_eq!(
            s.scope().json(),
            &json!({"secrets": {"TOKEN": "tok-12345"}, "vars": {"BASE_URL": "https://vendor.example"}})
        );
        assert_eq!(
            s.mask_str("POST https://vendor.example/invites?key=tok-12345"),
            "POST https://vendor.example/invites?key=***"
        );
        let _ = s.scope();
        let debug = format!("{s:?}");
        assert!(debug.contains("TOKEN") && !debug.contains("tok-12345"), "{debug}");
    }

    #[test]
    fn reads_env_style_and_json_files() {
        let dir = std::env::temp_dir().join(format!("reqflow-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("vars.env");
        std::fs::write(&f, "# comment\nA=one\nB=\"two words\"\n").expect("write");
        let got = file_entries(&f, "vars").expect("load");
        assert_eq!(got, vec![("A".into(), "one".into()), ("B".into(), "two words".into())]);
        std::fs::write(&f, "oops\n").expect("write");
        let e = file_entries(&f, "vars").expect_err("bad line");
        assert!(e.to_string().contains("vars file") && e.to_string().contains("line 1: expected NAME=value"), "{e}");
        std::fs::write(&f, r#"{"A": "one", "N": 2}"#).expect("write");
        let e = file_entries(&f, "secrets").expect_err("not a string");
        assert!(e.to_string().contains("secrets file") && e.to_string().contains("`N` is not a string"), "{e}");
    }
}
