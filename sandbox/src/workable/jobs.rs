//! Jobs, stages, members and disqualification reasons (read-only).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::paging::page;
use crate::state::Sandbox;
use crate::util::{error, origin, str_of};

const JOB_STATES: [&str; 4] = ["draft", "published", "archived", "closed"];

pub(crate) async fn list(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(state) = q.get("state")
        && !JOB_STATES.contains(&state.as_str())
    {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "state must be one of draft, published, archived, closed");
    }
    let jobs: Vec<_> = sb.read(|d| {
        d.workable
            .jobs
            .iter()
            .filter(|j| q.get("state").is_none_or(|s| str_of(j, "state") == Some(s)))
            .cloned()
            .collect()
    });
    match page(jobs, "jobs", &q, &origin(&headers), "/jobs") {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

pub(crate) async fn get(State(sb): State<Sandbox>, Path(shortcode): Path<String>) -> Response {
    match sb.read(|d| d.workable.jobs.iter().find(|j| str_of(j, "shortcode") == Some(&shortcode)).cloned()) {
        Some(job) => Json(job).into_response(),
        None => error(StatusCode::NOT_FOUND, "Not found"),
    }
}

pub(crate) async fn stages(State(sb): State<Sandbox>, Path(shortcode): Path<String>) -> Response {
    sb.read(|d| {
        if !d.workable.jobs.iter().any(|j| str_of(j, "shortcode") == Some(&shortcode)) {
            return error(StatusCode::NOT_FOUND, "Not found");
        }
        Json(json!({ "stages": d.workable.stages })).into_response()
    })
}

pub(crate) async fn all_stages(State(sb): State<Sandbox>) -> Response {
    sb.read(|d| Json(json!({ "stages": d.workable.stages })).into_response())
}

pub(crate) async fn members(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(role) = q.get("role")
        && !["simple", "admin", "reviewer"].contains(&role.as_str())
    {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "role must be one of simple, admin, reviewer");
    }
    let members: Vec<_> = sb.read(|d| {
        d.workable
            .members
            .iter()
            .filter(|m| q.get("role").is_none_or(|r| str_of(m, "role") == Some(r)))
            .filter(|m| q.get("email").is_none_or(|e| str_of(m, "email") == Some(e)))
            .filter(|m| q.get("name").is_none_or(|n| str_of(m, "name") == Some(n)))
            .filter(|m| match q.get("status").map(String::as_str).unwrap_or("active") {
                "all" => true,
                "inactive" => m["active"] == false,
                _ => m["active"] == true,
            })
            .cloned()
            .collect()
    });
    match page(members, "members", &q, &origin(&headers), "/members") {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

pub(crate) async fn disqualification_reasons(State(sb): State<Sandbox>) -> Response {
    sb.read(|d| Json(json!({ "disqualification_reasons": d.workable.disqualification_reasons })).into_response())
}
