//! Events are visible, through the real `reqflow serve` and `reqflow events`,
//! on SQLite and PostgreSQL: accepted, ignored (`when:` false), duplicate
//! (same dedupe key) and invalid (dedupe field missing) events are listed by
//! `GET /api/events` with their outcome, reason and run, filtered by
//! workflow, outcome and time (ISO 8601 or Unix ms), paged; `reqflow events
//! list|show` print them; `runs list --status` offers only run statuses.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{PgDb, Serve, free_port, http, postgres_url, temp_dir};

const TOKEN: &str = "events-hook-token-Pw27";
/// A secret that is also a dedupe key: shown masked.
const SECRET_KEY: &str = "masked-candidate-7781";

const HOOK: &str = r#"id: ev-hook
trigger:
  webhook:
    path: events/hook
    auth: { bearer: "{{ secrets.HOOK_TOKEN }}" }
    dedupe: "{{ event.body.candidate.id }}"
    when: "{{ event.body.stage == 'screen' }}"
steps:
  - id: pick
    map: { id: "{{ event.body.candidate.id }}" }
"#;

const OTHER: &str = r#"id: ev-other
trigger: { manual: {} }
steps:
  - id: pick
    map: { ok: true }
"#;

fn start(dir: &Path, db: &str) -> Serve {
    let wf = dir.join("wf");
    std::fs::create_dir_all(&wf).expect("dir");
    std::fs::write(wf.join("ev-hook.yaml"), HOOK).expect("workflow");
    std::fs::write(wf.join("ev-other.yaml"), OTHER).expect("workflow");
    let env = [("REQFLOW_SECRET_HOOK_TOKEN", TOKEN), ("REQFLOW_SECRET_CANDIDATE", SECRET_KEY)];
    Serve::start_with(free_port(), &wf, db, &env, dir, &[])
}

fn hook(serve: &Serve, body: &str) -> Value {
    let auth = format!("Bearer {TOKEN}");
    let r = http(serve.port, "POST", "/hooks/events/hook", &[("Authorization", &auth)], body.as_bytes());
    assert!(r.status == 200 || r.status == 202, "{} {}", r.status, r.body);
    // Distinct arrival times, so that `since`/`until` split the events.
    std::thread::sleep(Duration::from_millis(15));
    r.json()
}

fn list(serve: &Serve, query: &str) -> (Vec<Value>, Option<String>) {
    let r = serve.api(&format!("/api/events?{query}"));
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    let v = r.json();
    (v["events"].as_array().cloned().unwrap_or_default(), v["next_before"].as_str().map(str::to_owned))
}

fn ids(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["event_id"].as_str().unwrap_or_default().to_owned()).collect()
}

fn reqflow(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_reqflow"))
        .args(args)
        .env("REQFLOW_SECRET_CANDIDATE", SECRET_KEY)
        .output()
        .expect("run reqflow")
}

