//! Model → [`CompiledWorkflow`]: a petgraph DAG of steps with every
//! expression pre-parsed, every reference resolved, every action's `with:`
//! checked against its schema. All problems of a file are collected, each
//! with its position; the executor only ever sees compiled workflows.

mod binary_text;
mod exprs;
mod graph;
pub mod params;
mod trigger;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;

pub use graph::StepGraph;
pub use trigger::{CompiledAuth, CompiledHmac, CompiledSubscribe, CompiledTrigger, SchedulePlan};

use crate::action::{DynAction, Registry};
use crate::diagnostics::{Diagnostic, SourceFile, codes};
use crate::spec::{Backoff, OnError, StepSpec, WorkflowSpec};
use crate::suggest::closest;
use crate::value::{CompiledValue, Templates};
use crate::yaml::{Span, Spanned, Tree};
use exprs::{ExprCompiler, SETTINGS_ROOTS, StepsVisible, Visibility};

/// A workflow ready to run: immutable, shareable.
#[derive(Debug)]
pub struct CompiledWorkflow {
    /// `id:`
    pub id: String,
    /// `version:`
    pub version: u32,
    /// `description:`
    pub description: Option<String>,
    /// SHA-256 of the file's bytes, hex.
    pub hash: String,
    /// The file it came from.
    pub source: Arc<SourceFile>,
    /// What starts a run.
    pub trigger: CompiledTrigger,
    /// Connections by name.
    pub connections: IndexMap<String, CompiledConnection>,
    /// The steps, in file order; `steps[i].needs` are indices into it.
    pub steps: Vec<CompiledStep>,
    /// The DAG over `steps`.
    pub graph: StepGraph,
    /// `steps` indices in dependency order.
    pub order: Vec<usize>,
    /// The `on_failure:` steps (their `needs` index into this list).
    pub on_failure: Vec<CompiledStep>,
    /// Every template of the workflow, compiled.
    pub templates: Arc<Templates>,
    /// The raw `tests:` block, if any (run by `reqflow test`).
    pub tests: Option<Spanned<Tree>>,
    /// `subject:`: the expressions naming who an event is about (see
    /// [`crate::runtime::subjects`]); empty without it.
    pub subjects: Vec<CompiledValue>,
    /// `retention:`: how long finished runs and their data are kept
    /// (overrides `serve --retain`); `None`: the global setting.
    pub retention: Option<Duration>,
    /// `tables:` as the steps read them (`tables` in their context): an
    /// object of objects.
    pub tables: Arc<serde_json::Value>,
}

impl CompiledWorkflow {
    /// A step by id.
    pub fn step(&self, id: &str) -> Option<&CompiledStep> {
        self.steps.iter().chain(&self.on_failure).find(|s| s.id == id)
    }
}

/// A connection: its type and its settings as a value to evaluate.
#[derive(Clone, Debug)]
pub struct CompiledConnection {
    /// The connection type.
    pub kind: String,
    /// Every setting but `type`.
    pub settings: CompiledValue,
}

/// A compiled step.
#[derive(Clone)]
pub struct CompiledStep {
    /// `id:`
    pub id: String,
    /// `name:`
    pub name: Option<String>,
    /// `map:` or `action:`.
    pub kind: StepKind,
    /// Indices of the steps it waits for (in its own list).
    pub needs: Vec<usize>,
    /// `if:`
    pub condition: Option<CompiledValue>,
    /// `foreach:`
    pub foreach: Option<CompiledValue>,
    /// `concurrency:` (1 when not set).
    pub concurrency: u32,
    /// `retry:`, with defaults applied.
    pub retry: RetryPolicy,
    /// `timeout:`
    pub timeout: Option<Duration>,
    /// `on_error:`
    pub on_error: OnError,
    /// Where the step is in the file.
    pub span: Span,
}

impl std::fmt::Debug for CompiledStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledStep").field("id", &self.id).field("needs", &self.needs).finish_non_exhaustive()
    }
}

