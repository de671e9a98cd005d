//! Checks a value tree (`with:`, connection settings) against a JSON Schema
//! before anything runs. Expressions are accepted wherever a value is: their
//! type is only known at run time, when the action deserializes its params.
//!
//! Only the keywords schemars emits for parameter types are interpreted:
//! `type`, `enum`, `const`, `properties`, `required`, `additionalProperties`,
//! `items`, `anyOf`, `oneOf`, `allOf`, `minimum`, `maximum`. Anything else is
//! accepted here and checked at run time.

use serde_json::Value;

use crate::value::{StringKind, classify};
use crate::yaml::{Span, Spanned, Tree};

/// One mismatch: what, where, and the dotted path of the value.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// Dotted path from the checked root (`with.headers.X`).
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// The node it is about.
    pub span: Span,
}

/// Check `value` against `schema`; `root` names it in messages (`with`).
pub fn check(value: &Spanned<Tree>, schema: &Value, root: &str) -> Vec<Mismatch> {
    let mut out = Vec::new();
    walk(value, schema, root, &mut out);
    out
}

fn is_expr(tree: &Tree) -> bool {
    matches!(tree, Tree::Str(s) if classify(s) != StringKind::Literal)
}

fn type_matches(tree: &Tree, ty: &str) -> bool {
    match (tree, ty) {
        (Tree::Null, "null") => true,
        (Tree::Bool(_), "boolean") => true,
        (Tree::Int(_), "integer" | "number") => true,
        (Tree::Float(f), "integer") => f.fract() == 0.0,
        (Tree::Float(_), "number") => true,
        (Tree::Str(_), "string") => true,
        (Tree::Seq(_), "array") => true,
        (Tree::Map(_), "object") => true,
        _ => false,
    }
}

fn literal_json(tree: &Tree) -> Value {
    match tree {
        Tree::Str(s) => Value::String(crate::value::unescape_literal(s).to_owned()),
        other => other.to_json(),
    }
}

fn walk(node: &Spanned<Tree>, schema: &Value, path: &str, out: &mut Vec<Mismatch>) {
    let Some(schema) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            out.push(Mismatch { path: path.into(), message: format!("`{path}` is not allowed here"), span: node.span });
        }
        return;
    };
    if is_expr(&node.value) {
        return;
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            walk(node, s, path, out);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let results: Vec<Vec<Mismatch>> = branches
                .iter()
                .map(|b| {
                    let mut o = Vec::new();
                    walk(node, b, path, &mut o);
                    o
                })
                .collect();
            if !results.iter().any(Vec::is_empty) {
                let best = results.into_iter().min_by_key(|r| (r.len(), std::cmp::Reverse(deepest(r))));
                if let Some(best) = best {
                    out.extend(best);
                }
            }
        }
    }
    if let Some(ty) = schema.get("type") {
        let types: Vec<&str> = match ty {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| type_matches(&node.value, t)) {
            out.push(Mismatch {
                path: path.into(),
                message: format!("`{path}` must be {}, found {}", describe_types(&types), node.value.type_name()),
                span: node.span,
            });
            return;
        }
    }
    let literal = literal_json(&node.value);
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(&literal)
    {
        let names: Vec<String> = allowed
            .iter()
            .map(|v| format!("`{}`", v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
            .collect();
        let mut message = format!("`{path}` must be one of {}", names.join(", "));
        if let Some(s) = literal.as_str() {
            let cands: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
            if let Some(best) = crate::suggest::closest(s, cands.iter().copied()) {
                message = format!("`{path}`: unknown value `{s}`; did you mean `{best}`?");
            }
        }
        out.push(Mismatch { path: path.into(), message, span: node.span });
        return;
    }
    if let Some(c) = schema.get("const")
        && c != &literal
    {
        out.push(Mismatch { path: path.into(), message: format!("`{path}` must be {c}"), span: node.span });
        return;
    }
    if let Some(n) = literal.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            out.push(Mismatch {
                path: path.into(),
                message: format!("`{path}` must be at least {min}"),
                span: node.span,
            });
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            out.push(Mismatch {
                path: path.into(),
                message: format!("`{path}` must be at most {max}"),
                span: node.span,
            });
        }
    }
    match &node.value {
        Tree::Map(entries) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (k, v) in entries {
                let child = format!("{path}.{}", k.value);
                match props.and_then(|p| p.get(&k.value)) {
                    Some(s) => walk(v, s, &child, out),
                    None => match additional {
                        Some(Value::Bool(false)) => {
                            let mut message = format!("unknown key `{}` in `{path}`", k.value);
                            let names =
                                props.map(|p| p.keys().map(String::as_str).collect::<Vec<_>>()).unwrap_or_default();
                            if let Some(best) = crate::suggest::closest(&k.value, names.iter().copied()) {
                                message.push_str(&format!("; did you mean `{best}`?"));
                            } else if !names.is_empty() {
                                message.push_str(&format!(
                                    "; expected one of {}",
                                    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                                ));
                            }
                            out.push(Mismatch { path: child, message, span: k.span });
                        }
                        Some(s @ Value::Object(_)) => walk(v, s, &child, out),
                        _ => {}
                    },
                }
            }
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for r in required.iter().filter_map(Value::as_str) {
                    if !entries.iter().any(|(k, _)| k.value == r) {
                        out.push(Mismatch {
                            path: path.into(),
                            message: format!("`{path}` is missing required key `{r}`"),
                            span: node.span,
                        });
                    }
                }
            }
        }
        Tree::Seq(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(item, s, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Prefer the branch whose mismatches are deepest: it matched the most structure.
fn deepest(r: &[Mismatch]) -> usize {
    r.iter().map(|m| m.path.matches('.').count()).max().unwrap_or(0)
}

fn describe_types(types: &[&str]) -> String {
    let names: Vec<&str> = types
        .iter()
        .filter(|t| **t != "null")
        .map(|t| match *t {
            "object" => "a mapping",
            "array" => "a list",
            "string" => "a string",
            "integer" => "an integer",
            "number" => "a number",
            "boolean" => "true or false",
            other => other,
        })
        .collect();
    match names.as_slice() {
        [] => "null".into(),
        [one] => (*one).into(),
        many => many.join(" or "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree(src: &str) -> Spanned<Tree> {
        let node = crate::yaml::parse(src, &Default::default()).expect("yaml");
        crate::yaml::from_node(&node).expect("tree")
    }

    #[test]
    fn expressions_satisfy_any_type() {
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": false});
        assert!(check(&tree("n: '{{ steps.a.output.n }}'"), &schema, "with").is_empty());
        assert!(check(&tree("n: $.event.body.n"), &schema, "with").is_empty());
        let m = check(&tree("n: seven"), &schema, "with");
        assert_eq!(m[0].message, "`with.n` must be an integer, found a string");
    }

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let schema =
            json!({"type": "object", "properties": {"method": {"type": "string"}}, "additionalProperties": false});
        let m = check(&tree("methd: GET"), &schema, "with");
        assert_eq!(m[0].message, "unknown key `methd` in `with`; did you mean `method`?");
    }

    #[test]
    fn enums_and_required() {
        let schema =
            json!({"type": "object", "properties": {"m": {"enum": ["GET", "POST"]}}, "required": ["m", "url"]});
        let m = check(&tree("m: PSOT"), &schema, "with");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].message, "`with.m`: unknown value `PSOT`; did you mean `POST`?");
        assert_eq!(m[1].message, "`with` is missing required key `url`");
    }
}
