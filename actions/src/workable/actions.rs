//! The `workable.*` actions.

use reqflow_engine::action::{Action, ActionContext, ActionError, ActionInfo};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::WorkableClient;
use super::params::*;

/// Defines an action struct whose `run` builds the connection's client and calls `$run`.
macro_rules! workable_action {
    ($ty:ident, $kind:literal, $params:ty, $summary:literal, $docs:expr, $example:expr, $run:ident) => {
        #[doc = concat!("`", $kind, "`: ", $summary, ".")]
        #[derive(Debug, Default, Clone, Copy)]
        pub struct $ty;

        impl Action for $ty {
            type Params = $params;

            fn info(&self) -> ActionInfo {
                ActionInfo::new($kind, $summary).docs($docs).connection("workable").example($example)
            }

            async fn run(&self, cx: ActionContext, p: $params) -> Result<Value, ActionError> {
                let client = WorkableClient::from_context(&cx)?;
                $run(&client, p).await
            }
        }
    };
}

const LIST_DOCS: &str = "One page (with `next`, the URL of the following page, when there is one), \
or with `all_pages: true` every page: `paging.next` is followed to the last page. \
Filters: `limit` (1–100), `since_id`, `max_id`, `created_after`, `updated_after`.";

fn invalid(msg: impl Into<String>) -> ActionError {
    ActionError::permanent(msg.into()).with_code("params.invalid")
}

/// Checks a path segment taken from `with:` (ids, shortcodes) so it cannot change the path.
fn seg(name: &str, v: &str) -> Result<String, ActionError> {
    if v.is_empty()
        || !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || v == "."
        || v == ".."
    {
        return Err(invalid(format!("`{name}` `{v}` is not a valid Workable id")));
    }
    Ok(v.to_owned())
}

fn list_query(l: &ListParams, extra: Vec<(&str, Option<String>)>) -> Result<Vec<(String, String)>, ActionError> {
    if let Some(n) = l.limit
        && !(1..=100).contains(&n)
    {
        return Err(invalid(format!("`limit` must be between 1 and 100 (got {n})")));
    }
    let mut q: Vec<(String, String)> = extra.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))).collect();
    for (k, v) in [
        ("limit", l.limit.map(|n| n.to_string())),
        ("since_id", l.since_id.clone()),
        ("max_id", l.max_id.clone()),
        ("created_after", l.created_after.clone()),
        ("updated_after", l.updated_after.clone()),
    ] {
        if let Some(v) = v {
            q.push((k.to_owned(), v));
        }
    }
    Ok(q)
}

/// GETs a list; follows `paging.next` with `all_pages`.
async fn list(
    c: &WorkableClient,
    path: &str,
    key: &str,
    l: &ListParams,
    query: Vec<(String, String)>,
) -> Result<Value, ActionError> {
    let mut page = c.get(path, &query).await?;
    let mut items: Vec<Value> = page.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    let mut pages = 1u32;
    let max_pages = l.max_pages.unwrap_or(100).max(1);
    let mut next = next_of(&page);
    if l.all_pages {
        while let Some(url) = next.take() {
            if pages >= max_pages {
                next = Some(url);
                break;
            }
            page = c.get_next(&url).await?;
            items.extend(page.get(key).and_then(Value::as_array).cloned().unwrap_or_default());
            pages += 1;
            next = next_of(&page);
        }
    }
    Ok(json!({ key: items, "count": items.len(), "pages": pages, "next": next }))
}

fn next_of(page: &Value) -> Option<String> {
    page.get("paging").and_then(|p| p.get("next")).and_then(Value::as_str).map(str::to_owned)
}

async fn jobs_list(c: &WorkableClient, p: JobsListParams) -> Result<Value, ActionError> {
    let l = p.list();
    let state =
        p.state.map(|s| serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default());
    let q = list_query(&l, vec![("state", state)])?;
    list(c, "/jobs", "jobs", &l, q).await
}

async fn jobs_get(c: &WorkableClient, p: JobParams) -> Result<Value, ActionError> {
    c.get(&format!("/jobs/{}", seg("shortcode", &p.shortcode)?), &[]).await
}

async fn jobs_stages(c: &WorkableClient, p: JobParams) -> Result<Value, ActionError> {
    c.get(&format!("/jobs/{}/stages", seg("shortcode", &p.shortcode)?), &[]).await
}