/// What a step does.
#[derive(Clone)]
pub enum StepKind {
    /// A pure mapping.
    Map(CompiledValue),
    /// An action call.
    Action {
        /// The action's kind.
        kind: String,
        /// The action.
        action: Arc<dyn DynAction>,
        /// The connection's name.
        connection: Option<String>,
        /// `with:`
        with: CompiledValue,
    },
}

/// When and how often a step is retried.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all (1: no retry).
    pub attempts: u32,
    /// Exponential or fixed.
    pub backoff: Backoff,
    /// First delay.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Randomisation, 0..=1.
    pub jitter: f64,
}

impl RetryPolicy {
    /// The default for action steps: 3 attempts, exponential from 1s to 5m, 20% jitter.
    pub fn default_for_actions() -> Self {
        RetryPolicy {
            attempts: 3,
            backoff: Backoff::Exponential,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            jitter: 0.2,
        }
    }

    /// For `map:` steps: they are pure, so they never retry.
    pub fn none() -> Self {
        RetryPolicy { attempts: 1, ..Self::default_for_actions() }
    }

    /// The delay before attempt `next` (2 for the first retry), before jitter.
    pub fn delay_before(&self, next: u32) -> Duration {
        let retries = next.saturating_sub(2);
        let d = match self.backoff {
            Backoff::Fixed => self.initial,
            Backoff::Exponential => self.initial.saturating_mul(2u32.saturating_pow(retries.min(30))),
        };
        d.min(self.max)
    }
}

