//! `reqflow test [PATH...]`: run the test cases workflows carry.
//!
//! A workflow's cases live in its `tests:` block or in a sibling
//! `NAME.test.yaml` (a list of cases, or `tests:` with the list). Each case
//! runs through the real engine on a temporary SQLite store; action steps
//! are answered by stubs, so nothing leaves the machine — or, with
//! `sandbox: true`, by a `reqflow sandbox` started in process for the case
//! (seeded, or from `sandbox: { state: FILE }`), whose URL the case's vars
//! and secrets (and the strings of its `body`) read as `{{ sandbox.url }}`;
//! `expect.requests` then checks what the sandbox received, and
//! `expect.sandbox` what it holds afterwards (`GET` a `/_sandbox/…` path:
//! some object in the answer has the fields given, e.g. an attachment's
//! `sha256`).
//!
//! ```yaml
//! tests:
//!   - name: invites a candidate who reaches Phone Screen
//!     body: { id: "c1", data: { stage: "Phone Screen", email: "Ada@Example.com" } }  # webhook/SOAP body
//!     secrets: { VENDOR_KEY: test }       # optional
//!     vars: { VENDOR_URL: https://vendor.example }   # optional
//!     stub:
//!       invite: { output: { status: 201 } }
//!       note: { error: "vendor down", retryable: true }
//!     expect:
//!       status: succeeded                 # or failed, ignored, duplicate
//!       steps:
//!         fields: { output: { email: ada@example.com } }   # subset match
//!         note: { status: failed }
//!       calls:                            # what stubbed steps were asked to send (their `with:`)
//!         invite: { json: { email: ada@example.com } }
//!   - name: the same against the sandbox
//!     sandbox: true
//!     vars: { WORKABLE_BASE_URL: "{{ sandbox.url }}" }
//!     secrets: { WORKABLE_TOKEN: t }
//!     expect:
//!       requests:                         # what the sandbox received (each at least once, or `count` times)
//!         - { method: POST, path: /spi/v3/candidates/c1/comments, body: { policy: [recruiter] } }
//!       sandbox:                          # what the sandbox holds after the run
//!         - { get: /_sandbox/workday/attachments, has: { filename: report.pdf, sha256: "…" } }
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use reqflow_engine::action::ActionError;
use reqflow_engine::compile::{CompiledTrigger, CompiledWorkflow};
use reqflow_engine::load::{LoadReport, load_file, workflow_files};
use reqflow_engine::runtime::clock::{now_ms, rfc3339};
use reqflow_engine::runtime::{Engine, EngineConfig, EventIn, Inbound, Origin, Secrets, Settings, Stub, Vars};
use reqflow_engine::store::Accepted;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::validate::{Format, print_report};

#[derive(Args, Debug)]
pub(crate) struct TestArgs {
    /// Workflow files or directories (default: `workflows/`).
    paths: Vec<PathBuf>,
    /// Print each case's steps: status, attempts and output.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    headers: HashMap<String, String>,
    #[serde(default)]
    event: Option<Value>,
    #[serde(default)]
    secrets: HashMap<String, String>,
    #[serde(default)]
    vars: HashMap<String, String>,
    #[serde(default)]
    stub: HashMap<String, StubSpec>,
    #[serde(default)]
    sandbox: Option<SandboxSpec>,
    #[serde(default)]
    expect: Expect,
}

/// `sandbox: true`, or `sandbox: { state: FILE }` (a file written by `reqflow sandbox --state`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SandboxSpec {
    On(bool),
    With {
        #[serde(default)]
        state: Option<PathBuf>,
    },
}

/// A request the sandbox must have received.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestExpect {
    #[serde(default)]
    method: Option<String>,
    path: String,
    /// Subset of the JSON body.
    #[serde(default)]
    body: Option<Value>,
    /// Text the body contains (e.g. an XML element).
    #[serde(default)]
    contains: Option<String>,
    /// Exactly this many matching requests (default: at least one).
    #[serde(default)]
    count: Option<usize>,
}

