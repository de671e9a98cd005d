//! The sandbox's state: demo data (persisted with `--state`), the request
//! log, the faults switched on, and the rate-limit windows.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

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

/// The shared state of a running sandbox (cheap to clone).
#[derive(Clone, Debug)]
pub struct Sandbox {
    inner: Arc<Mutex<Inner>>,
    state_file: Option<PathBuf>,
}

impl Sandbox {
    /// A sandbox with the demo data.
    pub fn seeded() -> Sandbox {
        Sandbox::with_data(crate::seed::data(), None)
    }

    /// A sandbox over `data`, persisting to `state_file` if given.
    pub fn with_data(data: Data, state_file: Option<PathBuf>) -> Sandbox {
        Sandbox { inner: Arc::new(Mutex::new(Inner { data, ..Inner::default() })), state_file }
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
