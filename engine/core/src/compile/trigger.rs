//! Compiled triggers: paths, auth, dedupe keys, filters and schedules.

use std::str::FromStr;
use std::time::Duration;

use super::exprs::{ExprCompiler, SETTINGS_ROOTS, Visibility};
use crate::diagnostics::{Diagnostic, codes};
use crate::spec::{AuthSpec, HmacAlgorithm, HmacEncoding, TriggerSpec};
use crate::value::CompiledValue;
use crate::yaml::{Spanned, Tree};

/// Default time dedupe keys are kept.
pub const DEFAULT_DEDUPE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// What starts a run, compiled.
#[derive(Clone, Debug)]
pub enum CompiledTrigger {
    /// `POST /hooks/{path}`.
    Webhook {
        /// The path after `/hooks/`.
        path: String,
        /// Authentication.
        auth: Option<CompiledAuth>,
        /// Dedupe key.
        dedupe: Option<CompiledValue>,
        /// How long keys are kept.
        dedupe_ttl: Duration,
        /// Filter.
        when: Option<CompiledValue>,
    },
    /// `POST /soap/{path}`.
    Soap {
        /// The path after `/soap/`.
        path: String,
        /// The operation element, without `_Request`.
        operation: String,
        /// Authentication.
        auth: Option<CompiledAuth>,
        /// Dedupe key.
        dedupe: Option<CompiledValue>,
        /// How long keys are kept.
        dedupe_ttl: Duration,
        /// Filter.
        when: Option<CompiledValue>,
    },
    /// A schedule.
    Schedule(SchedulePlan),
    /// From the CLI or the API.
    Manual,
}

impl CompiledTrigger {
    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            CompiledTrigger::Webhook { .. } => "webhook",
            CompiledTrigger::Soap { .. } => "soap",
            CompiledTrigger::Schedule(_) => "schedule",
            CompiledTrigger::Manual => "manual",
        }
    }

    /// The route it serves (`/hooks/x`, `/soap/y`), if any.
    pub fn route(&self) -> Option<String> {
        match self {
            CompiledTrigger::Webhook { path, .. } => Some(format!("/hooks/{path}")),
            CompiledTrigger::Soap { path, .. } => Some(format!("/soap/{path}")),
            _ => None,
        }
    }
}

/// When a schedule fires.
#[derive(Clone, Debug)]
pub enum SchedulePlan {
    /// Every interval, aligned to the Unix epoch.
    Every(Duration),
    /// A cron expression (UTC).
    Cron {
        /// As written.
        source: String,
        /// Parsed.
        cron: Box<croner::Cron>,
    },
}

/// Trigger authentication, compiled.
#[derive(Clone, Debug)]
pub enum CompiledAuth {
    /// HMAC over the raw body.
    Hmac(CompiledHmac),
    /// A bearer token.
    Bearer(CompiledValue),
    /// Basic credentials.
    Basic {
        /// User name.
        username: CompiledValue,
        /// Password.
        password: CompiledValue,
    },
}

/// HMAC settings.
#[derive(Clone, Debug)]
pub struct CompiledHmac {
    /// Header with the signature (lower case).
    pub header: String,
    /// The key.
    pub secret: CompiledValue,
    /// Hash function.
    pub algorithm: HmacAlgorithm,
    /// Hex or base64.
    pub encoding: HmacEncoding,
    /// Text before the signature.
    pub prefix: Option<String>,
    /// Timestamp header (lower case), if any.
    pub timestamp_header: Option<String>,
    /// Allowed timestamp age.
    pub tolerance: Duration,
}

const EVENT_ROOTS: &[&str] = &["event", "secrets", "vars"];

/// `subject:`: a template expression over the event, or a list of them.
pub(super) fn subjects(spec: Option<&Spanned<Tree>>, ec: &mut ExprCompiler<'_>) -> Vec<CompiledValue> {
    let Some(spec) = spec else { return Vec::new() };
    let vis = Visibility { roots: EVENT_ROOTS, steps: None, place: "`subject:`" };
    let items: Vec<&Spanned<Tree>> = match &spec.value {
        Tree::Seq(items) => items.iter().collect(),
        _ => vec![spec],
    };
    let mut out = Vec::new();
    for t in items {
        match &t.value {
            Tree::Str(s) if crate::value::classify(s) != crate::value::StringKind::Literal => {
                out.push(ec.value(t, &vis))
            }
            Tree::Str(s) => ec.diags.push(
                Diagnostic::error(
                    codes::SHAPE,
                    t.span,
                    "`subject:` is a plain string, so every event would be about the same person",
                )
                .with_help(format!("write an expression over the event: `\"{{{{ {s} }}}}\"`")),
            ),
            other => ec.diags.push(
                Diagnostic::error(
                    codes::SHAPE,
                    t.span,
                    format!("`subject:` must be a template expression or a list of them, found {}", other.type_name()),
                )
                .with_help("e.g. `subject: \"{{ event.body.data.email }}\"`"),
            ),
        }
    }
    out
}

