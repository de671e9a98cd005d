//! `reqflow graph`: a compiled workflow as Graphviz DOT or Mermaid.

use std::fmt::Write;

use crate::compile::{CompiledStep, CompiledTrigger, CompiledWorkflow, StepKind};

fn label(step: &CompiledStep) -> String {
    let what = match &step.kind {
        StepKind::Map(_) => "map".to_owned(),
        StepKind::Action { kind, .. } => kind.clone(),
    };
    let mut l = format!("{}\\n{what}", step.id);
    if step.condition.is_some() {
        l.push_str("\\nif …");
    }
    if step.foreach.is_some() {
        l.push_str("\\nforeach …");
    }
    l
}

fn trigger_label(t: &CompiledTrigger) -> String {
    match t {
        CompiledTrigger::Webhook { path, .. } => format!("webhook\\nPOST /hooks/{path}"),
        CompiledTrigger::Soap { path, operation, .. } => format!("soap {operation}\\nPOST /soap/{path}"),
        CompiledTrigger::Schedule(crate::compile::SchedulePlan::Every(d)) => {
            format!("schedule\\nevery {}", humantime::format_duration(*d))
        }
        CompiledTrigger::Schedule(crate::compile::SchedulePlan::Cron { source, .. }) => {
            format!("schedule\\ncron {source}")
        }
        CompiledTrigger::Manual => "manual".to_owned(),
    }
}

/// Graphviz DOT.
pub fn dot(wf: &CompiledWorkflow) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph \"{}\" {{", wf.id);
    let _ = writeln!(s, "  rankdir=TB;\n  node [shape=box, style=rounded];");
    let _ = writeln!(s, "  trigger [label=\"{}\", shape=oval];", trigger_label(&wf.trigger));
    for step in &wf.steps {
        let _ = writeln!(s, "  {} [label=\"{}\"];", step.id, label(step));
        if step.needs.is_empty() {
            let _ = writeln!(s, "  trigger -> {};", step.id);
        }
        for &n in &step.needs {
            let _ = writeln!(s, "  {} -> {};", wf.steps[n].id, step.id);
        }
    }
    if !wf.on_failure.is_empty() {
        let _ = writeln!(s, "  subgraph cluster_on_failure {{\n    label=\"on_failure\";\n    style=dashed;");
        for step in &wf.on_failure {
            let _ = writeln!(s, "    {} [label=\"{}\"];", step.id, label(step));
            for &n in &step.needs {
                let _ = writeln!(s, "    {} -> {};", wf.on_failure[n].id, step.id);
            }
        }
        let _ = writeln!(s, "  }}");
    }
    s.push_str("}\n");
    s
}

/// Mermaid flowchart.
pub fn mermaid(wf: &CompiledWorkflow) -> String {
    let m = |l: String| l.replace("\\n", "<br/>").replace('"', "'");
    let mut s = String::from("flowchart TD\n");
    let _ = writeln!(s, "  trigger([\"{}\"])", m(trigger_label(&wf.trigger)));
    for step in &wf.steps {
        let _ = writeln!(s, "  {}[\"{}\"]", step.id, m(label(step)));
        if step.needs.is_empty() {
            let _ = writeln!(s, "  trigger --> {}", step.id);
        }
        for &n in &step.needs {
            let _ = writeln!(s, "  {} --> {}", wf.steps[n].id, step.id);
        }
    }
    if !wf.on_failure.is_empty() {
        s.push_str("  subgraph on_failure\n");
        for step in &wf.on_failure {
            let _ = writeln!(s, "    {}[\"{}\"]", step.id, m(label(step)));
            for &n in &step.needs {
                let _ = writeln!(s, "    {} --> {}", wf.on_failure[n].id, step.id);
            }
        }
        s.push_str("  end\n");
    }
    s
}
