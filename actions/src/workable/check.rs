//! The `workable` connection's check: `GET /members?limit=1`, the cheapest
//! read every account and user token may do (scope `r_jobs`).

use reqflow_engine::action::{ActionContext, BoxFuture};
use reqflow_engine::connection::{CheckFailure, ConnectionHooks};
use serde_json::{Value, json};

use super::client::WorkableClient;
use crate::check::failure;

/// Checks of the `workable` connection type.
#[derive(Debug, Default)]
pub struct WorkableHooks;

impl ConnectionHooks for WorkableHooks {
    fn check<'a>(&'a self, cx: &'a ActionContext) -> BoxFuture<'a, Result<Value, CheckFailure>> {
        Box::pin(async move {
            let client = WorkableClient::from_context(cx).map_err(failure)?;
            let got = client.get("/members", &[("limit".into(), "1".into())]).await.map_err(failure)?;
            let members = got.get("members").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
            Ok(json!({"read": "GET /members?limit=1", "members": members, "account": client.account()}))
        })
    }
}