async fn candidates_list(c: &WorkableClient, p: CandidatesListParams) -> Result<Value, ActionError> {
    let l = p.list();
    let q = list_query(
        &l,
        vec![("shortcode", p.shortcode.clone()), ("stage", p.stage.clone()), ("email", p.email.clone())],
    )?;
    list(c, "/candidates", "candidates", &l, q).await
}

async fn candidates_get(c: &WorkableClient, p: CandidateParams) -> Result<Value, ActionError> {
    let v = c.get(&format!("/candidates/{}", seg("id", &p.id)?), &[]).await?;
    Ok(v.get("candidate").cloned().unwrap_or(v))
}

async fn candidates_create(c: &WorkableClient, p: CandidatesCreateParams) -> Result<Value, ActionError> {
    let mut cand = p.fields();
    if p.email.as_deref().is_none_or(str::is_empty) {
        return Err(invalid("workable.candidates.create needs `email`"));
    }
    match (&p.name, &p.firstname, &p.lastname) {
        (Some(n), _, _) if !n.trim().is_empty() => {
            cand.insert("name".into(), Value::String(n.clone()));
        }
        (_, Some(f), Some(l)) if !f.is_empty() && !l.is_empty() => {}
        _ => return Err(invalid("workable.candidates.create needs `name`, or `firstname` and `lastname`")),
    }
    if let Some(a) = &p.answers {
        cand.insert("answers".into(), Value::Array(a.clone()));
    }
    if let Some(d) = &p.domain {
        cand.insert("domain".into(), Value::String(d.clone()));
    }
    let mut body = json!({ "candidate": cand });
    if let Some(s) = p.sourced {
        body["sourced"] = Value::Bool(s);
    }
    let mut path = format!("/jobs/{}/candidates", seg("shortcode", &p.shortcode)?);
    if let Some(stage) = &p.stage {
        path.push_str(&format!("?stage={}", seg("stage", stage)?));
    }
    let v = c.send_json(Method::POST, &path, &body).await?;
    Ok(v.get("candidate").cloned().unwrap_or(v))
}

async fn candidates_update(c: &WorkableClient, p: CandidatesUpdateParams) -> Result<Value, ActionError> {
    let fields = p.fields();
    if fields.is_empty() {
        return Err(invalid("workable.candidates.update: give at least one field to change"));
    }
    let v = c
        .send_json(Method::PATCH, &format!("/candidates/{}", seg("id", &p.id)?), &json!({ "candidate": fields }))
        .await?;
    Ok(v.get("candidate").cloned().unwrap_or(v))
}

async fn candidates_activities(c: &WorkableClient, p: ActivitiesParams) -> Result<Value, ActionError> {
    let l = p.list();
    let q = list_query(&l, vec![])?;
    list(c, &format!("/candidates/{}/activities", seg("id", &p.id)?), "activities", &l, q).await
}

async fn candidates_comment(c: &WorkableClient, p: CommentParams) -> Result<Value, ActionError> {
    let mut comment = json!({ "body": p.body });
    if let Some(policy) = &p.policy {
        comment["policy"] = json!(policy);
    }
    if let Some(a) = &p.attachment {
        use crate::file_content::FileContent;
        let (data, binary_name) = match &a.data {
            FileContent::Base64(s) => (s.clone(), None),
            FileContent::Binary(b) => (b.base64(), b.name.clone()),
        };
        let Some(name) = a.name.clone().or(binary_name).filter(|n| !n.trim().is_empty()) else {
            return Err(ActionError::permanent(
                "workable.candidates.comment: give `attachment.name` (the binary `attachment.data` has no name)",
            )
            .with_code("params.invalid"));
        };
        comment["attachment"] = json!({ "name": name, "data": data });
    }
    let v = c
        .send_json(
            Method::POST,
            &format!("/candidates/{}/comments", seg("id", &p.id)?),
            &json!({ "member_id": p.member_id, "comment": comment }),
        )
        .await?;
    Ok(json!({ "id": v.get("id").cloned().unwrap_or(Value::Null) }))
}

async fn candidates_rate(c: &WorkableClient, p: RateParams) -> Result<Value, ActionError> {
    let scale = p.scale.unwrap_or(Scale::Thumbs);
    let max = match scale {
        Scale::Thumbs => 2,
        Scale::Stars => 4,
        Scale::Numbers => 9,
    };
    if p.grade > max {
        return Err(invalid(
            format!("`grade` {} is out of range for scale `{scale:?}` (0–{max})", p.grade).to_lowercase(),
        ));
    }
    c.send_json(
        Method::POST,
        &format!("/candidates/{}/ratings", seg("id", &p.id)?),
        &json!({ "member_id": p.member_id, "comment": p.comment, "scale": scale, "grade": p.grade }),
    )
    .await?;
    Ok(json!({ "rated": true, "scale": scale, "grade": p.grade }))
}

