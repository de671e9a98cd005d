//! A retry that follows a fix, through the real `reqflow serve` and
//! `reqflow runs retry`: a `map:` step's lookup table is fixed, the retry on
//! the latest version re-runs it and what is downstream of it (the answer
//! says so) and succeeds with the fixed value; unchanged succeeded steps are
//! reused; `--from` re-runs a chosen step and what follows it.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Serve, Vendor, free_port, screen_workflow, temp_dir};

fn start(dir: &Path, db: &str) -> Serve {
    Serve::start_with(free_port(), &dir.join("wf"), db, &[], dir, &[])
}

fn sorted(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_owned)).collect();
    s.sort();
    s
}

#[test]
fn a_retry_on_the_latest_version_reruns_the_fixed_step_and_what_follows() {
    let dir = temp_dir("retry-fix");
    let vendor = Vendor::start();
    // The vendor knows no agent `stale-agent`: 422, a permanent failure.
    vendor.script(vec![(422, Duration::ZERO)], (201, Duration::ZERO));
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    let file = dir.join("wf/screen.yaml");
    std::fs::write(&file, screen_workflow(vendor.port, "stale-agent")).expect("workflow");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let mut serve = start(&dir, &db);
    let run_id = serve.api_post("/api/workflows/screen/runs", "{}").json()["run_id"].as_str().expect("id").to_owned();
    let failed = serve.wait_run(&run_id, Duration::from_secs(20));
    assert_eq!(failed["run"]["status"], "failed", "{failed}");
    let old_hash = failed["run"]["workflow"]["hash"].clone();

    // The fix: the lookup table. Deployed by a restart on the same database.
    std::fs::write(&file, screen_workflow(vendor.port, "fixed-agent")).expect("fix");
    serve.kill9();
    drop(serve);
    let serve = start(&dir, &db);
    let r = serve.api_post(&format!("/api/runs/{run_id}/retry?version=latest"), "");
    assert_eq!(r.status, 202, "{}", r.body);
    let answer = r.json();
    assert_eq!(answer["version_used"], "latest");
    assert_eq!(sorted(&answer["rerun"]), vec!["invite", "table"], "the changed step and its downstream: {answer}");
    assert_eq!(sorted(&answer["reused"]), vec!["audit"], "the unchanged succeeded step: {answer}");
    let done = serve.wait_run(&run_id, Duration::from_secs(20));
    assert_eq!(done["run"]["status"], "succeeded", "{done}");
    assert_ne!(done["run"]["workflow"]["hash"], old_hash, "the run moved to the new version");
    let sent: Vec<Value> =
        vendor.requests().iter().map(|r| serde_json::from_str(&r.body).unwrap_or(Value::Null)).collect();
    assert_eq!(
        sent,
        vec![json!({ "agent": "stale-agent" }), json!({ "agent": "fixed-agent" })],
        "no stale output reused"
    );
    let audit = done["steps"].as_array().and_then(|s| s.iter().find(|s| s["id"] == "audit")).cloned();
    assert_eq!(audit.map(|a| a["attempts"].as_array().map(Vec::len)), Some(Some(1)), "audit was not run again");
}

#[test]
fn runs_retry_from_a_step_reruns_it_and_its_downstream() {
    let dir = temp_dir("retry-from");
    let vendor = Vendor::start();
    vendor.script(vec![(422, Duration::ZERO)], (201, Duration::ZERO));
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    std::fs::write(dir.join("wf/screen.yaml"), screen_workflow(vendor.port, "agent-1")).expect("workflow");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let serve = start(&dir, &db);
    let run_id = serve.api_post("/api/workflows/screen/runs", "{}").json()["run_id"].as_str().expect("id").to_owned();
    assert_eq!(serve.wait_run(&run_id, Duration::from_secs(20))["run"]["status"], "failed");

    // From another directory: `--workflows` says where the workflows are.
    let out = crate::reqflow()
        .current_dir(std::env::temp_dir())
        .args(["runs", "retry", &run_id, "--from", "table", "--latest", "--db", &db, "--workflows"])
        .arg(dir.join("wf"))
        .output()
        .expect("reqflow runs retry");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).expect("JSON answer");
    assert_eq!(sorted(&answer["rerun"]), vec!["invite", "table"], "{answer}");
    assert_eq!(sorted(&answer["reused"]), vec!["audit"], "{answer}");
    let done = serve.wait_run(&run_id, Duration::from_secs(20));
    assert_eq!(done["run"]["status"], "succeeded", "{done}");
    let table = done["steps"].as_array().and_then(|s| s.iter().find(|s| s["id"] == "table")).cloned();
    assert_eq!(table.map(|t| t["attempts"].as_array().map(Vec::len)), Some(Some(2)), "table ran again");

    // A step that does not exist is refused, saying which.
    let out = crate::reqflow().args(["runs", "retry", &run_id, "--from", "nope", "--db", &db]).output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no step `nope`") || err.contains("only failed runs"), "{err}");
}

