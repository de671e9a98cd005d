//! The runtime end to end: `reqflow serve` (a real process, a real SQLite
//! file or PostgreSQL database) receiving webhooks over loopback and calling
//! a vendor endpoint over loopback.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{PgDb, Serve, Vendor, http, post_json, postgres_url, temp_dir};

const TOKEN: &str = "hook-token-5f2a9c";
const VENDOR_KEY: &str = "vendor-key-77aa1b";

fn workflow(vendor_port: u16) -> String {
    format!(
        r#"id: invite
trigger:
  webhook:
    path: test/invite
    auth: {{ bearer: "{{{{ secrets.HOOK_TOKEN }}}}" }}
    dedupe: "{{{{ event.body.id }}}}"
    when: "{{{{ event.body.stage == 'Phone Screen' }}}}"
connections:
  vendor: {{ type: http, base_url: "http://127.0.0.1:{vendor_port}", auth: {{ bearer: "{{{{ secrets.VENDOR_KEY }}}}" }} }}
steps:
  - id: fields
    map:
      id: $.event.body.id
      email: "{{{{ event.body.email | lower }}}}"
  - id: invite
    action: http.request
    connection: vendor
    with: {{ method: POST, path: /invites, json: {{ candidate: "{{{{ steps.fields.output.id }}}}", email: "{{{{ steps.fields.output.email }}}}" }} }}
    retry: {{ attempts: 3, initial: 100ms, max: 200ms, jitter: 0 }}
  - id: done
    map: {{ status: "{{{{ steps.invite.output.status }}}}" }}
on_failure:
  - id: alert
    map: {{ failed_step: "{{{{ run.error.step }}}}" }}
"#
    )
}

struct Setup {
    dir: std::path::PathBuf,
    vendor: Vendor,
    db: String,
}

fn setup(tag: &str) -> Setup {
    let dir = temp_dir(tag);
    let vendor = Vendor::start();
    std::fs::create_dir_all(dir.join("workflows")).expect("dir");
    std::fs::write(dir.join("workflows/invite.yaml"), workflow(vendor.port)).expect("write");
    let db = format!("sqlite://{}", dir.join("reqflow.db").display());
    Setup { dir, vendor, db }
}

fn env() -> Vec<(&'static str, &'static str)> {
    vec![("REQFLOW_SECRET_HOOK_TOKEN", TOKEN), ("REQFLOW_SECRET_VENDOR_KEY", VENDOR_KEY)]
}

fn start(s: &Setup) -> Serve {
    Serve::start(&s.dir.join("workflows"), &s.db, &env(), &s.dir)
}

fn hook(port: u16, body: &Value) -> crate::harness::Resp {
    let auth = format!("Bearer {TOKEN}");
    post_json(port, "/hooks/test/invite", &[("Authorization", &auth)], &body.to_string())
}

fn event(id: &str) -> Value {
    json!({ "id": id, "email": "Ada@Example.com", "stage": "Phone Screen" })
}

fn step<'a>(detail: &'a Value, id: &str) -> &'a Value {
    detail["steps"].as_array().and_then(|s| s.iter().find(|x| x["id"] == id)).unwrap_or(&Value::Null)
}

#[test]
fn webhook_is_accepted_run_and_every_step_persisted() {
    let s = setup("accept");
    let serve = start(&s);
    let r = hook(serve.port, &event("c-1"));
    assert_eq!(r.status, 202, "{}", r.body);
    let run_id = r.json()["run_id"].as_str().expect("run_id").to_string();
    let detail = serve.wait_run(&run_id, Duration::from_secs(20));
    assert_eq!(detail["run"]["status"], "succeeded", "{detail:#}");
    assert_eq!(step(&detail, "fields")["output"], json!({ "id": "c-1", "email": "ada@example.com" }));
    assert_eq!(step(&detail, "invite")["output"]["status"], 201);
    assert_eq!(step(&detail, "done")["output"], json!({ "status": 201 }));
    assert_eq!(step(&detail, "invite")["attempts"].as_array().map(Vec::len), Some(1));
    assert_eq!(detail["event"]["body"]["id"], "c-1");
    let sent = s.vendor.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].method.as_str(), sent[0].path.as_str()), ("POST", "/invites"));
    let body: Value = serde_json::from_str(&sent[0].body).expect("json");
    assert_eq!(body, json!({ "candidate": "c-1", "email": "ada@example.com" }));
    assert!(sent[0].headers.iter().any(|(k, v)| k == "authorization" && v == &format!("Bearer {VENDOR_KEY}")));
}

