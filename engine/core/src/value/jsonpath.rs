//! JSONPath queries (RFC 9535) with `serde_json_path`, which passes all 703
//! cases of the public compliance suite (jsonpath-rust 1.0.12 passes 694).

use serde_json::Value;
use serde_json_path::JsonPath;

/// A parsed JSONPath query.
#[derive(Clone, Debug)]
pub struct PathExpr {
    source: String,
    path: JsonPath,
    singular: bool,
}

/// A JSONPath that does not parse: what and at which byte of the query.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("invalid JSONPath: {message}")]
pub struct PathError {
    /// What is wrong.
    pub message: String,
    /// Byte offset in the query.
    pub offset: usize,
}

/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Deepest nesting of `[…]` and `(…)` accepted in a query. The parser's time
/// grows exponentially with the nesting of filters (`$[?@[?@[?…`: about 8 ms
/// at 10 levels, seconds at 20), so deeper queries are refused before
/// parsing; the compliance suite nests 4 deep at most.
pub const MAX_NESTING: usize = 10;

/// Refuses, before parsing, what the parser cannot handle safely: queries too
/// long or nested too deep (parse time), and a `\u` escape cut short by the
/// end of the query (`serde_json_path` 0.7 panics on it: "we do not use
/// streaming parsers"). Neither can be part of a valid query.
fn check_bounds(source: &str) -> Result<(), PathError> {
    if source.len() > MAX_QUERY_BYTES {
        return Err(PathError {
            message: format!("the query is longer than {MAX_QUERY_BYTES} bytes"),
            offset: MAX_QUERY_BYTES,
        });
    }
    let bytes = source.as_bytes();
    // A valid `\uXXXX` escape is followed by its 4 hex digits and at least a
    // closing quote and `]`: one nearer the end is cut short.
    for i in bytes.len().saturating_sub(4)..bytes.len() {
        if bytes[i] == b'u' {
            let run = bytes[..i].iter().rev().take_while(|&&b| b == b'\\').count();
            if run % 2 == 1 {
                return Err(PathError { message: "unterminated `\\u` escape".into(), offset: i - 1 });
            }
        }
    }
    let mut depth = 0usize;
    let mut quote = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) if b == b'\\' => i += 1,
            Some(_) => {}
            None => match b {
                b'\'' | b'"' => quote = Some(b),
                b'[' | b'(' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(PathError {
                            message: format!("the query nests more than {MAX_NESTING} levels deep"),
                            offset: i,
                        });
                    }
                }
                b']' | b')' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        i += 1;
    }
    Ok(())
}

impl PathExpr {
    /// Parse a query (within `MAX_QUERY_BYTES` and `MAX_NESTING`).
    pub fn parse(source: &str) -> Result<Self, PathError> {
        check_bounds(source)?;
        let path = JsonPath::parse(source).map_err(|e| PathError {
            message: e.message().to_owned(),
            offset: e.position().min(source.len().saturating_sub(1)),
        })?;
        Ok(PathExpr { source: source.to_owned(), singular: is_singular(source), path })
    }

    /// The query as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the query can select at most one node (only name and index selectors).
    pub fn is_singular(&self) -> bool {
        self.singular
    }

    /// Every node the query selects, in document order.
    pub fn nodes<'v>(&self, value: &'v Value) -> Vec<&'v Value> {
        self.path.query(value).all()
    }

    /// The value as a workflow sees it: a singular query yields its node or
    /// null; any other query yields the list of nodes.
    pub fn eval(&self, value: &Value) -> Value {
        let nodes = self.path.query(value);
        if self.singular {
            nodes.at_most_one().ok().flatten().cloned().unwrap_or(Value::Null)
        } else {
            Value::Array(nodes.all().into_iter().cloned().collect())
        }
    }
}

/// RFC 9535 §2.3.5.1: a singular query has only name and index selectors,
/// each in a child segment. Decided on the text of a query that parsed.
fn is_singular(source: &str) -> bool {
    let bytes = source.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b'*' | b'?' => return false,
            b'.' if bytes.get(i + 1) == Some(&b'.') => return false,
            b':' | b',' if depth > 0 => return false,
            _ => {}
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn a_unicode_escape_cut_short_is_an_error_not_a_panic() {
        // Found by the `eval_value` fuzz target: serde_json_path 0.7.2 panics
        // ("entered unreachable code: we do not use streaming parsers") when
        // the query ends inside a `\u` escape.
        for q in [
            r#"$[1,15,"\u"#,
            r#"$["\u"#,
            r#"$['\u"#,
            r#"$["\uD"#,
            r#"$["\uD800\u"#,
            r#"$["\uD800\uD"#,
            r#"$[?@.a == "\u"#,
        ] {
            let e = PathExpr::parse(q).expect_err(q);
            assert!(e.offset < q.len(), "{q}: {e:?}");
        }
        // Escaped backslashes before a `u` are not an escape; real escapes still work.
        assert!(PathExpr::parse(r#"$["\\u"]"#).is_ok());
        assert!(PathExpr::parse(r#"$["\u00e9"]"#).is_ok());
        assert!(PathExpr::parse(r#"$["\uD83D\uDE00"]"#).is_ok());
        assert!(PathExpr::parse(r#"$["\u00"]"#).is_err());
    }

    #[test]
    fn deep_or_long_queries_are_refused_quickly() {
        // Found by the `eval_value` fuzz target: a 707-byte query of unclosed
        // nested filters took 1.1 s to be refused (10 s under the fuzzer), and
        // each further level doubles that.
        let deep = format!("$.body{}", "[?@.stage .daty".repeat(30));
        let closed = format!("${}{}", "[?@.a".repeat(11), "]".repeat(11));
        for q in [deep, closed, format!("$.{}", "a".repeat(MAX_QUERY_BYTES))] {
            let started = Instant::now();
            let e = PathExpr::parse(&q).expect_err(&q);
            assert!(started.elapsed() < Duration::from_secs(1), "{q}: {:?}", started.elapsed());
            assert!(e.offset <= q.len(), "{e:?}");
        }
        // Up to the limit, nesting is fine; brackets in strings do not count.
        let ok = format!("${}{}", "[?@.a".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        assert!(PathExpr::parse(&ok).is_ok(), "{ok}");
        let in_string = format!("$['{}']", "[(".repeat(40));
        assert!(PathExpr::parse(&in_string).is_ok(), "{in_string}");
    }

    #[test]
    fn singular_queries_are_recognised() {
        for q in ["$", "$.a", "$.a.b[0]", "$['a']['b'][-1]", "$[\"a*b\"]", "$['x..y']"] {
            assert!(PathExpr::parse(q).expect(q).is_singular(), "{q}");
        }
        for q in ["$.*", "$..a", "$[0:2]", "$[0,1]", "$[?@.a]", "$.a[*].b"] {
            assert!(!PathExpr::parse(q).expect(q).is_singular(), "{q}");
        }
    }
}
