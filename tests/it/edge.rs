//! The edge through the real `reqflow serve`, as a hostile or broken client
//! would try it:
//! - idle and slow clients, more than the connection cap, do not stop other
//!   clients (`/healthz` answers within a second); a slow request head is
//!   closed at the header timeout, an idle kept-alive connection at the idle
//!   timeout;
//! - unauthenticated large bodies are not read (bearer checked first), and
//!   bodies that must be read (HMAC) are bounded by the memory budget: RSS
//!   stays flat whatever the number of connections;
//! - graceful shutdown with connections held exits within its deadline;
//! - a full disk answers `503` with `Retry-After` (never `500`), logged once
//!   per interval, and what was accepted stays readable;
//! - `/healthz` answers within a second when PostgreSQL hangs.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{PgDb, Serve, http, postgres_url, temp_dir, try_http};

const TOKEN: &str = "edge-bearer-token-9f2k";
const HMAC_KEY: &str = "edge-hmac-key-77ab";

fn workflows(dir: &Path) -> std::path::PathBuf {
    let wf = dir.join("wf");
    std::fs::create_dir_all(&wf).expect("dir");
    std::fs::write(
        wf.join("bearer.yaml"),
        "id: bearer\ntrigger:\n  webhook:\n    path: bearer\n    auth: { bearer: \"{{ secrets.TOKEN }}\" }\nsteps:\n  - id: s\n    map: { ok: true }\n",
    )
    .expect("write");
    std::fs::write(
        wf.join("signed.yaml"),
        "id: signed\ntrigger:\n  webhook:\n    path: signed\n    auth: { hmac: { header: x-sig, secret: \"{{ secrets.HMAC_KEY }}\" } }\nsteps:\n  - id: s\n    map: { ok: true }\n",
    )
    .expect("write");
    std::fs::write(
        wf.join("open.yaml"),
        "id: open\ntrigger: { webhook: { path: open } }\nsteps:\n  - id: s\n    map: { ok: true }\n",
    )
    .expect("write");
    wf
}

