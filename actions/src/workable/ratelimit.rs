//! Client-side rate limiting per Workable token, so a burst of runs waits
//! its turn instead of collecting 429s.
//!
//! Workable counts requests in fixed 10-second windows (10 for account
//! tokens, 50 for OAuth and partner tokens). A sliding log of send times
//! ("at most N sends in any window + margin") never puts more than N
//! requests into any fixed window, whatever its alignment, and lets a burst
//! of N go at once. `governor`'s GCRA was considered: with a burst of N it
//! allows nearly 2N across a window boundary, and without one it spaces
//! every request, so a short burst takes N× longer than needed.
//!
//! The answers' `X-Rate-Limit-Limit` adjusts N, and `X-Rate-Limit-Remaining: 0`
//! (another process using the same token) or a 429 blocks the limiter
//! until `X-Rate-Limit-Reset` / `Retry-After`.
//!
//! A connection's `rate_limit:` overrides N ([`fixed_limiter`]: the headers no
//! longer change it) or, with `0` / `none`, turns the client-side limit off
//! (for sandboxes and load tests; the client then only waits out 429s).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Workable's window.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Added to the window for clock skew and transit time.
pub const MARGIN: Duration = Duration::from_millis(150);

/// One token's limiter.
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    limit: usize,
    /// Set by the connection's `rate_limit:`: `X-Rate-Limit-Limit` does not change it.
    fixed: bool,
    sent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

impl Limiter {
    /// A limiter allowing `limit` requests per window.
    pub fn new(limit: usize) -> Limiter {
        Limiter::with_limit(limit, false)
    }

    /// A limiter allowing `limit` requests per window whatever the answers' `X-Rate-Limit-Limit` says.
    pub fn fixed(limit: usize) -> Limiter {
        Limiter::with_limit(limit, true)
    }

    fn with_limit(limit: usize, fixed: bool) -> Limiter {
        Limiter { state: Mutex::new(State { limit: limit.max(1), fixed, sent: VecDeque::new(), blocked_until: None }) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        match self.state.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Waits until a request may be sent, and counts it.
    pub async fn acquire(&self) {
        loop {
            let wait = self.with(|s| {
                let now = Instant::now();
                if let Some(until) = s.blocked_until {
                    if until > now {
                        return Some(until - now);
                    }
                    s.blocked_until = None;
                }
                while s.sent.front().is_some_and(|t| now.duration_since(*t) >= WINDOW + MARGIN) {
                    s.sent.pop_front();
                }
                if s.sent.len() < s.limit {
                    s.sent.push_back(now);
                    None
                } else {
                    s.sent.front().map(|t| (*t + WINDOW + MARGIN).saturating_duration_since(now))
                }
            });
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d.max(Duration::from_millis(1))).await,
            }
        }
    }

    /// Takes in what an answer said: the limit, and whether the window is used up until `reset_in`.
    pub fn observe(&self, limit: Option<usize>, remaining: Option<usize>, reset_in: Option<Duration>) {
        self.with(|s| {
            if let Some(l) = limit.filter(|l| *l > 0 && !s.fixed) {
                s.limit = l;
            }
            if remaining == Some(0)
                && let Some(r) = reset_in
            {
                s.block(Instant::now() + r + MARGIN);
            }
        });
    }

    /// Blocks every sender until `until` (after a 429).
    pub fn block_until(&self, until: Instant) {
        self.with(|s| s.block(until));
    }
}

impl State {
    fn block(&mut self, until: Instant) {
        if self.blocked_until.is_none_or(|b| b < until) {
            self.blocked_until = Some(until);
        }
    }
}

/// The limiter for `key` (shared by every step using that token in this process).
pub fn limiter(key: &str, limit: usize) -> Arc<Limiter> {
    shared(key.to_owned(), || Limiter::new(limit))
}

/// The limiter for `key` with a limit set by `rate_limit:` (shared by the
/// steps using that token with that same override).
pub fn fixed_limiter(key: &str, limit: usize) -> Arc<Limiter> {
    shared(format!("{key}\nfixed:{limit}"), || Limiter::fixed(limit))
}

fn shared(key: String, new: impl FnOnce() -> Limiter) -> Arc<Limiter> {
    static MAP: OnceLock<Mutex<HashMap<String, Arc<Limiter>>>> = OnceLock::new();
    let map = MAP.get_or_init(Default::default);
    let mut m = match map.lock() {
        Ok(m) => m,
        Err(p) => p.into_inner(),
    };
    m.entry(key).or_insert_with(|| Arc::new(new())).clone()
}
