//! The daily digest: turns one run (its plan, snapshot, receivables, the ledger and the run's own
//! counters) into the [`DigestContext`] the `digest` template renders. The ops team gets exactly
//! one digest a day; an empty day still produces one ("all clear"), so silence never means that
//! cspguard stopped running.
//!
//! Sections, most urgent first: decisions waiting for a person, uncertain and failed actions,
//! fraud and misuse, budgets, the receivables aging and top debtors, the actions of the last 24
//! hours, the riskiest customers, the run itself and the health of every data source.
//!
//! Invariants:
//! - Pure: [`build`] performs no I/O except reads through [`LedgerView`], reads no clock (`now`
//!   and the time zone are inputs) and draws no random numbers; the same input gives the same
//!   context.
//! - Nothing is silently missing: a failed ledger read, a snapshot section that was not checked
//!   or failed, a failed receivables import, unmatched receivables, skipped customers and missing
//!   App+User credentials each become a health line whose status is not `Ok`, so
//!   [`DigestContext::all_clear`] is false whenever a check did not run.
//! - Money stays [`Decimal`]; amounts in different currencies are never added together.
//! - Customer-controlled text (company names) is made single-line with [`one_line`]; the HTML
//!   template escapes it.
//! - In dry-run nothing but the digest leaves the machine, so the plan's actions are listed as
//!   "would" lines and its destructive actions as decisions that would be needed (without an id:
//!   dry-run records nothing in the ledger).

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;

use crate::config::Mode;
use crate::ledger::{ActionRow, ActionStatus, LedgerView};
use crate::notices::templates::{
    ActionLine, AgingRow, BlockedLine, DebtorGroup, DebtorLine, DecisionItem, DigestContext,
    DigestMore, FindingLine, HealthLine, HealthStatus, Money, RiskLine, one_line,
};
use crate::plan::{ActionKind, Finding, Plan, PlannedAction, SuspendReason};
use crate::policy::ReceivablesInput;
use crate::receivables::Receivable;
use crate::receivables::aging::{Aging, Bucket};
use crate::snapshot::{Section, Snapshot};
use crate::summary::RunSummary;

/// How many riskiest customers the digest lists.
pub const MAX_RISKIEST: usize = 10;
/// How many top debtors the digest lists.
pub const MAX_DEBTORS: usize = 10;
/// How many example customers a grouped health line names.
pub const MAX_EXAMPLES: usize = 3;
/// How many lines each open-ended list of the digest shows (decisions, uncertain or failed
/// actions, blocked dunning, fraud and budget findings, actions): the rest are counted, and the
/// digest names the command that lists them all, so it stays readable (and within the template
/// output bound) at any tenant size.
pub const MAX_LISTED: usize = 50;

/// Everything the digest is built from.
pub struct DigestInput<'a> {
    pub plan: &'a Plan,
    pub snapshot: &'a Snapshot,
    pub receivables: &'a ReceivablesInput,
    pub ledger: &'a dyn LedgerView,
    pub run: &'a RunSummary,
    pub partner_name: &'a str,
    /// Whether App+User credentials (usage, fraud events) are configured.
    pub app_user_configured: bool,
    pub now: Timestamp,
    /// The partner's time zone: the digest's date and times follow it.
    pub tz: &'a TimeZone,
}

/// Builds the digest of one run. Pure (see the module invariants); never fails: what could not
/// be read becomes a health line.
pub fn build(input: &DigestInput<'_>) -> DigestContext {
    let names = Names::new(input.snapshot);
    let dry_run = input.run.mode == Mode::DryRun;
    let mut health = Vec::new();

    let mut needs_decision = ledger_decisions(input, &names, &mut health);
    if dry_run {
        needs_decision.extend(dry_run_decisions(input.plan, input.snapshot, &names));
    }
    let uncertain_or_failed = uncertain_or_failed(input, &names, &mut health);
    let dunning_blocked = dunning_blocked(input, &names, &mut health);
    let mut more = DigestMore::default();
    let (fraud_findings, fraud_more) =
        findings(input.plan, &names, &["fraud.", "activity.", "anomaly."]);
    let (budget_findings, budget_more) = findings(input.plan, &names, &["budget."]);
    (more.fraud_findings, more.budget_findings) = (fraud_more, budget_more);
    let (aging, top_debtors) = receivables(input, &names, &mut health);
    let mut recent_actions = recent_ledger_actions(input, &names, &mut health);
    if dry_run {
        recent_actions.extend(would_lines(input.plan, input.snapshot, &names));
    }
    let riskiest = input
        .plan
        .risk
        .iter()
        .take(MAX_RISKIEST)
        .map(|r| RiskLine {
            customer: r
                .company
                .as_deref()
                .map(one_line)
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| names.name(&r.customer)),
            score: r.score,
            reasons: r.reasons.clone(),
        })
        .collect();

    let mut all_health = snapshot_health(input.snapshot);
    if !input.app_user_configured {
        all_health.push(HealthLine {
            status: HealthStatus::NotChecked,
            text: format!(
                "App+User credentials are not configured: usage, budgets and fraud events are \
                 not checked (complete the one-time App+User consent to enable them){}.",
                if input.snapshot.security_alerts.data().is_some() {
                    "; fraud is checked through Graph security alerts"
                } else {
                    ""
                }
            ),
        });
    }
    all_health.extend(health);
    all_health.extend(skip_health(input.plan));
    if let Some(r) = input.plan.recon.as_ref().filter(|r| r.incomplete()) {
        all_health.push(warning(format!(
            "Billing reconciliation incomplete ({}): see the Billing reconciliation section.",
            r.verdict
        )));
    }

    DigestContext {
        partner_name: one_line(input.partner_name),
        date: input.now.to_zoned(input.tz.clone()).date(),
        mode: input.run.mode.to_string(),
        run_health: run_health(input),
        needs_decision: bounded(needs_decision, &mut more.needs_decision),
        uncertain_or_failed: bounded(uncertain_or_failed, &mut more.uncertain_or_failed),
        dunning_blocked: bounded(dunning_blocked, &mut more.dunning_blocked),
        fraud_findings,
        budget_findings,
        aging,
        top_debtors,
        recent_actions: bounded(recent_actions, &mut more.recent_actions),
        riskiest,
        health: all_health,
        missing: missing_data(input.snapshot, input.receivables),
        alerting: crate::alert_digest::section(input.plan, input.ledger, input.now, &|c| {
            names.name(c)
        }),
        reconciliation: input.plan.recon.as_ref().map(|r| bounded_recon(r.text())),
        more,
    }
}

/// What a run could not read: the Partner Center parts that failed and a failed receivables
/// import, one line each. Empty when the run had complete data (parts deliberately not read,
/// such as usage without App+User credentials, are not missing: no later run would read them).
pub fn missing_data(snapshot: &Snapshot, receivables: &ReceivablesInput) -> Vec<String> {
    let mut missing: Vec<String> = [
        ("the customer list", snapshot.customers.is_failed()),
        ("usage", snapshot.usage.is_failed()),
        ("audit records", snapshot.audit_records.is_failed()),
        ("fraud events", snapshot.fraud_events.is_failed()),
        ("the invoice summary", snapshot.invoice_summary.is_failed()),
        ("invoices", snapshot.invoices.is_failed()),
    ]
    .into_iter()
    .filter(|(_, failed)| *failed)
    .map(|(what, _)| format!("{what} (Partner Center read failed)"))
    .collect();
    let details = snapshot
        .details
        .values()
        .filter(|d| {
            d.billing_profile.is_failed() || d.subscriptions.is_failed() || d.budget.is_failed()
        })
        .count();
    if snapshot.security_alerts.is_failed() {
        missing.push("Graph security alerts (Microsoft Graph read failed)".to_owned());
    }
    if details > 0 {
        missing.push(format!(
            "detail of {details} customer{} (Partner Center read failed)",
            plural(details)
        ));
    }
    if matches!(receivables, ReceivablesInput::Failed { .. }) {
        missing.push("the receivables import (it failed)".to_owned());
    }
    missing
}

/// Company names by tenant id, read from the snapshot's customer list (through its index: no
/// copy of 50,000 names, issue 18).
struct Names<'a> {
    snapshot: &'a Snapshot,
}

impl<'a> Names<'a> {
    fn new(snapshot: &'a Snapshot) -> Names<'a> {
        Names { snapshot }
    }

    /// The company name of a tenant id, or the id itself when the name is unknown.
    fn name(&self, id: &str) -> String {
        self.snapshot
            .company_name(id)
            .map(one_line)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| one_line(id))
    }

    fn of(&self, customer: Option<&str>) -> String {
        customer.map_or_else(|| "partner-wide".to_string(), |c| self.name(c))
    }
}

fn warning(text: String) -> HealthLine {
    HealthLine {
        status: HealthStatus::Warning,
        text,
    }
}

