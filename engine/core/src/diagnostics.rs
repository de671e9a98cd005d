//! Problems found while loading and compiling workflows, with positions, and
//! their three renderings: a human one with a source window and a caret under
//! the span, a one-line `file:line:col: …` form, and JSON for machines.

use std::sync::Arc;

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Chars, Config};
use serde::Serialize;

use crate::yaml::Span;

/// How bad a problem is: errors stop a workflow from loading, warnings don't.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The workflow cannot be used.
    Error,
    /// The workflow loads, but probably not as meant.
    Warning,
}

/// Stable codes, one per kind of problem (documented in `docs/errors.md`).
pub mod codes {
    /// The file cannot be read as a YAML document (not UTF-8, too large, invalid YAML, limits).
    pub const YAML: &str = "E0001";
    /// The document does not have the workflow's shape (unknown or missing keys, wrong types).
    pub const SHAPE: &str = "E0002";
    /// An id does not have the required form.
    pub const BAD_ID: &str = "E0003";
    /// A duration or cron expression is malformed.
    pub const BAD_TIME: &str = "E0004";
    /// Two steps share an id.
    pub const DUPLICATE_STEP: &str = "E0101";
    /// `needs:` names a step that does not exist.
    pub const UNKNOWN_NEEDS: &str = "E0102";
    /// The steps form a cycle.
    pub const CYCLE: &str = "E0103";
    /// An expression refers to a step that is not upstream.
    pub const NOT_UPSTREAM: &str = "E0104";
    /// An expression refers to a step that does not exist.
    pub const UNKNOWN_STEP: &str = "E0105";
    /// `action:` names no registered action.
    pub const UNKNOWN_ACTION: &str = "E0106";
    /// `with:` (or a connection) does not match the parameter schema.
    pub const BAD_PARAMS: &str = "E0107";
    /// A JSONPath query does not parse.
    pub const BAD_JSONPATH: &str = "E0108";
    /// A template does not parse.
    pub const BAD_TEMPLATE: &str = "E0109";
    /// The trigger kind is unknown.
    pub const UNKNOWN_TRIGGER: &str = "E0110";
    /// Two workflows of one directory serve the same path, or share an id.
    pub const DUPLICATE_ROUTE: &str = "E0111";
    /// A step names a connection that is missing or of the wrong type.
    pub const BAD_CONNECTION: &str = "E0112";
    /// An expression uses a variable that does not exist.
    pub const UNKNOWN_VARIABLE: &str = "E0113";
    /// A step is neither `map:` nor `action:`, or both.
    pub const STEP_KIND: &str = "E0114";
    /// A template puts a binary value (a fetched file) into text.
    pub const BINARY_IN_TEXT: &str = "E0115";
    /// A webhook or SOAP trigger has no authentication.
    pub const OPEN_ENDPOINT: &str = "W0001";
}

/// One problem: what, where, and how to fix it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnostic {
    /// A stable code (see [`codes`]).
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where (byte offsets in the file).
    #[serde(skip)]
    pub span: Span,
    /// A short label shown under the caret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error.
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic { code, severity: Severity::Error, message: message.into(), span, label: None, help: None }
    }

    /// A warning.
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic { code, severity: Severity::Warning, message: message.into(), span, label: None, help: None }
    }

    /// Adds a label under the caret.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Adds a hint on how to fix it.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A source file: its name as given by the user and its text.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user gave it.
    pub name: String,
    /// The text (empty when it could not be read as UTF-8).
    pub text: String,
}

impl SourceFile {
    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        (line, before[line_start..].chars().count() + 1)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// All problems of one file.
#[derive(Clone, Debug)]
pub struct FileDiagnostics {
    /// The file.
    pub file: Arc<SourceFile>,
    /// Its problems, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl FileDiagnostics {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Renders every problem with a source window and a caret under the span.
    pub fn render_human(&self) -> String {
        let file = SimpleFile::new(self.file.name.as_str(), self.file.text.as_str());
        let config = Config { chars: Chars::ascii(), ..Config::default() };
        let mut out = String::new();
        for d in &self.diagnostics {
            let span = clamp(d.span, &self.file.text);
            let mut label = Label::primary((), span.range());
            if let Some(l) = &d.label {
                label = label.with_message(l.clone());
            }
            let mut cs = match d.severity {
                Severity::Error => CsDiagnostic::error(),
                Severity::Warning => CsDiagnostic::warning(),
            }
            .with_code(d.code)
            .with_message(&d.message)
            .with_labels(vec![label]);
            if let Some(h) = &d.help {
                cs = cs.with_notes(vec![format!("help: {h}")]);
            }
            match term::emit_into_string(&config, &file, &cs) {
                Ok(text) => out.push_str(&text),
                Err(_) => {
                    out.push_str(&self.render_short_one(d));
                    out.push('\n');
                }
            }
        }
        out
    }

    fn render_short_one(&self, d: &Diagnostic) -> String {
        let (line, col) = self.file.line_col(d.span.start);
        let sev = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!("{}:{line}:{col}: {sev}[{}]: {}", self.file.name, d.code, d.message)
    }

    /// One line per problem: `file:line:col: error[E0101]: message`.
    pub fn render_short(&self) -> String {
        self.diagnostics.iter().map(|d| self.render_short_one(d) + "\n").collect()
    }

    /// The problems as JSON objects with file, line and column.
    pub fn to_json(&self) -> Vec<serde_json::Value> {
        self.diagnostics
            .iter()
            .map(|d| {
                let (line, column) = self.file.line_col(d.span.start);
                let (end_line, end_column) = self.file.line_col(d.span.end);
                let mut v = serde_json::to_value(d).unwrap_or_default();
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("file".into(), self.file.name.clone().into());
                    obj.insert("line".into(), line.into());
                    obj.insert("column".into(), column.into());
                    obj.insert("end_line".into(), end_line.into());
                    obj.insert("end_column".into(), end_column.into());
                }
                v
            })
            .collect()
    }
}

fn clamp(span: Span, text: &str) -> Span {
    let start = floor_char_boundary(text, span.start.min(text.len()));
    let end = floor_char_boundary(text, span.end.min(text.len())).max(start);
    Span::new(start, end)
}
