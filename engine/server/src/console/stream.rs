//! `GET /api/runs/stream`: the first page of `GET /api/runs` (same query
//! parameters) as server-sent events, for the console's live runs list.
//!
//! An `event: runs` message carries the page (`{"runs", "next_before"}`) at
//! once and again whenever it changes (a new run, a status change, a run
//! finishing): the server reads the page every [`CHECK`] — one indexed
//! query — and sends it only when it differs from the last one sent. A
//! comment line every [`KEEPALIVE`] keeps proxies from closing a quiet
//! stream. Each stream ends after [`LIFETIME`] (the browser's `EventSource`
//! reconnects by itself, `retry: 1000`), so a stream never holds a
//! connection or a token check for long; and it ends at once when the
//! listener shuts down (`edge::Draining`), so an open console does not hold
//! up a `serve` shutdown.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::sse::{Event, Sse};
use futures_util::Stream;
use futures_util::stream;
use serde_json::{Value, json};

use crate::AppState;
use crate::api::{RunsQuery, runs_page};
use crate::edge::Draining;
use crate::error::ApiError;

/// How often the page is read.
const CHECK: Duration = Duration::from_secs(1);
/// A comment at least this often.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// How long one stream lasts before the browser reconnects.
const LIFETIME: Duration = Duration::from_secs(300);

struct Cursor {
    state: AppState,
    query: RunsQuery,
    last: Option<String>,
    started: Instant,
    first: Option<Value>,
    draining: Option<Draining>,
}

fn runs_event(page: &Value, data: String) -> Event {
    let n = page["runs"].as_array().map_or(0, Vec::len);
    Event::default().event("runs").id(n.to_string()).retry(Duration::from_secs(1)).data(data)
}

/// `GET /api/runs/stream`: 400 at once for a bad filter, else the stream.
pub(crate) async fn stream(
    State(state): State<AppState>,
    draining: Option<Extension<Draining>>,
    Query(query): Query<RunsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let first = runs_page(&state, query.clone()).await?;
    let draining = draining.map(|Extension(d)| d);
    let cursor = Cursor { state, query, last: None, started: Instant::now(), first: Some(first), draining };
    let events = stream::unfold(cursor, |mut c| async move {
        if let Some(page) = c.first.take() {
            let data = page.to_string();
            c.last = Some(data.clone());
            return Some((Ok(runs_event(&page, data)), c));
        }
        let quiet_since = Instant::now();
        loop {
            if c.started.elapsed() >= LIFETIME || c.draining.as_ref().is_some_and(Draining::now) {
                return None;
            }
            match c.draining.as_mut() {
                Some(d) => {
                    tokio::select! {
                        () = tokio::time::sleep(CHECK) => {}
                        () = d.wait() => return None,
                    }
                }
                None => tokio::time::sleep(CHECK).await,
            }
            match runs_page(&c.state, c.query.clone()).await {
                Ok(page) => {
                    let data = page.to_string();
                    if c.last.as_deref() != Some(data.as_str()) {
                        c.last = Some(data.clone());
                        return Some((Ok(runs_event(&page, data)), c));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "console: the runs stream could not read the page");
                    let data = json!({ "error": e.to_string() }).to_string();
                    return Some((Ok(Event::default().event("failure").data(data)), c));
                }
            }
            if quiet_since.elapsed() >= KEEPALIVE {
                return Some((Ok(Event::default().comment("keep-alive")), c));
            }
        }
    });
    Ok(Sse::new(events))
}