fn env() -> Vec<(&'static str, &'static str)> {
    vec![("REQFLOW_SECRET_TOKEN", TOKEN), ("REQFLOW_SECRET_HMAC_KEY", HMAC_KEY)]
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Whether the server closed `s` within `within` (a read returns 0 or fails).
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
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

#[test]
fn idle_and_slow_clients_do_not_stop_other_clients() {
    let dir = temp_dir("edge-idle");
    let wf = workflows(&dir);
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let port = crate::harness::free_port();
    let serve = Serve::start_with(
        port,
        &wf,
        &db,
        &env(),
        &dir,
        &["--max-connections", "16", "--header-timeout", "2s", "--idle-timeout", "1s"],
    );
    // More idle connections than the cap, on both planes, held open.
    let mut held: Vec<TcpStream> = Vec::new();
    for _ in 0..40 {
        held.push(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
        held.push(TcpStream::connect(("127.0.0.1", serve.admin)).expect("connect"));
    }
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..5 {
        let t = Instant::now();
        let r = try_http(port, "GET", "/healthz", &[], b"").expect("healthz answers");
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(t.elapsed() < Duration::from_secs(1), "healthz #{i} took {:?} with idle clients held", t.elapsed());
        let t = Instant::now();
        assert_eq!(serve.api("/api/runs").status, 200);
        assert!(t.elapsed() < Duration::from_secs(1), "the admin plane took {:?}", t.elapsed());
    }
    drop(held);

    // A request head sent slowly is closed at the header timeout.
    let mut slow = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    slow.write_all(b"POST /hooks/open HTTP/1.1\r\nHost: x\r\n").expect("partial head");
    assert!(closed_within(&mut slow, Duration::from_secs(5)), "a half-sent head is closed after --header-timeout");

    // An idle kept-alive connection is closed at the idle timeout.
    let mut kept = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").expect("request");
    let mut buf = [0u8; 512];
    kept.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let n = kept.read(&mut buf).expect("answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "kept-alive answer");
    assert!(
        closed_within(&mut kept, Duration::from_secs(4)),
        "an idle kept-alive connection is closed after --idle-timeout"
    );
}

#[test]
fn unauthenticated_and_unbounded_bodies_do_not_grow_memory() {
    let dir = temp_dir("edge-rss");
    let wf = workflows(&dir);
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let port = crate::harness::free_port();
    let serve = Serve::start_with(
        port,
        &wf,
        &db,
        &env(),
        &dir,
        &["--max-body-memory", "4194304", "--body-timeout", "3s", "--max-connections", "4096"],
    );
    let pid = serve.child.id();
    let base = rss_kib(pid);
    let chunk = vec![b'x'; 300 * 1024];

    // 1. Bearer: 300 clients announce 1 MB bodies with a wrong token. Each is
    // answered 401 from the headers alone; their bodies are never read.
    let mut conns = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_write_timeout(Some(Duration::from_millis(500))).expect("timeout");
        let head = "POST /hooks/bearer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n";
        s.write_all(head.as_bytes()).expect("head");
        let _ = s.write_all(&chunk);
        conns.push(s);
    }
    let mut unauthorized = 0;
    for s in &mut conns {
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let mut buf = [0u8; 64];
        if let Ok(n) = s.read(&mut buf)
            && String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 401")
        {
            unauthorized += 1;
        }
    }
    assert_eq!(unauthorized, conns.len(), "every unauthenticated client got 401 before its body");
    let after_bearer = rss_kib(pid);

    // 2. HMAC (the body must be read to check it): 100 clients each send 900 KB
    // of a 1 MB body and stall. The budget (4 MiB) holds a few; the others
    // get 503 + Retry-After at once.
    let mut stalled = Vec::new();
    let started = Instant::now();
    for _ in 0..100 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_write_timeout(Some(Duration::from_millis(300))).expect("timeout");
        let head = "POST /hooks/signed HTTP/1.1\r\nHost: x\r\nx-sig: 00\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n";
        s.write_all(head.as_bytes()).expect("head");
        for _ in 0..3 {
            if s.write_all(&chunk[..300 * 1024]).is_err() {
                break;
            }
        }
        stalled.push(s);
    }
    let during = rss_kib(pid);
    let mut busy = 0;
    for s in &mut stalled {
        s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        let mut buf = [0u8; 256];
        if let Ok(n) = s.read(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.starts_with("HTTP/1.1 503") {
                assert!(text.to_ascii_lowercase().contains("retry-after: 1"), "{text}");
                busy += 1;
            }
        }
    }
    println!(
        "RSS: {base} KiB at start, {after_bearer} KiB with 300 refused bearer bodies, {during} KiB with 100 stalled HMAC bodies ({busy} answered 503), after {:?}",
        started.elapsed()
    );
    assert!(busy >= 80, "past the memory budget, HMAC bodies get 503 at once ({busy} of 100)");
    assert!(after_bearer < base + 30 * 1024, "refused bodies are not buffered: {base} -> {after_bearer} KiB");
    assert!(
        during < base + 20 * 1024,
        "held bodies stay within the budget: {base} -> {during} KiB (unbounded: ~90 MB)"
    );

    // When the stalled bodies time out, the budget is free again.
    drop(stalled);
    drop(conns);
    std::thread::sleep(Duration::from_millis(3500));
    let r = http(port, "POST", "/hooks/open", &[("Content-Type", "application/json")], b"{\"a\":1}");
    assert_eq!(r.status, 202, "{}", r.body);
}

#[test]
fn graceful_shutdown_with_a_held_connection_exits_within_its_deadline() {
    let dir = temp_dir("edge-shutdown");
    let wf = workflows(&dir);
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let port = crate::harness::free_port();
    let mut serve = Serve::start_with(port, &wf, &db, &env(), &dir, &["--shutdown-timeout", "2s"]);
    // A request in flight whose body never completes, and an idle connection.
    let mut inflight = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    inflight
        .write_all(b"POST /hooks/open HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\"")
        .expect("partial");
    let _idle = TcpStream::connect(("127.0.0.1", serve.admin)).expect("connect");
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    let killed = std::process::Command::new("kill").args(["-TERM", &serve.child.id().to_string()]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let status = loop {
        if let Ok(Some(s)) = serve.child.try_wait() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(8), "serve did not exit: {}", serve.log_text());
        std::thread::sleep(Duration::from_millis(20));
    };
    println!("exited in {:?} with {status}", t.elapsed());
    assert!(status.success(), "{}", serve.log_text());
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "exit within the 2s deadline (+ the runtime's own stop): {:?}",
        t.elapsed()
    );
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "no longer accepting");
}

