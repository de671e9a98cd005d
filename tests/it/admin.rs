//! The admin plane through the real `reqflow serve`:
//!
//! - every route of the admin router (enumerated from
//!   `reqflow_server::admin_routes()`, the table the router is built from, so
//!   a route added later is covered) refuses a request without a token, with
//!   an unknown, revoked or expired token (401), and with too small a scope
//!   (403), and none of those requests changes anything;
//! - the public listener serves none of them (404);
//! - tokens are kept as hashes only (the database files never hold one);
//! - every state-changing call is in the audit trail, with its token's name;
//! - `/metrics` takes a read token, or none with `--metrics-open`.

use std::time::Duration;

use reqflow_engine::store::Scope;
use serde_json::{Value, json};

use crate::harness::{PgDb, Serve, create_token, http, postgres_url, temp_dir};

const WORKFLOW: &str = r#"
id: ops
trigger: { manual: {} }
steps:
  - id: pick
    map: { name: "{{ event.name }}" }
"#;

fn auth(token: &str) -> String {
    format!("Bearer {token}")
}

/// The route's path with its parameters filled from `params`.
fn concrete(path: &str, params: &[(&str, &str)]) -> String {
    let mut p = path.to_owned();
    for (k, v) in params {
        p = p.replace(&format!("{{{k}}}"), v);
    }
    p
}

/// What a refused request must not change: the runs (with status and
/// retries), the tokens (with revocation), the workflows that serve (with
/// their hash), the audit records that are not "denied".
fn snapshot(serve: &Serve) -> Value {
    let runs = serve.api("/api/runs?limit=1000").json()["runs"].clone();
    let runs: Vec<Value> = runs
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| json!([r["run_id"], r["status"], r["retries"]]))
        .collect();
    let tokens: Vec<Value> = serve.api("/api/tokens").json()["tokens"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|t| json!([t["name"], t["scope"], t["revoked_at"]]))
        .collect();
    let audit: Vec<Value> = serve.api("/api/audit?limit=1000").json()["audit"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["outcome"] != "denied")
        .collect();
    let workflows: Vec<Value> = serve.api("/api/workflows").json()["workflows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|w| json!([w["id"], w["hash"]]))
        .collect();
    json!({ "runs": runs, "tokens": tokens, "audit": audit, "workflows": workflows })
}

