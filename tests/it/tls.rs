//! Native TLS through the real `reqflow serve --tls-cert/--tls-key`, with a
//! self-signed certificate made in the test (rcgen) and a real TLS client
//! (rustls) that trusts only it:
//! - `/healthz` and an HMAC-signed webhook (202) over HTTPS; a client that
//!   does not trust the certificate gets no answer; plaintext HTTP to the TLS
//!   port gets no HTTP answer; the admin listener stays plaintext without
//!   `--admin-tls-*`;
//! - a client that opens TCP and never starts the handshake is closed at the
//!   header timeout, and so is one that completes it but sends nothing;
//!   meanwhile (and with more stalled handshakes than the connection cap)
//!   `/healthz` over TLS answers within a second;
//! - graceful shutdown with TLS connections held (in flight, idle, in their
//!   handshake) exits within `--shutdown-timeout`;
//! - `--admin-tls-*`: the admin listener is HTTPS only and still needs a
//!   token (401 without); `--admin-listen same` serves the admin routes over
//!   the public listener's TLS;
//! - startup errors: half a pair, a garbage PEM file, a missing file,
//!   `--admin-tls-*` with `--admin-listen same`: exit 2, the flag or file named.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};

use crate::harness::{Resp, create_token, free_port, http, parse_response, temp_dir};
use crate::security::hmac_sha256_hex;

const HMAC_KEY: &str = "tls-hmac-key-5kq1";

/// A self-signed certificate for `localhost` written as `{name}.crt` and
/// `{name}.key` in `dir`; returns their paths and the certificate (to trust).
fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf, CertificateDer<'static>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&cert, made.cert.pem()).expect("write cert");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write key");
    (cert, key, made.cert.der().clone())
}