#[test]
fn the_raw_body_is_kept_byte_exact_and_served_on_its_own_endpoint() {
    let s = setup("raw");
    let serve = start(&s);
    // Odd whitespace, keys out of order, an escape and a raw non-ASCII
    // character: a re-serialised body would differ.
    let sent = "{ \"stage\":\"Phone Screen\",\r\n\t\"id\" :  \"c-raw\", \"email\":\"Ad\\u00e9@Example.com\" ,\"x\":[1 ,2]}\n  ";
    let auth = format!("Bearer {TOKEN}");
    let r = post_json(serve.port, "/hooks/test/invite", &[("Authorization", &auth)], sent);
    assert_eq!(r.status, 202, "{}", r.body);
    let run_id = r.json()["run_id"].as_str().expect("run_id").to_string();
    let raw = serve.api(&format!("/api/runs/{run_id}/event/raw"));
    assert_eq!(raw.status, 200, "{}", raw.body);
    assert_eq!(raw.body, sent, "the bytes as received");
    assert_eq!(raw.header("content-type"), Some("application/json"));
    assert_eq!(raw.header("x-content-type-options"), Some("nosniff"));
    // The JSON API shows the parsed event, never the raw bytes.
    let detail = serve.wait_run(&run_id, Duration::from_secs(20));
    assert_eq!(detail["event"]["body"]["email"], "Adé@Example.com");
    assert!(detail["event"].get("raw_body").is_none(), "{detail:#}");
    assert!(!serve.api(&format!("/api/runs/{run_id}")).body.contains("\\u00e9"), "no raw bytes in the API JSON");
    assert_eq!(serve.api("/api/runs/nope/event/raw").status, 404);
}

#[test]
fn duplicates_and_filtered_events_start_no_run() {
    let s = setup("dedupe");
    let serve = start(&s);
    let first = hook(serve.port, &event("c-2"));
    assert_eq!(first.status, 202);
    let again = hook(serve.port, &event("c-2"));
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["status"], "duplicate");
    assert_eq!(again.json()["run_id"], first.json()["run_id"]);
    let mut other = event("c-3");
    other["stage"] = json!("Applied");
    let ignored = hook(serve.port, &other);
    assert_eq!(ignored.status, 200);
    assert_eq!(ignored.json()["status"], "ignored");
    let runs = serve.api("/api/runs?workflow=invite").json();
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(1), "{runs}");
    let metrics = serve.api("/metrics").body;
    assert!(metrics.contains("reqflow_events_total{workflow=\"invite\",outcome=\"duplicate\"} 1"), "{metrics}");
    assert!(metrics.contains("reqflow_events_total{workflow=\"invite\",outcome=\"ignored\"} 1"), "{metrics}");
}

#[test]
fn bad_requests_get_clear_answers_and_store_nothing() {
    let s = setup("reject");
    let serve = start(&s);
    let body = event("c-4").to_string();
    let none = post_json(serve.port, "/hooks/test/invite", &[], &body);
    assert_eq!(none.status, 401, "{}", none.body);
    assert!(none.body.contains("missing `Authorization: Bearer` header"), "{}", none.body);
    let wrong = post_json(serve.port, "/hooks/test/invite", &[("Authorization", "Bearer nope")], &body);
    assert_eq!(wrong.status, 401);
    assert!(!wrong.body.contains(TOKEN));
    let auth = format!("Bearer {TOKEN}");
    let bad = post_json(serve.port, "/hooks/test/invite", &[("Authorization", &auth)], "{\"id\": ");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("not valid JSON"), "{}", bad.body);
    let big = format!("{{\"id\":\"{}\"}}", "x".repeat(1_100_000));
    let too_big = post_json(serve.port, "/hooks/test/invite", &[("Authorization", &auth)], &big);
    assert_eq!(too_big.status, 413);
    let missing = post_json(serve.port, "/hooks/nothing/here", &[], "{}");
    assert_eq!(missing.status, 404);
    let runs = serve.api("/api/runs").json();
    assert_eq!(runs["runs"], json!([]), "nothing was stored");
}

