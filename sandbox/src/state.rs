//! The sandbox's state: demo data (persisted with `--state`), the request
//! log, the faults switched on, and the rate-limit windows.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use axum::http::{Method, StatusCode};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::SandboxError;

/// How many received requests `GET /_sandbox/requests` keeps.
pub const LOG_CAPACITY: usize = 2000;

/// Everything the emulated APIs hold; this is what `--state` persists.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Data {
    /// Workable account data.
    pub workable: crate::workable::WorkableData,
    /// Workday tenant data.
    pub workday: crate::workday::WorkdayData,
}

/// Faults switched on for tests (`POST /_sandbox/faults`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Answer with this status (e.g. 500, 503, 429) instead of serving.
    #[serde(default)]
    pub status: Option<u16>,
    /// Wait this many milliseconds before answering.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// `Retry-After` seconds on fault answers.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Only requests whose path starts with this (default: all API paths).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Only the next N matching requests (default: until cleared).
    #[serde(default)]
    pub count: Option<u32>,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub data: Data,
    pub log: VecDeque<Value>,
    pub faults: Option<Faults>,
    /// What the vendor stand-in received, uncapped (`GET /_sandbox/vendor/writes`).
    pub vendor: crate::vendor::VendorLedger,
    /// Rate-limit windows: key → (window start, requests in it).
    pub windows: HashMap<String, (i64, u32)>,
}

/// A request as the sandbox received it, shown to an [`Observer`] once answered.
#[derive(Debug)]
pub struct Received<'a> {
    /// When its body had been read, before the handler ran.
    pub at: Instant,
    /// The method.
    pub method: &'a Method,
    /// The path (no query).
    pub path: &'a str,
    /// The raw body.
    pub body: &'a [u8],
    /// The status the sandbox answered.
    pub status: StatusCode,
}

/// Called for every API request (not `/_sandbox/…`) after it is answered, on
/// the task serving it: keep it cheap. Load generators use it to time what
/// reaches the emulated APIs without going through the request log.
pub type Observer = Arc<dyn Fn(&Received<'_>) + Send + Sync>;

#[derive(Clone, Default)]
struct ObserverSlot(Arc<RwLock<Option<Observer>>>);

impl std::fmt::Debug for ObserverSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.0.read().map(|o| o.is_some()).unwrap_or(false);
        f.write_str(if set { "Some(Observer)" } else { "None" })
    }
}

/// The shared state of a running sandbox (cheap to clone).
#[derive(Clone, Debug)]
pub struct Sandbox {
    inner: Arc<Mutex<Inner>>,
    state_file: Option<PathBuf>,
    /// Whether Workable's rate limits are enforced (the default).
    rate_limit: Arc<AtomicBool>,
    observer: ObserverSlot,
}

impl Sandbox {
    /// A sandbox with the demo data.
    pub fn seeded() -> Sandbox {
        Sandbox::with_data(crate::seed::data(), None)
    }

    /// A sandbox over `data`, persisting to `state_file` if given.
    pub fn with_data(data: Data, state_file: Option<PathBuf>) -> Sandbox {
        Sandbox {
            inner: Arc::new(Mutex::new(Inner { data, ..Inner::default() })),
            state_file,
            rate_limit: Arc::new(AtomicBool::new(true)),
            observer: ObserverSlot::default(),
        }
    }

    /// Switches Workable's rate limits on (the default) or off (`reqflow sandbox
    /// --no-rate-limit`: no 429s and no `X-Rate-Limit-*` headers, for load tests).
    pub fn set_rate_limit(&self, on: bool) {
        self.rate_limit.store(on, Ordering::Relaxed);
    }

    /// Whether Workable's rate limits are enforced.
    pub fn rate_limit(&self) -> bool {
        self.rate_limit.load(Ordering::Relaxed)
    }

    /// Sets (or with `None` removes) the [`Observer`] of API requests.
    pub fn set_observer(&self, observer: Option<Observer>) {
        match self.observer.0.write() {
            Ok(mut g) => *g = observer,
            Err(p) => *p.into_inner() = observer,
        }
    }

    pub(crate) fn observer(&self) -> Option<Observer> {
        match self.observer.0.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Loads `path` (seeding and writing it when missing).
    pub fn from_file(path: &Path) -> Result<Sandbox, SandboxError> {
        let data = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| SandboxError::State { path: path.to_owned(), source })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => crate::seed::data(),
            Err(source) => return Err(SandboxError::Io { path: path.to_owned(), source }),
        };
        let sandbox = Sandbox::with_data(data, Some(path.to_owned()));
        sandbox.persist().map_err(|source| SandboxError::Io { path: path.to_owned(), source })?;
        Ok(sandbox)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Runs `f` on the data; writes the state file afterwards if there is one.
    pub fn update<T>(&self, f: impl FnOnce(&mut Data) -> T) -> T {
        let out = f(&mut self.lock().data);
        let _ = self.persist();
        out
    }

    /// Reads the data.
    pub fn read<T>(&self, f: impl FnOnce(&Data) -> T) -> T {
        f(&self.lock().data)
    }

    /// Writes the state file (atomically: a temporary file, then a rename).
    pub fn persist(&self) -> std::io::Result<()> {
        let Some(path) = &self.state_file else { return Ok(()) };
        let json = serde_json::to_vec_pretty(&self.lock().data).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(tmp, path)
    }

    /// The requests received so far (oldest first).
    pub fn requests(&self) -> Vec<Value> {
        self.lock().log.iter().cloned().collect()
    }

    /// Switches faults on (`Some`) or off (`None`).
    pub fn set_faults(&self, faults: Option<Faults>) {
        self.lock().faults = faults;
    }
}
