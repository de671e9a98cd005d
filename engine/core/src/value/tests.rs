use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn ctx() -> Value {
    json!({
        "event": { "body": { "data": { "id": "2727baa2", "firstname": "Ada", "lastname": "Lovelace", "score": 87.5,
            "tags": ["a", "b"], "stage": "Phone Screen" } } },
        "steps": { "fields": { "output": { "email": "ada@example.com", "n": 3 }, "status": "succeeded", "error": null } },
        "secrets": { "TOKEN": "s3cr3t" },
        "run": { "id": "r1", "workflow": "w", "version": 1, "attempt": 1 }
    })
}

fn eval(s: &str) -> Value {
    eval_str(s, ctx()).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn classification_follows_the_format() {
    assert_eq!(classify("$"), StringKind::Path);
    assert_eq!(classify("$.a"), StringKind::Path);
    assert_eq!(classify("$['a']"), StringKind::Path);
    assert_eq!(classify("$$.a"), StringKind::Literal);
    assert_eq!(classify("$5.00"), StringKind::Literal);
    assert_eq!(classify("Hi {{ x }}"), StringKind::Template);
    assert_eq!(classify("{% if x %}y{% endif %}"), StringKind::Template);
    assert_eq!(classify("plain"), StringKind::Literal);
}

#[test]
fn jsonpath_singular_yields_the_value_or_null() {
    assert_eq!(eval("$.event.body.data.id"), json!("2727baa2"));
    assert_eq!(eval("$.event.body.data.missing"), Value::Null);
    assert_eq!(eval("$.event.body.data.tags[*]"), json!(["a", "b"]));
    assert_eq!(eval("$..firstname"), json!(["Ada"]));
}

#[test]
fn single_expression_templates_are_typed() {
    assert_eq!(eval("{{ event.body.data.score }}"), json!(87.5));
    assert_eq!(eval("{{ steps.fields.output.n + 1 }}"), json!(4));
    assert_eq!(eval("{{ event.body.data.stage == 'Phone Screen' }}"), json!(true));
    assert_eq!(eval("{{ event.body.data.tags }}"), json!(["a", "b"]));
    assert_eq!(eval("  {{ steps.fields.output }}  "), json!({"email": "ada@example.com", "n": 3}));
    assert_eq!(eval("{{- run.attempt -}}"), json!(1));
}

#[test]
fn mixed_templates_render_strings() {
    assert_eq!(eval("{{ event.body.data.firstname }} {{ event.body.data.lastname }}"), json!("Ada Lovelace"));
    assert_eq!(eval("n={{ steps.fields.output.n }}"), json!("n=3"));
    assert_eq!(eval("{% for t in event.body.data.tags %}{{ t }}{% endfor %}"), json!("ab"));
}

#[test]
fn dollar_dollar_escapes_a_literal() {
    assert_eq!(eval("$$.not.a.path"), json!("$.not.a.path"));
    assert_eq!(eval("$5"), json!("$5"));
}

#[test]
fn undefined_values_are_errors_not_silent_nulls() {
    let e = eval_str("{{ event.body.data.emial }}", ctx()).expect_err("undefined");
    assert!(e.to_string().contains("undefined"), "{e}");
    let e = eval_str("Hi {{ event.body.data.emial }}", ctx()).expect_err("undefined");
    assert!(e.to_string().contains("undefined"), "{e}");
    assert_eq!(eval("{{ event.body.data.emial | default('none') }}"), json!("none"));
}

#[test]
fn templates_cannot_run_forever_or_exhaust_memory() {
    let e = eval_str("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", ctx())
        .expect_err("fuel");
    assert!(e.to_string().contains("fuel") || e.to_string().contains("bytes"), "{e}");
    let e = eval_str("{{ 'x' * 100000000 }}", ctx());
    assert!(e.is_err(), "a 100 MB string must not be built");
}

#[test]
fn parse_errors_have_offsets() {
    let e = eval_str("{{ event.body. }}", ctx()).expect_err("syntax");
    assert!(matches!(e, StandaloneError::Template(_)));
    assert!(e.range().is_some());
    let e = eval_str("$.event[", ctx()).expect_err("syntax");
    assert!(matches!(e, StandaloneError::Path(_)));
}

/// The public RFC 9535 compliance suite (703 cases), through our JSONPath layer.
#[test]
fn jsonpath_compliance_suite_passes_every_case() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/jsonpath-cts.json");
    let text = std::fs::read_to_string(path).expect("the CTS file is checked in");
    let cts: Value = serde_json::from_str(&text).expect("json");
    let tests = cts["tests"].as_array().expect("tests");
    let mut failed = Vec::new();
    for t in tests {
        let name = t["name"].as_str().unwrap_or("?");
        let selector = t["selector"].as_str().unwrap_or("");
        let parsed = PathExpr::parse(selector);
        if t["invalid_selector"].as_bool() == Some(true) {
            if parsed.is_ok() {
                failed.push(format!("{name}: accepted invalid `{selector}`"));
            }
            continue;
        }
        let Ok(p) = parsed else {
            failed.push(format!("{name}: rejected valid `{selector}`"));
            continue;
        };
        let got = Value::Array(p.nodes(&t["document"]).into_iter().cloned().collect());
        let ok = match (t.get("result"), t.get("results")) {
            (Some(r), _) => &got == r,
            (None, Some(Value::Array(rs))) => rs.contains(&got),
            _ => false,
        };
        if !ok {
            failed.push(format!("{name}: `{selector}` gave {got}"));
        }
    }
    assert_eq!(tests.len(), 703);
    assert!(failed.is_empty(), "{}/{} failed:\n{}", failed.len(), tests.len(), failed.join("\n"));
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        "[a-zA-Z0-9 ]{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn template_parse_errors_point_inside_the_source() {
    // Found by the `eval_value` fuzz target: `'x' # …` compiles as an
    // expression, but not in the `{% set … = (…) %}` wrapper of a typed
    // template, whose error positions were taken as positions in the source
    // (29..32 in a 13-byte source: a caret past the end, or on another line
    // of a workflow file).
    for src in ["{{ 'x' # \u{17} }}", "{{ 'x' # y }}", "{{ a # b }}", "  {{ 1 # }}  ", "{{ x ) }}", "{{ (x }}"] {
        match eval_str(src, ctx()) {
            Err(StandaloneError::Template(e)) => {
                assert!(e.range.start < src.len() && e.range.end <= src.len(), "{src:?}: {:?}", e.range);
                assert!(
                    e.range.start >= src.find("{{").unwrap_or(0) + 2,
                    "{src:?}: {:?} is not in the expression",
                    e.range
                );
            }
            other => panic!("{src:?}: expected a template error, got {other:?}"),
        }
    }
}

proptest! {
    /// `{{ x }}` and `$.x` yield the same typed value for any JSON.
    #[test]
    fn typed_template_and_jsonpath_agree(v in json_value()) {
        let ctx = json!({ "event": { "x": v.clone() } });
        let via_path = eval_str("$.event.x", ctx.clone()).expect("path");
        let via_template = eval_str("{{ event.x }}", ctx).expect("template");
        prop_assert_eq!(&via_path, &v);
        prop_assert_eq!(&via_template, &v);
    }

    /// Literals come back unchanged, whatever their text (bar the `$$` escape).
    #[test]
    fn literals_are_identity(s in "[^{$%]*") {
        prop_assert_eq!(eval_str(&s, json!({})).expect("literal"), Value::String(s));
    }

    /// Evaluating arbitrary template text never panics: it yields a value or an error.
    #[test]
    fn arbitrary_templates_never_panic(s in "\\{\\{[ -~]{0,30}\\}\\}") {
        let _ = eval_str(&s, json!({"event": {}}));
    }
}
