//! List filters and paging: `limit` (1–100, default 50), `since_id` and
//! `max_id` (inclusive), `created_after` / `updated_after` (ISO 8601 or Unix
//! seconds); `paging.next` is an absolute URL whose `since_id` is the first
//! item of the next page, and the last page has no `paging`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::util::{error, parse_time, str_of};

/// A page of `items` under `key`, or a 422 for bad parameters.
pub fn page(
    items: Vec<Value>,
    key: &str,
    query: &BTreeMap<String, String>,
    origin: &str,
    path: &str,
) -> Result<Value, Response> {
    let limit = match query.get("limit") {
        None => 50,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => return Err(error(StatusCode::UNPROCESSABLE_ENTITY, "limit must be between 1 and 100")),
        },
    };
    let mut time_filters = Vec::new();
    for (param, field) in [("created_after", "created_at"), ("updated_after", "updated_at")] {
        if let Some(s) = query.get(param) {
            let Some(t) = parse_time(s) else {
                return Err(error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("{param} must be ISO 8601 (e.g. 20150708T115616Z) or Unix time"),
                ));
            };
            time_filters.push((field, t));
        }
    }
    let since = query.get("since_id").map(String::as_str);
    let max = query.get("max_id").map(String::as_str);
    let mut selected: Vec<Value> = items
        .into_iter()
        .filter(|v| {
            let id = str_of(v, "id").unwrap_or("");
            since.is_none_or(|s| id_ge(id, s)) && max.is_none_or(|m| id_ge(m, id))
        })
        .filter(|v| time_filters.iter().all(|(field, t)| str_of(v, field).and_then(parse_time).is_some_and(|x| x > *t)))
        .collect();
    let next = if selected.len() > limit {
        let next_id = str_of(&selected[limit], "id").unwrap_or("").to_owned();
        selected.truncate(limit);
        let mut q: Vec<String> = query
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "since_id" | "limit"))
            .map(|(k, v)| format!("{k}={}", crate::util::enc(v)))
            .collect();
        q.push(format!("limit={limit}"));
        q.push(format!("since_id={next_id}"));
        Some(format!("{origin}/spi/v3{path}?{}", q.join("&")))
    } else {
        None
    };
    let mut out = json!({ key: selected });
    if let Some(next) = next {
        out["paging"] = json!({ "next": next });
    }
    Ok(out)
}

/// Ids are hex strings: compare by length, then text.
fn id_ge(a: &str, b: &str) -> bool {
    (a.len(), a) >= (b.len(), b)
}
