//! The one accept path through the real `reqflow serve`, on SQLite and
//! PostgreSQL: what it stores can always be read back, and nothing it
//! accepted poisons anything else.
//!
//! - Bodies at the nesting limit (JSON 64 levels, SOAP 64 elements) are
//!   accepted, run and read back; one level past it is refused with `400`
//!   saying so; the runs beside them complete.
//! - An authenticated event whose `dedupe:` cannot be evaluated is stored as
//!   `invalid` with the reason, answered `200` saying so, and visible.
//! - A run whose stored event cannot be decoded fails alone, at once, with
//!   the reason; the runs claimed with it complete (no lease held).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{PgDb, Resp, Serve, free_port, http, postgres_url, temp_dir};

const TOKEN: &str = "accept-hook-token-Zq81";

const HOOK: &str = r#"id: deep
trigger:
  webhook:
    path: accept/deep
    auth: { bearer: "{{ secrets.HOOK_TOKEN }}" }
    dedupe: "{{ event.body.candidate.id }}"
steps:
  - id: pick
    map: { kind: "{{ event.body.kind }}" }
"#;

const SOAP: &str = r#"id: deep-soap
trigger:
  soap:
    path: accept/state
    operation: Candidate_State
steps:
  - id: pick
    map: { op: "{{ event.operation }}" }
"#;

fn start(dir: &Path, db: &str, args: &[&str]) -> Serve {
    let wf = dir.join("wf");
    std::fs::create_dir_all(&wf).expect("dir");
    std::fs::write(wf.join("deep.yaml"), HOOK).expect("workflow");
    std::fs::write(wf.join("deep-soap.yaml"), SOAP).expect("workflow");
    Serve::start_with(free_port(), &wf, db, &[("REQFLOW_SECRET_HOOK_TOKEN", TOKEN)], dir, args)
}

/// `[[…[1]…]]`, `n` levels.
fn nested(n: usize) -> String {
    format!("{}1{}", "[".repeat(n), "]".repeat(n))
}

/// A body that nests `depth` levels (its own object, then arrays).
fn body_of_depth(id: &str, depth: usize) -> String {
    format!(r#"{{"candidate":{{"id":"{id}"}},"kind":"k-{id}","deep":{}}}"#, nested(depth - 1))
}

fn hook(serve: &Serve, body: &str) -> Resp {
    let auth = format!("Bearer {TOKEN}");
    http(serve.port, "POST", "/hooks/accept/deep", &[("Authorization", &auth)], body.as_bytes())
}

/// A SOAP envelope whose elements nest `depth` levels (Envelope, Body and the
/// operation included); each level has two `a` children, so the JSON the run
/// sees nests about twice as deep.
fn envelope_of_depth(depth: usize) -> String {
    let mut inner = String::from("x");
    for _ in 0..depth - 4 {
        inner = format!("<a>{inner}<b/></a><a/>");
    }
    format!(
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><Candidate_State>{inner}</Candidate_State></soapenv:Body></soapenv:Envelope>"
    )
}

fn soap(serve: &Serve, body: &str) -> Resp {
    http(serve.port, "POST", "/soap/accept/state", &[("Content-Type", "text/xml")], body.as_bytes())
}

fn queued(r: &Resp) -> String {
    assert_eq!(r.status, 202, "{}", r.body);
    r.json()["run_id"].as_str().expect("run_id").to_owned()
}

fn deep_events_at_the_limit_are_read_back(db: &str, dir: &Path) {
    let serve = start(dir, db, &[]);
    let mut runs = Vec::new();
    for i in 0..10 {
        runs.push(queued(&hook(&serve, &body_of_depth(&format!("n-{i}"), 3))));
    }
    // At the limit: accepted, run, read back (run detail and raw body).
    let at_limit = body_of_depth("at-limit", 64);
    let deep_run = queued(&hook(&serve, &at_limit));
    // One past it, and the 127 levels that once poisoned a claim batch: refused, saying so.
    for depth in [65, 127] {
        let r = hook(&serve, &body_of_depth(&format!("past-{depth}"), depth));
        assert_eq!(r.status, 400, "{depth} levels: {}", r.body);
        let error = r.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(error.contains(&format!("nests {depth} levels")) && error.contains("at most 64"), "{error}");
    }
    // SOAP: 64 elements accepted (its JSON nests past 120 levels), 65 refused with a fault.
    let r = soap(&serve, &envelope_of_depth(64));
    assert_eq!(r.status, 202, "{}", r.body);
    let soap_run = r.body.split("<Run_ID>").nth(1).and_then(|t| t.split('<').next()).expect("Run_ID").to_owned();
    let r = soap(&serve, &envelope_of_depth(65));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("soapenv:Client") && r.body.contains("deeper than 64"), "{}", r.body);
    for i in 10..20 {
        runs.push(queued(&hook(&serve, &body_of_depth(&format!("n-{i}"), 3))));
    }

    let done = serve.wait_run(&deep_run, Duration::from_secs(20));
    assert_eq!(done["run"]["status"], "succeeded", "{done}");
    assert_eq!(done["steps"][0]["output"], json!({ "kind": "k-at-limit" }));
    assert_eq!(reqflow_engine::limits::depth(&done["event"]["body"]), 64);
    let raw = serve.api(&format!("/api/runs/{deep_run}/event/raw"));
    assert_eq!(raw.body, at_limit, "the raw body is served byte for byte");
    let done = serve.wait_run(&soap_run, Duration::from_secs(20));
    assert_eq!(done["run"]["status"], "succeeded", "{done}");
    let d = reqflow_engine::limits::depth(&done["event"]);
    assert!(d > 120, "the SOAP event is read back whole ({d} levels)");
    for run in &runs {
        assert_eq!(serve.wait_run(run, Duration::from_secs(20))["run"]["status"], "succeeded");
    }
    let all = crate::harness::all_runs(&serve, "");
    assert_eq!(all.len(), 22, "nothing refused was stored");
}

