//! Credentials at rest, end to end: `reqflow sandbox` (Workday's OAuth token
//! endpoint and SOAP API) and `reqflow serve` as real processes. A Workday
//! OAuth step caches its access and refresh tokens in the store's shared
//! state; afterwards neither token is anywhere in the SQLite file or its WAL
//! (nor in PostgreSQL's `shared_state` rows), while the encrypted value is
//! there and is read back after a restart. Without a key nothing is stored and
//! the step says how to set one. New database files are private (0600).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{
    PgDb, Sandbox, Serve, TEST_STATE_KEY, free_port, post_json, postgres_url, sandbox, sandbox_requests, temp_dir,
};
use reqflow_sandbox::workday::seed::{CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN};

const HOOK_TOKEN: &str = "at-rest-hook-token";
/// What the sandbox's access tokens start with (`wd-access-000001`, …).
const ACCESS_TOKEN_PREFIX: &str = "wd-access-";

const WORKFLOW: &str = r#"id: wd-oauth
trigger:
  webhook:
    path: test/wd
    auth: { bearer: "{{ secrets.HOOK_TOKEN }}" }
connections:
  workday:
    type: workday
    host: "{{ secrets.WORKDAY_HOST }}"
    tenant: acme
    auth:
      oauth:
        client_id: "{{ secrets.WORKDAY_CLIENT_ID }}"
        client_secret: "{{ secrets.WORKDAY_CLIENT_SECRET }}"
        refresh_token: "{{ secrets.WORKDAY_REFRESH_TOKEN }}"
steps:
  - id: candidates
    action: workday.candidates.get
    connection: workday
    with: { stages: [ASSESSMENT] }
"#;

struct Setup {
    dir: PathBuf,
    host: String,
}

fn setup(tag: &str, sb: &Sandbox) -> Setup {
    let dir = temp_dir(tag);
    std::fs::create_dir_all(dir.join("workflows")).expect("dir");
    std::fs::write(dir.join("workflows/wd-oauth.yaml"), WORKFLOW).expect("write");
    Setup { dir, host: format!("http://127.0.0.1:{}", sb.1) }
}

impl Setup {
    fn env(&self) -> Vec<(&str, &str)> {
        vec![
            ("REQFLOW_SECRET_HOOK_TOKEN", HOOK_TOKEN),
            ("REQFLOW_SECRET_WORKDAY_HOST", self.host.as_str()),
            ("REQFLOW_SECRET_WORKDAY_CLIENT_ID", CLIENT_ID),
            ("REQFLOW_SECRET_WORKDAY_CLIENT_SECRET", CLIENT_SECRET),
            ("REQFLOW_SECRET_WORKDAY_REFRESH_TOKEN", REFRESH_TOKEN),
        ]
    }

    fn serve(&self, db: &str, key: &str) -> Serve {
        let mut env = self.env();
        env.push(("REQFLOW_SECRET_KEY", key));
        Serve::start(&self.dir.join("workflows"), db, &env, &self.dir)
    }

    fn sqlite(&self) -> (PathBuf, String) {
        let file = self.dir.join("reqflow.db");
        let url = format!("sqlite://{}", file.display());
        (file, url)
    }
}

/// One run of the workflow, finished.
fn run_once(serve: &Serve, id: &str) -> Value {
    let auth = format!("Bearer {HOOK_TOKEN}");
    let r = post_json(serve.port, "/hooks/test/wd", &[("Authorization", &auth)], &json!({ "id": id }).to_string());
    assert_eq!(r.status, 202, "{}", r.body);
    let run_id = r.json()["run_id"].as_str().expect("run id").to_owned();
    serve.wait_run(&run_id, Duration::from_secs(30))
}

/// Token requests the sandbox answered.
fn token_requests(sb: &Sandbox) -> usize {
    sandbox_requests(sb.1).iter().filter(|r| r["path"] == "/ccx/oauth2/acme/token").count()
}

