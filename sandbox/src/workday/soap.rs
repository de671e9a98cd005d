//! `POST /ccx/service/{tenant}/Recruiting/{version}`: SOAP 1.1, WS-Security
//! (`user@tenant`, PasswordText) or an OAuth bearer token, `wd:version`
//! checked against the URL, one operation per Body, answers and faults in
//! Workday's shapes (every fault with HTTP 500; an expired bearer token 401).
//!
//! Operations: `Get_Candidates`, `Put_Candidate`, `Put_Candidate_Attachment`,
//! `Assess_Candidate`, `Move_Candidate`, `Get_Job_Requisitions`,
//! `Get_Server_Timestamp`; any other answers "The web service or version is
//! invalid for the requested operation".

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use reqflow_engine::xml::{Element, parse_soap, write_json_children};
use serde_json::{Value, json};

use super::check::{SoapError, V26_1, Ver};
use crate::state::Sandbox;

/// Workday's message namespace.
pub const WD_NS: &str = "urn:com.workday/bsvc";
const PASSWORD_TEXT: &str = "#PasswordText";

fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body>{body}</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )
}

fn xml(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "text/xml; charset=utf-8")], body).into_response()
}

/// A fault: `faultcode` (without prefix), `faultstring`, and validation errors (message, xpath).
pub fn fault(status: StatusCode, code: &str, string: &str, validation: &[(&str, Option<&str>)]) -> Response {
    let esc = reqflow_engine::xml::escape;
    let detail = if validation.is_empty() {
        String::new()
    } else {
        let errors: String = validation
            .iter()
            .map(|(m, xpath)| {
                let xpath = xpath.map(|x| format!("<wd:Xpath>{}</wd:Xpath>", esc(x))).unwrap_or_default();
                format!(
                    "<wd:Validation_Error><wd:Message>{0}</wd:Message><wd:Detail_Message>{0}</wd:Detail_Message>{xpath}</wd:Validation_Error>",
                    esc(m)
                )
            })
            .collect();
        format!("<detail><wd:Validation_Fault>{errors}</wd:Validation_Fault></detail>")
    };
    xml(
        status,
        envelope(&format!(
            "<SOAP-ENV:Fault xmlns:wd=\"{WD_NS}\"><faultcode>SOAP-ENV:{code}</faultcode><faultstring>{}</faultstring>{detail}</SOAP-ENV:Fault>",
            esc(string)
        )),
    )
}

/// A `Client.validationError` fault with one message.
pub fn validation(message: &str, xpath: Option<&str>) -> Response {
    fault(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Client.validationError",
        &format!("Validation error occurred. {message}"),
        &[(message, xpath)],
    )
}

/// Workday's answer to a task the user's security groups may not do.
fn not_authorized(domain: Option<&str>) -> Response {
    let esc = reqflow_engine::xml::escape;
    let detail = match domain {
        Some(d) => format!("The task submitted is not authorized. Missing permission on domain: {d}"),
        None => "The task submitted is not authorized.".to_owned(),
    };
    xml(
        StatusCode::INTERNAL_SERVER_ERROR,
        envelope(&format!(
            "<SOAP-ENV:Fault xmlns:wd=\"{WD_NS}\"><faultcode>SOAP-ENV:Server.processingError</faultcode><faultstring>Processing error occurred. The task submitted is not authorized.</faultstring><detail><wd:Processing_Fault><wd:Detail_Message>{}</wd:Detail_Message></wd:Processing_Fault></detail></SOAP-ENV:Fault>",
            esc(&detail)
        )),
    )
}

fn processing(message: &str) -> Response {
    let esc = reqflow_engine::xml::escape;
    xml(
        StatusCode::INTERNAL_SERVER_ERROR,
        envelope(&format!(
            "<SOAP-ENV:Fault xmlns:wd=\"{WD_NS}\"><faultcode>SOAP-ENV:Server.processingError</faultcode><faultstring>Processing error occurred. {0}</faultstring><detail><wd:Processing_Fault><wd:Detail_Message>{0}</wd:Detail_Message></wd:Processing_Fault></detail></SOAP-ENV:Fault>",
            esc(message)
        )),
    )
}

