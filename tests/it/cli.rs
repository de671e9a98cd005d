//! The `reqflow` binary as a user runs it.

use std::io::Write;

use crate::{data, reqflow};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = reqflow().args(args).output().expect("run reqflow");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("reqflow-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).expect("create");
    f.write_all(bytes).expect("write");
    p
}

#[test]
fn validate_exits_0_on_valid_and_1_on_invalid() {
    let (code, out, _) = run(&["validate", "tests/data/compile/ok"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok: 6 files valid (1 warning)"), "{out}");
    let (code, out, _) = run(&["validate", "tests/data/compile/err/cycle.yaml"]);
    assert_eq!(code, 1);
    assert!(out.contains("tests/data/compile/err/cycle.yaml:6:13"), "{out}");
    assert!(out.contains("a -> c -> b -> a"), "{out}");
}

#[test]
fn warnings_do_not_fail_validation() {
    let (code, out, _) = run(&["validate", "--format", "short", "tests/data/compile/ok/open_endpoint.yaml"]);
    assert_eq!(code, 0);
    assert!(out.contains("warning[W0001]: this endpoint accepts requests from anyone"), "{out}");
}

#[test]
fn validate_json_gives_positions_for_machines() {
    let (code, out, _) = run(&["validate", "--format", "json", "tests/data/compile/err/unknown_needs.yaml"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["valid"], false);
    let d = &v["files"][0]["diagnostics"][0];
    assert_eq!(d["code"], "E0102");
    assert_eq!(d["line"], 7);
    assert_eq!(d["column"], 13);
    assert_eq!(d["help"], "did you mean `fields`?");
}

#[test]
fn hostile_files_get_a_clear_error_and_exit_1() {
    let big = temp_file("big.yaml", &vec![b'#'; 10 * 1024 * 1024]);
    let not_utf8 = temp_file("latin1.yaml", b"id: caf\xe9\ntrigger: { manual: {} }\n");
    let deep = temp_file("deep.yaml", format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).as_bytes());
    let cases = [
        (big, "the file is 10.5 MB; workflow files are limited to 1024 KiB"),
        (not_utf8, "the file is not UTF-8: invalid byte at offset 7 (line 1)"),
        (deep, "nesting is deeper than 64 levels"),
        (data("compile/err/alias_bomb.yaml"), "refusing to load it"),
        (data("compile/err/not_yaml.yaml"), "invalid YAML"),
    ];
    for (path, want) in cases {
        let started = std::time::Instant::now();
        let (code, out, err) = run(&["validate", "--format", "short", path.to_str().expect("utf8 path")]);
        assert_eq!(code, 1, "{}: {out}{err}", path.display());
        assert!(out.contains(want), "{}: expected {want:?} in {out}", path.display());
        assert!(!err.contains("panicked"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "must not hang");
    }
}

#[test]
fn eval_prints_typed_json() {
    let data = data("payloads/workable-candidate-moved.json");
    let data = data.to_str().expect("utf8");
    let (code, out, _) = run(&["eval", "$.event.body.data.email", "--data", data]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "\"ada.lovelace@example.com\"");
    let (code, out, _) = run(&["eval", "{{ event.body.data.stage == 'Phone Screen' }}", "--data", data]);
    assert_eq!((code, out.trim()), (0, "true"));
    let (code, out, _) =
        run(&["eval", "{{ event.body.data.firstname }} {{ event.body.data.lastname | upper }}", "--data", data]);
    assert_eq!((code, out.trim()), (0, "\"Ada LOVELACE\""));
}

#[test]
fn eval_points_at_the_error_in_a_bad_expression() {
    let (code, _, err) = run(&["eval", "{{ event.body.data. }}"]);
    assert_eq!(code, 1);
    assert!(err.contains("error[E0109]: invalid template"), "{err}");
    assert!(err.contains("<value>:1:"), "{err}");
    assert!(err.contains('^'), "caret under the problem: {err}");
    let (code, _, err) = run(&["eval", "$.event[", "--data", "tests/data/payloads/workable-candidate-moved.json"]);
    assert_eq!(code, 1);
    assert!(err.contains("error[E0108]: invalid JSONPath"), "{err}");
}

#[test]
fn graph_prints_dot_and_mermaid() {
    let (code, out, _) = run(&["graph", "tests/data/compile/ok/fan_out.yaml"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("digraph \"fan-out\""), "{out}");
    assert!(out.contains("invite -> join;") && out.contains("per_email -> join;"), "{out}");
    let (code, out, _) = run(&["graph", "--format", "mermaid", "tests/data/compile/ok/fan_out.yaml"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("flowchart TD"), "{out}");
    assert!(out.contains("fields --> per_email"), "{out}");
}

#[test]
fn graph_of_an_invalid_file_shows_why() {
    let (code, out, _) = run(&["graph", "tests/data/compile/err/cycle.yaml"]);
    assert_eq!(code, 1);
    assert!(out.contains("E0103"), "{out}");
}

#[test]
fn test_runs_the_cases_workflows_carry() {
    let (code, out, err) = run(&["test", "workflows/"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok     interview_started turns protection on"), "{out}");
    assert!(out.contains("ok     maps the Studio envelope"), "{out}");
    assert!(out.contains(" passed, 0 failed"), "{out}");
}

#[test]
fn a_failing_case_says_what_differed() {
    let dir = std::env::temp_dir().join(format!("reqflow-it-testcmd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("w.yaml"),
        r#"id: scoring
trigger: { manual: {} }
connections:
  vendor: { type: http, base_url: "https://vendor.example" }
steps:
  - id: score
    map: { total: "{{ event.a + event.b }}" }
  - id: send
    action: http.request
    connection: vendor
    with: { method: POST, path: /scores, json: { total: "{{ steps.score.output.total }}" } }
tests:
  - name: adds up
    event: { a: 2, b: 3 }
    stub: { send: { output: { status: 200 } } }
    expect:
      steps: { score: { output: { total: 6 } } }
      calls: { send: { json: { total: 5 } } }
  - name: forgets a stub
    event: { a: 1, b: 1 }
"#,
    )
    .expect("write");
    let (code, out, _) = run(&["test", dir.to_str().expect("utf8")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED adds up"), "{out}");
    assert!(out.contains("steps.score.output.total: expected 6, got 5"), "{out}");
    assert!(out.contains("FAILED forgets a stub"), "{out}");
    assert!(out.contains("the test gives it no stub"), "{out}");
    assert!(out.contains("0 passed, 2 failed"), "{out}");
}

#[test]
fn history_commands_refuse_a_database_that_does_not_exist() {
    let dir = crate::harness::temp_dir("cli-nodb");
    let db = dir.join("typo.db");
    let url = format!("sqlite://{}", db.display());
    for args in [vec!["runs", "list", "--db", &url], vec!["events", "list", "--db", &url], vec!["audit", "--db", &url]]
    {
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("no database at") && err.contains("typo.db"), "{err}");
        assert!(!db.exists(), "{args:?} created an empty database");
    }
}

#[test]
fn a_trial_run_writes_no_database_unless_told() {
    let dir = crate::harness::temp_dir("cli-run");
    let wf = dir.join("hello.yaml");
    std::fs::write(
        &wf,
        "id: hello\ntrigger: { manual: {} }\nsteps:\n  - id: greet\n    map: { text: \"Hi {{ event.name }}\" }\n",
    )
    .expect("workflow");
    let event = dir.join("event.json");
    std::fs::write(&event, r#"{"name": "Ada"}"#).expect("event");
    let out = reqflow()
        .current_dir(&dir)
        .env("REQFLOW_DB", format!("sqlite://{}", dir.join("production.db").display()))
        .args(["run", "hello.yaml", "--event", "event.json"])
        .output()
        .expect("reqflow run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Hi Ada"));
    let files: Vec<_> = std::fs::read_dir(&dir).expect("dir").filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert_eq!(files.len(), 2, "only the workflow and the event are there: {files:?}");
}

#[test]
fn help_help_works_and_a_closed_stdout_ends_quietly() {
    let (code, out, err) = run(&["help", "--help"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Usage: reqflow"), "{out}");
    let (_, out, _) = run(&["bench", "--help"]);
    for b in ["runtime", "seed", "connectors", "compile", "console"] {
        assert!(out.contains(b), "bench --help lists {b}: {out}");
    }
    // `reqflow actions | head -1`: the reader goes away after one line.
    let mut child = reqflow()
        .args(["actions"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn actions_name_prints_the_parameters_as_a_table() {
    let (code, out, err) = run(&["actions", "workday.candidates.move"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("name") && out.contains("type") && out.contains("required") && out.contains("default"),
        "{out}"
    );
    let row = out.lines().find(|l| l.trim_start().starts_with("job_application")).unwrap_or_default();
    assert!(row.contains("reference") && row.contains("Give exactly one of"), "{row}");
    assert_eq!(out.matches("reference: a Workday object").count(), 1, "explained once: {out}");
    assert!(!out.contains("\"anyOf\""), "no raw schema in the table view");
    let (_, out, _) = run(&["actions", "workable.candidates.comment"]);
    let row = out.lines().find(|l| l.trim_start().starts_with("id ")).unwrap_or_default();
    assert!(row.contains("string") && row.contains("yes"), "required parameters say so: {row}");
    let (code, out, _) = run(&["actions", "workday.candidates.move", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert!(v["params"]["properties"]["job_application"].is_object(), "--json keeps the schema");
}

#[test]
fn a_failing_request_expectation_shows_the_closest_requests_received() {
    let dir = crate::harness::temp_dir("cli-closest");
    for f in ["workable-phone-screen.yaml", "workable-phone-screen.test.yaml"] {
        let text = std::fs::read_to_string(crate::root().join("workflows").join(f)).expect("read");
        std::fs::write(dir.join(f), text.replace("email: ada.lovelace@example.com }", "email: grace@example.com }"))
            .expect("write");
    }
    let out = reqflow().args(["test", "-v"]).arg(&dir).output().expect("reqflow test");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("closest: POST /vendor/interviews/invites"), "{text}");
    assert!(text.contains("grace@example.com") && text.contains("ada.lovelace@example.com"), "{text}");
    assert!(text.contains("succeeded  attempts 1"), "-v prints the steps: {text}");
}

/// `bench erase` fills a store of the current schema with bulk SQL: a small
/// one erases exactly the subject's rows (the fill follows the migrations).
#[test]
fn bench_erase_fills_the_current_schema_and_erases_the_subject() {
    let (code, out, err) = run(&["bench", "erase", "--events", "200", "--subject-events", "10", "--json"]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).expect("json");
    let d = &r["deleted"];
    assert_eq!((d["events"].as_u64(), d["runs"].as_u64()), (Some(10), Some(10)), "{r}");
    assert_eq!((d["attempts"].as_u64(), d["step_results"].as_u64()), (Some(20), Some(20)), "{r}");
}
