//! `cspguard daemon`: runs `cspguard run` cycles on the `[daemon] schedule` for hosts without
//! systemd timers. The scheduling itself lives in `cspguard::schedule` (pure and tested with a
//! fake clock); this is the glue: signals, the ledger's last run, and one cycle per tick.
//!
//! Each tick re-reads the configuration (like a timer-started `cspguard run`), so an edited
//! config applies from the next cycle; a tick whose run fails is logged and the daemon goes on.
//! SIGTERM and SIGINT stop the running cycle between actions (the action in flight finishes and
//! is recorded, nothing more is claimed, the run is recorded degraded), then the daemon exits 0.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use cspguard::exit::Exit;
use cspguard::ledger::Ledger;
use cspguard::schedule::{LoopEnd, Schedule, SystemClock, Tick, run_loop};
use cspguard::stop::Stop;

use super::run::RunArgs;

/// Arguments of `cspguard daemon`.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// Run one cycle at start, then follow the schedule.
    #[arg(long)]
    pub run_at_start: bool,
}

/// Run the daemon until SIGTERM or SIGINT.
pub async fn run(config_path: &Path, args: DaemonArgs) -> anyhow::Result<Exit> {
    let loaded = super::load_config(config_path)?;
    let cfg = &loaded.config;
    let schedule = Schedule::parse(&cfg.daemon.schedule, cfg.time_zone())
        .context("invalid [daemon] schedule")?;
    let last_run = last_run_start(&cfg.state.path);

    // Install the handlers before announcing readiness: from here on a signal never kills a
    // cycle half-way.
    let stop = super::signals::stop_on_signals()?;
    let shutdown = {
        let stop = stop.clone();
        async move {
            let why = stop.requested().await;
            tracing::info!("{why}; the daemon stops");
        }
    };
    tracing::info!(
        schedule = schedule.expr(),
        timezone = cfg.timezone.get_ref().as_str(),
        last_run = ?last_run.map(|t| t.to_string()),
        "daemon started"
    );

    let path: PathBuf = config_path.to_owned();
    let end = run_loop(
        &schedule,
        &SystemClock,
        last_run,
        args.run_at_start,
        shutdown,
        |tick: Tick| {
            let path = path.clone();
            let stop = stop.clone();
            async move { one_cycle(&path, tick, stop).await }
        },
    )
    .await?;
    match end {
        LoopEnd::Shutdown => {
            tracing::info!("daemon stopped");
            Ok(Exit::Ok)
        }
        LoopEnd::NoMoreTicks => {
            anyhow::bail!(
                "[daemon] schedule {:?} has no further occurrence",
                schedule.expr()
            )
        }
    }
}

/// One scheduled cycle; its failure is logged, never fatal to the daemon.
async fn one_cycle(config_path: &Path, tick: Tick, stop: Stop) {
    let result = cspguard::observe::in_run(async {
        tracing::info!(due = %tick.due, missed = tick.missed, "scheduled run");
        super::run::run_until(
            config_path,
            RunArgs {
                dry_run: false,
                only_approved: false,
            },
            stop,
        )
        .await
    })
    .await;
    match result {
        Ok(exit) => tracing::info!(exit = exit.code(), "scheduled run finished"),
        Err(e) => {
            let exit = super::classify(&e);
            tracing::error!(
                exit = exit.code(),
                error = %super::describe(&e),
                "scheduled run failed"
            );
        }
    }
}

/// When the last recorded run started, if the state file exists and has one.
fn last_run_start(state_path: &Path) -> Option<jiff::Timestamp> {
    if !state_path.exists() {
        return None;
    }
    match Ledger::open_existing(state_path).and_then(|l| l.recent_runs(1)) {
        Ok(runs) => runs.first().map(|r| r.started_at),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the last run from the state file");
            None
        }
    }
}
