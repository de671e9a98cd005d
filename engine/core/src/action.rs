//! Actions: what a step does. The engine knows no action by name; built-in
//! ones (in `reqflow-actions`) and an embedder's own are registered into a
//! [`Registry`] through the same calls.
//!
//! An action author implements [`Action`] with a typed `Params` (serde +
//! schemars); the registry erases it into a [`DynAction`]. The parameter
//! schema serves three purposes: `validate` checks `with:` against it, the
//! JSON Schema in `schemas/` is generated from it, and `reqflow actions`
//! prints it.
//!
//! ```
//! use reqflow_engine::action::{Action, ActionContext, ActionError, ActionInfo, Registry};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//! use serde_json::{json, Value};
//!
//! /// Says hello.
//! struct Greet;
//!
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct GreetParams {
//!     /// Who to greet.
//!     name: String,
//! }
//!
//! impl Action for Greet {
//!     type Params = GreetParams;
//!     fn info(&self) -> ActionInfo {
//!         ActionInfo::new("demo.greet", "Greets someone").example(json!({ "name": "Ada" }))
//!     }
//!     async fn run(&self, _cx: ActionContext, p: GreetParams) -> Result<Value, ActionError> {
//!         Ok(json!({ "greeting": format!("Hello, {}!", p.name) }))
//!     }
//! }
//!
//! let mut registry = Registry::new();
//! registry.register(Greet);
//! assert!(registry.action("demo.greet").is_some());
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::connection::ConnectionHooks;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an action says about itself.
#[derive(Clone, Debug, Serialize)]
pub struct ActionInfo {
    /// The name used in `action:`, e.g. `workable.candidates.comment`.
    pub kind: String,
    /// One line.
    pub summary: String,
    /// Longer documentation (Markdown).
    pub docs: String,
    /// The connection type the action needs (`workable`, `http`, …), if any.
    pub connection: Option<String>,
    /// Whether the connection is optional (e.g. `http.request` with a full `url`).
    pub connection_optional: bool,
    /// An example `with:`.
    pub example: Value,
    /// Where the output holds a binary value, and when (see [`BinaryOutput`]):
    /// lets the loader refuse a template that would put one into text.
    #[serde(skip)]
    pub binary_outputs: Vec<BinaryOutput>,
}

/// "When `with.<param>` is `<value>`, `output.<path>` is a binary value."
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryOutput {
    /// The parameter (top level of `with:`).
    pub param: String,
    /// Its literal value.
    pub value: String,
    /// The dotted path in the output, e.g. `body`.
    pub path: String,
}

impl ActionInfo {
    /// Info with a kind and a one-line summary.
    pub fn new(kind: impl Into<String>, summary: impl Into<String>) -> Self {
        ActionInfo {
            kind: kind.into(),
            summary: summary.into(),
            docs: String::new(),
            connection: None,
            connection_optional: false,
            example: Value::Object(Default::default()),
            binary_outputs: Vec::new(),
        }
    }

    /// Declares that `output.<path>` is a binary value when `with.<param>` is `value`.
    pub fn binary_output_when(mut self, param: &str, value: &str, path: &str) -> Self {
        self.binary_outputs.push(BinaryOutput { param: param.into(), value: value.into(), path: path.into() });
        self
    }

    /// Adds documentation.
    pub fn docs(mut self, docs: impl Into<String>) -> Self {
        self.docs = docs.into();
        self
    }

    /// Requires a connection of this type.
    pub fn connection(mut self, kind: impl Into<String>) -> Self {
        self.connection = Some(kind.into());
        self
    }

    /// Accepts, but does not require, a connection of this type.
    pub fn optional_connection(mut self, kind: impl Into<String>) -> Self {
        self.connection = Some(kind.into());
        self.connection_optional = true;
        self
    }

    /// An example `with:`.
    pub fn example(mut self, example: Value) -> Self {
        self.example = example;
        self
    }
}

/// An action's full description: its info and its parameter schema.
#[derive(Clone, Debug, Serialize)]
pub struct ActionDoc {
    /// Name, docs, connection, example.
    #[serde(flatten)]
    pub info: ActionInfo,
    /// JSON Schema (2020-12) of `with:`, subschemas inlined.
    pub params: Value,
}

/// Whether an error is worth retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Network errors, timeouts, 408, 429, 5xx, SOAP server faults.
    Retryable,
    /// Everything else: retrying would fail the same way.
    Permanent,
}

/// Why an action failed, and whether to retry.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ActionError {
    /// Retry or not.
    pub class: ErrorClass,
    /// What went wrong, for people. Never contains a secret value.
    pub message: String,
    /// A machine-readable code (`http.status`, `workday.validation_error`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// How long the far end asked us to wait (`Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_millis")]
    pub retry_after: Option<Duration>,
    /// Structured detail (status, response body, fault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

mod opt_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(d.as_millis() as u64),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

impl ActionError {
    /// A retryable error.
    pub fn retryable(message: impl Into<String>) -> Self {
        ActionError {
            class: ErrorClass::Retryable,
            message: message.into(),
            code: None,
            retry_after: None,
            details: None,
        }
    }

