//! The README's quickstart, end to end, its commands run as real processes
//! (the test's ports and database): `reqflow sandbox`; `reqflow connect
//! workday` by the authorization-code flow (the consent form posted as the
//! README's no-browser `curl` does, the browser's redirect to the loopback
//! callback), which connects the three Workday workflows at once; `reqflow
//! connections test`, every line `ok`; `reqflow serve --public-url` (the
//! shipped `workflows/`, nothing reported missing) creates the Workable
//! subscription; a candidate moved in the sandbox is delivered through it
//! (signed with the token), the run invites the candidate at the (sandbox)
//! interview vendor and comments on the Workable timeline; then the vendor's
//! signed completion webhook rates the candidate and posts the transcript.
//! No refresh token is set by hand: the Workday poll runs with the connected
//! one. Everything is checked in what the sandbox received.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Serve, TEST_STATE_KEY, http, post_json, sandbox, sandbox_requests, temp_dir, wait_for};

/// `reqflow ARGS --workflows workflows/ --db DB` with the quickstart's settings.
fn reqflow(args: &[&str], env: &[(&str, &str)], db: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reqflow"));
    cmd.args(args).arg("--workflows").arg(crate::root().join("workflows")).args(["--db", db]);
    cmd.env_remove("REQFLOW_SECRET_WORKDAY_REFRESH_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// `reqflow connect workday …` as the README runs it, with the person's part
/// done as its no-browser line does: the consent form posted with the printed
/// URL's query and `decision=approve`, the redirect followed to the callback.
fn connect_workday(sb: u16, env: &[(&str, &str)], db: &str) -> String {
    let args = ["connect", "workday", "--workflow", "workday-candidate-poll", "--connection", "workday"];
    let mut child = reqflow(&args, env, db)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn connect");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut url = String::new();
    stdout.read_line(&mut url).expect("authorize URL");
    let (endpoint, query) = url.trim().split_once('?').expect("a URL with a query");
    assert_eq!(endpoint, format!("http://127.0.0.1:{sb}/acme/authorize"), "{url}");
    let form = format!("{query}&decision=approve");
    let consent =
        http(sb, "POST", "/acme/authorize", &[("Content-Type", "application/x-www-form-urlencoded")], form.as_bytes());
    assert_eq!(consent.status, 302, "{}", consent.body);
    let location = consent.header("location").expect("redirect").to_owned();
    let rest = location.strip_prefix("http://127.0.0.1:").expect("the loopback callback");
    let (port, path) = rest.split_once('/').expect("path");
    let back = http(port.parse().expect("port"), "GET", &format!("/{path}"), &[], b"");
    assert_eq!(back.status, 200, "{}", back.body);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut out).expect("stdout");
    let done = child.wait_with_output().expect("connect");
    assert!(done.status.success(), "connect:\n{out}\n{}", String::from_utf8_lossy(&done.stderr));
    out
}

const TOKEN: &str = "quickstart-workable-token";
const VENDOR_SECRET: &str = "quickstart-vendor-secret";

#[test]
fn quickstart_workable_phone_screen_end_to_end() {
    let sb = sandbox();
    let auth = format!("Bearer {TOKEN}");
    // The README moves this (seeded `Sourced`) candidate to Phone Screen.
    let candidate_id = "27270001".to_string();
    let c = http(sb.1, "GET", &format!("/spi/v3/candidates/{candidate_id}"), &[("Authorization", &auth)], b"").json();
    assert_eq!(c["candidate"]["stage"], "Sourced", "{c}");
    let members = http(sb.1, "GET", "/spi/v3/members", &[("Authorization", &auth)], b"").json();
    let member_id = members["members"][0]["id"].as_str().expect("a seeded member").to_string();

    let dir = temp_dir("quickstart");
    let sandbox_url = format!("http://127.0.0.1:{}", sb.1);
    let vendor_url = format!("{sandbox_url}/vendor/interviews");
    let protection_url = format!("{sandbox_url}/vendor/protection");
    let env = [
        ("REQFLOW_SECRET_KEY", TEST_STATE_KEY),
        ("REQFLOW_VAR_WORKABLE_BASE_URL", sandbox_url.as_str()),
        ("REQFLOW_SECRET_WORKABLE_TOKEN", TOKEN),
        ("REQFLOW_VAR_WORKABLE_MEMBER_ID", member_id.as_str()),
        ("REQFLOW_VAR_INTERVIEWS_BASE_URL", vendor_url.as_str()),
        ("REQFLOW_SECRET_INTERVIEWS_API_KEY", "quickstart-vendor-key"),
        ("REQFLOW_SECRET_INTERVIEWS_WEBHOOK_SECRET", VENDOR_SECRET),
        ("REQFLOW_VAR_WORKDAY_HOST", sandbox_url.as_str()),
        ("REQFLOW_VAR_WORKDAY_TENANT", "acme"),
        ("REQFLOW_SECRET_WORKDAY_CLIENT_ID", "sandbox-client"),
        ("REQFLOW_SECRET_WORKDAY_CLIENT_SECRET", "sandbox-secret"),
        ("REQFLOW_SECRET_WORKDAY_HOOK_API_KEY", "demo-key"),
        ("REQFLOW_VAR_PROTECTION_BASE_URL", protection_url.as_str()),
        ("REQFLOW_SECRET_PROTECTION_API_KEY", "demo-protection-key"),
        ("REQFLOW_SECRET_STUDIO_PASSWORD", "demo-studio-password"),
    ];
    let db = format!("sqlite://{}", dir.join("reqflow.db").display());

    // Workday connected by OAuth: one consent, the three Workday workflows connected.
    let out = connect_workday(sb.1, &env, &db);
    for wf in ["workday-candidate-poll", "workday-assessment-invite", "workday-assessment-results"] {
        assert!(out.contains(&format!("connected: {wf}/workday")), "{out}");
    }
    // Every connection checked: all ok.
    let checked = reqflow(&["connections", "test"], &env, &db).output().expect("connections test");
    let report = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{report}\n{}", String::from_utf8_lossy(&checked.stderr));
    assert!(report.lines().count() >= 10 && report.lines().all(|l| l.starts_with("ok ")), "{report}");
    assert!(report.contains("ok   workday-candidate-poll/workday (workday): token exchange"), "{report}");

    let port = crate::harness::free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let serve =
        Serve::start_with(port, &crate::root().join("workflows"), &db, &env, &dir, &["--public-url", &public_url]);
    let banner = serve.log_text();
    assert!(!banner.contains("not set:") && !banner.contains("not connected"), "nothing missing:\n{banner}");
    // serve created the subscription `workable-phone-screen` declares.
    let target = format!("{public_url}/hooks/workable/candidate-moved?event=candidate_moved");
    // (Read from serve's banner: polling Workable with the same token would eat the 10-per-10-s budget
    // the run needs.)
    wait_for(|| serve.log_text().lines().any(|l| l.contains("created") && l.contains(&target)), "the subscription");
    let subs = http(sb.1, "GET", "/spi/v3/subscriptions", &[("Authorization", &auth)], b"").json();
    assert_eq!(subs["subscriptions"][0]["target"], target.as_str(), "{subs}");

    // 1. A recruiter moves the candidate to Phone Screen: Workable delivers through the subscription.
    let moved = post_json(
        sb.1,
        &format!("/_sandbox/workable/candidates/{candidate_id}/move"),
        &[],
        r#"{"stage": "phone-screen"}"#,
    );
    assert_eq!(moved.status, 200, "{}", moved.body);
    let delivery = moved.json()["deliveries"][0].clone();
    assert_eq!(delivery["target"], target.as_str(), "{delivery}");
    assert_eq!(delivery["status"], 202, "{delivery}");
    let body: Value = serde_json::from_str(delivery["body"].as_str().unwrap_or("{}")).expect("json");
    let run_id = body["run_id"].as_str().expect("run id").to_string();
    let run = serve.wait_run(&run_id, Duration::from_secs(30));
    assert_eq!(run["run"]["status"], "succeeded", "{run:#}");

    let reqs = sandbox_requests(sb.1);
    // The Workday poll invites the sandbox's ASSESSMENT candidates too: find this candidate's invite.
    let invited = reqs
        .iter()
        .filter(|r| r["path"] == "/vendor/interviews/invites")
        .filter_map(|r| serde_json::from_str::<Value>(r["body"].as_str().unwrap_or("{}")).ok())
        .filter(|b| b["external_id"] == candidate_id.as_str())
        .count();
    assert_eq!(invited, 1, "the vendor got the invite");
    let comment_path = format!("/spi/v3/candidates/{candidate_id}/comments");
    assert!(
        reqs.iter().any(|r| r["path"] == comment_path.as_str() && r["method"] == "POST"),
        "timeline comment written back"
    );

    // 2. The vendor reports the finished interview.
    let done = post_json(
        sb.1,
        "/_sandbox/interviews/complete",
        &[],
        &json!({
            "url": format!("http://127.0.0.1:{}/hooks/interviews/completed", serve.port),
            "secret": VENDOR_SECRET, "external_id": candidate_id, "score": 87.5,
            "summary": "Clear and structured.", "transcript": "Q: Why this role?\nA: …"
        })
        .to_string(),
    );
    assert_eq!(done.json()["status"], 202, "{}", done.body);
    let body: Value = serde_json::from_str(done.json()["body"].as_str().unwrap_or("{}")).expect("json");
    let run = serve.wait_run(body["run_id"].as_str().expect("run id"), Duration::from_secs(30));
    assert_eq!(run["run"]["status"], "succeeded", "{run:#}");
    let ratings_path = format!("/spi/v3/candidates/{candidate_id}/ratings");
    wait_for(|| sandbox_requests(sb.1).iter().any(|r| r["path"] == ratings_path.as_str()), "the rating");
    let reqs = sandbox_requests(sb.1);
    let rating = reqs.iter().find(|r| r["path"] == ratings_path.as_str()).expect("rating");
    let rating: Value = serde_json::from_str(rating["body"].as_str().unwrap_or("{}")).expect("json");
    assert_eq!(rating["grade"], 4, "{rating}");
    let comments: Vec<&Value> = reqs.iter().filter(|r| r["path"] == comment_path.as_str()).collect();
    assert_eq!(comments.len(), 2, "invite note + transcript: {comments:#?}");

    // A forged completion (wrong secret) is refused and starts nothing.
    let forged = post_json(
        sb.1,
        "/_sandbox/interviews/complete",
        &[],
        &json!({ "url": format!("http://127.0.0.1:{}/hooks/interviews/completed", serve.port), "secret": "wrong", "external_id": candidate_id, "score": 100 }).to_string(),
    );
    assert_eq!(forged.json()["status"], 401, "{}", forged.body);

    // The Workday poll, which fired at start, succeeded against the sandbox too, with the connected
    // token: the seeded refresh token (what the README once had users export) was never sent.
    wait_for(
        || {
            let runs = serve.api("/api/runs?workflow=workday-candidate-poll").json();
            runs["runs"].as_array().is_some_and(|r| r.iter().any(|r| r["status"] == "succeeded"))
        },
        "the Workday poll",
    );
    let seeded = reqflow_sandbox::workday::seed::REFRESH_TOKEN;
    assert!(
        !sandbox_requests(sb.1).iter().any(|r| r["body"].as_str().is_some_and(|b| b.contains(seeded))),
        "a hand-set refresh token was used"
    );
}
