//! The Builder API through the real `reqflow serve` (SQLite; PostgreSQL when
//! `REQFLOW_TEST_POSTGRES_URL` is set):
//!
//! - `POST /api/validate`: an invalid workflow → diagnostics with line and
//!   column; a valid one (JSON `{"yaml"}`) → `valid: true`;
//! - `GET /api/actions` lists `http.request` with its parameter schema;
//! - `PUT /api/workflows/{id}` (admin token) deploys: a manual run uses the
//!   new version; a change is a second version (`versions`, `versions/{n}`
//!   with source and hash); the same content again changes nothing; invalid
//!   → 422 with positions, another id → 400, a directory workflow's id → 409
//!   naming the file, a read token → 403; audited as `workflow.deploy`;
//! - a directory file that later takes an API-deployed id is refused by the
//!   watcher (the API's version serves);
//! - after a restart on the same database the deployed workflow serves;
//!   a directory file with its id then stops `serve` at start;
//! - `GET /api/openapi.json` is the committed `schemas/openapi.json`, OpenAPI
//!   3.1, with exactly the routes of `admin_routes()`, each with bearer
//!   security and its scope.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{PgDb, Resp, Serve, create_token, free_port, http, postgres_url, temp_dir};

const OPS: &str = "id: ops\ntrigger: { manual: {} }\nsteps:\n  - id: pick\n    map: { n: 1 }\n";

fn new_wf(label: &str) -> String {
    format!(
        "id: new-wf\nversion: 1\ntrigger: {{ manual: {{}} }}\nsteps:\n  - id: label\n    map: {{ text: \"{label}\" }}\n"
    )
}

/// An invalid workflow: the unknown action is on line 6, column 13.
const INVALID: &str = "id: broken\ntrigger: { manual: {} }\nsteps:\n  - id: first\n    map: { a: 1 }\n  - id: send\n    action: http.requets\n    with: { method: GET, url: \"http://x\" }\n";

fn put(serve: &Serve, token: &str, id: &str, content_type: &str, body: &str) -> Resp {
    let auth = format!("Bearer {token}");
    http(
        serve.admin,
        "PUT",
        &format!("/api/workflows/{id}"),
        &[("Authorization", &auth), ("Content-Type", content_type)],
        body.as_bytes(),
    )
}

fn run_on(serve: &Serve, id: &str) -> Value {
    let r = serve.api_post(&format!("/api/workflows/{id}/runs"), "{}");
    assert_eq!(r.status, 202, "manual run of {id}: {}", r.body);
    let run = r.json()["run_id"].as_str().expect("run_id").to_owned();
    serve.wait_run(&run, Duration::from_secs(20))
}

