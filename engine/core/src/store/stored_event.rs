//! An event's body is stored once: the bytes received.
//!
//! A webhook event's `event.body` is the JSON parse of the request body,
//! and the store keeps those bytes anyway (`raw_body`: signatures are
//! checked over them, and `GET /api/runs/{id}/event/raw` serves them). So
//! the stored payload leaves the body out and says so
//! ([`StoredPayload::body_from_raw`]); reading the event parses the body
//! from the raw bytes again ([`join`]). Events whose body is not the JSON of
//! their raw bytes (SOAP envelopes, schedule and manual events, events
//! stored before this change) keep their whole payload.

use serde_json::Value;

/// The payload as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredPayload {
    /// JSON text of the payload (without `body` when `body_from_raw`).
    pub json: String,
    /// Whether `body` was left out, to be parsed from the raw body on read.
    pub body_from_raw: bool,
}

/// The payload to store for an event with these raw bytes: without `body`
/// when `body` is exactly the JSON of `raw` (checked, so that whatever made
/// the event, its payload reads back equal).
pub fn split(payload: &Value, raw: Option<&[u8]>) -> StoredPayload {
    let whole = || StoredPayload { json: to_json(payload), body_from_raw: false };
    let (Some(raw), Value::Object(map)) = (raw, payload) else { return whole() };
    let Some(body) = map.get("body") else { return whole() };
    // A body that is not a JSON object or array (SOAP envelopes) is never derived.
    if !matches!(raw.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'[')) {
        return whole();
    }
    match crate::limits::parse_stored_bytes::<Value>(raw) {
        Ok(parsed) if &parsed == body => {
            let rest: serde_json::Map<String, Value> =
                map.iter().filter(|(k, _)| k.as_str() != "body").map(|(k, v)| (k.clone(), v.clone())).collect();
            StoredPayload { json: to_json(&Value::Object(rest)), body_from_raw: true }
        }
        _ => whole(),
    }
}

/// The payload read back: `body` parsed from `raw` again when it was left
/// out (and put first, where the accept path had it).
pub fn join(stored: Value, body_from_raw: bool, raw: Option<&[u8]>) -> Result<Value, String> {
    if !body_from_raw {
        return Ok(stored);
    }
    let raw = raw.ok_or("the event's body is stored as its raw bytes, which are missing")?;
    let body: Value = crate::limits::parse_stored_bytes(raw).map_err(|e| format!("the event's raw body: {e}"))?;
    let Value::Object(rest) = stored else {
        return Err("the stored payload is not an object".into());
    };
    let mut map = serde_json::Map::with_capacity(rest.len() + 1);
    map.insert("body".into(), body);
    map.extend(rest);
    Ok(Value::Object(map))
}

fn to_json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_json_body_is_stored_once_and_read_back_equal() {
        let raw = br#"{"data":{"email":"ada@example.com"},"n":1}"#;
        let payload = json!({"body": serde_json::from_slice::<Value>(raw).expect("json"), "headers": {"a": "b"}});
        let s = split(&payload, Some(raw));
        assert!(s.body_from_raw);
        assert!(!s.json.contains("ada@example.com"));
        let back = join(serde_json::from_str(&s.json).expect("json"), true, Some(raw)).expect("joined");
        assert_eq!(back, payload);
    }

    #[test]
    fn bodies_that_differ_from_the_raw_bytes_are_kept_whole() {
        let raw = br#"{"n":1}"#;
        let payload = json!({"body": {"n": 2}});
        assert!(!split(&payload, Some(raw)).body_from_raw);
        let soap = b"<Envelope/>";
        assert!(!split(&json!({"body": {}}), Some(soap)).body_from_raw);
        assert!(!split(&json!({"body": {}}), None).body_from_raw);
        assert!(join(json!({}), true, None).is_err());
    }
}
