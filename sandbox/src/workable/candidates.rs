//! Candidates: list, get, create (in a job), partial update, activities,
//! comments, ratings, move and disqualify, validated as the reference says.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use super::WorkableData;
use super::paging::page;
use crate::state::Sandbox;
use crate::util::{error, now_iso, origin, str_of};

const CREATE_KEYS: &[&str] = &[
    "name",
    "firstname",
    "lastname",
    "email",
    "headline",
    "summary",
    "address",
    "phone",
    "cover_letter",
    "education_entries",
    "experience_entries",
    "answers",
    "skills",
    "tags",
    "disqualified",
    "disqualification_reason",
    "disqualified_at",
    "social_profiles",
    "domain",
    "recruiter_key",
    "resume_url",
    "resume",
    "image_url",
];
const UPDATE_KEYS: &[&str] = &[
    "firstname",
    "lastname",
    "email",
    "headline",
    "summary",
    "address",
    "phone",
    "texting_consent",
    "cover_letter",
    "resume",
    "resume_url",
    "image",
    "education_entries",
    "experience_entries",
    "skills",
    "tags",
    "social_profiles",
];
const SOCIAL_TYPES: &[&str] = &[
    "academiaedu",
    "angellist",
    "behance",
    "bitbucket",
    "blogger",
    "crunchbase",
    "dandyid",
    "delicious",
    "deviantart",
    "digg",
    "doyoubuzz",
    "dribble",
    "dribbble",
    "dropbox",
    "facebook",
    "flickr",
    "foursquare",
    "github",
    "gravatar",
    "googleplus",
    "instagram",
    "klout",
    "linkedin",
    "lastfm",
    "medium",
    "myspace",
    "pinterest",
    "quora",
    "reddit",
    "slideshare",
    "soundcloud",
    "stackoverflow",
    "tumblr",
    "twitter",
    "vimeo",
    "wordpress",
    "xing",
    "youtube",
];

/// A 422 with Workable's `validation_errors` map.
fn invalid(field: &str, problem: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({
            "error": format!("Validation failed: {} {problem}", field.replace('_', " ")),
            "validation_errors": { field: [problem] },
        })),
    )
        .into_response()
}

/// The request body as a JSON object (415 / 400 / 422 otherwise).
fn body_object(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, Response> {
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(error(StatusCode::UNPROCESSABLE_ENTITY, "The body must be a JSON object")),
        Err(e) => Err(error(StatusCode::BAD_REQUEST, &format!("The body is not valid JSON: {e}"))),
    }
}

fn check_keys(obj: &Map<String, Value>, allowed: &[&str]) -> Result<(), Response> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid(k, "is not a permitted attribute")),
        None => Ok(()),
    }
}

fn check_entries(c: &Map<String, Value>) -> Result<(), Response> {
    let list = |key: &str| -> Result<Vec<Value>, Response> {
        match c.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(_) => Err(invalid(key, "must be an array")),
        }
    };
    for (key, required) in
        [("education_entries", "school"), ("experience_entries", "title"), ("answers", "question_key")]
    {
        for e in list(key)? {
            if !e.is_object() || str_of(&e, required).is_none_or(str::is_empty) {
                return Err(invalid(&format!("{key}.{required}"), "can't be blank"));
            }
        }
    }
    for e in list("social_profiles")? {
        match str_of(&e, "type") {
            Some(t) if SOCIAL_TYPES.contains(&t) => {}
            Some(_) => return Err(invalid("social_profiles.type", "is not included in the list")),
            None => return Err(invalid("social_profiles.type", "can't be blank")),
        }
        if str_of(&e, "url").is_none_or(str::is_empty) {
            return Err(invalid("social_profiles.url", "can't be blank"));
        }
    }
    for key in ["tags", "skills"] {
        if list(key)?.iter().any(|t| !t.is_string()) {
            return Err(invalid(key, "must be a list of strings"));
        }
    }
    if let Some(email) = c.get("email")
        && !email.as_str().is_some_and(|e| e.contains('@') && !e.starts_with('@') && !e.ends_with('@'))
    {
        return Err(invalid("email", "is invalid"));
    }
    Ok(())
}

