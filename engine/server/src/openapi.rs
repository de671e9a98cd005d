//! The OpenAPI 3.1 document of the admin plane, generated from the route
//! table ([`crate::admin_routes`]): every route, with its method, path
//! parameters, bearer security requirement and scope (`x-reqflow-scope`),
//! its audit action (`x-reqflow-audit`), and the operation's description
//! below. Query parameters and request bodies of JSON routes come from the
//! handlers' own types (`schemars`), so they cannot drift from what the
//! handlers accept.
//!
//! `reqflow openapi --check schemas/openapi.json` (CI) fails when the
//! committed document is not what this module generates. A route of the
//! table without a description here makes [`document`] fail its unit test
//! (`every_route_is_described`).

use axum::http::Method;
use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use crate::AdminRoute;

/// What the document says about one operation beyond the route table.
struct Op {
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    /// Query parameters: the handler's query type, as JSON Schema.
    query: Option<Value>,
    /// The request body: content type → schema.
    body: Option<Value>,
    /// Success status, description, schema.
    ok: (u16, &'static str, Value),
    /// Other statuses the handler answers (beyond 401, 403, 503).
    errors: &'static [(u16, &'static str)],
}

fn schema<T: JsonSchema>() -> Value {
    let mut v = schemars::schema_for!(T).to_value();
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
    }
    v
}

fn object(description: &str) -> Value {
    json!({ "type": "object", "description": description })
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

/// `POST /api/validate` and `PUT /api/workflows/{id}`: YAML text, or JSON.
fn workflow_body() -> Value {
    let text = json!({ "type": "string", "description": "The workflow as YAML text (workflow-format.md)." });
    json!({
        "required": true,
        "description": "The workflow's source: YAML text, or JSON: `{\"yaml\": \"…\"}` or the workflow itself as \
                        an object (JSON is YAML; positions then refer to the JSON text).",
        "content": {
            "application/yaml": { "schema": text },
            "text/plain": { "schema": text },
            "application/json": { "schema": { "oneOf": [
                { "type": "object", "required": ["yaml"], "additionalProperties": false,
                  "properties": { "yaml": { "type": "string" } } },
                { "type": "object", "description": "The workflow as a JSON object." }
            ] } }
        }
    })
}

fn diagnostics_schema() -> Value {
    json!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["code", "severity", "message", "line", "column", "end_line", "end_column"],
            "properties": {
                "code": { "type": "string", "description": "A stable code (E0001…, W0001…)." },
                "severity": { "type": "string", "enum": ["error", "warning"] },
                "message": { "type": "string" },
                "label": { "type": "string" },
                "help": { "type": "string" },
                "file": { "type": "string" },
                "line": { "type": "integer", "minimum": 1 },
                "column": { "type": "integer", "minimum": 1 },
                "end_line": { "type": "integer", "minimum": 1 },
                "end_column": { "type": "integer", "minimum": 1 }
            }
        }
    })
}

