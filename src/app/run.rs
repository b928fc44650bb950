//! `cspguard run`: one full cycle, what the systemd timer calls. Take the run lock, recover
//! interrupted actions, collect and plan, record spend and the audit watermark, record and execute
//! the plan through the ledger, send the digest when due, and record the run.
//!
//! `cspguard run --only-approved`: take the lock, recover, expire old approvals, and execute only
//! the actions a person approved (and the notices that wait only for them): no collection, no new
//! plan, no digest. The safety rules of `[enforcement]` apply as in a full run.

use std::path::Path;

use anyhow::Context as _;
use jiff::Timestamp;

use cspguard::cli::RunArgs;
use cspguard::config::{Config, Mode};
use cspguard::context;
use cspguard::execute::{ExecutionReport, Executor, Selection};
use cspguard::exit::Exit;
use cspguard::ledger::{Ledger, RunLock};
use cspguard::notices::mail::Mailer;
use cspguard::notices::templates::Renderer;
use cspguard::plan::Plan;
use cspguard::planning::{self, AUDIT_WATERMARK};
use cspguard::policy::ReceivablesInput;
use cspguard::snapshot::{Section, Snapshot};

/// Errors specific to `run` that are configuration problems (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum RunConfigError {
    #[error(
        "--only-approved executes approved actions, but the config says mode = \"dry-run\", \
         where nothing is executed; set mode = \"notify\" or \"enforce\" in the config first"
    )]
    OnlyApprovedInDryRun,
}

/// Run one cycle.
pub async fn run(config_path: &Path, args: RunArgs) -> anyhow::Result<Exit> {
    let loaded = Config::load(config_path)?;
    context::warn_about_secret_permissions(&loaded);
    let cfg = &loaded.config;
    let mode = if args.dry_run { Mode::DryRun } else { cfg.mode };
    if args.only_approved {
        if mode == Mode::DryRun {
            return Err(RunConfigError::OnlyApprovedInDryRun.into());
        }
        return only_approved(cfg, mode, now()?).await;
    }
    cycle(cfg, mode, now()?).await
}

/// The current time, or `CSPGUARD_TEST_NOW` (RFC 3339) when set: an injected clock for
/// end-to-end tests of multi-day behaviour. Using it is logged as a warning.
pub fn now() -> anyhow::Result<Timestamp> {
    match std::env::var("CSPGUARD_TEST_NOW") {
        Ok(v) => {
            let t: Timestamp = v
                .parse()
                .with_context(|| format!("CSPGUARD_TEST_NOW = {v:?} is not an RFC 3339 time"))?;
            tracing::warn!(now = %t, "using the injected clock CSPGUARD_TEST_NOW");
            Ok(t)
        }
        Err(_) => Ok(Timestamp::now()),
    }
}

