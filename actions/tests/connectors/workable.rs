//! `workable.*` against `reqflow-sandbox`.

use std::time::{Duration, Instant};

use reqflow_engine::action::ErrorClass;
use reqflow_sandbox::{Running, Sandbox, spawn};
use serde_json::{Value, json};

use crate::common::{call, cx};

async fn sandbox() -> Running {
    spawn(Sandbox::seeded()).await.unwrap()
}

fn conn(sb: &Running, token: &str) -> Option<(&'static str, Value)> {
    Some(("workable", json!({ "base_url": sb.base_url, "token": token, "subdomain": "acme" })))
}

async fn faults(sb: &Running, faults: Value) {
    let r = reqflow_actions::http::client()
        .post(format!("{}/_sandbox/faults", sb.base_url))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

#[tokio::test]
async fn jobs_list_follows_paging_to_the_last_page() {
    let sb = sandbox().await;
    let c = conn(&sb, "tok-jobs");
    let one = call(cx(c.clone()), "workable.jobs.list", json!({"limit": 1})).await.unwrap();
    assert_eq!(one["jobs"].as_array().unwrap().len(), 1);
    assert!(one["next"].as_str().unwrap().contains("since_id="));
    let all = call(cx(c.clone()), "workable.jobs.list", json!({"limit": 1, "all_pages": true})).await.unwrap();
    assert_eq!(all["jobs"].as_array().unwrap().len(), 4);
    assert_eq!(all["pages"], 4);
    assert_eq!(all["next"], Value::Null);
    let published = call(cx(c.clone()), "workable.jobs.list", json!({"state": "published"})).await.unwrap();
    assert_eq!(published["jobs"].as_array().unwrap().len(), 2);
    let job = call(cx(c.clone()), "workable.jobs.get", json!({"shortcode": "GROOV001"})).await.unwrap();
    assert_eq!(job["title"], "Software Engineer");
    let stages = call(cx(c.clone()), "workable.jobs.stages", json!({"shortcode": "GROOV001"})).await.unwrap();
    assert_eq!(stages["stages"][2]["slug"], "phone-screen");
    let err = call(cx(c), "workable.jobs.get", json!({"shortcode": "NOPE"})).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(err.code.as_deref(), Some("workable.not_found"));
}

#[tokio::test]
async fn candidates_list_all_pages_and_filters() {
    let sb = sandbox().await;
    let c = conn(&sb, "oauth_list");
    let all = call(cx(c.clone()), "workable.candidates.list", json!({"limit": 50, "all_pages": true})).await.unwrap();
    assert_eq!(all["candidates"].as_array().unwrap().len(), 120);
    assert_eq!(all["pages"], 3);
    let ids: Vec<&str> = all["candidates"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 120, "no candidate twice across pages");
    let job = call(
        cx(c.clone()),
        "workable.candidates.list",
        json!({"shortcode": "GROOV001", "stage": "applied", "all_pages": true}),
    )
    .await
    .unwrap();
    assert!(
        job["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["job"]["shortcode"] == "GROOV001" && x["stage"] == "Applied")
    );
    let err = call(cx(c), "workable.candidates.list", json!({"limit": 500})).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("params.invalid"));
}

#[tokio::test]
async fn create_update_and_the_duplicate_email() {
    let sb = sandbox().await;
    let c = conn(&sb, "oauth_create");
    let created = call(
        cx(c.clone()),
        "workable.candidates.create",
        json!({"shortcode": "GROOV001", "firstname": "Ada", "lastname": "Lovelace", "email": "ada@example.com",
               "tags": ["referral"], "education_entries": [{"school": "Home"}], "sourced": false, "stage": "phone-screen"}),
    )
    .await
    .unwrap();
    assert_eq!(created["name"], "Ada Lovelace");
    assert_eq!(created["stage"], "Phone Screen");
    assert_eq!(created["sourced"], false);
    let id = created["id"].as_str().unwrap().to_owned();

    let dup = call(
        cx(c.clone()),
        "workable.candidates.create",
        json!({"shortcode": "GROOV001", "name": "Ada L", "email": "ADA@example.com"}),
    )
    .await
    .unwrap_err();
    assert_eq!(dup.class, ErrorClass::Permanent);
    assert_eq!(dup.code.as_deref(), Some("workable.duplicate_candidate"));
    assert!(dup.message.contains("already has a candidate with this email"), "{}", dup.message);

    let bad_stage = call(
        cx(c.clone()),
        "workable.candidates.create",
        json!({"shortcode": "GROOV001", "name": "B", "email": "b@example.com", "stage": "nowhere"}),
    )
    .await
    .unwrap_err();
    assert_eq!(bad_stage.code.as_deref(), Some("workable.validation"));
    let no_name =
        call(cx(c.clone()), "workable.candidates.create", json!({"shortcode": "GROOV001", "email": "c@example.com"}))
            .await
            .unwrap_err();
    assert!(no_name.message.contains("`name`, or `firstname` and `lastname`"));
    let unknown_job = call(
        cx(c.clone()),
        "workable.candidates.create",
        json!({"shortcode": "NOPE", "name": "D", "email": "d@example.com"}),
    )
    .await
    .unwrap_err();
    assert_eq!(unknown_job.code.as_deref(), Some("workable.not_found"));

    let updated =
        call(cx(c.clone()), "workable.candidates.update", json!({"id": id, "headline": "Analyst", "tags": ["a", "b"]}))
            .await
            .unwrap();
    assert_eq!(updated["headline"], "Analyst");
    assert_eq!(updated["tags"], json!(["a", "b"]));
    assert_eq!(updated["education_entries"], json!([{"school": "Home"}]), "keys not given are kept");
    let cleared = call(cx(c.clone()), "workable.candidates.update", json!({"id": id, "tags": []})).await.unwrap();
    assert_eq!(cleared["tags"], json!([]), "arrays replace");
    let got = call(cx(c), "workable.candidates.get", json!({"id": id})).await.unwrap();
    assert_eq!(got["headline"], "Analyst");
}

#[tokio::test]
async fn comment_rate_move_disqualify_and_activities() {
    let sb = sandbox().await;
    let c = conn(&sb, "oauth_acts");
    let id = "27270001";
    let m = "1f395d";
    let out = call(
        cx(c.clone()),
        "workable.candidates.comment",
        json!({"id": id, "member_id": m, "body": "Hello", "policy": ["simple"],
        "attachment": {"name": "r.txt", "data": "aGVsbG8="}}),
    )
    .await
    .unwrap();
    assert!(out["id"].is_string());
    let kept = sb.sandbox.read(|d| d.workable.files.get(out["id"].as_str().unwrap_or("")).cloned());
    assert_eq!(kept.as_deref(), Some("aGVsbG8="), "the sandbox keeps the attachment's bytes");
    // A binary value as the attachment's data: bytes and name from it.
    let bytes: Vec<u8> = (0..=255u8).collect();
    let bin =
        reqflow_engine::value::binary::Binary::new("application/pdf", bytes.clone()).named(Some("report.pdf".into()));
    let out = call(
        cx(c.clone()),
        "workable.candidates.comment",
        json!({"id": id, "member_id": m, "body": "Report", "attachment": {"data": bin.to_value()}}),
    )
    .await
    .unwrap();
    let comment = out["id"].as_str().expect("id").to_owned();
    let (kept, meta) = sb.sandbox.read(|d| {
        let w = &d.workable;
        let meta = w.activities.get(id).and_then(|l| l.iter().find(|a| a["id"] == comment.as_str()).cloned());
        (w.files.get(&comment).cloned(), meta)
    });
    assert_eq!(kept, Some(bin.base64()));
    let meta = meta.expect("the comment activity");
    assert_eq!(meta["attachment"]["name"], "report.pdf");
    assert_eq!(meta["attachment"]["sha256"], reqflow_engine::sha256_hex(&bytes));
    call(
        cx(c.clone()),
        "workable.candidates.rate",
        json!({"id": id, "member_id": m, "comment": "good", "scale": "stars", "grade": 4}),
    )
    .await
    .unwrap();
    let err =
        call(cx(c.clone()), "workable.candidates.rate", json!({"id": id, "member_id": m, "comment": "x", "grade": 3}))
            .await
            .unwrap_err();
    assert!(err.message.contains("out of range"), "{}", err.message);
    let out =
        call(cx(c.clone()), "workable.candidates.move", json!({"id": id, "member_id": m, "target_stage": "interview"}))
            .await
            .unwrap();
    assert_eq!(out["moved"], true);
    let err = call(
        cx(c.clone()),
        "workable.candidates.move",
        json!({"id": id, "member_id": "nobody", "target_stage": "interview"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code.as_deref(), Some("workable.validation"));
    call(
        cx(c.clone()),
        "workable.candidates.disqualify",
        json!({"id": id, "member_id": m, "disqualify_reason_id": "b29c63", "disqualify_note": "n"}),
    )
    .await
    .unwrap();
    let got = call(cx(c.clone()), "workable.candidates.get", json!({"id": id})).await.unwrap();
    assert_eq!(got["stage"], "Interview");
    assert_eq!(got["disqualified"], true);
    assert_eq!(got["disqualification_reason"], "Does not meet qualifications");
    let acts =
        call(cx(c.clone()), "workable.candidates.activities", json!({"id": id, "all_pages": true})).await.unwrap();
    let actions: Vec<&str> =
        acts["activities"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["comment", "comment", "rating", "interview", "disqualified"]);
    let members = call(cx(c), "workable.members.list", json!({})).await.unwrap();
    assert_eq!(members["members"].as_array().unwrap().len(), 3, "active members only by default");
}

#[tokio::test]
async fn subscriptions_create_list_conflict_delete() {
    let sb = sandbox().await;
    let c = conn(&sb, "oauth_subs");
    let target = "https://hooks.example/workable";
    let created = call(
        cx(c.clone()),
        "workable.subscriptions.create",
        json!({"target": target, "event": "candidate_moved", "stage_slug": "hired"}),
    )
    .await
    .unwrap();
    let id = created["id"].as_u64().unwrap();
    let list = call(cx(c.clone()), "workable.subscriptions.list", json!({})).await.unwrap();
    assert_eq!(list["subscriptions"][0]["stage_slug"], "hired");
    assert!(list["subscriptions"][0].get("token").is_none(), "the token is not echoed");
    let err =
        call(cx(c.clone()), "workable.subscriptions.create", json!({"target": target, "event": "candidate_moved"}))
            .await
            .unwrap_err();
    assert_eq!(err.code.as_deref(), Some("workable.conflict"));
    call(cx(c.clone()), "workable.subscriptions.delete", json!({"id": id})).await.unwrap();
    let err = call(cx(c), "workable.subscriptions.delete", json!({"id": id})).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("workable.not_found"));
}

#[tokio::test]
async fn error_classes_401_5xx_and_429_waits() {
    let sb = sandbox().await;
    let err = call(cx(conn(&sb, "revoked-token")), "workable.jobs.list", json!({})).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(err.code.as_deref(), Some("workable.unauthorized"));
    assert!(!serde_json::to_string(&err).unwrap().contains("revoked-token"), "no token in the error");

    faults(&sb, json!({"status": 503, "count": 1, "path_prefix": "/spi/v3"})).await;
    let err = call(cx(conn(&sb, "oauth_err")), "workable.jobs.list", json!({})).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Retryable);
    assert_eq!(err.code.as_deref(), Some("http.503"));

    // A 429 (e.g. another process using the token) is waited out, not returned.
    faults(&sb, json!({"status": 429, "count": 1, "retry_after": 1, "path_prefix": "/spi/v3"})).await;
    let started = Instant::now();
    let out = call(cx(conn(&sb, "oauth_err")), "workable.jobs.list", json!({})).await.unwrap();
    assert_eq!(out["jobs"].as_array().unwrap().len(), 4);
    assert!(started.elapsed() >= Duration::from_millis(900));

    faults(&sb, json!({"delay_ms": 1500, "count": 1})).await;
    let settings = json!({"base_url": sb.base_url, "token": "oauth_slow"});
    let err = call(
        cx(Some(("workable", settings))).with_timeout(Some(Duration::from_millis(300))),
        "workable.jobs.list",
        json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code.as_deref(), Some("http.timeout"));
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_burst_waits_its_turn_with_zero_429s() {
    let sb = sandbox().await;
    let c = conn(&sb, "account-burst");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..15 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            call(
                cx(c),
                "workable.candidates.comment",
                json!({"id": "27270002", "member_id": "1f395d", "body": format!("note {i}")}),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let elapsed = started.elapsed();
    // 10 go at once, the other 5 in the next window.
    assert!(elapsed >= Duration::from_secs(9), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(13), "{elapsed:?}");
    let received = sb.sandbox.requests().iter().filter(|r| r["path"] == "/spi/v3/candidates/27270002/comments").count();
    assert_eq!(received, 15, "every request was sent once: none was refused with 429 and retried");
}

#[tokio::test]
async fn rate_limit_override_none_sends_a_burst_at_once() {
    // The sandbox's limits off (`reqflow sandbox --no-rate-limit`), the connection's too.
    let sb = sandbox().await;
    sb.sandbox.set_rate_limit(false);
    let settings =
        json!({ "base_url": sb.base_url, "token": "account-unlimited", "subdomain": "acme", "rate_limit": "none" });
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let c = Some(("workable", settings.clone()));
        tasks.push(tokio::spawn(async move {
            call(
                cx(c),
                "workable.candidates.comment",
                json!({"id": "27270002", "member_id": "1f395d", "body": format!("unlimited {i}")}),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // 30 requests through an account token: three windows with the default limit.
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let received = sb.sandbox.requests().iter().filter(|r| r["path"] == "/spi/v3/candidates/27270002/comments").count();
    assert_eq!(received, 30);

    // `0` means the same; a word other than `none` is refused before anything is sent.
    let zero = json!({ "base_url": sb.base_url, "token": "account-zero", "rate_limit": 0 });
    let started = Instant::now();
    for _ in 0..12 {
        call(cx(Some(("workable", zero.clone()))), "workable.jobs.list", json!({})).await.unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let bad = json!({ "base_url": sb.base_url, "token": "account-bad", "rate_limit": "fast" });
    let err = call(cx(Some(("workable", bad))), "workable.jobs.list", json!({})).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("connection.invalid"), "{err:?}");
}

#[tokio::test]
async fn rate_limit_override_sets_a_fixed_limit() {
    // `rate_limit: 4`: 4 per 10 s, although the (unlimited) sandbox sends no limit headers
    // and an account token's default is 10.
    let sb = sandbox().await;
    sb.sandbox.set_rate_limit(false);
    let settings = json!({ "base_url": sb.base_url, "token": "account-fixed-4", "rate_limit": 4 });
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let c = Some(("workable", settings.clone()));
        tasks.push(tokio::spawn(async move { call(cx(c), "workable.jobs.list", json!({})).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_secs(9), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(13), "{elapsed:?}");
}
