//! The dunning ladder: reminders, a final notice naming the suspension date, suspension, and
//! reactivation once the customer has paid.
//!
//! It owns the `[dunning]` config ([`DunningConfig`], [`StageConfig`]) and the rules that turn the
//! matched receivables, the snapshot and the ledger's history into `notice/…`, `suspend/…` and
//! `reactivate/…` actions, cancellations, skips and `dunning.*` findings.
//!
//! Invariants:
//! - Pure: no I/O, no clock reads, no randomness. "Today" is `input.today()`, the local date in the
//!   partner's time zone; every day count (days past due, minimum gap, final-notice lead) is in
//!   local calendar days, so a daylight-saving change never makes a day count twice or vanish.
//! - Never act on partial data: a failed receivables import plans no dunning action for anyone
//!   (critical finding `dunning.import_failed:partner` and a policy skip); a ledger read that fails,
//!   or an unreadable dunning action in it, skips that customer; missing customer detail is
//!   requested (`need_detail`) and nothing that needs it is planned in this pass.
//! - Once, and only once: an invoice's *sent stage* is the highest stage of any dunning action
//!   naming it that is not cancelled or expired (pending, uncertain and failed ones count), so a
//!   stage is never planned twice. While any dunning action of the customer is pending
//!   (planned, awaiting approval, approved, executing, uncertain) nothing new is planned for it.
//!   Keys are derived from customer, stage, invoice and subscription only.
//! - Catch-up: a customer gets at most one notice per run, at the highest stage due, listing all
//!   its open overdue invoices; stages it skipped over are not sent.
//! - Suspension only after a final notice naming the invoice was *sent* (done, or a notice row)
//!   at least `final_notice_lead_days` local days earlier and not before the suspension date that
//!   notice named; never for a customer on hold or exempt; only subscriptions in scope.
//! - Reactivation only of subscriptions in the ledger's active suspensions with a non-payment
//!   reason (cspguard's own), never of anything Microsoft or a person suspended.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use jiff::{Span, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ledger::{ActionRow, ActionStatus, Hold, LedgerError, NoticeRow, Suspension};
use crate::pc::models::{CustomerBillingProfile, Subscription, SubscriptionStatus};
use crate::plan::{
    ActionKind, DetailNeed, Finding, NoticeInvoice, PlanBuilder, PlannedAction, Severity,
    SuspendReason,
};
use crate::policy::{PolicyInput, ReceivablesInput};
use crate::receivables::matching::MatchOutcome;
use crate::receivables::{InvoiceStatus, Receivable, check_email};
use crate::snapshot::Section;

/// The policy name in skips.
const POLICY: &str = "dunning";
/// The key segment of the suspension notice (`notice/{customer}/suspension/{invoice}`).
const SUSPENSION_SEGMENT: &str = "suspension";
/// Stage and template of the confirmation after reactivation.
const REACTIVATION: &str = "reactivation";
/// Who cancels actions automatically; a cancellation by anyone else is a person's decision and
/// is never planned again under a new key.
pub const SYSTEM_ACTOR: &str = "cspguard";
/// Largest day offset accepted in the config (ten years).
const MAX_DAYS: i64 = 3650;

/// What a ladder stage does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// A reminder email.
    #[default]
    Notice,
    /// The final notice: names the suspension date.
    FinalNotice,
    /// Suspend the in-scope subscriptions and send the stage's template as the suspension notice.
    Suspend,
}

/// One rung of the ladder (`[[dunning.stages]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Stage name, used in idempotency keys and shown to people (e.g. `reminder-1`).
    pub name: String,
    /// Days past due at which the stage is reached (negative: before the due date).
    pub days: i64,
    /// Email template name.
    pub template: String,
    #[serde(default)]
    pub kind: StageKind,
    /// The stage is reached only if the customer's outstanding overdue amount in the invoice's
    /// currency is at least this much.
    #[serde(default)]
    pub min_overdue_amount: Option<Decimal>,
    /// Actions of this stage wait for a person's approval (for `suspend`: the suspensions).
    #[serde(default)]
    pub requires_approval: bool,
}

impl StageConfig {
    fn new(name: &str, days: i64, kind: StageKind, template: &str, approval: bool) -> StageConfig {
        StageConfig {
            name: name.to_owned(),
            days,
            template: template.to_owned(),
            kind,
            min_overdue_amount: None,
            requires_approval: approval,
        }
    }
}

/// Settings of the dunning policy (`[dunning]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DunningConfig {
    /// Plan dunning at all.
    pub enabled: bool,
    /// Minimum number of local days between two notices to the same customer.
    pub min_gap_days: i64,
    /// A suspension needs the final notice sent at least this many local days earlier.
    pub final_notice_lead_days: i64,
    /// Suspend Azure plans too (off: Azure plans are never suspended by dunning).
    pub suspend_azure_plans: bool,
    /// Billing types (`license`, `usage`) of subscriptions that may be suspended.
    pub suspend_billing_types: Vec<String>,
    /// The ladder, strictly increasing by `days`.
    pub stages: Vec<StageConfig>,
}

impl DunningConfig {
    /// True when a dunning suspension would suspend `s`: active, of a billing type in
    /// `suspend_billing_types`, and not an Azure plan unless `suspend_azure_plans`. The one
    /// definition the policy and the notices (which name what will be suspended) share.
    pub fn suspends(&self, s: &Subscription) -> bool {
        if s.status != SubscriptionStatus::Active {
            return false;
        }
        if s.is_azure_plan() && !self.suspend_azure_plans {
            return false;
        }
        let Some(bt) = &s.billing_type else {
            return false;
        };
        self.suspend_billing_types
            .iter()
            .any(|t| t.trim().eq_ignore_ascii_case(bt.as_str()))
    }
}

impl Default for DunningConfig {
    fn default() -> Self {
        DunningConfig {
            enabled: true,
            min_gap_days: 3,
            final_notice_lead_days: 7,
            suspend_azure_plans: false,
            suspend_billing_types: vec!["license".to_owned()],
            stages: vec![
                StageConfig::new("reminder-1", 1, StageKind::Notice, "reminder-1", false),
                StageConfig::new("reminder-2", 7, StageKind::Notice, "reminder-2", false),
                StageConfig::new(
                    "final-notice",
                    14,
                    StageKind::FinalNotice,
                    "final-notice",
                    false,
                ),
                StageConfig::new(
                    "suspension",
                    21,
                    StageKind::Suspend,
                    "suspension-notice",
                    true,
                ),
            ],
        }
    }
}

impl DunningConfig {
    /// Check the ladder; the message lists every problem, `; `-separated, without a section
    /// prefix (the config loader adds `[dunning]: `).
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if !(0..=MAX_DAYS).contains(&self.min_gap_days) {
            problems.push(format!(
                "min_gap_days is {}; use 0 to {MAX_DAYS}",
                self.min_gap_days
            ));
        }
        if !(0..=MAX_DAYS).contains(&self.final_notice_lead_days) {
            problems.push(format!(
                "final_notice_lead_days is {}; use 0 to {MAX_DAYS}",
                self.final_notice_lead_days
            ));
        }
        for t in &self.suspend_billing_types {
            if t.trim().is_empty() {
                problems.push("suspend_billing_types has an empty entry".to_owned());
            }
        }
        let mut names = BTreeSet::new();
        let mut finals = 0;
        let mut suspends = 0;
        for (i, s) in self.stages.iter().enumerate() {
            let label = format!("stage {} ({:?})", i + 1, s.name);
            if s.name.trim().is_empty() || s.name.contains(['/', '~']) || s.name != s.name.trim() {
                problems.push(format!(
                    "{label}: the name must be non-empty, without '/', '~' or surrounding spaces"
                ));
            }
            if !names.insert(s.name.to_ascii_lowercase()) {
                problems.push(format!("{label}: the name is used twice"));
            }
            let reserved = s.name.eq_ignore_ascii_case(REACTIVATION)
                || (s.kind != StageKind::Suspend
                    && s.name.eq_ignore_ascii_case(SUSPENSION_SEGMENT));
            if reserved {
                problems.push(format!("{label}: the name is reserved; choose another"));
            }
            if s.template.trim().is_empty() {
                problems.push(format!("{label}: the template is empty"));
            }
            if !(-MAX_DAYS..=MAX_DAYS).contains(&s.days) {
                problems.push(format!(
                    "{label}: days is {}; use -{MAX_DAYS} to {MAX_DAYS}",
                    s.days
                ));
            }
            if s.min_overdue_amount.is_some_and(|m| m < Decimal::ZERO) {
                problems.push(format!("{label}: min_overdue_amount is negative"));
            }
            if let Some(prev) = i.checked_sub(1).and_then(|p| self.stages.get(p))
                && prev.days >= s.days
            {
                problems.push(format!(
                    "{label}: days must be greater than the previous stage's ({} >= {})",
                    prev.days, s.days
                ));
            }
            match s.kind {
                StageKind::Notice => {}
                StageKind::FinalNotice => finals += 1,
                StageKind::Suspend => {
                    suspends += 1;
                    if i + 1 != self.stages.len() {
                        problems.push(format!("{label}: the suspend stage must be the last stage"));
                    }
                    if self.stages[..i]
                        .iter()
                        .all(|p| p.kind != StageKind::FinalNotice)
                    {
                        problems.push(format!(
                            "{label}: a suspend stage needs a final_notice stage before it"
                        ));
                    }
                }
            }
        }
        if finals > 1 {
            problems.push(format!(
                "{finals} final_notice stages; at most one is allowed"
            ));
        }
        if suspends > 1 {
            problems.push(format!("{suspends} suspend stages; at most one is allowed"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Index of the final-notice stage.
    pub fn final_notice_index(&self) -> Option<usize> {
        self.stages
            .iter()
            .position(|s| s.kind == StageKind::FinalNotice)
    }

    /// Index of the suspend stage.
    pub fn suspend_index(&self) -> Option<usize> {
        self.stages
            .iter()
            .position(|s| s.kind == StageKind::Suspend)
    }
}

/// Why a customer could not be evaluated this run.
#[derive(Debug, thiserror::Error)]
enum CustomerError {
    #[error("the ledger could not be read: {0}")]
    Ledger(#[from] LedgerError),
    #[error("ledger action {key} has a payload cspguard cannot read ({error}); fix or cancel it")]
    Payload { key: String, error: String },
}

/// Add this policy's findings and actions.
pub fn evaluate(input: &PolicyInput<'_>, out: &mut PlanBuilder) {
    let cfg = &input.config.dunning;
    if !cfg.enabled {
        if !matches!(input.receivables, ReceivablesInput::NotConfigured) {
            out.skip(
                None,
                POLICY,
                "dunning is disabled ([dunning] enabled = false)",
            );
        }
        return;
    }
    let outcome = match input.receivables {
        ReceivablesInput::NotConfigured => return,
        ReceivablesInput::Failed { error } => {
            let mut facts = BTreeMap::new();
            facts.insert("error".to_owned(), error.clone());
            out.finding(Finding {
                fingerprint: "dunning.import_failed:partner".to_owned(),
                rule: "dunning.import_failed".to_owned(),
                severity: Severity::Critical,
                customer: None,
                summary: format!(
                    "The receivables import failed, so no customer was dunned, suspended or \
                     reactivated this run: {error}"
                ),
                facts,
            });
            out.skip(
                None,
                POLICY,
                format!("receivables import failed; no dunning action this run: {error}"),
            );
            return;
        }
        ReceivablesInput::Loaded(m) => m,
    };
    if let Err(e) = cfg.validate() {
        out.skip(
            None,
            POLICY,
            format!("invalid dunning config; no dunning action this run: {e}"),
        );
        return;
    }
    out.evaluated("dunning.overdue");
    unmatched_finding(outcome, out);

    let run = Run::new(input);
    // Only customers with receivables, with pending actions to review, or with suspensions
    // cspguard made can need anything from the ladder; the rest of the tenant costs nothing.
    let mut customers: BTreeSet<String> = outcome.matched.keys().cloned().collect();
    match input.ledger.customers_with_pending_actions() {
        Ok(pending) => customers.extend(pending),
        Err(e) => out.skip(
            None,
            POLICY,
            format!(
                "could not list pending actions ({e}); pending dunning actions of customers \
                 without receivables are not reviewed this run"
            ),
        ),
    }
    match input.ledger.active_suspensions(None) {
        Ok(sus) => customers.extend(sus.into_iter().map(|s| s.customer)),
        Err(e) => out.skip(
            None,
            POLICY,
            format!(
                "could not list cspguard's suspensions ({e}); customers without receivables \
                 are not checked for reactivation this run"
            ),
        ),
    }
    let empty = Vec::new();
    for c in &customers {
        let rows = outcome.matched.get(c).unwrap_or(&empty);
        run.customer(c, rows, out);
    }
}

fn unmatched_finding(outcome: &MatchOutcome, out: &mut PlanBuilder) {
    if outcome.unmatched.is_empty() {
        return;
    }
    let mut by_reason: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for u in &outcome.unmatched {
        by_reason
            .entry(u.reason.to_string())
            .or_default()
            .push(u.receivable.invoice.as_str());
    }
    let n = outcome.unmatched.len();
    let mut facts = BTreeMap::new();
    facts.insert("count".to_owned(), n.to_string());
    let parts: Vec<String> = by_reason
        .iter()
        .map(|(reason, invs)| {
            facts.insert(format!("reason: {reason}"), invs.join(", "));
            format!("{} ({}: {})", reason, invs.len(), preview(invs))
        })
        .collect();
    out.finding(Finding {
        fingerprint: "dunning.unmatched:partner".to_owned(),
        rule: "dunning.unmatched".to_owned(),
        severity: Severity::Info,
        customer: None,
        summary: format!(
            "{n} receivable {} matched no Partner Center customer and {} not dunned: {}",
            plural(n as i64, "row", "rows"),
            if n == 1 { "is" } else { "are" },
            parts.join("; ")
        ),
        facts,
    });
}

fn preview(items: &[&str]) -> String {
    const MAX: usize = 5;
    let shown: Vec<&str> = items.iter().take(MAX).copied().collect();
    if items.len() > MAX {
        format!("{} and {} more", shown.join(", "), items.len() - MAX)
    } else {
        shown.join(", ")
    }
}

/// One receivable as the ladder sees it.
struct Inv<'r> {
    r: &'r Receivable,
    dpd: i64,
    outstanding: Decimal,
    /// The invoice hold in force, if any.
    hold: Option<Hold>,
    /// Highest stage reached (days and minimum amount), for invoices that are dunnable.
    due: Option<usize>,
    /// Highest stage of a live dunning action naming it.
    sent: Option<usize>,
}

impl Inv<'_> {
    fn eligible(&self) -> bool {
        self.hold.is_none()
    }
}

/// A dunning action found in the ledger.
struct DunAction<'l> {
    row: &'l ActionRow,
    what: DunKind,
    /// Local date it was sent (notice row, or `done`), for notices.
    sent: Option<Date>,
}

enum DunKind {
    Notice {
        stage: String,
        invoices: Vec<(String, usize)>,
        suspension_date: Option<Date>,
    },
    Suspend {
        driver: String,
    },
}

fn is_live(s: ActionStatus) -> bool {
    !matches!(s, ActionStatus::Cancelled | ActionStatus::Expired)
}

fn is_pending(s: ActionStatus) -> bool {
    matches!(
        s,
        ActionStatus::Planned
            | ActionStatus::AwaitingApproval
            | ActionStatus::Approved
            | ActionStatus::Executing
            | ActionStatus::Uncertain
    )
}

fn is_cancellable(s: ActionStatus) -> bool {
    matches!(
        s,
        ActionStatus::Planned | ActionStatus::AwaitingApproval | ActionStatus::Approved
    )
}

/// The ledger's history of one customer, read once.
struct History {
    actions: Vec<ActionRow>,
    notices: Vec<NoticeRow>,
    suspensions: Vec<Suspension>,
}

/// The next dunning step of a customer.
enum Step {
    Notice(usize),
    Suspend,
}

/// Where a notice goes.
struct Recipient {
    to: String,
    cc: Vec<String>,
    locale: Option<String>,
}

enum RecipientError {
    /// Detail must be fetched first.
    NeedDetail,
    /// Detail could not be read.
    Failed(String),
    /// No usable address.
    NoContact(String),
}

struct Run<'a, 'b> {
    input: &'a PolicyInput<'b>,
    cfg: &'a DunningConfig,
    today: Date,
    final_idx: Option<usize>,
    suspend_idx: Option<usize>,
}

impl<'a, 'b> Run<'a, 'b> {
    fn new(input: &'a PolicyInput<'b>) -> Self {
        let cfg = &input.config.dunning;
        Run {
            input,
            cfg,
            today: input.today(),
            final_idx: cfg.final_notice_index(),
            suspend_idx: cfg.suspend_index(),
        }
    }

