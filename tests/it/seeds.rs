//! The shipped Workday workflows end to end: `reqflow sandbox` (Workday SOAP,
//! OAuth, the interview / protection vendors) and `reqflow serve` with
//! `workflows/` as real processes on loopback. What each run sent is checked
//! in what the sandbox received. (The Workable phone screen is the README's
//! quickstart: `quickstart.rs`.)

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Sandbox, Serve, get, http, post_json, sandbox, sandbox_requests, temp_dir, wait_for};

const HOOK_KEY: &str = "seeds-orchestrate-key";
const VENDOR_SECRET: &str = "seeds-vendor-secret";
const STUDIO_PASSWORD: &str = "seeds-studio-password";

/// `serve` with every shipped workflow, its Workday and vendor vars pointing at the sandbox.
fn serve_against(sb: &Sandbox, tag: &str, protection: &str) -> Serve {
    let dir = temp_dir(tag);
    let base = format!("http://127.0.0.1:{}", sb.1);
    let interviews = format!("{base}/vendor/interviews");
    let env = [
        ("REQFLOW_SECRET_WORKDAY_HOOK_API_KEY", HOOK_KEY),
        ("REQFLOW_VAR_WORKDAY_HOST", base.as_str()),
        ("REQFLOW_VAR_WORKDAY_TENANT", "acme"),
        ("REQFLOW_SECRET_WORKDAY_CLIENT_ID", reqflow_sandbox::workday::seed::CLIENT_ID),
        ("REQFLOW_SECRET_WORKDAY_CLIENT_SECRET", reqflow_sandbox::workday::seed::CLIENT_SECRET),
        ("REQFLOW_SECRET_WORKDAY_REFRESH_TOKEN", reqflow_sandbox::workday::seed::REFRESH_TOKEN),
        ("REQFLOW_VAR_INTERVIEWS_BASE_URL", interviews.as_str()),
        ("REQFLOW_SECRET_INTERVIEWS_API_KEY", "seeds-vendor-key"),
        ("REQFLOW_SECRET_INTERVIEWS_WEBHOOK_SECRET", VENDOR_SECRET),
        ("REQFLOW_VAR_PROTECTION_BASE_URL", protection),
        ("REQFLOW_SECRET_PROTECTION_API_KEY", "seeds-protection-key"),
        ("REQFLOW_SECRET_STUDIO_PASSWORD", STUDIO_PASSWORD),
    ];
    Serve::start(
        &crate::root().join("workflows"),
        &format!("sqlite://{}", dir.join("reqflow.db").display()),
        &env,
        &dir,
    )
}

