//! The PostgreSQL connection budget through the real `reqflow serve`: a
//! process opens at most `max_connections` (a parameter of the database URL)
//! whatever the load; when it cannot get a connection, a trigger's caller
//! gets `503` + `Retry-After` within `accept_timeout`, never a hang; and an
//! event answered `202` is stored and run.
//!
//! The database belongs to a role of its own (superusers are exempt from
//! connection limits), whose `CONNECTION LIMIT` the test lowers to what the
//! process already holds: the accept path, which has not connected yet,
//! cannot.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Resp, Serve, free_port, http, postgres_url, temp_dir, workflow_dir};
use crate::security::hmac_sha256_hex;

const HOOK_KEY: &str = "budget-hmac-key-8Rk2";

const SIGNED: &str = r#"id: budget
trigger:
  webhook:
    path: budget/signed
    auth:
      hmac: { header: X-Signature, secret: "{{ secrets.HOOK_KEY }}", algorithm: sha256, encoding: hex, prefix: "sha256=" }
steps:
  - id: pick
    map: { id: $.event.body.id }
"#;

/// The connections `serve` may open.
const MAX: usize = 5;

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .expect("psql (install postgresql-client)");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A database owned by a fresh login role; both dropped on drop.
struct OwnDb {
    admin: String,
    role: String,
    url: String,
}

impl OwnDb {
    fn create(admin: &str) -> OwnDb {
        let role = format!("reqflow_it_budget_{}", std::process::id());
        psql(admin, &format!("DROP DATABASE IF EXISTS {role} WITH (FORCE)"));
        psql(admin, &format!("DROP ROLE IF EXISTS {role}"));
        psql(admin, &format!("CREATE ROLE {role} LOGIN"));
        psql(admin, &format!("CREATE DATABASE {role} OWNER {role}"));
        // postgres://user@host:port/db → the role on its database.
        let (_, rest) = admin.split_once("://").expect("a URL");
        let hostpart = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        let host = hostpart.split('/').next().unwrap_or(hostpart);
        OwnDb { admin: admin.to_owned(), url: format!("postgres://{role}@{host}/{role}"), role }
    }

    /// Connections the role holds now.
    fn connections(&self) -> usize {
        psql(&self.admin, &format!("SELECT count(*) FROM pg_stat_activity WHERE usename = '{}'", self.role))
            .parse()
            .expect("a count")
    }

    fn limit(&self, n: i64) {
        psql(&self.admin, &format!("ALTER ROLE {} CONNECTION LIMIT {n}", self.role));
    }
}

impl Drop for OwnDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([&self.admin, "-qc", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.role)])
            .output();
        let _ = Command::new("psql").args([&self.admin, "-qc", &format!("DROP ROLE IF EXISTS {}", self.role)]).output();
    }
}

fn hook(port: u16, id: &str) -> Resp {
    let body = json!({ "id": id }).to_string();
    let sig = format!("sha256={}", hmac_sha256_hex(HOOK_KEY.as_bytes(), body.as_bytes()));
    let headers = [("X-Signature", sig.as_str()), ("Content-Type", "application/json")];
    http(port, "POST", "/hooks/budget/signed", &headers, body.as_bytes())
}

#[test]
fn postgres_connection_budget_is_kept_and_a_trigger_without_a_connection_gets_503() {
    let Some(admin) = postgres_url("postgres_connection_budget_is_kept_and_a_trigger_without_a_connection_gets_503")
    else {
        return;
    };
    let db = OwnDb::create(&admin);
    let url = format!("{}?max_connections={MAX}&accept_timeout=1", db.url);
    let dir = temp_dir("db-budget");
    let (wf, _) = workflow_dir("db-budget", "budget", SIGNED);
    let serve = Serve::start_with(
        free_port(),
        &wf.join("workflows"),
        &url,
        &[("REQFLOW_SECRET_HOOK_KEY", HOOK_KEY)],
        &dir,
        &["--concurrency", "4"],
    );
    // Let the start settle (listener, workers' first claims, the API's reads).
    std::thread::sleep(Duration::from_millis(700));
    let held = db.connections();
    assert!(held <= MAX, "serve holds {held} connections at start, more than max_connections={MAX}");

    // No new connection for the role: the accept path has none yet.
    db.limit(held as i64);
    for i in 0..3 {
        let t = Instant::now();
        let r = hook(serve.port, &format!("refused-{i}"));
        assert!(t.elapsed() < Duration::from_secs(5), "the caller waited {:?}", t.elapsed());
        assert_eq!(r.status, 503, "without a connection: {}", r.body);
        assert!(r.header("retry-after").is_some(), "a 503 says when to come back: {r:?}");
    }

    // Connections again: everything answered 202 is stored and runs, and the
    // process stays within its budget under concurrent load.
    db.limit(-1);
    let first = hook(serve.port, "accepted-0");
    assert_eq!(first.status, 202, "{}", first.body);
    let mut run_ids = vec![first.json()["run_id"].as_str().expect("run_id").to_owned()];
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (peak, stop, admin, role) = (peak.clone(), stop.clone(), db.admin.clone(), db.role.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let n: usize = psql(&admin, &format!("SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}'"))
                    .parse()
                    .unwrap_or(0);
                peak.fetch_max(n, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let port = serve.port;
    let senders: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        let r = hook(port, &format!("load-{t}-{i}"));
                        assert_eq!(r.status, 202, "{}", r.body);
                        r.json()["run_id"].as_str().expect("run_id").to_owned()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for s in senders {
        run_ids.extend(s.join().expect("sender"));
    }
    for id in &run_ids {
        let run = serve.wait_run(id, Duration::from_secs(30));
        assert_eq!(run["run"]["status"], "succeeded", "{run}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = watcher.join();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    assert!(peak <= MAX, "serve held {peak} connections under load, more than max_connections={MAX}");

    // Exactly the accepted events are stored, each with its run: none of the refused ones.
    let stored = psql(
        &db.url,
        "SELECT count(*), count(run_id), count(*) FILTER (WHERE payload::text LIKE '%refused-%'
                OR position('refused-'::bytea IN COALESCE(raw_body, ''::bytea)) > 0) FROM events",
    );
    assert_eq!(stored, format!("{}|{}|0", run_ids.len(), run_ids.len()), "events, with a run, refused ones");
}
