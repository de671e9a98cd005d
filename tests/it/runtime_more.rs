//! More of the runtime through the binary: `reqflow run`, `reqflow runs`,
//! manual starts, retries on the latest version, bulk retry, schedules, and
//! `on_failure` after a crash used up a step's attempts.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Serve, Vendor, temp_dir};

fn reqflow(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = crate::reqflow().args(args).envs(env.iter().copied()).output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const MANUAL: &str = r#"id: manual-score
trigger: { manual: {} }
steps:
  - id: score
    map: { total: "{{ event.scores | sum }}", name: "{{ event.name }}" }
  - id: verdict
    map: { advance: "{{ steps.score.output.total >= 10 }}" }
"#;

#[test]
fn run_prints_the_run_and_runs_show_reads_it_back() {
    let dir = temp_dir("run-cmd");
    let wf = dir.join("manual.yaml");
    std::fs::write(&wf, MANUAL).expect("write");
    let ev = dir.join("event.json");
    std::fs::write(&ev, r#"{"name": "Ada", "scores": [4, 7]}"#).expect("write");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let (code, out, err) =
        reqflow(&["run", wf.to_str().expect("p"), "--event", ev.to_str().expect("p"), "--db", &db], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["run"]["status"], "succeeded");
    assert_eq!(v["steps"][0]["output"], json!({ "total": 11, "name": "Ada" }));
    assert_eq!(v["steps"][1]["output"], json!({ "advance": true }));
    let run_id = v["run"]["run_id"].as_str().expect("id");

    let (code, out, _) = reqflow(&["runs", "list", "--db", &db], &[]);
    assert_eq!(code, 0);
    assert!(out.contains(run_id) && out.contains("manual-score") && out.contains("succeeded"), "{out}");
    let (code, out, _) = reqflow(&["runs", "show", run_id, "--db", &db], &[]);
    assert_eq!(code, 0);
    let shown: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(shown["steps"], v["steps"]);
    let (code, _, err) = reqflow(&["runs", "retry", run_id, "--db", &db], &[]);
    assert_eq!(code, 1, "only failed runs can be retried");
    assert!(err.contains("conflict") || err.contains("failed"), "{err}");
}

#[test]
fn manual_runs_start_through_the_api() {
    let dir = temp_dir("manual-api");
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    std::fs::write(dir.join("wf/manual.yaml"), MANUAL).expect("write");
    let serve = Serve::start(&dir.join("wf"), &format!("sqlite://{}", dir.join("r.db").display()), &[], &dir);
    let r = serve.api_post("/api/workflows/manual-score/runs", r#"{"name":"Bo","scores":[1,2]}"#);
    assert_eq!(r.status, 202, "{}", r.body);
    let d = serve.wait_run(r.json()["run_id"].as_str().expect("id"), Duration::from_secs(20));
    assert_eq!(d["steps"][1]["output"], json!({ "advance": false }));
    let wfs = serve.api("/api/workflows").json();
    assert_eq!(wfs["workflows"][0]["id"], "manual-score");
    assert_eq!(wfs["workflows"][0]["trigger"]["kind"], "manual");
    let missing = serve.api_post("/api/workflows/nope/runs", "{}");
    assert_eq!(missing.status, 404);
}

fn vendor_workflow(port: u16, version: u32, path: &str) -> String {
    format!(
        r#"id: sync
version: {version}
trigger: {{ manual: {{}} }}
connections:
  vendor: {{ type: http, base_url: "http://127.0.0.1:{port}" }}
steps:
  - id: prepare
    map: {{ id: "{{{{ event.id }}}}" }}
  - id: send
    action: http.request
    connection: vendor
    with: {{ method: POST, path: {path}, json: {{ id: "{{{{ steps.prepare.output.id }}}}" }} }}
    retry: {{ attempts: 1 }}
"#
    )
}

#[test]
fn retry_on_the_latest_version_and_bulk_retry() {
    let dir = temp_dir("retry-latest");
    let vendor = Vendor::start();
    vendor.script(vec![], (400, Duration::ZERO));
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    std::fs::write(dir.join("wf/sync.yaml"), vendor_workflow(vendor.port, 1, "/v1/items")).expect("write");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let mut ids = Vec::new();
    {
        let serve = Serve::start(&dir.join("wf"), &db, &[], &dir);
        for i in 0..3 {
            let r = serve.api_post("/api/workflows/sync/runs", &json!({ "id": i }).to_string());
            ids.push(r.json()["run_id"].as_str().expect("id").to_string());
        }
        for id in &ids {
            assert_eq!(serve.wait_run(id, Duration::from_secs(20))["run"]["status"], "failed");
        }
    }
    // The fix ships as version 2 with another path; the vendor now accepts.
    std::fs::write(dir.join("wf/sync.yaml"), vendor_workflow(vendor.port, 2, "/v2/items")).expect("write");
    vendor.script(vec![], (200, Duration::ZERO));
    let serve = Serve::start(&dir.join("wf"), &db, &[], &dir);
    let r = serve.api_http("POST", &format!("/api/runs/{}/retry?version=latest", ids[0]), b"");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["version_used"], "latest");
    assert_eq!(r.json()["workflow"]["version"], 2);
    let d = serve.wait_run(&ids[0], Duration::from_secs(20));
    assert_eq!(d["run"]["status"], "succeeded", "{d:#}");
    assert_eq!(d["run"]["workflow"]["version"], 2);
    assert!(vendor.requests().iter().any(|r| r.path == "/v2/items"));

    let r = serve.api_post("/api/runs/retry", r#"{"workflow": "sync"}"#);
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["retried"], 2);
    for id in &ids[1..] {
        let d = serve.wait_run(id, Duration::from_secs(20));
        assert_eq!(d["run"]["status"], "succeeded");
        assert_eq!(d["run"]["workflow"]["version"], 1, "bulk retry keeps the original version by default");
    }
    let bad = serve.api_http("POST", &format!("/api/runs/{}/retry?version=newest", ids[0]), b"");
    assert_eq!(bad.status, 400);
}

#[test]
fn schedules_fire_each_slot_once_across_processes() {
    let dir = temp_dir("schedule");
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    std::fs::write(
        dir.join("wf/tick.yaml"),
        "id: tick\ntrigger: { schedule: { every: 1s } }\nsteps:\n  - id: at\n    map: { at: \"{{ event.scheduled_at }}\", prev: \"{{ event.previous_success_at }}\" }\n",
    )
    .expect("write");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let a = Serve::start(&dir.join("wf"), &db, &[], &dir);
    let b = Serve::start(&dir.join("wf"), &db, &[], &dir);
    std::thread::sleep(Duration::from_millis(4500));
    drop(b);
    let runs = a.api("/api/runs?workflow=tick&limit=100").json();
    let runs = runs["runs"].as_array().cloned().unwrap_or_default();
    assert!(runs.len() >= 3, "one run per second: {runs:#?}");
    let mut slots = Vec::new();
    for r in &runs {
        let d = a.wait_run(r["run_id"].as_str().expect("id"), Duration::from_secs(10));
        slots.push(d["steps"][0]["output"]["at"].as_str().unwrap_or("").to_string());
    }
    let mut unique = slots.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), slots.len(), "a slot fired twice: {slots:?}");
    let last = a.wait_run(runs[0]["run_id"].as_str().expect("id"), Duration::from_secs(10));
    assert!(
        last["steps"][0]["output"]["prev"].is_string(),
        "previous_success_at is set once a run succeeded: {last:#}"
    );
}

