//! A request to stop a run early (SIGTERM, SIGINT): the [`Stop`] flag the CLI's signal handler
//! sets and the executor reads before claiming each action. A stop never cuts an action short:
//! the one in flight finishes (bounded by `[mail] timeout_secs` and the Partner Center
//! transport's bounds) and is marked; no further action is claimed; the run is recorded with the
//! reason. A leaf: it knows nothing of signals or runs.

use std::sync::Arc;

use tokio::sync::watch;

/// A shared, set-once stop request with its reason (cheap to clone; every clone sees the same
/// request).
#[derive(Debug, Clone)]
pub struct Stop(Arc<watch::Sender<Option<String>>>);

impl Default for Stop {
    fn default() -> Self {
        Stop(Arc::new(watch::channel(None).0))
    }
}

impl Stop {
    /// A stop that nobody has requested yet.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Request the stop with `reason` (e.g. "stopped by SIGTERM"); the first reason stays.
    pub fn request(&self, reason: &str) {
        self.0.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason.to_owned());
            true
        });
    }

    /// Why the stop was requested, if it was.
    pub fn reason(&self) -> Option<String> {
        self.0.borrow().clone()
    }

    /// Wait until the stop is requested; its reason.
    pub async fn requested(&self) -> String {
        let mut rx = self.0.subscribe();
        let reason = match rx.wait_for(Option::is_some).await {
            Ok(r) => r.clone(),
            // Unreachable: `self` holds the sender.
            Err(_) => None,
        };
        reason.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reason_stays_and_every_clone_sees_it() {
        let stop = Stop::new();
        let seen = stop.clone();
        assert_eq!(seen.reason(), None);
        let waiter = tokio::spawn({
            let s = seen.clone();
            async move { s.requested().await }
        });
        stop.request("stopped by SIGTERM");
        stop.request("stopped by SIGINT");
        assert_eq!(seen.reason().as_deref(), Some("stopped by SIGTERM"));
        assert_eq!(waiter.await.unwrap(), "stopped by SIGTERM");
        // Asked after the request: returns at once.
        assert_eq!(seen.requested().await, "stopped by SIGTERM");
    }
}
