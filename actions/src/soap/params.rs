//! `with:` of `soap.call`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// `with:` of `soap.call`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SoapCallParams {
    /// The endpoint: a full URL, or a path relative to the `workday` connection's base URL.
    /// Default with a connection: `/ccx/service/{tenant}/{service}/{version}`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The Workday Web Services service for the default endpoint (default `Recruiting`).
    #[serde(default)]
    pub service: Option<String>,
    /// The Body's one element as XML text (a template). Values put into it are not
    /// escaped: prefer `operation:` + `json:` for data from events.
    #[serde(default)]
    pub body: Option<String>,
    /// With `json:`: the request element's local name, e.g. `Get_Candidates_Request`.
    #[serde(default)]
    pub operation: Option<String>,
    /// With `operation:`: the request element's children as JSON (keys in schema order;
    /// arrays repeat; `@name` keys are attributes; `#text` is text).
    #[serde(default)]
    pub json: Option<Value>,
    /// Namespace of the JSON-built elements (default `urn:com.workday/bsvc`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Prefix of that namespace (default `wd`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// `wd:version` on the JSON-built request element (default: the connection's version).
    #[serde(default)]
    pub version: Option<String>,
    /// `1.1` (default) or `1.2`.
    #[serde(default)]
    pub soap_version: Option<SoapVersionParam>,
    /// The `SOAPAction` (default empty, as Workday expects).
    #[serde(default)]
    pub soap_action: Option<String>,
    /// Extra HTTP headers (e.g. `X-Validate-Only: 1`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// The SOAP version.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
pub enum SoapVersionParam {
    /// SOAP 1.1.
    #[serde(rename = "1.1")]
    V11,
    /// SOAP 1.2.
    #[serde(rename = "1.2")]
    V12,
}
