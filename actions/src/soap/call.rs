//! Sending a SOAP request: envelope, credentials, fault handling, and one
//! retry with fresh credentials after an authentication failure.

use std::collections::BTreeMap;

use reqflow_engine::action::{ActionContext, ActionError};
use reqflow_engine::xml::{SoapMessage, SoapVersion, parse_soap};
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::json;

use super::envelope::envelope;
use super::fault::Fault;
use crate::http::errors::{DETAIL_BODY_CHARS, status_error, truncate};
use crate::http::{client, send};
use crate::workday::WorkdayConnection;
use crate::workday::auth::{bearer, wsse_header};

/// One SOAP call.
#[derive(Debug)]
pub struct SoapCall<'a> {
    /// The endpoint URL.
    pub endpoint: String,
    /// The Body's element, as XML.
    pub body: String,
    /// 1.1 (default for Workday) or 1.2.
    pub version: SoapVersion,
    /// The `SOAPAction` (1.1) or `action` parameter (1.2); Workday uses none.
    pub soap_action: String,
    /// Extra HTTP headers.
    pub headers: &'a BTreeMap<String, String>,
}

/// Sends `call`; with a Workday connection, adds its credentials. A fault is
/// an error; so is a non-2xx answer without a parseable fault.
pub async fn call(
    cx: &ActionContext,
    conn: Option<&WorkdayConnection>,
    call: &SoapCall<'_>,
) -> Result<SoapMessage, ActionError> {
    let mut rejected: Option<String> = None;
    for attempt in 0..2 {
        let token = match conn {
            Some(c) => bearer(cx, c, rejected.as_deref()).await?,
            None => None,
        };
        let header = conn.map(wsse_header).unwrap_or_default();
        let xml = envelope(call.version, &header, &call.body);
        let content_type = match call.version {
            SoapVersion::Soap11 => "text/xml; charset=utf-8".to_owned(),
            SoapVersion::Soap12 => format!("application/soap+xml; charset=utf-8; action=\"{}\"", call.soap_action),
        };
        let mut req = client().post(&call.endpoint).header("content-type", content_type).body(xml);
        if call.version == SoapVersion::Soap11 {
            req = req.header("SOAPAction", format!("\"{}\"", call.soap_action));
        }
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        if let Some(t) = cx.timeout {
            req = req.timeout(t);
        }
        for (k, v) in call.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                ActionError::permanent(format!("`{k}` is not a valid header name")).with_code("params.invalid")
            })?;
            let value = HeaderValue::from_str(v).map_err(|_| {
                ActionError::permanent(format!("the value of header `{k}` is not valid")).with_code("params.invalid")
            })?;
            req = req.header(name, value);
        }
        let r = send(req).await?;
        let status = r.status.as_u16();
        let parsed = if r.body.is_empty() { None } else { parse_soap(&r.text()).ok() };
        match parsed {
            Some(msg) if msg.is_fault() => {
                let fault = Fault::from_message(&msg);
                if fault.is_authentication() && token.is_some() && attempt == 0 {
                    rejected = token;
                    continue;
                }
                return Err(fault.into_error(status));
            }
            Some(msg) if r.status.is_success() => return Ok(msg),
            _ if status == 401 && token.is_some() && attempt == 0 => {
                rejected = token;
                continue;
            }
            Some(_) | None if r.status.is_success() => {
                return Err(ActionError::retryable(format!(
                    "{} {}: the answer is not a SOAP envelope",
                    r.method, r.target
                ))
                .with_code("soap.invalid_response")
                .with_details(json!({"status": status, "body": truncate(&r.text(), DETAIL_BODY_CHARS)})));
            }
            _ => {
                // Workday answers 500 without a fault when overloaded: retryable like any 5xx.
                return Err(status_error(&r));
            }
        }
    }
    Err(ActionError::permanent("Workday refused the credentials twice").with_code("soap.authentication_error"))
}
