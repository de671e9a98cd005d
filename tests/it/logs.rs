//! What `reqflow serve` logs, as an on-call engineer reads it, in both
//! `--log-format`s: one line per finished run (a failure with its step, error
//! class and message), one per retry scheduled, with the run's span fields;
//! no secret in either format.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Serve, Vendor, post_json, temp_dir};

const TOKEN: &str = "logs-hook-token-8Hq2x";
const VENDOR_KEY: &str = "logs-vendor-key-Pz71c";

fn workflow(vendor_port: u16) -> String {
    format!(
        r#"id: invite
trigger:
  webhook:
    path: logs/invite
    auth: {{ bearer: "{{{{ secrets.HOOK_TOKEN }}}}" }}
connections:
  vendor: {{ type: http, base_url: "http://127.0.0.1:{vendor_port}", auth: {{ bearer: "{{{{ secrets.VENDOR_KEY }}}}" }} }}
steps:
  - id: invite
    action: http.request
    connection: vendor
    with: {{ method: POST, path: /invites, json: {{ id: "{{{{ event.body.id }}}}", key: "{{{{ secrets.VENDOR_KEY }}}}" }} }}
    retry: {{ attempts: 3, initial: 50ms, max: 100ms, jitter: 0 }}
"#
    )
}

/// Runs one failing and one succeeding run under `--log-format FORMAT`;
/// returns the log and the two run ids.
fn run_two(format: &str) -> (String, String, String) {
    let dir = temp_dir(&format!("logs-{format}"));
    let vendor = Vendor::start();
    // The first run: 503 (retried), then 422 (permanent). The second: 201.
    vendor.script(vec![(503, Duration::ZERO), (422, Duration::ZERO)], (201, Duration::ZERO));
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    std::fs::write(dir.join("wf/invite.yaml"), workflow(vendor.port)).expect("workflow");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let env = [("REQFLOW_SECRET_HOOK_TOKEN", TOKEN), ("REQFLOW_SECRET_VENDOR_KEY", VENDOR_KEY)];
    let serve =
        Serve::start_with(crate::harness::free_port(), &dir.join("wf"), &db, &env, &dir, &["--log-format", format]);
    let auth = format!("Bearer {TOKEN}");
    let mut ids = Vec::new();
    for id in ["c-fail", "c-ok"] {
        let r =
            post_json(serve.port, "/hooks/logs/invite", &[("Authorization", &auth)], &json!({ "id": id }).to_string());
        assert_eq!(r.status, 202, "{}", r.body);
        let run_id = r.json()["run_id"].as_str().expect("run_id").to_owned();
        serve.wait_run(&run_id, Duration::from_secs(20));
        ids.push(run_id);
    }
    std::thread::sleep(Duration::from_millis(200));
    let log = serve.log_text();
    for secret in [TOKEN, VENDOR_KEY] {
        assert!(!log.contains(secret), "a secret is in the {format} log:\n{log}");
    }
    (log, ids.remove(0), ids.remove(0))
}

#[test]
fn a_failed_run_is_one_log_line_with_its_step_and_error_text() {
    let (log, failed, ok) = run_two("text");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&failed) && l.contains("run failed")).collect();
    assert_eq!(lines.len(), 1, "one line for the failed run:\n{log}");
    let line = lines[0];
    // The timestamp: ISO 8601, UTC, milliseconds, like every other time reqflow shows.
    let stamp = line.split_whitespace().next().unwrap_or_default();
    assert!(stamp.len() == 24 && stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.', "{line}");
    for part in ["WARN", "workflow=invite", "step=invite", "class=permanent", "422", "duration_ms="] {
        assert!(line.contains(part), "`{part}` in: {line}");
    }
    let retry = log.lines().find(|l| l.contains("retry scheduled")).unwrap_or_else(|| panic!("no retry line:\n{log}"));
    for part in [failed.as_str(), "step=invite", "attempt=2", "delay_ms=50", "503"] {
        assert!(retry.contains(part), "`{part}` in: {retry}");
    }
    let done = log.lines().find(|l| l.contains(&ok) && l.contains("run finished"));
    assert!(done.is_some_and(|l| l.contains("status=\"succeeded\"") || l.contains("status=succeeded")), "{log}");
}

#[test]
fn a_failed_run_is_one_json_object_with_span_fields() {
    let (log, failed, ok) = run_two("json");
    let objects: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {l}")))
        .collect();
    assert!(!objects.is_empty(), "no JSON lines:\n{log}");
    let failures: Vec<&Value> =
        objects.iter().filter(|o| o["fields"]["message"] == "run failed" && o["fields"]["run_id"] == failed).collect();
    assert_eq!(failures.len(), 1, "one object for the failed run:\n{log}");
    let f = &failures[0]["fields"];
    assert_eq!(failures[0]["level"], "WARN");
    assert!(failures[0]["timestamp"].as_str().is_some_and(|t| t.len() == 24 && t.ends_with('Z')), "{}", failures[0]);
    assert_eq!(f["workflow"], "invite");
    assert_eq!(f["step"], "invite");
    assert_eq!(f["class"], "permanent");
    assert!(f["error"].as_str().is_some_and(|e| e.contains("422")), "{f}");
    let retry = objects
        .iter()
        .find(|o| o["fields"]["message"] == "retry scheduled")
        .unwrap_or_else(|| panic!("no retry object:\n{log}"));
    assert_eq!(retry["fields"]["attempt"], 2);
    // Spans: the retry is logged inside the run's span, which names the run.
    let spans = retry["spans"].as_array().cloned().unwrap_or_default();
    assert!(spans.iter().any(|s| s["name"] == "run" && s["run_id"] == failed), "the run span: {retry}");
    assert!(
        objects.iter().any(|o| o["fields"]["message"] == "run finished" && o["fields"]["run_id"] == ok),
        "the succeeded run is logged too:\n{log}"
    );
}

#[test]
fn a_schedule_whose_settings_are_missing_does_not_fire_and_says_so_once() {
    let dir = temp_dir("logs-unset");
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    let yaml = "id: poll\ntrigger: { schedule: { every: 1s } }\nsteps:\n  - id: host\n    map: { url: \"{{ vars.POLL_HOST }}/x\" }\n";
    std::fs::write(dir.join("wf/poll.yaml"), yaml).expect("workflow");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let serve = Serve::start_with(crate::harness::free_port(), &dir.join("wf"), &db, &[], &dir, &[]);
    std::thread::sleep(Duration::from_millis(3000));
    let log = serve.log_text();
    assert!(
        log.contains("not set: vars.POLL_HOST (its schedule does not fire until they are"),
        "listed at start:\n{log}"
    );
    assert_eq!(log.matches("schedule does not fire: settings it reads are not set").count(), 1, "said once:\n{log}");
    assert!(crate::harness::all_runs(&serve, "").is_empty(), "no run failed every second");
    drop(serve);

    // With the var set, it fires.
    let serve = Serve::start_with(
        crate::harness::free_port(),
        &dir.join("wf"),
        &db,
        &[("REQFLOW_VAR_POLL_HOST", "https://poll.example")],
        &dir,
        &[],
    );
    crate::harness::wait_for(|| !crate::harness::all_runs(&serve, "").is_empty(), "a scheduled run");
    let runs = crate::harness::all_runs(&serve, "");
    let run = serve.wait_run(runs[0]["run_id"].as_str().expect("id"), Duration::from_secs(20));
    assert_eq!(run["steps"][0]["output"], json!({ "url": "https://poll.example/x" }));
}
