//! Client-side rate limiting for Partner Center: a rolling-window request-start limiter (default
//! 450 starts per 60 s per partner tenant, below the documented 500/min) and bounded concurrency.
//!
//! Invariant: within any window of `window` length, at most `limit` request starts are admitted
//! (every HTTP attempt, retries included, goes through [`RateLimiter::acquire_start`]). The
//! window logic is the pure [`WindowLimiter`], driven by explicit instants so it is testable
//! without sleeping.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Default request starts per rolling minute (Partner Center documents 500/min/tenant).
pub const DEFAULT_PER_MINUTE: u32 = 450;
/// Default number of requests in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Pure rolling-window limiter: remembers the last `limit` admitted starts.
#[derive(Debug, Clone)]
pub struct WindowLimiter {
    limit: usize,
    window: Duration,
    starts: VecDeque<Instant>,
}

impl WindowLimiter {
    /// A limiter admitting at most `limit` starts in any `window` (a limit of 0 is treated as 1).
    pub fn new(limit: u32, window: Duration) -> Self {
        let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        Self {
            limit,
            window,
            starts: VecDeque::with_capacity(limit.min(1024)),
        }
    }

    /// Try to admit a request start at `now`. On success the start is recorded. Otherwise returns
    /// the earliest instant at which a start can be admitted.
    ///
    /// A start at `t` is admitted only if fewer than `limit` recorded starts lie in
    /// `(t - window, t]`; starts at or before `t - window` have left the window.
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Instant> {
        while let Some(&oldest) = self.starts.front() {
            if now.saturating_duration_since(oldest) >= self.window {
                self.starts.pop_front();
            } else {
                break;
            }
        }
        if self.starts.len() < self.limit {
            self.starts.push_back(now);
            Ok(())
        } else {
            match self.starts.front() {
                Some(&oldest) => Err(oldest + self.window),
                None => Ok(()),
            }
        }
    }

    /// Number of starts currently remembered (inside the window as of the last call).
    pub fn in_window(&self) -> usize {
        self.starts.len()
    }
}

/// The limiter shared by every call of one client (one partner tenant).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    window: Arc<Mutex<WindowLimiter>>,
    concurrency: Arc<Semaphore>,
}

impl RateLimiter {
    /// `per_minute` starts per rolling 60 s, at most `max_concurrency` in flight (min 1).
    pub fn new(per_minute: u32, max_concurrency: usize) -> Self {
        Self {
            window: Arc::new(Mutex::new(WindowLimiter::new(
                per_minute,
                Duration::from_secs(60),
            ))),
            concurrency: Arc::new(Semaphore::new(max_concurrency.max(1))),
        }
    }

    /// Wait for an in-flight slot; hold the permit for the duration of one HTTP attempt.
    pub async fn permit(&self) -> OwnedSemaphorePermit {
        loop {
            // The semaphore is never closed, so acquisition only fails in theory; retry then.
            if let Ok(p) = Arc::clone(&self.concurrency).acquire_owned().await {
                return p;
            }
            tokio::task::yield_now().await;
        }
    }

    /// Wait until the rolling window admits one more request start, and record it.
    pub async fn acquire_start(&self) {
        loop {
            let decision = {
                let mut guard = match self.window.lock() {
                    Ok(g) => g,
                    Err(poisoned) => poisoned.into_inner(),
                };
                guard.try_acquire(Instant::now())
            };
            match decision {
                Ok(()) => return,
                Err(at) => {
                    tracing::debug!(
                        wait_ms = at.saturating_duration_since(Instant::now()).as_millis() as u64,
                        "client-side rate limit reached; waiting"
                    );
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const W: Duration = Duration::from_secs(60);

    #[test]
    fn admits_limit_then_refuses_until_oldest_leaves() {
        let t0 = Instant::now();
        let mut l = WindowLimiter::new(3, W);
        assert!(l.try_acquire(t0).is_ok());
        assert!(l.try_acquire(t0 + Duration::from_secs(1)).is_ok());
        assert!(l.try_acquire(t0 + Duration::from_secs(2)).is_ok());
        assert_eq!(l.try_acquire(t0 + Duration::from_secs(3)), Err(t0 + W));
        // Just before the oldest leaves: still refused.
        assert_eq!(
            l.try_acquire(t0 + W - Duration::from_millis(1)),
            Err(t0 + W)
        );
        // Exactly 60 s after the oldest start it has left the window.
        assert!(l.try_acquire(t0 + W).is_ok());
        assert_eq!(
            l.try_acquire(t0 + W + Duration::from_millis(500)),
            Err(t0 + Duration::from_secs(61))
        );
    }

    #[test]
    fn zero_limit_is_treated_as_one() {
        let t0 = Instant::now();
        let mut l = WindowLimiter::new(0, W);
        assert!(l.try_acquire(t0).is_ok());
        assert!(l.try_acquire(t0).is_err());
    }

    proptest! {
        /// Drive the limiter with arbitrary request arrival times, always retrying at the
        /// instant it names; then check every 60 s window of admitted starts.
        #[test]
        fn no_window_ever_holds_more_than_limit(
            limit in 1u32..20,
            gaps in proptest::collection::vec(0u64..5_000, 1..300),
        ) {
            let t0 = Instant::now();
            let mut l = WindowLimiter::new(limit, W);
            let mut admitted: Vec<Instant> = Vec::new();
            let mut now = t0;
            for gap in gaps {
                now += Duration::from_millis(gap);
                let mut at = now;
                let mut guard = 0;
                loop {
                    match l.try_acquire(at) {
                        Ok(()) => { admitted.push(at); break; }
                        Err(next) => { prop_assert!(next > at); at = next; }
                    }
                    guard += 1;
                    prop_assert!(guard < 3, "a retry at the named instant must succeed");
                }
                now = at;
            }
            for (i, &start) in admitted.iter().enumerate() {
                let in_window = admitted[i..].iter().take_while(|&&s| s < start + W).count();
                prop_assert!(in_window <= limit as usize, "{in_window} starts in one window, limit {limit}");
            }
        }
    }
}