fn describe(route: &AdminRoute) -> Option<Op> {
    use crate::admin::{AuditQuery, CreateToken};
    use crate::api::{BulkRetry, EventsQuery, RetryQuery, RunsQuery};
    let op = |id, tag, summary, ok: (u16, &'static str, Value)| Op {
        id,
        tag,
        summary,
        query: None,
        body: None,
        ok,
        errors: &[],
    };
    let m = &route.method;
    let o = match (m, route.path) {
        (&Method::GET, "/api/workflows") => op(
            "listWorkflows",
            "workflows",
            "The workflows that serve, with version, hash, trigger and refused changes",
            (200, "The workflows", object("`{workflows: [...], refused_files: [...]}`")),
        ),
        (&Method::GET, "/api/workflows/{id}") => Op {
            errors: &[(404, "No such workflow is serving")],
            ..op(
                "getWorkflow",
                "workflows",
                "One serving workflow as the console draws it: trigger (path, and URL under --public-url), \
                 steps with their `needs` and last status, runs by status over the last 24 h, the refused \
                 change of its file (diagnostics and source window)",
                (
                    200,
                    "The workflow",
                    object(
                        "`{id, version, hash, description, file, trigger: {kind, route, url, absolute, detail}, \
                         steps: [{id, name, kind, needs, if, foreach, on_failure, last_status, last_run}], \
                         last_runs_read, runs_last_day: {queued, running, succeeded, failed}, \
                         refused: null | {at, diagnostics, source_window}}`",
                    ),
                ),
            )
        },
        (&Method::GET, "/api/reloads") => op(
            "listReloads",
            "workflows",
            "The latest deploy outcomes (directory reloads and API deploys), newest first",
            (200, "The outcomes", object("`{reloads: [...]}`")),
        ),
        (&Method::PUT, "/api/workflows/{id}") => Op {
            body: Some(workflow_body()),
            errors: &[
                (200, "The same content already serves: nothing changed"),
                (400, "The body is not text, or its `id:` is not the path's"),
                (409, "The id or trigger path is served by a --workflows file or another workflow"),
                (422, "The workflow is invalid: `{error, valid: false, diagnostics}`; nothing changed"),
            ],
            ..op(
                "deployWorkflow",
                "builder",
                "Deploy a workflow over the API: validated, stored with its version, served at once",
                (
                    201,
                    "Deployed: new events start on this version",
                    json!({ "type": "object", "properties": {
                        "id": { "type": "string" }, "version": { "type": "integer" }, "hash": { "type": "string" },
                        "n": { "type": "integer", "description": "Its number among the stored versions" },
                        "previous": { "type": ["object", "null"] }, "unchanged": { "type": "boolean" },
                        "origin": { "const": "api" }, "warnings": diagnostics_schema() } }),
                ),
            )
        },
        (&Method::GET, "/api/workflows/{id}/versions") => Op {
            errors: &[(404, "No version of this workflow is stored")],
            ..op(
                "listWorkflowVersions",
                "builder",
                "Every stored version of a workflow, numbered from 1 in the order stored",
                (
                    200,
                    "The versions",
                    object("`{workflow, origin, serving, versions: [{n, version, hash, stored_at, serving}]}`"),
                ),
            )
        },
        (&Method::GET, "/api/workflows/{id}/versions/{n}") => Op {
            errors: &[(400, "`n` is not a number from 1"), (404, "No such version")],
            ..op(
                "getWorkflowVersion",
                "builder",
                "One stored version with its source and hash",
                (200, "The version", object("`{workflow, n, version, hash, stored_at, serving, source}`")),
            )
        },
        (&Method::POST, "/api/workflows/{id}/runs") => Op {
            body: Some(json!({ "required": false, "content": { "application/json": {
                "schema": { "type": "object", "description": "The event (`event.*` in the workflow)" } } } })),
            errors: &[(404, "No such workflow")],
            ..op("startRun", "runs", "Start a manual run", (202, "Queued", object("`{run_id, status}`")))
        },
        (&Method::GET, "/api/runs") => Op {
            query: Some(schema::<RunsQuery>()),
            ..op(
                "listRuns",
                "runs",
                "Runs, newest first, filtered and paged",
                (200, "The runs", object("`{runs, next_before}`")),
            )
        },
        (&Method::GET, "/api/runs/stream") => Op {
            query: Some(schema::<RunsQuery>()),
            errors: &[(400, "A bad filter")],
            ..op(
                "streamRuns",
                "runs",
                "The first page of `GET /api/runs` (same parameters) as server-sent events: an `event: runs` \
                 message at once and whenever the page changes (read every second); a comment every 15 s; \
                 the stream ends after 5 minutes (EventSource reconnects)",
                (200, "`text/event-stream`", object("each `data:` is `{runs, next_before}`")),
            )
        },
        (&Method::GET, "/api/overview") => op(
            "getOverview",
            "runs",
            "The figures of `/metrics` as JSON, for the console's overview charts: counters since start \
             (events by outcome, runs finished, retries, backlog refusals), step and accept latency \
             histograms, runs by status and the queue now",
            (
                200,
                "The figures",
                object(
                    "`{at, events, runs_finished, retries, backlog_refusals, step_latency: {buckets: [[le_ms, \
                     count]], count, sum_seconds}, accept_latency, runs, backlog: {queued, running}, workflows}`",
                ),
            ),
        ),
        (&Method::POST, "/api/runs/retry") => Op {
            body: Some(json_body(schema::<BulkRetry>())),
            ..op(
                "retryRuns",
                "runs",
                "Retry every failed run of a workflow in a time range",
                (202, "Re-queued", object("`{retried, run_ids, errors, version_used}`")),
            )
        },
        (&Method::GET, "/api/runs/{id}") => Op {
            errors: &[(404, "No such run")],
            ..op(
                "getRun",
                "runs",
                "One run with its steps and attempts",
                (200, "The run", object("`{run, steps, ...}`")),
            )
        },
        (&Method::GET, "/api/runs/{id}/event/raw") => Op {
            errors: &[(404, "No such run, or its event has no body")],
            ..op(
                "getRunEventRaw",
                "runs",
                "The body of a run's event exactly as received (a download)",
                (200, "The raw body, with its original Content-Type", json!({ "type": "string" })),
            )
        },
        (&Method::GET, "/api/runs/{id}/steps/{step}/output/raw") => Op {
            errors: &[(404, "No such run or step output, or the output holds no binary value")],
            ..op(
                "getStepOutputRaw",
                "runs",
                "The bytes of a step's binary output (e.g. a fetched PDF report), as a download",
                (200, "The bytes, with their Content-Type", json!({ "type": "string", "format": "binary" })),
            )
        },
        (&Method::POST, "/api/runs/{id}/retry") => Op {
            query: Some(schema::<RetryQuery>()),
            errors: &[(404, "No such run"), (409, "The run is not failed, or its workflow is gone")],
            ..op(
                "retryRun",
                "runs",
                "Retry one failed run (on the latest version, changed steps and their downstream re-run)",
                (202, "Re-queued", object("`{run_id, status, version_used, workflow, retries, reused, rerun}`")),
            )
        },
        (&Method::POST, "/api/events/{id}/redeliver") => Op {
            errors: &[(404, "No such event, or its workflow is not loaded")],
            ..op(
                "redeliverEvent",
                "events",
                "A new run from a stored event on the workflow's current version, past its dedupe key",
                (202, "Queued", object("`{run_id, status, redelivered}`")),
            )
        },
        (&Method::GET, "/api/events") => Op {
            query: Some(schema::<EventsQuery>()),
            ..op(
                "listEvents",
                "events",
                "Stored events with outcome and reason",
                (200, "The events", object("`{events, next_before}`")),
            )
        },
        (&Method::GET, "/api/events/{id}") => Op {
            errors: &[(404, "No such event")],
            ..op("getEvent", "events", "One stored event", (200, "The event", object("The event and its context")))
        },
        (&Method::GET, "/api/actions") => op(
            "listActions",
            "builder",
            "Every registered action and connection type, with its parameter JSON Schema, docs and an example",
            (
                200,
                "The registry",
                object(
                    "`{actions: [{kind, summary, docs, connection, example, params}], connection_types: [{name, summary, schema}]}`",
                ),
            ),
        ),
        (&Method::POST, "/api/validate") => Op {
            body: Some(workflow_body()),
            errors: &[(400, "The body is not UTF-8 text")],
            ..op(
                "validateWorkflow",
                "builder",
                "Validate a workflow: the diagnostics of `reqflow validate`, with line/column spans (changes nothing)",
                (
                    200,
                    "The result",
                    json!({ "type": "object", "required": ["valid", "diagnostics"], "properties": {
                        "valid": { "type": "boolean" }, "errors": { "type": "integer" },
                        "warnings": { "type": "integer" }, "diagnostics": diagnostics_schema(),
                        "workflow": { "type": ["object", "null"] } } }),
                ),
            )
        },
        (&Method::GET, "/api/connections") => op(
            "listConnections",
            "connections",
            "Each workflow's connections: type, configured or not, and what is known of the credentials \
             (connected, token age, last refresh, last error); never a secret",
            (
                200,
                "The connections",
                object("`{connections: [{workflow, name, type, status, problem?, checkable, connectable, state}]}`"),
            ),
        ),
        (&Method::POST, "/api/connections/{workflow}/{name}/test") => Op {
            errors: &[(404, "No such workflow or connection")],
            ..op(
                "testConnection",
                "connections",
                "Check a connection with a cheap authenticated read; the answer says ok or the failure class \
                 (auth, permission, network, tls, timeout, config, unexpected) with the message",
                (
                    200,
                    "The check's outcome",
                    object("`{workflow, connection, type, ok, class?, message, detail?, checked_at, elapsed_ms}`"),
                ),
            )
        },
        (&Method::POST, "/api/connections/{workflow}/{name}/connect") => Op {
            body: Some(json_body(schema::<crate::connections::ConnectBody>())),
            errors: &[
                (400, "The connection cannot be connected by OAuth, or is not configured"),
                (404, "No such workflow or connection"),
            ],
            ..op(
                "connectConnection",
                "connections",
                "Start an OAuth authorization-code grant: the authorize URL (with a random `state`, valid once \
                 for 10 minutes); the vendor redirects to `/connect/callback`, which stores the token encrypted",
                (
                    200,
                    "The authorize URL",
                    object("`{authorize_url, state, redirect_uri, workflow, connection, expires_at}`"),
                ),
            )
        },
        (&Method::GET, "/api/openapi.json") => op(
            "getOpenApi",
            "builder",
            "This document",
            (200, "The OpenAPI 3.1 document of the admin API", object("OpenAPI 3.1")),
        ),
        (&Method::GET, "/api/tokens") => op(
            "listTokens",
            "access",
            "API tokens (names, scopes, expiry; never the tokens)",
            (200, "The tokens", object("`{tokens}`")),
        ),
        (&Method::POST, "/api/tokens") => Op {
            body: Some(json_body(schema::<CreateToken>())),
            errors: &[(400, "Unknown scope, bad expiry, or an active token has this name")],
            ..op(
                "createToken",
                "access",
                "Create a token (shown once)",
                (201, "Created", object("`{name, scope, expires_at, token}`")),
            )
        },
        (&Method::DELETE, "/api/tokens/{name}") => Op {
            errors: &[(404, "No active token of this name")],
            ..op("revokeToken", "access", "Revoke a token", (200, "Revoked", object("`{name, revoked: true}`")))
        },
        (&Method::GET, "/api/audit") => Op {
            query: Some(schema::<AuditQuery>()),
            ..op(
                "listAudit",
                "access",
                "The audit trail, newest first",
                (200, "The records", object("`{audit, next_before}`")),
            )
        },
        (&Method::GET, "/api/subjects/{subject}") => op(
            "exportSubject",
            "subjects",
            "Everything held about one subject (a value of the workflows' `subject:`, e.g. an email): its events, runs, step results and attempts, secrets masked. Audited with the subject's keyed hash, never its value",
            (200, "The document", object("`{subject_hash, exported_at, events, runs}`")),
        ),
        (&Method::DELETE, "/api/subjects/{subject}") => op(
            "eraseSubject",
            "subjects",
            "Erase one subject in every workflow: its runs still queued or running are cancelled, then its events, runs, attempts, step results and dedupe keys are deleted. Audited with the counts and the keyed hash, never the value",
            (
                200,
                "Erased",
                object(
                    "`{subject_hash, deleted: {events, runs, cancelled, attempts, step_results, dedupe_keys, blobs}, total}`",
                ),
            ),
        ),
        (&Method::GET, "/metrics") => op(
            "getMetrics",
            "operations",
            "Prometheus metrics",
            (200, "Prometheus text format 0.0.4", json!({ "type": "string" })),
        ),
        (&Method::GET, "/console/session") => op(
            "getConsoleSession",
            "access",
            "Who is calling and with what scope; for a console session cookie, the CSRF token its state changes must send in `X-Reqflow-CSRF`",
            (200, "The caller", object("`{actor, scope, csrf}` (`csrf` is null with a bearer token)")),
        ),
        _ => return None,
    };
    Some(o)
}

