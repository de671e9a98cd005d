//! Differences between two JSON values, field by field: each added, removed
//! or changed leaf with its JSON path (`$.json.comment`, `$.items[2].id`)
//! and its old and new values. `reqflow replay` reports with it how a
//! step's request (or a `map:` step's output) differs from the original run.
//!
//! Objects are compared key by key, arrays index by index (an element
//! inserted at the front shows as every later index changed, plus one
//! added); any other pair of values that differ is one change at its path.

use serde::Serialize;
use serde_json::{Map, Value};

/// What happened to one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Only in the new value.
    Added,
    /// Only in the old value.
    Removed,
    /// In both, with different values.
    Changed,
}

/// One field that differs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    /// JSON path of the field (`$` is the whole value).
    pub path: String,
    /// Added, removed or changed.
    pub change: ChangeKind,
    /// The old value (removed, changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The new value (added, changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// Every field that differs between `old` and `new`, in key order; empty
/// when they are equal.
pub fn diff(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk("$".to_owned(), old, new, &mut out);
    out
}

fn walk(path: String, old: &Value, new: &Value, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => objects(&path, a, b, out),
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let p = format!("{path}[{i}]");
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => walk(p, x, y, out),
                    (Some(x), None) => out.push(removed(p, x)),
                    (None, Some(y)) => out.push(added(p, y)),
                    (None, None) => {}
                }
            }
        }
        (a, b) if a == b => {}
        (a, b) => {
            out.push(FieldChange { path, change: ChangeKind::Changed, old: Some(a.clone()), new: Some(b.clone()) })
        }
    }
}

fn objects(path: &str, a: &Map<String, Value>, b: &Map<String, Value>, out: &mut Vec<FieldChange>) {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let p = child(path, k);
        match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) => walk(p, x, y, out),
            (Some(x), None) => out.push(removed(p, x)),
            (None, Some(y)) => out.push(added(p, y)),
            (None, None) => {}
        }
    }
}

fn added(path: String, v: &Value) -> FieldChange {
    FieldChange { path, change: ChangeKind::Added, old: None, new: Some(v.clone()) }
}

fn removed(path: String, v: &Value) -> FieldChange {
    FieldChange { path, change: ChangeKind::Removed, old: Some(v.clone()), new: None }
}

/// `path.key` for plain keys, `path['odd key']` otherwise.
fn child(path: &str, key: &str) -> String {
    let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("{path}.{key}")
    } else {
        format!("{path}['{}']", key.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn equal_values_have_no_changes() {
        let v = json!({ "a": [1, { "b": null }], "c": "x" });
        assert!(diff(&v, &v).is_empty());
    }

    #[test]
    fn added_removed_and_changed_fields_are_named_by_path() {
        let old = json!({ "json": { "comment": "old", "gone": 1, "tags": ["a"] }, "path": "/x" });
        let new = json!({ "json": { "comment": "new", "extra": true, "tags": ["a", "b"] }, "path": "/x" });
        let d = diff(&old, &new);
        let shown: Vec<(String, ChangeKind)> = d.iter().map(|c| (c.path.clone(), c.change)).collect();
        assert_eq!(
            shown,
            vec![
                ("$.json.comment".to_owned(), ChangeKind::Changed),
                ("$.json.extra".to_owned(), ChangeKind::Added),
                ("$.json.gone".to_owned(), ChangeKind::Removed),
                ("$.json.tags[1]".to_owned(), ChangeKind::Added),
            ]
        );
        assert_eq!(d[0].old, Some(json!("old")));
        assert_eq!(d[0].new, Some(json!("new")));
    }

    #[test]
    fn odd_keys_are_quoted_and_type_changes_are_one_change() {
        let d = diff(&json!({ "a b": { "x": 1 } }), &json!({ "a b": [1] }));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].path, "$['a b']");
        assert_eq!(d[0].change, ChangeKind::Changed);
    }
}
