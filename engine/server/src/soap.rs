//! `POST /soap/{path}`: a SOAP 1.1/1.2 envelope in, a SOAP envelope out.
//! Bad XML, a DTD or an entity declaration gets a `Client` fault (400).

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reqflow_engine::compile::CompiledTrigger;
use reqflow_engine::xml::{SoapVersion, escape};
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;
use crate::hooks::{accept, answer};

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
    body: Body,
) -> Response {
    let started = Instant::now();
    let engine = &state.engine;
    let version =
        if headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|c| c.contains("soap+xml")) {
            SoapVersion::Soap12
        } else {
            SoapVersion::Soap11
        };
    let resp = handle(&state, &path, query, &headers, body, version).await;
    engine.metrics().accept_latency.observe(started.elapsed());
    resp
}

async fn handle(
    state: &AppState,
    path: &str,
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
    version: SoapVersion,
) -> Response {
    let route = format!("/soap/{}", path.trim_matches('/'));
    let Some(CompiledTrigger::Soap { operation, .. }) = state.engine.by_route(&route).map(|wf| wf.trigger.clone())
    else {
        return fault(version, StatusCode::NOT_FOUND, true, &format!("no workflow serves POST {route}"));
    };
    match accept(state, route, query, headers, body).await {
        Ok(accepted) => {
            let (status, answer) = answer(accepted);
            let field = |k: &str| answer.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let body = format!(
                "<{operation}_Response xmlns=\"urn:reqflow\"><Status>{}</Status><Run_ID>{}</Run_ID></{operation}_Response>",
                escape(&field("status")),
                escape(&field("run_id"))
            );
            xml_response(version, status, envelope(version, &body))
        }
        Err(e) => error_fault(version, e),
    }
}

/// An [`ApiError`] as a SOAP fault (`Client`/`Sender` for 4xx), with
/// `Retry-After` on 503.
fn error_fault(version: SoapVersion, e: ApiError) -> Response {
    let status = e.status();
    let message = match &e {
        ApiError::Overloaded(m) => format!("overloaded: {m}"),
        other => other.to_string(),
    };
    let mut r = fault(version, status, status.is_client_error(), &message);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}