fn stage_by_slug<'a>(d: &'a WorkableData, slug: &str) -> Option<&'a Value> {
    d.stages.iter().find(|s| str_of(s, "slug") == Some(slug))
}

fn find<'a>(d: &'a mut WorkableData, id: &str) -> Option<&'a mut Value> {
    d.candidates.iter_mut().find(|c| str_of(c, "id") == Some(id))
}

fn member_exists(d: &WorkableData, body: &Map<String, Value>) -> Result<(), Response> {
    match body.get("member_id").and_then(Value::as_str) {
        None | Some("") => Err(invalid("member_id", "can't be blank")),
        Some(id) if d.members.iter().any(|m| str_of(m, "id") == Some(id)) => Ok(()),
        Some(_) => Err(invalid("member_id", "is invalid")),
    }
}

fn activity(d: &mut WorkableData, candidate: &str, action: &str, member: Option<&str>, extra: Value) {
    let stage = d
        .candidates
        .iter()
        .find(|c| str_of(c, "id") == Some(candidate))
        .and_then(|c| str_of(c, "stage"))
        .map(str::to_owned);
    let member = member
        .and_then(|id| d.members.iter().find(|m| str_of(m, "id") == Some(id)))
        .map(|m| json!({"id": m["id"], "name": m["name"]}));
    let id = d.new_id();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut a = json!({"id": id, "action": action, "stage_name": stage, "created_at": now, "updated_at": now, "member": member, "body": null});
    if let (Some(obj), Value::Object(extra)) = (a.as_object_mut(), extra) {
        obj.extend(extra);
    }
    d.activities.entry(candidate.to_owned()).or_default().push(a);
}

