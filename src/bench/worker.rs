//! One measured planning pass of the benchmark (`cspguard bench --worker plan|naive`, run in a
//! child process so its peak memory is its own): plan against the configured Partner Center
//! (the simulator), time it, and measure the CPU time of `policy::evaluate` on the collected
//! snapshot.

use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::{BenchError, WorkerResult};
use crate::config::Config;
use crate::context::{self, ContextError};
use crate::credentials::{self, CredentialsError};
use crate::exit::{Exit, ExitStatus};
use crate::ledger::{Ledger, LedgerError};
use crate::planning;
use crate::policy::{self, PolicyInput};

/// Which planning pass to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerMode {
    /// `planning::plan`: demand-driven.
    Plan,
    /// `planning::plan_naive_full_scan`: every customer's detail.
    Naive,
    /// `planning::plan` on the configured state database, which the benchmark seeded with a
    /// cold run's ledger: a warm run (issue 18).
    Warm,
}

impl std::str::FromStr for WorkerMode {
    type Err = WorkerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "plan" => Ok(WorkerMode::Plan),
            "naive" => Ok(WorkerMode::Naive),
            "warm" => Ok(WorkerMode::Warm),
            other => Err(WorkerError::UnknownMode(other.to_owned())),
        }
    }
}

/// Errors of a measured pass.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("unknown bench worker mode {0:?} (plan, naive or warm)")]
    UnknownMode(String),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Bench(#[from] BenchError),
    #[error("bench: counting the emails per run failed: {0}")]
    Emails(String),
}

impl ExitStatus for WorkerError {
    fn exit(&self) -> Exit {
        match self {
            WorkerError::Credentials(e) => e.exit(),
            WorkerError::Context(e) => e.exit(),
            WorkerError::Ledger(e) => e.exit(),
            WorkerError::UnknownMode(_) | WorkerError::Bench(_) | WorkerError::Emails(_) => {
                Exit::Failed
            }
        }
    }
}

/// Plan once in `mode` with `cfg` and measure it.
pub async fn measure(cfg: &Config, mode: WorkerMode) -> Result<WorkerResult, WorkerError> {
    let store = credentials::refresh_store(cfg)?;
    let pc = context::client(cfg, store, uuid::Uuid::new_v4())?;
    let ledger = match mode {
        WorkerMode::Warm => Ledger::open(&cfg.state.path)?,
        WorkerMode::Plan | WorkerMode::Naive => Ledger::open_in_memory()?,
    };
    let now = Timestamp::now();
    let started = Instant::now();
    let planned = match mode {
        WorkerMode::Plan | WorkerMode::Warm => planning::plan(&pc, cfg, &ledger, now).await,
        WorkerMode::Naive => planning::plan_naive_full_scan(&pc, cfg, &ledger, now).await,
    };
    let wall = started.elapsed();

    // CPU time of the evaluation alone, on the collected snapshot: best of three.
    let tz = cfg.time_zone();
    let policy_config = cfg.policy();
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let before = super::thread_cpu_time()?;
        let plan = policy::evaluate(&PolicyInput {
            snapshot: &planned.snapshot,
            receivables: &planned.receivables,
            recon: &planned.recon,
            ledger: &ledger,
            config: &policy_config,
            now,
            tz: &tz,
        });
        let after = super::thread_cpu_time()?;
        std::hint::black_box(&plan);
        best = best.min(after.saturating_sub(before));
    }

    let stats = pc.stats();
    let customers = planned.snapshot.customers.data().map_or(0, Vec::len);
    let exit = format!("{:?}", planned.exit());
    let (detail_fetched, plan) = (planned.detail_fetched, planned.plan);
    // The emails' second run plans again: the first snapshot is not needed for it (a real run
    // ends before the next one starts).
    drop(planned.snapshot);
    let emails = match mode {
        WorkerMode::Plan => Some(
            super::emails::emails_per_run(&pc, cfg, &ledger, &plan, now)
                .await
                .map_err(WorkerError::Emails)?,
        ),
        WorkerMode::Naive | WorkerMode::Warm => None,
    };
    Ok(WorkerResult {
        calls: stats.totals.calls,
        calls_by_endpoint: stats
            .endpoints
            .iter()
            .map(|(k, v)| (k.clone(), v.calls))
            .collect(),
        throttled: stats.totals.throttled,
        retries: stats.totals.retries,
        errors: stats.totals.errors,
        wall_secs: wall.as_secs_f64(),
        eval_cpu_secs: best.as_secs_f64(),
        customers,
        detail_fetched,
        findings: plan.findings.len(),
        actions: plan.actions.len(),
        exit,
        emails,
    })
}
