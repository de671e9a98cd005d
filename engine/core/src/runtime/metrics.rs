//! Counters and histograms for `/metrics` (Prometheus text format).
//!
//! A small fixed set kept with atomics: no global recorder, so several
//! engines can live in one process (embedding, tests).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const BUCKETS_MS: [f64; 12] = [0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 5000.0, 30000.0];

/// A latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; 12],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            if ms <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// The cumulative count at each bucket bound (`(le_ms, count)`), the
    /// total count and the sum in seconds, as `/metrics` renders them.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: BUCKETS_MS.iter().zip(&self.buckets).map(|(b, n)| (*b, n.load(Ordering::Relaxed))).collect(),
            count: self.count.load(Ordering::Relaxed),
            sum_seconds: self.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{}\"}} {}",
                b / 1000.0,
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// A histogram's figures at one instant (see [`Histogram::snapshot`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HistogramSnapshot {
    /// `(upper bound in ms, cumulative count)`, ascending.
    pub buckets: Vec<(f64, u64)>,
    /// Observations.
    pub count: u64,
    /// Their sum, seconds.
    pub sum_seconds: f64,
}

/// The counters of [`Metrics`] summed over workflows, at one instant: the
/// figures of `/metrics` for the console's overview.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MetricsSnapshot {
    /// `reqflow_events_total` by outcome.
    pub events: BTreeMap<&'static str, u64>,
    /// `reqflow_runs_finished_total` by status.
    pub runs_finished: BTreeMap<&'static str, u64>,
    /// `reqflow_step_retries_total`.
    pub retries: u64,
    /// `reqflow_backlog_refusals_total`.
    pub backlog_refusals: u64,
    /// `reqflow_step_seconds`.
    pub step_latency: HistogramSnapshot,
    /// `reqflow_accept_seconds`.
    pub accept_latency: HistogramSnapshot,
}

/// Outcome of a request to a trigger endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventOutcome {
    /// Stored, run queued.
    Accepted,
    /// `when:` false.
    Ignored,
    /// Dedupe key seen before.
    Duplicate,
    /// Stored, but its `when:` or `dedupe:` could not be evaluated: no run.
    Invalid,
    /// Auth failed, bad body, too large, overloaded.
    Rejected,
}

impl EventOutcome {
    fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Accepted => "accepted",
            EventOutcome::Ignored => "ignored",
            EventOutcome::Duplicate => "duplicate",
            EventOutcome::Invalid => "invalid",
            EventOutcome::Rejected => "rejected",
        }
    }
}

/// A point-in-time metric: name, help, and values with their label text.
pub type Gauge<'a> = (&'a str, &'a str, Vec<(String, f64)>);

/// The engine's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    events: Mutex<BTreeMap<(String, EventOutcome), u64>>,
    runs_finished: Mutex<BTreeMap<(String, &'static str), u64>>,
    retries: Mutex<BTreeMap<(String, String), u64>>,
    backlog_refusals: Mutex<BTreeMap<(String, super::backlog::Limit), u64>>,
    /// Time from request to answer on trigger endpoints.
    pub accept_latency: Histogram,
    /// Duration of step attempts.
    pub step_latency: Histogram,
}

fn bump<K: Ord>(m: &Mutex<BTreeMap<K, u64>>, k: K) {
    if let Ok(mut m) = m.lock() {
        *m.entry(k).or_insert(0) += 1;
    }
}

