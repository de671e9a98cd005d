//! Connections end to end, through the real `reqflow` binary against
//! `reqflow sandbox`:
//!
//! - `reqflow connect workday`: the authorization-code grant — the authorize
//!   URL with a random `state`, the sandbox's consent page, a callback with a
//!   wrong `state` refused (the command keeps waiting), the real one
//!   accepted; a reused code and a code issued for another redirect URI
//!   refused by the token endpoint; a redirect URI that is not registered
//!   refused on the consent page. The refresh token is in the store only
//!   encrypted (the SQLite file and WAL, PostgreSQL's rows: absent in clear)
//!   and `serve` uses it on the next start (after the access token expires,
//!   the stored refresh token gets a new one). Also `--refresh-token-stdin`.
//! - `reqflow connections test` / `POST /api/connections/{w}/{n}/test`: ok for
//!   good credentials; `auth` for a revoked Workable token and a wrong ISU
//!   password; `permission` for the sandbox's "not authorized" switch, naming
//!   the domain; `network` for a port nobody listens on; `config` for a
//!   secret not set; `serve --check-connections` logs each result.
//! - `reqflow connections list` / `GET /api/connections`: type and state, no secret.
//! - One connect per tenant and API client; `serve` names a connection that is
//!   not connected and its schedule waits for the connect; the authorize URL
//!   opened in a browser only when asked (`--open`) or on an interactive terminal.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{
    PgDb, Sandbox, Serve, TEST_STATE_KEY, free_port, get, http, postgres_url, sandbox, sandbox_requests, temp_dir,
    wait_for,
};
use reqflow_sandbox::workday::seed::{CLIENT_ID, CLIENT_SECRET, ISU_PASSWORD, REFRESH_TOKEN};

/// A Workday OAuth connection without a `refresh_token:`: it is connected.
const CONNECTED: &str = r#"id: wd-connected
trigger: { manual: {} }
connections:
  workday:
    type: workday
    host: "{{ vars.SANDBOX }}"
    tenant: acme
    auth:
      oauth:
        client_id: "{{ secrets.WORKDAY_CLIENT_ID }}"
        client_secret: "{{ secrets.WORKDAY_CLIENT_SECRET }}"
steps:
  - id: candidates
    action: workday.candidates.get
    connection: workday
    with: { stages: [ASSESSMENT] }
"#;

/// One connection per outcome a check can have.
const CHECKS: &str = r#"id: checks
trigger: { manual: {} }
connections:
  workable_ok:
    type: workable
    base_url: "{{ vars.SANDBOX }}"
    token: "{{ secrets.WORKABLE_TOKEN }}"
  workable_revoked:
    type: workable
    base_url: "{{ vars.SANDBOX }}"
    token: "{{ secrets.WORKABLE_REVOKED }}"
  workday_isu:
    type: workday
    host: "{{ vars.SANDBOX }}"
    tenant: acme
    auth: { isu: { username: ISU_Recruiting, password: "{{ secrets.WD_PASSWORD }}" } }
  workday_wrong:
    type: workday
    host: "{{ vars.SANDBOX }}"
    tenant: acme
    auth: { isu: { username: ISU_Recruiting, password: "{{ secrets.WD_WRONG_PASSWORD }}" } }
  http_ok:
    type: http
    base_url: "{{ vars.SANDBOX }}"
    health: { path: /_sandbox/health }
  http_down:
    type: http
    base_url: "http://127.0.0.1:{{ vars.DEAD_PORT }}"
    health: { path: /status }
  http_slow:
    type: http
    base_url: "{{ vars.SANDBOX }}"
    timeout: 300ms
    auth: { bearer: "{{ secrets.WORKABLE_TOKEN }}" }
    health: { path: /spi/v3/jobs }
  https_untrusted:
    type: http
    base_url: "https://localhost:{{ vars.TLS_PORT }}"
    health: { path: /status }
  unset:
    type: workable
    base_url: "{{ vars.SANDBOX }}"
    token: "{{ secrets.NEVER_SET_TOKEN }}"
steps:
  - id: hello
    map: { ok: true }
"#;

const WORKABLE_TOKEN: &str = "workable-account-token-0001";
const WORKABLE_REVOKED: &str = "revoked-workable-token-0001";
const WRONG_PASSWORD: &str = "not-the-isu-password-0001";

struct Setup {
    dir: PathBuf,
    sb: Sandbox,
    db: String,
}

impl Setup {
    fn new(tag: &str, db: Option<String>) -> Setup {
        let dir = temp_dir(tag);
        std::fs::create_dir_all(dir.join("workflows")).expect("dir");
        std::fs::write(dir.join("workflows/wd-connected.yaml"), CONNECTED).expect("write");
        std::fs::write(dir.join("workflows/checks.yaml"), CHECKS).expect("write");
        let db = db.unwrap_or_else(|| format!("sqlite://{}", dir.join("reqflow.db").display()));
        Setup { dir, sb: sandbox(), db }
    }

