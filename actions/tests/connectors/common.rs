//! Calling actions the way the engine does: through the registry, with JSON `with:`.

use std::sync::Arc;

use reqflow_engine::action::{ActionContext, ActionError, Connection, MemoryState, Registry, SharedState};
use serde_json::Value;

/// The built-in registry.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    reqflow_actions::register_builtins(&mut r);
    r
}

/// A context for run `run-1`, step `step`, attempt 1.
pub fn cx(connection: Option<(&str, Value)>) -> ActionContext {
    let mut cx = ActionContext::new("run-1", "wf", "step", 1);
    if let Some((kind, settings)) = connection {
        cx = cx.with_connection(Connection { name: format!("my_{kind}"), kind: kind.into(), settings });
    }
    cx
}

/// A context sharing `state` (as several steps or processes would).
#[allow(dead_code)]
pub fn cx_with_state(connection: (&str, Value), state: Arc<dyn SharedState>, step: &str) -> ActionContext {
    let (kind, settings) = connection;
    ActionContext::new("run-1", "wf", step, 1)
        .with_connection(Connection { name: format!("my_{kind}"), kind: kind.into(), settings })
        .with_state(state)
}

/// Fresh in-memory shared state.
#[allow(dead_code)]
pub fn memory_state() -> Arc<dyn SharedState> {
    Arc::new(MemoryState::default())
}

/// Calls action `kind` with `with`.
pub async fn call(cx: ActionContext, kind: &str, with: Value) -> Result<Value, ActionError> {
    let registry = registry();
    let action = registry.action(kind).unwrap_or_else(|| panic!("action {kind} is not registered")).clone();
    action.call(cx, with).await
}

/// Serves `router` on 127.0.0.1:0; returns `http://127.0.0.1:PORT`.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}
