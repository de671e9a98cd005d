//! Compiled triggers: paths, auth, dedupe keys, filters and schedules.

use std::str::FromStr;
use std::time::Duration;

use super::exprs::{ExprCompiler, SETTINGS_ROOTS, Visibility};
use indexmap::IndexMap;

use crate::action::Registry;
use crate::diagnostics::{Diagnostic, codes};
use crate::spec::{AuthSpec, ConnectionSpec, HmacAlgorithm, HmacEncoding, SubscribeSpec, TriggerSpec};
use crate::suggest::closest;
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
        /// `subscribe:`: what the engine subscribes this endpoint to at the vendor.
        subscribe: Option<CompiledSubscribe>,
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

/// `subscribe:` on a webhook trigger, compiled.
#[derive(Clone, Debug)]
pub struct CompiledSubscribe {
    /// The connection (a key of `connections:`).
    pub connection: String,
    /// Its type (which has a subscription provider).
    pub connection_type: String,
    /// The events, in file order, without repeats.
    pub events: Vec<String>,
    /// The vendor's filters (an object, or null), over `secrets` and `vars`.
    pub args: CompiledValue,
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

/// What the trigger compiler needs besides the trigger: the workflow's
/// connections and the registry (for `subscribe:`).
pub(super) struct TriggerContext<'a> {
    pub connections: &'a IndexMap<String, Spanned<ConnectionSpec>>,
    pub registry: &'a Registry,
}

pub(super) fn compile(
    spec: &Spanned<TriggerSpec>,
    ec: &mut ExprCompiler<'_>,
    cx: &TriggerContext<'_>,
) -> Option<CompiledTrigger> {
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
            let mut auth = w.auth.as_ref().map(|a| auth(a, ec, &auth_vis));
            let dedupe = expr(ec, &w.dedupe, "dedupe");
            let when = expr(ec, &w.when, "when");
            let subscribe = w.subscribe.as_ref().and_then(|s| subscribe(s, ec, cx, &auth_vis));
            if auth.is_none()
                && let Some((_, derived)) = &subscribe
            {
                auth = derived.clone();
            }
            Some(CompiledTrigger::Webhook {
                path: w.path.value.trim_matches('/').to_owned(),
                auth,
                dedupe,
                dedupe_ttl: w.dedupe_ttl.as_ref().map(|d| d.value.0).unwrap_or(DEFAULT_DEDUPE_TTL),
                when,
                subscribe: subscribe.map(|(s, _)| s),
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

/// `subscribe:`: the connection must exist and have a subscription provider,
/// the events must be the vendor's. Also returns the trigger auth that follows
/// from the connection (the vendor's signature keyed by its credential).
fn subscribe(
    s: &Spanned<SubscribeSpec>,
    ec: &mut ExprCompiler<'_>,
    cx: &TriggerContext<'_>,
    vis: &Visibility<'_>,
) -> Option<(CompiledSubscribe, Option<CompiledAuth>)> {
    let name = &s.value.connection;
    let Some(conn) = cx.connections.get(&name.value) else {
        let mut d = Diagnostic::error(
            codes::BAD_CONNECTION,
            name.span,
            format!("`subscribe:` names connection `{}`, which is not defined under `connections:`", name.value),
        )
        .with_label("unknown connection");
        if let Some(b) = closest(&name.value, cx.connections.keys().map(String::as_str)) {
            d = d.with_help(format!("did you mean `{b}`?"));
        }
        ec.diags.push(d);
        return None;
    };
    let kind = &conn.value.kind.value;
    let Some(provider) = cx.registry.subscription_provider(kind) else {
        let types: Vec<String> = cx.registry.subscription_types().map(|t| format!("`{t}`")).collect();
        ec.diags.push(
            Diagnostic::error(
                codes::BAD_CONNECTION,
                name.span,
                format!("connection `{}` is of type `{kind}`, which has no managed subscriptions", name.value),
            )
            .with_help(format!(
                "`subscribe:` takes a connection of type {}; subscribe by other means and drop `subscribe:`",
                if types.is_empty() { "(none registered)".to_owned() } else { types.join(", ") }
            )),
        );
        return None;
    };
    let known = provider.events();
    let mut events: Vec<String> = Vec::new();
    if s.value.events.is_empty() {
        ec.diags.push(
            Diagnostic::error(codes::SHAPE, s.span, "`subscribe:` has no `events:`")
                .with_help(format!("list one or more of: {}", known.join(", "))),
        );
    }
    for e in &s.value.events {
        if !known.contains(&e.value.as_str()) {
            let mut d = Diagnostic::error(codes::SHAPE, e.span, format!("`{}` is not a `{kind}` event", e.value))
                .with_label("unknown event");
            d = match closest(&e.value, known.iter().copied()) {
                Some(b) => d.with_help(format!("did you mean `{b}`?")),
                None => d.with_help(format!("known events: {}", known.join(", "))),
            };
            ec.diags.push(d);
        } else if !events.contains(&e.value) {
            events.push(e.value.clone());
        }
    }
    let args = match &s.value.args {
        None => CompiledValue::Literal(serde_json::Value::Null),
        Some(a) if matches!(a.value, Tree::Map(_)) => ec.value(a, vis),
        Some(a) => {
            ec.diags.push(Diagnostic::error(
                codes::SHAPE,
                a.span,
                format!(
                    "`args:` must be a mapping (e.g. `{{ job_shortcode: ABC123 }}`), found {}",
                    a.value.type_name()
                ),
            ));
            return None;
        }
    };
    let sig = provider.signature();
    let key = match &conn.value.settings.value {
        Tree::Map(entries) => entries.iter().find(|(k, _)| k.value == sig.key_setting).map(|(_, v)| v),
        _ => None,
    };
    let derived = key.map(|key| {
        CompiledAuth::Hmac(CompiledHmac {
            header: sig.header.to_ascii_lowercase(),
            secret: ec.value(key, vis),
            algorithm: sig.algorithm,
            encoding: sig.encoding,
            prefix: None,
            timestamp_header: None,
            tolerance: Duration::from_secs(300),
        })
    });
    let compiled = CompiledSubscribe { connection: name.value.clone(), connection_type: kind.clone(), events, args };
    Some((compiled, derived))
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
