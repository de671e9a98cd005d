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

impl PathExpr {
    /// Parse a query.
    pub fn parse(source: &str) -> Result<Self, PathError> {
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
    use super::*;

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
