//! The console (`GET /` on the admin listener) through the real `reqflow serve`:
//!
//! - its unauthenticated routes (`reqflow_server::console::UNAUTHENTICATED`: the login page and
//!   form, logout, the page shell, the assets) serve no run data; a wrong token cannot log in;
//! - a session cookie authenticates `GET` API calls; a state change with the cookie needs the
//!   session's `X-Reqflow-CSRF` header (403 without it); after logout the cookie gets 401;
//! - no embedded asset names another host;
//! - in a real Chromium (`tests/browser/console.mjs`, playwright-core): log in, see a failed run,
//!   read its error, fix the workflow file, retry on the latest version, see it succeed and the
//!   re-run steps, the writeback at the vendor; logout → 401; a read session has no retry button
//!   and gets 403; screenshots in `target/console-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Resp, Serve, Vendor, create_token, free_port, http, note_skipped, screen_workflow, temp_dir};

struct Setup {
    dir: PathBuf,
    db: String,
    vendor: Vendor,
    serve: Serve,
    run_id: String,
}

/// `serve` with the `screen` workflow and one failed run (the vendor answers 422 once).
fn setup(tag: &str) -> Setup {
    setup_with(tag, &[])
}

/// [`setup`] with more workflow files.
fn setup_with(tag: &str, files: &[(&str, String)]) -> Setup {
    let dir = temp_dir(tag);
    let vendor = Vendor::start();
    vendor.script(vec![(422, Duration::ZERO)], (201, Duration::ZERO));
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    std::fs::write(dir.join("wf/screen.yaml"), screen_workflow(vendor.port, "stale-agent")).expect("workflow");
    for (name, text) in files {
        std::fs::write(dir.join("wf").join(name), text).expect("workflow");
    }
    let db = format!("sqlite://{}", dir.join("c.db").display());
    let serve = Serve::start_with(
        free_port(),
        &dir.join("wf"),
        &db,
        &[],
        &dir,
        &["--watch-interval", "200ms", "--public-url", "https://hooks.example.com"],
    );
    let run_id = serve.api_post("/api/workflows/screen/runs", "{}").json()["run_id"].as_str().expect("id").to_owned();
    let failed = serve.wait_run(&run_id, Duration::from_secs(20));
    assert_eq!(failed["run"]["status"], "failed", "{failed}");
    Setup { dir, db, vendor, serve, run_id }
}

fn form_login(admin: u16, token: &str) -> Resp {
    let body = format!("token={token}");
    http(admin, "POST", "/console/login", &[("Content-Type", "application/x-www-form-urlencoded")], body.as_bytes())
}

fn session_cookie(r: &Resp) -> String {
    let set = r.header("set-cookie").unwrap_or_else(|| panic!("no Set-Cookie: {} {}", r.status, r.body));
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"), "{set}");
    set.split(';').next().expect("cookie").to_owned()
}