fn authenticated(sb: &Sandbox, headers: &HeaderMap, header: &Value) -> Result<(), Response> {
    let auth_fault =
        || fault(StatusCode::INTERNAL_SERVER_ERROR, "Client.authenticationError", "invalid username or password", &[]);
    if let Some(bearer) =
        headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
    {
        let ok =
            sb.read(|d| d.workday.access_tokens.get(bearer.trim()).is_some_and(|exp| *exp > crate::util::now_secs()));
        return if ok {
            Ok(())
        } else {
            Err(fault(StatusCode::UNAUTHORIZED, "Client.authenticationError", "invalid or expired access token", &[]))
        };
    }
    let token = &header["Security"]["UsernameToken"];
    let user = token["Username"].as_str().unwrap_or("");
    let (password, kind) = match &token["Password"] {
        Value::String(p) => (p.as_str(), ""),
        other => (other["#text"].as_str().unwrap_or(""), other["@Type"].as_str().unwrap_or("")),
    };
    let ok = kind.ends_with(PASSWORD_TEXT) && sb.read(|d| d.workday.users.get(user).is_some_and(|p| p == password));
    if ok { Ok(()) } else { Err(auth_fault()) }
}

/// The answer `wd:{name}` with `wd:version` and `children` (JSON, written in key order).
fn respond(name: &str, version: &str, children: &Value) -> Response {
    let mut inner = String::new();
    if write_json_children(&mut inner, Some("wd"), children).is_err() {
        return processing("The sandbox could not write the response");
    }
    xml(
        StatusCode::OK,
        envelope(&format!("<wd:{name} xmlns:wd=\"{WD_NS}\" wd:version=\"{version}\">{inner}</wd:{name}>")),
    )
}

type Operation = fn(&Sandbox, &Element, Ver, &str) -> Result<Value, SoapError>;

fn operation(name: &str) -> Option<Operation> {
    Some(match name {
        "Get_Candidates_Request" => super::candidates::get_candidates,
        "Put_Candidate_Request" => super::candidates::put_candidate,
        "Put_Candidate_Attachment_Request" => super::candidates::put_candidate_attachment,
        "Assess_Candidate_Request" => super::assess::assess_candidate,
        "Move_Candidate_Request" => super::assess::move_candidate,
        "Get_Job_Requisitions_Request" => super::requisitions::get_job_requisitions,
        _ => return None,
    })
}

pub(crate) async fn service(
    State(sb): State<Sandbox>,
    Path((tenant, service, version)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if sb.read(|d| d.workday.tenant != tenant) || service != "Recruiting" {
        return (StatusCode::NOT_FOUND, "unknown tenant or service").into_response();
    }
    let text = String::from_utf8_lossy(&body);
    let msg = match parse_soap(&text) {
        Ok(m) => m,
        Err(e) => {
            return fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Client",
                &format!("Unable to parse the request: {e}"),
                &[],
            );
        }
    };
    if let Err(r) = authenticated(&sb, &headers, &msg.header) {
        return r;
    }
    let unsupported = "The web service or version is invalid for the requested operation";
    let Some(ver) = Ver::parse(&version).filter(|v| *v >= V26_1) else {
        return validation(unsupported, None);
    };
    if msg.operation_namespace.as_deref() != Some(WD_NS) {
        return validation("The request element must be in namespace urn:com.workday/bsvc", None);
    }
    if msg.element.attribute("version") != Some(version.as_str()) {
        return validation(&format!("The request's wd:version must be {version}, as in the URL"), None);
    }
    if msg.operation == "Server_Timestamp_Get" {
        return respond(
            "Server_Timestamp",
            &version,
            &json!({"Server_Timestamp_Data": chrono::Utc::now().to_rfc3339()}),
        );
    }
    let Some(op) = operation(&msg.operation) else {
        return validation(unsupported, None);
    };
    if let Some(domain) = super::permissions::denied(&sb, &msg.operation) {
        return not_authorized(domain.as_deref());
    }
    let xpath = format!("/wd:{}[1]", msg.operation);
    match op(&sb, &msg.element, ver, &xpath) {
        Ok(children) => respond(&msg.operation.replace("_Request", "_Response"), &version, &children),
        Err(SoapError::Validation { message, xpath }) => validation(&message, xpath.as_deref()),
        Err(SoapError::Processing(message)) => processing(&message),
    }
}

/// A reference in a response: `{"ID": [{"@type": t, "#text": v}, …]}`.
pub fn reference(ids: &[(&str, &str)]) -> Value {
    let list: Vec<Value> = ids.iter().map(|(t, v)| json!({"@type": t, "#text": v})).collect();
    json!({ "ID": if list.len() == 1 { list[0].clone() } else { Value::Array(list) } })
}
