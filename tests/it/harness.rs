//! Test harness: the real `reqflow serve` as a child process, a minimal
//! HTTP/1.1 client, and a vendor endpoint on loopback (a real HTTP server
//! standing in for a third party: it records requests and answers as told).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A free loopback port for a `serve` to bind later.
///
/// Chosen below the kernel's ephemeral range (32768–60999 on Linux), and never
/// the same twice in one test process: a port picked with `bind(":0")` and
/// released is an ephemeral port, which the kernel may hand to any outgoing
/// connection (the tests make thousands) before `serve` binds it — and then
/// a restart on "its" port fails with `Address already in use`.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Each test process starts at its own offset in 20000..32000.
    let base = 20_000 + (std::process::id() % 60) * 200;
    for _ in 0..12_000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (base - 20_000 + n) % 12_000;
        let port = u16::try_from(port).expect("port below 32000");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in 20000..32000")
}

/// A fresh temporary directory.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("reqflow-it-{tag}-{}-{}", std::process::id(), fastrand_u64()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A temp dir holding `workflows/{name}.yaml` with `yaml`; returns it and a SQLite URL inside it.
pub fn workflow_dir(tag: &str, name: &str, yaml: &str) -> (PathBuf, String) {
    let dir = temp_dir(tag);
    std::fs::create_dir_all(dir.join("workflows")).expect("workflows dir");
    std::fs::write(dir.join(format!("workflows/{name}.yaml")), yaml).expect("write workflow");
    let db = format!("sqlite://{}", dir.join("reqflow.db").display());
    (dir, db)
}

/// Every run `/api/runs?{filter}` lists, following the pages.
pub fn all_runs(serve: &Serve, filter: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let q = before.as_ref().map(|b| format!("&before={b}")).unwrap_or_default();
        let page = serve.api(&format!("/api/runs?{filter}&limit=1000{q}")).json();
        out.extend(page["runs"].as_array().cloned().unwrap_or_default());
        match page["next_before"].as_str() {
            Some(b) => before = Some(b.to_owned()),
            None => return out,
        }
    }
}

/// Waits until the engine on `port` has no run queued or running (`/healthz`).
pub fn wait_idle(port: u16, timeout: Duration) {
    wait_idle_at(loopback(port), timeout)
}

/// Waits until the engine at `addr` (its public listener) has no run queued
/// or running (`/healthz`; the counts are the store's, so with several
/// processes on one database any of them answers for all).
pub fn wait_idle_at(addr: SocketAddr, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let h = http_to(addr, "GET", "/healthz", &[], b"").json();
        if h["queued"] == 0 && h["running"] == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "runs did not finish: {h}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish()
}

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// `127.0.0.1:port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

/// One HTTP/1.1 request (Connection: close).
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    http_to(loopback(port), method, path, headers, body)
}

/// One HTTP/1.1 request to `addr` (Connection: close).
pub fn http_to(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    try_http_to(addr, method, path, headers, body).unwrap_or_else(|e| panic!("HTTP request to {addr}: {e}"))
}

/// One HTTP/1.1 request; an error when the server cannot be reached or the
/// connection breaks before an answer (a killed server).
pub fn try_http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<Resp> {
    try_http_to(loopback(port), method, path, headers, body)
}