    fn sandbox_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.sb.1)
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("REQFLOW_SECRET_KEY".into(), TEST_STATE_KEY.into()),
            ("REQFLOW_VAR_SANDBOX".into(), self.sandbox_url()),
            ("REQFLOW_VAR_DEAD_PORT".into(), dead_port().to_string()),
            ("REQFLOW_VAR_TLS_PORT".into(), tls_port().to_string()),
            ("REQFLOW_SECRET_WORKDAY_CLIENT_ID".into(), CLIENT_ID.into()),
            ("REQFLOW_SECRET_WORKDAY_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
            ("REQFLOW_SECRET_WORKABLE_TOKEN".into(), WORKABLE_TOKEN.into()),
            ("REQFLOW_SECRET_WORKABLE_REVOKED".into(), WORKABLE_REVOKED.into()),
            ("REQFLOW_SECRET_WD_PASSWORD".into(), ISU_PASSWORD.into()),
            ("REQFLOW_SECRET_WD_WRONG_PASSWORD".into(), WRONG_PASSWORD.into()),
        ]
    }

    fn workflows(&self) -> PathBuf {
        self.dir.join("workflows")
    }

    /// `reqflow ARGS --workflows DIR --db DB` with the settings; stdin, stdout and stderr piped.
    fn spawn(&self, args: &[&str]) -> Child {
        self.spawn_with(args, &[])
    }

    fn spawn_with(&self, args: &[&str], env: &[(&str, &str)]) -> Child {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_reqflow"));
        cmd.args(args).arg("--workflows").arg(self.workflows()).args(["--db", &self.db]);
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn reqflow")
    }

    /// Runs `reqflow ARGS` to the end: (exit success, stdout, stderr).
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        self.run_with(args, &[])
    }

    /// Runs `reqflow ARGS` to the end with `env` added.
    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
        let mut child = self.spawn_with(args, env);
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("reqflow");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    fn serve(&self, args: &[&str]) -> Serve {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Serve::start_with(free_port(), &self.workflows(), &self.db, &env, &self.dir, args)
    }
}

/// A loopback port nobody listens on (bound, then released).
fn dead_port() -> u16 {
    static PORT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *PORT.get_or_init(free_port)
}

/// A TLS server with a self-signed certificate nobody trusts (rcgen, rustls): it completes
/// what handshakes it can and closes. Started once per test process.
fn tls_port() -> u16 {
    static PORT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *PORT.get_or_init(|| {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
        let cert = made.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::try_from(made.signing_key.serialize_der()).expect("key");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = std::sync::Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .expect("server config"),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for mut sock in listener.incoming().flatten() {
                let Ok(mut conn) = rustls::ServerConnection::new(config.clone()) else { continue };
                let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = conn.complete_io(&mut sock);
            }
        });
        port
    })
}

/// `a=b&c=d`, percent-decoded.
fn query(q: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            if let (b'%', Some(v)) = (b[i], hex) {
                out.push(v);
                i += 3;
                continue;
            }
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
        String::from_utf8(out).expect("utf-8")
    };
    q.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect()
}

fn param(q: &[(String, String)], name: &str) -> String {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no `{name}` in {q:?}"))
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A started `reqflow connect workday`: its authorize URL's parameters.
struct Connect {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
    client_id: String,
    redirect_uri: String,
    state: String,
    /// `(port, path)` of the loopback callback.
    callback: (u16, String),
}

impl Connect {
    fn start(s: &Setup) -> Connect {
        let mut child = s.spawn(&["connect", "workday", "--workflow", "wd-connected", "--connection", "workday"]);
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("authorize URL");
        let url = line.trim().to_owned();
        assert!(url.starts_with(&format!("{}/acme/authorize?", s.sandbox_url())), "authorize URL: {url}");
        let q = query(url.split_once('?').expect("query").1);
        assert_eq!(param(&q, "response_type"), "code");
        let state = param(&q, "state");
        assert!(state.len() >= 32, "a long random state: {state}");
        let redirect_uri = param(&q, "redirect_uri");
        let rest = redirect_uri.strip_prefix("http://127.0.0.1:").expect("a loopback redirect URI");
        let (port, path) = rest.split_once('/').expect("path");
        Connect {
            child,
            stdout,
            client_id: param(&q, "client_id"),
            state,
            callback: (port.parse().expect("port"), format!("/{path}")),
            redirect_uri,
        }
    }

    /// The browser's callback request with these parameters.
    fn callback(&self, code: &str, state: &str) -> crate::harness::Resp {
        let path = format!("{}?code={}&state={}", self.callback.1, enc(code), enc(state));
        http(self.callback.0, "GET", &path, &[], b"")
    }

    /// Waits for the command: (success, rest of stdout, stderr).
    fn finish(mut self) -> (bool, String, String) {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut self.stdout, &mut out);
        let o = self.child.wait_with_output().expect("connect");
        (o.status.success(), out, String::from_utf8_lossy(&o.stderr).into())
    }
}

