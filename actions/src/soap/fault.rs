//! SOAP faults as action errors: `Client.*` faults are permanent, `Server.*`
//! faults retryable (except Workday's "not authorized", which no retry
//! fixes); details carry faultcode, faultstring and Workday's
//! `Validation_Error` / `Processing_Fault` messages.

use reqflow_engine::action::ActionError;
use reqflow_engine::xml::{Element, SoapMessage};
use serde_json::{Value, json};

/// A SOAP fault, read from 1.1 (`faultcode`/`faultstring`) or 1.2 (`Code`/`Reason`).
#[derive(Clone, Debug)]
pub struct Fault {
    /// The code without its prefix, e.g. `Client.validationError`.
    pub code: String,
    /// `faultstring` or the 1.2 reason text.
    pub string: String,
    /// `Validation_Error` entries: message, detail_message, xpath.
    pub validation_errors: Vec<Value>,
    /// `Processing_Fault/Detail_Message`, if any.
    pub processing_detail: Option<String>,
}

impl Fault {
    /// Reads a fault from a message whose body is a `Fault`.
    pub fn from_message(msg: &SoapMessage) -> Fault {
        let el = &msg.element;
        let (code, string) = if let Some(c) = el.child("faultcode") {
            (c.text(), el.child("faultstring").map(Element::text).unwrap_or_default())
        } else {
            // SOAP 1.2: Code/Value (+ Subcode/Value), Reason/Text.
            let code = el.child("Code").map(code12).unwrap_or_default();
            let reason = el.child("Reason").and_then(|r| r.child("Text")).map(Element::text).unwrap_or_default();
            (code, reason)
        };
        let code = strip_prefix(code.trim());
        let detail = el.child("detail").or_else(|| el.child("Detail"));
        let mut validation_errors = Vec::new();
        let mut processing_detail = None;
        if let Some(d) = detail {
            for f in d.elements() {
                if f.name == "Validation_Fault" {
                    for e in f.elements().filter(|e| e.name == "Validation_Error") {
                        validation_errors.push(json!({
                            "message": e.child("Message").map(Element::text),
                            "detail_message": e.child("Detail_Message").map(Element::text),
                            "xpath": e.child("Xpath").map(Element::text),
                        }));
                    }
                } else if f.name == "Processing_Fault" {
                    processing_detail = f.child("Detail_Message").map(Element::text);
                }
            }
        }
        Fault { code, string: string.trim().to_owned(), validation_errors, processing_detail }
    }

    /// Whether this is `Client.authenticationError` (credentials refused).
    pub fn is_authentication(&self) -> bool {
        self.code.ends_with("authenticationError")
    }

    /// The action error, with `status` (the HTTP status) in its details.
    pub fn into_error(self, status: u16) -> ActionError {
        let messages: Vec<&str> = self.validation_errors.iter().filter_map(|v| v["message"].as_str()).collect();
        let mut message = format!("SOAP fault {}: {}", self.code, self.string);
        for m in &messages {
            if !self.string.contains(m) {
                message.push_str("; ");
                message.push_str(m);
            }
        }
        let lower = self.code.to_ascii_lowercase();
        let not_authorized = self.string.contains("not authorized");
        let (retry, code) = if self.is_authentication() {
            (false, "soap.authentication_error")
        } else if lower.contains("validationerror") {
            (false, "soap.validation_error")
        } else if lower.starts_with("server") || lower.starts_with("receiver") {
            (
                !not_authorized,
                if lower.contains("processingerror") { "soap.processing_error" } else { "soap.server_fault" },
            )
        } else {
            (false, "soap.client_fault")
        };
        let err = if retry { ActionError::retryable(message) } else { ActionError::permanent(message) };
        err.with_code(code).with_details(json!({
            "status": status,
            "faultcode": self.code,
            "faultstring": self.string,
            "validation_errors": self.validation_errors,
            "processing_fault": self.processing_detail,
        }))
    }
}

fn code12(code: &Element) -> String {
    let mut parts = Vec::new();
    let mut cur = Some(code);
    while let Some(c) = cur {
        if let Some(v) = c.child("Value") {
            parts.push(strip_prefix(v.text().trim()));
        }
        cur = c.child("Subcode");
    }
    parts.join(".")
}

fn strip_prefix(code: &str) -> String {
    match code.split_once(':') {
        Some((_, rest)) => rest.to_owned(),
        None => code.to_owned(),
    }
}