    /// A permanent error.
    pub fn permanent(message: impl Into<String>) -> Self {
        ActionError {
            class: ErrorClass::Permanent,
            message: message.into(),
            code: None,
            retry_after: None,
            details: None,
        }
    }

    /// Sets the code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets how long to wait before retrying.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Attaches structured detail.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Whether retrying may help.
    pub fn is_retryable(&self) -> bool {
        self.class == ErrorClass::Retryable
    }
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ActionError {}

/// A connection as an action receives it: settings evaluated, secrets resolved.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The name in `connections:`.
    pub name: String,
    /// The connection type.
    pub kind: String,
    /// Its settings (every key but `type`), evaluated.
    pub settings: Value,
}

impl Connection {
    /// The settings as a typed struct.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ActionError> {
        serde_json::from_value(self.settings.clone()).map_err(|e| {
            ActionError::permanent(format!("connection `{}` ({}): {e}", self.name, self.kind))
                .with_code("connection.invalid")
        })
    }
}

/// Durable key-value state shared by every process of a deployment (OAuth
/// tokens, rate-limit windows). The engine's store implements it; without a
/// store, [`MemoryState`] keeps it for the life of the process.
pub trait SharedState: Send + Sync + fmt::Debug {
    /// The value at `key`.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Value>, ActionError>>;
    /// Stores `value` at `key`.
    fn put<'a>(&'a self, key: &'a str, value: Value) -> BoxFuture<'a, Result<(), ActionError>>;
}

/// Starts runs of other workflows from a step (`workflow.start`): the
/// engine implements it with the target's accept path, so the target's
/// `when:` and `dedupe:` apply exactly as to its own trigger's events.
pub trait RunStarter: Send + Sync + fmt::Debug {
    /// Submit `event` (the `event` the new run sees) to the workflow
    /// `workflow`. `fallback_dedupe` is used when the target's trigger has no
    /// `dedupe:` of its own, so a resumed or retried step never starts a run
    /// twice. Returns what happened, as `{status, run_id?}`; durable on `Ok`.
    fn start_run<'a>(
        &'a self,
        workflow: &'a str,
        event: Value,
        fallback_dedupe: String,
    ) -> BoxFuture<'a, Result<Value, ActionError>>;
}

/// [`SharedState`] in process memory.
#[derive(Debug, Default)]
pub struct MemoryState {
    map: Mutex<BTreeMap<String, Value>>,
}

impl SharedState for MemoryState {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Value>, ActionError>> {
        let v = self.map.lock().map(|m| m.get(key).cloned()).unwrap_or(None);
        Box::pin(async move { Ok(v) })
    }

    fn put<'a>(&'a self, key: &'a str, value: Value) -> BoxFuture<'a, Result<(), ActionError>> {
        if let Ok(mut m) = self.map.lock() {
            m.insert(key.to_owned(), value);
        }
        Box::pin(async { Ok(()) })
    }
}

/// Everything an action may know about the call it is serving.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ActionContext {
    /// The run's id.
    pub run_id: String,
    /// The workflow's id.
    pub workflow: String,
    /// The step's id.
    pub step: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The step's connection, if it names one.
    pub connection: Option<Arc<Connection>>,
    /// The step's `timeout:`, if set (the engine also enforces it).
    pub timeout: Option<Duration>,
    /// Durable state shared across processes.
    pub state: Arc<dyn SharedState>,
    /// Starts runs of other workflows (set by the engine; `None` outside it).
    pub runs: Option<Arc<dyn RunStarter>>,
}

impl ActionContext {
    /// A context for one attempt of one step.
    pub fn new(run_id: impl Into<String>, workflow: impl Into<String>, step: impl Into<String>, attempt: u32) -> Self {
        ActionContext {
            run_id: run_id.into(),
            workflow: workflow.into(),
            step: step.into(),
            attempt,
            connection: None,
            timeout: None,
            state: Arc::new(MemoryState::default()),
            runs: None,
        }
    }

    /// With a connection.
    pub fn with_connection(mut self, connection: Connection) -> Self {
        self.connection = Some(Arc::new(connection));
        self
    }

    /// With a timeout.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// With shared state.
    pub fn with_state(mut self, state: Arc<dyn SharedState>) -> Self {
        self.state = state;
        self
    }

    /// With a way to start runs of other workflows.
    pub fn with_runs(mut self, runs: Arc<dyn RunStarter>) -> Self {
        self.runs = Some(runs);
        self
    }

    /// `{run_id}:{step_id}`: stable across attempts and crashes, so a far end
    /// that honours idempotency keys acts once.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.run_id, self.step)
    }

    /// The connection, or a permanent error saying the step needs one.
    pub fn require_connection(&self) -> Result<&Connection, ActionError> {
        self.connection
            .as_deref()
            .ok_or_else(|| ActionError::permanent(format!("step `{}` needs a `connection:`", self.step)))
    }
}

