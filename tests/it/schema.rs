//! The checked-in JSON Schema is generated from the model: it must be current.

use crate::{reqflow, root};

#[test]
fn checked_in_schema_is_current() {
    let out = reqflow().args(["schema", "--check", "schemas/workflow.schema.json"]).output().expect("run");
    assert!(
        out.status.success(),
        "schemas/workflow.schema.json is stale: run `cargo run -- schema --write schemas/workflow.schema.json`\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn schema_constrains_with_by_action_and_accepts_expressions() {
    let text = std::fs::read_to_string(root().join("schemas/workflow.schema.json")).expect("schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("json");
    let step = &schema["$defs"]["StepSpec"];
    let rules = step["allOf"].as_array().expect("one rule per action");
    assert!(rules.iter().any(|r| r["if"]["properties"]["action"]["const"] == "http.request"));
    assert!(schema["$defs"]["Expression"].is_object());
}