/// Compile a workflow model. Errors and warnings come back together; the
/// workflow only when there is no error.
pub fn compile(
    spec: &WorkflowSpec,
    source: Arc<SourceFile>,
    registry: &Registry,
    broken_steps: &[BrokenStep],
) -> (Option<CompiledWorkflow>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut templates = Templates::new();
    let text = source.text.clone();

    check_id(
        &spec.id,
        "workflow id",
        r"^[a-z0-9][a-z0-9_-]*$",
        |c, i| c.is_ascii_lowercase() || c.is_ascii_digit() || (i > 0 && (c == '_' || c == '-')),
        &mut diags,
    );

    // Connections.
    let mut connections = IndexMap::new();
    {
        let mut ec = ExprCompiler { text: &text, templates: &mut templates, diags: &mut diags };
        for (name, conn) in &spec.connections {
            let vis = Visibility { roots: SETTINGS_ROOTS, steps: None, place: "a connection" };
            match registry.connection_type(&conn.kind.value) {
                None => {
                    let mut d = Diagnostic::error(
                        codes::BAD_CONNECTION,
                        conn.kind.span,
                        format!("unknown connection type `{}`", conn.kind.value),
                    )
                    .with_label("unknown type");
                    let names: Vec<&str> = registry.connection_types().map(|c| c.name.as_str()).collect();
                    d = match closest(&conn.kind.value, names.iter().copied()) {
                        Some(b) => d.with_help(format!("did you mean `{b}`?")),
                        None => d.with_help(format!(
                            "known types: {}",
                            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                        )),
                    };
                    ec.diags.push(d);
                }
                Some(ct) => {
                    for m in params::check(&conn.settings, &ct.schema, &format!("connections.{name}")) {
                        ec.diags.push(Diagnostic::error(codes::BAD_PARAMS, m.span, m.message));
                    }
                }
            }
            let settings = ec.value(&conn.settings, &vis);
            connections.insert(name.clone(), CompiledConnection { kind: conn.kind.value.clone(), settings });
        }
    }

    // Trigger.
    let trigger = {
        let mut ec = ExprCompiler { text: &text, templates: &mut templates, diags: &mut diags };
        let cx = trigger::TriggerContext { connections: &spec.connections, registry };
        trigger::compile(&spec.trigger, &mut ec, &cx)
    };

    if let Some(r) = &spec.retention
        && r.value.0 < Duration::from_secs(1)
    {
        diags.push(Diagnostic::error(codes::BAD_TIME, r.span, "`retention:` must be at least 1s"));
    }
    let subjects = {
        let mut ec = ExprCompiler { text: &text, templates: &mut templates, diags: &mut diags };
        trigger::subjects(spec.subject.as_ref(), &mut ec)
    };

    // Steps: ids, needs, graph, then each step's content.
    let main_ids: Vec<Spanned<String>> = spec.steps.iter().map(|s| s.id.clone()).collect();
    let fail_ids: Vec<Spanned<String>> = spec.on_failure.iter().map(|s| s.id.clone()).collect();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for id in main_ids.iter().chain(&fail_ids).chain(broken_steps.iter().filter_map(|b| b.id.as_ref())) {
        check_id(
            id,
            "step id",
            r"^[a-z][a-z0-9_]*$",
            |c, i| c.is_ascii_lowercase() || (i > 0 && (c.is_ascii_digit() || c == '_')),
            &mut diags,
        );
        if let Some(first) = seen.get(id.value.as_str()) {
            let line = source.line_col(first.start).0;
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_STEP,
                    id.span,
                    format!("duplicate step id `{}` (first defined on line {line})", id.value),
                )
                .with_label("used again here")
                .with_help("step ids must be unique within a workflow, `on_failure:` included"),
            );
        } else {
            seen.insert(&id.value, id.span);
        }
    }
    let broken_ids: Vec<String> = broken_steps.iter().filter_map(|b| b.id.as_ref().map(|i| i.value.clone())).collect();

    let main = compile_steps(
        &spec.steps,
        &[],
        &broken_ids,
        registry,
        &spec.connections,
        &mut templates,
        &text,
        &mut diags,
        "steps",
    );
    let all_main: Vec<String> = main.0.iter().map(|s| s.id.clone()).chain(broken_ids.iter().cloned()).collect();
    let fail = compile_steps(
        &spec.on_failure,
        &all_main,
        &[],
        registry,
        &spec.connections,
        &mut templates,
        &text,
        &mut diags,
        "on_failure",
    );

    binary_text::check(spec.steps.iter().chain(&spec.on_failure), registry, &mut diags);

    if spec.steps.is_empty() && broken_steps.is_empty() {
        diags.push(
            Diagnostic::error(codes::SHAPE, spec.id.span, "the workflow has no steps")
                .with_help("add at least one step under `steps:`"),
        );
    }
    // A trigger with `subscribe:` gets its auth from the connection; when that
    // failed, the error about `subscribe:` says why (no second, misleading warning).
    let subscribes = matches!(&spec.trigger.value, crate::spec::TriggerSpec::Webhook(w) if w.subscribe.is_some());
    let has_trigger_auth = subscribes
        || match &trigger {
            Some(CompiledTrigger::Webhook { auth, .. }) | Some(CompiledTrigger::Soap { auth, .. }) => auth.is_some(),
            _ => true,
        };
    if !has_trigger_auth {
        diags.push(
            Diagnostic::warning(
                codes::OPEN_ENDPOINT,
                spec.trigger.span,
                "this endpoint accepts requests from anyone: it has no `auth:`",
            )
            .with_help("add `auth:` with `hmac:`, `bearer:` or `basic:` (secrets as `{{ secrets.NAME }}`)"),
        );
    }

    diags.sort_by_key(|d| (d.span.start, d.code));
    diags.dedup();
    if diags.iter().any(Diagnostic::is_error) {
        return (None, diags);
    }
    let (Some(trigger), (steps, graph, Some(order)), (on_failure, _, Some(_))) = (trigger, main, fail) else {
        return (None, diags);
    };
    let hash = crate::hash::sha256_hex(text.as_bytes());
    let wf = CompiledWorkflow {
        id: spec.id.value.clone(),
        version: spec.version,
        description: spec.description.clone(),
        hash,
        source,
        trigger,
        connections,
        steps,
        graph,
        order,
        on_failure,
        templates: Arc::new(templates),
        tests: spec.tests.clone(),
        subjects,
        retention: spec.retention.as_ref().map(|d| d.value.0),
        tables: Arc::new(serde_json::to_value(&spec.tables).unwrap_or_default()),
    };
    (Some(wf), diags)
}

