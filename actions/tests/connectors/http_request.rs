//! `http.request` against a real loopback server.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use reqflow_engine::action::ErrorClass;
use serde_json::{Value, json};

use crate::common::{call, cx, serve};

async fn echo(method: Method, headers: HeaderMap, RawQuery(q): RawQuery, body: Bytes) -> impl IntoResponse {
    let hs: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.to_str().unwrap_or("").to_owned())))
        .collect();
    (
        [("set-cookie", "session=s3cr3t"), ("x-trace", "abc"), ("x-auth-token", "t0k")],
        axum::Json(json!({
            "method": method.as_str(),
            "headers": hs,
            "query": q,
            "body": String::from_utf8_lossy(&body),
        })),
    )
}

async fn status(Path(code): Path<u16>, headers: HeaderMap) -> impl IntoResponse {
    let mut out = HeaderMap::new();
    if let Some(v) = headers.get("x-want-retry-after") {
        out.insert("retry-after", v.clone());
    }
    (StatusCode::from_u16(code).unwrap(), out, "x".repeat(5000))
}

async fn server() -> String {
    serve(
        Router::new()
            .route("/echo", any(echo))
            .route("/status/{code}", any(status))
            .route("/text", get(|| async { "plain words" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            ),
    )
    .await
}

fn conn(base: &str) -> Option<(&'static str, Value)> {
    Some((
        "http",
        json!({
            "base_url": format!("{base}/"),
            "auth": {"bearer": "sekrit-token"},
            "headers": {"X-Team": "recops"},
            "idempotency_header": "Idempotency-Key",
        }),
    ))
}

#[tokio::test]
async fn post_json_with_connection_auth_query_and_idempotency_key() {
    let base = server().await;
    let out = call(
        cx(conn(&base)),
        "http.request",
        json!({"method": "POST", "path": "/echo", "query": {"a": 1, "tag": ["x", "y"], "skip": null},
               "headers": {"X-Extra": "1"}, "json": {"email": "ada@example.com"}}),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], 200);
    let seen = &out["body"];
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["headers"]["authorization"], "Bearer sekrit-token");
    assert_eq!(seen["headers"]["x-team"], "recops");
    assert_eq!(seen["headers"]["x-extra"], "1");
    assert_eq!(seen["headers"]["idempotency-key"], "run-1:step");
    assert_eq!(seen["headers"]["content-type"], "application/json");
    assert_eq!(seen["query"], "a=1&tag=x&tag=y");
    assert_eq!(
        serde_json::from_str::<Value>(seen["body"].as_str().unwrap()).unwrap(),
        json!({"email": "ada@example.com"})
    );
    // Response headers that can carry credentials are dropped; others kept.
    assert_eq!(out["headers"]["x-trace"], "abc");
    assert!(out["headers"].get("set-cookie").is_none());
    assert!(out["headers"].get("x-auth-token").is_none());
}

#[tokio::test]
async fn form_and_raw_bodies_and_text_responses() {
    let base = server().await;
    let out = call(
        cx(None),
        "http.request",
        json!({"method": "PUT", "url": format!("{base}/echo"), "form": {"a": "b c", "n": 2}}),
    )
    .await
    .unwrap();
    assert_eq!(out["body"]["body"], "a=b+c&n=2");
    assert_eq!(out["body"]["headers"]["content-type"], "application/x-www-form-urlencoded");
    let out = call(
        cx(None),
        "http.request",
        json!({"method": "POST", "url": format!("{base}/echo"), "body": "<x/>", "headers": {"Content-Type": "text/xml"}}),
    )
    .await
    .unwrap();
    assert_eq!(out["body"]["body"], "<x/>");
    let out = call(cx(None), "http.request", json!({"url": format!("{base}/text")})).await.unwrap();
    assert_eq!(out["body"], "plain words");
}

