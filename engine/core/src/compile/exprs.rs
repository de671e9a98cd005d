//! Compiling value trees into [`CompiledValue`]s, with syntax errors and
//! reference checks reported at the position of the offending text.

use crate::diagnostics::{Diagnostic, codes};
use crate::suggest::closest;
use crate::value::{CompiledValue, Expr, PathExpr, ROOTS, StringKind, Templates, classify, unescape_literal};
use crate::yaml::{Span, Spanned, Tree};

/// The roots that hold a deployment's settings, readable everywhere an
/// expression is: in connections and trigger auth they are all there is.
pub(crate) const SETTINGS_ROOTS: &[&str] = &["secrets", "vars"];

/// What an expression may read at a given place in the workflow.
pub(crate) struct Visibility<'a> {
    /// Root variables available here.
    pub roots: &'a [&'a str],
    /// Step ids of the workflow, with whether each is upstream of this place.
    pub steps: Option<StepsVisible<'a>>,
    /// Where we are, for messages ("step `note`", "the trigger").
    pub place: &'a str,
}

pub(crate) struct StepsVisible<'a> {
    /// Every step id of the workflow.
    pub all: &'a [String],
    /// `upstream[i]`: step i is upstream of this place.
    pub upstream: &'a [bool],
    /// The step being compiled, if any.
    pub current: Option<&'a str>,
}

pub(crate) struct ExprCompiler<'a> {
    pub text: &'a str,
    pub templates: &'a mut Templates,
    pub diags: &'a mut Vec<Diagnostic>,
}