/// A step that did not deserialize: its id and `needs` (when readable) keep
/// references to it from producing follow-on errors.
#[derive(Clone, Debug)]
pub struct BrokenStep {
    /// Its id, if it had a readable one.
    pub id: Option<Spanned<String>>,
}

fn check_id(
    id: &Spanned<String>,
    what: &str,
    pattern: &str,
    ok: impl Fn(char, usize) -> bool,
    diags: &mut Vec<Diagnostic>,
) {
    let valid = !id.value.is_empty() && id.value.chars().enumerate().all(|(i, c)| ok(c, i));
    if !valid {
        diags.push(
            Diagnostic::error(codes::BAD_ID, id.span, format!("{what} `{}` must match `{pattern}`", id.value))
                .with_label("invalid id"),
        );
    }
}

type StepsOut = (Vec<CompiledStep>, StepGraph, Option<Vec<usize>>);

#[allow(clippy::too_many_arguments)]
fn compile_steps(
    specs: &[Spanned<StepSpec>],
    outer: &[String],
    broken: &[String],
    registry: &Registry,
    connections: &IndexMap<String, Spanned<crate::spec::ConnectionSpec>>,
    templates: &mut Templates,
    text: &str,
    diags: &mut Vec<Diagnostic>,
    list: &str,
) -> StepsOut {
    let ids: Vec<String> = specs.iter().map(|s| s.id.value.clone()).collect();
    // needs
    let mut needs: Vec<Vec<usize>> = Vec::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        let mut deps = Vec::new();
        match &s.needs {
            None => {
                if i > 0 {
                    deps.push(i - 1);
                }
            }
            Some(list_) => {
                for n in &list_.value {
                    match ids.iter().position(|id| *id == n.value) {
                        Some(j) => {
                            if !deps.contains(&j) {
                                deps.push(j);
                            }
                        }
                        None if broken.contains(&n.value) => {}
                        None if outer.contains(&n.value) => {}
                        None => {
                            let mut d = Diagnostic::error(
                                codes::UNKNOWN_NEEDS,
                                n.span,
                                format!("step `{}` needs `{}`, which is not a step of `{list}`", s.id.value, n.value),
                            )
                            .with_label("unknown step");
                            if let Some(b) = closest(&n.value, ids.iter().map(String::as_str)) {
                                d = d.with_help(format!("did you mean `{b}`?"));
                            }
                            diags.push(d);
                        }
                    }
                }
            }
        }
        needs.push(deps);
    }
    let graph = StepGraph::new(&needs);
    for cycle in graph.cycles() {
        let first = cycle[0];
        let next = cycle.get(1).copied().unwrap_or(first);
        let span = specs[first]
            .needs
            .as_ref()
            .and_then(|n| n.value.iter().find(|x| x.value == ids[next]).map(|x| x.span))
            .unwrap_or(specs[first].id.span);
        let msg = if cycle.len() == 2 {
            format!("step `{}` needs itself", ids[first])
        } else {
            format!(
                "the steps wait for each other in a cycle: {}",
                cycle.iter().map(|&i| ids[i].as_str()).collect::<Vec<_>>().join(" -> ")
            )
        };
        diags.push(
            Diagnostic::error(codes::CYCLE, span, msg)
                .with_label("closes the cycle")
                .with_help("`a -> b` reads \"a needs b\"; remove one of these dependencies"),
        );
    }
    let order = graph.order();
    let upstream = graph.upstream();
    let all_ids: Vec<String> = ids.iter().chain(outer).chain(broken).cloned().collect();
    let mut steps = Vec::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        let mut up: Vec<bool> = upstream[i].clone();
        up.extend(std::iter::repeat_n(true, outer.len()));
        up.extend(std::iter::repeat_n(true, broken.len()));
        let place = format!("step `{}`", s.id.value);
        let roots: &[&str] = &["event", "steps", "secrets", "vars", "run", "tables"];
        let vis = Visibility {
            roots,
            steps: Some(StepsVisible { all: &all_ids, upstream: &up, current: Some(&s.id.value) }),
            place: &place,
        };
        let foreach_roots: &[&str] = &["event", "steps", "secrets", "vars", "run", "tables", "item", "index"];
        let body_vis = Visibility {
            roots: if s.foreach.is_some() { foreach_roots } else { roots },
            steps: Some(StepsVisible { all: &all_ids, upstream: &up, current: Some(&s.id.value) }),
            place: &place,
        };
        let mut ec = ExprCompiler { text, templates, diags };
        let step = compile_step(s, needs[i].clone(), registry, connections, &mut ec, &vis, &body_vis);
        if let Some(step) = step {
            steps.push(step);
        }
    }
    (steps, graph, order)
}