#[tokio::test]
async fn statuses_are_classified() {
    let base = server().await;
    for (code, class) in [
        (400, ErrorClass::Permanent),
        (401, ErrorClass::Permanent),
        (404, ErrorClass::Permanent),
        (422, ErrorClass::Permanent),
        (408, ErrorClass::Retryable),
        (429, ErrorClass::Retryable),
        (500, ErrorClass::Retryable),
        (503, ErrorClass::Retryable),
    ] {
        let err = call(cx(conn(&base)), "http.request", json!({"path": format!("/status/{code}")})).await.unwrap_err();
        assert_eq!(err.class, class, "status {code}: {err:?}");
        assert_eq!(err.code.as_deref(), Some(format!("http.{code}").as_str()));
        let details = err.details.clone().unwrap();
        assert_eq!(details["status"], code);
        assert!(details["body"].as_str().unwrap().len() < 2200, "body is truncated");
        assert!(err.message.contains(&code.to_string()), "{}", err.message);
        let all = serde_json::to_string(&err).unwrap();
        assert!(!all.contains("sekrit-token"), "no secret in the error: {all}");
    }
    // `expect:` widens success.
    let out = call(cx(conn(&base)), "http.request", json!({"path": "/status/404", "expect": [404]})).await.unwrap();
    assert_eq!(out["status"], 404);
    // … and narrows it.
    let err = call(cx(conn(&base)), "http.request", json!({"path": "/echo", "expect": [201]})).await.unwrap_err();
    assert_eq!(err.details.unwrap()["status"], 200);
}

#[tokio::test]
async fn retry_after_in_seconds_and_as_a_date() {
    let base = server().await;
    let err = call(
        cx(None),
        "http.request",
        json!({"url": format!("{base}/status/429"), "headers": {"x-want-retry-after": "7"}}),
    )
    .await
    .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    let when = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc2822().replace("+0000", "GMT");
    let err = call(
        cx(None),
        "http.request",
        json!({"url": format!("{base}/status/503"), "headers": {"x-want-retry-after": when}}),
    )
    .await
    .unwrap_err();
    let after = err.retry_after.unwrap();
    assert!(after > Duration::from_secs(100) && after <= Duration::from_secs(120), "{after:?}");
}

#[tokio::test]
async fn network_errors_and_timeouts_are_retryable() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = call(cx(None), "http.request", json!({"url": format!("http://127.0.0.1:{port}/x")})).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.code.as_deref(), Some("http.connect"));

    let base = server().await;
    let settings = json!({"base_url": base, "timeout": "300ms"});
    let started = std::time::Instant::now();
    let err = call(cx(Some(("http", settings))), "http.request", json!({"path": "/slow"})).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.code.as_deref(), Some("http.timeout"));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn invalid_parameters_are_permanent_with_a_clear_message() {
    let err = call(cx(None), "http.request", json!({"path": "/x"})).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.contains("`path:` needs a connection"), "{}", err.message);
    let err = call(cx(None), "http.request", json!({"url": "ftp://x/y"})).await.unwrap_err();
    assert!(err.message.contains("only http and https"), "{}", err.message);
    let err = call(cx(None), "http.request", json!({"url": "http://x/", "json": {}, "body": "a"})).await.unwrap_err();
    assert!(err.message.contains("at most one"), "{}", err.message);
    let err = call(cx(None), "http.request", json!({"url": "http://x/", "bogus": 1})).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("params.invalid"));
}

/// Every byte value, twice, plus bytes that are not UTF-8.
fn all_bytes() -> Vec<u8> {
    (0..=255u8).chain(0..=255u8).chain([0xff, 0xfe, 0x80, 0x00]).collect()
}