#[test]
fn a_failed_run_fires_on_failure_and_retry_reuses_succeeded_steps() {
    let s = setup("retry");
    s.vendor.script(vec![], (422, Duration::ZERO));
    let serve = start(&s);
    let run_id = hook(serve.port, &event("c-5")).json()["run_id"].as_str().expect("id").to_string();
    let failed = serve.wait_run(&run_id, Duration::from_secs(20));
    assert_eq!(failed["run"]["status"], "failed", "{failed:#}");
    assert_eq!(failed["run"]["error"]["step"], "invite");
    assert_eq!(step(&failed, "invite")["attempts"].as_array().map(Vec::len), Some(1), "422 is permanent: no retry");
    assert_eq!(step(&failed, "done")["status"], "skipped");
    assert_eq!(step(&failed, "alert")["output"], json!({ "failed_step": "invite" }));

    s.vendor.script(vec![], (201, Duration::ZERO));
    let r = serve.api_http("POST", &format!("/api/runs/{run_id}/retry"), b"");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["version_used"], "original");
    let done = serve.wait_run(&run_id, Duration::from_secs(20));
    assert_eq!(done["run"]["status"], "succeeded", "{done:#}");
    assert_eq!(step(&done, "fields")["attempts"].as_array().map(Vec::len), Some(1), "succeeded steps are not re-run");
    assert_eq!(step(&done, "invite")["attempts"].as_array().map(Vec::len), Some(2));
    assert_eq!(s.vendor.requests().len(), 2);
}

#[test]
fn retryable_failures_are_retried_and_counted() {
    let s = setup("retryable");
    s.vendor.script(vec![(503, Duration::ZERO), (503, Duration::ZERO)], (201, Duration::ZERO));
    let serve = start(&s);
    let run_id = hook(serve.port, &event("c-6")).json()["run_id"].as_str().expect("id").to_string();
    let done = serve.wait_run(&run_id, Duration::from_secs(20));
    assert_eq!(done["run"]["status"], "succeeded", "{done:#}");
    let attempts = step(&done, "invite")["attempts"].as_array().cloned().unwrap_or_default();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0]["status"], "failed");
    assert_eq!(attempts[0]["error"]["class"], "retryable");
    let metrics = serve.api("/metrics").body;
    assert!(metrics.contains("reqflow_step_retries_total{workflow=\"invite\",step=\"invite\"} 2"), "{metrics}");
}

// Secrets (logs, database, errors, API answers, /metrics): see
// `security::secrets_never_reach_logs_database_errors_answers_or_metrics`.

