//! Bytes → the SOAP trigger's parsing, as `POST /soap/{path}` does it: UTF-8
//! check, `reqflow_engine::xml::parse_soap` (DTDs and entity declarations are
//! refused, limits on size, depth and element count), then the fault text the
//! server would answer with (`escape`). A parsed body is also written back
//! with the JSON → XML writer `soap.call` uses and parsed again. No panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reqflow_engine::xml::{escape, parse, parse_soap, write_json_element};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_soap(text) {
        Ok(msg) => {
            let _ = msg.is_fault();
            let _ = msg.element.to_json();
            let mut out = String::new();
            if write_json_element(&mut out, Some("x"), &msg.operation, &msg.body).is_ok() {
                let wrapped = format!("<root xmlns:x=\"urn:fuzz\">{out}</root>");
                let _ = parse(&wrapped);
            }
        }
        Err(e) => {
            let _ = escape(&format!("the body is not a valid SOAP envelope: {e}"));
        }
    }
});