#[test]
fn a_stored_event_is_redelivered_past_its_dedupe_key_on_the_fixed_version() {
    let dir = temp_dir("retry-redeliver");
    let vendor = Vendor::start();
    vendor.script(vec![(422, Duration::ZERO)], (201, Duration::ZERO));
    let hook = |agent: &str| {
        format!(
            "id: hooked\ntrigger:\n  webhook:\n    path: redeliver/hook\n    dedupe: \"{{{{ event.body.id }}}}\"\n    dedupe_ttl: 90d\nconnections:\n  vendor: {{ type: http, base_url: \"http://127.0.0.1:{}\" }}\nsteps:\n  - id: invite\n    action: http.request\n    connection: vendor\n    with: {{ method: POST, path: /invites, json: {{ id: \"{{{{ event.body.id }}}}\", agent: {agent} }} }}\n    retry: {{ attempts: 1 }}\n",
            vendor.port
        )
    };
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    let file = dir.join("wf/hooked.yaml");
    std::fs::write(&file, hook("old")).expect("workflow");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let serve = start(&dir, &db);
    let send = || crate::harness::post_json(serve.port, "/hooks/redeliver/hook", &[], r#"{"id":"cand-9"}"#);
    let first = send().json();
    let run_id = first["run_id"].as_str().expect("run").to_owned();
    assert_eq!(serve.wait_run(&run_id, Duration::from_secs(20))["run"]["status"], "failed");
    assert_eq!(send().json()["status"], "duplicate", "the sender cannot re-send it: dedupe");
    let event_id = serve.api(&format!("/api/runs/{run_id}")).json()["run"]["event_id"].as_str().expect("ev").to_owned();

    // The fix, picked up by the directory watch.
    std::fs::write(&file, hook("new")).expect("fix");
    std::thread::sleep(Duration::from_millis(2500));
    let r = serve.api_post(&format!("/api/events/{event_id}/redeliver"), "");
    assert_eq!(r.status, 202, "{}", r.body);
    let answer = r.json();
    assert_eq!(answer["redelivered"], event_id.as_str());
    let new_run = answer["run_id"].as_str().expect("new run").to_owned();
    assert_ne!(new_run, run_id);
    let done = serve.wait_run(&new_run, Duration::from_secs(20));
    assert_eq!(done["run"]["status"], "succeeded", "{done}");
    assert_eq!(done["event"]["body"], json!({ "id": "cand-9" }), "the same event");
    let sent: Vec<Value> =
        vendor.requests().iter().map(|r| serde_json::from_str(&r.body).unwrap_or(Value::Null)).collect();
    assert_eq!(sent.last(), Some(&json!({ "id": "cand-9", "agent": "new" })), "on the fixed version");
    let audit = serve.api("/api/audit").json();
    assert!(audit.to_string().contains("event.redeliver"), "audited: {audit}");
    let missing = serve.api_post("/api/events/no-such-event/redeliver", "");
    assert_eq!(missing.status, 404, "{}", missing.body);
}

/// `2026-12-03T07:15:57.123Z`
fn is_iso(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 24 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.as_bytes()[19] == b'.')
}

