//! The run as a library function: what `cspguard run`, `daemon`, `demo`, `bench` and the tests
//! call. A [`Session`] holds what a run needs and is built once (the run lock, the ledger, the
//! Partner Center client, the renderer and the mailer); [`cycle`] is the pipeline once: recover
//! interrupted actions, collect and plan, record spend and the audit watermark, record and execute
//! the plan through the ledger, send the digest when due, record the run and publish its report.
//! [`only_approved`] executes only what a person approved: no collection, no new plan, no digest.
//!
//! `now` is always an input (the CLI reads the clock, or its injected test clock); both return
//! the one typed [`RunSummary`] that the ledger record, the reports, the metrics, the digest and
//! the printed line are made from.

pub mod digest;
mod summarize;

use jiff::Timestamp;

use crate::config::{Config, Mode};
use crate::context::{self, ContextError};
use crate::credentials::{self, CredentialsError};
use crate::execute::{ExecuteError, ExecutionReport, Executor, Selection};
use crate::exit::{Exit, ExitStatus};
use crate::ledger::{Ledger, LedgerError, RunLock};
use crate::notices::mail::{MailError, Mailer};
use crate::notices::templates::{Renderer, TemplateError};
use crate::pc::PartnerCenter;
use crate::plan::Plan;
use crate::planning;
use crate::secrets::SecretError;
use crate::snapshot::{Section, Snapshot};
use crate::stop::Stop;
use crate::summary::RunScope;
pub use crate::summary::RunSummary;

/// Errors while opening a [`Session`].
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("cannot load the email templates")]
    Templates(#[source] TemplateError),
    #[error("cannot set up mail")]
    Mail(#[source] MailError),
}

impl ExitStatus for SessionError {
    fn exit(&self) -> Exit {
        match self {
            SessionError::Ledger(e) => e.exit(),
            SessionError::Credentials(e) => e.exit(),
            SessionError::Context(e) => e.exit(),
            SessionError::Secret(e) => e.exit(),
            SessionError::Templates(_) | SessionError::Mail(_) => Exit::Failed,
        }
    }
}

/// Errors that end a run early (a failed action or digest does not: it makes the run degraded).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "--only-approved executes approved actions, but the config says mode = \"dry-run\", \
         where nothing is executed; set mode = \"notify\" or \"enforce\" in the config first"
    )]
    OnlyApprovedInDryRun,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Execute(#[from] ExecuteError),
    #[error(
        "run {run_id} stopped at its deadline of {secs} s ([run] deadline_secs) and is recorded \
         as failed; what it did so far is in the ledger (an action cut off while executing turns \
         uncertain at the next run); check why Partner Center or the mail server was so slow"
    )]
    Deadline { run_id: i64, secs: u64 },
}

impl ExitStatus for RunError {
    fn exit(&self) -> Exit {
        match self {
            RunError::OnlyApprovedInDryRun => Exit::Config,
            RunError::Ledger(e) => e.exit(),
            RunError::Execute(_) | RunError::Deadline { .. } => Exit::Failed,
        }
    }
}

/// How to run: the mode (the config's, or dry-run when asked) and the run's `now`.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub mode: Mode,
    pub now: Timestamp,
}

/// Everything a run needs, built once: the run lock (held while the session lives), the ledger,
/// the Partner Center client, the renderer and the mailer.
pub struct Session<'c> {
    config: &'c Config,
    ledger: Ledger,
    pc: PartnerCenter,
    /// The Graph client, when `[graph]` is configured.
    graph: Option<crate::graph::GraphClient>,
    renderer: Renderer,
    mailer: Option<Mailer>,
    stop: Stop,
    _lock: RunLock,
}

impl<'c> Session<'c> {
    /// Take the run lock and open the state, the client (its requests carry `correlation_id`),
    /// the templates and the mailer.
    pub fn open(config: &'c Config, correlation_id: uuid::Uuid) -> Result<Self, SessionError> {
        crate::ledger::ensure_state_dir(&config.state.path)?;
        let lock = RunLock::acquire(&config.state.path)?;
        let ledger = Ledger::open(&config.state.path)?;
        let pc = context::client(config, credentials::refresh_store(config)?, correlation_id)?;
        let graph = context::graph_client(config, correlation_id)?;
        let renderer = Renderer::new(config.templates.dir.clone())
            .map_err(SessionError::Templates)?
            .with_limits(config.templates.limits());
        let mailer = match &config.mail {
            Some(m) => Some(
                Mailer::new(m, m.resolve_password()?)
                    .map_err(SessionError::Mail)?
                    .for_tenant(config.partner_center.tenant_id.get_ref()),
            ),
            None => None,
        };
        Ok(Session {
            config,
            ledger,
            pc,
            graph,
            renderer,
            mailer,
            stop: Stop::new(),
            _lock: lock,
        })
    }

