//! Deploys without restart, through the real `reqflow serve` (SQLite):
//!
//! - a changed file is deployed within 2 s: new runs use the new version
//!   (output, `version`, `hash`), while a run in flight (stalled on a vendor
//!   call) finishes on the version it started with;
//! - an invalid change is refused: the old version keeps serving (webhooks
//!   still `202`, runs on the old hash), the log and `GET /api/workflows`
//!   carry the diagnostics; a new invalid file and a route clash are refused
//!   too; the fix is deployed;
//! - a removed file's route answers 404 within 2 s;
//! - with `--no-watch`, nothing changes until `kill -HUP`, which reloads.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Serve, Vendor, free_port, post_json, temp_dir};

const TOKEN: &str = "reload-hook-token-8Kd2";

fn slow_workflow(vendor: u16, version: u32, label: &str) -> String {
    format!(
        r#"id: slow
version: {version}
trigger: {{ manual: {{}} }}
connections:
  vendor: {{ type: http, base_url: "http://127.0.0.1:{vendor}" }}
steps:
  - id: call
    action: http.request
    connection: vendor
    with: {{ method: POST, path: /stall, json: {{ n: 1 }} }}
    retry: {{ attempts: 1 }}
  - id: label
    map: {{ text: "{label}" }}
"#
    )
}

fn hook_workflow(id: &str, path: &str, label: &str) -> String {
    format!(
        r#"id: {id}
trigger:
  webhook:
    path: {path}
    auth: {{ bearer: "{{{{ secrets.HOOK_TOKEN }}}}" }}
steps:
  - id: label
    map: {{ text: "{label}", candidate: "{{{{ event.body.id }}}}" }}
"#
    )
}

fn step<'a>(detail: &'a Value, id: &str) -> &'a Value {
    detail["steps"].as_array().and_then(|s| s.iter().find(|x| x["id"] == id)).unwrap_or(&Value::Null)
}

/// The entry of `/api/workflows` for `id` (Null when it does not serve).
fn listed(serve: &Serve, id: &str) -> Value {
    let all = serve.api("/api/workflows").json();
    all["workflows"].as_array().and_then(|w| w.iter().find(|w| w["id"] == id)).cloned().unwrap_or(Value::Null)
}

/// Polls until `ok` holds; returns how long it took (panics after `limit`).
fn within(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
    start.elapsed()
}

fn hook(serve: &Serve, path: &str, id: &str) -> crate::harness::Resp {
    let auth = format!("Bearer {TOKEN}");
    post_json(serve.port, &format!("/hooks/{path}"), &[("Authorization", &auth)], &json!({ "id": id }).to_string())
}

fn run_of(r: &crate::harness::Resp) -> String {
    assert_eq!(r.status, 202, "{}", r.body);
    r.json()["run_id"].as_str().expect("run_id").to_owned()
}

struct Dir {
    root: PathBuf,
    wf: PathBuf,
    db: String,
}

fn dir(tag: &str) -> Dir {
    let root = temp_dir(tag);
    let wf = root.join("workflows");
    std::fs::create_dir_all(&wf).expect("dir");
    let db = format!("sqlite://{}", root.join("reqflow.db").display());
    Dir { root, wf, db }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write workflow");
}