fn ok(text: String) -> HealthLine {
    HealthLine {
        status: HealthStatus::Ok,
        text,
    }
}

/// The readable name of a subscription of `customer`, when the snapshot has it.
fn subscription_name(snapshot: &Snapshot, customer: Option<&str>, id: &str) -> String {
    let name = customer
        .and_then(|c| {
            snapshot
                .details
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(c))
        })
        .and_then(|(_, d)| d.subscriptions.data())
        .and_then(|subs| subs.iter().find(|s| s.id.eq_ignore_ascii_case(id)))
        .and_then(|s| s.friendly_name.as_deref().or(s.offer_name.as_deref()))
        .map(one_line)
        .filter(|n| !n.is_empty());
    match name {
        Some(n) => format!("\"{n}\" ({id})"),
        None => id.to_string(),
    }
}

/// The currency of a customer's usage record, when the snapshot has one.
fn usage_currency(snapshot: &Snapshot, customer: &str) -> Option<String> {
    snapshot
        .usage
        .data()?
        .iter()
        .find(|u| {
            [u.id.as_deref(), u.resource_id.as_deref()]
                .into_iter()
                .flatten()
                .any(|id| id.eq_ignore_ascii_case(customer))
        })?
        .currency_code
        .clone()
}

/// What an action does, in words (e.g. `suspend subscription "Microsoft 365 E3" (s1)
/// (non-payment)`, `CANCEL Azure subscription az1 — irreversible`).
fn describe(kind: &ActionKind, customer: Option<&str>, snapshot: &Snapshot) -> String {
    match kind {
        ActionKind::CustomerNotice {
            template,
            to,
            invoices,
            ..
        } => {
            let mut s = format!("email \"{}\"", template.replace('-', " "));
            if let Some(to) = to {
                s.push_str(&format!(" to {}", one_line(to)));
            }
            if !invoices.is_empty() {
                let list: Vec<&str> = invoices.iter().map(|i| i.invoice.as_str()).collect();
                s.push_str(&format!(" (invoices {})", one_line(&list.join(", "))));
            }
            s
        }
        ActionKind::OpsAlert { summary, .. } => format!("ops alert: {summary}"),
        ActionKind::OpsAlertGroup(g) => format!(
            "ops alert group {} ({} finding(s))",
            one_line(&g.label),
            g.entries.len()
        ),
        ActionKind::Suspend {
            subscription_id,
            reason,
        } => format!(
            "suspend subscription {} ({})",
            subscription_name(snapshot, customer, subscription_id),
            match reason {
                SuspendReason::Nonpayment => "non-payment",
                SuspendReason::Fraud => "fraud",
            }
        ),
        ActionKind::Reactivate {
            subscription_id, ..
        } => format!(
            "reactivate subscription {}",
            subscription_name(snapshot, customer, subscription_id)
        ),
        ActionKind::SetBudget { amount } => {
            let currency = customer.and_then(|c| usage_currency(snapshot, c));
            let amount = match currency {
                Some(cur) => crate::money::format(*amount, &cur),
                None => amount.normalize().to_string(),
            };
            format!("set the Azure spending budget to {amount}")
        }
        ActionKind::FraudEventStatus {
            azure_subscription_id,
            event_ids,
            status,
            ..
        } => format!(
            "mark {} fraud event(s) on Azure subscription {azure_subscription_id} as {status}",
            event_ids.len()
        ),
        ActionKind::CancelAzureSubscription {
            azure_subscription_id,
        } => format!("CANCEL Azure subscription {azure_subscription_id} — irreversible"),
        ActionKind::GraphAlertStatus {
            alert_id, status, ..
        } => format!("mark Graph security alert {alert_id} as {status}"),
    }
}

/// Describes a ledger row from its payload; an unreadable payload is described by its kind and
/// says so (never a panic).
fn describe_row(row: &ActionRow, snapshot: &Snapshot) -> String {
    match serde_json::from_value::<ActionKind>(row.payload.clone()) {
        Ok(kind) => describe(&kind, row.customer.as_deref(), snapshot),
        Err(e) => format!(
            "{} (action {}: payload cspguard cannot read: {e})",
            row.kind.replace('_', " "),
            row.id
        ),
    }
}

fn ledger_decisions(
    input: &DigestInput<'_>,
    names: &Names<'_>,
    health: &mut Vec<HealthLine>,
) -> Vec<DecisionItem> {
    match input
        .ledger
        .actions_in_status(&[ActionStatus::AwaitingApproval])
    {
        Ok(rows) => rows
            .iter()
            .map(|r| DecisionItem {
                summary: format!(
                    "{}: {} (action {})",
                    names.of(r.customer.as_deref()),
                    describe_row(r, input.snapshot),
                    r.id
                ),
                reason: format!(
                    "{} To reject: cspguard reject {} --reason \"…\"",
                    sentence(&r.reason),
                    r.id
                ),
                approve_command: format!("cspguard approve {}", r.id),
                expires: None,
            })
            .collect(),
        Err(e) => {
            health.push(warning(format!(
                "Ledger: could not read the actions awaiting approval ({e}); decisions may be missing from this digest."
            )));
            Vec::new()
        }
    }
}

/// `s` ending with a full stop (for joining sentences).
fn sentence(s: &str) -> String {
    let t = s.trim();
    if t.is_empty() || t.ends_with(['.', '!', '?']) {
        t.to_string()
    } else {
        format!("{t}.")
    }
}

fn dry_run_decisions(plan: &Plan, snapshot: &Snapshot, names: &Names<'_>) -> Vec<DecisionItem> {
    plan.actions
        .iter()
        .filter(|a| a.kind.is_destructive())
        .map(|a| DecisionItem {
            summary: format!(
                "Would need your decision — {}: {}",
                names.of(a.customer.as_deref()),
                describe(&a.kind, a.customer.as_deref(), snapshot)
            ),
            reason: a.reason.clone(),
            approve_command: "none yet: dry-run records nothing; in notify mode this action would \
                              wait for `cspguard approve <id>`"
                .into(),
            expires: None,
        })
        .collect()
}

/// The customers whose dunning an uncertain action blocks (`crate::ledger::dunning_blocked`,
/// what `status` lists too), since when, and the command that settles it.
fn dunning_blocked(
    input: &DigestInput<'_>,
    names: &Names<'_>,
    health: &mut Vec<HealthLine>,
) -> Vec<BlockedLine> {
    let blocked = match crate::ledger::dunning_blocked(input.ledger, &|_| None) {
        Ok(b) => b,
        Err(e) => {
            health.push(warning(format!(
                "Ledger: could not read the customers whose dunning is blocked ({e}); they may be missing from this digest."
            )));
            return Vec::new();
        }
    };
    blocked
        .iter()
        .map(|b| BlockedLine {
            customer: names.name(&b.customer),
            since: b
                .since
                .to_zoned(input.tz.clone())
                .strftime("%Y-%m-%d %H:%M %Z")
                .to_string(),
            days: input.now.duration_since(b.since).as_hours().max(0) / 24,
            action: format!("action {}: {}", b.action_id, one_line(&b.key)),
            resolve_command: b.resolve_command(),
        })
        .collect()
}

fn uncertain_or_failed(
    input: &DigestInput<'_>,
    names: &Names<'_>,
    health: &mut Vec<HealthLine>,
) -> Vec<ActionLine> {
    match input
        .ledger
        .actions_in_status(&[ActionStatus::Uncertain, ActionStatus::Failed])
    {
        Ok(rows) => rows
            .iter()
            .map(|r| {
                let error = r.last_error.as_deref().map_or_else(
                    || "no error recorded".to_string(),
                    |e| format!("last error: {}", one_line(e)),
                );
                let todo = match r.status {
                    ActionStatus::Uncertain => format!(
                        "it may or may not have happened: check whether it happened, then `cspguard resolve {0} --sent --reason \"…\"` if it did, or `cspguard retry {0}` if it did not",
                        r.id
                    ),
                    _ => format!(
                        "check whether it happened and fix the cause, then `cspguard retry {}`",
                        r.id
                    ),
                };
                ActionLine {
                    what: format!("action {}: {}", r.id, describe_row(r, input.snapshot)),
                    customer: names.of(r.customer.as_deref()),
                    status: r.status.to_string(),
                    detail: Some(format!(
                        "{error} (after {} attempt{}). To do: {todo}.",
                        r.attempts,
                        if r.attempts == 1 { "" } else { "s" }
                    )),
                }
            })
            .collect(),
        Err(e) => {
            health.push(warning(format!(
                "Ledger: could not read uncertain and failed actions ({e}); they may be missing from this digest."
            )));
            Vec::new()
        }
    }
}

