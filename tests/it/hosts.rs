//! Scale-out across hosts: PostgreSQL, the sandbox (the vendors) and two or
//! three `reqflow serve` processes each on its own "host" — a network
//! namespace of this machine (`netns`), real TCP between them over a bridge.
//! The test process is the load balancer and the load: it sends signed
//! webhooks to every serve in turn (on a refused connection, to the next
//! one), `kill -9`s one serve mid-load, and shows:
//! - every accepted event (202, or 200 `duplicate` when a resend follows a
//!   lost answer) ends in exactly one run, succeeded;
//! - no step is executed twice except calls in flight at the kill: the
//!   invite (with an `Idempotency-Key`) never creates two writes; a comment
//!   (no key) is made twice only by a run whose `comment` attempt was
//!   interrupted (counted, as in `crash`);
//! - the survivors take over the dead one's runs after its lease (`--lease
//!   2s`), not before: the runs it held are read from the `queue` table at
//!   the kill, each with the end of its lease, and watched until another
//!   process holds or finishes them;
//! - a schedule (`every: 1s`) fires once per slot across the processes: one
//!   event and one run per slot, each slot in one process's log, slots after
//!   the kill fired by the survivors.
//!
//! It needs root, `ip` and PostgreSQL's server binaries; elsewhere it skips
//! with a SKIPPED line (`REQFLOW_REQUIRE_NETNS=1`: fails instead, as in CI).
//! Size: `REQFLOW_HOSTS_EVENTS` (default 600), `REQFLOW_HOSTS_SERVES`
//! (default 3), `REQFLOW_HOSTS_LEASE_S` (default 2); `scripts/hosts-test.sh`
//! runs it longer on a release build.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::harness::{
    KILL_HOOK_TOKEN, Sandbox, Serve, VendorEffects, all_runs, deliver, env_usize, http_to, kill_workflow,
    spawn_sandbox, temp_dir, wait_idle_at,
};
use crate::netns::{Net, Postgres, Prereqs};

const TICK: &str = "id: tick\ntrigger: { schedule: { every: 1s } }\nsteps:\n  - id: slot\n    map: { at: \"{{ event.scheduled_at }}\" }\n";

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Every event of a workflow (`GET /api/events`, all pages).
fn all_events(serve: &Serve, workflow: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut before = String::new();
    loop {
        let page = serve.api(&format!("/api/events?workflow={workflow}&limit=1000{before}")).json();
        out.extend(page["events"].as_array().cloned().unwrap_or_default());
        match page["next_before"].as_str() {
            Some(b) => before = format!("&before={b}"),
            None => return out,
        }
    }
}

/// The slots a serve's log says it fired (`schedule fired … slot=…`).
fn fired_slots(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("schedule fired"))
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("slot=")))
        .map(|s| s.trim_matches('"').to_owned())
        .collect()
}

/// The runs a process holds (its worker id is `{HOSTNAME}-{pid}-{random}`):
/// run id → end of its lease (Unix ms).
fn leases(pg: &Postgres, owner: &str) -> HashMap<String, i64> {
    pg.query(&format!("SELECT run_id, due_at FROM queue WHERE lease_owner LIKE '{owner}-%'"))
        .lines()
        .filter_map(|l| l.split_once('|'))
        .filter_map(|(id, due)| Some((id.to_owned(), due.parse().ok()?)))
        .collect()
}