fn every_route_refuses_what_it_must(db: &str, dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    std::fs::write(dir.join("wf/ops.yaml"), WORKFLOW).expect("workflow");
    let serve = Serve::start(&dir.join("wf"), db, &[], dir);
    // A failed run (strict templates: `event.name` is missing) to aim retries at.
    let run = serve.api_post("/api/workflows/ops/runs", "{}").json()["run_id"].as_str().expect("run").to_owned();
    let failed = serve.wait_run(&run, Duration::from_secs(20));
    assert_eq!(failed["run"]["status"], "failed", "{failed}");

    let read = create_token(db, "reader", "read", &[]);
    let operate = create_token(db, "operator", "operate", &[]);
    let revoked = create_token(db, "gone", "admin", &[]);
    let expired = create_token(db, "brief", "admin", &["--expires", "1s"]);
    create_token(db, "victim", "read", &[]);
    let out = crate::reqflow().args(["tokens", "revoke", "gone", "--db", db]).output().expect("revoke");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::thread::sleep(Duration::from_millis(1200));

    let before = snapshot(&serve);
    let routes = reqflow_server::admin_routes();
    assert!(routes.len() >= 12, "the table lists the admin routes: {routes:?}");
    for route in &routes {
        let params: &[(&str, &str)] = if route.path.starts_with("/api/workflows") {
            &[("id", "ops"), ("n", "1")]
        } else {
            &[("id", &run), ("name", "victim")]
        };
        let path = concrete(route.path, params);
        let method = route.method.as_str();
        let body = if method == "POST" || method == "PUT" {
            br#"{"workflow":"ops","name":"x","scope":"admin"}"#.as_slice()
        } else {
            b""
        };
        let json_ct = ("Content-Type", "application/json");
        let what = format!("{method} {path}");

        // The public plane does not serve it at all.
        let public = http(serve.port, method, &path, &[json_ct], body);
        assert_eq!(public.status, 404, "{what} on the public listener: {}", public.body);

        for (label, header) in [
            ("no token", None),
            ("an unknown token", Some(auth("rft_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))),
            ("a token of another kind", Some(auth("hunter2"))),
            ("a revoked token", Some(auth(&revoked))),
            ("an expired token", Some(auth(&expired))),
        ] {
            let mut headers = vec![json_ct];
            if let Some(h) = &header {
                headers.push(("Authorization", h));
            }
            let r = http(serve.admin, method, &path, &headers, body);
            assert_eq!(r.status, 401, "{what} with {label}: {}", r.body);
            assert!(r.header("www-authenticate").is_some(), "{what}: 401 names the scheme");
        }
        let smaller = match route.scope {
            Scope::Read => None,
            Scope::Operate => Some((&read, "read")),
            Scope::Admin => Some((&operate, "operate")),
        };
        if let Some((token, scope)) = smaller {
            let h = auth(token);
            let r = http(serve.admin, method, &path, &[json_ct, ("Authorization", &h)], body);
            assert_eq!(r.status, 403, "{what} with a {scope} token: {}", r.body);
            assert!(r.body.contains(route.scope.as_str()), "{what}: the 403 says which scope is needed: {}", r.body);
        }
        // Every route that changes state is audited (`POST /api/validate` only reads its body), and
        // so is the one read that discloses a person's data (`GET /api/subjects/{subject}`).
        let changes_state = route.method != "GET" && route.path != "/api/validate";
        let discloses = route.path == "/api/subjects/{subject}";
        assert_eq!(route.audit.is_some(), changes_state || discloses, "{what}: audit action iff it changes state");
    }
    assert_eq!(snapshot(&serve), before, "refused requests changed nothing");

    // The refusals of state-changing calls for their scope are in the trail, as denied.
    let audit = serve.api("/api/audit?limit=1000").json();
    let denied: Vec<&Value> =
        audit["audit"].as_array().expect("audit").iter().filter(|a| a["outcome"] == "denied").collect();
    let state_changing = routes.iter().filter(|r| r.audit.is_some()).count();
    assert_eq!(denied.len(), state_changing, "one denied record per state-changing route: {denied:#?}");
    assert!(denied.iter().all(|a| a["actor"] == "token:reader" || a["actor"] == "token:operator"), "{denied:#?}");

    // A `read` token issued with subject access (a data-protection officer's) may export one person's
    // data, and nothing else beyond `read`; the export is audited under its name.
    let dpo = create_token(db, "dpo", "read", &["--subject-access"]);
    let h = auth(&dpo);
    for route in routes.iter().filter(|r| r.scope != Scope::Read) {
        let path = concrete(route.path, &[("id", &run), ("name", "victim"), ("subject", "ada@example.com")]);
        let method = route.method.as_str();
        let r = http(serve.admin, method, &path, &[("Content-Type", "application/json"), ("Authorization", &h)], b"{}");
        if route.subject_access {
            assert_eq!(r.status, 200, "{method} {path} with a subject-access read token: {}", r.body);
        } else {
            assert_eq!(r.status, 403, "{method} {path} with a subject-access read token: {}", r.body);
        }
    }
    assert!(routes.iter().any(|r| r.subject_access), "the subject export route allows subject access");
    let audit = serve.api("/api/audit?limit=1000").json();
    let exports: Vec<&Value> = audit["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .filter(|a| a["action"] == "subject.export" && a["actor"] == "token:dpo")
        .collect();
    assert_eq!(exports.len(), 1, "{exports:#?}");
    assert_eq!(exports[0]["outcome"], "ok", "{exports:#?}");
    assert!(!audit.to_string().contains("ada@example.com"), "the subject's value is never in the audit trail");
}

#[test]
fn every_admin_route_needs_a_valid_token_of_the_right_scope_sqlite() {
    let dir = temp_dir("admin-routes");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    every_route_refuses_what_it_must(&db, &dir);
}

#[test]
fn every_admin_route_needs_a_valid_token_of_the_right_scope_postgres() {
    let Some(url) = postgres_url("every_admin_route_needs_a_valid_token_of_the_right_scope_postgres") else { return };
    let pg = PgDb::create(&url, "admin_routes");
    every_route_refuses_what_it_must(&pg.url, &temp_dir("admin-routes-pg"));
}

#[test]
fn tokens_are_stored_as_hashes_and_changes_are_audited() {
    let dir = temp_dir("admin-tokens");
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    std::fs::write(dir.join("wf/ops.yaml"), WORKFLOW).expect("workflow");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let cli_token = create_token(&db, "ci", "operate", &[]);
    let serve = Serve::start(&dir.join("wf"), &db, &[], &dir);

    // Over HTTP: create, use, list, revoke.
    let created = serve.api_post("/api/tokens", r#"{"name": "dashboard", "scope": "read", "expires": "30d"}"#);
    assert_eq!(created.status, 201, "{}", created.body);
    let http_token = created.json()["token"].as_str().expect("token").to_owned();
    assert!(http_token.starts_with("rft_") && http_token.len() > 40, "{http_token}");
    let h = auth(&http_token);
    assert_eq!(http(serve.admin, "GET", "/api/runs", &[("Authorization", &h)], b"").status, 200);
    let again = serve.api_post("/api/tokens", r#"{"name": "dashboard", "scope": "admin"}"#);
    assert_eq!(again.status, 409, "one active token per name: {}", again.body);
    let bad = serve.api_post("/api/tokens", r#"{"name": "x y", "scope": "root"}"#);
    assert_eq!(bad.status, 400, "{}", bad.body);
    let list = serve.api("/api/tokens").json();
    let names: Vec<&str> =
        list["tokens"].as_array().expect("tokens").iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"dashboard") && names.contains(&"ci"), "{list}");
    assert!(!list.to_string().contains("rft_"), "no token or hash in the list: {list}");
    assert_eq!(serve.api_http("DELETE", "/api/tokens/dashboard", b"").status, 200);
    assert_eq!(http(serve.admin, "GET", "/api/runs", &[("Authorization", &h)], b"").status, 401, "revoked at once");
    assert_eq!(serve.api_http("DELETE", "/api/tokens/dashboard", b"").status, 404, "nothing left to revoke");

    // An operator's manual run, audited with the token's name and the run id.
    let op = auth(&cli_token);
    let r = http(
        serve.admin,
        "POST",
        "/api/workflows/ops/runs",
        &[("Authorization", &op), ("Content-Type", "application/json")],
        br#"{"name":"Ada"}"#,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let run_id = r.json()["run_id"].as_str().expect("run").to_owned();
    let audit = serve.api("/api/audit").json();
    let records = audit["audit"].as_array().expect("audit").clone();
    let find = |action: &str, actor: &str| {
        records
            .iter()
            .find(|a| a["action"] == action && a["actor"] == actor && a["outcome"] == "ok")
            .cloned()
            .unwrap_or_else(|| panic!("no {action} by {actor} in {records:#?}"))
    };
    let run = find("workflow.run", "token:ci");
    assert!(run["objects"].as_array().expect("objects").contains(&json!(run_id)), "{run}");
    assert!(
        records.iter().any(|a| a["action"] == "token.create" && a["actor"] == "cli" && a["objects"] == json!(["ci"])),
        "the CLI's token creation is audited: {records:#?}"
    );
    let harness_actor = format!(
        "token:{}",
        records
            .iter()
            .find_map(|a| a["actor"].as_str().filter(|s| s.starts_with("token:harness-")))
            .expect("harness token")
            .trim_start_matches("token:")
    );
    assert_eq!(find("token.create", &harness_actor)["objects"], json!(["dashboard"]));
    assert_eq!(find("token.revoke", &harness_actor)["objects"], json!(["dashboard"]));
    let conflict = records.iter().filter(|a| a["action"] == "token.create" && a["outcome"] == "failed").count();
    assert_eq!(conflict, 2, "refused creations are recorded as failed: {records:#?}");

    // `reqflow audit` reads the same trail.
    let out = crate::reqflow().args(["audit", "--db", &db]).output().expect("audit");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("workflow.run") && text.contains("token:ci") && text.contains(&run_id), "{text}");

    // No token, created either way, is in the database files; their hashes are.
    drop(serve);
    let mut bytes = std::fs::read(dir.join("r.db")).expect("db");
    bytes.extend(std::fs::read(dir.join("r.db-wal")).unwrap_or_default());
    for t in [&cli_token, &http_token] {
        assert!(!bytes.windows(t.len()).any(|w| w == t.as_bytes()), "a token is stored in plaintext");
        let hash = reqflow_engine::runtime::tokens::hash_token(t);
        assert!(bytes.windows(hash.len()).any(|w| w == hash.as_bytes()), "its hash is stored");
    }
}

#[test]
fn metrics_take_a_read_token_unless_open() {
    let dir = temp_dir("admin-metrics");
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    std::fs::write(dir.join("wf/ops.yaml"), WORKFLOW).expect("workflow");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let read = create_token(&db, "prometheus", "read", &[]);
    let serve = Serve::start(&dir.join("wf"), &db, &[], &dir);
    assert_eq!(http(serve.admin, "GET", "/metrics", &[], b"").status, 401);
    let m = http(serve.admin, "GET", "/metrics", &[("Authorization", &auth(&read))], b"");
    assert_eq!(m.status, 200);
    assert!(m.body.contains("reqflow_queue_depth"), "{}", m.body);
    drop(serve);

    // --metrics-open on one shared listener: /metrics answers without a token, the API still needs one.
    let port = crate::harness::free_port();
    let open = Serve::start_with(port, &dir.join("wf"), &db, &[], &dir, &["--metrics-open"]);
    assert_eq!(http(open.admin, "GET", "/metrics", &[], b"").status, 200);
    assert_eq!(http(open.admin, "GET", "/api/runs", &[], b"").status, 401);
    assert_eq!(http(open.port, "GET", "/metrics", &[], b"").status, 404, "never on the public plane");
}

#[test]
fn admin_listen_same_serves_both_planes_with_tokens_still_required() {
    let dir = temp_dir("admin-same");
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    std::fs::write(dir.join("wf/ops.yaml"), WORKFLOW).expect("workflow");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let token = create_token(&db, "ops", "operate", &[]);
    let port = crate::harness::free_port();
    // Started directly: the harness gives the admin plane a port of its own.
    let log = std::fs::File::create(dir.join("serve.log")).expect("log");
    let mut child = crate::reqflow()
        .args(["serve", "--workflows"])
        .arg(dir.join("wf"))
        .args(["--db", &db, "--listen", &format!("127.0.0.1:{port}"), "--admin-listen", "same"])
        .stderr(log)
        .spawn()
        .expect("serve");
    crate::harness::wait_for(
        || crate::harness::try_http(port, "GET", "/healthz", &[], b"").is_ok_and(|r| r.status == 200),
        "serve",
    );
    assert_eq!(http(port, "GET", "/api/runs", &[], b"").status, 401);
    assert_eq!(http(port, "GET", "/api/runs", &[("Authorization", &auth(&token))], b"").status, 200);
    assert_eq!(http(port, "GET", "/api/tokens", &[("Authorization", &auth(&token))], b"").status, 403);
    let _ = child.kill();
    let _ = child.wait();
}
