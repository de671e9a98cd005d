//! Settings of the `workable` connection type.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};

/// Settings of a `workable` connection.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkableConnection {
    /// The account subdomain: the API is `https://{subdomain}.workable.com/spi/v3`.
    #[serde(default)]
    pub subdomain: Option<String>,
    /// Overrides the API root, e.g. `http://127.0.0.1:8090` for `reqflow sandbox` (`/spi/v3` is added when missing).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The access token (account, user, OAuth or partner token), sent as `Authorization: Bearer`.
    pub token: String,
    /// A partner's client id, sent as `X-WORKABLE-CLIENT-ID` (partner rate limits apply).
    #[serde(default)]
    pub partner_client_id: Option<String>,
    /// `account` (default: 10 requests per 10 s) or `oauth` (50 per 10 s). Partner tokens get 50.
    #[serde(default)]
    pub token_type: Option<TokenType>,
    /// Overrides the client-side rate limit: requests per 10-second window, or `0` / `none` for no
    /// client-side limit (for sandboxes and load tests: Workable itself still answers 429 past its
    /// quota). Unset (the default): Workable's limit for the token, adjusted by `X-Rate-Limit-Limit`.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

/// A `rate_limit:` override: requests per 10-second window, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimit {
    /// At most this many requests per window (fixed: the answers' headers do not change it).
    Requests(usize),
    /// No client-side limit (`0` or `none`).
    Off,
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RateLimit;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("requests per 10 s (a whole number), or `none`")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RateLimit, E> {
                Ok(match usize::try_from(v) {
                    Ok(0) => RateLimit::Off,
                    Ok(n) => RateLimit::Requests(n),
                    Err(_) => RateLimit::Off,
                })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RateLimit, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("`rate_limit: {v}`: write a whole number ≥ 0, or `none`"))),
                }
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RateLimit, E> {
                // A template renders to text: `"0"`, `"50"` and `none` are all accepted.
                match v.trim() {
                    "none" => Ok(RateLimit::Off),
                    t => match t.parse::<u64>() {
                        Ok(n) => self.visit_u64(n),
                        Err(_) => {
                            Err(E::custom(format!("`rate_limit: {v}`: write requests per 10 s (e.g. `50`), or `none`")))
                        }
                    },
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for RateLimit {
    fn schema_name() -> Cow<'static, str> {
        "WorkableRateLimit".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "description": "Requests per 10-second window, or `0` / `none` for no client-side limit.",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "enum": ["none"] }
            ],
            "examples": [50, "none"]
        })
    }
}

/// The kind of token, which sets the rate limit.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    /// An account or user access token: 10 requests per 10 seconds.
    Account,
    /// An OAuth 2.0 token: 50 requests per 10 seconds.
    Oauth,
}

impl WorkableConnection {
    /// The API root, ending in `/spi/v3`.
    pub fn api_root(&self) -> Result<String, String> {
        match (&self.base_url, &self.subdomain) {
            (Some(b), _) => {
                let b = b.trim_end_matches('/');
                Ok(if b.ends_with("/spi/v3") { b.to_owned() } else { format!("{b}/spi/v3") })
            }
            (None, Some(s)) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
                Ok(format!("https://{s}.workable.com/spi/v3"))
            }
            (None, Some(s)) => Err(format!("`{s}` is not a Workable subdomain")),
            (None, None) => Err("a `workable` connection needs `subdomain` or `base_url`".into()),
        }
    }

    /// The client-side limit: `None` for none (`rate_limit: 0` / `none`), else (requests per
    /// 10-second window, whether it is fixed by `rate_limit:` rather than Workable's default).
    pub fn client_limit(&self) -> Option<(usize, bool)> {
        match self.rate_limit {
            None => Some((self.limit(), false)),
            Some(RateLimit::Requests(n)) => Some((n, true)),
            Some(RateLimit::Off) => None,
        }
    }

    /// Workable's limit for the token: requests allowed per 10-second window.
    pub fn limit(&self) -> usize {
        if self.partner_client_id.is_some() || self.token_type == Some(TokenType::Oauth) { 50 } else { 10 }
    }

    /// The account subdomain (for subscription `args.account_id`).
    pub fn account(&self) -> Option<String> {
        self.subdomain.clone()
    }
}