fn events_are_listed_with_outcome_and_reason(db: &str, dir: &Path) {
    let serve = start(dir, db);
    let accepted = hook(&serve, &format!(r#"{{"candidate":{{"id":"{SECRET_KEY}"}},"stage":"screen"}}"#));
    let run = accepted["run_id"].as_str().expect("a run").to_owned();
    let dup = hook(&serve, &format!(r#"{{"candidate":{{"id":"{SECRET_KEY}"}},"stage":"screen"}}"#));
    assert_eq!(dup["status"], "duplicate", "{dup}");
    let ignored = hook(&serve, r#"{"candidate":{"id":"c-2"},"stage":"offer"}"#);
    assert_eq!(ignored["status"], "ignored", "{ignored}");
    let ignored_id = ignored["event_id"].as_str().expect("event_id").to_owned();
    let invalid = hook(&serve, r#"{"stage":"screen"}"#);
    assert_eq!(invalid["status"], "invalid", "{invalid}");
    let dup_of_ignored = hook(&serve, r#"{"candidate":{"id":"c-2"},"stage":"screen"}"#);
    assert_eq!(dup_of_ignored["status"], "duplicate", "{dup_of_ignored}");
    let manual = serve.api_post("/api/workflows/ev-other/runs", "{}");
    assert_eq!(manual.status, 202, "{}", manual.body);
    let manual_run = manual.json()["run_id"].as_str().expect("run").to_owned();

    // Everything, newest first.
    let (all, next) = list(&serve, "");
    assert_eq!(all.len(), 6, "{all:?}");
    assert_eq!(next, None);
    let outcomes: Vec<&str> = all.iter().map(|e| e["outcome"].as_str().unwrap_or_default()).collect();
    assert_eq!(outcomes, ["accepted", "duplicate", "invalid", "ignored", "duplicate", "accepted"]);
    for e in &all {
        assert!(e.get("event").is_none() && e.get("payload").is_none(), "no payload in the list: {e}");
        let at = e["received_at"].as_str().expect("ISO time");
        assert!(at.ends_with('Z') && at.len() == 24, "ISO 8601 UTC with milliseconds: {at}");
        assert!(e["received_at_ms"].is_i64(), "{e}");
    }
    let [newest_manual, dup2, inv, ign, dup1, first] = &all[..] else { unreachable!() };
    assert_eq!(newest_manual["workflow_id"], "ev-other");
    assert_eq!(newest_manual["trigger"], "manual");
    assert_eq!(newest_manual["run_id"], manual_run.as_str());
    assert_eq!(first["run_id"], run.as_str());
    assert_eq!(first["reason"], Value::Null);
    assert_eq!(first["dedupe_key"], "***", "the dedupe key is masked with the engine's secrets");
    assert_eq!(first["trigger"], "webhook");
    let first_id = first["event_id"].as_str().unwrap_or_default();
    let first_at = first["received_at"].as_str().unwrap_or_default();
    assert_eq!(dup1["run_id"], run.as_str(), "a duplicate names the run it duplicates");
    assert_eq!(
        dup1["reason"],
        format!("duplicate of run {run}: dedupe key first seen at {first_at} (event {first_id})").as_str()
    );
    assert_eq!(ign["event_id"], ignored_id.as_str());
    assert_eq!(ign["reason"], "`when:` was false");
    assert_eq!(ign["run_id"], Value::Null);
    let inv_reason = inv["reason"].as_str().unwrap_or_default();
    assert!(inv_reason.starts_with("`dedupe:`"), "an invalid event keeps its reason: {inv_reason}");
    assert_eq!(inv["reason"], invalid["reason"]);
    assert_eq!(dup2["run_id"], Value::Null);
    let dup2_reason = dup2["reason"].as_str().unwrap_or_default();
    assert!(
        dup2_reason
            .starts_with("duplicate of an event that started no run (`when:` was false): dedupe key first seen at ")
            && dup2_reason.ends_with(&format!("(event {ignored_id})")),
        "{dup2_reason}"
    );

    // Filters.
    let (hooks, _) = list(&serve, "workflow=ev-hook");
    assert_eq!(ids(&hooks), ids(&all[1..]));
    let (dups, _) = list(&serve, "outcome=duplicate");
    assert_eq!(ids(&dups), ids(&[dup2.clone(), dup1.clone()]));
    let (acc, _) = list(&serve, "outcome=accepted&workflow=ev-hook");
    assert_eq!(ids(&acc), ids(std::slice::from_ref(first)));
    let (none, _) = list(&serve, "outcome=ignored&workflow=ev-other");
    assert!(none.is_empty());
    let split = ign["received_at"].as_str().expect("time");
    let (later, _) = list(&serve, &format!("since={split}"));
    assert_eq!(ids(&later), ids(&all[..4]), "since is inclusive (ISO 8601)");
    let (earlier, _) = list(&serve, &format!("until={split}"));
    assert_eq!(ids(&earlier), ids(&all[4..]), "until is exclusive (ISO 8601)");
    let split_ms = ign["received_at_ms"].as_i64().expect("ms");
    let (later_ms, _) = list(&serve, &format!("since={split_ms}&until={}", split_ms + 1));
    assert_eq!(ids(&later_ms), ids(std::slice::from_ref(ign)), "Unix ms as the runs API takes them");

    // Paging across a small limit.
    let mut paged = Vec::new();
    let mut before = String::new();
    for _ in 0..10 {
        let (page, next) = list(&serve, &format!("limit=4{before}"));
        assert!(page.len() <= 4);
        paged.extend(page);
        match next {
            Some(b) => before = format!("&before={b}"),
            None => break,
        }
    }
    assert_eq!(ids(&paged), ids(&all), "pages cover every event once, in order");

    // Refusals say what to use.
    let bad = serve.api("/api/events?outcome=queued");
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("accepted, ignored, duplicate, invalid"), "{}", bad.body);
    let bad = serve.api("/api/events?since=yesterday");
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("ISO 8601"), "{}", bad.body);
    let bad = serve.api("/api/runs?status=ignored");
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("/api/events?outcome=ignored"), "{}", bad.body);

    // One event, with its payload.
    let one = serve.api(&format!("/api/events/{ignored_id}"));
    assert_eq!(one.status, 200, "{}", one.body);
    let one = one.json();
    assert_eq!(one["outcome"], "ignored");
    assert_eq!(one["reason"], "`when:` was false");
    assert_eq!(one["event"]["body"]["stage"], "offer");

    // The CLI on the same database.
    let out = reqflow(&["events", "list", "--outcome", "duplicate", "--db", db]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for e in [dup1, dup2] {
        assert!(text.contains(e["event_id"].as_str().unwrap_or("?")), "{text}");
    }
    assert!(text.contains(&format!("duplicate of run {run}")), "{text}");
    assert!(!text.contains("ev-other"), "{text}");
    let out = reqflow(&["events", "list", "--workflow", "ev-hook", "--since", split, "--json", "--db", db]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(ids(&listed), ids(&all[1..4]));
    assert_eq!(listed[2]["dedupe_key"], "c-2");
    let dup1_id = dup1["event_id"].as_str().unwrap_or_default();
    let out = reqflow(&["events", "show", dup1_id, "--db", db]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(shown["outcome"], "duplicate");
    assert_eq!(shown["run_id"], run.as_str());
    assert_eq!(shown["reason"], dup1["reason"]);
    assert_eq!(shown["dedupe_key"], "***");
    assert_eq!(shown["event"]["body"]["candidate"]["id"], "***", "the CLI masks with REQFLOW_SECRET_*");
    let out = reqflow(&["events", "show", "no-such-event", "--db", db]);
    assert!(!out.status.success());

    // `runs list --status` offers only what a run can be.
    let out = reqflow(&["runs", "list", "--status", "ignored", "--db", db]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid value 'ignored'")
            && err.contains("[possible values: queued, running, succeeded, failed]"),
        "{err}"
    );
    let out = reqflow(&["runs", "list", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("events list --outcome ignored") && !help.contains("duplicate]"), "{help}");
}

#[test]
fn events_are_listed_with_outcome_and_reason_sqlite() {
    let dir = temp_dir("events-list");
    let db = format!("sqlite://{}", dir.join("events.db").display());
    events_are_listed_with_outcome_and_reason(&db, &dir);
}

#[test]
fn events_are_listed_with_outcome_and_reason_postgres() {
    let Some(url) = postgres_url("events_are_listed_with_outcome_and_reason_postgres") else { return };
    let pg = PgDb::create(&url, "events_list");
    let dir = temp_dir("events-list-pg");
    events_are_listed_with_outcome_and_reason(&pg.url, &dir);
}