#[test]
fn kill_9_mid_run_then_restart_completes_without_redoing_finished_steps() {
    let s = setup("crash");
    // The vendor is slow: the run is inside `invite` when the process dies.
    s.vendor.script(vec![(201, Duration::from_secs(3))], (201, Duration::ZERO));
    let mut serve = start(&s);
    let run_id = hook(serve.port, &event("c-8")).json()["run_id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.vendor.requests().is_empty() {
        assert!(Instant::now() < deadline, "the invite never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    serve.kill9();
    let serve = start(&s);
    let done = serve.wait_run(&run_id, Duration::from_secs(90));
    assert_eq!(done["run"]["status"], "succeeded", "{done:#}");
    assert_eq!(step(&done, "fields")["attempts"].as_array().map(Vec::len), Some(1), "finished steps are not re-run");
    let invite = step(&done, "invite")["attempts"].as_array().cloned().unwrap_or_default();
    assert_eq!(invite.len(), 2, "{invite:#?}");
    assert_eq!(invite[0]["error"]["code"], "interrupted");
    assert_eq!(step(&done, "done")["output"], json!({ "status": 201 }));
}

#[test]
fn soap_trigger_answers_with_an_envelope_and_runs() {
    let dir = temp_dir("soap");
    std::fs::create_dir_all(dir.join("workflows")).expect("dir");
    std::fs::write(
        dir.join("workflows/listener.yaml"),
        r#"id: listener
trigger:
  soap:
    path: workday/state
    operation: TriggerCandidateStateChange
    auth: { basic: { username: studio, password: "{{ secrets.STUDIO_PASSWORD }}" } }
steps:
  - id: fields
    map:
      job_application_id: $.event.body.Job_Application.Job_Application_ID
      candidate_id: "$.event.body.Job_Application.Candidate_Reference.ID['#text']"
      stage: "{{ event.body.Job_Application.Stage }}"
"#,
    )
    .expect("write");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let serve = Serve::start(&dir.join("workflows"), &db, &[("REQFLOW_SECRET_STUDIO_PASSWORD", "pw-123456")], &dir);
    let envelope =
        std::fs::read(crate::data("payloads/workday-studio-trigger-candidate-state-change.xml")).expect("fixture");
    let auth = "Basic c3R1ZGlvOnB3LTEyMzQ1Ng=="; // studio:pw-123456
    let r = http(
        serve.port,
        "POST",
        "/soap/workday/state",
        &[("Content-Type", "text/xml"), ("Authorization", auth)],
        &envelope,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.body.contains("<TriggerCandidateStateChange_Response"), "{}", r.body);
    let run_id = r.body.split("<Run_ID>").nth(1).and_then(|s| s.split('<').next()).expect("run id").to_string();
    let done = serve.wait_run(&run_id, Duration::from_secs(20));
    assert_eq!(
        step(&done, "fields")["output"],
        json!({ "job_application_id": "WAPPLIC12345", "candidate_id": "W12345", "stage": "Interview" })
    );
    let raw = serve.api(&format!("/api/runs/{run_id}/event/raw"));
    assert_eq!(raw.status, 200);
    assert_eq!(raw.body.as_bytes(), &envelope[..], "the envelope as received");
    assert_eq!(raw.header("content-type"), Some("text/xml"));
    // DTDs, external entities, billion laughs: `security::xml_with_a_dtd_or_entities_is_refused_with_a_fault_and_not_expanded`.
    let r = http(serve.port, "POST", "/soap/workday/state", &[("Content-Type", "text/xml")], &envelope);
    assert_eq!(r.status, 401);
}

#[test]
fn serve_refuses_to_start_on_invalid_workflows() {
    let dir = temp_dir("refuse");
    std::fs::create_dir_all(dir.join("workflows")).expect("dir");
    std::fs::write(
        dir.join("workflows/bad.yaml"),
        "id: bad\ntrigger: { manual: {} }\nsteps:\n  - id: a\n    needs: [b]\n    map: {}\n",
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reqflow"))
        .args(["serve", "--workflows"])
        .arg(dir.join("workflows"))
        .args(["--db", &format!("sqlite://{}", dir.join("x.db").display()), "--listen", "127.0.0.1:0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("E0102"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to start"));
}

fn two_processes_share(db_url: &str, tag: &str) {
    let s = setup(tag);
    let a = Serve::start(&s.dir.join("workflows"), db_url, &env(), &s.dir);
    let b = Serve::start(&s.dir.join("workflows"), db_url, &env(), &s.dir);
    let mut ids = Vec::new();
    for i in 0..60 {
        let port = if i % 2 == 0 { a.port } else { b.port };
        let r = hook(port, &event(&format!("p-{tag}-{i}")));
        assert_eq!(r.status, 202, "{}", r.body);
        ids.push(r.json()["run_id"].as_str().expect("id").to_string());
    }
    for id in &ids {
        let d = a.wait_run(id, Duration::from_secs(60));
        assert_eq!(d["run"]["status"], "succeeded");
        assert_eq!(step(&d, "invite")["attempts"].as_array().map(Vec::len), Some(1), "no step done twice");
    }
    let sent = s.vendor.requests();
    assert_eq!(sent.len(), 60, "each invite sent exactly once");
    let _ = Path::new(db_url);
}

#[test]
fn two_serve_processes_on_one_postgres_share_the_work() {
    let Some(admin) = postgres_url("two_serve_processes_on_one_postgres_share_the_work") else { return };
    let db = PgDb::create(&admin, "share");
    two_processes_share(&db.url, "pg");
}

#[test]
fn a_backlog_over_its_bound_gets_503_with_retry_after_and_keeps_what_it_accepted() {
    let s = setup("overload");
    let port = crate::harness::free_port();
    let log = std::fs::File::create(s.dir.join("serve.log")).expect("log");
    let token = crate::harness::create_token(&s.db, "overload", "read", &[]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_reqflow"))
        .args(["serve", "--workflows"])
        .arg(s.dir.join("workflows"))
        .args(["--db", &s.db, "--listen", &format!("127.0.0.1:{port}"), "--max-backlog", "3", "--no-workers"])
        .args(["--admin-listen", "same"])
        .envs(env())
        .stderr(log)
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    for i in 0..3 {
        assert_eq!(hook(port, &event(&format!("o-{i}"))).status, 202);
    }
    std::thread::sleep(Duration::from_millis(600));
    let r = hook(port, &event("o-4"));
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("1"));
    let auth = format!("Bearer {token}");
    let runs = crate::harness::http(port, "GET", "/api/runs?status=queued", &[("Authorization", &auth)], b"").json();
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(3), "the accepted ones are kept");
    let _ = child.kill();
    let _ = child.wait();
}
