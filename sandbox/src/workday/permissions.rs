//! The permission-fault switch: `POST /_sandbox/workday/deny` with
//! `{"operations": ["Get_Job_Requisitions"], "domain": "Job Requisition Data"}`
//! makes those SOAP operations (every one when `operations` is empty or
//! missing) answer Workday's `Server.processingError` "The task submitted is
//! not authorized." fault, naming the domain in the fault's detail when one
//! is given; `DELETE` grants everything again.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::state::Sandbox;
use crate::util::error;

pub(crate) async fn deny(State(sb): State<Sandbox>, body: Bytes) -> Response {
    let v: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return error(StatusCode::BAD_REQUEST, "the body must be a JSON object {operations?, domain?}"),
        }
    };
    let denied = json!({
        "operations": v.get("operations").cloned().unwrap_or(json!([])),
        "domain": v.get("domain").cloned().unwrap_or(Value::Null),
    });
    sb.update(|d| d.workday.denied = Some(denied.clone()));
    Json(json!({"denied": denied})).into_response()
}

pub(crate) async fn allow(State(sb): State<Sandbox>) -> Json<Value> {
    sb.update(|d| d.workday.denied = None);
    Json(json!({"denied": null}))
}

/// The domain whose permission `operation` lacks, if the switch denies it
/// (`Some(None)`: denied, no domain named).
pub(crate) fn denied(sb: &Sandbox, operation: &str) -> Option<Option<String>> {
    let d = sb.read(|d| d.workday.denied.clone())?;
    let ops: Vec<&str> = d["operations"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let name = operation.trim_end_matches("_Request");
    if !ops.is_empty() && !ops.contains(&name) {
        return None;
    }
    Some(d["domain"].as_str().map(str::to_owned))
}
