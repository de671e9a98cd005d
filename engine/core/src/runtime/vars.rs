//! Vars: `vars.NAME` in expressions, for settings that are not credentials
//! (tenant names, base URLs, member ids). Read from `REQFLOW_VAR_NAME`
//! environment variables and an optional vars file (the formats of
//! [`Secrets`](super::Secrets)); never masked, so errors and stored data
//! show them as they are.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::settings::{SettingsError, env_entries, file_entries};

/// The prefix of the environment variables read as vars.
pub const ENV_PREFIX: &str = "REQFLOW_VAR_";

/// The vars of a deployment.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    values: BTreeMap<String, String>,
}

impl Vars {
    /// No vars.
    pub fn new() -> Self {
        Self::default()
    }

    /// Vars from `REQFLOW_VAR_*` environment variables.
    pub fn from_env() -> Self {
        let mut v = Vars::new();
        for (name, value) in env_entries(ENV_PREFIX) {
            v.insert(&name, value);
        }
        v
    }

    /// Adds the vars of a file: a JSON object of strings, or `NAME=value`
    /// lines. File entries override the environment.
    pub fn load_file(&mut self, path: &Path) -> Result<(), SettingsError> {
        for (name, value) in file_entries(path, "vars")? {
            self.insert(&name, value);
        }
        Ok(())
    }

    /// Sets one var.
    pub fn insert(&mut self, name: &str, value: String) {
        self.values.insert(name.to_owned(), value);
    }

    /// The `vars` object expressions see.
    pub fn to_json(&self) -> Value {
        Value::Object(self.values.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}
