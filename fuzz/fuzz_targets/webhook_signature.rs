//! Bytes split into a request → what `POST /hooks/{path}` does with it:
//! headers and query as the server reads them (`reqflow_server::trigger_request`),
//! HMAC / bearer / basic authentication (`runtime::trigger::authenticate`), the
//! JSON body (`webhook_event`), then `when:` and `dedupe:` (`new_event`).
//!
//! Input layout: first byte selects the auth (HMAC sha256/sha1/sha512 × hex/base64,
//! with or without prefix and timestamp header, bearer, basic); then lines
//! `name: value` up to an empty line are headers, the first line starting with
//! `?` is the query string, and everything after the empty line is the body.
//! With bit 0x40 of the first byte, the signature header is replaced with the
//! valid HMAC of the body, so that the success path of the compare runs too.

#![no_main]

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use reqflow_engine::action::Registry;
use reqflow_engine::compile::{CompiledAuth, CompiledHmac, CompiledTrigger, CompiledWorkflow};
use reqflow_engine::load::load_str;
use reqflow_engine::runtime::{Secrets, Settings};
use reqflow_engine::runtime::trigger::{authenticate, new_event, signature_headers, webhook_event};
use reqflow_engine::spec::{HmacAlgorithm, HmacEncoding};
use reqflow_engine::value::CompiledValue;
use serde_json::json;
use sha2::Sha256;

const WORKFLOW: &str = r#"
id: fuzz-hook
trigger:
  webhook:
    path: /hooks/fuzz
    auth:
      hmac:
        header: x-signature
        secret: "{{ secrets.HOOK_KEY }}"
    when: "{{ event.body.stage == 'phone_screen' or event.query.force is defined }}"
    dedupe: "{{ event.body.id ~ ':' ~ (event.headers['x-delivery'] | default('')) }}"
steps:
  - id: echo
    map: { id: "$.event.body.id" }
"#;

static WF: LazyLock<Arc<CompiledWorkflow>> = LazyLock::new(|| {
    let loaded = load_str("fuzz.yaml", WORKFLOW, &Registry::new());
    loaded.workflow.unwrap_or_else(|| panic!("the fuzz workflow must load:\n{}", loaded.report.render_short()))
});

static SECRETS: LazyLock<Settings> = LazyLock::new(|| {
    let mut s = Secrets::new();
    s.insert("HOOK_KEY", "fuzz-key-0123456789".into());
    s.into()
});

fn auth_for(selector: u8) -> CompiledAuth {
    let key = CompiledValue::Literal(json!("fuzz-key-0123456789"));
    match selector % 8 {
        6 => CompiledAuth::Bearer(key),
        7 => CompiledAuth::Basic { username: CompiledValue::Literal(json!("user")), password: key },
        n => CompiledAuth::Hmac(CompiledHmac {
            header: "x-signature".into(),
            secret: key,
            algorithm: [HmacAlgorithm::Sha256, HmacAlgorithm::Sha1, HmacAlgorithm::Sha512][n as usize % 3],
            encoding: if n < 3 { HmacEncoding::Hex } else { HmacEncoding::Base64 },
            prefix: (selector & 0x10 != 0).then(|| "sha256=".to_owned()),
            timestamp_header: (selector & 0x20 != 0).then(|| "x-timestamp".to_owned()),
            tolerance: Duration::from_secs(300),
        }),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, &[][..]),
    };
    let mut headers = HeaderMap::new();
    let mut query = None;
    for line in head.split(|&b| b == b'\n') {
        if let Some(q) = line.strip_prefix(b"?") {
            query.get_or_insert_with(|| String::from_utf8_lossy(q).into_owned());
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(line[colon + 1..].trim_ascii()))
        else {
            continue;
        };
        headers.append(name, value);
    }
    if selector & 0x40 != 0 {
        // A valid signature of the body for the workflow's HMAC (sha256, hex).
        let mut m = Hmac::<Sha256>::new_from_slice(b"fuzz-key-0123456789").expect("any key length");
        m.update(body);
        let hex: String = m.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        headers.insert("x-signature", HeaderValue::from_str(&hex).expect("hex is a valid header value"));
    }
    let mut req = reqflow_server::trigger_request(&headers, query, Bytes::copy_from_slice(body));
    req.received_at = 1_700_000_000_000;

    // The real workflow's auth, with its secret from the secrets store.
    let wf = &*WF;
    if let CompiledTrigger::Webhook { auth: Some(auth), .. } = &wf.trigger {
        let _ = authenticate(auth, &req, &wf.templates, &SECRETS);
    }
    // The variants, with a literal key.
    let auth = auth_for(selector);
    let _ = authenticate(&auth, &req, &wf.templates, &Settings::default());

    let sig = signature_headers(&wf.trigger);
    if let Ok(payload) = webhook_event(&req, &sig) {
        let event = new_event(wf, payload, req.received_at, &SECRETS);
        let _ = serde_json::to_vec(&event.payload);
    }
});
