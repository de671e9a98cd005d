//! `reqflow validate PATH...`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use reqflow_engine::diagnostics::FileDiagnostics;
use reqflow_engine::load::{LoadReport, load_paths};

/// How problems are printed.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub(crate) enum Format {
    /// A source window with a caret under each problem.
    #[default]
    Human,
    /// One line per problem: `file:line:col: error[code]: message`.
    Short,
    /// JSON, for editors and CI.
    Json,
}

#[derive(Args, Debug)]
pub(crate) struct ValidateArgs {
    /// Workflow files or directories (every `*.yaml`/`*.yml` below them).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// A secrets file to check besides `REQFLOW_SECRET_*` (a secret shorter than 8 characters gets a
    /// warning on stderr: masking it hides ordinary text).
    #[arg(long, value_name = "FILE")]
    secrets: Option<PathBuf>,
}

pub(crate) fn print_report(report: &LoadReport, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let (errors, warnings) = count(&report.files);
    match format {
        Format::Json => {
            let files: Vec<serde_json::Value> = report
                .files
                .iter()
                .map(|f| serde_json::json!({ "file": f.file.name, "valid": !f.has_errors(), "diagnostics": f.to_json() }))
                .collect();
            let v = serde_json::json!({ "valid": errors == 0, "errors": errors, "warnings": warnings, "files": files });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        Format::Short | Format::Human => {
            for f in &report.files {
                if f.diagnostics.is_empty() {
                    continue;
                }
                let text = if matches!(format, Format::Short) { f.render_short() } else { f.render_human() };
                write!(out, "{text}")?;
            }
            let n = report.files.len();
            let files = if n == 1 { "file" } else { "files" };
            if errors == 0 {
                writeln!(out, "ok: {n} {files} valid ({warnings} warning{})", if warnings == 1 { "" } else { "s" })?;
            } else {
                writeln!(
                    out,
                    "failed: {errors} error{} and {warnings} warning{} in {n} {files}",
                    if errors == 1 { "" } else { "s" },
                    if warnings == 1 { "" } else { "s" }
                )?;
            }
        }
    }
    Ok(())
}

fn count(files: &[FileDiagnostics]) -> (usize, usize) {
    let errors = files.iter().flat_map(|f| &f.diagnostics).filter(|d| d.is_error()).count();
    let all = files.iter().map(|f| f.diagnostics.len()).sum::<usize>();
    (errors, all - errors)
}

pub(crate) fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let registry = crate::registry();
    let report = load_paths(&args.paths, &registry);
    print_report(&report, args.format)?;
    crate::settings::warn_short_secrets(&crate::settings::secrets(args.secrets.as_ref())?);
    Ok(if report.has_errors() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
