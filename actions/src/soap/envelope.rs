//! Building SOAP envelopes.

use reqflow_engine::xml::{SOAP11_NS, SOAP12_NS, SoapVersion, XmlError, escape, write_json_children};
use serde_json::Value;

/// Workday's message namespace.
pub const WD_NS: &str = "urn:com.workday/bsvc";

/// `<soapenv:Envelope>` with an optional header and one body element (XML text).
pub fn envelope(version: SoapVersion, header: &str, body: &str) -> String {
    let ns = match version {
        SoapVersion::Soap11 => SOAP11_NS,
        SoapVersion::Soap12 => SOAP12_NS,
    };
    let mut s = String::with_capacity(body.len() + header.len() + 256);
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    s.push_str("<soapenv:Envelope xmlns:soapenv=\"");
    s.push_str(ns);
    s.push_str("\">");
    if !header.is_empty() {
        s.push_str("<soapenv:Header>");
        s.push_str(header);
        s.push_str("</soapenv:Header>");
    }
    s.push_str("<soapenv:Body>");
    s.push_str(body);
    s.push_str("</soapenv:Body></soapenv:Envelope>");
    s
}

/// An operation element built from JSON: `<p:operation xmlns:p="ns" p:version="…" attrs…>children</p:operation>`.
/// `attributes` are extra qualified attributes on the root (e.g. `Add_Only`).
pub fn operation_element(
    prefix: &str,
    namespace: &str,
    operation: &str,
    version: Option<&str>,
    attributes: &[(&str, String)],
    children: &Value,
) -> Result<String, XmlError> {
    let mut inner = String::new();
    write_json_children(&mut inner, Some(prefix), children)?;
    // Validate the operation name through the same writer.
    let mut probe = String::new();
    reqflow_engine::xml::write_json_element(&mut probe, Some(prefix), operation, &Value::Null)?;
    let mut s = String::with_capacity(inner.len() + 128);
    s.push('<');
    s.push_str(prefix);
    s.push(':');
    s.push_str(operation);
    s.push_str(" xmlns:");
    s.push_str(prefix);
    s.push_str("=\"");
    s.push_str(&escape(namespace));
    s.push('"');
    for (k, v) in attributes {
        s.push_str(&format!(" {prefix}:{k}=\"{}\"", escape(v)));
    }
    if let Some(v) = version {
        s.push_str(&format!(" {prefix}:version=\"{}\"", escape(v)));
    }
    s.push('>');
    s.push_str(&inner);
    s.push_str("</");
    s.push_str(prefix);
    s.push(':');
    s.push_str(operation);
    s.push('>');
    Ok(s)
}