fn total<K>(m: &Mutex<BTreeMap<K, u64>>) -> u64 {
    m.lock().map(|m| m.values().sum()).unwrap_or(0)
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    /// Counts one trigger request.
    pub fn event(&self, workflow: &str, outcome: EventOutcome) {
        bump(&self.events, (workflow.to_owned(), outcome));
    }

    /// Counts one finished run.
    pub fn run_finished(&self, workflow: &str, status: &'static str) {
        bump(&self.runs_finished, (workflow.to_owned(), status));
    }

    /// Counts one retry of a step.
    pub fn retry(&self, workflow: &str, step: &str) {
        bump(&self.retries, (workflow.to_owned(), step.to_owned()));
    }

    /// Counts one event refused for the backlog: its workflow's share, or the total.
    pub fn backlog_refused(&self, workflow: &str, limit: super::backlog::Limit) {
        bump(&self.backlog_refusals, (workflow.to_owned(), limit));
    }

    /// The counters summed over workflows, and the histograms.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut events: BTreeMap<&'static str, u64> = [
            EventOutcome::Accepted,
            EventOutcome::Ignored,
            EventOutcome::Duplicate,
            EventOutcome::Invalid,
            EventOutcome::Rejected,
        ]
        .iter()
        .map(|o| (o.as_str(), 0))
        .collect();
        if let Ok(m) = self.events.lock() {
            for ((_, o), n) in m.iter() {
                *events.entry(o.as_str()).or_insert(0) += n;
            }
        }
        let mut runs_finished: BTreeMap<&'static str, u64> = BTreeMap::new();
        if let Ok(m) = self.runs_finished.lock() {
            for ((_, s), n) in m.iter() {
                *runs_finished.entry(*s).or_insert(0) += n;
            }
        }
        MetricsSnapshot {
            events,
            runs_finished,
            retries: total(&self.retries),
            backlog_refusals: total(&self.backlog_refusals),
            step_latency: self.step_latency.snapshot(),
            accept_latency: self.accept_latency.snapshot(),
        }
    }

    /// Prometheus text exposition; `gauges` adds point-in-time values
    /// (e.g. runs by status from the store).
    pub fn render(&self, gauges: &[Gauge<'_>]) -> String {
        let mut out = String::new();
        out.push_str("# HELP reqflow_events_total Trigger requests by outcome.\n# TYPE reqflow_events_total counter\n");
        if let Ok(m) = self.events.lock() {
            for ((wf, o), n) in m.iter() {
                let _ =
                    writeln!(out, "reqflow_events_total{{workflow=\"{}\",outcome=\"{}\"}} {n}", esc(wf), o.as_str());
            }
        }
        out.push_str("# HELP reqflow_runs_finished_total Runs finished by this process, by status.\n# TYPE reqflow_runs_finished_total counter\n");
        if let Ok(m) = self.runs_finished.lock() {
            for ((wf, s), n) in m.iter() {
                let _ = writeln!(out, "reqflow_runs_finished_total{{workflow=\"{}\",status=\"{s}\"}} {n}", esc(wf));
            }
        }
        out.push_str("# HELP reqflow_step_retries_total Step attempts that were retried.\n# TYPE reqflow_step_retries_total counter\n");
        if let Ok(m) = self.retries.lock() {
            for ((wf, st), n) in m.iter() {
                let _ =
                    writeln!(out, "reqflow_step_retries_total{{workflow=\"{}\",step=\"{}\"}} {n}", esc(wf), esc(st));
            }
        }
        out.push_str("# HELP reqflow_backlog_refusals_total Events refused (503) for the backlog: the workflow's share, or the total.\n# TYPE reqflow_backlog_refusals_total counter\n");
        if let Ok(m) = self.backlog_refusals.lock() {
            for ((wf, l), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "reqflow_backlog_refusals_total{{workflow=\"{}\",limit=\"{}\"}} {n}",
                    esc(wf),
                    l.as_str()
                );
            }
        }
        out.push_str(
            "# HELP reqflow_accept_seconds Trigger request latency.\n# TYPE reqflow_accept_seconds histogram\n",
        );
        self.accept_latency.render(&mut out, "reqflow_accept_seconds", "");
        out.push_str("# HELP reqflow_step_seconds Step attempt latency.\n# TYPE reqflow_step_seconds histogram\n");
        self.step_latency.render(&mut out, "reqflow_step_seconds", "");
        for (name, help, values) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (labels, v) in values {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {v}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {v}");
                }
            }
        }
        out
    }
}
