//! Where each command gets the key connection credentials are encrypted
//! with in the store (`reqflow_engine::runtime::sealed`): the secret `KEY`
//! (`REQFLOW_SECRET_KEY`, or `KEY=…` in the `--secrets` file).

use anyhow::Context;
use reqflow_engine::runtime::{Secrets, StateKey};

/// For `serve`: the configured key; an invalid one refuses the start. Without
/// one the engine runs, but nothing secret can be stored: say so at once.
pub(crate) fn serve_key(secrets: &Secrets) -> anyhow::Result<Option<StateKey>> {
    let key = configured(secrets)?;
    if key.is_none() {
        eprintln!(
            "reqflow: warning: no REQFLOW_SECRET_KEY (or KEY=… in the --secrets file) is set: connection \
             credentials (OAuth tokens) cannot be stored, so steps of an OAuth connection will fail. Set it to \
             32 random bytes in base64 (`head -c 32 /dev/urandom | base64`)."
        );
    }
    Ok(key)
}

/// For `run`: the configured key (so `serve` can read what the run
/// stored); without one, a key for this process only (nothing it encrypts
/// can be read again, so the next run fetches new tokens).
pub(crate) fn run_key(secrets: &Secrets) -> anyhow::Result<StateKey> {
    match configured(secrets)? {
        Some(key) => Ok(key),
        None => {
            eprintln!(
                "reqflow: no REQFLOW_SECRET_KEY is set: connection credentials this run stores are encrypted \
                 with a key for this run only (set the key `serve` uses to share them)"
            );
            ephemeral()
        }
    }
}

/// For a store that lives as long as the process (`reqflow test`): a random key.
pub(crate) fn ephemeral() -> anyhow::Result<StateKey> {
    StateKey::random().context("cannot make a key for the connection credentials of this process")
}

fn configured(secrets: &Secrets) -> anyhow::Result<Option<StateKey>> {
    Ok(StateKey::from_secrets(secrets)?)
}
