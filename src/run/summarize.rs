//! Builds a run's [`RunSummary`] from what the run produced (the plan, the executor's report, the
//! digest's outcome), and records the day's observations (spend, the audit watermark, the
//! customers' company names for operator tables). The only
//! place run counts are assembled.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::RunOptions;
use super::digest::{DigestError, DigestOutcome};
use crate::config::Config;
use crate::execute::ExecutionReport;
use crate::exit::Exit;
use crate::ledger::{KnownCustomer, Ledger};
use crate::plan::{Plan, Severity};
use crate::planning::{AUDIT_WATERMARK, Planned};
use crate::policy::ReceivablesInput;
use crate::snapshot::{Section, Snapshot};
use crate::summary::{
    ActionNote, ActionNotes, AlertCounts, PlanCounts, RunCounts, RunScope, RunSummary,
};

/// The summary of a full cycle after execution, before the digest (which reads it).
pub(super) fn cycle(
    run_id: i64,
    options: RunOptions,
    planned: &Planned,
    report: &ExecutionReport,
    ledger: &Ledger,
) -> RunSummary {
    let mut s = RunSummary::new(run_id, options.mode, RunScope::Cycle, options.now);
    let calls = &planned.snapshot.calls;
    s.partner_center = calls.clone();
    s.counts = counts(report);
    s.counts.plan = Some(PlanCounts {
        customers: planned.snapshot.customers.data().map_or(0, Vec::len),
        findings: planned.plan.findings.len(),
        planned_actions: planned.plan.actions.len(),
        would: report.would.len(),
        partner_center_calls: calls.totals.calls,
        throttled: calls.totals.throttled,
        detail_fetched: planned.detail_fetched,
        digest: None,
    });
    s.notes = notes(report);
    s.emails_sent = report.sent;
    s.actions = action_statuses(&planned.plan, report, ledger);
    s.findings = findings_by_severity(&planned.plan);
    s.ops_emails = report.ops_emails;
    s.alerts = alert_counts(&planned.plan, report);
    s
}

/// Alert hygiene per rule family: what the plan decided and what was sent.
fn alert_counts(plan: &Plan, report: &ExecutionReport) -> BTreeMap<String, AlertCounts> {
    let mut m: BTreeMap<String, AlertCounts> = BTreeMap::new();
    for (family, c) in &plan.alerting.families {
        let e = m.entry(family.clone()).or_default();
        e.grouped = c.grouped;
        e.inhibited = c.inhibited;
        e.silenced = c.silenced;
        e.baseline = c.baseline;
        e.deferred = c.deferred;
    }
    for (family, n) in &report.alerts_sent {
        m.entry(family.clone()).or_default().sent += n;
    }
    m
}

/// Add the digest's outcome, the errors and the exit code, and stamp the report fields.
pub(super) fn finish_cycle(
    s: &mut RunSummary,
    planned: &Planned,
    digest: Result<DigestOutcome, DigestError>,
) {
    s.errors = failure_lines(&s.notes);
    s.errors.extend(planned.snapshot.failures());
    if let ReceivablesInput::Failed { error } = &planned.receivables {
        s.errors.push(format!("receivables import failed: {error}"));
    }
    match &digest {
        Ok(outcome) => {
            if let Some(p) = s.counts.plan.as_mut() {
                p.digest = Some(outcome.to_string());
            }
            // The digest is sent outside the executor.
            s.emails_sent += usize::from(outcome.emailed());
        }
        Err(e) => s
            .errors
            .push(format!("digest: {}", crate::exit::chain_text(e))),
    }
    let stopped = stopped_line(s);
    s.errors.extend(stopped.clone());
    let exit = match planned.exit() {
        Exit::Ok if !s.notes.failed.is_empty() || digest.is_err() || stopped.is_some() => {
            Exit::Degraded
        }
        other => other,
    };
    s.set_exit(exit);
    stamp(s);
}

/// The summary of a `--only-approved` run.
pub(super) fn only_approved(
    run_id: i64,
    options: RunOptions,
    report: &ExecutionReport,
) -> RunSummary {
    let mut s = RunSummary::new(run_id, options.mode, RunScope::OnlyApproved, options.now);
    s.counts = counts(report);
    s.counts.only_approved = Some(true);
    s.notes = notes(report);
    s.emails_sent = report.sent;
    s.errors = failure_lines(&s.notes);
    s.errors.extend(stopped_line(&s));
    s.set_exit(if s.errors.is_empty() {
        Exit::Ok
    } else {
        Exit::Degraded
    });
    stamp(&mut s);
    s
}

/// The correlation id and the wall-clock duration of the current run.
fn stamp(s: &mut RunSummary) {
    let duration = crate::observe::elapsed();
    s.correlation_id = crate::observe::current_correlation_id();
    s.duration_seconds = duration.as_secs_f64();
    s.finished_at = s
        .started_at
        .checked_add(jiff::SignedDuration::try_from(duration).unwrap_or_default())
        .unwrap_or(s.started_at);
}

