//! The `workday` connection's checks and OAuth connect:
//!
//! - **check**: for OAuth, the token exchange; then one small SOAP read
//!   (`Get_Job_Requisitions`, one result). Workday's "The task submitted is
//!   not authorized" fault is reported as a missing domain permission,
//!   naming the domain when the fault does.
//! - **state**: what is known of the credentials (connected or configured
//!   refresh token, when connected, last refresh, access-token expiry, last
//!   error), never a token.
//! - **connect**: the authorization-code grant (authorize URL with `state`,
//!   code exchange at `/ccx/oauth2/{tenant}/token` with the `redirect_uri`),
//!   or an existing refresh token; either is stored encrypted under
//!   [`connected_key`] (per token endpoint and API client: one connect
//!   serves every connection to that tenant with that client), after which
//!   those connections need no `refresh_token:`.
//! - **not ready**: an OAuth connection neither connected nor given a
//!   refresh token names the `reqflow connect workday` command to run.

use reqflow_engine::action::{ActionContext, ActionError, BoxFuture, Connection};
use reqflow_engine::connection::{CheckFailure, ConnectResult, ConnectionHooks, FailureClass};
use reqflow_engine::runtime::clock::rfc3339;
use serde_json::{Map, Value, json};

use super::auth::{TokenSource, bearer, connected_key, fetch, not_connected_message, token_source};
use super::client::WorkdayClient;
use super::connection::{WorkdayAuth, WorkdayConnection};
use super::params::JobRequisitionsGetParams;
use super::requests;
use crate::check::failure;

/// Checks and connect flows of the `workday` connection type.
#[derive(Debug, Default)]
pub struct WorkdayHooks;

/// The read a check does.
const CHECK_READ: &str = "Get_Job_Requisitions (1 result)";

fn parse(conn: &Connection) -> ConnectResult<WorkdayConnection> {
    if conn.kind != "workday" {
        return Err(ActionError::permanent(format!("connection `{}` is not a `workday` connection", conn.name))
            .with_code("connection.invalid"));
    }
    conn.parse()
}

