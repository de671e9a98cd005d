//! The in-process "new work may be available" signal behind `wait_for_work`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// Wakes every waiting worker, and leaves one permit so that a worker that
/// starts waiting just after the signal (its claim raced the commit) returns
/// at once instead of sleeping for its whole timeout. The cost is at most one
/// spurious wake-up.
#[derive(Clone, Debug, Default)]
pub(crate) struct WorkSignal(Arc<Notify>);

impl WorkSignal {
    /// New work may be available.
    pub fn notify(&self) {
        self.0.notify_waiters();
        self.0.notify_one();
    }

    /// Waits for [`WorkSignal::notify`] or the timeout.
    pub async fn wait(&self, timeout_ms: u64) {
        let _ = tokio::time::timeout(Duration::from_millis(timeout_ms), self.0.notified()).await;
    }
}
