//! minijinja templates, sandboxed: strict undefined values, bounded fuel and
//! bounded output, so no template can loop forever or exhaust memory.

use std::fmt;
use std::io::Write;
use std::ops::Range;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

use super::{EvalError, Scope};

/// Instructions one evaluation may execute.
pub const FUEL: u64 = 100_000;
/// Bytes one template may render.
pub const MAX_OUTPUT: usize = 1 << 20;
const VALUE_VAR: &str = "__reqflow_value";

/// The compiled templates of one workflow.
pub struct Templates {
    env: Environment<'static>,
    next: usize,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates").field("count", &self.next).finish()
    }
}

/// One template of a workflow.
#[derive(Clone, Debug)]
pub struct TemplateExpr {
    name: String,
    source: String,
    typed: bool,
    vars: Vec<(String, usize)>,
    /// For `{{ a.b.c }}` (names only): the names, looked up directly in the
    /// scope's JSON; minijinja runs only when the lookup does not resolve
    /// (so its errors stay as they are).
    path: Option<Vec<String>>,
}

/// A template that does not parse: what, and where in its source.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// What is wrong.
    pub message: String,
    /// Byte range in the template source.
    pub range: Range<usize>,
}

impl TemplateExpr {
    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether it is a single `{{ expression }}` yielding a typed value.
    pub fn is_typed(&self) -> bool {
        self.typed
    }

    /// Variables it reads, dotted (`steps.fields.output`), with the byte
    /// offset where each first appears in the source (0 if not found).
    pub fn variables(&self) -> &[(String, usize)] {
        &self.vars
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    /// An empty, sandboxed template set.
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(64);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        // `null` inside text renders as nothing, never as `none`: a missing
        // report link must not reach an ATS as "(none)". A template that is
        // one expression (`"{{ x }}"`) still yields the value itself.
        env.set_formatter(|out, state, value| {
            if value.is_none() {
                return Ok(());
            }
            if let Some(what) = binary_in_text(value) {
                return Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!(
                        "a binary value ({what}) cannot be put into text; pass it whole as the only thing in the \
                         value (`\"{{{{ steps.<id>.output.body }}}}\"`), or use its `.sha256`, `.size` or `.data` (base64)"
                    ),
                ));
            }
            minijinja::escape_formatter(out, state, value)
        });
        env.add_function("lookup", lookup_table);
        Templates { env, next: 0 }
    }

    /// Parse a template and keep it; errors carry the byte range in `source`.
    pub fn add(&mut self, source: &str) -> Result<TemplateExpr, TemplateError> {
        let name = format!("t{}", self.next);
        self.next += 1;
        if let Some((inner, offset)) = single_expression(source) {
            let expr = self.env.compile_expression(inner).map_err(|e| to_error(&e, inner, offset))?;
            let vars = locate(expr.undeclared_variables(true), source);
            drop(expr);
            // Positions in an error from the wrapper are in the wrapper: shift
            // them back into `inner` (an expression that compiles alone may
            // still fail inside the wrapper, e.g. `'x' # y`).
            let prefix = format!("{{% set {VALUE_VAR} = (");
            self.env
                .add_template_owned(name.clone(), format!("{prefix}{inner}\n) %}}"))
                .map_err(|e| to_error_shifted(&e, inner, offset, prefix.len()))?;
            let path = dotted_path(inner);
            return Ok(TemplateExpr { name, source: source.to_owned(), typed: true, vars, path });
        }
        self.env.add_template_owned(name.clone(), source.to_owned()).map_err(|e| to_error(&e, source, 0))?;
        let vars = match self.env.get_template(&name) {
            Ok(t) => locate(t.undeclared_variables(true), source),
            Err(_) => Vec::new(),
        };
        Ok(TemplateExpr { name, source: source.to_owned(), typed: false, vars, path: None })
    }

    /// Evaluate: a typed value for a single expression, a string otherwise.
    pub fn eval(&self, t: &TemplateExpr, scope: &Scope) -> Result<Value, EvalError> {
        if let Some(path) = &t.path
            && let Some(v) = lookup(scope.json(), path)
        {
            return Ok(v.clone());
        }
        self.eval_jinja(t, scope)
    }

    /// Evaluate with minijinja (every template but a resolved plain path).
    fn eval_jinja(&self, t: &TemplateExpr, scope: &Scope) -> Result<Value, EvalError> {
        let fail = |e: minijinja::Error| EvalError::Template(describe(&e, &t.source));
        let tmpl = self.env.get_template(&t.name).map_err(fail)?;
        if t.typed {
            let captured = tmpl.render_captured(scope.jinja().clone()).map_err(fail)?;
            let value = captured.state().lookup(VALUE_VAR).unwrap_or_default();
            if value.is_undefined() {
                return Err(EvalError::Template(format!("`{}` is undefined", t.source.trim())));
            }
            return serde_json::to_value(&value)
                .map_err(|e| EvalError::Template(format!("`{}`: {e}", t.source.trim())));
        }
        let mut out = Bounded { buf: Vec::new() };
        tmpl.render_captured_to(scope.jinja().clone(), &mut out).map_err(|e| {
            if out.buf.len() >= MAX_OUTPUT {
                EvalError::Template(format!("`{}` renders more than {MAX_OUTPUT} bytes", short(&t.source)))
            } else {
                fail(e)
            }
        })?;
        String::from_utf8(out.buf)
            .map(Value::String)
            .map_err(|_| EvalError::Template(format!("`{}` rendered invalid UTF-8", short(&t.source))))
    }
}

