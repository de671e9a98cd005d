//! The workflow format as typed Rust: what a workflow file says, before it is
//! compiled. Field by field this is `workflow-format.md`; the JSON Schema in
//! `schemas/workflow.schema.json` is generated from these types.
//!
//! Fields that hold values (`map:`, `with:`, `if:`, …) are kept as
//! [`Tree`]s with spans; the compiler turns them into expressions.

mod duration;
mod trigger;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

pub use duration::DurationSpec;
pub use trigger::{
    AuthSpec, BasicAuthSpec, HmacAlgorithm, HmacEncoding, HmacSpec, ScheduleSpec, SoapSpec, SubscribeSpec, TriggerSpec,
    WebhookSpec,
};

use crate::yaml::{Spanned, Tree};

/// One workflow: a trigger, then a graph of steps.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "reqflow workflow", description = "One reqflow workflow (format v1): a trigger, then steps.")]
pub struct WorkflowSpec {
    /// Unique in a deployment; lower case letters, digits, `-` and `_`.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9_-]*$"))]
    pub id: Spanned<String>,
    /// Recorded on every run together with a hash of the file.
    #[serde(default = "default_version")]
    #[schemars(range(min = 1))]
    pub version: u32,
    /// What the workflow is for.
    #[serde(default)]
    pub description: Option<String>,
    /// What starts a run: exactly one kind.
    pub trigger: Spanned<TriggerSpec>,
    /// Named endpoints and credentials that actions use.
    #[serde(default)]
    pub connections: IndexMap<String, Spanned<ConnectionSpec>>,
    /// The steps. Without `needs:`, a step follows the one before it.
    pub steps: Vec<Spanned<StepSpec>>,
    /// Lookup tables the steps read (`{{ lookup('agents', key) }}`, or
    /// `tables.agents.KEY`): per-key values, with `default` used for a key
    /// not listed. Part of the workflow's version.
    #[serde(default)]
    pub tables: IndexMap<String, IndexMap<String, serde_json::Value>>,
    /// Steps run once when a run ends `failed`, with `run.error` in the context.
    #[serde(default)]
    pub on_failure: Vec<Spanned<StepSpec>>,
    /// Who an event is about: a template expression over the event (e.g.
    /// `"{{ event.body.data.email }}"`), or a list of them. Evaluated when an
    /// event is accepted and indexed as keyed hashes, so that everything
    /// held about a person can be exported or erased (`reqflow export|erase
    /// --subject VALUE`).
    #[serde(default)]
    #[schemars(with = "Option<SubjectSpec>")]
    pub subject: Option<Spanned<Tree>>,
    /// How long this workflow's finished runs and their events, attempts and
    /// step results are kept (e.g. `30d`): older ones are deleted. Overrides
    /// `serve --retain` for this workflow. Dedupe keys are kept at least
    /// `dedupe_ttl`.
    #[serde(default)]
    pub retention: Option<Spanned<DurationSpec>>,
    /// Test cases run by `reqflow test` (free-form here; checked by the test runner).
    #[serde(default)]
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub tests: Option<Spanned<Tree>>,
}

fn default_version() -> u32 {
    1
}

/// The top-level keys of a workflow, in the order the loader reads them.
pub const WORKFLOW_KEYS: &[&str] = &[
    "id",
    "version",
    "description",
    "subject",
    "retention",
    "trigger",
    "connections",
    "tables",
    "steps",
    "on_failure",
    "tests",
];

