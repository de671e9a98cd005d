//! `reqflow replay`: real signed webhooks served by `reqflow serve` against a
//! loopback vendor, then replayed through edited copies of the workflow with
//! the real binary. The vendor receives nothing during any replay; an
//! unchanged file reports every event unchanged; a changed `map:` field is
//! reported per event with its old and new values (the map's output and the
//! request built from it); a new action step is a new call, not sent; a
//! table change that makes a step fail counts the event as newly failing; a
//! run the vendor failed replays unchanged, its call answered with the 500;
//! `--json` is one document; events that started no run are skipped.
//! Secrets in the requests stay masked. SQLite and PostgreSQL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{PgDb, Serve, Vendor, http, postgres_url, temp_dir, wait_for};
use crate::security::hmac_sha256_hex;

const HOOK_KEY: &str = "replay-hmac-key-8fQ2";
const VENDOR_TOKEN: &str = "vendor-token-Zx81-secret";

/// The workflow; `name` is the `fields.name` expression, `stages` the table.
fn workflow(vendor: u16, name: &str, stages: &str, extra: &str) -> String {
    format!(
        r#"id: replay-notes
trigger:
  webhook:
    path: replay/notes
    auth:
      hmac: {{ header: X-Signature, secret: "{{{{ secrets.HOOK_KEY }}}}", algorithm: sha256, encoding: hex, prefix: "sha256=" }}
    when: "{{{{ event.body.stage != 'rejected' }}}}"
connections:
  vendor: {{ type: http, base_url: "http://127.0.0.1:{vendor}" }}
tables:
  stages: {stages}
steps:
  - id: fields
    map: {{ name: "{name}", stage: "{{{{ lookup('stages', event.body.stage) }}}}" }}
  - id: post
    needs: [fields]
    action: http.request
    connection: vendor
    with:
      method: POST
      path: /notes
      headers: {{ X-Api-Key: "{{{{ secrets.VENDOR_TOKEN }}}}" }}
      json: {{ candidate: "{{{{ steps.fields.output.name }}}}", stage: "{{{{ steps.fields.output.stage }}}}" }}
    retry: {{ attempts: 1 }}
{extra}"#
    )
}

const NAME: &str = "{{ event.body.name }}";
const STAGES: &str = "{ interview: Interview, offer: Offer }";

fn send(serve: &Serve, body: &Value) -> u16 {
    let body = body.to_string();
    let sig = format!("sha256={}", hmac_sha256_hex(HOOK_KEY.as_bytes(), body.as_bytes()));
    let headers = [("X-Signature", sig.as_str()), ("Content-Type", "application/json")];
    http(serve.port, "POST", "/hooks/replay/notes", &headers, body.as_bytes()).status
}

/// Serves the workflow, sends three accepted events and one ignored, waits
/// for the runs, stops. Returns the file.
fn record(dir: &Path, db: &str, vendor: &Vendor) -> PathBuf {
    let wf_dir = dir.join("wf");
    std::fs::create_dir_all(&wf_dir).expect("dir");
    let file = wf_dir.join("notes.yaml");
    std::fs::write(&file, workflow(vendor.port, NAME, STAGES, "")).expect("write");
    let env = [("REQFLOW_SECRET_HOOK_KEY", HOOK_KEY), ("REQFLOW_SECRET_VENDOR_TOKEN", VENDOR_TOKEN)];
    let serve = Serve::start(&wf_dir, db, &env, dir);
    for (name, stage) in [("ada", "interview"), ("grace", "offer"), ("linus", "interview")] {
        assert_eq!(send(&serve, &json!({ "name": name, "stage": stage })), 202);
        // Distinct arrival times: replay goes oldest first.
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_for(|| vendor.requests().len() == 3, "the three original calls");
    // The vendor fails the fourth call: that run fails (one attempt).
    vendor.script(vec![(500, Duration::ZERO)], (201, Duration::ZERO));
    assert_eq!(send(&serve, &json!({ "name": "hedy", "stage": "interview" })), 202);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(send(&serve, &json!({ "name": "zed", "stage": "rejected" })), 200);
    wait_for(|| vendor.requests().len() == 4, "the four original calls");
    wait_for(
        || {
            let runs = serve.api("/api/runs?workflow=replay-notes").json();
            let statuses: Vec<&str> = runs["runs"]
                .as_array()
                .map(|r| r.iter().filter_map(|r| r["status"].as_str()).collect())
                .unwrap_or_default();
            statuses.len() == 4
                && statuses.iter().filter(|s| **s == "succeeded").count() == 3
                && statuses.contains(&"failed")
        },
        "three succeeded runs and a failed one",
    );
    drop(serve);
    file
}

fn replay(file: &Path, db: &str, extra: &[&str]) -> (i32, String, String) {
    let out = crate::reqflow()
        .arg("replay")
        .arg(file)
        .args(["--since", "1h", "--db", db])
        .args(extra)
        .env("REQFLOW_SECRET_HOOK_KEY", HOOK_KEY)
        .env("REQFLOW_SECRET_VENDOR_TOKEN", VENDOR_TOKEN)
        .output()
        .expect("reqflow replay");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(
        !stdout.contains(VENDOR_TOKEN) && !stderr.contains(VENDOR_TOKEN),
        "the secret is masked:\n{stdout}\n{stderr}"
    );
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

fn replay_json(file: &Path, db: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = replay(file, db, &args);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("--json prints one document ({e}):\n{stdout}"))
}

fn edited(dir: &Path, name: &str, text: &str) -> PathBuf {
    let f = dir.join(name);
    std::fs::write(&f, text).expect("write");
    f
}

fn step<'a>(event: &'a Value, id: &str) -> &'a Value {
    event["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == id))
        .unwrap_or_else(|| panic!("step {id} in {event}"))
}