fn list_candidates(sb: &Sandbox, headers: &HeaderMap, q: BTreeMap<String, String>, path: &str) -> Response {
    let result = sb.read(|d| {
        let d = &d.workable;
        if let Some(sc) = q.get("shortcode")
            && !d.jobs.iter().any(|j| str_of(j, "shortcode") == Some(sc))
        {
            return Err(error(StatusCode::NOT_FOUND, "Not found"));
        }
        let stage_name = match q.get("stage") {
            Some(slug) => match stage_by_slug(d, slug) {
                Some(s) => Some(str_of(s, "name").unwrap_or("").to_owned()),
                None => return Err(error(StatusCode::UNPROCESSABLE_ENTITY, "stage is not a valid stage slug")),
            },
            None => None,
        };
        Ok(d.candidates
            .iter()
            .filter(|c| q.get("shortcode").is_none_or(|s| c["job"]["shortcode"].as_str() == Some(s)))
            .filter(|c| q.get("email").is_none_or(|e| str_of(c, "email").is_some_and(|x| x.eq_ignore_ascii_case(e))))
            .filter(|c| stage_name.as_deref().is_none_or(|n| str_of(c, "stage") == Some(n)))
            .map(summary)
            .collect::<Vec<_>>())
    });
    let items = match result {
        Ok(items) => items,
        Err(r) => return r,
    };
    match page(items, "candidates", &q, &origin(headers), path) {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

/// The list form of a candidate.
fn summary(c: &Value) -> Value {
    let mut s = Map::new();
    for k in [
        "id",
        "name",
        "firstname",
        "lastname",
        "headline",
        "account",
        "job",
        "stage",
        "stage_kind",
        "disqualified",
        "withdrew",
        "disqualification_reason",
        "sourced",
        "profile_url",
        "email",
        "domain",
        "created_at",
        "updated_at",
        "hired_at",
        "address",
        "phone",
    ] {
        s.insert(k.to_owned(), c.get(k).cloned().unwrap_or(Value::Null));
    }
    Value::Object(s)
}

pub(crate) async fn list(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    list_candidates(&sb, &headers, q, "/candidates")
}

pub(crate) async fn list_for_job(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    Path(shortcode): Path<String>,
    Query(mut q): Query<BTreeMap<String, String>>,
) -> Response {
    let path = format!("/jobs/{shortcode}/candidates");
    q.insert("shortcode".into(), shortcode);
    let mut resp = list_candidates(&sb, &headers, q, &path);
    let _ = &mut resp;
    resp
}

pub(crate) async fn get(State(sb): State<Sandbox>, Path(id): Path<String>) -> Response {
    match sb.read(|d| d.workable.candidates.iter().find(|c| str_of(c, "id") == Some(&id)).cloned()) {
        Some(c) => Json(json!({ "candidate": c })).into_response(),
        None => error(StatusCode::NOT_FOUND, "Not found"),
    }
}

pub(crate) async fn create(
    State(sb): State<Sandbox>,
    Path(shortcode): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let root = match body_object(&headers, &body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if let Some(k) = root.keys().find(|k| !matches!(k.as_str(), "candidate" | "sourced")) {
        return invalid(k, "is not a permitted attribute");
    }
    if root.get("sourced").is_some_and(|s| !s.is_boolean()) {
        return invalid("sourced", "must be a boolean");
    }
    let sourced = root.get("sourced").and_then(Value::as_bool).unwrap_or(true);
    let Some(Value::Object(c)) = root.get("candidate") else {
        return invalid("candidate", "can't be blank");
    };
    if let Err(r) = check_keys(c, CREATE_KEYS).and_then(|_| check_entries(c)) {
        return r;
    }
    let email = c.get("email").and_then(Value::as_str).unwrap_or("").to_owned();
    if email.is_empty() {
        return invalid("email", "can't be blank");
    }
    let first = c.get("firstname").and_then(Value::as_str).unwrap_or("").to_owned();
    let last = c.get("lastname").and_then(Value::as_str).unwrap_or("").to_owned();
    let name = match c.get("name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() => n.to_owned(),
        _ if !first.is_empty() && !last.is_empty() => format!("{first} {last}"),
        _ => return invalid("name", "can't be blank"),
    };
    let created = sb.update(|d| {
        let d = &mut d.workable;
        let Some(job) = d.jobs.iter().find(|j| str_of(j, "shortcode") == Some(&shortcode)).cloned() else {
            return Err(error(StatusCode::NOT_FOUND, "Not found"));
        };
        let slug = q.get("stage").cloned().unwrap_or_else(|| if sourced { "sourced".into() } else { "applied".into() });
        let Some(stage) = stage_by_slug(d, &slug).cloned() else {
            return Err(invalid("stage", "is not a valid stage slug"));
        };
        let duplicate = d.candidates.iter().any(|x| {
            x["job"]["shortcode"].as_str() == Some(shortcode.as_str())
                && str_of(x, "email").is_some_and(|e| e.eq_ignore_ascii_case(&email))
        });
        if duplicate {
            return Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": "Validation failed: Email candidate already exists",
                    "validation_errors": { "email": ["candidate already exists"] },
                })),
            )
                .into_response());
        }
        let (first, last) = if first.is_empty() && last.is_empty() {
            match name.split_once(' ') {
                Some((f, l)) => (f.to_owned(), l.to_owned()),
                None => (name.clone(), String::new()),
            }
        } else {
            (first, last)
        };
        let id = d.new_id();
        let now = now_iso();
        let get = |k: &str| c.get(k).cloned().unwrap_or(Value::Null);
        let arr = |k: &str| c.get(k).cloned().filter(Value::is_array).unwrap_or_else(|| json!([]));
        let skills: Vec<Value> = arr("skills").as_array().map(|a| a.iter().map(|s| json!({"name": s})).collect()).unwrap_or_default();
        let candidate = json!({
            "id": id, "name": name, "firstname": first, "lastname": last,
            "headline": get("headline"), "image_url": null,
            "account": { "subdomain": d.subdomain, "name": "Acme" },
            "job": { "shortcode": job["shortcode"], "title": job["title"] },
            "stage": stage["name"], "stage_kind": stage["kind"],
            "disqualified": c.get("disqualified").and_then(Value::as_bool).unwrap_or(false),
            "disqualified_at": get("disqualified_at"), "withdrew": false,
            "disqualification_reason": get("disqualification_reason"), "hired_at": null, "sourced": sourced,
            "profile_url": format!("https://{}.workable.com/backend/jobs/{}/candidates/{id}", d.subdomain, job["id"].as_str().unwrap_or("")),
            "address": get("address"), "phone": get("phone"), "email": email, "domain": get("domain"),
            "outlet": "SPI", "created_at": now, "updated_at": now,
            "cover_letter": get("cover_letter"), "summary": get("summary"),
            "education_entries": arr("education_entries"), "experience_entries": arr("experience_entries"),
            "skills": skills, "answers": arr("answers"), "resume_url": get("resume_url"), "tags": arr("tags"),
            "social_profiles": arr("social_profiles"),
        });
        d.candidates.push(candidate.clone());
        activity(d, &id, if sourced { "sourced" } else { "applied" }, None, json!({}));
        Ok((candidate, slug))
    });
    match created {
        Ok((candidate, slug)) => {
            super::deliver(&sb, "candidate_created", &candidate, Some(&slug));
            (StatusCode::OK, Json(json!({ "status": "created", "candidate": candidate }))).into_response()
        }
        Err(r) => r,
    }
}

