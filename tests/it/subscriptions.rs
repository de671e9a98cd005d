//! `subscriptions`: managed Workable subscriptions through the real binary and
//! `reqflow sandbox`: `reqflow subscriptions sync` creates what the triggers'
//! `subscribe:` declare, is idempotent, adopts one already registered (409),
//! recreates one gone at the vendor, renews one near `valid_until`, removes a
//! dropped one (SQLite and PostgreSQL); `serve --public-url` subscribes and a
//! candidate moved in the sandbox reaches a run through the subscription,
//! signature checked with the connection's token (a forged one is refused);
//! `serve --demo` runs with no settings at all and never uses the user's.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{PgDb, Serve, free_port, get, http, post_json, postgres_url, temp_dir, wait_for};

const TOKEN: &str = "subscriptions-workable-token";

/// A child process (`reqflow sandbox --no-rate-limit`, `reqflow serve --demo`) and its port; killed on drop.
struct Sandbox(std::process::Child, u16);

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `reqflow sandbox --no-rate-limit` (a sync and its checks make more than 10 calls in 10 s).
fn sandbox() -> Sandbox {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_reqflow"))
        .args(["sandbox", "--no-rate-limit", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sandbox");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "sandbox did not start");
        std::thread::sleep(Duration::from_millis(30));
    }
    Sandbox(child, port)
}

/// A workflow whose webhook trigger subscribes to `events` (no `auth:`: it follows from the connection).
fn workflow(id: &str, events: &str, args: &str) -> String {
    format!(
        r#"id: {id}
trigger:
  webhook:
    path: wk/{id}
    subscribe: {{ connection: workable, events: [{events}]{args} }}
connections:
  workable: {{ type: workable, base_url: "{{{{ vars.WORKABLE_BASE_URL }}}}", token: "{{{{ secrets.WORKABLE_TOKEN }}}}", rate_limit: none }}
steps:
  - id: seen
    map: {{ candidate: $.event.body.data.id, event: $.event.body.event_type, stage: $.event.body.data.stage }}
"#
    )
}

/// The sandbox's subscriptions, as Workable lists them.
fn remote(port: u16) -> Vec<Value> {
    let auth = format!("Bearer {TOKEN}");
    let r = http(port, "GET", "/spi/v3/subscriptions", &[("Authorization", &auth)], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["subscriptions"].as_array().cloned().unwrap_or_default()
}

fn remote_by_target(port: u16, target: &str) -> Option<Value> {
    remote(port).into_iter().find(|s| s["target"] == target)
}

/// `reqflow subscriptions sync --json`: (exit success, the report's items).
fn sync(db: &str, dir: &Path, public: &str, sb: u16) -> (bool, Vec<Value>) {
    let out = Command::new(env!("CARGO_BIN_EXE_reqflow"))
        .args(["subscriptions", "sync", "--json", "--public-url", public, "--db", db, "--workflows"])
        .arg(dir)
        .env("REQFLOW_SECRET_WORKABLE_TOKEN", TOKEN)
        .env("REQFLOW_VAR_WORKABLE_BASE_URL", format!("http://127.0.0.1:{sb}"))
        .output()
        .expect("reqflow subscriptions sync");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("sync: {e}\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), report["items"].as_array().cloned().unwrap_or_default())
}

fn change_of<'a>(items: &'a [Value], target: &str) -> &'a str {
    items.iter().find(|i| i["target"] == target).and_then(|i| i["change"].as_str()).unwrap_or("(none)")
}

fn sync_lifecycle(db: &str, tag: &str) {
    let sb = sandbox();
    let dir = temp_dir(tag);
    let wf = dir.join("workflows");
    std::fs::create_dir_all(&wf).expect("dir");
    std::fs::write(wf.join("a.yaml"), workflow("sub-a", "candidate_created, candidate_moved", "")).expect("write");
    std::fs::write(wf.join("b.yaml"), workflow("sub-b", "candidate_moved", ", args: { job_shortcode: GROOV001 }"))
        .expect("write");
    let public = "https://hooks.example.test";
    let a_created = format!("{public}/hooks/wk/sub-a?event=candidate_created");
    let a_moved = format!("{public}/hooks/wk/sub-a?event=candidate_moved");
    let b_moved = format!("{public}/hooks/wk/sub-b?event=candidate_moved");

    // Someone registered b's target already: the 409 is resolved by listing and adopting it.
    let auth = format!("Bearer {TOKEN}");
    let by_hand = post_json(
        sb.1,
        "/spi/v3/subscriptions",
        &[("Authorization", &auth)],
        &json!({ "target": b_moved, "event": "candidate_moved" }).to_string(),
    );
    assert_eq!(by_hand.status, 200, "{}", by_hand.body);
    let hand_id = by_hand.json()["id"].clone();

    // 1. Creates what is declared.
    let (ok, items) = sync(db, &wf, public, sb.1);
    assert!(ok, "{items:#?}");
    assert_eq!(change_of(&items, &a_created), "created", "{items:#?}");
    assert_eq!(change_of(&items, &a_moved), "created", "{items:#?}");
    assert_eq!(change_of(&items, &b_moved), "adopted", "{items:#?}");
    let subs = remote(sb.1);
    assert_eq!(subs.len(), 3, "{subs:#?}");
    let created = remote_by_target(sb.1, &a_created).expect("a's candidate_created subscription");
    assert_eq!(created["event"], "candidate_created");
    assert_eq!(remote_by_target(sb.1, &b_moved).expect("b")["id"], hand_id, "adopted, not re-created");
    let recorded = items.iter().find(|i| i["target"] == a_created.as_str()).expect("item");
    assert!(recorded["valid_until"].as_str().is_some_and(|v| v.ends_with('Z')), "{recorded}");

    // 2. Idempotent: nothing changes at the vendor.
    let (ok, items) = sync(db, &wf, public, sb.1);
    assert!(ok, "{items:#?}");
    assert!(items.iter().all(|i| i["change"] == "kept"), "{items:#?}");
    assert_eq!(remote(sb.1), subs, "a second sync changes nothing");

    // 3. Gone at the vendor: created again (and, with a short validity, then renewed).
    let short = post_json(sb.1, "/_sandbox/workable/subscriptions/validity", &[], r#"{"seconds": 3600}"#);
    assert_eq!(short.status, 200, "{}", short.body);
    let id = created["id"].as_u64().expect("id");
    assert_eq!(
        http(sb.1, "DELETE", &format!("/spi/v3/subscriptions/{id}"), &[("Authorization", &auth)], b"").status,
        200
    );
    let (ok, items) = sync(db, &wf, public, sb.1);
    assert!(ok, "{items:#?}");
    assert_eq!(change_of(&items, &a_created), "created", "{items:#?}");
    assert_eq!(change_of(&items, &a_moved), "kept", "{items:#?}");
    let short_lived = remote_by_target(sb.1, &a_created).expect("re-created");
    assert_ne!(short_lived["id"], created["id"]);
    // It expires within the default 7 days: the next sync renews it (a new id, the same target).
    let (ok, items) = sync(db, &wf, public, sb.1);
    assert!(ok, "{items:#?}");
    assert_eq!(change_of(&items, &a_created), "renewed", "{items:#?}");
    assert_eq!(change_of(&items, &b_moved), "kept", "{items:#?}");
    let renewed = remote_by_target(sb.1, &a_created).expect("renewed");
    assert_ne!(renewed["id"], short_lived["id"], "renewed: a new subscription");
    assert_eq!(remote(sb.1).len(), 3);
    post_json(sb.1, "/_sandbox/workable/subscriptions/validity", &[], r#"{"seconds": null}"#);

    // 4. A dropped event is removed at the vendor; the others stay.
    std::fs::write(wf.join("a.yaml"), workflow("sub-a", "candidate_moved", "")).expect("write");
    let (ok, items) = sync(db, &wf, public, sb.1);
    assert!(ok, "{items:#?}");
    assert_eq!(change_of(&items, &a_created), "removed", "{items:#?}");
    assert!(remote_by_target(sb.1, &a_created).is_none(), "removed at the vendor");
    assert_eq!(remote(sb.1).len(), 2);

    // `subscriptions list` shows what the engine keeps.
    let out = Command::new(env!("CARGO_BIN_EXE_reqflow"))
        .args(["subscriptions", "list", "--db", db])
        .output()
        .expect("subscriptions list");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&a_moved) && text.contains(&b_moved) && !text.contains(&a_created), "{text}");
    assert!(!text.contains(TOKEN), "no token in the list");
}

#[test]
fn sync_creates_adopts_renews_and_removes_sqlite() {
    let dir = temp_dir("subs-sqlite");
    sync_lifecycle(&format!("sqlite://{}", dir.join("reqflow.db").display()), "subs-sqlite-wf");
}

#[test]
fn sync_creates_adopts_renews_and_removes_postgres() {
    let Some(url) = postgres_url("sync_creates_adopts_renews_and_removes_postgres") else { return };
    let pg = PgDb::create(&url, "subs");
    sync_lifecycle(&pg.url, "subs-pg-wf");
}

#[test]
fn a_moved_candidate_reaches_a_run_through_the_subscription() {
    let sb = sandbox();
    let dir = temp_dir("subs-serve");
    let wf = dir.join("workflows");
    std::fs::create_dir_all(&wf).expect("dir");
    std::fs::write(wf.join("a.yaml"), workflow("sub-a", "candidate_created, candidate_moved", "")).expect("write");
    let port = free_port();
    let base = format!("http://127.0.0.1:{}", sb.1);
    let env = [("REQFLOW_SECRET_WORKABLE_TOKEN", TOKEN), ("REQFLOW_VAR_WORKABLE_BASE_URL", base.as_str())];
    let public = format!("http://127.0.0.1:{port}");
    let serve = Serve::start_with(
        port,
        &wf,
        &format!("sqlite://{}", dir.join("reqflow.db").display()),
        &env,
        &dir,
        &["--public-url", &public],
    );
    let moved_target = format!("{public}/hooks/wk/sub-a?event=candidate_moved");
    wait_for(|| remote_by_target(sb.1, &moved_target).is_some(), "the subscription at the sandbox");

    // A recruiter moves a candidate: Workable delivers, signed with the token, and a run starts.
    let moved = post_json(sb.1, "/_sandbox/workable/candidates/27270001/move", &[], r#"{"stage": "interview"}"#);
    assert_eq!(moved.status, 200, "{}", moved.body);
    let deliveries = moved.json()["deliveries"].as_array().cloned().unwrap_or_default();
    assert_eq!(deliveries.len(), 1, "{deliveries:#?}");
    assert_eq!(deliveries[0]["status"], 202, "{deliveries:#?}");
    let body: Value = serde_json::from_str(deliveries[0]["body"].as_str().unwrap_or("{}")).expect("json");
    let run = serve.wait_run(body["run_id"].as_str().expect("a run"), Duration::from_secs(30));
    assert_eq!(run["run"]["status"], "succeeded", "{run:#}");
    let seen = &run["steps"][0]["output"];
    assert_eq!(seen["candidate"], "27270001", "{run:#}");
    assert_eq!(seen["stage"], "Interview", "{run:#}");

    // A new candidate: `candidate_created` through its own subscription.
    let auth = format!("Bearer {TOKEN}");
    let created = post_json(
        sb.1,
        "/spi/v3/jobs/GROOV001/candidates",
        &[("Authorization", &auth)],
        r#"{"candidate": {"name": "Ada Lovelace", "email": "ada@example.com"}}"#,
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let new_id = created.json()["candidate"]["id"].as_str().expect("id").to_owned();
    wait_for(
        || {
            serve.api("/api/runs?workflow=sub-a").json()["runs"]
                .as_array()
                .is_some_and(|r| r.iter().filter(|r| r["status"] == "succeeded").count() == 2)
        },
        "the candidate_created run",
    );
    let events = serve.api("/api/events?workflow=sub-a").json();
    assert!(events.to_string().contains("accepted"), "{events:#}");

    // The same delivery signed with another key is refused and starts nothing.
    let forged = post_json(
        sb.1,
        "/_sandbox/webhooks/send",
        &[],
        &json!({ "url": moved_target, "key": "not-the-token", "candidate_id": new_id }).to_string(),
    );
    assert_eq!(forged.json()["status"], 401, "{}", forged.body);
    let runs = serve.api("/api/runs?workflow=sub-a").json();
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(2), "{runs:#}");
    assert!(!serve.log_text().contains(TOKEN), "the token is never logged");
}

#[test]
fn serve_demo_runs_with_nothing_set_and_ignores_the_users_settings() {
    let dir = temp_dir("subs-demo");
    let (port, admin) = (free_port(), free_port());
    let log = dir.join("demo.log");
    let file = std::fs::File::create(&log).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_reqflow"))
        .args(["serve", "--demo", "--workflows"])
        .arg(crate::root().join("workflows"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--admin-listen", &format!("127.0.0.1:{admin}")])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // A user's settings for a real tenant (TEST-NET-1, unroutable): the demo must not use them.
        .env("REQFLOW_VAR_WORKABLE_BASE_URL", "http://192.0.2.1:9")
        .env("REQFLOW_SECRET_WORKABLE_TOKEN", "a-real-token-never-used")
        .stdout(Stdio::from(file.try_clone().expect("log")))
        .stderr(Stdio::from(file))
        .spawn()
        .expect("serve --demo");
    let mut child = Sandbox(child, port); // killed on drop, even when an assertion fails
    let child = &mut child.0;
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !text().contains("reqflow: demo: runs:") {
        if let Ok(Some(s)) = child.try_wait() {
            panic!("serve --demo exited with {s}:\n{}", text());
        }
        assert!(Instant::now() < deadline, "the demo banner:\n{}", text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let banner = text();
    assert!(banner.contains("the subscription delivered it, a run started"), "{banner}");
    assert!(banner.contains(&format!("console: http://127.0.0.1:{admin}/")), "{banner}");
    assert!(!banner.contains("not set:"), "the demo sets every setting:\n{banner}");
    assert!(!banner.contains("not connected"), "the demo's Workday connections have the sandbox's token:\n{banner}");
    assert!(!banner.contains("192.0.2.1") && !banner.contains("a-real-token"), "{banner}");
    assert_eq!(get(port, "/healthz").status, 200);

    // The Workable run the demo started succeeded, and so did the Workday poll.
    let db = format!("sqlite://{}", dir.join("reqflow-demo.db").display());
    let runs = || {
        let out = Command::new(env!("CARGO_BIN_EXE_reqflow"))
            .args(["runs", "list", "--json", "--limit", "200", "--db", &db])
            .output()
            .expect("runs list");
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
    };
    let succeeded = |wf: &str| {
        runs()
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["workflow"]["workflow_id"] == wf && r["status"] == "succeeded"))
    };
    wait_for(|| succeeded("workable-phone-screen"), "the demo's Workable run");
    wait_for(|| succeeded("workday-candidate-poll"), "the demo's Workday poll");
    let all = runs();
    assert!(all.as_array().is_some_and(|r| r.iter().all(|r| r["status"] != "failed")), "{all:#}");
}
