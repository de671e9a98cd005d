//! reqflow's integration tests: one binary (`cargo test --test it`).
//!
//! - `accept`: the one accept path: bodies at the nesting limit read back, one past refused; an
//!   event whose `dedupe:` cannot be evaluated stored as `invalid`; an undecodable run fails alone;
//! - `events`: every stored event listed (`GET /api/events`, `reqflow events list|show`) with its
//!   outcome (accepted, ignored, duplicate, invalid), reason and run; filters, paging; `runs list
//!   --status` offers only run statuses;
//! - `compile`: golden tests over `tests/data/compile/{ok,err}` (diagnostics
//!   snapshotted, so their wording is reviewed like code);
//! - `cli`: the real `reqflow` binary: exit codes, formats, hostile input;
//! - `schema`: the checked-in JSON Schema is current and accepts the examples;
//! - `serve`: the runtime end to end (`reqflow serve`, SQLite and PostgreSQL);
//! - `quickstart`, `seeds`: the shipped workflows through `reqflow serve` + `reqflow sandbox`;
//! - `crash`, `outage`, `overload`: `kill -9` under load, downstream outages, load over capacity;
//! - `hosts` (on `netns`): PostgreSQL, the sandbox and three `serve` processes on separate network
//!   namespaces; one `kill -9`ed under load: one run per accepted event, duplicates only from calls
//!   in flight, its runs taken over after its lease, a schedule fired once per slot (root only);
//! - `security`: refused credentials store nothing, hostile XML gets a fault, secrets never leak;
//! - `admin`: every admin route needs a valid token of the right scope (401/403, nothing
//!   changed); tokens kept as hashes; the audit trail; `/metrics` and `--admin-listen same`;
//! - `edge`: idle/slow clients past the connection cap, unauthenticated and stalled bodies
//!   (RSS flat), graceful shutdown, a full disk (503 + Retry-After), a hung PostgreSQL;
//! - `retry`: a retry follows a fix (changed steps and their downstream re-run, the rest reused);
//!   `runs retry --from STEP --workflows DIR`;
//! - `logs`: what `serve` logs in text and JSON: one line per run end (a failure with its step,
//!   class and message), retries scheduled, span fields; no secret in either format; a
//!   schedule lacking settings does not fire, and says so once;
//! - `at_rest`: connection credentials are encrypted in the store, database files are private.
//! - `vars`: settings that are not secrets, shown as they are; the short-secret warning.
//! - `tls`: `serve --tls-cert/--tls-key` and `--admin-tls-*` with a real TLS client: HTTPS only,
//!   stalled handshakes closed at the header timeout, clear startup errors.
//! - `reload`: deploys without restart: a changed file deployed within 2 s while a run in flight
//!   keeps its version; an invalid change refused (the old version serves, diagnostics in the log
//!   and the API); a removed file's route 404s; `--no-watch` and `SIGHUP`.
//! - `builder`: the Builder API: validate with positions, `GET /api/actions`, deploy over HTTP
//!   (`PUT /api/workflows/{id}`), versions, a run on the new version, clashes with the directory
//!   refused (409, the watcher, at start), the deploy kept across a restart; the OpenAPI document
//!   matches `admin_routes()` and the committed `schemas/openapi.json`.
//! - `console`: the web console on the admin listener: its unauthenticated routes serve no data,
//!   cookie sessions with CSRF-checked state changes, logout; no asset names another host; a
//!   real Chromium (playwright-core) logs in, reads a failed run, retries it after a fix on the
//!   latest version, and checks the read scope; screenshots in `target/console-screenshots/`.
//! - `replay`: `reqflow replay` of real signed webhooks through edited copies of a workflow: the
//!   vendor receives nothing; unchanged → all unchanged; a changed `map:` field reported per event
//!   (old → new); a new action step not sent; a failing change counted newly failing; `--json`.
//! - `lifecycle`: candidate data under control, both stores: a webhook body stored once (old
//!   databases migrated); `subject:` indexed as keyed hashes, runs listed by subject; access
//!   (`GET /api/subjects/{v}`, `reqflow export`) and erasure (`DELETE …`, `reqflow erase`: a run
//!   in flight cancelled, no trace in the SQLite file/WAL or any PostgreSQL row, audited without
//!   the value); retention with a test clock (`reqflow purge --at`), run counts kept.
//! - `connections`: `reqflow connect workday` (the authorization-code grant against the sandbox:
//!   wrong state, reused code, unregistered redirect URI refused; the refresh token stored
//!   encrypted and used by `serve` on the next start; SQLite and PostgreSQL), the admin API's
//!   connect and callback, connection checks (ok, auth, permission naming the domain, network,
//!   config) from the CLI, the API and `serve --check-connections`, `connections list`.
//! - `binary`: binary payloads: a PDF and a random 1 MiB file fetched by `http.request` arrive
//!   byte-identical in the sandbox's Workday and Workable (SQLite and PostgreSQL); the run shows
//!   `{content_type, size, sha256}` and serves the bytes raw; the v26.1 body with a binary file
//!   validates against the XSD; a binary put into text fails clearly; stored once (about 1 MiB).
//! - `db_budget`: the PostgreSQL connection budget: `serve` stays within the URL's
//!   `max_connections` under load; without a connection a trigger gets 503 + `Retry-After`
//!   within `accept_timeout`; every event answered 202 is stored and run.
//! - `backlog`: each workflow's share of `--max-backlog`: a flood of manual runs on one
//!   workflow gets 503 naming it while another's signed webhooks are accepted.
//! - `subscriptions`: managed Workable subscriptions (`subscribe:`): `reqflow subscriptions sync`
//!   creates, is idempotent, adopts a 409, renews, removes (SQLite and PostgreSQL); through
//!   `serve --public-url`, a candidate moved in the sandbox reaches a run with a checked
//!   signature; `serve --demo` succeeds with nothing set and ignores the user's settings.

mod accept;
mod admin;
mod at_rest;
mod backlog;
mod binary;
mod builder;
mod cli;
mod compile;
mod connections;
mod console;
mod crash;
mod db_budget;
mod edge;
mod events;
mod harness;
mod hosts;
mod lifecycle;
mod logs;
mod netns;
mod outage;
mod overload;
mod quickstart;
mod reload;
mod replay;
mod retry;
mod runtime_more;
mod schema;
mod security;
mod seeds;
mod serve;
mod subscriptions;
mod tls;
mod vars;

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of a file under `tests/data`.
pub fn data(rel: &str) -> PathBuf {
    root().join("tests/data").join(rel)
}

/// The built `reqflow` binary.
pub fn reqflow() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_reqflow"));
    c.current_dir(root());
    c
}

/// The registry the binary uses.
pub fn registry() -> reqflow_engine::action::Registry {
    let mut r = reqflow_engine::action::Registry::new();
    reqflow_actions::register_builtins(&mut r);
    r
}

/// A path relative to the repository root, with `/` separators (stable in snapshots).
pub fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).to_string_lossy().replace('\\', "/")
}