/// An action with typed parameters. See the [module docs](self) for an example.
pub trait Action: Send + Sync + 'static {
    /// `with:`, deserialized.
    type Params: DeserializeOwned + JsonSchema + Send + 'static;
    /// Name, docs, connection type and example.
    fn info(&self) -> ActionInfo;
    /// Do the work.
    fn run(&self, cx: ActionContext, params: Self::Params) -> impl Future<Output = Result<Value, ActionError>> + Send;
}

/// An action with its parameter type erased: what the registry stores.
pub trait DynAction: Send + Sync {
    /// Info and parameter schema.
    fn doc(&self) -> &ActionDoc;
    /// Run with `with:` as JSON; invalid parameters are a permanent error.
    fn call(&self, cx: ActionContext, params: Value) -> BoxFuture<'_, Result<Value, ActionError>>;
}

struct Erased<A: Action> {
    action: A,
    doc: ActionDoc,
}

impl<A: Action> DynAction for Erased<A> {
    fn doc(&self) -> &ActionDoc {
        &self.doc
    }

    fn call(&self, cx: ActionContext, params: Value) -> BoxFuture<'_, Result<Value, ActionError>> {
        Box::pin(async move {
            let params: A::Params = serde_json::from_value(params).map_err(|e| {
                ActionError::permanent(format!("invalid `with:` for {}: {e}", self.doc.info.kind))
                    .with_code("params.invalid")
            })?;
            self.action.run(cx, params).await
        })
    }
}

/// A connection type: its name, the schema of its settings, and what it can
/// do besides serving actions ([`ConnectionHooks`]: checks, OAuth connect).
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionType {
    /// The name used in `type:`.
    pub name: String,
    /// One line.
    pub summary: String,
    /// JSON Schema of the settings (every key but `type`).
    pub schema: Value,
    /// Checks and connect flows, if the type has them.
    #[serde(skip)]
    pub hooks: Option<Arc<dyn ConnectionHooks>>,
}

impl ConnectionType {
    /// A connection type whose settings deserialize into `T`.
    pub fn of<T: JsonSchema>(name: impl Into<String>, summary: impl Into<String>) -> Self {
        ConnectionType { name: name.into(), summary: summary.into(), schema: schema_of::<T>(), hooks: None }
    }

    /// With checks and connect flows.
    pub fn with_hooks(mut self, hooks: Arc<dyn ConnectionHooks>) -> Self {
        self.hooks = Some(hooks);
        self
    }
}

/// The JSON Schema of `T`, 2020-12, with subschemas inlined.
pub fn schema_of<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
        })
        .into_generator();
    let mut v = generator.into_root_schema_for::<T>().to_value();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("$schema");
    }
    v
}

/// The actions and connection types a deployment knows.
#[derive(Clone, Default)]
pub struct Registry {
    actions: BTreeMap<String, Arc<dyn DynAction>>,
    connections: BTreeMap<String, ConnectionType>,
    /// Subscription providers by connection type (`subscribe:` on webhook triggers).
    providers: BTreeMap<String, Arc<dyn crate::subscription::SubscriptionProvider>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("actions", &self.actions.keys().collect::<Vec<_>>())
            .field("connections", &self.connections.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a typed action; a later registration of the same kind replaces it.
    pub fn register<A: Action>(&mut self, action: A) -> &mut Self {
        let info = action.info();
        let doc = ActionDoc { params: schema_of::<A::Params>(), info };
        self.actions.insert(doc.info.kind.clone(), Arc::new(Erased { action, doc }));
        self
    }

    /// Registers an already-erased action.
    pub fn register_dyn(&mut self, action: Arc<dyn DynAction>) -> &mut Self {
        self.actions.insert(action.doc().info.kind.clone(), action);
        self
    }

    /// Registers a connection type.
    pub fn register_connection_type(&mut self, kind: ConnectionType) -> &mut Self {
        self.connections.insert(kind.name.clone(), kind);
        self
    }

    /// An action by kind.
    pub fn action(&self, kind: &str) -> Option<&Arc<dyn DynAction>> {
        self.actions.get(kind)
    }

    /// Every action, by kind.
    pub fn actions(&self) -> impl Iterator<Item = &Arc<dyn DynAction>> {
        self.actions.values()
    }

    /// A connection type by name.
    pub fn connection_type(&self, name: &str) -> Option<&ConnectionType> {
        self.connections.get(name)
    }

    /// Every connection type, by name.
    pub fn connection_types(&self) -> impl Iterator<Item = &ConnectionType> {
        self.connections.values()
    }

    /// Registers the subscription provider of a connection type (what makes
    /// `subscribe:` on a webhook trigger possible for it).
    pub fn register_subscription_provider(
        &mut self,
        provider: Arc<dyn crate::subscription::SubscriptionProvider>,
    ) -> &mut Self {
        self.providers.insert(provider.connection_type().to_owned(), provider);
        self
    }

    /// The subscription provider of a connection type, if it has one.
    pub fn subscription_provider(
        &self,
        connection_type: &str,
    ) -> Option<&Arc<dyn crate::subscription::SubscriptionProvider>> {
        self.providers.get(connection_type)
    }

    /// The connection types that have a subscription provider.
    pub fn subscription_types(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }
}