fn runs_of(serve: &Serve, workflow: &str) -> Vec<Value> {
    serve.api(&format!("/api/runs?workflow={workflow}&limit=1000")).json()["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn step<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["steps"].as_array().and_then(|s| s.iter().find(|s| s["id"] == id)).unwrap_or(&Value::Null)
}

/// Workday SOAP requests of one operation the sandbox received.
fn soap_requests(sb: &Sandbox, operation: &str) -> Vec<String> {
    sandbox_requests(sb.1)
        .into_iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/ccx/service/acme/Recruiting/")))
        .filter_map(|r| r["body"].as_str().map(str::to_owned))
        .filter(|b| b.contains(&format!("{operation}_Request")))
        .collect()
}

fn json_body(r: &Value) -> Value {
    serde_json::from_str(r["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

#[test]
fn workday_poll_and_webhook_invite_once_then_results_are_assessed() {
    let sb = sandbox();
    let serve = serve_against(&sb, "seeds-assessment", &format!("http://127.0.0.1:{}/vendor/protection", sb.1));

    // The poll fires its first slot at start: Get_Candidates in ASSESSMENT, one invite run per application.
    wait_for(
        || {
            runs_of(&serve, "workday-candidate-poll")
                .iter()
                .any(|r| r["status"] != "queued" && r["status"] != "running")
        },
        "the first poll",
    );
    let poll_id = runs_of(&serve, "workday-candidate-poll")[0]["run_id"].as_str().expect("run id").to_owned();
    let poll = serve.wait_run(&poll_id, Duration::from_secs(30));
    assert_eq!(poll["run"]["status"], "succeeded", "{poll:#}");
    let started: Vec<Value> = step(&poll, "start")["output"].as_array().cloned().unwrap_or_default();
    assert!(started.len() >= 2, "the sandbox seeds several applications in ASSESSMENT: {poll:#}");
    assert!(started.iter().all(|s| s["status"] == "queued"), "{started:#?}");
    assert_eq!(soap_requests(&sb, "Get_Candidates").len(), 1, "one Get_Candidates (all pages fit in one)");

    let mut applications = Vec::new();
    for s in &started {
        let run = serve.wait_run(s["run_id"].as_str().expect("run id"), Duration::from_secs(30));
        assert_eq!(run["run"]["status"], "succeeded", "{run:#}");
        assert_eq!(run["run"]["workflow"]["workflow_id"], "workday-assessment-invite");
        applications.push(step(&run, "application")["output"].clone());
    }
    let invites: Vec<Value> = sandbox_requests(sb.1)
        .into_iter()
        .filter(|r| r["path"] == "/vendor/interviews/invites")
        .map(|r| json_body(&r))
        .collect();
    assert_eq!(invites.len(), started.len(), "one vendor invite per application in the stage");
    for app in &applications {
        let id = app["job_application_id"].as_str().expect("application id");
        assert!(invites.iter().any(|i| i["external_id"] == id), "invite for {id}");
        assert!(app["email"].as_str().is_some_and(|e| e.contains('@')), "{app}");
    }
    assert_eq!(soap_requests(&sb, "Put_Candidate_Attachment").len(), started.len(), "the invite noted on each");

    // Orchestrate now sends the webhook for an application the poll already handled: no second invite.
    let first = &applications[0];
    let hook = |body: &Value| {
        post_json(
            serve.port,
            "/hooks/workday/assessment-stage",
            &[("Authorization", &format!("Bearer {HOOK_KEY}"))],
            &body.to_string(),
        )
    };
    let dup = hook(&json!({
        "event_type": "stage_changed", "stage": "ASSESSMENT", "candidate_id": first["candidate_id"],
        "job_application_id": first["job_application_id"], "job_requisition_id": first["job_requisition_id"],
        "email": first["email"], "name": first["name"], "timestamp": "2026-11-24T10:00:00Z"
    }));
    assert_eq!(dup.status, 200, "already handled by the poll: {}", dup.body);
    assert_eq!(dup.json()["status"], "duplicate", "{}", dup.body);
    // A wrong key is refused.
    let bad = post_json(serve.port, "/hooks/workday/assessment-stage", &[("Authorization", "Bearer nope")], "{}");
    assert_eq!(bad.status, 401);

    // The vendor reports the finished interview: Assess_Candidate, transcript attached, moved on.
    let app_id = first["job_application_id"].as_str().expect("id").to_owned();
    let done = post_json(
        sb.1,
        "/_sandbox/interviews/complete",
        &[],
        &json!({
            "url": format!("http://127.0.0.1:{}/hooks/interviews/workday-completed", serve.port),
            "secret": VENDOR_SECRET, "external_id": app_id, "candidate_id": first["candidate_id"], "score": 88,
            "summary": "Structured answers.", "transcript": "Q: Tell us about a project.\nA: …"
        })
        .to_string(),
    );
    assert_eq!(done.json()["status"], 202, "{}", done.body);
    let body: Value = serde_json::from_str(done.json()["body"].as_str().unwrap_or("{}")).expect("json");
    let run = serve.wait_run(body["run_id"].as_str().expect("run id"), Duration::from_secs(30));
    assert_eq!(run["run"]["status"], "succeeded", "{run:#}");
    let assess = soap_requests(&sb, "Assess_Candidate");
    assert_eq!(assess.len(), 1, "{assess:#?}");
    assert!(assess[0].contains(&app_id) && assess[0].contains("PASSED") && assess[0].contains("88"), "{}", assess[0]);
    let attachments = soap_requests(&sb, "Put_Candidate_Attachment");
    assert_eq!(attachments.len(), started.len() + 2, "the transcript and the vendor's PDF report attached too");
    // The report the vendor's webhook linked to reached Workday byte for byte.
    assert!(done.json()["report_url"].as_str().is_some_and(|u| u.ends_with(".pdf")), "{}", done.body);
    let interview = run["event"]["body"]["interview_id"].as_str().expect("interview id").to_owned();
    let pdf = reqflow_sandbox::report::pdf(&interview);
    let kept = get(sb.1, "/_sandbox/workday/attachments").json();
    let report = kept["attachments"]
        .as_array()
        .and_then(|l| l.iter().find(|a| a["filename"] == format!("ai-interview-{interview}-report.pdf").as_str()))
        .unwrap_or_else(|| panic!("the report attachment: {kept:#}"))
        .clone();
    assert_eq!(report["sha256"], reqflow_engine::sha256_hex(&pdf), "the same bytes as the vendor's PDF");
    assert_eq!(report["content_type"], "application/pdf");
    assert_eq!(step(&run, "report")["output"]["body"]["size"], pdf.len());
    assert_eq!(step(&run, "advance")["status"], "succeeded", "a passing score moves the candidate on: {run:#}");
    let moves = soap_requests(&sb, "Move_Candidate");
    assert!(moves.len() == 1 && moves[0].contains(&app_id), "{moves:#?}");
}

#[test]
fn workday_interview_hooks_answer_at_once_even_when_the_service_is_down() {
    let sb = sandbox();
    // The protection service is unreachable (nothing listens on the port).
    let dead = format!("http://127.0.0.1:{}", crate::harness::free_port());
    let serve = serve_against(&sb, "seeds-hooks-down", &dead);
    let fixture = std::fs::read(crate::data("payloads/workday-orchestrate-interview-started.json")).expect("fixture");
    let auth = format!("Bearer {HOOK_KEY}");
    let started = std::time::Instant::now();
    let r = http(
        serve.port,
        "POST",
        "/hooks/workday/interview-hooks",
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        &fixture,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(started.elapsed() < Duration::from_secs(2), "the answer does not wait for the service");
    let run_id = r.json()["run_id"].as_str().expect("run id").to_owned();
    // The step keeps retrying in the background; its failed attempts are recorded.
    wait_for(
        || {
            let run = serve.api(&format!("/api/runs/{run_id}")).json();
            step(&run, "notify")["attempts"].as_array().is_some_and(|a| a.iter().any(|a| !a["error"].is_null()))
        },
        "a recorded failed attempt",
    );
    let run = serve.api(&format!("/api/runs/{run_id}")).json();
    let err = step(&run, "notify")["attempts"][0]["error"].clone();
    assert_eq!(err["class"], "retryable", "an unreachable service is retried: {err}");
    // The same event again is a duplicate, answered 200.
    let again = http(
        serve.port,
        "POST",
        "/hooks/workday/interview-hooks",
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        &fixture,
    );
    assert_eq!(again.status, 200, "{}", again.body);
}

#[test]
fn workday_studio_soap_listener_notifies_the_service() {
    let sb = sandbox();
    let serve = serve_against(&sb, "seeds-studio", &format!("http://127.0.0.1:{}/vendor/protection", sb.1));
    let envelope =
        std::fs::read(crate::data("payloads/workday-studio-trigger-candidate-state-change.xml")).expect("fixture");
    let basic = format!("Basic {}", base64_encode(&format!("studio:{STUDIO_PASSWORD}")));
    let r = http(
        serve.port,
        "POST",
        "/soap/workday/candidate-state",
        &[
            ("Authorization", &basic),
            ("Content-Type", "text/xml; charset=utf-8"),
            ("SOAPAction", "\"TriggerCandidateStateChange\""),
        ],
        &envelope,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.body.contains("Envelope"), "answered with a SOAP envelope: {}", r.body);
    wait_for(|| sandbox_requests(sb.1).iter().any(|q| q["path"] == "/vendor/protection/workday"), "the notification");
    let sent = sandbox_requests(sb.1).into_iter().find(|q| q["path"] == "/vendor/protection/workday").expect("sent");
    let body = json_body(&sent);
    assert_eq!(body["job_application_id"], "WAPPLIC12345", "{body}");
    assert_eq!(body["candidate_id"], "W12345", "{body}");
    assert_eq!(body["stage"], "Interview", "{body}");
    // Wrong password: a 401, nothing stored.
    let wrong = http(
        serve.port,
        "POST",
        "/soap/workday/candidate-state",
        &[("Authorization", &format!("Basic {}", base64_encode("studio:wrong"))), ("Content-Type", "text/xml")],
        &envelope,
    );
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert_eq!(runs_of(&serve, "workday-studio-listener").len(), 1);
}

#[test]
fn workable_operations_list_create_update_and_activities() {
    let sb = sandbox();
    let dir = temp_dir("seeds-workable-ops");
    let base = format!("http://127.0.0.1:{}", sb.1);
    let token = "ops-workable-token";
    let env = [("REQFLOW_VAR_WORKABLE_BASE_URL", base.as_str()), ("REQFLOW_SECRET_WORKABLE_TOKEN", token)];
    let serve = Serve::start(
        &crate::root().join("workflows"),
        &format!("sqlite://{}", dir.join("reqflow.db").display()),
        &env,
        &dir,
    );
    let run = |payload: Value| {
        let r = serve.api_post("/api/workflows/workable-operations/runs", &payload.to_string());
        assert_eq!(r.status, 202, "{}", r.body);
        serve.wait_run(r.json()["run_id"].as_str().expect("run id"), Duration::from_secs(30))
    };
    let listed = run(json!({ "operation": "list_jobs", "state": "published" }));
    assert_eq!(listed["run"]["status"], "succeeded", "{listed:#}");
    let jobs = step(&listed, "list_jobs")["output"]["jobs"].as_array().cloned().unwrap_or_default();
    assert!(!jobs.is_empty(), "{listed:#}");
    let shortcode = jobs[0]["shortcode"].as_str().expect("shortcode").to_owned();
    let created = run(json!({
        "operation": "create_candidate", "shortcode": shortcode,
        "firstname": "Ada", "lastname": "Lovelace", "email": "ada.ops@example.com"
    }));
    assert_eq!(created["run"]["status"], "succeeded", "{created:#}");
    let candidate_id =
        step(&created, "create_candidate")["output"]["id"].as_str().expect("created candidate id").to_owned();
    let updated = run(json!({ "operation": "update_candidate", "candidate_id": candidate_id, "headline": "Analyst" }));
    assert_eq!(updated["run"]["status"], "succeeded", "{updated:#}");
    let auth = format!("Bearer {token}");
    let now = http(sb.1, "GET", &format!("/spi/v3/candidates/{candidate_id}"), &[("Authorization", &auth)], b"").json();
    assert_eq!(now["candidate"]["headline"], "Analyst", "{now}");
    let acts = run(json!({ "operation": "activities", "candidate_id": candidate_id }));
    assert_eq!(acts["run"]["status"], "succeeded", "{acts:#}");
    // Exactly one operation's step ran in each run.
    assert_eq!(step(&acts, "list_jobs")["status"], "skipped", "{acts:#}");
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}
