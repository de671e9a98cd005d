//! `reqflow tokens create|list|revoke` and `reqflow audit`: the admin plane's
//! API tokens and audit trail, on the store directly. Whoever can open the
//! database is trusted (it is how the first token is made); each change is
//! audited as done by `cli`.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use reqflow_engine::runtime::clock::{now_ms, rfc3339};
use reqflow_engine::runtime::tokens;
use reqflow_engine::spec::DurationSpec;
use reqflow_engine::store::{AuditFilter, AuditOutcome, NewAudit, Scope};
use serde_json::json;

use crate::serve::{DbArgs, open_store, runtime};

#[derive(Args, Debug)]
pub(crate) struct TokensArgs {
    #[command(subcommand)]
    what: TokensWhat,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Subcommand, Debug)]
enum TokensWhat {
    /// Create a token and print it (once: only its hash is kept).
    Create {
        /// A name for the token (letters, digits, `-`, `_`, `.`), e.g. `prometheus`.
        name: String,
        /// read: every GET and /metrics; operate: also retries and manual runs; admin: also tokens and the audit trail.
        #[arg(long, value_parser = ["read", "operate", "admin"])]
        scope: String,
        /// Expire after this long (e.g. `90d`, `12h`); default: never.
        #[arg(long)]
        expires: Option<String>,
        /// Also allow exporting everything held about one person (`GET /api/subjects/{value}`),
        /// e.g. for a data-protection officer's `read` token; `admin` tokens always may.
        #[arg(long)]
        subject_access: bool,
    },
    /// Every token: name, scope, created, expires, revoked.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke the active token of this name (at once: the next request with it gets 401).
    Revoke {
        /// The token's name.
        name: String,
    },
}

pub(crate) fn run(args: TokensArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let store = open_store(&args.db.db).await?;
        let now = now_ms();
        match args.what {
            TokensWhat::Create { name, scope, expires, subject_access } => {
                let scope = Scope::parse(&scope).context("scope")?;
                let expires_at = expires
                    .as_deref()
                    .map(|e| DurationSpec::parse(e).map(|d| now + d.0.as_millis() as i64))
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("--expires: {e}"))?;
                let token = tokens::issue(store.as_ref(), &name, scope, subject_access, expires_at, now).await?;
                audit(
                    store.as_ref(),
                    "token.create",
                    &name,
                    json!({ "scope": scope, "subject_access": subject_access, "expires_at": expires_at.map(rfc3339) }),
                )
                .await;
                eprintln!(
                    "reqflow: created token `{name}` ({scope}{}{}); it is shown once, store it now:",
                    if subject_access { ", subject access" } else { "" },
                    expires_at.map(|e| format!(", expires {}", rfc3339(e))).unwrap_or_default()
                );
                println!("{token}");
            }
            TokensWhat::List { json } => {
                let list = store.tokens().await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else if list.is_empty() {
                    println!("no tokens (create one with `reqflow tokens create NAME --scope read|operate|admin`)");
                } else {
                    println!(
                        "{:<24} {:<8} {:<8} {:<24} {:<24} SUBJECTS",
                        "NAME", "SCOPE", "STATE", "CREATED", "EXPIRES"
                    );
                    for t in list {
                        let state = match (t.revoked_at, t.is_active(now)) {
                            (Some(_), _) => "revoked",
                            (None, true) => "active",
                            (None, false) => "expired",
                        };
                        let expires = t.expires_at.map(rfc3339).unwrap_or_else(|| "never".into());
                        println!(
                            "{:<24} {:<8} {:<8} {:<24} {:<24} {}",
                            t.name,
                            t.scope,
                            state,
                            rfc3339(t.created_at),
                            expires,
                            if t.may_access_subjects() { "export" } else { "-" }
                        );
                    }
                }
            }
            TokensWhat::Revoke { name } => {
                if !store.revoke_token(&name, now).await? {
                    anyhow::bail!("no active token named `{name}` (see `reqflow tokens list`)");
                }
                audit(store.as_ref(), "token.revoke", &name, json!({})).await;
                eprintln!("reqflow: revoked token `{name}`");
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

pub(crate) async fn audit(
    store: &dyn reqflow_engine::store::Store,
    action: &str,
    object: &str,
    detail: serde_json::Value,
) {
    let entry = NewAudit {
        at: now_ms(),
        actor: "cli".into(),
        action: action.into(),
        objects: vec![object.into()],
        outcome: AuditOutcome::Ok,
        detail,
    };
    if let Err(e) = store.audit(entry).await {
        eprintln!("reqflow: warning: the audit record could not be stored: {e}");
    }
}

#[derive(Args, Debug)]
pub(crate) struct AuditArgs {
    /// How many records, newest first.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArgs,
}

/// `reqflow audit`: the audit trail, newest first.
pub(crate) fn audit_log(args: AuditArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let store = crate::serve::open_existing_store(&args.db.db).await?;
        let records = store.audit_log(AuditFilter { limit: Some(args.limit), ..AuditFilter::default() }).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&records)?);
            return anyhow::Ok(ExitCode::SUCCESS);
        }
        println!("{:<24} {:<20} {:<16} {:<7} OBJECTS", "AT", "ACTOR", "ACTION", "RESULT");
        for r in records {
            println!(
                "{:<24} {:<20} {:<16} {:<7} {}",
                rfc3339(r.at),
                r.actor,
                r.action,
                r.outcome.as_str(),
                r.objects.join(",")
            );
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
