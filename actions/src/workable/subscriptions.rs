//! The `workable` subscription provider: what lets a webhook trigger declare
//! `subscribe: { connection: workable, events: [...] }` and have the engine
//! create, renew and remove the subscriptions (`POST /spi/v3/subscriptions`,
//! `GET`, `DELETE /subscriptions/{id}`). Workable signs each delivery with
//! the token that created the subscription (`X-Workable-Signature`,
//! HMAC-SHA256, hex): the trigger's check is keyed by the connection's `token`.

use reqflow_engine::action::{ActionContext, ActionError, BoxFuture, Connection};
use reqflow_engine::spec::{HmacAlgorithm, HmacEncoding};
use reqflow_engine::subscription::{Created, DeliverySignature, RemoteSubscription, SubscriptionProvider};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::WorkableClient;
use super::connection::WorkableConnection;

/// Workable's candidate events (the ones a recruiting workflow subscribes to)
/// and its employee events.
const EVENTS: &[&str] = &[
    "candidate_created",
    "candidate_moved",
    "candidate_deleted",
    "employee_created",
    "employee_updated",
    "employee_published",
    "onboarding_completed",
    "timeoff_updated",
];

/// Manages Workable webhook subscriptions.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkableSubscriptions;

fn client(connection: &Connection) -> Result<WorkableClient, ActionError> {
    let cx = ActionContext::new("subscriptions", "subscriptions", "sync", 1)
        .with_connection(connection.clone())
        .with_timeout(Some(std::time::Duration::from_secs(30)));
    WorkableClient::from_context(&cx)
}

/// `valid_until` as Unix ms (Workable writes ISO 8601, or null).
fn millis(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis())
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

impl SubscriptionProvider for WorkableSubscriptions {
    fn connection_type(&self) -> &str {
        "workable"
    }

    fn events(&self) -> &[&str] {
        EVENTS
    }

    fn signature(&self) -> DeliverySignature {
        DeliverySignature {
            header: "X-Workable-Signature".into(),
            algorithm: HmacAlgorithm::Sha256,
            encoding: HmacEncoding::Hex,
            key_setting: "token".into(),
        }
    }

    fn account(&self, connection: &Connection) -> Result<String, ActionError> {
        let conn: WorkableConnection = connection.parse()?;
        conn.api_root().map_err(|e| ActionError::permanent(e).with_code("connection.invalid"))
    }

    fn list<'a>(&'a self, connection: &'a Connection) -> BoxFuture<'a, Result<Vec<RemoteSubscription>, ActionError>> {
        Box::pin(async move {
            let v = client(connection)?.get("/subscriptions", &[]).await?;
            let list = v.get("subscriptions").and_then(Value::as_array).cloned().unwrap_or_default();
            Ok(list
                .iter()
                .filter_map(|s| {
                    Some(RemoteSubscription {
                        id: id_text(s.get("id")?)?,
                        event: s.get("event").and_then(Value::as_str).unwrap_or("").to_owned(),
                        target: s.get("target").and_then(Value::as_str).unwrap_or("").to_owned(),
                        valid_until: s.get("valid_until").and_then(millis),
                    })
                })
                .collect())
        })
    }

    fn create<'a>(
        &'a self,
        connection: &'a Connection,
        event: &'a str,
        target: &'a str,
        args: &'a Value,
    ) -> BoxFuture<'a, Result<Created, ActionError>> {
        Box::pin(async move {
            let c = client(connection)?;
            let mut body = json!({ "target": target, "event": event });
            // Workable: with `args`, `job_shortcode` and `stage_slug` are both required ("" for all);
            // employee events take none.
            if event.starts_with("candidate_")
                && let Some(given) = args.as_object().filter(|a| !a.is_empty())
            {
                let mut a = given.clone();
                for k in ["job_shortcode", "stage_slug"] {
                    a.entry(k).or_insert_with(|| json!(""));
                }
                if let Some(acc) = c.account() {
                    a.entry("account_id").or_insert_with(|| json!(acc));
                }
                body["args"] = Value::Object(a);
            }
            match c.send_json(Method::POST, "/subscriptions", &body).await {
                Ok(v) => {
                    let id = v.get("id").and_then(id_text).ok_or_else(|| {
                        ActionError::permanent("Workable created the subscription but answered no `id`")
                            .with_code("workable.subscription")
                    })?;
                    Ok(Created::New { id, valid_until: v.get("valid_until").and_then(millis) })
                }
                Err(e) if e.code.as_deref() == Some("workable.conflict") => Ok(Created::Conflict),
                Err(e) => Err(e),
            }
        })
    }

    fn delete<'a>(&'a self, connection: &'a Connection, id: &'a str) -> BoxFuture<'a, Result<bool, ActionError>> {
        Box::pin(async move {
            match client(connection)?.send_json(Method::DELETE, &format!("/subscriptions/{id}"), &json!({})).await {
                Ok(_) => Ok(true),
                Err(e) if e.code.as_deref() == Some("workable.not_found") => Ok(false),
                Err(e) => Err(e),
            }
        })
    }
}
