//! The `http` connection's check: its optional `health:` request, sent with
//! the connection's `auth:` and `headers:` through `http.request`.

use reqflow_engine::action::{Action, ActionContext, BoxFuture};
use reqflow_engine::connection::{CheckFailure, ConnectionHooks};
use serde_json::{Value, json};

use super::params::{HttpConnection, HttpRequestParams};
use super::request::HttpRequest;
use crate::check::failure;

/// Checks of the `http` connection type.
#[derive(Debug, Default)]
pub struct HttpHooks;

impl ConnectionHooks for HttpHooks {
    fn check<'a>(&'a self, cx: &'a ActionContext) -> BoxFuture<'a, Result<Value, CheckFailure>> {
        Box::pin(async move {
            let c = cx.require_connection().map_err(failure)?;
            let conn: HttpConnection = c.parse().map_err(failure)?;
            let Some(h) = conn.health else {
                return Ok(
                    json!({"read": "nothing: the connection declares no `health:` request (settings evaluate)"}),
                );
            };
            let params = HttpRequestParams {
                method: h.method,
                url: None,
                path: Some(h.path.clone()),
                headers: Default::default(),
                query: Default::default(),
                json: None,
                form: None,
                body: None,
                expect: h.expect.clone(),
                response: None,
                max_body_bytes: None,
            };
            let method = format!("{:?}", h.method.unwrap_or(super::HttpMethod::Get)).to_ascii_uppercase();
            let out = HttpRequest.run(cx.clone(), params).await.map_err(failure)?;
            Ok(json!({"read": format!("{method} {}", h.path), "status": out["status"]}))
        })
    }
}