#[test]
fn console_routes_serve_no_data_and_sessions_need_csrf_for_changes() {
    let s = setup("console-routes");
    let admin = s.serve.admin;
    let operate = create_token(&s.db, "console-op", "operate", &[]);
    let leaks = |r: &Resp, what: &str| {
        assert!(!r.body.contains(&s.run_id) && !r.body.contains("stale-agent"), "{what} leaks run data: {}", r.body);
    };

    // The only routes without a token: each serves no data.
    let exceptions: Vec<(&str, &str)> = reqflow_server::console::UNAUTHENTICATED.to_vec();
    assert_eq!(exceptions.len(), 5, "{exceptions:?}");
    let table = reqflow_server::admin_routes();
    for (method, path) in &exceptions {
        assert!(!table.iter().any(|r| r.method == *method && r.path == *path), "{method} {path} is not in the table");
        let concrete = path.replace("{file}", "app.js");
        let r = http(admin, method, &concrete, &[], b"");
        assert!(r.status < 500, "{method} {path}: {}", r.status);
        leaks(&r, &format!("{method} {path}"));
        let p = http(s.serve.port, method, &concrete, &[], b"");
        assert_eq!(p.status, 404, "{method} {path} is not on the public listener");
    }
    let page = http(admin, "GET", "/", &[], b"");
    assert_eq!(page.status, 401, "the page without a session is the login form: {}", page.body);
    assert!(page.body.contains("name=\"token\""), "{}", page.body);
    assert!(page.header("content-security-policy").is_some_and(|c| c.contains("default-src 'none'")));
    assert_eq!(http(admin, "GET", "/console/assets/nope.js", &[], b"").status, 404);
    // Every other path of the admin plane still needs a token, `/console/session` included.
    assert_eq!(http(admin, "GET", "/console/session", &[], b"").status, 401);
    assert_eq!(http(admin, "GET", "/console/anything", &[], b"").status, 404);

    // A wrong token cannot log in; a login from another site is refused.
    let wrong = form_login(admin, "rft_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong.header("set-cookie").is_none());
    let body = format!("token={operate}");
    let cross = http(
        admin,
        "POST",
        "/console/login",
        &[("Content-Type", "application/x-www-form-urlencoded"), ("Origin", "https://evil.example")],
        body.as_bytes(),
    );
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert!(cross.header("set-cookie").is_none());

    // A good token: a session cookie that works for GETs.
    let ok = form_login(admin, &operate);
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cookie = session_cookie(&ok);
    let with_cookie = |method: &str, path: &str, extra: &[(&str, &str)]| {
        let mut h = vec![("Cookie", cookie.as_str())];
        h.extend_from_slice(extra);
        http(admin, method, path, &h, b"")
    };
    let runs = with_cookie("GET", "/api/runs", &[]);
    assert_eq!(runs.status, 200, "{}", runs.body);
    assert!(runs.body.contains(&s.run_id));
    assert_eq!(with_cookie("GET", "/", &[]).status, 200, "the page with a session");
    let me = with_cookie("GET", "/console/session", &[]).json();
    assert_eq!(me["scope"], "operate", "{me}");
    assert_eq!(me["actor"], "token:console-op", "{me}");
    let csrf = me["csrf"].as_str().expect("csrf").to_owned();
    assert!(csrf.len() >= 40, "{csrf}");

    // A state change with the cookie alone, or a wrong CSRF token: 403, nothing retried.
    let retry = format!("/api/runs/{}/retry", s.run_id);
    let bare = with_cookie("POST", &retry, &[]);
    assert_eq!(bare.status, 403, "{}", bare.body);
    assert!(bare.body.contains("X-Reqflow-CSRF"), "{}", bare.body);
    assert_eq!(with_cookie("POST", &retry, &[("X-Reqflow-CSRF", "nope")]).status, 403);
    assert_eq!(with_cookie("POST", "/console/logout", &[]).status, 403, "logout needs the CSRF header too");
    assert_eq!(s.serve.api(&format!("/api/runs/{}", s.run_id)).json()["run"]["retries"], 0, "nothing retried");
    // With it: the same scope checks as the token (operate may retry).
    let done = with_cookie("POST", &retry, &[("X-Reqflow-CSRF", &csrf)]);
    assert_eq!(done.status, 202, "{}", done.body);
    let audit = s.serve.api("/api/audit?limit=10").json();
    assert!(
        audit["audit"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["actor"] == "token:console-op" && a["action"] == "run.retry"),
        "audited with the token's name: {audit}"
    );
    // An admin-only route with an operate session: 403, as with the token.
    assert_eq!(with_cookie("GET", "/api/tokens", &[]).status, 403);

    // Logout ends the session server-side: the old cookie gets 401 everywhere.
    let out = with_cookie("POST", "/console/logout", &[("X-Reqflow-CSRF", &csrf)]);
    assert_eq!(out.status, 204, "{}", out.body);
    assert!(out.header("set-cookie").is_some_and(|c| c.contains("Max-Age=0")));
    assert_eq!(with_cookie("GET", "/api/runs", &[]).status, 401);
    assert_eq!(with_cookie("GET", "/", &[]).status, 401);
    leaks(&with_cookie("GET", "/", &[]), "the page after logout");

    // A revoked token ends its sessions at once.
    let again = session_cookie(&form_login(admin, &operate));
    let h = [("Cookie", again.as_str())];
    assert_eq!(http(admin, "GET", "/api/runs", &h, b"").status, 200);
    let out = crate::reqflow().args(["tokens", "revoke", "console-op", "--db", &s.db]).output().expect("revoke");
    assert!(out.status.success());
    assert_eq!(http(admin, "GET", "/api/runs", &h, b"").status, 401, "the revoked token's session is gone");
    drop(s.dir);
}

#[test]
fn embedded_assets_name_no_other_host() {
    let all = reqflow_server::console::assets::all();
    assert!(all.len() >= 7, "{:?}", all.iter().map(|a| a.0).collect::<Vec<_>>());
    for (name, body) in all {
        for bad in ["http://", "https://", "\"//", "'//", "`//", "(//", "=//", "url(", "@import"] {
            assert!(!body.contains(bad), "{name} contains `{bad}`: the console must not reach another host");
        }
        // Every src/href is a path of this host or a fragment.
        for attr in ["src=\"", "href=\""] {
            for (i, _) in body.match_indices(attr) {
                let v = &body[i + attr.len()..];
                assert!(v.starts_with('/') || v.starts_with('#'), "{name}: {attr}{}", &v[..v.len().min(40)]);
            }
        }
    }
}

/// Node, Chromium and playwright-core, or the reason they cannot be used.
fn browser_tools(root: &Path) -> Result<(), String> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("node is not installed".into());
    }
    if !Path::new("/usr/bin/chromium").exists() {
        return Err("/usr/bin/chromium is missing (apt-get install chromium)".into());
    }
    if !root.join("tests/browser/node_modules/playwright-core/package.json").exists() {
        return Err("playwright-core is not installed (cd tests/browser && npm ci)".into());
    }
    Ok(())
}

