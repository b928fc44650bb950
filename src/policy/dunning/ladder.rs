//! The ladder step: for a customer whose invoices need one, [`Run::next_step`] decides what
//! happens next ([`Step`]: a stage's notice, the suspension, or waiting and why), and
//! [`Run::ladder`] plans it: the notice (naming the suspension date at the final stage), or the
//! suspensions of the subscriptions in scope followed by the suspension notice.
//!
//! Catch-up: one notice per run, at the highest stage due, listing every open overdue invoice.
//! A suspension needs the final notice for its invoice sent `final_notice_lead_days` earlier and
//! not before the suspension date that notice named.

use jiff::civil::Date;

use crate::pc::models::Subscription;
use crate::plan::{
    ActionKind, DetailNeed, NoticeInvoice, PlanBuilder, PlannedAction, SuspendReason,
};
use crate::snapshot::Section;

use super::config::{StageConfig, StageKind};
use super::history::{DunAction, History, final_notice_evidence};
use super::recipients::{Addressee, Recipient, RecipientError};
use super::{
    Inv, POLICY, Run, SUSPENSION_SEGMENT, add_days, days_phrase, money, needs_step, plural, signed,
};

/// What the ladder does next for a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// Send the notice of the stage with this index.
    Notice(usize),
    /// Suspend the subscriptions in scope, then send the suspension notice.
    Suspend,
    /// Nothing this run; the reason is recorded as a skip.
    Wait(String),
}

/// A customer as the ladder sees it, read once per run.
pub(super) struct Dunned<'x> {
    pub id: &'x str,
    pub name: &'x str,
    /// Its open invoices with a balance.
    pub invs: &'x [Inv<'x>],
    /// Its dunning actions in the ledger.
    pub actions: &'x [DunAction<'x>],
    pub history: &'x History,
    /// Local date of its last notice of any kind.
    pub last_notice: Option<Date>,
}

/// The parts of a planned step shared by its notice and its suspensions.
struct Draft<'x> {
    stage_idx: usize,
    stage: &'x StageConfig,
    driver: &'x Inv<'x>,
    invoices: Vec<NoticeInvoice>,
    reason: String,
    findings: Vec<String>,
}

/// The invoice driving the step: the one needing a step with the highest due stage (then the
/// earliest due date, then the invoice number).
fn driver<'x>(invs: &'x [Inv<'x>]) -> Option<&'x Inv<'x>> {
    let mut needing: Vec<&Inv<'_>> = invs.iter().filter(|i| needs_step(i)).collect();
    needing.sort_by(|a, b| {
        b.due
            .cmp(&a.due)
            .then_with(|| a.r.due_date.cmp(&b.r.due_date))
            .then_with(|| a.r.invoice.cmp(&b.r.invoice))
    });
    needing.first().copied()
}

impl Run<'_, '_> {
    /// Decide and plan the next step of a customer whose invoices need one.
    pub(super) fn ladder(&self, cust: &Dunned<'_>, out: &mut PlanBuilder) {
        let c = cust.id;
        let Some(driver) = driver(cust.invs) else {
            return;
        };
        let Some(due) = driver.due else {
            return;
        };
        let step = self.next_step(cust, driver, due);
        let stage_idx = match &step {
            Step::Notice(i) => *i,
            Step::Suspend => due,
            Step::Wait(why) => {
                out.skip(Some(c), POLICY, why.clone());
                return;
            }
        };
        let Some(draft) = self.draft(cust, stage_idx, driver) else {
            return;
        };
        let suspending = step == Step::Suspend;
        let to = Addressee {
            customer: c,
            name: cust.name,
            overdue: cust
                .invs
                .iter()
                .filter(|i| i.dpd >= 1 && i.eligible())
                .count(),
            detail: DetailNeed {
                profile: true,
                subscriptions: suspending,
            },
        };
        // Detail first: nothing is planned for a customer whose detail is missing.
        let subs = if suspending {
            match self.subscriptions(&to, out) {
                Some(subs) => Some(subs),
                None => return,
            }
        } else {
            None
        };
        let contacts = std::iter::once(driver)
            .chain(cust.invs.iter())
            .filter_map(|i| i.r.contact_email.as_deref());
        let rcpt = match self.recipient(c, contacts) {
            Ok(r) => r,
            Err(e) => {
                self.recipient_problem(&to, e, out);
                return;
            }
        };
        match step {
            Step::Suspend => {
                let subs = subs.unwrap_or_default();
                self.plan_suspension(cust, draft, rcpt, subs, out);
            }
            _ => self.plan_notice(cust, draft, rcpt, out),
        }
    }