/// `Some("application/pdf, 12 bytes")` when `value` is a binary value
/// (see [`super::binary`]): text must never hold one.
fn binary_in_text(value: &minijinja::Value) -> Option<String> {
    if value.kind() != minijinja::value::ValueKind::Map {
        return None;
    }
    let tag = value.get_attr(super::binary::TAG).ok()?;
    if !tag.is_true() || tag.kind() != minijinja::value::ValueKind::Bool {
        // A map that holds one deeper down (e.g. a whole `http.request` output).
        return super::lazy::holds_binary(value).then(|| "inside this value".to_owned());
    }
    let ct = value.get_attr("content_type").ok().filter(|v| !v.is_undefined()).map(|v| v.to_string());
    let size = value.get_attr("size").ok().filter(|v| !v.is_undefined()).map(|v| v.to_string());
    Some(format!(
        "{}, {} bytes",
        ct.unwrap_or_else(|| "application/octet-stream".into()),
        size.unwrap_or_else(|| "?".into())
    ))
}

/// `lookup(table, key)`: the value of `key` in the workflow's table `table`,
/// or its `default`; an error naming the table and the key (not "undefined
/// value") when neither is there.
fn lookup_table(
    state: &minijinja::State<'_, '_>,
    table: String,
    key: minijinja::Value,
) -> Result<minijinja::Value, minijinja::Error> {
    use minijinja::{Error, ErrorKind};
    let fail = |msg: String| Error::new(ErrorKind::InvalidOperation, msg);
    let tables = state.lookup("tables").filter(|t| !t.is_undefined() && !t.is_none());
    let Some(tables) = tables else {
        return Err(fail(format!("`lookup('{table}', …)`: no tables can be read here")));
    };
    let t = tables.get_attr(&table)?;
    if t.is_undefined() {
        let names: Vec<String> = tables.try_iter().map(|i| i.map(|k| format!("`{k}`")).collect()).unwrap_or_default();
        let known = if names.is_empty() {
            "the workflow has no `tables:`".to_owned()
        } else {
            format!("tables: {}", names.join(", "))
        };
        return Err(fail(format!("there is no table `{table}` ({known})")));
    }
    let name = key.as_str().map(str::to_owned).unwrap_or_else(|| key.to_string());
    let hit = t.get_attr(&name)?;
    if !hit.is_undefined() {
        return Ok(hit);
    }
    let default = t.get_attr("default")?;
    if !default.is_undefined() {
        return Ok(default);
    }
    Err(fail(format!("table `{table}` has no key `{name}` and no `default`")))
}

/// `a.b.c`: names (not keywords) joined by dots, nothing else.
fn dotted_path(expr: &str) -> Option<Vec<String>> {
    const KEYWORDS: &[&str] = &[
        "true",
        "false",
        "none",
        "True",
        "False",
        "None",
        "and",
        "or",
        "not",
        "in",
        "is",
        "if",
        "else",
        "loop",
        "self",
        "super",
        "namespace",
        "range",
        "dict",
        "debug",
        "lipsum",
        "cycler",
        "joiner",
    ];
    let names: Vec<&str> = expr.split('.').collect();
    let name_ok = |n: &&str| {
        let mut chars = n.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !KEYWORDS.contains(n)
    };
    names.iter().all(name_ok).then(|| names.iter().map(|n| (*n).to_owned()).collect())
}