    fn stage(&self, i: usize) -> Option<&StageConfig> {
        self.cfg.stages.get(i)
    }

    fn stage_name(&self, i: usize) -> &str {
        self.stage(i).map_or("?", |s| s.name.as_str())
    }

    fn local_date(&self, t: Timestamp) -> Date {
        t.to_zoned(self.input.tz.clone()).date()
    }

    fn company(&self, c: &str) -> String {
        self.input
            .snapshot
            .company_name(c)
            .map_or_else(|| c.to_owned(), str::to_owned)
    }

    fn history(&self, c: &str) -> Result<History, CustomerError> {
        let l = self.input.ledger;
        Ok(History {
            actions: l.actions_for_customer(c)?,
            notices: l.notices_for_customer(c)?,
            suspensions: l.active_suspensions(Some(c))?,
        })
    }

    /// The dunning actions (`notice/…` customer notices and `suspend/…` non-payment suspends).
    fn dunning_actions<'l>(
        &self,
        c: &str,
        h: &'l History,
    ) -> Result<Vec<DunAction<'l>>, CustomerError> {
        let last = self.cfg.stages.len().saturating_sub(1);
        let mut out = Vec::new();
        for row in &h.actions {
            let notice = row.kind == "customer_notice" && row.key.starts_with("notice/");
            let suspend = row.kind == "suspend" && row.key.starts_with("suspend/");
            if !notice && !suspend {
                continue;
            }
            let kind: ActionKind = serde_json::from_value(row.payload.clone()).map_err(|e| {
                CustomerError::Payload {
                    key: row.key.clone(),
                    error: e.to_string(),
                }
            })?;
            let what = match kind {
                ActionKind::CustomerNotice {
                    stage,
                    invoices,
                    suspension_date,
                    ..
                } => DunKind::Notice {
                    stage,
                    invoices: invoices
                        .into_iter()
                        .map(|i| (i.invoice, i.stage_index.min(last)))
                        .collect(),
                    suspension_date,
                },
                ActionKind::Suspend {
                    reason: SuspendReason::Nonpayment,
                    ..
                } => match suspend_key_invoice(c, &row.key) {
                    Some(driver) => DunKind::Suspend { driver },
                    None => {
                        return Err(CustomerError::Payload {
                            key: row.key.clone(),
                            error: "the key names no invoice".to_owned(),
                        });
                    }
                },
                _ => continue,
            };
            let sent = match what {
                DunKind::Notice { .. } => {
                    let noticed = h
                        .notices
                        .iter()
                        .filter(|n| n.action_key.as_deref() == Some(row.key.as_str()))
                        .map(|n| self.local_date(n.sent_at))
                        .min();
                    let done = (row.status == ActionStatus::Done)
                        .then(|| self.local_date(row.finished_at.unwrap_or(row.updated_at)));
                    match (noticed, done) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    }
                }
                DunKind::Suspend { .. } => None,
            };
            out.push(DunAction { row, what, sent });
        }
        Ok(out)
    }

    /// Local date of the last notice of any kind to the customer.
    fn last_notice(&self, h: &History) -> Option<Date> {
        let rows = h.notices.iter().map(|n| self.local_date(n.sent_at));
        let done = h
            .actions
            .iter()
            .filter(|a| a.kind == "customer_notice" && a.status == ActionStatus::Done)
            .map(|a| self.local_date(a.finished_at.unwrap_or(a.updated_at)));
        rows.chain(done).max()
    }

    fn customer(&self, c: &str, rows: &[Receivable], out: &mut PlanBuilder) {
        let name = self.company(c);
        let mut invs: Vec<Inv<'_>> = rows
            .iter()
            .filter(|r| r.status == InvoiceStatus::Open && r.outstanding() > Decimal::ZERO)
            .map(|r| Inv {
                r,
                dpd: r.days_past_due(self.today),
                outstanding: r.outstanding(),
                hold: None,
                due: None,
                sent: None,
            })
            .collect();

        let history = match self.history(c) {
            Ok(h) => h,
            Err(e) => {
                self.overdue_finding(c, &name, &invs, None, None, out);
                out.skip(Some(c), POLICY, format!("{name}: {e}"));
                return;
            }
        };
        let last_notice = self.last_notice(&history);

        // Holds: customer-wide first, then per invoice.
        let holds = (|| -> Result<_, LedgerError> {
            let customer_hold = self.input.ledger.hold_for(c, None, self.input.now)?;
            let mut per_invoice = Vec::new();
            for inv in &invs {
                per_invoice.push(
                    self.input
                        .ledger
                        .hold_for(c, Some(&inv.r.invoice), self.input.now)?
                        .filter(|h| h.invoice.is_some()),
                );
            }
            Ok((customer_hold, per_invoice))
        })();
        let customer_hold = match holds {
            Ok((customer_hold, per_invoice)) => {
                for (inv, hold) in invs.iter_mut().zip(per_invoice) {
                    inv.hold = hold;
                }
                customer_hold
            }
            Err(e) => {
                self.overdue_finding(c, &name, &invs, last_notice, None, out);
                out.skip(
                    Some(c),
                    POLICY,
                    format!("{name}: could not read holds from the ledger: {e}"),
                );
                return;
            }
        };
        self.compute_due(&mut invs);

        let exempt = self.input.config.customer(c).is_some_and(|o| o.exempt);
        let stopped = match (&customer_hold, exempt) {
            (Some(h), _) => Some(format!(
                "customer on hold until {} ({}, placed by {})",
                h.until, h.reason, h.placed_by
            )),
            (None, true) => Some("customer is exempt from dunning (config)".to_owned()),
            (None, false) => None,
        };
        self.overdue_finding(c, &name, &invs, last_notice, stopped.as_deref(), out);
        self.disputed_skip(c, &name, rows, out);

        let actions = match self.dunning_actions(c, &history) {
            Ok(a) => a,
            Err(e) => {
                out.skip(Some(c), POLICY, format!("{name}: {e}"));
                return;
            }
        };
        for inv in &mut invs {
            inv.sent = sent_stage(&actions, &inv.r.invoice, self.suspend_idx);
        }

        let cancelled = self.cancellations(&name, &invs, &actions, stopped.as_deref(), out);
        let reactivating = self.reactivation(c, &name, rows, &history, out);

        if let Some(why) = stopped {
            if invs.iter().any(|i| i.due.is_some()) {
                out.skip(
                    Some(c),
                    POLICY,
                    format!("{name}: {why}; the ladder is stopped"),
                );
            }
            return;
        }
        if invs.iter().all(|i| !needs_step(i)) {
            return;
        }
        if reactivating {
            out.skip(
                Some(c),
                POLICY,
                format!(
                    "{name}: waiting: the reactivation confirmation goes out this run; the next \
                     dunning notice waits for a later run"
                ),
            );
            return;
        }
        if let Some(p) = actions
            .iter()
            .find(|a| is_pending(a.row.status) && !cancelled.contains(a.row.key.as_str()))
        {
            out.skip(
                Some(c),
                POLICY,
                format!(
                    "{name}: waiting: {} is still {}; nothing new is planned until it is settled",
                    p.row.key, p.row.status
                ),
            );
            return;
        }
        self.ladder(c, &name, &invs, &actions, &history, last_notice, out);
    }

    /// Due stage of each eligible invoice: the highest stage whose day is reached and whose
    /// minimum amount is met by the customer's eligible outstanding in that currency.
    fn compute_due(&self, invs: &mut [Inv<'_>]) {
        let mut due = Vec::with_capacity(invs.len());
        for inv in invs.iter() {
            if !inv.eligible() {
                due.push(None);
                continue;
            }
            let d = self
                .cfg
                .stages
                .iter()
                .enumerate()
                .rev()
                .find(|(_, s)| {
                    s.days <= inv.dpd
                        && s.min_overdue_amount.is_none_or(|min| {
                            let from = s.days.min(1);
                            let total: Decimal = invs
                                .iter()
                                .filter(|o| {
                                    o.eligible() && o.r.currency == inv.r.currency && o.dpd >= from
                                })
                                .map(|o| o.outstanding)
                                .sum();
                            total >= min
                        })
                })
                .map(|(i, _)| i);
            due.push(d);
        }
        for (inv, d) in invs.iter_mut().zip(due) {
            inv.due = d;
        }
    }

    fn disputed_skip(&self, c: &str, name: &str, rows: &[Receivable], out: &mut PlanBuilder) {
        let first = self.cfg.stages.first().map_or(1, |s| s.days);
        let disputed: Vec<String> = rows
            .iter()
            .filter(|r| {
                r.status == InvoiceStatus::Disputed
                    && r.outstanding() > Decimal::ZERO
                    && r.days_past_due(self.today) >= first
            })
            .map(|r| {
                format!(
                    "{} ({}, {})",
                    r.invoice,
                    money(r.outstanding(), &r.currency),
                    days_phrase(r.days_past_due(self.today), r.due_date)
                )
            })
            .collect();
        if !disputed.is_empty() {
            out.skip(
                Some(c),
                POLICY,
                format!("{name}: disputed, not dunned: {}", disputed.join(", ")),
            );
        }
    }

    fn overdue_finding(
        &self,
        c: &str,
        name: &str,
        invs: &[Inv<'_>],
        last_notice: Option<Date>,
        stopped: Option<&str>,
        out: &mut PlanBuilder,
    ) {
        let mut overdue: Vec<&Inv<'_>> = invs.iter().filter(|i| i.dpd >= 1).collect();
        if overdue.is_empty() {
            return;
        }
        overdue.sort_by(|a, b| {
            b.dpd
                .cmp(&a.dpd)
                .then_with(|| a.r.invoice.cmp(&b.r.invoice))
        });
        let Some(oldest) = overdue.first() else {
            return;
        };
        let mut per_currency: BTreeMap<&str, Decimal> = BTreeMap::new();
        for i in &overdue {
            *per_currency.entry(i.r.currency.as_str()).or_default() += i.outstanding;
        }
        let top = invs.iter().filter_map(|i| i.due).max();
        let stage = top.map_or_else(
            || "none reached".to_owned(),
            |s| self.stage_name(s).to_owned(),
        );
        let held: Vec<&str> = overdue
            .iter()
            .filter(|i| i.hold.is_some())
            .map(|i| i.r.invoice.as_str())
            .collect();
        let last = last_notice.map_or_else(|| "none".to_owned(), |d| d.to_string());

        let mut facts = BTreeMap::new();
        facts.insert("company".to_owned(), name.to_owned());
        facts.insert("overdue_invoices".to_owned(), overdue.len().to_string());
        facts.insert("oldest_invoice".to_owned(), oldest.r.invoice.clone());
        facts.insert("oldest_days_past_due".to_owned(), oldest.dpd.to_string());
        for (cur, amt) in &per_currency {
            facts.insert(format!("outstanding_{cur}"), amt.to_string());
        }
        facts.insert("stage".to_owned(), stage.clone());
        facts.insert("last_notice".to_owned(), last.clone());
        if !held.is_empty() {
            facts.insert("invoices_on_hold".to_owned(), held.join(", "));
        }
        if let Some(s) = stopped {
            facts.insert("ladder_stopped".to_owned(), s.to_owned());
        }

        let mut summary = if overdue.len() == 1 {
            format!(
                "{name}: invoice {} {} is {}",
                oldest.r.invoice,
                money(oldest.outstanding, &oldest.r.currency),
                days_phrase(oldest.dpd, oldest.r.due_date)
            )
        } else {
            let total: Vec<String> = per_currency.iter().map(|(c, a)| money(*a, c)).collect();
            format!(
                "{name}: {} invoices overdue, {} outstanding; oldest {} ({}) is {}",
                overdue.len(),
                total.join(" + "),
                oldest.r.invoice,
                money(oldest.outstanding, &oldest.r.currency),
                days_phrase(oldest.dpd, oldest.r.due_date)
            )
        };
        summary.push_str(&format!("; stage {stage}; last notice {last}"));
        if !held.is_empty() {
            summary.push_str(&format!("; on hold: {}", held.join(", ")));
        }
        if let Some(s) = stopped {
            summary.push_str(&format!("; {s}"));
        }
        let severity = if top.unwrap_or(0) >= 1 {
            Severity::Warning
        } else {
            Severity::Info
        };
        out.finding(Finding {
            fingerprint: format!("dunning.overdue:{c}"),
            rule: "dunning.overdue".to_owned(),
            severity,
            customer: Some(c.to_owned()),
            summary,
            facts,
        });
    }

    /// Cancel pending dunning actions that should no longer happen; returns their keys.
    fn cancellations<'l>(
        &self,
        name: &str,
        invs: &[Inv<'_>],
        actions: &'l [DunAction<'l>],
        stopped: Option<&str>,
        out: &mut PlanBuilder,
    ) -> BTreeSet<&'l str> {
        let mut cancelled = BTreeSet::new();
        let dunnable: BTreeMap<&str, &Inv<'_>> = invs
            .iter()
            .filter(|i| i.eligible())
            .map(|i| (i.r.invoice.as_str(), i))
            .collect();
        let at_suspension = self
            .suspend_idx
            .is_some_and(|s| invs.iter().any(|i| i.due.is_some_and(|d| d >= s)));
        let suspend_name = self.suspend_idx.map(|s| self.stage_name(s));
        for a in actions {
            if !is_cancellable(a.row.status) {
                continue;
            }
            let reason = match (&a.what, stopped) {
                (DunKind::Notice { invoices, .. }, _) if invoices.is_empty() => None,
                (_, Some(why)) => Some(format!("{name}: {why}")),
                (DunKind::Suspend { driver }, None) => (!at_suspension).then(|| {
                    format!(
                        "{name}: no invoice is at the suspension stage any more ({driver} {})",
                        self.state_of(driver, invs)
                    )
                }),
                (DunKind::Notice { stage, .. }, None)
                    if Some(stage.as_str()) == suspend_name && !at_suspension =>
                {
                    Some(format!(
                        "{name}: no invoice is at the suspension stage any more"
                    ))
                }
                (DunKind::Notice { invoices, .. }, None) => {
                    let any_open = invoices
                        .iter()
                        .any(|(i, _)| dunnable.contains_key(i.as_str()));
                    (!any_open).then(|| {
                        let states: Vec<String> = invoices
                            .iter()
                            .map(|(i, _)| format!("{i} {}", self.state_of(i, invs)))
                            .collect();
                        format!("{name}: nothing in it is still owed: {}", states.join(", "))
                    })
                }
            };
            if let Some(r) = reason {
                out.cancel(a.row.key.clone(), r);
                cancelled.insert(a.row.key.as_str());
            }
        }
        cancelled
    }

    fn state_of(&self, invoice: &str, invs: &[Inv<'_>]) -> String {
        match invs.iter().find(|i| i.r.invoice == invoice) {
            Some(i) if i.hold.is_some() => "is on hold".to_owned(),
            Some(i) => format!("still owes {}", money(i.outstanding, &i.r.currency)),
            None => receivables_row(self.input, invoice).map_or_else(
                || "is no longer in the receivables export".to_owned(),
                |r| format!("is {}", r.status),
            ),
        }
    }

    /// Plan reactivations when the customer is in good standing; true if any were planned.
    fn reactivation(
        &self,
        c: &str,
        name: &str,
        rows: &[Receivable],
        h: &History,
        out: &mut PlanBuilder,
    ) -> bool {
        let threshold = self
            .suspend_idx
            .and_then(|i| self.stage(i))
            .map_or(1, |s| s.days);
        let blocking: Vec<&Receivable> = rows
            .iter()
            .filter(|r| {
                matches!(r.status, InvoiceStatus::Open | InvoiceStatus::Disputed)
                    && r.outstanding() > Decimal::ZERO
                    && r.days_past_due(self.today) >= threshold
            })
            .collect();
        let ours: Vec<&Suspension> = h
            .suspensions
            .iter()
            .filter(|s| s.customer == c && is_nonpayment(&s.reason))
            .collect();
        let Some(first) = ours.first() else {
            return false;
        };
        if let Some(b) = blocking.first() {
            out.skip(
                Some(c),
                POLICY,
                format!(
                    "{name}: stays suspended: {} ({}) is {} and {}",
                    b.invoice,
                    money(b.outstanding(), &b.currency),
                    days_phrase(b.days_past_due(self.today), b.due_date),
                    b.status
                ),
            );
            return false;
        }
        let mut keys = Vec::new();
        for s in &ours {
            let key = format!("reactivate/{c}/{}/{}", s.subscription, s.action_key);
            out.action(PlannedAction {
                key: key.clone(),
                customer: Some(c.to_owned()),
                kind: ActionKind::Reactivate {
                    subscription_id: s.subscription.clone(),
                    suspension_key: s.action_key.clone(),
                },
                requires_approval: false,
                reason: format!(
                    "{name} has paid: no invoice is {threshold}+ days past due any more; \
                     cspguard suspended subscription {} on {} ({})",
                    s.subscription,
                    self.local_date(s.suspended_at),
                    s.action_key
                ),
                findings: vec![format!("dunning.overdue:{c}")],
                after: vec![],
            });
            keys.push(key);
        }
        let notice_key = format!("notice/{c}/{REACTIVATION}/{}", first.action_key);
        match self.recipient(c, rows.iter().filter_map(|r| r.contact_email.as_deref())) {
            Ok(rcpt) => {
                out.action(PlannedAction {
                    key: notice_key,
                    customer: Some(c.to_owned()),
                    kind: ActionKind::CustomerNotice {
                        template: REACTIVATION.to_owned(),
                        stage: REACTIVATION.to_owned(),
                        to: Some(rcpt.to),
                        cc: rcpt.cc,
                        locale_hint: rcpt.locale,
                        invoices: vec![],
                        suspension_date: None,
                    },
                    requires_approval: false,
                    reason: format!(
                        "{name}: confirms the reactivation of {} {}",
                        ours.len(),
                        plural(ours.len() as i64, "subscription", "subscriptions")
                    ),
                    findings: vec![],
                    after: keys,
                });
            }
            Err(e) => self.recipient_problem(c, name, 0, e, false, out),
        }
        true
    }

    fn recipient_problem(
        &self,
        c: &str,
        name: &str,
        overdue: usize,
        e: RecipientError,
        suspend: bool,
        out: &mut PlanBuilder,
    ) {
        match e {
            RecipientError::NeedDetail => {
                out.need_detail(
                    c,
                    DetailNeed {
                        profile: true,
                        subscriptions: suspend,
                    },
                );
                out.skip(
                    Some(c),
                    POLICY,
                    format!("{name}: detail not fetched yet; no notice in this pass"),
                );
            }
            RecipientError::Failed(err) => out.skip(
                Some(c),
                POLICY,
                format!("{name}: the billing profile could not be read ({err}); no notice"),
            ),
            RecipientError::NoContact(why) => {
                let mut facts = BTreeMap::new();
                facts.insert("overdue_invoices".to_owned(), overdue.to_string());
                facts.insert("problem".to_owned(), why.clone());
                out.finding(Finding {
                    fingerprint: format!("dunning.no_contact:{c}"),
                    rule: "dunning.no_contact".to_owned(),
                    severity: Severity::Warning,
                    customer: Some(c.to_owned()),
                    summary: if overdue == 0 {
                        format!(
                            "{name}: no usable email address for the reactivation confirmation \
                             ({why}); set [customers.\"{c}\"] email or fix the billing profile"
                        )
                    } else {
                        format!(
                            "{name} has {overdue} overdue {} but no usable email address ({why}); \
                             set [customers.\"{c}\"] email or fix the billing profile",
                            plural(overdue as i64, "invoice", "invoices")
                        )
                    },
                    facts,
                });
                out.skip(
                    Some(c),
                    POLICY,
                    format!("{name}: no usable email address; no notice"),
                );
            }
        }
    }

    /// Recipient: override email > receivables contact email > billing profile email.
    fn recipient<'r>(
        &self,
        c: &str,
        contacts: impl Iterator<Item = &'r str>,
    ) -> Result<Recipient, RecipientError> {
        let ov = self.input.config.customer(c);
        let ov_email = ov.and_then(|o| o.email.as_deref()).map(str::trim);
        let ov_locale = ov.and_then(|o| o.locale.clone());
        let cc = ov.map(|o| o.cc.clone()).unwrap_or_default();
        let profile: Option<&CustomerBillingProfile> = if ov_email.is_some() && ov_locale.is_some()
        {
            None
        } else {
            match self
                .input
                .snapshot
                .details
                .get(c)
                .map(|d| &d.billing_profile)
            {
                None | Some(Section::NotChecked { .. }) => return Err(RecipientError::NeedDetail),
                Some(Section::Failed { error }) => {
                    return Err(RecipientError::Failed(error.clone()));
                }
                Some(Section::Ok { data }) => Some(data),
            }
        };
        let locale = ov_locale.or_else(|| {
            profile
                .and_then(|p| p.culture().or(p.language()))
                .map(str::to_owned)
        });
        let to = if let Some(e) = ov_email {
            check_email(e).map_err(|why| {
                RecipientError::NoContact(format!("the configured email {e:?}: {why}"))
            })?;
            e.to_owned()
        } else {
            let mut tried = Vec::new();
            let mut candidates: Vec<&str> = contacts.map(str::trim).collect();
            candidates.extend(profile.and_then(CustomerBillingProfile::email));
            let found = candidates.into_iter().find(|e| {
                let ok = check_email(e).is_ok();
                if !ok {
                    tried.push(format!("{e:?}"));
                }
                ok
            });
            match found {
                Some(e) => e.to_owned(),
                None if tried.is_empty() => {
                    return Err(RecipientError::NoContact(
                        "no contact email in the receivables and none in the billing profile"
                            .to_owned(),
                    ));
                }
                None => {
                    return Err(RecipientError::NoContact(format!(
                        "unusable: {}",
                        tried.join(", ")
                    )));
                }
            }
        };
        Ok(Recipient { to, cc, locale })
    }

    /// Decide and plan the next step of a customer whose invoices need one.
    #[allow(clippy::too_many_arguments)]
    fn ladder(
        &self,
        c: &str,
        name: &str,
        invs: &[Inv<'_>],
        actions: &[DunAction<'_>],
        h: &History,
        last_notice: Option<Date>,
        out: &mut PlanBuilder,
    ) {
        // The driver: the invoice needing a step with the highest due stage.
        let mut needing: Vec<&Inv<'_>> = invs.iter().filter(|i| needs_step(i)).collect();
        needing.sort_by(|a, b| {
            b.due
                .cmp(&a.due)
                .then_with(|| a.r.due_date.cmp(&b.r.due_date))
                .then_with(|| a.r.invoice.cmp(&b.r.invoice))
        });
        let Some(driver) = needing.first().copied() else {
            return;
        };
        let Some(due) = driver.due else {
            return;
        };
        let step = match (self.suspend_idx, self.final_idx) {
            (Some(s), Some(f)) if due == s => {
                if driver.sent.is_none_or(|x| x < f) {
                    Step::Notice(f)
                } else {
                    match final_notice_evidence(actions, &driver.r.invoice, f) {
                        None => {
                            out.skip(
                                Some(c),
                                POLICY,
                                format!(
                                    "{name}: suspension waits: no final notice for {} was sent \
                                     yet",
                                    driver.r.invoice
                                ),
                            );
                            return;
                        }
                        Some((sent, named)) => {
                            let lead = add_days(sent, self.cfg.final_notice_lead_days);
                            let from = named.map_or(lead, |n| n.max(lead));
                            if self.today < from {
                                out.skip(
                                    Some(c),
                                    POLICY,
                                    format!(
                                        "{name}: suspension waits: final notice sent {sent}, \
                                         suspension allowed from {from}"
                                    ),
                                );
                                return;
                            }
                            Step::Suspend
                        }
                    }
                }
            }
            _ => Step::Notice(due),
        };

        if let Some(last) = last_notice {
            let next = add_days(last, self.cfg.min_gap_days);
            if self.today < next {
                out.skip(
                    Some(c),
                    POLICY,
                    format!(
                        "{name}: waiting: last notice on {last}; next notice allowed from {next} \
                         (min gap {} days)",
                        self.cfg.min_gap_days
                    ),
                );
                return;
            }
        }

        let stage_idx = match step {
            Step::Notice(i) => i,
            Step::Suspend => due,
        };
        let Some(stage) = self.stage(stage_idx) else {
            return;
        };
        let suspend = matches!(step, Step::Suspend);
        let overdue = invs.iter().filter(|i| i.dpd >= 1 && i.eligible()).count();

        // Detail first: nothing is planned for a customer whose detail is missing.
        let subs = if suspend {
            match self.input.snapshot.details.get(c).map(|d| &d.subscriptions) {
                None | Some(Section::NotChecked { .. }) => {
                    self.recipient_problem(c, name, overdue, RecipientError::NeedDetail, true, out);
                    return;
                }
                Some(Section::Failed { error }) => {
                    out.skip(
                        Some(c),
                        POLICY,
                        format!("{name}: subscriptions could not be read ({error}); no suspension"),
                    );
                    return;
                }
                Some(Section::Ok { data }) => Some(data),
            }
        } else {
            None
        };
        let contacts = std::iter::once(driver)
            .chain(invs.iter())
            .filter_map(|i| i.r.contact_email.as_deref());
        let rcpt = match self.recipient(c, contacts) {
            Ok(r) => r,
            Err(e) => {
                self.recipient_problem(c, name, overdue, e, suspend, out);
                return;
            }
        };

        // The invoices the notice lists, with the stage each reaches.
        let mut listed: Vec<&Inv<'_>> = invs.iter().filter(|i| i.due.is_some()).collect();
        listed.sort_by(|a, b| {
            a.r.due_date
                .cmp(&b.r.due_date)
                .then_with(|| a.r.invoice.cmp(&b.r.invoice))
        });
        let notice_invoices: Vec<NoticeInvoice> = listed
            .iter()
            .map(|i| NoticeInvoice {
                invoice: i.r.invoice.clone(),
                due_date: i.r.due_date,
                days_past_due: i.dpd,
                amount: i.r.amount,
                outstanding: i.outstanding,
                currency: i.r.currency.clone(),
                stage_index: i.due.unwrap_or(0).min(stage_idx),
            })
            .collect();

        let mut reason = format!(
            "{} ({}) {}; stage {} reached at {}",
            driver.r.invoice,
            money(driver.outstanding, &driver.r.currency),
            days_phrase(driver.dpd, driver.r.due_date),
            self.stage_name(due),
            signed(self.stage(due).map_or(0, |s| s.days)),
        );
        let from = driver.sent.map_or(0, |s| s + 1);
        let missed: Vec<&str> = (from..stage_idx).map(|i| self.stage_name(i)).collect();
        if !missed.is_empty() {
            reason.push_str(&format!(
                "; catch-up: {} not sent, only this notice is",
                missed.join(", ")
            ));
        }
        let others: Vec<String> = listed
            .iter()
            .filter(|i| i.r.invoice != driver.r.invoice)
            .map(|i| {
                format!(
                    "{} ({}, {})",
                    i.r.invoice,
                    money(i.outstanding, &i.r.currency),
                    days_phrase(i.dpd, i.r.due_date)
                )
            })
            .collect();
        if !others.is_empty() {
            reason.push_str(&format!("; also listed: {}", others.join(", ")));
        }
        let fp = vec![format!("dunning.overdue:{c}")];

        match step {
            Step::Notice(i) => {
                let suspension_date = (self.stage(i).map(|s| s.kind)
                    == Some(StageKind::FinalNotice))
                .then(|| {
                    let lead = add_days(self.today, self.cfg.final_notice_lead_days);
                    match self.suspend_idx.and_then(|s| self.stage(s)) {
                        Some(s) => add_days(driver.r.due_date, s.days).max(lead),
                        None => lead,
                    }
                })
                .filter(|_| self.suspend_idx.is_some());
                if let Some(d) = suspension_date {
                    reason.push_str(&format!("; names suspension date {d}"));
                }
                let base = format!("notice/{c}/{}/{}", stage.name, driver.r.invoice);
                let key = match self.free_key(&base, &h.actions) {
                    Ok(k) => k,
                    Err(why) => {
                        out.skip(Some(c), POLICY, format!("{name}: {why}"));
                        return;
                    }
                };
                out.action(PlannedAction {
                    key,
                    customer: Some(c.to_owned()),
                    kind: ActionKind::CustomerNotice {
                        template: stage.template.clone(),
                        stage: stage.name.clone(),
                        to: Some(rcpt.to),
                        cc: rcpt.cc,
                        locale_hint: rcpt.locale,
                        invoices: notice_invoices,
                        suspension_date,
                    },
                    requires_approval: stage.requires_approval,
                    reason,
                    findings: fp,
                    after: vec![],
                });
            }
            Step::Suspend => {
                let subs = subs.map(Vec::as_slice).unwrap_or_default();
                let in_scope: Vec<&Subscription> =
                    subs.iter().filter(|s| self.in_scope(s)).collect();
                if in_scope.is_empty() {
                    out.skip(
                        Some(c),
                        POLICY,
                        format!(
                            "{name}: suspension stage reached for {} but no subscription is in \
                             scope ({} subscriptions; only active ones of billing type {}{} are \
                             suspended)",
                            driver.r.invoice,
                            subs.len(),
                            self.cfg.suspend_billing_types.join("/"),
                            if self.cfg.suspend_azure_plans {
                                ""
                            } else {
                                ", never Azure plans"
                            }
                        ),
                    );
                    return;
                }
                let mut planned = Vec::new();
                for s in &in_scope {
                    let base = format!("suspend/{c}/{}/{}", s.id, driver.r.invoice);
                    let key = match self.free_key(&base, &h.actions) {
                        Ok(k) => k,
                        Err(why) => {
                            out.skip(Some(c), POLICY, format!("{name}: {why}"));
                            return;
                        }
                    };
                    planned.push((key, *s));
                }
                let base = format!("notice/{c}/{SUSPENSION_SEGMENT}/{}", driver.r.invoice);
                let notice_key = match self.free_key(&base, &h.actions) {
                    Ok(k) => k,
                    Err(why) => {
                        out.skip(Some(c), POLICY, format!("{name}: {why}"));
                        return;
                    }
                };
                let mut after = Vec::new();
                for (key, s) in planned {
                    out.action(PlannedAction {
                        key: key.clone(),
                        customer: Some(c.to_owned()),
                        kind: ActionKind::Suspend {
                            subscription_id: s.id.clone(),
                            reason: SuspendReason::Nonpayment,
                        },
                        requires_approval: stage.requires_approval,
                        reason: format!(
                            "{reason}; suspends {} ({})",
                            s.friendly_name
                                .as_deref()
                                .or(s.offer_name.as_deref())
                                .unwrap_or(&s.id),
                            s.id
                        ),
                        findings: fp.clone(),
                        after: vec![],
                    });
                    after.push(key);
                }
                out.action(PlannedAction {
                    key: notice_key,
                    customer: Some(c.to_owned()),
                    kind: ActionKind::CustomerNotice {
                        template: stage.template.clone(),
                        stage: stage.name.clone(),
                        to: Some(rcpt.to),
                        cc: rcpt.cc,
                        locale_hint: rcpt.locale,
                        invoices: notice_invoices,
                        suspension_date: None,
                    },
                    requires_approval: false,
                    reason: format!(
                        "{reason}; tells the customer that {} {} suspended",
                        after.len(),
                        plural(after.len() as i64, "subscription was", "subscriptions were")
                    ),
                    findings: fp,
                    after,
                });
            }
        }
    }

    fn in_scope(&self, s: &Subscription) -> bool {
        self.cfg.suspends(s)
    }

    /// The key to plan under: `base`, or `base` with `~N` after its third segment (the stage or
    /// the subscription) when earlier attempts were cancelled by cspguard or expired. A
    /// cancellation by a person is final.
    fn free_key(&self, base: &str, actions: &[ActionRow]) -> Result<String, String> {
        const MAX_ATTEMPTS: usize = 20;
        for n in 1..=MAX_ATTEMPTS {
            let key = if n == 1 {
                base.to_owned()
            } else {
                with_generation(base, n)
            };
            match actions.iter().find(|a| a.key == key) {
                None => return Ok(key),
                Some(a) if is_live(a.status) => return Ok(key),
                Some(a)
                    if a.status == ActionStatus::Cancelled
                        && !a
                            .rejected_by
                            .as_deref()
                            .is_some_and(|w| w.eq_ignore_ascii_case(SYSTEM_ACTOR)) =>
                {
                    return Err(format!(
                        "{key} was cancelled by {}{}{}; cspguard does not plan it again (place a \
                         hold, or pay/void the invoice)",
                        a.rejected_by.as_deref().unwrap_or("a person"),
                        a.rejected_at
                            .map(|t| format!(" on {}", self.local_date(t)))
                            .unwrap_or_default(),
                        a.rejection_reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ));
                }
                Some(_) => {}
            }
        }
        Err(format!(
            "{base} was cancelled or expired {MAX_ATTEMPTS} times; not planned again"
        ))
    }
}

/// A receivable row by invoice number, across all matched customers.
fn receivables_row<'i>(input: &'i PolicyInput<'_>, invoice: &str) -> Option<&'i Receivable> {
    match input.receivables {
        ReceivablesInput::Loaded(m) => m.matched.values().flatten().find(|r| r.invoice == invoice),
        _ => None,
    }
}

/// `notice/{c}/{stage}/{invoice}` -> `notice/{c}/{stage}~n/{invoice}` (likewise for the
/// subscription of a `suspend/…` key).
fn with_generation(base: &str, n: usize) -> String {
    let mut parts: Vec<String> = base.splitn(4, '/').map(str::to_owned).collect();
    if let Some(p) = parts.get_mut(2) {
        p.push_str(&format!("~{n}"));
    }
    parts.join("/")
}

fn needs_step(i: &Inv<'_>) -> bool {
    match (i.due, i.sent) {
        (Some(d), Some(s)) => d > s,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Highest stage of a live dunning action naming `invoice`.
fn sent_stage(
    actions: &[DunAction<'_>],
    invoice: &str,
    suspend_idx: Option<usize>,
) -> Option<usize> {
    actions
        .iter()
        .filter(|a| is_live(a.row.status))
        .filter_map(|a| match &a.what {
            DunKind::Notice { invoices, .. } => invoices
                .iter()
                .filter(|(i, _)| i == invoice)
                .map(|(_, s)| *s)
                .max(),
            DunKind::Suspend { driver } => (driver == invoice).then_some(suspend_idx).flatten(),
        })
        .max()
}

/// The earliest sent notice taking `invoice` to the final stage or beyond: (sent date, the
/// suspension date it named).
fn final_notice_evidence(
    actions: &[DunAction<'_>],
    invoice: &str,
    final_idx: usize,
) -> Option<(Date, Option<Date>)> {
    actions
        .iter()
        .filter(|a| is_live(a.row.status))
        .filter_map(|a| match &a.what {
            DunKind::Notice {
                invoices,
                suspension_date,
                ..
            } if invoices
                .iter()
                .any(|(i, s)| i == invoice && *s >= final_idx) =>
            {
                a.sent.map(|d| (d, *suspension_date))
            }
            _ => None,
        })
        .min_by_key(|(d, _)| *d)
}

/// The invoice of a `suspend/{customer}/{subscription}/{invoice}` key.
fn suspend_key_invoice(customer: &str, key: &str) -> Option<String> {
    let rest = key
        .strip_prefix("suspend/")?
        .strip_prefix(customer)?
        .strip_prefix('/')?;
    let (_, invoice) = rest.split_once('/')?;
    (!invoice.is_empty()).then(|| invoice.to_owned())
}

/// Whether a ledger suspension reason means non-payment (as `SuspendReason::Nonpayment`).
fn is_nonpayment(reason: &str) -> bool {
    let r: String = reason
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    r.eq_ignore_ascii_case("nonpayment")
}

fn add_days(d: Date, n: i64) -> Date {
    match Span::new().try_days(n) {
        Ok(s) => d.saturating_add(s),
        Err(_) if n < 0 => Date::MIN,
        Err(_) => Date::MAX,
    }
}

fn signed(days: i64) -> String {
    if days < 0 {
        days.to_string()
    } else {
        format!("+{days}")
    }
}

fn plural(n: i64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// "15 days past due", "due today", "due in 3 days (2026-11-24)".
fn days_phrase(dpd: i64, due: Date) -> String {
    match dpd {
        0 => "due today".to_owned(),
        d if d > 0 => format!("{d} {} past due", plural(d, "day", "days")),
        d => format!("due in {} {} ({due})", -d, plural(-d, "day", "days")),
    }
}

/// "€1,240.00", "$5.00", "SEK 1,240.50".
pub fn money(amount: Decimal, currency: &str) -> String {
    // One formatter for the whole product: the English rules of `notices::format`, which know
    // each currency's minor units (JPY and KRW have none).
    crate::notices::format::format_money(amount, currency, "en")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Ledger, NewAction, NewNotice};
    use crate::plan::Plan;
    use crate::policy::testkit::{
        customer, date, dec, detail, ledger, matched, profile, receivable, run, snapshot,
        subscription, ts,
    };
    use crate::policy::{CustomerOverride, PolicyConfig};
    use crate::receivables::UnmatchedReason;
    use crate::receivables::matching::Unmatched;
    use crate::snapshot::Snapshot;

    const C: &str = "c1";

    /// One customer, Contoso, with a billing profile and three subscriptions: an active licence,
    /// an active Azure plan and a licence Microsoft suspended.
    pub(super) struct World {
        pub snap: Snapshot,
        pub rows: Vec<Receivable>,
        pub ledger: Ledger,
        pub config: PolicyConfig,
    }

    impl World {
        pub fn new() -> World {
            let mut snap = snapshot(ts("2026-11-21T08:00:00Z"));
            snap.customers = Section::Ok {
                data: vec![customer(C, "Contoso")],
            };
            snap.details.insert(
                C.into(),
                detail(
                    Some(profile(Some("ap@contoso.example"), Some("sv-SE"), "SE")),
                    vec![
                        subscription("s1", "active", "O365 E3"),
                        subscription("s2", "active", "azure"),
                        subscription("s3", "suspended", "Visio"),
                    ],
                ),
            );
            World {
                snap,
                rows: vec![],
                ledger: ledger(),
                config: PolicyConfig::default(),
            }
        }

        pub fn plan(&self, now: &str) -> Plan {
            self.plan_tz(now, None)
        }

        pub fn plan_tz(&self, now: &str, tz: Option<&str>) -> Plan {
            run(
                &self.snap,
                &matched(self.rows.clone()),
                &self.ledger,
                &self.config,
                ts(now),
                tz,
            )
        }

        /// Plan at `now` and execute everything planned at `now`.
        pub fn step(&self, now: &str) -> Plan {
            let p = self.plan(now);
            apply(&self.ledger, &p, ts(now), true);
            p
        }
    }

    /// Write a plan's actions and cancellations into the ledger; with `execute`, approve, claim
    /// and finish them as the executor would (notices recorded, suspensions recorded).
    pub(super) fn apply(l: &Ledger, p: &Plan, now: Timestamp, execute: bool) {
        for c in &p.cancellations {
            if let Some(row) = l.action_by_key(&c.key).unwrap() {
                l.cancel(row.id, SYSTEM_ACTOR, &c.reason, now).unwrap();
            }
        }
        // Suspensions and reactivations first: notices wait for them (`after`).
        let mut actions: Vec<&PlannedAction> = p.actions.iter().collect();
        actions.sort_by_key(|a| matches!(a.kind, ActionKind::CustomerNotice { .. }));
        for a in actions {
            let row = l
                .insert_action(
                    &NewAction {
                        key: a.key.clone(),
                        kind: a.kind.name().to_owned(),
                        customer: a.customer.clone(),
                        payload: serde_json::to_value(&a.kind).unwrap(),
                        requires_approval: a.requires_approval,
                        reason: a.reason.clone(),
                    },
                    now,
                )
                .unwrap();
            if !execute {
                continue;
            }
            if row.status == ActionStatus::AwaitingApproval {
                l.approve(row.id, "ops@partner", now).unwrap();
            }
            if l.claim(row.id, now).unwrap().is_none() {
                continue;
            }
            let customer = a.customer.clone().unwrap();
            match &a.kind {
                ActionKind::CustomerNotice { to, template, .. } => {
                    l.record_notice(
                        &NewNotice {
                            customer: Some(customer),
                            recipient: to.clone().unwrap(),
                            template: template.clone(),
                            locale: "en".into(),
                            message_id: format!("<{}@test>", a.key),
                            action_key: Some(a.key.clone()),
                        },
                        now,
                    )
                    .unwrap();
                }
                ActionKind::Suspend {
                    subscription_id, ..
                } => {
                    l.record_suspension(&customer, subscription_id, &a.key, "nonpayment", now)
                        .unwrap();
                }
                ActionKind::Reactivate {
                    subscription_id, ..
                } => {
                    l.record_reactivation(&customer, subscription_id, &a.key, now)
                        .unwrap();
                }
                _ => {}
            }
            l.mark_done(row.id, &serde_json::json!({}), now).unwrap();
        }
    }

    pub(super) fn keys(p: &Plan) -> Vec<&str> {
        p.actions.iter().map(|a| a.key.as_str()).collect()
    }

    fn notice(p: &Plan) -> Option<(&PlannedAction, &str, &[NoticeInvoice], Option<Date>)> {
        p.actions.iter().find_map(|a| match &a.kind {
            ActionKind::CustomerNotice {
                stage,
                invoices,
                suspension_date,
                ..
            } => Some((a, stage.as_str(), invoices.as_slice(), *suspension_date)),
            _ => None,
        })
    }

    fn stage_of(p: &Plan) -> Option<String> {
        notice(p).map(|(_, s, _, _)| s.to_owned())
    }

    fn skips(p: &Plan) -> String {
        p.skipped
            .iter()
            .map(|s| s.reason.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    }

    fn finding<'p>(p: &'p Plan, fp: &str) -> Option<&'p Finding> {
        p.findings.iter().find(|f| f.fingerprint == fp)
    }

    // ---- config ---------------------------------------------------------------------------

    #[test]
    fn default_ladder_is_valid_and_toml_parses_with_defaults() {
        let d = DunningConfig::default();
        assert_eq!(d.validate(), Ok(()));
        assert_eq!(d.final_notice_index(), Some(2));
        assert_eq!(d.suspend_index(), Some(3));
        assert!(d.stages[3].requires_approval);
        assert_eq!(d.stages[3].template, "suspension-notice");

        let c: DunningConfig = toml::from_str(
            r#"
            min_gap_days = 2
            [[stages]]
            name = "pre-due"
            days = -3
            template = "pre-due"
            [[stages]]
            name = "reminder"
            days = 1
            template = "reminder-1"
            min_overdue_amount = "100.50"
            [[stages]]
            name = "final"
            days = 10
            template = "final-notice"
            kind = "final_notice"
            min_overdue_amount = 50
            "#,
        )
        .unwrap();
        assert_eq!(c.validate(), Ok(()));
        assert!(c.enabled);
        assert_eq!(c.min_gap_days, 2);
        assert_eq!(c.final_notice_lead_days, 7);
        assert_eq!(c.stages[0].kind, StageKind::Notice);
        assert_eq!(c.stages[1].min_overdue_amount, Some(dec("100.50")));
        assert_eq!(c.stages[2].min_overdue_amount, Some(dec("50")));
        assert!(
            toml::from_str::<DunningConfig>("min_gap = 2").is_err(),
            "unknown key"
        );
    }

    #[test]
    fn validate_names_each_ladder_mistake() {
        let base = DunningConfig::default();
        type Edit = Box<dyn Fn(&mut DunningConfig)>;
        let cases: Vec<(&str, Edit)> = vec![
            (
                "greater than the previous",
                Box::new(|c| c.stages[1].days = 1),
            ),
            (
                "used twice",
                Box::new(|c| c.stages[1].name = "reminder-1".into()),
            ),
            (
                "template is empty",
                Box::new(|c| c.stages[0].template = " ".into()),
            ),
            (
                "at most one is allowed",
                Box::new(|c| c.stages[1].kind = StageKind::FinalNotice),
            ),
            (
                "needs a final_notice stage before it",
                Box::new(|c| c.stages[2].kind = StageKind::Notice),
            ),
            (
                "must be the last stage",
                Box::new(|c| {
                    c.stages.push(StageConfig::new(
                        "late",
                        30,
                        StageKind::Notice,
                        "late",
                        false,
                    ))
                }),
            ),
            (
                "reserved",
                Box::new(|c| c.stages[0].name = "reactivation".into()),
            ),
            ("without '/'", Box::new(|c| c.stages[0].name = "a/b".into())),
            (
                "negative",
                Box::new(|c| c.stages[0].min_overdue_amount = Some(dec("-1"))),
            ),
            ("min_gap_days", Box::new(|c| c.min_gap_days = -1)),
        ];
        for (want, edit) in cases {
            let mut c = base.clone();
            edit(&mut c);
            let err = c.validate().expect_err(want);
            assert!(err.contains(want), "{want:?} not in {err:?}");
        }
    }

    #[test]
    fn invalid_config_plans_nothing_and_says_why() {
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", "2026-11-01", "100", "0")];
        w.config.dunning.stages[1].days = 0;
        let p = w.plan("2026-11-21T08:00:00Z");
        assert!(p.actions.is_empty());
        assert!(
            skips(&p).contains("invalid dunning config"),
            "{}",
            skips(&p)
        );
    }

    // ---- days, amounts, time zones --------------------------------------------------------

    #[test]
    fn stage_boundaries_by_days_past_due() {
        // Due 2026-11-10; Stockholm is UTC+1 in November, 08:00Z is 09:00 local.
        let cases = [
            ("2026-11-10", None),
            ("2026-11-11", Some("reminder-1")),
            ("2026-11-16", Some("reminder-1")),
            ("2026-11-17", Some("reminder-2")),
            ("2026-11-23", Some("reminder-2")),
            ("2026-11-24", Some("final-notice")),
            ("2026-12-01", Some("final-notice")),
        ];
        for (day, want) in cases {
            let mut w = World::new();
            w.rows = vec![receivable(C, "INV-1", "2026-11-10", "100", "0")];
            let p = w.plan(&format!("{day}T08:00:00Z"));
            assert_eq!(stage_of(&p).as_deref(), want, "on {day}: {:?}", keys(&p));
            let n = p
                .actions
                .iter()
                .filter(|a| matches!(a.kind, ActionKind::CustomerNotice { .. }))
                .count();
            assert_eq!(
                n,
                usize::from(want.is_some()),
                "one notice at most, on {day}"
            );
        }
    }

    #[test]
    fn min_amount_boundary_uses_the_remaining_balance() {
        let cases = [
            ("99.99", "0", None),
            ("100", "0", Some("reminder-1")),
            ("150", "50.01", None),
            ("150", "50", Some("reminder-1")),
        ];
        for (amount, paid, want) in cases {
            let mut w = World::new();
            w.config.dunning.stages[0].min_overdue_amount = Some(dec("100"));
            w.rows = vec![receivable(C, "INV-1", "2026-11-18", amount, paid)];
            let p = w.plan("2026-11-21T08:00:00Z");
            assert_eq!(stage_of(&p).as_deref(), want, "{amount} paid {paid}");
        }
    }

    #[test]
    fn min_amount_sums_the_customers_overdue_in_the_same_currency_only() {
        let mut w = World::new();
        w.config.dunning.stages[0].min_overdue_amount = Some(dec("100"));
        let mut sek = receivable(C, "INV-3", "2026-11-18", "500", "0");
        sek.currency = "SEK".into();
        w.rows = vec![
            receivable(C, "INV-1", "2026-11-18", "60", "0"),
            receivable(C, "INV-2", "2026-11-19", "40", "0"),
            sek,
            // Not overdue yet: does not count.
            receivable(C, "INV-4", "2026-11-30", "1000", "0"),
        ];
        let p = w.plan("2026-11-21T08:00:00Z");
        let (_, stage, invs, _) = notice(&p).unwrap();
        assert_eq!(stage, "reminder-1");
        let listed: Vec<&str> = invs.iter().map(|i| i.invoice.as_str()).collect();
        assert_eq!(
            listed,
            ["INV-1", "INV-3", "INV-2"],
            "SEK 500 meets 100 on its own"
        );
        w.rows.remove(1);
        w.rows.remove(1);
        let p = w.plan("2026-11-21T08:00:00Z");
        assert!(notice(&p).is_none(), "EUR 60 alone is below 100");
    }

    #[test]
    fn pre_due_reminder_stage() {
        let mut w = World::new();
        w.config.dunning.stages.insert(
            0,
            StageConfig::new("pre-due", -3, StageKind::Notice, "pre-due", false),
        );
        w.rows = vec![receivable(C, "INV-1", "2026-11-24", "100", "0")];
        assert!(
            w.plan("2026-11-20T08:00:00Z").actions.is_empty(),
            "4 days before"
        );
        let p = w.plan("2026-11-21T08:00:00Z");
        let (a, stage, invs, _) = notice(&p).unwrap();
        assert_eq!(stage, "pre-due");
        assert_eq!(invs[0].days_past_due, -3);
        assert!(
            a.reason.contains("due in 3 days (2026-11-24)"),
            "{}",
            a.reason
        );
        assert!(a.reason.contains("reached at -3"), "{}", a.reason);
        assert!(
            finding(&p, "dunning.overdue:c1").is_none(),
            "not overdue yet"
        );
    }

    #[test]
    fn local_day_not_utc_day_decides() {
        // 23:30 UTC on the 20th is 00:30 on the 21st in Stockholm.
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", "2026-11-20", "100", "0")];
        let now = "2026-11-20T23:30:00Z";
        assert_eq!(stage_of(&w.plan(now)).as_deref(), Some("reminder-1"));
        assert_eq!(stage_of(&w.plan_tz(now, Some("UTC"))), None);
        // One minute before local midnight: still the due date.
        assert_eq!(stage_of(&w.plan("2026-11-20T22:59:00Z")), None);
        // Westward: 02:00 UTC on the 21st is still the 20th in New York.
        assert_eq!(
            stage_of(&w.plan_tz("2026-11-21T02:00:00Z", Some("America/New_York"))),
            None
        );
    }

    #[test]
    fn daylight_saving_days_are_local_calendar_days() {
        // Spring forward 2026-03-29 (02:00 CET -> 03:00 CEST): a 23-hour day still counts once.
        let cases = [
            ("2026-03-28", "2026-03-29T21:59:00Z", 1), // 23:59 CEST on the 29th
            ("2026-03-28", "2026-03-29T22:00:00Z", 2), // 00:00 CEST on the 30th
            ("2026-10-24", "2026-10-25T22:59:00Z", 1), // 23:59 CET on the 25th (25 h day)
            ("2026-10-24", "2026-10-25T23:00:00Z", 2), // 00:00 CET on the 26th
        ];
        for (due, now, dpd) in cases {
            let mut w = World::new();
            w.rows = vec![receivable(C, "INV-1", due, "100", "0")];
            let p = w.plan(now);
            let (_, _, invs, _) = notice(&p).unwrap();
            assert_eq!(invs[0].days_past_due, dpd, "due {due} at {now}");
        }
    }

    #[test]
    fn min_gap_boundary_in_local_days_across_dst() {
        // Last notice 2026-10-25 00:30 CEST (22:30Z on the 24th). Fall back the same night.
        let cases = [
            ("2026-10-27T22:59:00Z", false), // 23:59 CET on the 27th: 2 local days (72.5 h)
            ("2026-10-27T23:00:00Z", true),  // 00:00 CET on the 28th: 3 local days
        ];
        for (now, allowed) in cases {
            let mut w = World::new();
            w.rows = vec![receivable(C, "INV-1", "2026-10-20", "100", "0")];
            w.ledger
                .record_notice(
                    &NewNotice {
                        customer: Some(C.into()),
                        recipient: "ap@contoso.example".into(),
                        template: "budget-threshold".into(),
                        locale: "sv".into(),
                        message_id: "<m1@test>".into(),
                        action_key: None,
                    },
                    ts("2026-10-24T22:30:00Z"),
                )
                .unwrap();
            let p = w.plan(now);
            assert_eq!(notice(&p).is_some(), allowed, "at {now}: {}", skips(&p));
            if !allowed {
                assert!(
                    skips(&p).contains(
                        "waiting: last notice on 2026-10-25; next notice allowed from 2026-10-28"
                    ),
                    "{}",
                    skips(&p)
                );
            }
        }
    }

    #[test]
    fn min_gap_two_versus_three_days_after_a_reminder() {
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", "2026-11-09", "100", "0")];
        // Reminder-1 sent on the 15th (6 days past due).
        assert_eq!(
            stage_of(&w.step("2026-11-15T08:00:00Z")).as_deref(),
            Some("reminder-1")
        );
        // A second invoice is at reminder-1 on the 16th and reminder-2 of INV-1 is due from the
        // 16th: still within the gap on the 17th.
        w.rows.push(receivable(C, "INV-2", "2026-11-15", "50", "0"));
        let p = w.plan("2026-11-17T08:00:00Z");
        assert!(p.actions.is_empty(), "{:?}", keys(&p));
        assert!(
            skips(&p).contains("next notice allowed from 2026-11-18"),
            "{}",
            skips(&p)
        );
        let p = w.plan("2026-11-18T08:00:00Z");
        assert_eq!(keys(&p), ["notice/c1/reminder-2/INV-1"]);
        let (_, _, invs, _) = notice(&p).unwrap();
        assert_eq!(invs.len(), 2);
        assert_eq!(invs[1].invoice, "INV-2");
        assert_eq!(invs[1].stage_index, 0, "INV-2 reaches reminder-1 with it");
    }

    // ---- catch-up, partial payment, idempotency -------------------------------------------

    #[test]
    fn catch_up_sends_only_the_highest_stage_due() {
        let mut w = World::new();
        w.rows = vec![
            receivable(C, "INV-104", "2026-10-22", "1240", "0"),
            receivable(C, "INV-105", "2026-11-18", "200", "0"),
        ];
        // 30 days past due, nothing sent: suspension is due but there was no final notice.
        let p = w.plan("2026-11-21T08:00:00Z");
        assert_eq!(keys(&p), ["notice/c1/final-notice/INV-104"]);
        let (a, stage, invs, susp) = notice(&p).unwrap();
        assert_eq!(stage, "final-notice");
        assert_eq!(susp, Some(date("2026-11-28")), "today + 7 lead days");
        assert_eq!(invs[0].stage_index, 2);
        assert_eq!(invs[1].stage_index, 0);
        assert_eq!(
            a.reason,
            "INV-104 (€1,240.00) 30 days past due; stage suspension reached at +21; \
             catch-up: reminder-1, reminder-2 not sent, only this notice is; also listed: \
             INV-105 (€200.00, 3 days past due); names suspension date 2026-11-28"
        );
        assert!(!a.requires_approval);
        let f = finding(&p, "dunning.overdue:c1").unwrap();
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(
            f.summary,
            "Contoso: 2 invoices overdue, €1,440.00 outstanding; oldest INV-104 (€1,240.00) is \
             30 days past due; stage suspension; last notice none"
        );
        assert_eq!(f.facts["outstanding_EUR"], "1440");
        assert_eq!(f.facts["oldest_days_past_due"], "30");
    }

    #[test]
    fn final_notice_names_due_plus_suspension_days_when_later() {
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", "2026-11-07", "100", "0")];
        let p = w.plan("2026-11-21T08:00:00Z");
        let (_, stage, _, susp) = notice(&p).unwrap();
        assert_eq!(stage, "final-notice");
        // due + 21 = 2026-11-28 = today + 7: equal; one day earlier due gives today + 7.
        assert_eq!(susp, Some(date("2026-11-28")));
        w.config.dunning.final_notice_lead_days = 3;
        let (_, _, _, susp) = notice(&w.plan("2026-11-21T08:00:00Z")).unwrap();
        assert_eq!(
            susp,
            Some(date("2026-11-28")),
            "due + 21 wins over today + 3"
        );
    }

    #[test]
    fn partial_payment_keeps_the_invoice_on_the_remaining_balance() {
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", "2026-11-14", "1000", "0")];
        w.step("2026-11-15T08:00:00Z");
        w.rows = vec![receivable(C, "INV-1", "2026-11-14", "1000", "600")];
        let p = w.plan("2026-11-21T08:00:00Z");
        let (a, stage, invs, _) = notice(&p).unwrap();
        assert_eq!(stage, "reminder-2");
        assert_eq!(invs[0].outstanding, dec("400"));
        assert_eq!(invs[0].amount, dec("1000"));
        assert!(
            a.reason.starts_with("INV-1 (€400.00) 7 days past due"),
            "{}",
            a.reason
        );
    }

    #[test]
    fn evaluating_twice_plans_no_new_keys_and_pending_blocks_the_next_stage() {
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", "2026-11-01", "100", "0")];
        let first = w.plan("2026-11-16T08:00:00Z");
        assert_eq!(keys(&first), ["notice/c1/final-notice/INV-1"]);
        apply(&w.ledger, &first, ts("2026-11-16T08:00:00Z"), false);
        let again = w.plan("2026-11-16T08:05:00Z");
        assert!(again.actions.is_empty(), "{:?}", keys(&again));
        // Days later, while it is still pending, nothing else is planned either.
        let later = w.plan("2026-11-23T08:00:00Z");
        assert!(later.actions.is_empty(), "{:?}", keys(&later));
        assert!(skips(&later).contains("notice/c1/final-notice/INV-1 is still planned"));
    }

    #[test]
    fn a_stage_is_not_planned_again_after_it_was_sent_and_the_ladder_advances() {
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", "2026-11-01", "100", "0")];
        let mut seen = BTreeSet::new();
        for day in 2..=30 {
            let now = format!("2026-11-{day:02}T08:00:00Z");
            let p = w.step(&now);
            for k in keys(&p) {
                assert!(seen.insert(k.to_owned()), "{k} planned twice (on {now})");
            }
        }
        let sent: Vec<String> = w
            .ledger
            .notices(Some(C), None)
            .unwrap()
            .into_iter()
            .map(|n| format!("{} {}", n.sent_at, n.template))
            .collect();
        assert_eq!(
            sent,
            [
                "2026-11-02T08:00:00Z reminder-1",
                "2026-11-08T08:00:00Z reminder-2",
                "2026-11-15T08:00:00Z final-notice",
                "2026-11-22T08:00:00Z suspension-notice",
            ]
        );
        assert!(seen.contains("suspend/c1/s1/INV-1"));
        assert_eq!(w.ledger.active_suspensions(Some(C)).unwrap().len(), 1);
    }

    // ---- suspension -----------------------------------------------------------------------

    /// INV-1 due 2026-10-20; the catch-up final notice goes out on 2026-11-14 (25 days past due)
    /// naming 2026-11-21.
    fn after_final_notice() -> World {
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", "2026-10-20", "500", "0")];
        let p = w.step("2026-11-14T08:00:00Z");
        assert_eq!(notice(&p).unwrap().3, Some(date("2026-11-21")));
        w
    }

    #[test]
    fn suspension_waits_for_the_final_notice_lead_days() {
        let w = after_final_notice();
        let p = w.plan("2026-11-20T08:00:00Z");
        assert!(p.actions.is_empty(), "{:?}", keys(&p));
        assert!(
            skips(&p).contains(
                "suspension waits: final notice sent 2026-11-14, suspension allowed from \
                 2026-11-21"
            ),
            "{}",
            skips(&p)
        );
        // 22:59Z on the 20th is 23:59 local: still waiting; 23:00Z is the 21st locally.
        assert!(w.plan("2026-11-20T22:59:00Z").actions.is_empty());
        let p = w.plan("2026-11-20T23:00:00Z");
        assert_eq!(
            keys(&p),
            ["notice/c1/suspension/INV-1", "suspend/c1/s1/INV-1"],
            "only the active licence: not the Azure plan, not the suspended one"
        );
        let sus = p
            .actions
            .iter()
            .find(|a| a.key.starts_with("suspend/"))
            .unwrap();
        assert!(sus.requires_approval);
        assert_eq!(
            sus.kind,
            ActionKind::Suspend {
                subscription_id: "s1".into(),
                reason: SuspendReason::Nonpayment
            }
        );
        let (n, stage, _, _) = notice(&p).unwrap();
        assert_eq!(stage, "suspension");
        assert_eq!(n.after, ["suspend/c1/s1/INV-1"]);
        assert!(!n.requires_approval);
    }

    #[test]
    fn suspension_scope_follows_the_config() {
        let mut w = after_final_notice();
        w.config.dunning.suspend_azure_plans = true;
        w.config.dunning.suspend_billing_types = vec!["license".into(), "usage".into()];
        let p = w.plan("2026-11-21T08:00:00Z");
        assert!(keys(&p).contains(&"suspend/c1/s2/INV-1"), "{:?}", keys(&p));
        w.config.dunning.suspend_azure_plans = false;
        w.config.dunning.suspend_billing_types = vec!["usage".into()];
        let p = w.plan("2026-11-21T08:00:00Z");
        assert!(p.actions.is_empty());
        assert!(
            skips(&p).contains("no subscription is in scope"),
            "{}",
            skips(&p)
        );
    }

    #[test]
    fn no_suspension_without_a_sent_final_notice() {
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", "2026-10-20", "500", "0")];
        let p = w.plan("2026-11-14T08:00:00Z");
        apply(&w.ledger, &p, ts("2026-11-14T08:00:00Z"), false);
        // The final notice failed for good: it counts as its stage, but was never sent.
        let row = w
            .ledger
            .action_by_key("notice/c1/final-notice/INV-1")
            .unwrap()
            .unwrap();
        w.ledger.claim(row.id, ts("2026-11-14T08:00:00Z")).unwrap();
        let mut l = w.ledger;
        l.set_retry_policy(crate::ledger::RetryPolicy {
            max_attempts: 1,
            ..l.retry_policy()
        });
        l.mark_failed(row.id, "smtp down", ts("2026-11-14T08:00:01Z"))
            .unwrap();
        w.ledger = l;
        let p = w.plan("2026-12-01T08:00:00Z");
        assert!(p.actions.is_empty(), "{:?}", keys(&p));
        assert!(
            skips(&p).contains("suspension waits: no final notice for INV-1 was sent yet"),
            "{}",
            skips(&p)
        );
    }

    #[test]
    fn missing_or_failed_detail_plans_nothing_for_that_customer() {
        let mut w = after_final_notice();
        w.snap.details.clear();
        let p = w.plan("2026-11-21T08:00:00Z");
        assert!(p.actions.is_empty());
        assert_eq!(
            p.needs_detail.get(C),
            Some(&DetailNeed {
                profile: true,
                subscriptions: true
            })
        );
        assert!(skips(&p).contains("detail not fetched"));

        let mut w = after_final_notice();
        if let Some(d) = w.snap.details.get_mut(C) {
            d.subscriptions = Section::Failed {
                error: "HTTP 500".into(),
            };
        }
        let p = w.plan("2026-11-21T08:00:00Z");
        assert!(p.actions.is_empty());
        assert!(skips(&p).contains("subscriptions could not be read (HTTP 500)"));

        // A notice needs only the profile.
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", "2026-11-18", "100", "0")];
        w.snap.details.clear();
        let p = w.plan("2026-11-21T08:00:00Z");
        assert!(p.actions.is_empty());
        assert_eq!(
            p.needs_detail.get(C),
            Some(&DetailNeed {
                profile: true,
                subscriptions: false
            })
        );
    }

    #[test]
    fn person_rejection_is_final_but_a_system_cancellation_is_replanned() {
        let w = after_final_notice();
        let now = ts("2026-11-21T08:00:00Z");
        let p = w.plan("2026-11-21T08:00:00Z");
        apply(&w.ledger, &p, now, false);
        let sus = w
            .ledger
            .action_by_key("suspend/c1/s1/INV-1")
            .unwrap()
            .unwrap();
        w.ledger
            .reject(sus.id, "anna", "promised to pay", now)
            .unwrap();
        let n = w
            .ledger
            .action_by_key("notice/c1/suspension/INV-1")
            .unwrap()
            .unwrap();
        w.ledger
            .cancel(n.id, SYSTEM_ACTOR, "suspension rejected", now)
            .unwrap();
        let p = w.plan("2026-11-24T08:00:00Z");
        assert!(p.actions.is_empty(), "{:?}", keys(&p));
        assert!(
            skips(&p).contains("suspend/c1/s1/INV-1 was cancelled by anna"),
            "{}",
            skips(&p)
        );

        // The same, but cancelled by cspguard (e.g. a hold that has ended): planned again.
        let w = after_final_notice();
        let p = w.plan("2026-11-21T08:00:00Z");
        apply(&w.ledger, &p, now, false);
        for k in ["suspend/c1/s1/INV-1", "notice/c1/suspension/INV-1"] {
            let row = w.ledger.action_by_key(k).unwrap().unwrap();
            w.ledger.cancel(row.id, SYSTEM_ACTOR, "hold", now).unwrap();
        }
        let p = w.plan("2026-11-24T08:00:00Z");
        assert_eq!(
            keys(&p),
            ["notice/c1/suspension~2/INV-1", "suspend/c1/s1~2/INV-1"]
        );
        assert_eq!(
            suspend_key_invoice(C, "suspend/c1/s1~2/INV-1").as_deref(),
            Some("INV-1")
        );
    }

    // ---- holds, disputes, exemptions ------------------------------------------------------

    #[test]
    fn customer_hold_stops_the_ladder_and_cancels_pending_actions() {
        let w = after_final_notice();
        let now = ts("2026-11-21T08:00:00Z");
        let p = w.plan("2026-11-21T08:00:00Z");
        apply(&w.ledger, &p, now, false);
        w.ledger
            .place_hold(C, None, "promise to pay", date("2026-11-30"), "anna", now)
            .unwrap();
        let p = w.plan("2026-11-22T08:00:00Z");
        assert!(p.actions.is_empty(), "{:?}", keys(&p));
        let cancelled: Vec<&str> = p.cancellations.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            cancelled,
            ["notice/c1/suspension/INV-1", "suspend/c1/s1/INV-1"]
        );
        assert!(
            p.cancellations[0]
                .reason
                .contains("customer on hold until 2026-11-30")
        );
        assert!(skips(&p).contains("the ladder is stopped"), "{}", skips(&p));
        let f = finding(&p, "dunning.overdue:c1").unwrap();
        assert!(
            f.summary
                .contains("customer on hold until 2026-11-30 (promise to pay")
        );
        // After the hold ends the ladder resumes (under a new key, the old one was cancelled).
        apply(&w.ledger, &p, ts("2026-11-22T08:00:00Z"), true);
        let p = w.plan("2026-12-01T08:00:00Z");
        assert_eq!(
            keys(&p),
            ["notice/c1/suspension~2/INV-1", "suspend/c1/s1~2/INV-1"]
        );
    }

    #[test]
    fn invoice_hold_excludes_only_that_invoice() {
        let mut w = World::new();
        let now = ts("2026-11-21T08:00:00Z");
        w.rows = vec![
            receivable(C, "INV-1", "2026-11-01", "100", "0"),
            receivable(C, "INV-2", "2026-11-18", "50", "0"),
        ];
        w.ledger
            .place_hold(
                C,
                Some("INV-1"),
                "dispute call",
                date("2026-12-31"),
                "anna",
                now,
            )
            .unwrap();
        let p = w.plan("2026-11-21T08:00:00Z");
        assert_eq!(keys(&p), ["notice/c1/reminder-1/INV-2"]);
        let (_, _, invs, _) = notice(&p).unwrap();
        assert_eq!(invs.len(), 1, "the held invoice is not listed");
        let f = finding(&p, "dunning.overdue:c1").unwrap();
        assert_eq!(f.facts["invoices_on_hold"], "INV-1");
    }

    #[test]
    fn disputed_invoices_are_skipped_without_a_finding() {
        let mut w = World::new();
        let mut r = receivable(C, "INV-1", "2026-11-01", "100", "0");
        r.status = InvoiceStatus::Disputed;
        w.rows = vec![r];
        let p = w.plan("2026-11-21T08:00:00Z");
        assert!(p.actions.is_empty());
        assert!(p.findings.is_empty(), "{:?}", p.findings);
        assert!(
            skips(&p).contains("Contoso: disputed, not dunned: INV-1 (€100.00, 20 days past due)"),
            "{}",
            skips(&p)
        );
    }

    #[test]
    fn exempt_customer_is_never_dunned_and_pending_suspension_is_cancelled() {
        let mut w = after_final_notice();
        let p = w.plan("2026-11-21T08:00:00Z");
        apply(&w.ledger, &p, ts("2026-11-21T08:00:00Z"), false);
        w.config.customers.insert(
            C.into(),
            CustomerOverride {
                exempt: true,
                ..CustomerOverride::default()
            },
        );
        let p = w.plan("2026-11-22T08:00:00Z");
        assert!(p.actions.is_empty());
        assert!(
            p.cancellations
                .iter()
                .any(|c| c.key == "suspend/c1/s1/INV-1")
        );
        assert!(skips(&p).contains("exempt"));
    }

    // ---- data problems --------------------------------------------------------------------

    #[test]
    fn failed_import_plans_nothing_for_anyone_and_says_why() {
        let w = after_final_notice();
        w.ledger
            .record_suspension(
                C,
                "s9",
                "suspend/c1/s9/INV-0",
                "nonpayment",
                ts("2026-11-01T08:00:00Z"),
            )
            .unwrap();
        let rec = ReceivablesInput::Failed {
            error: "ar.csv: missing".into(),
        };
        let p = run(
            &w.snap,
            &rec,
            &w.ledger,
            &w.config,
            ts("2026-11-21T08:00:00Z"),
            None,
        );
        // Only the ops alert about the failure itself (alert hygiene), no dunning action.
        assert!(
            p.actions
                .iter()
                .all(|a| matches!(a.kind, ActionKind::OpsAlert { .. })),
            "{:?}",
            keys(&p)
        );
        assert!(p.cancellations.is_empty());
        let f = finding(&p, "dunning.import_failed:partner").unwrap();
        assert_eq!(f.severity, Severity::Critical);
        assert!(f.summary.contains("ar.csv: missing"));
        assert!(
            p.skipped
                .iter()
                .any(|s| s.customer.is_none() && s.policy == "dunning")
        );
        assert!(p.resolved.is_empty());
    }

    #[test]
    fn unmatched_rows_give_one_info_finding() {
        let w = World::new();
        let mut rec = matched(vec![]);
        if let ReceivablesInput::Loaded(m) = &mut rec {
            for (inv, reason) in [
                ("INV-8", UnmatchedReason::NotInDirectory),
                ("INV-9", UnmatchedReason::NotInDirectory),
                ("INV-7", UnmatchedReason::NotATenantId),
            ] {
                m.unmatched.push(Unmatched {
                    receivable: receivable("x", inv, "2026-11-01", "1", "0"),
                    reason,
                });
            }
        }
        let p = run(
            &w.snap,
            &rec,
            &w.ledger,
            &w.config,
            ts("2026-11-21T08:00:00Z"),
            None,
        );
        let f = finding(&p, "dunning.unmatched:partner").unwrap();
        assert_eq!(f.severity, Severity::Info);
        assert_eq!(f.facts["count"], "3");
        assert!(
            f.summary
                .starts_with("3 receivable rows matched no Partner Center customer")
        );
        assert!(f.summary.contains("INV-8, INV-9"), "{}", f.summary);
    }

    #[test]
    fn no_usable_email_gives_a_warning_and_no_notice() {
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", "2026-11-18", "100", "0")];
        if let Some(d) = w.snap.details.get_mut(C) {
            d.billing_profile = Section::Ok {
                data: profile(None, Some("sv-SE"), "SE"),
            };
        }
        let p = w.plan("2026-11-21T08:00:00Z");
        assert!(p.actions.is_empty());
        let f = finding(&p, "dunning.no_contact:c1").unwrap();
        assert_eq!(f.severity, Severity::Warning);
        assert!(
            f.summary
                .starts_with("Contoso has 1 overdue invoice but no usable email address"),
            "{}",
            f.summary
        );
    }

    #[test]
    fn recipient_precedence_override_then_receivable_then_profile() {
        let mut w = World::new();
        let mut r = receivable(C, "INV-1", "2026-11-18", "100", "0");
        r.contact_email = Some("invoices@contoso.example".into());
        w.rows = vec![r];
        let to = |p: &Plan| match &notice(p).unwrap().0.kind {
            ActionKind::CustomerNotice {
                to,
                cc,
                locale_hint,
                ..
            } => (to.clone(), cc.clone(), locale_hint.clone()),
            _ => unreachable!(),
        };
        let (t, cc, loc) = to(&w.plan("2026-11-21T08:00:00Z"));
        assert_eq!(t.as_deref(), Some("invoices@contoso.example"));
        assert!(cc.is_empty());
        assert_eq!(loc.as_deref(), Some("sv-SE"));
        w.rows[0].contact_email = None;
        assert_eq!(
            to(&w.plan("2026-11-21T08:00:00Z")).0.as_deref(),
            Some("ap@contoso.example")
        );
        w.config.customers.insert(
            C.into(),
            CustomerOverride {
                email: Some("cfo@contoso.example".into()),
                cc: vec!["am@partner.example".into()],
                locale: Some("en".into()),
                ..CustomerOverride::default()
            },
        );
        w.snap.details.clear(); // override email and locale: no profile needed
        let (t, cc, loc) = to(&w.plan("2026-11-21T08:00:00Z"));
        assert_eq!(t.as_deref(), Some("cfo@contoso.example"));
        assert_eq!(cc, ["am@partner.example"]);
        assert_eq!(loc.as_deref(), Some("en"));
    }

    #[test]
    fn ledger_action_with_unreadable_payload_skips_the_customer() {
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", "2026-11-18", "100", "0")];
        w.ledger
            .insert_action(
                &NewAction {
                    key: "notice/c1/reminder-1/INV-1".into(),
                    kind: "customer_notice".into(),
                    customer: Some(C.into()),
                    payload: serde_json::json!({"kind": "customer_notice", "garbage": 1}),
                    requires_approval: false,
                    reason: "r".into(),
                },
                ts("2026-11-20T08:00:00Z"),
            )
            .unwrap();
        let p = w.plan("2026-11-21T08:00:00Z");
        assert!(p.actions.is_empty());
        assert!(
            skips(&p).contains("payload cspguard cannot read"),
            "{}",
            skips(&p)
        );
    }

    // ---- paying -------------------------------------------------------------------------

    #[test]
    fn paying_cancels_pending_and_reactivates_only_our_suspensions() {
        let mut w = after_final_notice();
        w.rows.push(receivable(C, "INV-2", "2026-11-19", "80", "0"));
        w.step("2026-11-21T08:00:00Z");
        assert_eq!(w.ledger.active_suspensions(Some(C)).unwrap().len(), 1);
        // INV-2 reached reminder-1 with the suspension notice; reminder-2 is written on the
        // 26th (7 days past due) but not sent yet.
        assert!(w.plan("2026-11-25T08:00:00Z").actions.is_empty());
        let p = w.plan("2026-11-26T08:00:00Z");
        assert_eq!(keys(&p), ["notice/c1/reminder-2/INV-2"], "{}", skips(&p));
        apply(&w.ledger, &p, ts("2026-11-26T08:00:00Z"), false);
        // A suspension Microsoft made, and a fraud suspension by cspguard: never reactivated.
        w.ledger
            .record_suspension(C, "s7", "fraud/c1/s7", "fraud", ts("2026-11-20T08:00:00Z"))
            .unwrap();

        // Everything paid.
        w.rows = vec![
            receivable(C, "INV-1", "2026-10-20", "500", "500"),
            receivable(C, "INV-2", "2026-11-19", "80", "80"),
        ];
        let p = w.plan("2026-11-27T08:00:00Z");
        assert_eq!(
            keys(&p),
            [
                "notice/c1/reactivation/suspend/c1/s1/INV-1",
                "reactivate/c1/s1/suspend/c1/s1/INV-1",
            ]
        );
        assert_eq!(
            p.cancellations
                .iter()
                .map(|c| c.key.as_str())
                .collect::<Vec<_>>(),
            ["notice/c1/reminder-2/INV-2"]
        );
        assert!(
            p.cancellations[0].reason.contains("INV-2 is paid"),
            "{}",
            p.cancellations[0].reason
        );
        let (n, stage, invs, _) = notice(&p).unwrap();
        assert_eq!(stage, "reactivation");
        assert!(invs.is_empty());
        assert_eq!(n.after, ["reactivate/c1/s1/suspend/c1/s1/INV-1"]);
        assert!(finding(&p, "dunning.overdue:c1").is_none(), "resolves");
    }

    #[test]
    fn partly_paid_customer_stays_suspended_until_no_invoice_is_at_the_suspension_stage() {
        let mut w = after_final_notice();
        w.step("2026-11-21T08:00:00Z");
        w.rows = vec![receivable(C, "INV-1", "2026-10-20", "500", "499")];
        let p = w.plan("2026-11-26T08:00:00Z");
        assert!(
            !p.actions
                .iter()
                .any(|a| matches!(a.kind, ActionKind::Reactivate { .. }))
        );
        assert!(
            skips(&p).contains("stays suspended: INV-1 (€1.00) is 37 days past due and open"),
            "{}",
            skips(&p)
        );
    }

    #[test]
    fn reactivation_works_for_customers_without_receivable_rows() {
        let w = World::new();
        w.ledger
            .record_suspension(
                C,
                "s1",
                "suspend/c1/s1/INV-1",
                "nonpayment",
                ts("2026-11-01T08:00:00Z"),
            )
            .unwrap();
        let p = w.plan("2026-11-21T08:00:00Z");
        assert_eq!(
            keys(&p),
            [
                "notice/c1/reactivation/suspend/c1/s1/INV-1",
                "reactivate/c1/s1/suspend/c1/s1/INV-1"
            ]
        );
    }

    #[test]
    fn disabled_plans_nothing_and_says_so() {
        let mut w = World::new();
        w.rows = vec![receivable(C, "INV-1", "2026-11-01", "100", "0")];
        w.config.dunning.enabled = false;
        let p = w.plan("2026-11-21T08:00:00Z");
        assert!(p.actions.is_empty() && p.findings.is_empty());
        assert!(skips(&p).contains("dunning is disabled"));
    }

    #[test]
    fn reactivation_without_contact_still_reactivates_and_warns() {
        let mut w = World::new();
        if let Some(d) = w.snap.details.get_mut(C) {
            d.billing_profile = Section::Ok {
                data: profile(Some("not an address"), None, "SE"),
            };
        }
        w.ledger
            .record_suspension(
                C,
                "s1",
                "suspend/c1/s1/INV-1",
                "nonpayment",
                ts("2026-11-01T08:00:00Z"),
            )
            .unwrap();
        let p = w.plan("2026-11-21T08:00:00Z");
        assert_eq!(keys(&p), ["reactivate/c1/s1/suspend/c1/s1/INV-1"]);
        let f = finding(&p, "dunning.no_contact:c1").unwrap();
        assert!(
            f.summary
                .starts_with("Contoso: no usable email address for the reactivation confirmation"),
            "{}",
            f.summary
        );
    }

    #[test]
    fn money_and_day_phrases() {
        assert_eq!(money(dec("1240"), "EUR"), "€1,240.00");
        assert_eq!(money(dec("1234567.005"), "USD"), "$1,234,567.01");
        assert_eq!(money(dec("0.5"), "SEK"), "SEK 0.50");
        assert_eq!(money(dec("999.999"), "GBP"), "£1,000.00");
        assert_eq!(days_phrase(1, date("2026-11-20")), "1 day past due");
        assert_eq!(days_phrase(0, date("2026-11-20")), "due today");
        assert_eq!(
            with_generation("notice/c/final/INV/2", 3),
            "notice/c/final~3/INV/2"
        );
        assert!(is_nonpayment("Non-Payment") && !is_nonpayment("fraud"));
    }
}

/// Property tests: simulated runs over many days with random payments, disputes and holds.
#[cfg(test)]
mod props {
    use std::collections::{BTreeMap, BTreeSet};

    use jiff::tz::TimeZone;
    use proptest::prelude::*;

    use super::tests::apply;
    use super::*;
    use crate::ledger::Ledger;
    use crate::plan::Plan;
    use crate::policy::testkit::{
        customer, date, detail, ledger, matched, profile, receivable, run, snapshot, subscription,
    };
    use crate::policy::{CustomerOverride, PolicyConfig};

    const CUSTOMERS: [&str; 2] = ["c1", "c2"];

    #[derive(Debug, Clone)]
    struct Scenario {
        invoices: Vec<(usize, i64, u32)>,
        payments: Vec<(i64, usize, u8)>,
        holds: Vec<(i64, usize, Option<usize>, i64)>,
        disputes: Vec<(i64, usize)>,
        exempt_c2: bool,
        hours: Vec<i8>,
        twice: Vec<bool>,
        min_gap: i64,
        lead: i64,
        days: i64,
    }

    fn scenario() -> impl Strategy<Value = Scenario> {
        (
            prop::collection::vec((0usize..2, -5i64..25, 10u32..3000), 1..6),
            prop::collection::vec((0i64..60, 0usize..6, 1u8..=100), 0..5),
            prop::collection::vec(
                (0i64..60, 0usize..2, prop::option::of(0usize..6), 1i64..10),
                0..3,
            ),
            prop::collection::vec((0i64..60, 0usize..6), 0..2),
            any::<bool>(),
            prop::collection::vec(0i8..24, 60),
            prop::collection::vec(any::<bool>(), 60),
            0i64..5,
            0i64..9,
            20i64..60,
        )
            .prop_map(
                |(
                    invoices,
                    payments,
                    holds,
                    disputes,
                    exempt_c2,
                    hours,
                    twice,
                    min_gap,
                    lead,
                    days,
                )| {
                    Scenario {
                        invoices,
                        payments,
                        holds,
                        disputes,
                        exempt_c2,
                        hours,
                        twice,
                        min_gap,
                        lead,
                        days,
                    }
                },
            )
    }

    /// `notice/{c}/{stage}[~n]/{invoice}` -> (stage, invoice).
    fn notice_parts(key: &str) -> Option<(String, String)> {
        let mut it = key.splitn(4, '/');
        let (_, _, stage, inv) = (it.next()?, it.next()?, it.next()?, it.next()?);
        let stage = stage.split('~').next().unwrap_or(stage);
        Some((stage.to_owned(), inv.to_owned()))
    }

    struct Sim {
        ledger: Ledger,
        config: PolicyConfig,
        rows: Vec<Receivable>,
        subs: BTreeMap<(&'static str, &'static str), (&'static str, &'static str)>,
        tz: TimeZone,
    }

    impl Sim {
        fn snapshot(&self, now: Timestamp) -> crate::snapshot::Snapshot {
            let mut snap = snapshot(now);
            snap.customers = Section::Ok {
                data: vec![customer("c1", "Contoso"), customer("c2", "Fabrikam")],
            };
            for c in CUSTOMERS {
                let subs = self
                    .subs
                    .iter()
                    .filter(|((cc, _), _)| *cc == c)
                    .map(|((_, id), (status, offer))| subscription(id, status, offer))
                    .collect();
                snap.details.insert(
                    c.to_owned(),
                    detail(
                        Some(profile(Some("ap@example.com"), Some("en-GB"), "GB")),
                        subs,
                    ),
                );
            }
            snap
        }

        fn check(&self, plan: &Plan, now: Timestamp) -> Result<(), TestCaseError> {
            let today = now.to_zoned(self.tz.clone()).date();
            let mut notices_per_customer: BTreeMap<&str, usize> = BTreeMap::new();
            for a in &plan.actions {
                let c = a.customer.as_deref().unwrap_or_default();
                let existing = self.ledger.action_by_key(&a.key).unwrap();
                match &a.kind {
                    ActionKind::CustomerNotice { stage, .. } => {
                        *notices_per_customer.entry(c).or_default() += 1;
                        if stage == REACTIVATION {
                            continue;
                        }
                        // No stage twice for the same invoice: nothing live in the ledger took
                        // this driver invoice to this stage already.
                        prop_assert!(existing.is_none(), "{} planned again", a.key);
                        let (st, inv) = notice_parts(&a.key).unwrap();
                        for row in self.ledger.actions(Some(c), None).unwrap() {
                            if is_live(row.status) && row.key.starts_with("notice/") {
                                prop_assert_ne!(
                                    notice_parts(&row.key),
                                    Some((st.clone(), inv.clone())),
                                    "stage {} for {} planned twice ({} and {})",
                                    st,
                                    inv,
                                    row.key,
                                    a.key
                                );
                            }
                        }
                    }
                    ActionKind::Suspend { .. } => {
                        prop_assert!(existing.is_none(), "{} planned again", a.key);
                        let held = self.ledger.hold_for(c, None, now).unwrap();
                        prop_assert!(held.is_none(), "held customer {} suspended: {}", c, a.key);
                        prop_assert!(
                            !self.config.customer(c).is_some_and(|o| o.exempt),
                            "exempt customer {} suspended",
                            c
                        );
                        let inv = suspend_key_invoice(c, &a.key).unwrap();
                        prop_assert!(
                            self.ledger.hold_for(c, Some(&inv), now).unwrap().is_none(),
                            "suspended for held invoice {}",
                            inv
                        );
                        // A final notice was sent at least `lead` local days before.
                        let lead = self.config.dunning.final_notice_lead_days;
                        let ok = self.ledger.notices(Some(c), None).unwrap().iter().any(|n| {
                            n.template == "final-notice"
                                && add_days(n.sent_at.to_zoned(self.tz.clone()).date(), lead)
                                    <= today
                        });
                        prop_assert!(ok, "{} without a final notice {} days before", a.key, lead);
                    }
                    ActionKind::Reactivate {
                        subscription_id,
                        suspension_key,
                    } => {
                        let ours = self.ledger.suspended_by_us(c, subscription_id).unwrap();
                        prop_assert_eq!(
                            ours.map(|s| s.action_key),
                            Some(suspension_key.clone()),
                            "reactivating {} that cspguard did not suspend",
                            subscription_id
                        );
                    }
                    _ => {}
                }
            }
            for (c, n) in notices_per_customer {
                prop_assert!(n <= 1, "{} notices to {} in one run", n, c);
            }
            Ok(())
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn ladder_invariants_hold_over_simulated_days(s in scenario()) {
            let tz = TimeZone::get("Europe/Stockholm").unwrap();
            let start = date("2026-03-20");
            let mut config = PolicyConfig::default();
            config.dunning.min_gap_days = s.min_gap;
            config.dunning.final_notice_lead_days = s.lead;
            if s.exempt_c2 {
                config.customers.insert("c2".into(), CustomerOverride { exempt: true, ..CustomerOverride::default() });
            }
            let rows = s
                .invoices
                .iter()
                .enumerate()
                .map(|(i, (c, off, amount))| {
                    let mut r = receivable(CUSTOMERS[*c % 2], &format!("INV-{i}"), "2026-03-20", &amount.to_string(), "0");
                    r.due_date = add_days(start, *off);
                    r
                })
                .collect();
            let mut subs = BTreeMap::new();
            subs.insert(("c1", "s1"), ("active", "O365 E3"));
            subs.insert(("c1", "s2"), ("active", "azure"));
            subs.insert(("c1", "s3"), ("suspended", "Visio")); // Microsoft suspended it
            subs.insert(("c2", "s4"), ("active", "O365 E5"));
            subs.insert(("c2", "s5"), ("suspended", "Project"));
            let mut sim = Sim { ledger: ledger(), config, rows, subs, tz: tz.clone() };

            for day in 0..s.days {
                let d = add_days(start, day);
                let hour = s.hours.get(day as usize).copied().unwrap_or(8);
                let now = d.at(hour, 30, 0, 0).to_zoned(TimeZone::UTC).unwrap().timestamp();
                for (pd, inv, pct) in &s.payments {
                    if *pd == day && let Some(r) = sim.rows.get_mut(*inv) {
                        r.amount_paid = (r.amount * Decimal::from(*pct) / Decimal::from(100)).round_dp(2);
                        if r.amount_paid >= r.amount {
                            r.status = InvoiceStatus::Paid;
                        }
                    }
                }
                for (dd, inv) in &s.disputes {
                    if *dd == day && let Some(r) = sim.rows.get_mut(*inv) && r.status == InvoiceStatus::Open {
                        r.status = InvoiceStatus::Disputed;
                    }
                }
                for (hd, c, inv, len) in &s.holds {
                    if *hd == day {
                        let inv = inv.and_then(|i| sim.rows.get(i)).map(|r| r.invoice.clone());
                        let until = add_days(crate::ledger::utc_date(now), *len);
                        sim.ledger
                            .place_hold(CUSTOMERS[*c % 2], inv.as_deref(), "promise to pay", until, "ops", now)
                            .unwrap();
                    }
                }
                let runs = if s.twice.get(day as usize).copied().unwrap_or(false) { 2 } else { 1 };
                for _ in 0..runs {
                    let snap = sim.snapshot(now);
                    let plan = run(&snap, &matched(sim.rows.clone()), &sim.ledger, &sim.config, now, None);
                    sim.check(&plan, now)?;
                    apply(&sim.ledger, &plan, now, true);
                    for a in &plan.actions {
                        let c = a.customer.as_deref().unwrap_or_default();
                        let (sub, status) = match &a.kind {
                            ActionKind::Suspend { subscription_id, .. } => (subscription_id, "suspended"),
                            ActionKind::Reactivate { subscription_id, .. } => (subscription_id, "active"),
                            _ => continue,
                        };
                        for ((cc, id), v) in sim.subs.iter_mut() {
                            if *cc == c && *id == sub.as_str() {
                                v.0 = status;
                            }
                        }
                    }
                }
            }

            // Every sent dunning notice took its driver invoice to a stage exactly once.
            let mut sent = BTreeSet::new();
            for c in CUSTOMERS {
                for row in sim.ledger.actions(Some(c), None).unwrap() {
                    if row.status == ActionStatus::Done && row.key.starts_with("notice/") {
                        let parts = notice_parts(&row.key).unwrap();
                        if parts.0 != REACTIVATION {
                            prop_assert!(sent.insert(parts.clone()), "{:?} sent twice", parts);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn catch_up_after_a_long_outage_is_one_notice() {
        let mut sim_rows = Vec::new();
        for (i, due) in ["2026-10-01", "2026-10-20", "2026-11-10", "2026-11-19"]
            .iter()
            .enumerate()
        {
            sim_rows.push(receivable("c1", &format!("INV-{i}"), due, "100", "0"));
        }
        let mut snap = snapshot(jiff::Timestamp::UNIX_EPOCH);
        snap.details.insert(
            "c1".into(),
            detail(Some(profile(Some("ap@example.com"), None, "GB")), vec![]),
        );
        let l = ledger();
        let p = run(
            &snap,
            &matched(sim_rows),
            &l,
            &PolicyConfig::default(),
            crate::policy::testkit::ts("2026-11-21T08:00:00Z"),
            None,
        );
        assert_eq!(p.actions.len(), 1, "{:?}", p.actions);
        assert_eq!(p.actions[0].key, "notice/c1/final-notice/INV-0");
    }
}