/// The consent form posted to the sandbox: the answer (302 with a code, or an error page).
fn consent(sb: u16, client_id: &str, redirect_uri: &str, state: &str) -> crate::harness::Resp {
    let body = format!(
        "response_type=code&client_id={}&redirect_uri={}&state={}&decision=approve",
        enc(client_id),
        enc(redirect_uri),
        enc(state)
    );
    http(sb, "POST", "/acme/authorize", &[("Content-Type", "application/x-www-form-urlencoded")], body.as_bytes())
}

/// The code and state of a consent's redirect.
fn code_of(r: &crate::harness::Resp, redirect_uri: &str) -> (String, String) {
    assert_eq!(r.status, 302, "consent: {} {}", r.status, r.body);
    let location = r.header("location").expect("Location");
    assert!(location.starts_with(redirect_uri), "{location}");
    let q = query(location.split_once('?').expect("query").1);
    (param(&q, "code"), param(&q, "state"))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Every value of the store's shared state, as stored (SQLite or PostgreSQL).
fn stored_state(db: &str) -> Vec<(String, String)> {
    if let Some(file) = db.strip_prefix("sqlite://") {
        let c = rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
        let mut st = c.prepare("SELECT key, value FROM shared_state ORDER BY key").expect("prepare");
        return st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("query").map(|r| r.expect("row")).collect();
    }
    let out = Command::new("psql")
        .args([
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-AtF",
            "\t",
            "-c",
            "SELECT key, value::text FROM shared_state ORDER BY key",
        ])
        .output()
        .expect("psql");
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// The SQLite file and its WAL, as bytes (empty for PostgreSQL).
fn db_bytes(db: &str) -> Vec<u8> {
    let Some(file) = db.strip_prefix("sqlite://") else { return Vec::new() };
    let mut bytes = std::fs::read(file).unwrap_or_default();
    bytes.extend(std::fs::read(format!("{file}-wal")).unwrap_or_default());
    bytes
}

/// The whole authorization-code flow, then `serve` using the stored token.
fn code_flow(s: &Setup) {
    // Before: not connected, and a check says how to connect.
    let (_, out, err) = s.run(&["connections", "list", "--json"]);
    let list: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let wd = list.as_array().expect("list").iter().find(|c| c["workflow"] == "wd-connected").expect("listed").clone();
    assert_eq!(
        wd["state"]["refresh_token"],
        "not connected: run `reqflow connect workday --workflow wd-connected --connection workday`",
        "{wd}"
    );
    assert_eq!(wd["connectable"], true);

    let c = Connect::start(s);
    assert_eq!(c.client_id, CLIENT_ID);
    // The consent page is a form; a redirect URI the client has not registered is refused on it.
    let page = get(
        s.sb.1,
        &format!(
            "/acme/authorize?response_type=code&client_id={}&redirect_uri={}&state={}",
            enc(&c.client_id),
            enc(&c.redirect_uri),
            enc(&c.state)
        ),
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<form") && page.body.contains("Allow"), "{}", page.body);
    let evil = consent(s.sb.1, &c.client_id, "https://attacker.example/cb", &c.state);
    assert_eq!(evil.status, 400, "{}", evil.body);
    assert!(evil.header("location").is_none(), "never redirected to an unregistered URI");

    let (code, state) = code_of(&consent(s.sb.1, &c.client_id, &c.redirect_uri, &c.state), &c.redirect_uri);
    assert_eq!(state, c.state, "the state comes back as it was sent");
    // A callback with another state is refused, and the command keeps waiting.
    let forged = c.callback(&code, "forged-state-0123456789abcdef");
    assert_eq!(forged.status, 400, "{}", forged.body);
    let ok = c.callback(&code, &state);
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("Connected"), "{}", ok.body);
    let (success, out, err) = c.finish();
    assert!(success, "connect failed:\n{out}\n{err}");
    assert!(out.contains("connected: wd-connected/workday (authorization_code)"), "{out}");
    assert!(err.contains("wrong `state` was refused"), "{err}");

    // The code works once: a second connect given the same code is refused by the token endpoint.
    let again = Connect::start(s);
    let r = again.callback(&code, &again.state);
    assert_eq!(r.status, 400, "{}", r.body);
    let (success, _, err) = again.finish();
    assert!(!success);
    assert!(err.contains("invalid_grant") && err.contains("already used"), "{err}");

    // A code issued for another redirect URI is refused at the exchange.
    let third = Connect::start(s);
    let other_uri = format!("http://127.0.0.1:{}/elsewhere", dead_port());
    let (other_code, _) = code_of(&consent(s.sb.1, &third.client_id, &other_uri, &third.state), &other_uri);
    let r = third.callback(&other_code, &third.state);
    assert_eq!(r.status, 400, "{}", r.body);
    let (success, _, err) = third.finish();
    assert!(!success);
    assert!(err.contains("redirect_uri does not match"), "{err}");

    // The refresh token the sandbox issued is nowhere in clear; its entry is encrypted.
    let state_rows = stored_state(&s.db);
    // One entry for the tenant and API client (named by a hash of the two, not per workflow).
    let (_, value) = state_rows
        .iter()
        .find(|(k, _)| k.starts_with("workday.connected.") && !k.contains("wd-connected"))
        .unwrap_or_else(|| panic!("connected entry: {state_rows:?}"));
    assert!(value.contains("rfenc:v1:"), "{value}");
    for (k, v) in &state_rows {
        assert!(!v.contains("wd-refresh-") && !v.contains("wd-access-"), "{k} in clear: {v}");
    }
    let bytes = db_bytes(&s.db);
    assert!(!contains(&bytes, "wd-refresh-"), "a refresh token in clear in the database file");

    // Listed as connected, with when; no token.
    let (_, out, _) = s.run(&["connections", "list", "--json"]);
    assert!(!out.contains("wd-refresh-") && !out.contains("wd-access-"), "{out}");
    let list: Value = serde_json::from_str(&out).expect("json");
    let wd = list.as_array().expect("list").iter().find(|c| c["workflow"] == "wd-connected").expect("listed").clone();
    assert_eq!(wd["state"]["refresh_token"], "connected (stored encrypted)", "{wd}");
    assert_eq!(wd["state"]["how"], "authorization_code");
    assert!(wd["state"]["connected_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{wd}");

    // The next start uses it: after the access token expires, the stored refresh token gets a new one.
    let serve = s.serve(&[]);
    get(s.sb.1, "/_sandbox/requests");
    http(s.sb.1, "DELETE", "/_sandbox/requests", &[], b"");
    crate::harness::post_json(s.sb.1, "/_sandbox/faults", &[], r#"{"expire_tokens": true}"#);
    let r = serve.api_post("/api/workflows/wd-connected/runs", "{}");
    assert_eq!(r.status, 202, "{}", r.body);
    let run = serve.wait_run(r.json()["run_id"].as_str().expect("run id"), Duration::from_secs(30));
    assert_eq!(run["run"]["status"], "succeeded", "{}", run["run"]);
    let refreshed = sandbox_requests(s.sb.1).iter().any(|q| {
        q["path"] == "/ccx/oauth2/acme/token"
            && q["body"].as_str().is_some_and(|b| b.contains("grant_type=refresh_token"))
    });
    assert!(refreshed, "serve refreshed with the stored token: {:?}", sandbox_requests(s.sb.1));
    // The check over the API is green; the list over the API shows the refresh.
    let t = serve.api_post("/api/connections/wd-connected/workday/test", "");
    assert_eq!(t.status, 200, "{}", t.body);
    assert_eq!(t.json()["ok"], true, "{}", t.body);
    let list = serve.api("/api/connections").json();
    let wd = list["connections"].as_array().expect("list").iter().find(|c| c["workflow"] == "wd-connected").cloned();
    let wd = wd.expect("listed");
    assert!(wd["state"]["last_refresh"].as_str().is_some_and(|t| t.ends_with('Z')), "{wd}");
    assert!(!list.to_string().contains("wd-refresh-"), "{list}");
}

#[test]
fn workday_code_flow_on_sqlite() {
    let s = Setup::new("connect-sqlite", None);
    code_flow(&s);
}

#[test]
fn workday_code_flow_on_postgres() {
    let Some(admin) = postgres_url("connections::workday_code_flow_on_postgres") else { return };
    let pg = PgDb::create(&admin, "connect");
    let s = Setup::new("connect-pg", Some(pg.url.clone()));
    code_flow(&s);
}

/// `reqflow connect workday --refresh-token-stdin` on `wd-connected`, given `token`.
fn connect_refresh_token(s: &Setup, token: &str) -> std::process::Output {
    let mut child = s.spawn(&[
        "connect",
        "workday",
        "--workflow",
        "wd-connected",
        "--connection",
        "workday",
        "--refresh-token-stdin",
    ]);
    writeln!(child.stdin.take().expect("stdin"), "{token}").expect("write");
    child.wait_with_output().expect("connect")
}

#[test]
fn an_existing_refresh_token_is_stored_encrypted() {
    let s = Setup::new("connect-refresh", None);
    let out = connect_refresh_token(&s, REFRESH_TOKEN);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("(refresh_token)"), "{stdout}");
    assert!(!contains(&db_bytes(&s.db), REFRESH_TOKEN), "the refresh token in clear in the database file");
    let (ok, out, err) = s.run(&["connections", "test", "--workflow", "wd-connected"]);
    assert!(ok, "{out}\n{err}");
    assert!(out.starts_with("ok"), "{out}");
    // The stored token goes only to the client it was issued for.
    let (ok, out, err) = s.run_with(
        &["connections", "test", "--workflow", "wd-connected"],
        &[("REQFLOW_SECRET_WORKDAY_CLIENT_ID", "another-client-id-0001")],
    );
    assert!(!ok, "{out}\n{err}");
    assert!(out.contains("FAIL (config)") && out.contains("not connected: run `reqflow connect workday"), "{out}");

    // A refused token is not stored.
    let out = connect_refresh_token(&s, "not-a-valid-refresh-token");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_grant"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_pasted_code_connects_and_a_pasted_url_with_another_state_is_refused() {
    let s = Setup::new("connect-paste", None);
    let redirect = "http://127.0.0.1:9/registered-callback";
    let paste = |wrong_state: bool| {
        let mut child = s.spawn(&[
            "connect",
            "workday",
            "--workflow",
            "wd-connected",
            "--connection",
            "workday",
            "--code-stdin",
            "--redirect-uri",
            redirect,
        ]);
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("authorize URL");
        let q = query(line.trim().split_once('?').expect("query").1);
        assert_eq!(param(&q, "redirect_uri"), redirect);
        let (code, state) = code_of(&consent(s.sb.1, CLIENT_ID, redirect, &param(&q, "state")), redirect);
        let state = if wrong_state { "another-state".to_owned() } else { state };
        writeln!(child.stdin.take().expect("stdin"), "{redirect}?code={}&state={}", enc(&code), enc(&state))
            .expect("paste");
        let out = child.wait_with_output().expect("connect");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) = paste(true);
    assert!(!ok, "a pasted URL with another state is refused");
    assert!(err.contains("`state` is not the one this command gave"), "{err}");
    let (ok, err) = paste(false);
    assert!(ok, "{err}");
    let (ok, out, err) = s.run(&["connections", "test", "--workflow", "wd-connected"]);
    assert!(ok, "{out}\n{err}");
}

fn by_name(reports: &Value) -> std::collections::HashMap<String, Value> {
    reports
        .as_array()
        .expect("array")
        .iter()
        .map(|r| (r["connection"].as_str().expect("name").to_owned(), r.clone()))
        .collect()
}

#[test]
fn checks_answer_ok_or_the_failure_class() {
    let s = Setup::new("connect-checks", None);
    let (ok, out, err) = s.run(&["connections", "test", "--workflow", "checks", "--json"]);
    assert!(!ok, "some checks fail, so the exit status is 1");
    let reports: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let r = by_name(&reports);
    let class = |n: &str| r[n]["class"].as_str().map(str::to_owned);
    assert_eq!(r["workable_ok"]["ok"], true, "{}", r["workable_ok"]);
    assert!(r["workable_ok"]["message"].as_str().unwrap_or("").contains("GET /members?limit=1"));
    assert_eq!(r["workday_isu"]["ok"], true, "{}", r["workday_isu"]);
    assert_eq!(r["http_ok"]["ok"], true, "{}", r["http_ok"]);
    assert_eq!(class("workable_revoked").as_deref(), Some("auth"), "{}", r["workable_revoked"]);
    assert_eq!(class("workday_wrong").as_deref(), Some("auth"), "{}", r["workday_wrong"]);
    assert_eq!(class("http_down").as_deref(), Some("network"), "{}", r["http_down"]);
    assert_eq!(class("https_untrusted").as_deref(), Some("tls"), "{}", r["https_untrusted"]);
    assert_eq!(class("unset").as_deref(), Some("config"), "{}", r["unset"]);
    assert!(r["unset"]["message"].as_str().unwrap_or("").contains("NEVER_SET_TOKEN"), "{}", r["unset"]);
    for secret in [WORKABLE_TOKEN, WORKABLE_REVOKED, WRONG_PASSWORD, ISU_PASSWORD] {
        assert!(!out.contains(secret), "a secret in the output: {out}");
    }
    // Human output: one line per connection.
    let (_, text, _) = s.run(&["connections", "test", "--workflow", "checks", "workable_revoked"]);
    assert!(text.starts_with("FAIL (auth) checks/workable_revoked (workable):"), "{text}");

    // The permission switch: Workday's "not authorized", reported as a missing domain permission.
    let deny = r#"{"operations": ["Get_Job_Requisitions"], "domain": "Job Requisition Data"}"#;
    assert_eq!(crate::harness::post_json(s.sb.1, "/_sandbox/workday/deny", &[], deny).status, 200);
    let (ok, out, _) = s.run(&["connections", "test", "--workflow", "checks", "workday_isu", "--json"]);
    assert!(!ok);
    let r = by_name(&serde_json::from_str(&out).expect("json"));
    assert_eq!(r["workday_isu"]["class"], "permission", "{out}");
    let msg = r["workday_isu"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("missing domain permission") && msg.contains("`Job Requisition Data`"), "{msg}");
    // Without a domain in the fault: still a permission failure, saying what to grant.
    crate::harness::post_json(s.sb.1, "/_sandbox/workday/deny", &[], "{}");
    let (_, out, _) = s.run(&["connections", "test", "--workflow", "checks", "workday_isu", "--json"]);
    let r = by_name(&serde_json::from_str(&out).expect("json"));
    assert_eq!(r["workday_isu"]["class"], "permission", "{out}");
    assert!(r["workday_isu"]["message"].as_str().unwrap_or("").contains("not authorized"), "{out}");
    http(s.sb.1, "DELETE", "/_sandbox/workday/deny", &[], b"");

    // No answer within the connection's timeout: class timeout.
    let slow = r#"{"delay_ms": 2000, "path_prefix": "/spi/v3/jobs"}"#;
    assert_eq!(crate::harness::post_json(s.sb.1, "/_sandbox/faults", &[], slow).status, 200);
    let (_, out, _) = s.run(&["connections", "test", "--workflow", "checks", "http_slow", "--json"]);
    let r = by_name(&serde_json::from_str(&out).expect("json"));
    assert_eq!(r["http_slow"]["class"], "timeout", "{out}");
    http(s.sb.1, "DELETE", "/_sandbox/faults", &[], b"");

    // `serve --check-connections` logs each result; the API answers the same.
    let serve = s.serve(&["--check-connections"]);
    wait_for(
        || {
            let log = serve.log_text();
            log.contains("connection check ok") && log.matches("connection check").count() >= 10
        },
        "every connection checked at start",
    );
    let log = serve.log_text();
    let line = |conn: &str| log.lines().find(|l| l.contains(&format!("connection={conn} "))).unwrap_or("").to_owned();
    assert!(
        line("http_down").contains("connection check failed") && line("http_down").contains("class=network"),
        "{log}"
    );
    assert!(line("workable_ok").contains("connection check ok"), "{log}");
    for secret in [WORKABLE_TOKEN, WORKABLE_REVOKED, WRONG_PASSWORD, ISU_PASSWORD] {
        assert!(!log.contains(secret), "a secret in the log");
    }
    let t = serve.api_post("/api/connections/checks/workable_revoked/test", "");
    assert_eq!(t.status, 200, "{}", t.body);
    assert_eq!(t.json()["class"], "auth", "{}", t.body);
    assert_eq!(serve.api_post("/api/connections/checks/nope/test", "").status, 404);
    assert_eq!(serve.api_post("/api/connections/nope/x/test", "").status, 404);
    let list = serve.api("/api/connections").json();
    let unset = list["connections"].as_array().expect("list").iter().find(|c| c["name"] == "unset").cloned();
    assert_eq!(unset.expect("listed")["status"], "not configured", "{list}");
    assert!(!list.to_string().contains(WORKABLE_TOKEN), "{list}");
}

#[test]
fn connect_over_the_admin_api_completes_at_the_callback() {
    let s = Setup::new("connect-api", None);
    let serve = s.serve(&[]);
    // Not an OAuth connection: refused.
    let r = serve.api_post("/api/connections/checks/workable_ok/connect", "");
    assert_eq!(r.status, 400, "{}", r.body);
    let r = serve.api_post("/api/connections/wd-connected/workday/connect", "");
    assert_eq!(r.status, 200, "{}", r.body);
    let auth = r.json();
    let url = auth["authorize_url"].as_str().expect("url");
    let redirect = format!("http://127.0.0.1:{}/connect/callback", serve.admin);
    assert_eq!(auth["redirect_uri"], redirect.as_str());
    let q = query(url.split_once('?').expect("query").1);
    let state = param(&q, "state");
    let (code, _) = code_of(&consent(s.sb.1, CLIENT_ID, &redirect, &state), &redirect);
    // A wrong state is refused and changes nothing; the right one connects, once.
    // The tokenless callback: only on the admin listener; without a valid state, no data, no change.
    assert_eq!(reqflow_server::OAUTH_CALLBACK_PATH, "/connect/callback");
    assert_eq!(http(serve.port, "GET", "/connect/callback", &[], b"").status, 404, "not on the public listener");
    let bare = http(serve.admin, "GET", "/connect/callback", &[], b"");
    assert_eq!(bare.status, 400, "{}", bare.body);
    assert!(!bare.body.contains("wd-connected") && !bare.body.contains("workday"), "{}", bare.body);
    let cb = |code: &str, state: &str| {
        http(serve.admin, "GET", &format!("/connect/callback?code={}&state={}", enc(code), enc(state)), &[], b"")
    };
    assert_eq!(cb(&code, "0000").status, 400);
    let ok = cb(&code, &state);
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(cb(&code, &state).status, 400, "a state works once");
    let list = serve.api("/api/connections").json();
    let wd = list["connections"].as_array().expect("list").iter().find(|c| c["workflow"] == "wd-connected").cloned();
    assert_eq!(wd.expect("listed")["state"]["refresh_token"], "connected (stored encrypted)", "{list}");
    let t = serve.api_post("/api/connections/wd-connected/workday/test", "");
    assert_eq!(t.json()["ok"], true, "{}", t.body);
    let audit = serve.api("/api/audit").json().to_string();
    assert!(audit.contains("connection.connect.callback") && audit.contains("connection.connect"), "{audit}");
}

/// Node, Chromium and playwright-core, or the reason they cannot be used.
fn browser_tools(root: &std::path::Path) -> Result<(), String> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("node is not installed".into());
    }
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        return Err("/usr/bin/chromium is missing (apt-get install chromium)".into());
    }
    if !root.join("tests/browser/node_modules/playwright-core/package.json").exists() {
        return Err("playwright-core is not installed (cd tests/browser && npm ci)".into());
    }
    Ok(())
}

