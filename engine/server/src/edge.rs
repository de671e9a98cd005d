//! The edge: how a listener treats its connections, whoever is on the other
//! side. Every bound here exists because a client can be hostile or broken:
//! - **header read timeout** (hyper's, started when the connection opens):
//!   a client that does not send a whole request head in time is closed;
//! - **keep-alive idle timeout**: a connection with no request in flight is
//!   closed after it;
//! - **connection cap**: past it, the connection idle the longest is closed
//!   to make room; when every connection has a request in flight, the new
//!   one gets `503` with `Retry-After` and is closed at once (never a hang);
//! - **body read timeout** and a **cap on body bytes held in memory** across
//!   all requests ([`BodyReader`]): memory stays bounded whatever the
//!   number of connections;
//! - **graceful shutdown**: stop accepting, let requests in flight finish,
//!   close idle connections, and give up on the rest after a deadline.
//!
//! With TLS ([`serve_with`] and a [`TlsConfig`]) each connection does its
//! handshake on its own task, never in the accept loop, and must finish it
//! within the header timeout (then its request head gets the header timeout
//! again, as a plaintext connection's does). A connection in its handshake
//! counts against the cap as an idle one (it has no request in flight, so it
//! can be closed to make room); everything after the handshake is the same
//! code over the TLS stream.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::Request;
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

pub use crate::tls::{TlsConfig, TlsError};

/// The most a connection buffers from the socket before the handler reads it
/// (also the largest request head).
const READ_BUFFER: usize = 64 * 1024;

/// How long a refusal past the cap may take: writing the `503` (plaintext),
/// or the handshake and the `503` (TLS).
const REFUSE_WITHIN: Duration = Duration::from_secs(1);
const REFUSE_WITHIN_TLS: Duration = Duration::from_secs(2);