/// Path parameters of `path` (`{id}` → `id`).
fn path_params(path: &str) -> Vec<&str> {
    path.split('/').filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect()
}

/// Query parameters from a query type's schema: one per property.
fn query_params(schema: &Value) -> Vec<Value> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else { return Vec::new() };
    let required: Vec<&str> =
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    props
        .iter()
        .map(|(name, s)| {
            let mut s = s.clone();
            let description = s.as_object_mut().and_then(|o| o.remove("description"));
            let mut p =
                json!({ "name": name, "in": "query", "required": required.contains(&name.as_str()), "schema": s });
            if let Some(d) = description {
                p["description"] = d;
            }
            p
        })
        .collect()
}

fn operation(route: &AdminRoute, op: Op) -> Value {
    let mut params: Vec<Value> = path_params(route.path)
        .into_iter()
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    if let Some(q) = &op.query {
        params.extend(query_params(q));
    }
    let mut responses = Map::new();
    responses.insert(
        op.ok.0.to_string(),
        json!({ "description": op.ok.1, "content": { content_type(route.path): { "schema": op.ok.2 } } }),
    );
    for (status, description) in op.errors {
        responses.insert(status.to_string(), json!({ "description": description }));
    }
    responses.insert("401".into(), json!({ "$ref": "#/components/responses/Unauthorized" }));
    responses.insert("403".into(), json!({ "$ref": "#/components/responses/Forbidden" }));
    responses.insert("503".into(), json!({ "$ref": "#/components/responses/Unavailable" }));
    let scope = route.scope.as_str();
    let mut description = format!("Needs a token of scope `{scope}` or larger.");
    if route.subject_access {
        description
            .push_str(" A `read` or `operate` token issued with subject access (`--subject-access`) may call it too.");
    }
    if let Some(a) = route.audit {
        description.push_str(&format!(" Audited as `{a}` (also when refused for its scope)."));
    }
    let mut v = json!({
        "operationId": op.id,
        "tags": [op.tag],
        "summary": op.summary,
        "description": description,
        "security": [{ "bearer": [] }],
        "x-reqflow-scope": scope,
        "x-reqflow-audit": route.audit,
        "responses": responses,
    });
    if route.subject_access {
        v["x-reqflow-subject-access"] = Value::Bool(true);
    }
    if !params.is_empty() {
        v["parameters"] = Value::Array(params);
    }
    if let Some(b) = op.body {
        v["requestBody"] = b;
    }
    v
}

