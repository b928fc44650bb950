//! `cspguard run`: one full cycle, what the systemd timer calls (`cspguard::run::cycle`), or with
//! `--only-approved` only the actions a person approved (`cspguard::run::only_approved`). Prints
//! the run's summary; the exit code is the run's. SIGTERM and SIGINT stop the run between actions
//! (`signals`): the action in flight finishes and is recorded, the run ends degraded (exit 3).

use std::path::Path;

use cspguard::config::Mode;
use cspguard::exit::Exit;
use cspguard::logging::stderr_text;
use cspguard::run::{self, RunError, RunOptions, RunSummary, Session};
use cspguard::stop::Stop;
use tracing::Level;

use super::OrExit as _;

/// Arguments of `cspguard run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Send nothing and record no action, whatever the config's mode (the digest still goes out).
    #[arg(long)]
    pub dry_run: bool,
    /// Execute only actions a person approved (and the notices that wait for them), now: no
    /// collection, no new plan.
    #[arg(long, conflicts_with = "dry_run")]
    pub only_approved: bool,
}

/// Run one cycle (or the approved actions) with the config at `config_path`; SIGTERM and SIGINT
/// stop it between actions (exit 3, "stopped by SIGTERM").
pub async fn run(config_path: &Path, args: RunArgs) -> anyhow::Result<Exit> {
    let stop = super::signals::stop_on_signals()?;
    run_until(config_path, args, stop).await
}

/// [`run`], stopping between actions once `stop` is requested.
pub async fn run_until(config_path: &Path, args: RunArgs, stop: Stop) -> anyhow::Result<Exit> {
    let loaded = super::load_config_checked(config_path)?;
    let cfg = &loaded.config;
    let mode = if args.dry_run { Mode::DryRun } else { cfg.mode };
    if args.only_approved && mode == Mode::DryRun {
        return Err(RunError::OnlyApprovedInDryRun).or_exit();
    }
    let options = RunOptions {
        mode,
        now: super::now()?,
    };
    let session = Session::open(cfg, cspguard::observe::correlation_id())
        .or_exit()?
        .stop_on(stop);
    let summary = if args.only_approved {
        run::only_approved(&session, options).await
    } else {
        run::cycle(&session, options).await
    }
    .or_exit()?;
    print(&summary);
    Ok(summary.exit)
}

/// Print the summary (standard output) and the breaker and failures (standard error).
pub fn print(summary: &RunSummary) {
    println!("{summary}");
    let alerts = summary.alerts();
    if !alerts.is_empty() {
        eprintln!("{}", stderr_text(Level::WARN, &alerts.to_string()));
    }
}