#[test]
fn the_console_in_a_real_browser() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if let Err(why) = browser_tools(&root) {
        assert!(std::env::var("REQFLOW_REQUIRE_BROWSER").as_deref() != Ok("1"), "REQFLOW_REQUIRE_BROWSER=1 but {why}");
        note_skipped(&format!("SKIPPED: console::the_console_in_a_real_browser: {why}"));
        return;
    }
    // A run of 200 steps and 1,000 attempts: every step fails five times against a vendor that answers 500
    // (and, with `on_error: continue`, the run goes on to the next).
    let wide_vendor = Vendor::start();
    wide_vendor.script(vec![], (500, Duration::ZERO));
    let tick = "id: tick\ntrigger: { manual: {} }\nsteps:\n  - id: count\n    map: { ok: true }\n".to_owned();
    let s = setup_with(
        "console-browser",
        &[("wide.yaml", wide_workflow(wide_vendor.port, 200)), ("tick.yaml", tick), ("hook.yaml", HOOK.to_owned())],
    );
    let wide = s.serve.api_post("/api/workflows/wide/runs", "{}").json()["run_id"].as_str().expect("id").to_owned();
    let done = s.serve.wait_run(&wide, Duration::from_secs(120));
    assert!(["failed", "succeeded"].contains(&done["run"]["status"].as_str().unwrap_or("")), "{}", done["run"]);
    let attempts: usize =
        done["steps"].as_array().expect("steps").iter().map(|st| st["attempts"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(attempts, 1000, "the wide run has 1,000 attempts");
    let operate = create_token(&s.db, "browser-op", "operate", &[]);
    let read = create_token(&s.db, "browser-read", "read", &[]);
    let out = s.dir.join("browser");
    std::fs::create_dir_all(&out).expect("out");
    let mut node = Command::new("node")
        .arg(root.join("tests/browser/console.mjs"))
        .current_dir(root.join("tests/browser"))
        .env("BASE", format!("http://127.0.0.1:{}", s.serve.admin))
        .env("OPERATE", &operate)
        .env("READ", &read)
        .env("RUN_ID", &s.run_id)
        .env("WIDE_RUN", &wide)
        .env("OUT", &out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node");

    // The script signals when it has seen the failure: fix the file, wait for the reload; later
    // it asks for a broken change: write one, wait for its refusal.
    let deadline = Instant::now() + Duration::from_secs(240);
    let old_hash = screen_listed(&s.serve)["hash"].clone();
    let (mut fixed, mut broken) = (false, false);
    while !matches!(node.try_wait(), Ok(Some(_))) {
        assert!(Instant::now() < deadline, "the browser script did not finish in time");
        if !fixed && out.join("need-fix").exists() {
            std::fs::write(s.dir.join("wf/screen.yaml"), screen_workflow(s.vendor.port, "fixed-agent")).expect("fix");
            crate::harness::wait_for(
                || screen_listed(&s.serve)["hash"] != old_hash,
                "serve to reload the fixed workflow",
            );
            std::fs::write(out.join("fixed"), "").expect("signal");
            fixed = true;
        }
        if !broken && out.join("need-break").exists() {
            let text =
                screen_workflow(s.vendor.port, "fixed-agent").replace("needs: [audit, table]", "needs: [audit, ghost]");
            std::fs::write(s.dir.join("wf/screen.yaml"), text).expect("break");
            crate::harness::wait_for(
                || !screen_listed(&s.serve)["refused"].is_null(),
                "serve to refuse the broken change",
            );
            std::fs::write(out.join("broken"), "").expect("signal");
            broken = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let result = node.wait_with_output().expect("node");
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    eprintln!("{stdout}{stderr}");

    // Screenshots: under the test's directory and in target/console-screenshots/.
    let shots = root.join("target/console-screenshots");
    std::fs::create_dir_all(&shots).expect("shots dir");
    for e in std::fs::read_dir(&out).expect("out").flatten() {
        if e.path().extension().is_some_and(|x| x == "png") {
            std::fs::copy(e.path(), shots.join(e.file_name())).expect("copy");
        }
    }
    assert!(result.status.success(), "the browser test failed:\n{stdout}\n{stderr}\n{}", s.serve.log_text());
    let measured: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap_or_default()).unwrap_or_default();
    eprintln!(
        "console: the 200-step, 1,000-attempt run rendered in {} ms ({} ms with the API's answer)",
        measured["wide_run_render_ms"], measured["wide_run_total_ms"]
    );
    for name in [
        "login",
        "runs",
        "runs-search",
        "run",
        "run-wide",
        "events",
        "workflows",
        "workflow",
        "workflow-refused",
        "overview",
        "runs-400",
        "run-400",
        "events-400",
        "workflows-400",
        "workflow-400",
        "overview-400",
        "runs-dark",
        "run-dark",
        "workflows-dark",
        "workflow-dark",
        "overview-dark",
        "run-read-dark",
    ] {
        assert!(out.join(format!("{name}.png")).exists(), "screenshot {name}");
    }

    // The writeback reached the vendor: the stale value first, then the fixed one.
    let sent: Vec<Value> =
        s.vendor.requests().iter().map(|r| serde_json::from_str(&r.body).unwrap_or(Value::Null)).collect();
    assert_eq!(sent, vec![json!({ "agent": "stale-agent" }), json!({ "agent": "fixed-agent" })]);
    let done = s.serve.api(&format!("/api/runs/{}", s.run_id)).json();
    assert_eq!(done["run"]["status"], "succeeded", "{done}");
}

/// The `screen` workflow as `GET /api/workflows` lists it.
fn screen_listed(serve: &Serve) -> Value {
    let all = serve.api("/api/workflows").json();
    all["workflows"].as_array().into_iter().flatten().find(|w| w["id"] == "screen").cloned().unwrap_or(Value::Null)
}

/// A manual workflow of `n` independent `http.request` steps, each tried five times quickly
/// (`on_error: continue`: one failed step does not stop the others).
fn wide_workflow(vendor_port: u16, n: usize) -> String {
    let mut s = format!(
        "id: wide\ntrigger: {{ manual: {{}} }}\nconnections:\n  vendor: {{ type: http, base_url: \"http://127.0.0.1:{vendor_port}\" }}\nsteps:\n"
    );
    for i in 0..n {
        s.push_str(&format!(
            "  - id: s{i:03}\n    action: http.request\n    connection: vendor\n    with: {{ method: POST, path: /items, json: {{ n: {i} }} }}\n    retry: {{ attempts: 5, backoff: fixed, initial: 5ms, max: 5ms, jitter: 0 }}\n    on_error: continue\n"
        ));
    }
    s
}

/// A webhook workflow for the trigger URL.
const HOOK: &str = "id: hook\ntrigger:\n  webhook:\n    path: ats/moved\nsteps:\n  - id: note\n    map: { ok: true }\n";

/// Reads a server-sent-events stream until `want` is in an event's data (or the deadline).
fn read_stream_until(s: &mut std::net::TcpStream, seen: &mut String, want: &str, deadline: Instant) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        if seen.split("\n\n").any(|ev| ev.contains("event: runs") && ev.contains(want)) {
            return true;
        }
        match s.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("stream read: {e}"),
        }
    }
    false
}