fn content_type(path: &str) -> &'static str {
    match path {
        "/metrics" | "/api/runs/{id}/event/raw" => "text/plain",
        "/api/runs/stream" => "text/event-stream",
        "/api/runs/{id}/steps/{step}/output/raw" => "application/octet-stream",
        _ => "application/json",
    }
}

/// Why the document cannot be generated.
#[derive(Debug, thiserror::Error)]
#[error("admin route `{method} {path}` has no description in openapi.rs")]
pub struct Undescribed {
    /// The route's method.
    pub method: String,
    /// The route's path.
    pub path: &'static str,
}

/// The document, or the first route of the table that has no description.
pub fn try_document() -> Result<Value, Undescribed> {
    let mut paths = Map::new();
    for route in crate::admin_routes() {
        let op = describe(&route).ok_or_else(|| Undescribed { method: route.method.to_string(), path: route.path })?;
        let entry = paths.entry(route.path.to_owned()).or_insert_with(|| json!({}));
        entry[route.method.as_str().to_ascii_lowercase()] = operation(&route, op);
    }
    Ok(json!({
        "openapi": "3.1.0",
        "info": {
            "title": "reqflow admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The admin plane of `reqflow serve` (`--admin-listen`): runs, events, workflows, the \
                            Builder API, tokens and the audit trail. Every route needs an API token \
                            (`Authorization: Bearer rft_…`, `reqflow tokens create`) of the scope it names \
                            (`read` < `operate` < `admin`). Generated from the route table; see docs/security.md.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" }
        },
        "servers": [{ "url": "http://127.0.0.1:8081", "description": "The default --admin-listen" }],
        "tags": [
            { "name": "builder", "description": "What a workflow builder embeds reqflow for" },
            { "name": "workflows" }, { "name": "runs" }, { "name": "events" },
            { "name": "access", "description": "Tokens and the audit trail (admin scope)" },
            { "name": "subjects", "description": "Everything held about one person: access (admin, or a token with subject access) and erasure (admin)" },
            { "name": "operations" }
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token `rft_…`; each operation names the scope it needs (`x-reqflow-scope`)."
                }
            },
            "responses": {
                "Unauthorized": { "description": "No token, or an unknown, revoked or expired one (`WWW-Authenticate: Bearer`)" },
                "Forbidden": { "description": "The token's scope is too small; the answer names the scope needed" },
                "Unavailable": { "description": "The store is unavailable or the engine overloaded (`Retry-After`)" }
            }
        }
    }))
}

/// The document. A route without a description is a bug caught by the unit
/// test below; here it yields a document saying so.
pub fn document() -> Value {
    try_document().unwrap_or_else(|e| json!({ "error": e.to_string() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described() {
        let doc = try_document().expect("every route is described");
        assert_eq!(doc["openapi"], "3.1.0");
        let n: usize =
            doc["paths"].as_object().expect("paths").values().map(|p| p.as_object().map_or(0, Map::len)).sum();
        assert_eq!(n, crate::admin_routes().len());
    }
}