/// The console's Connections page in a real Chromium (`tests/browser/connections.mjs`):
/// type and state listed, Test answers ok / auth / network, no Test button for a read session;
/// an admin connects Workday through the sandbox's consent page and sees it connected;
/// screenshots in `target/console-screenshots/`.
#[test]
fn the_connections_page_in_a_real_browser() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if let Err(why) = browser_tools(&root) {
        assert!(std::env::var("REQFLOW_REQUIRE_BROWSER").as_deref() != Ok("1"), "REQFLOW_REQUIRE_BROWSER=1 but {why}");
        crate::harness::note_skipped(&format!("SKIPPED: connections::the_connections_page_in_a_real_browser: {why}"));
        return;
    }
    let s = Setup::new("connect-browser", None);
    let serve = s.serve(&[]);
    let operate = crate::harness::create_token(&s.db, "browser-op", "operate", &[]);
    let read = crate::harness::create_token(&s.db, "browser-read", "read", &[]);
    let admin = crate::harness::create_token(&s.db, "browser-admin", "admin", &[]);
    let out = s.dir.join("browser");
    let result = Command::new("node")
        .arg(root.join("tests/browser/connections.mjs"))
        .current_dir(root.join("tests/browser"))
        .env("BASE", format!("http://127.0.0.1:{}", serve.admin))
        .env("OPERATE", &operate)
        .env("READ", &read)
        .env("ADMIN", &admin)
        .env("SANDBOX", s.sandbox_url())
        .env("SECRET_CANARY", WORKABLE_TOKEN)
        .env("OUT", &out)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    eprintln!("{stdout}{stderr}");
    let shots = root.join("target/console-screenshots");
    std::fs::create_dir_all(&shots).expect("shots dir");
    for e in std::fs::read_dir(&out).into_iter().flatten().flatten() {
        if e.path().extension().is_some_and(|x| x == "png") {
            std::fs::copy(e.path(), shots.join(e.file_name())).expect("copy");
        }
    }
    assert!(result.status.success(), "the browser test failed:\n{stdout}\n{stderr}\n{}", serve.log_text());
    for name in ["connections", "connections-read-dark", "connect-consent", "connect-callback", "connections-connected"]
    {
        assert!(out.join(format!("{name}.png")).exists(), "screenshot {name}");
    }
}