fn label_of(detail: &Value) -> Value {
    detail["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["id"] == "label"))
        .map(|s| s["output"]["text"].clone())
        .unwrap_or(Value::Null)
}

fn listed(serve: &Serve, id: &str) -> Value {
    let all = serve.api("/api/workflows").json();
    all["workflows"].as_array().and_then(|w| w.iter().find(|w| w["id"] == id)).cloned().unwrap_or(Value::Null)
}

fn within(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn round_trip(db: &str, root: &Path) {
    let wf = root.join("workflows");
    std::fs::create_dir_all(&wf).expect("dir");
    std::fs::write(wf.join("ops.yaml"), OPS).expect("write");
    let serve = Serve::start(&wf, db, &[], root);

    // Validate: positions of every problem.
    let auth = format!("Bearer {}", serve.token);
    let r = http(
        serve.admin,
        "POST",
        "/api/validate",
        &[("Authorization", &auth), ("Content-Type", "application/yaml")],
        INVALID.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["valid"], false, "{v}");
    let d = v["diagnostics"].as_array().and_then(|d| d.iter().find(|d| d["code"] == "E0106")).cloned();
    let d = d.unwrap_or_else(|| panic!("an unknown-action diagnostic: {v:#}"));
    assert_eq!(
        (d["severity"].as_str(), d["line"].as_u64(), d["column"].as_u64()),
        (Some("error"), Some(7), Some(13)),
        "{d}"
    );
    assert!(d["end_line"].as_u64().is_some() && d["end_column"].as_u64() > d["column"].as_u64(), "{d}");
    assert!(d["message"].as_str().unwrap_or("").contains("http.requets"), "{d}");
    let ok = serve.api_post("/api/validate", &json!({ "yaml": new_wf("one") }).to_string()).json();
    assert_eq!(ok["valid"], true, "{ok}");
    assert_eq!(ok["workflow"]["id"], "new-wf", "{ok}");

    // The registry, with schemas.
    let actions = serve.api("/api/actions").json();
    let http_request = actions["actions"].as_array().and_then(|a| a.iter().find(|a| a["kind"] == "http.request"));
    let http_request = http_request.unwrap_or_else(|| panic!("http.request is listed: {actions:#}"));
    assert!(http_request["params"].is_object(), "{http_request:#}");
    assert!(!actions["connection_types"].as_array().expect("connection types").is_empty());

    // Deploy, run on it.
    let first = put(&serve, &serve.token, "new-wf", "application/yaml", &new_wf("one"));
    assert_eq!(first.status, 201, "{}", first.body);
    let first = first.json();
    let h1 = first["hash"].as_str().expect("hash").to_owned();
    assert_eq!((first["n"].as_u64(), first["origin"].as_str()), (Some(1), Some("api")), "{first}");
    let run = run_on(&serve, "new-wf");
    assert_eq!(run["run"]["status"], "succeeded", "{run:#}");
    assert_eq!(run["run"]["workflow"]["hash"], h1.as_str());
    assert_eq!(label_of(&run), "one");

    // A change: a second version, served at once.
    let second = put(&serve, &serve.token, "new-wf", "text/plain", &new_wf("two"));
    assert_eq!(second.status, 201, "{}", second.body);
    let second = second.json();
    let h2 = second["hash"].as_str().expect("hash").to_owned();
    assert_ne!(h1, h2);
    assert_eq!((second["n"].as_u64(), second["previous"]["hash"].as_str()), (Some(2), Some(h1.as_str())), "{second}");
    let run = run_on(&serve, "new-wf");
    assert_eq!(run["run"]["workflow"]["hash"], h2.as_str(), "{run:#}");
    assert_eq!(label_of(&run), "two");
    // The same content again (as JSON {"yaml"}): nothing changes.
    let again = put(&serve, &serve.token, "new-wf", "application/json", &json!({ "yaml": new_wf("two") }).to_string());
    assert_eq!((again.status, again.json()["unchanged"].as_bool()), (200, Some(true)), "{}", again.body);

    let versions = serve.api("/api/workflows/new-wf/versions").json();
    let list = versions["versions"].as_array().expect("versions");
    assert_eq!(list.len(), 2, "{versions:#}");
    assert_eq!((list[0]["n"].as_u64(), list[0]["hash"].as_str()), (Some(1), Some(h1.as_str())));
    assert_eq!((list[1]["hash"].as_str(), list[1]["serving"].as_bool()), (Some(h2.as_str()), Some(true)));
    assert_eq!(versions["origin"], "api", "{versions}");
    let v1 = serve.api("/api/workflows/new-wf/versions/1").json();
    assert_eq!((v1["hash"].as_str(), v1["source"].as_str()), (Some(h1.as_str()), Some(new_wf("one").as_str())), "{v1}");
    assert_eq!(serve.api("/api/workflows/new-wf/versions/3").status, 404);
    assert_eq!(serve.api("/api/workflows/new-wf/versions/x").status, 400);

    // Refusals: invalid (with positions), another id, a directory workflow's id, too small a scope.
    let bad = put(&serve, &serve.token, "new-wf", "application/yaml", &INVALID.replace("id: broken", "id: new-wf"));
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.json()["diagnostics"].as_array().is_some_and(|d| d.iter().any(|d| d["line"] == 7)), "{}", bad.body);
    let other = put(&serve, &serve.token, "other-id", "application/yaml", &new_wf("x"));
    assert_eq!(other.status, 400, "{}", other.body);
    let clash = put(&serve, &serve.token, "ops", "application/yaml", OPS);
    assert_eq!(clash.status, 409, "{}", clash.body);
    assert!(clash.body.contains("ops.yaml"), "the 409 names the file: {}", clash.body);
    let reader = create_token(db, "builder-reader", "read", &[]);
    assert_eq!(put(&serve, &reader, "new-wf", "application/yaml", &new_wf("three")).status, 403);
    assert_eq!(listed(&serve, "new-wf")["hash"], h2.as_str(), "nothing refused changed what serves");

    let audit = serve.api("/api/audit?limit=100").json();
    let deploys: Vec<&Value> =
        audit["audit"].as_array().expect("audit").iter().filter(|a| a["action"] == "workflow.deploy").collect();
    let outcomes: BTreeSet<&str> = deploys.iter().filter_map(|a| a["outcome"].as_str()).collect();
    assert_eq!(outcomes, BTreeSet::from(["denied", "failed", "ok"]), "{deploys:#?}");
    assert!(deploys.iter().any(|a| a["outcome"] == "ok" && a["objects"] == json!(["new-wf", h2])), "{deploys:#?}");

    // A directory file taking the API-deployed id is refused by the watcher.
    std::fs::write(wf.join("dup.yaml"), new_wf("from the directory")).expect("write");
    within(Duration::from_secs(5), "the watcher refuses dup.yaml", || {
        let all = serve.api("/api/workflows").json();
        all["refused_files"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["file"].as_str().is_some_and(|n| n.ends_with("dup.yaml"))))
    });
    let all = serve.api("/api/workflows").json();
    assert!(all.to_string().contains("PUT /api/workflows/new-wf"), "the refusal names the API deployment: {all:#}");
    assert_eq!(listed(&serve, "new-wf")["hash"], h2.as_str());
    std::fs::remove_file(wf.join("dup.yaml")).expect("remove");
    drop(serve);

    // A restart on the same database: the API deployment serves again.
    let serve = Serve::start(&wf, db, &[], root);
    assert_eq!(listed(&serve, "new-wf")["hash"], h2.as_str(), "{}", serve.log_text());
    assert_eq!(label_of(&run_on(&serve, "new-wf")), "two");
    assert_eq!(serve.api("/api/workflows/new-wf/versions").json()["origin"], "api");
    drop(serve);

    // A directory file with the deployed id: ambiguous, `serve` refuses to start.
    std::fs::write(wf.join("dup.yaml"), new_wf("from the directory")).expect("write");
    let log = root.join("clash.log");
    let mut child = crate::reqflow()
        .args(["serve", "--workflows"])
        .arg(&wf)
        .args(["--db", db, "--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--admin-listen", &format!("127.0.0.1:{}", free_port())])
        .env("REQFLOW_SECRET_KEY", crate::harness::TEST_STATE_KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve started despite the clash: {}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!status.success(), "{text}");
    assert!(text.contains("dup.yaml") && text.contains("PUT /api/workflows/new-wf"), "{text}");
}

