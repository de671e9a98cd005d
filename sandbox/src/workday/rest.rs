//! REST Recruiting v4 job postings: `GET /ccx/api/recruiting/v4/{tenant}/jobPostings`
//! (`limit` default 20, at most 100; zero-based `offset`; filters `jobRequisition`,
//! `jobSite`, `category`, `jobPosting`; `{total, data}`) and `…/jobPostings/{ID}`.
//! Bearer tokens from the sandbox's token endpoint only; errors in Workday's
//! REST model `{error, errors: [{error, code, field, severity}]}`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::state::Sandbox;

/// Default page size.
pub const DEFAULT_LIMIT: u64 = 20;
/// Largest page size.
pub const MAX_LIMIT: u64 = 100;

/// An error answer; `field` names the offending parameter.
pub fn error(status: StatusCode, message: &str, field: Option<&str>) -> Response {
    let top = match status.as_u16() {
        400 => "Validation error(s) occurred",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not found",
        _ => "Error",
    };
    let mut detail = json!({"error": message, "severity": "Critical"});
    if let Some(f) = field {
        detail["field"] = json!(f);
    }
    (status, Json(json!({"error": top, "errors": [detail]}))).into_response()
}

fn authorize(sb: &Sandbox, tenant: &str, headers: &HeaderMap) -> Result<(), Response> {
    if sb.read(|d| d.workday.tenant != tenant) {
        return Err(error(StatusCode::NOT_FOUND, "Unknown tenant.", None));
    }
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let ok = token.is_some_and(|t| {
        sb.read(|d| d.workday.access_tokens.get(t.trim()).is_some_and(|exp| *exp > crate::util::now_secs()))
    });
    if ok { Ok(()) } else { Err(error(StatusCode::UNAUTHORIZED, "The access token is invalid or has expired.", None)) }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn number(pairs: &[(String, String)], name: &str, default: u64) -> Result<u64, Response> {
    match pairs.iter().rev().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) => v.parse::<u64>().map_err(|_| {
            error(StatusCode::BAD_REQUEST, &format!("The {name} must be a non-negative whole number."), Some(name))
        }),
    }
}

/// Whether an instance reference filter (`WID` or `Type=Value`) names `wid` / `id`.
fn names(filter: &str, wid: &str, id_type: &str, id: &str) -> bool {
    match filter.split_once('=') {
        Some((t, v)) => t == id_type && v == id,
        None => filter == wid,
    }
}

pub(crate) async fn job_postings(
    State(sb): State<Sandbox>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Err(r) = authorize(&sb, &tenant, &headers) {
        return r;
    }
    let pairs = query_pairs(raw.as_deref());
    let limit = match number(&pairs, "limit", DEFAULT_LIMIT) {
        Ok(l) if (1..=MAX_LIMIT).contains(&l) => l,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("The limit must be between 1 and {MAX_LIMIT}."),
                Some("limit"),
            );
        }
        Err(r) => return r,
    };
    let offset = match number(&pairs, "offset", 0) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let values =
        |name: &str| -> Vec<String> { pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect() };
    let (reqs, sites, categories, ids) =
        (values("jobRequisition"), values("jobSite"), values("category"), values("jobPosting"));
    sb.read(|d| {
        let w = &d.workday;
        let matching: Vec<&Value> = w
            .postings
            .iter()
            .filter(|p| {
                let data = &p["data"];
                let req_id = p["requisition"].as_str().unwrap_or("");
                let req_wid = super::seed::wid(req_id);
                (reqs.is_empty() || reqs.iter().any(|f| names(f, &req_wid, "Job_Requisition_ID", req_id)))
                    && (sites.is_empty() || sites.iter().any(|f| data["jobSite"]["id"] == f.as_str()))
                    && (categories.is_empty()
                        || data["categories"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|c| categories.iter().any(|f| c["id"] == f.as_str())))
                    && (ids.is_empty() || ids.iter().any(|f| data["id"] == f.as_str()))
            })
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(0))
            .map(|p| p["data"].clone())
            .collect();
        Json(json!({"total": matching.len(), "data": page})).into_response()
    })
}

pub(crate) async fn job_posting(
    State(sb): State<Sandbox>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&sb, &tenant, &headers) {
        return r;
    }
    let found =
        sb.read(|d| d.workday.postings.iter().find(|p| p["data"]["id"] == id.as_str()).map(|p| p["data"].clone()));
    match found {
        Some(p) => Json(p).into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("The job posting {id} was not found."), None),
    }
}