    /// The ladder's decision for the invoice driving the step, which has reached stage `due`.
    pub(super) fn next_step(&self, cust: &Dunned<'_>, driver: &Inv<'_>, due: usize) -> Step {
        let step = match (self.suspend_idx, self.final_idx) {
            (Some(s), Some(f)) if due == s => self.suspension_step(cust, driver, f),
            _ => Step::Notice(due),
        };
        if let Step::Wait(_) = step {
            return step;
        }
        if let Some(last) = cust.last_notice {
            let next = add_days(last, self.cfg.min_gap_days);
            if self.today < next {
                return Step::Wait(format!(
                    "{}: waiting: last notice on {last}; next notice allowed from {next} (min gap \
                     {} days)",
                    cust.name, self.cfg.min_gap_days
                ));
            }
        }
        step
    }

    /// At the suspension stage: the final notice first if it was not sent for the driving
    /// invoice, then the suspension once the final notice's lead time and named date are past.
    fn suspension_step(&self, cust: &Dunned<'_>, driver: &Inv<'_>, final_idx: usize) -> Step {
        if driver.sent.is_none_or(|x| x < final_idx) {
            return Step::Notice(final_idx);
        }
        let name = cust.name;
        match final_notice_evidence(cust.actions, &driver.r.invoice, final_idx) {
            None => Step::Wait(format!(
                "{name}: suspension waits: no final notice for {} was sent yet",
                driver.r.invoice
            )),
            Some((sent, named)) => {
                let lead = add_days(sent, self.cfg.final_notice_lead_days);
                let from = named.map_or(lead, |n| n.max(lead));
                if self.today < from {
                    Step::Wait(format!(
                        "{name}: suspension waits: final notice sent {sent}, suspension allowed \
                         from {from}"
                    ))
                } else {
                    Step::Suspend
                }
            }
        }
    }

    /// The customer's subscriptions, or `None` after recording why they cannot be used.
    fn subscriptions(&self, to: &Addressee<'_>, out: &mut PlanBuilder) -> Option<&[Subscription]> {
        let c = to.customer;
        match self.input.snapshot.details.get(c).map(|d| &d.subscriptions) {
            None | Some(Section::NotChecked { .. }) => {
                self.recipient_problem(to, RecipientError::NeedDetail, out);
                None
            }
            Some(Section::Failed { error }) => {
                out.skip(
                    Some(c),
                    POLICY,
                    format!(
                        "{}: subscriptions could not be read ({error}); no suspension",
                        to.name
                    ),
                );
                None
            }
            Some(Section::Ok { data }) => Some(data),
        }
    }