#[test]
fn builder_round_trip_sqlite() {
    let root = temp_dir("builder-sqlite");
    let db = format!("sqlite://{}", root.join("reqflow.db").display());
    round_trip(&db, &root);
}

#[test]
fn builder_round_trip_postgres() {
    let Some(url) = postgres_url("builder_round_trip_postgres") else { return };
    let pg = PgDb::create(&url, "builder");
    round_trip(&pg.url, &temp_dir("builder-postgres"));
}

#[test]
fn openapi_document_matches_the_routes_and_the_committed_file() {
    let root = temp_dir("builder-openapi");
    let wf = root.join("workflows");
    std::fs::create_dir_all(&wf).expect("dir");
    let db = format!("sqlite://{}", root.join("reqflow.db").display());
    let serve = Serve::start(&wf, &db, &[], &root);
    let served = serve.api("/api/openapi.json");
    assert_eq!(served.status, 200);
    let doc = served.json();
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::root().join("schemas/openapi.json")).expect("schemas/openapi.json"),
    )
    .expect("JSON");
    assert_eq!(doc, committed, "schemas/openapi.json is stale: `reqflow openapi --write schemas/openapi.json`");

    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")), "{}", doc["openapi"]);
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            documented.insert((method.to_ascii_uppercase(), path.clone()));
            assert_eq!(op["security"], json!([{ "bearer": [] }]), "{method} {path}");
            assert!(op["operationId"].is_string() && op["responses"].is_object(), "{method} {path}");
            for p in path.split('/').filter(|s| s.starts_with('{')) {
                let name = p.trim_matches(|c| c == '{' || c == '}');
                let declared = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|x| x["name"] == name && x["in"] == "path"));
                assert!(declared, "{method} {path}: path parameter {name}");
            }
        }
    }
    let routes = reqflow_server::admin_routes();
    let table: BTreeSet<(String, String)> = routes.iter().map(|r| (r.method.to_string(), r.path.to_owned())).collect();
    assert_eq!(documented, table, "the document lists exactly the routes of admin_table()");
    for r in &routes {
        let op = &doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
        assert_eq!(op["x-reqflow-scope"], r.scope.as_str(), "{} {}", r.method, r.path);
        assert_eq!(op["x-reqflow-audit"], json!(r.audit), "{} {}", r.method, r.path);
    }
}