/// The console's API on one store: `GET /api/workflows/{id}` (trigger URL under
/// `--public-url`, graph, last status per step, counts by status over a day, a refused
/// change with its source window), `GET /api/runs?q=` (run id, event id), `GET /api/overview`
/// (the figures of `/metrics`) and `GET /api/runs/stream` (server-sent events on a change).
fn console_api_on(db: &str, dir: &Path) {
    let vendor = Vendor::start();
    vendor.script(vec![(422, Duration::ZERO)], (201, Duration::ZERO));
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    std::fs::write(dir.join("wf/screen.yaml"), screen_workflow(vendor.port, "stale-agent")).expect("workflow");
    std::fs::write(dir.join("wf/hook.yaml"), HOOK).expect("workflow");
    let serve = Serve::start_with(
        free_port(),
        &dir.join("wf"),
        db,
        &[],
        dir,
        &["--watch-interval", "200ms", "--public-url", "https://hooks.example.com/"],
    );
    let run_id = serve.api_post("/api/workflows/screen/runs", "{}").json()["run_id"].as_str().expect("id").to_owned();
    assert_eq!(serve.wait_run(&run_id, Duration::from_secs(20))["run"]["status"], "failed");
    let event_id =
        serve.api(&format!("/api/runs/{run_id}")).json()["run"]["event_id"].as_str().expect("event").to_owned();

    // The workflow as the console draws it.
    let w = serve.api("/api/workflows/screen").json();
    assert_eq!(w["trigger"]["kind"], "manual", "{w}");
    assert!(w["trigger"]["url"].is_null(), "{w}");
    let steps = w["steps"].as_array().expect("steps");
    let step = |id: &str| steps.iter().find(|s| s["id"] == id).unwrap_or_else(|| panic!("step {id}: {w}")).clone();
    assert_eq!(step("invite")["needs"], json!(["audit", "table"]), "{w}");
    assert_eq!(step("invite")["kind"], "http.request");
    assert_eq!(step("invite")["last_status"], "failed", "{w}");
    assert_eq!(step("invite")["last_run"], json!(run_id));
    assert_eq!(step("audit")["last_status"], "succeeded", "{w}");
    assert_eq!(w["runs_last_day"], json!({ "queued": 0, "running": 0, "succeeded": 0, "failed": 1 }), "{w}");
    assert!(w["refused"].is_null());
    let h = serve.api("/api/workflows/hook").json();
    assert_eq!(h["trigger"]["url"], "https://hooks.example.com/hooks/ats/moved", "{h}");
    assert_eq!(h["trigger"]["absolute"], true);
    assert_eq!(h["steps"][0]["last_status"], Value::Null, "never ran: {h}");
    let hook_version = h["version"].clone();
    assert_eq!(serve.api("/api/workflows/nope").status, 404);

    // A refused change: its diagnostics with the source window; the old version keeps serving.
    std::fs::write(
        dir.join("wf/hook.yaml"),
        HOOK.replace("map: { ok: true }", "map: { ok: true }\n    needs: [ghost]"),
    )
    .expect("break");
    crate::harness::wait_for(|| !serve.api("/api/workflows/hook").json()["refused"].is_null(), "the refusal");
    let h = serve.api("/api/workflows/hook").json();
    let window = h["refused"]["source_window"].as_str().expect("window");
    assert!(window.contains("ghost") && window.contains('^') && window.contains("hook.yaml"), "{window}");
    assert!(h["refused"]["diagnostics"].as_str().is_some_and(|d| d.contains("hook.yaml:")), "{h}");
    assert_eq!(h["version"], hook_version, "the old version keeps serving");

    // Search: an exact run id or event id, with the other filters still applied.
    let q = |query: &str| serve.api(&format!("/api/runs?{query}")).json();
    let ids = |v: &Value| v["runs"].as_array().expect("runs").iter().map(|r| r["run_id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&q(&format!("q={run_id}"))), vec![json!(run_id)]);
    assert_eq!(ids(&q(&format!("q={event_id}"))), vec![json!(run_id)], "by event id");
    assert_eq!(ids(&q(&format!("q=%20{event_id}%20&workflow=screen&status=failed"))), vec![json!(run_id)]);
    assert!(ids(&q(&format!("q={run_id}&status=succeeded"))).is_empty(), "the status filter still applies");
    assert!(ids(&q(&format!("q={run_id}&workflow=hook"))).is_empty(), "the workflow filter still applies");
    assert!(ids(&q("q=run_nope")).is_empty());
    assert_eq!(serve.api("/api/runs?q=x&status=bogus").status, 400);

    // The overview: the same figures as /metrics.
    let o = serve.api("/api/overview").json();
    let metrics = serve.api("/metrics").body;
    let metric = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(' ') || rest.starts_with("{} ")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert_eq!(o["step_latency"]["count"].as_f64(), Some(metric("reqflow_step_seconds_count")), "{o}");
    assert_eq!(o["runs"]["failed"].as_f64(), Some(metric("reqflow_runs{status=\"failed\"}")), "{o}");
    assert_eq!(o["backlog"]["queued"].as_f64(), Some(metric("reqflow_queue_depth")), "{o}");
    assert!(o["step_latency"]["count"].as_u64().is_some_and(|n| n >= 1), "{o}");
    assert!(o["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{o}");

    // The stream: the page at once, then again when a new run appears.
    assert_eq!(serve.api("/api/runs/stream?status=bogus").status, 400);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", serve.admin)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let req = format!(
        "GET /api/runs/stream?workflow=screen HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n",
        serve.token
    );
    std::io::Write::write_all(&mut s, req.as_bytes()).expect("write");
    let mut seen = String::new();
    assert!(read_stream_until(&mut s, &mut seen, &run_id, Instant::now() + Duration::from_secs(5)), "{seen}");
    assert!(seen.starts_with("HTTP/1.1 200") && seen.contains("text/event-stream"), "{seen}");
    let second = serve.api_post("/api/workflows/screen/runs", "{}").json()["run_id"].as_str().expect("id").to_owned();
    assert!(
        read_stream_until(&mut s, &mut seen, &second, Instant::now() + Duration::from_secs(5)),
        "the new run is pushed: {seen}"
    );
    // Without a token: 401, like every API route.
    assert_eq!(http(serve.admin, "GET", "/api/runs/stream", &[], b"").status, 401);

    // An open stream does not hold up a shutdown: it ends when the listener drains.
    let mut serve = serve;
    let t = Instant::now();
    let killed = Command::new("kill").args(["-TERM", &serve.child.id().to_string()]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let status = loop {
        if let Ok(Some(st)) = serve.child.try_wait() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(15), "serve did not exit: {}", serve.log_text());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{}", serve.log_text());
    assert!(t.elapsed() < Duration::from_secs(4), "exited in {:?} with a stream open", t.elapsed());
    assert!(!seen.contains("shutdown deadline reached"), "{seen}");
    assert!(!serve.log_text().contains("shutdown deadline reached"), "{}", serve.log_text());
}

#[test]
fn console_api_on_sqlite() {
    let dir = temp_dir("console-api-sqlite");
    console_api_on(&format!("sqlite://{}", dir.join("c.db").display()), &dir);
}

#[test]
fn console_api_on_postgres() {
    let Some(url) = crate::harness::postgres_url("console::console_api_on_postgres") else { return };
    let pg = crate::harness::PgDb::create(&url, "console_api");
    let dir = temp_dir("console-api-pg");
    console_api_on(&pg.url, &dir);
}