#[test]
fn times_are_iso_8601_everywhere_and_since_takes_a_duration() {
    let dir = temp_dir("retry-times");
    let vendor = Vendor::start();
    vendor.script(vec![], (201, Duration::ZERO));
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    std::fs::write(dir.join("wf/screen.yaml"), screen_workflow(vendor.port, "a")).expect("workflow");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let serve = start(&dir, &db);
    let run_id = serve.api_post("/api/workflows/screen/runs", "{}").json()["run_id"].as_str().expect("id").to_owned();
    let done = serve.wait_run(&run_id, Duration::from_secs(20));
    for t in [&done["run"]["created_at"], &done["run"]["started_at"], &done["run"]["finished_at"]] {
        assert!(is_iso(t), "ISO 8601: {t}");
    }
    let attempt = &done["steps"][0]["attempts"][0];
    assert!(is_iso(&attempt["started_at"]) && is_iso(&attempt["finished_at"]), "{attempt}");
    let listed = |q: &str| serve.api(&format!("/api/runs?{q}")).json()["runs"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(listed("since=1h"), 1, "a duration before now");
    assert_eq!(listed("until=1h"), 0);
    assert_eq!(listed(&format!("since={}", &done["run"]["created_at"].as_str().unwrap_or_default()[..10])), 1);
    let bad = serve.api("/api/runs?since=yesterday");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("ISO 8601") && bad.body.contains("2h"), "{}", bad.body);
    let audit = serve.api("/api/audit").json();
    let first = audit["audit"].get(0).cloned();
    assert!(first.is_some_and(|e| is_iso(&e["at"])), "audit times: {audit}");
}

fn table_workflow(vendor_port: u16, agent: &str) -> String {
    format!(
        r#"id: tabled
trigger: {{ manual: {{}} }}
connections:
  vendor: {{ type: http, base_url: "http://127.0.0.1:{vendor_port}" }}
tables:
  agents: {{ R-8: {agent} }}
steps:
  - id: note
    map: {{ noted: true }}
  - id: pick
    map: {{ agent: "{{{{ lookup('agents', event.req) }}}}" }}
  - id: invite
    action: http.request
    connection: vendor
    with: {{ method: POST, path: /invites, json: {{ agent: "{{{{ steps.pick.output.agent }}}}" }} }}
    retry: {{ attempts: 1 }}
"#
    )
}

#[test]
fn a_changed_table_reruns_the_step_that_reads_it_and_a_miss_names_table_and_key() {
    let dir = temp_dir("retry-table");
    let vendor = Vendor::start();
    vendor.script(vec![(422, Duration::ZERO)], (201, Duration::ZERO));
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    let file = dir.join("wf/tabled.yaml");
    std::fs::write(&file, table_workflow(vendor.port, "agent-stale")).expect("workflow");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let serve = start(&dir, &db);
    let run = |req: &str| {
        let r = serve.api_post("/api/workflows/tabled/runs", &json!({ "req": req }).to_string());
        r.json()["run_id"].as_str().expect("run").to_owned()
    };
    // A key the table does not have: the error names the table and the key.
    let missed = serve.wait_run(&run("R-404"), Duration::from_secs(20));
    assert_eq!(missed["run"]["status"], "failed");
    let message = missed["run"]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("table `agents` has no key `R-404`"), "{message}");

    let failed_run = run("R-8");
    assert_eq!(serve.wait_run(&failed_run, Duration::from_secs(20))["run"]["status"], "failed");
    // The fix is in the table only; the watch deploys it.
    std::fs::write(&file, table_workflow(vendor.port, "agent-fixed")).expect("fix");
    std::thread::sleep(Duration::from_millis(2500));
    let r = serve.api_post(&format!("/api/runs/{failed_run}/retry?version=latest"), "");
    assert_eq!(r.status, 202, "{}", r.body);
    let answer = r.json();
    assert_eq!(sorted(&answer["rerun"]), vec!["invite", "pick"], "the step reading the table re-runs: {answer}");
    assert_eq!(sorted(&answer["reused"]), vec!["note"], "{answer}");
    assert_eq!(serve.wait_run(&failed_run, Duration::from_secs(20))["run"]["status"], "succeeded");
    let last: Value =
        vendor.requests().last().map(|r| serde_json::from_str(&r.body).unwrap_or(Value::Null)).unwrap_or_default();
    assert_eq!(last, json!({ "agent": "agent-fixed" }));
}
