//! A load-time check: a template that would put a binary value (a fetched
//! PDF, see [`crate::value::binary`]) into text is an error here, not a
//! garbled string at run time.
//!
//! What is known at load time: an action declares where its output holds a
//! binary value and when ([`crate::action::BinaryOutput`], e.g. `http.request`
//! with `response: binary` → `body`). A text template (not a single
//! `{{ expression }}`) that reads exactly such a path is refused. Anything
//! else (a binary found by content type at run time) is caught when the
//! template is rendered, with the same message.

use crate::action::Registry;
use crate::diagnostics::{Diagnostic, codes};
use crate::spec::StepSpec;
use crate::value::{StringKind, Templates, classify};
use crate::yaml::{Spanned, Tree};

/// Reports every text template that reads a step output known to be binary.
pub(super) fn check<'a>(
    steps: impl Iterator<Item = &'a Spanned<StepSpec>> + Clone,
    registry: &Registry,
    diags: &mut Vec<Diagnostic>,
) {
    let binary_paths: Vec<String> = steps.clone().flat_map(|s| binary_paths(&s.value, registry)).collect();
    if binary_paths.is_empty() {
        return;
    }
    let mut templates = Templates::new();
    for s in steps {
        let trees = [s.value.with.as_ref(), s.value.map.as_ref(), s.value.if_.as_ref()];
        for tree in trees.into_iter().flatten() {
            walk(tree, &binary_paths, &mut templates, diags);
        }
    }
}

/// `steps.<id>.output.<path>` for each binary output the step's literal `with:` turns on.
fn binary_paths(step: &StepSpec, registry: &Registry) -> Vec<String> {
    let Some(action) = step.action.as_ref().and_then(|a| registry.action(&a.value)) else { return Vec::new() };
    let Some(Tree::Map(with)) = step.with.as_ref().map(|w| &w.value) else { return Vec::new() };
    action
        .doc()
        .info
        .binary_outputs
        .iter()
        .filter(|b| with.iter().any(|(k, v)| k.value == b.param && matches!(&v.value, Tree::Str(s) if *s == b.value)))
        .map(|b| format!("steps.{}.output.{}", step.id.value, b.path))
        .collect()
}

fn walk(tree: &Spanned<Tree>, binary: &[String], templates: &mut Templates, diags: &mut Vec<Diagnostic>) {
    match &tree.value {
        Tree::Str(s) if classify(s) == StringKind::Template => {
            let Ok(t) = templates.add(s) else { return };
            if t.is_typed() {
                return;
            }
            if let Some((v, _)) = t.variables().iter().find(|(v, _)| binary.contains(v)) {
                diags.push(
                    Diagnostic::error(
                        codes::BINARY_IN_TEXT,
                        tree.span,
                        format!("`{v}` is a binary value (the step asks for `response: binary`); it cannot be put into text"),
                    )
                    .with_label("binary value in text")
                    .with_help(format!(
                        "pass it whole as the only thing in the value (`\"{{{{ {v} }}}}\"`), or read `{v}.sha256`, `.size`, `.content_type` or `.data` (base64)"
                    )),
                );
            }
        }
        Tree::Seq(items) => items.iter().for_each(|i| walk(i, binary, templates, diags)),
        Tree::Map(entries) => entries.iter().for_each(|(_, v)| walk(v, binary, templates, diags)),
        _ => {}
    }
}
