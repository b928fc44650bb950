//! Reactivation: once a customer suspended by cspguard for non-payment has no invoice at the
//! suspension stage any more, plan `reactivate/…` for exactly the subscriptions the ledger records
//! as cspguard's own active suspensions, and the confirmation notice after them.
//!
//! Never reactivates anything Microsoft or a person suspended: only ledger suspensions with a
//! non-payment reason count.

use rust_decimal::Decimal;

use crate::ledger::Suspension;
use crate::plan::{ActionKind, DetailNeed, PlanBuilder, PlannedAction};
use crate::receivables::{InvoiceStatus, Receivable};

use super::history::History;
use super::recipients::Addressee;
use super::{POLICY, REACTIVATION, Run, days_phrase, money, plural};

/// What the reactivation check planned for a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reactivation {
    /// Nothing: no suspension of cspguard's, or an invoice still keeps it.
    None,
    /// Reactivations (and their confirmation, if it can be addressed) are planned this run.
    Planned,
}

/// The customer whose suspensions are checked.
pub(super) struct Suspended<'x> {
    pub customer: &'x str,
    pub name: &'x str,
    /// Its receivable rows (any status).
    pub rows: &'x [Receivable],
    pub history: &'x History,
}

impl Run<'_, '_> {
    /// Plan reactivations when the customer is in good standing.
    pub(super) fn reactivation(&self, s: &Suspended<'_>, out: &mut PlanBuilder) -> Reactivation {
        let (c, name) = (s.customer, s.name);
        let threshold = self
            .suspend_idx
            .and_then(|i| self.stage(i))
            .map_or(1, |s| s.days);
        let blocking: Vec<&Receivable> = s
            .rows
            .iter()
            .filter(|r| {
                matches!(r.status, InvoiceStatus::Open | InvoiceStatus::Disputed)
                    && r.outstanding() > Decimal::ZERO
                    && r.days_past_due(self.today) >= threshold
            })
            .collect();
        let ours: Vec<&Suspension> = s
            .history
            .suspensions
            .iter()
            .filter(|x| x.customer == c && is_nonpayment(&x.reason))
            .collect();
        let Some(first) = ours.first() else {
            return Reactivation::None;
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
            return Reactivation::None;
        }
        let keys: Vec<String> = ours
            .iter()
            .map(|x| self.plan_reactivate(s, threshold, x, out))
            .collect();
        self.plan_confirmation(s, first, keys, out);
        Reactivation::Planned
    }

    /// Plan the reactivation of one suspended subscription; returns its key.
    fn plan_reactivate(
        &self,
        s: &Suspended<'_>,
        threshold: i64,
        x: &Suspension,
        out: &mut PlanBuilder,
    ) -> String {
        let c = s.customer;
        let key = format!("reactivate/{c}/{}/{}", x.subscription, x.action_key);
        out.action(PlannedAction {
            key: key.clone(),
            customer: Some(c.to_owned()),
            kind: ActionKind::Reactivate {
                subscription_id: x.subscription.clone(),
                suspension_key: x.action_key.clone(),
            },
            requires_approval: false,
            reason: format!(
                "{} has paid: no invoice is {threshold}+ days past due any more; \
                 cspguard suspended subscription {} on {} ({})",
                s.name,
                x.subscription,
                self.local_date(x.suspended_at),
                x.action_key
            ),
            findings: vec![format!("dunning.overdue:{c}")],
            after: vec![],
        });
        key
    }

    /// Plan the confirmation notice, sent after the reactivations `after`.
    fn plan_confirmation(
        &self,
        s: &Suspended<'_>,
        first: &Suspension,
        after: Vec<String>,
        out: &mut PlanBuilder,
    ) {
        let c = s.customer;
        let notice_key = format!("notice/{c}/{REACTIVATION}/{}", first.action_key);
        let contacts = s.rows.iter().filter_map(|r| r.contact_email.as_deref());
        match self.recipient(c, contacts) {
            Ok(rcpt) => {
                let n = after.len();
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
                        budget: None,
                    },
                    requires_approval: false,
                    reason: format!(
                        "{}: confirms the reactivation of {n} {}",
                        s.name,
                        plural(n as i64, "subscription", "subscriptions")
                    ),
                    findings: vec![],
                    after,
                });
            }
            Err(e) => {
                let to = Addressee {
                    customer: c,
                    name: s.name,
                    overdue: 0,
                    detail: DetailNeed {
                        profile: true,
                        subscriptions: false,
                    },
                };
                self.recipient_problem(&to, e, out);
            }
        }
    }
}

/// Whether a ledger suspension reason means non-payment (as `SuspendReason::Nonpayment`).
pub(super) fn is_nonpayment(reason: &str) -> bool {
    let r: String = reason
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    r.eq_ignore_ascii_case("nonpayment")
}