pub(super) fn compile(spec: &Spanned<TriggerSpec>, ec: &mut ExprCompiler<'_>) -> Option<CompiledTrigger> {
    let auth_vis = Visibility { roots: SETTINGS_ROOTS, steps: None, place: "trigger `auth:`" };
    let event_vis = Visibility { roots: EVENT_ROOTS, steps: None, place: "the trigger" };
    let expr = |ec: &mut ExprCompiler<'_>, t: &Option<Spanned<Tree>>, key: &str| -> Option<CompiledValue> {
        let t = t.as_ref()?;
        if let Tree::Str(s) = &t.value
            && crate::value::classify(s) == crate::value::StringKind::Literal
        {
            ec.diags.push(
                Diagnostic::error(
                    codes::SHAPE,
                    t.span,
                    format!(
                        "`{key}:` is a plain string, {}",
                        if key == "dedupe" {
                            "so every event would have the same key"
                        } else {
                            "not an expression, so it would always be true"
                        }
                    ),
                )
                .with_help(format!("write an expression: `{key}: \"{{{{ {s} }}}}\"`")),
            );
            return None;
        }
        Some(ec.value(t, &event_vis))
    };
    match &spec.value {
        TriggerSpec::Webhook(w) => {
            check_path(&w.path, ec);
            let auth = w.auth.as_ref().map(|a| auth(a, ec, &auth_vis));
            let dedupe = expr(ec, &w.dedupe, "dedupe");
            let when = expr(ec, &w.when, "when");
            Some(CompiledTrigger::Webhook {
                path: w.path.value.trim_matches('/').to_owned(),
                auth,
                dedupe,
                dedupe_ttl: w.dedupe_ttl.as_ref().map(|d| d.value.0).unwrap_or(DEFAULT_DEDUPE_TTL),
                when,
            })
        }
        TriggerSpec::Soap(s) => {
            check_path(&s.path, ec);
            let auth = s.auth.as_ref().map(|a| auth(a, ec, &auth_vis));
            let dedupe = expr(ec, &s.dedupe, "dedupe");
            let when = expr(ec, &s.when, "when");
            let op = s.operation.value.trim();
            if op.is_empty() || op.contains(char::is_whitespace) || op.contains(':') {
                ec.diags.push(Diagnostic::error(
                    codes::SHAPE,
                    s.operation.span,
                    "`operation:` must be the local name of the body element, e.g. `TriggerCandidateStateChange`",
                ));
            }
            Some(CompiledTrigger::Soap {
                path: s.path.value.trim_matches('/').to_owned(),
                operation: op.strip_suffix("_Request").unwrap_or(op).to_owned(),
                auth,
                dedupe,
                dedupe_ttl: s.dedupe_ttl.as_ref().map(|d| d.value.0).unwrap_or(DEFAULT_DEDUPE_TTL),
                when,
            })
        }
        TriggerSpec::Schedule(s) => match (&s.every, &s.cron) {
            (Some(e), None) => {
                if e.value.0 < Duration::from_secs(1) {
                    ec.diags.push(Diagnostic::error(codes::BAD_TIME, e.span, "`every:` must be at least 1s"));
                    return None;
                }
                Some(CompiledTrigger::Schedule(SchedulePlan::Every(e.value.0)))
            }
            (None, Some(c)) => match croner::Cron::from_str(&c.value) {
                Ok(cron) => Some(CompiledTrigger::Schedule(SchedulePlan::Cron {
                    source: c.value.clone(),
                    cron: Box::new(cron),
                })),
                Err(e) => {
                    ec.diags.push(
                        Diagnostic::error(
                            codes::BAD_TIME,
                            c.span,
                            format!("invalid cron expression `{}`: {e}", c.value),
                        )
                        .with_help("five fields: minute hour day-of-month month day-of-week, e.g. `*/5 * * * *` (UTC)"),
                    );
                    None
                }
            },
            (Some(_), Some(c)) => {
                ec.diags.push(Diagnostic::error(codes::SHAPE, c.span, "a schedule has `every:` or `cron:`, not both"));
                None
            }
            (None, None) => {
                ec.diags.push(Diagnostic::error(
                    codes::SHAPE,
                    spec.span,
                    "a schedule needs `every:` (e.g. `5m`) or `cron:` (e.g. `*/5 * * * *`)",
                ));
                None
            }
        },
        TriggerSpec::Manual(_) => Some(CompiledTrigger::Manual),
    }
}

fn check_path(path: &Spanned<String>, ec: &mut ExprCompiler<'_>) {
    let p = path.value.trim_matches('/');
    let ok = !p.is_empty()
        && p.chars().all(|c| c.is_ascii_alphanumeric() || "._~/-".contains(c))
        && !p.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if !ok {
        ec.diags.push(
            Diagnostic::error(codes::SHAPE, path.span, format!("`{}` is not a valid path", path.value))
                .with_help("use letters, digits and `. _ ~ - /`, e.g. `workable/candidates`"),
        );
    }
}

fn auth(a: &Spanned<AuthSpec>, ec: &mut ExprCompiler<'_>, vis: &Visibility<'_>) -> CompiledAuth {
    match &a.value {
        AuthSpec::Bearer(t) => CompiledAuth::Bearer(ec.value(t, vis)),
        AuthSpec::Basic(b) => {
            CompiledAuth::Basic { username: ec.value(&b.username, vis), password: ec.value(&b.password, vis) }
        }
        AuthSpec::Hmac(h) => {
            if let Some(ts) = &h.timestamp_header
                && ts.value.trim().is_empty()
            {
                ec.diags.push(Diagnostic::error(codes::SHAPE, ts.span, "`timestamp_header:` is empty"));
            }
            CompiledAuth::Hmac(CompiledHmac {
                header: h.header.value.to_ascii_lowercase(),
                secret: ec.value(&h.secret, vis),
                algorithm: h.algorithm,
                encoding: h.encoding,
                prefix: h.prefix.clone(),
                timestamp_header: h.timestamp_header.as_ref().map(|t| t.value.to_ascii_lowercase()),
                tolerance: h.tolerance.as_ref().map(|t| t.value.0).unwrap_or(Duration::from_secs(300)),
            })
        }
    }
}