/// A scheduled workflow on the same tenant and API client as `wd-connected`,
/// its refresh token an optional secret (as in the shipped workflows).
const POLL: &str = r#"id: wd-poll
trigger: { schedule: { every: 1s } }
connections:
  workday:
    type: workday
    host: "{{ vars.SANDBOX }}"
    tenant: acme
    auth:
      oauth:
        client_id: "{{ secrets.WORKDAY_CLIENT_ID }}"
        client_secret: "{{ secrets.WORKDAY_CLIENT_SECRET }}"
        refresh_token: "{{ secrets.WD_POLL_REFRESH_TOKEN | default(none) }}"
steps:
  - id: candidates
    action: workday.candidates.get
    connection: workday
    with: { stages: [ASSESSMENT] }
"#;

/// `serve` names a connection that is neither connected nor given a refresh
/// token (not the optional secret), its schedule does not fire and says so
/// once; one connect (`reqflow connect workday`, no workflow named: they all
/// use one tenant and client) of another workflow's connection connects it
/// too (from another process, while serving), and the schedule fires.
#[test]
fn a_schedule_waits_until_its_connection_is_connected_once_per_tenant() {
    let s = Setup::new("connect-schedule", None);
    std::fs::write(s.workflows().join("wd-poll.yaml"), POLL).expect("write");
    let serve = s.serve(&[]);
    let log = serve.log_text();
    assert!(
        log.contains(
            "connection `workday`: not connected: run `reqflow connect workday --workflow wd-poll --connection \
             workday` (its schedule does not fire until it is)"
        ),
        "{log}"
    );
    assert!(!log.contains("WD_POLL_REFRESH_TOKEN"), "an optional secret is not listed as missing: {log}");
    let polls = || serve.api("/api/runs?workflow=wd-poll").json()["runs"].as_array().cloned().unwrap_or_default();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(polls().is_empty(), "the schedule fired while not connected: {:?}", polls());
    let said = |log: &str| log.lines().filter(|l| l.contains("WARN") && l.contains("schedule does not fire")).count();
    assert_eq!(said(&serve.log_text()), 1, "said once:\n{}", serve.log_text());

    // Without --workflow/--connection: the workflows' Workday OAuth connections share one tenant and client.
    let mut child = s.spawn(&["connect", "workday", "--refresh-token-stdin"]);
    writeln!(child.stdin.take().expect("stdin"), "{REFRESH_TOKEN}").expect("write");
    let out = child.wait_with_output().expect("connect");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("connected: wd-connected/workday (refresh_token)"), "{stdout}");
    assert!(stdout.contains("connected: wd-poll/workday (the same tenant and API client)"), "{stdout}");
    wait_for(|| polls().iter().any(|r| r["status"] == "succeeded"), "a scheduled run once connected");
    let log = serve.log_text();
    assert!(log.contains("schedule fires again"), "{log}");
    assert_eq!(said(&log), 1, "said once:\n{log}");
    let (_, out, _) = s.run(&["connections", "list", "--json"]);
    let list: Value = serde_json::from_str(&out).expect("json");
    for wf in ["wd-poll", "wd-connected"] {
        let c = list.as_array().expect("list").iter().find(|c| c["workflow"] == wf).expect("listed").clone();
        assert_eq!(c["state"]["refresh_token"], "connected (stored encrypted)", "{c}");
    }
}

