//! Loading workflow files: bytes → YAML tree → model → compiled workflow,
//! collecting every problem of a file with its position, and checking a
//! directory as a whole (ids and trigger paths must be unique).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::action::Registry;
use crate::compile::{BrokenStep, CompiledWorkflow, compile};
use crate::diagnostics::{Diagnostic, FileDiagnostics, SourceFile, codes};
use crate::spec::{StepSpec, WORKFLOW_KEYS, WorkflowSpec};
use crate::suggest::closest;
use crate::yaml::{self, DeError, Limits, Node, NodeKind, Span, Spanned};

/// Largest workflow file accepted.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// The result of loading one file.
#[derive(Debug)]
pub struct Loaded {
    /// The workflow, when the file has no error.
    pub workflow: Option<Arc<CompiledWorkflow>>,
    /// Its errors and warnings.
    pub report: FileDiagnostics,
}

/// Load and compile a workflow from text; `name` is how messages refer to the file.
pub fn load_str(name: &str, text: &str, registry: &Registry) -> Loaded {
    let file = Arc::new(SourceFile { name: name.to_owned(), text: text.to_owned() });
    if text.len() > MAX_FILE_BYTES {
        return fail(file, too_large(text.len()));
    }
    let root = match yaml::parse(text, &Limits::default()) {
        Ok(root) => root,
        Err(e) => return fail(file, Diagnostic::error(codes::YAML, e.span, e.message)),
    };
    let (spec, broken, mut diags) = read_spec(&root);
    let Some(spec) = spec else {
        diags.sort_by_key(|d| d.span.start);
        return Loaded { workflow: None, report: FileDiagnostics { file, diagnostics: diags } };
    };
    let (wf, more) = compile(&spec, file.clone(), registry, &broken);
    diags.extend(more);
    diags.sort_by_key(|d| (d.span.start, d.code));
    let has_errors = diags.iter().any(Diagnostic::is_error);
    Loaded {
        workflow: if has_errors { None } else { wf.map(Arc::new) },
        report: FileDiagnostics { file, diagnostics: diags },
    }
}

/// Load one file from disk (size checked before reading; UTF-8 required).
pub fn load_file(path: &Path, registry: &Registry) -> Loaded {
    let name = path.display().to_string();
    let empty = || Arc::new(SourceFile { name: name.clone(), text: String::new() });
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_FILE_BYTES as u64 => return fail(empty(), too_large(m.len() as usize)),
        Ok(_) => {}
        Err(e) => {
            return fail(
                empty(),
                Diagnostic::error(codes::YAML, Span::default(), format!("cannot read the file: {e}")),
            );
        }
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            return fail(
                empty(),
                Diagnostic::error(codes::YAML, Span::default(), format!("cannot read the file: {e}")),
            );
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) => load_str(&name, &text, registry),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let valid = String::from_utf8_lossy(&e.as_bytes()[..at]).into_owned();
            let file = Arc::new(SourceFile { name, text: valid });
            let line = file.line_col(at).0;
            fail(
                file,
                Diagnostic::error(
                    codes::YAML,
                    Span::new(at, at),
                    format!("the file is not UTF-8: invalid byte at offset {at} (line {line})"),
                ),
            )
        }
    }
}

fn too_large(len: usize) -> Diagnostic {
    Diagnostic::error(
        codes::YAML,
        Span::default(),
        format!("the file is {:.1} MB; workflow files are limited to {} KiB", len as f64 / 1e6, MAX_FILE_BYTES / 1024),
    )
    .with_help("a workflow this large is almost certainly not meant as one; split it or move data out of it")
}

fn fail(file: Arc<SourceFile>, d: Diagnostic) -> Loaded {
    Loaded { workflow: None, report: FileDiagnostics { file, diagnostics: vec![d] } }
}

fn shape(e: DeError, fallback: Span) -> Diagnostic {
    Diagnostic::error(codes::SHAPE, e.span.unwrap_or(fallback), e.message)
}

fn field<'a, T: serde::Deserialize<'a>>(node: &'a Node, diags: &mut Vec<Diagnostic>) -> Option<T> {
    match yaml::from_node::<T>(node) {
        Ok(v) => Some(v),
        Err(e) => {
            diags.push(shape(e, node.span));
            None
        }
    }
}

