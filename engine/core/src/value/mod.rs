//! Values in a workflow: literals, JSONPath queries and minijinja templates.
//!
//! Every string in `map:`, `with:`, `if:`, `when:`, `dedupe:` and connection
//! settings is classified once, when the workflow is compiled:
//! - a **JSONPath** (RFC 9535) when the whole string is `$` or starts with `$.` or `$[`;
//! - a **template** when it contains `{{` or `{%`; a string that is exactly one
//!   `{{ expression }}` yields the expression's typed value;
//! - a **literal** otherwise; `$$` at the start escapes a literal that begins with `$`.
//!
//! [`CompiledValue`] is the compiled form of a whole value tree; [`Scope`] is
//! the context (`event`, `steps`, `secrets`, `vars`, `run`, …) it is evaluated against.

pub mod binary;
mod jsonpath;
mod lazy;
mod refs;
mod template;

use std::sync::Arc;

use serde_json::Value;

pub use jsonpath::PathExpr;
pub use refs::{ROOTS, Reference};
pub use template::{TemplateError, TemplateExpr, Templates};

/// What a string in a workflow is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringKind {
    /// A plain string (after `$$` unescaping).
    Literal,
    /// A JSONPath query.
    Path,
    /// A minijinja template.
    Template,
}

/// Classify a string as `workflow-format.md` says.
pub fn classify(s: &str) -> StringKind {
    if s.starts_with("$$") {
        StringKind::Literal
    } else if s == "$" || s.starts_with("$.") || s.starts_with("$[") {
        StringKind::Path
    } else if s.contains("{{") || s.contains("{%") {
        StringKind::Template
    } else {
        StringKind::Literal
    }
}

/// The literal text of a string classified as [`StringKind::Literal`].
pub fn unescape_literal(s: &str) -> &str {
    s.strip_prefix('$').filter(|rest| rest.starts_with('$')).unwrap_or(s)
}

/// One compiled expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// A JSONPath query.
    Path(PathExpr),
    /// A template.
    Template(TemplateExpr),
}

/// A value tree, compiled: literals folded, expressions pre-parsed.
#[derive(Clone, Debug)]
pub enum CompiledValue {
    /// A constant (no expression below it).
    Literal(Value),
    /// An expression.
    Expr(Expr),
    /// A list with at least one expression in it.
    Array(Vec<CompiledValue>),
    /// A mapping with at least one expression in it.
    Object(Vec<(String, CompiledValue)>),
}

/// Why a value could not be evaluated.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// A template failed at run time (undefined value, type error, out of fuel, …).
    #[error("{0}")]
    Template(String),
}

/// The context an expression sees: `{ event, steps, secrets, vars, run }` and, in a
/// `foreach`, `item` and `index`.
#[derive(Clone, Debug)]
pub struct Scope {
    json: Arc<Value>,
    jinja: minijinja::Value,
}

impl Scope {
    /// A scope over a JSON object whose keys are the root variables.
    pub fn new(root: Value) -> Self {
        Scope::shared(Arc::new(root))
    }

    /// A scope over a shared JSON object (not copied).
    pub fn shared(root: Arc<Value>) -> Self {
        let jinja = lazy::view(root.clone());
        Scope { json: root, jinja }
    }

    /// The scope as JSON (what JSONPath queries see).
    pub fn json(&self) -> &Value {
        &self.json
    }

    pub(crate) fn jinja(&self) -> &minijinja::Value {
        &self.jinja
    }

    /// The root object back (copied only if something still shares it).
    pub fn into_root(self) -> Value {
        let Scope { json, jinja } = self;
        drop(jinja);
        Arc::try_unwrap(json).unwrap_or_else(|shared| (*shared).clone())
    }

    /// A scope with more root variables (e.g. `item` and `index`).
    pub fn with(&self, extra: impl IntoIterator<Item = (String, Value)>) -> Scope {
        let mut root = (*self.json).clone();
        if let Some(obj) = root.as_object_mut() {
            for (k, v) in extra {
                obj.insert(k, v);
            }
        }
        Scope::new(root)
    }
}

impl CompiledValue {
    /// Whether the value holds no expression.
    pub fn is_literal(&self) -> bool {
        matches!(self, CompiledValue::Literal(_))
    }

    /// Evaluate against a scope.
    pub fn eval(&self, templates: &Templates, scope: &Scope) -> Result<Value, EvalError> {
        match self {
            CompiledValue::Literal(v) => Ok(v.clone()),
            CompiledValue::Expr(Expr::Path(p)) => Ok(p.eval(scope.json())),
            CompiledValue::Expr(Expr::Template(t)) => templates.eval(t, scope),
            CompiledValue::Array(items) => items.iter().map(|i| i.eval(templates, scope)).collect(),
            CompiledValue::Object(entries) => {
                let mut map = serde_json::Map::with_capacity(entries.len());
                for (k, v) in entries {
                    map.insert(k.clone(), v.eval(templates, scope)?);
                }
                Ok(Value::Object(map))
            }
        }
    }

    /// Every expression in the tree.
    pub fn exprs(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Expr>) {
        match self {
            CompiledValue::Literal(_) => {}
            CompiledValue::Expr(e) => out.push(e),
            CompiledValue::Array(items) => items.iter().for_each(|i| i.collect(out)),
            CompiledValue::Object(entries) => entries.iter().for_each(|(_, v)| v.collect(out)),
        }
    }
}

/// Evaluate one value string against a JSON context: what `reqflow eval` does.
///
/// The context's top-level keys are the root variables (`event`, `steps`, …).
pub fn eval_str(source: &str, context: Value) -> Result<Value, StandaloneError> {
    let mut templates = Templates::new();
    let compiled = match classify(source) {
        StringKind::Literal => CompiledValue::Literal(Value::String(unescape_literal(source).to_owned())),
        StringKind::Path => CompiledValue::Expr(Expr::Path(PathExpr::parse(source).map_err(StandaloneError::Path)?)),
        StringKind::Template => {
            CompiledValue::Expr(Expr::Template(templates.add(source).map_err(StandaloneError::Template)?))
        }
    };
    let templates = Arc::new(templates);
    compiled.eval(&templates, &Scope::new(context)).map_err(StandaloneError::Eval)
}

/// Why [`eval_str`] failed: a parse error (with its offset) or an evaluation error.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StandaloneError {
    /// The JSONPath does not parse.
    #[error("{0}")]
    Path(jsonpath::PathError),
    /// The template does not parse.
    #[error("{0}")]
    Template(TemplateError),
    /// Evaluation failed.
    #[error("{0}")]
    Eval(EvalError),
}

impl StandaloneError {
    /// Byte offset and length in the source of the problem, when known.
    pub fn range(&self) -> Option<std::ops::Range<usize>> {
        match self {
            StandaloneError::Path(e) => Some(e.offset..e.offset + 1),
            StandaloneError::Template(e) => Some(e.range.clone()),
            StandaloneError::Eval(_) => None,
        }
    }
}

#[cfg(test)]
mod tests;