async fn candidates_move(c: &WorkableClient, p: MoveParams) -> Result<Value, ActionError> {
    c.send_json(
        Method::POST,
        &format!("/candidates/{}/move", seg("id", &p.id)?),
        &json!({ "member_id": p.member_id, "target_stage": p.target_stage }),
    )
    .await?;
    Ok(json!({ "moved": true, "target_stage": p.target_stage }))
}

async fn candidates_disqualify(c: &WorkableClient, p: DisqualifyParams) -> Result<Value, ActionError> {
    if p.disqualify_note.as_ref().is_some_and(|n| n.chars().count() > 256) {
        return Err(invalid("`disqualify_note` is longer than 256 characters"));
    }
    let mut body = json!({ "member_id": p.member_id });
    if let Some(r) = &p.disqualify_reason_id {
        body["disqualify_reason_id"] = json!(r);
    }
    if let Some(n) = &p.disqualify_note {
        body["disqualify_note"] = json!(n);
    }
    if let Some(w) = p.withdrew {
        body["withdrew"] = json!(w);
    }
    c.send_json(Method::POST, &format!("/candidates/{}/disqualify", seg("id", &p.id)?), &body).await?;
    Ok(json!({ "disqualified": true }))
}

async fn members_list(c: &WorkableClient, p: MembersListParams) -> Result<Value, ActionError> {
    let l = p.list();
    let q = list_query(
        &l,
        vec![
            ("role", p.role.clone()),
            ("email", p.email.clone()),
            ("name", p.name.clone()),
            ("status", p.status.clone()),
            ("shortcode", p.shortcode.clone()),
        ],
    )?;
    list(c, "/members", "members", &l, q).await
}

async fn subscriptions_create(c: &WorkableClient, p: SubscriptionCreateParams) -> Result<Value, ActionError> {
    let mut body = json!({ "target": p.target, "event": p.event });
    if p.event.starts_with("candidate_") && (p.job_shortcode.is_some() || p.stage_slug.is_some()) {
        let mut args = json!({
            "job_shortcode": p.job_shortcode.clone().unwrap_or_default(),
            "stage_slug": p.stage_slug.clone().unwrap_or_default(),
        });
        if let Some(a) = c.account() {
            args["account_id"] = json!(a);
        }
        body["args"] = args;
    }
    let v = c.send_json(Method::POST, "/subscriptions", &body).await?;
    Ok(json!({ "id": v.get("id").cloned().unwrap_or(Value::Null) }))
}

async fn subscriptions_list(c: &WorkableClient, _p: SubscriptionsListParams) -> Result<Value, ActionError> {
    c.get("/subscriptions", &[]).await
}

async fn subscriptions_delete(c: &WorkableClient, p: SubscriptionDeleteParams) -> Result<Value, ActionError> {
    c.send_json(Method::DELETE, &format!("/subscriptions/{}", p.id), &json!({})).await?;
    Ok(json!({ "deleted": true, "id": p.id }))
}

