//! Crash test: webhooks keep arriving while `reqflow serve` is `kill -9`ed
//! and restarted, again and again. Every event answered 202 (or, when the
//! answer was lost in the kill, 200 `duplicate` on the client's resend) must
//! end in exactly one succeeded run whose writebacks reached the sandbox:
//! - the invite carries an `Idempotency-Key` (the sandbox's vendor honours
//!   it): zero duplicate effects;
//! - the comment has no idempotency mechanism: a duplicate may only come from
//!   a call in flight at a kill, so every duplicated comment must belong to a
//!   run whose comment step has an `interrupted` attempt.
//!
//! Size: `REQFLOW_CRASH_EVENTS` (default 1,500) and `REQFLOW_CRASH_KILLS`
//! (default 3); `scripts/crash-test.sh` runs the 10,000 events and
//! 10 kills on a release build.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{
    KILL_HOOK_TOKEN, Serve, VendorEffects, all_runs, deliver, env_usize, free_port, kill_workflow, loopback, sandbox,
    wait_idle, workflow_dir,
};

#[test]
fn kill_9_under_load_loses_nothing_and_duplicates_only_calls_in_flight() {
    let events = env_usize("REQFLOW_CRASH_EVENTS", 1500);
    let kills = env_usize("REQFLOW_CRASH_KILLS", 3);
    let sb = sandbox();
    let (dir, db) = workflow_dir("crash", "crash", &kill_workflow("crash", &format!("http://127.0.0.1:{}", sb.1)));
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).expect("logs");
    let port = free_port();
    let env = [("REQFLOW_SECRET_HOOK_TOKEN", KILL_HOOK_TOKEN)];
    let start = || Serve::start_with(port, &dir.join("workflows"), &db, &env, &logs, &["--lease", "2s"]);
    let mut serve = start();

    let sent = Arc::new(AtomicUsize::new(0));
    let runs: Arc<Mutex<HashMap<String, String>>> = Arc::new(Mutex::new(HashMap::new()));
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let (sent, runs) = (sent.clone(), runs.clone());
            std::thread::spawn(move || {
                for i in (t..events).step_by(4) {
                    let id = format!("ev-{i}");
                    let run = deliver(&[loopback(port)], 0, "crash", &id);
                    runs.lock().expect("lock").insert(id, run);
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for k in 1..=kills {
        let due = events * k / (kills + 1);
        while sent.load(Ordering::Relaxed) < due {
            std::thread::sleep(Duration::from_millis(5));
        }
        serve.kill9();
        serve = start();
    }
    for s in senders {
        s.join().expect("sender");
    }

    // Every accepted event ends in exactly one succeeded run.
    wait_idle(port, Duration::from_secs(300));
    let accepted = runs.lock().expect("lock").clone();
    assert_eq!(accepted.len(), events, "every event was answered");
    let stored = all_runs(&serve, "workflow=crash");
    assert_eq!(stored.len(), events, "one run per event, no more");
    let not_ok: Vec<&Value> = stored.iter().filter(|r| r["status"] != "succeeded").collect();
    assert!(not_ok.is_empty(), "{} runs did not succeed: {:#?}", not_ok.len(), &not_ok[..not_ok.len().min(3)]);
    let stored_ids: std::collections::HashSet<&str> = stored.iter().filter_map(|r| r["run_id"].as_str()).collect();
    assert!(accepted.values().all(|r| stored_ids.contains(r.as_str())), "each answer's run_id is a stored run");

    // What reached the sandbox.
    let effects = VendorEffects::fetch(loopback(sb.1));
    let dup_comments = effects.check(&accepted, &serve);
    eprintln!(
        "crash test: {events} events, {kills} kills; invites: 0 duplicate effects ({} replays answered by key); \
         comments: {dup_comments} duplicated (each from a call in flight at a kill)",
        effects.replays
    );
}