#[test]
fn on_failure_fires_when_a_crash_used_up_the_last_attempt() {
    let dir = temp_dir("crash-fail");
    let vendor = Vendor::start();
    vendor.script(vec![(200, Duration::from_secs(5))], (200, Duration::ZERO));
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    let wf = vendor_workflow(vendor.port, 1, "/items")
        + "on_failure:\n  - id: alert\n    map: { step: \"{{ run.error.step }}\", code: \"{{ run.error.code }}\" }\n";
    std::fs::write(dir.join("wf/sync.yaml"), wf).expect("write");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let mut serve = Serve::start(&dir.join("wf"), &db, &[], &dir);
    let id =
        serve.api_post("/api/workflows/sync/runs", r#"{"id": 1}"#).json()["run_id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while vendor.requests().is_empty() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    serve.kill9();
    let serve = Serve::start(&dir.join("wf"), &db, &[], &dir);
    let d = serve.wait_run(&id, Duration::from_secs(90));
    assert_eq!(d["run"]["status"], "failed", "{d:#}");
    let alert = d["steps"].as_array().and_then(|s| s.iter().find(|x| x["id"] == "alert")).cloned().unwrap_or_default();
    assert_eq!(alert["output"], json!({ "step": "send", "code": "interrupted" }), "{d:#}");
    assert_eq!(vendor.requests().len(), 1, "attempts: 1 means no second call");
}

/// Results are written with the next write the run waits for; the test
/// checks the two promises users rely on: everything recorded before an
/// outside call is stored before the call is made, and nothing recorded
/// stays unwritten while the run waits on the outside world.
#[test]
fn results_are_stored_before_an_outside_call_and_while_one_waits() {
    let vendor = Vendor::start();
    // The first call takes 3 s; later ones are immediate.
    vendor.script(vec![(201, Duration::from_secs(3))], (201, Duration::ZERO));
    let yaml = format!(
        r#"id: ordering
trigger: {{ manual: {{}} }}
connections:
  vendor: {{ type: http, base_url: "http://127.0.0.1:{port}" }}
steps:
  - id: slow
    needs: []
    action: http.request
    connection: vendor
    with: {{ method: POST, path: /slow, json: {{ n: 1 }} }}
    retry: {{ attempts: 1 }}
  - id: quick
    needs: []
    map: {{ n: 2 }}
  - id: after
    needs: [quick]
    map: {{ n: "{{{{ steps.quick.output.n + 1 }}}}" }}
  - id: send
    needs: [slow, after]
    action: http.request
    connection: vendor
    with: {{ method: POST, path: /send, json: {{ n: "{{{{ steps.after.output.n }}}}" }} }}
    retry: {{ attempts: 1 }}
"#,
        port = vendor.port
    );
    let dir = temp_dir("ordering");
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    std::fs::write(dir.join("wf/ordering.yaml"), yaml).expect("write");
    let serve = Serve::start(&dir.join("wf"), &format!("sqlite://{}", dir.join("r.db").display()), &[], &dir);
    let r = serve.api_post("/api/workflows/ordering/runs", "{}");
    assert_eq!(r.status, 202, "{}", r.body);
    let run_id = r.json()["run_id"].as_str().expect("id").to_owned();
    let step = |d: &Value, id: &str| {
        d["steps"].as_array().and_then(|s| s.iter().find(|x| x["id"] == id)).cloned().unwrap_or_default()
    };

    // While `slow` waits on the vendor, `quick` and `after` (which ended
    // meanwhile) are stored.
    let deadline = Instant::now() + Duration::from_secs(20);
    let waiting = loop {
        let d = serve.api(&format!("/api/runs/{run_id}")).json();
        if step(&d, "slow")["attempts"][0]["status"] == "running"
            && step(&d, "after")["status"] == "succeeded"
            && step(&d, "quick")["status"] == "succeeded"
        {
            break d;
        }
        assert!(Instant::now() < deadline, "quick and after were not stored while slow waited: {d:#}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(vendor.requests().iter().all(|q| q.path != "/send"), "send waits for slow: {waiting:#}");
    assert_eq!(step(&waiting, "after")["output"], json!({ "n": 3 }));

    let done = serve.wait_run(&run_id, Duration::from_secs(20));
    assert_eq!(done["run"]["status"], "succeeded", "{done:#}");
    assert_eq!(step(&done, "send")["attempts"][0]["input"]["json"], json!({ "n": 3 }));
    assert_eq!(step(&done, "slow")["status"], "succeeded");
}
