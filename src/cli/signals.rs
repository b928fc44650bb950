//! SIGTERM and SIGINT for `cspguard run` and `daemon`: installed before any work starts, they
//! request the library's [`Stop`] (never kill the process): the run stops claiming actions, the
//! one in flight finishes and is recorded, and the process exits on its own. Later signals are
//! ignored (systemd's `TimeoutStopSec` and SIGKILL remain the last resort).

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};
use tracing::Instrument as _;

use cspguard::stop::Stop;

/// Install the handlers (inside a Tokio runtime) and return the stop they request.
pub fn stop_on_signals() -> anyhow::Result<Stop> {
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let stop = Stop::new();
    let requested = stop.clone();
    // In the caller's span, so its lines carry the run's correlation id.
    let task = async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        requested.request(&format!("stopped by {name}"));
        tracing::warn!(
            "{name} received: no further action is claimed; the one in flight finishes and is \
             recorded, then cspguard exits"
        );
    };
    tokio::spawn(task.in_current_span());
    Ok(stop)
}