/// The domain a "not authorized" fault names, if it names one: the text after
/// `domain` (and `:`), up to a quote, a sentence end or a line end.
pub fn named_domain(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find("domain")? + "domain".len();
    let rest = text.get(at..)?.trim_start_matches(['s', ':', ' ', '\t']);
    let (quoted, rest) = match rest.chars().next() {
        Some(q @ ('"' | '\'' | '“')) => (Some(q), &rest[q.len_utf8()..]),
        _ => (None, rest),
    };
    let end = match quoted {
        Some(q) => rest.find(if q == '“' { '”' } else { q }).unwrap_or(rest.len()),
        None => rest.find(['\n', '"']).into_iter().chain(rest.find(". ")).min().unwrap_or(rest.len()),
    };
    let name = rest[..end].trim().trim_end_matches('.').trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// A failed read as the check reports it.
fn read_failure(e: ActionError) -> CheckFailure {
    let details = e.details.clone().unwrap_or(Value::Null);
    let mut texts = vec![e.message.clone()];
    for v in details["validation_errors"].as_array().into_iter().flatten() {
        for k in ["message", "detail_message"] {
            if let Some(s) = v[k].as_str() {
                texts.push(s.to_owned());
            }
        }
    }
    if let Some(p) = details["processing_fault"].as_str() {
        texts.push(p.to_owned());
    }
    let all = texts.join("\n");
    if all.contains("not authorized") {
        let domain = texts.iter().skip(1).chain(std::iter::once(&texts[0])).find_map(|t| named_domain(t));
        let message = match domain {
            Some(d) => format!(
                "missing domain permission: the integration's security group needs Get access to the domain \
                 `{d}` (Workday answered \"The task submitted is not authorized\" to {CHECK_READ})"
            ),
            None => format!(
                "missing domain permission: Workday answered \"The task submitted is not authorized\" to \
                 {CHECK_READ}; grant the integration's security group Get access to the job requisition domain \
                 (Maintain Permissions for Security Group)"
            ),
        };
        return CheckFailure::new(FailureClass::Permission, message);
    }
    failure(e)
}

fn iso(v: &Value) -> Value {
    v.as_i64().map(|ms| json!(rfc3339(ms))).unwrap_or(Value::Null)
}

impl ConnectionHooks for WorkdayHooks {
    fn check<'a>(&'a self, cx: &'a ActionContext) -> BoxFuture<'a, Result<Value, CheckFailure>> {
        Box::pin(async move {
            let client = WorkdayClient::from_context(cx).map_err(failure)?;
            let conn: WorkdayConnection = cx.require_connection().and_then(Connection::parse).map_err(failure)?;
            let oauth = matches!(conn.auth, WorkdayAuth::Oauth { .. });
            if oauth {
                bearer(cx, &conn, None).await.map_err(failure)?;
            }
            let params: JobRequisitionsGetParams = serde_json::from_value(json!({"count": 1})).map_err(|e| {
                CheckFailure::new(FailureClass::Unexpected, format!("cannot build the check request: {e}"))
            })?;
            let body = requests::get_job_requisitions(&params, client.version(), 1, None)
                .map_err(|e| CheckFailure::new(FailureClass::Config, e.into_action("connection check").message))?;
            client.soap(cx, "Get_Job_Requisitions", body).await.map_err(read_failure)?;
            let read = if oauth { format!("token exchange, then {CHECK_READ}") } else { CHECK_READ.to_owned() };
            Ok(json!({"read": read, "tenant": conn.tenant}))
        })
    }

    fn state<'a>(&'a self, cx: &'a ActionContext) -> BoxFuture<'a, Result<Value, ActionError>> {
        Box::pin(async move {
            let conn = parse(cx.require_connection()?)?;
            let mut out = Map::new();
            match &conn.auth {
                WorkdayAuth::Isu { username, .. } => {
                    out.insert("auth".into(), json!("isu"));
                    out.insert("user".into(), json!(username));
                }
                WorkdayAuth::Oauth { .. } => {
                    out.insert("auth".into(), json!("oauth"));
                    let name = cx.connection.as_ref().map(|c| c.name.as_str()).unwrap_or("");
                    let (source, connected, stored) = match token_source(cx, &conn).await? {
                        Some(TokenSource::Connected(_, v)) => {
                            ("connected (stored encrypted)".to_owned(), true, Some(v))
                        }
                        Some(TokenSource::Setting(_, v)) => ("refresh_token setting".to_owned(), true, v),
                        _ => (not_connected_message(&cx.workflow, name), false, None),
                    };
                    out.insert("refresh_token".into(), json!(source));
                    out.insert("connected".into(), json!(connected));
                    if let Some(v) = stored {
                        if let Some(at) = v["connected_at"].as_i64() {
                            out.insert("connected_at".into(), iso(&v["connected_at"]));
                            let age = (chrono::Utc::now().timestamp_millis() - at).max(0) / 1000;
                            out.insert("token_age_s".into(), json!(age));
                        }
                        if v["how"].is_string() {
                            out.insert("how".into(), v["how"].clone());
                        }
                        out.insert("last_refresh".into(), iso(&v["last_refresh"]));
                        if let Some(exp) = v["expires_at"].as_i64() {
                            out.insert("access_token_expires_at".into(), json!(rfc3339(exp * 1000)));
                        }
                        if let Some(err) = v.get("last_error").filter(|e| e.is_object()) {
                            out.insert("last_error".into(), json!({"at": iso(&err["at"]), "message": err["message"]}));
                        }
                    }
                }
            }
            Ok(Value::Object(out))
        })
    }

    fn not_ready<'a>(&'a self, cx: &'a ActionContext) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let conn = parse(cx.require_connection().ok()?).ok()?;
            match token_source(cx, &conn).await {
                Ok(Some(TokenSource::NotConnected)) => {
                    let name = cx.connection.as_ref().map(|c| c.name.as_str()).unwrap_or("");
                    Some(not_connected_message(&cx.workflow, name))
                }
                // Err: unknown (the store did not answer): a run or a check reports it.
                Ok(_) | Err(_) => None,
            }
        })
    }

    fn credential_scope(&self, conn: &Connection) -> Option<String> {
        let c = parse(conn).ok()?;
        let WorkdayAuth::Oauth { client_id, .. } = &c.auth else { return None };
        Some(connected_key(&c, client_id))
    }

    fn can_connect(&self, conn: &Connection) -> bool {
        parse(conn).is_ok_and(|c| matches!(c.auth, WorkdayAuth::Oauth { .. }))
    }

    fn authorize_url(&self, conn: &Connection, redirect_uri: &str, state: &str) -> ConnectResult<String> {
        let c = parse(conn)?;
        let WorkdayAuth::Oauth { client_id, .. } = &c.auth else {
            return Err(
                ActionError::permanent("only an OAuth connection can be connected").with_code("connect.unsupported")
            );
        };
        let endpoint = c.authorize_endpoint().map_err(|e| ActionError::permanent(e).with_code("connection.invalid"))?;
        let mut url = reqwest::Url::parse(&endpoint).map_err(|e| {
            ActionError::permanent(format!("the authorize URL `{endpoint}` is not a URL: {e}"))
                .with_code("connection.invalid")
        })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state);
        Ok(url.to_string())
    }

    fn complete<'a>(
        &'a self,
        cx: &'a ActionContext,
        code: &'a str,
        redirect_uri: &'a str,
    ) -> BoxFuture<'a, ConnectResult<Value>> {
        Box::pin(async move {
            let grant = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)];
            store(cx, &grant, "authorization_code", None).await
        })
    }

    fn store_refresh_token<'a>(&'a self, cx: &'a ActionContext, token: &'a str) -> BoxFuture<'a, ConnectResult<Value>> {
        Box::pin(async move {
            let grant = [("grant_type", "refresh_token"), ("refresh_token", token)];
            store(cx, &grant, "refresh_token", Some(token)).await
        })
    }
}

