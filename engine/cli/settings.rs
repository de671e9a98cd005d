//! Secrets and vars for the commands that run workflows (`serve`, `run`),
//! and the warning about secrets too short to mask safely (`serve`,
//! `validate`).

use std::path::PathBuf;

use clap::Args;
use reqflow_engine::runtime::secrets::{MIN_MASKED_LEN, SHORT_SECRET_CHARS};
use reqflow_engine::runtime::{Secrets, Settings, Vars};

/// `--secrets FILE` and `--vars FILE`.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct SettingsArgs {
    /// A secrets file (`NAME=value` lines or a JSON object), added to `REQFLOW_SECRET_*`. Secrets are
    /// read as `{{ secrets.NAME }}` and masked (`***`) in everything stored, logged or answered.
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,
    /// A vars file (same formats), added to `REQFLOW_VAR_*`. Vars are read as `{{ vars.NAME }}` and
    /// never masked: for settings that are not credentials (tenant names, base URLs, member ids).
    #[arg(long, value_name = "FILE")]
    pub vars: Option<PathBuf>,
}

impl SettingsArgs {
    /// Secrets and vars from the environment, then the files (which win).
    pub(crate) fn load(&self) -> anyhow::Result<Settings> {
        Ok(Settings::new(secrets(self.secrets.as_ref())?, vars(self.vars.as_ref())?))
    }
}

/// Secrets from `REQFLOW_SECRET_*`, then the file.
pub(crate) fn secrets(file: Option<&PathBuf>) -> anyhow::Result<Secrets> {
    let mut s = Secrets::from_env();
    if let Some(f) = file {
        s.load_file(f)?;
    }
    Ok(s)
}

fn vars(file: Option<&PathBuf>) -> anyhow::Result<Vars> {
    let mut v = Vars::from_env();
    if let Some(f) = file {
        v.load_file(f)?;
    }
    Ok(v)
}

/// On stderr, one warning per secret shorter than [`SHORT_SECRET_CHARS`]
/// characters: its name and what happens, never its value.
pub(crate) fn warn_short_secrets(secrets: &Secrets) {
    for s in secrets.short() {
        let what = if s.masked {
            format!(
                "is shorter than {SHORT_SECRET_CHARS} characters: its value is masked (`***`) wherever it appears \
                 in stored data, logs and answers, ordinary text included"
            )
        } else {
            format!("is shorter than {MIN_MASKED_LEN} characters, too short to be masked: its value is shown as it is")
        };
        eprintln!(
            "warning: secret `{name}` {what}; use a longer secret, or a var (`REQFLOW_VAR_{name}`, \
             `{{{{ vars.{name} }}}}`) if it is not a credential",
            name = s.name
        );
    }
}
