//! `reqflow graph`, `reqflow schema`, `reqflow openapi`, `reqflow actions`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use reqflow_engine::load::load_file;
use reqflow_engine::schema::workflow_schema;

use crate::validate::{Format, print_report};

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub(crate) enum GraphFormat {
    /// Graphviz DOT.
    #[default]
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

#[derive(Args, Debug)]
pub(crate) struct GraphArgs {
    /// A workflow file.
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: GraphFormat,
}

pub(crate) fn graph(args: GraphArgs) -> anyhow::Result<ExitCode> {
    let loaded = load_file(&args.file, &crate::registry());
    let Some(wf) = loaded.workflow else {
        let report = reqflow_engine::load::LoadReport { workflows: vec![], files: vec![loaded.report] };
        print_report(&report, Format::Human)?;
        return Ok(ExitCode::FAILURE);
    };
    let text = match args.format {
        GraphFormat::Dot => reqflow_engine::graph_view::dot(&wf),
        GraphFormat::Mermaid => reqflow_engine::graph_view::mermaid(&wf),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
pub(crate) struct SchemaArgs {
    /// Compare this checked-in schema with the generated one; exit 1 if it is stale.
    #[arg(long, conflicts_with = "write")]
    check: Option<PathBuf>,
    /// Write the schema to this file.
    #[arg(long)]
    write: Option<PathBuf>,
}

/// The schema text exactly as checked in.
pub(crate) fn schema_text() -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&workflow_schema(&crate::registry()))? + "\n")
}

pub(crate) fn schema(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    check_or_write(args, &schema_text()?, "schema")
}

/// The OpenAPI document exactly as checked in (`schemas/openapi.json`).
pub(crate) fn openapi_text() -> anyhow::Result<String> {
    let doc = reqflow_server::openapi::try_document()?;
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}

pub(crate) fn openapi(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    check_or_write(args, &openapi_text()?, "openapi")
}

/// `--check FILE`, `--write FILE`, or print: `command` names the regenerating command.
fn check_or_write(args: SchemaArgs, text: &str, command: &str) -> anyhow::Result<ExitCode> {
    if let Some(path) = args.check {
        let current = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if current != text {
            eprintln!("{} is stale: regenerate it with `reqflow {command} --write {}`", path.display(), path.display());
            return Ok(ExitCode::FAILURE);
        }
        println!("{} is current", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(path) = args.write {
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
pub(crate) struct ActionsArgs {
    /// An action (`http.request`) or connection type to describe.
    name: Option<String>,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn actions(args: ActionsArgs) -> anyhow::Result<ExitCode> {
    let registry = crate::registry();
    if let Some(name) = args.name {
        if let Some(a) = registry.action(&name) {
            let doc = a.doc();
            if args.json {
                println!("{}", serde_json::to_string_pretty(doc)?);
            } else {
                println!("{} — {}", doc.info.kind, doc.info.summary);
                if let Some(c) = &doc.info.connection {
                    let opt = if doc.info.connection_optional { " (optional)" } else { "" };
                    println!("connection: type `{c}`{opt}");
                }
                if !doc.info.docs.is_empty() {
                    println!("\n{}", doc.info.docs.trim());
                }
                println!("\nparameters (`with:`), as JSON Schema:\n{}", serde_json::to_string_pretty(&doc.params)?);
                println!("\nexample:\n{}", serde_json::to_string_pretty(&doc.info.example)?);
            }
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(c) = registry.connection_type(&name) {
            if args.json {
                println!("{}", serde_json::to_string_pretty(c)?);
            } else {
                println!("connection type `{}` — {}\n{}", c.name, c.summary, serde_json::to_string_pretty(&c.schema)?);
            }
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!("no action or connection type named `{name}` (run `reqflow actions` for the list)");
        return Ok(ExitCode::FAILURE);
    }
    if args.json {
        let docs: Vec<_> = registry.actions().map(|a| a.doc().clone()).collect();
        let conns: Vec<_> = registry.connection_types().cloned().collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "actions": docs, "connection_types": conns }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("actions:");
    for a in registry.actions() {
        let d = a.doc();
        println!("  {:<36} {}", d.info.kind, d.info.summary);
    }
    println!("connection types:");
    for c in registry.connection_types() {
        println!("  {:<36} {}", c.name, c.summary);
    }
    Ok(ExitCode::SUCCESS)
}