/// Calls the token endpoint with `grant` and stores what it gives under the
/// connection's [`connected_key`] (encrypted by the engine's state): every
/// connection with the same token endpoint and client id uses it.
async fn store(cx: &ActionContext, grant: &[(&str, &str)], how: &str, given: Option<&str>) -> ConnectResult<Value> {
    let c = cx.require_connection()?;
    let conn = parse(c)?;
    let WorkdayAuth::Oauth { client_id, client_secret, client_auth, .. } = &conn.auth else {
        return Err(
            ActionError::permanent("only an OAuth connection can be connected").with_code("connect.unsupported")
        );
    };
    let got = fetch(&conn, client_id, client_secret, grant, *client_auth).await?;
    let Some(refresh) = got.refresh.or_else(|| given.map(str::to_owned)) else {
        return Err(ActionError::permanent(
            "Workday's token endpoint answered without a refresh_token: the API client must be allowed to issue \
             refresh tokens (Register API Client: \"Non-Expiring Refresh Tokens\")",
        )
        .with_code("workday.oauth"));
    };
    let now = chrono::Utc::now().timestamp_millis();
    let entry = json!({
        "refresh_token": refresh,
        "access_token": got.access.token,
        "expires_at": got.access.expires_at,
        "connected_at": now,
        "last_refresh": now,
        "how": how,
        "token_url": conn.token_url().unwrap_or_default(),
        "client_id": client_id,
    });
    cx.state.put(&connected_key(&conn, client_id), entry).await?;
    Ok(
        json!({"how": how, "connected_at": rfc3339(now), "access_token_expires_at": rfc3339(got.access.expires_at * 1000)}),
    )
}

#[cfg(test)]
mod tests {
    use super::named_domain;

    #[test]
    fn the_domain_is_read_from_the_fault_when_it_names_one() {
        assert_eq!(named_domain("Domain: Job Requisition Data"), Some("Job Requisition Data".into()));
        assert_eq!(
            named_domain("The task submitted is not authorized. Security domain \"Candidate Data: Job Application\"."),
            Some("Candidate Data: Job Application".into())
        );
        assert_eq!(named_domain("Processing error occurred. The task submitted is not authorized."), None);
    }
}
