//! What dunning reports besides actions: the `dunning.overdue` finding of each customer with
//! overdue invoices, the one `dunning.unmatched` finding for receivable rows that matched no
//! customer, and the skip naming disputed invoices.

use std::collections::BTreeMap;

use jiff::civil::Date;
use rust_decimal::Decimal;

use crate::facts::Facts;
use crate::plan::{Finding, PlanBuilder, Severity};
use crate::receivables::matching::MatchOutcome;
use crate::receivables::{InvoiceStatus, Receivable};

use super::{Inv, POLICY, Run, days_phrase, money, plural};

/// Who a `dunning.overdue` finding is about, and what the ledger said of it.
pub(super) struct Overdue<'x> {
    pub customer: &'x str,
    pub name: &'x str,
    /// Local date of the last notice, when the ledger could be read.
    pub last_notice: Option<Date>,
    /// Why the ladder is stopped (a hold, an exemption), if it is.
    pub stopped: Option<&'x str>,
}

/// The one info finding listing receivable rows that matched no customer, by reason.
pub(super) fn unmatched_finding(outcome: &MatchOutcome, out: &mut PlanBuilder) {
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
    let mut facts = Facts::new();
    facts.insert("count", n.to_string());
    let parts: Vec<String> = by_reason
        .iter()
        .map(|(reason, invs)| {
            facts.insert(format!("reason: {reason}"), invs.join(", "));
            format!("{} ({}: {})", reason, invs.len(), preview(invs))
        })
        .collect();
    out.finding(Finding {
        fingerprint: "dunning.unmatched:partner".to_owned(),
        rule: "dunning.unmatched".into(),
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

impl Run<'_, '_> {
    /// Skip naming the customer's disputed invoices that would otherwise be dunned.
    pub(super) fn disputed_skip(
        &self,
        c: &str,
        name: &str,
        rows: &[Receivable],
        out: &mut PlanBuilder,
    ) {
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

    /// The `dunning.overdue` finding: the overdue invoices, the totals per currency, the
    /// stage reached, the last notice, holds and why the ladder is stopped.
    pub(super) fn overdue_finding(&self, o: &Overdue<'_>, invs: &[Inv<'_>], out: &mut PlanBuilder) {
        let mut overdue: Vec<&Inv<'_>> = invs.iter().filter(|i| i.dpd >= 1).collect();
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
        let last = o
            .last_notice
            .map_or_else(|| "none".to_owned(), |d| d.to_string());

        let mut facts = Facts::new();
        facts.insert("company", o.name.to_owned());
        facts.insert("overdue_invoices", overdue.len().to_string());
        facts.insert("oldest_invoice", oldest.r.invoice.clone());
        facts.insert("oldest_days_past_due", oldest.dpd.to_string());
        for (cur, amt) in &per_currency {
            facts.insert(format!("outstanding_{cur}"), amt.to_string());
        }
        facts.insert("stage", stage.clone());
        facts.insert("last_notice", last.clone());
        if !held.is_empty() {
            facts.insert("invoices_on_hold", held.join(", "));
        }
        if let Some(s) = o.stopped {
            facts.insert("ladder_stopped", s.to_owned());
        }

        let mut summary = overdue_headline(o.name, &overdue, &per_currency);
        summary.push_str(&format!("; stage {stage}; last notice {last}"));
        if !held.is_empty() {
            summary.push_str(&format!("; on hold: {}", held.join(", ")));
        }
        if let Some(s) = o.stopped {
            summary.push_str(&format!("; {s}"));
        }
        let severity = if top.unwrap_or(0) >= 1 {
            Severity::Warning
        } else {
            Severity::Info
        };
        out.finding(Finding {
            fingerprint: format!("dunning.overdue:{}", o.customer),
            rule: "dunning.overdue".into(),
            severity,
            customer: Some(o.customer.to_owned()),
            summary,
            facts,
        });
    }
}

/// "Contoso: invoice INV-1 $240.00 is 8 days past due", or the count, the totals and the
/// oldest invoice when there are several. `overdue` is oldest first.
fn overdue_headline(
    name: &str,
    overdue: &[&Inv<'_>],
    per_currency: &BTreeMap<&str, Decimal>,
) -> String {
    let Some(oldest) = overdue.first() else {
        return format!("{name}: nothing overdue");
    };
    if overdue.len() == 1 {
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
    }
}