pub(crate) async fn update(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let root = match body_object(&headers, &body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if let Some(k) = root.keys().find(|k| k.as_str() != "candidate") {
        return invalid(k, "is not a permitted attribute");
    }
    let Some(Value::Object(changes)) = root.get("candidate") else {
        return invalid("candidate", "can't be blank");
    };
    if let Err(r) = check_keys(changes, UPDATE_KEYS).and_then(|_| check_entries(changes)) {
        return r;
    }
    sb.update(|d| {
        let Some(c) = find(&mut d.workable, &id) else {
            return error(StatusCode::NOT_FOUND, "Not found");
        };
        for (k, v) in changes {
            let v = if k == "skills" {
                Value::Array(v.as_array().map(|a| a.iter().map(|s| json!({"name": s})).collect()).unwrap_or_default())
            } else {
                v.clone()
            };
            c[k.as_str()] = v;
        }
        if changes.contains_key("firstname") || changes.contains_key("lastname") {
            let name = format!("{} {}", str_of(c, "firstname").unwrap_or(""), str_of(c, "lastname").unwrap_or(""));
            c["name"] = Value::String(name.trim().to_owned());
        }
        c["updated_at"] = Value::String(now_iso());
        Json(json!({ "candidate": c.clone() })).into_response()
    })
}

pub(crate) async fn activities(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let items = sb.read(|d| {
        if !d.workable.candidates.iter().any(|c| str_of(c, "id") == Some(&id)) {
            return None;
        }
        Some(d.workable.activities.get(&id).cloned().unwrap_or_default())
    });
    let Some(items) = items else { return error(StatusCode::NOT_FOUND, "Not found") };
    match page(items, "activities", &q, &origin(&headers), &format!("/candidates/{id}/activities")) {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

/// 200 with an empty `text/plain` body, as ratings, move and disqualify answer.
fn empty_ok() -> Response {
    (StatusCode::OK, [("content-type", "text/plain")], "").into_response()
}

pub(crate) async fn comment(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let root = match body_object(&headers, &body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some(Value::Object(comment)) = root.get("comment") else {
        return invalid("comment", "can't be blank");
    };
    if comment.get("body").and_then(Value::as_str).is_none_or(str::is_empty) {
        return invalid("comment.body", "can't be blank");
    }
    if let Some(p) = comment.get("policy")
        && !p.as_array().is_some_and(|a| a.iter().all(Value::is_string))
    {
        return invalid("comment.policy", "must be an array of roles");
    }
    let mut attachment: Option<(Value, String)> = None;
    if let Some(a) = comment.get("attachment") {
        let name = str_of(a, "name").filter(|n| !n.is_empty());
        let data: Option<String> = str_of(a, "data").map(|d| d.chars().filter(|c| !c.is_ascii_whitespace()).collect());
        let bytes = data
            .as_deref()
            .filter(|d| !d.is_empty())
            .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok());
        let (Some(name), Some(bytes), Some(data)) = (name, bytes, data) else {
            return invalid("comment.attachment", "needs a name and base64 data");
        };
        let digest: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        attachment = Some((json!({ "name": name, "size": bytes.len(), "sha256": digest }), data));
    }
    sb.update(|d| {
        let d = &mut d.workable;
        if let Err(r) = member_exists(d, &root) {
            return r;
        }
        if find(d, &id).is_none() {
            return error(StatusCode::NOT_FOUND, "Not found");
        }
        let mut extra =
            json!({"body": comment["body"], "visibility_roles": comment.get("policy").cloned().unwrap_or(json!([]))});
        if let Some((meta, _)) = &attachment {
            extra["attachment"] = meta.clone();
        }
        activity(d, &id, "comment", root.get("member_id").and_then(Value::as_str), extra);
        let comment_id =
            d.activities.get(&id).and_then(|a| a.last()).and_then(|a| str_of(a, "id")).unwrap_or("").to_owned();
        if let Some((_, data)) = attachment {
            d.files.insert(comment_id.clone(), data);
        }
        Json(json!({ "id": comment_id })).into_response()
    })
}

pub(crate) async fn rate(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let root = match body_object(&headers, &body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if root.get("comment").and_then(Value::as_str).is_none_or(str::is_empty) {
        return invalid("comment", "can't be blank");
    }
    let rating = if let Some(score) = root.get("score") {
        match score.as_str() {
            Some(s @ ("negative" | "positive" | "definite")) => json!({"score": s}),
            _ => return invalid("score", "is not included in the list"),
        }
    } else {
        let scale = root.get("scale").and_then(Value::as_str).unwrap_or("thumbs");
        let max = match scale {
            "thumbs" => 2,
            "stars" => 4,
            "numbers" => 9,
            _ => return invalid("scale", "is not included in the list"),
        };
        match root.get("grade").and_then(Value::as_i64) {
            Some(g) if (0..=max).contains(&g) => json!({"scale": scale, "grade": g}),
            Some(_) => return invalid("grade", &format!("must be between 0 and {max} for scale {scale}")),
            None => return invalid("grade", "can't be blank"),
        }
    };
    sb.update(|d| {
        let d = &mut d.workable;
        if let Err(r) = member_exists(d, &root) {
            return r;
        }
        if find(d, &id).is_none() {
            return error(StatusCode::NOT_FOUND, "Not found");
        }
        activity(
            d,
            &id,
            "rating",
            root.get("member_id").and_then(Value::as_str),
            json!({"body": root["comment"], "rating": rating}),
        );
        empty_ok()
    })
}

/// Moves candidate `id` to the stage `slug` as `member` (or the sandbox itself) would:
/// the candidate after the move, or the answer to give.
pub(crate) fn move_candidate(sb: &Sandbox, id: &str, slug: &str, member: Option<&str>) -> Result<Value, Response> {
    sb.update(|d| {
        let w = &mut d.workable;
        let Some(stage) = stage_by_slug(w, slug).cloned() else {
            return Err(invalid("target_stage", "is not a valid stage slug"));
        };
        let Some(c) = find(w, id) else {
            return Err(error(StatusCode::NOT_FOUND, "Not found"));
        };
        c["stage"] = stage["name"].clone();
        c["stage_kind"] = stage["kind"].clone();
        c["updated_at"] = Value::String(now_iso());
        let candidate = c.clone();
        activity(w, id, slug, member, json!({"target_stage": slug, "action_stage": {"id": stage["id"], "name": stage["name"], "slug": stage["slug"]}}));
        Ok(candidate)
    })
}

pub(crate) async fn move_to(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let root = match body_object(&headers, &body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some(target) = root.get("target_stage").and_then(Value::as_str).map(str::to_owned) else {
        return invalid("target_stage", "can't be blank");
    };
    if let Err(r) = sb.read(|d| member_exists(&d.workable, &root)) {
        return r;
    }
    match move_candidate(&sb, &id, &target, root.get("member_id").and_then(Value::as_str)) {
        Ok(candidate) => {
            super::deliver(&sb, "candidate_moved", &candidate, Some(&target));
            empty_ok()
        }
        Err(r) => r,
    }
}

pub(crate) async fn disqualify(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let root = match body_object(&headers, &body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if let Some(note) = root.get("disqualify_note") {
        match note.as_str() {
            Some(n) if n.chars().count() <= 256 => {}
            Some(_) => return invalid("disqualify_note", "is too long (maximum is 256 characters)"),
            None => return invalid("disqualify_note", "must be a string"),
        }
    }
    if root.get("withdrew").is_some_and(|w| !w.is_boolean()) {
        return invalid("withdrew", "must be a boolean");
    }
    sb.update(|d| {
        let w = &mut d.workable;
        if let Err(r) = member_exists(w, &root) {
            return r;
        }
        let reason = match root.get("disqualify_reason_id").and_then(Value::as_str) {
            Some(rid) => match w.disqualification_reasons.iter().find(|r| str_of(r, "id") == Some(rid)) {
                Some(r) => r["description"].clone(),
                None => return invalid("disqualify_reason_id", "is invalid"),
            },
            None => root.get("disqualification_reason").cloned().unwrap_or(Value::Null),
        };
        let Some(c) = find(w, &id) else {
            return error(StatusCode::NOT_FOUND, "Not found");
        };
        c["disqualified"] = Value::Bool(true);
        c["disqualified_at"] = Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        c["disqualification_reason"] = reason;
        c["withdrew"] = Value::Bool(root.get("withdrew").and_then(Value::as_bool).unwrap_or(false));
        c["updated_at"] = Value::String(now_iso());
        activity(
            w,
            &id,
            "disqualified",
            root.get("member_id").and_then(Value::as_str),
            json!({"body": root.get("disqualify_note")}),
        );
        empty_ok()
    })
}

/// `GET /_sandbox/workable/comments/{id}/attachment`: the bytes of a comment's
/// attachment as received (`application/octet-stream`), so a test can check
/// a file reached Workable byte for byte.
pub(crate) async fn comment_attachment(State(sb): State<Sandbox>, Path(id): Path<String>) -> Response {
    let Some(data) = sb.read(|d| d.workable.files.get(&id).cloned()) else {
        return error(StatusCode::NOT_FOUND, &format!("comment `{id}` has no attachment"));
    };
    match base64::engine::general_purpose::STANDARD.decode(data) {
        Ok(bytes) => ([(axum::http::header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "stored attachment is not base64"),
    }
}

/// `GET /_sandbox/workable/attachments`: every comment attachment received,
/// `{attachments: [{comment_id, candidate, name, size, sha256}]}` (sizes and
/// hashes computed from the bytes decoded).
pub(crate) async fn attachments_list(State(sb): State<Sandbox>) -> Response {
    let list: Vec<Value> = sb.read(|d| {
        d.workable
            .activities
            .iter()
            .flat_map(|(candidate, acts)| {
                acts.iter().filter_map(move |a| {
                    let meta = a.get("attachment")?;
                    Some(json!({ "comment_id": a["id"], "candidate": candidate, "name": meta["name"],
                                 "size": meta["size"], "sha256": meta["sha256"] }))
                })
            })
            .collect()
    });
    Json(json!({ "attachments": list })).into_response()
}
