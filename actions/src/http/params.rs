//! Parameters of `http.request` and settings of the `http` connection.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// Settings of an `http` connection.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConnection {
    /// Base URL that `path:` is relative to, e.g. `https://api.example.com/v1`.
    pub base_url: String,
    /// Credentials sent with every request.
    #[serde(default)]
    pub auth: Option<HttpAuth>,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Send `{run_id}:{step_id}` in this header (e.g. `Idempotency-Key`) so the far end acts once.
    #[serde(default)]
    pub idempotency_header: Option<String>,
    /// Per-request timeout, e.g. `30s` (default `30s`).
    #[serde(default)]
    pub timeout: Option<String>,
    /// A cheap request that `reqflow connections test` sends to check the connection (with its
    /// `auth:` and `headers:`), e.g. `{path: /me}`. Without it, the check only evaluates the settings.
    #[serde(default)]
    pub health: Option<HealthCheck>,
}

/// `health:` of an `http` connection: one request whose answer says the connection works.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// HTTP method (default `GET`).
    #[serde(default)]
    pub method: Option<HttpMethod>,
    /// Path relative to `base_url`, e.g. `/me`.
    pub path: String,
    /// Statuses that mean "working" (default: any 2xx). 401 reads as an auth failure, 403 as a
    /// missing permission.
    #[serde(default)]
    pub expect: Option<Vec<u16>>,
}

/// Credentials of an `http` connection.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HttpAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// HTTP basic.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// An API key in a header of its own.
    Header {
        /// Header name, e.g. `X-Api-Key`.
        name: String,
        /// Header value.
        value: String,
    },
}

/// `with:` of `http.request`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRequestParams {
    /// HTTP method (default `GET`).
    #[serde(default)]
    pub method: Option<HttpMethod>,
    /// A full URL; or use `path:` with a connection's `base_url`.
    #[serde(default)]
    pub url: Option<String>,
    /// Path relative to the connection's `base_url`.
    #[serde(default)]
    pub path: Option<String>,
    /// Extra headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Query parameters.
    #[serde(default)]
    pub query: BTreeMap<String, Value>,
    /// A JSON body.
    #[serde(default)]
    pub json: Option<Value>,
    /// A form body (`application/x-www-form-urlencoded`).
    #[serde(default)]
    pub form: Option<BTreeMap<String, Value>>,
    /// A raw body: text (set `Content-Type` in `headers:`), or a binary value
    /// (e.g. `"{{ steps.fetch.output.body }}"`), sent byte-exact with its content
    /// type unless `headers:` sets one.
    #[serde(default)]
    pub body: Option<Value>,
    /// How to read the response body: `auto` (default: JSON parsed, text as a
    /// string, any other content type as a binary value), `binary` (always a
    /// binary value) or `text`.
    #[serde(default)]
    pub response: Option<ResponseMode>,
    /// The largest response body to read, in bytes (default 16 MiB, at most 128 MiB).
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// Statuses that count as success (default: any 2xx); others are errors.
    #[serde(default)]
    pub expect: Option<Vec<u16>>,
}

/// How `http.request` reads a response body.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// JSON parsed, text as a string, other content types as a binary value.
    #[default]
    Auto,
    /// Always a binary value `{content_type, size, sha256, data}`.
    Binary,
    /// Always text (invalid UTF-8 replaced).
    Text,
}

/// An HTTP method.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}
