//! The limits an event must fit, shared by the accept path and everything
//! that reads stored events back (the claim path, the API), so that what
//! was accepted can always be read again.
//!
//! - A JSON body (webhook, manual run, `workflow.start`, `reqflow run`) may
//!   nest at most [`MAX_JSON_DEPTH`] arrays and objects; a SOAP envelope at
//!   most [`MAX_XML_DEPTH`] elements ([`crate::xml::Limits`]).
//! - The event the run sees wraps the body (`event.body`, `event.headers`),
//!   and a SOAP body becomes JSON with up to two levels per element, so a
//!   stored event nests at most [`MAX_STORED_DEPTH`] levels. Readers decode
//!   stored JSON up to that depth ([`parse_stored`]), which is deeper than
//!   `serde_json`'s default of 128: a body one level under the accept limit
//!   is read back whatever wraps it.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Deepest nesting of arrays and objects in a JSON body.
pub const MAX_JSON_DEPTH: usize = 64;

/// Deepest element nesting in a SOAP envelope (and in XML answers parsed by actions).
pub const MAX_XML_DEPTH: usize = 64;

/// Deepest JSON any stored value may nest and still be read back: room for
/// a SOAP body at [`MAX_XML_DEPTH`] (two levels per element) and what wraps it.
pub const MAX_STORED_DEPTH: usize = 2 * MAX_XML_DEPTH + 16;

/// How deep a value nests (a scalar is 0, `[]` and `{}` are 1).
pub fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(v, 0)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(a) => {
                deepest = deepest.max(d + 1);
                stack.extend(a.iter().map(|x| (x, d + 1)));
            }
            Value::Object(o) => {
                deepest = deepest.max(d + 1);
                stack.extend(o.values().map(|x| (x, d + 1)));
            }
            _ => deepest = deepest.max(d),
        }
    }
    deepest
}

/// `Err` with a message saying how deep `v` nests, when it is deeper than
/// [`MAX_JSON_DEPTH`]. `what` names it (`the JSON body`).
pub fn check_json_depth(what: &str, v: &Value) -> Result<(), String> {
    within_json_depth(what, depth(v))
}

/// [`check_json_depth`] for JSON text, by its brackets, before it is parsed
/// (the accept path: a byte scan, and a body too deep is never parsed).
pub fn check_text_depth(what: &str, text: &[u8]) -> Result<(), String> {
    within_json_depth(what, text_depth(text))
}

fn within_json_depth(what: &str, d: usize) -> Result<(), String> {
    if d > MAX_JSON_DEPTH {
        return Err(format!("{what} nests {d} levels of arrays and objects; at most {MAX_JSON_DEPTH} are accepted"));
    }
    Ok(())
}

/// How deep JSON text nests, by its brackets (outside strings), without parsing it.
pub fn text_depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in text {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Decode stored JSON text: up to [`MAX_STORED_DEPTH`] levels (past
/// `serde_json`'s default recursion limit of 128), refused beyond it.
pub fn parse_stored<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let d = text_depth(text.as_bytes());
    if d > MAX_STORED_DEPTH {
        return Err(format!("it nests {d} levels; at most {MAX_STORED_DEPTH} can be read"));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    if d >= 128 {
        // Bounded above: the recursion stays within a worker thread's stack.
        de.disable_recursion_limit();
    }
    let v = T::deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(v)
}

/// [`parse_stored`] over bytes (a raw request body kept as received).
pub fn parse_stored_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let d = text_depth(bytes);
    if d > MAX_STORED_DEPTH {
        return Err(format!("it nests {d} levels; at most {MAX_STORED_DEPTH} can be read"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    if d >= 128 {
        de.disable_recursion_limit();
    }
    let v = T::deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize) -> String {
        format!("{}1{}", "[".repeat(n), "]".repeat(n))
    }

    #[test]
    fn depth_counts_arrays_and_objects() {
        assert_eq!(depth(&serde_json::json!(1)), 0);
        assert_eq!(depth(&serde_json::json!({"a": [1, {"b": []}]})), 4);
        let v: Value = serde_json::from_str(&nested(64)).expect("64");
        assert_eq!(depth(&v), 64);
        assert!(check_json_depth("the body", &v).is_ok());
        let v: Value = serde_json::from_str(&nested(65)).expect("65");
        let e = check_json_depth("the body", &v).expect_err("65 is one too many");
        assert!(e.contains("65 levels") && e.contains("at most 64"), "{e}");
    }

    #[test]
    fn text_and_value_depth_checks_agree() {
        for n in [1, 63, 64, 65, 127, 300] {
            let text = nested(n);
            let by_text = check_text_depth("the body", text.as_bytes());
            assert_eq!(by_text.is_ok(), n <= MAX_JSON_DEPTH, "{n}");
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                assert_eq!(check_json_depth("the body", &v), by_text, "{n}");
            }
        }
    }

    #[test]
    fn text_depth_ignores_brackets_in_strings() {
        assert_eq!(text_depth(br#"{"a":"[[[{{","b":["\"]"]}"#), 2);
        assert_eq!(text_depth(nested(200).as_bytes()), 200);
    }

    #[test]
    fn stored_values_past_128_levels_are_read_back() {
        // serde_json alone refuses these (recursion limit 128).
        let deep = nested(MAX_STORED_DEPTH);
        assert!(serde_json::from_str::<Value>(&deep).is_err());
        let v: Value = parse_stored(&deep).expect("read back");
        assert_eq!(depth(&v), MAX_STORED_DEPTH);
        let e = parse_stored::<Value>(&nested(MAX_STORED_DEPTH + 1)).expect_err("too deep");
        assert!(e.contains("at most"), "{e}");
        assert!(parse_stored::<Value>("{\"a\": 1} x").is_err(), "trailing characters");
    }
}
