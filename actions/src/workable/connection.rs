//! Settings of the `workable` connection type.

use schemars::JsonSchema;
use serde::Deserialize;

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

    /// Requests allowed per 10-second window.
    pub fn limit(&self) -> usize {
        if self.partner_client_id.is_some() || self.token_type == Some(TokenType::Oauth) { 50 } else { 10 }
    }

    /// The account subdomain (for subscription `args.account_id`).
    pub fn account(&self) -> Option<String> {
        self.subdomain.clone()
    }
}
