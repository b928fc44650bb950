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
use crate::notices::format::format_money;
use crate::notices::templates::{
    ActionLine, AgingRow, DebtorLine, DecisionItem, DigestContext, FindingLine, HealthLine,
    HealthStatus, Money, OPS_LOCALE, RiskLine, one_line,
};
use crate::pc::CallStats;
use crate::plan::{ActionKind, Finding, Plan, PlannedAction, SuspendReason};
use crate::policy::ReceivablesInput;
use crate::receivables::Receivable;
use crate::receivables::aging::{Aging, Bucket};
use crate::snapshot::{Section, Snapshot};

/// How many riskiest customers the digest lists.
pub const MAX_RISKIEST: usize = 10;
/// How many top debtors the digest lists.
pub const MAX_DEBTORS: usize = 10;
/// How many example customers a grouped health line names.
pub const MAX_EXAMPLES: usize = 3;

/// What the run itself did, as counted by the runner.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub started: Timestamp,
    pub mode: Mode,
    /// Partner Center calls of the whole run.
    pub calls: CallStats,
    /// Customers whose detail (billing profile, subscriptions) was fetched.
    pub detail_fetched: usize,
    /// Emails sent, failed, and (dry-run) that would have been sent.
    pub sent: usize,
    pub failed: usize,
    pub would_send: usize,
    /// Errors of the run, in words.
    pub errors: Vec<String>,
}

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
    let fraud_findings = findings(input.plan, &names, &["fraud.", "activity.", "anomaly."]);
    let budget_findings = findings(input.plan, &names, &["budget."]);
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
            text: "App+User credentials are not configured: usage, budgets and fraud events are \
                   not checked (complete the one-time App+User consent to enable them)."
                .into(),
        });
    }
    all_health.extend(health);
    all_health.extend(skip_health(input.plan));

    DigestContext {
        partner_name: one_line(input.partner_name),
        date: input.now.to_zoned(input.tz.clone()).date(),
        mode: input.run.mode.to_string(),
        run_health: run_health(input),
        needs_decision,
        uncertain_or_failed,
        fraud_findings,
        budget_findings,
        aging,
        top_debtors,
        recent_actions,
        riskiest,
        health: all_health,
    }
}

/// Company names by tenant id, from the snapshot's customer list.
struct Names {
    by_id: BTreeMap<String, String>,
}

impl Names {
    fn new(snapshot: &Snapshot) -> Names {
        let by_id = snapshot
            .customers
            .data()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let name = one_line(c.company_name()?);
                (!name.is_empty()).then(|| (c.id.to_ascii_lowercase(), name))
            })
            .collect();
        Names { by_id }
    }

    /// The company name of a tenant id, or the id itself when the name is unknown.
    fn name(&self, id: &str) -> String {
        self.by_id
            .get(&id.to_ascii_lowercase())
            .cloned()
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
                Some(cur) => format_money(*amount, &cur, OPS_LOCALE),
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
    names: &Names,
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
                    "Action {}: {} for {}",
                    r.id,
                    describe_row(r, input.snapshot),
                    names.of(r.customer.as_deref())
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

fn dry_run_decisions(plan: &Plan, snapshot: &Snapshot, names: &Names) -> Vec<DecisionItem> {
    plan.actions
        .iter()
        .filter(|a| a.kind.is_destructive())
        .map(|a| DecisionItem {
            summary: format!(
                "Would need your decision: {} for {}",
                describe(&a.kind, a.customer.as_deref(), snapshot),
                names.of(a.customer.as_deref())
            ),
            reason: a.reason.clone(),
            approve_command: "none yet: dry-run records nothing; in notify mode this action would \
                              wait for `cspguard approve <id>`"
                .into(),
            expires: None,
        })
        .collect()
}

fn uncertain_or_failed(
    input: &DigestInput<'_>,
    names: &Names,
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
                        "it may or may not have happened: check whether it happened, then `cspguard retry {}`",
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
                        "{error} (after {} attempt{}); {todo}",
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
fn findings(plan: &Plan, names: &Names, prefixes: &[&str]) -> Vec<FindingLine> {
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
    selected
        .into_iter()
        .map(|f| FindingLine {
            severity: f.severity,
            customer: f.customer.as_deref().map(|c| names.name(c)),
            summary: f.summary.clone(),
        })
        .collect()
}

fn receivables(
    input: &DigestInput<'_>,
    names: &Names,
    health: &mut Vec<HealthLine>,
) -> (Vec<AgingRow>, Vec<DebtorLine>) {
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
            "{n} receivables row{} could not be matched to a customer and are not dunned (e.g. {}); see `cspguard receivables check`.",
            plural(n),
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
    let mut debtors: Vec<(String, String, Decimal, i64)> = overdue
        .into_iter()
        .map(|((c, cur), (amount, oldest))| (names.name(&c), cur, amount, oldest))
        .collect();
    debtors.sort_by(|a, b| {
        b.2.cmp(&a.2)
            .then_with(|| b.3.cmp(&a.3))
            .then_with(|| a.0.cmp(&b.0))
            .then_with(|| a.1.cmp(&b.1))
    });
    let top = debtors
        .into_iter()
        .take(MAX_DEBTORS)
        .map(|(customer, currency, amount, oldest)| DebtorLine {
            customer,
            overdue: Money { amount, currency },
            oldest_days_past_due: oldest,
        })
        .collect();
    (rows, top)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn recent_ledger_actions(
    input: &DigestInput<'_>,
    names: &Names,
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
fn would_lines(plan: &Plan, snapshot: &Snapshot, names: &Names) -> Vec<ActionLine> {
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
    let t = &run.calls.totals;
    let mut lines = vec![
        ok(format!(
            "Run started {} in mode {}.",
            run.started
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
            run.detail_fetched,
            plural(run.detail_fetched)
        )),
    ];
    if run.mode == Mode::DryRun {
        lines.push(ok(format!(
            "Emails: none sent (dry-run); {} would have been sent.",
            run.would_send
        )));
    } else {
        lines.push(HealthLine {
            status: if run.failed > 0 {
                HealthStatus::Warning
            } else {
                HealthStatus::Ok
            },
            text: format!("Emails: {} sent, {} failed.", run.sent, run.failed),
        });
    }
    lines.extend(
        run.errors
            .iter()
            .map(|e| warning(format!("Error: {}", one_line(e)))),
    );
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
