//! What `reqflow bench runtime` and `reqflow bench seed` share: a `reqflow
//! serve` child on loopback, a raw keep-alive HTTP/1.1 client, percentiles,
//! and a process's RSS and CPU time from /proc.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A `reqflow serve` child and its temporary directory, both gone on drop.
pub(crate) struct ServeChild {
    pub child: Child,
    /// Both planes (`--admin-listen same`; `/metrics` open).
    pub port: u16,
    /// An operate-scope API token, for manual runs.
    pub token: String,
    pub dir: PathBuf,
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What to start `reqflow serve` with.
pub(crate) struct ServeSpec<'a> {
    /// Names the temporary directory.
    pub tag: &'a str,
    /// Workflow files written into `{dir}/wf`: (file name, content).
    pub workflows: &'a [(&'a str, String)],
    /// Database URL; `None`: a fresh SQLite file in the directory.
    pub db: Option<&'a str>,
    /// SQLite `synchronous` of that fresh file.
    pub synchronous: &'a str,
    /// More `serve` arguments.
    pub extra: &'a [&'a str],
    /// Environment (`REQFLOW_SECRET_*`, `REQFLOW_VAR_*`).
    pub env: &'a [(String, String)],
}

/// The temporary directory of a bench phase (`reqflow-bench-{tag}-{pid}`), emptied.
pub(crate) fn temp_dir(tag: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("reqflow-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("wf")).context("temp dir")?;
    Ok(dir)
}

/// Starts `reqflow serve` (this executable) on a free loopback port and waits until it listens.
pub(crate) fn start_serve(spec: &ServeSpec<'_>) -> anyhow::Result<ServeChild> {
    let dir = temp_dir(spec.tag)?;
    for (name, content) in spec.workflows {
        std::fs::write(dir.join("wf").join(name), content)?;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let db = spec
        .db
        .map(str::to_owned)
        .unwrap_or_else(|| format!("sqlite://{}?synchronous={}", dir.join("bench.db").display(), spec.synchronous));
    let exe = std::env::current_exe()?;
    let out = Command::new(&exe)
        .args(["tokens", "create", &format!("bench-{}", std::process::id()), "--scope", "operate", "--db", &db])
        .output()
        .context("reqflow tokens create")?;
    if !out.status.success() {
        bail!("reqflow tokens create: {}", String::from_utf8_lossy(&out.stderr));
    }
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let child = Command::new(exe)
        .args(["serve", "--workflows"])
        .arg(dir.join("wf"))
        .args(["--db", &db, "--listen", &format!("127.0.0.1:{port}"), "--max-backlog", "100000000"])
        .args(["--admin-listen", "same", "--metrics-open", "--max-connections", "100000"])
        .args(spec.extra)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start reqflow serve")?;
    let mut c = ServeChild { child, port, token, dir };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = c.child.try_wait() {
            bail!("reqflow serve exited ({status}) before listening");
        }
        if Instant::now() > deadline {
            bail!("reqflow serve did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(c)
}

/// Process figures from /proc.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProcStats {
    /// Peak RSS (`VmHWM`), bytes.
    pub peak_rss: u64,
    /// Current RSS (`VmRSS`), bytes.
    pub rss: u64,
    /// User + system CPU time, seconds.
    pub cpu_s: f64,
}

/// [`ProcStats`] of process `pid` (zeros when /proc cannot be read).
pub(crate) fn proc_stats(pid: u32) -> ProcStats {
    proc_stats_at(&pid.to_string())
}

/// [`ProcStats`] of this process.
pub(crate) fn own_stats() -> ProcStats {
    proc_stats_at("self")
}

fn proc_stats_at(pid: &str) -> ProcStats {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime, in clock ticks (100 per second on Linux).
    let cpu_s = (ticks(11) + ticks(12)) / 100.0;
    ProcStats { peak_rss: kb("VmHWM:"), rss: kb("VmRSS:"), cpu_s }
}

/// One keep-alive HTTP/1.1 connection: a request written, its answer read.
pub(crate) struct Conn {
    pub r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    pub w: tokio::net::tcp::OwnedWriteHalf,
}

impl Conn {
    pub async fn open(port: u16) -> anyhow::Result<Conn> {
        Conn::open_host("127.0.0.1", port).await
    }

    pub async fn open_host(host: &str, port: u16) -> anyhow::Result<Conn> {
        let s = TcpStream::connect((host, port)).await?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        Ok(Conn { r: BufReader::new(r), w })
    }

    /// Writes `req` (a whole request) and reads the answer (`Content-Length` or chunked); its status.
    pub async fn send(&mut self, req: &[u8]) -> anyhow::Result<u16> {
        self.w.write_all(req).await?;
        let mut line = String::new();
        self.r.read_line(&mut line).await?;
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("bad status line")?;
        let mut len = 0usize;
        let mut chunked = false;
        loop {
            line.clear();
            if self.r.read_line(&mut line).await? == 0 {
                bail!("connection closed in the headers");
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked") {
                    chunked = true;
                }
            }
        }
        if chunked {
            loop {
                line.clear();
                self.r.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
                let mut chunk = vec![0u8; size + 2];
                if size == 0 {
                    // Trailers (none expected) end with an empty line.
                    loop {
                        line.clear();
                        if self.r.read_line(&mut line).await? == 0 || line.trim_end().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                self.r.read_exact(&mut chunk).await?;
            }
        } else {
            let mut body = vec![0u8; len];
            self.r.read_exact(&mut body).await?;
        }
        Ok(status)
    }
}

/// Percentile `p` (0–1, nearest rank) of sorted `v`, in ms.
pub(crate) fn pct(v: &[Duration], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)].as_secs_f64() * 1000.0
}

/// The value of the first `/metrics` line starting with `prefix` on the engine at `port`.
pub(crate) async fn metric(port: u16, prefix: &str) -> anyhow::Result<f64> {
    let mut conn = Conn::open(port).await?;
    conn.w.write_all(b"GET /metrics HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n").await?;
    let mut text = String::new();
    conn.r.read_to_string(&mut text).await?;
    Ok(text
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0))
}

/// Open-loop pacing with sub-millisecond precision: a thread releases event
/// indices at their due times (it sleeps, then spins the last 250 µs), and
/// the connection tasks take the next one released. tokio's timer has a
/// 1 ms granularity, which alone added 0.5–1 ms to every latency measured
/// from the due time.
pub(crate) struct Pacer {
    rx: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<(usize, Instant)>>,
}

impl Pacer {
    /// Releases `0..count` at `rate` per second from `start`.
    pub fn start(count: usize, rate: u64, start: Instant) -> anyhow::Result<std::sync::Arc<Pacer>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
        std::thread::Builder::new().name("bench-pacer".into()).spawn(move || {
            for k in 0..count {
                let due = start + interval.mul_f64(k as f64);
                loop {
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    let left = due - now;
                    if left > Duration::from_micros(300) {
                        std::thread::sleep(left - Duration::from_micros(250));
                    } else {
                        std::hint::spin_loop();
                    }
                }
                if tx.send((k, due)).is_err() {
                    return;
                }
            }
        })?;
        Ok(std::sync::Arc::new(Pacer { rx: tokio::sync::Mutex::new(rx) }))
    }

    /// The next index released and when it was due; `None` after the last.
    pub async fn next(&self) -> Option<(usize, Instant)> {
        self.rx.lock().await.recv().await
    }
}