/// One cycle at `now` in `mode` (used by `run` and by the demo's simulated days).
pub async fn cycle(cfg: &Config, mode: Mode, now: Timestamp) -> anyhow::Result<Exit> {
    super::ledger::ensure_parent(&cfg.state.path)?;
    let _lock = RunLock::acquire(&cfg.state.path)?;
    let ledger = Ledger::open(&cfg.state.path)?;
    let interrupted = ledger.recover_interrupted(now)?;
    for a in &interrupted {
        tracing::warn!(
            id = a.id,
            key = %a.key,
            "an action was interrupted by a crash; it is now uncertain and will not be repeated \
             automatically (check it, then `cspguard retry {}`)",
            a.id
        );
    }
    let expired = ledger.expire_approvals(now, i64::from(cfg.approvals.expire_days))?;
    let run_id = ledger.begin_run(&mode.to_string(), now)?;
    tracing::debug!(run_id, %mode, "run started");

    let pc = context::client(
        cfg,
        super::ledger::refresh_store(cfg)?,
        cspguard::observe::correlation_id(),
    )?;
    let planned = cspguard::observe::with_spinner(
        "collecting from Partner Center",
        planning::plan(&pc, cfg, &ledger, now),
    )
    .await;
    record_observations(&ledger, cfg, &planned.snapshot, now);

    let renderer =
        Renderer::new(cfg.templates.dir.clone()).context("cannot load the email templates")?;
    let mailer = match &cfg.mail {
        Some(m) => Some(Mailer::new(m, m.resolve_password()?).context("cannot set up mail")?),
        None => None,
    };
    let exec = Executor {
        ledger: &ledger,
        mailer: mailer.as_ref(),
        renderer: &renderer,
        config: cfg,
        mode,
        now,
        pc: Some(&pc),
        selection: Selection::All,
    };
    let mut report = ExecutionReport::default();
    exec.record(&planned.plan, &mut report)?;
    exec.execute(&planned.plan, &planned.snapshot, &mut report)
        .await?;
    let digest = super::digest::send_if_due(&exec, &planned, &report, run_id, now).await;

    let mut errors: Vec<String> = report
        .failed
        .iter()
        .map(|(k, e)| format!("{k}: {e}"))
        .collect();
    if let ReceivablesInput::Failed { error } = &planned.receivables {
        errors.push(format!("receivables import failed: {error}"));
    }
    if let Err(e) = &digest {
        errors.push(format!("digest: {e:#}"));
    }
    let exit = match planned.exit() {
        Exit::Ok if !report.failed.is_empty() || digest.is_err() => Exit::Degraded,
        other => other,
    };
    let outcome = match exit {
        Exit::Ok => "ok",
        Exit::Degraded => "degraded",
        _ => "failed",
    };
    let counts = serde_json::json!({
        "customers": planned.snapshot.customers.data().map_or(0, Vec::len),
        "findings": planned.plan.findings.len(),
        "planned_actions": planned.plan.actions.len(),
        "recorded": report.recorded,
        "sent": report.sent,
        "failed": report.failed.len(),
        "cancelled": report.cancelled,
        "would": report.would.len(),
        "waiting": report.waiting.len(),
        "performed": report.performed.len(),
        "skipped": report.skipped.len(),
        "breaker": report.breaker,
        "uncertain_recovered": interrupted.len(),
        "approvals_expired": expired.len(),
        "partner_center_calls": planned.snapshot.calls.totals.calls,
        "throttled": planned.snapshot.calls.totals.throttled,
        "detail_fetched": planned.detail_fetched,
        "digest": digest.as_ref().ok().map(|d| d.to_string()),
    });
    ledger.finish_run(run_id, outcome, &counts, &errors, Timestamp::now())?;
    cspguard::observe::publish_cycle(&cspguard::observe::Cycle {
        config: cfg,
        ledger: &ledger,
        run_id,
        mode,
        now,
        exit,
        planned: &planned,
        report: &report,
        counts: &counts,
        errors: &errors,
    });
    println!(
        "run {run_id} ({mode}): {} findings, {} actions planned, {} recorded, {} sent, {} failed, \
         {} waiting{}; {} Partner Center calls; outcome {outcome}",
        planned.plan.findings.len(),
        planned.plan.actions.len(),
        report.recorded,
        report.sent,
        report.failed.len(),
        report.waiting.len(),
        if mode == Mode::DryRun {
            format!(", {} would be recorded (dry-run)", report.would.len())
        } else {
            String::new()
        },
        planned.snapshot.calls.totals.calls,
    );
    print_enforcement(&report);
    Ok(exit)
}

/// Print what enforcement did (performed, skipped, breaker) and every failure.
fn print_enforcement(report: &ExecutionReport) {
    for (key, result) in &report.performed {
        println!("performed: {key}: {result}");
    }
    for (key, why) in &report.skipped {
        println!("not performed: {key}: {why}");
    }
    if let Some(why) = &report.breaker {
        eprintln!("CIRCUIT BREAKER: {why}");
    }
    for (key, why) in &report.failed {
        eprintln!("failed: {key}: {why}");
    }
}