    /// Stop claiming actions once `stop` is requested (the CLI sets it on SIGTERM and SIGINT):
    /// the action in flight finishes and is marked, the rest wait for the next run, the digest
    /// waits too, and the run is recorded `degraded` with the reason.
    pub fn stop_on(mut self, stop: Stop) -> Self {
        self.stop = stop;
        self
    }

    /// The configuration the session was opened with.
    pub fn config(&self) -> &'c Config {
        self.config
    }

    /// The Graph client, when `[graph]` is configured.
    pub fn graph(&self) -> Option<&crate::graph::GraphClient> {
        self.graph.as_ref()
    }

    /// The ledger (the session holds the run lock).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The one executor of a run in `options.mode` at `options.now`.
    fn executor(&self, options: RunOptions, scope: RunScope) -> Executor<'_> {
        Executor {
            ledger: &self.ledger,
            mailer: self.mailer.as_ref(),
            renderer: &self.renderer,
            config: self.config,
            mode: options.mode,
            now: options.now,
            pc: Some(&self.pc),
            graph: self.graph.as_ref(),
            selection: match scope {
                RunScope::Cycle => Selection::All,
                RunScope::OnlyApproved => Selection::OnlyApproved,
            },
            stop: Some(&self.stop),
        }
    }

    /// Turn actions interrupted by a crash `uncertain` (logged) and expire old approvals; the
    /// counts of both.
    fn recover(&self, now: Timestamp) -> Result<(usize, usize), LedgerError> {
        let interrupted = self.ledger.recover_interrupted(now)?;
        for a in &interrupted {
            tracing::warn!(
                id = a.id,
                key = %a.key,
                "an action was interrupted by a crash; it is now uncertain and will not be \
                 repeated automatically (check it, then `cspguard retry {}`)",
                a.id
            );
        }
        let expire_days = i64::from(self.config.approvals.expire_days);
        let expired = self.ledger.expire_approvals(now, expire_days)?;
        Ok((interrupted.len(), expired.len()))
    }
}

/// One full cycle at `options.now` in `options.mode`: record the run in the ledger and publish
/// its report and metrics. The cycle runs under the whole-run deadline (`[run] deadline_secs`);
/// a cycle that fails or passes its deadline is recorded as failed with its reason.
pub async fn cycle(session: &Session<'_>, options: RunOptions) -> Result<RunSummary, RunError> {
    let (recovered, expired) = session.recover(options.now)?;
    let run_id = session
        .ledger
        .begin_run(&options.mode.to_string(), options.now)?;
    tracing::debug!(run_id, mode = %options.mode, "run started");
    let body = cycle_body(session, options, run_id, (recovered, expired));
    closed(session, (run_id, options.now), body).await
}

/// Run `body` (the run `run_id`, begun at `begun` on the run's clock) under the deadline; record
/// the run as failed (with why) when it errs or times out.
async fn closed(
    session: &Session<'_>,
    (run_id, begun): (i64, Timestamp),
    body: impl std::future::Future<Output = Result<RunSummary, RunError>>,
) -> Result<RunSummary, RunError> {
    let secs = session.config.run.deadline_secs;
    let result = match tokio::time::timeout(std::time::Duration::from_secs(secs), body).await {
        Ok(result) => result,
        Err(_) => Err(RunError::Deadline { run_id, secs }),
    };
    if let Err(e) = &result {
        let why = crate::redact::redact(&crate::exit::chain_text(e));
        let counts = serde_json::json!({});
        if let Err(le) =
            session
                .ledger
                .finish_run(run_id, "failed", &counts, &[why], run_clock(begun))
        {
            tracing::error!(run_id, error = %le, "cannot record the failed run");
        }
    }
    result
}