workable_action!(
    JobsList,
    "workable.jobs.list",
    JobsListParams,
    "List jobs",
    LIST_DOCS,
    json!({"state": "published", "all_pages": true}),
    jobs_list
);
workable_action!(
    JobsGet,
    "workable.jobs.get",
    JobParams,
    "Get a job by shortcode",
    "The job, with its descriptions.",
    json!({"shortcode": "GROOV001"}),
    jobs_get
);
workable_action!(
    JobsStages,
    "workable.jobs.stages",
    JobParams,
    "List a job's pipeline stages",
    "`{stages: [{slug, name, kind, position}]}`; slugs are what `move` and `stage` take.",
    json!({"shortcode": "GROOV001"}),
    jobs_stages
);
workable_action!(
    CandidatesList,
    "workable.candidates.list",
    CandidatesListParams,
    "List candidates",
    LIST_DOCS,
    json!({"shortcode": "GROOV001", "stage": "interview", "updated_after": "{{ event.previous_success_at }}"}),
    candidates_list
);
workable_action!(
    CandidatesGet,
    "workable.candidates.get",
    CandidateParams,
    "Get a candidate",
    "The full candidate (unwrapped from `candidate`).",
    json!({"id": "{{ event.body.data.id }}"}),
    candidates_get
);
workable_action!(
    CandidatesCreate,
    "workable.candidates.create",
    CandidatesCreateParams,
    "Create a candidate in a job",
    "Needs `shortcode`, `email`, and `name` or `firstname` + `lastname`. `sourced: false` marks the candidate as applied \
     (Workable then e-mails them); `stage` puts them straight into a stage. A candidate with the same email in the job \
     is a permanent error with code `workable.duplicate_candidate`. Returns the created candidate.",
    json!({"shortcode": "GROOV001", "firstname": "Ada", "lastname": "Lovelace", "email": "ada@example.com", "tags": ["referral"]}),
    candidates_create
);
workable_action!(
    CandidatesUpdate,
    "workable.candidates.update",
    CandidatesUpdateParams,
    "Update a candidate (partial)",
    "Only the fields given change. Arrays (`education_entries`, `experience_entries`, `social_profiles`, `tags`) replace \
     the existing values, as Workable documents; `[]` clears them. Returns the updated candidate.",
    json!({"id": "{{ event.body.data.id }}", "headline": "Staff Engineer"}),
    candidates_update
);
workable_action!(
    CandidatesActivities,
    "workable.candidates.activities",
    ActivitiesParams,
    "List a candidate's activities",
    LIST_DOCS,
    json!({"id": "{{ event.body.data.id }}"}),
    candidates_activities
);
workable_action!(
    CandidatesComment,
    "workable.candidates.comment",
    CommentParams,
    "Comment on a candidate",
    "`policy` lists the roles that may see it (`[]`: admins only); one `attachment` `{name, data}` (`data`: base64 text or a binary value, whose name is the default `name`). Returns `{id}`.",
    json!({"id": "{{ event.body.data.id }}", "member_id": "{{ vars.WORKABLE_MEMBER_ID }}", "body": "Interview invite sent"}),
    candidates_comment
);
workable_action!(
    CandidatesRate,
    "workable.candidates.rate",
    RateParams,
    "Rate a candidate",
    "`scale` `thumbs` (grades 0–2), `stars` (0–4) or `numbers` (0–9); `comment` is required.",
    json!({"id": "{{ event.body.data.id }}", "member_id": "{{ vars.WORKABLE_MEMBER_ID }}", "comment": "Strong test", "scale": "stars", "grade": 4}),
    candidates_rate
);
workable_action!(
    CandidatesMove,
    "workable.candidates.move",
    MoveParams,
    "Move a candidate to another stage",
    "`target_stage` is a stage slug (see `workable.jobs.stages`). Workable fires `candidate_moved`.",
    json!({"id": "{{ event.body.data.id }}", "member_id": "{{ vars.WORKABLE_MEMBER_ID }}", "target_stage": "interview"}),
    candidates_move
);
workable_action!(
    CandidatesDisqualify,
    "workable.candidates.disqualify",
    DisqualifyParams,
    "Disqualify a candidate",
    "Optional `disqualify_reason_id`, `disqualify_note` (≤ 256 characters) and `withdrew`.",
    json!({"id": "{{ event.body.data.id }}", "member_id": "{{ vars.WORKABLE_MEMBER_ID }}", "disqualify_note": "Below the bar"}),
    candidates_disqualify
);
workable_action!(
    MembersList,
    "workable.members.list",
    MembersListParams,
    "List account members",
    LIST_DOCS,
    json!({"role": "admin"}),
    members_list
);
workable_action!(
    SubscriptionsCreate,
    "workable.subscriptions.create",
    SubscriptionCreateParams,
    "Subscribe a URL to Workable events",
    "Workable signs deliveries with `X-Workable-Signature` = hex HMAC-SHA256 of the body, keyed with the token. \
     A target URL that is already registered is a permanent error (`workable.conflict`). Returns `{id}`.",
    json!({"target": "https://reqflow.example/hooks/workable/candidates", "event": "candidate_moved", "stage_slug": "phone-screen"}),
    subscriptions_create
);
workable_action!(
    SubscriptionsList,
    "workable.subscriptions.list",
    SubscriptionsListParams,
    "List webhook subscriptions",
    "`{subscriptions: [...]}`.",
    json!({}),
    subscriptions_list
);
workable_action!(
    SubscriptionsDelete,
    "workable.subscriptions.delete",
    SubscriptionDeleteParams,
    "Delete a webhook subscription",
    "Unknown ids are a permanent 404 error.",
    json!({"id": 104693}),
    subscriptions_delete
);