/// `run --only-approved`: execute approved actions now, without collecting or planning.
async fn only_approved(cfg: &Config, mode: Mode, now: Timestamp) -> anyhow::Result<Exit> {
    super::ledger::ensure_parent(&cfg.state.path)?;
    let _lock = RunLock::acquire(&cfg.state.path)?;
    let ledger = Ledger::open(&cfg.state.path)?;
    let interrupted = ledger.recover_interrupted(now)?;
    let expired = ledger.expire_approvals(now, i64::from(cfg.approvals.expire_days))?;
    let run_id = ledger.begin_run(&format!("{mode} (only approved)"), now)?;
    let pc = context::client(
        cfg,
        super::ledger::refresh_store(cfg)?,
        cspguard::observe::correlation_id(),
    )?;
    let renderer =
        Renderer::new(cfg.templates.dir.clone()).context("cannot load the email templates")?;
    let mailer = match &cfg.mail {
        Some(m) => Some(Mailer::new(m, m.resolve_password()?).context("cannot set up mail")?),
        None => None,
    };
    let not_read = || "not read: --only-approved collects nothing".to_owned();
    let snapshot = Snapshot {
        collected_at: now,
        customers: Section::NotChecked { reason: not_read() },
        usage: Section::NotChecked { reason: not_read() },
        audit_records: Section::NotChecked { reason: not_read() },
        fraud_events: Section::NotChecked { reason: not_read() },
        invoice_summary: Section::NotChecked { reason: not_read() },
        invoices: Section::NotChecked { reason: not_read() },
        details: Default::default(),
        calls: Default::default(),
        index: Default::default(),
    };
    let exec = Executor {
        ledger: &ledger,
        mailer: mailer.as_ref(),
        renderer: &renderer,
        config: cfg,
        mode,
        now,
        pc: Some(&pc),
        selection: Selection::OnlyApproved,
    };
    let mut report = ExecutionReport::default();
    exec.execute(&Plan::default(), &snapshot, &mut report)
        .await?;
    let errors: Vec<String> = report
        .failed
        .iter()
        .map(|(k, e)| format!("{k}: {e}"))
        .collect();
    let exit = if errors.is_empty() {
        Exit::Ok
    } else {
        Exit::Degraded
    };
    let counts = serde_json::json!({
        "only_approved": true,
        "recorded": report.recorded,
        "sent": report.sent,
        "performed": report.performed.len(),
        "skipped": report.skipped.len(),
        "failed": report.failed.len(),
        "cancelled": report.cancelled,
        "waiting": report.waiting.len(),
        "uncertain_recovered": interrupted.len(),
        "approvals_expired": expired.len(),
        "breaker": report.breaker,
    });
    let outcome = if exit == Exit::Ok { "ok" } else { "degraded" };
    ledger.finish_run(run_id, outcome, &counts, &errors, Timestamp::now())?;
    println!(
        "run {run_id} ({mode}, only approved): {} performed, {} not performed, {} sent, {} \
         failed, {} waiting; outcome {outcome}",
        report.performed.len(),
        report.skipped.len(),
        report.sent,
        report.failed.len(),
        report.waiting.len(),
    );
    for (key, why) in &report.waiting {
        println!("waiting: {key}: {why}");
    }
    print_enforcement(&report);
    Ok(exit)
}

/// Record the day's month-to-date spend per customer (for anomaly detection) and advance the
/// audit-record watermark. Observations, not actions: recorded in every mode.
fn record_observations(
    ledger: &Ledger,
    cfg: &Config,
    snapshot: &cspguard::snapshot::Snapshot,
    now: Timestamp,
) {
    let today = now.to_zoned(cfg.time_zone()).date();
    if let Section::Ok { data } = &snapshot.usage {
        let rows: Vec<(String, rust_decimal::Decimal, String)> = data
            .iter()
            .filter_map(|u| {
                let currency = u
                    .currency_code
                    .clone()
                    .or_else(|| u.currency_locale.clone())
                    .unwrap_or_default();
                Some((u.customer_id()?.to_owned(), u.total_cost?, currency))
            })
            .collect();
        if let Err(e) = ledger.record_spends(today, &rows, now) {
            tracing::warn!(error = %e, "cannot record today's spend");
        }
    }
    if snapshot.audit_records.data().is_some() {
        let utc_today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
        if let Err(e) = ledger.set_watermark(AUDIT_WATERMARK, &utc_today.to_string(), now) {
            tracing::warn!(error = %e, "cannot advance the audit-record watermark");
        }
    }
}
