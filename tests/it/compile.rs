//! Golden tests: every invalid workflow's rendered diagnostics, every valid
//! workflow's compiled graph.

use reqflow_engine::load::{load_file, load_paths};

use crate::{data, registry, rel};

#[test]
fn invalid_workflows_render_positioned_diagnostics() {
    let registry = registry();
    insta::glob!("../data/compile/err", "*.yaml", |path| {
        let loaded = load_file(path.strip_prefix(crate::root()).unwrap_or(path), &registry);
        assert!(loaded.workflow.is_none(), "{} should not compile", rel(path));
        assert!(loaded.report.has_errors());
        insta::assert_snapshot!(loaded.report.render_human());
    });
}

#[test]
fn valid_workflows_compile_to_these_graphs() {
    let registry = registry();
    insta::glob!("../data/compile/ok", "*.yaml", |path| {
        let loaded = load_file(path.strip_prefix(crate::root()).unwrap_or(path), &registry);
        let wf = loaded.workflow.unwrap_or_else(|| panic!("{}:\n{}", rel(path), loaded.report.render_short()));
        let warnings = loaded.report.render_short();
        insta::assert_snapshot!(format!("{warnings}{}", reqflow_engine::graph_view::mermaid(&wf)));
    });
}

#[test]
fn one_path_served_by_two_workflows_is_an_error_in_both_files() {
    let report = load_paths(&[data("compile/dir-duplicate-path")], &registry());
    assert!(report.has_errors());
    assert_eq!(report.workflows.len(), 1, "the first one still loads");
    let b = report.files.iter().find(|f| f.file.name.ends_with("b.yaml")).expect("b.yaml");
    let text = b.render_short();
    assert!(text.contains("error[E0111]: `POST /hooks/shared/path` is also served by workflow `first`"), "{text}");
    assert!(text.contains("b.yaml:2:"), "points at the path in b.yaml: {text}");
}

#[test]
fn all_problems_of_a_file_are_reported_at_once() {
    let loaded = load_file(&data("compile/err/shape.yaml"), &registry());
    let codes: Vec<&str> = loaded.report.diagnostics.iter().map(|d| d.code).collect();
    assert!(codes.len() >= 6, "{codes:?}");
}