/// Read the model key by key so that problems in one part do not hide
/// problems in another: every step is read on its own.
fn read_spec(root: &Node) -> (Option<WorkflowSpec>, Vec<BrokenStep>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut broken = Vec::new();
    let NodeKind::Map(entries) = &root.kind else {
        diags.push(Diagnostic::error(
            codes::SHAPE,
            root.span,
            format!("expected a workflow mapping (`id:`, `trigger:`, `steps:`), found {}", root.type_name()),
        ));
        return (None, broken, diags);
    };
    let first_line = Span::new(root.span.start, root.span.start);
    let mut id = None;
    let mut version = 1;
    let mut description = None;
    let mut trigger = None;
    let mut connections = Default::default();
    let mut tables = Default::default();
    let mut steps = Vec::new();
    let mut on_failure = Vec::new();
    let mut tests = None;
    let mut subject = None;
    let mut retention = None;
    let mut seen = [false; 3];
    for (k, v) in entries {
        let key = k.as_str().unwrap_or("");
        match key {
            "id" => {
                seen[0] = true;
                id = field::<Spanned<String>>(v, &mut diags);
            }
            "version" => version = field::<u32>(v, &mut diags).unwrap_or(1),
            "description" => description = field::<Option<String>>(v, &mut diags).flatten(),
            "trigger" => {
                seen[1] = true;
                trigger = read_trigger(v, &mut diags);
            }
            "connections" => connections = field(v, &mut diags).unwrap_or_default(),
            "tables" => tables = field(v, &mut diags).unwrap_or_default(),
            "steps" => {
                seen[2] = true;
                steps = read_steps(v, "steps", &mut diags, &mut broken);
            }
            "on_failure" => on_failure = read_steps(v, "on_failure", &mut diags, &mut broken),
            "tests" => tests = field(v, &mut diags),
            "subject" => subject = field(v, &mut diags),
            "retention" => retention = field(v, &mut diags),
            other => {
                let mut d = Diagnostic::error(codes::SHAPE, k.span, format!("unknown key `{other}`"))
                    .with_label("not a workflow key");
                d = match closest(other, WORKFLOW_KEYS.iter().copied()) {
                    Some(b) => d.with_help(format!("did you mean `{b}`?")),
                    None => d.with_help(format!(
                        "a workflow has {}",
                        WORKFLOW_KEYS.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    )),
                };
                diags.push(d);
            }
        }
    }
    for (i, key) in ["id", "trigger", "steps"].iter().enumerate() {
        if !seen[i] {
            diags.push(Diagnostic::error(codes::SHAPE, first_line, format!("missing required key `{key}`")));
        }
    }
    // With `id` or `trigger` missing or broken (already reported), compile the
    // rest anyway, so that every problem of the file shows at once.
    let id = id.unwrap_or_else(|| Spanned::new(first_line, "unnamed".to_owned()));
    let trigger = trigger.unwrap_or_else(|| Spanned::new(first_line, crate::spec::TriggerSpec::Manual(None)));
    let spec = WorkflowSpec {
        id,
        version,
        description,
        subject,
        retention,
        trigger,
        connections,
        tables,
        steps,
        on_failure,
        tests,
    };
    (Some(spec), broken, diags)
}

fn read_trigger(v: &Node, diags: &mut Vec<Diagnostic>) -> Option<Spanned<crate::spec::TriggerSpec>> {
    match yaml::from_node(v) {
        Ok(t) => Some(t),
        Err(e) => {
            let kinds = crate::spec::trigger_kinds();
            let mut d = shape(e.clone(), v.span);
            if let NodeKind::Map(entries) = &v.kind
                && let Some((k, _)) = entries.iter().find(|(k, _)| !k.as_str().is_some_and(|s| kinds.contains(&s)))
                && entries.len() == 1
            {
                let name = k.as_str().unwrap_or("");
                d = Diagnostic::error(codes::UNKNOWN_TRIGGER, k.span, format!("unknown trigger kind `{name}`"))
                    .with_label("unknown kind");
                d = match closest(name, kinds.iter().copied()) {
                    Some(b) => d.with_help(format!("did you mean `{b}`?")),
                    None => d.with_help(format!(
                        "trigger kinds are {}",
                        kinds.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    )),
                };
            }
            diags.push(d);
            None
        }
    }
}