#[test]
fn a_valid_change_is_deployed_within_2s_and_a_run_in_flight_keeps_its_version() {
    let d = dir("reload-deploy");
    let vendor = Vendor::start();
    // The first call stalls 6 s: the first run is in flight across the deploy.
    vendor.script(vec![(200, Duration::from_secs(6))], (200, Duration::ZERO));
    write(&d.wf, "slow.yaml", &slow_workflow(vendor.port, 1, "one"));
    let serve = Serve::start(&d.wf, &d.db, &[], &d.root);
    let before = listed(&serve, "slow");
    assert_eq!(before["version"], 1, "{before}");
    assert!(before["refused"].is_null(), "{before}");

    let first = run_of(&serve.api_post("/api/workflows/slow/runs", "{}"));
    within(Duration::from_secs(10), "the first run calls the vendor", || !vendor.requests().is_empty());

    write(&d.wf, "slow.yaml", &slow_workflow(vendor.port, 2, "two"));
    let took =
        within(Duration::from_secs(2), "the change is deployed", || listed(&serve, "slow")["hash"] != before["hash"]);
    let after = listed(&serve, "slow");
    assert_eq!(after["version"], 2, "{after}");
    eprintln!("deployed after {took:?}");
    let in_flight = serve.api(&format!("/api/runs/{first}")).json();
    assert_eq!(in_flight["run"]["status"], "running", "the first run is still in flight: {in_flight}");

    let second = run_of(&serve.api_post("/api/workflows/slow/runs", "{}"));
    let second = serve.wait_run(&second, Duration::from_secs(20));
    assert_eq!(second["run"]["status"], "succeeded", "{second:#}");
    assert_eq!(step(&second, "label")["output"], json!({ "text": "two" }));
    assert_eq!(second["run"]["workflow"]["hash"], after["hash"]);
    assert_eq!(second["run"]["workflow"]["version"], 2);

    // The run in flight ends on its own version: its `label` step ran after the deploy.
    let first = serve.wait_run(&first, Duration::from_secs(20));
    assert_eq!(first["run"]["status"], "succeeded", "{first:#}");
    assert_eq!(step(&first, "label")["output"], json!({ "text": "one" }));
    assert_eq!(first["run"]["workflow"]["hash"], before["hash"]);
    assert_eq!(first["run"]["workflow"]["version"], 1);

    let reloads = serve.api("/api/reloads").json();
    let latest = &reloads["reloads"][0];
    assert_eq!(latest["outcome"], "deployed", "{reloads:#}");
    assert_eq!(latest["cause"], "watch");
    assert_eq!(latest["workflow"]["hash"], after["hash"]);
    assert_eq!(latest["previous"]["hash"], before["hash"]);
    let log = serve.log_text();
    let hash = after["hash"].as_str().expect("hash");
    assert!(
        log.lines().any(|l| l.contains("outcome=deployed") && l.contains("workflow=slow") && l.contains(hash)),
        "one log line per deploy:\n{log}"
    );
}

