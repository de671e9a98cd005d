//! The `workday.*` actions against `reqflow-sandbox` over loopback: success,
//! each error class (validation fault → permanent, server fault → retryable,
//! expired token → refreshed and retried once), pagination to the last page,
//! and an idempotent Assess_Candidate on replay.

use reqflow_engine::action::ErrorClass;
use reqflow_sandbox::{Running, Sandbox, spawn};
use serde_json::{Value, json};

use crate::common::{call, cx, isu, memory_state, oauth, post};
use crate::xsd;

async fn sandbox() -> Running {
    spawn(Sandbox::seeded()).await.expect("the sandbox starts")
}

/// The request bodies the sandbox received for `operation` (the Body's element).
fn sent(sb: &Running, operation: &str) -> Vec<String> {
    sb.sandbox
        .requests()
        .iter()
        .filter_map(|r| r["body"].as_str().map(str::to_owned))
        .filter(|b| b.contains(&format!("<wd:{operation}")))
        .map(|b| {
            let start = b.find("<soapenv:Body>").expect("a Body") + "<soapenv:Body>".len();
            let end = b.rfind("</soapenv:Body>").expect("a Body end");
            b[start..end].to_owned()
        })
        .collect()
}

fn token_calls(sb: &Running) -> usize {
    sb.sandbox.requests().iter().filter(|r| r["path"] == "/ccx/oauth2/acme/token").count()
}

fn assessments(sb: &Running) -> Vec<Value> {
    sb.sandbox.read(|d| d.workday.assessments.clone())
}

fn application(sb: &Running, id: &str) -> Value {
    sb.sandbox.read(|d| {
        d.workday
            .candidates
            .iter()
            .flat_map(|c| c["applications"].as_array().cloned().unwrap_or_default())
            .find(|a| a["id"] == id)
            .expect("the application exists")
    })
}

fn assert_fault(err: &reqflow_engine::action::ActionError, class: ErrorClass, code: &str, message: &str) {
    assert_eq!(err.class, class, "{err:?}");
    assert_eq!(err.code.as_deref(), Some(code), "{err:?}");
    assert!(err.message.contains(message), "`{}` should mention `{message}`", err.message);
}

#[tokio::test]
async fn assess_candidate_rounds_the_score_and_a_replay_updates_the_same_assessment() {
    let sb = sandbox().await;
    let conn = isu(&sb, "v26.1");
    let state = memory_state();
    let with = json!({
        "job_application": "JOB_APPLICATION-6-248", "status": "PASSED", "test": "CODING_TEST_V2", "score": 87.5,
        "test_status": "PASSED", "comment": "Coding test 87.5/100", "results_url": "https://vendor.example/r/1",
        "assessed_by": "21001", "assessed_on": "2026-05-01"
    });
    let out =
        call(cx("run-7", "assess", &conn, &state), "workday.assess_candidate", with.clone()).await.expect("assessed");
    assert_eq!(out["assess_candidate_reference"], "reqflow:run-7:assess");
    assert_eq!(out["rounded"], true);
    assert_eq!(
        out["scores"][0],
        json!({"test": "CODING_TEST_V2", "test_type": "Reference_ID", "score": 87.5, "score_sent": 88, "rounded": true})
    );
    let notes = out["notes"].to_string();
    assert!(notes.contains("rounded to 88") && notes.contains("Overall_Assessment_Comment"), "{notes}");
    let id = out["candidate_assessment"]["Recruiting_Assessment_ID"].as_str().expect("an assessment id").to_owned();
    assert_eq!(out["candidate_assessment"]["WID"].as_str().map(str::len), Some(32));
    assert!(out["candidate_assessment_event"]["WID"].is_string());
    assert_eq!(out["version"], "v26.1");

    let stored = assessments(&sb);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["tests"][0]["score"], 88);
    assert_eq!(stored[0]["assessed_by"]["id"], "21001");
    assert!(stored[0]["comment"].as_str().expect("a comment").ends_with("Results: https://vendor.example/r/1"));
    let body = &sent(&sb, "Assess_Candidate_Request")[0];
    assert!(
        body.contains("<wd:Assess_Candidate_Reference>reqflow:run-7:assess</wd:Assess_Candidate_Reference>"),
        "{body}"
    );
    assert!(
        body.contains("wd:version=\"v26.1\"")
            && body.contains("<wd:Assessment_Test_Score>88</wd:Assessment_Test_Score>")
    );

    // The step is retried (or the run replayed): same run and step, so the same reference.
    let mut again = with.clone();
    again["score"] = json!(91);
    let out2 = call(cx("run-7", "assess", &conn, &state), "workday.assess_candidate", again).await.expect("updated");
    assert_eq!(out2["candidate_assessment"]["Recruiting_Assessment_ID"], id.as_str());
    assert_eq!(out2["rounded"], false);
    let stored = assessments(&sb);
    assert_eq!(stored.len(), 1, "a replay updates, it does not add");
    assert_eq!(stored[0]["updates"], 1);
    assert_eq!(stored[0]["tests"][0]["score"], 91);

    // Another run is another assessment; a fixed reference makes runs share one.
    call(cx("run-8", "assess", &conn, &state), "workday.assess_candidate", with.clone()).await.expect("second");
    assert_eq!(assessments(&sb).len(), 2);
    let mut keyed = with.clone();
    keyed["assess_candidate_reference"] = json!("vendor-42");
    call(cx("run-9", "assess", &conn, &state), "workday.assess_candidate", keyed.clone()).await.expect("keyed");
    call(cx("run-10", "assess", &conn, &state), "workday.assess_candidate", keyed).await.expect("keyed again");
    assert_eq!(assessments(&sb).len(), 3);
}