/// `subject:`: one template expression or a list of them.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "the JSON Schema's shape of `subject:`")]
enum SubjectSpec {
    /// One expression.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// A connection: `type` names a connection type registered by the actions
/// crate (`http`, `workable`, `workday`, or an embedder's); the other keys
/// are that type's settings.
#[derive(Clone, Debug, JsonSchema)]
pub struct ConnectionSpec {
    /// The connection type.
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// Every key but `type`, checked against the type's schema by the compiler.
    #[schemars(skip)]
    pub settings: Spanned<Tree>,
}

impl<'de> Deserialize<'de> for ConnectionSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let tree = Spanned::<Tree>::deserialize(d)?;
        let Tree::Map(entries) = &tree.value else {
            return Err(serde::de::Error::custom(format!(
                "expected a connection mapping with a `type` key, found {}",
                tree.value.type_name()
            )));
        };
        let kind = entries.iter().find(|(k, _)| k.value == "type").ok_or_else(|| {
            serde::de::Error::custom("missing required key `type` (the connection type, e.g. `http`)")
        })?;
        let Tree::Str(name) = &kind.1.value else {
            return Err(serde::de::Error::custom("`type` must be a string naming a connection type"));
        };
        let kind = Spanned::new(kind.1.span, name.clone());
        let rest = entries.iter().filter(|(k, _)| k.value != "type").cloned().collect();
        Ok(ConnectionSpec { kind, settings: Spanned::new(tree.span, Tree::Map(rest)) })
    }
}

/// One step: `map:` (a pure mapping) or `action:` with `with:`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Unique in the workflow; lower case letters, digits and `_`, starting with a letter.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]*$"))]
    pub id: Spanned<String>,
    /// What the step is for (shown in run history).
    #[serde(default)]
    pub name: Option<String>,
    /// A pure mapping: the step's output is this value, evaluated.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub map: Option<Spanned<Tree>>,
    /// The action to run (`http.request`, `workable.candidates.comment`, …).
    #[serde(default)]
    pub action: Option<Spanned<String>>,
    /// The connection (from `connections:`) the action uses.
    #[serde(default)]
    pub connection: Option<Spanned<String>>,
    /// The action's parameters; values may be JSONPath queries or templates.
    #[serde(default, rename = "with")]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub with: Option<Spanned<Tree>>,
    /// The steps this one waits for. Without it, the step before; `[]` makes it a root.
    #[serde(default)]
    pub needs: Option<Spanned<Vec<Spanned<String>>>>,
    /// Run the step only when this is true; otherwise it is `skipped`.
    #[serde(default, rename = "if")]
    #[schemars(with = "Option<ExprOrBool>")]
    pub if_: Option<Spanned<Tree>>,
    /// Run the step once per element of this list (`item`, `index` in the context).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub foreach: Option<Spanned<Tree>>,
    /// How many `foreach` elements run at once (default 1).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub concurrency: Option<Spanned<u32>>,
    /// Retries on retryable errors.
    #[serde(default)]
    pub retry: Option<Spanned<RetrySpec>>,
    /// Bounds one attempt, e.g. `30s`.
    #[serde(default)]
    pub timeout: Option<Spanned<DurationSpec>>,
    /// `fail` (default) fails the run; `continue` records the error and lets dependents run.
    #[serde(default)]
    pub on_error: Option<Spanned<OnError>>,
}

/// A template or JSONPath string, or a literal boolean (for `if:`).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ExprOrBool {
    Bool(bool),
    Expr(String),
}

/// What a failed step does to its run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Fail the run and skip what depends on the step.
    #[default]
    Fail,
    /// Record the error in `steps.<id>.error` and let dependents run.
    Continue,
}

/// How a step retries retryable errors (network, timeouts, 408, 429, 5xx, SOAP server faults).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all, the first included (default 3).
    #[serde(default = "default_attempts")]
    #[schemars(range(min = 1, max = 100))]
    pub attempts: u32,
    /// `exponential` (default) or `fixed`.
    #[serde(default)]
    pub backoff: Backoff,
    /// Delay before the second attempt (default `1s`).
    #[serde(default)]
    pub initial: Option<DurationSpec>,
    /// Longest delay between attempts (default `5m`).
    #[serde(default)]
    pub max: Option<DurationSpec>,
    /// Randomise each delay by up to this fraction (0 to 1; default 0.2).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub jitter: Option<f64>,
}

fn default_attempts() -> u32 {
    3
}

/// The shape of the delays between attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// `initial`, then doubling, up to `max`.
    #[default]
    Exponential,
    /// `initial` every time.
    Fixed,
}

/// The trigger kinds, for messages.
pub fn trigger_kinds() -> &'static [&'static str] {
    trigger::TRIGGER_KINDS
}
