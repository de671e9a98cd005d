//! `POST /soap/{path}`: a SOAP 1.1/1.2 envelope in, a SOAP envelope out.
//! Bad XML, a DTD or an entity declaration gets a `Client` fault (400).

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reqflow_engine::compile::CompiledTrigger;
use reqflow_engine::runtime::clock::rfc3339;
use reqflow_engine::runtime::trigger;
use reqflow_engine::runtime::{Engine, EventOutcome};
use reqflow_engine::xml::{SoapVersion, escape, parse_soap};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::hooks::{check_auth, request, submit};

const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";

fn envelope(version: SoapVersion, body: &str) -> String {
    let ns = if version == SoapVersion::Soap12 { SOAP12 } else { SOAP11 };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope xmlns:soapenv=\"{ns}\"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>\n"
    )
}

fn fault(version: SoapVersion, status: StatusCode, client: bool, message: &str) -> Response {
    let msg = escape(message);
    let body = match version {
        SoapVersion::Soap11 => {
            let code = if client { "soapenv:Client" } else { "soapenv:Server" };
            format!("<soapenv:Fault><faultcode>{code}</faultcode><faultstring>{msg}</faultstring></soapenv:Fault>")
        }
        SoapVersion::Soap12 => {
            let code = if client { "soapenv:Sender" } else { "soapenv:Receiver" };
            format!(
                "<soapenv:Fault><soapenv:Code><soapenv:Value>{code}</soapenv:Value></soapenv:Code><soapenv:Reason><soapenv:Text xml:lang=\"en\">{msg}</soapenv:Text></soapenv:Reason></soapenv:Fault>"
            )
        }
    };
    xml_response(version, status, envelope(version, &body))
}

fn xml_response(version: SoapVersion, status: StatusCode, text: String) -> Response {
    let ct =
        if version == SoapVersion::Soap12 { "application/soap+xml; charset=utf-8" } else { "text/xml; charset=utf-8" };
    let mut r = (status, text).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

pub(crate) async fn soap(
    State(state): State<AppState>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let engine = &state.engine;
    let version =
        if headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|c| c.contains("soap+xml")) {
            SoapVersion::Soap12
        } else {
            SoapVersion::Soap11
        };
    let resp = handle(engine, &path, query, &headers, body, version).await;
    engine.metrics().accept_latency.observe(started.elapsed());
    resp
}

async fn handle(
    engine: &Engine,
    path: &str,
    query: Option<String>,
    headers: &HeaderMap,
    body: Bytes,
    version: SoapVersion,
) -> Response {
    let route = format!("/soap/{}", path.trim_matches('/'));
    let Some(wf) = engine.by_route(&route) else {
        return fault(version, StatusCode::NOT_FOUND, true, &format!("no workflow serves POST {route}"));
    };
    let CompiledTrigger::Soap { operation, .. } = &wf.trigger else {
        return fault(version, StatusCode::NOT_FOUND, true, "not a SOAP endpoint");
    };
    let req = request(headers, query, body);
    if let Err(e) = check_auth(engine, &wf, &req) {
        return fault(version, StatusCode::UNAUTHORIZED, true, &e.to_string());
    }
    let reject = |msg: String| {
        engine.metrics().event(&wf.id, EventOutcome::Rejected);
        fault(version, StatusCode::BAD_REQUEST, true, &msg)
    };
    let Ok(text) = std::str::from_utf8(&req.body) else {
        return reject("the body is not UTF-8".into());
    };
    let msg = match parse_soap(text) {
        Ok(m) => m,
        Err(e) => return reject(format!("the body is not a valid SOAP envelope: {e}")),
    };
    let got = msg.operation.strip_suffix("_Request").unwrap_or(&msg.operation);
    if got != operation {
        return reject(format!("expected operation `{operation}`, found `{}`", msg.operation));
    }
    let signature_headers = trigger::signature_headers(&wf.trigger);
    let payload = json!({
        "body": msg.body,
        "operation": msg.operation,
        "header": msg.header,
        "headers": trigger::headers_json(&req, &signature_headers),
        "received_at": rfc3339(req.received_at),
    });
    match submit(engine, &wf, payload, Some(req.body), req.received_at).await {
        Ok((status, answer)) => {
            let field = |k: &str| answer.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let body = format!(
                "<{operation}_Response xmlns=\"urn:reqflow\"><Status>{}</Status><Run_ID>{}</Run_ID></{operation}_Response>",
                escape(&field("status")),
                escape(&field("run_id"))
            );
            xml_response(version, status, envelope(version, &body))
        }
        Err(ApiError::Overloaded(m)) => {
            let mut r = fault(version, StatusCode::SERVICE_UNAVAILABLE, false, &format!("overloaded: {m}"));
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        Err(e) => {
            let client = e.status().is_client_error();
            fault(version, e.status(), client, &e.to_string())
        }
    }
}
