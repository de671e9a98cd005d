//! `reqflow export --subject VALUE` and `reqflow erase --subject VALUE`:
//! everything held about one person, as one JSON document on stdout, or
//! erased from the store (every workflow). Both are audited (actor `cli`)
//! with the subject's keyed hash, never its value. The value is hashed with
//! the subject key `serve` uses (`REQFLOW_SECRET_KEY` / `KEY` in
//! `--secrets`, or the database's own key when none is set).

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use reqflow_engine::runtime::{Engine, EngineConfig, Settings};
use serde_json::json;

use crate::serve::{DbArgs, open_existing_store, runtime};

#[derive(Args, Debug)]
pub(crate) struct SubjectArgs {
    /// The subject: a value the workflows' `subject:` gives (an email, a candidate id), compared trimmed and
    /// lower-cased.
    #[arg(long)]
    subject: String,
    /// A secrets file (for `KEY`), added to `REQFLOW_SECRET_*`.
    #[arg(long, value_name = "FILE")]
    secrets: Option<std::path::PathBuf>,
    #[command(flatten)]
    db: DbArgs,
}

fn engine(args: &SubjectArgs, store: Arc<dyn reqflow_engine::store::Store>) -> anyhow::Result<Engine> {
    let secrets = crate::settings::secrets(args.secrets.as_ref())?;
    let settings = Settings::new(secrets, Default::default());
    Ok(Engine::new(store, Arc::new(crate::registry()), settings, EngineConfig::default()))
}

/// `reqflow export --subject VALUE`.
pub(crate) fn export(args: SubjectArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let store = open_existing_store(&args.db.db).await?;
        let engine = engine(&args, store.clone())?;
        let doc = engine.subject_export(&args.subject).await?;
        let hash = doc["subject_hash"].as_str().unwrap_or_default().to_owned();
        let counts = json!({
            "events": doc["events"].as_array().map_or(0, Vec::len),
            "runs": doc["runs"].as_array().map_or(0, Vec::len),
        });
        crate::tokens_cmd::audit(
            store.as_ref(),
            "subject.export",
            &format!("subject:{hash}"),
            json!({ "exported": counts }),
        )
        .await;
        println!("{}", serde_json::to_string_pretty(&doc)?);
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// `reqflow erase --subject VALUE`.
pub(crate) fn erase(args: SubjectArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let store = open_existing_store(&args.db.db).await?;
        let engine = engine(&args, store.clone())?;
        let erasure = engine.erase_subject(&args.subject).await?;
        crate::tokens_cmd::audit(
            store.as_ref(),
            "subject.erase",
            &format!("subject:{}", erasure.subject_hash),
            json!({ "deleted": erasure.deleted, "total": erasure.total }),
        )
        .await;
        println!("{}", serde_json::to_string_pretty(&erasure)?);
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
