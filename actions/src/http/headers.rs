//! Response headers as they appear in an action's output: lower-case names,
//! and never a credential (cookies, authorization, tokens).

use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

/// Whether a header may carry a credential and so stays out of outputs.
pub fn is_sensitive(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "set-cookie"
        || n == "set-cookie2"
        || n == "cookie"
        || n.contains("authorization")
        || n.contains("auth-token")
        || n.contains("token")
        || n.contains("secret")
        || n.contains("api-key")
        || n.contains("apikey")
        || n.contains("password")
        || n.contains("session")
}

/// Headers as a JSON object; repeated headers joined with `, `; sensitive ones dropped.
pub fn safe_headers(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for (name, value) in headers {
        let name = name.as_str();
        if is_sensitive(name) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match out.get_mut(name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                out.insert(name.to_owned(), Value::String(value));
            }
        }
    }
    Value::Object(out)
}