/// The cycle after `begin_run`: collect, plan, record, execute, digest, finish.
async fn cycle_body(
    session: &Session<'_>,
    options: RunOptions,
    run_id: i64,
    (recovered, expired): (usize, usize),
) -> Result<RunSummary, RunError> {
    let (cfg, ledger, now) = (session.config, &session.ledger, options.now);

    let planned = crate::observe::with_spinner(
        "collecting from Partner Center",
        planning::plan_with(&session.pc, session.graph(), cfg, ledger, now),
    )
    .await;
    // A dry-run keeps apart from every state a later real run depends on (the audit watermark,
    // spend history, findings and alert state), so a real run after it sees what it would alone.
    if options.mode != Mode::DryRun {
        summarize::record_observations(ledger, cfg, &planned.snapshot, now);
    }
    summarize::record_directory(ledger, &planned, now);

    let exec = session.executor(options, RunScope::Cycle);
    let mut report = ExecutionReport::default();
    exec.record(&planned.plan, &mut report)?;
    exec.execute(&planned.plan, &planned.snapshot, &mut report)
        .await?;
    let mut summary = summarize::cycle(run_id, options, &planned, &report, ledger);
    summary.counts.uncertain_recovered = recovered;
    summary.counts.approvals_expired = expired;
    // A stopped run sends no digest: the next run that day does (with this run's work in it).
    let digest = match &report.stopped {
        Some(_) => Ok(digest::DigestOutcome::Stopped),
        None => digest::send_if_due(&exec, &planned, &summary, run_id).await,
    };
    summarize::finish_cycle(&mut summary, &planned, digest);
    record_finished(ledger, run_id, &summary)?;
    crate::observe::publish(&cfg.state.path, &cfg.metrics, &cfg.reports, &summary);
    Ok(summary)
}

/// Close the run's ledger row from its summary (outcome, counts, errors, and its end on the
/// run's clock).
fn record_finished(ledger: &Ledger, run_id: i64, summary: &RunSummary) -> Result<(), LedgerError> {
    ledger.finish_run(
        run_id,
        summary.outcome.as_str(),
        &summary.counts_json(),
        &summary.errors,
        summary.finished_at,
    )
}

/// Now on the run's clock: its start (`options.now`, injected by `CSPGUARD_TEST_NOW` and by the
/// demo's simulated days) plus the real time since it began, so a run never ends before it
/// started or days after it.
fn run_clock(begun: Timestamp) -> Timestamp {
    let elapsed = jiff::SignedDuration::try_from(crate::observe::elapsed()).unwrap_or_default();
    begun.checked_add(elapsed).unwrap_or(begun)
}

/// `run --only-approved`: execute approved actions now, without collecting or planning.
pub async fn only_approved(
    session: &Session<'_>,
    options: RunOptions,
) -> Result<RunSummary, RunError> {
    if options.mode == Mode::DryRun {
        return Err(RunError::OnlyApprovedInDryRun);
    }
    let (ledger, now) = (&session.ledger, options.now);
    let (recovered, expired) = session.recover(now)?;
    let run_id = ledger.begin_run(&format!("{} (only approved)", options.mode), now)?;
    let body = only_approved_body(session, options, run_id, (recovered, expired));
    closed(session, (run_id, options.now), body).await
}

/// `--only-approved` after `begin_run`.
async fn only_approved_body(
    session: &Session<'_>,
    options: RunOptions,
    run_id: i64,
    (recovered, expired): (usize, usize),
) -> Result<RunSummary, RunError> {
    let (ledger, now) = (&session.ledger, options.now);
    let exec = session.executor(options, RunScope::OnlyApproved);
    let mut report = ExecutionReport::default();
    exec.execute(&Plan::default(), &nothing_collected(now), &mut report)
        .await?;
    let mut summary = summarize::only_approved(run_id, options, &report);
    summary.counts.uncertain_recovered = recovered;
    summary.counts.approvals_expired = expired;
    record_finished(ledger, run_id, &summary)?;
    Ok(summary)
}

/// The snapshot of a run that collects nothing: every section "not checked".
fn nothing_collected(now: Timestamp) -> Snapshot {
    fn not_read<T>() -> Section<T> {
        Section::NotChecked {
            reason: "not read: --only-approved collects nothing".to_owned(),
        }
    }
    Snapshot {
        collected_at: now,
        customers: not_read(),
        usage: not_read(),
        audit_records: not_read(),
        fraud_events: not_read(),
        security_alerts: not_read(),
        invoice_summary: not_read(),
        invoices: not_read(),
        details: Default::default(),
        calls: Default::default(),
        index: Default::default(),
    }
}
