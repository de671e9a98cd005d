//! Calling Workday for the `workday.*` actions: SOAP requests to the
//! Recruiting service through [`crate::soap::call`] (credentials, one retry
//! with a fresh token, faults classified as `soap.call` does), and REST GETs
//! under `/ccx/api/` with the OAuth bearer token (refreshed and retried once
//! on 401; Workday's `{error, errors}` bodies turned into messages).

use std::collections::BTreeMap;

use reqflow_engine::action::{ActionContext, ActionError};
use reqflow_engine::xml::{Element, SoapVersion};
use serde_json::{Value, json};

use super::auth::bearer;
use super::connection::{WorkdayAuth, WorkdayConnection};
use super::version::WwsVersion;
use crate::http::errors::{DETAIL_BODY_CHARS, is_retryable_status, retry_after, truncate};
use crate::http::{Received, client, send};
use crate::soap::call::{SoapCall, call};

/// The WWS service the Recruiting operations belong to.
pub const SERVICE: &str = "Recruiting";

/// A Workday client for one step's `workday` connection.
#[derive(Debug, Clone)]
pub struct WorkdayClient {
    conn: WorkdayConnection,
    version: WwsVersion,
}

fn connection_error(msg: impl Into<String>) -> ActionError {
    ActionError::permanent(msg.into()).with_code("connection.invalid")
}

impl WorkdayClient {
    /// The client for the step's `workday` connection.
    pub fn from_context(cx: &ActionContext) -> Result<WorkdayClient, ActionError> {
        let c = cx.require_connection()?;
        if c.kind != "workday" {
            return Err(connection_error(format!(
                "connection `{}` is of type `{}`; Workday actions take a `workday` connection",
                c.name, c.kind
            )));
        }
        let conn: WorkdayConnection = c.parse()?;
        let version = WwsVersion::parse(conn.version()).ok_or_else(|| {
            connection_error(format!(
                "connection `{}`: version `{}` is not a Workday Web Services version such as `v44.0`",
                c.name,
                conn.version()
            ))
        })?;
        Ok(WorkdayClient { conn, version })
    }

    /// The connection's WWS version (in the URL and in `wd:version`).
    pub fn version(&self) -> WwsVersion {
        self.version
    }

    /// The tenant as a URL path segment (refused if it could change the path).
    pub fn tenant_segment(&self) -> Result<String, super::requests::RequestError> {
        let t = self.conn.tenant.as_str();
        if t.is_empty()
            || !t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            || t == "."
            || t == ".."
        {
            return Err(super::requests::RequestError::Invalid(format!(
                "the connection's tenant `{t}` is not a valid tenant name"
            )));
        }
        Ok(t.to_owned())
    }

    /// Sends `body` (a `wd:{operation}_Request` element) to the Recruiting service and returns
    /// the `wd:{operation}_Response` element.
    pub async fn soap(&self, cx: &ActionContext, operation: &str, body: String) -> Result<Element, ActionError> {
        let endpoint = self.conn.service_url(SERVICE, &self.version.to_string()).map_err(connection_error)?;
        let headers = BTreeMap::new();
        let msg = call(
            cx,
            Some(&self.conn),
            &SoapCall { endpoint, body, version: SoapVersion::Soap11, soap_action: String::new(), headers: &headers },
        )
        .await?;
        let expected = format!("{operation}_Response");
        if msg.operation != expected {
            return Err(ActionError::permanent(format!(
                "Workday answered {operation} with `{}` instead of `{expected}`",
                msg.operation
            ))
            .with_code("workday.unexpected_response"));
        }
        Ok(msg.element)
    }

    /// `GET {base}/ccx/api/{path}` with the OAuth token; the JSON answer.
    pub async fn rest_get(
        &self,
        cx: &ActionContext,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Value, ActionError> {
        if !matches!(self.conn.auth, WorkdayAuth::Oauth { .. }) {
            return Err(ActionError::permanent(
                "Workday's REST API needs an OAuth connection (`auth: {oauth: …}`); an ISU user works for SOAP only",
            )
            .with_code("workday.rest_needs_oauth"));
        }
        let url = self.conn.api_url(path).map_err(connection_error)?;
        let mut rejected: Option<String> = None;
        for attempt in 0..2 {
            let Some(token) = bearer(cx, &self.conn, rejected.as_deref()).await? else {
                break;
            };
            let mut req = client().get(&url).bearer_auth(&token).header("accept", "application/json");
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(t) = cx.timeout {
                req = req.timeout(t);
            }
            let r = send(req).await?;
            if r.status.as_u16() == 401 && attempt == 0 {
                rejected = Some(token);
                continue;
            }
            if r.status.is_success() {
                return match serde_json::from_slice::<Value>(&r.body) {
                    Ok(v) => Ok(v),
                    Err(_) => Err(ActionError::retryable(format!("{} {}: the answer is not JSON", r.method, r.target))
                        .with_code("workday.invalid_response")
                        .with_details(
                            json!({"status": r.status.as_u16(), "body": truncate(&r.text(), DETAIL_BODY_CHARS)}),
                        )),
                };
            }
            return Err(rest_error(&r));
        }
        Err(ActionError::permanent("Workday refused the access token twice").with_code("workday.unauthorized"))
    }
}

/// A Workday REST error answer (`{"error": …, "errors": [{error, code, field, …}]}`) as an action error.
fn rest_error(r: &Received) -> ActionError {
    let status = r.status.as_u16();
    let body = r.body_value();
    let top = body.get("error").and_then(Value::as_str).unwrap_or("").to_owned();
    let errors = body.get("errors").cloned().unwrap_or(Value::Null);
    let mut parts = Vec::new();
    if !top.is_empty() {
        parts.push(top.clone());
    }
    for e in errors.as_array().into_iter().flatten() {
        let msg = e.get("error").and_then(Value::as_str).unwrap_or("");
        let code = e.get("code").and_then(Value::as_str);
        let field = e.get("field").and_then(Value::as_str);
        let mut s = msg.to_owned();
        if let Some(f) = field {
            s = format!("{f}: {s}");
        }
        if let Some(c) = code {
            s.push_str(&format!(" ({c})"));
        }
        if !s.is_empty() && !parts.contains(&s) {
            parts.push(s);
        }
    }
    let what = format!("{} {} answered {status}", r.method, r.target);
    let message = if parts.is_empty() { what } else { format!("{what}: {}", parts.join("; ")) };
    let code = match status {
        400 => "workday.validation_error".to_owned(),
        401 => "workday.unauthorized".to_owned(),
        403 => "workday.forbidden".to_owned(),
        404 => "workday.not_found".to_owned(),
        s => format!("http.{s}"),
    };
    let mut err =
        if is_retryable_status(r.status) { ActionError::retryable(message) } else { ActionError::permanent(message) };
    if let Some(after) = retry_after(&r.headers) {
        err = err.with_retry_after(after);
    }
    err.with_code(code).with_details(json!({
        "status": status,
        "error": top,
        "errors": errors,
        "body": truncate(&r.text(), DETAIL_BODY_CHARS),
    }))
}