/// Plan findings whose rule starts with one of `prefixes`, most severe first.
fn findings(plan: &Plan, names: &Names<'_>, prefixes: &[&str]) -> (Vec<FindingLine>, usize) {
    let mut selected: Vec<&Finding> = plan
        .findings
        .iter()
        .filter(|f| prefixes.iter().any(|p| f.rule.starts_with(p)))
        .collect();
    selected.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.fingerprint.cmp(&b.fingerprint))
    });
    let more = selected.len().saturating_sub(MAX_LISTED);
    let lines = selected
        .into_iter()
        .take(MAX_LISTED)
        .map(|f| FindingLine {
            severity: f.severity,
            customer: f.customer.as_deref().map(|c| names.name(c)),
            summary: f.summary.clone(),
        })
        .collect();
    (lines, more)
}

/// The reconciliation's customer lists, each cut to [`MAX_LISTED`] lines with a last line that
/// counts the rest (`cspguard reconcile` prints them all).
fn bounded_recon(mut text: crate::recon::model::ReconText) -> crate::recon::model::ReconText {
    for lines in [
        &mut text.not_invoiced,
        &mut text.under_invoiced,
        &mut text.exposure,
    ] {
        let mut more = 0;
        *lines = bounded(std::mem::take(lines), &mut more);
        if more > 0 {
            lines.push(format!(
                "... and {more} more (`cspguard reconcile` lists every one)"
            ));
        }
    }
    text
}

/// The first [`MAX_LISTED`] items; how many were left out goes to `more`.
fn bounded<T>(mut items: Vec<T>, more: &mut usize) -> Vec<T> {
    *more = items.len().saturating_sub(MAX_LISTED);
    items.truncate(MAX_LISTED);
    items
}

fn receivables(
    input: &DigestInput<'_>,
    names: &Names<'_>,
    health: &mut Vec<HealthLine>,
) -> (Vec<AgingRow>, Vec<DebtorGroup>) {
    let outcome = match input.receivables {
        ReceivablesInput::NotConfigured => {
            health.push(HealthLine {
                status: HealthStatus::NotChecked,
                text: "Receivables not configured: no dunning (add a [receivables] section to \
                       import the partner's invoices)."
                    .into(),
            });
            return (Vec::new(), Vec::new());
        }
        ReceivablesInput::Failed { error } => {
            health.push(warning(format!(
                "Receivables import failed: {error}; no dunning this run."
            )));
            return (Vec::new(), Vec::new());
        }
        ReceivablesInput::Loaded(m) => m,
    };
    let today = input.now.to_zoned(input.tz.clone()).date();
    let all: Vec<Receivable> = outcome.matched.values().flatten().cloned().collect();
    health.push(ok(format!(
        "Receivables: {} invoice{} of {} customer{} imported and matched.",
        all.len(),
        plural(all.len()),
        outcome.matched.len(),
        plural(outcome.matched.len())
    )));
    if !outcome.unmatched.is_empty() {
        let n = outcome.unmatched.len();
        let examples: Vec<String> = outcome
            .unmatched
            .iter()
            .take(MAX_EXAMPLES)
            .map(|u| {
                format!(
                    "{} ({})",
                    one_line(&u.receivable.invoice),
                    one_line(&u.receivable.customer_ref)
                )
            })
            .collect();
        health.push(warning(format!(
            "{n} receivables row{} could not be matched to a customer and {} not dunned (e.g. {}); see `cspguard receivables check`.",
            plural(n),
            if n == 1 { "is" } else { "are" },
            examples.join(", ")
        )));
    }

    let aging = Aging::compute(&all, today);
    let rows = aging
        .by_currency
        .iter()
        .map(|(currency, buckets)| {
            let amounts = Bucket::ALL.map(|b| buckets.get(&b).copied().unwrap_or(Decimal::ZERO));
            AgingRow::new(currency, amounts)
        })
        .collect();

    // Overdue outstanding per (customer, currency): currencies are never added together.
    let mut overdue: BTreeMap<(String, String), (Decimal, i64)> = BTreeMap::new();
    for (customer, invoices) in &outcome.matched {
        for r in invoices {
            let o = r.outstanding();
            let dpd = r.days_past_due(today);
            if o > Decimal::ZERO && dpd > 0 {
                let e = overdue
                    .entry((customer.clone(), r.currency.trim().to_ascii_uppercase()))
                    .or_insert((Decimal::ZERO, 0));
                e.0 += o;
                e.1 = e.1.max(dpd);
            }
        }
    }
    (rows, top_debtors(overdue, names))
}