/// A tmpfs of `size` mounted at `dir` (unmounted when dropped); `None` where
/// this process may not mount (not root).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_answers_503_with_retry_after_and_keeps_what_it_accepted() {
    let dir = temp_dir("edge-disk");
    let wf = workflows(&dir);
    let Some(disk) = Tmpfs::mount(&dir.join("disk"), "3m") else {
        crate::harness::note_skipped("SKIPPED: a_full_disk_answers_503…: cannot mount a tmpfs here (needs root)");
        return;
    };
    let db = format!("sqlite://{}", disk.0.join("r.db").display());
    let port = crate::harness::free_port();
    let serve = Serve::start_with(port, &wf, &db, &env(), &dir, &["--no-workers"]);
    let body = format!("{{\"pad\": \"{}\"}}", "y".repeat(60 * 1024));
    let mut accepted = Vec::new();
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..200 {
        let r = http(port, "POST", "/hooks/open", &[("Content-Type", "application/json")], body.as_bytes());
        *statuses.entry(r.status).or_insert(0) += 1;
        match r.status {
            202 => accepted.push(r.json()["run_id"].as_str().expect("run id").to_owned()),
            503 => assert_eq!(r.header("retry-after"), Some("1"), "503 says when to retry: {}", r.body),
            other => panic!("a full disk must answer 202 or 503, not {other}: {}", r.body),
        }
    }
    println!("answers with a 3 MB disk: {statuses:?}");
    assert!(statuses.get(&503).copied().unwrap_or(0) >= 50, "the disk filled up: {statuses:?}");
    assert!(accepted.len() >= 5, "some were accepted before: {statuses:?}");
    // What was accepted is readable.
    let runs = crate::harness::all_runs(&serve, "workflow=open");
    let stored: std::collections::HashSet<&str> = runs.iter().filter_map(|r| r["run_id"].as_str()).collect();
    assert!(accepted.iter().all(|id| stored.contains(id.as_str())), "every 202 is a stored run");
    // The log says it once per interval, not once per request.
    let log = serve.log_text();
    let lines = log.lines().filter(|l| l.contains("store is unavailable")).count();
    assert!((1..=3).contains(&lines), "{lines} log lines about the store for {statuses:?}:\n{log}");
    drop(serve);
}

/// A TCP proxy to PostgreSQL that can be frozen (stops forwarding, keeps
/// connections open): a database that hangs.
struct FreezableProxy {
    port: u16,
    frozen: Arc<AtomicBool>,
}

impl FreezableProxy {
    fn start(upstream: (String, u16)) -> FreezableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let frozen = Arc::new(AtomicBool::new(false));
        let f = frozen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect((upstream.0.as_str(), upstream.1)) else { continue };
                for (mut from, mut to) in
                    [(client.try_clone().expect("clone"), server.try_clone().expect("clone")), (server, client)]
                {
                    let f = f.clone();
                    std::thread::spawn(move || {
                        let _ = from.set_read_timeout(Some(Duration::from_millis(20)));
                        let mut buf = [0u8; 16384];
                        loop {
                            if f.load(Ordering::Relaxed) {
                                std::thread::sleep(Duration::from_millis(20));
                                continue;
                            }
                            match from.read(&mut buf) {
                                Ok(0) => break,
                                Ok(n) => {
                                    // Bytes read just as the proxy froze are held too: nothing
                                    // crosses a frozen proxy (a quick query would slip through).
                                    while f.load(Ordering::Relaxed) {
                                        std::thread::sleep(Duration::from_millis(20));
                                    }
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                    ) => {}
                                Err(_) => break,
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        FreezableProxy { port, frozen }
    }
}

#[test]
fn healthz_answers_within_a_second_when_postgres_hangs() {
    let Some(url) = postgres_url("healthz_answers_within_a_second_when_postgres_hangs") else { return };
    let pg = PgDb::create(&url, "edge_hang");
    // postgres://user@host:port/db → through the proxy.
    let (scheme_user, rest) = pg.url.split_once('@').expect("url with user");
    let (hostport, dbname) = rest.split_once('/').expect("url with db");
    let (host, port) = hostport
        .rsplit_once(':')
        .map(|(h, p)| (h.to_owned(), p.parse().expect("port")))
        .unwrap_or((hostport.to_owned(), 5432));
    let proxy = FreezableProxy::start((host, port));
    let db = format!("{scheme_user}@127.0.0.1:{}/{dbname}", proxy.port);
    let dir = temp_dir("edge-hang");
    let wf = workflows(&dir);
    let serve = Serve::start(&wf, &db, &env(), &dir);
    assert_eq!(http(serve.port, "GET", "/healthz", &[], b"").status, 200);

    proxy.frozen.store(true, Ordering::Relaxed);
    for _ in 0..3 {
        let t = Instant::now();
        let r = try_http(serve.port, "GET", "/healthz", &[], b"").expect("healthz answers");
        assert!(t.elapsed() < Duration::from_secs(1), "healthz took {:?} with the database hung", t.elapsed());
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(r.body.contains("store"), "the reason: {}", r.body);
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    proxy.frozen.store(false, Ordering::Relaxed);
    crate::harness::wait_for(
        || try_http(serve.port, "GET", "/healthz", &[], b"").is_ok_and(|r| r.status == 200),
        "healthz to recover with the database",
    );
}