fn scenario(tag: &str, db: &str) {
    let dir = temp_dir(tag);
    let vendor = Vendor::start();
    let file = record(&dir, db, &vendor);
    let sent = vendor.requests().len();
    let stored_before = stored(db);

    // (a) The unchanged file: everything unchanged; the ignored event skipped.
    let (code, text, stderr) = replay(&file, db, &[]);
    assert_eq!(code, 0, "{text}\n{stderr}");
    assert!(text.contains("4 unchanged, 0 changed, 0 newly failing"), "{text}");
    assert!(text.contains("1 skipped"), "{text}");
    assert!(text.contains("the original event was ignored"), "{text}");

    // (d) --json: one document, oldest first, ISO times, masked requests.
    let doc = replay_json(&file, db, &["--all"]);
    assert_eq!(doc["workflow"], "replay-notes");
    assert_eq!(doc["summary"], json!({ "events": 5, "unchanged": 4, "changed": 0, "newly_failing": 0, "skipped": 1 }));
    let events = doc["events"].as_array().expect("events");
    assert!(doc["since"].as_str().is_some_and(|s| s.ends_with('Z')), "{doc}");
    assert!(events.iter().all(|e| e["received_at"].as_str().is_some_and(|s| s.ends_with('Z'))), "{doc}");
    assert_eq!(events[0]["verdict"], "unchanged");
    assert_eq!(events[0]["original_status"], "succeeded");
    assert_eq!(events[0]["replay_status"], "succeeded");
    assert_eq!(step(&events[0], "post")["change"], "unchanged");
    assert_eq!(step(&events[0], "post")["kind"], "http.request");
    // The failed run replays as it ran: its call answered with the vendor's 500 again.
    assert_eq!(events[3]["verdict"], "unchanged", "{}", events[3]);
    assert_eq!(events[3]["original_status"], "failed");
    assert_eq!(events[3]["replay_status"], "failed");
    assert_eq!(events[4]["verdict"], "skipped");
    let limited = replay_json(&file, db, &["--limit", "2"]);
    assert_eq!(limited["summary"]["events"], 2);
    let later = replay_json(&file, db, &["--until", "2000-01-01"]);
    assert_eq!(later["summary"]["events"], 0, "{later}");

    // --workflow: the events of another id (a renamed workflow).
    let renamed = edited(
        &dir,
        "renamed.yaml",
        &workflow(vendor.port, NAME, STAGES, "").replace("id: replay-notes", "id: notes-v2"),
    );
    assert_eq!(replay_json(&renamed, db, &[])["summary"]["events"], 0, "notes-v2 has no events of its own");
    let doc = replay_json(&renamed, db, &["--workflow", "replay-notes"]);
    assert_eq!(doc["summary"], json!({ "events": 5, "unchanged": 4, "changed": 0, "newly_failing": 0, "skipped": 1 }));

    // (b) A changed `map:` field and a new action step.
    let extra = "  - id: notify\n    needs: [post]\n    action: http.request\n    connection: vendor\n    with: { method: POST, path: /notify, json: { who: \"{{ steps.fields.output.name }}\" } }\n";
    let changed = edited(&dir, "changed.yaml", &workflow(vendor.port, "{{ event.body.name | upper }}", STAGES, extra));
    let (code, text, stderr) = replay(&changed, db, &[]);
    assert_eq!(code, 0, "changes are a report, not an error: {text}\n{stderr}");
    assert!(text.contains("0 unchanged, 4 changed, 0 newly failing"), "{text}");
    for name in ["ada", "grace", "linus", "hedy"] {
        let upper = name.to_uppercase();
        assert!(text.contains(&format!("~ $.json.candidate: \"{name}\" → \"{upper}\"")), "{name}: {text}");
        assert!(text.contains(&format!("~ $.name: \"{name}\" → \"{upper}\"")), "{name}: {text}");
    }
    assert!(text.contains("step notify (http.request): added — a new call: not sent"), "{text}");
    assert!(text.contains("stops at a new call that was not sent"), "{text}");
    let doc = replay_json(&changed, db, &[]);
    let grace = &doc["events"][1];
    assert_eq!(grace["verdict"], "changed");
    let post = step(grace, "post");
    assert_eq!(post["change"], "changed");
    assert_eq!(
        post["fields"],
        json!([{ "path": "$.json.candidate", "change": "changed", "old": "grace", "new": "GRACE" }])
    );
    assert_eq!(step(grace, "notify")["change"], "added");
    assert_eq!(step(grace, "notify")["value"]["json"]["who"], "GRACE");
    assert_eq!(step(grace, "notify")["not_sent"], true);
    assert_eq!(step(grace, "post")["value"], Value::Null, "a changed step lists its fields, not the whole request");

    // (c) A table change that makes a step fail: the `offer` event is newly failing.
    let failing = edited(&dir, "failing.yaml", &workflow(vendor.port, NAME, "{ interview: Interview }", ""));
    let (code, text, stderr) = replay(&failing, db, &[]);
    assert_eq!(code, 0, "{text}\n{stderr}");
    assert!(text.contains("3 unchanged, 0 changed, 1 newly failing"), "{text}");
    assert!(text.contains("NEWLY FAILING"), "{text}");
    let doc = replay_json(&failing, db, &[]);
    let grace = &doc["events"][1];
    assert_eq!(grace["verdict"], "newly_failing");
    assert_eq!(grace["failure"]["step"], "fields", "{grace}");
    assert_eq!(step(grace, "post")["change"], "removed");
    assert_eq!(step(grace, "fields")["change"], "failed");
    assert!(step(grace, "fields")["note"].as_str().is_some_and(|n| n.contains("no key `offer`")), "{grace}");
    assert_eq!(step(grace, "post")["value"]["headers"]["X-Api-Key"], "***", "secrets stay masked: {grace}");
    assert_eq!(doc["events"][0]["verdict"], "unchanged");

    // Errors are errors: a database that is not there, a file that is not valid.
    let (code, _, stderr) = replay(&file, "sqlite:///nonexistent/dir/reqflow.db", &[]);
    assert_eq!(code, 2, "{stderr}");
    let bad = edited(&dir, "bad.yaml", "id: replay-notes\nsteps: nope\n");
    let (code, _, _) = replay(&bad, db, &[]);
    assert_eq!(code, 1);

    assert_eq!(vendor.requests().len(), sent, "replay sends nothing: {:?}", vendor.requests());
    assert_eq!(stored(db), stored_before, "replay only reads the store");
}

/// The stored events with their outcome and run (`reqflow events list --json`).
fn stored(db: &str) -> Value {
    let out = crate::reqflow()
        .args(["events", "list", "--json", "--limit", "1000", "--db", db])
        .output()
        .expect("events list");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(5), "{v}");
    v
}

#[test]
fn replay_reports_changes_without_calling_out_sqlite() {
    let dir = temp_dir("replay-db");
    let db = format!("sqlite://{}", dir.join("reqflow.db").display());
    scenario("replay-sqlite", &db);
}

#[test]
fn replay_reports_changes_without_calling_out_postgres() {
    let Some(admin) = postgres_url("replay_reports_changes_without_calling_out_postgres") else { return };
    let pg = PgDb::create(&admin, "replay");
    scenario("replay-pg", &pg.url);
}
