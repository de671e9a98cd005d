//! `soap.call`: one SOAP request, with the body as an XML template or as JSON
//! turned into elements of a namespace; the answer's element comes back as
//! JSON (the same conversion as the `soap` trigger, [`reqflow_engine::xml`]).
//! Faults become errors ([`fault`]); the shared sending code ([`call`]) is
//! what the `workday.*` actions use too.

pub mod call;
pub mod envelope;
pub mod fault;
mod params;

use reqflow_engine::action::{Action, ActionContext, ActionError, ActionInfo, Registry};
use reqflow_engine::xml::{SoapVersion, parse};
use serde_json::{Value, json};

pub use params::{SoapCallParams, SoapVersionParam};

use crate::http::join;
use crate::workday::WorkdayConnection;

/// `soap.call`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SoapCallAction;

const DOCS: &str = "\
Sends one SOAP request and returns the response element as JSON: local names \
as keys, text as values, repeated elements as arrays, attributes under \
`@name`, text beside attributes under `#text`.\n\n\
The body is either `body:` (the XML of the Body's element, e.g. from a \
template) or `operation:` + `json:` (elements of `namespace:`, default \
Workday's `urn:com.workday/bsvc`, with `wd:version`). With a `workday` \
connection the endpoint defaults to `/ccx/service/{tenant}/{service}/{version}` \
and the credentials (WS-Security user or OAuth bearer token) are added.\n\n\
A SOAP fault is an error carrying `faultcode`, `faultstring` and Workday's \
`Validation_Error` messages: `Client.*` faults (e.g. `Client.validationError`) \
are permanent, `Server.*` faults retryable. On `Client.authenticationError` or \
HTTP 401 an OAuth token is refreshed and the call is tried once more.";

impl Action for SoapCallAction {
    type Params = SoapCallParams;

    fn info(&self) -> ActionInfo {
        ActionInfo::new("soap.call", "Call a SOAP web service (Workday Web Services or any other)")
            .docs(DOCS)
            .optional_connection("workday")
            .example(json!({
                "operation": "Get_Candidates_Request",
                "json": {
                    "Request_References": {
                        "Candidate_Reference": { "ID": { "@type": "Candidate_ID", "#text": "{{ event.body.candidate_id }}" } }
                    }
                }
            }))
    }

    async fn run(&self, cx: ActionContext, p: SoapCallParams) -> Result<Value, ActionError> {
        let conn = match cx.connection.as_deref() {
            Some(c) if c.kind == "workday" => Some(c.parse::<WorkdayConnection>()?),
            Some(c) => {
                return Err(invalid(format!(
                    "connection `{}` is of type `{}`; soap.call takes a `workday` connection",
                    c.name, c.kind
                )));
            }
            None => None,
        };
        let version = p.version.clone().or_else(|| conn.as_ref().map(|c| c.version().to_owned()));
        let endpoint = match (&p.endpoint, &conn) {
            (Some(e), _) if e.starts_with("http://") || e.starts_with("https://") => e.clone(),
            (Some(e), Some(c)) => join(&c.base().map_err(invalid)?, e),
            (Some(e), None) => {
                return Err(invalid(format!("endpoint `{e}` is relative but the step has no connection")));
            }
            (None, Some(c)) => {
                let v = version.clone().unwrap_or_else(|| c.version().to_owned());
                c.service_url(p.service.as_deref().unwrap_or("Recruiting"), &v).map_err(invalid)?
            }
            (None, None) => return Err(invalid("give `endpoint:` (or a `workday` connection)")),
        };
        let body = match (&p.body, &p.operation, &p.json) {
            (Some(xml), None, None) => {
                parse(xml).map_err(|e| invalid(format!("`body:` is not well-formed XML: {e}")))?;
                xml.clone()
            }
            (None, Some(op), json) => envelope::operation_element(
                p.prefix.as_deref().unwrap_or("wd"),
                p.namespace.as_deref().unwrap_or(envelope::WD_NS),
                op,
                version.as_deref(),
                &[],
                json.as_ref().unwrap_or(&Value::Null),
            )
            .map_err(|e| invalid(format!("`json:` cannot be written as XML: {e}")))?,
            (None, None, Some(_)) => return Err(invalid("`json:` needs `operation:` (the request element's name)")),
            _ => return Err(invalid("give either `body:` or `operation:` (+ `json:`), not both")),
        };
        let soap_version = match p.soap_version {
            Some(SoapVersionParam::V12) => SoapVersion::Soap12,
            _ => SoapVersion::Soap11,
        };
        let msg = call::call(
            &cx,
            conn.as_ref(),
            &call::SoapCall {
                endpoint,
                body,
                version: soap_version,
                soap_action: p.soap_action.clone().unwrap_or_default(),
                headers: &p.headers,
            },
        )
        .await?;
        Ok(msg.element.to_json())
    }
}

fn invalid(msg: impl Into<String>) -> ActionError {
    ActionError::permanent(format!("soap.call: {}", msg.into())).with_code("params.invalid")
}

/// Registers `soap.call`.
pub fn register(registry: &mut Registry) {
    registry.register(SoapCallAction);
}
