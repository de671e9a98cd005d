//! The README's quickstart, end to end: `reqflow sandbox` and `reqflow serve
//! --public-url` (the shipped `workflows/`) as real processes; serve creates the
//! Workable subscription, a candidate moved in the sandbox is delivered through
//! it (signed with the token), the run invites the candidate at the
//! (sandbox) interview vendor and comments on the Workable timeline; then the
//! vendor's signed completion webhook rates the candidate and posts the
//! transcript. Everything is checked in what the sandbox received.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Serve, TEST_STATE_KEY, http, post_json, sandbox, sandbox_requests, temp_dir, wait_for};

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
        ("REQFLOW_SECRET_WORKDAY_REFRESH_TOKEN", "sandbox-refresh-token"),
        ("REQFLOW_SECRET_WORKDAY_HOOK_API_KEY", "demo-key"),
    ];
    let port = crate::harness::free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let serve = Serve::start_with(
        port,
        &crate::root().join("workflows"),
        &format!("sqlite://{}", dir.join("reqflow.db").display()),
        &env,
        &dir,
        &["--public-url", &public_url],
    );
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

    // The Workday poll, which fired at start, succeeded against the sandbox too.
    wait_for(
        || {
            let runs = serve.api("/api/runs?workflow=workday-candidate-poll").json();
            runs["runs"].as_array().is_some_and(|r| r.iter().any(|r| r["status"] == "succeeded"))
        },
        "the Workday poll",
    );
}