fn read_steps(
    v: &Node,
    list: &str,
    diags: &mut Vec<Diagnostic>,
    broken: &mut Vec<BrokenStep>,
) -> Vec<Spanned<StepSpec>> {
    let NodeKind::Seq(items) = &v.kind else {
        diags.push(Diagnostic::error(
            codes::SHAPE,
            v.span,
            format!("`{list}:` must be a list of steps, found {}", v.type_name()),
        ));
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match yaml::from_node::<Spanned<StepSpec>>(item) {
            Ok(s) => out.push(s),
            Err(e) => {
                diags.push(shape(e, item.span));
                let id = match &item.kind {
                    NodeKind::Map(entries) => entries
                        .iter()
                        .find(|(k, _)| k.as_str() == Some("id"))
                        .and_then(|(_, v)| v.as_str().map(|s| Spanned::new(v.span, s.to_owned()))),
                    _ => None,
                };
                broken.push(BrokenStep { id });
            }
        }
    }
    out
}

/// Every workflow of a set of files and directories, and every problem.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Workflows that loaded without error.
    pub workflows: Vec<Arc<CompiledWorkflow>>,
    /// Per-file problems (files without any are included with an empty list).
    pub files: Vec<FileDiagnostics>,
}

impl LoadReport {
    /// Whether any file has an error.
    pub fn has_errors(&self) -> bool {
        self.files.iter().any(FileDiagnostics::has_errors)
    }
}

/// The workflow files a path stands for: the file itself, or every `*.yaml`
/// / `*.yml` below a directory (sorted; `*.test.yaml` test files excluded).
pub fn workflow_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let p = entry?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if (name.ends_with(".yaml") || name.ends_with(".yml"))
                && !name.ends_with(".test.yaml")
                && !name.ends_with(".test.yml")
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Load every workflow under `paths`, then check them as one deployment:
/// workflow ids and trigger routes must be unique.
pub fn load_paths(paths: &[PathBuf], registry: &Registry) -> LoadReport {
    let mut report = LoadReport::default();
    for path in paths {
        match workflow_files(path) {
            Ok(files) => {
                for f in files {
                    let loaded = load_file(&f, registry);
                    if let Some(w) = loaded.workflow {
                        report.workflows.push(w);
                    }
                    report.files.push(loaded.report);
                }
            }
            Err(e) => {
                let file = Arc::new(SourceFile { name: path.display().to_string(), text: String::new() });
                report.files.push(FileDiagnostics {
                    file,
                    diagnostics: vec![Diagnostic::error(codes::YAML, Span::default(), format!("cannot read: {e}"))],
                });
            }
        }
    }
    check_unique(&mut report);
    report
}

fn check_unique(report: &mut LoadReport) {
    let mut ids: HashMap<String, Arc<CompiledWorkflow>> = HashMap::new();
    let mut routes: HashMap<String, Arc<CompiledWorkflow>> = HashMap::new();
    let mut rejected = Vec::new();
    for wf in &report.workflows {
        let mut problems = Vec::new();
        if let Some(first) = ids.get(&wf.id) {
            problems.push(format!("workflow id `{}` is also used by {}", wf.id, first.source.name));
        } else {
            ids.insert(wf.id.clone(), wf.clone());
        }
        if let Some(route) = wf.trigger.route() {
            if let Some(first) = routes.get(&route) {
                problems
                    .push(format!("`POST {route}` is also served by workflow `{}` ({})", first.id, first.source.name));
            } else {
                routes.insert(route, wf.clone());
            }
        }
        if !problems.is_empty() {
            rejected.push((wf.source.name.clone(), problems));
        }
    }
    for (name, problems) in rejected {
        report.workflows.retain(|w| w.source.name != name);
        if let Some(f) = report.files.iter_mut().find(|f| f.file.name == name) {
            let span = route_span(&f.file.text);
            for p in problems {
                f.diagnostics.push(
                    Diagnostic::error(codes::DUPLICATE_ROUTE, span, p)
                        .with_help("ids and trigger paths must be unique across the workflows a server loads"),
                );
            }
        }
    }
}

/// The span of the `path:` value (or the file start) for cross-file messages.
pub(crate) fn route_span(text: &str) -> Span {
    let Ok(root) = yaml::parse(text, &Limits::default()) else { return Span::default() };
    let NodeKind::Map(entries) = &root.kind else { return Span::default() };
    let trigger = entries.iter().find(|(k, _)| k.as_str() == Some("trigger")).map(|(_, v)| v);
    let inner = trigger.and_then(|t| match &t.kind {
        NodeKind::Map(e) => e.first().map(|(_, v)| v),
        _ => None,
    });
    let path = inner.and_then(|i| match &i.kind {
        NodeKind::Map(e) => e.iter().find(|(k, _)| k.as_str() == Some("path")).map(|(_, v)| v.span),
        _ => None,
    });
    path.unwrap_or_default()
}