/// The SQLite file and its WAL, as bytes.
fn sqlite_bytes(file: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(file).expect("database file");
    let wal = PathBuf::from(format!("{}-wal", file.display()));
    bytes.extend(std::fs::read(&wal).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The shared state's rows, read with a connection of our own (beside `serve`).
fn sqlite_state(file: &Path) -> Vec<(String, String)> {
    let c = rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
    let mut st = c.prepare("SELECT key, value FROM shared_state ORDER BY key").expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").map(|r| r.expect("row")).collect()
}

fn pg_state(url: &str) -> Vec<(String, String)> {
    let out = std::process::Command::new("psql")
        .args([
            url,
            "-v",
            "ON_ERROR_STOP=1",
            "-AtF",
            "\t",
            "-c",
            "SELECT key, value::text FROM shared_state ORDER BY key",
        ])
        .output()
        .expect("psql (install postgresql-client)");
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// The run succeeded, one token was fetched, and the one stored value is
/// encrypted (and holds neither token in clear).
fn assert_sealed(run: &Value, sb: &Sandbox, state: &[(String, String)]) {
    assert_eq!(run["run"]["status"], "succeeded", "{run:#}");
    assert_eq!(token_requests(sb), 1, "one token fetched");
    assert_eq!(state.len(), 1, "one cached token set: {state:?}");
    let (key, value) = &state[0];
    assert!(key.starts_with("workday.oauth."), "{key}");
    assert!(value.starts_with("\"rfenc:v1:"), "encrypted: {value}");
    assert!(!value.contains(ACCESS_TOKEN_PREFIX) && !value.contains(REFRESH_TOKEN), "{value}");
}

#[test]
fn oauth_tokens_are_encrypted_in_the_sqlite_file_and_its_wal() {
    let sb = sandbox();
    let s = setup("at-rest-sqlite", &sb);
    let (file, db) = s.sqlite();
    {
        let serve = s.serve(&db, TEST_STATE_KEY);
        let run = run_once(&serve, "a");
        assert_sealed(&run, &sb, &sqlite_state(&file));
        let bytes = sqlite_bytes(&file);
        assert!(contains(&bytes, "rfenc:v1:"), "the encrypted value is in the file or its WAL");
        assert!(!contains(&bytes, ACCESS_TOKEN_PREFIX), "an access token is in the database in clear");
        assert!(!contains(&bytes, REFRESH_TOKEN), "the refresh token is in the database in clear");
    }
    // Restarted with the same key: the stored token is decrypted and reused.
    {
        let serve = s.serve(&db, TEST_STATE_KEY);
        let run = run_once(&serve, "b");
        assert_eq!(run["run"]["status"], "succeeded", "{run:#}");
        assert_eq!(token_requests(&sb), 1, "the stored token was reused, not fetched again");
    }
    // With another key, the stored credential does not decrypt: the step says so.
    let other = "b3RoZXIta2V5LW9mLTMyLWJ5dGVzLWZvci1yZXFmbG8=";
    let serve = s.serve(&db, other);
    let run = run_once(&serve, "c");
    assert_eq!(run["run"]["status"], "failed", "{run:#}");
    let text = run["steps"].to_string();
    assert!(text.contains("cannot be decrypted with the configured key"), "{run:#}");
    assert!(!text.contains(other) && !text.contains(TEST_STATE_KEY), "{run:#}");
}

#[test]
fn oauth_tokens_are_encrypted_in_postgres() {
    let Some(admin) = postgres_url("oauth_tokens_are_encrypted_in_postgres") else { return };
    let pg = PgDb::create(&admin, "at_rest");
    let sb = sandbox();
    let s = setup("at-rest-pg", &sb);
    let serve = s.serve(&pg.url, TEST_STATE_KEY);
    let run = run_once(&serve, "a");
    assert_sealed(&run, &sb, &pg_state(&pg.url));
}

#[test]
fn without_a_key_the_step_says_how_to_set_one_and_nothing_is_stored() {
    let sb = sandbox();
    let s = setup("at-rest-nokey", &sb);
    let (file, db) = s.sqlite();
    let serve = Serve::start_without_key(&s.dir.join("workflows"), &db, &s.env(), &s.dir, &[]);
    assert!(serve.log_text().contains("warning: no REQFLOW_SECRET_KEY"), "{}", serve.log_text());
    let run = run_once(&serve, "a");
    assert_eq!(run["run"]["status"], "failed", "{run:#}");
    let step = &run["steps"][0];
    assert_eq!(step["error"]["code"], "state.no_key", "{run:#}");
    let message = step["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("set REQFLOW_SECRET_KEY to 32 random bytes in base64"), "{message}");
    assert!(sqlite_state(&file).is_empty(), "nothing stored");
    assert!(!contains(&sqlite_bytes(&file), ACCESS_TOKEN_PREFIX), "no token in the database");
}

#[test]
fn a_key_in_the_secrets_file_is_used_and_hidden_from_workflows() {
    let sb = sandbox();
    let s = setup("at-rest-file", &sb);
    // A workflow that tries to send the key somewhere gets nothing.
    let probe = "id: probe\ntrigger:\n  webhook:\n    path: test/probe\n    auth: { bearer: \"{{ secrets.HOOK_TOKEN }}\" }\n\
                 steps:\n  - id: leak\n    map: { key: \"[{{ secrets.KEY | default('none') }}]\" }\n";
    std::fs::write(s.dir.join("workflows/probe.yaml"), probe).expect("write");
    let file = s.dir.join("secrets.env");
    std::fs::write(&file, format!("# the state key\nKEY={TEST_STATE_KEY}\n")).expect("write secrets");
    let (db_file, db) = s.sqlite();
    let secrets = file.to_str().expect("utf8");
    let serve = Serve::start_without_key(&s.dir.join("workflows"), &db, &s.env(), &s.dir, &["--secrets", secrets]);
    assert!(!serve.log_text().contains("warning: no REQFLOW_SECRET_KEY"), "{}", serve.log_text());
    let run = run_once(&serve, "a");
    assert_sealed(&run, &sb, &sqlite_state(&db_file));

    let auth = format!("Bearer {HOOK_TOKEN}");
    let r = post_json(serve.port, "/hooks/test/probe", &[("Authorization", &auth)], "{}");
    assert_eq!(r.status, 202, "{}", r.body);
    let probe = serve.wait_run(r.json()["run_id"].as_str().expect("run id"), Duration::from_secs(30));
    assert_eq!(probe["run"]["status"], "succeeded", "{probe:#}");
    assert_eq!(probe["steps"][0]["output"]["key"], "[none]", "{probe:#}");
    assert!(!probe.to_string().contains(TEST_STATE_KEY), "{probe:#}");
}

#[test]
fn serve_refuses_a_key_that_is_not_32_bytes_of_base64() {
    let dir = temp_dir("at-rest-badkey");
    std::fs::create_dir_all(dir.join("workflows")).expect("dir");
    let bad = "c2hvcnQta2V5LW9mLTE5LWJ5dA=="; // base64 of 19 bytes
    let out = crate::reqflow()
        .args(["serve", "--workflows"])
        .arg(dir.join("workflows"))
        .args(["--db", &format!("sqlite://{}", dir.join("r.db").display())])
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .env("REQFLOW_SECRET_KEY", bad)
        .output()
        .expect("run serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("decodes to 19 bytes") && stderr.contains("32 random bytes in base64"), "{stderr}");
    assert!(!stderr.contains(bad), "{stderr}");
}

#[cfg(unix)]
#[test]
fn a_new_sqlite_database_and_its_wal_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("at-rest-mode");
    std::fs::create_dir_all(dir.join("workflows")).expect("dir");
    let file = dir.join("reqflow.db");
    // Running: the WAL and shared-memory files exist beside the database.
    let _serve = Serve::start(&dir.join("workflows"), &format!("sqlite://{}", file.display()), &[], &dir);
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", file.display()));
        let mode = std::fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}: {mode:o}", path.display());
    }
}