/// Something the sandbox holds after the run: `GET get`, and some object in
/// the JSON answer (at any depth) has the fields of `has` (subset match).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SandboxExpect {
    get: String,
    has: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StubSpec {
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    retryable: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    steps: HashMap<String, Value>,
    #[serde(default)]
    calls: HashMap<String, Value>,
    #[serde(default)]
    requests: Vec<RequestExpect>,
    #[serde(default)]
    sandbox: Vec<SandboxExpect>,
}

/// Checks `expect.sandbox` against the sandbox at `base_url`.
async fn check_sandbox(base_url: &str, expected: &[SandboxExpect], out: &mut Vec<String>) {
    for (i, e) in expected.iter().enumerate() {
        let url = format!("{}/{}", base_url.trim_end_matches('/'), e.get.trim_start_matches('/'));
        let answer = match reqflow_actions::http::client().get(&url).send().await {
            Ok(r) => r.json::<Value>().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match answer {
            Ok(v) => {
                if !any_object_has(&e.has, &v) {
                    out.push(format!(
                        "sandbox[{i}]: no object in GET {} has {}; it answered {}",
                        e.get,
                        e.has,
                        short_json(&v)
                    ));
                }
            }
            Err(err) => out.push(format!("sandbox[{i}]: GET {}: {err}", e.get)),
        }
    }
}

/// Whether `v` or any value inside it matches `expected` as a subset.
fn any_object_has(expected: &Value, v: &Value) -> bool {
    let mut problems = Vec::new();
    subset(expected, v, "", &mut problems);
    if problems.is_empty() {
        return true;
    }
    match v {
        Value::Object(m) => m.values().any(|c| any_object_has(expected, c)),
        Value::Array(a) => a.iter().any(|c| any_object_has(expected, c)),
        _ => false,
    }
}

fn short_json(v: &Value) -> String {
    let t = v.to_string();
    if t.chars().count() > 400 { format!("{}…", t.chars().take(400).collect::<String>()) } else { t }
}

/// `{{ sandbox.url }}` replaced in every string of `v`.
fn resolve_strings(v: &mut Value, resolve: &dyn Fn(&String) -> String) {
    match v {
        Value::String(s) => *s = resolve(s),
        Value::Array(a) => a.iter_mut().for_each(|c| resolve_strings(c, resolve)),
        Value::Object(m) => m.values_mut().for_each(|c| resolve_strings(c, resolve)),
        _ => {}
    }
}

/// Problems with what the sandbox received, against `expect.requests`.
fn check_requests(expected: &[RequestExpect], received: &[Value], out: &mut Vec<String>) {
    for (i, e) in expected.iter().enumerate() {
        let matching = received
            .iter()
            .filter(|r| {
                e.method.as_deref().is_none_or(|m| r["method"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(m)))
            })
            .filter(|r| r["path"] == e.path.as_str())
            .filter(|r| e.contains.as_deref().is_none_or(|c| r["body"].as_str().is_some_and(|b| b.contains(c))))
            .filter(|r| {
                e.body.as_ref().is_none_or(|want| {
                    let got: Value = serde_json::from_str(r["body"].as_str().unwrap_or("")).unwrap_or(Value::Null);
                    let mut p = Vec::new();
                    subset(want, &got, "body", &mut p);
                    p.is_empty()
                })
            })
            .count();
        let what = format!("requests[{i}] ({} {})", e.method.as_deref().unwrap_or("any"), e.path);
        match e.count {
            Some(n) if n != matching => {
                out.push(format!("{what}: expected {n}, the sandbox received {matching}"));
                if matching == 0 {
                    out.extend(closest(e, received));
                }
            }
            None if matching == 0 => {
                let seen: Vec<String> = received
                    .iter()
                    .map(|r| format!("{} {}", r["method"].as_str().unwrap_or("?"), r["path"].as_str().unwrap_or("?")))
                    .collect();
                out.push(format!("{what}: the sandbox received no such request (it received: {})", seen.join(", ")));
                out.extend(closest(e, received));
            }
            _ => {}
        }
    }
}

/// The requests closest to an expected one (same path), with what differs:
/// what a person needs to see to fix either the workflow or the expectation.
fn closest(e: &RequestExpect, received: &[Value]) -> Vec<String> {
    received
        .iter()
        .filter(|r| r["path"] == e.path.as_str())
        .take(3)
        .map(|r| {
            let mut diffs = Vec::new();
            if let Some(m) = e.method.as_deref()
                && !r["method"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(m))
            {
                diffs.push(format!("method: expected {m}, got {}", r["method"].as_str().unwrap_or("?")));
            }
            let body = r["body"].as_str().unwrap_or("");
            if let Some(c) = e.contains.as_deref()
                && !body.contains(c)
            {
                diffs.push(format!("the body does not contain {c:?}"));
            }
            if let Some(want) = &e.body {
                let got: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                subset(want, &got, "body", &mut diffs);
            }
            let shown: String = body.chars().take(200).collect();
            format!(
                "  closest: {} {} — {}; its body: {shown}",
                r["method"].as_str().unwrap_or("?"),
                r["path"].as_str().unwrap_or("?"),
                diffs.join("; ")
            )
        })
        .collect()
}

/// A case's steps as `-v` prints them.
fn step_lines(steps: &[Value]) -> Vec<String> {
    steps
        .iter()
        .map(|s| {
            let attempts = s["attempts"].as_array().map_or(0, Vec::len);
            let detail = if s["error"].is_null() { &s["output"] } else { &s["error"] };
            let mut text = detail.to_string();
            if text.chars().count() > 160 {
                text = format!("{}…", text.chars().take(160).collect::<String>());
            }
            format!(
                "{:<24} {:<10} attempts {attempts}  {text}",
                s["id"].as_str().unwrap_or("?"),
                s["status"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

/// `expected` ⊆ `actual`: objects by key, lists element by element, scalars equal.
fn subset(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                let p = format!("{path}.{k}");
                match a.get(k) {
                    Some(av) => subset(v, av, &p, out),
                    None => out.push(format!("{p}: expected {v}, missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                subset(ev, av, &format!("{path}[{i}]"), out);
            }
        }
        (e, a) if e == a => {}
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => {}
        (e, a) => out.push(format!("{path}: expected {e}, got {a}")),
    }
}

fn cases_for(path: &Path, wf: &CompiledWorkflow) -> anyhow::Result<Vec<Case>> {
    let mut cases: Vec<Case> = Vec::new();
    if let Some(t) = &wf.tests {
        cases.extend(
            serde_json::from_value::<Vec<Case>>(t.value.to_json())
                .with_context(|| format!("{}: `tests:`", path.display()))?,
        );
    }
    let sibling = path.with_extension("").with_extension("test.yaml");
    if sibling.exists() {
        let text = std::fs::read_to_string(&sibling)?;
        let node = reqflow_engine::yaml::parse(&text, &Default::default())
            .map_err(|e| anyhow::anyhow!("{}: {e}", sibling.display()))?;
        let tree: reqflow_engine::yaml::Tree =
            reqflow_engine::yaml::from_node(&node).map_err(|e| anyhow::anyhow!("{}: {e}", sibling.display()))?;
        let mut v = tree.to_json();
        if let Some(t) = v.get_mut("tests") {
            v = t.take();
        }
        cases.extend(serde_json::from_value::<Vec<Case>>(v).with_context(|| format!("{}", sibling.display()))?);
    }
    Ok(cases)
}

fn payload(wf: &CompiledWorkflow, case: &Case) -> anyhow::Result<Value> {
    let now = rfc3339(now_ms());
    Ok(match &wf.trigger {
        CompiledTrigger::Webhook { .. } => json!({
            "body": case.body.clone().unwrap_or(Value::Null),
            "headers": case.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
            "query": {},
            "received_at": now,
        }),
        CompiledTrigger::Soap { operation, .. } => {
            let body = match &case.body {
                Some(Value::String(xml)) => {
                    reqflow_engine::xml::parse_soap(xml).map(|m| m.body).context("`body` is not a SOAP envelope")?
                }
                Some(v) => v.clone(),
                None => json!({}),
            };
            json!({ "body": body, "operation": operation, "header": {}, "headers": {}, "received_at": now })
        }
        _ => case.event.clone().or_else(|| case.body.clone()).unwrap_or_else(|| json!({})),
    })
}

async fn run_case(
    wf: &Arc<CompiledWorkflow>,
    case: &Case,
    dir: &Path,
    dir_of_case: &Path,
    index: usize,
    trace: &mut Vec<String>,
) -> anyhow::Result<Vec<String>> {
    let db = format!("sqlite://{}?synchronous=normal", dir.join(format!("case-{index}.db")).display());
    let store = reqflow_store::open(&db).await?;
    let sandbox = match &case.sandbox {
        None | Some(SandboxSpec::On(false)) => None,
        Some(SandboxSpec::On(true)) | Some(SandboxSpec::With { state: None }) => {
            Some(reqflow_sandbox::spawn(reqflow_sandbox::Sandbox::seeded()).await?)
        }
        Some(SandboxSpec::With { state: Some(file) }) => {
            let path = if file.is_relative() { dir_of_case.join(file) } else { file.clone() };
            let sb = reqflow_sandbox::Sandbox::from_file(&path)
                .with_context(|| format!("`sandbox.state`: {}", path.display()))?;
            Some(reqflow_sandbox::spawn(sb).await?)
        }
    };
    // `{{ sandbox.url }}` in a case's vars and secrets is the sandbox's address.
    let resolve = |v: &String| match &sandbox {
        Some(sb) => v.replace("{{ sandbox.url }}", &sb.base_url).replace("{{sandbox.url}}", &sb.base_url),
        None => v.clone(),
    };
    let mut secrets = Secrets::new();
    for (k, v) in &case.secrets {
        secrets.insert(k, resolve(v));
    }
    let mut vars = Vars::new();
    for (k, v) in &case.vars {
        vars.insert(k, resolve(v));
    }
    if sandbox.is_none() && !case.expect.requests.is_empty() {
        return Ok(vec!["`expect.requests` needs `sandbox: true` (without it, nothing leaves the machine)".into()]);
    }
    if sandbox.is_none() && !case.expect.sandbox.is_empty() {
        return Ok(vec!["`expect.sandbox` needs `sandbox: true`".into()]);
    }
    let config = EngineConfig {
        require_stubs: sandbox.is_none(),
        retry_delays: false,
        run_schedules: false,
        // The case's store is deleted with it: a key for this process only.
        state_key: Some(crate::at_rest::ephemeral()?),
        ..EngineConfig::default()
    };
    let engine = Engine::new(store, Arc::new(crate::registry()), Settings::new(secrets, vars), config);
    engine.load(vec![wf.clone()]).await?;
    let running = engine.start();
    let run_id = reqflow_engine::runtime::trigger::new_id();
    let event = EventIn {
        workflow: wf.id.clone(),
        origin: Origin::Direct,
        payload: {
            let mut p = payload(wf, case)?;
            if sandbox.is_some() {
                resolve_strings(&mut p, &resolve);
            }
            p
        },
        received_at: now_ms(),
        run_id: Some(run_id.clone()),
    };
    let stubs: HashMap<String, Stub> = case
        .stub
        .iter()
        .map(|(k, s)| {
            let stub = match (&s.output, &s.error) {
                (_, Some(msg)) => Stub::Error(if s.retryable {
                    ActionError::retryable(msg.clone())
                } else {
                    ActionError::permanent(msg.clone())
                }),
                (Some(o), None) => Stub::Output(o.clone()),
                (None, None) => Stub::Output(Value::Null),
            };
            (k.clone(), stub)
        })
        .collect();
    engine.stub_run(&run_id, stubs);
    let mut problems = Vec::new();
    let accepted = engine.accept(Inbound::Event(event)).await?;
    let run_id = match accepted {
        Accepted::Queued { run_id } => run_id,
        Accepted::Ignored { .. } | Accepted::Duplicate { .. } | Accepted::Invalid { .. } => {
            let (status, why) = match &accepted {
                Accepted::Ignored { .. } => ("ignored", String::new()),
                Accepted::Invalid { reason, .. } => ("invalid", format!(": {reason}")),
                _ => ("duplicate", String::new()),
            };
            if case.expect.status.as_deref() != Some(status) {
                problems.push(format!("the event was {status}{why} (the trigger's `when:`/`dedupe:`), expected a run"));
            }
            running.shutdown().await;
            return Ok(problems);
        }
    };
    engine.wait_for(&run_id, Duration::from_secs(60)).await?;
    let detail = engine.run_detail(&run_id).await?.unwrap_or(Value::Null);
    running.shutdown().await;
    let status = detail["run"]["status"].as_str().unwrap_or("?");
    let want = case.expect.status.as_deref().unwrap_or("succeeded");
    if status != want {
        let why = detail["run"]["error"]["message"].as_str().map(|m| format!(" ({m})")).unwrap_or_default();
        problems.push(format!("run status: expected {want}, got {status}{why}"));
    }
    let steps = detail["steps"].as_array().cloned().unwrap_or_default();
    *trace = step_lines(&steps);
    let find = |id: &str| steps.iter().find(|s| s["id"] == id).cloned();
    let mut ids: Vec<&String> = case.expect.steps.keys().collect();
    ids.sort();
    for id in ids {
        match find(id) {
            None => problems.push(format!("step `{id}` did not run")),
            Some(actual) => subset(&case.expect.steps[id], &actual, &format!("steps.{id}"), &mut problems),
        }
    }
    let mut calls: Vec<&String> = case.expect.calls.keys().collect();
    calls.sort();
    for id in calls {
        let input =
            find(id).and_then(|s| s["attempts"].as_array().and_then(|a| a.last().cloned())).map(|a| a["input"].clone());
        match input {
            None => problems.push(format!("step `{id}` was never called")),
            Some(input) => subset(&case.expect.calls[id], &input, &format!("calls.{id}"), &mut problems),
        }
    }
    if let Some(sb) = &sandbox {
        check_requests(&case.expect.requests, &sb.sandbox.requests(), &mut problems);
        check_sandbox(&sb.base_url, &case.expect.sandbox, &mut problems).await;
    }
    Ok(problems)
}

pub(crate) fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let paths = if args.paths.is_empty() { vec![PathBuf::from("workflows")] } else { args.paths };
    let registry = crate::registry();
    let mut files = Vec::new();
    for p in &paths {
        files.extend(workflow_files(p).with_context(|| format!("cannot read {}", p.display()))?);
    }
    let rt = crate::serve::runtime()?;
    let dir = std::env::temp_dir().join(format!("reqflow-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (mut passed, mut failed, mut untested) = (0usize, 0usize, Vec::new());
    for file in files {
        let loaded = load_file(&file, &registry);
        let Some(wf) = loaded.workflow else {
            print_report(&LoadReport { workflows: vec![], files: vec![loaded.report] }, Format::Human)?;
            failed += 1;
            continue;
        };
        let cases = cases_for(&file, &wf)?;
        if cases.is_empty() {
            untested.push(wf.id.clone());
            continue;
        }
        println!("{} ({})", wf.id, file.display());
        for (i, case) in cases.iter().enumerate() {
            let mut trace = Vec::new();
            let problems =
                rt.block_on(run_case(&wf, case, &dir, file.parent().unwrap_or(Path::new(".")), i, &mut trace))?;
            if problems.is_empty() {
                passed += 1;
                println!("  ok     {}", case.name);
            } else {
                failed += 1;
                println!("  FAILED {}", case.name);
                for p in problems {
                    println!("         {p}");
                }
            }
            if args.verbose {
                for line in trace {
                    println!("           {line}");
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if !untested.is_empty() {
        println!("no test cases: {}", untested.join(", "));
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