#[tokio::test]
async fn assess_candidate_by_event_or_candidate_and_newer_versions_send_the_url_element() {
    let sb = sandbox().await;
    let state = memory_state();
    let conn = oauth(&sb, "v44.0");
    let event = application(&sb, "JOB_APPLICATION-6-249")["assessment_event"].as_str().expect("event").to_owned();
    let out = call(
        cx("run-1", "by-event", &conn, &state),
        "workday.assess_candidate",
        json!({"event": event, "status": "FAILED", "test": "AI_INTERVIEW", "score": 41.2,
               "results_url": "https://vendor.example/r/2", "next_step": "JOB_APPLICATION_STEP_INTERVIEW",
               "step_comment": "Advanced by the assessment vendor"}),
    )
    .await
    .expect("assessed by event");
    assert_eq!(out["candidate_assessment_event"]["WID"], event.as_str());
    assert_eq!(out["notes"].as_array().map(Vec::len), Some(1), "only the rounding: {}", out["notes"]);
    let stored = assessments(&sb);
    assert_eq!(stored[0]["tests"][0]["results_url"], "https://vendor.example/r/2");
    assert_eq!(stored[0]["assessed_by"], Value::Null, "optional from v31.2");
    assert_eq!(application(&sb, "JOB_APPLICATION-6-249")["stage"], "INTERVIEW", "moved on");

    let out = call(
        cx("run-1", "by-candidate", &conn, &state),
        "workday.assess_candidate",
        json!({"candidate": "CAND-1185", "job_requisition": "R-00009", "status": "PASSED",
               "tests": [{"test": "PERSONALITY_PROFILE", "score": " 72.5 "}], "assessed_by": 21001}),
    )
    .await
    .expect("assessed by candidate + requisition");
    assert!(out["candidate_assessment"]["Recruiting_Assessment_ID"].is_string());
    assert_eq!(assessments(&sb)[1]["application"], "JOB_APPLICATION-6-252");
    assert_eq!(assessments(&sb)[1]["tests"][0]["score"], 73, "a score sent as a string, rounded");
    assert_eq!(assessments(&sb)[1]["assessed_by"]["id"], "21001", "a numeric Employee_ID");

    // CAND-1185 has two applications in assessment: the candidate alone is ambiguous.
    let err = call(
        cx("run-1", "ambiguous", &conn, &state),
        "workday.assess_candidate",
        json!({"candidate": "CAND-1185", "status": "PASSED"}),
    )
    .await
    .expect_err("ambiguous");
    assert_fault(&err, ErrorClass::Permanent, "soap.validation_error", "precisely one Job Application");
    let body = &sent(&sb, "Assess_Candidate_Request")[0];
    assert!(body.contains("wd:version=\"v44.0\"") && body.contains("Assessment_Test_Results_URL"), "{body}");
}

