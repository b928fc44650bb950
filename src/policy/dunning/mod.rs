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
//!
//! Where things are: `config.rs` (the `[dunning]` section and its checks), `ladder.rs` (the next
//! step of a customer, [`ladder::Step`], and planning it), `reactivation.rs`, `recipients.rs`
//! (who a notice goes to), `history.rs` (the customer's dunning as the ledger records it),
//! `findings.rs` (`dunning.overdue`, `dunning.unmatched`, disputed invoices); this file walks
//! the customers and decides whether a customer's ladder may move at all.

mod config;
mod findings;
mod history;
mod ladder;
#[cfg(test)]
mod props;
mod reactivation;
mod recipients;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use jiff::{Span, Timestamp};
use rust_decimal::Decimal;

use crate::facts::Facts;
use crate::ledger::{Hold, LedgerError};
use crate::plan::{Finding, PlanBuilder, Severity};
use crate::policy::{PolicyInput, ReceivablesInput};
use crate::receivables::matching::MatchOutcome;
use crate::receivables::{InvoiceStatus, Receivable};

pub use config::{DunningConfig, StageConfig, StageKind};

use findings::{Overdue, unmatched_finding};
use history::{DunAction, DunKind, is_cancellable, is_pending, sent_stage};
use ladder::Dunned;
use reactivation::{Reactivation, Suspended};

/// The policy name in skips.
const POLICY: &str = "dunning";
/// The key segment of the suspension notice (`notice/{customer}/suspension/{invoice}`).
const SUSPENSION_SEGMENT: &str = "suspension";
/// Stage and template of the confirmation after reactivation.
const REACTIVATION: &str = "reactivation";
/// Who cancels actions automatically; a cancellation by anyone else is a person's decision and
/// is never planned again under a new key.
pub const SYSTEM_ACTOR: &str = "cspguard";

/// Add this policy's findings and actions.
pub fn evaluate(input: &PolicyInput<'_>, out: &mut PlanBuilder) {
    let Some(outcome) = usable_receivables(input, out) else {
        return;
    };
    out.evaluated("dunning.overdue");
    unmatched_finding(outcome, out);

    let run = Run::new(input);
    let empty = Vec::new();
    for c in &customers_to_review(input, outcome, out) {
        let rows = outcome.matched.get(c).unwrap_or(&empty);
        run.customer(c, rows, out);
    }
}

/// The matched receivables, or `None` after saying why there is no dunning this run (disabled,
/// not configured, a failed import, an invalid ladder).
fn usable_receivables<'i>(
    input: &'i PolicyInput<'_>,
    out: &mut PlanBuilder,
) -> Option<&'i MatchOutcome> {
    let cfg = &input.config.dunning;
    if !cfg.enabled {
        if !matches!(input.receivables, ReceivablesInput::NotConfigured) {
            out.skip(
                None,
                POLICY,
                "dunning is disabled ([dunning] enabled = false)",
            );
        }
        return None;
    }
    let outcome = match input.receivables {
        ReceivablesInput::NotConfigured => return None,
        ReceivablesInput::Failed { error } => {
            import_failed(error, out);
            return None;
        }
        ReceivablesInput::Loaded(m) => m,
    };
    if let Err(e) = cfg.validate() {
        out.skip(
            None,
            POLICY,
            format!("invalid dunning config; no dunning action this run: {e}"),
        );
        return None;
    }
    Some(outcome)
}

