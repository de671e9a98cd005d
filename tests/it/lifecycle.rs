//! Candidate data under control, through the real `reqflow serve`, on
//! SQLite and PostgreSQL:
//! - a webhook's body is stored once (the raw bytes; the payload without
//!   it) and reads back equal; an old database is migrated (its bodies moved)
//!   and still reads;
//! - `subject:` indexes each event under keyed hashes: `GET /api/runs?subject=`
//!   and `reqflow runs list --subject` find a person's runs; `GET
//!   /api/subjects/{v}` and `reqflow export` return exactly their data,
//!   secrets masked;
//! - erasure (`DELETE /api/subjects/{v}`, `reqflow erase`) cancels the
//!   person's run in flight, deletes everything of theirs, and afterwards
//!   neither the SQLite file (+WAL, after a checkpoint) nor any PostgreSQL
//!   row holds their email or name; the audit trail has the hash and counts,
//!   never the value; the binary outputs their runs fetched (a report's
//!   bytes in `blobs`) go too, unless another person's run refers to the
//!   same bytes; references made before migration 0012 are backfilled;
//! - retention (`reqflow purge --at`, a test clock) deletes exactly what is
//!   past the window, keeps runs in flight and within the window, honours
//!   a workflow's own `retention:`, and the run counts of `/metrics` survive.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{PgDb, Serve, TEST_STATE_KEY, Vendor, free_port, get_bytes, http, postgres_url, temp_dir};

const TOKEN: &str = "lifecycle-hook-token-Qx81";
/// A secret the steps send: masked in every stored input and export.
const VENDOR_SECRET: &str = "vendor-secret-Hk29-zzq";

fn workflow(vendor: u16) -> String {
    format!(
        r#"id: lc-hook
subject: ["{{{{ event.body.email }}}}", "{{{{ event.body.candidate_id }}}}"]
trigger:
  webhook:
    path: lc/hook
    auth: {{ bearer: "{{{{ secrets.HOOK_TOKEN }}}}" }}
    dedupe: "{{{{ event.body.candidate_id }}}}:{{{{ event.body.n }}}}"
connections:
  vendor: {{ type: http, base_url: "http://127.0.0.1:{vendor}" }}
steps:
  - id: who
    map: {{ name: "{{{{ event.body.name }}}}", email: "{{{{ event.body.email | lower }}}}" }}
  - id: invite
    action: http.request
    connection: vendor
    with:
      method: POST
      path: /invites
      json: {{ name: "{{{{ steps.who.output.name }}}}", email: "{{{{ steps.who.output.email }}}}", key: "{{{{ secrets.VENDOR_SECRET }}}}" }}
    retry: {{ attempts: 1 }}
    timeout: 30s
"#
    )
}

struct Setup {
    dir: PathBuf,
    wf: PathBuf,
    vendor: Vendor,
}

fn setup(tag: &str) -> Setup {
    let dir = temp_dir(tag);
    let vendor = Vendor::start();
    let wf = dir.join("wf");
    std::fs::create_dir_all(&wf).expect("dir");
    std::fs::write(wf.join("lc-hook.yaml"), workflow(vendor.port)).expect("workflow");
    Setup { dir, wf, vendor }
}

fn env() -> [(&'static str, &'static str); 2] {
    [("REQFLOW_SECRET_HOOK_TOKEN", TOKEN), ("REQFLOW_SECRET_VENDOR_SECRET", VENDOR_SECRET)]
}

fn start(s: &Setup, db: &str, args: &[&str]) -> Serve {
    Serve::start_with(free_port(), &s.wf, db, &env(), &s.dir, args)
}

/// Posts one event; returns the answer (`run_id` when a run was queued).
fn hook(serve: &Serve, body: &str) -> Value {
    let auth = format!("Bearer {TOKEN}");
    let r = http(serve.port, "POST", "/hooks/lc/hook", &[("Authorization", &auth)], body.as_bytes());
    assert!(r.status == 200 || r.status == 202, "{} {}", r.status, r.body);
    r.json()
}

fn person(id: &str, email: &str, name: &str, n: u32) -> String {
    // Pretty-printed on purpose: the stored raw bytes differ from the parsed body's JSON text.
    format!("{{\n  \"candidate_id\": \"{id}\",\n  \"email\": \"{email}\",\n  \"name\": \"{name}\",\n  \"n\": {n}\n}}")
}

fn cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reqflow"))
        .args(args)
        .env("REQFLOW_SECRET_KEY", TEST_STATE_KEY)
        .output()
        .expect("reqflow");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn runs_of(serve: &Serve, subject: &str) -> Vec<Value> {
    let r = serve.api(&format!("/api/runs?subject={}", subject.replace('@', "%40").replace(' ', "%20")));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["runs"].as_array().cloned().unwrap_or_default()
}

fn wait_finished(serve: &Serve, run_ids: &[String]) {
    for id in run_ids {
        let v = serve.wait_run(id, Duration::from_secs(30));
        assert_eq!(v["run"]["status"], "succeeded", "{v}");
    }
}

/// Every byte of the SQLite database after a truncating checkpoint: the
/// file, its WAL and its rollback journal (when present).
fn sqlite_bytes(file: &Path) -> Vec<u8> {
    let c = rusqlite::Connection::open(file).expect("open");
    c.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
    let (busy, _, _): (i64, i64, i64) = c
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("checkpoint");
    assert_eq!(busy, 0, "the checkpoint could not complete");
    drop(c);
    let mut bytes = std::fs::read(file).expect("database file");
    for suffix in ["-wal", "-journal"] {
        bytes.extend(std::fs::read(format!("{}{suffix}", file.display())).unwrap_or_default());
    }
    bytes.extend(sqlite_unpacked(file));
    bytes
}

/// The packed (compressed) values of every row of every table, unpacked
/// (`reqflow_store::packed`): a compressed body still holds its person.
/// A value of a run (attempts, step results: packed with the run's own
/// event body as part of the dictionary) must read back with its run's body.
fn sqlite_unpacked(file: &Path) -> Vec<u8> {
    use rusqlite::types::ValueRef;
    let c = rusqlite::Connection::open(file).expect("open");
    let bodies = run_bodies(&c);
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("tables");
    let mut out = Vec::new();
    for t in tables {
        let mut stmt = c.prepare(&format!("SELECT * FROM \"{t}\"")).expect("select");
        let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let raw_packed = names.iter().position(|n| n == "raw_packed");
        let run_seq = names.iter().position(|n| n == "run_seq");
        let mut rows = stmt.query([]).expect("rows");
        while let Some(r) = rows.next().expect("row") {
            let packed_raw = raw_packed.is_some_and(|i| r.get::<_, i64>(i).expect("raw_packed") == 1);
            let body = run_seq.and_then(|i| bodies.get(&r.get::<_, i64>(i).expect("run_seq")));
            for (i, name) in names.iter().enumerate() {
                if let ValueRef::Blob(b) = r.get_ref(i).expect("value") {
                    out.extend(if name == "raw_body" {
                        reqflow_store::packed::unpacked_raw(b, packed_raw)
                    } else if run_seq.is_some() {
                        reqflow_store::packed::unpacked_bytes_of_run(b, body.map(Vec::as_slice))
                            .unwrap_or_else(|e| panic!("{t}.{name} of a run cannot be read back: {e}"))
                    } else {
                        reqflow_store::packed::unpacked_bytes(b)
                    });
                }
            }
        }
    }
    out
}

