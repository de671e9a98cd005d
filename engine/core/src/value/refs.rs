//! What an expression reads: root variables and the steps it refers to.

use super::{Expr, PathExpr};

/// The root variables of the context.
pub const ROOTS: &[&str] = &["event", "steps", "secrets", "vars", "run", "item", "index"];

/// Names minijinja itself provides (functions and tests used as variables).
const BUILTINS: &[&str] =
    &["range", "dict", "namespace", "debug", "loop", "true", "false", "none", "True", "False", "None"];

/// One variable an expression reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// The root: `event`, `steps`, …
    pub root: String,
    /// For `steps.X…`, the step id X.
    pub step: Option<String>,
    /// Byte offset in the expression source where it appears.
    pub offset: usize,
    /// The reference as written (dotted).
    pub text: String,
}

impl Expr {
    /// The variables the expression reads (minijinja builtins excluded).
    pub fn references(&self) -> Vec<Reference> {
        match self {
            Expr::Path(p) => path_refs(p).into_iter().collect(),
            Expr::Template(t) => t
                .variables()
                .iter()
                .filter_map(|(v, offset)| {
                    let mut parts = v.split('.');
                    let root = parts.next()?.to_owned();
                    if BUILTINS.contains(&root.as_str()) {
                        return None;
                    }
                    let step = if root == "steps" { parts.next().map(str::to_owned) } else { None };
                    Some(Reference { root, step, offset: *offset, text: v.clone() })
                })
                .collect(),
        }
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        match self {
            Expr::Path(p) => p.source(),
            Expr::Template(t) => t.source(),
        }
    }
}

/// The leading name segments of a query: `$.steps.x`, `$['steps']['x']`.
fn path_refs(p: &PathExpr) -> Option<Reference> {
    let src = p.source();
    let mut names = Vec::new();
    // Where the first name starts in the source, for positioned messages.
    let mut first_at = 0;
    let mut rest = src.strip_prefix('$')?;
    while names.len() < 2 {
        if let Some(r) = rest.strip_prefix('.') {
            if r.starts_with('.') {
                break;
            }
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if names.is_empty() {
                first_at = src.len() - r.len();
            }
            names.push(r[..end].to_owned());
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['").or_else(|| rest.strip_prefix("[\"")) {
            let quote = if rest.as_bytes()[1] == b'\'' { '\'' } else { '"' };
            let Some(end) = r.find(quote) else { break };
            if names.is_empty() {
                first_at = src.len() - r.len();
            }
            names.push(r[..end].to_owned());
            rest = r[end + 1..].strip_prefix(']').unwrap_or("");
        } else {
            break;
        }
    }
    let root = names.first()?.clone();
    if root == "*" {
        return None;
    }
    let step = if root == "steps" { names.get(1).filter(|s| s.as_str() != "*").cloned() } else { None };
    let text = match &step {
        Some(s) => format!("steps.{s}"),
        None => root.clone(),
    };
    Some(Reference { root, step, offset: first_at, text })
}