/// Bounds of a listener. Defaults suit a public webhook endpoint.
#[derive(Clone, Debug)]
pub struct EdgeLimits {
    /// A request head must arrive within this, from the connection's start
    /// (and, on a kept-alive connection, from the end of the last response).
    pub header_timeout: Duration,
    /// A request body must arrive whole within this.
    pub body_timeout: Duration,
    /// A connection without a request in flight is closed after this.
    pub idle_timeout: Duration,
    /// Open connections on this listener.
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_timeout: Duration,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// One open connection, as the cap sees it.
struct Slot {
    in_flight: Arc<AtomicUsize>,
    /// When the last request ended (or the connection opened), ms since `epoch`.
    last_active: Arc<AtomicU64>,
    close: Arc<Notify>,
}

/// The open connections of a listener.
#[derive(Default)]
struct Slots {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Slot>>,
}

impl Slots {
    /// Makes room for one more connection: `true` when there is room (after
    /// closing the connection idle the longest, if the cap was reached).
    fn make_room(&self, max: usize) -> bool {
        let Ok(open) = self.open.lock() else { return false };
        if open.len() < max {
            return true;
        }
        let idle = open
            .iter()
            .filter(|(_, s)| s.in_flight.load(Ordering::Acquire) == 0)
            .min_by_key(|(_, s)| s.last_active.load(Ordering::Relaxed));
        match idle {
            Some((_, s)) => {
                s.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Serves `app` on `listener` (plaintext HTTP/1.1) within `limits` until
/// `shutdown` completes, then drains as [`EdgeLimits::shutdown_timeout`] allows.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: EdgeLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_with(listener, app, limits, None, shutdown).await
}

/// [`serve`], over TLS when `tls` is given (HTTPS only: a connection that
/// does not complete a TLS handshake within the header timeout is closed).
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    limits: EdgeLimits,
    tls: Option<TlsConfig>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let slots = Arc::new(Slots::default());
    let epoch = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while tasks.try_join_next().is_some() {}
        if !slots.make_room(limits.max_connections) {
            tasks.spawn(refuse(stream, tls.clone()));
            continue;
        }
        let id = slots.next.fetch_add(1, Ordering::Relaxed);
        let slot = Slot {
            in_flight: Arc::new(AtomicUsize::new(0)),
            last_active: Arc::new(AtomicU64::new(epoch.elapsed().as_millis() as u64)),
            close: Arc::new(Notify::new()),
        };
        let conn = Conn {
            in_flight: slot.in_flight.clone(),
            last_active: slot.last_active.clone(),
            close: slot.close.clone(),
            epoch,
        };
        if let Ok(mut open) = slots.open.lock() {
            open.insert(id, slot);
        }
        let (app, limits, slots, mut stop, tls) =
            (app.clone(), limits.clone(), slots.clone(), stop_rx.clone(), tls.clone());
        tasks.spawn(async move {
            let _ = stream.set_nodelay(true);
            match tls {
                None => conn.run(stream, app, &limits, stop).await,
                Some(tls) => {
                    if let Some(stream) = conn.handshake(&tls, stream, limits.header_timeout, &mut stop).await {
                        conn.run(stream, app, &limits, stop).await;
                    }
                }
            }
            if let Ok(mut open) = slots.open.lock() {
                open.remove(&id);
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained =
        tokio::time::timeout(limits.shutdown_timeout, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(left = tasks.len(), "shutdown deadline reached: closing the connections still open");
        tasks.abort_all();
    }
    Ok(())
}

/// In every request's extensions: becomes `true` when the listener shuts
/// down, so that a long answer (a server-sent event stream) can end instead
/// of holding the shutdown until its deadline.
#[derive(Clone, Debug)]
pub(crate) struct Draining(pub watch::Receiver<bool>);

impl Draining {
    /// Whether the listener is shutting down.
    pub fn now(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when the listener shuts down (at once if it already is).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|s| *s).await;
    }
}

/// The answer past the connection cap when no connection can be closed
/// (over TLS: after the handshake, all within [`REFUSE_WITHIN_TLS`]).
async fn refuse(stream: TcpStream, tls: Option<TlsConfig>) {
    match tls {
        None => write_refusal(stream).await,
        Some(tls) => {
            let _ = tokio::time::timeout(REFUSE_WITHIN_TLS, async {
                if let Ok(s) = tls.acceptor.accept(stream).await {
                    write_refusal(s).await;
                }
            })
            .await;
        }
    }
}

async fn write_refusal(mut stream: impl AsyncWrite + Unpin) {
    let answer = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n\
Content-Length: 42\r\nConnection: close\r\n\r\n{\"error\":\"too many connections; try again\"}";
    let _ = tokio::time::timeout(REFUSE_WITHIN, async {
        let _ = stream.write_all(answer).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

struct Conn {
    in_flight: Arc<AtomicUsize>,
    last_active: Arc<AtomicU64>,
    close: Arc<Notify>,
    epoch: Instant,
}

/// Counts a request in flight on its connection; when it ends, the
/// connection's idle time starts.
struct InFlight {
    n: Arc<AtomicUsize>,
    last_active: Arc<AtomicU64>,
    epoch: Instant,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.last_active.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.n.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Conn {
    /// The TLS handshake, within `within`; `None` when it failed, timed out,
    /// or the connection was told to close (cap, shutdown) meanwhile.
    async fn handshake(
        &self,
        tls: &TlsConfig,
        stream: TcpStream,
        within: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
        tokio::select! {
            r = tokio::time::timeout(within, tls.acceptor.accept(stream)) => match r {
                Ok(Ok(s)) => Some(s),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(within = ?within, "TLS handshake not completed in time: closed");
                    None
                }
            },
            () = self.close.notified() => None,
            _ = stop.changed() => None,
        }
    }

    async fn run<S>(self, stream: S, app: Router, limits: &EdgeLimits, mut stop: watch::Receiver<bool>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (n, last, epoch) = (self.in_flight.clone(), self.last_active.clone(), self.epoch);
        let draining = Draining(stop.clone());
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            // Long answers (the console's server-sent events) end when the listener shuts down.
            req.extensions_mut().insert(draining.clone());
            n.fetch_add(1, Ordering::AcqRel);
            let guard = InFlight { n: n.clone(), last_active: last.clone(), epoch };
            let app = app.clone();
            async move {
                let resp = app.oneshot(req.map(Body::new)).await;
                // The response is written after this; the request counts until then.
                let resp = resp.map(|r| r.map(|b| Body::new(Guarded { body: b, _guard: guard })));
                Ok::<_, Infallible>(resp.unwrap_or_else(|never| match never {}))
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            // Each connection's read buffer stays small (hyper's default grows to
            // ~400 KB): a thousand connections pushing bodies hold 64 MB at most
            // before the body budget even counts them.
            .max_buf_size(READ_BUFFER)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        let mut tick = tokio::time::interval(Duration::from_millis(500).min(limits.idle_timeout));
        let mut closing = false;
        loop {
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended");
                    }
                    return;
                }
                () = self.close.notified(), if !closing => {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = stop.changed(), if !closing => {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = tick.tick(), if !closing => {
                    let idle_ms = self.epoch.elapsed().as_millis() as u64 - self.last_active.load(Ordering::Relaxed);
                    if self.in_flight.load(Ordering::Acquire) == 0 && idle_ms >= limits.idle_timeout.as_millis() as u64 {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}

/// A response body that keeps its request counted as in flight until written.
struct Guarded {
    body: Body,
    _guard: InFlight,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Over the per-request limit (413).
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// Not received in time (408).
    #[error("the body did not arrive within {0:?}")]
    Timeout(Duration),
    /// The memory all bodies in flight may hold is used up (503).
    #[error("too many request bodies in flight; try again")]
    Busy,
    /// The connection failed while reading (400).
    #[error("the body could not be read: {0}")]
    Broken(String),
}

/// Reads request bodies within a per-request size, a time limit, and a
/// budget of bytes shared by every request of the process.
#[derive(Clone, Debug)]
pub struct BodyReader {
    budget: Arc<Semaphore>,
    max_body: usize,
    timeout: Duration,
}

/// A body read, with its share of the budget (released when dropped).
#[derive(Debug)]
pub struct ReadBody {
    /// The bytes.
    pub bytes: Bytes,
    _held: Option<OwnedSemaphorePermit>,
}

impl BodyReader {
    /// Bodies up to `max_body` bytes each, `budget` bytes in all, each read within `timeout`.
    pub fn new(max_body: usize, budget: usize, timeout: Duration) -> Self {
        BodyReader { budget: Arc::new(Semaphore::new(budget.min(Semaphore::MAX_PERMITS))), max_body, timeout }
    }

    /// Reads the body. Never holds more than the budget, never waits for it:
    /// when it is used up, [`BodyError::Busy`] at once. With a declared
    /// length (`Content-Length`), its whole share is taken before a byte is
    /// read, so a body that cannot fit is refused unread.
    pub async fn read(&self, body: Body, declared: Option<u64>) -> Result<ReadBody, BodyError> {
        let mut held: Option<OwnedSemaphorePermit> = None;
        let mut reserved = 0usize;
        if let Some(n) = declared {
            if n > self.max_body as u64 {
                return Err(BodyError::TooLarge(self.max_body));
            }
            let n32 = u32::try_from(n).map_err(|_| BodyError::TooLarge(self.max_body))?;
            if n32 > 0 {
                held = Some(self.budget.clone().try_acquire_many_owned(n32).map_err(|_| BodyError::Busy)?);
            }
            reserved = n as usize;
        }
        let read = async {
            let mut stream = body.into_data_stream();
            let mut buf = Vec::with_capacity(reserved);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| BodyError::Broken(e.to_string()))?;
                if buf.len() + chunk.len() > self.max_body {
                    return Err(BodyError::TooLarge(self.max_body));
                }
                // Past what was reserved (no or a wrong Content-Length), each chunk takes its share.
                let over = (buf.len() + chunk.len()).saturating_sub(reserved.max(buf.len()));
                if over > 0 {
                    let n = u32::try_from(over).map_err(|_| BodyError::TooLarge(self.max_body))?;
                    let permit = self.budget.clone().try_acquire_many_owned(n).map_err(|_| BodyError::Busy)?;
                    match held.as_mut() {
                        Some(h) => h.merge(permit),
                        None => held = Some(permit),
                    }
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(buf)
        };
        let buf = tokio::time::timeout(self.timeout, read).await.map_err(|_| BodyError::Timeout(self.timeout))??;
        Ok(ReadBody { bytes: Bytes::from(buf), _held: held })
    }
}

/// Logs a recurring cause once per interval, with how often it happened
/// since: a flood of refusals is one line every few seconds, not one a request.
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    seen: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl Default for LogLimiter {
    fn default() -> Self {
        LogLimiter { interval: Duration::from_secs(10), seen: Mutex::new(HashMap::new()) }
    }
}

impl LogLimiter {
    /// Notes one occurrence of `cause`; logs it (a warning, with how many
    /// occurrences it stands for) when none was logged within the interval.
    pub fn note(&self, cause: &'static str, detail: &str) {
        let Ok(mut seen) = self.seen.lock() else { return };
        let now = Instant::now();
        match seen.get_mut(cause) {
            Some((last, suppressed)) if now.duration_since(*last) < self.interval => *suppressed += 1,
            Some((last, suppressed)) => {
                tracing::warn!(count = *suppressed + 1, detail, "{cause}");
                *last = now;
                *suppressed = 0;
            }
            None => {
                tracing::warn!(count = 1, detail, "{cause}");
                seen.insert(cause, (now, 0));
            }
        }
    }
}