/// A failed import: a critical finding and a skip, and nothing else for anyone.
fn import_failed(error: &str, out: &mut PlanBuilder) {
    let mut facts = Facts::new();
    facts.insert("error", error.to_owned());
    out.finding(Finding {
        fingerprint: "dunning.import_failed:partner".to_owned(),
        rule: "dunning.import_failed".into(),
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
}

/// Only customers with receivables, with pending actions to review, or with suspensions
/// cspguard made can need anything from the ladder; the rest of the tenant costs nothing.
fn customers_to_review(
    input: &PolicyInput<'_>,
    outcome: &MatchOutcome,
    out: &mut PlanBuilder,
) -> BTreeSet<String> {
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
    customers
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

/// One evaluation of the policy: the input and what is derived from the config once.
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

    /// The customer's open invoices with a balance.
    fn open_invoices<'r>(&self, rows: &'r [Receivable]) -> Vec<Inv<'r>> {
        rows.iter()
            .filter(|r| r.status == InvoiceStatus::Open && r.outstanding() > Decimal::ZERO)
            .map(|r| Inv {
                r,
                dpd: r.days_past_due(self.today),
                outstanding: r.outstanding(),
                hold: None,
                due: None,
                sent: None,
            })
            .collect()
    }

    /// Everything dunning plans for one customer: its finding, cancellations, reactivations and
    /// the next step of its ladder.
    fn customer(&self, c: &str, rows: &[Receivable], out: &mut PlanBuilder) {
        let name = self.company(c);
        let mut invs = self.open_invoices(rows);
        let mut overdue = Overdue {
            customer: c,
            name: &name,
            last_notice: None,
            stopped: None,
        };
        let history = match self.history(c) {
            Ok(h) => h,
            Err(e) => {
                self.overdue_finding(&overdue, &invs, out);
                out.skip(Some(c), POLICY, format!("{name}: {e}"));
                return;
            }
        };
        overdue.last_notice = self.last_notice(&history);
        let customer_hold = match self.read_holds(c, &mut invs) {
            Ok(h) => h,
            Err(e) => {
                self.overdue_finding(&overdue, &invs, out);
                out.skip(
                    Some(c),
                    POLICY,
                    format!("{name}: could not read holds from the ledger: {e}"),
                );
                return;
            }
        };
        self.compute_due(&mut invs);
        let stopped = self.stop_reason(c, customer_hold.as_ref());
        overdue.stopped = stopped.as_deref();
        self.overdue_finding(&overdue, &invs, out);
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
        let suspended = Suspended {
            customer: c,
            name: &name,
            rows,
            history: &history,
        };
        let reactivation = self.reactivation(&suspended, out);
        let cust = Dunned {
            id: c,
            name: &name,
            invs: &invs,
            actions: &actions,
            history: &history,
            last_notice: overdue.last_notice,
        };
        match self.gate(&cust, stopped.as_deref(), reactivation, &cancelled) {
            Gate::Open => self.ladder(&cust, out),
            Gate::Closed => {}
            Gate::Wait(why) => out.skip(Some(c), POLICY, why),
        }
    }

    /// Holds in force: the customer-wide one is returned, each invoice's is set on it.
    fn read_holds(&self, c: &str, invs: &mut [Inv<'_>]) -> Result<Option<Hold>, LedgerError> {
        let (ledger, now) = (self.input.ledger, self.input.now);
        let customer_hold = ledger.hold_for(c, None, now)?;
        let mut per_invoice = Vec::with_capacity(invs.len());
        for inv in invs.iter() {
            per_invoice.push(
                ledger
                    .hold_for(c, Some(&inv.r.invoice), now)?
                    .filter(|h| h.invoice.is_some()),
            );
        }
        for (inv, hold) in invs.iter_mut().zip(per_invoice) {
            inv.hold = hold;
        }
        Ok(customer_hold)
    }

    /// Why the whole ladder of the customer is stopped: a customer hold, or an exemption.
    fn stop_reason(&self, c: &str, customer_hold: Option<&Hold>) -> Option<String> {
        let exempt = self.input.config.customer(c).is_some_and(|o| o.exempt);
        match (customer_hold, exempt) {
            (Some(h), _) => Some(format!(
                "customer on hold until {} ({}, placed by {})",
                h.until, h.reason, h.placed_by
            )),
            (None, true) => Some("customer is exempt from dunning (config)".to_owned()),
            (None, false) => None,
        }
    }

    /// Whether the customer's ladder may take a step this run.
    fn gate(
        &self,
        cust: &Dunned<'_>,
        stopped: Option<&str>,
        reactivation: Reactivation,
        cancelled: &BTreeSet<&str>,
    ) -> Gate {
        let name = cust.name;
        if let Some(why) = stopped {
            return if cust.invs.iter().any(|i| i.due.is_some()) {
                Gate::Wait(format!("{name}: {why}; the ladder is stopped"))
            } else {
                Gate::Closed
            };
        }
        if !cust.invs.iter().any(needs_step) {
            return Gate::Closed;
        }
        if reactivation == Reactivation::Planned {
            return Gate::Wait(format!(
                "{name}: waiting: the reactivation confirmation goes out this run; the next \
                 dunning notice waits for a later run"
            ));
        }
        match cust
            .actions
            .iter()
            .find(|a| is_pending(a.row.status) && !cancelled.contains(a.row.key.as_str()))
        {
            Some(p) => Gate::Wait(format!(
                "{name}: waiting: {} is still {}; nothing new is planned until it is settled",
                p.row.key, p.row.status
            )),
            None => Gate::Open,
        }
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
}

/// Whether a customer's ladder moves this run.
enum Gate {
    /// It may take its next step.
    Open,
    /// Nothing to do, and nothing worth saying.
    Closed,
    /// It waits; the reason is recorded as a skip.
    Wait(String),
}

/// A receivable row by invoice number, across all matched customers.
fn receivables_row<'i>(input: &'i PolicyInput<'_>, invoice: &str) -> Option<&'i Receivable> {
    match input.receivables {
        ReceivablesInput::Loaded(m) => m.matched.values().flatten().find(|r| r.invoice == invoice),
        _ => None,
    }
}

/// Whether an invoice has reached a stage beyond the one last sent for it.
fn needs_step(i: &Inv<'_>) -> bool {
    match (i.due, i.sent) {
        (Some(d), Some(s)) => d > s,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// `d` moved by `n` days, saturating at the ends of the calendar.
fn add_days(d: Date, n: i64) -> Date {
    match Span::new().try_days(n) {
        Ok(s) => d.saturating_add(s),
        Err(_) if n < 0 => Date::MIN,
        Err(_) => Date::MAX,
    }
}

/// "+7", "-3": a stage's day offset.
fn signed(days: i64) -> String {
    if days < 0 {
        days.to_string()
    } else {
        format!("+{days}")
    }
}

/// The word for `n` things.
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

/// "€1,240.00", "$5.00", "SEK 1,240.50": the operator form of [`crate::money::format`].
pub fn money(amount: Decimal, currency: &str) -> String {
    crate::money::format(amount, currency)
}