#[test]
fn an_invalid_change_is_refused_while_the_old_version_serves_and_a_removed_file_stops() {
    let d = dir("reload-refuse");
    write(&d.wf, "hook.yaml", &hook_workflow("hook", "reload/hook", "old"));
    write(&d.wf, "other.yaml", &hook_workflow("other", "reload/other", "other"));
    let serve = Serve::start(&d.wf, &d.db, &[("REQFLOW_SECRET_HOOK_TOKEN", TOKEN)], &d.root);
    let old = listed(&serve, "hook");
    let old_hash = old["hash"].clone();

    // An unknown action: refused; the old version keeps serving.
    let broken = hook_workflow("hook", "reload/hook", "new").replace(
        "steps:\n",
        "steps:\n  - id: typo\n    action: http.requst\n    with: { method: GET, url: \"http://127.0.0.1:9/\" }\n",
    );
    write(&d.wf, "hook.yaml", &broken);
    within(Duration::from_secs(2), "the change is refused", || !listed(&serve, "hook")["refused"].is_null());
    let now = listed(&serve, "hook");
    assert_eq!(now["hash"], old_hash, "the old version serves: {now}");
    let diagnostics = now["refused"]["diagnostics"].as_str().expect("diagnostics");
    assert!(diagnostics.contains("E0106") && diagnostics.contains("http.requst"), "{diagnostics}");
    assert!(now["refused"]["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{now}");
    let run = run_of(&hook(&serve, "reload/hook", "c-1"));
    let detail = serve.wait_run(&run, Duration::from_secs(20));
    assert_eq!(detail["run"]["workflow"]["hash"], old_hash);
    assert_eq!(step(&detail, "label")["output"]["text"], "old");
    let log = serve.log_text();
    assert!(
        log.lines().any(|l| l.contains("outcome=refused") && l.contains("workflow=hook") && l.contains("http.requst")),
        "the log has the diagnostics:\n{log}"
    );
    let reloads = serve.api("/api/reloads").json();
    assert_eq!(reloads["reloads"][0]["outcome"], "refused", "{reloads:#}");
    assert_eq!(reloads["reloads"][0]["workflow"]["hash"], old_hash, "what keeps serving");

    // A new file that does not parse serves nothing and is listed as refused; so is a route clash.
    write(&d.wf, "new.yaml", "id: new\ntrigger: [\n");
    write(&d.wf, "clash.yaml", &hook_workflow("clash", "reload/other", "clash"));
    within(Duration::from_secs(2), "the new files are refused", || {
        let all = serve.api("/api/workflows").json();
        all["refused_files"].as_array().is_some_and(|f| f.len() == 2)
    });
    let all = serve.api("/api/workflows").json();
    let files = all["refused_files"].as_array().expect("refused files");
    let clash = files.iter().find(|f| f["file"].as_str().is_some_and(|n| n.ends_with("clash.yaml"))).expect("clash");
    assert!(clash["refused"]["diagnostics"].as_str().is_some_and(|t| t.contains("reload/other")), "{all:#}");
    assert!(listed(&serve, "clash").is_null() && listed(&serve, "new").is_null(), "{all:#}");
    let other = hook(&serve, "reload/other", "c-2");
    let detail = serve.wait_run(&run_of(&other), Duration::from_secs(20));
    assert_eq!(step(&detail, "label")["output"]["text"], "other", "the incumbent keeps its route");
    std::fs::remove_file(d.wf.join("new.yaml")).expect("rm");
    std::fs::remove_file(d.wf.join("clash.yaml")).expect("rm");

    // The fix is deployed (same `version:`, a new hash).
    write(&d.wf, "hook.yaml", &hook_workflow("hook", "reload/hook", "fixed"));
    within(Duration::from_secs(2), "the fix is deployed", || listed(&serve, "hook")["hash"] != old_hash);
    let fixed = listed(&serve, "hook");
    assert!(fixed["refused"].is_null(), "{fixed}");
    assert_eq!(serve.api("/api/workflows").json()["refused_files"], json!([]));
    let detail = serve.wait_run(&run_of(&hook(&serve, "reload/hook", "c-3")), Duration::from_secs(20));
    assert_eq!(step(&detail, "label")["output"]["text"], "fixed");
    assert_eq!(detail["run"]["workflow"]["hash"], fixed["hash"]);

    // A removed file: its route answers 404; the rest serves.
    std::fs::remove_file(d.wf.join("other.yaml")).expect("rm");
    let took =
        within(Duration::from_secs(2), "the removed route 404s", || hook(&serve, "reload/other", "c-4").status == 404);
    eprintln!("removed after {took:?}");
    assert!(listed(&serve, "other").is_null());
    assert_eq!(hook(&serve, "reload/hook", "c-5").status, 202);
    let reloads = serve.api("/api/reloads").json();
    let removed = reloads["reloads"].as_array().and_then(|r| r.iter().find(|r| r["outcome"] == "removed"));
    assert_eq!(removed.map(|r| r["workflow"]["workflow_id"].clone()), Some(json!("other")), "{reloads:#}");
}

#[test]
fn with_no_watch_only_sighup_reloads() {
    let d = dir("reload-hup");
    write(&d.wf, "hook.yaml", &hook_workflow("hook", "reload/hup", "before"));
    let port = free_port();
    let env = [("REQFLOW_SECRET_HOOK_TOKEN", TOKEN)];
    let serve = Serve::start_with(port, &d.wf, &d.db, &env, &d.root, &["--no-watch"]);
    let old_hash = listed(&serve, "hook")["hash"].clone();
    write(&d.wf, "hook.yaml", &hook_workflow("hook", "reload/hup", "after"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(listed(&serve, "hook")["hash"], old_hash, "not watching");

    let status = std::process::Command::new("kill").args(["-HUP", &serve.child.id().to_string()]).status();
    assert!(status.is_ok_and(|s| s.success()));
    within(Duration::from_secs(2), "SIGHUP reloads", || listed(&serve, "hook")["hash"] != old_hash);
    let detail = serve.wait_run(&run_of(&hook(&serve, "reload/hup", "c-1")), Duration::from_secs(20));
    assert_eq!(step(&detail, "label")["output"]["text"], "after");
    assert_eq!(serve.api("/api/reloads").json()["reloads"][0]["cause"], "signal");
}
