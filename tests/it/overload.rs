//! Overload: offered load far above what the engine may hold. With workers
//! off and `--max-backlog` small, many concurrent senders push webhooks as
//! fast as they can: what is over the bound gets `503` with `Retry-After`,
//! every `202` is a stored run (nothing accepted is dropped), and the
//! process's peak memory stays bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use crate::harness::{Serve, get, try_http, workflow_dir};

const TOKEN: &str = "overload-token";

const WORKFLOW: &str = r#"id: overload
trigger:
  webhook:
    path: overload/hook
    auth: { bearer: "{{ secrets.HOOK_TOKEN }}" }
steps:
  - id: fields
    map: { id: $.event.body.id }
"#;

/// Peak resident memory of a process, from /proc (Linux), in MiB.
fn peak_rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb / 1024)
}

#[test]
fn load_over_capacity_gets_503_with_retry_after_and_nothing_accepted_is_dropped() {
    let backlog = 2000;
    let (dir, db) = workflow_dir("overload", "overload", WORKFLOW);
    let serve = Serve::start_with(
        crate::harness::free_port(),
        &dir.join("workflows"),
        &db,
        &[("REQFLOW_SECRET_HOOK_TOKEN", TOKEN)],
        &dir,
        &["--no-workers", "--max-backlog", &backlog.to_string()],
    );
    let port = serve.port;
    let (accepted, refused, no_retry_after) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let offered = 8000;
    let senders: Vec<_> = (0..16)
        .map(|t| {
            let (accepted, refused, no_retry_after) = (accepted.clone(), refused.clone(), no_retry_after.clone());
            std::thread::spawn(move || {
                let auth = format!("Bearer {TOKEN}");
                let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
                for i in (t..offered).step_by(16) {
                    let body = json!({ "id": i }).to_string();
                    let r = try_http(port, "POST", "/hooks/overload/hook", &headers, body.as_bytes()).expect("answer");
                    match r.status {
                        202 => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                        503 => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            if r.header("retry-after").is_none() {
                                no_retry_after.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        other => panic!("unexpected {other}: {}", r.body),
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.join().expect("sender");
    }
    let (accepted, refused) = (accepted.load(Ordering::Relaxed), refused.load(Ordering::Relaxed));
    assert_eq!(accepted + refused, offered);
    assert!(refused > 0, "load over the bound is refused");
    assert_eq!(no_retry_after.load(Ordering::Relaxed), 0, "every 503 says when to come back");
    // The bound is checked against the queue depth, refreshed as batches commit: a little slack.
    assert!(accepted >= backlog && accepted <= backlog + 1000, "accepted {accepted} with a backlog bound of {backlog}");
    let health = get(port, "/healthz").json();
    assert_eq!(health["queued"], accepted, "every 202 is a stored, queued run: {health}");
    let rss = peak_rss_mib(serve.child.id()).unwrap_or(0);
    assert!(rss < 200, "peak RSS {rss} MiB under overload");
}