fn an_event_that_cannot_be_evaluated_is_stored_and_visible(db: &str, dir: &Path) {
    let serve = start(dir, db, &[]);
    // Authenticated and parsed, but `dedupe:` reads a field that is not there.
    let r = hook(&serve, r#"{"kind":"no-candidate"}"#);
    assert_eq!(r.status, 200, "a 2xx, so the sender does not retry: {}", r.body);
    let answer = r.json();
    assert_eq!(answer["status"], "invalid", "{answer}");
    let reason = answer["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.starts_with("`dedupe:`"), "the reason names what failed: {reason}");
    let event_id = answer["event_id"].as_str().expect("event_id");

    let stored = serve.api(&format!("/api/events/{event_id}"));
    assert_eq!(stored.status, 200, "{}", stored.body);
    let stored = stored.json();
    assert_eq!(stored["status"], "invalid", "{stored}");
    assert_eq!(stored["reason"], reason.as_str());
    assert_eq!(stored["event"]["body"], json!({ "kind": "no-candidate" }), "the event is kept");
    assert_eq!(stored["workflow_id"], "deep");
    assert!(crate::harness::all_runs(&serve, "").is_empty(), "it starts no run");
    let metrics = serve.api("/metrics").body;
    assert!(metrics.contains(r#"reqflow_events_total{workflow="deep",outcome="invalid"} 1"#), "{metrics}");

    // Events that can be evaluated are not held up by it.
    let run = queued(&hook(&serve, &body_of_depth("fine", 2)));
    assert_eq!(serve.wait_run(&run, Duration::from_secs(20))["run"]["status"], "succeeded");
    // Refused requests still store nothing.
    let none = http(serve.port, "POST", "/hooks/accept/deep", &[], br#"{"kind":"x"}"#);
    assert_eq!(none.status, 401, "{}", none.body);
    assert_eq!(crate::harness::all_runs(&serve, "").len(), 1);
}

/// Replaces one stored event's payload with JSON deeper than anything the
/// accept path stores (as a bug or a hand edit might): it cannot be decoded.
fn corrupt_event(db: &str, event_id: &str) {
    let unreadable = format!(r#"{{"body":{}}}"#, nested(400));
    if let Some(file) = db.strip_prefix("sqlite://") {
        let c = rusqlite::Connection::open(file).expect("open the SQLite file");
        let n =
            c.execute("UPDATE events SET payload = ?1 WHERE event_id = ?2", [&unreadable, event_id]).expect("update");
        assert_eq!(n, 1);
    } else {
        let sql = format!("UPDATE events SET payload = '{unreadable}'::json WHERE event_id = '{event_id}'");
        let out = std::process::Command::new("psql").args([db, "-v", "ON_ERROR_STOP=1", "-qc", &sql]).output();
        let out = out.expect("psql");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

fn a_run_that_cannot_be_decoded_fails_alone(db: &str, dir: &Path) {
    // Accept with workers off, so every run waits in the queue.
    let mut serve = start(dir, db, &["--no-workers"]);
    let runs: Vec<String> = (0..30).map(|i| queued(&hook(&serve, &body_of_depth(&format!("c-{i}"), 2)))).collect();
    let poisoned = &runs[7];
    let event_id =
        serve.api(&format!("/api/runs/{poisoned}")).json()["run"]["event_id"].as_str().expect("event_id").to_owned();
    serve.kill9();
    drop(serve);
    corrupt_event(db, &event_id);

    // Workers on, with a lease far longer than the test: a run or a batch
    // left leased would not come back in time.
    let serve = start(dir, db, &["--lease", "5m"]);
    let started = Instant::now();
    let failed = serve.wait_run(poisoned, Duration::from_secs(20));
    assert_eq!(failed["run"]["status"], "failed", "{failed}");
    let message = failed["run"]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("stored event cannot be read back"), "the reason is recorded: {message}");
    assert_eq!(failed["run"]["error"]["class"], "permanent");
    assert!(failed["event"]["unreadable"].is_string(), "the run's detail says why: {failed}");
    for run in runs.iter().filter(|r| *r != poisoned) {
        let v: Value = serve.wait_run(run, Duration::from_secs(20));
        assert_eq!(v["run"]["status"], "succeeded", "the runs claimed beside it complete: {v}");
    }
    assert!(started.elapsed() < Duration::from_secs(30), "no claim waited for a lease: {:?}", started.elapsed());
}

#[test]
fn deep_events_at_the_limit_are_read_back_sqlite() {
    let dir = temp_dir("accept-deep");
    deep_events_at_the_limit_are_read_back(&format!("sqlite://{}", dir.join("r.db").display()), &dir);
}

#[test]
fn deep_events_at_the_limit_are_read_back_postgres() {
    let Some(url) = postgres_url("deep_events_at_the_limit_are_read_back_postgres") else { return };
    let pg = PgDb::create(&url, "accept_deep");
    deep_events_at_the_limit_are_read_back(&pg.url, &temp_dir("accept-deep-pg"));
}

#[test]
fn an_event_that_cannot_be_evaluated_is_stored_and_visible_sqlite() {
    let dir = temp_dir("accept-invalid");
    an_event_that_cannot_be_evaluated_is_stored_and_visible(&format!("sqlite://{}", dir.join("r.db").display()), &dir);
}

#[test]
fn an_event_that_cannot_be_evaluated_is_stored_and_visible_postgres() {
    let Some(url) = postgres_url("an_event_that_cannot_be_evaluated_is_stored_and_visible_postgres") else { return };
    let pg = PgDb::create(&url, "accept_invalid");
    an_event_that_cannot_be_evaluated_is_stored_and_visible(&pg.url, &temp_dir("accept-invalid-pg"));
}

#[test]
fn a_run_that_cannot_be_decoded_fails_alone_sqlite() {
    let dir = temp_dir("accept-poison");
    a_run_that_cannot_be_decoded_fails_alone(&format!("sqlite://{}", dir.join("r.db").display()), &dir);
}

#[test]
fn a_run_that_cannot_be_decoded_fails_alone_postgres() {
    let Some(url) = postgres_url("a_run_that_cannot_be_decoded_fails_alone_postgres") else { return };
    let pg = PgDb::create(&url, "accept_poison");
    a_run_that_cannot_be_decoded_fails_alone(&pg.url, &temp_dir("accept-poison-pg"));
}