/// The value at `path` through objects only; `None` when any name is missing
/// or passes through a non-object.
fn lookup<'v>(root: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(root, |v, name| v.as_object()?.get(name))
}

struct Bounded {
    buf: Vec<u8>,
}

impl Write for Bounded {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > MAX_OUTPUT {
            self.buf.resize(MAX_OUTPUT, 0);
            return Err(std::io::Error::other("template output too large"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `{{ expr }}` with nothing else around it but whitespace: the inner
/// expression and its byte offset in `source`.
fn single_expression(source: &str) -> Option<(&str, usize)> {
    let lead = source.len() - source.trim_start().len();
    let t = source.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") || inner.contains("{#") {
        return None;
    }
    let mut start = lead + 2;
    let mut inner = inner;
    if let Some(rest) = inner.strip_prefix(['-', '+']) {
        inner = rest;
        start += 1;
    }
    let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
    let trimmed = inner.trim_start();
    start += inner.len() - trimmed.len();
    let trimmed = trimmed.trim_end();
    if trimmed.is_empty() {
        return None;
    }
    Some((trimmed, start))
}

fn locate(vars: std::collections::HashSet<String>, source: &str) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = vars
        .into_iter()
        .map(|v| {
            let at = source.find(v.as_str()).unwrap_or(0);
            (v, at)
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    out
}

fn to_error(e: &minijinja::Error, text: &str, offset: usize) -> TemplateError {
    to_error_shifted(e, text, offset, 0)
}

/// A parse error of `text` (found at byte `offset` of the source) from
/// minijinja, whose positions are `shift` bytes further on than in `text`
/// (the wrapper of a single expression). The range always lies within `text`
/// (or just past its end, for an error at the end), so a diagnostic can point
/// at it.
fn to_error_shifted(e: &minijinja::Error, text: &str, offset: usize, shift: usize) -> TemplateError {
    let len = text.len();
    let range = e
        .range()
        .map(|r| {
            let start = r.start.saturating_sub(shift).min(len);
            let end = r.end.saturating_sub(shift).clamp(start + 1, len.max(start + 1));
            (start + offset)..(end + offset)
        })
        .or_else(|| {
            e.line().map(|line| {
                let start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
                (start + offset)..(start + offset + 1)
            })
        })
        .unwrap_or(offset..offset + 1);
    let detail = e.detail().map(str::to_owned).unwrap_or_else(|| e.kind().to_string());
    TemplateError { message: format!("invalid template: {detail}"), range }
}

fn describe(e: &minijinja::Error, source: &str) -> String {
    let what = match e.kind() {
        minijinja::ErrorKind::UndefinedError => "undefined value".to_owned(),
        minijinja::ErrorKind::OutOfFuel => "template ran too long (out of fuel)".to_owned(),
        kind => kind.to_string(),
    };
    match e.detail() {
        Some(d) => format!("`{}`: {what}: {d}", short(source)),
        None => format!("`{}`: {what}", short(source)),
    }
}

fn short(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 80 { format!("{}…", s.chars().take(80).collect::<String>()) } else { s.to_owned() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lookup_reads_a_table_with_its_default_and_names_table_and_key_on_a_miss() {
        let ctx = json!({ "tables": { "agents": { "default": "agent-general", "R-8": "agent-sales", "7": "seven" },
                                      "strict": { "a": 1 } }, "event": { "req": "R-8", "n": 7 } });
        let v = |src: &str| crate::value::eval_str(src, ctx.clone());
        assert_eq!(v("{{ lookup('agents', event.req) }}").ok(), Some(json!("agent-sales")));
        assert_eq!(v("{{ lookup('agents', 'R-1') }}").ok(), Some(json!("agent-general")), "the default");
        assert_eq!(v("{{ lookup('agents', event.n) }}").ok(), Some(json!("seven")), "a number key");
        let e = v("{{ lookup('strict', 'zz') }}").expect_err("miss").to_string();
        assert!(e.contains("table `strict` has no key `zz` and no `default`"), "{e}");
        let e = v("{{ lookup('agnets', 'x') }}").expect_err("no table").to_string();
        assert!(e.contains("there is no table `agnets`") && e.contains("`agents`"), "{e}");
    }

    #[test]
    fn null_inside_text_renders_as_nothing_and_alone_stays_null() {
        let ctx = json!({ "event": { "url": null, "n": 0 } });
        let v = |src: &str| crate::value::eval_str(src, ctx.clone()).expect(src);
        assert_eq!(v("link ({{ event.url }})"), json!("link ()"));
        assert_eq!(v("{{ event.url }}"), json!(null), "one expression keeps its value");
        assert_eq!(v("({{ event.url | default(none) or 'no link' }})"), json!("(no link)"));
        assert_eq!(v("({{ event.missing | default(none) or 'no link' }})"), json!("(no link)"));
        assert_eq!(v("n={{ event.n }}"), json!("n=0"), "zero is not null");
    }

    #[test]
    fn a_binary_value_in_text_is_an_error_and_alone_stays_whole() {
        let bin = crate::value::binary::Binary::new("application/pdf", b"%PDF-1.4 x".to_vec()).to_value();
        let ctx = json!({ "steps": { "report": { "output": { "body": bin.clone() } } } });
        let v = |src: &str| crate::value::eval_str(src, ctx.clone());
        assert_eq!(v("{{ steps.report.output.body }}").ok(), Some(bin.clone()), "passed whole");
        assert_eq!(v("{{ steps.report.output.body | default(none) }}").ok(), Some(bin.clone()), "through minijinja");
        let e = v("report: {{ steps.report.output.body }}").expect_err("into text").to_string();
        assert!(e.contains("a binary value (application/pdf, 10 bytes) cannot be put into text"), "{e}");
        assert_eq!(v("{{ steps.report.output.body.size }} bytes").ok(), Some(json!("10 bytes")));
        let e = v("all: {{ steps.report.output }}").expect_err("a map holding one").to_string();
        assert!(e.contains("a binary value (inside this value) cannot be put into text"), "{e}");
    }

    /// The direct lookup of `{{ a.b }}` answers exactly what minijinja does,
    /// and leaves whatever it cannot resolve (with its errors) to minijinja.
    #[test]
    fn plain_paths_resolve_as_minijinja_does() {
        let scope = Scope::new(json!({
            "event": { "n": 7, "big": 18_446_744_073_709_551_615u64, "neg": -3, "f": 87.5, "whole": 2.0,
                       "s": "Ada", "t": true, "z": null, "list": [1, "x", {"k": 1}],
                       "obj": { "b": { "c": "deep" }, "e": {} } },
        }));
        let mut templates = Templates::new();
        for path in [
            "event.n",
            "event.big",
            "event.neg",
            "event.f",
            "event.whole",
            "event.s",
            "event.t",
            "event.z",
            "event.list",
            "event.obj",
            "event.obj.b.c",
            "event.obj.e",
        ] {
            let t = templates.add(&format!("{{{{ {path} }}}}")).expect("compiles");
            assert!(t.path.is_some(), "{path} takes the direct lookup");
            let direct = templates.eval(&t, &scope).expect("resolves");
            let jinja = templates.eval_jinja(&t, &scope).expect("resolves");
            assert_eq!(direct, jinja, "{path}");
            assert_eq!(direct.to_string(), jinja.to_string(), "{path}: same JSON text");
        }
        // Unresolved: minijinja's own answer (an error), not a silent null.
        for missing in ["event.nope", "event.obj.nope.c", "event.s.x", "nope.x"] {
            let t = templates.add(&format!("{{{{ {missing} }}}}")).expect("compiles");
            assert_eq!(
                templates.eval(&t, &scope).map_err(|e| e.to_string()),
                templates.eval_jinja(&t, &scope).map_err(|e| e.to_string()),
                "{missing}"
            );
            assert!(templates.eval(&t, &scope).is_err(), "{missing} is an error");
        }
        // Not plain paths: literals, filters, indexing, calls.
        for other in ["true", "none", "event.s | lower", "event.list[0]", "event.s.upper()", "event.n + 1"] {
            let t = templates.add(&format!("{{{{ {other} }}}}")).expect("compiles");
            assert!(t.path.is_none(), "{other} goes to minijinja");
        }
    }
}