#[tokio::test]
async fn assess_candidate_error_classes() {
    let sb = sandbox().await;
    let state = memory_state();
    let conn = isu(&sb, "v26.1");
    let base = json!({"job_application": "JOB_APPLICATION-6-248", "status": "PASSED", "assessed_by": "21001"});
    let with = |patch: Value| {
        let mut w = base.clone();
        for (k, v) in patch.as_object().expect("object") {
            if v.is_null() {
                w.as_object_mut().expect("object").remove(k);
            } else {
                w[k] = v.clone();
            }
        }
        w
    };
    let run = |w: Value| call(cx("run-1", "assess", &conn, &state), "workday.assess_candidate", w);

    // Business-process validation faults: permanent, with Workday's messages and details.
    let err = run(with(json!({"job_application": "JOB_APPLICATION-6-253"}))).await.expect_err("never assessed");
    assert_fault(&err, ErrorClass::Permanent, "soap.validation_error", "was never in the Assessment Business Process");
    let details = err.details.expect("details");
    assert_eq!(details["status"], 500);
    assert_eq!(details["faultcode"], "Client.validationError");
    assert!(
        details["validation_errors"][0]["xpath"]
            .as_str()
            .expect("xpath")
            .starts_with("/wd:Assess_Candidate_Request[1]")
    );

    let err = run(with(json!({"job_application": "JOB_APPLICATION-6-254", "next_step": "JOB_APPLICATION_STEP_OFFER"})))
        .await
        .expect_err("not in assessment");
    assert_fault(&err, ErrorClass::Permanent, "soap.validation_error", "must be in the Assess Candidate state");
    let err = run(with(json!({"status": "GREAT"}))).await.expect_err("unknown status");
    assert_fault(
        &err,
        ErrorClass::Permanent,
        "soap.validation_error",
        "'GREAT' is not a valid ID value for type = 'Assessment_Status_ID'",
    );
    let err = run(with(json!({"assessed_by": "99999"}))).await.expect_err("unknown worker");
    assert_fault(
        &err,
        ErrorClass::Permanent,
        "soap.validation_error",
        "'99999' is not a valid ID value for type = 'Employee_ID'",
    );

    // Parameter errors never reach Workday.
    let before = sb.sandbox.requests().len();
    let err = run(with(json!({"assessed_by": null}))).await.expect_err("v26.1 needs assessed_by");
    assert_fault(&err, ErrorClass::Permanent, "params.invalid", "assessed_by");
    let err = run(with(json!({"score": 80}))).await.expect_err("score without test");
    assert_fault(&err, ErrorClass::Permanent, "params.invalid", "`score` needs `test`");
    let err = run(with(json!({"score": "eighty", "test": "CODING_TEST_V2"}))).await.expect_err("not a number");
    assert_fault(&err, ErrorClass::Permanent, "params.invalid", "not a number");
    let err = run(with(json!({"score": -1, "test": "CODING_TEST_V2"}))).await.expect_err("negative");
    assert_fault(&err, ErrorClass::Permanent, "params.invalid", "non-negative");
    let err = run(with(json!({"event": "not-a-wid"}))).await.expect_err("two locators");
    assert_fault(&err, ErrorClass::Permanent, "params.invalid", "exactly one of");
    let err = run(with(json!({"nonsense": 1}))).await.expect_err("unknown field");
    assert_fault(&err, ErrorClass::Permanent, "params.invalid", "nonsense");
    assert_eq!(sb.sandbox.requests().len(), before);

    // A server fault is retryable; then the call goes through.
    post(&sb, "/_sandbox/faults", json!({"status": 500, "count": 1, "path_prefix": "/ccx/service"})).await;
    let err = run(base.clone()).await.expect_err("server fault");
    assert_fault(&err, ErrorClass::Retryable, "soap.processing_error", "Processing error occurred");
    run(base.clone()).await.expect("after the fault");

    // A 5xx without a SOAP body (an overloaded tenant) is retryable too.
    post(&sb, "/_sandbox/faults", json!({"status": 503, "count": 1, "path_prefix": "/ccx/service"})).await;
    assert_eq!(run(base.clone()).await.expect_err("503").class, ErrorClass::Retryable);

    // Wrong credentials: permanent, and the password never shows.
    let mut bad = conn.clone();
    bad["auth"]["isu"]["password"] = json!("wrong-password");
    let err =
        call(cx("run-1", "assess", &bad, &state), "workday.assess_candidate", base.clone()).await.expect_err("auth");
    assert_fault(&err, ErrorClass::Permanent, "soap.authentication_error", "invalid username or password");
    assert!(!serde_json::to_string(&err).expect("json").contains("wrong-password"));
    let log = serde_json::to_string(&sb.sandbox.requests()).expect("json");
    assert!(!log.contains("sandbox-password") && !log.contains("wrong-password"), "the request log has no passwords");
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_call_retried_once() {
    let sb = sandbox().await;
    let state = memory_state();
    let conn = oauth(&sb, "v44.0");
    let with = json!({"job_application": "JOB_APPLICATION-6-250", "status": "PASSED"});
    call(cx("run-1", "a", &conn, &state), "workday.assess_candidate", with.clone()).await.expect("first");
    call(cx("run-1", "b", &conn, &state), "workday.candidates.get", json!({"candidates": ["CAND-1184"]}))
        .await
        .expect("second");
    assert_eq!(token_calls(&sb), 1, "the token is reused");
    post(&sb, "/_sandbox/faults", json!({"expire_tokens": true})).await;
    call(cx("run-1", "a", &conn, &state), "workday.assess_candidate", with).await.expect("after expiry");
    assert_eq!(token_calls(&sb), 2, "refreshed once");
    let soap: Vec<Value> =
        sb.sandbox.requests().into_iter().filter(|r| r["path"] == "/ccx/service/acme/Recruiting/v44.0").collect();
    assert_eq!(soap.len(), 4, "three calls, the last one sent twice");
    assert!(soap.iter().all(|r| r["headers"]["authorization"] == "Bearer [redacted]"));
    assert_eq!(assessments(&sb).len(), 1, "the retried call updated the same assessment");
}

#[tokio::test]
async fn candidates_get_follows_the_pages_to_the_last_one_on_one_snapshot() {
    let sb = sandbox().await;
    let state = memory_state();
    let conn = isu(&sb, "v26.1");
    let out = call(cx("run-1", "all", &conn, &state), "workday.candidates.get", json!({"count": 7, "all_pages": true}))
        .await
        .expect("all pages");
    assert_eq!(out["count"], 25);
    assert_eq!(out["total_results"], 25);
    assert_eq!(out["total_pages"], 4);
    assert_eq!(
        (out["page"].clone(), out["pages"].clone(), out["next_page"].clone()),
        (json!(4), json!(4), Value::Null)
    );
    let ids: Vec<&str> = out["candidates"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["Candidate_Data"]["Candidate_ID"].as_str())
        .collect();
    assert_eq!(ids.len(), 25);
    assert_eq!(ids.first(), Some(&"CAND-1182"));
    assert_eq!(ids.last(), Some(&"CAND-1206"));
    let bodies = sent(&sb, "Get_Candidates_Request");
    assert_eq!(bodies.len(), 4);
    assert!(!bodies[0].contains("As_Of_Entry_DateTime"));
    let pinned =
        |b: &str| b.split("<wd:As_Of_Entry_DateTime>").nth(1).and_then(|s| s.split('<').next()).map(str::to_owned);
    let first = pinned(&bodies[1]).expect("page 2 is pinned to page 1's moment");
    assert!(bodies[2..].iter().all(|b| pinned(b).as_deref() == Some(first.as_str())));
    for (i, b) in bodies.iter().enumerate() {
        assert!(b.contains(&format!("<wd:Page>{}</wd:Page><wd:Count>7</wd:Count>", i + 1)), "{b}");
    }

    let one = call(cx("run-1", "one", &conn, &state), "workday.candidates.get", json!({"count": 10}))
        .await
        .expect("one page");
    assert_eq!((one["count"].clone(), one["next_page"].clone(), one["pages"].clone()), (json!(10), json!(2), json!(1)));
    let last = call(cx("run-1", "last", &conn, &state), "workday.candidates.get", json!({"count": 10, "page": 3}))
        .await
        .expect("page 3");
    assert_eq!((last["count"].clone(), last["next_page"].clone()), (json!(5), Value::Null));
    let capped = call(
        cx("run-1", "cap", &conn, &state),
        "workday.candidates.get",
        json!({"count": 5, "all_pages": true, "max_pages": 2}),
    )
    .await
    .expect("capped");
    assert_eq!((capped["count"].clone(), capped["next_page"].clone()), (json!(10), json!(3)));

    // A candidate added after page 1's moment is not in a snapshot taken before it.
    let before = "2026-05-01T00:00:00Z";
    call(
        cx("run-1", "put", &conn, &state),
        "workday.candidates.put",
        json!({"first_name": "Late", "last_name": "Comer", "email": "late@example.com", "job_requisition": "R-00010"}),
    )
    .await
    .expect("added");
    let snap =
        call(cx("run-1", "snap", &conn, &state), "workday.candidates.get", json!({"as_of_entry_datetime": before}))
            .await
            .expect("snapshot");
    assert_eq!(snap["total_results"], 25);
    let now = call(cx("run-1", "now", &conn, &state), "workday.candidates.get", json!({})).await.expect("now");
    assert_eq!(now["total_results"], 26);
}

#[tokio::test]
async fn candidates_get_by_reference_and_criteria() {
    let sb = sandbox().await;
    let state = memory_state();
    let conn = isu(&sb, "v26.1");
    let get = |with: Value| call(cx("run-1", "get", &conn, &state), "workday.candidates.get", with);
    let ids = |out: &Value| -> Vec<String> {
        out["candidates"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|c| c["Candidate_Data"]["Candidate_ID"].as_str().map(str::to_owned))
            .collect()
    };
    let out = get(json!({"stages": ["ASSESSMENT"], "job_requisitions": ["R-00008"]})).await.expect("criteria");
    assert_eq!(ids(&out), ["CAND-1182", "CAND-1183", "CAND-1185"]);
    let ada = &out["candidates"][0]["Candidate_Data"];
    assert_eq!(ada["Job_Application_Data"]["Job_Applied_To_Data"]["Stage_Reference"]["ID"]["#text"], "ASSESSMENT");
    let out = get(json!({"first_name": "ada", "last_name": "LOVELACE"})).await.expect("by name");
    assert_eq!(ids(&out), ["CAND-1182"]);
    let out = get(json!({"email": "alan.turing@example.com"})).await.expect("by email");
    assert_eq!(ids(&out), ["CAND-1184"]);
    let out =
        get(json!({"applied_from": "2026-04-02", "applied_through": "2026-04-03T23:59:59Z"})).await.expect("by date");
    assert_eq!(ids(&out), ["CAND-1183", "CAND-1184"]);

    let out = get(json!({"candidates": ["CAND-1184", "CAND-404"], "skip_non_existing": true})).await.expect("skip");
    assert_eq!(ids(&out), ["CAND-1184"]);
    let err = get(json!({"candidates": ["CAND-1184", "CAND-404"]})).await.expect_err("unknown id");
    assert_fault(
        &err,
        ErrorClass::Permanent,
        "soap.validation_error",
        "'CAND-404' is not a valid ID value for type = 'Candidate_ID'",
    );
    let err = get(json!({"first_name": "Ada"})).await.expect_err("first without last");
    assert_fault(
        &err,
        ErrorClass::Permanent,
        "soap.validation_error",
        "Last Name is required if First Name is entered.",
    );
    let err = get(json!({"applied_from": "2026-05-01", "applied_through": "2026-04-01"})).await.expect_err("dates");
    assert_fault(&err, ErrorClass::Permanent, "soap.validation_error", "Applied From date");
    let err = get(json!({"stages": ["NOPE"]})).await.expect_err("stage");
    assert_fault(
        &err,
        ErrorClass::Permanent,
        "soap.validation_error",
        "'NOPE' is not a valid ID value for type = 'Recruiting_Stage_ID'",
    );
    let err = get(json!({"created_from": "2026-01-01"})).await.expect_err("v31.2 criterion at v26.1");
    assert_fault(&err, ErrorClass::Permanent, "params.invalid", "v31.2");
    let err = get(json!({"count": 1000})).await.expect_err("count");
    assert_fault(&err, ErrorClass::Permanent, "params.invalid", "`count`");

    // The sandbox checks what the actions never send, too: page zero, order, wd:type.
    let raw = |json: Value| {
        call(
            cx("run-1", "raw", &conn, &state),
            "soap.call",
            json!({"operation": "Get_Candidates_Request", "json": json}),
        )
    };
    let err = raw(json!({"Response_Filter": {"Page": 0}})).await.expect_err("page 0");
    assert!(err.message.contains("Page Number cannot be zero."), "{}", err.message);
    let err = raw(json!({"Response_Filter": {"Count": 5, "Page": 1}})).await.expect_err("order");
    assert!(err.message.contains("out of order"), "{}", err.message);
    let err =
        raw(json!({"Request_References": {"Candidate_Reference": {"ID": {"@type": "Employee_ID", "#text": "1"}}}}))
            .await
            .expect_err("type");
    assert!(err.message.contains("'Employee_ID' is not a valid ID type"), "{}", err.message);
}

#[tokio::test]
async fn candidates_put_adds_once_and_applies() {
    let sb = sandbox().await;
    let state = memory_state();
    let conn = isu(&sb, "v26.1");
    let put = |with: Value| call(cx("run-1", "put", &conn, &state), "workday.candidates.put", with);
    let out = put(json!({
        "first_name": "Katherine", "last_name": "Coleman", "email": "kc@example.com", "phone": "+1 555 0100",
        "websites": ["https://kc.example"], "address": {"country": "US", "city": "Hampton"},
        "job_requisition": "R-00010", "source": "ASSESSMENT_VENDOR",
        "resume": {"file_name": "cv.txt", "text": "Orbital mechanics."}
    }))
    .await
    .expect("added");
    let id = out["candidate_id"].as_str().expect("an id").to_owned();
    assert_eq!(out["candidate"]["WID"].as_str().map(str::len), Some(32));
    let app = out["job_applications"][0]["job_application"]["Job_Application_ID"].as_str().expect("app").to_owned();
    assert_eq!(out["job_applications"][0]["job_requisition"]["Job_Requisition_ID"], "R-00010");
    assert_eq!(application(&sb, &app)["stage"], "REVIEW", "the default stage");
    let resumes = sb.sandbox.read(|d| d.workday.attachments.clone());
    assert_eq!((resumes[0]["filename"].clone(), resumes[0]["size"].clone()), (json!("cv.txt"), json!(18)));
    assert!(sent(&sb, "Put_Candidate_Request")[0].contains("wd:Add_Only=\"true\""));

    let got = call(cx("run-1", "get", &conn, &state), "workday.candidates.get", json!({"candidates": [id]}))
        .await
        .expect("get");
    assert_eq!(got["candidates"][0]["Candidate_Data"]["Name_Data"]["Last_Name"], "Coleman");

    // Add_Only: an existing candidate is refused, not silently updated.
    let err = put(json!({"candidate_id": "CAND-1182", "first_name": "Ada", "last_name": "L", "email": "a@example.com", "prospect": true}))
        .await
        .expect_err("exists");
    assert_fault(
        &err,
        ErrorClass::Permanent,
        "soap.validation_error",
        "set to Add Only, but the Candidate already exists",
    );
    let err = put(json!({"first_name": "No", "last_name": "Contact", "job_requisition": "R-00010"}))
        .await
        .expect_err("contact");
    assert_fault(&err, ErrorClass::Permanent, "soap.validation_error", "phone number or email address is required");
    let err =
        put(json!({"first_name": "No", "last_name": "Job", "email": "nojob@example.com"})).await.expect_err("no job");
    assert_fault(
        &err,
        ErrorClass::Permanent,
        "soap.validation_error",
        "Job Application Data or Prospect Data is required",
    );
    let err =
        put(json!({"first_name": "C", "last_name": "Losed", "email": "c@example.com", "job_requisition": "R-00012"}))
            .await
            .expect_err("closed");
    assert_fault(&err, ErrorClass::Permanent, "soap.validation_error", "not open");
    let err =
        put(json!({"first_name": "W", "last_name": "Step", "email": "w@example.com", "job_requisition": "R-00010",
                         "stage": "REVIEW", "workflow_step": "JOB_APPLICATION_STEP_OFFER"}))
        .await
        .expect_err("step");
    assert_fault(&err, ErrorClass::Permanent, "soap.validation_error", "is not valid for the REVIEW Stage");

    // Update (add_only: false): apply an existing candidate to another requisition, once.
    let upd = json!({"add_only": false, "candidate": "CAND-1186", "job_requisition": "R-00011"});
    let out = put(upd.clone()).await.expect("updated");
    assert_eq!(out["candidate_id"], "CAND-1186");
    assert_eq!(out["job_applications"].as_array().map(Vec::len), Some(1));
    let err = put(upd).await.expect_err("twice");
    assert_fault(&err, ErrorClass::Permanent, "soap.validation_error", "Barbara Liskov has already applied to R-00011");

    // v44.0 writes the name as Legal_Name/Name_Detail_Data; the sandbox reads it.
    let out = call(
        cx("run-1", "put44", &oauth(&sb, "v44.0"), &state),
        "workday.candidates.put",
        json!({"first_name": "Newer", "last_name": "Version", "email": "nv@example.com", "prospect": true}),
    )
    .await
    .expect("v44");
    let id = out["candidate_id"].as_str().expect("id").to_owned();
    let c = sb.sandbox.read(|d| d.workday.candidates.iter().find(|c| c["id"] == id.as_str()).cloned().expect("stored"));
    assert_eq!((c["first_name"].clone(), c["last_name"].clone()), (json!("Newer"), json!("Version")));
    assert!(sent(&sb, "Put_Candidate_Request").last().expect("sent").contains("<wd:Legal_Name><wd:Name_Detail_Data>"));
}

#[tokio::test]
async fn candidates_move_and_attach() {
    let sb = sandbox().await;
    let state = memory_state();
    let conn = isu(&sb, "v26.1");
    let mv = |with: Value| call(cx("run-1", "move", &conn, &state), "workday.candidates.move", with);
    let out = mv(json!({"job_application": "JOB_APPLICATION-6-250", "next_step": "JOB_APPLICATION_STEP_INTERVIEW", "comment": "Passed"}))
        .await
        .expect("moved");
    assert_eq!(out["event"]["WID"].as_str().map(str::len), Some(32));
    assert_eq!(application(&sb, "JOB_APPLICATION-6-250")["stage"], "INTERVIEW");
    let err = mv(json!({"job_application": "JOB_APPLICATION-6-250", "next_step": "DECLINE_STEP_ID"}))
        .await
        .expect_err("wrong kind");
    assert_fault(
        &err,
        ErrorClass::Permanent,
        "soap.validation_error",
        "The next step or disposition chosen is invalid",
    );
    mv(json!({"candidate": "CAND-1184", "job_requisition": "R-00009", "disposition_step": "DECLINE_STEP_ID"}))
        .await
        .expect("declined");
    let app = application(&sb, "JOB_APPLICATION-6-250");
    assert_eq!(
        (app["status"].clone(), app["disposition"].clone()),
        (json!("declined"), json!("DISQUALIFIED_BY_ASSESSMENT"))
    );
    let err = mv(json!({"job_application": "JOB_APPLICATION-6-250", "next_step": "JOB_APPLICATION_STEP_OFFER"}))
        .await
        .expect_err("done");
    assert_fault(&err, ErrorClass::Permanent, "soap.validation_error", "must be in progress");
    let err = mv(json!({"candidate": "CAND-1184", "next_step": "JOB_APPLICATION_STEP_OFFER"}))
        .await
        .expect_err("needs requisition");
    assert_fault(&err, ErrorClass::Permanent, "params.invalid", "job_requisition");
    let err = mv(json!({"job_application": "JOB_APPLICATION-6-248"})).await.expect_err("no step");
    assert_fault(&err, ErrorClass::Permanent, "params.invalid", "next_step");

    let attach = |with: Value| call(cx("run-1", "attach", &conn, &state), "workday.candidates.attach", with);
    let transcript = "Q: Tell me about a hard bug.\nA: A race in the scheduler & a fix <3.";
    let out = attach(json!({"candidate": "CAND-1182", "job_application": "JOB_APPLICATION-6-248",
                            "file_name": "transcript.txt", "text": transcript, "comment": "AI interview transcript"}))
    .await
    .expect("attached");
    assert_eq!(out["candidate"]["Candidate_ID"], "CAND-1182");
    let file = out["job_applications"][0]["attachments"][0]["File_ID"].as_str().expect("file id").to_owned();
    let stored = sb.sandbox.read(|d| d.workday.attachments.clone());
    assert_eq!(stored[0]["file_id"], file.as_str());
    assert_eq!(stored[0]["size"], transcript.len());
    assert_eq!(stored[0]["content_type"], "text/plain");
    assert_eq!(stored[0]["application"], "JOB_APPLICATION-6-248");

    let out = attach(json!({"candidate": "CAND-1182", "document_category": "ASSESSMENT_REPORT",
                            "file_name": "report.pdf", "content": "JVBERi0xLjQK"}))
    .await
    .expect("to the profile");
    assert!(out["attachments"][0]["File_ID"].is_string());
    assert_eq!(sb.sandbox.read(|d| d.workday.attachments[1]["content_type"].clone()), "application/pdf");

    // A binary value (what `http.request` fetched): its name and type are used, its bytes kept.
    let bytes: Vec<u8> = (0..=255u8).rev().chain(0..=255u8).collect();
    let bin =
        reqflow_engine::value::binary::Binary::new("application/pdf", bytes.clone()).named(Some("scan.pdf".into()));
    let out = attach(
        json!({"candidate": "CAND-1182", "job_application": "JOB_APPLICATION-6-248", "content": bin.to_value()}),
    )
    .await
    .expect("a binary value");
    let file = out["job_applications"][0]["attachments"][0]["File_ID"].as_str().expect("file id").to_owned();
    let (meta, kept) = sb.sandbox.read(|d| {
        let w = &d.workday;
        (w.attachments.iter().find(|a| a["file_id"] == file.as_str()).cloned(), w.files.get(&file).cloned())
    });
    let meta = meta.expect("stored");
    assert_eq!(meta["filename"], "scan.pdf");
    assert_eq!(meta["content_type"], "application/pdf");
    assert_eq!(meta["sha256"], reqflow_engine::sha256_hex(&bytes));
    assert_eq!(kept, Some(bin.base64()), "the sandbox keeps the bytes");
    let unnamed = reqflow_engine::value::binary::Binary::new("application/pdf", bytes.clone()).to_value();
    let err = attach(json!({"candidate": "CAND-1182", "job_application": "JOB_APPLICATION-6-248", "content": unnamed}))
        .await
        .expect_err("no name");
    assert_fault(&err, ErrorClass::Permanent, "params.invalid", "give `file_name`");

    let err = attach(json!({"candidate": "CAND-1183", "job_application": "JOB_APPLICATION-6-248", "file_name": "x.txt", "text": "x"}))
        .await
        .expect_err("not hers");
    assert_fault(&err, ErrorClass::Permanent, "soap.validation_error", "does not belong to candidate CAND-1183");
    let err =
        attach(json!({"candidate": "CAND-1182", "job_requisition": "R-00008", "file_name": "x.pdf", "content": "%%%"}))
            .await
            .expect_err("not base64");
    assert_fault(&err, ErrorClass::Permanent, "params.invalid", "base64");
    let err = attach(json!({"candidate": "CAND-1182", "file_name": "x.txt", "text": "x"})).await.expect_err("where");
    assert_fault(&err, ErrorClass::Permanent, "params.invalid", "document_category");
}

#[tokio::test]
async fn job_requisitions_get_pages_and_filters() {
    let sb = sandbox().await;
    let state = memory_state();
    let conn = isu(&sb, "v26.1");
    let get = |with: Value| call(cx("run-1", "reqs", &conn, &state), "workday.job_requisitions.get", with);
    let out = get(json!({"count": 5, "all_pages": true})).await.expect("all");
    assert_eq!(
        (out["count"].clone(), out["pages"].clone(), out["total_pages"].clone()),
        (json!(12), json!(3), json!(3))
    );
    let r = &out["job_requisitions"][0];
    assert_eq!(r["Job_Requisition_Data"]["Job_Requisition_Detail_Data"]["Job_Posting_Title"], "Software Architect");
    let out = get(json!({"statuses": ["OPEN"], "supervisory_organizations": ["SUP_ORG_ENGINEERING"]}))
        .await
        .expect("criteria");
    assert_eq!(out["total_results"], 4);
    let out = get(json!({"job_requisitions": ["R-00009"], "include": ["organizations"]})).await.expect("reference");
    assert_eq!(out["count"], 1);
    assert!(
        out["job_requisitions"][0]["Job_Requisition_Data"]["Job_Requisition_Detail_Data"].is_null(),
        "definition not asked for"
    );
    let err = get(json!({"job_requisitions": ["R-99999"]})).await.expect_err("unknown");
    assert_fault(
        &err,
        ErrorClass::Permanent,
        "soap.validation_error",
        "'R-99999' is not a valid ID value for type = 'Job_Requisition_ID'",
    );
    let err = get(json!({"statuses": ["OPEN"], "job_requisitions": ["R-00009"]})).await.expect_err("both");
    assert_fault(&err, ErrorClass::Permanent, "params.invalid", "not both");
}

#[tokio::test]
async fn job_postings_list_follows_offsets_and_refreshes_tokens() {
    let sb = sandbox().await;
    let state = memory_state();
    let conn = oauth(&sb, "v44.0");
    let list = |with: Value| call(cx("run-1", "postings", &conn, &state), "workday.job_postings.list", with);
    let out = list(json!({"all_pages": true})).await.expect("all pages");
    assert_eq!((out["count"].clone(), out["total"].clone(), out["pages"].clone()), (json!(45), json!(45), json!(3)));
    assert_eq!(out["next_offset"], Value::Null);
    let ids: std::collections::BTreeSet<&str> =
        out["job_postings"].as_array().expect("list").iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(ids.len(), 45, "no posting twice");
    let queries: Vec<Value> = sb
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r["path"] == "/ccx/api/recruiting/v4/acme/jobPostings")
        .map(|r| r["query"].clone())
        .collect();
    assert_eq!(queries, [json!("limit=20&offset=0"), json!("limit=20&offset=20"), json!("limit=20&offset=40")]);

    let one = list(json!({"limit": 10})).await.expect("one page");
    assert_eq!((one["count"].clone(), one["next_offset"].clone()), (json!(10), json!(10)));
    let tail = list(json!({"limit": 10, "offset": 40})).await.expect("the tail");
    assert_eq!((tail["count"].clone(), tail["next_offset"].clone()), (json!(5), Value::Null));
    let by_req =
        list(json!({"job_requisition": ["Job_Requisition_ID=R-00008"], "all_pages": true})).await.expect("filtered");
    assert_eq!(by_req["total"], 5);
    assert!(
        by_req["job_postings"]
            .as_array()
            .expect("list")
            .iter()
            .all(|p| p["title"].as_str().is_some_and(|t| t.starts_with("Software Architect")))
    );

    // The token expires mid-run: 401, refresh, one retry.
    let before = token_calls(&sb);
    post(&sb, "/_sandbox/faults", json!({"expire_tokens": true})).await;
    list(json!({"limit": 5})).await.expect("after expiry");
    assert_eq!(token_calls(&sb), before + 1);

    post(&sb, "/_sandbox/faults", json!({"status": 429, "count": 1, "retry_after": 7, "path_prefix": "/ccx/api"}))
        .await;
    let err = list(json!({})).await.expect_err("429");
    assert_eq!(err.class, ErrorClass::Retryable);
    assert_eq!(err.retry_after, Some(std::time::Duration::from_secs(7)));
    post(&sb, "/_sandbox/faults", json!({"status": 500, "count": 1, "path_prefix": "/ccx/api"})).await;
    assert_eq!(list(json!({})).await.expect_err("500").class, ErrorClass::Retryable);

    let err = list(json!({"limit": 101})).await.expect_err("limit");
    assert_fault(&err, ErrorClass::Permanent, "params.invalid", "`limit`");
    let err = call(cx("run-1", "isu", &isu(&sb, "v44.0"), &state), "workday.job_postings.list", json!({}))
        .await
        .expect_err("isu");
    assert_fault(&err, ErrorClass::Permanent, "workday.rest_needs_oauth", "OAuth");

    // The sandbox's own 400 uses Workday's REST error model, which the client reads.
    let token = sb.sandbox.read(|d| d.workday.access_tokens.keys().next().cloned()).expect("a token");
    let r = reqflow_actions::http::client()
        .get(format!("{}/ccx/api/recruiting/v4/acme/jobPostings?limit=500", sb.base_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["errors"][0]["field"], "limit");
}

#[tokio::test]
async fn every_body_sent_to_the_sandbox_at_v26_1_validates_against_the_xsd() {
    if !xsd::xmllint_available("every_body_sent_to_the_sandbox_at_v26_1_validates_against_the_xsd") {
        return;
    }
    let sb = sandbox().await;
    let state = memory_state();
    let conn = isu(&sb, "v26.1");
    let calls = [
        (
            "workday.assess_candidate",
            json!({"job_application": "JOB_APPLICATION-6-248", "status": "PASSED", "test": "CODING_TEST_V2",
            "score": 87.5, "comment": "ok", "results_url": "https://vendor.example/r", "assessed_by": "21001",
            "tests": [{"test": "AI_INTERVIEW", "score": 3.2, "date": "2026-05-01", "results_url": "https://vendor.example/t"}]}),
        ),
        (
            "workday.assess_candidate",
            json!({"candidate": "CAND-1183", "job_requisition": "R-00008", "status": "FAILED",
            "assessed_by": "21001", "disposition_step": "DECLINE_STEP_ID", "step_comment": "Below threshold"}),
        ),
        ("workday.candidates.get", json!({"stages": ["ASSESSMENT"], "count": 3, "all_pages": true})),
        ("workday.candidates.get", json!({"candidates": ["CAND-1182"], "skip_non_existing": true})),
        (
            "workday.candidates.put",
            json!({"first_name": "X", "last_name": "Y", "email": "xy@example.com", "job_requisition": "R-00010",
            "resume": {"file_name": "cv.pdf", "content": "JVBERi0xLjQK"}}),
        ),
        (
            "workday.candidates.move",
            json!({"job_application": "JOB_APPLICATION-6-250", "next_step": "JOB_APPLICATION_STEP_INTERVIEW"}),
        ),
        (
            "workday.candidates.attach",
            json!({"candidate": "CAND-1182", "job_application": "JOB_APPLICATION-6-248",
            "file_name": "t.txt", "text": "transcript"}),
        ),
        ("workday.job_requisitions.get", json!({"count": 5, "all_pages": true, "include": ["definition"]})),
    ];
    for (i, (kind, with)) in calls.into_iter().enumerate() {
        let step = format!("step-{i}");
        call(cx("run-1", &step, &conn, &state), kind, with.clone())
            .await
            .unwrap_or_else(|e| panic!("{kind} {with}: {e:?}"));
    }
    let mut docs = Vec::new();
    for op in [
        "Assess_Candidate_Request",
        "Get_Candidates_Request",
        "Put_Candidate_Request",
        "Move_Candidate_Request",
        "Put_Candidate_Attachment_Request",
        "Get_Job_Requisitions_Request",
    ] {
        let bodies = sent(&sb, op);
        assert!(!bodies.is_empty(), "{op} was sent");
        docs.extend(bodies.into_iter().enumerate().map(|(i, b)| (format!("{op}-{i}"), b)));
    }
    assert!(docs.len() >= 12, "{}", docs.len());
    xsd::assert_valid(&docs);
}
