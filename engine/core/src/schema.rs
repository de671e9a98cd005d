//! The JSON Schema of the workflow format, generated from [`crate::spec`]
//! and the registry: each step's `with:` is constrained by its `action:`,
//! each connection's settings by its `type:`. `schemas/workflow.schema.json`
//! is this output, checked in; a test fails when it is stale.

use serde_json::{Value, json};

use crate::action::Registry;
use crate::spec::WorkflowSpec;

/// A value position accepts an expression string in place of any literal.
fn allow_expressions(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else { return };
    for key in ["properties"] {
        if let Some(Value::Object(props)) = obj.get_mut(key) {
            for v in props.values_mut() {
                allow_expressions(v);
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(v) = obj.get_mut(key)
            && v.is_object()
        {
            allow_expressions(v);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(items)) = obj.get_mut(key) {
            for v in items {
                allow_expressions(v);
            }
        }
    }
    let takes_string = match obj.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
        _ => false,
    };
    let constrained = obj.contains_key("type") || obj.contains_key("enum") || obj.contains_key("const");
    if constrained && !takes_string || obj.contains_key("enum") || obj.contains_key("const") {
        let original = Value::Object(std::mem::take(obj));
        let description = original.get("description").cloned();
        obj.insert("anyOf".into(), json!([original, { "$ref": "#/$defs/Expression" }]));
        if let Some(d) = description {
            obj.insert("description".into(), d);
        }
    }
}

/// The workflow schema for the actions and connection types in `registry`.
pub fn workflow_schema(registry: &Registry) -> Value {
    let mut root = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<WorkflowSpec>()
        .to_value();
    let defs = root
        .as_object_mut()
        .and_then(|r| r.entry("$defs").or_insert_with(|| json!({})).as_object_mut().map(|d| d as *mut _));
    let _ = defs;
    let Some(obj) = root.as_object_mut() else { return root };
    obj.insert("$id".into(), json!("https://reqflow.dev/schemas/workflow.schema.json"));
    let defs = obj.entry("$defs").or_insert_with(|| json!({}));
    if let Some(defs) = defs.as_object_mut() {
        defs.insert(
            "Expression".into(),
            json!({
                "type": "string",
                "description": "A JSONPath query (`$.event.body.id`) or a minijinja template (`{{ steps.fields.output.email }}`), evaluated at run time.",
                "anyOf": [ { "pattern": "^\\$(\\.|\\[|$)" }, { "pattern": "\\{[{%]" } ]
            }),
        );
        // Steps: one `if/then` per action constrains `with:`.
        let mut rules = Vec::new();
        for action in registry.actions() {
            let doc = action.doc();
            let mut params = doc.params.clone();
            allow_expressions(&mut params);
            if let Some(p) = params.as_object_mut() {
                p.remove("title");
            }
            rules.push(json!({
                "if": { "properties": { "action": { "const": doc.info.kind } }, "required": ["action"] },
                "then": { "properties": { "with": params } }
            }));
        }
        let kinds: Vec<&str> = registry.actions().map(|a| a.doc().info.kind.as_str()).collect();
        if let Some(step) = defs.get_mut("StepSpec").and_then(Value::as_object_mut) {
            if let Some(action) = step.get_mut("properties").and_then(|p| p.get_mut("action")) {
                *action = json!({ "description": "The action to run (`reqflow actions` lists them).", "enum": kinds });
            }
            if !rules.is_empty() {
                step.insert("allOf".into(), Value::Array(rules));
            }
        }
        // Connections: `type` selects the settings schema.
        let mut conn_rules = Vec::new();
        let mut names = Vec::new();
        for ct in registry.connection_types() {
            names.push(ct.name.clone());
            let mut settings = ct.schema.clone();
            allow_expressions(&mut settings);
            if let Some(s) = settings.as_object_mut() {
                s.remove("title");
                if let Some(Value::Object(props)) = s.get_mut("properties") {
                    props.insert("type".into(), json!({ "const": ct.name }));
                }
                if s.get("additionalProperties") == Some(&Value::Bool(false)) && !s.contains_key("properties") {
                    s.insert("properties".into(), json!({ "type": { "const": ct.name } }));
                }
            }
            conn_rules.push(json!({
                "if": { "properties": { "type": { "const": ct.name } }, "required": ["type"] },
                "then": settings
            }));
        }
        defs.insert(
            "ConnectionSpec".into(),
            json!({
                "description": "A connection: `type` names a connection type; the other keys are its settings.",
                "type": "object",
                "properties": { "type": { "enum": names } },
                "required": ["type"],
                "allOf": conn_rules
            }),
        );
    }
    root
}