/// `reqflow connect workday` opens the authorize URL only when asked (or on
/// an interactive terminal): without a terminal (as in CI) it prints it and
/// starts nothing, even with a display; `--no-open` never opens; `--open`
/// hands the printed URL to the desktop's opener (`xdg-open`, here a
/// stand-in on PATH that records it), and approving it there connects.
#[cfg(target_os = "linux")]
#[test]
fn the_authorize_url_is_opened_in_a_browser_only_when_asked() {
    use std::os::unix::fs::PermissionsExt;
    let s = Setup::new("connect-open", None);
    let bin = s.dir.join("bin");
    std::fs::create_dir_all(&bin).expect("dir");
    let opened = s.dir.join("opened.txt");
    let opener = bin.join("xdg-open");
    std::fs::write(&opener, format!("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n", opened.display())).expect("write");
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let env = [("PATH", path.as_str()), ("DISPLAY", ":0")];
    let args = ["connect", "workday", "--workflow", "wd-connected", "--connection", "workday"];
    let authorize = format!("{}/acme/authorize?", s.sandbox_url());
    for extra in [None, Some("--no-open")] {
        let mut child = s.spawn_with(&[&args[..], extra.as_slice()].concat(), &env);
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("authorize URL");
        assert!(line.starts_with(&authorize), "printed: {line}");
        std::thread::sleep(Duration::from_millis(300));
        let _ = child.kill();
        let err = String::from_utf8_lossy(&child.wait_with_output().expect("connect").stderr).into_owned();
        assert!(!opened.exists(), "{extra:?}: a browser was started: {err}");
        assert!(!err.contains("opened it"), "{err}");
    }
    let mut child = s.spawn_with(&[&args[..], &["--open"]].concat(), &env);
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("authorize URL");
    let url = line.trim().to_owned();
    wait_for(|| opened.exists(), "the opener");
    assert_eq!(std::fs::read_to_string(&opened).expect("read").trim(), url, "the printed URL, opened");
    // The person approves in the browser that opened: the consent, then the redirect to the callback.
    let q = query(url.split_once('?').expect("query").1);
    let redirect = param(&q, "redirect_uri");
    let (code, state) = code_of(&consent(s.sb.1, CLIENT_ID, &redirect, &param(&q, "state")), &redirect);
    let back = loopback_get(&format!("{redirect}?code={}&state={}", enc(&code), enc(&state)));
    assert_eq!(back.status, 200, "{}", back.body);
    let out = child.wait_with_output().expect("connect");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("opened it with `xdg-open`"), "{err}");
}

/// A GET of a loopback `http://127.0.0.1:PORT/path?query` URL.
fn loopback_get(url: &str) -> crate::harness::Resp {
    let rest = url.strip_prefix("http://127.0.0.1:").expect("a loopback URL");
    let (port, path) = rest.split_once('/').expect("path");
    http(port.parse().expect("port"), "GET", &format!("/{path}"), &[], b"")
}
