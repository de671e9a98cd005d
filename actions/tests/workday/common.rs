//! Calling actions through the registry, and the sandbox connections.

use std::sync::Arc;

use reqflow_engine::action::{ActionContext, ActionError, Connection, MemoryState, Registry, SharedState};
use reqflow_sandbox::Running;
use serde_json::{Value, json};

/// The built-in registry.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    reqflow_actions::register_builtins(&mut r);
    r
}

/// A context for `run`, step `step`, with `connection` and `state`.
pub fn cx(run: &str, step: &str, connection: &Value, state: &Arc<dyn SharedState>) -> ActionContext {
    ActionContext::new(run, "wf", step, 1)
        .with_connection(Connection { name: "wd".into(), kind: "workday".into(), settings: connection.clone() })
        .with_state(state.clone())
}

/// Fresh in-memory shared state.
pub fn memory_state() -> Arc<dyn SharedState> {
    Arc::new(MemoryState::default())
}

/// Calls action `kind` with `with`.
pub async fn call(cx: ActionContext, kind: &str, with: Value) -> Result<Value, ActionError> {
    let registry = registry();
    let action = registry.action(kind).unwrap_or_else(|| panic!("action {kind} is not registered")).clone();
    action.call(cx, with).await
}

/// A `workday` connection to the sandbox with its integration system user.
pub fn isu(sb: &Running, version: &str) -> Value {
    json!({"base_url": sb.base_url, "tenant": "acme", "version": version,
           "auth": {"isu": {"username": "ISU_Recruiting", "password": "sandbox-password"}}})
}

/// A `workday` connection to the sandbox with its OAuth client.
pub fn oauth(sb: &Running, version: &str) -> Value {
    json!({"base_url": sb.base_url, "tenant": "acme", "version": version,
           "auth": {"oauth": {"client_id": "sandbox-client", "client_secret": "sandbox-secret",
                              "refresh_token": "sandbox-refresh-token"}}})
}

/// `POST {sandbox}{path}` with a JSON body (the control API).
pub async fn post(sb: &Running, path: &str, body: Value) {
    let r = reqflow_actions::http::client()
        .post(format!("{}{path}", sb.base_url))
        .json(&body)
        .send()
        .await
        .expect("the sandbox answers");
    assert!(r.status().is_success(), "{path}: {}", r.status());
}