/// The text of every row of every table of a PostgreSQL database (`pg_dump`
/// where installed, else `SELECT t::text` over each table).
fn pg_text(url: &str) -> String {
    if let Ok(out) = Command::new("pg_dump").args(["--data-only", url]).output()
        && out.status.success()
    {
        return String::from_utf8_lossy(&out.stdout).into_owned();
    }
    let psql = |sql: &str| {
        let out = Command::new("psql").args([url, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql]).output().expect("psql");
        assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let tables = psql("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()");
    tables.lines().map(|t| psql(&format!("SELECT t::text FROM \"{t}\" AS t"))).collect::<Vec<_>>().join("\n")
}

fn contains_ci(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.to_ascii_lowercase();
    haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The stored form of events: SQLite columns of one event (payload and raw
/// body unpacked), and whether the raw body was stored packed.
fn sqlite_event_row(file: &Path, event_id: &str) -> (String, Vec<u8>, bool, bool) {
    let c = rusqlite::Connection::open(file).expect("open");
    let (payload, raw, from_raw, packed): (Vec<u8>, Vec<u8>, bool, bool) = c
        .query_row(
            "SELECT CAST(payload AS BLOB), raw_body, body_from_raw, raw_packed FROM events WHERE event_id = ?",
            [event_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .expect("event row");
    let payload = String::from_utf8(reqflow_store::packed::unpacked_bytes(&payload)).expect("payload text");
    (payload, reqflow_store::packed::unpacked_raw(&raw, packed), from_raw, packed)
}

/// The body is stored once and every read gives it back equal.
fn body_stored_once(serve: &Serve, body: &str, stored_payload: impl Fn(&str) -> String) {
    let a = hook(serve, body);
    let run = a["run_id"].as_str().expect("queued").to_owned();
    let detail = serve.wait_run(&run, Duration::from_secs(30));
    let sent: Value = serde_json::from_str(body).expect("json");
    assert_eq!(detail["event"]["body"], sent, "{detail}");
    let event_id = detail["run"]["event_id"].as_str().expect("event id").to_owned();
    let shown = serve.api(&format!("/api/events/{event_id}")).json();
    assert_eq!(shown["event"]["body"], sent);
    assert!(shown["event"]["headers"].is_object(), "{shown}");
    let raw = serve.api(&format!("/api/runs/{run}/event/raw"));
    assert_eq!(raw.body, body, "the exact bytes received");
    let payload = stored_payload(&event_id);
    assert!(!payload.contains("Body-Once"), "the stored payload repeats the body: {payload}");
    assert!(payload.contains("headers"), "{payload}");
}

/// Subjects, export, erasure (with a run in flight), on one store; `grep`
/// reads every stored byte afterwards.
fn subjects_export_erase(serve: &Serve, s: &Setup, db: &str, grep: &dyn Fn() -> Vec<u8>) {
    let mut ada_runs = Vec::new();
    for n in 0..3 {
        let a = hook(serve, &person("cand-ada-1", "Ada.Lovelace@Example.com", "Ada Lovelace-Zq", n));
        ada_runs.push(a["run_id"].as_str().expect("queued").to_owned());
    }
    let mut bob_runs = Vec::new();
    for n in 0..2 {
        let a = hook(serve, &person("cand-bob-2", "bob.babbage@example.com", "Bob Babbage-Yw", n));
        bob_runs.push(a["run_id"].as_str().expect("queued").to_owned());
    }
    // A duplicate of Ada's first event: indexed too (it holds her data).
    let dup = hook(serve, &person("cand-ada-1", "ada.lovelace@example.com", "Ada Lovelace-Zq", 0));
    assert_eq!(dup["status"], "duplicate", "{dup}");
    wait_finished(serve, &ada_runs);
    wait_finished(serve, &bob_runs);

    // Runs by subject: the email (any case, spaces around) or the candidate id.
    let by_email = runs_of(serve, " ADA.lovelace@example.com ");
    let mut ids: Vec<String> = by_email.iter().map(|r| r["run_id"].as_str().unwrap_or("").to_owned()).collect();
    ids.sort();
    let mut want = ada_runs.clone();
    want.sort();
    assert_eq!(ids, want, "runs of Ada by email");
    assert_eq!(runs_of(serve, "cand-ada-1").len(), 3);
    // The console's search box (`q=`) finds a person's runs by a subject value too.
    let r = serve.api("/api/runs?q=ADA.lovelace%40example.com");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["runs"].as_array().map(Vec::len), Some(by_email.len()), "{}", r.body);
    assert_eq!(runs_of(serve, "bob.babbage@example.com").len(), 2);
    assert!(runs_of(serve, "nobody@example.com").is_empty());
    let (ok, out, err) = cli(&["runs", "list", "--subject", "cand-bob-2", "--json", "--db", db]);
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{out}");

    // Access: exactly Ada's data, secrets masked, audited without the value.
    let doc = serve.api("/api/subjects/ada.lovelace%40example.com");
    assert_eq!(doc.status, 200, "{}", doc.body);
    let d = doc.json();
    assert_eq!(d["events"].as_array().map(Vec::len), Some(4), "3 accepted + 1 duplicate: {}", doc.body);
    assert_eq!(d["runs"].as_array().map(Vec::len), Some(3));
    assert!(doc.body.contains("Ada Lovelace-Zq"));
    assert!(!doc.body.contains("Babbage"), "another person's data in the export");
    assert!(!doc.body.contains(VENDOR_SECRET), "a secret in the export");
    assert!(doc.body.contains("***"), "the secret the step sent is shown masked");
    for r in d["runs"].as_array().into_iter().flatten() {
        assert_eq!(r["attempts"].as_array().map(Vec::len), Some(2), "{r}");
        assert!(r["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{r}");
    }
    let (ok, out, err) = cli(&["export", "--subject", "BOB.babbage@example.com", "--db", db]);
    assert!(ok, "{err}");
    let bob: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(bob["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(bob["runs"].as_array().map(Vec::len), Some(2));
    assert!(!out.contains("Lovelace"));

    // One more of Ada's runs, in flight (the vendor holds the answer) when she is erased.
    s.vendor.script(vec![(201, Duration::from_secs(3))], (201, Duration::ZERO));
    let before = s.vendor.requests().len();
    let a = hook(serve, &person("cand-ada-1", "ada.lovelace@example.com", "Ada Lovelace-Zq", 9));
    let in_flight = a["run_id"].as_str().expect("queued").to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.vendor.requests().len() == before {
        assert!(Instant::now() < deadline, "the in-flight call never reached the vendor");
        std::thread::sleep(Duration::from_millis(20));
    }
    let erased = serve.api_http("DELETE", "/api/subjects/ada.lovelace%40example.com", b"");
    assert_eq!(erased.status, 200, "{}", erased.body);
    let e = erased.json();
    assert_eq!(e["deleted"]["events"], 5, "{e}");
    assert_eq!(e["deleted"]["runs"], 4, "{e}");
    assert_eq!(e["deleted"]["cancelled"], 1, "the run in flight: {e}");
    assert!(e["deleted"]["dedupe_keys"].as_u64().unwrap_or(0) >= 3, "{e}");
    let hash = e["subject_hash"].as_str().expect("hash").to_owned();
    assert_eq!(hash.len(), 64);
    // The in-flight call returns after the erasure: nothing of it is written back.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(serve.api(&format!("/api/runs/{in_flight}")).status, 404);
    assert!(runs_of(serve, "cand-ada-1").is_empty());
    assert_eq!(
        serve.api("/api/subjects/ada.lovelace%40example.com").json()["events"].as_array().map(Vec::len),
        Some(0)
    );

    // The audit trail: the hash and the counts, never the value.
    let audit = serve.api("/api/audit?limit=20");
    assert_eq!(audit.status, 200);
    let entries = audit.json()["audit"].as_array().cloned().unwrap_or_default();
    let erase = entries.iter().find(|a| a["action"] == "subject.erase").expect("erasure audited");
    assert_eq!(erase["objects"][0], format!("subject:{hash}"), "{erase}");
    assert_eq!(erase["detail"]["total"], e["total"], "{erase}");
    assert!(entries.iter().any(|a| a["action"] == "subject.export"), "access audited");
    let (ok, out, _) = cli(&["audit", "--json", "--db", db]);
    assert!(ok);
    assert!(out.contains("subject.export"), "the CLI's export is audited too");
    for text in [audit.body.as_str(), out.as_str()] {
        assert!(!contains_ci(text.as_bytes(), "lovelace"), "the audit holds the value: {text}");
        assert!(!contains_ci(text.as_bytes(), "babbage"), "the audit holds a value: {text}");
    }

    // No trace of Ada anywhere in the store; Bob (not erased) is there, so the grep can find.
    let bytes = grep();
    for needle in ["ada.lovelace@example.com", "Lovelace-Zq", "cand-ada-1"] {
        assert!(!contains_ci(&bytes, needle), "`{needle}` is still in the store after erasure");
    }
    assert!(contains_ci(&bytes, "bob.babbage@example.com"), "the grep finds what is stored");
    assert!(contains_ci(&bytes, "Babbage-Yw"));

    // Bob erased from the CLI.
    let (ok, out, err) = cli(&["erase", "--subject", "cand-bob-2", "--db", db]);
    assert!(ok, "{err}");
    let e: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(e["deleted"]["runs"], 2, "{out}");
    assert!(runs_of(serve, "bob.babbage@example.com").is_empty());
    let bytes = grep();
    assert!(!contains_ci(&bytes, "Babbage-Yw"), "Bob is still in the store");
}

#[test]
fn sqlite_stores_the_body_once_and_erases_a_subject_without_trace() {
    let s = setup("lifecycle-sqlite");
    let file = s.dir.join("lc.db");
    let db = format!("sqlite://{}", file.display());
    let serve = start(&s, &db, &[]);
    body_stored_once(&serve, &person("cand-once", "once@example.com", "Body-Once", 1), |id| {
        let (payload, raw, from_raw, packed) = sqlite_event_row(&file, id);
        assert!(from_raw, "body_from_raw");
        assert!(packed, "the raw body is stored compressed");
        assert!(String::from_utf8_lossy(&raw).contains("Body-Once"));
        payload
    });
    subjects_export_erase(&serve, &s, &db, &|| sqlite_bytes(&file));
}

#[test]
fn postgres_stores_the_body_once_and_erases_a_subject_without_trace() {
    let Some(admin) = postgres_url("postgres_stores_the_body_once_and_erases_a_subject_without_trace") else {
        return;
    };
    let pg = PgDb::create(&admin, "lifecycle");
    let s = setup("lifecycle-pg");
    let serve = start(&s, &pg.url, &[]);
    body_stored_once(&serve, &person("cand-once", "once@example.com", "Body-Once", 1), |id| {
        let out = Command::new("psql")
            .args([
                &pg.url,
                "-At",
                "-c",
                &format!("SELECT payload::text FROM events WHERE event_id = '{id}' AND body_from_raw"),
            ])
            .output()
            .expect("psql");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!text.trim().is_empty(), "body_from_raw is set");
        text
    });
    subjects_export_erase(&serve, &s, &pg.url, &|| pg_text(&pg.url).into_bytes());
}

const KEEPER: &str = r#"id: lc-keeper
retention: 2d
trigger: { manual: {} }
steps:
  - id: note
    map: { ok: true }
"#;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// `reqflow purge --retain 1d --at T`: the report.
fn purge_at(s: &Setup, db: &str, at: i64) -> Value {
    let wf = s.wf.display().to_string();
    let (ok, out, err) = cli(&["purge", "--retain", "1d", "--workflows", &wf, "--at", &at.to_string(), "--db", db]);
    assert!(ok, "purge: {err}");
    serde_json::from_str(&out).expect("json")
}

fn runs_stored(serve: &Serve) -> f64 {
    let m = serve.api("/metrics");
    assert_eq!(m.status, 200);
    m.body
        .lines()
        .filter(|l| l.starts_with("reqflow_runs{") && l.contains("status=\"succeeded\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

const DAY: i64 = 86_400_000;

/// Retention with a test clock: exactly what is past the window goes.
fn retention(serve: &Serve, s: &Setup, db: &str) {
    // Old: two finished runs and a duplicate (no run).
    let mut old = Vec::new();
    for n in 0..2 {
        old.push(
            hook(serve, &person("cand-old", "old@example.com", "Old Timer", n))["run_id"]
                .as_str()
                .expect("run")
                .to_owned(),
        );
    }
    assert_eq!(hook(serve, &person("cand-old", "old@example.com", "Old Timer", 0))["status"], "duplicate");
    let keeper = serve.api_post("/api/workflows/lc-keeper/runs", "{}");
    assert!(keeper.status == 200 || keeper.status == 202, "{}", keeper.body);
    let keeper_run = keeper.json()["run_id"].as_str().expect("run").to_owned();
    wait_finished(serve, &old);
    wait_finished(serve, std::slice::from_ref(&keeper_run));
    // A run in flight over the cutoff: received before it, not finished.
    s.vendor.script(vec![(201, Duration::from_secs(4))], (201, Duration::ZERO));
    let before = s.vendor.requests().len();
    let flying =
        hook(serve, &person("cand-fly", "fly@example.com", "In Flight", 1))["run_id"].as_str().expect("run").to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.vendor.requests().len() == before {
        assert!(Instant::now() < deadline, "the call never reached the vendor");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(30));
    let mid = now_ms();
    std::thread::sleep(Duration::from_millis(30));
    // New: after the cutoff.
    let new =
        hook(serve, &person("cand-new", "new@example.com", "New Comer", 1))["run_id"].as_str().expect("run").to_owned();
    wait_finished(serve, std::slice::from_ref(&new));
    let counted = runs_stored(serve);
    assert!(counted >= 4.0, "{counted}");

    // As of one day after `mid`, with --retain 1d: the cutoff is `mid`.
    let r = purge_at(s, db, mid + DAY);
    assert_eq!(r["runs"], 2, "the two old runs: {r}");
    assert_eq!(r["events"], 3, "their events and the duplicate: {r}");
    assert_eq!(r["attempts"], 4, "{r}");
    assert_eq!(r["step_results"], 4, "{r}");
    assert_eq!(r["kept"], 1, "the run in flight (lc-keeper's, with retention: 2d, is not yet due): {r}");
    for id in &old {
        assert_eq!(serve.api(&format!("/api/runs/{id}")).status, 404, "old run {id} kept");
    }
    for id in [&flying, &new, &keeper_run] {
        assert_eq!(serve.api(&format!("/api/runs/{id}")).status, 200, "run {id} purged");
    }
    assert!(runs_of(serve, "old@example.com").is_empty(), "the subject index is purged too");
    // Dedupe keys outlive the window (kept for dedupe_ttl): a redelivery is still a duplicate.
    assert_eq!(hook(serve, &person("cand-old", "old@example.com", "Old Timer", 1))["status"], "duplicate");
    // The run counts /metrics shows survive the purge.
    assert_eq!(runs_stored(serve), counted, "reqflow_runs{{status=\"succeeded\"}} changed");

    // The in-flight run ends; 8 days later everything of that time goes, lc-keeper's too, and
    // the dedupe keys, past their 7-day dedupe_ttl.
    let v = serve.wait_run(&flying, Duration::from_secs(30));
    assert_eq!(v["run"]["status"], "succeeded");
    let r = purge_at(s, db, now_ms() + 8 * DAY);
    assert_eq!(r["runs"], 3, "in flight before, new, lc-keeper's: {r}");
    assert_eq!(r["kept"], 0, "{r}");
    assert!(r["dedupe_keys"].as_u64().unwrap_or(0) >= 4, "expired keys go too: {r}");
    assert_eq!(serve.api("/api/runs").json()["runs"].as_array().map(Vec::len), Some(0));
    assert_eq!(runs_stored(serve), counted + 1.0, "the in-flight run's success is counted once");
}

fn with_keeper(s: &Setup) {
    std::fs::write(s.wf.join("lc-keeper.yaml"), KEEPER).expect("workflow");
}

#[test]
fn sqlite_retention_deletes_exactly_what_is_past_the_window() {
    let s = setup("lifecycle-ret-sqlite");
    with_keeper(&s);
    let file = s.dir.join("lc.db");
    let db = format!("sqlite://{}", file.display());
    let serve = start(&s, &db, &[]);
    retention(&serve, &s, &db);
}

#[test]
fn postgres_retention_deletes_exactly_what_is_past_the_window() {
    let Some(admin) = postgres_url("postgres_retention_deletes_exactly_what_is_past_the_window") else {
        return;
    };
    let pg = PgDb::create(&admin, "lifecycle_ret");
    let s = setup("lifecycle-ret-pg");
    with_keeper(&s);
    let serve = start(&s, &pg.url, &[]);
    retention(&serve, &s, &pg.url);
}

/// The migrations of a database made before this change (0001–0006), with
/// their names and checksums as the runner records them.
fn old_migrations(backend: &str) -> Vec<(i64, String, String, String)> {
    migrations_up_to(backend, 6)
}

/// The migration files of `backend` numbered up to `last`, with their names
/// and checksums as the runner records them.
fn migrations_up_to(backend: &str, last: i64) -> Vec<(i64, String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/store/migrations").join(backend);
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("migrations").map(|e| e.expect("entry").path()).collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_owned();
            let (n, rest) = name.split_once('_')?;
            let n: i64 = n.parse().ok()?;
            (n <= last).then_some(())?;
            let sql = std::fs::read_to_string(&p).ok()?;
            let out = Command::new("sha256sum").arg(&p).output().ok()?;
            let sum = String::from_utf8_lossy(&out.stdout).split_whitespace().next()?.to_owned();
            Some((n, rest.to_owned(), sql, sum))
        })
        .collect()
}

const OLD_BODY: &str = "{ \"data\": { \"email\": \"legacy@example.com\", \"name\": \"Legacy-Person\" }, \"n\": 1.5 }";

/// Inserts, in the old form (the body inside the payload too), a webhook
/// event and a SOAP-like one whose body is not the JSON of its raw bytes.
const OLD_ROWS: &str = r#"INSERT INTO events (event_id, workflow_id, trigger, received_at, payload, dedupe_key, status, raw_body, reason, run_id)
VALUES ('old-hook', 'lc-hook', 'webhook', 1785000000000,
        '{"body":{"data":{"email":"legacy@example.com","name":"Legacy-Person"},"n":1.5},"headers":{"x-a":"1"},"query":{},"received_at":"2026-07-25T17:20:00.000Z"}',
        NULL, 'ignored', RAW_HOOK, '`when:` was false', NULL),
       ('old-soap', 'lc-hook', 'soap', 1785000000001,
        '{"body":{"Name":"Soap-Person"},"operation":"Op","header":null,"headers":{},"received_at":"2026-07-25T17:20:00.001Z"}',
        NULL, 'ignored', RAW_SOAP, '`when:` was false', NULL);"#;

fn check_old_events(serve: &Serve) {
    let hook = serve.api("/api/events/old-hook");
    assert_eq!(hook.status, 200, "{}", hook.body);
    let v = hook.json();
    let want: Value = serde_json::from_str(OLD_BODY).expect("json");
    assert_eq!(v["event"]["body"], want, "{v}");
    assert_eq!(v["event"]["headers"]["x-a"], "1");
    let keys: Vec<&String> = v["event"].as_object().expect("object").keys().collect();
    assert_eq!(keys, ["body", "headers", "query", "received_at"], "key order kept");
    let soap = serve.api("/api/events/old-soap").json();
    assert_eq!(soap["event"]["body"]["Name"], "Soap-Person", "{soap}");
}

#[test]
fn an_old_sqlite_database_is_migrated_and_still_reads() {
    let s = setup("lifecycle-old-sqlite");
    let file = s.dir.join("old.db");
    {
        let c = rusqlite::Connection::open(&file).expect("open");
        c.execute_batch(
            "CREATE TABLE reqflow_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        )
        .expect("table");
        for (n, name, sql, sum) in old_migrations("sqlite") {
            c.execute_batch(&sql).expect("old migration");
            c.execute("INSERT INTO reqflow_migrations VALUES (?, ?, ?, 0)", rusqlite::params![n, name, sum])
                .expect("row");
        }
        let rows = OLD_ROWS
            .replace("RAW_HOOK", &format!("CAST('{OLD_BODY}' AS BLOB)"))
            .replace("RAW_SOAP", "CAST('<Envelope><Body><Op><Name>Soap-Person</Name></Op></Body></Envelope>' AS BLOB)");
        c.execute_batch(&rows).expect("old rows");
    }
    let db = format!("sqlite://{}", file.display());
    let serve = start(&s, &db, &[]);
    check_old_events(&serve);
    let (payload, _, from_raw, _) = sqlite_event_row(&file, "old-hook");
    assert!(from_raw, "the old webhook body was moved out of the payload");
    assert!(!payload.contains("Legacy-Person"), "{payload}");
    let (payload, _, from_raw, _) = sqlite_event_row(&file, "old-soap");
    assert!(!from_raw && payload.contains("Soap-Person"), "a SOAP payload is kept whole: {payload}");
}

#[test]
fn an_old_postgres_database_is_migrated_and_still_reads() {
    let Some(admin) = postgres_url("an_old_postgres_database_is_migrated_and_still_reads") else {
        return;
    };
    let pg = PgDb::create(&admin, "lifecycle_old");
    let psql = |sql: &str| {
        let out =
            Command::new("psql").args([&pg.url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql]).output().expect("psql");
        assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    psql(
        "CREATE TABLE reqflow_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    );
    for (n, name, sql, sum) in old_migrations("postgres") {
        psql(&sql);
        psql(&format!("INSERT INTO reqflow_migrations VALUES ({n}, '{name}', '{sum}', 0)"));
    }
    psql(&OLD_ROWS.replace("RAW_HOOK", &format!("convert_to('{OLD_BODY}', 'UTF8')")).replace(
        "RAW_SOAP",
        "convert_to('<Envelope><Body><Op><Name>Soap-Person</Name></Op></Body></Envelope>', 'UTF8')",
    ));
    let s = setup("lifecycle-old-pg");
    let serve = start(&s, &pg.url, &[]);
    check_old_events(&serve);
    let moved = psql("SELECT body_from_raw, payload::text FROM events WHERE event_id = 'old-hook'");
    assert!(moved.starts_with('t') && !moved.contains("Legacy-Person"), "{moved}");
    let kept = psql("SELECT body_from_raw, payload::text FROM events WHERE event_id = 'old-soap'");
    assert!(kept.starts_with('f') && kept.contains("Soap-Person"), "{kept}");
}

// ---- Binary outputs (blobs) go with the runs that refer to them ----

const REPORT_WF: &str = r#"id: lc-report
subject: ["{{ event.body.email }}"]
trigger:
  webhook:
    path: lc/report
    auth: { bearer: "{{ secrets.HOOK_TOKEN }}" }
steps:
  - id: fetch
    action: http.request
    with: { url: "{{ event.body.url }}", max_body_bytes: 4194304 }
    retry: { attempts: 1 }
"#;

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Ada fetches a report of her own and one Bob fetches too; erasing Ada
/// removes her own report's bytes from the store (`has(sha, marker)` asks
/// the store) and keeps the shared one until Bob is erased as well.
fn erasure_deletes_blobs(db: &str, tag: &str, has: &dyn Fn(&str, &[u8]) -> bool) {
    let dir = temp_dir(tag);
    let wf = dir.join("wf");
    std::fs::create_dir_all(&wf).expect("dir");
    std::fs::write(wf.join("lc-report.yaml"), REPORT_WF).expect("workflow");
    let sb = crate::harness::sandbox();
    let serve = Serve::start_with(free_port(), &wf, db, &[("REQFLOW_SECRET_HOOK_TOKEN", TOKEN)], &dir, &[]);
    let unique = format!("{tag}-{}", now_ms());
    let own_path = format!("/vendor/reports/ada-{unique}.bin?size=200000");
    let shared_path = format!("/vendor/reports/shared-{unique}.bin?size=50000");
    let (own, shared) = (get_bytes(sb.1, &own_path), get_bytes(sb.1, &shared_path));
    assert_ne!(own[..64], shared[..64], "two different payloads");
    let (own_sha, shared_sha) = (reqflow_engine::sha256_hex(&own), reqflow_engine::sha256_hex(&shared));
    let (own_mark, shared_mark) = (&own[100_000..100_032], &shared[25_000..25_032]);

    let mut runs = Vec::new();
    for (email, path) in [
        ("ada.blob@example.com", &own_path),
        ("ada.blob@example.com", &shared_path),
        ("bob.blob@example.com", &shared_path),
    ] {
        let body = serde_json::json!({ "email": email, "url": format!("http://127.0.0.1:{}{path}", sb.1) });
        let auth = format!("Bearer {TOKEN}");
        let r = http(serve.port, "POST", "/hooks/lc/report", &[("Authorization", &auth)], body.to_string().as_bytes());
        assert!(r.status == 200 || r.status == 202, "{} {}", r.status, r.body);
        runs.push(r.json()["run_id"].as_str().expect("queued").to_owned());
    }
    wait_finished(&serve, &runs);
    assert!(has(&own_sha, own_mark), "Ada's report is stored (so the check can find it)");
    assert!(has(&shared_sha, shared_mark), "the shared report is stored");

    let (ok, out, err) = cli(&["erase", "--subject", "ada.blob@example.com", "--db", db]);
    assert!(ok, "{err}");
    let e: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(e["deleted"]["runs"], 2, "{out}");
    assert_eq!(e["deleted"]["blobs"], 1, "Ada's own report, not the shared one: {out}");
    assert!(!has(&own_sha, own_mark), "Ada's report survived her erasure");
    assert!(has(&shared_sha, shared_mark), "the report Bob's run refers to is kept");
    // Bob's run still reads back with the bytes.
    let detail = serve.wait_run(&runs[2], Duration::from_secs(5));
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}");

    let (ok, out, err) = cli(&["erase", "--subject", "bob.blob@example.com", "--db", db]);
    assert!(ok, "{err}");
    let e: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(e["deleted"]["blobs"], 1, "{out}");
    assert!(!has(&shared_sha, shared_mark), "the shared report survived both erasures");
}

#[test]
fn sqlite_erasure_deletes_a_subjects_binary_outputs() {
    let dir = temp_dir("lifecycle-blobs-sqlite-db");
    let file = dir.join("blobs.db");
    let db = format!("sqlite://{}", file.display());
    erasure_deletes_blobs(&db, "lifecycle-blobs-sqlite", &|_, mark| contains_bytes(&sqlite_bytes(&file), mark));
}

#[test]
fn postgres_erasure_deletes_a_subjects_binary_outputs() {
    let Some(admin) = postgres_url("postgres_erasure_deletes_a_subjects_binary_outputs") else {
        return;
    };
    let pg = PgDb::create(&admin, "lifecycle_blobs");
    let url = pg.url.clone();
    erasure_deletes_blobs(&pg.url, "lifecycle-blobs-pg", &move |sha, _| {
        let out = Command::new("psql")
            .args([&url, "-At", "-c", &format!("SELECT count(*) FROM blobs WHERE sha256 = '{sha}'")])
            .output()
            .expect("psql");
        assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    });
}

/// Rows of a database made before 0012: blobs referred to by attempt
/// inputs/outputs and step results of three runs, and a reference whose blob
/// is not stored.
const PRE_0012_ROWS: &str = r#"INSERT INTO blobs (sha256, content_type, size, data, created_at) VALUES
  ('aaaa', 'application/pdf', 1, DATA_A, 0), ('bbbb', 'application/pdf', 1, DATA_B, 0);
INSERT INTO attempts (run_id, step_id, attempt, round, status, input, output, started_at) VALUES
  ('run-1', 'fetch', 1, 0, 'succeeded', '{"url":"x"}', '{"body":{"$binary":true,"content_type":"application/pdf","size":1,"sha256":"aaaa"}}', 0),
  ('run-2', 'attach', 1, 0, 'succeeded', '{"content":{"$binary":true,"content_type":"application/pdf","size":1,"sha256":"bbbb"}}', NULL, 0),
  ('run-3', 'fetch', 1, 0, 'succeeded', '{"url":"y"}', '{"body":{"$binary":true,"content_type":"application/pdf","size":1,"sha256":"cccc"}}', 0);
INSERT INTO step_results (run_id, step_id, status, output, finished_at) VALUES
  ('run-2', 'keep', 'succeeded', '{"list":[{"r":{"$binary":true,"content_type":"application/pdf","size":1,"sha256":"aaaa"}}]}', 0);"#;

const PRE_0012_WANT: &str = "aaaa|run-1\naaaa|run-2\nbbbb|run-2";

#[test]
fn blob_refs_are_backfilled_on_sqlite() {
    let dir = temp_dir("lifecycle-blobrefs-backfill");
    let c = rusqlite::Connection::open(dir.join("pre12.db")).expect("open");
    for (_, _, sql, _) in migrations_up_to("sqlite", 11) {
        c.execute_batch(&sql).expect("old migration");
    }
    c.execute_batch(&PRE_0012_ROWS.replace("DATA_A", "x'01'").replace("DATA_B", "x'02'")).expect("rows");
    let (_, _, sql, _) = migrations_up_to("sqlite", 12).pop().expect("0012");
    c.execute_batch(&sql).expect("0012");
    let mut stmt = c.prepare("SELECT sha256 || '|' || run_id FROM blob_refs ORDER BY 1").expect("query");
    let refs: Vec<String> =
        stmt.query_map([], |r| r.get(0)).expect("rows").collect::<rusqlite::Result<_>>().expect("rows");
    assert_eq!(refs.join("\n"), PRE_0012_WANT, "every stored blob's runs, nothing for a blob not stored");
}

#[test]
fn blob_refs_are_backfilled_on_postgres() {
    let Some(admin) = postgres_url("blob_refs_are_backfilled_on_postgres") else {
        return;
    };
    let pg = PgDb::create(&admin, "lifecycle_backfill");
    let psql = |sql: &str| {
        let out =
            Command::new("psql").args([&pg.url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql]).output().expect("psql");
        assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for (_, _, sql, _) in migrations_up_to("postgres", 11) {
        psql(&sql);
    }
    psql(&PRE_0012_ROWS.replace("DATA_A", "'\\x01'::bytea").replace("DATA_B", "'\\x02'::bytea"));
    let (_, _, sql, _) = migrations_up_to("postgres", 12).pop().expect("0012");
    psql(&sql);
    let refs = psql("SELECT sha256 || '|' || run_id FROM blob_refs ORDER BY 1");
    assert_eq!(refs.trim(), PRE_0012_WANT, "every stored blob's runs, nothing for a blob not stored");
}

// ---- Step results name their attempt instead of repeating its output (0013) ----

/// Runs of every shape the lifecycle workflow makes (a step succeeded after
/// a map, a step failed), read back through `GET /api/runs/{id}`.
fn runs_to_compare(serve: &Serve, s: &Setup) -> Vec<(String, Value)> {
    let mut ids = Vec::new();
    s.vendor.script(vec![(201, Duration::ZERO)], (201, Duration::ZERO));
    ids.push(hook(serve, &person("cand-ref-1", "ref.one@example.com", "Ref One", 1))["run_id"].clone());
    wait_finished(serve, &[ids[0].as_str().expect("queued").to_owned()]);
    s.vendor.script(vec![(400, Duration::ZERO)], (400, Duration::ZERO));
    ids.push(hook(serve, &person("cand-ref-2", "ref.two@example.com", "Ref Two", 1))["run_id"].clone());
    let failed = serve.wait_run(ids[1].as_str().expect("queued"), Duration::from_secs(30));
    assert_eq!(failed["run"]["status"], "failed", "{failed}");
    s.vendor.script(vec![], (201, Duration::ZERO));
    ids.iter()
        .map(|id| {
            let id = id.as_str().expect("run id").to_owned();
            let r = serve.api(&format!("/api/runs/{id}"));
            assert_eq!(r.status, 200, "{}", r.body);
            (id, r.json())
        })
        .collect()
}

/// The same runs read back again: equal, step by step.
fn same_runs(serve: &Serve, before: &[(String, Value)]) {
    for (id, want) in before {
        let r = serve.api(&format!("/api/runs/{id}"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(&r.json(), want, "run {id} reads back differently");
    }
    let ok = &before[0].1["steps"];
    assert_eq!(ok[0]["output"]["email"], "ref.one@example.com", "{ok}");
    assert_eq!(ok[1]["output"]["status"], 201, "{ok}");
}

/// Back to how a database before migration 0013 stored step results (the
/// output repeated in every result), as the previous reqflow wrote them.
/// (Attempts and results name their run by its id again, as before 0022.)
const BEFORE_0013_SQLITE: &str = "
CREATE TABLE step_results_old (run_id TEXT NOT NULL, step_id TEXT NOT NULL, status TEXT NOT NULL, output TEXT,
    error TEXT, finished_at INTEGER NOT NULL, PRIMARY KEY (run_id, step_id));
INSERT INTO step_results_old SELECT r.run_id, s.step_id, s.status, COALESCE(s.output, a.output), s.error, s.finished_at
FROM step_results AS s JOIN runs AS r ON r.seq = s.run_seq LEFT JOIN attempts AS a ON a.id = s.attempt_id;
DROP TABLE step_results;
ALTER TABLE step_results_old RENAME TO step_results;
CREATE TABLE attempts_old (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, step_id TEXT NOT NULL, item INTEGER,
    attempt INTEGER NOT NULL, round INTEGER NOT NULL, status TEXT NOT NULL, input TEXT NOT NULL, output TEXT,
    error TEXT, started_at INTEGER NOT NULL, finished_at INTEGER);
INSERT INTO attempts_old SELECT a.id, r.run_id, a.step_id, a.item, a.attempt, a.round, a.status, a.input, a.output,
    a.error, a.started_at, a.finished_at
FROM attempts AS a JOIN runs AS r ON r.seq = a.run_seq;
DROP TABLE attempts;
ALTER TABLE attempts_old RENAME TO attempts;
CREATE INDEX attempts_run ON attempts (run_id, id);
DELETE FROM reqflow_migrations WHERE version IN (13, 22);";

const BEFORE_0013_POSTGRES: &str = "
UPDATE step_results AS s SET output = a.output FROM attempts AS a WHERE a.id = s.attempt_id;
ALTER TABLE step_results DROP COLUMN attempt_id;
DELETE FROM reqflow_migrations WHERE version = 13;";

#[test]
fn sqlite_step_results_name_their_attempt_and_an_old_database_reads_back_the_same() {
    let s = setup("lifecycle-refs-sqlite");
    let file = s.dir.join("refs.db");
    let db = format!("sqlite://{}", file.display());
    let serve = start(&s, &db, &[]);
    let before = runs_to_compare(&serve, &s);
    drop(serve);
    let c = rusqlite::Connection::open(&file).expect("open");
    let (refs, outputs): (i64, i64) = c
        .query_row("SELECT count(attempt_id), count(output) FROM step_results WHERE status = 'succeeded'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("count");
    assert_eq!((refs, outputs), (3, 0), "each succeeded result names its attempt, no output stored twice");
    c.execute_batch(BEFORE_0013_SQLITE).expect("back to the old form");
    drop(c);
    let serve = start(&s, &db, &[]);
    same_runs(&serve, &before);
    let c = rusqlite::Connection::open(&file).expect("open");
    let outputs: i64 =
        c.query_row("SELECT count(output) FROM step_results WHERE status = 'succeeded'", [], |r| r.get(0)).expect("n");
    assert_eq!(outputs, 0, "the migration moved the old outputs to references");
}

#[test]
fn postgres_step_results_name_their_attempt_and_an_old_database_reads_back_the_same() {
    let Some(admin) = postgres_url("postgres_step_results_name_their_attempt_and_an_old_database_reads_back_the_same")
    else {
        return;
    };
    let pg = PgDb::create(&admin, "lifecycle_refs");
    let psql = |sql: &str| {
        let out =
            Command::new("psql").args([&pg.url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql]).output().expect("psql");
        assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let s = setup("lifecycle-refs-pg");
    let serve = start(&s, &pg.url, &[]);
    let before = runs_to_compare(&serve, &s);
    drop(serve);
    let counts = psql("SELECT count(attempt_id) || '|' || count(output) FROM step_results WHERE status = 'succeeded'");
    assert_eq!(counts, "3|0", "each succeeded result names its attempt, no output stored twice");
    psql(BEFORE_0013_POSTGRES);
    let serve = start(&s, &pg.url, &[]);
    same_runs(&serve, &before);
    assert_eq!(psql("SELECT count(output) FROM step_results WHERE status = 'succeeded'"), "0", "moved to references");
}

// ---- Stored values packed (zstd, a built-in data-free dictionary; 0021) ----

/// Every run's event body as received, by `runs.seq`.
fn run_bodies(c: &rusqlite::Connection) -> std::collections::HashMap<i64, Vec<u8>> {
    c.prepare(
        "SELECT r.seq, e.raw_body, e.raw_packed FROM runs AS r JOIN events AS e ON e.event_id = r.event_id
         WHERE e.raw_body IS NOT NULL",
    )
    .and_then(|mut s| {
        s.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, reqflow_store::packed::unpacked_raw(&r.get::<_, Vec<u8>>(1)?, r.get(2)?)))
        })?
        .collect()
    })
    .expect("run bodies")
}

/// Back to how a database before migration 0021 stored values: every packed
/// JSON value and raw body unpacked to its text or bytes, no `raw_packed`.
fn unpack_sqlite_database(file: &Path) {
    use reqflow_store::packed::{unpacked_bytes_of_run, unpacked_raw};
    let c = rusqlite::Connection::open(file).expect("open");
    let bodies = run_bodies(&c);
    let packed_json = |table: &str, key: &str, run: &str, col: &str| -> usize {
        let rows: Vec<(rusqlite::types::Value, Option<i64>, Vec<u8>)> = c
            .prepare(&format!("SELECT {key}, {run}, {col} FROM {table} WHERE typeof({col}) = 'blob'"))
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
            .expect("packed rows");
        for (k, run, v) in &rows {
            let body = run.and_then(|r| bodies.get(&r)).map(Vec::as_slice);
            let text = String::from_utf8(unpacked_bytes_of_run(v, body).expect("unpack")).expect("text");
            c.execute(&format!("UPDATE {table} SET {col} = ?1 WHERE {key} = ?2"), rusqlite::params![text, k])
                .expect("unpack");
        }
        rows.len()
    };
    let n = packed_json("events", "event_id", "NULL", "payload")
        + packed_json("attempts", "id", "run_seq", "input")
        + packed_json("attempts", "id", "run_seq", "output")
        + packed_json("step_results", "run_seq || '|' || step_id", "run_seq", "output");
    assert!(n > 0, "nothing was stored packed");
    let raws: Vec<(String, Vec<u8>)> = c
        .prepare("SELECT event_id, raw_body FROM events WHERE raw_packed = 1")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .expect("packed bodies");
    assert!(!raws.is_empty(), "no raw body was stored packed");
    for (id, raw) in raws {
        c.execute(
            "UPDATE events SET raw_body = ?1 WHERE event_id = ?2",
            rusqlite::params![unpacked_raw(&raw, true), id],
        )
        .expect("unpack body");
    }
    c.execute_batch(
        "ALTER TABLE events DROP COLUMN raw_packed; DELETE FROM reqflow_migrations WHERE version IN (21, 23);",
    )
    .expect("back to the old schema");
}

#[test]
fn sqlite_values_are_stored_packed_and_an_old_database_reads_back_the_same() {
    let s = setup("lifecycle-packed-sqlite");
    let file = s.dir.join("packed.db");
    let db = format!("sqlite://{}", file.display());
    let serve = start(&s, &db, &[]);
    let before = runs_to_compare(&serve, &s);
    let events: Vec<(String, String, Value, String)> = before
        .iter()
        .map(|(id, run)| {
            let event_id = run["run"]["event_id"].as_str().expect("event id").to_owned();
            let event = serve.api(&format!("/api/events/{event_id}")).json();
            assert!(event["event"]["body"].is_object(), "{event}");
            (id.clone(), event_id, event, serve.api(&format!("/api/runs/{id}/event/raw")).body)
        })
        .collect();
    drop(serve);
    unpack_sqlite_database(&file);
    let serve = start(&s, &db, &[]);
    same_runs(&serve, &before);
    for (run_id, event_id, event, raw) in &events {
        let again = serve.api(&format!("/api/events/{event_id}")).json();
        assert_eq!(&again, event, "event {event_id} reads back differently");
        assert_eq!(&serve.api(&format!("/api/runs/{run_id}/event/raw")).body, raw, "the exact bytes received");
    }
}

// ---- Events keyed by an integer `seq`, list indexes without the event id (0024);
// ---- runs name their workflow's hash by an integer reference (0029) ----

/// Back to how a database before migrations 0024 and 0029 stored events (a
/// rowid table keyed by its event id, the list indexes ending with it) and
/// runs (the workflow's hash as text in each row).
const BEFORE_0024_SQLITE: &str = "
ALTER TABLE runs ADD COLUMN workflow_hash TEXT NOT NULL DEFAULT '';
UPDATE runs SET workflow_hash = (SELECT hash FROM workflow_hashes WHERE id = runs.workflow_hash_id);
ALTER TABLE runs DROP COLUMN workflow_hash_id;
DROP TABLE workflow_hashes;
CREATE TABLE events_old (event_id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, trigger TEXT NOT NULL,
    received_at INTEGER NOT NULL, payload TEXT NOT NULL, dedupe_key TEXT, status TEXT NOT NULL, raw_body BLOB,
    reason TEXT, run_id TEXT, body_from_raw INTEGER NOT NULL DEFAULT 0, raw_packed INTEGER NOT NULL DEFAULT 0);
INSERT INTO events_old SELECT event_id, workflow_id, trigger, received_at, payload, dedupe_key, status, raw_body,
    reason, run_id, body_from_raw, raw_packed FROM events ORDER BY seq DESC;
DROP TABLE events;
ALTER TABLE events_old RENAME TO events;
CREATE INDEX events_received ON events (received_at, event_id);
CREATE INDEX events_workflow_received ON events (workflow_id, received_at, event_id);
CREATE INDEX events_status_received ON events (status, received_at, event_id);
INSERT INTO events (event_id, workflow_id, trigger, received_at, payload, status, reason)
VALUES ('tie-a', 'lc-hook', 'manual', 1785000000000, '{}', 'ignored', 'x'),
       ('tie-c', 'lc-hook', 'manual', 1785000000000, '{}', 'ignored', 'x'),
       ('tie-b', 'lc-hook', 'manual', 1785000000000, '{}', 'ignored', 'x');
DELETE FROM reqflow_migrations WHERE version IN (24, 29);";

/// Every event of the list, one page at a time (`limit=1`, `before=`).
fn events_paged(serve: &Serve, filter: &str) -> Vec<Value> {
    let (mut all, mut before) = (Vec::new(), String::new());
    loop {
        let r = serve.api(&format!("/api/events?limit=1{filter}{before}"));
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        all.extend(v["events"].as_array().cloned().unwrap_or_default());
        match v["next_before"].as_str() {
            Some(b) => before = format!("&before={b}"),
            None => return all,
        }
        assert!(all.len() < 100, "the pages do not end: {all:?}");
    }
}

fn ids(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["event_id"].as_str().expect("event id")).collect()
}

#[test]
fn sqlite_events_keyed_by_seq_and_an_old_database_reads_back_the_same() {
    let s = setup("lifecycle-evseq-sqlite");
    let file = s.dir.join("evseq.db");
    let db = format!("sqlite://{}", file.display());
    let serve = start(&s, &db, &[]);
    let runs = runs_to_compare(&serve, &s);
    hook(&serve, &person("cand-ref-3", "ref.three@example.com", "Ref Three", 1));
    let listed = events_paged(&serve, "");
    assert_eq!(listed.len(), 3, "{listed:?}");
    let shown: Vec<Value> = ids(&listed).iter().map(|id| serve.api(&format!("/api/events/{id}")).json()).collect();
    drop(serve);

    let c = rusqlite::Connection::open(&file).expect("open");
    let cols: Vec<String> = c
        .prepare("SELECT name FROM pragma_index_info('events_workflow_received')")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("index columns");
    assert_eq!(cols, ["workflow_id", "received_at"], "the index does not repeat the event id");
    let hash_len: i64 = c
        .query_row(
            "SELECT length(h.hash) FROM runs AS r JOIN workflow_hashes AS h ON h.id = r.workflow_hash_id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("a run's hash");
    assert_eq!(hash_len, 64, "runs name their workflow's hash through workflow_hashes");
    c.execute_batch(BEFORE_0024_SQLITE).expect("back to the old form");
    drop(c);

    let serve = start(&s, &db, &[]);
    same_runs(&serve, &runs);
    let again = events_paged(&serve, "");
    let mut want = ids(&listed);
    want.extend(["tie-c", "tie-b", "tie-a"]);
    assert_eq!(ids(&again), want, "the same order, events of one millisecond as before (by id, newest first)");
    assert_eq!(&again[..3], &listed[..], "the same summaries");
    for (id, event) in ids(&listed).iter().zip(&shown) {
        assert_eq!(&serve.api(&format!("/api/events/{id}")).json(), event, "event {id} reads back differently");
    }
    let next = serve.api("/api/events?limit=1&before=tie-c&workflow=lc-hook&outcome=ignored").json();
    assert_eq!(ids(next["events"].as_array().expect("events")), ["tie-b"], "a cursor issued before: {next}");
    let ignored = events_paged(&serve, "&outcome=ignored");
    assert_eq!(ids(&ignored), ["tie-c", "tie-b", "tie-a"]);
    let (ok, out, err) = cli(&["events", "list", "--db", &db, "--workflow", "lc-hook"]);
    assert!(ok, "{err}");
    let at = |id: &str| out.find(id).unwrap_or_else(|| panic!("{id} not listed: {out}"));
    assert!(at(want[0]) < at(want[1]) && at("tie-c") < at("tie-b") && at("tie-b") < at("tie-a"), "{out}");

    let c = rusqlite::Connection::open(&file).expect("open");
    let seqs: Vec<(String, i64)> = c
        .prepare("SELECT event_id, seq FROM events WHERE event_id LIKE 'tie-%' ORDER BY seq")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .expect("seq");
    let order: Vec<&str> = seqs.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(order, ["tie-a", "tie-b", "tie-c"], "numbered in the old list's order");
    let (hashes, unnamed): (i64, i64) = c
        .query_row(
            "SELECT (SELECT count(*) FROM workflow_hashes),
                    (SELECT count(*) FROM runs WHERE workflow_hash_id NOT IN (SELECT id FROM workflow_hashes))",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("hashes");
    assert_eq!((hashes, unnamed), (1, 0), "every run's hash converted, stored once");
}

// ---- A run's values packed with its own event body (dictionary 2; 0023) ----

#[test]
fn sqlite_run_values_use_the_runs_body_and_values_packed_before_read_back_the_same() {
    use reqflow_store::packed::{packed_with_dictionary_1, unpacked_bytes_of_run};
    let s = setup("lifecycle-run-dictionary");
    let file = s.dir.join("dict.db");
    let db = format!("sqlite://{}", file.display());
    let serve = start(&s, &db, &[]);
    let before = runs_to_compare(&serve, &s);
    drop(serve);

    let c = rusqlite::Connection::open(&file).expect("open");
    let bodies = run_bodies(&c);
    let mut repacked = 0;
    for (table, key, col) in [
        ("attempts", "id", "input"),
        ("attempts", "id", "output"),
        ("step_results", "run_seq || '|' || step_id", "output"),
    ] {
        let rows: Vec<(rusqlite::types::Value, i64, Vec<u8>)> = c
            .prepare(&format!("SELECT {key}, run_seq, {col} FROM {table} WHERE substr({col}, 1, 2) = x'0002'"))
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
            .expect("rows packed with the run's body");
        for (k, run, v) in rows {
            let body = bodies.get(&run).expect("a run with a packed value has its body");
            let text = unpacked_bytes_of_run(&v, Some(body)).expect("reads back with the run's body");
            assert!(unpacked_bytes_of_run(&v, None).is_err(), "not readable without it");
            let text = String::from_utf8(text).expect("text");
            let old = packed_with_dictionary_1(&text);
            assert!(old.len() > v.len(), "{table}.{col}: {} bytes with the body, {} without", v.len(), old.len());
            c.execute(&format!("UPDATE {table} SET {col} = ?1 WHERE {key} = ?2"), rusqlite::params![old, k])
                .expect("repack");
            repacked += 1;
        }
    }
    assert!(repacked >= 4, "the webhook runs' attempts are packed with their body: {repacked}");
    // As the previous reqflow left it: values with dictionary 1, no 0023.
    c.execute_batch("DELETE FROM reqflow_migrations WHERE version = 23").expect("back to 0022");
    drop(c);
    let serve = start(&s, &db, &[]);
    same_runs(&serve, &before);
}
