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
                println!("\nparameters (`with:`; `--json` prints the JSON Schema):\n{}", params_table(&doc.params));
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

/// Whether a schema is a Workday reference: an ID of the object's usual
/// type (string or number) or `{type, id}`.
fn is_reference(v: &serde_json::Value) -> bool {
    let Some(alts) = v.get("anyOf").and_then(|a| a.as_array()) else { return false };
    alts.len() == 3
        && alts.iter().any(|a| a["type"] == "string")
        && alts.iter().any(|a| a["type"] == "integer")
        && alts.iter().any(|a| a["properties"].get("type").is_some() && a["properties"].get("id").is_some())
}

/// A short type name for a parameter's schema (`string`, `list of string`,
/// `reference`, `one of a|b`); `null` alternatives are left out (they make a
/// parameter optional, which the table says).
fn type_name(v: &serde_json::Value) -> String {
    use serde_json::Value;
    if is_reference(v) {
        return "reference".into();
    }
    if let Some(e) = v.get("enum").and_then(Value::as_array) {
        let names: Vec<String> =
            e.iter().filter(|x| !x.is_null()).map(|x| x.as_str().map(str::to_owned).unwrap_or(x.to_string())).collect();
        return format!("one of {}", names.join("|"));
    }
    if let Some(alts) = v.get("anyOf").or_else(|| v.get("oneOf")).and_then(Value::as_array) {
        let names: Vec<String> = alts.iter().filter(|a| a["type"] != "null").map(type_name).collect();
        return names.join(" or ");
    }
    let types: Vec<&str> = match &v["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
        _ => vec![],
    };
    let names = types
        .iter()
        .map(|t| match *t {
            "array" => format!("list of {}", v.get("items").map(type_name).unwrap_or_else(|| "any".into())),
            other => other.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" or ");
    if names.is_empty() { "any".into() } else { names }
}

/// The parameters of an action as a table: name, type, required, default,
/// and the description; the `reference` type explained once.
fn params_table(schema: &serde_json::Value) -> String {
    use std::fmt::Write as _;
    let required: Vec<&str> =
        schema["required"].as_array().map(|r| r.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
    let Some(props) = schema["properties"].as_object() else { return "  (none)\n".into() };
    let rows: Vec<[String; 5]> = props
        .iter()
        .map(|(name, p)| {
            let default = match p.get("default") {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(d) => d.to_string(),
            };
            let doc = p["description"].as_str().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
            let req = if required.contains(&name.as_str()) { "yes" } else { "" };
            [name.clone(), type_name(p), req.into(), default, doc]
        })
        .collect();
    let header = ["name", "type", "required", "default", "description"];
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0);
    let w: Vec<usize> = (0..4).map(width).collect();
    let mut out = String::new();
    for r in std::iter::once(header.map(str::to_owned)).chain(rows.iter().cloned()) {
        let _ = writeln!(
            out,
            "  {:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3]
        );
    }
    if rows.iter().any(|r| r[1].contains("reference")) {
        out.push_str(
            "\n  reference: a Workday object, as an ID of its usual type (a string, or a number), e.g.\n  \
             `\"CAND-1182\"` for a candidate, or `{type, id}` with `type` one of its ID types (always `WID`).\n",
        );
    }
    out
}