    /// The stage, the notice's invoices and the reason shared by everything the step plans.
    fn draft<'x>(
        &'x self,
        cust: &Dunned<'_>,
        stage_idx: usize,
        driver: &'x Inv<'x>,
    ) -> Option<Draft<'x>> {
        let stage = self.stage(stage_idx)?;
        // The invoices the notice lists, with the stage each reaches.
        let mut listed: Vec<&Inv<'_>> = cust.invs.iter().filter(|i| i.due.is_some()).collect();
        listed.sort_by(|a, b| {
            a.r.due_date
                .cmp(&b.r.due_date)
                .then_with(|| a.r.invoice.cmp(&b.r.invoice))
        });
        let invoices: Vec<NoticeInvoice> = listed
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
        Some(Draft {
            stage_idx,
            stage,
            driver,
            invoices,
            reason: self.reason(driver, stage_idx, &listed),
            findings: vec![format!("dunning.overdue:{}", cust.id)],
        })
    }

    /// Why the step happens: the driving invoice and its stage, the stages caught up on, and
    /// the other invoices the notice lists.
    fn reason(&self, driver: &Inv<'_>, stage_idx: usize, listed: &[&Inv<'_>]) -> String {
        let due = driver.due.unwrap_or(stage_idx);
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
        reason
    }

    /// The suspension date a final notice names: the suspend stage's day for the driving
    /// invoice, but never sooner than `final_notice_lead_days` from today.
    fn suspension_date(&self, stage_idx: usize, driver: &Inv<'_>) -> Option<Date> {
        let suspend = self.suspend_idx?;
        if self.stage(stage_idx).map(|s| s.kind) != Some(StageKind::FinalNotice) {
            return None;
        }
        let lead = add_days(self.today, self.cfg.final_notice_lead_days);
        Some(match self.stage(suspend) {
            Some(s) => add_days(driver.r.due_date, s.days).max(lead),
            None => lead,
        })
    }

    /// Plan the notice of the draft's stage.
    fn plan_notice(
        &self,
        cust: &Dunned<'_>,
        draft: Draft<'_>,
        rcpt: Recipient,
        out: &mut PlanBuilder,
    ) {
        let Draft {
            stage_idx,
            stage,
            driver,
            invoices,
            mut reason,
            findings,
        } = draft;
        let c = cust.id;
        let suspension_date = self.suspension_date(stage_idx, driver);
        if let Some(d) = suspension_date {
            reason.push_str(&format!("; names suspension date {d}"));
        }
        let base = format!("notice/{c}/{}/{}", stage.name, driver.r.invoice);
        let key = match self.free_key(&base, &cust.history.actions) {
            Ok(k) => k,
            Err(why) => {
                out.skip(Some(c), POLICY, format!("{}: {why}", cust.name));
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
                invoices,
                suspension_date,
                budget: None,
            },
            requires_approval: stage.requires_approval,
            reason,
            findings,
            after: vec![],
        });
    }

    /// Plan the suspension of every subscription in scope, then the suspension notice after
    /// them. Nothing is planned if any of their keys is not free.
    fn plan_suspension(
        &self,
        cust: &Dunned<'_>,
        draft: Draft<'_>,
        rcpt: Recipient,
        subs: &[Subscription],
        out: &mut PlanBuilder,
    ) {
        let c = cust.id;
        let in_scope: Vec<&Subscription> = subs.iter().filter(|s| self.in_scope(s)).collect();
        if in_scope.is_empty() {
            out.skip(Some(c), POLICY, self.nothing_in_scope(cust, &draft, subs));
            return;
        }
        let invoice = &draft.driver.r.invoice;
        let mut bases: Vec<String> = in_scope
            .iter()
            .map(|s| format!("suspend/{c}/{}/{invoice}", s.id))
            .collect();
        bases.push(format!("notice/{c}/{SUSPENSION_SEGMENT}/{invoice}"));
        let mut keys = Vec::with_capacity(bases.len());
        for base in &bases {
            match self.free_key(base, &cust.history.actions) {
                Ok(k) => keys.push(k),
                Err(why) => {
                    out.skip(Some(c), POLICY, format!("{}: {why}", cust.name));
                    return;
                }
            }
        }
        let notice_key = keys.pop().unwrap_or_default();
        let mut after = Vec::new();
        for (key, s) in keys.into_iter().zip(&in_scope) {
            out.action(PlannedAction {
                key: key.clone(),
                customer: Some(c.to_owned()),
                kind: ActionKind::Suspend {
                    subscription_id: s.id.clone(),
                    reason: SuspendReason::Nonpayment,
                },
                requires_approval: draft.stage.requires_approval,
                reason: format!(
                    "{}; suspends {} ({})",
                    draft.reason,
                    s.friendly_name
                        .as_deref()
                        .or(s.offer_name.as_deref())
                        .unwrap_or(&s.id),
                    s.id
                ),
                findings: draft.findings.clone(),
                after: vec![],
            });
            after.push(key);
        }
        out.action(PlannedAction {
            key: notice_key,
            customer: Some(c.to_owned()),
            kind: ActionKind::CustomerNotice {
                template: draft.stage.template.clone(),
                stage: draft.stage.name.clone(),
                to: Some(rcpt.to),
                cc: rcpt.cc,
                locale_hint: rcpt.locale,
                invoices: draft.invoices,
                suspension_date: None,
                budget: None,
            },
            requires_approval: false,
            reason: format!(
                "{}; tells the customer that {} {} suspended",
                draft.reason,
                after.len(),
                plural(after.len() as i64, "subscription was", "subscriptions were")
            ),
            findings: draft.findings,
            after,
        });
    }

    fn nothing_in_scope(
        &self,
        cust: &Dunned<'_>,
        draft: &Draft<'_>,
        subs: &[Subscription],
    ) -> String {
        format!(
            "{}: suspension stage reached for {} but no subscription is in scope ({} \
             subscriptions; only active ones of billing type {}{} are suspended)",
            cust.name,
            draft.driver.r.invoice,
            subs.len(),
            self.cfg.suspend_billing_types.join("/"),
            if self.cfg.suspend_azure_plans {
                ""
            } else {
                ", never Azure plans"
            }
        )
    }

    /// Whether dunning may suspend this subscription: active, of a configured billing type,
    /// and not an Azure plan unless `suspend_azure_plans`.
    fn in_scope(&self, s: &Subscription) -> bool {
        self.cfg.suspends(s)
    }
}
