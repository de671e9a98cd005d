//! Settings of the `workday` connection type.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::http::join;

/// The version used when a connection names none.
pub const DEFAULT_VERSION: &str = "v44.0";

/// Settings of a `workday` connection.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkdayConnection {
    /// Web-services host, e.g. `wd2-impl-services1.workday.com` (or give `base_url`). A value with a
    /// scheme (`http://127.0.0.1:8090`, for `reqflow sandbox`) is used as the base URL as it is.
    #[serde(default)]
    pub host: Option<String>,
    /// The tenant, e.g. `acme`.
    pub tenant: String,
    /// Workday Web Services version, e.g. `v44.0` (default `v44.0`). It goes in the URL and in `wd:version`.
    #[serde(default)]
    pub version: Option<String>,
    /// Overrides `https://{host}`, e.g. `http://127.0.0.1:8090` for `reqflow sandbox`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Credentials: an integration system user (WS-Security) or an OAuth 2.0 refresh token.
    pub auth: WorkdayAuth,
}

/// How to authenticate to Workday.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WorkdayAuth {
    /// An integration system user, sent as a WS-Security UsernameToken (PasswordText). SOAP only.
    Isu {
        /// User name; `@tenant` is added when missing.
        username: String,
        /// Password.
        password: String,
    },
    /// OAuth 2.0 refresh-token grant at `/ccx/oauth2/{tenant}/token`; the access token is
    /// refreshed before it expires and on a 401, and shared through the engine's state.
    Oauth {
        /// API client id.
        client_id: String,
        /// API client secret.
        client_secret: String,
        /// The refresh token generated for the integration user. Leave it out (or make it optional:
        /// `"{{ secrets.X | default(none) }}"`) once the connection is connected (`reqflow connect
        /// workday`): the refresh token is then kept encrypted in the store for the token endpoint and
        /// client id, shared by every connection with the same two, and used even when this is set.
        #[serde(default)]
        refresh_token: Option<String>,
        /// The authorization endpoint `reqflow connect` sends a person to, on the tenant's UI
        /// host, e.g. `https://impl.workday.com/acme/authorize` (default `{base}/{tenant}/authorize`,
        /// which is right for `reqflow sandbox`).
        #[serde(default)]
        authorize_url: Option<String>,
        /// How the client credentials are sent: `basic` (default) or `body`.
        #[serde(default)]
        client_auth: ClientAuth,
        /// Overrides the token endpoint URL.
        #[serde(default)]
        token_url: Option<String>,
    },
}

/// Where OAuth client credentials go.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `Authorization: Basic base64(client_id:client_secret)`.
    #[default]
    Basic,
    /// `client_id` and `client_secret` form fields.
    Body,
}

impl WorkdayConnection {
    /// `https://{host}` or `base_url`, without a trailing slash.
    pub fn base(&self) -> Result<String, String> {
        match (&self.base_url, &self.host) {
            (Some(b), _) => Ok(b.trim_end_matches('/').to_owned()),
            (None, Some(h)) if h.contains("://") => Ok(h.trim_end_matches('/').to_owned()),
            (None, Some(h)) => Ok(format!("https://{}", h.trim_end_matches('/'))),
            (None, None) => Err("a `workday` connection needs `host` or `base_url`".into()),
        }
    }

    /// The WWS version.
    pub fn version(&self) -> &str {
        self.version.as_deref().unwrap_or(DEFAULT_VERSION)
    }

    /// `{base}/ccx/service/{tenant}/{service}/{version}`.
    pub fn service_url(&self, service: &str, version: &str) -> Result<String, String> {
        Ok(join(&self.base()?, &format!("ccx/service/{}/{service}/{version}", self.tenant)))
    }

    /// `{base}/ccx/oauth2/{tenant}/token` unless overridden.
    pub fn token_url(&self) -> Result<String, String> {
        if let WorkdayAuth::Oauth { token_url: Some(u), .. } = &self.auth {
            return Ok(u.clone());
        }
        Ok(join(&self.base()?, &format!("ccx/oauth2/{}/token", self.tenant)))
    }

    /// The authorization endpoint: `authorize_url`, else `{base}/{tenant}/authorize`.
    pub fn authorize_endpoint(&self) -> Result<String, String> {
        if let WorkdayAuth::Oauth { authorize_url: Some(u), .. } = &self.auth {
            return Ok(u.clone());
        }
        Ok(join(&self.base()?, &format!("{}/authorize", self.tenant)))
    }

    /// `{base}/ccx/api/{path}`.
    pub fn api_url(&self, path: &str) -> Result<String, String> {
        Ok(join(&self.base()?, &format!("ccx/api/{path}")))
    }
}