/// [`try_http`] to any address (another "host": a network namespace).
pub fn try_http_to(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    // A server may answer before the whole body is sent (413 from the
    // declared length) and close: the answer is still read.
    let wrote = s.write_all(body);
    let mut raw = Vec::new();
    let read = s.read_to_end(&mut raw);
    let resp = parse_response(&raw);
    if resp.status == 0 {
        return Err(wrote
            .err()
            .or(read.err())
            .unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no HTTP answer")));
    }
    Ok(resp)
}

pub fn parse_response(raw: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Resp { status, headers, body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// POST JSON.
pub fn post_json(port: u16, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut h = vec![("Content-Type", "application/json")];
    h.extend_from_slice(headers);
    http(port, "POST", path, &h, body.as_bytes())
}

/// GET.
pub fn get(port: u16, path: &str) -> Resp {
    http(port, "GET", path, &[], b"")
}

/// The key `serve` encrypts connection credentials with in tests
/// (`REQFLOW_SECRET_KEY`: 32 bytes in base64), set unless a test gives its own.
pub const TEST_STATE_KEY: &str = "cmVxZmxvdy1pdC1zdGF0ZS1rZXktMzItYnl0ZXMhISE=";

/// Where and how a child process starts: the address it listens on and the
/// command that wraps it (none on loopback; `ip netns exec NAME` on another
/// "host").
#[derive(Clone, Debug)]
pub struct Launch {
    pub ip: IpAddr,
    pub wrap: Vec<String>,
}

impl Launch {
    /// This machine's loopback, no wrapper.
    pub fn loopback() -> Launch {
        Launch { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), wrap: Vec::new() }
    }

    /// The `reqflow` binary, behind the wrapper if any.
    pub fn command(&self) -> Command {
        match self.wrap.split_first() {
            None => Command::new(env!("CARGO_BIN_EXE_reqflow")),
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(env!("CARGO_BIN_EXE_reqflow"));
                c
            }
        }
    }
}

/// A running `reqflow serve`: the public plane on `port`, the admin plane on
/// `admin` (reached with `token`, an admin-scope API token created with
/// `reqflow tokens create` before the start).
pub struct Serve {
    /// The address both listeners bind (loopback, or a network namespace's).
    pub ip: IpAddr,
    pub port: u16,
    pub admin: u16,
    pub token: String,
    pub child: Child,
    pub log: PathBuf,
}

/// `reqflow tokens create NAME --scope SCOPE` on a database; returns the token.
pub fn create_token(db: &str, name: &str, scope: &str, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_reqflow"))
        .args(["tokens", "create", name, "--scope", scope, "--db", db])
        .args(extra)
        .output()
        .expect("reqflow tokens create");
    assert!(out.status.success(), "tokens create: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Serve {
    /// Start `reqflow serve` and wait until `/healthz` answers.
    pub fn start(workflows: &Path, db: &str, env: &[(&str, &str)], log_dir: &Path) -> Serve {
        Serve::start_with(free_port(), workflows, db, env, log_dir, &[])
    }

    /// Start `reqflow serve` on `port` with extra arguments (e.g. after a kill, on the same port).
    pub fn start_with(
        port: u16,
        workflows: &Path,
        db: &str,
        env: &[(&str, &str)],
        log_dir: &Path,
        args: &[&str],
    ) -> Serve {
        Serve::spawn(&Launch::loopback(), port, workflows, db, env, log_dir, args, true)
    }

    /// Start `reqflow serve` on `launch`'s address (e.g. inside a network namespace) on `port`.
    pub fn start_on(
        launch: &Launch,
        port: u16,
        workflows: &Path,
        db: &str,
        env: &[(&str, &str)],
        log_dir: &Path,
        args: &[&str],
    ) -> Serve {
        Serve::spawn(launch, port, workflows, db, env, log_dir, args, true)
    }

    /// Start `reqflow serve` with no `REQFLOW_SECRET_KEY` in its environment, with extra arguments.
    pub fn start_without_key(workflows: &Path, db: &str, env: &[(&str, &str)], log_dir: &Path, args: &[&str]) -> Serve {
        Serve::spawn(&Launch::loopback(), free_port(), workflows, db, env, log_dir, args, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn(
        launch: &Launch,
        port: u16,
        workflows: &Path,
        db: &str,
        env: &[(&str, &str)],
        log_dir: &Path,
        args: &[&str],
        with_key: bool,
    ) -> Serve {
        let n = std::fs::read_dir(log_dir).map(|d| d.count()).unwrap_or(0);
        let log = log_dir.join(format!("serve-{port}-{n}.log"));
        let log_file = std::fs::File::create(&log).expect("log");
        let token = create_token(db, &format!("harness-{}", fastrand_u64()), "admin", &[]);
        let admin = if launch.ip.is_loopback() { free_port() } else { port + 1 };
        let ip = launch.ip;
        let mut cmd = launch.command();
        cmd.args(["serve", "--workflows"]).arg(workflows);
        cmd.args(["--db", db, "--listen", &SocketAddr::new(ip, port).to_string()]);
        cmd.args(["--admin-listen", &SocketAddr::new(ip, admin).to_string()]);
        cmd.args(args);
        if with_key {
            cmd.env("REQFLOW_SECRET_KEY", TEST_STATE_KEY);
        } else {
            cmd.env_remove("REQFLOW_SECRET_KEY");
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::from(log_file.try_clone().expect("log"))).stderr(Stdio::from(log_file));
        let child = cmd.spawn().expect("spawn serve");
        let mut serve = Serve { ip, port, admin, token, child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = serve.child.try_wait() {
                panic!("serve exited with {status}:\n{}", serve.log_text());
            }
            if try_http_to(serve.public(), "GET", "/healthz", &[], b"").is_ok_and(|r| r.status == 200) {
                break;
            }
            assert!(Instant::now() < deadline, "serve did not start:\n{}", serve.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
        serve
    }

    /// The public listener's address.
    pub fn public(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// A request to the admin plane with the admin token.
    pub fn api_http(&self, method: &str, path: &str, body: &[u8]) -> Resp {
        let auth = format!("Bearer {}", self.token);
        http_to(
            SocketAddr::new(self.ip, self.admin),
            method,
            path,
            &[("Authorization", &auth), ("Content-Type", "application/json")],
            body,
        )
    }

    /// `GET` on the admin plane.
    pub fn api(&self, path: &str) -> Resp {
        self.api_http("GET", path, b"")
    }

    /// `POST` JSON on the admin plane.
    pub fn api_post(&self, path: &str, body: &str) -> Resp {
        self.api_http("POST", path, body.as_bytes())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        let _ = Command::new("kill").args(["-9", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }

    /// Poll a run until it leaves queued/running.
    pub fn wait_run(&self, run_id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.api(&format!("/api/runs/{run_id}"));
            if r.status == 200 {
                let v = r.json();
                let s = v["run"]["status"].as_str().unwrap_or("");
                if s != "queued" && s != "running" {
                    return v;
                }
            }
            assert!(Instant::now() < deadline, "run {run_id} did not finish: {}", r.body);
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request the vendor endpoint received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// How the vendor endpoint answers: a queue of (status, delay) then `default`.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub script: Vec<(u16, Duration)>,
    pub default: (u16, Duration),
    pub body: String,
}

/// A third-party HTTP endpoint on loopback.
#[derive(Clone)]
pub struct Vendor {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub behaviour: Arc<Mutex<Behaviour>>,
}

impl Vendor {
    pub fn start() -> Vendor {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind vendor");
        let port = listener.local_addr().expect("addr").port();
        let v = Vendor {
            port,
            received: Arc::default(),
            behaviour: Arc::new(Mutex::new(Behaviour {
                script: vec![],
                default: (201, Duration::ZERO),
                body: "{\"ok\":true}".into(),
            })),
        };
        let vc = v.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let vc = vc.clone();
                std::thread::spawn(move || vc.serve(stream));
            }
        });
        v
    }

    /// Answer the next requests with these statuses, then `default`.
    pub fn script(&self, script: Vec<(u16, Duration)>, default: (u16, Duration)) {
        let mut b = self.behaviour.lock().expect("lock");
        b.script = script;
        b.default = default;
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            let mut headers = Vec::new();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let (status, delay, text) = {
                let mut b = self.behaviour.lock().expect("lock");
                let (s, d) = if b.script.is_empty() { b.default } else { b.script.remove(0) };
                (s, d, b.body.clone())
            };
            self.received.lock().expect("lock").push(Received {
                method,
                path,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            std::thread::sleep(delay);
            let resp = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            );
            let mut w = &stream;
            if w.write_all(resp.as_bytes()).is_err() {
                return;
            }
        }
    }
}

/// The PostgreSQL URL for tests, or `None` (with a clear SKIPPED line) when
/// none is configured — unless `REQFLOW_REQUIRE_POSTGRES=1`, then a failure.
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("REQFLOW_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("REQFLOW_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "{test}: REQFLOW_REQUIRE_POSTGRES=1 but REQFLOW_TEST_POSTGRES_URL is not set"
            );
            note_skipped(&format!(
                "SKIPPED: {test}: set REQFLOW_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run it"
            ));
            None
        }
    }
}

/// A fresh PostgreSQL database for one test (created with `psql`), dropped by the guard.
pub struct PgDb {
    pub url: String,
    admin: String,
    name: String,
}

impl PgDb {
    pub fn create(admin_url: &str, tag: &str) -> PgDb {
        let name = format!("reqflow_it_{tag}_{}", std::process::id());
        let run = |sql: &str| {
            let out = Command::new("psql")
                .args([admin_url, "-v", "ON_ERROR_STOP=1", "-qc", sql])
                .output()
                .expect("psql (install postgresql-client)");
            assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(&format!("DROP DATABASE IF EXISTS {name}"));
        run(&format!("CREATE DATABASE {name}"));
        let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin_url);
        PgDb { url: format!("{base}/{name}"), admin: admin_url.to_string(), name }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([&self.admin, "-qc", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)])
            .output();
    }
}

/// A `reqflow sandbox` child process and its port; killed on drop.
pub struct Sandbox(pub std::process::Child, pub u16);

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `reqflow sandbox` on a free loopback port (fresh seeded state).
pub fn sandbox() -> Sandbox {
    let port = free_port();
    Sandbox(spawn_sandbox(&Launch::loopback(), port), port)
}

/// Starts `reqflow sandbox` on `launch`'s address and `port`; returns once it accepts connections.
pub fn spawn_sandbox(launch: &Launch, port: u16) -> Child {
    let addr = SocketAddr::new(launch.ip, port);
    let mut child = launch
        .command()
        .args(["sandbox", "--listen", &addr.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sandbox");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
        if Instant::now() >= deadline || matches!(child.try_wait(), Ok(Some(_))) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sandbox did not start on {addr}");
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    child
}

/// What the sandbox received (`GET /_sandbox/requests`).
pub fn sandbox_requests(port: u16) -> Vec<Value> {
    get(port, "/_sandbox/requests").json()["requests"].as_array().cloned().unwrap_or_default()
}

/// Polls `ok` until it holds (30 s at most).
pub fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Says a test was skipped: on stderr, and as a line of the file named by
/// `REQFLOW_SKIP_LOG` (set by `scripts/test.sh`, which prints them all in its
/// summary, since `cargo test` hides the output of passing tests).
pub fn note_skipped(line: &str) {
    eprintln!("{line}");
    if let Ok(path) = std::env::var("REQFLOW_SKIP_LOG")
        && let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path)
    {
        use std::io::Write as _;
        let _ = writeln!(f, "{line}");
    }
}

/// The fix-and-retry fixture shared by `retry` and `console`: a manual
/// workflow whose `table` step maps the agent a loopback vendor is sent;
/// `invite` fails (the vendor answers as scripted) until the table is fixed.
pub fn screen_workflow(vendor_port: u16, agent: &str) -> String {
    format!(
        r#"id: screen
trigger: {{ manual: {{}} }}
connections:
  vendor: {{ type: http, base_url: "http://127.0.0.1:{vendor_port}" }}
steps:
  - id: audit
    map: {{ noted: true }}
  - id: table
    map: {{ agent: "{agent}" }}
  - id: invite
    needs: [audit, table]
    action: http.request
    connection: vendor
    with: {{ method: POST, path: /invites, json: {{ agent: "{{{{ steps.table.output.agent }}}}" }} }}
    retry: {{ attempts: 1 }}
"#
    )
}

/// A test's size from the environment (`REQFLOW_CRASH_EVENTS`, …), or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The bearer token of [`kill_workflow`]'s webhook (`REQFLOW_SECRET_HOOK_TOKEN`).
pub const KILL_HOOK_TOKEN: &str = "crash-hook-token";

/// The workflow of the `kill -9` tests (`crash`, `hosts`): a webhook at
/// `/hooks/{id}/hook` deduplicated by the body's `id`, then two writes to
/// the sandbox's vendor at `sandbox` (`http://host:port`): an invite with an
/// `Idempotency-Key` (the vendor honours it: a call repeated after a kill
/// creates nothing new) and a comment without (a call in flight at a kill
/// may be made twice).
pub fn kill_workflow(id: &str, sandbox: &str) -> String {
    format!(
        r#"id: {id}
trigger:
  webhook:
    path: {id}/hook
    auth: {{ bearer: "{{{{ secrets.HOOK_TOKEN }}}}" }}
    dedupe: "{{{{ event.body.id }}}}"
connections:
  vendor: {{ type: http, base_url: "{sandbox}/vendor", idempotency_header: Idempotency-Key }}
  plain: {{ type: http, base_url: "{sandbox}/vendor" }}
steps:
  - id: fields
    map: {{ id: $.event.body.id }}
  - id: invite
    action: http.request
    connection: vendor
    with: {{ method: POST, path: /invites, json: {{ event: "{{{{ steps.fields.output.id }}}}" }} }}
    retry: {{ attempts: 10, initial: 50ms, max: 1s }}
  - id: comment
    action: http.request
    connection: plain
    with: {{ method: POST, path: /comments, json: {{ event: "{{{{ steps.fields.output.id }}}}" }} }}
    retry: {{ attempts: 10, initial: 50ms, max: 1s }}
"#
    )
}

/// Posts the event `{"id": id}` to [`kill_workflow`] `workflow`'s hook until
/// an engine answers it: 202 (a new run) or 200 duplicate (the first answer
/// was lost in a kill). `targets` are tried in turn from `first`, the next
/// one after a refused connection or a 503 (as a load balancer would).
/// Returns the run id.
pub fn deliver(targets: &[SocketAddr], first: usize, workflow: &str, id: &str) -> String {
    let body = serde_json::json!({ "id": id }).to_string();
    let auth = format!("Bearer {KILL_HOOK_TOKEN}");
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let path = format!("/hooks/{workflow}/hook");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut n = first;
    loop {
        assert!(Instant::now() < deadline, "event {id} was never accepted");
        let target = targets[n % targets.len()];
        match try_http_to(target, "POST", &path, &headers, body.as_bytes()) {
            Ok(r) if r.status == 202 || (r.status == 200 && r.body.contains("duplicate")) => {
                let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
                return v["run_id"].as_str().unwrap_or_else(|| panic!("no run id: {}", r.body)).to_owned();
            }
            Ok(r) if r.status == 503 => std::thread::sleep(Duration::from_millis(20)),
            Ok(r) => panic!("event {id}: unexpected answer {} from {target}: {}", r.status, r.body),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
        n += 1;
    }
}

/// What [`kill_workflow`]'s runs wrote at the sandbox's vendor
/// (`GET /_sandbox/vendor/writes`): writes per event id.
pub struct VendorEffects {
    pub invites: std::collections::HashMap<String, usize>,
    pub comments: std::collections::HashMap<String, usize>,
    /// Invites repeated with a key seen before (answered from the first, nothing created).
    pub replays: u64,
}

impl VendorEffects {
    pub fn fetch(sandbox: SocketAddr) -> VendorEffects {
        let writes = http_to(sandbox, "GET", "/_sandbox/vendor/writes", &[], b"").json()["writes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let event_of = |w: &Value| -> String {
            serde_json::from_str::<Value>(w["body"].as_str().unwrap_or("{}")).unwrap_or_default()["event"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        };
        let mut e = VendorEffects { invites: Default::default(), comments: Default::default(), replays: 0 };
        for w in &writes {
            match w["path"].as_str() {
                Some("/vendor/invites") => {
                    *e.invites.entry(event_of(w)).or_default() += 1;
                    e.replays += w["replays"].as_u64().unwrap_or(0);
                }
                Some("/vendor/comments") => *e.comments.entry(event_of(w)).or_default() += 1,
                _ => {}
            }
        }
        e
    }

    /// Checks the effects of `events` accepted runs (event id → run id):
    /// every invite and comment arrived; no invite twice; a comment made
    /// twice only by a run whose `comment` step has an attempt interrupted by
    /// a kill (at most one extra per such attempt; `serve` reads the runs).
    /// Returns how many comments were duplicated.
    pub fn check(&self, accepted: &std::collections::HashMap<String, String>, serve: &Serve) -> usize {
        let events = accepted.len();
        assert_eq!(self.invites.len(), events, "every invite reached the sandbox");
        let dup_invites: Vec<_> = self.invites.iter().filter(|(_, n)| **n > 1).collect();
        assert!(dup_invites.is_empty(), "idempotent writebacks are never duplicated: {dup_invites:?}");
        assert_eq!(self.comments.len(), events, "every comment reached the sandbox");
        let dup_comments: Vec<(&String, &usize)> = self.comments.iter().filter(|(_, n)| **n > 1).collect();
        for (event, n) in &dup_comments {
            let run = &accepted[*event];
            let detail = serve.api(&format!("/api/runs/{run}")).json();
            let attempts = detail["steps"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["id"] == "comment"))
                .and_then(|s| s["attempts"].as_array().cloned())
                .unwrap_or_default();
            let interrupted = attempts.iter().filter(|a| a["error"]["code"] == "interrupted").count();
            assert!(
                **n <= interrupted + 1,
                "{event}: {n} comments but only {interrupted} attempt(s) were in flight at a kill: {attempts:#?}"
            );
        }
        dup_comments.len()
    }
}

/// A GET's body as bytes, through `curl` (the harness's `http` reads text).
pub fn get_bytes(port: u16, path: &str) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-sf", "--max-time", "30", &format!("http://127.0.0.1:{port}{path}")])
        .output()
        .expect("curl");
    assert!(out.status.success(), "GET {path} failed");
    out.stdout
}
