//! The backlog bound, per workflow and in total: a flood on one workflow
//! fills that workflow's share and gets refused, while the others keep
//! being accepted.
//!
//! A workflow is refused when its own queued runs reach its share, or when
//! all queued runs reach [`EngineConfig::max_backlog`]. The share is
//! [`EngineConfig::max_backlog_per_workflow`] when set; otherwise the
//! backlog divided among the loaded workflows (each can receive events: its
//! trigger, a manual run, `workflow.start`), at least [`SHARE_FLOOR`] but
//! never more than half of it, and all of it when there is one workflow
//! ([`share`]). Capped at half, one flooded workflow always leaves at least
//! half of the backlog to the others.
//!
//! The counts come from the store (so the bound holds across processes
//! sharing a database), refreshed by the accepter's watcher, and grow
//! locally with every batch this process commits in between.
//!
//! [`EngineConfig::max_backlog`]: super::EngineConfig::max_backlog
//! [`EngineConfig::max_backlog_per_workflow`]: super::EngineConfig::max_backlog_per_workflow

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::AcceptError;

/// The smallest share a workflow gets when the backlog is divided among
/// many (unless that would be more than half the backlog).
pub const SHARE_FLOOR: u64 = 1_000;

/// A workflow's share of `max_backlog` with `workflows` loaded, or `fixed`
/// (`--max-backlog-per-workflow`; at most `max_backlog`).
pub fn share(max_backlog: u64, workflows: usize, fixed: Option<u64>) -> u64 {
    if let Some(n) = fixed {
        return n.min(max_backlog);
    }
    match u64::try_from(workflows).unwrap_or(u64::MAX) {
        0 | 1 => max_backlog,
        n => (max_backlog / n).max(SHARE_FLOOR.min(max_backlog / 2)),
    }
}

/// Which bound refused an event (the `limit` label of
/// `reqflow_backlog_refusals_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Limit {
    /// The workflow's own share.
    Workflow,
    /// All queued runs together (`max_backlog`).
    Total,
}

impl Limit {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Workflow => "workflow",
            Limit::Total => "total",
        }
    }
}

/// Queued runs, in total and by workflow, as last read from the store plus
/// what this process accepted since.
#[derive(Debug, Default)]
pub(super) struct Backlog {
    total: AtomicU64,
    by_workflow: Mutex<HashMap<String, u64>>,
    share: AtomicU64,
}

impl Backlog {
    /// Sets the per-workflow share (on load).
    pub(super) fn set_share(&self, share: u64) {
        self.share.store(share, Ordering::Relaxed);
    }

    /// Whether one more run of `workflow` may be queued.
    pub(super) fn check(&self, workflow: &str, max_backlog: u64) -> Result<(), (Limit, AcceptError)> {
        let total = self.total.load(Ordering::Relaxed);
        let share = match self.share.load(Ordering::Relaxed) {
            0 => max_backlog,
            s => s,
        };
        if share < max_backlog {
            let waiting = self.by_workflow.lock().map(|m| m.get(workflow).copied().unwrap_or(0)).unwrap_or(0);
            if waiting >= share {
                let e = AcceptError::WorkflowBacklog { workflow: workflow.to_owned(), waiting, share };
                return Err((Limit::Workflow, e));
            }
        }
        if total >= max_backlog {
            return Err((Limit::Total, AcceptError::Overloaded(format!("{total} runs are waiting (--max-backlog)"))));
        }
        Ok(())
    }

    /// Counts runs this process just queued, by workflow.
    pub(super) fn add<'a>(&self, queued: impl IntoIterator<Item = &'a str>) {
        let Ok(mut m) = self.by_workflow.lock() else { return };
        let mut n = 0;
        for wf in queued {
            n += 1;
            match m.get_mut(wf) {
                Some(c) => *c += 1,
                None => {
                    m.insert(wf.to_owned(), 1);
                }
            }
        }
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    /// The total as the store counts it now.
    pub(super) fn refresh_total(&self, queued: u64) {
        self.total.store(queued, Ordering::Relaxed);
    }

    /// The counts by workflow as the store gives them now (a workflow not
    /// listed has none).
    pub(super) fn refresh_by_workflow(&self, counts: Vec<(String, u64)>) {
        if let Ok(mut m) = self.by_workflow.lock() {
            *m = counts.into_iter().collect();
        }
    }

    /// Whether per-workflow counts matter at all (a share below the total).
    pub(super) fn is_split(&self, max_backlog: u64) -> bool {
        let s = self.share.load(Ordering::Relaxed);
        s != 0 && s < max_backlog
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_rule() {
        assert_eq!(share(100_000, 0, None), 100_000);
        assert_eq!(share(100_000, 1, None), 100_000, "one workflow has it all");
        assert_eq!(share(100_000, 2, None), 50_000);
        assert_eq!(share(100_000, 10, None), 10_000);
        assert_eq!(share(100_000, 500, None), SHARE_FLOOR, "at least the floor");
        assert_eq!(share(100, 2, None), 50, "never more than half: a small backlog is still split");
        assert_eq!(share(100, 50, None), 50);
        assert_eq!(share(100, 3, None), 50);
        assert_eq!(share(100_000, 10, Some(25_000)), 25_000, "fixed");
        assert_eq!(share(100, 10, Some(25_000)), 100, "at most the backlog");
    }

    #[test]
    fn a_full_workflow_is_refused_and_the_others_are_not() {
        let b = Backlog::default();
        b.set_share(share(100, 2, None));
        b.add(std::iter::repeat_n("a", 49));
        assert!(b.check("a", 100).is_ok());
        b.add(["a"]);
        let (limit, e) = b.check("a", 100).expect_err("a is at its share");
        assert_eq!(limit, Limit::Workflow);
        assert_eq!(e.to_string(), "workflow `a` has 50 runs waiting (its share of --max-backlog: 50)");
        assert!(b.check("b", 100).is_ok());
        // The store's counts replace the local ones.
        b.refresh_by_workflow(vec![("b".into(), 10)]);
        b.refresh_total(10);
        assert!(b.check("a", 100).is_ok());
        b.refresh_total(100);
        assert_eq!(b.check("b", 100).map_err(|(l, _)| l), Err(Limit::Total));
    }

    #[test]
    fn one_workflow_is_bound_by_the_total_only() {
        let b = Backlog::default();
        b.set_share(share(100, 1, None));
        assert!(!b.is_split(100));
        b.add(std::iter::repeat_n("a", 99));
        assert!(b.check("a", 100).is_ok());
        b.add(["a"]);
        assert_eq!(b.check("a", 100).map_err(|(l, _)| l), Err(Limit::Total));
    }
}