/// A TLS client configuration that trusts `cert` only (ring provider).
fn trusting(cert: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A TLS connection to `port` (server name `localhost`), handshake done.
fn tls_connect(
    port: u16,
    client: &Arc<rustls::ClientConfig>,
) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
    let conn = rustls::ClientConnection::new(client.clone(), name).map_err(std::io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// One HTTPS request (Connection: close).
fn https(
    port: u16,
    client: &Arc<rustls::ClientConfig>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut s = tls_connect(port, client)?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    s.flush()?;
    let mut raw = Vec::new();
    match s.read_to_end(&mut raw) {
        Ok(_) => {}
        // A peer that closes without close_notify after a whole answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    let resp = parse_response(&raw);
    if resp.status == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no HTTP answer"));
    }
    Ok(resp)
}

/// What a plaintext HTTP request to `port` gets back (at most 5 s).
fn plaintext_answer(port: u16) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    raw
}

/// Whether the server closed `s` within `within` (a read returns 0 or fails).
fn closed_within(s: &mut impl Read, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

fn workflows(dir: &Path) -> PathBuf {
    let wf = dir.join("wf");
    std::fs::create_dir_all(&wf).expect("dir");
    std::fs::write(
        wf.join("signed.yaml"),
        "id: signed\ntrigger:\n  webhook:\n    path: signed\n    auth: { hmac: { header: x-sig, secret: \"{{ secrets.HMAC_KEY }}\" } }\nsteps:\n  - id: s\n    map: { ok: true }\n",
    )
    .expect("write");
    wf
}

/// A `reqflow serve` with TLS on its public listener; killed on drop.
struct TlsServe {
    port: u16,
    admin: u16,
    token: String,
    child: Child,
    log: PathBuf,
}

impl TlsServe {
    /// Starts `reqflow serve` (admin listener on `admin`, or `same`) with
    /// `args`, and waits until `/healthz` answers over TLS with `client`.
    fn start(dir: &Path, admin: Option<u16>, args: &[&str], client: &Arc<rustls::ClientConfig>) -> TlsServe {
        let wf = workflows(dir);
        let db = format!("sqlite://{}", dir.join("r.db").display());
        let token = create_token(&db, "tls-admin", "admin", &[]);
        let port = free_port();
        let log = dir.join(format!("serve-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("log");
        let admin_listen = admin.map(|a| format!("127.0.0.1:{a}")).unwrap_or_else(|| "same".to_owned());
        let child = Command::new(env!("CARGO_BIN_EXE_reqflow"))
            .args(["serve", "--workflows"])
            .arg(&wf)
            .args(["--db", &db, "--listen", &format!("127.0.0.1:{port}"), "--admin-listen", &admin_listen])
            .args(args)
            .env("REQFLOW_SECRET_KEY", crate::harness::TEST_STATE_KEY)
            .env("REQFLOW_SECRET_HMAC_KEY", HMAC_KEY)
            .stdout(Stdio::from(log_file.try_clone().expect("log")))
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("spawn serve");
        let mut serve = TlsServe { port, admin: admin.unwrap_or(port), token, child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = serve.child.try_wait() {
                panic!("serve exited with {status}:\n{}", serve.log_text());
            }
            if https(port, client, "GET", "/healthz", &[], b"").is_ok_and(|r| r.status == 200) {
                return serve;
            }
            assert!(Instant::now() < deadline, "serve did not start over TLS:\n{}", serve.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for TlsServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn https_serves_healthz_and_signed_webhooks_and_nothing_in_plaintext() {
    let dir = temp_dir("tls-public");
    let (cert, key, der) = self_signed(&dir, "public");
    let client = trusting(&der);
    let admin = free_port();
    let serve = TlsServe::start(
        &dir,
        Some(admin),
        &["--tls-cert", &cert.to_string_lossy(), "--tls-key", &key.to_string_lossy()],
        &client,
    );
    let log = serve.log_text();
    assert!(log.contains(&format!("on https://127.0.0.1:{}", serve.port)), "the banner says https:\n{log}");
    assert!(
        log.contains(&format!("admin API on http://127.0.0.1:{admin}")),
        "the admin listener stays plaintext:\n{log}"
    );

    let health = https(serve.port, &client, "GET", "/healthz", &[], b"").expect("healthz over TLS");
    assert_eq!(health.status, 200, "{}", health.body);

    // A signed webhook: the HMAC is over the body as sent.
    let body = r#"{"candidate": {"id": "c-1", "name": "Ada"}}"#;
    let sig = hmac_sha256_hex(HMAC_KEY.as_bytes(), body.as_bytes());
    let hdrs = [("Content-Type", "application/json"), ("x-sig", sig.as_str())];
    let accepted = https(serve.port, &client, "POST", "/hooks/signed", &hdrs, body.as_bytes()).expect("webhook");
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let run_id = accepted.json()["run_id"].as_str().expect("run_id").to_owned();
    let wrong = [("Content-Type", "application/json"), ("x-sig", "00")];
    let refused = https(serve.port, &client, "POST", "/hooks/signed", &wrong, body.as_bytes()).expect("webhook");
    assert_eq!(refused.status, 401, "a bad signature over TLS is still refused: {}", refused.body);

    // The admin listener (plaintext here) sees the run the TLS webhook made.
    let auth = format!("Bearer {}", serve.token);
    let run = http(admin, "GET", &format!("/api/runs/{run_id}"), &[("Authorization", &auth)], b"");
    assert_eq!(run.status, 200, "{}", run.body);

    // A client that trusts another certificate gets no answer.
    let (_, _, other) = self_signed(&dir, "other");
    let distrust = https(serve.port, &trusting(&other), "GET", "/healthz", &[], b"");
    assert!(distrust.is_err(), "a client that does not trust the certificate: {distrust:?}");

    // Plaintext HTTP to the TLS port gets no HTTP answer.
    let raw = plaintext_answer(serve.port);
    assert!(!raw.starts_with(b"HTTP/"), "plaintext got an HTTP answer: {:?}", String::from_utf8_lossy(&raw));
    assert_eq!(https(serve.port, &client, "GET", "/healthz", &[], b"").expect("healthz").status, 200);
}

#[test]
fn a_stalled_handshake_is_closed_at_the_header_timeout() {
    let dir = temp_dir("tls-stall");
    let (cert, key, der) = self_signed(&dir, "public");
    let client = trusting(&der);
    let serve = TlsServe::start(
        &dir,
        Some(free_port()),
        &[
            "--tls-cert",
            &cert.to_string_lossy(),
            "--tls-key",
            &key.to_string_lossy(),
            "--header-timeout",
            "2s",
            "--max-connections",
            "16",
        ],
        &client,
    );
    let healthz_fast = |what: &str| {
        let t = Instant::now();
        let r = https(serve.port, &client, "GET", "/healthz", &[], b"").expect("healthz over TLS");
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(t.elapsed() < Duration::from_secs(1), "healthz took {:?} {what}", t.elapsed());
    };

    // TCP open, no ClientHello: closed at the header timeout, not before;
    // other clients are served meanwhile.
    let opened = Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", serve.port)).expect("connect");
    silent.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    for _ in 0..3 {
        healthz_fast("with a stalled handshake held");
    }
    assert!(closed_within(&mut silent, Duration::from_secs(6)), "a silent connection is closed");
    let after = opened.elapsed();
    assert!(
        after >= Duration::from_millis(1500) && after < Duration::from_secs(6),
        "closed after {after:?}, expected about --header-timeout (2s)"
    );

    // Handshake done, no request: closed at the header timeout too.
    let mut quiet = tls_connect(serve.port, &client).expect("handshake");
    quiet.sock.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    assert!(closed_within(&mut quiet, Duration::from_secs(6)), "a TLS connection without a request is closed");

    // More stalled handshakes than the cap: /healthz still answers within a second.
    let held: Vec<TcpStream> =
        (0..40).map(|_| TcpStream::connect(("127.0.0.1", serve.port)).expect("connect")).collect();
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..5 {
        healthz_fast("with 40 stalled handshakes over a cap of 16");
    }
    drop(held);
}

#[test]
fn graceful_shutdown_with_tls_connections_held_exits_within_its_deadline() {
    let dir = temp_dir("tls-shutdown");
    let (cert, key, der) = self_signed(&dir, "public");
    let client = trusting(&der);
    let (cert, key) = (cert.to_string_lossy().into_owned(), key.to_string_lossy().into_owned());
    let mut serve = TlsServe::start(
        &dir,
        Some(free_port()),
        &["--tls-cert", &cert, "--tls-key", &key, "--shutdown-timeout", "2s"],
        &client,
    );
    // A request in flight whose body never completes, an idle TLS connection, a stalled handshake.
    let mut inflight = tls_connect(serve.port, &client).expect("handshake");
    let sig = hmac_sha256_hex(HMAC_KEY.as_bytes(), b"{}");
    let head = format!("POST /hooks/signed HTTP/1.1\r\nHost: x\r\nx-sig: {sig}\r\nContent-Length: 100\r\n\r\n{{");
    inflight.write_all(head.as_bytes()).expect("partial request");
    inflight.flush().expect("flush");
    let _idle = tls_connect(serve.port, &client).expect("handshake");
    let _stalled = TcpStream::connect(("127.0.0.1", serve.port)).expect("connect");
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    let killed = Command::new("kill").args(["-TERM", &serve.child.id().to_string()]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let status = loop {
        if let Ok(Some(s)) = serve.child.try_wait() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(8), "serve did not exit: {}", serve.log_text());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{}", serve.log_text());
    assert!(t.elapsed() < Duration::from_secs(5), "exit within the 2s deadline: {:?}", t.elapsed());
}

#[test]
fn the_admin_listener_with_tls_requires_tls_and_a_token() {
    let dir = temp_dir("tls-admin");
    let (cert, key, der) = self_signed(&dir, "public");
    let (admin_cert, admin_key, admin_der) = self_signed(&dir, "admin");
    let (client, admin_client) = (trusting(&der), trusting(&admin_der));
    let admin = free_port();
    let serve = TlsServe::start(
        &dir,
        Some(admin),
        &[
            "--tls-cert",
            &cert.to_string_lossy(),
            "--tls-key",
            &key.to_string_lossy(),
            "--admin-tls-cert",
            &admin_cert.to_string_lossy(),
            "--admin-tls-key",
            &admin_key.to_string_lossy(),
        ],
        &client,
    );
    let log = serve.log_text();
    assert!(log.contains(&format!("admin API on https://127.0.0.1:{admin}")), "{log}");

    let anonymous = https(admin, &admin_client, "GET", "/api/runs", &[], b"").expect("admin over TLS");
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert!(anonymous.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{anonymous:?}");
    let auth = format!("Bearer {}", serve.token);
    let listed = https(admin, &admin_client, "GET", "/api/runs", &[("Authorization", &auth)], b"").expect("admin");
    assert_eq!(listed.status, 200, "{}", listed.body);
    let raw = plaintext_answer(admin);
    assert!(!raw.starts_with(b"HTTP/"), "plaintext admin got an HTTP answer: {:?}", String::from_utf8_lossy(&raw));
    // The admin listener has its own certificate.
    assert!(https(admin, &client, "GET", "/api/runs", &[], b"").is_err(), "the admin listener uses --admin-tls-cert");
    drop(serve);

    // `--admin-listen same`: the admin routes over the public listener's TLS, still behind a token.
    let dir = temp_dir("tls-same");
    let (cert, key, der) = self_signed(&dir, "public");
    let client = trusting(&der);
    let serve = TlsServe::start(
        &dir,
        None,
        &["--tls-cert", &cert.to_string_lossy(), "--tls-key", &key.to_string_lossy()],
        &client,
    );
    assert!(serve.log_text().contains("admin API on the same listener (https)"), "{}", serve.log_text());
    let anonymous = https(serve.admin, &client, "GET", "/api/runs", &[], b"").expect("admin over TLS");
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let auth = format!("Bearer {}", serve.token);
    let listed = https(serve.admin, &client, "GET", "/api/runs", &[("Authorization", &auth)], b"").expect("admin");
    assert_eq!(listed.status, 200, "{}", listed.body);
}

/// `reqflow serve` with `args` that must stop it at start: its exit code and stderr.
fn failed_start(dir: &Path, admin_listen: &str, args: &[&str]) -> (Option<i32>, String) {
    let wf = workflows(dir);
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_reqflow"))
        .args(["serve", "--workflows"])
        .arg(&wf)
        .args(["--db", &db, "--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--admin-listen", admin_listen])
        .args(args)
        .env("REQFLOW_SECRET_KEY", crate::harness::TEST_STATE_KEY)
        .env("REQFLOW_SECRET_HMAC_KEY", HMAC_KEY)
        .env_remove("REQFLOW_TLS_CERT")
        .env_remove("REQFLOW_TLS_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve {args:?} did not stop at start");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut err).expect("read stderr");
    (status.code(), err)
}

#[test]
fn bad_tls_flags_and_files_stop_the_start_with_a_clear_message() {
    let dir = temp_dir("tls-errors");
    let (cert, key, _) = self_signed(&dir, "good");
    let (cert, key) = (cert.to_string_lossy().into_owned(), key.to_string_lossy().into_owned());
    let ephemeral = format!("127.0.0.1:{}", free_port());

    let (code, err) = failed_start(&dir, &ephemeral, &["--tls-cert", &cert]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--tls-cert is given but --tls-key is missing"), "{err}");

    let (code, err) = failed_start(&dir, &ephemeral, &["--admin-tls-key", &key]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--admin-tls-key is given but --admin-tls-cert is missing"), "{err}");

    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate at all\n").expect("write");
    let (code, err) = failed_start(&dir, &ephemeral, &["--tls-cert", &garbage.to_string_lossy(), "--tls-key", &key]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("invalid certificate file {}", garbage.display())), "{err}");
    assert!(err.contains("no certificate found"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // A broken key: named, its contents not shown.
    let broken = dir.join("broken.key");
    std::fs::write(&broken, "-----BEGIN PRIVATE KEY-----\nS3cr3tKeyMaterial!!\n-----END PRIVATE KEY-----\n")
        .expect("write");
    let (code, err) = failed_start(&dir, &ephemeral, &["--tls-cert", &cert, "--tls-key", &broken.to_string_lossy()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("invalid private key file {}", broken.display())), "{err}");
    assert!(!err.contains("S3cr3t"), "key material in the message: {err}");

    // The key of another certificate.
    let (_, other_key, _) = self_signed(&dir, "other");
    let (code, err) = failed_start(&dir, &ephemeral, &["--tls-cert", &cert, "--tls-key", &other_key.to_string_lossy()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot use the certificate"), "{err}");

    let missing = dir.join("missing.crt");
    let (code, err) = failed_start(&dir, &ephemeral, &["--tls-cert", &missing.to_string_lossy(), "--tls-key", &key]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("cannot read certificate file {}", missing.display())), "{err}");

    let (code, err) = failed_start(&dir, "same", &["--admin-tls-cert", &cert, "--admin-tls-key", &key]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("do not apply with `--admin-listen same`"), "{err}");
}
