//! The fair backlog through the real `reqflow serve`: each workflow has a
//! share of `--max-backlog`. With workers off, a flood of manual runs of one
//! workflow (an `operate` token on the admin API) fills that workflow's
//! share and gets `503` + `Retry-After` naming it, while another workflow's
//! signed webhook is still accepted (`202`, its run stored). The counts come
//! from the store: a restarted process refuses the flooded workflow at once.
//! SQLite and PostgreSQL.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::harness::{PgDb, Resp, Serve, create_token, free_port, http, postgres_url, temp_dir};
use crate::security::hmac_sha256_hex;

const HOOK_KEY: &str = "backlog-hmac-key-5tQ9";

const FLOODED: &str = r#"id: flooded
trigger: { manual: {} }
steps:
  - id: pick
    map: { n: $.event.n }
"#;

const SIGNED: &str = r#"id: signed
trigger:
  webhook:
    path: backlog/signed
    auth:
      hmac: { header: X-Signature, secret: "{{ secrets.HOOK_KEY }}", algorithm: sha256, encoding: hex, prefix: "sha256=" }
steps:
  - id: pick
    map: { id: $.event.body.id }
"#;

/// `--max-backlog` of the test: two workflows, a share of 20 each.
const MAX_BACKLOG: &str = "40";
const SHARE: usize = 20;

fn start(dir: &Path, db: &str, extra: &[&str]) -> Serve {
    let mut args = vec!["--no-workers", "--max-backlog", MAX_BACKLOG];
    args.extend_from_slice(extra);
    Serve::start_with(free_port(), &dir.join("wf"), db, &[("REQFLOW_SECRET_HOOK_KEY", HOOK_KEY)], dir, &args)
}

fn manual(serve: &Serve, operator: &str, n: usize) -> Resp {
    let auth = format!("Bearer {operator}");
    let body = json!({ "n": n }).to_string();
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    http(serve.admin, "POST", "/api/workflows/flooded/runs", &headers, body.as_bytes())
}

fn signed_hook(serve: &Serve, id: &str) -> Resp {
    let body = json!({ "id": id }).to_string();
    let sig = format!("sha256={}", hmac_sha256_hex(HOOK_KEY.as_bytes(), body.as_bytes()));
    let headers = [("X-Signature", sig.as_str()), ("Content-Type", "application/json")];
    http(serve.port, "POST", "/hooks/backlog/signed", &headers, body.as_bytes())
}

/// A signed webhook of `signed` is accepted and its run is stored, queued.
fn signed_is_accepted(serve: &Serve, id: &str) {
    let r = signed_hook(serve, id);
    assert_eq!(r.status, 202, "the other workflow keeps accepting: {}", r.body);
    let run_id = r.json()["run_id"].as_str().expect("run_id").to_owned();
    let stored = serve.api(&format!("/api/runs/{run_id}"));
    assert_eq!(stored.status, 200, "{}", stored.body);
    let stored = stored.json();
    assert_eq!(stored["run"]["workflow"]["workflow_id"], "signed", "{stored}");
    assert_eq!(stored["run"]["status"], "queued", "{stored}");
}

fn assert_refused_for_its_share(r: &Resp, share: usize) {
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some(), "a 503 says when to come back");
    let error = r.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        error.contains("workflow `flooded`") && error.contains(&format!("its share of --max-backlog: {share}")),
        "the answer names the workflow and its share: {error}"
    );
}

fn a_flood_on_one_workflow_leaves_the_others_accepting(db: &str, dir: &Path) {
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    std::fs::write(dir.join("wf/flooded.yaml"), FLOODED).expect("workflow");
    std::fs::write(dir.join("wf/signed.yaml"), SIGNED).expect("workflow");
    let operator = create_token(db, "flooder", "operate", &[]);
    let mut serve = start(dir, db, &[]);
    assert!(serve.log_text().contains("backlog: at most 40 queued runs, 20 per workflow"), "{}", serve.log_text());

    // Manual runs count against their workflow like any trigger.
    let mut accepted = 0;
    let refused = loop {
        let r = manual(&serve, &operator, accepted);
        match r.status {
            202 => accepted += 1,
            503 => break r,
            other => panic!("unexpected {other}: {}", r.body),
        }
        assert!(accepted <= SHARE * 3, "the flood is never refused");
    };
    assert_eq!(accepted, SHARE, "sequential requests are refused right at the share");
    assert_refused_for_its_share(&refused, SHARE);
    for n in 0..5 {
        assert_eq!(manual(&serve, &operator, 100 + n).status, 503, "still refused");
    }

    // The other workflow: signed webhooks are accepted and stored.
    for i in 0..3 {
        signed_is_accepted(&serve, &format!("s-{i}"));
    }
    let metrics = serve.api("/metrics").body;
    assert!(
        metrics.contains("reqflow_backlog_refusals_total{workflow=\"flooded\",limit=\"workflow\"} 6"),
        "refusals counted by workflow:\n{metrics}"
    );
    let health = crate::harness::get(serve.port, "/healthz").json();
    assert_eq!(health["queued"], SHARE + 3, "every 202 is a stored run: {health}");

    // A new process reads the counts from the store: the flooded workflow is
    // refused there too (here with a fixed share), the other one accepted.
    serve.kill9();
    drop(serve);
    let serve = start(dir, db, &["--max-backlog-per-workflow", "10"]);
    std::thread::sleep(Duration::from_millis(600));
    assert_refused_for_its_share(&manual(&serve, &operator, 200), 10);
    signed_is_accepted(&serve, "after-restart");
}

#[test]
fn a_flood_on_one_workflow_leaves_the_others_accepting_sqlite() {
    let dir = temp_dir("backlog");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    a_flood_on_one_workflow_leaves_the_others_accepting(&db, &dir);
}

#[test]
fn a_flood_on_one_workflow_leaves_the_others_accepting_postgres() {
    let Some(url) = postgres_url("a_flood_on_one_workflow_leaves_the_others_accepting_postgres") else { return };
    let pg = PgDb::create(&url, "backlog");
    a_flood_on_one_workflow_leaves_the_others_accepting(&pg.url, &temp_dir("backlog-pg"));
}
