//! Bytes → the workflow loader and compiler (YAML parse, model, compile with the
//! real built-in action registry), then every way a result is shown: the three
//! diagnostic renderings and, for a valid workflow, the DOT/Mermaid graph views.
//! None of it may panic, hang or allocate without bound on any input.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use reqflow_engine::action::Registry;
use reqflow_engine::graph_view;
use reqflow_engine::load::load_str;

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let mut r = Registry::new();
    reqflow_actions::register_builtins(&mut r);
    r
});

fuzz_target!(|data: &[u8]| {
    // The loader takes text (files are checked for UTF-8 before): lossy so that
    // non-UTF-8 bytes still reach it as replacement characters.
    let text = String::from_utf8_lossy(data);
    let loaded = load_str("fuzz.yaml", &text, &REGISTRY);
    let _ = loaded.report.render_human();
    let _ = loaded.report.render_short();
    let _ = loaded.report.to_json();
    if let Some(wf) = loaded.workflow {
        let _ = graph_view::dot(&wf);
        let _ = graph_view::mermaid(&wf);
    }
});