fn counts(report: &ExecutionReport) -> RunCounts {
    RunCounts {
        recorded: report.recorded,
        sent: report.sent,
        failed: report.failed.len(),
        cancelled: report.cancelled,
        waiting: report.waiting.len(),
        performed: report.performed.len(),
        skipped: report.skipped.len(),
        breaker: report.breaker.clone(),
        stopped: report.stopped.clone(),
        ..RunCounts::default()
    }
}

fn notes(report: &ExecutionReport) -> ActionNotes {
    let list = |pairs: &[(String, String)]| -> Vec<ActionNote> {
        pairs
            .iter()
            .map(|(key, note)| ActionNote {
                key: key.clone(),
                note: note.clone(),
            })
            .collect()
    };
    ActionNotes {
        performed: list(&report.performed),
        skipped: list(&report.skipped),
        waiting: list(&report.waiting),
        failed: list(&report.failed),
    }
}

/// The error line of a run that stopped claiming actions early (SIGTERM), if it did.
fn stopped_line(s: &RunSummary) -> Option<String> {
    let why = s.counts.stopped.as_ref()?;
    let left = s
        .notes
        .waiting
        .iter()
        .filter(|n| n.note.starts_with("not claimed: "))
        .count();
    Some(format!(
        "{why}: the action in flight finished and was recorded; {left} action(s) not claimed \
         wait for the next run"
    ))
}

fn failure_lines(notes: &ActionNotes) -> Vec<String> {
    notes
        .failed
        .iter()
        .map(|n| format!("{}: {}", n.key, n.note))
        .collect()
}

/// Planned actions by kind and status (the ledger's status, or `would` in dry-run).
fn action_statuses(
    plan: &Plan,
    report: &ExecutionReport,
    ledger: &Ledger,
) -> BTreeMap<String, BTreeMap<String, u64>> {
    let status = |key: &str| -> String {
        if report.would.iter().any(|k| k == key) {
            return "would".to_owned();
        }
        match ledger.action_by_key(key) {
            Ok(Some(row)) => row.status.as_str().to_owned(),
            Ok(None) => "not_recorded".to_owned(),
            Err(_) => "unknown".to_owned(),
        }
    };
    let mut actions: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for a in &plan.actions {
        *actions
            .entry(a.kind.name().to_owned())
            .or_default()
            .entry(status(&a.key))
            .or_default() += 1;
    }
    actions
}

/// Findings by severity, every severity present (0 when none).
fn findings_by_severity(plan: &Plan) -> BTreeMap<String, u64> {
    let mut findings: BTreeMap<String, u64> =
        [Severity::Info, Severity::Warning, Severity::Critical]
            .into_iter()
            .map(|s| (s.as_str().to_owned(), 0))
            .collect();
    for finding in &plan.findings {
        *findings
            .entry(finding.severity.as_str().to_owned())
            .or_default() += 1;
    }
    findings
}

/// Record the customers and the imported invoices this run saw, so `pause` and `resume` can check
/// what a person types (every mode: it changes no decision of a later run). A list that could
/// not be read leaves the previous one.
pub(super) fn record_directory(ledger: &Ledger, planned: &Planned, now: Timestamp) {
    if let Section::Ok { data } = &planned.snapshot.customers {
        let known = data.iter().map(|c| KnownCustomer {
            id: c.id.clone(),
            company_name: c.company_name().unwrap_or_default().to_owned(),
            domain: c.company_profile.as_ref().and_then(|p| p.domain.clone()),
        });
        if let Err(e) = ledger.record_known_customers(known, now) {
            tracing::warn!(error = %e, "cannot record the customer list for pause/resume");
        }
    }
    if let ReceivablesInput::Loaded(outcome) = &planned.receivables {
        let invoices: Vec<(String, String)> = outcome
            .matched
            .iter()
            .flat_map(|(c, rows)| rows.iter().map(|r| (c.clone(), r.invoice.clone())))
            .collect();
        if let Err(e) = ledger.record_known_invoices(&invoices, now) {
            tracing::warn!(error = %e, "cannot record the imported invoices for pause/resume");
        }
    }
}

/// Record the day's month-to-date spend per customer (for anomaly detection) and advance the
/// audit-record watermark. Observations, not actions: recorded in every mode.
pub(super) fn record_observations(
    ledger: &Ledger,
    cfg: &Config,
    snapshot: &Snapshot,
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
    if let Section::Ok { data } = &snapshot.customers {
        let names: Vec<(String, String)> = data
            .iter()
            .filter_map(|c| Some((c.id.clone(), c.company_name()?.to_owned())))
            .collect();
        if let Err(e) = ledger.record_customer_names(&names, now) {
            tracing::warn!(error = %e, "cannot record the customers' company names");
        }
    }
    if snapshot.audit_records.data().is_some() {
        let utc_today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
        if let Err(e) = ledger.set_watermark(AUDIT_WATERMARK, &utc_today.to_string(), now) {
            tracing::warn!(error = %e, "cannot advance the audit-record watermark");
        }
    }
    crate::fraud_alerts::record_watermark(ledger, snapshot, now);
}
