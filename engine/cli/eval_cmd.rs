//! `reqflow eval VALUE --data FILE`: try a mapping on a sample payload.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use reqflow_engine::diagnostics::{Diagnostic, FileDiagnostics, SourceFile, codes};
use reqflow_engine::value::{StandaloneError, eval_str};
use reqflow_engine::yaml::Span;

#[derive(Args, Debug)]
pub(crate) struct EvalArgs {
    /// The value, as it would appear in a workflow: `$.event.body.id`, `{{ event.body.name | upper }}`, or a literal.
    value: String,
    /// A JSON file: the context, whose top-level keys are the variables (`event`, `steps`, `secrets`, `vars`, `run`).
    #[arg(long)]
    data: Option<PathBuf>,
}

pub(crate) fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let context = match &args.data {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?
        }
        None => serde_json::json!({}),
    };
    match eval_str(&args.value, context) {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let file = Arc::new(SourceFile { name: "<value>".into(), text: args.value.clone() });
            let code = match &e {
                StandaloneError::Path(_) => codes::BAD_JSONPATH,
                StandaloneError::Template(_) => codes::BAD_TEMPLATE,
                StandaloneError::Eval(_) => "E0200",
            };
            let span = e.range().map(|r| Span::new(r.start, r.end)).unwrap_or(Span::new(0, args.value.len()));
            let d = Diagnostic::error(code, span, e.to_string());
            let report = FileDiagnostics { file, diagnostics: vec![d] };
            eprint!("{}", report.render_human());
            Ok(ExitCode::FAILURE)
        }
    }
}