async fn binary_server() -> String {
    serve(
        Router::new()
            .route(
                "/report.pdf",
                get(|| async {
                    ([("content-type", "application/pdf")], b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\nbody".to_vec())
                }),
            )
            .route("/blob", get(|| async { ([("content-type", "application/octet-stream")], all_bytes()) }))
            .route(
                "/named",
                get(|| async {
                    (
                        [("content-type", "image/png"), ("content-disposition", "attachment; filename=\"scan.png\"")],
                        vec![0x89, b'P', b'N', b'G'],
                    )
                }),
            )
            .route("/untyped", get(|| async { ([("content-type", "")], all_bytes()) }))
            .route("/json", get(|| async { ([("content-type", "application/json")], "{\"a\":1}") }))
            .route("/big", get(|| async { ([("content-type", "application/octet-stream")], vec![7u8; 3000]) }))
            .route(
                "/put",
                any(|headers: HeaderMap, body: Bytes| async move {
                    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    axum::Json(
                        json!({ "content_type": ct, "size": body.len(), "sha256": reqflow_engine::sha256_hex(&body) }),
                    )
                }),
            ),
    )
    .await
}

fn bytes_of(v: &Value) -> Vec<u8> {
    reqflow_engine::value::binary::Binary::from_value(v).expect("a binary value").bytes
}

#[tokio::test]
async fn non_text_responses_are_binary_values_byte_for_byte() {
    let base = binary_server().await;
    let get_ = |path: &str, extra: Value| {
        let mut with = json!({ "url": format!("{base}{path}") });
        if let (Some(w), Value::Object(e)) = (with.as_object_mut(), extra) {
            w.extend(e);
        }
        call(cx(None), "http.request", with)
    };
    let out = get_("/report.pdf", json!({})).await.unwrap();
    let body = &out["body"];
    assert_eq!(body["$binary"], true);
    assert_eq!(body["content_type"], "application/pdf");
    assert_eq!(body["name"], "report.pdf", "the name from the URL");
    assert_eq!(bytes_of(body), b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\nbody".to_vec());

    let out = get_("/blob", json!({})).await.unwrap();
    assert_eq!(bytes_of(&out["body"]), all_bytes(), "every byte value survives");
    assert_eq!(out["body"]["sha256"], reqflow_engine::sha256_hex(&all_bytes()));
    assert!(out["body"].get("name").is_none(), "no name without one in the URL or headers");

    let out = get_("/named", json!({})).await.unwrap();
    assert_eq!(out["body"]["name"], "scan.png", "the name from Content-Disposition");

    let out = get_("/untyped", json!({})).await.unwrap();
    assert_eq!(bytes_of(&out["body"]), all_bytes(), "no content type and not UTF-8: binary");

    let out = get_("/json", json!({ "response": "binary" })).await.unwrap();
    assert_eq!(bytes_of(&out["body"]), b"{\"a\":1}".to_vec(), "`response: binary` keeps JSON as bytes");
    let out = get_("/json", json!({})).await.unwrap();
    assert_eq!(out["body"], json!({"a": 1}), "JSON is still parsed by default");
    let out = get_("/report.pdf", json!({ "response": "text" })).await.unwrap();
    assert!(out["body"].as_str().is_some_and(|s| s.starts_with("%PDF-1.4")), "`response: text` forces text");
}

#[tokio::test]
async fn the_body_limit_can_be_raised_per_step_up_to_a_ceiling_and_errors_name_it() {
    let base = binary_server().await;
    let url = format!("{base}/big");
    let err = call(cx(None), "http.request", json!({ "url": url, "max_body_bytes": 1000 })).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("http.body_too_large"));
    assert!(err.message.contains("the step's `max_body_bytes:` of 1000 bytes"), "{}", err.message);
    let out = call(cx(None), "http.request", json!({ "url": url, "max_body_bytes": 4000 })).await.unwrap();
    assert_eq!(out["body"]["size"], 3000);
    let err =
        call(cx(None), "http.request", json!({ "url": url, "max_body_bytes": 200_000_000u64 })).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(
        err.message.contains("`max_body_bytes:` is 200000000") && err.message.contains("ceiling"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_binary_body_is_sent_as_its_bytes_with_its_content_type() {
    let base = binary_server().await;
    let fetched = call(cx(None), "http.request", json!({ "url": format!("{base}/blob") })).await.unwrap();
    let out = call(
        cx(None),
        "http.request",
        json!({ "method": "PUT", "url": format!("{base}/put"), "body": fetched["body"].clone() }),
    )
    .await
    .unwrap();
    assert_eq!(out["body"]["size"], all_bytes().len());
    assert_eq!(out["body"]["sha256"], reqflow_engine::sha256_hex(&all_bytes()));
    assert_eq!(out["body"]["content_type"], "application/octet-stream");
    let out = call(
        cx(None),
        "http.request",
        json!({ "method": "PUT", "url": format!("{base}/put"), "body": fetched["body"].clone(),
                "headers": { "Content-Type": "application/x-custom" } }),
    )
    .await
    .unwrap();
    assert_eq!(out["body"]["content_type"], "application/x-custom", "headers: wins");
    let mut tampered = fetched["body"].clone();
    tampered["size"] = json!(3);
    let err =
        call(cx(None), "http.request", json!({ "method": "PUT", "url": format!("{base}/put"), "body": tampered }))
            .await
            .unwrap_err();
    assert!(err.message.contains("do not match its size"), "{}", err.message);
}