fn require_expr(tree: &Spanned<Tree>, key: &str, diags: &mut Vec<Diagnostic>) -> bool {
    if let Tree::Str(s) = &tree.value
        && crate::value::classify(s) == crate::value::StringKind::Literal
    {
        diags.push(
            Diagnostic::error(
                codes::SHAPE,
                tree.span,
                format!(
                    "`{key}:` is a plain string, {}",
                    if key == "foreach" {
                        "not a list or an expression"
                    } else {
                        "not an expression, so it would always be true"
                    }
                ),
            )
            .with_label("not an expression")
            .with_help(format!(
                "write an expression: `{key}: \"{{{{ {s} }}}}\"` or a JSONPath such as `$.event.body.id`"
            )),
        );
        return false;
    }
    true
}

fn compile_step(
    s: &Spanned<StepSpec>,
    needs: Vec<usize>,
    registry: &Registry,
    connections: &IndexMap<String, Spanned<crate::spec::ConnectionSpec>>,
    ec: &mut ExprCompiler<'_>,
    vis: &Visibility<'_>,
    body_vis: &Visibility<'_>,
) -> Option<CompiledStep> {
    let id = &s.id.value;
    let mut ok = true;
    let kind = match (&s.map, &s.action) {
        (Some(_), Some(a)) => {
            ec.diags.push(
                Diagnostic::error(codes::STEP_KIND, a.span, format!("step `{id}` has both `map:` and `action:`"))
                    .with_help("a step is either a mapping or an action call; split it into two steps"),
            );
            None
        }
        (None, None) => {
            ec.diags.push(
                Diagnostic::error(codes::STEP_KIND, s.id.span, format!("step `{id}` has neither `map:` nor `action:`"))
                    .with_help("add `map:` for a mapping or `action:` + `with:` for an action call"),
            );
            None
        }
        (Some(map), None) => {
            for (k, span) in
                [("with", s.with.as_ref().map(|w| w.span)), ("connection", s.connection.as_ref().map(|c| c.span))]
            {
                if let Some(span) = span {
                    ec.diags.push(Diagnostic::error(
                        codes::STEP_KIND,
                        span,
                        format!("`{k}:` belongs to action steps; step `{id}` is a `map:` step"),
                    ));
                }
            }
            Some(StepKind::Map(ec.value(map, body_vis)))
        }
        (None, Some(action_name)) => match registry.action(&action_name.value) {
            None => {
                let names: Vec<&str> = registry.actions().map(|a| a.doc().info.kind.as_str()).collect();
                let mut d = Diagnostic::error(
                    codes::UNKNOWN_ACTION,
                    action_name.span,
                    format!("unknown action `{}`", action_name.value),
                )
                .with_label("not registered");
                d = match closest(&action_name.value, names.iter().copied()) {
                    Some(b) => d.with_help(format!("did you mean `{b}`? (`reqflow actions` lists them all)")),
                    None => d.with_help("`reqflow actions` lists the registered actions"),
                };
                ec.diags.push(d);
                None
            }
            Some(action) => {
                let doc = action.doc();
                // connection
                match (&s.connection, &doc.info.connection) {
                    (Some(c), want) => match connections.get(&c.value) {
                        None => {
                            let mut d = Diagnostic::error(
                                codes::BAD_CONNECTION,
                                c.span,
                                format!(
                                    "step `{id}` uses connection `{}`, which is not defined under `connections:`",
                                    c.value
                                ),
                            );
                            if let Some(b) = closest(&c.value, connections.keys().map(String::as_str)) {
                                d = d.with_help(format!("did you mean `{b}`?"));
                            }
                            ec.diags.push(d);
                        }
                        Some(conn) => match want {
                            Some(w) if *w != conn.kind.value => ec.diags.push(
                                Diagnostic::error(
                                    codes::BAD_CONNECTION,
                                    c.span,
                                    format!(
                                        "`{}` needs a `{w}` connection; `{}` is of type `{}`",
                                        doc.info.kind, c.value, conn.kind.value
                                    ),
                                )
                                .with_label("wrong connection type"),
                            ),
                            None => ec.diags.push(Diagnostic::error(
                                codes::BAD_CONNECTION,
                                c.span,
                                format!("`{}` takes no connection", doc.info.kind),
                            )),
                            _ => {}
                        },
                    },
                    (None, Some(w)) if !doc.info.connection_optional => ec.diags.push(
                        Diagnostic::error(
                            codes::BAD_CONNECTION,
                            action_name.span,
                            format!("`{}` needs a connection of type `{w}`", doc.info.kind),
                        )
                        .with_help(format!("add `connection: <name>` naming a `type: {w}` entry of `connections:`")),
                    ),
                    _ => {}
                }
                let empty = Spanned::new(action_name.span, Tree::Map(Vec::new()));
                let with_tree = s.with.as_ref().unwrap_or(&empty);
                for m in params::check(with_tree, &doc.params, "with") {
                    ec.diags.push(
                        Diagnostic::error(codes::BAD_PARAMS, m.span, m.message)
                            .with_help(format!("`reqflow actions {}` shows its parameters", doc.info.kind)),
                    );
                }
                let with = ec.value(with_tree, body_vis);
                Some(StepKind::Action {
                    kind: doc.info.kind.clone(),
                    action: action.clone(),
                    connection: s.connection.as_ref().map(|c| c.value.clone()),
                    with,
                })
            }
        },
    };
    let condition = s.if_.as_ref().and_then(|c| {
        if !require_expr(c, "if", ec.diags) {
            ok = false;
            return None;
        }
        Some(ec.value(c, vis))
    });
    let foreach = s.foreach.as_ref().and_then(|f| {
        if !require_expr(f, "foreach", ec.diags) {
            ok = false;
            return None;
        }
        Some(ec.value(f, vis))
    });
    if s.concurrency.is_some()
        && s.foreach.is_none()
        && let Some(c) = &s.concurrency
    {
        ec.diags.push(Diagnostic::warning(codes::SHAPE, c.span, "`concurrency:` has no effect without `foreach:`"));
    }
    let is_map = matches!(kind, Some(StepKind::Map(_)));
    let mut retry = if is_map { RetryPolicy::none() } else { RetryPolicy::default_for_actions() };
    if let Some(r) = &s.retry {
        retry.attempts = r.attempts.max(1);
        retry.backoff = r.backoff;
        if let Some(i) = r.initial {
            retry.initial = i.0;
        }
        if let Some(m) = r.max {
            retry.max = m.0;
        }
        if let Some(j) = r.jitter {
            if !(0.0..=1.0).contains(&j) {
                ec.diags.push(Diagnostic::error(
                    codes::SHAPE,
                    r.span,
                    format!("`jitter` must be between 0 and 1, found {j}"),
                ));
            }
            retry.jitter = j.clamp(0.0, 1.0);
        }
        if retry.initial > retry.max {
            ec.diags.push(Diagnostic::error(codes::BAD_TIME, r.span, "retry `initial` is longer than `max`"));
        }
    }
    let kind = kind?;
    ok.then(|| CompiledStep {
        id: id.clone(),
        name: s.name.clone(),
        kind,
        needs,
        condition,
        foreach,
        concurrency: s.concurrency.as_ref().map(|c| c.value.max(1)).unwrap_or(1),
        retry,
        timeout: s.timeout.as_ref().map(|t| t.value.0),
        on_error: s.on_error.as_ref().map(|o| o.value).unwrap_or_default(),
        span: s.span,
    })
}