#[test]
fn serves_on_separate_hosts_share_one_postgres_and_take_over_after_a_kill_9() {
    let test = "serves_on_separate_hosts_share_one_postgres_and_take_over_after_a_kill_9";
    let Some(prereqs) = Prereqs::check(test) else { return };
    let Some(mut net) = Net::create(test) else { return };
    let events = env_usize("REQFLOW_HOSTS_EVENTS", 600);
    let n_serves = env_usize("REQFLOW_HOSTS_SERVES", 3).max(2);
    let lease_s = env_usize("REQFLOW_HOSTS_LEASE_S", 2).max(1);
    let lease = format!("{lease_s}s");

    // The hosts: the database, the vendors, the engines.
    let db_host = net.host("db");
    let pg = Postgres::start(&prereqs, &db_host, &net.cidr());
    let vendors = net.host("vendors");
    let sandbox_addr = SocketAddr::new(vendors.ip, 8090);
    let _sandbox = Sandbox(spawn_sandbox(&vendors.launch(), 8090), 8090);
    // Comments take a while, so that runs are in flight at the kill.
    let faults = json!({ "delay_ms": 150, "path_prefix": "/vendor/comments" }).to_string();
    let r =
        http_to(sandbox_addr, "POST", "/_sandbox/faults", &[("Content-Type", "application/json")], faults.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);

    let dir = temp_dir("hosts");
    std::fs::create_dir_all(dir.join("workflows")).expect("workflows dir");
    std::fs::write(dir.join("workflows/hosts.yaml"), kill_workflow("hosts", &format!("http://{sandbox_addr}")))
        .expect("workflow");
    std::fs::write(dir.join("workflows/tick.yaml"), TICK).expect("workflow");
    let mut serves: Vec<(String, Serve)> = (1..=n_serves)
        .map(|i| {
            let host = net.host(&format!("serve{i}"));
            let hostname = format!("host{i}");
            let env = [("REQFLOW_SECRET_HOOK_TOKEN", KILL_HOOK_TOKEN), ("HOSTNAME", hostname.as_str())];
            let args = ["--lease", lease.as_str(), "--concurrency", "32"];
            let serve = Serve::start_on(&host.launch(), 8080, &dir.join("workflows"), &pg.url, &env, &dir, &args);
            (hostname, serve)
        })
        .collect();
    let targets: Vec<SocketAddr> = serves.iter().map(|(_, s)| s.public()).collect();

    // The load: every serve in turn, from the root namespace.
    let sent = Arc::new(AtomicUsize::new(0));
    let accepted: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let load_start = Instant::now();
    let senders: Vec<_> = (0..6)
        .map(|t| {
            let (sent, accepted, targets) = (sent.clone(), accepted.clone(), targets.clone());
            std::thread::spawn(move || {
                for i in (t..events).step_by(6) {
                    let id = format!("ev-{i}");
                    let run = deliver(&targets, i, "hosts", &id);
                    accepted.lock().expect("lock").insert(id, run);
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // `kill -9` the second serve once 40% is sent and it holds runs.
    let victim = 1;
    let owner = format!("{}-{}", serves[victim].0, serves[victim].1.child.id());
    let deadline = Instant::now() + Duration::from_secs(120);
    while sent.load(Ordering::Relaxed) < events * 2 / 5 || leases(&pg, &owner).len() < 2 {
        assert!(Instant::now() < deadline, "the victim never held runs under load ({owner})");
        std::thread::sleep(Duration::from_millis(50));
    }
    serves[victim].1.kill9();
    let killed_at = now_ms();
    let killed_after = load_start.elapsed();
    let held = leases(&pg, &owner);
    assert!(!held.is_empty(), "the killed serve held runs");

    // Watch its runs until the others have them: never before its lease ended.
    let mut taken: HashMap<String, i64> = HashMap::new();
    let watch_deadline = Instant::now() + Duration::from_secs(lease_s as u64 + 60);
    while taken.len() < held.len() {
        assert!(Instant::now() < watch_deadline, "runs of the killed serve were not taken over: {held:?}");
        let still = leases(&pg, &owner);
        let seen = now_ms();
        for (run, due) in &held {
            if !still.contains_key(run) && !taken.contains_key(run) {
                assert!(seen >= *due, "run {run} taken over at {seen} before its lease ended at {due}");
                taken.insert(run.clone(), seen);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let takeover_s = (taken.values().max().copied().unwrap_or(killed_at) - killed_at) as f64 / 1000.0;
    let first_due_s = (held.values().min().copied().unwrap_or(killed_at) - killed_at) as f64 / 1000.0;
    let last_due_s = (held.values().max().copied().unwrap_or(killed_at) - killed_at) as f64 / 1000.0;

    for s in senders {
        s.join().expect("sender");
    }
    let load_s = load_start.elapsed().as_secs_f64();
    let survivor = &serves[0].1;
    wait_idle_at(survivor.public(), Duration::from_secs(300));

    // Every accepted event ends in exactly one succeeded run.
    let accepted = accepted.lock().expect("lock").clone();
    assert_eq!(accepted.len(), events, "every event was answered");
    let stored = all_runs(survivor, "workflow=hosts");
    assert_eq!(stored.len(), events, "one run per event, no more");
    let status: HashMap<&str, &str> =
        stored.iter().filter_map(|r| Some((r["run_id"].as_str()?, r["status"].as_str()?))).collect();
    let not_ok: Vec<_> = status.iter().filter(|(_, s)| **s != "succeeded").collect();
    assert!(not_ok.is_empty(), "{} runs did not succeed: {:?}", not_ok.len(), &not_ok[..not_ok.len().min(5)]);
    assert!(accepted.values().all(|r| status.contains_key(r.as_str())), "each answer's run_id is a stored run");
    let distinct: HashSet<&String> = accepted.values().collect();
    assert_eq!(distinct.len(), events, "no two events share a run");
    for run in held.keys() {
        let s = survivor.api(&format!("/api/runs/{run}")).json();
        assert_eq!(s["run"]["status"], "succeeded", "a run of the killed serve finished elsewhere: {s}");
    }

    // Effects at the vendors: only calls in flight at the kill made twice.
    let effects = VendorEffects::fetch(sandbox_addr);
    let dup_comments = effects.check(&accepted, survivor);

    // The schedule: runs first, then events (a later slot's run may follow).
    let tick_runs = all_runs(survivor, "workflow=tick");
    let tick_events = all_events(survivor, "tick");
    let mut per_slot: BTreeMap<i64, usize> = BTreeMap::new();
    for e in &tick_events {
        assert_eq!(e["outcome"], "accepted", "a schedule event starts a run: {e}");
        *per_slot.entry(e["received_at_ms"].as_i64().expect("received_at_ms")).or_default() += 1;
    }
    let twice: Vec<_> = per_slot.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "slots fired more than once: {twice:?}");
    let event_runs: HashSet<&str> = tick_events.iter().filter_map(|e| e["run_id"].as_str()).collect();
    assert_eq!(event_runs.len(), tick_events.len(), "one run per slot");
    for r in &tick_runs {
        let id = r["run_id"].as_str().unwrap_or_default();
        assert!(event_runs.contains(id), "run {id} of `tick` has its slot's event");
    }
    let mut fired_by: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, (_, s)) in serves.iter().enumerate() {
        for slot in fired_slots(&s.log_text()) {
            fired_by.entry(slot).or_default().push(i);
        }
    }
    let in_two: Vec<_> = fired_by.iter().filter(|(_, by)| by.len() > 1).collect();
    assert!(in_two.is_empty(), "a slot fired by two processes: {in_two:?}");
    assert!(fired_by.len() >= per_slot.len().saturating_sub(1), "each slot's firing is logged: {fired_by:?}");
    let after_kill = per_slot.keys().filter(|s| **s > killed_at + 1000).count();
    assert!(after_kill > 0, "the survivors keep the schedule after the kill");
    let (first, last) = (per_slot.keys().next().copied().unwrap_or(0), per_slot.keys().last().copied().unwrap_or(0));
    let seconds = ((last - first) / 1000 + 1) as usize;
    assert!(
        per_slot.len() * 2 >= seconds,
        "the schedule fired {} of {seconds} slots from {first} to {last}",
        per_slot.len()
    );
    let mut by_process = vec![0usize; serves.len()];
    for by in fired_by.values() {
        by_process[by[0]] += 1;
    }

    eprintln!(
        "hosts test: PostgreSQL, the sandbox and {n_serves} serves on {} network namespaces; {events} events in {load_s:.1} s \
         → {} runs, all succeeded, one per event; kill -9 of serve {} after {:.1} s: it held {} runs (leases ending \
         {first_due_s:.1}–{last_due_s:.1} s after the kill), all taken over by the survivors within {takeover_s:.1} s \
         (lease {lease}); invites: 0 duplicate effects ({} replays answered by key); comments: {dup_comments} made twice, \
         each by a call in flight at the kill; schedule every 1s: {} slots in {seconds} s, each fired once (by process: \
         {by_process:?}), {after_kill} after the kill",
        n_serves + 2,
        stored.len(),
        victim + 1,
        killed_after.as_secs_f64(),
        held.len(),
        effects.replays,
        per_slot.len(),
    );
}