/// Ranks overdue customers within each currency (amounts in different currencies are never
/// compared), at most [`MAX_DEBTORS`] per currency, currencies in alphabetical order.
fn top_debtors(
    overdue: BTreeMap<(String, String), (Decimal, i64)>,
    names: &Names<'_>,
) -> Vec<DebtorGroup> {
    let mut by_currency: BTreeMap<String, Vec<DebtorLine>> = BTreeMap::new();
    for ((customer, currency), (amount, oldest)) in overdue {
        by_currency
            .entry(currency.clone())
            .or_default()
            .push(DebtorLine {
                customer: names.name(&customer),
                overdue: Money { amount, currency },
                oldest_days_past_due: oldest,
            });
    }
    by_currency
        .into_iter()
        .map(|(currency, mut debtors)| {
            debtors.sort_by(|a, b| {
                b.overdue
                    .amount
                    .cmp(&a.overdue.amount)
                    .then_with(|| b.oldest_days_past_due.cmp(&a.oldest_days_past_due))
                    .then_with(|| a.customer.cmp(&b.customer))
            });
            debtors.truncate(MAX_DEBTORS);
            DebtorGroup { currency, debtors }
        })
        .collect()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn recent_ledger_actions(
    input: &DigestInput<'_>,
    names: &Names<'_>,
    health: &mut Vec<HealthLine>,
) -> Vec<ActionLine> {
    let since = input.now - SignedDuration::from_hours(24);
    let rows = match input.ledger.actions_changed_since(since) {
        Ok(rows) => rows,
        Err(e) => {
            health.push(warning(format!(
                "Ledger: could not read the actions of the last 24 hours ({e}); they are missing from this digest."
            )));
            return Vec::new();
        }
    };
    rows.iter()
        .filter_map(|r| {
            let detail = match r.status {
                ActionStatus::Done => None,
                ActionStatus::Cancelled => Some(match (&r.rejection_reason, &r.rejected_by) {
                    (Some(why), Some(who)) => {
                        format!("cancelled by {}: {}", one_line(who), one_line(why))
                    }
                    (Some(why), None) => format!("cancelled: {}", one_line(why)),
                    _ => "cancelled (no reason recorded)".to_string(),
                }),
                ActionStatus::Expired => Some(if r.approved_at.is_some() {
                    "expired: approved but not carried out in time; it will not run".to_string()
                } else {
                    "expired: nobody approved it in time; it will not run".to_string()
                }),
                _ => return None,
            };
            Some(ActionLine {
                what: describe_row(r, input.snapshot),
                customer: names.of(r.customer.as_deref()),
                status: r.status.to_string(),
                detail,
            })
        })
        .collect()
}

/// Dry-run: the plan's actions and cancellations as "would" lines.
fn would_lines(plan: &Plan, snapshot: &Snapshot, names: &Names<'_>) -> Vec<ActionLine> {
    let mut lines: Vec<ActionLine> = plan
        .actions
        .iter()
        .map(|a: &PlannedAction| ActionLine {
            what: format!(
                "would: {}",
                describe(&a.kind, a.customer.as_deref(), snapshot)
            ),
            customer: names.of(a.customer.as_deref()),
            status: "would do (dry-run)".into(),
            detail: Some(if a.requires_approval {
                format!("{} (would wait for approval)", sentence(&a.reason))
            } else {
                a.reason.clone()
            }),
        })
        .collect();
    lines.extend(plan.cancellations.iter().map(|c| ActionLine {
        what: format!("would cancel pending action {}", c.key),
        customer: "ledger".into(),
        status: "would do (dry-run)".into(),
        detail: Some(c.reason.clone()),
    }));
    lines
}

fn run_health(input: &DigestInput<'_>) -> Vec<HealthLine> {
    let run = input.run;
    let t = &run.partner_center.totals;
    let mut lines = vec![
        ok(format!(
            "Run started {} in mode {}.",
            run.started_at
                .to_zoned(input.tz.clone())
                .strftime("%Y-%m-%d %H:%M %Z"),
            run.mode
        )),
        HealthLine {
            status: if t.errors > 0 {
                HealthStatus::Warning
            } else {
                HealthStatus::Ok
            },
            text: format!(
                "Partner Center: {} call{} ({} retr{}, {} throttled with 429, {} error{}).",
                t.calls,
                plural(t.calls as usize),
                t.retries,
                if t.retries == 1 { "y" } else { "ies" },
                t.throttled,
                t.errors,
                plural(t.errors as usize)
            ),
        },
        ok(format!(
            "Customer detail fetched for {} customer{}.",
            run.detail_fetched(),
            plural(run.detail_fetched())
        )),
    ];
    if run.mode == Mode::DryRun {
        lines.push(ok(format!(
            "Emails: none sent (dry-run); {} would have been sent.",
            run.would()
        )));
    } else {
        lines.push(HealthLine {
            status: if run.counts.failed > 0 {
                HealthStatus::Warning
            } else {
                HealthStatus::Ok
            },
            text: format!(
                "Emails: {} sent, {} failed.",
                run.counts.sent, run.counts.failed
            ),
        });
    }
    lines.extend(run.notes.failed.iter().map(|n| {
        warning(format!(
            "Error: {}",
            one_line(&format!("{}: {}", n.key, n.note))
        ))
    }));
    lines
}

fn section_line<T>(label: &str, s: &Section<T>, ok_text: impl FnOnce(&T) -> String) -> HealthLine {
    match s {
        Section::Ok { data } => ok(format!("{label}: {}.", ok_text(data))),
        Section::NotChecked { reason } => HealthLine {
            status: HealthStatus::NotChecked,
            text: format!("{label}: not checked: {}.", reason.trim_end_matches('.')),
        },
        Section::Failed { error } => {
            warning(format!("{label}: FAILED: {}.", error.trim_end_matches('.')))
        }
    }
}

/// The Graph security-alert source: read, failed, or not checked and why. Deliberately not read
/// while the v1 fraud events were read is not a gap (fraud was checked), so it stays `Ok`.
fn graph_alerts_line(s: &Snapshot) -> HealthLine {
    const LABEL: &str = "Graph security alerts";
    match (&s.security_alerts, &s.fraud_events) {
        (Section::Ok { data }, _) => {
            let test = data.iter().filter(|a| a.is_test()).count();
            let open = data.iter().filter(|a| a.is_open()).count();
            ok(format!(
                "{LABEL}: {} alert{} read, {open} open{}.",
                data.len(),
                plural(data.len()),
                if test > 0 {
                    format!(" ({test} marked as test: shown, never acted on)")
                } else {
                    String::new()
                }
            ))
        }
        (Section::NotChecked { reason }, Section::Ok { .. }) => ok(format!(
            "{LABEL}: not checked: {} (fraud was checked through Partner Center's fraud events).",
            reason.trim_end_matches('.')
        )),
        (other, _) => section_line(LABEL, other, |_| String::new()),
    }
}

fn snapshot_health(s: &Snapshot) -> Vec<HealthLine> {
    let count = |n: usize, what: &str| format!("{n} {what}{} read", plural(n));
    let mut lines = vec![
        section_line("Customers", &s.customers, |c| count(c.len(), "customer")),
        section_line("Usage", &s.usage, |u| count(u.len(), "usage record")),
        section_line("Audit records", &s.audit_records, |a| {
            count(a.len(), "audit record")
        }),
        section_line("Fraud events", &s.fraud_events, |f| {
            count(f.len(), "fraud event")
        }),
        graph_alerts_line(s),
        section_line("Invoice summary", &s.invoice_summary, |_| "read".into()),
        section_line("Partner invoices", &s.invoices, |i| {
            count(i.len(), "invoice")
        }),
    ];
    // Per-customer detail: only failures matter ("not fetched" is normal).
    let mut failed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (customer, d) in &s.details {
        for (part, is_failed) in [
            ("billing profile", d.billing_profile.is_failed()),
            ("subscriptions", d.subscriptions.is_failed()),
            ("spending budget", d.budget.is_failed()),
        ] {
            if is_failed {
                failed.entry(part).or_default().push(customer.clone());
            }
        }
    }
    let names = Names::new(s);
    for (part, customers) in failed {
        let errors: Vec<String> = customers
            .iter()
            .take(MAX_EXAMPLES)
            .map(|c| {
                let d = &s.details[c];
                let err = match part {
                    "billing profile" => failed_error(&d.billing_profile),
                    "subscriptions" => failed_error(&d.subscriptions),
                    _ => failed_error(&d.budget),
                };
                format!("{}: {err}", names.name(c))
            })
            .collect();
        lines.push(warning(format!(
            "Customer detail: the {part} of {} customer{} could not be read ({}{}); those customers get no action that needs it.",
            customers.len(),
            plural(customers.len()),
            errors.join("; "),
            more(customers.len())
        )));
    }
    lines
}

fn failed_error<T>(s: &Section<T>) -> String {
    match s {
        Section::Failed { error } => one_line(error),
        _ => String::new(),
    }
}

fn more(n: usize) -> String {
    if n > MAX_EXAMPLES {
        format!("; and {} more", n - MAX_EXAMPLES)
    } else {
        String::new()
    }
}

/// The plan's skips grouped by policy, with counts and up to [`MAX_EXAMPLES`] examples.
fn skip_health(plan: &Plan) -> Vec<HealthLine> {
    let mut by_policy: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in &plan.skipped {
        by_policy.entry(&s.policy).or_default().push(&s.reason);
    }
    by_policy
        .into_iter()
        .map(|(policy, reasons)| {
            let examples: Vec<String> = reasons
                .iter()
                .take(MAX_EXAMPLES)
                .map(|r| one_line(r))
                .collect();
            warning(format!(
                "{policy}: {} skip{} (customers skipped and why): {}{}.",
                reasons.len(),
                plural(reasons.len()),
                examples.join("; "),
                more(reasons.len())
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {

    use jiff::Timestamp;
    use jiff::civil::Date;
    use jiff::tz::TimeZone;
    use rust_decimal::Decimal;
    use serde_json::json;

    use super::*;
    use crate::facts::Facts;
    use crate::ledger::{
        FindingRow, Hold, Ledger, LedgerError, NewAction, NoticeRow, RetryPolicy, SpendSnapshot,
        Suspension,
    };
    use crate::notices::templates::Renderer;
    use crate::pc::CallStats;
    use crate::pc::models::InvoiceSummary;
    use crate::plan::{NoticeInvoice, RiskScore, Severity, Skip};
    use crate::policy::testkit::{
        self, customer, dec, detail, matched, receivable, subscription, ts,
    };
    use crate::receivables::matching::{MatchOutcome, Unmatched, UnmatchedReason};
    use crate::summary::{ActionNote, PlanCounts, RunScope};

    const C1: &str = "11111111-1111-1111-1111-111111111111";
    const C2: &str = "22222222-2222-2222-2222-222222222222";
    const C3: &str = "33333333-3333-3333-3333-333333333333";

    fn now() -> Timestamp {
        ts("2026-11-21T08:00:00Z")
    }

    fn tz() -> TimeZone {
        TimeZone::get("Europe/Stockholm").expect("tz")
    }

    /// A snapshot where every bulk section was read, with three named customers.
    fn full_snapshot() -> Snapshot {
        let mut s = testkit::snapshot(now());
        s.customers = Section::Ok {
            data: vec![
                customer(C1, "Fabrikam & Co"),
                customer(C2, "Tailspin Toys"),
                customer(C3, "Adventure Works"),
            ],
        };
        s.invoice_summary = Section::Ok {
            data: InvoiceSummary::default(),
        };
        s.details.insert(
            C1.into(),
            detail(None, vec![subscription("s1", "active", "Microsoft 365 E3")]),
        );
        s
    }

    fn run(mode: Mode) -> RunSummary {
        let mut calls = CallStats::default();
        calls.totals.calls = 42;
        calls.totals.retries = 3;
        calls.totals.throttled = 2;
        let mut run = RunSummary::new(1, mode, RunScope::Cycle, ts("2026-11-21T07:59:00Z"));
        run.partner_center = calls;
        run.counts.plan = Some(PlanCounts {
            detail_fetched: 1,
            ..PlanCounts::default()
        });
        run
    }

    fn build_with(
        plan: &Plan,
        snapshot: &Snapshot,
        receivables: &ReceivablesInput,
        ledger: &dyn LedgerView,
        run: &RunSummary,
        app_user_configured: bool,
    ) -> DigestContext {
        let tz = tz();
        build(&DigestInput {
            plan,
            snapshot,
            receivables,
            ledger,
            run,
            partner_name: "Contoso Cloud Services",
            app_user_configured,
            now: now(),
            tz: &tz,
        })
    }

    fn finding(rule: &str, severity: Severity, customer: &str, summary: &str) -> Finding {
        Finding {
            fingerprint: format!("{rule}:{customer}"),
            rule: rule.to_owned().into(),
            severity,
            customer: Some(customer.into()),
            summary: summary.into(),
            facts: Facts::new(),
        }
    }

    fn suspend_kind() -> ActionKind {
        ActionKind::Suspend {
            subscription_id: "s1".into(),
            reason: SuspendReason::Nonpayment,
        }
    }

    fn notice_kind(template: &str) -> ActionKind {
        ActionKind::CustomerNotice {
            template: template.into(),
            stage: template.into(),
            to: Some("ap@fabrikam.example".into()),
            cc: vec![],
            locale_hint: None,
            invoices: vec![NoticeInvoice {
                invoice: "INV-2".into(),
                due_date: testkit::date("2026-11-11"),
                days_past_due: 10,
                amount: dec("200"),
                outstanding: dec("150"),
                currency: "EUR".into(),
                stage_index: 1,
            }],
            suspension_date: None,
            budget: None,
        }
    }

    fn new_action(key: &str, kind: &ActionKind, customer: &str, approval: bool) -> NewAction {
        NewAction {
            key: key.into(),
            kind: kind.name().into(),
            customer: Some(customer.into()),
            payload: serde_json::to_value(kind).expect("payload"),
            requires_approval: approval,
            reason: format!("reason of {key}"),
        }
    }

    fn text(lines: &[HealthLine]) -> String {
        lines
            .iter()
            .map(|h| format!("[{:?}] {}", h.status, h.text))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn eur(customer: &str, invoice: &str, due: &str, amount: &str, paid: &str) -> Receivable {
        receivable(customer, invoice, due, amount, paid)
    }

    fn usd(customer: &str, invoice: &str, due: &str, amount: &str, paid: &str) -> Receivable {
        let mut r = receivable(customer, invoice, due, amount, paid);
        r.currency = "USD".into();
        r
    }

    fn all_clear_context() -> DigestContext {
        let snapshot = full_snapshot();
        let receivables = matched(vec![eur(C1, "INV-1", "2026-11-30", "100", "0")]);
        let ledger = testkit::ledger();
        let mut run = run(Mode::Enforce);
        run.counts.sent = 0;
        build_with(
            &Plan::default(),
            &snapshot,
            &receivables,
            &ledger,
            &run,
            true,
        )
    }

    #[test]
    fn digest_an_empty_day_is_all_clear_and_still_reports_the_run() {
        let ctx = all_clear_context();
        assert!(
            ctx.all_clear(),
            "{}\n{}",
            text(&ctx.run_health),
            text(&ctx.health)
        );
        assert_eq!(ctx.partner_name, "Contoso Cloud Services");
        assert_eq!(ctx.date, Date::constant(2026, 11, 21));
        assert_eq!(ctx.mode, "enforce");
        assert!(ctx.needs_decision.is_empty());
        assert!(ctx.uncertain_or_failed.is_empty());
        assert!(ctx.recent_actions.is_empty());
        // The run itself is always reported.
        let run = text(&ctx.run_health);
        assert!(run.contains("Run started 2026-11-21 08:59 CET"), "{run}");
        assert!(
            run.contains("Partner Center: 42 calls (3 retries, 2 throttled with 429, 0 errors)"),
            "{run}"
        );
        assert!(run.contains("Emails: 0 sent, 0 failed."), "{run}");
        // Current receivables are shown, nothing overdue.
        assert_eq!(ctx.aging.len(), 1);
        assert_eq!(ctx.aging[0].total, dec("100"));
        assert!(ctx.top_debtors.is_empty());
        let health = text(&ctx.health);
        assert!(health.contains("Customers: 3 customers read."), "{health}");
        assert!(ctx.health.iter().all(|h| h.status == HealthStatus::Ok));
    }

    /// A ledger and plan for a day where every section has something.
    fn busy_day() -> (Ledger, i64, i64, i64) {
        let mut ledger = testkit::ledger();
        ledger.set_retry_policy(RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        });
        let t0 = ts("2026-11-21T06:00:00Z");
        // Awaiting approval.
        let approval = ledger
            .insert_action(&new_action("suspend:c1:s1", &suspend_kind(), C1, true), t0)
            .expect("insert");
        let cancel = ledger
            .insert_action(
                &new_action(
                    "cancel:c2:az9",
                    &ActionKind::CancelAzureSubscription {
                        azure_subscription_id: "az9".into(),
                    },
                    C2,
                    true,
                ),
                t0,
            )
            .expect("insert");
        // Failed for good.
        let failed = ledger
            .insert_action(
                &new_action("n:c2:r1", &notice_kind("reminder-1"), C2, false),
                t0,
            )
            .expect("insert");
        ledger.claim(failed.id, t0).expect("claim");
        ledger
            .mark_failed(failed.id, "SMTP 550 5.1.1 mailbox unavailable", t0)
            .expect("fail");
        // Uncertain after a crash.
        let uncertain = ledger
            .insert_action(
                &new_action("n:c3:r2", &notice_kind("reminder-2"), C3, false),
                t0,
            )
            .expect("insert");
        ledger.claim(uncertain.id, t0).expect("claim");
        ledger.recover_interrupted(t0).expect("recover");
        // Done in the last 24 hours.
        let done = ledger
            .insert_action(
                &new_action("n:c1:final", &notice_kind("final-notice"), C1, false),
                t0,
            )
            .expect("insert");
        ledger.claim(done.id, t0).expect("claim");
        ledger
            .mark_done(done.id, &json!({"message_id": "m1"}), t0)
            .expect("done");
        // Done three days ago: not in the last 24 hours.
        let old_t = ts("2026-11-18T06:00:00Z");
        let old = ledger
            .insert_action(
                &new_action("n:c3:old", &notice_kind("reminder-pre-due"), C3, false),
                old_t,
            )
            .expect("insert");
        ledger.claim(old.id, old_t).expect("claim");
        ledger.mark_done(old.id, &json!({}), old_t).expect("done");
        // Rejected by a person.
        let rejected = ledger
            .insert_action(
                &new_action(
                    "budget:c3",
                    &ActionKind::SetBudget {
                        amount: dec("5000"),
                    },
                    C3,
                    true,
                ),
                t0,
            )
            .expect("insert");
        ledger
            .reject(
                rejected.id,
                "ops@contoso",
                "customer is on a promise to pay",
                t0,
            )
            .expect("reject");
        (ledger, approval.id, cancel.id, failed.id)
    }

    fn busy_plan() -> Plan {
        Plan {
            findings: vec![
                finding(
                    "dunning.stage",
                    Severity::Info,
                    C1,
                    "INV-2 reached reminder 1.",
                ),
                finding(
                    "anomaly.spend_spike",
                    Severity::Info,
                    C3,
                    "Spend tripled in a day.",
                ),
                finding(
                    "budget.threshold",
                    Severity::Warning,
                    C3,
                    "Azure spend is 82% of the budget.",
                ),
                finding(
                    "activity.admin_grant",
                    Severity::Warning,
                    C2,
                    "Admin access granted to a new user.",
                ),
                finding(
                    "fraud.azure_event",
                    Severity::Critical,
                    C1,
                    "Microsoft reported cryptocurrency mining on Azure subscription az1.",
                ),
            ],
            risk: (0..12)
                .map(|i| RiskScore {
                    customer: if i == 0 {
                        C1.into()
                    } else {
                        format!("tenant-{i}")
                    },
                    company: None,
                    score: 100 - i,
                    reasons: vec![format!("reason {i}")],
                })
                .collect(),
            skipped: vec![
                Skip {
                    customer: Some(C1.into()),
                    policy: "dunning".into(),
                    reason: "Fabrikam & Co: disputed, not dunned: INV-9".into(),
                },
                Skip {
                    customer: Some(C2.into()),
                    policy: "dunning".into(),
                    reason: "Tailspin Toys: no usable email address; no notice".into(),
                },
                Skip {
                    customer: None,
                    policy: "budgets".into(),
                    reason: "a usage record has no customer id; ignored".into(),
                },
            ],
            ..Plan::default()
        }
    }

    fn busy_receivables() -> ReceivablesInput {
        let ReceivablesInput::Loaded(mut m) = matched(vec![
            eur(C1, "INV-1", "2026-11-30", "100", "0"),   // current
            eur(C1, "INV-2", "2026-11-11", "200", "50"),  // 10 days: 150
            eur(C2, "INV-3", "2026-10-01", "300", "0"),   // 51 days
            eur(C2, "INV-6", "2026-09-10", "75", "0"),    // 72 days
            eur(C3, "INV-4", "2026-09-01", "400", "400"), // paid
            eur(C3, "INV-5", "2026-07-01", "50", "0"),    // 143 days
            usd(C1, "INV-7", "2026-11-01", "1000", "0"),  // 20 days
        ]) else {
            unreachable!("matched always loads")
        };
        m.unmatched.push(Unmatched {
            receivable: eur("contoso-old", "INV-99", "2026-10-01", "10", "0"),
            reason: UnmatchedReason::NotATenantId,
        });
        ReceivablesInput::Loaded(m)
    }

    fn busy_context() -> (DigestContext, i64, i64, i64) {
        let (ledger, approval, cancel, failed) = busy_day();
        let mut run = run(Mode::Notify);
        run.counts.sent = 4;
        run.counts.failed = 1;
        run.notes.failed = vec![ActionNote {
            key: "SMTP".into(),
            note: "connection reset while sending reminder-1".into(),
        }];
        let ctx = build_with(
            &busy_plan(),
            &full_snapshot(),
            &busy_receivables(),
            &ledger,
            &run,
            true,
        );
        (ctx, approval, cancel, failed)
    }

    #[test]
    fn digest_lists_dunning_blocked_by_an_uncertain_notice_with_since_and_resolve() {
        let ledger = testkit::ledger();
        let since = ts("2026-11-18T05:02:00Z");
        let stuck = ledger
            .insert_action(
                &new_action(
                    "notice/c3/INV-5/reminder-2",
                    &notice_kind("reminder-2"),
                    C3,
                    false,
                ),
                since,
            )
            .expect("insert");
        ledger.claim(stuck.id, since).expect("claim");
        ledger.recover_interrupted(since).expect("recover");
        // An uncertain non-dunning action blocks no dunning.
        let other = ledger
            .insert_action(
                &new_action("n:c1:r1", &notice_kind("reminder-1"), C1, false),
                since,
            )
            .expect("insert");
        ledger.claim(other.id, since).expect("claim");
        ledger.recover_interrupted(since).expect("recover");

        let ctx = build_with(
            &Plan::default(),
            &full_snapshot(),
            &matched(Vec::new()),
            &ledger,
            &run(Mode::Notify),
            true,
        );
        assert!(!ctx.all_clear());
        assert_eq!(
            ctx.dunning_blocked,
            vec![BlockedLine {
                customer: "Adventure Works".into(),
                since: "2026-11-18 06:02 CET".into(),
                days: 3,
                action: format!("action {}: notice/c3/INV-5/reminder-2", stuck.id),
                resolve_command: format!(
                    "cspguard resolve {} --sent --reason \"...\" (or --not-sent if it did not go \
                     out)",
                    stuck.id
                ),
            }]
        );
    }

    #[test]
    fn digest_busy_day_fills_every_section() {
        let (ctx, approval, cancel, failed) = busy_context();
        assert!(!ctx.all_clear());

        // Needs a decision: the two awaiting actions, with their ids and commands.
        assert_eq!(ctx.needs_decision.len(), 2, "{:#?}", ctx.needs_decision);
        let suspend = &ctx.needs_decision[0];
        assert_eq!(
            suspend.approve_command,
            format!("cspguard approve {approval}")
        );
        assert_eq!(
            suspend.summary,
            format!(
                "Fabrikam & Co: suspend subscription \"Microsoft 365 E3\" (s1) (non-payment) (action {approval})"
            )
        );
        assert!(suspend.reason.starts_with("reason of suspend:c1:s1."));
        assert!(
            suspend
                .reason
                .contains(&format!("cspguard reject {approval} --reason \"…\""))
        );
        let c = &ctx.needs_decision[1];
        assert_eq!(c.approve_command, format!("cspguard approve {cancel}"));
        assert!(
            c.summary
                .contains("Tailspin Toys: CANCEL Azure subscription az9 — irreversible"),
            "{}",
            c.summary
        );

        // Uncertain and failed, with the error and what to do.
        assert_eq!(ctx.uncertain_or_failed.len(), 2);
        let f = ctx
            .uncertain_or_failed
            .iter()
            .find(|a| a.status == "failed")
            .expect("failed line");
        assert_eq!(f.customer, "Tailspin Toys");
        assert!(
            f.what
                .starts_with(&format!("action {failed}: email \"reminder 1\""))
        );
        let detail = f.detail.as_deref().unwrap_or_default();
        assert!(
            detail.contains("last error: SMTP 550 5.1.1 mailbox unavailable"),
            "{detail}"
        );
        assert!(
            detail.contains(&format!("`cspguard retry {failed}`")),
            "{detail}"
        );
        // The uncertain action was inserted right after the failed one.
        let u_id = failed + 1;
        let u = ctx
            .uncertain_or_failed
            .iter()
            .find(|a| a.status == "uncertain")
            .expect("uncertain line");
        assert_eq!(u.customer, "Adventure Works");
        assert!(u.detail.as_deref().unwrap_or_default().contains(&format!(
            "then `cspguard resolve {u_id} --sent --reason \"…\"` if it did, or `cspguard retry {u_id}` if it did not"
        )));

        // Fraud and misuse, most severe first; dunning and budget findings are not here.
        let fraud: Vec<(Severity, &str)> = ctx
            .fraud_findings
            .iter()
            .map(|f| (f.severity, f.customer.as_deref().unwrap_or_default()))
            .collect();
        assert_eq!(
            fraud,
            vec![
                (Severity::Critical, "Fabrikam & Co"),
                (Severity::Warning, "Tailspin Toys"),
                (Severity::Info, "Adventure Works"),
            ]
        );
        assert!(
            ctx.fraud_findings[0]
                .summary
                .contains("cryptocurrency mining")
        );
        assert_eq!(ctx.budget_findings.len(), 1);
        assert_eq!(
            ctx.budget_findings[0].customer.as_deref(),
            Some("Adventure Works")
        );

        // Aging per currency, per bucket.
        assert_eq!(ctx.aging.len(), 2);
        let eur_row = ctx.aging.iter().find(|r| r.currency == "EUR").expect("EUR");
        let amounts: Vec<Decimal> = eur_row.buckets.iter().map(|b| b.amount).collect();
        assert_eq!(
            amounts,
            vec![dec("100"), dec("150"), dec("300"), dec("75"), dec("50")]
        );
        assert_eq!(eur_row.total, dec("675"));
        assert_eq!(eur_row.buckets[2].bar_percent, 100);
        let usd_row = ctx.aging.iter().find(|r| r.currency == "USD").expect("USD");
        assert_eq!(usd_row.buckets[1].amount, dec("1000"));
        assert_eq!(usd_row.total, dec("1000"));

        // Top debtors: ranked within each currency (never across), largest overdue first, with
        // the oldest days past due; currencies in alphabetical order.
        let debtors: Vec<(&str, &str, Decimal, i64)> = ctx
            .top_debtors
            .iter()
            .flat_map(|g| g.debtors.iter())
            .map(|d| {
                (
                    d.customer.as_str(),
                    d.overdue.currency.as_str(),
                    d.overdue.amount,
                    d.oldest_days_past_due,
                )
            })
            .collect();
        assert_eq!(
            debtors,
            vec![
                ("Tailspin Toys", "EUR", dec("375"), 72),
                ("Fabrikam & Co", "EUR", dec("150"), 10),
                ("Adventure Works", "EUR", dec("50"), 143),
                ("Fabrikam & Co", "USD", dec("1000"), 20),
            ]
        );

        // Recent actions: done and rejected in the last 24 hours, not the old one.
        let recent: Vec<(&str, &str)> = ctx
            .recent_actions
            .iter()
            .map(|a| (a.status.as_str(), a.customer.as_str()))
            .collect();
        assert_eq!(
            recent,
            vec![("done", "Fabrikam & Co"), ("cancelled", "Adventure Works")]
        );
        assert!(
            ctx.recent_actions[0]
                .what
                .starts_with("email \"final notice\"")
        );
        assert_eq!(
            ctx.recent_actions[1].detail.as_deref(),
            Some("cancelled by ops@contoso: customer is on a promise to pay")
        );

        // Riskiest: top 10, names resolved.
        assert_eq!(ctx.riskiest.len(), MAX_RISKIEST);
        assert_eq!(ctx.riskiest[0].customer, "Fabrikam & Co");
        assert_eq!(ctx.riskiest[0].score, 100);

        // Run health: failed emails and errors are warnings.
        let run = text(&ctx.run_health);
        assert!(run.contains("[Warning] Emails: 4 sent, 1 failed."), "{run}");
        assert!(
            run.contains("[Warning] Error: SMTP: connection reset while sending reminder-1"),
            "{run}"
        );
        assert!(
            run.contains("Customer detail fetched for 1 customer."),
            "{run}"
        );

        // Health: skips grouped by policy, unmatched receivables.
        let health = text(&ctx.health);
        assert!(
            health.contains(
                "[Warning] dunning: 2 skips (customers skipped and why): Fabrikam & Co: disputed, not dunned: INV-9; Tailspin Toys: no usable email address; no notice."
            ),
            "{health}"
        );
        assert!(health.contains("[Warning] budgets: 1 skip"), "{health}");
        assert!(
            health.contains(
                "[Warning] 1 receivables row could not be matched to a customer and is not dunned"
            ),
            "{health}"
        );
        assert!(health.contains("INV-99 (contoso-old)"), "{health}");
    }

    #[test]
    fn digest_dry_run_lists_the_plans_actions_as_would() {
        let plan = Plan {
            actions: vec![
                PlannedAction {
                    key: "n:c1:r1".into(),
                    customer: Some(C1.into()),
                    kind: notice_kind("reminder-1"),
                    requires_approval: false,
                    reason: "INV-2 is 10 days past due".into(),
                    findings: vec![],
                    after: vec![],
                },
                PlannedAction {
                    key: "suspend:c1:s1".into(),
                    customer: Some(C1.into()),
                    kind: suspend_kind(),
                    requires_approval: true,
                    reason: "INV-3 is 51 days past due".into(),
                    findings: vec![],
                    after: vec![],
                },
            ],
            ..Plan::default()
        };
        let mut run = run(Mode::DryRun);
        if let Some(p) = run.counts.plan.as_mut() {
            p.would = 1;
        }
        let ctx = build_with(
            &plan,
            &full_snapshot(),
            &matched(vec![]),
            &testkit::ledger(),
            &run,
            true,
        );
        assert_eq!(ctx.mode, "dry-run");
        assert_eq!(ctx.needs_decision.len(), 1);
        let d = &ctx.needs_decision[0];
        assert_eq!(
            d.summary,
            "Would need your decision — Fabrikam & Co: suspend subscription \"Microsoft 365 E3\" (s1) (non-payment)"
        );
        assert!(d.approve_command.contains("dry-run records nothing"));
        assert!(!d.approve_command.contains("cspguard approve 1"));
        let whats: Vec<&str> = ctx.recent_actions.iter().map(|a| a.what.as_str()).collect();
        assert_eq!(
            whats,
            vec![
                "would: email \"reminder 1\" to ap@fabrikam.example (invoices INV-2)",
                "would: suspend subscription \"Microsoft 365 E3\" (s1) (non-payment)",
            ]
        );
        assert!(
            ctx.recent_actions
                .iter()
                .all(|a| a.status == "would do (dry-run)")
        );
        let run = text(&ctx.run_health);
        assert!(
            run.contains("Emails: none sent (dry-run); 1 would have been sent."),
            "{run}"
        );
        assert!(!ctx.all_clear());
    }

    #[test]
    fn digest_failed_receivables_import_is_a_health_warning_and_no_aging() {
        let receivables = ReceivablesInput::Failed {
            error: "ar.csv line 7: amount \"abc\" is not a number".into(),
        };
        let ctx = build_with(
            &Plan::default(),
            &full_snapshot(),
            &receivables,
            &testkit::ledger(),
            &run(Mode::Notify),
            true,
        );
        assert!(ctx.aging.is_empty());
        assert!(ctx.top_debtors.is_empty());
        let line = ctx
            .health
            .iter()
            .find(|h| h.text.starts_with("Receivables import failed"))
            .expect("receivables line");
        assert_eq!(line.status, HealthStatus::Warning);
        assert_eq!(
            line.text,
            "Receivables import failed: ar.csv line 7: amount \"abc\" is not a number; no dunning this run."
        );
        assert!(!ctx.all_clear());
    }

    #[test]
    fn digest_receivables_not_configured_says_no_dunning() {
        let ctx = build_with(
            &Plan::default(),
            &full_snapshot(),
            &ReceivablesInput::NotConfigured,
            &testkit::ledger(),
            &run(Mode::Notify),
            true,
        );
        assert!(ctx.aging.is_empty());
        let line = ctx
            .health
            .iter()
            .find(|h| h.text.starts_with("Receivables not configured: no dunning"))
            .expect("line");
        assert_eq!(line.status, HealthStatus::NotChecked);
        assert!(!ctx.all_clear());
    }

    #[test]
    fn digest_app_user_not_configured_is_a_health_warning() {
        let mut snapshot = full_snapshot();
        let reason = "App+User credentials not configured".to_string();
        snapshot.usage = Section::NotChecked {
            reason: reason.clone(),
        };
        snapshot.fraud_events = Section::NotChecked { reason };
        snapshot.audit_records = Section::Failed {
            error: "GET /v1/auditrecords: HTTP 503 after 5 retries".into(),
        };
        let ctx = build_with(
            &Plan::default(),
            &snapshot,
            &matched(vec![]),
            &testkit::ledger(),
            &run(Mode::Notify),
            false,
        );
        let health = text(&ctx.health);
        assert!(
            health
                .contains("[NotChecked] Usage: not checked: App+User credentials not configured."),
            "{health}"
        );
        assert!(
            health.contains(
                "[NotChecked] Fraud events: not checked: App+User credentials not configured."
            ),
            "{health}"
        );
        assert!(
            health.contains("[Warning] Audit records: FAILED: GET /v1/auditrecords: HTTP 503"),
            "{health}"
        );
        assert!(
            health.contains("usage, budgets and fraud events are not checked"),
            "{health}"
        );
        assert!(!ctx.all_clear());
    }

    #[test]
    fn digest_failed_customer_detail_is_grouped_in_health() {
        let mut snapshot = full_snapshot();
        for c in [C1, C2, C3, "44444444-4444-4444-4444-444444444444"] {
            let mut d = detail(None, vec![]);
            d.subscriptions = Section::Failed {
                error: "HTTP 500".into(),
            };
            snapshot.details.insert(c.into(), d);
        }
        let ctx = build_with(
            &Plan::default(),
            &snapshot,
            &matched(vec![]),
            &testkit::ledger(),
            &run(Mode::Notify),
            true,
        );
        let health = text(&ctx.health);
        assert!(
            health.contains(
                "[Warning] Customer detail: the subscriptions of 4 customers could not be read (Fabrikam & Co: HTTP 500; Tailspin Toys: HTTP 500; Adventure Works: HTTP 500; and 1 more)"
            ),
            "{health}"
        );
    }

    /// A ledger whose every read fails.
    struct BrokenLedger;

    fn broken() -> LedgerError {
        LedgerError::Data {
            path: "/var/lib/cspguard/state.db".into(),
            what: "actions".into(),
            detail: "disk I/O error".into(),
        }
    }

    impl LedgerView for BrokenLedger {
        fn action_by_key(&self, _: &str) -> Result<Option<ActionRow>, LedgerError> {
            Err(broken())
        }
        fn actions_for_customer(&self, _: &str) -> Result<Vec<ActionRow>, LedgerError> {
            Err(broken())
        }
        fn notices_for_customer(&self, _: &str) -> Result<Vec<NoticeRow>, LedgerError> {
            Err(broken())
        }
        fn finding(&self, _: &str) -> Result<Option<FindingRow>, LedgerError> {
            Err(broken())
        }
        fn open_findings(&self) -> Result<Vec<FindingRow>, LedgerError> {
            Err(broken())
        }
        fn watermark(&self, _: &str) -> Result<Option<String>, LedgerError> {
            Err(broken())
        }
        fn spend_history(&self, _: &str, _: Date) -> Result<Vec<SpendSnapshot>, LedgerError> {
            Err(broken())
        }
        fn spend_history_all(&self, _: Date) -> Result<Vec<SpendSnapshot>, LedgerError> {
            Err(broken())
        }
        fn customers_with_pending_actions(&self) -> Result<Vec<String>, LedgerError> {
            Err(broken())
        }
        fn actions_in_status(&self, _: &[ActionStatus]) -> Result<Vec<ActionRow>, LedgerError> {
            Err(broken())
        }
        fn actions_changed_since(&self, _: Timestamp) -> Result<Vec<ActionRow>, LedgerError> {
            Err(broken())
        }
        fn active_holds(&self, _: Timestamp) -> Result<Vec<Hold>, LedgerError> {
            Err(broken())
        }
        fn hold_for(
            &self,
            _: &str,
            _: Option<&str>,
            _: Timestamp,
        ) -> Result<Option<Hold>, LedgerError> {
            Err(broken())
        }
        fn active_suspensions(&self, _: Option<&str>) -> Result<Vec<Suspension>, LedgerError> {
            Err(broken())
        }
        fn active_silences(
            &self,
            _: Timestamp,
        ) -> Result<Vec<crate::ledger::Silence>, LedgerError> {
            Err(broken())
        }
        fn alert_groups(&self) -> Result<Vec<crate::ledger::GroupState>, LedgerError> {
            Err(broken())
        }
        fn get_cached_profile(
            &self,
            _: &str,
            _: Timestamp,
            _: SignedDuration,
        ) -> Result<Option<serde_json::Value>, LedgerError> {
            Err(broken())
        }
    }

    #[test]
    fn digest_failed_ledger_reads_become_health_warnings() {
        let ctx = build_with(
            &Plan::default(),
            &full_snapshot(),
            &matched(vec![]),
            &BrokenLedger,
            &run(Mode::Notify),
            true,
        );
        let warnings: Vec<&str> = ctx
            .health
            .iter()
            .filter(|h| h.status == HealthStatus::Warning && h.text.starts_with("Ledger:"))
            .map(|h| h.text.as_str())
            .collect();
        assert_eq!(warnings.len(), 4, "{warnings:#?}");
        assert!(warnings[0].contains("actions awaiting approval"));
        assert!(warnings[2].contains("whose dunning is blocked"));
        assert!(warnings.iter().all(|w| w.contains("disk I/O error")));
        assert!(!ctx.all_clear());
    }

    #[test]
    fn digest_unreadable_payload_is_described_not_a_panic() {
        let ledger = testkit::ledger();
        let row = ledger
            .insert_action(
                &NewAction {
                    key: "weird".into(),
                    kind: "suspend".into(),
                    customer: Some(C1.into()),
                    payload: json!({"kind": "suspend", "garbage": 1}),
                    requires_approval: true,
                    reason: "r".into(),
                },
                ts("2026-11-21T06:00:00Z"),
            )
            .expect("insert");
        let ctx = build_with(
            &Plan::default(),
            &full_snapshot(),
            &matched(vec![]),
            &ledger,
            &run(Mode::Notify),
            true,
        );
        assert_eq!(ctx.needs_decision.len(), 1);
        assert!(
            ctx.needs_decision[0]
                .summary
                .contains("payload cspguard cannot read"),
            "{}",
            ctx.needs_decision[0].summary
        );
        assert_eq!(
            ctx.needs_decision[0].approve_command,
            format!("cspguard approve {}", row.id)
        );
    }

    #[test]
    fn digest_contexts_render_in_both_variants() -> Result<(), Box<dyn std::error::Error>> {
        let renderer = Renderer::new(None)?;
        let clear = renderer.render_digest(&all_clear_context())?;
        assert!(clear.text.contains("ALL CLEAR"), "{}", clear.text);
        assert!(clear.html.contains("All clear."));

        let (busy, approval, _, failed) = busy_context();
        let email = renderer.render_digest(&busy)?;
        assert!(!email.text.contains("ALL CLEAR"));
        assert!(
            email
                .text
                .contains(&format!("Approve: cspguard approve {approval}")),
            "{}",
            email.text
        );
        assert!(email.text.contains(&format!("cspguard retry {failed}")));
        assert!(email.text.contains("RECEIVABLES AGING"));
        assert!(email.html.contains("Fabrikam &amp; Co"));
        Ok(())
    }

    #[test]
    fn digest_unmatched_only_outcome_still_ages_nothing() {
        let receivables = ReceivablesInput::Loaded(MatchOutcome::default());
        let ctx = build_with(
            &Plan::default(),
            &full_snapshot(),
            &receivables,
            &testkit::ledger(),
            &run(Mode::Notify),
            true,
        );
        assert!(ctx.aging.is_empty());
        assert!(ctx.all_clear());
    }

    #[test]
    fn digest_top_debtors_are_capped_and_ordered_by_overdue_amount() {
        let rows: Vec<Receivable> = (1..=12)
            .map(|i| {
                eur(
                    &format!("tenant-{i:02}"),
                    &format!("INV-{i}"),
                    "2026-11-01",
                    &format!("{}", i * 10),
                    "0",
                )
            })
            .collect();
        let ctx = build_with(
            &Plan::default(),
            &full_snapshot(),
            &matched(rows),
            &testkit::ledger(),
            &run(Mode::Notify),
            true,
        );
        assert_eq!(ctx.top_debtors.len(), 1);
        let eur = &ctx.top_debtors[0].debtors;
        assert_eq!(eur.len(), MAX_DEBTORS);
        assert_eq!(eur[0].customer, "tenant-12");
        assert_eq!(eur[0].overdue.amount, dec("120"));
        assert_eq!(eur[9].customer, "tenant-03");
        assert!(eur.iter().all(|d| d.oldest_days_past_due == 20));
        assert_eq!(ctx.aging[0].buckets[1].amount, dec("780"));
    }

    #[test]
    fn digest_top_debtors_never_rank_amounts_across_currencies() {
        // KRW 2,450,000 is a far larger number than CNY 10,000, but it is not "more money":
        // each currency gets its own ranking, and a large-number currency never pushes the
        // others out of the list.
        let mut rows: Vec<Receivable> = (1..=12)
            .map(|i| {
                let mut r = eur(
                    &format!("krw-{i:02}"),
                    &format!("K-{i}"),
                    "2026-11-01",
                    &format!("{}", 2_000_000 + i * 10_000),
                    "0",
                );
                r.currency = "KRW".into();
                r
            })
            .collect();
        let mut cny = eur("cny-01", "C-1", "2026-10-01", "10000", "0");
        cny.currency = "cny".into();
        rows.push(cny);
        let ctx = build_with(
            &Plan::default(),
            &full_snapshot(),
            &matched(rows),
            &testkit::ledger(),
            &run(Mode::Notify),
            true,
        );
        let groups: Vec<(&str, usize, &str)> = ctx
            .top_debtors
            .iter()
            .map(|g| {
                (
                    g.currency.as_str(),
                    g.debtors.len(),
                    g.debtors[0].customer.as_str(),
                )
            })
            .collect();
        assert_eq!(
            groups,
            vec![("CNY", 1, "cny-01"), ("KRW", MAX_DEBTORS, "krw-12")]
        );
        let rendered = Renderer::new(None)
            .and_then(|r| r.render_digest(&ctx))
            .expect("renders");
        let text = &rendered.text;
        let (cny_at, krw_at) = (
            text.find("  CNY\n").expect("CNY"),
            text.find("  KRW\n").expect("KRW"),
        );
        assert!(cny_at < krw_at, "{text}");
        assert!(text.contains("1. cny-01"), "{text}");
    }

    #[test]
    fn a_digest_at_scale_lists_a_bounded_number_and_counts_the_rest() {
        // 13,000 findings and 600 would-be actions (a first run at 50,000 customers): the digest
        // must still render, within the template output bound, and say how many it left out.
        let mut plan = Plan::default();
        for (rule, n) in [("budget.missing", 9_000), ("activity.admin_grant", 4_000)] {
            plan.findings.extend(
                (0..n).map(|i| finding(rule, Severity::Warning, &format!("c{i:05}"), "seen")),
            );
        }
        for i in 0..600 {
            plan.actions.push(PlannedAction {
                key: format!("notice:c{i:05}"),
                kind: notice_kind("reminder-1"),
                customer: Some(format!("c{i:05}")),
                requires_approval: false,
                reason: "overdue".into(),
                findings: Vec::new(),
                after: Vec::new(),
            });
        }
        let ctx = build_with(
            &plan,
            &full_snapshot(),
            &matched(vec![]),
            &testkit::ledger(),
            &run(Mode::DryRun),
            true,
        );
        assert_eq!(ctx.budget_findings.len(), MAX_LISTED);
        assert_eq!(ctx.more.budget_findings, 9_000 - MAX_LISTED);
        assert_eq!(ctx.fraud_findings.len(), MAX_LISTED);
        assert_eq!(ctx.more.fraud_findings, 4_000 - MAX_LISTED);
        assert_eq!(ctx.recent_actions.len(), MAX_LISTED);
        assert_eq!(ctx.more.recent_actions, 600 - MAX_LISTED);
        let rendered = Renderer::new(None)
            .and_then(|r| r.render_digest(&ctx))
            .expect("a digest at scale renders within the output bound");
        for text in [&rendered.text, &rendered.html] {
            assert!(text.contains("9000"), "the section counts every finding");
            assert!(text.contains("and 8950 more"), "{text}");
            assert!(text.contains("and 3950 more"), "{text}");
            assert!(text.contains("and 550 more"), "{text}");
        }
        assert!(
            rendered.text.contains("BUDGETS (9000)"),
            "{}",
            rendered.text
        );
        assert!(rendered.text.contains("`cspguard history` lists every one"));

        let recon = crate::recon::model::ReconText {
            not_invoiced: (0..700).map(|i| format!("customer {i}")).collect(),
            ..Default::default()
        };
        let recon = bounded_recon(recon);
        assert_eq!(recon.not_invoiced.len(), MAX_LISTED + 1);
        assert_eq!(
            recon.not_invoiced[MAX_LISTED],
            "... and 650 more (`cspguard reconcile` lists every one)"
        );
    }

    #[test]
    fn digest_expired_approvals_of_the_last_day_say_why() {
        let ledger = testkit::ledger();
        let t0 = ts("2026-11-10T06:00:00Z");
        ledger
            .insert_action(&new_action("suspend:c1:s1", &suspend_kind(), C1, true), t0)
            .expect("insert");
        let expired = ledger
            .expire_approvals(ts("2026-11-21T06:00:00Z"), 7)
            .expect("expire");
        assert_eq!(expired.len(), 1);
        let ctx = build_with(
            &Plan::default(),
            &full_snapshot(),
            &matched(vec![]),
            &ledger,
            &run(Mode::Notify),
            true,
        );
        assert!(ctx.needs_decision.is_empty());
        assert_eq!(ctx.recent_actions.len(), 1);
        assert_eq!(ctx.recent_actions[0].status, "expired");
        assert_eq!(
            ctx.recent_actions[0].detail.as_deref(),
            Some("expired: nobody approved it in time; it will not run")
        );
    }
}
