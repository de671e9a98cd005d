//! Triggers: what starts a run (`webhook`, `soap`, `schedule`, `manual`).

use schemars::JsonSchema;
use serde::Deserialize;

use super::DurationSpec;
use crate::yaml::{Spanned, Tree};

/// What starts a run: exactly one kind.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerSpec {
    /// `POST /hooks/{path}` with a JSON body.
    Webhook(WebhookSpec),
    /// `POST /soap/{path}` with a SOAP 1.1 or 1.2 envelope.
    Soap(SoapSpec),
    /// Every interval, or on a cron schedule.
    Schedule(ScheduleSpec),
    /// Started from the CLI or the HTTP API with a JSON event.
    Manual(#[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")] Option<Tree>),
}

/// The trigger kinds, for messages.
pub const TRIGGER_KINDS: &[&str] = &["webhook", "soap", "schedule", "manual"];

impl TriggerSpec {
    /// The kind's name as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            TriggerSpec::Webhook(_) => "webhook",
            TriggerSpec::Soap(_) => "soap",
            TriggerSpec::Schedule(_) => "schedule",
            TriggerSpec::Manual(_) => "manual",
        }
    }
}

/// A JSON webhook.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// Served at `POST /hooks/{path}`; unique across loaded workflows.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._~/-]*$"))]
    pub path: Spanned<String>,
    /// How callers prove who they are. Without it, `validate` warns.
    #[serde(default)]
    pub auth: Option<Spanned<AuthSpec>>,
    /// A key expression: a repeated key is answered 200 and starts no run.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub dedupe: Option<Spanned<Tree>>,
    /// How long dedupe keys are kept (default `7d`).
    #[serde(default)]
    pub dedupe_ttl: Option<Spanned<DurationSpec>>,
    /// A filter: false means the event is answered 200 and recorded as ignored.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub when: Option<Spanned<Tree>>,
    /// What feeds this endpoint: subscriptions the engine creates, renews and
    /// removes at the vendor (`serve --public-url`, `reqflow subscriptions sync`).
    /// Without `auth:`, the endpoint checks the vendor's signature keyed by the
    /// connection's credential.
    #[serde(default)]
    pub subscribe: Option<Spanned<SubscribeSpec>>,
}

/// `subscribe:` on a webhook trigger.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeSpec {
    /// A connection of `connections:` whose type manages subscriptions (`workable`).
    pub connection: Spanned<String>,
    /// The events to subscribe this endpoint to, e.g. `[candidate_created, candidate_moved]`.
    pub events: Vec<Spanned<String>>,
    /// Filters the vendor applies (Workable: `job_shortcode`, `stage_slug`); values may read
    /// `vars` and `secrets`.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub args: Option<Spanned<Tree>>,
}

/// A SOAP endpoint (Workday Studio "Call Web Service").
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SoapSpec {
    /// Served at `POST /soap/{path}`; unique across loaded workflows.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._~/-]*$"))]
    pub path: Spanned<String>,
    /// The body element expected, with or without its `_Request` suffix.
    pub operation: Spanned<String>,
    /// How callers prove who they are. Without it, `validate` warns.
    #[serde(default)]
    pub auth: Option<Spanned<AuthSpec>>,
    /// A key expression: a repeated key starts no run.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub dedupe: Option<Spanned<Tree>>,
    /// How long dedupe keys are kept (default `7d`).
    #[serde(default)]
    pub dedupe_ttl: Option<Spanned<DurationSpec>>,
    /// A filter: false means the event is recorded as ignored.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub when: Option<Spanned<Tree>>,
}

/// A schedule: `every` or `cron`, not both.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// A fixed interval, e.g. `5m`.
    #[serde(default)]
    pub every: Option<Spanned<DurationSpec>>,
    /// A cron expression (5 fields, UTC), e.g. `*/5 * * * *`.
    #[serde(default)]
    pub cron: Option<Spanned<String>>,
}

/// Authentication of a trigger endpoint.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthSpec {
    /// A signature over the raw body.
    Hmac(HmacSpec),
    /// `Authorization: Bearer <token>`; usually `{{ secrets.NAME }}`.
    Bearer(#[schemars(with = "String")] Spanned<Tree>),
    /// HTTP basic auth.
    Basic(BasicAuthSpec),
}

/// HMAC signature check over the raw request body.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HmacSpec {
    /// The header carrying the signature, e.g. `X-Workable-Signature`.
    pub header: Spanned<String>,
    /// The key; usually `{{ secrets.NAME }}`.
    #[schemars(with = "String")]
    pub secret: Spanned<Tree>,
    /// `sha256` (default), `sha1` or `sha512`.
    #[serde(default)]
    pub algorithm: HmacAlgorithm,
    /// `hex` (default) or `base64`.
    #[serde(default)]
    pub encoding: HmacEncoding,
    /// Text before the signature in the header, e.g. `sha256=`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// A header with the send time (Unix seconds); signed as `{timestamp}.{body}`.
    #[serde(default)]
    pub timestamp_header: Option<Spanned<String>>,
    /// How old a timestamp may be (default `5m`).
    #[serde(default)]
    pub tolerance: Option<Spanned<DurationSpec>>,
}

/// The HMAC hash function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HmacAlgorithm {
    /// SHA-256 (default).
    #[default]
    Sha256,
    /// SHA-1 (legacy senders only).
    Sha1,
    /// SHA-512.
    Sha512,
}

/// How the signature is written in the header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HmacEncoding {
    /// Lower- or upper-case hex (default).
    #[default]
    Hex,
    /// Standard base64.
    Base64,
}

/// HTTP basic credentials.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthSpec {
    /// The user name.
    #[schemars(with = "String")]
    pub username: Spanned<Tree>,
    /// The password; usually `{{ secrets.NAME }}`.
    #[schemars(with = "String")]
    pub password: Spanned<Tree>,
}
