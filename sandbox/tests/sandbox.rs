//! The sandbox over loopback HTTP: auth and rate-limit headers, state file,
//! signed webhooks.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use reqflow_sandbox::{Sandbox, spawn};
use serde_json::{Value, json};
use sha2::Sha256;

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

#[tokio::test]
async fn workable_needs_a_bearer_token_and_reports_rate_limits() {
    let sb = spawn(Sandbox::seeded()).await.unwrap();
    let r = http().get(format!("{}/spi/v3/jobs", sb.base_url)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"error": "Not authorized"}));
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let r = http().get(format!("{}/spi/v3/jobs", sb.base_url)).bearer_auth("acct").send().await.unwrap();
        assert_eq!(r.headers()["x-rate-limit-limit"], "10");
        assert!(r.headers().contains_key("x-rate-limit-reset"));
        statuses.push(r.status().as_u16());
    }
    // Ten fit in one 10-second window unless the window turned meanwhile.
    assert!(statuses.iter().filter(|s| **s == 429).count() <= 1);
    let log = sb.sandbox.requests();
    assert_eq!(log.last().unwrap()["headers"]["authorization"], "Bearer [redacted]");
}

#[tokio::test]
async fn state_file_keeps_data_across_restarts() {
    let dir = std::env::temp_dir().join(format!("reqflow-sandbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let _ = std::fs::remove_file(&path);
    let sb = spawn(Sandbox::from_file(&path).unwrap()).await.unwrap();
    let r = http()
        .post(format!("{}/spi/v3/subscriptions", sb.base_url))
        .bearer_auth("oauth_x")
        .json(&json!({"target": "https://hooks.example/x", "event": "candidate_created"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let again = Sandbox::from_file(&path).unwrap();
    assert_eq!(again.read(|d| d.workable.subscriptions.len()), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn sends_signed_webhooks() {
    let sb = spawn(Sandbox::seeded()).await.unwrap();
    let seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: HeaderMap, b: Bytes| {
            let s2 = s2.clone();
            async move {
                s2.lock().unwrap().push((h, b));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let r: Value = http()
        .post(format!("{}/_sandbox/webhooks/send", sb.base_url))
        .json(&json!({"url": url, "key": "account-token", "candidate_id": "27270001"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], 200);
    let (headers, body) = seen.lock().unwrap()[0].clone();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"account-token").unwrap();
    mac.update(&body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(headers["x-workable-signature"], expected.as_str());
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["event_type"], "candidate_moved");
    assert_eq!(payload["resource_type"], "candidate");
    assert_eq!(payload["data"]["id"], "27270001");
    assert!(payload["fired_at"].is_string());
}

#[tokio::test]
async fn without_rate_limit_only_auth_applies() {
    let sb = spawn(Sandbox::seeded()).await.unwrap();
    sb.sandbox.set_rate_limit(false);
    for _ in 0..25 {
        let r = http().get(format!("{}/spi/v3/jobs", sb.base_url)).bearer_auth("acct-many").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(!r.headers().contains_key("x-rate-limit-limit"));
    }
    let r = http().get(format!("{}/spi/v3/jobs", sb.base_url)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    sb.sandbox.set_rate_limit(true);
    let r = http().get(format!("{}/spi/v3/jobs", sb.base_url)).bearer_auth("acct-many").send().await.unwrap();
    assert_eq!(r.headers()["x-rate-limit-limit"], "10");
}

#[tokio::test]
async fn an_observer_sees_each_api_request_with_its_answer() {
    let sb = spawn(Sandbox::seeded()).await.unwrap();
    // (method, path, status, body length)
    type Seen = Vec<(String, String, u16, usize)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let sink = seen.clone();
    let before = std::time::Instant::now();
    sb.sandbox.set_observer(Some(Arc::new(move |r: &reqflow_sandbox::Received<'_>| {
        assert!(r.at >= before);
        sink.lock().unwrap().push((r.method.to_string(), r.path.to_owned(), r.status.as_u16(), r.body.len()));
    })));
    let body = json!({"member_id": "1f395d", "comment": {"body": "observed"}});
    let r = http()
        .post(format!("{}/spi/v3/candidates/27270002/comments", sb.base_url))
        .bearer_auth("acct-observed")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http().post(format!("{}/vendor/interviews/invites", sb.base_url)).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 201);
    // Control routes are not API requests.
    http().get(format!("{}/_sandbox/requests", sb.base_url)).send().await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            ("POST".into(), "/spi/v3/candidates/27270002/comments".into(), 200, body.to_string().len()),
            ("POST".into(), "/vendor/interviews/invites".into(), 201, 2),
        ]
    );
    sb.sandbox.set_observer(None);
}
