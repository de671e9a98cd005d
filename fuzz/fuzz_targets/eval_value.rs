//! An expression string + JSON data → `reqflow_engine::value::eval_str`, the
//! entry `reqflow eval VALUE --data FILE` uses (literal, JSONPath or minijinja
//! template, classified the way a workflow value is). The input is split at
//! the first NUL byte: before it the value, after it the JSON context (an
//! invalid context falls back to a fixed sample event). Parse and evaluation
//! errors are fine, and their byte ranges must lie in the source; panics,
//! hangs (templates run on fuel) and unbounded output are bugs.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reqflow_engine::value::eval_str;
use serde_json::{Value, json};

fn sample() -> Value {
    json!({
        "event": {
            "body": { "id": "c-1", "name": "Ada Lovelace", "stage": "phone_screen", "tags": ["a", "b"], "score": 7.5 },
            "headers": { "content-type": "application/json" },
            "query": {},
            "received_at": "2024-01-01T00:00:00Z"
        },
        "steps": { "fetch": { "output": { "items": [1, 2, 3], "ok": true, "nested": { "x": null } } } },
        "secrets": { "TOKEN": "s3cr3t" },
        "run": { "id": "r-1", "attempt": 1 }
    })
}

fuzz_target!(|data: &[u8]| {
    let (value, context) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(value) = std::str::from_utf8(value) else { return };
    let context = serde_json::from_slice::<Value>(context).unwrap_or_else(|_| sample());
    match eval_str(value, context) {
        Ok(v) => {
            let _ = serde_json::to_string(&v);
        }
        Err(e) => {
            let _ = e.to_string();
            if let Some(r) = e.range() {
                // What `reqflow eval` turns into a diagnostic's span.
                assert!(
                    r.start <= value.len() && r.end <= value.len() + 1,
                    "error range {r:?} beyond a {}-byte source",
                    value.len()
                );
            }
        }
    }
});
