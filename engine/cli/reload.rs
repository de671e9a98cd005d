//! Deploys without restart: `serve` watches its `--workflows` path and
//! reloads on `SIGHUP`.
//!
//! Watching is polling (every `--watch-interval`, 500 ms by default): each
//! poll lists the workflow files and fingerprints them (path, size,
//! modification time and a hash of the content). A changed fingerprint is
//! applied once it is the same on two polls in a row, so an editor's partial
//! write is not loaded half-written. Polling rather than inotify (`notify`):
//! it needs no extra dependency, works the same on every filesystem
//! (network mounts, container volumes, Kubernetes ConfigMaps swapped by
//! symlink) and a directory of workflows is small to read.
//!
//! A reload loads every file as `serve` does at start and hands them to
//! [`Engine::reload`], which judges each file on its own (see
//! `reqflow_engine::runtime::deploy`). When the path cannot be read (a
//! directory swapped out from under it), nothing changes until it can.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqflow_engine::action::Registry;
use reqflow_engine::load::{Loaded, load_file, workflow_files};
use reqflow_engine::runtime::{Engine, ReloadCause};
use tokio::sync::watch;

/// One file's fingerprint: path, size, modification time, content hash.
type FileMark = (PathBuf, u64, Option<SystemTime>, u64);

/// The state of the workflow files, as polling compares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint(Vec<FileMark>);

fn fingerprint(path: &Path) -> std::io::Result<Fingerprint> {
    let mut marks = Vec::new();
    for f in workflow_files(path)? {
        let meta = std::fs::metadata(&f)?;
        let mut h = DefaultHasher::new();
        // Workflow files are at most 1 MiB; a larger one is read by the loader's check only.
        if meta.len() <= reqflow_engine::load::MAX_FILE_BYTES as u64 {
            std::fs::read(&f)?.hash(&mut h);
        }
        marks.push((f, meta.len(), meta.modified().ok(), h.finish()));
    }
    Ok(Fingerprint(marks))
}

fn load_all(path: &Path, registry: &Registry) -> std::io::Result<Vec<Loaded>> {
    Ok(workflow_files(path)?.iter().map(|f| load_file(f, registry)).collect())
}

/// The state of the workflow files now, to compare later polls with (`None` when unreadable).
pub(crate) fn snapshot(path: &Path) -> Option<Fingerprint> {
    fingerprint(path).ok()
}

/// How `serve` reloads.
#[derive(Clone, Debug)]
pub(crate) struct ReloadOptions {
    /// The `--workflows` path.
    pub path: PathBuf,
    /// Poll every this long; `None`: no watching (`--no-watch`), `SIGHUP` only.
    pub watch: Option<Duration>,
}

/// Starts the reloader: it polls (unless off) and reloads on `SIGHUP` until `stop`.
pub(crate) fn spawn(
    engine: Engine,
    registry: Arc<Registry>,
    opts: ReloadOptions,
    loaded: Option<Fingerprint>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    let hup = Some(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?);
    #[cfg(not(unix))]
    let hup: Option<()> = None;
    let r = Reloader { engine, registry, opts, applied: loaded, pending: None, unreadable: None };
    Ok(tokio::spawn(run(r, hup, stop)))
}

struct Reloader {
    engine: Engine,
    registry: Arc<Registry>,
    opts: ReloadOptions,
    /// The fingerprint last applied.
    applied: Option<Fingerprint>,
    /// A new fingerprint seen once, applied when the next poll sees it again.
    pending: Option<Fingerprint>,
    /// The last error reading the path (logged once, until it changes).
    unreadable: Option<String>,
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

#[cfg(unix)]
async fn hangup(hup: &mut Hangup) {
    let received = match hup {
        Some(s) => s.recv().await.is_some(),
        None => false,
    };
    if !received {
        std::future::pending::<()>().await
    }
}

#[cfg(not(unix))]
async fn hangup(_: &mut Hangup) {
    std::future::pending::<()>().await
}

async fn run(mut r: Reloader, mut hup: Hangup, mut stop: watch::Receiver<bool>) {
    let interval = r.opts.watch.unwrap_or(Duration::from_secs(3600));
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick(), if r.opts.watch.is_some() => r.poll().await,
            _ = hangup(&mut hup) => {
                tracing::info!(path = %r.opts.path.display(), "SIGHUP: reloading the workflows");
                r.pending = None;
                r.reload(ReloadCause::Signal).await;
            }
            _ = stop.changed() => return,
        }
    }
}

impl Reloader {
    async fn poll(&mut self) {
        let path = self.opts.path.clone();
        let fp = match tokio::task::spawn_blocking(move || fingerprint(&path)).await {
            Ok(Ok(fp)) => fp,
            Ok(Err(e)) => return self.cannot_read(&e.to_string()),
            Err(e) => return self.cannot_read(&e.to_string()),
        };
        self.unreadable = None;
        if self.applied.as_ref() == Some(&fp) {
            self.pending = None;
            return;
        }
        if self.pending.as_ref() != Some(&fp) {
            // Seen once: wait for it to be stable (an editor may still be writing).
            self.pending = Some(fp);
            return;
        }
        self.pending = None;
        self.reload(ReloadCause::Watch).await;
    }

    fn cannot_read(&mut self, e: &str) {
        if self.unreadable.as_deref() != Some(e) {
            tracing::warn!(path = %self.opts.path.display(), error = %e, "cannot read the workflows; the current ones keep serving");
            self.unreadable = Some(e.to_owned());
        }
    }

    /// Loads every file and applies them. The fingerprint is taken before
    /// loading: a change made while loading is seen by the next poll.
    async fn reload(&mut self, cause: ReloadCause) {
        let path = self.opts.path.clone();
        let registry = self.registry.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let fp = fingerprint(&path)?;
            Ok::<_, std::io::Error>((fp, load_all(&path, &registry)?))
        })
        .await;
        let (fp, files) = match loaded {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return self.cannot_read(&e.to_string()),
            Err(e) => return self.cannot_read(&e.to_string()),
        };
        self.unreadable = None;
        match self.engine.reload(files, cause).await {
            Ok(changes) => {
                if changes.is_empty() && cause == ReloadCause::Signal {
                    tracing::info!(path = %self.opts.path.display(), "reload: nothing changed");
                }
                self.applied = Some(fp);
            }
            // Not marked applied: the next poll tries again.
            Err(e) => tracing::error!(error = %e, "reload failed; the current workflows keep serving"),
        }
    }
}
