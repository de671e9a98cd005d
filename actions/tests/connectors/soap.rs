//! `soap.call` against the sandbox's Workday Recruiting service: WS-Security
//! and OAuth credentials, faults in Workday's shapes, token expiry mid-run.

use reqflow_engine::action::ErrorClass;
use reqflow_sandbox::{Running, Sandbox, spawn};
use serde_json::{Value, json};

use crate::common::{call, cx, cx_with_state, memory_state};

async fn sandbox() -> Running {
    spawn(Sandbox::seeded()).await.unwrap()
}

fn isu(sb: &Running, password: &str) -> (&'static str, Value) {
    (
        "workday",
        json!({"base_url": sb.base_url, "tenant": "acme", "version": "v26.1",
                        "auth": {"isu": {"username": "ISU_Recruiting", "password": password}}}),
    )
}

fn oauth(sb: &Running, refresh: &str, client_auth: &str) -> (&'static str, Value) {
    (
        "workday",
        json!({"base_url": sb.base_url, "tenant": "acme", "version": "v26.1",
                        "auth": {"oauth": {"client_id": "sandbox-client", "client_secret": "sandbox-secret",
                                           "refresh_token": refresh, "client_auth": client_auth}}}),
    )
}

fn get_candidate(id: &str) -> Value {
    json!({"operation": "Get_Candidates_Request",
           "json": {"Request_References": {"Candidate_Reference": {"ID": {"@type": "Candidate_ID", "#text": id}}}}})
}

async fn post(sb: &Running, path: &str, body: Value) {
    let r = reqflow_actions::http::client().post(format!("{}{path}", sb.base_url)).json(&body).send().await.unwrap();
    assert!(r.status().is_success());
}

#[tokio::test]
async fn isu_call_returns_the_response_element_as_json() {
    let sb = sandbox().await;
    let out = call(cx(Some(isu(&sb, "sandbox-password"))), "soap.call", get_candidate("CAND-1182")).await.unwrap();
    assert_eq!(out["@version"], "v26.1");
    let cand = &out["Response_Data"]["Candidate"];
    assert_eq!(cand["Candidate_Data"]["Name_Data"]["First_Name"], "Ada");
    assert_eq!(cand["Candidate_Reference"]["ID"], json!({"@type": "Candidate_ID", "#text": "CAND-1182"}));
    assert_eq!(out["Response_Results"]["Total_Results"], "1");

    let log = sb.sandbox.requests();
    let req = log.last().unwrap();
    assert_eq!(req["path"], "/ccx/service/acme/Recruiting/v26.1");
    let body = req["body"].as_str().unwrap();
    assert!(body.contains("ISU_Recruiting@acme"), "user@tenant: {body}");
    assert!(body.contains("#PasswordText"));
    assert!(body.contains("wd:version=\"v26.1\""));
    assert!(!body.contains("sandbox-password"), "the sandbox log redacts passwords");
    assert_eq!(req["headers"]["soapaction"], "\"\"");
}

#[tokio::test]
async fn xml_template_body_and_soap_faults() {
    let sb = sandbox().await;
    let c = isu(&sb, "sandbox-password");
    let out = call(
        cx(Some(c.clone())),
        "soap.call",
        json!({"body": "<wd:Server_Timestamp_Get xmlns:wd=\"urn:com.workday/bsvc\" wd:version=\"v26.1\"/>"}),
    )
    .await
    .unwrap();
    assert!(out["Server_Timestamp_Data"].as_str().unwrap().starts_with("20"));

    let err = call(cx(Some(c.clone())), "soap.call", get_candidate("CAND-404")).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(err.code.as_deref(), Some("soap.validation_error"));
    let d = err.details.clone().unwrap();
    assert_eq!(d["status"], 500);
    assert_eq!(d["faultcode"], "Client.validationError");
    assert!(d["faultstring"].as_str().unwrap().starts_with("Validation error occurred."));
    assert_eq!(
        d["validation_errors"][0]["message"],
        "Invalid ID value. 'CAND-404' is not a valid ID value for type = 'Candidate_ID'"
    );

    let err = call(cx(Some(isu(&sb, "wrong"))), "soap.call", get_candidate("CAND-1182")).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(err.code.as_deref(), Some("soap.authentication_error"));
    assert!(!serde_json::to_string(&err).unwrap().contains("wrong"), "no password in the error");

    post(&sb, "/_sandbox/faults", json!({"status": 500, "count": 1, "path_prefix": "/ccx/service"})).await;
    let err = call(cx(Some(c.clone())), "soap.call", get_candidate("CAND-1182")).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Retryable);
    assert_eq!(err.details.unwrap()["faultcode"], "Server.processingError");

    let err = call(cx(Some(c)), "soap.call", json!({"body": "<a><b></a>"})).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("params.invalid"));
}

#[tokio::test]
async fn oauth_token_is_shared_and_refreshed_when_it_expires_mid_run() {
    for client_auth in ["basic", "body"] {
        let sb = sandbox().await;
        let state = memory_state();
        let c = oauth(&sb, "sandbox-refresh-token", client_auth);
        let token_calls =
            |sb: &Running| sb.sandbox.requests().iter().filter(|r| r["path"] == "/ccx/oauth2/acme/token").count();

        call(cx_with_state(c.clone(), state.clone(), "first"), "soap.call", get_candidate("CAND-1182")).await.unwrap();
        call(cx_with_state(c.clone(), state.clone(), "second"), "soap.call", get_candidate("CAND-1183")).await.unwrap();
        assert_eq!(token_calls(&sb), 1, "the token is stored and reused ({client_auth})");

        // The tenant revokes every access token: the next call gets 401, refreshes, retries once.
        post(&sb, "/_sandbox/faults", json!({"expire_tokens": true})).await;
        let out = call(cx_with_state(c.clone(), state.clone(), "third"), "soap.call", get_candidate("CAND-1184"))
            .await
            .unwrap();
        assert_eq!(out["Response_Data"]["Candidate"]["Candidate_Data"]["Name_Data"]["Last_Name"], "Turing");
        assert_eq!(token_calls(&sb), 2);

        let log = sb.sandbox.requests();
        let soap: Vec<&Value> = log.iter().filter(|r| r["path"] == "/ccx/service/acme/Recruiting/v26.1").collect();
        assert_eq!(soap.len(), 4, "three calls, one of them retried");
        assert!(soap.iter().all(|r| r["headers"]["authorization"] == "Bearer [redacted]"));
        assert!(soap.iter().all(|r| !r["body"].as_str().unwrap().contains("wsse:Security")));
        let token_req = log.iter().find(|r| r["path"] == "/ccx/oauth2/acme/token").unwrap();
        assert!(token_req["body"].as_str().unwrap().contains("refresh_token=[redacted]"));
    }
}

#[tokio::test]
async fn a_refused_refresh_token_is_a_clear_permanent_error() {
    let sb = sandbox().await;
    let err =
        call(cx(Some(oauth(&sb, "revoked", "basic"))), "soap.call", get_candidate("CAND-1182")).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(err.code.as_deref(), Some("workday.oauth"));
    assert!(err.message.contains("invalid_grant"), "{}", err.message);
    assert!(!serde_json::to_string(&err).unwrap().contains("sandbox-secret"));
}