impl ExprCompiler<'_> {
    /// Compile a whole value tree.
    pub fn value(&mut self, tree: &Spanned<Tree>, vis: &Visibility<'_>) -> CompiledValue {
        match &tree.value {
            Tree::Str(s) => match self.string(s, tree.span, vis) {
                Some(v) => v,
                None => CompiledValue::Literal(serde_json::Value::Null),
            },
            Tree::Seq(items) => {
                let items: Vec<CompiledValue> = items.iter().map(|i| self.value(i, vis)).collect();
                if items.iter().all(CompiledValue::is_literal) {
                    CompiledValue::Literal(items.into_iter().map(into_literal).collect())
                } else {
                    CompiledValue::Array(items)
                }
            }
            Tree::Map(entries) => {
                let entries: Vec<(String, CompiledValue)> =
                    entries.iter().map(|(k, v)| (k.value.clone(), self.value(v, vis))).collect();
                if entries.iter().all(|(_, v)| v.is_literal()) {
                    CompiledValue::Literal(serde_json::Value::Object(
                        entries.into_iter().map(|(k, v)| (k, into_literal(v))).collect(),
                    ))
                } else {
                    CompiledValue::Object(entries)
                }
            }
            other => CompiledValue::Literal(other.to_json()),
        }
    }

    /// Compile one string; `None` when it has an error (already reported).
    pub fn string(&mut self, s: &str, span: Span, vis: &Visibility<'_>) -> Option<CompiledValue> {
        let expr = match classify(s) {
            StringKind::Literal => return Some(CompiledValue::Literal(unescape_literal(s).into())),
            StringKind::Path => match PathExpr::parse(s) {
                Ok(p) => Expr::Path(p),
                Err(e) => {
                    let at = self.inner_span(span, s, e.offset, 1);
                    self.diags.push(
                        Diagnostic::error(codes::BAD_JSONPATH, at, format!("{e} in `{s}`"))
                            .with_label("here")
                            .with_help("JSONPath follows RFC 9535, e.g. `$.event.body.data.id`; write `$$` to start a literal with `$`"),
                    );
                    return None;
                }
            },
            StringKind::Template => match self.templates.add(s) {
                Ok(t) => Expr::Template(t),
                Err(e) => {
                    let at = self.inner_span(span, s, e.range.start, e.range.len().max(1));
                    self.diags.push(Diagnostic::error(codes::BAD_TEMPLATE, at, e.message).with_label("here"));
                    return None;
                }
            },
        };
        let ok = self.check_refs(&expr, s, span, vis);
        ok.then_some(CompiledValue::Expr(expr))
    }

    fn check_refs(&mut self, expr: &Expr, s: &str, span: Span, vis: &Visibility<'_>) -> bool {
        let mut ok = true;
        for r in expr.references() {
            let at = self.inner_span(span, s, r.offset, r.text.len().max(1));
            // `lookup(table, key)` is a function over `tables`: allowed where `tables` is.
            if r.root == "lookup" && vis.roots.contains(&"tables") {
                continue;
            }
            if r.root == "lookup" {
                ok = false;
                self.diags.push(
                    Diagnostic::error(
                        codes::UNKNOWN_VARIABLE,
                        at,
                        format!("`lookup` reads the workflow's `tables:`, which {} cannot read", vis.place),
                    )
                    .with_label("not available here")
                    .with_help(format!("{} can read {}", vis.place, list(vis.roots))),
                );
                continue;
            }
            if !vis.roots.contains(&r.root.as_str()) {
                ok = false;
                let d =
                    if ROOTS.contains(&r.root.as_str()) {
                        let why = match r.root.as_str() {
                            "item" | "index" => "is only defined in a step with `foreach:`".to_string(),
                            "steps" => format!("cannot be read in {}: no step has run yet", vis.place),
                            _ => format!("is not available in {}", vis.place),
                        };
                        Diagnostic::error(codes::UNKNOWN_VARIABLE, at, format!("`{}` {why}", r.root))
                            .with_help(format!("{} can read {}", vis.place, list(vis.roots)))
                    } else {
                        let mut d =
                            Diagnostic::error(codes::UNKNOWN_VARIABLE, at, format!("unknown variable `{}`", r.root));
                        d = match closest(&r.root, vis.roots.iter().copied()) {
                            Some(best) => d.with_help(format!("did you mean `{best}`?")),
                            None => d.with_help(format!("{} can read {}", vis.place, list(vis.roots))),
                        };
                        d
                    };
                self.diags.push(d.with_label("not defined here"));
                continue;
            }
            let (Some(step), Some(steps)) = (&r.step, &vis.steps) else { continue };
            match steps.all.iter().position(|s| s == step) {
                None => {
                    ok = false;
                    let mut d = Diagnostic::error(
                        codes::UNKNOWN_STEP,
                        at,
                        format!("`steps.{step}` refers to no step of this workflow"),
                    )
                    .with_label("unknown step");
                    if let Some(best) = closest(step, steps.all.iter().map(String::as_str)) {
                        d = d.with_help(format!("did you mean `steps.{best}`?"));
                    }
                    self.diags.push(d);
                }
                Some(i) if !steps.upstream[i] => {
                    ok = false;
                    let current = steps.current.unwrap_or("this step");
                    let msg = if Some(step.as_str()) == steps.current {
                        format!("step `{current}` reads its own output (`steps.{step}`)")
                    } else {
                        format!("step `{current}` reads `steps.{step}`, but `{step}` is not upstream of it")
                    };
                    self.diags.push(
                        Diagnostic::error(codes::NOT_UPSTREAM, at, msg)
                            .with_label("not upstream")
                            .with_help(format!("add `{step}` to the `needs:` of `{current}` so it runs first")),
                    );
                }
                Some(_) => {}
            }
        }
        ok
    }

    /// The file span of bytes `offset..offset+len` of string `s` whose node is
    /// at `span`: exact for plain and simply-quoted scalars, else the node.
    pub fn inner_span(&self, span: Span, s: &str, offset: usize, len: usize) -> Span {
        let text = self.text.get(span.start..).unwrap_or("");
        let content_start = if text.starts_with(s) {
            Some(span.start)
        } else if (text.starts_with('"') || text.starts_with('\'')) && text[1..].starts_with(s) {
            Some(span.start + 1)
        } else {
            None
        };
        match content_start {
            Some(c) if offset + len <= s.len() => Span::new(c + offset, c + offset + len),
            Some(c) => Span::new(c + offset.min(s.len()), c + s.len()),
            None => span,
        }
    }
}

fn into_literal(v: CompiledValue) -> serde_json::Value {
    match v {
        CompiledValue::Literal(v) => v,
        _ => serde_json::Value::Null,
    }
}

fn list(items: &[&str]) -> String {
    items.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}
